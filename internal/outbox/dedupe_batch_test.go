package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
)

// batchHandler is a transport.BatchEventHandler that records the ids of
// each HandleEvents call and fails the events whose id is in fail; with
// miscount set it returns no results at all.
type batchHandler struct {
	mu       sync.Mutex
	calls    [][]string
	fail     map[string]bool
	miscount bool
}

func (h *batchHandler) HandleEvent(ctx context.Context, ev transport.Event) error {
	return h.HandleEvents(ctx, []transport.Event{ev})[0]
}

func (h *batchHandler) HandleEvents(_ context.Context, evs []transport.Event) []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	errs := make([]error, len(evs))
	for i, ev := range evs {
		ids = append(ids, ev.ID)
		if h.fail[ev.ID] {
			errs[i] = errors.New("cannot handle " + ev.ID)
		}
	}
	h.calls = append(h.calls, ids)
	if h.miscount {
		return nil
	}
	return errs
}

// takeCalls returns the ids of each call so far and forgets them.
func (h *batchHandler) takeCalls() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	calls := h.calls
	h.calls = nil
	return calls
}

func events(ids ...string) []transport.Event {
	evs := make([]transport.Event, len(ids))
	for i, id := range ids {
		evs[i] = transport.Event{ID: id, Key: "thing.thing.updated", Attempt: 1}
	}
	return evs
}

// failed returns which results are errors, as "ok" and "err" words.
func failed(errs []error) string {
	words := make([]string, len(errs))
	for i, err := range errs {
		words[i] = "ok"
		if err != nil {
			words[i] = "err"
		}
	}
	return fmt.Sprint(words)
}

// failingSeen is a Seen whose look-up of one id fails.
type failingSeen struct {
	inner  Seen
	broken string
}

func (f failingSeen) Seen(ctx context.Context, id string) (bool, error) {
	if id == f.broken {
		return false, errors.New("store away")
	}
	return f.inner.Seen(ctx, id)
}

func (f failingSeen) Mark(ctx context.Context, id string) error { return f.inner.Mark(ctx, id) }

func TestDedupeKeepsTheBatchCapability(t *testing.T) {
	seen := NewMemorySeen(10)
	if _, ok := Dedupe(seen, transport.EventHandlerFunc(func(context.Context, transport.Event) error { return nil })).(transport.BatchEventHandler); ok {
		t.Error("Dedupe of a plain handler handles batches")
	}
	if _, ok := Dedupe(seen, &batchHandler{}).(transport.BatchEventHandler); !ok {
		t.Error("Dedupe of a batch handler lost HandleEvents")
	}
}

func TestDedupeBatch(t *testing.T) {
	db := testenv.MongoDB(t, "outbox-dedupe-batch")
	for name, seen := range map[string]Seen{
		"memory": NewMemorySeen(100),
		"stored": NewStoredSeen(db.Collection("seen"), 0, nil),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := &batchHandler{fail: map[string]bool{"c": true, "e": true}}
			d := Dedupe(seen, h).(transport.BatchEventHandler)
			if err := seen.Mark(ctx, "old"); err != nil {
				t.Fatal(err)
			}

			// Marked events and repeats within the batch are dropped;
			// events without an id are handled every time; one failure
			// fails only its event (and its repeats).
			errs := d.HandleEvents(ctx, events("old", "a", "b", "a", "", "", "c", "c"))
			if got := failed(errs); got != "[ok ok ok ok ok ok err err]" {
				t.Errorf("results %s, want the two c failed", got)
			}
			if got := fmt.Sprint(h.takeCalls()); got != "[[a b   c]]" {
				t.Errorf("handler calls %s, want one of a b, the two without id, and c", got)
			}
			for id, want := range map[string]bool{"a": true, "b": true, "c": false} {
				if ok, err := seen.Seen(ctx, id); err != nil || ok != want {
					t.Errorf("Seen(%s) = %v, %v; want %v", id, ok, err, want)
				}
			}

			// The failed event's redelivery is handled; the others are not.
			h.fail["c"] = false
			errs = d.HandleEvents(ctx, events("a", "c", "d"))
			if got := failed(errs); got != "[ok ok ok]" {
				t.Errorf("results %s, want all handled", got)
			}
			if got := fmt.Sprint(h.takeCalls()); got != "[[c d]]" {
				t.Errorf("handler calls %s, want c and d only", got)
			}

			// Nothing left to handle: the handler is not called.
			if got := failed(d.HandleEvents(ctx, events("a", "d"))); got != "[ok ok]" {
				t.Errorf("results %s, want both done", got)
			}
			if calls := h.takeCalls(); len(calls) != 0 {
				t.Errorf("handler called with %v for events all seen", calls)
			}

			// A look-up that fails fails its event alone, which is not handled.
			broken := Dedupe(failingSeen{seen, "f"}, h).(transport.BatchEventHandler)
			if got := failed(broken.HandleEvents(ctx, events("f", "g"))); got != "[err ok]" {
				t.Errorf("results %s, want f failed", got)
			}
			if got := fmt.Sprint(h.takeCalls()); got != "[[g]]" {
				t.Errorf("handler calls %s, want g only", got)
			}

			// A handler returning a wrong number of results fails every
			// event it was given, and marks none.
			h.miscount = true
			if got := failed(d.HandleEvents(ctx, events("b", "h", "i"))); got != "[ok err err]" {
				t.Errorf("results %s, want h and i failed", got)
			}
			h.miscount = false
			for _, id := range []string{"h", "i"} {
				if ok, _ := seen.Seen(ctx, id); ok {
					t.Errorf("%s marked though its handling failed", id)
				}
			}
			// The one-at-a-time path still dedupes.
			h.takeCalls()
			if err := d.HandleEvent(ctx, transport.Event{ID: "a"}); err != nil {
				t.Fatal(err)
			}
			if err := d.HandleEvent(ctx, transport.Event{ID: "h"}); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(h.takeCalls()); got != "[[h]]" {
				t.Errorf("HandleEvent called the handler with %s, want h only", got)
			}
		})
	}
}

func TestStoredSeenMarkMany(t *testing.T) {
	db := testenv.MongoDB(t, "outbox-markmany")
	now := time.Now()
	s := NewStoredSeen(db.Collection("seen"), time.Hour, func() time.Time { return now })
	ctx := context.Background()
	if err := s.Mark(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(3 * time.Hour)
	// An id twice in one call is no error; marks past the retention go.
	if err := s.MarkMany(ctx, []string{"y", "z", "y"}); err != nil {
		t.Fatalf("MarkMany with a repeated id: %v", err)
	}
	if ok, _ := s.Seen(ctx, "old"); ok {
		t.Error("MarkMany did not prune a mark older than the retention")
	}
	now = now.Add(time.Minute)
	// Ids marked already are no error, and the others are marked.
	if err := s.MarkMany(ctx, []string{"y", "w"}); err != nil {
		t.Fatalf("MarkMany with an id marked already: %v", err)
	}
	for _, id := range []string{"y", "z", "w"} {
		if ok, err := s.Seen(ctx, id); err != nil || !ok {
			t.Errorf("Seen(%s) = %v, %v after MarkMany", id, ok, err)
		}
	}
	if err := s.MarkMany(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.coll.CountDocuments(ctx, bson.D{}); err != nil || n != 3 {
		t.Errorf("%d marks stored (%v), want 3 (y, z, w)", n, err)
	}
	// A write that fails is reported.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.MarkMany(cancelled, []string{"v"}); err == nil {
		t.Error("MarkMany swallowed a failed write")
	}
}
