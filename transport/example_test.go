package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// A service is a Mux of typed handlers served on a bus; a client calls it
// with Invoke. The same code runs on RabbitMQ with rabbit.Dial.
func Example() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	type Greeting struct {
		Name string `json:"name"`
	}
	mux := transport.NewMux()
	transport.Handle(mux, "greeter.hello", func(ctx context.Context, g Greeting) (string, error) {
		if g.Name == "" {
			return "", transport.Invalid("name required", "name", "must not be empty")
		}
		return "hello " + g.Name, nil
	})
	sub, err := bus.Serve("greeter", mux)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	reply, err := transport.Invoke[string](ctx, bus, "greeter.hello", Greeting{Name: "Ada"})
	fmt.Println(reply, err)

	_, err = transport.Invoke[string](ctx, bus, "greeter.hello", Greeting{})
	var e *transport.Error
	if errors.As(err, &e) && errors.Is(err, transport.ErrInvalid) {
		fmt.Println(e.Code, e.Field("name"))
	}
	// Output:
	// hello Ada <nil>
	// invalid must not be empty
}

// exampleLogger logs to standard output without the attributes that
// change from run to run (time, ids, durations, stacks).
func exampleLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "id", "elapsed", "stack":
				return slog.Attr{}
			}
			return a
		},
	}))
}

// Call sends a raw JSON body and gets the raw reply; Serve answers the
// requests of one service with a Handler, here a HandlerFunc.
func ExampleBus_Call() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	sub, err := bus.Serve("echo", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return []byte(fmt.Sprintf(`{"method":%q,"body":%s}`, req.Method, req.Body)), nil
	}))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	reply, err := bus.Call(context.Background(), "echo.say", []byte(`"hi"`))
	fmt.Println(string(reply), err)

	// A request for a service nobody serves waits in its queue for a
	// consumer, until the caller's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = bus.Call(ctx, "nobody.home", nil)
	fmt.Println(transport.CodeOf(err))
	// Output:
	// {"method":"echo.say","body":"hi"} <nil>
	// deadline_exceeded
}

// Subscribe delivers the events whose key matches a topic pattern;
// Publish announces one.
func ExampleBus_Subscribe() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	got := make(chan transport.Event, 1)
	sub, err := bus.Subscribe("mailer", "order.*.placed", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		got <- ev
		return nil
	}))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	for _, key := range []string{"order.order.cancelled", "order.order.placed"} {
		if err := bus.Publish(ctx, transport.Event{Key: key, Body: []byte(`{"id":"o1"}`)}); err != nil {
			panic(err)
		}
	}
	ev := <-got
	fmt.Println(ev.Key, string(ev.Body), ev.Attempt, ev.ID != "")
	// Output:
	// order.order.placed {"id":"o1"} 1 true
}

// An event whose handler keeps failing is delivered MaxAttempts times,
// then parked in the subscriber's dead-letter queue, where
// DrainDeadLetters finds it.
func ExampleBus_DrainDeadLetters() {
	bus := inproc.New(inproc.Options{Logger: slog.New(slog.DiscardHandler)})
	defer bus.Close()

	var attempts atomic.Int32
	sub, err := bus.Subscribe("indexer", "product.#", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		attempts.Add(1)
		return errors.New("the index is broken")
	}), transport.WithMaxAttempts(3), transport.WithRetryDelay(time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	if err := bus.Publish(ctx, transport.Event{Key: "product.product.updated"}); err != nil {
		panic(err)
	}
	for {
		parked, err := bus.DrainDeadLetters(ctx, "indexer")
		if err != nil {
			panic(err)
		}
		if len(parked) > 0 {
			fmt.Println(parked[0].Key, "parked after", attempts.Load(), "attempts")
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Output:
	// product.product.updated parked after 3 attempts
}

// A Mux routes by method name; a method it does not know is invalid.
func ExampleMux() {
	mux := transport.NewMux()
	mux.HandleFunc("clock.zone", func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return []byte(`"UTC"`), nil
	})
	mux.Handle("clock.ping", transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		return []byte(`"pong"`), nil
	}))
	fmt.Println(mux.Methods())

	reply, _ := mux.ServeBus(context.Background(), &transport.Request{Method: "clock.ping"})
	fmt.Println(string(reply))
	_, err := mux.ServeBus(context.Background(), &transport.Request{Method: "clock.alarm"})
	fmt.Println(transport.CodeOf(err), errors.Is(err, transport.ErrUnknownMethod))
	// Output:
	// [clock.ping clock.zone]
	// "pong"
	// invalid true
}

