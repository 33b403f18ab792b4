package wire

import (
	"context"
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/shopbus/shopbus/transport"
)

// The spans of the bus. Both buses make the same ones, through the
// OpenTelemetry API and the global TracerProvider only: a program that
// sets up no SDK (package host does, from the OTEL_* variables) makes no
// span at all (trace context still passes on), and attributes are only
// built for a span that records.
//
//	call     client span named after the method ("product.get"), around Bus.Call
//	handler  server span named after the method, child of the caller's span
//	         (the traceparent header), around the handler's run
//	publish  producer span "publish <key>", around Bus.Publish; the event
//	         carries its context
//	process  consumer span "process <key>", child of the publisher's span,
//	         around one delivery to a subscriber's handler
//
// Attributes follow OpenTelemetry's messaging conventions (messaging.system
// is "rabbitmq" or "inproc"); a failure sets error.type to the error code.

// TracerName is the instrumentation scope of the bus's spans.
const TracerName = "github.com/shopbus/shopbus/transport"

// Messaging systems, the messaging.system of a bus's spans.
const (
	SystemRabbitMQ = "rabbitmq"
	SystemInProc   = "inproc"
)

// Attribute keys of our own, next to the semantic conventions.
const (
	attrRequestID = attribute.Key("shopbus.request_id")
	attrAttempt   = attribute.Key("shopbus.event.attempt")
)

type cachedTracer struct {
	tp trace.TracerProvider
	t  trace.Tracer // nil: tp is OpenTelemetry's default global provider
}

var tracerCache atomic.Pointer[cachedTracer]

// tracer returns the bus's tracer from the global TracerProvider, or nil
// while that is OpenTelemetry's default (no SDK installed). It is looked
// up again whenever the global provider changes (a program sets one up,
// or restores the previous one when it ends), and costs one atomic load
// otherwise.
func tracer() trace.Tracer {
	tp := otel.GetTracerProvider()
	if c := tracerCache.Load(); c != nil && c.tp == tp {
		return c.t
	}
	var t trace.Tracer
	typ := reflect.TypeOf(tp)
	if typ.Kind() != reflect.Pointer || typ.Elem().PkgPath() != globalDefault {
		t = tp.Tracer(TracerName, trace.WithSchemaURL(semconv.SchemaURL))
	}
	// Only a provider whose type is comparable can be the cache's key
	// (every known one is: a pointer or an empty struct).
	if typ.Comparable() {
		tracerCache.Store(&cachedTracer{tp: tp, t: t})
	}
	return t
}

// globalDefault is the package of OpenTelemetry's default global
// TracerProvider. Its spans record nothing and carry the parent's span
// context on unchanged, which is what a bus without spans does at no cost
// (no span, no context): so with it the bus starts no span. (Should a
// program install an SDK and then put the default back, the default's
// tracers would delegate to that SDK: no program does that on purpose.)
const globalDefault = "go.opentelemetry.io/otel/internal/global"

// noSpan is the span of an operation while no SDK is installed.
var noSpan trace.Span = noop.Span{}

// start starts a span of the bus's tracer, or returns ctx and noSpan
// while no SDK is installed.
func start(ctx context.Context, name string, opts []trace.SpanStartOption) (context.Context, trace.Span) {
	t := tracer()
	if t == nil {
		return ctx, noSpan
	}
	return t.Start(ctx, name, opts...)
}

var (
	clientKind   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	serverKind   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	producerKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	consumerKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

func systemAttr(system string) attribute.KeyValue {
	if system == SystemRabbitMQ {
		return semconv.MessagingSystemRabbitMQ
	}
	return semconv.MessagingSystemKey.String(system)
}

// StartCall starts the client span of a call of method, sent to queue (the
// service's request queue as the bus names it) by system.
func StartCall(ctx context.Context, system, method, queue string, body []byte) (context.Context, trace.Span) {
	ctx, span := start(ctx, method, clientKind)
	if span.IsRecording() {
		span.SetAttributes(
			systemAttr(system),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("call"),
			semconv.MessagingDestinationName(queue),
			semconv.RPCMethod(method),
			semconv.MessagingMessageBodySize(len(body)),
		)
	}
	return ctx, span
}

// CallSent records the correlation id and request id of a call on its span.
func CallSent(span trace.Span, correlationID, requestID string) {
	if !span.IsRecording() {
		return
	}
	if requestID == "" {
		span.SetAttributes(semconv.MessagingMessageConversationID(correlationID))
		return
	}
	span.SetAttributes(semconv.MessagingMessageConversationID(correlationID), attrRequestID.String(requestID))
}

// EndCall ends the span of a call that returned err: any error marks it
// failed, with its code as error.type.
func EndCall(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		e := transport.AsError(err)
		span.SetAttributes(semconv.ErrorTypeKey.String(string(e.Code)))
		span.SetStatus(codes.Error, string(e.Code)+": "+e.Message)
	}
	span.End()
}

