// Package wire holds what both Bus implementations share: the reserved
// header names, the error encoding of replies, trace propagation, and the
// guarded run of a handler. It is the single place that decides how a
// request is judged, so the two transports cannot drift apart.
package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/shopbus/shopbus/transport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Reserved header names and reply types of the wire contract (CONTRACT.md).
const (
	HeaderDeadline = "x-shop-deadline" // absolute deadline, Unix milliseconds
	HeaderAttempt  = "x-shop-attempt"  // event delivery attempt, from 1
	HeaderError    = "x-shop-error"    // error code on a failed reply
	// HeaderRequestID is the request id that makes retries safe (see
	// transport.WithRequestID); without it a request is known by its
	// correlation id.
	HeaderRequestID = "x-shop-request-id"
	TypeResult      = "result" // AMQP type of a successful reply
	TypeError       = "error"  // AMQP type of a failed reply
	ContentType     = "application/json"
)

// CallContext makes sure ctx has a deadline, using defaultTimeout when it has none.
func CallContext(ctx context.Context, defaultTimeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	if defaultTimeout <= 0 {
		defaultTimeout = transport.DefaultCallTimeout
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// OutgoingHeaders returns the headers a call or event made under ctx
// carries: the caller's metadata (transport.WithHeader) and trace context.
// It returns nil when there are none.
func OutgoingHeaders(ctx context.Context) map[string]string {
	app := transport.HeadersFrom(ctx)
	prop := otel.GetTextMapPropagator()
	if len(app) == 0 && !hasTrace(ctx) {
		return nil
	}
	h := make(map[string]string, len(app)+2)
	for k, v := range app {
		h[k] = v
	}
	prop.Inject(ctx, propagation.MapCarrier(h))
	return h
}

// TraceHeaders returns only the trace context of ctx (nil if none). Events
// carry this and nothing else from the publisher's context: an event is a
// fact, not a request on a caller's behalf, so the caller's metadata (a
// session token, say) must not travel to every subscriber.
func TraceHeaders(ctx context.Context) map[string]string {
	if !hasTrace(ctx) {
		return nil
	}
	h := make(map[string]string, 2)
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(h))
	return h
}

func hasTrace(ctx context.Context) bool {
	// Only inject when the context holds something to propagate.
	return traceValid(ctx)
}

// AppHeaders returns the non-reserved part of h (nil if empty).
func AppHeaders(h map[string]string) map[string]string {
	var out map[string]string
	for k, v := range h {
		if transport.ReservedHeader(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(h))
		}
		out[k] = v
	}
	return out
}

// HandlerContext builds the context a handler runs in: a fresh context
// (nothing but what crossed the wire) with the caller's deadline (at most
// maxDeadline away, when that is set), trace context and metadata, serving
// the request requestID (empty for events).
func HandlerContext(deadline time.Time, maxDeadline time.Duration, headers map[string]string, requestID string) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	if requestID != "" {
		ctx = transport.ServingRequestID(ctx, requestID)
	}
	if len(headers) > 0 {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(headers))
		ctx = transport.WithHeaders(ctx, AppHeaders(headers))
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(transport.DefaultCallTimeout)
	}
	if limit := time.Now().Add(maxDeadline); maxDeadline > 0 && deadline.After(limit) {
		deadline = limit // a caller cannot keep a handler busy for longer
	}
	return context.WithDeadline(ctx, deadline)
}

// RequestID returns the id of a request: its request id header if it has
// one, else its correlation id. A malformed header is an invalid request.
func RequestID(headers map[string]string, correlationID string) (string, *transport.Error) {
	id, ok := headers[HeaderRequestID]
	if !ok {
		return correlationID, nil
	}
	if err := transport.CheckRequestID(id); err != nil {
		return "", err.(*transport.Error)
	}
	return id, nil
}

// FormatDeadline and ParseDeadline encode the deadline header.
func FormatDeadline(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// ParseDeadline decodes the deadline header; ok is false when it is absent or malformed.
func ParseDeadline(s string) (t time.Time, ok bool) {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// CheckRequest judges a request body before any handler sees it.
func CheckRequest(body []byte, maxSize int) *transport.Error {
	if len(body) > maxSize {
		return transport.Invalid("request too large", "body", fmt.Sprintf("%d bytes exceeds the limit of %d", len(body), maxSize))
	}
	if len(body) > 0 && !json.Valid(body) {
		return transport.Invalid("malformed request", "body", "not valid JSON")
	}
	return nil
}

// Serve runs h on req, recovering a panic into a CodeInternal error, and
// checks the reply's size. The caller has judged the request with
// CheckRequest first (the RabbitMQ bus as part of decoding the delivery).
func Serve(ctx context.Context, h transport.Handler, req *transport.Request, maxSize int, logger *slog.Logger) ([]byte, *transport.Error) {
	out, err := guarded(ctx, h, req, logger)
	if err != nil {
		return nil, transport.AsError(err)
	}
	if len(out) > maxSize {
		logger.Error("reply too large", "method", req.Method, "size", len(out), "limit", maxSize)
		return nil, transport.Errorf(transport.CodeInternal, "reply of %d bytes exceeds the limit of %d", len(out), maxSize)
	}
	return out, nil
}

func guarded(ctx context.Context, h transport.Handler, req *transport.Request, logger *slog.Logger) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error("handler panicked", "method", req.Method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out, err = nil, &transport.Error{Code: transport.CodeInternal, Message: "handler panicked"}
		}
	}()
	return h.ServeBus(ctx, req)
}

