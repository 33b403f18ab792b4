// Package shop holds what the shopbus services share: the error codes
// they answer with, money, principals and roles, how a caller's session
// token travels with a request, and the events services announce to each
// other. It depends on nothing but the transport package, so any service or
// client can import it cheaply.
//
// Services live in sub-packages (shop/auth, shop/cart, shop/catalog/...,
// shop/content/..., shop/inventory, shop/order, shop/seeder).
//
// # The shape of a service package
//
// Every service package has the same files, so a reader finds the same
// thing in the same place:
//
//   - service.go: the package doc, ServiceName (its request queue and the
//     prefix of its methods), the Method… constants, the request and reply
//     types, and the Service interface.
//   - client.go: both ends of the wire: Client and NewClient(bus), which
//     implement Service over the bus; Handler(svc) *transport.Mux, which
//     serves any Service (wrap it with middleware, or serve it yourself)
//     and is made by NewMux, so that it answers "<service>.describe" too;
//     and Bind(bus, svc, opts...), which serves Handler(svc) under
//     ServiceName.
//   - server.go: the MongoDB implementation: Server, New, Options (larger
//     services split it further, e.g. validate.go).
//   - events.go: the Subscribe… functions and the event handlers.
//
// Each package's TestMethods checks that Handler serves exactly its Method…
// constants (and describe). Errors are *Error values made with the
// constructors here (Invalid, NotFound, Conflict, Forbidden,
// Unauthenticated, Unavailable, Internal, and StorageFailure for a failing
// store), and checked with errors.Is against the sentinels
// (errors.Is(err, shop.ErrNotFound)).
package shop

import (
	"context"
	"errors"
	"time"

	"github.com/shopbus/shopbus/transport"
)

// ContractVersion is the version of the wire contract the services
// follow: the info.version of the AsyncAPI document (package contract)
// and what every service answers to "<service>.describe"
// (transport.Description). It changes when a method, event or field is
// removed or changes meaning; additions keep it.
const ContractVersion = "1.0.0"

// NewMux returns the transport.Mux of the named service: it answers
// "<service>.describe" with its methods and ContractVersion
// (transport.NewServiceMux). Every service's Handler starts with it.
func NewMux(service string) *transport.Mux {
	return transport.NewServiceMux(service, ContractVersion)
}

// Error is the error type services return; it crosses the bus unchanged.
type Error = transport.Error

// FieldError names one invalid field of a request.
type FieldError = transport.FieldError

// Sentinels for errors.Is, one per code (see transport).
var (
	ErrInvalid          = transport.ErrInvalid
	ErrNotFound         = transport.ErrNotFound
	ErrConflict         = transport.ErrConflict
	ErrUnauthenticated  = transport.ErrUnauthenticated
	ErrForbidden        = transport.ErrForbidden
	ErrUnavailable      = transport.ErrUnavailable
	ErrDeadlineExceeded = transport.ErrDeadlineExceeded
	ErrInternal         = transport.ErrInternal
)

// Invalid returns an invalid-request error; fieldAndMessage alternates
// field names and what is wrong with them.
func Invalid(message string, fieldAndMessage ...string) error {
	return transport.Invalid(message, fieldAndMessage...)
}

// NotFound returns a not_found error naming what was missing.
func NotFound(what string) error {
	return transport.Errorf(transport.CodeNotFound, "%s not found", what)
}

// Conflict returns a conflict error; fieldAndMessage, as for Invalid,
// alternates the fields concerned and what conflicts about them.
func Conflict(message string, fieldAndMessage ...string) error {
	e := transport.Invalid(message, fieldAndMessage...)
	e.Code = transport.CodeConflict
	return e
}

// Forbidden returns a forbidden error.
func Forbidden(message string) error { return transport.Errorf(transport.CodeForbidden, "%s", message) }

// Unauthenticated returns an unauthenticated error.
func Unauthenticated(message string) error {
	return transport.Errorf(transport.CodeUnauthenticated, "%s", message)
}

