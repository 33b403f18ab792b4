package outbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/transport"
)

// createMany creates new things the way a bulk creation does: their
// events in a batch (Begin), the documents with one InsertMany carrying
// the batch's id, then Commit unless crash says the writer dies first.
// It returns the batch and which things it stored.
func (s *store) createMany(t *testing.T, ids []string, crash bool) (*Batch, []bool) {
	t.Helper()
	ctx := context.Background()
	docs := make([]thing, len(ids))
	pending := make([]Doc, len(ids))
	for i, id := range ids {
		docs[i] = thing{ID: id, Name: "new " + id, Version: 1}
		var ev Events
		ev.Add(id+"-v1", "thing.thing.created", map[string]any{"name": docs[i].Name, "version": 1}, time.Now())
		pending[i] = Doc{ID: id, Version: 1, Events: ev}
	}
	b, err := s.relay.Begin(ctx, pending)
	if err != nil {
		t.Fatal(err)
	}
	stored := make([]bool, len(ids))
	for i := range docs {
		docs[i].Events = Events{Batch: b.ID()}
		// One insert each here, to know which went in; services use
		// one InsertMany (docstore.Versions.StoreMany).
		_, err := s.coll.InsertOne(ctx, docs[i])
		stored[i] = err == nil
	}
	if crash {
		b.release() // the process is gone: so are its locks
		return b, stored
	}
	if err := b.Commit(ctx, stored); err != nil {
		t.Logf("commit: %v", err)
	}
	return b, stored
}

func (s *store) batchRecords(t *testing.T) int64 {
	t.Helper()
	n, err := s.relay.batches.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBatchPublishesTheEventsOfWhatItStored(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		pub := &switchable{Bus: bus}
		rec := record(t, bus)
		s := newStore(t, pub, Config{})
		if err := s.put(t, "c", "there before"); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, 1)
		_, stored := s.createMany(t, []string{"a", "b", "c"}, false)
		if !slices.Equal(stored, []bool{true, true, false}) {
			t.Fatalf("stored %v, want a and b (c exists)", stored)
		}
		rec.waitFor(t, 3)
		time.Sleep(100 * time.Millisecond) // nothing more comes
		// A batch's documents' events go out in any order among them.
		if got := rec.ids(); len(got) != 3 || got[0] != "c-v1" || !sameSet(got[1:], "a-v1", "b-v1") {
			t.Fatalf("events %v, want c-v1 then the batch's a-v1 and b-v1 (not c's creation: it did not make c)", got)
		}
		if n := s.batchRecords(t); n != 0 {
			t.Fatalf("%d batch records after the commit, want 0", n)
		}
		if n := s.backlog(t); n != 0 {
			t.Fatalf("backlog %d, want 0", n)
		}
		if pub.published.Load() != 3 {
			t.Fatalf("%d publishes, want 3", pub.published.Load())
		}
	})
}

func TestBatchWaitsForTheBus(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		pub := &switchable{Bus: bus}
		rec := record(t, bus)
		s := newStore(t, pub, Config{})
		pub.off.Store(true)
		_, stored := s.createMany(t, []string{"a", "b"}, false)
		if !slices.Equal(stored, []bool{true, true}) {
			t.Fatalf("stored %v", stored)
		}
		if n := s.backlog(t); n != 2 {
			t.Fatalf("backlog %d while the bus is away, want the batch's 2 events", n)
		}
		if n, err := s.relay.Drain(context.Background()); err == nil {
			t.Fatalf("drain published %d with the bus away, want an error", n)
		}
		pub.off.Store(false)
		n, err := s.relay.Drain(context.Background())
		if err != nil || n != 2 {
			t.Fatalf("drain = %d, %v; want 2 events", n, err)
		}
		if got := rec.waitFor(t, 2); !sameSet(got, "a-v1", "b-v1") {
			t.Fatalf("events %v", got)
		}
		if n := s.batchRecords(t); n != 0 {
			t.Fatalf("%d batch records after the drain, want 0", n)
		}
	})
}

