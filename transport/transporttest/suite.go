// Package transporttest is the conformance suite every transport.Bus must
// pass. The in-process and RabbitMQ buses both run it, which is what makes
// them interchangeable.
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t testing.TB) (client, server transport.Bus) { ... })
//	}
package transporttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopbus/shopbus/transport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Factory returns two buses joined to the same backend: the suite serves
// on server and calls from client. An in-process bus returns itself twice;
// a networked one returns two separate connections. The factory registers
// the buses' Close with t.Cleanup.
type Factory func(t testing.TB) (client, server transport.Bus)

// Pender is implemented by buses that can count calls waiting for a reply
// or a consumer; the leak test uses it.
type Pender interface{ Pending() int }

// Run runs the whole suite.
func Run(t *testing.T, newBuses Factory) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newBuses) })
	t.Run("ConcurrentCallsDoNotCross", func(t *testing.T) { testConcurrent(t, newBuses) })
	t.Run("DeadlineExpiry", func(t *testing.T) { testDeadline(t, newBuses) })
	t.Run("DeadlineCapped", func(t *testing.T) { testDeadlineCap(t, newBuses) })
	t.Run("StaleRequestsAreDropped", func(t *testing.T) { testStale(t, newBuses) })
	t.Run("Cancellation", func(t *testing.T) { testCancel(t, newBuses) })
	t.Run("ErrorCodes", func(t *testing.T) { testErrorCodes(t, newBuses) })
	t.Run("PanicBecomesInternal", func(t *testing.T) { testPanic(t, newBuses) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, newBuses) })
	t.Run("TraceContext", func(t *testing.T) { testTrace(t, newBuses) })
	t.Run("CompetingConsumers", func(t *testing.T) { testCompeting(t, newBuses) })
	t.Run("EventFanOut", func(t *testing.T) { testFanOut(t, newBuses) })
	t.Run("EventsWaitForDetachedSubscriber", func(t *testing.T) { testDurableSubscriber(t, newBuses) })
	t.Run("ExpiringSubscriberGoesAway", func(t *testing.T) { testExpiringSubscriber(t, newBuses) })
	t.Run("RedeliveryThenDeadLetter", func(t *testing.T) { testDeadLetter(t, newBuses) })
	t.Run("PeekDeadLettersLeavesThem", func(t *testing.T) { testPeekDeadLetters(t, newBuses) })
	t.Run("ReplayDeadLettersToOneSubscriber", func(t *testing.T) { testReplayDeadLetters(t, newBuses) })
	t.Run("DiscardDeadLetters", func(t *testing.T) { testDiscardDeadLetters(t, newBuses) })
	t.Run("IdempotenceKeys", func(t *testing.T) { testIdempotence(t, newBuses) })
	t.Run("RequestIDs", func(t *testing.T) { testRequestIDs(t, newBuses) })
	t.Run("InvokeRetriesUnavailable", func(t *testing.T) { testInvokeRetries(t, newBuses) })
	t.Run("BadEvents", func(t *testing.T) { testBadEvents(t, newBuses) })
	t.Run("EventBatchesTakeTheBacklog", func(t *testing.T) { testBatchBacklog(t, newBuses) })
	t.Run("EventBatchFailureRetriedAlone", func(t *testing.T) { testBatchFailureRetriedAlone(t, newBuses) })
	t.Run("EventBatchPoisonParked", func(t *testing.T) { testBatchPoisonParked(t, newBuses) })
	t.Run("EventBatchPlainHandler", func(t *testing.T) { testPlainHandlerUnderBatch(t, newBuses) })
	t.Run("EventBatchPanic", func(t *testing.T) { testBatchPanic(t, newBuses) })
	t.Run("NoLeaks", func(t *testing.T) { testNoLeaks(t, newBuses, 100_000) })
}

// Unique returns a name unique to this run, so that durable queues left on
// a shared broker by earlier runs never interfere.
func Unique(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
}

func echo() transport.Handler {
	return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return req.Body, nil
	})
}

