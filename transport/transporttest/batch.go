package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// batchRecorder is a transport.BatchEventHandler that keeps what it is
// given: the events of every HandleEvents call, the attempts each event
// was delivered with, and how often each was handled (its error nil).
type batchRecorder struct {
	// decide, when set, returns the errors of a call (it may panic, or
	// return a wrong number of errors); nil means every event succeeds.
	decide func(call int, evs []transport.Event) []error
	// pause is how long each call takes, so that events pile up behind it.
	pause time.Duration

	mu       sync.Mutex
	calls    [][]transport.Event
	singles  int // HandleEvent calls
	attempts map[string][]int
	handled  map[string]int
}

func newBatchRecorder() *batchRecorder {
	return &batchRecorder{attempts: map[string][]int{}, handled: map[string]int{}}
}

// HandleEvent implements transport.EventHandler: the consumer must not
// call it for a batch handler under WithBatch.
func (r *batchRecorder) HandleEvent(ctx context.Context, ev transport.Event) error {
	r.mu.Lock()
	r.singles++
	r.mu.Unlock()
	return r.HandleEvents(ctx, []transport.Event{ev})[0]
}

// HandleEvents implements transport.BatchEventHandler.
func (r *batchRecorder) HandleEvents(ctx context.Context, evs []transport.Event) []error {
	r.mu.Lock()
	call := len(r.calls)
	r.calls = append(r.calls, slices.Clone(evs))
	for _, ev := range evs {
		r.attempts[ev.ID] = append(r.attempts[ev.ID], ev.Attempt)
	}
	r.mu.Unlock()
	time.Sleep(r.pause)
	errs := make([]error, len(evs))
	if r.decide != nil {
		errs = r.decide(call, evs)
	}
	if len(errs) == len(evs) {
		r.mu.Lock()
		for i, ev := range evs {
			if errs[i] == nil {
				r.handled[ev.ID]++
			}
		}
		r.mu.Unlock()
	}
	return errs
}

// handledAll reports whether every one of ids was handled.
func (r *batchRecorder) handledAll(ids []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.handled[id] == 0 {
			return false
		}
	}
	return true
}

// largestCall returns the most events one HandleEvents call got.
func (r *batchRecorder) largestCall() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n = max(n, len(c))
	}
	return n
}

// checkOnce fails t unless each of ids was delivered once, as its first
// attempt, and handled once.
func (r *batchRecorder) checkOnce(t *testing.T, ids []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if got := fmt.Sprint(r.attempts[id]); got != "[1]" || r.handled[id] != 1 {
			t.Errorf("event %s: attempts %s, handled %d times; want [1] and once", id, got, r.handled[id])
		}
	}
}

