package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopbus/shopbus/transport"
)

func TestMatchTopic(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.b.c", false},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"#", "x.y", true},
		{"#.c", "a.b.c", true},
		{"#.c", "a.b.d", false},
		{"*.*.deleted", "product.product.deleted", true},
		{"*", "a.b", false},
		{"a.#.z", "a.z", true},
		{"a.#.z", "a.b.c.z", true},
		{"a.b", "a.b.c", false},
	}
	for _, c := range cases {
		if got := transport.MatchTopic(c.pattern, c.key); got != c.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", c.pattern, c.key, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	err := transport.Invalid("bad", "email", "required", "age", "too small")
	if !errors.Is(err, transport.ErrInvalid) || errors.Is(err, transport.ErrNotFound) {
		t.Fatal("errors.Is does not compare codes")
	}
	if got := err.Error(); got != "invalid: bad (email: required; age: too small)" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := errors.Join(errors.New("context"), err)
	if transport.CodeOf(wrapped) != transport.CodeInvalid {
		t.Errorf("CodeOf(wrapped) = %q", transport.CodeOf(wrapped))
	}
	if transport.CodeOf(context.DeadlineExceeded) != transport.CodeDeadlineExceeded || transport.CodeOf(nil) != "" || transport.CodeOf(errors.New("x")) != transport.CodeInternal {
		t.Error("CodeOf misclassifies plain errors")
	}
	if e := transport.AsError(errors.New("db password 123")); e.Code != transport.CodeInternal || strings.Contains(e.Message, "123") {
		t.Errorf("AsError leaked a plain error: %v", e)
	}
}

func TestMiddleware(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var stats transport.Stats
	mux := transport.NewMux()
	mux.HandleFunc("svc.ok", func(ctx context.Context, req *transport.Request) ([]byte, error) { return []byte(`1`), nil })
	mux.HandleFunc("svc.missing", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return nil, transport.Errorf(transport.CodeNotFound, "no such thing")
	})
	mux.HandleFunc("svc.panic", func(ctx context.Context, req *transport.Request) ([]byte, error) { panic("kaboom") })
	mux.HandleFunc("svc.slow", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		time.Sleep(time.Second)
		return nil, nil
	})
	h := transport.Chain(mux, transport.Metrics(&stats), transport.Logging(logger), transport.Recover(logger), transport.Timeout(50*time.Millisecond))
	call := func(method string) error {
		_, err := h.ServeBus(context.Background(), &transport.Request{Method: method, ID: "id-" + method, Body: []byte(`{"password":"hunter2"}`)})
		return err
	}
	if err := call("svc.ok"); err != nil {
		t.Fatal(err)
	}
	if transport.CodeOf(call("svc.missing")) != transport.CodeNotFound {
		t.Error("not_found lost")
	}
	if transport.CodeOf(call("svc.panic")) != transport.CodeInternal {
		t.Error("panic not recovered into internal")
	}
	start := time.Now()
	if transport.CodeOf(call("svc.slow")) != transport.CodeDeadlineExceeded || time.Since(start) > 500*time.Millisecond {
		t.Errorf("timeout middleware did not cut the slow handler (%v)", time.Since(start))
	}
	out := logs.String()
	for _, want := range []string{"method=svc.ok", "code=not_found", "handler panicked", "kaboom", "code=deadline_exceeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Error("a request body reached the log")
	}
	snap := stats.Snapshot()
	byMethod := map[string]transport.EndpointStats{}
	for _, e := range snap {
		byMethod[e.Method] = e
	}
	if byMethod["svc.ok"].Requests != 1 || byMethod["svc.ok"].Errors != 0 {
		t.Errorf("svc.ok stats %+v", byMethod["svc.ok"])
	}
	if byMethod["svc.missing"].Errors != 0 || byMethod["svc.panic"].Errors != 1 || byMethod["svc.slow"].Errors != 1 {
		t.Errorf("client errors must not count as errors, failures must: %+v", snap)
	}
	var prom bytes.Buffer
	if err := stats.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`shopbus_requests_total{method="svc.ok"} 1`,
		`shopbus_errors_total{method="svc.panic"} 1`,
		`shopbus_request_duration_seconds_count{method="svc.slow"} 1`,
		`shopbus_request_duration_seconds_bucket{method="svc.ok",le="+Inf"} 1`,
	} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, prom.String())
		}
	}
}

