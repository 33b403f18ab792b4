package transport

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mux routes requests to handlers by method name, like http.ServeMux.
// A request for a method with no handler gets a CodeInvalid error.
//
// A Mux made by NewServiceMux belongs to one service and also answers
// "<service>.describe" itself (see Description).
type Mux struct {
	mu       sync.RWMutex
	handlers map[string]Handler
	types    map[string]methodTypes // methods registered with Handle[Req, Resp]

	service, version string // NewServiceMux's
}

// methodTypes are the Go types of a typed method's request and reply.
type methodTypes struct{ req, resp reflect.Type }

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: map[string]Handler{}} }

// DescribeMethod is the name, after "<service>.", of the method a service
// Mux (NewServiceMux) answers itself: "auth.describe" for the auth service.
const DescribeMethod = "describe"

// DescribeRequest is the request body of "<service>.describe": an empty
// object (an empty body does as well).
type DescribeRequest struct{}

// Description is the reply of "<service>.describe": which service answers,
// what it serves and which version of the contract it follows, like the
// INFO of a NATS micro service. It needs no session: any caller may ask.
type Description struct {
	// Service is the service's name: its request queue without the
	// namespace, and the prefix of its methods.
	Service string `json:"service"`
	// Methods are the methods the service answers, sorted, this one
	// included.
	Methods []string `json:"methods"`
	// Version is the version of the contract the service's methods
	// follow (the info.version of the AsyncAPI document in package
	// contract).
	Version string `json:"version"`
}

// NewServiceMux returns a Mux for the named service that answers
// service+".describe" with a Description of its methods and version, the
// contract version the service follows (shopbus services pass
// shop.ContractVersion). It panics if service is not a valid service name
// (CheckName), a programming error.
func NewServiceMux(service, version string) *Mux {
	if err := CheckName("service", service); err != nil {
		panic("transport: " + err.Error())
	}
	m := NewMux()
	m.service, m.version = service, version
	Handle(m, service+"."+DescribeMethod, func(context.Context, DescribeRequest) (Description, error) {
		return m.Describe(), nil
	})
	return m
}

// Service returns the name of the service m was made for by NewServiceMux,
// or "" for a Mux made by NewMux.
func (m *Mux) Service() string { return m.service }

// Describe returns what m answers to "<service>.describe": its service,
// its methods and its version (empty for a Mux made by NewMux).
func (m *Mux) Describe() Description {
	return Description{Service: m.service, Methods: m.Methods(), Version: m.version}
}

// Handle registers h for method. It panics if method is malformed or taken,
// as http.ServeMux does: both are programming errors.
func (m *Mux) Handle(method string, h Handler) {
	if _, err := ServiceOf(method); err != nil {
		panic("transport: " + err.Error())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.handlers[method]; dup {
		panic("transport: method registered twice: " + method)
	}
	m.handlers[method] = h
}

// HandleFunc registers f for method.
func (m *Mux) HandleFunc(method string, f func(ctx context.Context, req *Request) ([]byte, error)) {
	m.Handle(method, HandlerFunc(f))
}

// Methods lists the registered method names, sorted.
func (m *Mux) Methods() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.handlers))
	for name := range m.handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Types returns the Go types of method's request and reply body, as the
// generic Handle registered them, so that tools can describe the method
// (package contract writes JSON Schemas from them). ok is false for a
// method that is not registered or was registered untyped (Mux.Handle,
// Mux.HandleFunc). Recording them costs nothing per request.
func (m *Mux) Types(method string) (req, resp reflect.Type, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.types[method]
	return t.req, t.resp, ok
}

// ErrUnknownMethod is the cause of the error a Mux answers a method it has
// no handler for.
var ErrUnknownMethod = errors.New("unknown method")

// ServeBus dispatches req to the handler registered for req.Method.
func (m *Mux) ServeBus(ctx context.Context, req *Request) ([]byte, error) {
	m.mu.RLock()
	h := m.handlers[req.Method]
	m.mu.RUnlock()
	if h == nil {
		e := Invalid("unknown method", "method", "no handler for "+quote(req.Method))
		e.Cause = ErrUnknownMethod
		return nil, e
	}
	return h.ServeBus(ctx, req)
}

// Handle registers a typed handler on m: the request body is decoded from
// JSON into Req (a decoding failure is a CodeInvalid error naming the field)
// and the result is encoded as JSON. m remembers Req and Resp (Mux.Types).
func Handle[Req, Resp any](m *Mux, method string, fn func(ctx context.Context, req Req) (Resp, error)) {
	m.Handle(method, HandlerFunc(func(ctx context.Context, r *Request) ([]byte, error) {
		var in Req
		if err := Decode(r.Body, &in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}))
	m.recordTypes(method, reflect.TypeFor[Req](), reflect.TypeFor[Resp]())
}

// Include registers in m every method other serves, with its types, so
// that one queue can serve the methods of several Muxes (a host adds its
// own to a service's). When m answers "<service>.describe" itself
// (NewServiceMux), other's describe of that service is left out: m's
// lists every method, other's included. It panics if another method is
// registered in both, as Handle does.
func (m *Mux) Include(other *Mux) {
	other.mu.RLock()
	handlers := make(map[string]Handler, len(other.handlers))
	for method, h := range other.handlers {
		handlers[method] = h
	}
	types := make(map[string]methodTypes, len(other.types))
	for method, t := range other.types {
		types[method] = t
	}
	other.mu.RUnlock()
	for method, h := range handlers {
		if m.service != "" && method == m.service+"."+DescribeMethod {
			continue
		}
		m.Handle(method, h)
		if t, ok := types[method]; ok {
			m.recordTypes(method, t.req, t.resp)
		}
	}
}

// recordTypes remembers req and resp as method's types.
func (m *Mux) recordTypes(method string, req, resp reflect.Type) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.types == nil {
		m.types = map[string]methodTypes{}
	}
	m.types[method] = methodTypes{req, resp}
}

