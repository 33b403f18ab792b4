package outbox

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/transport"
)

// failingPublisher is a bus that says it is ready but refuses events: a
// writer's publish fails while the relay would not see the bus away.
type failingPublisher struct{ transport.Bus }

func (failingPublisher) Publish(context.Context, transport.Event) error {
	return transport.Errorf(transport.CodeUnavailable, "confirm lost")
}

// leftBehind stores a document with an event no one publishes, as a writer
// that died between its write and its Flush leaves it.
func leftBehind(t *testing.T, coll *mongo.Collection, id string) {
	t.Helper()
	d := thing{ID: id, Name: id, Version: 1}
	d.Events.Add(id+"-v1", "thing.thing.created", map[string]any{"name": id}, time.Now().Add(-time.Minute))
	if _, err := coll.InsertOne(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func (s *store) heartbeats(t *testing.T) []string {
	t.Helper()
	from, to, _ := s.relay.heartbeatIDs()
	cur, err := s.relay.leases.Find(context.Background(), bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: from}, {Key: "$lt", Value: to}}}})
	if err != nil {
		t.Fatal(err)
	}
	var beats []heartbeat
	if err := cur.All(context.Background(), &beats); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(beats))
	for i, b := range beats {
		ids[i] = b.ID
	}
	return ids
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting: %s", what)
}

// TestExpensiveLooksWaitForACause: where looking through the collection
// is expensive (FerretDB scans it), the relay looks at start and then
// only when a writer's process died (its heartbeat lapsed) or another
// relay asked (its writer's publish failed); what such a writer left
// goes out either way. A relay that stops cleanly removes its heartbeat.
func TestExpensiveLooksWaitForACause(t *testing.T) {
	ctx := context.Background()
	bus := bustest.New(t, "inproc")
	rec := record(t, bus)
	cfg := Config{Interval: 40 * time.Millisecond, MinAge: 10 * time.Millisecond, Lease: 600 * time.Millisecond}
	s := newStore(t, &switchable{Bus: bus}, cfg)
	var looks atomic.Int64
	// 20 times 5 ms is more than the interval: expensive.
	s.relay.onScan = func() { looks.Add(1); time.Sleep(5 * time.Millisecond) }
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.relay.Run(runCtx) }()
	waitUntil(t, "the look at start", func() bool { return looks.Load() == 1 })
	waitUntil(t, "the relay's heartbeat", func() bool { return len(s.heartbeats(t)) == 1 })

	time.Sleep(500 * time.Millisecond)
	if n := looks.Load(); n != 1 {
		t.Fatalf("%d looks in 0.5 s without a cause, want only the one at start", n)
	}

	// A writer of another process wrote and died: its heartbeat lapses.
	leftBehind(t, s.coll, "dead")
	from, _, _ := s.relay.heartbeatIDs()
	if _, err := s.relay.leases.InsertOne(ctx, heartbeat{ID: from + "gone", Until: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := rec.waitForID(t, "dead-v1"); len(got) != 1 {
		t.Fatalf("events %v, want the dead writer's", got)
	}
	waitUntil(t, "the lapsed heartbeat removed", func() bool { return len(s.heartbeats(t)) == 1 })
	afterDeath := looks.Load()
	if afterDeath < 2 {
		t.Fatalf("%d looks, want one more for the lapsed writer", afterDeath)
	}

	// A writer of another process, whose relay does not hold the lease,
	// fails to publish: its relay asks the holder to look.
	other, err := New(ctx, Config{Collection: s.coll, Publisher: failingPublisher{bus}, Locks: s.locks,
		Interval: time.Hour, MinAge: 10 * time.Millisecond, Lease: cfg.Lease})
	if err != nil {
		t.Fatal(err)
	}
	otherCtx, stopOther := context.WithCancel(ctx)
	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Run(otherCtx) }()
	waitUntil(t, "both relays' heartbeats", func() bool { return len(s.heartbeats(t)) == 2 })
	time.Sleep(100 * time.Millisecond) // the other's start-up ask is answered
	leftBehind(t, s.coll, "failed")
	if err := other.Flush(ctx, Doc{ID: "failed", Version: 1, Events: eventsOf("failed-v1")}); err == nil {
		t.Fatal("Flush through a failing publisher succeeded")
	}
	rec.waitForID(t, "failed-v1")
	waitUntil(t, "the request answered", func() bool {
		var l lease
		err := s.relay.leases.FindOne(ctx, bson.D{{Key: "_id", Value: s.coll.Name()}}).Decode(&l)
		return err == nil && l.Asked.IsZero()
	})

	stopOther()
	stop()
	for _, c := range []chan error{done, otherDone} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if beats := s.heartbeats(t); len(beats) != 0 {
		t.Fatalf("heartbeats %v left after clean stops", beats)
	}
	var d thing
	for _, id := range []string{"dead", "failed"} {
		if err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil || d.HasPending {
			t.Errorf("%s: %v, still waiting %v", id, err, d.HasPending)
		}
	}
}

// TestCheapLooksClearLapsedHeartbeats: where every periodic sweep looks
// through the collection (MongoDB's index, a small collection), the
// heartbeats of dead writers are removed all the same, not left to pile
// up with every crash.
func TestCheapLooksClearLapsedHeartbeats(t *testing.T) {
	ctx := context.Background()
	bus := bustest.New(t, "inproc")
	rec := record(t, bus)
	// A look at a near-empty collection takes a few milliseconds: 20 times
	// that is within a second.
	s := newStore(t, &switchable{Bus: bus}, Config{Interval: time.Second, MinAge: 10 * time.Millisecond, Lease: 3 * time.Second})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.relay.Run(runCtx) }()
	waitUntil(t, "the relay's heartbeat", func() bool { return len(s.heartbeats(t)) == 1 })
	leftBehind(t, s.coll, "dead")
	from, _, _ := s.relay.heartbeatIDs()
	for _, id := range []string{"gone-1", "gone-2"} {
		if _, err := s.relay.leases.InsertOne(ctx, heartbeat{ID: from + id, Until: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitForID(t, "dead-v1")
	waitUntil(t, "the lapsed heartbeats removed", func() bool { return len(s.heartbeats(t)) == 1 })
	if !s.relay.scanIsCheap() {
		t.Fatalf("looks took %v: not the cheap case this test is about", time.Duration(s.relay.scanCost.Load()))
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
