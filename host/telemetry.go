package host

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// OpenTelemetry's standard environment variables that Program reads
// itself. The exporter and the SDK read the others of their
// specification too (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION,
// _CERTIFICATE, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES).
const (
	EnvOTelSDKDisabled        = "OTEL_SDK_DISABLED"                  // "true": no tracing and no propagation at all
	EnvOTelEndpoint           = "OTEL_EXPORTER_OTLP_ENDPOINT"        // OTLP/HTTP base URL, e.g. http://collector:4318 (traces go to /v1/traces)
	EnvOTelTracesEndpoint     = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" // full URL for traces; wins over EnvOTelEndpoint
	EnvOTelProtocol           = "OTEL_EXPORTER_OTLP_PROTOCOL"        // http/protobuf (default) or http/json; grpc is refused
	EnvOTelTracesProtocol     = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" // the same, for traces only
	EnvOTelTracesExporter     = "OTEL_TRACES_EXPORTER"               // otlp (default) or none
	EnvOTelServiceName        = "OTEL_SERVICE_NAME"                  // default "shopbus-<service>", "shopbus-storefront" or "shopbus-shop"
	EnvOTelPropagators        = "OTEL_PROPAGATORS"                   // tracecontext,baggage (default), or none
	EnvOTelResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"           // key=value,... added to every span's resource
)

// telemetry is what startTelemetry set up; stop undoes it.
type telemetry struct {
	provider   *sdktrace.TracerProvider // nil: no exporter
	prevTP     trace.TracerProvider
	prevProp   propagation.TextMapPropagator
	propagates bool
	log        *slog.Logger
}

// otelLog is the logger OpenTelemetry's errors (an exporter that cannot
// reach its collector, say) go to: the running program's.
var (
	otelLog        atomic.Pointer[slog.Logger]
	otelLogHandler sync.Once
)

// ServiceName returns the default OpenTelemetry service name of a program
// hosting services (with a site when site is true): "shopbus-<name>" for
// one service, "shopbus-storefront" for a site alone, "shopbus-shop"
// otherwise. OTEL_SERVICE_NAME overrides it.
func ServiceName(services []Service, site bool) string {
	switch {
	case len(services) == 1 && !site:
		return "shopbus-" + services[0].Name
	case len(services) == 0 && site:
		return "shopbus-storefront"
	}
	return "shopbus-shop"
}

// startTelemetry sets up OpenTelemetry from its standard variables (see
// the EnvOTel constants). Unless OTEL_SDK_DISABLED is true it installs the
// W3C trace context and baggage propagators, so that trace context crosses
// every hop. With an OTLP endpoint set, it installs an SDK TracerProvider
// exporting over OTLP/HTTP in batches as the global one; without, nothing
// else: no exporter, no goroutine, and spans stay no-ops. A bad value is a
// *ConfigError.
func startTelemetry(ctx context.Context, serviceName string, log *slog.Logger) (*telemetry, error) {
	t := &telemetry{log: log}
	if strings.EqualFold(strings.TrimSpace(os.Getenv(EnvOTelSDKDisabled)), "true") {
		return t, nil
	}
	prop, err := propagators(os.Getenv(EnvOTelPropagators))
	if err != nil {
		return nil, err
	}
	endpoint, err := exportEndpoint()
	if err != nil || endpoint == "" {
		if err == nil {
			t.propagate(prop)
		}
		return t, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, &ConfigError{Var: EnvOTelEndpoint, Reason: err.Error()}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, &ConfigError{Var: EnvOTelResourceAttributes, Reason: err.Error()}
	} else if err != nil {
		log.Warn("host: OpenTelemetry resource incomplete", "err", err)
	}
	otelLog.Store(log)
	otelLogHandler.Do(func() {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			if l := otelLog.Load(); l != nil {
				l.Warn("opentelemetry", "err", err)
			}
		}))
	})
	t.provider = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(dropUnnamed{sdktrace.NewBatchSpanProcessor(exp)}),
		sdktrace.WithResource(res),
	)
	t.prevTP = otel.GetTracerProvider()
	otel.SetTracerProvider(t.provider)
	t.propagate(prop)
	log.Info("host: exporting traces over OTLP/HTTP", "endpoint", endpoint, "service_name", serviceNameOf(res))
	return t, nil
}

