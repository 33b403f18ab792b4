package outbox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
)

// bothWays runs fn with the relay clearing events as it does on this
// store and as it does where the server checks the version itself
// (MongoDB): both must keep every event that was not published.
func bothWays(t *testing.T, fn func(t *testing.T)) {
	for _, server := range []bool{false, true} {
		name := "this-store"
		if server {
			name = "server-checks"
		}
		t.Run(name, func(t *testing.T) {
			serverChecks = server
			t.Cleanup(func() { serverChecks = false })
			fn(t)
		})
	}
}

func loadThing(t *testing.T, coll *mongo.Collection, id string) (thing, bool) {
	t.Helper()
	var d thing
	err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

// TestClearKeepsAnotherWritersEvents: a worker of another process writes
// the document (adding its event) between a writer's write and its
// Flush. The Flush publishes what it stored and leaves the other's event
// waiting, flagged, for its own publish or the relay's.
func TestClearKeepsAnotherWritersEvents(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		bothWays(t, func(t *testing.T) {
			ctx := context.Background()
			rec := record(t, bus)
			s := newStore(t, &switchable{Bus: bus}, Config{})
			at := time.Now()
			mine := thing{ID: "k", Name: "one", Version: 1}
			mine.Events.Add("k-v1", "thing.thing.updated", map[string]any{"name": "one"}, at)
			if _, err := s.coll.InsertOne(ctx, mine); err != nil {
				t.Fatal(err)
			}
			theirs := mine
			theirs.Name, theirs.Version = "two", 2
			theirs.Events = Events{Pending: append([]Entry(nil), mine.Events.Pending...)}
			theirs.Events.Add("k-v2", "thing.thing.updated", map[string]any{"name": "two"}, at.Add(time.Millisecond))
			if _, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "k"}}, theirs); err != nil {
				t.Fatal(err)
			}
			if err := s.relay.Flush(ctx, Doc{ID: "k", Version: 1, Events: mine.Events}); err != nil {
				t.Fatal(err)
			}
			d, _ := loadThing(t, s.coll, "k")
			if !d.HasPending || len(d.Pending) == 0 || d.Pending[len(d.Pending)-1].ID != "k-v2" {
				t.Fatalf("after the first writer's flush: %+v; want k-v2 still waiting, flagged", d.Events)
			}
			if n := s.backlog(t); n == 0 {
				t.Fatal("the backlog does not show the other writer's event")
			}
			if _, err := s.relay.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			// Where the server checks the version, the first writer's
			// clear fails (the document moved on), so k-v1 goes out again
			// with k-v2: a duplicate, which subscribers drop. Either way
			// k-v2 comes last, once, after k-v1.
			got := rec.waitForID(t, "k-v2")
			if len(got) < 2 || got[len(got)-1] != "k-v2" || slices.ContainsFunc(got[:len(got)-1], func(id string) bool { return id != "k-v1" }) {
				t.Fatalf("published %v, want k-v1 (perhaps again), then k-v2 last", got)
			}
			if d, _ := loadThing(t, s.coll, "k"); d.HasPending || len(d.Pending) != 0 || d.Name != "two" {
				t.Fatalf("after the relay: %+v", d)
			}
		})
	})
}

// TestSweepDropsAFlagWithoutEvents: a document flagged as waiting but
// without events (a clear that set the flag again after the other writer
// had cleared its own) loses the flag at the next sweep.
func TestSweepDropsAFlagWithoutEvents(t *testing.T) {
	ctx := context.Background()
	bus := bustest.New(t, "inproc")
	s := newStore(t, &switchable{Bus: bus}, Config{})
	if _, err := s.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "f"}, {Key: "version", Value: int64(3)}, {Key: fieldEvents, Value: bson.A{}}, {Key: fieldPending, Value: true}}); err != nil {
		t.Fatal(err)
	}
	if n := s.backlog(t); n != 0 {
		t.Fatalf("backlog %d, want 0", n)
	}
	if n, err := s.relay.Drain(ctx); n != 0 || err != nil {
		t.Fatalf("drain: %d, %v", n, err)
	}
	if d, _ := loadThing(t, s.coll, "f"); d.HasPending {
		t.Fatalf("still flagged: %+v", d)
	}
}

// TestFlushIsOneCommand: publishing a write's events and clearing them
// costs one command to the store (it was a find and an update on the
// embedded store).
func TestFlushIsOneCommand(t *testing.T) {
	ctx := context.Background()
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
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	bus := bustest.New(t, "inproc")
	rec := record(t, bus)
	s := newStore(t, &switchable{Bus: bus}, Config{})
	s.coll = client.Database(s.coll.Database().Name()).Collection(s.coll.Name())
	r, err := New(ctx, Config{Collection: s.coll, Publisher: &switchable{Bus: bus}, Locks: s.locks})
	if err != nil {
		t.Fatal(err)
	}
	s.relay = r
	for i, name := range []string{"one", "two", "three"} {
		if err := s.put(t, "c", name); err != nil {
			t.Fatal(err)
		}
		d, _ := loadThing(t, s.coll, "c")
		d.Version++
		d.Events.Add("c-x"+name, "thing.thing.updated", map[string]any{"name": name}, time.Now())
		if _, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "c"}}, d); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		commands = nil
		mu.Unlock()
		if err := s.relay.Flush(ctx, Doc{ID: d.ID, Version: d.Version, Events: d.Events}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := commands
		mu.Unlock()
		if len(got) != 1 {
			t.Errorf("flush %d sent %v, want one command", i, got)
		}
	}
	rec.waitFor(t, 6)
	if d, _ := loadThing(t, s.coll, "c"); d.HasPending || len(d.Pending) != 0 {
		t.Fatalf("events left: %+v", d.Events)
	}
}

// TestClearOfEventsStoredOtherwise: events the writer stored in another
// form than it hands Flush (here another body) are cleared all the same,
// by version.
func TestClearOfEventsStoredOtherwise(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		ctx := context.Background()
		bus := bustest.New(t, "inproc")
		rec := record(t, bus)
		s := newStore(t, &switchable{Bus: bus}, Config{})
		d := thing{ID: "o", Name: "one", Version: 1}
		d.Events.Add("o-v1", "thing.thing.updated", map[string]any{"name": "stored"}, time.Now())
		if _, err := s.coll.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
		sent := Events{}
		sent.Add("o-v1", "thing.thing.updated", map[string]any{"name": "handed"}, d.Pending[0].Time)
		if err := s.relay.Flush(ctx, Doc{ID: "o", Version: 1, Events: sent}); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, 1)
		if got, _ := loadThing(t, s.coll, "o"); got.HasPending || len(got.Pending) != 0 {
			t.Fatalf("left waiting: %+v", got.Events)
		}
	})
}
