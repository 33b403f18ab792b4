package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
)

// thing is a document using the outbox.
type thing struct {
	ID      string `bson:"_id"`
	Name    string `bson:"name"`
	Version int64  `bson:"version"`
	Deleted bool   `bson:"deleted,omitempty"`
	Events  `bson:",inline"`
}

// switchable publishes to a bus unless switched off, when it fails as a
// broker that is away does, and reports itself not ready.
type switchable struct {
	transport.Bus
	off       atomic.Bool
	published atomic.Int64
}

func (s *switchable) Publish(ctx context.Context, ev transport.Event) error {
	if s.off.Load() {
		return transport.Errorf(transport.CodeUnavailable, "broker away")
	}
	s.published.Add(1)
	return s.Bus.Publish(ctx, ev)
}

func (s *switchable) Ready() error {
	if s.off.Load() {
		return errors.New("broker away")
	}
	return s.Bus.Ready()
}

// recorder subscribes to "thing.#" and keeps what arrives, one event at a
// time, so that it sees them in the order they were published (subscribers
// that handle several at once rely on versions, not on arrival order).
type recorder struct {
	mu     sync.Mutex
	events []transport.Event
}

func record(t *testing.T, bus transport.Bus) *recorder {
	t.Helper()
	r := &recorder{}
	sub, err := bus.Subscribe("watcher", "thing.#", transport.EventHandlerFunc(func(_ context.Context, ev transport.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, ev)
		return nil
	}), transport.WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return r
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, ev := range r.events {
		out[i] = ev.ID
	}
	return out
}

func (r *recorder) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ids := r.ids(); len(ids) >= n {
			return ids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("got %d events, want %d: %v", len(r.ids()), n, r.ids())
	return nil
}

// waitForID waits until the event id has arrived and returns every id
// received so far, in order.
func (r *recorder) waitForID(t *testing.T, id string) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ids := r.ids(); slices.Contains(ids, id) {
			return ids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never arrived; got %v", id, r.ids())
	return nil
}

// store writes things the way services do: under the document's lock,
// the change and its event in one write, then Flush.
type store struct {
	coll  *mongo.Collection
	locks *keylock.Map
	relay *Relay
}

func newStore(t *testing.T, pub *switchable, cfg Config) *store {
	t.Helper()
	db := testenv.MongoDB(t, "outbox")
	s := &store{coll: db.Collection("things"), locks: new(keylock.Map)}
	cfg.Collection, cfg.Publisher, cfg.Locks = s.coll, pub, s.locks
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.relay = r
	return s
}

// put creates or renames a thing (version+1) and returns the flush error.
func (s *store) put(t *testing.T, id, name string) error {
	t.Helper()
	return s.write(t, id, func(d *thing) string { d.Name = name; return "thing.thing.updated" })
}

func (s *store) remove(t *testing.T, id string) error {
	t.Helper()
	return s.write(t, id, func(d *thing) string { d.Deleted = true; return "thing.thing.deleted" })
}

func (s *store) write(t *testing.T, id string, change func(*thing) string) error {
	t.Helper()
	ctx := context.Background()
	unlock := s.locks.Lock(id)
	defer unlock()
	var d thing
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatal(err)
	}
	d.ID = id
	old := d.Version
	key := change(&d)
	d.Version++
	d.Events.Add(fmt.Sprintf("%s-v%d", id, d.Version), key, map[string]any{"name": d.Name, "version": d.Version}, time.Now())
	if old == 0 {
		_, err = s.coll.InsertOne(ctx, d)
	} else {
		var res *mongo.UpdateResult
		res, err = s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: old}}, d)
		if err == nil && res.MatchedCount == 0 {
			t.Fatalf("%s changed under its lock", id)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.relay.Flush(ctx, Doc{ID: d.ID, Version: d.Version, Deleted: d.Deleted, Events: d.Events})
}

func (s *store) backlog(t *testing.T) int {
	t.Helper()
	b, err := s.relay.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b.Pending
}

func TestFlushPublishesAndClears(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		pub := &switchable{Bus: bus}
		rec := record(t, bus)
		s := newStore(t, pub, Config{})
		if err := s.put(t, "a", "one"); err != nil {
			t.Fatal(err)
		}
		if err := s.put(t, "a", "two"); err != nil {
			t.Fatal(err)
		}
		if got := rec.waitFor(t, 2); got[0] != "a-v1" || got[1] != "a-v2" {
			t.Fatalf("events %v, want a-v1 then a-v2", got)
		}
		if n := s.backlog(t); n != 0 {
			t.Fatalf("backlog %d after confirmed publishes, want 0", n)
		}
		// A deletion's tombstone goes once its event is out.
		if err := s.remove(t, "a"); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, 3)
		if n, _ := s.coll.CountDocuments(context.Background(), bson.D{}); n != 0 {
			t.Fatalf("%d documents left after the deleted event was published, want 0", n)
		}
	})
}

