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

// parkEvents subscribes a handler that always fails (one delivery, one
// event at a time, so events are parked in the order published) and
// publishes n events; it returns their ids once all are parked.
func parkEvents(t *testing.T, client, server transport.Bus, subscriber, svc string, n int) []string {
	t.Helper()
	mustSubscribe(t, server, subscriber, svc+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		return errors.New("handler broken: " + ev.ID)
	}), transport.WithMaxAttempts(1), transport.WithConcurrency(1))
	return publishAndPark(t, client, server, subscriber, svc, n)
}

// publishAndPark publishes n events (keys svc.thing.<i>, bodies {"n":<i>})
// and waits until subscriber has parked them all.
func publishAndPark(t *testing.T, client, server transport.Bus, subscriber, svc string, n int) []string {
	t.Helper()
	ctx := timeout(t, 30*time.Second)
	var ids []string
	for i := range n {
		ev := transport.Event{ID: Unique("ev"), Key: fmt.Sprintf("%s.thing.%d", svc, i), Body: fmt.Appendf(nil, `{"n":%d}`, i),
			Header: map[string]string{"x-test": "kept"}}
		if err := client.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	waitFor(t, "the events to be parked", func() bool {
		d, err := server.PeekDeadLetters(ctx, subscriber, transport.MaxPeekDeadLetters)
		if err != nil {
			t.Fatal(err)
		}
		return len(d) >= n
	})
	return ids
}

func eventIDs(evs []transport.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

// testPeekDeadLetters: a peek returns the oldest parked events, at most
// max, with what they were published with and why they were parked, and
// leaves them parked; bad arguments are invalid, an unknown subscriber
// has none.
func testPeekDeadLetters(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, sub := Unique("peek"), Unique("peek-sub")
	ids := parkEvents(t, client, server, sub, svc, 3)
	ctx := timeout(t, 30*time.Second)
	for range 2 {
		two, err := server.PeekDeadLetters(ctx, sub, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := eventIDs(two); !slices.Equal(got, ids[:2]) {
			t.Fatalf("peek 2 = %v, want the oldest two %v", got, ids[:2])
		}
	}
	all, err := server.PeekDeadLetters(ctx, sub, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(all); !slices.Equal(got, ids) {
		t.Fatalf("peek 10 = %v, want %v in order", got, ids)
	}
	for i, ev := range all {
		if ev.Key != fmt.Sprintf("%s.thing.%d", svc, i) || string(ev.Body) != fmt.Sprintf(`{"n":%d}`, i) || ev.Time.IsZero() {
			t.Errorf("parked event %d = %+v", i, ev)
		}
		if ev.Attempt != 1 || ev.Header["x-test"] != "kept" {
			t.Errorf("parked event %d: attempt %d, headers %v; want attempt 1 and x-test", i, ev.Attempt, ev.Header)
		}
		if ev.Header[transport.HeaderDeadReason] == "" {
			t.Errorf("parked event %d says not why it was parked: %v", i, ev.Header)
		}
		if at, err := time.Parse(time.RFC3339, ev.Header[transport.HeaderDeadTime]); err != nil || time.Since(at) > time.Minute {
			t.Errorf("parked event %d: dead time %q (%v)", i, ev.Header[transport.HeaderDeadTime], err)
		}
	}
	if d, err := server.PeekDeadLetters(ctx, Unique("nobody"), 5); err != nil || len(d) != 0 {
		t.Errorf("peek of an unknown subscriber = %v, %v; want none", d, err)
	}
	for _, max := range []int{0, -1, transport.MaxPeekDeadLetters + 1} {
		_, err := server.PeekDeadLetters(ctx, sub, max)
		wantCode(t, err, transport.CodeInvalid)
	}
	_, err = server.PeekDeadLetters(ctx, "Not Valid", 1)
	wantCode(t, err, transport.CodeInvalid)
	// Still all parked: a drain finds them.
	drained, err := server.DrainDeadLetters(ctx, sub)
	if err != nil || len(drained) != 3 {
		t.Fatalf("drain after peeks = %d events, %v; want 3", len(drained), err)
	}
}

// testReplayDeadLetters: a replayed event goes back to the subscriber
// that parked it, and to no other, with its id, key, body and headers and
// Attempt 1; it is delivered once and leaves the dead-letter queue.
// Unknown ids are ignored.
func testReplayDeadLetters(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc := Unique("replay")
	broken, other := Unique("broken"), Unique("other")
	var fixed atomic.Bool
	var mu sync.Mutex
	var got []transport.Event
	applied := make(chan struct{}, 10)
	mustSubscribe(t, server, broken, svc+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		if !fixed.Load() {
			return errors.New("not fixed yet")
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
		applied <- struct{}{}
		return nil
	}), transport.WithMaxAttempts(2), transport.WithRetryDelay(10*time.Millisecond))
	rec := newRecorder()
	mustSubscribe(t, server, other, svc+".#", rec)
	ids := publishAndPark(t, client, server, broken, svc, 2)
	rec.wait(t, 2)

	ctx := timeout(t, 30*time.Second)
	fixed.Store(true)
	n, err := server.ReplayDeadLetters(ctx, broken, []string{ids[1], "no-such-event"})
	if err != nil || n != 1 {
		t.Fatalf("replay = %d, %v; want 1", n, err)
	}
	select {
	case <-applied:
	case <-ctx.Done():
		t.Fatal("the replayed event never arrived")
	}
	time.Sleep(300 * time.Millisecond) // nothing more must arrive
	mu.Lock()
	if len(got) != 1 {
		t.Fatalf("the fixed subscriber got %d events, want the one replayed", len(got))
	}
	ev := got[0]
	mu.Unlock()
	if ev.ID != ids[1] || ev.Key != svc+".thing.1" || string(ev.Body) != `{"n":1}` || ev.Header["x-test"] != "kept" || ev.Attempt != 1 {
		t.Errorf("replayed event = %+v", ev)
	}
	if _, ok := ev.Header[transport.HeaderDeadReason]; ok {
		t.Errorf("the replayed event carries its dead reason: %v", ev.Header)
	}
	if keys := rec.keys(); len(keys) != 2 {
		t.Errorf("the other subscriber got %v: the replay reached it too", keys)
	}
	left, err := server.PeekDeadLetters(ctx, broken, 10)
	if err != nil || !slices.Equal(eventIDs(left), ids[:1]) {
		t.Fatalf("parked after the replay = %v, %v; want %v", eventIDs(left), err, ids[:1])
	}
	if n, err := server.ReplayDeadLetters(ctx, broken, []string{ids[1]}); err != nil || n != 0 {
		t.Errorf("second replay of the same id = %d, %v; want 0", n, err)
	}
	if n, err := server.ReplayDeadLetters(ctx, Unique("nobody"), []string{ids[0]}); err != nil || n != 0 {
		t.Errorf("replay for an unknown subscriber = %d, %v; want 0", n, err)
	}
	if n, err := server.ReplayDeadLetters(ctx, broken, nil); err != nil || n != 0 {
		t.Errorf("replay of no ids = %d, %v", n, err)
	}
	_, err = server.ReplayDeadLetters(ctx, broken, []string{""})
	wantCode(t, err, transport.CodeInvalid)
	_, err = server.ReplayDeadLetters(ctx, broken, make([]string, transport.MaxDeadLetterIDs+1))
	wantCode(t, err, transport.CodeInvalid)
	_, err = server.ReplayDeadLetters(ctx, "Not Valid", []string{"x"})
	wantCode(t, err, transport.CodeInvalid)
	// A replayed event that fails again is parked again, with its attempts counted anew.
	fixed.Store(false)
	if n, err := server.ReplayDeadLetters(ctx, broken, ids[:1]); err != nil || n != 1 {
		t.Fatalf("replay of the other = %d, %v", n, err)
	}
	waitFor(t, "the event to be parked again", func() bool {
		d, err := server.PeekDeadLetters(ctx, broken, 10)
		return err == nil && len(d) == 1 && d[0].ID == ids[0] && d[0].Attempt == 2
	})
}

// testDiscardDeadLetters: a discard removes the named parked events and
// only those; unknown ids are ignored.
func testDiscardDeadLetters(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, sub := Unique("discard"), Unique("discard-sub")
	ids := parkEvents(t, client, server, sub, svc, 3)
	ctx := timeout(t, 30*time.Second)
	n, err := server.DiscardDeadLetters(ctx, sub, []string{ids[0], ids[2], "no-such-event"})
	if err != nil || n != 2 {
		t.Fatalf("discard = %d, %v; want 2", n, err)
	}
	left, err := server.PeekDeadLetters(ctx, sub, 10)
	if err != nil || !slices.Equal(eventIDs(left), ids[1:2]) {
		t.Fatalf("left after the discard = %v, %v; want %v", eventIDs(left), err, ids[1:2])
	}
	if n, err := server.DiscardDeadLetters(ctx, sub, ids); err != nil || n != 1 {
		t.Errorf("discard of all = %d, %v; want the 1 left", n, err)
	}
	if d, err := server.PeekDeadLetters(ctx, sub, 10); err != nil || len(d) != 0 {
		t.Errorf("after discarding all: %v, %v", eventIDs(d), err)
	}
	_, err = server.DiscardDeadLetters(ctx, sub, []string{""})
	wantCode(t, err, transport.CodeInvalid)
}