// HandleEvent runs h on ev, recovering a panic into an error.
func HandleEvent(ctx context.Context, h transport.EventHandler, ev transport.Event, logger *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error("event handler panicked", "key", ev.Key, "id", ev.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("event handler panicked: %v", p)
		}
	}()
	return h.HandleEvent(ctx, ev)
}

// HandleEvents runs h on evs and returns one error per event: h's, or
// for every event the panic h raised, recovered, or the mistake of
// returning a number of errors other than len(evs).
func HandleEvents(ctx context.Context, h transport.BatchEventHandler, evs []transport.Event, logger *slog.Logger) (errs []error) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error("event handler panicked", "batch", len(evs), "key", evs[0].Key, "id", evs[0].ID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			errs = failAll(len(evs), fmt.Errorf("event handler panicked: %v", p))
		}
	}()
	errs = h.HandleEvents(ctx, evs)
	if len(errs) != len(evs) {
		logger.Error("event handler returned a wrong number of results", "batch", len(evs), "results", len(errs), "key", evs[0].Key)
		return failAll(len(evs), fmt.Errorf("event handler returned %d results for %d events", len(errs), len(evs)))
	}
	return errs
}

func failAll(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// ProcessEvents delivers evs (at least one) to h as the consumer of
// subscriber's queue does, and returns one error per event: nil for each
// handled. When h is a transport.BatchEventHandler all of evs go to one
// HandleEvents call; otherwise each goes to HandleEvent in turn. A run is
// bounded by timeout (ConsumerOptions.HandlerTimeout), and each event has
// its process span (StartProcess), a child of its publisher's, that ends
// with its own result. One event runs in the context HandlerContext
// makes of its headers, under its span, as ever; several run in a fresh
// context under a "process <queue>" span of their own, linked to the
// events' spans (their metadata is in each event's Header).
func ProcessEvents(system, subscriber, queue string, h transport.EventHandler, evs []transport.Event, timeout time.Duration, logger *slog.Logger) []error {
	bh, batch := h.(transport.BatchEventHandler)
	if len(evs) == 1 || !batch {
		errs := make([]error, len(evs))
		for i := range evs {
			ctx, cancel := HandlerContext(time.Now().Add(timeout), 0, evs[i].Header, "")
			ctx, span := StartProcess(ctx, system, subscriber, queue, &evs[i])
			if batch {
				errs[i] = HandleEvents(ctx, bh, evs[i:i+1], logger)[0]
			} else {
				errs[i] = HandleEvent(ctx, h, evs[i], logger)
			}
			EndSpan(span, errs[i])
			cancel()
		}
		return errs
	}
	ctx, cancel := HandlerContext(time.Now().Add(timeout), 0, nil, "")
	defer cancel()
	spans := make([]trace.Span, len(evs))
	var links []trace.Link
	for i := range evs {
		parent := context.Background()
		if len(evs[i].Header) > 0 {
			parent = otel.GetTextMapPropagator().Extract(parent, propagation.MapCarrier(evs[i].Header))
		}
		_, spans[i] = StartProcess(parent, system, subscriber, queue, &evs[i])
		if sc := spans[i].SpanContext(); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := start(ctx, "process "+queue, []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...)})
	if span.IsRecording() {
		span.SetAttributes(
			systemAttr(system),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingConsumerGroupName(subscriber),
			semconv.MessagingDestinationSubscriptionName(queue),
			semconv.MessagingBatchMessageCount(len(evs)),
		)
	}
	errs := HandleEvents(ctx, bh, evs, logger)
	var failed error
	for i, err := range errs {
		EndSpan(spans[i], err)
		if failed == nil {
			failed = err
		}
	}
	EndSpan(span, failed)
	return errs
}

// EncodeError is the body of a failed reply.
func EncodeError(e *transport.Error) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		return []byte(`{"code":"internal","message":"unencodable error"}`)
	}
	return b
}

// DecodeError reads the body of a failed reply. A body that is not an
// error object still yields an error, with the code from the header.
func DecodeError(code string, body []byte) *transport.Error {
	var e transport.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		if code == "" {
			code = string(transport.CodeInternal)
		}
		return &transport.Error{Code: transport.Code(code), Message: "undecodable error reply"}
	}
	return &e
}

// Logger returns l, or slog.Default() when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}
