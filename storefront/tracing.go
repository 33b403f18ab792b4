package storefront

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the storefront's spans.
//
// Every request is a server span of OpenTelemetry's global TracerProvider
// (package host sets one up from the OTEL_* variables; without one the
// spans are no-ops), named after its method and route pattern ("GET
// /{slug}"), with the response's status code; a 5xx marks it failed. A
// traceparent header on the request makes it the child of the caller's
// span (through the global propagator). The bus calls a page makes are
// the span's children, so one trace holds a page, its calls and their
// handlers in every service.
const TracerName = "github.com/shopbus/shopbus/storefront"

var serverKind = trace.WithSpanKind(trace.SpanKindServer)

func noEnd() {}

// traceRequest starts the span of r. It returns the writer and request to
// serve with, and the function that ends the span once they are served.
// A span that does not record (no SDK) costs no wrapper.
func (s *Storefront) traceRequest(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := otel.Tracer(TracerName, trace.WithSchemaURL(semconv.SchemaURL)).Start(ctx, r.Method, serverKind)
	if !span.IsRecording() {
		if span.SpanContext().IsValid() {
			r = r.WithContext(ctx) // a caller's trace goes on through the bus
		}
		return w, r, noEnd
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	span.SetAttributes(
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme),
		semconv.ServerAddress(r.Host),
		semconv.UserAgentOriginal(r.UserAgent()),
	)
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(ctx)
	return sw, r, func() {
		if _, pattern := s.mux.Handler(r); pattern != "" {
			route := pattern
			if _, path, ok := strings.Cut(pattern, " "); ok {
				route = path // "GET /{slug}" → "/{slug}"
			}
			span.SetName(r.Method + " " + route)
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// traceIDPlaceholder is where Options.TraceURL takes the trace id.
const traceIDPlaceholder = "{trace_id}"

// traceRef is the trace of a request as a page shows it: its id, and a
// link to it in the trace viewer of Options.TraceURL.
type traceRef struct {
	ID   string
	Link string
}

// traceOf returns the trace of r's request, or a zero traceRef when the
// request is not traced (no SDK, or not sampled).
func (s *Storefront) traceOf(r *http.Request) traceRef {
	sc := trace.SpanContextFromContext(r.Context())
	if !sc.IsValid() || !sc.IsSampled() {
		return traceRef{}
	}
	id := sc.TraceID().String()
	ref := traceRef{ID: id}
	if s.opts.TraceURL != "" {
		ref.Link = strings.ReplaceAll(s.opts.TraceURL, traceIDPlaceholder, id)
	}
	return ref
}