func TestEventsWaitForTheBusInOrder(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		pub := &switchable{Bus: bus}
		rec := record(t, bus)
		s := newStore(t, pub, Config{MinAge: 10 * time.Millisecond, Interval: time.Hour})
		pub.off.Store(true)
		for i := range 3 {
			if err := s.put(t, "b", fmt.Sprint("name", i)); err == nil {
				t.Fatal("Flush succeeded with the broker away")
			}
		}
		if err := s.put(t, "c", "other"); err == nil {
			t.Fatal("Flush succeeded with the broker away")
		}
		if n := s.backlog(t); n != 4 {
			t.Fatalf("backlog %d, want the 4 stored events", n)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.relay.Run(ctx) }()
		time.Sleep(300 * time.Millisecond)
		if got := rec.ids(); len(got) != 0 {
			t.Fatalf("events %v went out while the broker was away", got)
		}
		pub.off.Store(false) // the bus comes back: Run sweeps without waiting for its interval
		got := rec.waitFor(t, 4)
		want := []string{"b-v1", "b-v2", "b-v3", "c-v1"}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("events %v, want %v (per-document order, oldest document first)", got, want)
			}
		}
		// The relay removes an event from the outbox after publishing it:
		// the last removal may trail its delivery a little.
		for deadline := time.Now().Add(5 * time.Second); s.backlog(t) != 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("backlog %d after the sweep, want 0", s.backlog(t))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestOnlyOneRelaySweepsAtATime(t *testing.T) {
	db := testenv.MongoDB(t, "outbox-lease")
	coll := db.Collection("things")
	ctx := context.Background()
	var relays [3]*Relay
	for i := range relays {
		r, err := New(ctx, Config{Collection: coll, Lease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		relays[i] = r
	}
	holders := 0
	for _, r := range relays {
		ok, _, err := r.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			holders++
		}
	}
	if holders != 1 {
		t.Fatalf("%d relays hold the lease, want 1", holders)
	}
	if ok, _, err := relays[0].acquire(ctx); err != nil || !ok {
		t.Fatalf("the holder cannot renew its lease: %v %v", ok, err)
	}
	// An expired lease passes to another relay.
	later := time.Now().Add(2 * time.Hour)
	relays[1].cfg.Now = func() time.Time { return later }
	if ok, _, err := relays[1].acquire(ctx); err != nil || !ok {
		t.Fatalf("an expired lease was not taken over: %v %v", ok, err)
	}
}

func TestDedupe(t *testing.T) {
	db := testenv.MongoDB(t, "outbox-dedupe")
	for name, seen := range map[string]Seen{
		"memory": NewMemorySeen(2),
		"stored": NewStoredSeen(db.Collection("seen"), 0, nil),
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int64
			fail := atomic.Bool{}
			h := Dedupe(seen, transport.EventHandlerFunc(func(context.Context, transport.Event) error {
				calls.Add(1)
				if fail.Load() {
					return errors.New("boom")
				}
				return nil
			}))
			ctx := context.Background()
			handle := func(id string) error { return h.HandleEvent(ctx, transport.Event{ID: id}) }
			fail.Store(true)
			if err := handle("e1"); err == nil {
				t.Fatal("the handler's failure was swallowed")
			}
			fail.Store(false)
			for range 3 {
				if err := handle("e1"); err != nil {
					t.Fatal(err)
				}
			}
			if n := calls.Load(); n != 2 {
				t.Fatalf("handler called %d times for a failed then thrice delivered event, want 2", n)
			}
			if err := handle(""); err != nil {
				t.Fatal(err)
			}
			if err := handle(""); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 4 {
				t.Fatalf("events without id handled %d times in all, want 4", n)
			}
		})
	}
	// The memory set forgets the oldest ids beyond its size.
	m := NewMemorySeen(2)
	ctx := context.Background()
	for _, id := range []string{"x", "y", "z"} {
		m.Mark(ctx, id)
	}
	if ok, _ := m.Seen(ctx, "x"); ok {
		t.Fatal("the oldest id was kept beyond the size")
	}
	if ok, _ := m.Seen(ctx, "z"); !ok {
		t.Fatal("the newest id was forgotten")
	}
}

