package transport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/spantest"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/transporttest"
)

// TestSpans checks the spans both buses make for a call, a nested call, a
// refused call, an event and its delivery: one trace, correctly parented,
// with the messaging attributes and error codes.
func TestSpans(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		rec := spantest.Record(t)
		system := "rabbitmq"
		if _, ok := bus.(*inproc.Bus); ok {
			system = "inproc"
		}
		a, b, sub := transporttest.Unique("tra"), transporttest.Unique("trb"), transporttest.Unique("trsub")
		missing := &transport.Error{Code: transport.CodeNotFound, Message: "no such thing"}
		bMux := transport.NewMux()
		bMux.HandleFunc(b+".get", func(ctx context.Context, req *transport.Request) ([]byte, error) { return []byte(`{}`), nil })
		bMux.HandleFunc(b+".missing", func(ctx context.Context, req *transport.Request) ([]byte, error) { return nil, missing })
		bMux.HandleFunc(b+".broken", func(ctx context.Context, req *transport.Request) ([]byte, error) {
			return nil, fmt.Errorf("disk on fire")
		})
		aMux := transport.NewMux()
		aMux.HandleFunc(a+".do", func(ctx context.Context, req *transport.Request) ([]byte, error) {
			if _, err := bus.Call(ctx, b+".get", nil); err != nil {
				return nil, err
			}
			if _, err := bus.Call(ctx, b+".missing", nil); transport.CodeOf(err) != transport.CodeNotFound {
				return nil, fmt.Errorf("%s.missing: %v", b, err)
			}
			if _, err := bus.Call(ctx, b+".broken", nil); transport.CodeOf(err) != transport.CodeInternal {
				return nil, fmt.Errorf("%s.broken: %v", b, err)
			}
			return nil, bus.Publish(ctx, transport.Event{Key: a + ".thing.done", Body: []byte(`{}`)})
		})
		for svc, mux := range map[string]*transport.Mux{a: aMux, b: bMux} {
			s, err := bus.Serve(svc, mux)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
		}
		delivered := make(chan struct{}, 1)
		s, err := bus.Subscribe(sub, a+".#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
			delivered <- struct{}{}
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx, root := otel.Tracer("test").Start(ctx, "root")
		if _, err := bus.Call(ctx, a+".do", []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
		root.End()
		select {
		case <-delivered:
		case <-ctx.Done():
			t.Fatal("event not delivered")
		}
		// The consumer span ends just after the handler returns.
		var spans []sdktrace.ReadOnlySpan
		for {
			spans = rec.Ended()
			if len(spans) >= 11 || ctx.Err() != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		byName := map[string][]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
				t.Errorf("span %s is in trace %s, not the root's", s.Name(), s.SpanContext().TraceID())
			}
			byName[s.Name()] = append(byName[s.Name()], s)
		}
		one := func(name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
			t.Helper()
			for _, s := range byName[name] {
				if s.SpanKind() == kind {
					return s
				}
			}
			t.Fatalf("no %s span %q among %d spans", kind, name, len(spans))
			return nil
		}
		parentIs := func(child, parent sdktrace.ReadOnlySpan) {
			t.Helper()
			if child.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("%s %s: parent %s, want %s %s", child.SpanKind(), child.Name(), child.Parent().SpanID(), parent.SpanKind(), parent.Name())
			}
		}
		rootSpan := one("root", trace.SpanKindInternal)
		callA, serveA := one(a+".do", trace.SpanKindClient), one(a+".do", trace.SpanKindServer)
		parentIs(callA, rootSpan)
		parentIs(serveA, callA)
		if !serveA.Parent().IsRemote() {
			t.Error("a handler's parent is not marked remote")
		}
		for _, m := range []string{".get", ".missing", ".broken"} {
			call, serve := one(b+m, trace.SpanKindClient), one(b+m, trace.SpanKindServer)
			parentIs(call, serveA)
			parentIs(serve, call)
			if c, s := spantest.Attr(call, "messaging.message.conversation_id"), spantest.Attr(serve, "messaging.message.conversation_id"); c == "" || c != s {
				t.Errorf("%s: correlation ids %q (caller) and %q (handler)", b+m, c, s)
			}
			for _, sp := range []sdktrace.ReadOnlySpan{call, serve} {
				if got := spantest.Attr(sp, "messaging.system"); got != system {
					t.Errorf("%s %s: messaging.system %q, want %q", sp.SpanKind(), sp.Name(), got, system)
				}
				if got := spantest.Attr(sp, "rpc.method"); got != b+m {
					t.Errorf("%s %s: rpc.method %q", sp.SpanKind(), sp.Name(), got)
				}
			}
		}
		if got := spantest.Attr(callA, "messaging.message.body.size"); got != "7" {
			t.Errorf("call body size %q, want 7", got)
		}
		// Errors: the caller's span fails on any error code, the handler's
		// only when the service itself failed.
		for _, c := range []struct {
			name       string
			kind       trace.SpanKind
			errType    string
			statusCode codes.Code
		}{
			{b + ".get", trace.SpanKindClient, "", codes.Unset},
			{b + ".get", trace.SpanKindServer, "", codes.Unset},
			{b + ".missing", trace.SpanKindClient, "not_found", codes.Error},
			{b + ".missing", trace.SpanKindServer, "not_found", codes.Unset},
			{b + ".broken", trace.SpanKindClient, "internal", codes.Error},
			{b + ".broken", trace.SpanKindServer, "internal", codes.Error},
		} {
			sp := one(c.name, c.kind)
			if got := spantest.Attr(sp, "error.type"); got != c.errType || sp.Status().Code != c.statusCode {
				t.Errorf("%s %s: error.type %q, status %v; want %q, %v", c.kind, c.name, got, sp.Status().Code, c.errType, c.statusCode)
			}
		}
		if d := one(b+".missing", trace.SpanKindClient).Status().Description; d != "not_found: no such thing" {
			t.Errorf("status description %q", d)
		}

		pub, proc := one("publish "+a+".thing.done", trace.SpanKindProducer), one("process "+a+".thing.done", trace.SpanKindConsumer)
		parentIs(pub, serveA)
		parentIs(proc, pub)
		if got := spantest.Attr(pub, "messaging.operation.type"); got != "send" {
			t.Errorf("publish: messaging.operation.type %q", got)
		}
		if got := spantest.Attr(proc, "messaging.operation.type"); got != "process" {
			t.Errorf("process: messaging.operation.type %q", got)
		}
		if got := spantest.Attr(proc, "messaging.consumer.group.name"); got != sub {
			t.Errorf("process: consumer group %q, want %q", got, sub)
		}
		if id := spantest.Attr(pub, "messaging.message.id"); id == "" || id != spantest.Attr(proc, "messaging.message.id") {
			t.Errorf("message ids %q (publish) and %q (process)", id, spantest.Attr(proc, "messaging.message.id"))
		}
		if got := spantest.Attr(proc, "shopbus.event.attempt"); got != "1" {
			t.Errorf("process: attempt %q", got)
		}
		if len(spans) != 11 {
			t.Errorf("%d spans, want 11 (root, 4 calls and 4 handlers, publish, process)", len(spans))
		}
	})
}