// Types tells tools the Go types of a typed method's request and reply.
func ExampleMux_Types() {
	type Sum struct{ A, B int }
	mux := transport.NewMux()
	transport.Handle(mux, "calc.add", func(ctx context.Context, s Sum) (int, error) { return s.A + s.B, nil })
	req, resp, ok := mux.Types("calc.add")
	fmt.Println(req.Name(), resp, ok)
	// Output:
	// Sum int true
}

// Handle decodes the JSON request into the handler's type: a body that
// does not fit is an invalid request naming the field, and the handler
// does not run.
func ExampleHandle() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	type Sum struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	mux := transport.NewMux()
	transport.Handle(mux, "calc.add", func(ctx context.Context, s Sum) (int, error) { return s.A + s.B, nil })
	sub, err := bus.Serve("calc", mux)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	reply, err := bus.Call(ctx, "calc.add", []byte(`{"a":2,"b":3}`))
	fmt.Println(string(reply), err)
	_, err = bus.Call(ctx, "calc.add", []byte(`{"a":"two"}`))
	var e *transport.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Fields[0].Field)
	}
	// Output:
	// 5 <nil>
	// invalid a
}

// Invoke makes a call that failed with CodeUnavailable again, with the
// same request id, so that the service can apply it once.
func ExampleInvoke() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	var ids []string // the handler runs one call at a time here
	mux := transport.NewMux()
	transport.Handle(mux, "stock.reserve", func(ctx context.Context, qty int) (string, error) {
		ids = append(ids, transport.RequestID(ctx))
		if len(ids) == 1 {
			return "", transport.Errorf(transport.CodeUnavailable, "the store is busy")
		}
		return fmt.Sprintf("reserved %d", qty), nil
	})
	sub, err := bus.Serve("stock", mux, transport.WithConcurrency(1))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := transport.WithRequestID(context.Background(), "checkout-42")
	reply, err := transport.Invoke[string](ctx, bus, "stock.reserve", 2)
	fmt.Println(reply, err)
	fmt.Println(ids)
	// Output:
	// reserved 2 <nil>
	// [checkout-42 checkout-42]
}

// Chain composes middleware around a handler, the first listed outermost.
func ExampleChain() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	var stats transport.Stats
	mux := transport.NewMux()
	transport.Handle(mux, "greeter.hello", func(ctx context.Context, name string) (string, error) {
		if name == "" {
			return "", transport.Invalid("no name", "name", "must not be empty")
		}
		return "hello " + name, nil
	})
	h := transport.Chain(mux, transport.Recover(nil), transport.Metrics(&stats), transport.Timeout(time.Second))
	sub, err := bus.Serve("greeter", h)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	for _, name := range []string{"Ada", "Grace", ""} {
		reply, err := transport.Invoke[string](ctx, bus, "greeter.hello", name)
		fmt.Printf("%q %q\n", reply, transport.CodeOf(err))
	}
	for _, s := range stats.Snapshot() {
		fmt.Println(s.Method, s.Requests, "requests,", s.Errors, "errors")
	}
	// Output:
	// "hello Ada" ""
	// "hello Grace" ""
	// "" "invalid"
	// greeter.hello 3 requests, 0 errors
}

// Logging logs each request at debug level and each failure at warn
// (the caller's fault) or error (the service's) level.
func ExampleLogging() {
	mux := transport.NewMux()
	transport.Handle(mux, "greeter.hello", func(ctx context.Context, name string) (string, error) {
		if name == "" {
			return "", transport.Invalid("no name", "name", "must not be empty")
		}
		return "hello " + name, nil
	})
	h := transport.Chain(mux, transport.Logging(exampleLogger()))

	ctx := context.Background()
	h.ServeBus(ctx, &transport.Request{Method: "greeter.hello", ID: "1", Body: []byte(`"Ada"`)})
	h.ServeBus(ctx, &transport.Request{Method: "greeter.hello", ID: "2", Body: []byte(`""`)})
	// Output:
	// level=DEBUG msg=request method=greeter.hello
	// level=WARN msg="request rejected" method=greeter.hello code=invalid err="invalid: no name (name: must not be empty)"
}