// StartHandler starts the server span of a handler serving req from queue;
// ctx is the handler's context (HandlerContext), which holds the caller's
// span context as the parent.
func StartHandler(ctx context.Context, system, queue string, req *transport.Request) (context.Context, trace.Span) {
	// The method is what the caller sent: a span is named after it only
	// when it looks like a method (EndHandler renames one nobody serves),
	// so that callers cannot mint span names at will.
	method := req.Method
	if !transport.WellFormedMethod(method) {
		method = transport.UnknownMethod
	}
	ctx, span := start(ctx, method, serverKind)
	if span.IsRecording() {
		span.SetAttributes(
			systemAttr(system),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("serve"),
			semconv.MessagingDestinationName(queue),
			semconv.RPCMethod(method),
			semconv.MessagingMessageConversationID(req.ID),
			attrRequestID.String(req.RequestID),
			semconv.MessagingMessageBodySize(len(req.Body)),
		)
	}
	return ctx, span
}

// EndHandler ends the span of a handler whose reply is err (nil on
// success). Every error code is recorded as error.type, but only a failure
// of the service itself (internal, unavailable, deadline exceeded) marks
// the span failed: a refused request is the caller's error, as a 4xx is
// not a server's.
func EndHandler(span trace.Span, err *transport.Error) {
	if err != nil && span.IsRecording() {
		if err.Code == transport.CodeInvalid && (err.Field("method") != "" || err.Field("type") != "") {
			// A method this service does not serve.
			span.SetName(transport.UnknownMethod)
			span.SetAttributes(semconv.RPCMethod(transport.UnknownMethod))
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(string(err.Code)))
		switch err.Code {
		case transport.CodeInternal, transport.CodeUnavailable, transport.CodeDeadlineExceeded:
			span.SetStatus(codes.Error, string(err.Code)+": "+err.Message)
		}
	}
	span.End()
}

// StartPublish starts the producer span of publishing ev to exchange; the
// event carries the returned context (TraceHeaders), so its subscribers'
// spans are the span's children.
func StartPublish(ctx context.Context, system, exchange string, ev *transport.Event) (context.Context, trace.Span) {
	ctx, span := start(ctx, "publish "+ev.Key, producerKind)
	if span.IsRecording() {
		span.SetAttributes(
			systemAttr(system),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
			semconv.MessagingDestinationName(exchange),
			semconv.MessagingRabbitMQDestinationRoutingKey(ev.Key),
			semconv.MessagingMessageID(ev.ID),
			semconv.MessagingMessageBodySize(len(ev.Body)),
		)
	}
	return ctx, span
}

// StartProcess starts the consumer span of delivering ev to subscriber,
// whose queue is queue; ctx is the handler's context (HandlerContext),
// which holds the publisher's span context as the parent.
func StartProcess(ctx context.Context, system, subscriber, queue string, ev *transport.Event) (context.Context, trace.Span) {
	ctx, span := start(ctx, "process "+ev.Key, consumerKind)
	if span.IsRecording() {
		span.SetAttributes(
			systemAttr(system),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingConsumerGroupName(subscriber),
			semconv.MessagingDestinationSubscriptionName(queue),
			semconv.MessagingRabbitMQDestinationRoutingKey(ev.Key),
			semconv.MessagingMessageID(ev.ID),
			semconv.MessagingMessageBodySize(len(ev.Body)),
			attrAttempt.Int(ev.Attempt),
		)
	}
	return ctx, span
}

// EndSpan ends a publish or process span whose operation returned err.
func EndSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetAttributes(semconv.ErrorTypeKey.String(string(transport.CodeOf(err))))
		span.SetStatus(codes.Error, truncateStatus(err.Error()))
	}
	span.End()
}

// truncateStatus bounds a status description taken from an arbitrary error.
func truncateStatus(s string) string {
	const max = 512
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func traceValid(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}
