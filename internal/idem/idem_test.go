package idem_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
)

type reply struct {
	N int `json:"n"`
}

// counter is work that counts its runs.
type counter struct{ runs atomic.Int32 }

func (c *counter) work(err error) func(context.Context) (reply, error) {
	return func(context.Context) (reply, error) {
		n := int(c.runs.Add(1))
		return reply{N: n}, err
	}
}

func serving(id string) context.Context {
	return transport.ServingRequestID(context.Background(), id)
}

func TestRepeatReturnsTheFirstOutcome(t *testing.T) {
	s := idem.New(testenv.MongoDB(t, "idem"), idem.Options{})
	var c counter
	ctx := serving("r1")
	for i := range 3 {
		got, err := idem.Do(ctx, s, "x.create", map[string]int{"a": 1}, c.work(nil))
		if err != nil || got.N != 1 {
			t.Fatalf("attempt %d: %+v, %v; want the first outcome {1}", i, got, err)
		}
	}
	if c.runs.Load() != 1 {
		t.Errorf("work ran %d times, want 1", c.runs.Load())
	}
	// Another method with the same id is another request.
	if got, _ := idem.Do(ctx, s, "x.update", map[string]int{"a": 1}, c.work(nil)); got.N != 2 {
		t.Errorf("another method: %+v, want a run of its own", got)
	}
	// No id: nothing is remembered.
	for range 2 {
		idem.Do(context.Background(), s, "x.create", 1, c.work(nil))
	}
	if c.runs.Load() != 4 {
		t.Errorf("without a request id the work ran %d times in all, want 4", c.runs.Load())
	}
}

func TestRememberedErrorsAndTransientOnes(t *testing.T) {
	s := idem.New(testenv.MongoDB(t, "idem"), idem.Options{})
	var c counter
	conflict := transport.Errorf(transport.CodeConflict, "taken")
	ctx := serving("r2")
	for range 2 {
		_, err := idem.Do(ctx, s, "x.create", 1, c.work(conflict))
		if !errors.Is(err, transport.ErrConflict) {
			t.Fatalf("got %v, want the remembered conflict", err)
		}
	}
	if c.runs.Load() != 1 {
		t.Errorf("a definitive error: work ran %d times, want 1", c.runs.Load())
	}
	var d counter
	ctx = serving("r3")
	unavailable := transport.Errorf(transport.CodeUnavailable, "try later")
	idem.Do(ctx, s, "x.create", 1, d.work(unavailable))
	got, err := idem.Do(ctx, s, "x.create", 1, d.work(nil))
	if err != nil || got.N != 2 {
		t.Errorf("retry after unavailable: %+v, %v; want a second run", got, err)
	}
}

func TestReusedIDWithAnotherRequestIsInvalid(t *testing.T) {
	s := idem.New(testenv.MongoDB(t, "idem"), idem.Options{})
	var c counter
	ctx := serving("r4")
	idem.Do(ctx, s, "x.create", map[string]int{"a": 1}, c.work(nil))
	_, err := idem.Do(ctx, s, "x.create", map[string]int{"a": 2}, c.work(nil))
	if transport.CodeOf(err) != transport.CodeInvalid || err.(*transport.Error).Field("request_id") == "" {
		t.Errorf("another body: %v, want invalid naming request_id", err)
	}
	other := transport.WithHeader(ctx, "authorization", "someone else")
	_, err = idem.Do(other, s, "x.create", map[string]int{"a": 1}, c.work(nil))
	if transport.CodeOf(err) != transport.CodeInvalid {
		t.Errorf("another caller: %v, want invalid", err)
	}
	if c.runs.Load() != 1 {
		t.Errorf("work ran %d times, want 1", c.runs.Load())
	}
}

// TestConcurrentDuplicatesRunOnce: duplicates that arrive while the first
// runs wait for its outcome, in this process and from another Store on the
// same database (another replica).
func TestConcurrentDuplicatesRunOnce(t *testing.T) {
	db := testenv.MongoDB(t, "idem")
	replicas := []*idem.Store{idem.New(db, idem.Options{}), idem.New(db, idem.Options{})}
	var runs atomic.Int32
	slow := func(context.Context) (reply, error) {
		n := runs.Add(1)
		time.Sleep(300 * time.Millisecond)
		return reply{N: int(n)}, nil
	}
	ctx, cancel := context.WithTimeout(serving("r5"), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]reply, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := idem.Do(ctx, replicas[i%2], "x.slow", 1, slow)
			if err != nil {
				t.Errorf("duplicate %d: %v", i, err)
			}
			results[i] = got
		}()
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Errorf("work ran %d times, want 1", runs.Load())
	}
	for i, r := range results {
		if r.N != 1 {
			t.Errorf("duplicate %d answered %+v, want the first run's {1}", i, r)
		}
	}
}