// Recover turns a panic into an internal error, logged with its stack.
func ExampleRecover() {
	h := transport.Chain(transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		panic("nil map")
	}), transport.Recover(exampleLogger()))

	_, err := h.ServeBus(context.Background(), &transport.Request{Method: "cart.get"})
	fmt.Println(transport.CodeOf(err))
	// Output:
	// level=ERROR msg="handler panicked" method=cart.get panic="nil map"
	// internal
}

// Timeout answers the caller when a handler takes too long.
func ExampleTimeout() {
	h := transport.Chain(transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), transport.Timeout(10*time.Millisecond))

	_, err := h.ServeBus(context.Background(), &transport.Request{Method: "report.build"})
	fmt.Println(transport.CodeOf(err))
	// Output:
	// deadline_exceeded
}

// Stats counts what Metrics records; client errors are requests, not
// errors of the service.
func ExampleStats() {
	var stats transport.Stats
	stats.Record("auth.login", 2*time.Millisecond, nil)
	stats.Record("auth.login", 4*time.Millisecond, transport.ErrUnauthenticated)
	stats.Record("auth.login", 6*time.Millisecond, errors.New("disk full"))
	for _, s := range stats.Snapshot() {
		fmt.Println(s.Method, s.Requests, s.Errors, s.AverageTime, s.LastError)
	}

	var prom strings.Builder
	if err := stats.WritePrometheus(&prom); err != nil {
		panic(err)
	}
	for line := range strings.Lines(prom.String()) {
		if strings.HasPrefix(line, "shopbus_requests_total") || strings.HasPrefix(line, "shopbus_errors_total") {
			fmt.Print(line)
		}
	}
	// Output:
	// auth.login 3 1 4ms disk full
	// shopbus_requests_total{method="auth.login"} 3
	// shopbus_errors_total{method="auth.login"} 1
}

// Errorf makes an error of any code; errors.Is compares codes, wherever
// the error was made.
func ExampleErrorf() {
	err := fmt.Errorf("reserve: %w", transport.Errorf(transport.CodeConflict, "only %d left", 1))
	fmt.Println(err)
	fmt.Println(errors.Is(err, transport.ErrConflict), errors.Is(err, transport.ErrNotFound))
	// Output:
	// reserve: conflict: only 1 left
	// true false
}

// Invalid lists what is wrong with each field of a request.
func ExampleInvalid() {
	err := transport.Invalid("bad address", "address.city", "required", "address.country", "not shipped to")
	fmt.Println(err)
	fmt.Println(err.Field("address.country"), "|", err.Field("email"), "|", len(err.Fields))
	// Output:
	// invalid: bad address (address.city: required; address.country: not shipped to)
	// not shipped to |  | 2
}

// CodeOf classifies any error; the wire-level code is what clients in
// every language compare.
func ExampleCodeOf() {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	for _, err := range []error{
		nil,
		transport.ErrNotFound,
		fmt.Errorf("load: %w", transport.Errorf(transport.CodeForbidden, "admins only")),
		ctx.Err(),
		context.Canceled,
		errors.New("anything else"),
	} {
		fmt.Printf("%q\n", transport.CodeOf(err))
	}
	// Output:
	// ""
	// "not_found"
	// "forbidden"
	// "deadline_exceeded"
	// "unavailable"
	// "internal"
}

// AsError turns any error into what crosses the wire: an *Error keeps its
// code and message, anything else becomes an internal error that says
// nothing about its cause.
func ExampleAsError() {
	e := transport.AsError(errors.New("mongo: password=hunter2 refused"))
	fmt.Printf("%s %q %v\n", e.Code, e.Message, errors.Unwrap(e) != nil)
	e = transport.AsError(fmt.Errorf("get: %w", transport.Errorf(transport.CodeNotFound, "no such cart")))
	fmt.Printf("%s %q\n", e.Code, e.Message)
	// Output:
	// internal "internal error" false
	// not_found "no such cart"
}