// Invoke calls method with req encoded as JSON and decodes the reply into a
// Resp. It is how typed clients are written:
//
//	user, err := transport.Invoke[auth.User](ctx, bus, "auth.register", req)
//
// The call carries one request id (see WithRequestID) across its attempts.
// A call that fails with CodeUnavailable — the connection was lost and the
// call may or may not have run, or the service could not do it just now —
// is made again with the same id after a short pause, until the deadline
// (the context's, or DefaultCallTimeout): the service applies it at most
// once. Every other error is returned at once, as is the error of a
// closed bus.
func Invoke[Resp any](ctx context.Context, b Bus, method string, req any) (Resp, error) {
	var out Resp
	body, err := json.Marshal(req)
	if err != nil {
		return out, &Error{Code: CodeInvalid, Message: "cannot encode request: " + err.Error(), Cause: err}
	}
	if id, _ := ctx.Value(callIDKey{}).(string); id == "" {
		id := CallRequestID(ctx, method, body)
		if id == "" {
			id = NewRequestID()
		}
		ctx = WithRequestID(ctx, id)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	reply, err := callRetrying(ctx, b, method, body)
	if err != nil {
		return out, err
	}
	if len(reply) == 0 {
		return out, nil
	}
	if err := json.Unmarshal(reply, &out); err != nil {
		return out, &Error{Code: CodeInternal, Message: "cannot decode reply of " + method + ": " + err.Error(), Cause: err}
	}
	return out, nil
}

// Pauses between the attempts of a call that failed with CodeUnavailable.
// A call whose service has not started yet (ErrNotStarted) is tried again
// at most notStartedMaxDelay apart: a service's first start is a matter of
// moments, the in-process bus hands such a call to the service the moment
// it starts, and the broker returns it at once and at little cost. (At
// 200 ms, the sample shop's seeding over RabbitMQ lost about 50 ms on
// average waiting for the auth service, which starts last.)
const (
	retryMinDelay      = 25 * time.Millisecond
	retryMaxDelay      = time.Second
	notStartedMaxDelay = 50 * time.Millisecond
)

// retryPause returns the pause after an attempt that failed with err,
// delay being the current step of the backoff, and the next step.
func retryPause(err error, delay time.Duration) (pause, next time.Duration) {
	limit := retryMaxDelay
	if errors.Is(err, ErrNotStarted) {
		limit = notStartedMaxDelay
	}
	delay = min(delay, limit)
	return delay/2 + rand.N(delay/2+1), min(2*delay, limit)
}

// callRetrying calls method, and calls it again after CodeUnavailable
// while ctx allows. ctx carries the request id and a deadline.
func callRetrying(ctx context.Context, b Bus, method string, body []byte) ([]byte, error) {
	delay := retryMinDelay
	for {
		reply, err := b.Call(ctx, method, body)
		if err == nil || !Retryable(err) {
			return reply, err
		}
		var pause time.Duration
		pause, delay = retryPause(err, delay)
		if deadline, _ := ctx.Deadline(); time.Until(deadline) <= pause {
			return nil, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// Retryable reports whether a call that failed with err may be made again
// with the same request id: its code is CodeUnavailable and the bus is not
// closed.
func Retryable(err error) bool {
	return CodeOf(err) == CodeUnavailable && !errors.Is(err, ErrBusClosed)
}

// ErrBusClosed is the cause of the CodeUnavailable error of a call on a
// closed bus; such a call is not retried.
var ErrBusClosed = errors.New("bus closed")

// ErrNotStarted is the cause of the CodeUnavailable error of a call
// whose service has never started: the broker found no queue to route it
// to, so nothing ran. Invoke tries such a call again every 100 to 200 ms
// until the service starts or the deadline passes.
var ErrNotStarted = errors.New("service not started")

// Decode unmarshals a JSON body into v and turns a failure into a
// CodeInvalid *Error with a field error. An empty body leaves v unchanged.
func Decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return Invalid("malformed request", field, "must be "+describeType(typeErr.Type.Kind().String())+", not "+typeErr.Value)
	}
	return Invalid("malformed request", "body", "not valid JSON: "+err.Error())
}

func describeType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "map", kind == "struct", kind == "ptr":
		return "an object"
	}
	return kind
}
