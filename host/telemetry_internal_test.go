package host

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// goroutinesSettle waits until the number of goroutines is at most n and
// returns it.
func goroutinesSettle(n int) int {
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// TestTelemetryStartsNothingWithoutEndpoint checks that without an OTLP
// endpoint (or with tracing switched off) no provider, exporter or
// goroutine is started, and that with one the SDK's goroutines run until
// stop, which puts back the provider and propagator found.
func TestTelemetryStartsNothingWithoutEndpoint(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	for _, v := range []string{EnvOTelEndpoint, EnvOTelTracesEndpoint, EnvOTelSDKDisabled, EnvOTelTracesExporter, EnvOTelPropagators, EnvOTelProtocol, EnvOTelTracesProtocol} {
		t.Setenv(v, "")
	}
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	for name, env := range map[string]map[string]string{
		"no variables":  {},
		"sdk disabled":  {EnvOTelEndpoint: "http://127.0.0.1:1", EnvOTelSDKDisabled: "TRUE"},
		"exporter none": {EnvOTelTracesEndpoint: "http://127.0.0.1:1/v1/traces", EnvOTelTracesExporter: "none"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			before := runtime.NumGoroutine()
			tel, err := startTelemetry(ctx, "shopbus-test", log)
			if err != nil {
				t.Fatal(err)
			}
			if tel.provider != nil || otel.GetTracerProvider() != prevTP {
				t.Error("a TracerProvider was installed")
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines, %d before", n, before)
			}
			_, span := otel.Tracer("test").Start(ctx, "x")
			if span.IsRecording() {
				t.Error("a span records")
			}
			tel.stop(ctx)
			if otel.GetTextMapPropagator() != prevProp {
				t.Error("the propagator was not put back")
			}
		})
	}

	t.Run("endpoint", func(t *testing.T) {
		t.Setenv(EnvOTelEndpoint, "http://127.0.0.1:1")
		before := runtime.NumGoroutine()
		tel, err := startTelemetry(ctx, "shopbus-test", log)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok || tel.provider == nil {
			t.Fatal("no SDK TracerProvider installed")
		}
		if n := runtime.NumGoroutine(); n <= before {
			t.Errorf("%d goroutines, %d before: the batch span processor is not running", n, before)
		}
		fields := otel.GetTextMapPropagator().Fields()
		if len(fields) != 3 { // traceparent, tracestate, baggage
			t.Errorf("propagator fields %v", fields)
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second) // nothing listens: do not wait for the export
		tel.stop(sctx)
		cancel()
		if otel.GetTracerProvider() != prevTP || otel.GetTextMapPropagator() != prevProp {
			t.Error("the provider or propagator was not put back")
		}
		if n := goroutinesSettle(before); n > before {
			t.Errorf("%d goroutines after stop, %d before", n, before)
		}
	})
}

func TestPropagators(t *testing.T) {
	for v, fields := range map[string]int{"": 3, "tracecontext": 2, "baggage": 1, " TraceContext , baggage ": 3} {
		p, err := propagators(v)
		if err != nil || len(p.Fields()) != fields {
			t.Errorf("propagators(%q): %v, %v", v, p, err)
		}
	}
	if p, err := propagators("none"); p != nil || err != nil {
		t.Errorf("propagators(none) = %v, %v", p, err)
	}
}