// TestDeadRunnerIsTakenOver: a claim whose runner died (its lease lapsed
// without an outcome) is taken over by the next attempt.
func TestDeadRunnerIsTakenOver(t *testing.T) {
	db := testenv.MongoDB(t, "idem")
	s := idem.New(db, idem.Options{Lease: 300 * time.Millisecond})
	// A runner that died: its claim, no outcome.
	if _, err := db.Collection(idem.Collection).InsertOne(context.Background(), bson.D{
		{Key: "_id", Value: "x.create r6"}, {Key: "fp", Value: mustFingerprint(t, "x.create", 1)},
		{Key: "state", Value: "running"}, {Key: "owner", Value: "dead"},
		{Key: "lease", Value: time.Now().Add(200 * time.Millisecond)}, {Key: "expires", Value: time.Now().Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	var c counter
	ctx, cancel := context.WithTimeout(serving("r6"), 5*time.Second)
	defer cancel()
	start := time.Now()
	got, err := idem.Do(ctx, s, "x.create", 1, c.work(nil))
	if err != nil || got.N != 1 {
		t.Fatalf("take-over: %+v, %v", got, err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("took over after %v, before the dead runner's lease ran out", waited)
	}
	if got, _ := idem.Do(ctx, s, "x.create", 1, c.work(nil)); got.N != 1 || c.runs.Load() != 1 {
		t.Errorf("after the take-over: %+v, runs %d", got, c.runs.Load())
	}
}

// TestLongRunKeepsItsClaim: a run longer than the lease renews it, so a
// duplicate waits instead of running too.
func TestLongRunKeepsItsClaim(t *testing.T) {
	db := testenv.MongoDB(t, "idem")
	s := idem.New(db, idem.Options{Lease: 150 * time.Millisecond})
	other := idem.New(db, idem.Options{Lease: 150 * time.Millisecond})
	var runs atomic.Int32
	long := func(context.Context) (reply, error) {
		runs.Add(1)
		time.Sleep(700 * time.Millisecond)
		return reply{N: 7}, nil
	}
	ctx, cancel := context.WithTimeout(serving("r7"), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		idem.Do(ctx, s, "x.long", 1, long)
	}()
	time.Sleep(300 * time.Millisecond) // two leases into the run
	got, err := idem.Do(ctx, other, "x.long", 1, long)
	<-done
	if err != nil || got.N != 7 || runs.Load() != 1 {
		t.Errorf("duplicate during a long run: %+v, %v, runs %d; want the one run's outcome", got, err, runs.Load())
	}
}

func TestSweepDropsExpiredOutcomes(t *testing.T) {
	db := testenv.MongoDB(t, "idem")
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := idem.New(db, idem.Options{TTL: time.Minute, Now: clock})
	var c counter
	ctx := serving("r8")
	idem.Do(ctx, s, "x.create", 1, c.work(nil))
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if n, err := s.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 record deleted", n, err)
	}
	// Past its TTL a request id is new again.
	if got, _ := idem.Do(ctx, s, "x.create", 1, c.work(nil)); got.N != 2 {
		t.Errorf("after the TTL: %+v, want a new run", got)
	}
}

func TestNewIDIsStablePerRequest(t *testing.T) {
	a1, a2 := idem.NewID(serving("r9"), "product"), idem.NewID(serving("r9"), "product")
	b := idem.NewID(serving("r9"), "variant:X")
	c := idem.NewID(serving("r10"), "product")
	if a1 != a2 || a1 == b || a1 == c {
		t.Errorf("NewID: %s %s %s %s; want equal for one request and name only", a1, a2, b, c)
	}
	if x, y := idem.NewID(context.Background(), "p"), idem.NewID(context.Background(), "p"); x == y {
		t.Error("NewID without a request id repeats itself")
	}
}

func mustFingerprint(t *testing.T, method string, req any) string {
	fp, err := idem.Fingerprint(context.Background(), method, req)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// TestPanicDropsTheClaim: work that panics leaves no claim behind, so a
// retry runs at once instead of waiting for a lease that never ends.
func TestPanicDropsTheClaim(t *testing.T) {
	s := idem.New(testenv.MongoDB(t, "idem"), idem.Options{Lease: time.Minute})
	ctx := serving("r11")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		idem.Do(ctx, s, "x.create", 1, func(context.Context) (reply, error) { panic("boom") })
	}()
	var c counter
	retry, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := idem.Do(retry, s, "x.create", 1, c.work(nil)); err != nil || got.N != 1 {
		t.Errorf("retry after a panic: %+v, %v; want a fresh run", got, err)
	}
}

// TestExpiredOutcomeIsTakenOver: past its TTL, before any sweep, a
// remembered outcome gives way to a new run (once, even with two
// replicas asking at the same moment).
func TestExpiredOutcomeIsTakenOver(t *testing.T) {
	db := testenv.MongoDB(t, "idem")
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var c counter
	ctx := serving("r12")
	idem.Do(ctx, idem.New(db, idem.Options{TTL: time.Hour, Now: clock}), "x.create", 1, c.work(nil))
	mu.Lock()
	now = now.Add(61 * time.Minute)
	mu.Unlock()
	// Stores made now do not sweep for half an hour.
	replicas := []*idem.Store{idem.New(db, idem.Options{TTL: time.Hour, Now: clock}), idem.New(db, idem.Options{TTL: time.Hour, Now: clock})}
	var wg sync.WaitGroup
	got := make([]reply, 2)
	for i, s := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			got[i], _ = idem.Do(ctx, s, "x.create", 1, c.work(nil))
		}()
	}
	wg.Wait()
	if c.runs.Load() != 2 || got[0].N != 2 || got[1].N != 2 {
		t.Errorf("after expiry: runs %d, replies %+v; want one new run answering both", c.runs.Load(), got)
	}
}

// TestOutcomeOfALostClaimLeavesTheTakeOver: a runner whose claim was taken
// over while it ran (its lease lapsed) does not overwrite the new owner's
// claim with its outcome; the new owner's outcome is the one kept.
func TestOutcomeOfALostClaimLeavesTheTakeOver(t *testing.T) {
	db := testenv.MongoDB(t, "idem")
	s := idem.New(db, idem.Options{Logger: slog.New(slog.DiscardHandler)})
	coll := db.Collection(idem.Collection)
	ctx := serving("r9")
	key := "x.create r9"
	_, err := idem.Do(ctx, s, "x.create", 1, func(ctx context.Context) (reply, error) {
		// Another runner takes the claim over meanwhile.
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, bson.D{{Key: "$set", Value: bson.D{
			{Key: "owner", Value: "taker"}, {Key: "lease", Value: time.Now().Add(time.Hour)}}}})
		return reply{N: 1}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var rec bson.M
	if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: key}}).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if rec["owner"] != "taker" || rec["state"] != "running" || rec["reply"] != nil {
		t.Fatalf("record after the first runner's outcome: %v; want the taker's claim, untouched", rec)
	}
}

