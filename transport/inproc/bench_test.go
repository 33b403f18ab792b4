package inproc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

var payload = []byte(`{"product_id":"3f2b8c1e-7d4a-4b9e-9c2f-1a2b3c4d5e6f","variant_id":"9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4","quantity":2,"currency":"EUR","note":"benchmark payload of about two hundred bytes"}`)

// echoBus returns a bus on which one consumer of "bench" echoes every
// request, closed when b ends.
func echoBus(b *testing.B) *inproc.Bus {
	bus := inproc.New(inproc.Options{})
	b.Cleanup(func() { bus.Close() })
	if _, err := bus.Serve("bench", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return req.Body, nil
	}), transport.WithConcurrency(1)); err != nil {
		b.Fatal(err)
	}
	return bus
}

// BenchmarkInProcRequest: an in-process round trip of a ~200-byte JSON
// body, next to the baseline of a bare Go channel request/reply between two
// goroutines in the same run. Targets: p50 ≤ 5 µs, ≤ 30 allocations.
func BenchmarkInProcRequest(b *testing.B) {
	bus := echoBus(b)
	type msg struct {
		body  []byte
		reply chan []byte
	}
	requests := make(chan msg)
	go func() {
		for m := range requests {
			m.reply <- m.body
		}
	}()
	defer close(requests)
	ctx := context.Background()
	chanTimes, busTimes := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		reply := make(chan []byte, 1)
		requests <- msg{payload, reply}
		<-reply
		chanTimes = append(chanTimes, time.Since(start))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := bus.Call(ctx, "bench.echo", payload); err != nil {
			b.Fatal(err)
		}
		busTimes = append(busTimes, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(chanTimes)
	slices.Sort(busTimes)
	cp, bp := chanTimes[len(chanTimes)/2], busTimes[len(busTimes)/2]
	b.ReportMetric(float64(cp.Nanoseconds())/1000, "chan-p50-µs")
	b.ReportMetric(float64(bp.Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(bp)/float64(cp), "ratio")
}

// discardExporter is an exporter that drops every span.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkInProcTracing: what tracing costs an in-process call of a
// ~200-byte body: p50 with no TracerProvider (the spans are no-ops; what
// every program without OTEL_EXPORTER_OTLP_ENDPOINT runs) against the
// SDK recording every call (a client and a server span) into a batch span
// processor whose exporter drops them, as host sets it up.
func BenchmarkInProcTracing(b *testing.B) {
	bus := echoBus(b)
	ctx := context.Background()
	call := func() {
		if _, err := bus.Call(ctx, "bench.echo", payload); err != nil {
			b.Fatal(err)
		}
	}
	p50 := func() time.Duration {
		times := make([]time.Duration, 0, b.N)
		for range b.N {
			start := time.Now()
			call()
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		return times[len(times)/2]
	}
	b.ResetTimer()
	bare := p50()
	bareAllocs := testing.AllocsPerRun(200, call)

	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	oldTP, oldProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() {
		otel.SetTracerProvider(oldTP)
		otel.SetTextMapPropagator(oldProp)
		_ = tp.Shutdown(context.Background())
	}()
	traced := p50()
	tracedAllocs := testing.AllocsPerRun(200, call)
	b.StopTimer()
	b.ReportMetric(float64(bare.Nanoseconds())/1000, "untraced-p50-µs")
	b.ReportMetric(float64(traced.Nanoseconds())/1000, "traced-p50-µs")
	b.ReportMetric(float64(traced)/float64(bare), "ratio")
	b.ReportMetric(bareAllocs, "untraced-allocs")
	b.ReportMetric(tracedAllocs, "traced-allocs")
}