// ContextError is the error a caller sees when its context ends.
func ExampleContextError() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := transport.ContextError(ctx)
	fmt.Println(err.Code, errors.Is(err, context.Canceled))
	// Output:
	// unavailable true
}

// Retryable says whether a failed call may be made again with the same
// request id (Invoke does it by itself).
func ExampleRetryable() {
	fmt.Println(transport.Retryable(transport.Errorf(transport.CodeUnavailable, "restarting")))
	fmt.Println(transport.Retryable(transport.ErrConflict))
	bus := inproc.New(inproc.Options{})
	bus.Close()
	_, err := bus.Call(context.Background(), "auth.login", nil)
	fmt.Println(transport.CodeOf(err), transport.Retryable(err), errors.Is(err, transport.ErrBusClosed))
	// Output:
	// true
	// false
	// unavailable false true
}

// WithRequestID names one logical operation: a service applies the calls
// that carry one id at most once. RequestID reads it in the handler.
func ExampleWithRequestID() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	mux := transport.NewMux()
	transport.Handle(mux, "order.place", func(ctx context.Context, _ struct{}) (string, error) {
		return transport.RequestID(ctx), nil
	})
	sub, err := bus.Serve("order", mux)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := transport.WithRequestID(context.Background(), "checkout-7f3a")
	fmt.Println(transport.RequestID(ctx))
	id, err := transport.Invoke[string](ctx, bus, "order.place", struct{}{})
	fmt.Println(id, err)
	// Output:
	// checkout-7f3a
	// checkout-7f3a <nil>
}

// NewRequestID makes a fresh id; CheckRequestID says which ids a service
// accepts; DeriveRequestID makes the same id from the same inputs, as a
// handler's nested calls do.
func ExampleNewRequestID() {
	id := transport.NewRequestID()
	fmt.Println(transport.CheckRequestID(id), id != transport.NewRequestID())
	fmt.Println(transport.CheckRequestID("") != nil, transport.CheckRequestID("tab\there") != nil)
	a := transport.DeriveRequestID(id, "inventory.reserve", []byte(`{"order_id":"o1"}`))
	b := transport.DeriveRequestID(id, "inventory.reserve", []byte(`{"order_id":"o1"}`))
	c := transport.DeriveRequestID(id, "inventory.reserve", []byte(`{"order_id":"o2"}`))
	fmt.Println(a == b, a == c, transport.CheckRequestID(a))
	// Output:
	// <nil> true
	// true true
	// true false <nil>
}

// WithHeader adds caller metadata that the handler reads, and that
// follows the handler's own calls; the bus's own keys are reserved.
func ExampleWithHeader() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	mux := transport.NewMux()
	transport.Handle(mux, "whoami.tenant", func(ctx context.Context, _ struct{}) (string, error) {
		return transport.HeaderFrom(ctx, "x-tenant") + " " + transport.HeaderFrom(ctx, "Accept-Language"), nil
	})
	sub, err := bus.Serve("whoami", mux)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := transport.WithHeaders(context.Background(), map[string]string{"accept-language": "de"})
	ctx = transport.WithHeader(ctx, "X-Tenant", "acme")
	ctx = transport.WithHeader(ctx, "x-shop-request-id", "forged") // ignored
	fmt.Println(transport.HeadersFrom(ctx))
	fmt.Println(transport.ReservedHeader("x-shop-request-id"), transport.ReservedHeader("traceparent"), transport.ReservedHeader("x-tenant"))
	reply, err := transport.Invoke[string](ctx, bus, "whoami.tenant", struct{}{})
	fmt.Printf("%q %v\n", reply, err)
	// Output:
	// map[accept-language:de x-tenant:acme]
	// true true false
	// "acme de" <nil>
}

// MatchTopic applies RabbitMQ's topic rules: "*" is one word, "#" any
// number of words.
func ExampleMatchTopic() {
	for _, key := range []string{"product.product.updated", "product.variant.stock.updated", "order.order.placed"} {
		fmt.Println(key, transport.MatchTopic("product.*.updated", key), transport.MatchTopic("product.#", key))
	}
	// Output:
	// product.product.updated true true
	// product.variant.stock.updated false true
	// order.order.placed false false
}