// Internal returns an internal error for a fault of the service itself
// (an option it lacks), whose message is safe to show callers. A failing
// store is reported with StorageFailure instead.
func Internal(message string) error {
	return transport.Errorf(transport.CodeInternal, "%s", message)
}

// Unavailable returns an unavailable error: the request may succeed if
// repeated later (with the same request id).
func Unavailable(message string) error {
	return transport.Errorf(transport.CodeUnavailable, "%s", message)
}

// Role is what a principal may do.
type Role string

// The roles.
const (
	RoleCustomer Role = "customer"
	RoleAdmin    Role = "admin"
)

// Principal is an authenticated user, as the auth service vouches for it.
type Principal struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Roles  []Role `json:"roles"`
}

// Has reports whether p holds role.
func (p Principal) Has(role Role) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Publisher sends events; a transport.Bus is one. Services that announce
// changes take a Publisher.
type Publisher interface {
	Publish(ctx context.Context, ev transport.Event) error
}

// Authenticator turns a session token into a principal. The auth service
// implements it; other services are given one (usually auth's bus client).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// TokenHeader is the request header that carries a caller's session token.
const TokenHeader = "authorization"

// WithToken returns a context whose calls carry the session token, so a
// service can tell who is calling (see Caller).
func WithToken(ctx context.Context, token string) context.Context {
	return transport.WithHeader(ctx, TokenHeader, token)
}

// TokenFrom returns the session token ctx carries, or "".
func TokenFrom(ctx context.Context) string { return transport.HeaderFrom(ctx, TokenHeader) }

// Caller authenticates the token ctx carries. With no token it returns an
// unauthenticated error.
func Caller(ctx context.Context, authn Authenticator) (Principal, error) {
	token := TokenFrom(ctx)
	if token == "" {
		return Principal{}, Unauthenticated("no session token")
	}
	if authn == nil {
		return Principal{}, Internal("no authenticator configured")
	}
	return authn.Authenticate(ctx, token)
}

// RequireAdmin returns the caller's principal if it is an admin, and an
// unauthenticated or forbidden error otherwise. Catalog and content writes
// call it.
func RequireAdmin(ctx context.Context, authn Authenticator) (Principal, error) {
	p, err := Caller(ctx, authn)
	if err != nil {
		return Principal{}, err
	}
	if !p.Has(RoleAdmin) {
		return Principal{}, Forbidden("admin role required")
	}
	return p, nil
}

// IsCode reports whether err carries code. It is equivalent to errors.Is
// with the code's sentinel (IsCode(err, transport.CodeNotFound) is
// errors.Is(err, ErrNotFound)), which service code and tests use; IsCode
// stays for callers outside shopbus.
func IsCode(err error, code transport.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// StorageFailure is the error a service answers with when its store
// fails while serving ctx. When the cause is the caller's own deadline or
// cancellation it says so (the MongoDB driver reports a deadline it
// foresees before ctx itself ends); otherwise it is an internal error that
// names what failed and keeps the store's details out of the reply.
func StorageFailure(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return transport.ContextError(ctx)
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if c := transport.CodeOf(err); c == transport.CodeDeadlineExceeded || c == transport.CodeUnavailable {
		return &Error{Code: c, Message: what + ": " + string(c), Cause: err}
	}
	return &Error{Code: transport.CodeInternal, Message: what + " failed", Cause: err}
}

// EventBacklog describes the events a service has stored with its changes
// but the broker has not confirmed yet (see the services' RunRelay).
type EventBacklog struct {
	// Pending is how many events wait.
	Pending int `json:"pending"`
	// Oldest is when the oldest waiting event happened; zero when none waits.
	Oldest time.Time `json:"oldest,omitzero"`
}

// Age returns how long the oldest waiting event has waited at now.
func (b EventBacklog) Age(now time.Time) time.Duration {
	if b.Oldest.IsZero() {
		return 0
	}
	return now.Sub(b.Oldest)
}