// TestSpansOfFailedEvent checks that a delivery whose handler fails is a
// failed consumer span, one per attempt, each a child of the publisher's.
func TestSpansOfFailedEvent(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		rec := spantest.Record(t)
		sub, key := transporttest.Unique("trfail"), transporttest.Unique("trf")+".x.y"
		attempts := make(chan int, 4)
		s, err := bus.Subscribe(sub, key, transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
			attempts <- ev.Attempt
			if ev.Attempt == 1 {
				return fmt.Errorf("not yet")
			}
			return nil
		}), transport.WithRetryDelay(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		body, _ := json.Marshal(map[string]int{"n": 1})
		if err := bus.Publish(ctx, transport.Event{Key: key, Body: body}); err != nil {
			t.Fatal(err)
		}
		for want := 1; want <= 2; want++ {
			select {
			case n := <-attempts:
				if n != want {
					t.Fatalf("attempt %d, want %d", n, want)
				}
			case <-ctx.Done():
				t.Fatal("event not redelivered")
			}
		}
		var procs []sdktrace.ReadOnlySpan
		var pub sdktrace.ReadOnlySpan
		for ctx.Err() == nil && len(procs) < 2 {
			procs, pub = nil, nil
			for _, s := range rec.Ended() {
				switch s.Name() {
				case "process " + key:
					procs = append(procs, s)
				case "publish " + key:
					pub = s
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(procs) != 2 || pub == nil {
			t.Fatalf("%d process spans and publish %v", len(procs), pub != nil)
		}
		if pub.Parent().IsValid() {
			t.Error("a publish without a trace has a parent")
		}
		for i, p := range procs {
			if p.Parent().SpanID() != pub.SpanContext().SpanID() || p.SpanContext().TraceID() != pub.SpanContext().TraceID() {
				t.Errorf("attempt %d is not the publisher's child", i+1)
			}
			failed := p.Status().Code == codes.Error
			if failed != (i == 0) || failed && spantest.Attr(p, "error.type") != "internal" {
				t.Errorf("attempt %d: status %v, error.type %q", i+1, p.Status(), spantest.Attr(p, "error.type"))
			}
		}
	})
}

// TestSpanOfUnservedMethod: a handler's span is named after the method
// only when the service serves it, so that callers cannot mint span names
// (as the statistics count such calls under one "unknown" series).
func TestSpanOfUnservedMethod(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		rec := spantest.Record(t)
		svc := transporttest.Unique("trunk")
		mux := transport.NewMux()
		mux.HandleFunc(svc+".get", func(context.Context, *transport.Request) ([]byte, error) { return []byte(`{}`), nil })
		s, err := bus.Serve(svc, mux)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := bus.Call(ctx, svc+".made-up-name", nil); transport.CodeOf(err) != transport.CodeInvalid {
			t.Fatalf("unserved method: %v", err)
		}
		var server sdktrace.ReadOnlySpan
		for server == nil && ctx.Err() == nil {
			for _, sp := range rec.Ended() {
				if sp.SpanKind() == trace.SpanKindServer {
					server = sp
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if server == nil {
			t.Fatal("no handler span")
		}
		if server.Name() != transport.UnknownMethod || spantest.Attr(server, "rpc.method") != transport.UnknownMethod {
			t.Errorf("handler span %q, rpc.method %q; want %q", server.Name(), spantest.Attr(server, "rpc.method"), transport.UnknownMethod)
		}
	})
}