// CheckName, CheckPattern and ServiceOf validate the names a bus uses.
func ExampleServiceOf() {
	fmt.Println(transport.ServiceOf("auth.login"))
	_, err := transport.ServiceOf("login")
	fmt.Println(transport.CodeOf(err))
	fmt.Println(transport.CheckName("service", "cart-v2"), transport.CheckName("service", "Cart!") != nil)
	fmt.Println(transport.CheckPattern("order.#"), transport.CheckPattern("order..placed") != nil)
	// Output:
	// auth <nil>
	// invalid
	// <nil> true
	// <nil> true
}

// Decode reads a JSON body into a value, reporting a bad field as an
// invalid request.
func ExampleDecode() {
	var req struct {
		Quantity int `json:"quantity"`
	}
	fmt.Println(transport.Decode([]byte(`{"quantity":3}`), &req), req.Quantity)
	err := transport.Decode([]byte(`{"quantity":"three"}`), &req)
	var e *transport.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Fields[0].Field)
	}
	// Output:
	// <nil> 3
	// invalid quantity
}

// ApplyConsumerOptions is for Bus implementations: the options a Serve or
// Subscribe call asked for, with the defaults filled in.
func ExampleApplyConsumerOptions() {
	o := transport.ApplyConsumerOptions([]transport.ConsumerOption{
		transport.WithConcurrency(4),
		transport.WithMaxAttempts(10),
		transport.WithRetryDelay(time.Second),
		transport.WithHandlerTimeout(time.Minute),
		transport.WithMaxDeadline(5 * time.Second),
		transport.WithQueueExpiry(time.Hour),
		transport.WithBatch(8),
	})
	fmt.Printf("%+v\n", o)
	fmt.Printf("%+v\n", transport.ApplyConsumerOptions(nil))
	// Output:
	// {Concurrency:4 MaxAttempts:10 RetryDelay:1s HandlerTimeout:1m0s MaxDeadline:5s QueueExpiry:1h0m0s Batch:4}
	// {Concurrency:16 MaxAttempts:5 RetryDelay:100ms HandlerTimeout:1m0s MaxDeadline:30s QueueExpiry:0s Batch:1}
}

// CallRequestID and ServingRequestID are for Bus implementations: a
// handler's context carries the id of the request it serves, and a call
// made under it carries an id derived from it.
func ExampleServingRequestID() {
	ctx := transport.ServingRequestID(context.Background(), "req-1")
	fmt.Println(transport.RequestID(ctx))
	id := transport.CallRequestID(ctx, "inventory.reserve", []byte(`{}`))
	fmt.Println(id == transport.DeriveRequestID("req-1", "inventory.reserve", []byte(`{}`)))
	fmt.Println(transport.CallRequestID(transport.WithRequestID(ctx, "mine"), "inventory.reserve", nil))
	fmt.Printf("%q\n", transport.CallRequestID(context.Background(), "inventory.reserve", nil))
	// Output:
	// req-1
	// true
	// mine
	// ""
}

// A Middleware of your own wraps a Handler as net/http middleware wraps
// an http.Handler: here, requests without a tenant header are refused.
func ExampleMiddleware() {
	requireTenant := transport.Middleware(func(next transport.Handler) transport.Handler {
		return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			if req.Header["x-tenant"] == "" {
				return nil, transport.Errorf(transport.CodeUnauthenticated, "no tenant")
			}
			return next.ServeBus(ctx, req)
		})
	})
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	mux := transport.NewMux()
	transport.Handle(mux, "report.daily", func(ctx context.Context, _ struct{}) (string, error) {
		return "report of " + transport.HeaderFrom(ctx, "x-tenant"), nil
	})
	sub, err := bus.Serve("report", transport.Chain(mux, requireTenant))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	_, err = transport.Invoke[string](ctx, bus, "report.daily", struct{}{})
	fmt.Println(err)
	reply, err := transport.Invoke[string](transport.WithHeader(ctx, "x-tenant", "acme"), bus, "report.daily", struct{}{})
	fmt.Println(reply, err)
	// Output:
	// unauthenticated: no tenant
	// report of acme <nil>
}