func serviceNameOf(res *resource.Resource) string {
	v, _ := res.Set().Value(semconv.ServiceNameKey)
	return v.AsString()
}

// unnamedScope is the instrumentation scope the SDK gives a tracer asked
// for without a name.
const unnamedScope = "go.opentelemetry.io/otel/sdk/tracer"

// dropUnnamed exports no span of an unnamed tracer. The embedded FerretDB
// (deploy/shop, and the tests' database) makes one with the global
// provider for every database command: a root span linked to nothing,
// heartbeats included, which would bury the shop's traces.
type dropUnnamed struct{ sdktrace.SpanProcessor }

// OnEnd passes s on unless its tracer has no name.
func (d dropUnnamed) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.InstrumentationScope().Name == unnamedScope {
		return
	}
	d.SpanProcessor.OnEnd(s)
}

// propagate installs prop as the global propagator (nil: none).
func (t *telemetry) propagate(prop propagation.TextMapPropagator) {
	if prop == nil {
		return
	}
	t.prevProp = otel.GetTextMapPropagator()
	t.propagates = true
	otel.SetTextMapPropagator(prop)
}

// stop flushes the spans not yet exported (within ctx), shuts the
// exporter down and restores the global provider and propagator that were
// there before.
func (t *telemetry) stop(ctx context.Context) {
	if t.provider != nil {
		if err := t.provider.Shutdown(ctx); err != nil {
			t.log.Warn("host: flushing traces", "err", err)
		}
		otel.SetTracerProvider(t.prevTP)
	}
	if t.propagates {
		otel.SetTextMapPropagator(t.prevProp)
	}
	otelLog.CompareAndSwap(t.log, nil)
}

// propagators reads OTEL_PROPAGATORS: a comma-separated list of
// tracecontext and baggage (the default is both), or none (nil).
func propagators(v string) (propagation.TextMapPropagator, error) {
	if strings.TrimSpace(v) == "" {
		v = "tracecontext,baggage"
	}
	var list []propagation.TextMapPropagator
	for _, name := range strings.Split(v, ",") {
		switch strings.TrimSpace(strings.ToLower(name)) {
		case "tracecontext":
			list = append(list, propagation.TraceContext{})
		case "baggage":
			list = append(list, propagation.Baggage{})
		case "none":
			return nil, nil
		default:
			return nil, &ConfigError{Var: EnvOTelPropagators, Reason: "unsupported propagator " + strconv.Quote(name) + ": use tracecontext, baggage or none"}
		}
	}
	return propagation.NewCompositeTextMapPropagator(list...), nil
}

// exportEndpoint returns the OTLP endpoint traces go to ("" when none is
// set or OTEL_TRACES_EXPORTER is none), checking the variables that choose
// it.
func exportEndpoint() (string, error) {
	switch v := strings.TrimSpace(strings.ToLower(os.Getenv(EnvOTelTracesExporter))); v {
	case "", "otlp":
	case "none":
		return "", nil
	default:
		return "", &ConfigError{Var: EnvOTelTracesExporter, Reason: "unsupported exporter " + strconv.Quote(v) + ": use otlp or none"}
	}
	for _, name := range []string{EnvOTelTracesProtocol, EnvOTelProtocol} {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			continue // the traces variable wins over the general one
		}
		switch v {
		case "http/protobuf", "http/json":
		case "grpc":
			return "", &ConfigError{Var: name, Reason: "grpc is not supported: use http/protobuf (the collector's port 4318)"}
		default:
			return "", &ConfigError{Var: name, Reason: "unsupported protocol " + strconv.Quote(v) + ": use http/protobuf or http/json"}
		}
		break
	}
	for _, name := range []string{EnvOTelTracesEndpoint, EnvOTelEndpoint} {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", &ConfigError{Var: name, Reason: "must be an http(s) URL, e.g. http://collector:4318"}
		}
		u.User = nil // never log credentials
		return u.String(), nil
	}
	return "", nil
}
