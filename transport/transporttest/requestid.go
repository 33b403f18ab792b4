package transporttest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// testRequestIDs: a handler sees the caller's request id (or, without one,
// the correlation id), and the calls it makes carry ids derived from it:
// the same for the same request, different for different calls.
func testRequestIDs(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	outer, inner := Unique("rid-outer"), Unique("rid-inner")
	var mu sync.Mutex
	var seen []string // request ids the inner service saw, in order
	mustServe(t, server, inner, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		mu.Lock()
		seen = append(seen, req.RequestID)
		mu.Unlock()
		if transport.RequestID(ctx) != req.RequestID {
			t.Errorf("RequestID(ctx) = %q, Request.RequestID = %q", transport.RequestID(ctx), req.RequestID)
		}
		return nil, nil
	}))
	mustServe(t, server, outer, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		// Two different nested calls, then the first again.
		for _, body := range []string{`{"n":1}`, `{"n":2}`, `{"n":1}`} {
			if _, err := server.Call(ctx, inner+".x", []byte(body)); err != nil {
				return nil, err
			}
		}
		return json.Marshal(map[string]string{"id": req.RequestID, "correlation": req.ID})
	}))
	ctx := timeout(t, 10*time.Second)

	var got struct{ ID, Correlation string }
	reply, err := client.Call(transport.WithRequestID(ctx, "caller-chosen-1"), outer+".y", nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(reply, &got)
	if got.ID != "caller-chosen-1" {
		t.Errorf("handler saw request id %q, want the caller's", got.ID)
	}
	// The same request again: the nested calls repeat their ids.
	if _, err := client.Call(transport.WithRequestID(ctx, "caller-chosen-1"), outer+".y", nil); err != nil {
		t.Fatal(err)
	}
	reply, err = client.Call(ctx, outer+".y", nil) // no id: the correlation id stands in
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(reply, &got)
	if got.ID == "" || got.ID != got.Correlation {
		t.Errorf("without a request id the handler saw %q (correlation id %q), want the correlation id", got.ID, got.Correlation)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 9 {
		t.Fatalf("inner service saw %d calls, want 9", len(seen))
	}
	first, again := seen[0:3], seen[3:6]
	if first[0] == "" || first[0] == first[1] || first[0] != first[2] {
		t.Errorf("nested ids %q: want equal for equal calls, different otherwise", first)
	}
	for i := range first {
		if first[i] != again[i] {
			t.Errorf("repeated request: nested id %d is %q, was %q", i, again[i], first[i])
		}
	}
	if seen[6] == first[0] {
		t.Error("another request's nested call reused an id")
	}
}

// testInvokeRetries: Invoke makes a call that failed with unavailable
// again, with the same request id, until it succeeds; other errors, and
// a deadline that leaves no time, end it.
func testInvokeRetries(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc := Unique("retry")
	var mu sync.Mutex
	ids := map[string][]string{} // body → request ids of its attempts
	mustServe(t, server, svc, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		mu.Lock()
		ids[string(req.Body)] = append(ids[string(req.Body)], req.RequestID)
		n := len(ids[string(req.Body)])
		mu.Unlock()
		switch {
		case req.Method == svc+".flaky" && n < 3:
			return nil, transport.Errorf(transport.CodeUnavailable, "not yet")
		case req.Method == svc+".conflict":
			return nil, transport.Errorf(transport.CodeConflict, "no")
		case req.Method == svc+".down":
			return nil, transport.Errorf(transport.CodeUnavailable, "down")
		}
		return []byte(`"ok"`), nil
	}))
	ctx := timeout(t, 10*time.Second)
	got, err := transport.Invoke[string](ctx, client, svc+".flaky", 1)
	if err != nil || got != "ok" {
		t.Fatalf("flaky call: %q, %v; want ok after retries", got, err)
	}
	if _, err := transport.Invoke[string](ctx, client, svc+".conflict", 2); transport.CodeOf(err) != transport.CodeConflict {
		t.Errorf("conflict: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = transport.Invoke[string](short, client, svc+".down", 3)
	// unavailable once the deadline leaves no time for another attempt,
	// or deadline_exceeded when it ran out during one (a loaded machine).
	if code := transport.CodeOf(err); code != transport.CodeUnavailable && code != transport.CodeDeadlineExceeded {
		t.Errorf("down: %v, want unavailable (or deadline_exceeded)", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("retries of a service that stays down took %v, past the caller's 300ms deadline", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if a := ids["1"]; len(a) != 3 || a[0] == "" || a[0] != a[1] || a[1] != a[2] {
		t.Errorf("flaky call's attempts carried ids %q, want 3 equal ones", a)
	}
	if a := ids["2"]; len(a) != 1 {
		t.Errorf("a conflict was tried %d times, want 1", len(a))
	}
	if a := ids["3"]; len(a) < 2 {
		t.Errorf("an unavailable service was tried %d times within 300ms, want retries", len(a))
	}
}
