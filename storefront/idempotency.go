package storefront

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Idempotency keys. A state-changing request (POST, PUT, DELETE) may carry
// a key of the client's choosing: the Idempotency-Key header on the JSON
// API, the hidden IdempotencyField in every HTML form the templates print.
// The storefront turns the key into the request id of the service calls
// it makes for the request (see transport.WithRequestID), scoped to the
// visitor: the session cookie, else the guest cart cookie, else the CSRF
// cookie. The services remember each request id with its reply for ten
// minutes, so the same key sent again (a retry after a timeout, a double
// submit) gets the first reply and changes nothing; the same key with
// another body is refused with 422. A visitor with none of those cookies
// has no scope: there the key is used for registering and logging in only
// (those replies give nothing away), and ignored for cart changes, which
// would otherwise hand one visitor's new cart to another using the same
// key.
const (
	// IdempotencyHeader is the header that carries a JSON API client's key.
	IdempotencyHeader = "Idempotency-Key"
	// IdempotencyField is the form field that carries an HTML form's key.
	IdempotencyField = "idempotency_key"
	// MaxIdempotencyKeyLen is the longest key accepted, in bytes.
	MaxIdempotencyKeyLen = 255
)

// keySpace is the UUID namespace of request ids made from keys.
var keySpace = uuid.MustParse("0b7e5f0e-2f5a-4d53-9a44-6d3c2a9d1f10")

// idempotent returns r's context carrying the request id made from its
// idempotency key, if it has one; a malformed key is invalid.
func idempotent(r *http.Request, v *visitor) (context.Context, error) {
	ctx := r.Context()
	key, field := r.Header.Get(IdempotencyHeader), IdempotencyHeader
	if key == "" && !isAPI(r) {
		key, field = r.PostFormValue(IdempotencyField), IdempotencyField
	}
	if key == "" {
		return ctx, nil
	}
	if len(key) > MaxIdempotencyKeyLen || strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
		return ctx, shop.Invalid("malformed idempotency key", field, "must be 1-255 printable ASCII characters")
	}
	scope := ""
	switch {
	case v.cookie != "":
		scope = "session\x00" + v.cookie
	case v.guestID != "":
		scope = "cart\x00" + v.guestID
	case v.csrf != "":
		scope = "visitor\x00" + v.csrf
	case anonymousKeyOK(r.URL.Path):
		scope = "anonymous"
	default:
		return ctx, nil
	}
	id := uuid.NewSHA1(keySpace, []byte(scope+"\x00"+key)).String()
	return transport.WithRequestID(ctx, id), nil
}

// anonymousKeyOK reports whether a key without a visitor's scope may be
// used on path: registering and logging in.
func anonymousKeyOK(path string) bool {
	switch path {
	case "/api/register", "/api/login", "/register", "/login":
		return true
	}
	return false
}

// anotherCall returns ctx with a request id of its own for a second call
// of one method that a request makes with another body (a guest's add
// that starts a new cart after the old one expired), derived from the
// request's id, so that a repeat of the request repeats both calls.
func anotherCall(ctx context.Context, what string) context.Context {
	id := transport.RequestID(ctx)
	if id == "" {
		return ctx
	}
	return transport.WithRequestID(ctx, transport.DeriveRequestID(id, what, nil))
}

// reusedKey reports whether err says a request id (an idempotency key)
// was used before for another request.
func reusedKey(err error) bool {
	e := transport.AsError(err)
	return e != nil && e.Code == transport.CodeInvalid && e.Field("request_id") != ""
}

// errSessionUnknown is the answer to a request that needs the visitor's
// session when the auth service could not check it: never treated as
// "not logged in".
var errSessionUnknown = &transport.Error{Code: transport.CodeUnavailable, Message: "cannot check your session right now"}

// newFormKey returns a fresh idempotency key for a form.
func newFormKey() string { return uuid.NewString() }