func TestBatchOfADeadWriterIsRecovered(t *testing.T) {
	bus := bustest.New(t, "inproc")
	pub := &switchable{Bus: bus}
	rec := record(t, bus)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	s := newStore(t, pub, Config{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err := s.put(t, "c", "there before"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 1)
	// The writer dies after inserting a (b never went in) and before
	// its commit; c existed, made by someone else.
	ctx := context.Background()
	b, err := s.relay.Begin(ctx, []Doc{
		{ID: "a", Version: 1, Events: eventsOf("a-v1")},
		{ID: "b", Version: 1, Events: eventsOf("b-v1")},
		{ID: "c", Version: 1, Events: eventsOf("c-batch")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.coll.InsertOne(ctx, thing{ID: "a", Name: "new a", Version: 1, Events: Events{Batch: b.ID()}}); err != nil {
		t.Fatal(err)
	}
	b.release()

	// A sweep leaves a young record to its writer...
	now.Add(int64(30 * time.Second))
	if n, _, err := s.relay.sweep(ctx, time.Second, true); err != nil || n != 0 {
		t.Fatalf("sweep of a 30 s old batch = %d, %v; want 0 (its writer may be at it)", n, err)
	}
	// ...and recovers an old one: the events of what it made only.
	now.Add(int64(2 * time.Minute))
	if n, _, err := s.relay.sweep(ctx, time.Second, true); err != nil || n != 1 {
		t.Fatalf("sweep of a dead writer's batch = %d, %v; want 1 (a's)", n, err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := rec.waitFor(t, 2); !slices.Equal(got, []string{"c-v1", "a-v1"}) {
		t.Fatalf("events %v, want c-v1 and the recovered a-v1 only", got)
	}
	if n := s.batchRecords(t); n != 0 {
		t.Fatalf("%d batch records after the recovery, want 0", n)
	}
}

func TestDrainWaitsForABatchUnderWay(t *testing.T) {
	bus := bustest.New(t, "inproc")
	pub := &switchable{Bus: bus}
	rec := record(t, bus)
	s := newStore(t, pub, Config{})
	ctx := context.Background()
	for round := range 5 {
		ids := []string{fmt.Sprint("a", round), fmt.Sprint("b", round)}
		b, err := s.relay.Begin(ctx, []Doc{
			{ID: ids[0], Version: 1, Events: eventsOf(ids[0])},
			{ID: ids[1], Version: 1, Events: eventsOf(ids[1])},
		})
		if err != nil {
			t.Fatal(err)
		}
		drained := make(chan int)
		go func() {
			n, err := s.relay.Drain(ctx)
			if err != nil {
				t.Error(err)
			}
			drained <- n
		}()
		for _, id := range ids {
			if _, err := s.coll.InsertOne(ctx, thing{ID: id, Version: 1, Events: Events{Batch: b.ID()}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(ctx, []bool{true, true}); err != nil {
			t.Fatal(err)
		}
		if n := <-drained; n != 0 {
			t.Fatalf("round %d: a drain during the batch published %d events, want 0 (the writer publishes them)", round, n)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := rec.waitFor(t, 10); len(got) != 10 {
		t.Fatalf("events %v, want each of the 10 once", got)
	}
}

// sameSet reports whether got holds exactly the ids want, in any order.
func sameSet(got []string, want ...string) bool {
	return len(got) == len(want) && !slices.ContainsFunc(want, func(id string) bool { return !slices.Contains(got, id) })
}

func eventsOf(id string) Events {
	var ev Events
	ev.Add(id, "thing.thing.created", map[string]any{"id": id}, time.Now())
	return ev
}

// TestBatchRecordHoldsItsEventsCompressed: a batch record stores its
// events as one deflated blob, a fraction of their size, and a failed
// Commit keeps them that way; the relay publishes them from it.
func TestBatchRecordHoldsItsEventsCompressed(t *testing.T) {
	ctx := context.Background()
	bus := bustest.New(t, "inproc")
	pub := &switchable{Bus: bus}
	rec := record(t, bus)
	s := newStore(t, pub, Config{})
	body := map[string]any{"description": strings.Repeat("Simple lines, honest materials. ", 100)}
	docs := make([]Doc, 25)
	plain := 0
	for i := range docs {
		id := fmt.Sprint("p", i)
		var ev Events
		ev.Add(id+"-v1", "thing.thing.created", body, time.Now())
		docs[i] = Doc{ID: id, Version: 1, Events: ev}
		plain += len(ev.Pending[0].Body)
	}
	pub.off.Store(true)
	b, err := s.relay.Begin(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	stored := make([]bool, len(docs))
	for i := range stored {
		stored[i] = i%2 == 0 // what this writer stored
	}
	if err := b.Commit(ctx, stored); err == nil {
		t.Fatal("commit published with the bus away")
	}
	var raw bson.M
	if err := s.relay.batches.FindOne(ctx, bson.D{{Key: "_id", Value: b.ID()}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	z, ok := raw["z"].(bson.Binary)
	if _, plainToo := raw["docs"]; !ok || plainToo {
		t.Fatalf("record fields %v, want the events in z only", slices.Collect(maps.Keys(raw)))
	}
	if len(z.Data) > plain/5 {
		t.Errorf("events of %d bytes stored in %d, want a fifth or less", plain, len(z.Data))
	}
	if n := s.backlog(t); n != 13 {
		t.Fatalf("backlog %d, want the 13 stored documents' events", n)
	}
	pub.off.Store(false)
	if n, err := s.relay.Drain(ctx); err != nil || n != 13 {
		t.Fatalf("drain = %d, %v; want 13", n, err)
	}
	if got := rec.waitFor(t, 13); len(got) != 13 || !strings.HasPrefix(got[0], "p") {
		t.Fatalf("events %v", got)
	}
	if n := s.batchRecords(t); n != 0 {
		t.Fatalf("%d batch records after the drain, want 0", n)
	}
}

// TestBatchRecordsWrittenBefore: records an earlier version wrote, with
// their events in plain "docs", are still relayed; an unreadable one is
// left in place and does not hold up the others.
func TestBatchRecordsWrittenBefore(t *testing.T) {
	ctx := context.Background()
	bus := bustest.New(t, "inproc")
	rec := record(t, bus)
	s := newStore(t, &switchable{Bus: bus}, Config{})
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	old := bson.D{{Key: "_id", Value: "old"}, {Key: "at", Value: at}, {Key: "checked", Value: true},
		{Key: "docs", Value: []batchEntry{{ID: "o", Events: eventsOf("o-v1").Pending}}}}
	damaged := bson.D{{Key: "_id", Value: "damaged"}, {Key: "at", Value: at.Add(-time.Minute)}, {Key: "checked", Value: true},
		{Key: "z", Value: []byte("not deflate at all")}}
	if _, err := s.relay.batches.InsertMany(ctx, []any{old, damaged}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.relay.Drain(ctx); err != nil || n != 1 {
		t.Fatalf("drain = %d, %v; want the old record's 1 event", n, err)
	}
	if got := rec.waitFor(t, 1); !slices.Equal(got, []string{"o-v1"}) {
		t.Fatalf("events %v", got)
	}
	if n := s.batchRecords(t); n != 1 {
		t.Fatalf("%d batch records left, want the damaged one", n)
	}
}