// TestDoWritesTwice: a request that runs costs two writes to the store,
// its claim and its outcome, and nothing else (one round trip each, also
// on the embedded store, where a conditional replace reads first).
func TestDoWritesTwice(t *testing.T) {
	var (
		mu       sync.Mutex
		commands []string
	)
	client, err := mongo.Connect(options.Client().ApplyURI(testenv.MongoURI(t)).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			mu.Lock()
			defer mu.Unlock()
			if e.CommandName != "buildInfo" {
				commands = append(commands, e.CommandName)
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s := idem.New(client.Database(testenv.MongoDB(t, "idem").Name()), idem.Options{})
	var c counter
	for i, id := range []string{"r10", "r11"} {
		mu.Lock()
		commands = nil
		mu.Unlock()
		if _, err := idem.Do(serving(id), s, "x.create", i, c.work(nil)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := commands
		mu.Unlock()
		if len(got) != 2 || got[0] != "insert" {
			t.Errorf("request %d sent %v; want its claim (an insert) and its outcome", i, got)
		}
	}
}

// TestLargeReplyRememberedCompressed: a large outcome (a bulk reply) is
// stored compressed, a fraction of its size, and a repeat gets it back
// exactly; a small one is stored as it is.
func TestLargeReplyRememberedCompressed(t *testing.T) {
	db := testenv.MongoDB(t, "idem_large")
	s := idem.New(db, idem.Options{})
	type item struct {
		ID, Title, Description string
		Price                  int
	}
	big := make([]item, 300)
	for i := range big {
		big[i] = item{ID: "id-" + string(rune('a'+i%26)), Title: "Linen shirt", Description: "A shirt of washed linen, loose, with a collar.", Price: 4900 + i}
	}
	runs := 0
	work := func(context.Context) ([]item, error) { runs++; return big, nil }
	ctx := serving("large")
	for i := range 2 {
		got, err := idem.Do(ctx, s, "x.create_many", 1, work)
		if err != nil || len(got) != len(big) || got[299] != big[299] {
			t.Fatalf("attempt %d: %d items, %v", i, len(got), err)
		}
	}
	if runs != 1 {
		t.Fatalf("work ran %d times, want 1", runs)
	}
	var rec bson.M
	if err := db.Collection(idem.Collection).FindOne(context.Background(), bson.D{{Key: "_id", Value: "x.create_many large"}}).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	z, ok := rec["reply_z"].(bson.Binary)
	if !ok || rec["reply"] != nil {
		t.Fatalf("record %v: want the reply compressed only", keys(rec))
	}
	if plain := 300 * 100; len(z.Data) > plain/4 {
		t.Errorf("compressed reply of %d bytes for about %d", len(z.Data), plain)
	}

	// A small reply is stored as it is.
	if _, err := idem.Do(serving("small"), s, "x.create", 1, (&counter{}).work(nil)); err != nil {
		t.Fatal(err)
	}
	rec = nil
	if err := db.Collection(idem.Collection).FindOne(context.Background(), bson.D{{Key: "_id", Value: "x.create small"}}).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["reply"].(bson.Binary); !ok || rec["reply_z"] != nil {
		t.Fatalf("small record %v: want the reply as it is", keys(rec))
	}
}

func keys(m bson.M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