func mustServe(t testing.TB, b transport.Bus, service string, h transport.Handler, opts ...transport.ConsumerOption) transport.Subscription {
	t.Helper()
	s, err := b.Serve(service, h, opts...)
	if err != nil {
		t.Fatalf("Serve(%s): %v", service, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSubscribe(t testing.TB, b transport.Bus, subscriber, pattern string, h transport.EventHandler, opts ...transport.ConsumerOption) transport.Subscription {
	t.Helper()
	s, err := b.Subscribe(subscriber, pattern, h, opts...)
	if err != nil {
		t.Fatalf("Subscribe(%s, %s): %v", subscriber, pattern, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t testing.TB, err error, code transport.Code) *transport.Error {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *transport.Error; want code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %q (%v), want %q", e.Code, e, code)
	}
	return e
}

func testRoundTrip(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("echo")
	var gotReq transport.Request
	var gotHeader string
	var hasDeadline bool
	mustServe(t, server, service, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		gotReq = *req
		gotHeader = transport.HeaderFrom(ctx, "X-Tenant")
		_, hasDeadline = ctx.Deadline()
		return append([]byte(`{"echo":`), append(req.Body, '}')...), nil
	}))
	ctx := transport.WithHeader(timeout(t, 10*time.Second), "X-Tenant", "acme")
	body := []byte(`{"greeting":"héllo","n":[1,2,3],"nested":{"ok":true}}`)
	reply, err := client.Call(ctx, service+".echo", body)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if want := `{"echo":` + string(body) + `}`; string(reply) != want {
		t.Fatalf("reply = %s, want %s", reply, want)
	}
	if gotReq.Method != service+".echo" || gotReq.ID == "" {
		t.Errorf("handler saw method %q id %q", gotReq.Method, gotReq.ID)
	}
	if _, err := uuid.Parse(gotReq.ID); err != nil {
		t.Errorf("correlation id %q is not a UUID: %v", gotReq.ID, err)
	}
	if gotHeader != "acme" || gotReq.Header["x-tenant"] != "acme" {
		t.Errorf("header x-tenant = %q / %q, want acme", gotHeader, gotReq.Header["x-tenant"])
	}
	if !hasDeadline {
		t.Error("handler context has no deadline")
	}

	// Typed helpers round-trip a struct, and an empty reply decodes to the zero value.
	type point struct{ X, Y int }
	mux := transport.NewMux()
	transport.Handle(mux, service+"2.mirror", func(ctx context.Context, p point) (point, error) { return point{p.Y, p.X}, nil })
	mustServe(t, server, service+"2", mux)
	got, err := transport.Invoke[point](ctx, client, service+"2.mirror", point{1, 2})
	if err != nil || got != (point{2, 1}) {
		t.Fatalf("Invoke = %v, %v; want {2 1}", got, err)
	}
}

func testConcurrent(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("conc")
	mustServe(t, server, service, echo(), transport.WithConcurrency(32))
	const n = 1000
	ctx := timeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", i%64))
			reply, err := client.Call(ctx, service+".echo", body)
			if err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
				return
			}
			if !bytes.Equal(reply, body) {
				errs <- fmt.Errorf("call %d got reply %s: crossed", i, reply)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testDeadline(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("slow")
	handlerDeadline := make(chan time.Duration, 1)
	mustServe(t, server, service, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		d, _ := ctx.Deadline()
		handlerDeadline <- time.Until(d)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Call(ctx, service+".wait", nil)
	elapsed := time.Since(start)
	wantCode(t, err, transport.CodeDeadlineExceeded)
	if !errors.Is(err, transport.ErrDeadlineExceeded) {
		t.Errorf("errors.Is(err, ErrDeadlineExceeded) is false for %v", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("call took %v to time out, want about 300ms", elapsed)
	}
	select {
	case d := <-handlerDeadline:
		if d <= 0 || d > 300*time.Millisecond {
			t.Errorf("handler deadline %v away, want within the caller's 300ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Error("handler never ran")
	}
}

// testDeadlineCap: a caller claiming a deadline an hour away cannot keep
// a handler busy longer than the consumer's MaxDeadline (30 s by default).
func testDeadlineCap(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	for _, c := range []struct {
		opts []transport.ConsumerOption
		max  time.Duration
	}{{[]transport.ConsumerOption{transport.WithMaxDeadline(2 * time.Second)}, 2 * time.Second}, {nil, transport.DefaultMaxDeadline}} {
		svc := Unique("capped")
		seen := make(chan time.Time, 1)
		mustServe(t, server, svc, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			d, _ := ctx.Deadline()
			seen <- d
			return []byte(`{}`), nil
		}), c.opts...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		start := time.Now()
		_, err := client.Call(ctx, svc+".x", []byte(`{}`))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if d := <-seen; d.After(start.Add(c.max + time.Second)) {
			t.Errorf("handler deadline %v away, want at most %v", d.Sub(start).Round(time.Second), c.max)
		}
	}
}

func testStale(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("stale")
	var calls atomic.Int32
	// Attach once, so the queue exists, then detach.
	s, err := server.Serve(service, echo())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	_, err = client.Call(ctx, service+".echo", []byte(`{"stale":true}`))
	cancel()
	wantCode(t, err, transport.CodeDeadlineExceeded)
	time.Sleep(100 * time.Millisecond)
	mustServe(t, server, service, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		calls.Add(1)
		return req.Body, nil
	}))
	// A fresh call goes through; the stale one must not reach the handler.
	if _, err := client.Call(timeout(t, 10*time.Second), service+".echo", []byte(`{"fresh":true}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (the expired request must be dropped)", n)
	}
}

func testCancel(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("cancel")
	started, release := make(chan struct{}, 1), make(chan struct{})
	mustServe(t, server, service, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
		case <-release:
		}
		return nil, nil
	}))
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	go func() {
		<-started
		cancel()
	}()
	start := time.Now()
	_, err := client.Call(ctx, service+".wait", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want one matching context.Canceled", err)
	}
	wantCode(t, err, transport.CodeUnavailable)
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancellation took %v", time.Since(start))
	}
	if p, ok := client.(Pender); ok {
		waitFor(t, "pending entries to be freed", func() bool { return p.Pending() == 0 })
	}
}

func testErrorCodes(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("errs")
	codes := []transport.Code{transport.CodeInvalid, transport.CodeNotFound, transport.CodeConflict,
		transport.CodeUnauthenticated, transport.CodeForbidden, transport.CodeUnavailable,
		transport.CodeDeadlineExceeded, transport.CodeInternal}
	sentinels := []error{transport.ErrInvalid, transport.ErrNotFound, transport.ErrConflict,
		transport.ErrUnauthenticated, transport.ErrForbidden, transport.ErrUnavailable,
		transport.ErrDeadlineExceeded, transport.ErrInternal}
	mux := transport.NewMux()
	mux.HandleFunc(service+".fail", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		var in struct{ Code transport.Code }
		if err := json.Unmarshal(req.Body, &in); err != nil {
			return nil, err
		}
		e := transport.Errorf(in.Code, "because %s", in.Code)
		if in.Code == transport.CodeInvalid {
			e = transport.Invalid("bad fields", "email", "must contain @", "age", "must be positive")
		}
		return nil, e
	})
	mux.HandleFunc(service+".plain", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return nil, errors.New("secret database password in message")
	})
	mustServe(t, server, service, mux)
	ctx := timeout(t, 20*time.Second)
	for i, code := range codes {
		_, err := client.Call(ctx, service+".fail", fmt.Appendf(nil, `{"Code":%q}`, code))
		e := wantCode(t, err, code)
		for j, s := range sentinels {
			if got := errors.Is(err, s); got != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
			}
		}
		if code == transport.CodeInvalid {
			if e.Field("email") != "must contain @" || e.Field("age") != "must be positive" || len(e.Fields) != 2 {
				t.Errorf("field errors lost: %+v", e.Fields)
			}
		} else if e.Message != "because "+string(code) {
			t.Errorf("message = %q", e.Message)
		}
	}
	_, err := client.Call(ctx, service+".plain", nil)
	e := wantCode(t, err, transport.CodeInternal)
	if strings.Contains(e.Message, "secret") {
		t.Errorf("internal error leaked its message: %q", e.Message)
	}
	_, err = client.Call(ctx, service+".nosuchmethod", nil)
	e = wantCode(t, err, transport.CodeInvalid)
	if e.Field("method") == "" {
		t.Errorf("unknown method error names no field: %v", e)
	}
}

func testPanic(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("panic")
	mux := transport.NewMux()
	mux.HandleFunc(service+".boom", func(ctx context.Context, req *transport.Request) ([]byte, error) { panic("boom") })
	mux.HandleFunc(service+".ok", func(ctx context.Context, req *transport.Request) ([]byte, error) { return []byte(`"ok"`), nil })
	mustServe(t, server, service, mux, transport.WithConcurrency(1))
	ctx := timeout(t, 20*time.Second)
	for range 3 {
		_, err := client.Call(ctx, service+".boom", nil)
		wantCode(t, err, transport.CodeInternal)
	}
	reply, err := client.Call(ctx, service+".ok", nil)
	if err != nil || string(reply) != `"ok"` {
		t.Fatalf("after panics: %s, %v; the consumer must live on", reply, err)
	}
}

func testBadInput(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("bad")
	mux := transport.NewMux()
	type user struct {
		Name string `json:"name"`
		Age  int    `json:"age"`
	}
	transport.Handle(mux, service+".user", func(ctx context.Context, u user) (user, error) { return u, nil })
	mux.HandleFunc(service+".huge", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return json.Marshal(strings.Repeat("x", transport.DefaultMaxMessageSize))
	})
	mustServe(t, server, service, mux)
	ctx := timeout(t, 20*time.Second)

	_, err := client.Call(ctx, service+".user", []byte(`{"name": "x", `))
	if e := wantCode(t, err, transport.CodeInvalid); e.Field("body") == "" {
		t.Errorf("malformed JSON: want a body field error, got %v", e)
	}
	_, err = client.Call(ctx, service+".user", []byte(`{"name":"x","age":"old"}`))
	if e := wantCode(t, err, transport.CodeInvalid); e.Field("age") == "" {
		t.Errorf("wrong type: want an age field error, got %v", e)
	}
	big := fmt.Appendf(nil, `{"name":%q}`, strings.Repeat("y", transport.DefaultMaxMessageSize))
	_, err = client.Call(ctx, service+".user", big)
	wantCode(t, err, transport.CodeInvalid)
	_, err = client.Call(ctx, service+".huge", nil)
	wantCode(t, err, transport.CodeInternal)
	for _, m := range []string{"", "nodot", ".x", "UPPER.case", service + "."} {
		_, err = client.Call(ctx, m, nil)
		wantCode(t, err, transport.CodeInvalid)
	}
	// The consumer is still healthy.
	if _, err := transport.Invoke[user](ctx, client, service+".user", user{"a", 1}); err != nil {
		t.Fatalf("after bad input: %v", err)
	}
	if _, err := server.Serve("Bad Name", echo()); err == nil {
		t.Error("Serve accepted a malformed service name")
	}
}

func testTrace(t *testing.T, newBuses Factory) {
	old := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(old) })

	client, server := newBuses(t)
	service := Unique("trace")
	got := make(chan trace.SpanContext, 1)
	mustServe(t, server, service, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		got <- trace.SpanContextFromContext(ctx)
		return nil, nil
	}))
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(timeout(t, 10*time.Second), sc)
	if _, err := client.Call(ctx, service+".t", nil); err != nil {
		t.Fatal(err)
	}
	remote := <-got
	if remote.TraceID() != traceID || remote.SpanID() != spanID || !remote.IsRemote() {
		t.Fatalf("handler span context = %v/%v remote=%v, want the caller's", remote.TraceID(), remote.SpanID(), remote.IsRemote())
	}

	sub := Unique("trace-sub")
	gotEv := make(chan trace.SpanContext, 1)
	mustSubscribe(t, server, sub, service+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		if ev.Header["authorization"] != "" || transport.HeaderFrom(ctx, "authorization") != "" {
			t.Errorf("the publisher's session token reached a subscriber: %v", ev.Header)
		}
		gotEv <- trace.SpanContextFromContext(ctx)
		return nil
	}))
	secret := transport.WithHeader(ctx, "authorization", "session-token")
	if err := client.Publish(secret, transport.Event{Key: service + ".thing.created", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case remote := <-gotEv:
		if remote.TraceID() != traceID {
			t.Fatalf("event handler trace id = %v, want %v", remote.TraceID(), traceID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event not delivered")
	}
}

func testCompeting(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	service := Unique("compete")
	var a, b atomic.Int32
	count := func(n *atomic.Int32) transport.Handler {
		return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			n.Add(1)
			time.Sleep(2 * time.Millisecond)
			return nil, nil
		})
	}
	mustServe(t, server, service, count(&a), transport.WithConcurrency(1))
	mustServe(t, server, service, count(&b), transport.WithConcurrency(1))
	ctx := timeout(t, 30*time.Second)
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Call(ctx, service+".x", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if a.Load()+b.Load() != 40 || a.Load() == 0 || b.Load() == 0 {
		t.Fatalf("consumers handled %d and %d of 40; want all handled, by both", a.Load(), b.Load())
	}
}

type recorder struct {
	mu     sync.Mutex
	events []transport.Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1000)} }

func (r *recorder) HandleEvent(ctx context.Context, ev transport.Event) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.signal <- struct{}{}
	return nil
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, ev := range r.events {
		keys = append(keys, ev.Key)
	}
	return keys
}

func (r *recorder) wait(t testing.TB, n int) []transport.Event {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.events)
		evs := append([]transport.Event(nil), r.events...)
		r.mu.Unlock()
		if got >= n {
			return evs
		}
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("got %d events %v, want %d", got, r.keys(), n)
		}
	}
}

func testFanOut(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc := Unique("fan")
	created, all := newRecorder(), newRecorder()
	mustSubscribe(t, server, Unique("created"), svc+".*.created", created)
	mustSubscribe(t, server, Unique("all"), svc+".#", all)
	ctx := timeout(t, 20*time.Second)
	for _, key := range []string{svc + ".product.created", svc + ".product.updated", svc + ".category.created", "other.product.created"} {
		if err := client.Publish(ctx, transport.Event{Key: key, Body: []byte(`{"k":"` + key + `"}`)}); err != nil {
			t.Fatalf("Publish %s: %v", key, err)
		}
	}
	evs := created.wait(t, 2)
	all.wait(t, 3)
	time.Sleep(200 * time.Millisecond)
	if got := created.keys(); len(got) != 2 {
		t.Errorf("created subscriber got %v, want the two .created events", got)
	}
	if got := all.keys(); len(got) != 3 {
		t.Errorf("# subscriber got %v, want the three %s events", got, svc)
	}
	for _, ev := range evs {
		if ev.ID == "" || ev.Time.IsZero() || ev.Attempt != 1 {
			t.Errorf("event %+v: want an ID, a time and attempt 1", ev)
		}
		if string(ev.Body) != `{"k":"`+ev.Key+`"}` {
			t.Errorf("event %s body %s", ev.Key, ev.Body)
		}
	}
}

func testDurableSubscriber(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("durable"), Unique("durable-sub")
	rec := newRecorder()
	s := mustSubscribe(t, server, subscriber, svc+".#", rec)
	s.Close()
	ctx := timeout(t, 20*time.Second)
	if err := client.Publish(ctx, transport.Event{Key: svc + ".a.b", Body: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	mustSubscribe(t, server, subscriber, svc+".#", rec)
	rec.wait(t, 1)
}

// testExpiringSubscriber: a subscriber queue with an expiry keeps events
// over a short absence and is gone, with what it held, after a long one.
func testExpiringSubscriber(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc, subscriber := Unique("expiring"), Unique("replica")
	const expiry = time.Second
	ctx := timeout(t, 30*time.Second)
	publish := func(body string) {
		t.Helper()
		if err := client.Publish(ctx, transport.Event{Key: svc + ".changed", Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRecorder()
	s := mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithQueueExpiry(expiry))
	publish(`1`)
	rec.wait(t, 1)
	s.Close()
	publish(`2`) // held for the replica's short absence
	s = mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithQueueExpiry(expiry))
	rec.wait(t, 2)
	s.Close()
	time.Sleep(expiry + 6*time.Second) // gone for good (quorum queues check expiry every few seconds)
	publish(`3`)                       // nobody holds this one
	if d, err := server.DrainDeadLetters(ctx, subscriber); err != nil || len(d) != 0 {
		t.Fatalf("dead letters of an expired subscriber: %v, %v", d, err)
	}
	mustSubscribe(t, server, subscriber, svc+".#", rec, transport.WithQueueExpiry(expiry))
	publish(`4`)
	rec.wait(t, 3)
	time.Sleep(200 * time.Millisecond) // nothing more must arrive
	var bodies []string
	for _, ev := range rec.wait(t, 0) {
		bodies = append(bodies, string(ev.Body))
	}
	if got := strings.Join(bodies, ","); got != "1,2,4" {
		t.Errorf("delivered %s, want 1,2,4 (3 was published while the queue was gone)", got)
	}
}

func testDeadLetter(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc := Unique("dlq")
	poisonSub, flakySub := Unique("poison"), Unique("flaky")
	var mu sync.Mutex
	attempts := map[string][]int{}
	ids := map[string]map[string]bool{}
	record := func(name string, ev transport.Event) int {
		mu.Lock()
		defer mu.Unlock()
		attempts[name] = append(attempts[name], ev.Attempt)
		if ids[name] == nil {
			ids[name] = map[string]bool{}
		}
		ids[name][ev.ID] = true
		return len(attempts[name])
	}
	opts := []transport.ConsumerOption{transport.WithMaxAttempts(3), transport.WithRetryDelay(20 * time.Millisecond)}
	mustSubscribe(t, server, poisonSub, svc+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		record("poison", ev)
		return errors.New("always fails")
	}), opts...)
	flakyDone := make(chan struct{})
	mustSubscribe(t, server, flakySub, svc+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		if n := record("flaky", ev); n < 3 {
			if n == 2 {
				panic("flaky panic")
			}
			return errors.New("not yet")
		}
		close(flakyDone)
		return nil
	}), opts...)
	ctx := timeout(t, 30*time.Second)
	if err := client.Publish(ctx, transport.Event{Key: svc + ".x.y", Body: []byte(`{"poison":1}`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-flakyDone:
	case <-ctx.Done():
		t.Fatal("flaky subscriber never succeeded")
	}
	var dead []transport.Event
	waitFor(t, "the poison event in the dead-letter queue", func() bool {
		d, err := server.DrainDeadLetters(ctx, poisonSub)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, d...)
		return len(dead) > 0
	})
	time.Sleep(300 * time.Millisecond) // nothing more must arrive
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(attempts["poison"]); got != "[1 2 3]" {
		t.Errorf("poison attempts = %s, want [1 2 3] then parked", got)
	}
	if got := fmt.Sprint(attempts["flaky"]); got != "[1 2 3]" {
		t.Errorf("flaky attempts = %s, want [1 2 3]", got)
	}
	if len(ids["poison"]) != 1 || len(ids["flaky"]) != 1 {
		t.Errorf("redeliveries changed the event id: %v", ids)
	}
	if len(dead) != 1 || string(dead[0].Body) != `{"poison":1}` || !ids["poison"][dead[0].ID] || dead[0].Key != svc+".x.y" {
		t.Fatalf("dead letters = %+v", dead)
	}
	if d, _ := server.DrainDeadLetters(ctx, flakySub); len(d) != 0 {
		t.Errorf("flaky subscriber has dead letters: %+v", d)
	}
	if d, _ := server.DrainDeadLetters(ctx, poisonSub); len(d) != 0 {
		t.Errorf("drain left %d dead letters", len(d))
	}
}

func testIdempotence(t *testing.T, newBuses Factory) {
	client, server := newBuses(t)
	svc := Unique("idem")
	rec := newRecorder()
	mustSubscribe(t, server, Unique("idem-sub"), svc+".#", rec)
	ctx := timeout(t, 20*time.Second)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := transport.Event{ID: "order-42-paid", Key: svc + ".order.paid", Time: at, Body: []byte(`{"order":42}`)}
	// The same event published twice (a producer retry) arrives twice with the
	// same ID: at-least-once, and the ID lets a handler apply it once.
	for range 2 {
		if err := client.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Publish(ctx, transport.Event{Key: svc + ".order.paid", Body: []byte(`{"order":43}`)}); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, 3)
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.ID]++
		if e.ID == ev.ID && !e.Time.Equal(at) {
			t.Errorf("event time = %v, want %v", e.Time, at)
		}
	}
	if seen["order-42-paid"] != 2 || len(seen) != 2 {
		t.Fatalf("ids seen = %v, want order-42-paid twice and one generated id", seen)
	}
}

func testBadEvents(t *testing.T, newBuses Factory) {
	client, _ := newBuses(t)
	ctx := timeout(t, 10*time.Second)
	cases := []transport.Event{
		{Key: "", Body: []byte(`{}`)},
		{Key: "a..b", Body: []byte(`{}`)},
		{Key: "a.b.c", Body: []byte(`{not json`)},
		{Key: "a.b.c", Body: fmt.Appendf(nil, "%q", strings.Repeat("z", transport.DefaultMaxMessageSize))},
	}
	for _, ev := range cases {
		wantCode(t, client.Publish(ctx, ev), transport.CodeInvalid)
	}
	if _, err := client.Subscribe("Not Valid", "a.#", newRecorder()); err == nil {
		t.Error("Subscribe accepted a malformed subscriber name")
	}
}

func testNoLeaks(t *testing.T, newBuses Factory, calls int) {
	if testing.Short() {
		calls = 3000
	}
	client, server := newBuses(t)
	service := Unique("leak")
	mux := transport.NewMux()
	mux.HandleFunc(service+".fast", func(ctx context.Context, req *transport.Request) ([]byte, error) { return req.Body, nil })
	mux.HandleFunc(service+".slow", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	mustServe(t, server, service, mux, transport.WithConcurrency(64))
	// Warm up, then take the baseline.
	if _, err := client.Call(timeout(t, 10*time.Second), service+".fast", nil); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()

	var timedOut, ok atomic.Int64
	var wg sync.WaitGroup
	work := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if i%3 == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
					_, err := client.Call(ctx, service+".slow", nil)
					cancel()
					if transport.CodeOf(err) == transport.CodeDeadlineExceeded {
						timedOut.Add(1)
					} else {
						t.Errorf("slow call: %v", err)
					}
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := client.Call(ctx, service+".fast", []byte(`{"n":1}`))
				cancel()
				if err != nil {
					t.Errorf("fast call: %v", err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := range calls {
		work <- i
	}
	close(work)
	wg.Wait()
	if int(timedOut.Load()+ok.Load()) != calls {
		t.Fatalf("%d timed out + %d ok != %d calls", timedOut.Load(), ok.Load(), calls)
	}
	waitFor(t, "goroutines to return to the baseline", func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= baseGoroutines+2
	})
	if p, ok := client.(Pender); ok {
		waitFor(t, "pending entries to return to zero", func() bool { return p.Pending() == 0 })
	}
	t.Logf("%d calls, %d timed out; goroutines %d -> %d", calls, timedOut.Load(), baseGoroutines, runtime.NumGoroutine())
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