func TestHeaders(t *testing.T) {
	ctx := transport.WithHeader(context.Background(), "Authorization", "tok")
	ctx = transport.WithHeader(ctx, "traceparent", "spoofed")
	ctx = transport.WithHeader(ctx, "x-shop-deadline", "1")
	if transport.HeaderFrom(ctx, "authorization") != "tok" {
		t.Error("header lost")
	}
	if h := transport.HeadersFrom(ctx); len(h) != 1 {
		t.Errorf("reserved headers accepted: %v", h)
	}
}

func TestMuxRejectsBadRegistrations(t *testing.T) {
	mustPanic := func(name string, f func()) {
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mux := transport.NewMux()
	mux.HandleFunc("a.b", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })
	mustPanic("duplicate", func() { mux.HandleFunc("a.b", nil) })
	mustPanic("malformed", func() { mux.HandleFunc("nodot", nil) })
	if got := mux.Methods(); len(got) != 1 || got[0] != "a.b" {
		t.Errorf("Methods() = %v", got)
	}
}

// TestMetricsBoundedByRegisteredMethods: requests for methods nobody
// serves, and names that are no method names at all (not UTF-8, say),
// share one series: what callers send cannot grow the statistics.
func TestMetricsBoundedByRegisteredMethods(t *testing.T) {
	var stats transport.Stats
	mux := transport.NewMux()
	mux.HandleFunc("svc.ok", func(ctx context.Context, req *transport.Request) ([]byte, error) { return []byte(`1`), nil })
	h := transport.Chain(mux, transport.Metrics(&stats))
	call := func(method string) {
		h.ServeBus(context.Background(), &transport.Request{Method: method, ID: "x", Body: []byte(`{}`)})
	}
	call("svc.ok")
	for i := range 2000 {
		call(fmt.Sprintf("svc.bogus_%d", i))
	}
	call("svc.\xff\xfe")
	call("svc.Ok\n# TYPE evil counter")
	var out bytes.Buffer
	if err := stats.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	series := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !utf8.ValidString(line) {
			t.Fatalf("exposition line not UTF-8: %q", line)
		}
		if strings.HasPrefix(line, "#") {
			if !strings.HasPrefix(line, "# HELP ") && !strings.HasPrefix(line, "# TYPE ") || strings.Contains(line, "evil") {
				t.Errorf("foreign comment line: %q", line)
			}
			continue
		}
		if _, rest, ok := strings.Cut(line, `method="`); ok {
			m, _, _ := strings.Cut(rest, `"`)
			series[m] = true
		}
	}
	if len(series) != 2 || !series["svc.ok"] || !series[transport.UnknownMethod] {
		t.Errorf("series %v; want svc.ok and %s only", series, transport.UnknownMethod)
	}
}

// TestBatchDefaults: a batching subscriber gets two runs at once by
// default; options the caller gives win.
func TestBatchDefaults(t *testing.T) {
	const defaultBatch = 50
	var h batchHandler
	cases := []struct {
		name               string
		opts               []transport.ConsumerOption
		concurrency, batch int
		runs, runBatch     int
	}{
		{"defaults", nil, 2 * defaultBatch, defaultBatch, 2, defaultBatch},
		{"a concurrency", []transport.ConsumerOption{transport.WithConcurrency(8)}, 8, 4, 2, 4},
		{"a concurrency of one", []transport.ConsumerOption{transport.WithConcurrency(1)}, 1, 1, 1, 1},
		{"a batch", []transport.ConsumerOption{transport.WithBatch(10)}, 20, 10, 2, 10},
		{"one at a time", []transport.ConsumerOption{transport.WithBatch(1)}, transport.DefaultConcurrency, 1, transport.DefaultConcurrency, 1},
		{"both", []transport.ConsumerOption{transport.WithBatch(3), transport.WithConcurrency(12)}, 12, 3, 4, 3},
	}
	for _, c := range cases {
		o := transport.ApplyConsumerOptions(transport.BatchDefaults(defaultBatch, c.opts))
		runs, batch := o.EventRuns(h)
		if o.Concurrency != c.concurrency || o.Batch != c.batch || runs != c.runs || batch != c.runBatch {
			t.Errorf("%s: concurrency %d, batch %d, %d runs of %d; want %d, %d, %d runs of %d",
				c.name, o.Concurrency, o.Batch, runs, batch, c.concurrency, c.batch, c.runs, c.runBatch)
		}
	}
}

// batchHandler is a BatchEventHandler that handles nothing.
type batchHandler struct{}

func (batchHandler) HandleEvent(context.Context, transport.Event) error { return nil }

func (batchHandler) HandleEvents(_ context.Context, evs []transport.Event) []error {
	return make([]error, len(evs))
}