func TestStoredSeenPrunesOldMarks(t *testing.T) {
	db := testenv.MongoDB(t, "outbox-prune")
	now := time.Now()
	s := NewStoredSeen(db.Collection("seen"), time.Hour, func() time.Time { return now })
	ctx := context.Background()
	s.Mark(ctx, "old")
	now = now.Add(3 * time.Hour)
	s.Mark(ctx, "new")
	if ok, _ := s.Seen(ctx, "old"); ok {
		t.Fatal("a mark older than the retention was kept")
	}
	if ok, _ := s.Seen(ctx, "new"); !ok {
		t.Fatal("a fresh mark was pruned")
	}
}

// TestWorkersDoNotRelayTwice: two workers of one service (two relays over
// one collection, each with its own locks) both run; events stored while
// the broker was away go out once, not once per worker.
func TestWorkersDoNotRelayTwice(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		pub := &switchable{Bus: bus}
		rec := record(t, bus)
		first := newStore(t, pub, Config{MinAge: 10 * time.Millisecond, Interval: time.Hour})
		second := &store{coll: first.coll, locks: new(keylock.Map)}
		r, err := New(context.Background(), Config{Collection: first.coll, Publisher: pub, Locks: second.locks, MinAge: 10 * time.Millisecond, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		second.relay = r
		pub.off.Store(true)
		for i := range 10 {
			first.put(t, fmt.Sprint("p", i), "from the first worker")
			second.put(t, fmt.Sprint("q", i), "from the second worker")
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for _, s := range []*store{first, second} {
			wg.Add(1)
			go func() { defer wg.Done(); s.relay.Run(ctx) }()
		}
		time.Sleep(100 * time.Millisecond)
		pub.off.Store(false)
		rec.waitFor(t, 20)
		time.Sleep(500 * time.Millisecond) // time for a second relay's copies
		if n := len(rec.ids()); n != 20 {
			t.Fatalf("%d events delivered for 20 stored, want each once", n)
		}
		cancel()
		wg.Wait()
	})
}

// A relay that finds only events too young to relay (a writer is still
// publishing them) looks again later, but spaces its looks by their cost:
// where the store scans the collection (FerretDB), constant writes must not
// keep it scanning. Backlog reuses its answer for as long.
func TestLooksAreSpacedByTheirCost(t *testing.T) {
	bus := bustest.New(t, "inproc")
	start := time.Now()
	s := newStore(t, &switchable{Bus: bus}, Config{
		MinAge:   10 * time.Millisecond,
		Interval: 30 * time.Millisecond,
		Now:      func() time.Time { return start }, // every event stays young
	})
	var looks atomic.Int64
	s.relay.onScan = func() { looks.Add(1); time.Sleep(40 * time.Millisecond) }

	young := thing{ID: "young", Version: 1}
	young.Events.Add("young-v1", "thing.thing.updated", map[string]any{}, start)
	if _, err := s.coll.InsertOne(context.Background(), young); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	if err := s.relay.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Unspaced, a look every 30-50 ms would make about 25. Spaced by 20
	// times 40 ms: one at start, one about 0.84 s later.
	if n := looks.Load(); n < 2 || n > 3 {
		t.Fatalf("%d looks in 1.2 s with 40 ms looks, want 2 or 3", n)
	}
	if n := s.backlog(t); n != 1 {
		t.Fatalf("backlog %d, want 1", n)
	}
	before := looks.Load()
	if n := s.backlog(t); n != 1 || looks.Load() != before {
		t.Fatalf("second backlog within the spacing: %d, looked again: %v", n, looks.Load() != before)
	}
}

// Callers of Backlog share one look at a time, and a look outlives a
// caller that gives up: frequent scrapes of a slow store never pile scans
// up.
func TestBacklogLooksOnceAtATime(t *testing.T) {
	s := newStore(t, &switchable{Bus: bustest.New(t, "inproc")}, Config{})
	var looks atomic.Int64
	s.relay.onScan = func() { looks.Add(1); time.Sleep(200 * time.Millisecond) }
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := s.relay.Backlog(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Backlog with 50 ms against a 200 ms look: %v, want the deadline", err)
			}
		})
	}
	wg.Wait()
	time.Sleep(250 * time.Millisecond) // the look finishes alone
	if n := s.backlog(t); n != 0 {
		t.Fatalf("backlog %d, want 0", n)
	}
	if n := looks.Load(); n != 1 {
		t.Fatalf("%d looks for 6 calls, want 1 (shared, then reused)", n)
	}
}