// publishBacklog makes sure subscriber's queue exists (a consumer
// attached once, for svc's events) and publishes n events to it while no
// consumer is attached; it returns their ids, in the order published.
func publishBacklog(t *testing.T, client, server transport.Bus, subscriber, svc string, n int) []string {
	t.Helper()
	s := mustSubscribe(t, server, subscriber, svc+".#", newRecorder())
	s.Close()
	ctx := timeout(t, 30*time.Second)
	ids := make([]string, n)
	for i := range n {
		ids[i] = Unique("ev")
		ev := transport.Event{ID: ids[i], Key: fmt.Sprintf("%s.thing.%d", svc, i), Body: fmt.Appendf(nil, `{"n":%d}`, i)}
		if err := client.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// testBatchBacklog: a batch handler under WithBatch takes a subscriber's
// backlog in calls of several events (at most the batch size), and every
// event exactly once.
func testBatchBacklog(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("batch"), Unique("batch-sub")
	ids := publishBacklog(t, client, server, subscriber, svc, 40)
	rec := newBatchRecorder()
	rec.pause = 20 * time.Millisecond
	mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithBatch(10))
	waitFor(t, "the backlog to be handled", func() bool { return rec.handledAll(ids) })
	time.Sleep(300 * time.Millisecond) // nothing more must arrive
	rec.checkOnce(t, ids)
	if n := rec.largestCall(); n < 2 || n > 10 {
		t.Errorf("the largest call had %d events; want a backlog taken in batches of 2 to 10", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.singles != 0 {
		t.Errorf("HandleEvent called %d times; a batch handler under WithBatch gets HandleEvents", rec.singles)
	}
	var seen []string
	var sizes []int
	for _, c := range rec.calls {
		seen = append(seen, eventIDs(c)...)
		sizes = append(sizes, len(c))
	}
	t.Logf("calls of %v events", sizes)
	if len(seen) != len(ids) {
		t.Errorf("%d events delivered, want %d", len(seen), len(ids))
	}
}

// testBatchFailureRetriedAlone: when one event of a batch fails, it
// alone is delivered again, as its second attempt; its neighbours,
// handled, are not.
func testBatchFailureRetriedAlone(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("batchfail"), Unique("batchfail-sub")
	ids := publishBacklog(t, client, server, subscriber, svc, 20)
	var mu sync.Mutex
	victim := ""
	var neighbours []string
	rec := newBatchRecorder()
	rec.pause = 10 * time.Millisecond
	rec.decide = func(call int, evs []transport.Event) []error {
		mu.Lock()
		defer mu.Unlock()
		errs := make([]error, len(evs))
		if victim == "" && len(evs) >= 2 {
			i := len(evs) / 2
			victim, errs[i] = evs[i].ID, errors.New("cannot handle this one yet")
			for _, ev := range evs {
				if ev.ID != victim {
					neighbours = append(neighbours, ev.ID)
				}
			}
		}
		return errs
	}
	mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithBatch(10),
		transport.WithMaxAttempts(3), transport.WithRetryDelay(20*time.Millisecond))
	waitFor(t, "every event to be handled", func() bool { return rec.handledAll(ids) })
	time.Sleep(300 * time.Millisecond) // nothing more must arrive
	mu.Lock()
	defer mu.Unlock()
	if victim == "" {
		t.Fatal("no call had more than one event")
	}
	others := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == victim })
	rec.checkOnce(t, others)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := fmt.Sprint(rec.attempts[victim]); got != "[1 2]" || rec.handled[victim] != 1 {
		t.Errorf("the failed event: attempts %s, handled %d times; want [1 2] and once", got, rec.handled[victim])
	}
	t.Logf("the failed event had %d neighbours in its batch", len(neighbours))
}

// testBatchPoisonParked: an event that fails every time is parked after
// MaxAttempts, while the events delivered with it are handled once.
func testBatchPoisonParked(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("batchpoison"), Unique("batchpoison-sub")
	ids := publishBacklog(t, client, server, subscriber, svc, 10)
	poison := ids[3]
	var withPoison atomic.Int64 // calls that had the poison and another event
	rec := newBatchRecorder()
	rec.pause = 10 * time.Millisecond
	rec.decide = func(call int, evs []transport.Event) []error {
		errs := make([]error, len(evs))
		for i, ev := range evs {
			if ev.ID == poison {
				errs[i] = errors.New("poison")
				if len(evs) > 1 {
					withPoison.Add(1)
				}
			}
		}
		return errs
	}
	mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithBatch(10),
		transport.WithMaxAttempts(3), transport.WithRetryDelay(20*time.Millisecond))
	ctx := timeout(t, 30*time.Second)
	var dead []transport.Event
	waitFor(t, "the poison event in the dead-letter queue", func() bool {
		d, err := server.DrainDeadLetters(ctx, subscriber)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, d...)
		return len(dead) > 0
	})
	others := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == poison })
	waitFor(t, "the other events to be handled", func() bool { return rec.handledAll(others) })
	time.Sleep(300 * time.Millisecond) // nothing more must arrive
	if len(dead) != 1 || dead[0].ID != poison {
		t.Fatalf("dead letters %v, want the poison event %s alone", eventIDs(dead), poison)
	}
	rec.checkOnce(t, others)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := fmt.Sprint(rec.attempts[poison]); got != "[1 2 3]" {
		t.Errorf("poison attempts = %s, want [1 2 3] then parked", got)
	}
	if withPoison.Load() == 0 {
		t.Error("the poison event never came in a batch with others")
	}
}

// testPlainHandlerUnderBatch: a handler that is not a batch handler gets
// one event per call under WithBatch, with Concurrency calls at once as
// without it.
func testPlainHandlerUnderBatch(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("batchplain"), Unique("batchplain-sub")
	const n = 4
	ids := publishBacklog(t, client, server, subscriber, svc, n)
	var mu sync.Mutex
	running, most := 0, 0
	overlap := func() int {
		mu.Lock()
		defer mu.Unlock()
		return most
	}
	rec := newRecorder()
	mustSubscribe(t, server, subscriber, svc+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		// Wait for the others, so that the calls overlap if they can.
		deadline := time.Now().Add(5 * time.Second)
		for overlap() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		running--
		mu.Unlock()
		return rec.HandleEvent(ctx, ev)
	}), transport.WithBatch(n), transport.WithConcurrency(n))
	rec.wait(t, n)
	time.Sleep(200 * time.Millisecond) // nothing more must arrive
	evs := rec.wait(t, n)
	if got := eventIDs(evs); len(got) != n || !sameSet(got, ids) {
		t.Errorf("delivered %v, want each of %v once", got, ids)
	}
	for _, ev := range evs {
		if ev.Attempt != 1 {
			t.Errorf("event %s attempt %d, want 1", ev.ID, ev.Attempt)
		}
	}
	if m := overlap(); m != n {
		t.Errorf("at most %d calls at once, want %d (Concurrency): WithBatch must not slow a plain handler", m, n)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// testBatchPanic: a batch handler that panics, or returns a wrong number
// of errors, fails every event of the call: each is delivered again and
// then handled.
func testBatchPanic(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("batchpanic"), Unique("batchpanic-sub")
	ids := publishBacklog(t, client, server, subscriber, svc, 6)
	var mu sync.Mutex
	var panicked, miscounted []string
	rec := newBatchRecorder()
	rec.decide = func(call int, evs []transport.Event) []error {
		mu.Lock()
		defer mu.Unlock()
		switch call {
		case 0:
			panicked = eventIDs(evs)
			panic("batch handler broken")
		case 1:
			miscounted = eventIDs(evs)
			return nil
		}
		return make([]error, len(evs))
	}
	// One run of up to 5 events: the calls come one after another.
	mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithBatch(5), transport.WithConcurrency(5),
		transport.WithMaxAttempts(5), transport.WithRetryDelay(20*time.Millisecond))
	waitFor(t, "every event to be handled", func() bool { return rec.handledAll(ids) })
	time.Sleep(300 * time.Millisecond) // nothing more must arrive
	mu.Lock()
	defer mu.Unlock()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, failed := range [][]string{panicked, miscounted} {
		for _, id := range failed {
			if a := rec.attempts[id]; len(a) < 2 || a[0] != 1 || a[len(a)-1] != len(a) || rec.handled[id] != 1 {
				t.Errorf("event %s of a failed call: attempts %v, handled %d times; want it delivered again and handled once", id, a, rec.handled[id])
			}
		}
	}
	if len(panicked) == 0 || len(miscounted) == 0 {
		t.Fatalf("calls %v and %v: want two failed calls", panicked, miscounted)
	}
	ctx := timeout(t, 10*time.Second)
	if d, err := server.DrainDeadLetters(ctx, subscriber); err != nil || len(d) != 0 {
		t.Errorf("dead letters %v, %v; want none", eventIDs(d), err)
	}
}
