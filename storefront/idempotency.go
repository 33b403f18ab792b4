package storefront

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Idempotency keys. A state-changing request (POST, PUT, DELETE) may carry
// a key of the client's choosing: the Idempotency-Key header on the JSON
// API, the hidden IdempotencyField in every HTML form the templates print
// (a fresh key each time a form is rendered). The storefront turns the key
// into the request id of the service calls it makes for the request (see
// transport.WithRequestID; a request that makes several changes derives an
// id per call from it), scoped to the visitor, so that one visitor's key
// never meets another's. The services remember each request id with its
// reply for ten minutes, so the same key sent again (a retry after a
// timeout, a double submit) gets the first reply and changes nothing; the
// same key with another body is refused with 422. A key that is empty,
// longer than MaxIdempotencyKeyLen or not printable ASCII is refused with
// 400. Without a key every request is a new one, as before.
//
// The visitor's scope is, in this order, the CSRF cookie (it stays the
// same while a guest's cart is started and a session begins), the session
// cookie, the guest cart cookie. A visitor with none of them that sends a
// key is given a CSRF cookie, which scopes this request and its retries
// (a retry that comes without the cookie is another visitor's request);
// registering and logging in without cookies are scoped by the e-mail
// address instead, so that a retry of either gets the first answer.
//
// A guest's first add starts a cart: the request names no cart, the
// answer sets the cart cookie. A repeat of that request (a double click
// whose second post carries the new cookie) must ask the cart service the
// same question, so the storefront remembers, in CartOriginCookie, which
// request id started the guest's cart, and asks again without the cart
// for a request of that id.
const (
	// IdempotencyHeader is the header that carries a JSON API client's key.
	IdempotencyHeader = "Idempotency-Key"
	// IdempotencyField is the form field that carries an HTML form's key.
	IdempotencyField = "idempotency_key"
	// MaxIdempotencyKeyLen is the longest key accepted, in bytes.
	MaxIdempotencyKeyLen = 255
	// CartOriginCookie holds a digest of the request id that started the
	// guest's cart.
	CartOriginCookie = "shop_cart_origin"
)

// keySpace is the UUID namespace of request ids made from keys.
var keySpace = uuid.MustParse("0b7e5f0e-2f5a-4d53-9a44-6d3c2a9d1f10")

// idempotencyKey returns the request's key ("" without one): the header,
// else, for a form, the form field. A key that is given but malformed
// (empty among them) is invalid.
func idempotencyKey(r *http.Request) (string, error) {
	keys, field := r.Header.Values(IdempotencyHeader), IdempotencyHeader
	if len(keys) == 0 && !isAPI(r) {
		keys, field = r.PostForm[IdempotencyField], IdempotencyField
	}
	switch {
	case len(keys) == 0:
		return "", nil
	case len(keys) > 1:
		return "", shop.Invalid("malformed idempotency key", field, "must be given once")
	}
	key := keys[0]
	if key == "" || len(key) > MaxIdempotencyKeyLen || strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
		return "", shop.Invalid("malformed idempotency key", field, "must be 1-255 printable ASCII characters")
	}
	return key, nil
}

// idempotent reads the request's idempotency key and returns r with the
// request id made from it, scoped to the visitor (see IdempotencyHeader).
// Registering and logging in without a scope are scoped later, by the
// handler (accountContext).
func (s *Storefront) idempotent(w http.ResponseWriter, r *http.Request, v *visitor) (*http.Request, error) {
	key, err := idempotencyKey(r)
	if err != nil || key == "" {
		return r, err
	}
	v.key = key
	scope := v.scope()
	if scope == "" {
		if accountPath(r.URL.Path) {
			return r, nil
		}
		s.renewCSRF(w, r) // the visitor's scope from now on
		scope = v.scope()
	}
	return r.WithContext(v.withKey(r.Context(), scope)), nil
}

// scope returns what identifies the visitor to whom an idempotency key
// belongs; "" for a visitor without cookies.
func (v *visitor) scope() string {
	switch {
	case v.csrf != "":
		return "visitor\x00" + v.csrf
	case v.cookie != "":
		return "session\x00" + v.cookie
	case v.guestID != "":
		return "cart\x00" + v.guestID
	}
	return ""
}

// withKey returns ctx carrying the request id of the visitor's key in scope.
func (v *visitor) withKey(ctx context.Context, scope string) context.Context {
	v.keyed = true
	return transport.WithRequestID(ctx, uuid.NewSHA1(keySpace, []byte(scope+"\x00"+v.key)).String())
}

// accountPath reports whether path registers or logs in: there a key
// without a visitor's scope is scoped by the e-mail address.
func accountPath(path string) bool {
	return path == "/api/register" || path == "/api/login"
}

// accountContext returns r's context for registering or logging in as
// email: with the request id of the visitor's key scoped by the address
// when the visitor had no scope of its own. (The replies give nothing
// away: a repeated login is answered only with the right password.)
func accountContext(r *http.Request, email string) context.Context {
	v := visitorOf(r)
	if v.key == "" || v.keyed {
		return r.Context()
	}
	return v.withKey(r.Context(), "account\x00"+strings.ToLower(strings.TrimSpace(email)))
}

// anotherCall returns ctx with a request id of its own for another call
// that a request makes (logging in after registering, merging the guest
// cart, a guest's add that starts a new cart after the old one expired),
// derived from the request's id, so that a repeat of the request repeats
// each call with the same id.
func anotherCall(ctx context.Context, what string) context.Context {
	id := transport.RequestID(ctx)
	if id == "" {
		return ctx
	}
	return transport.WithRequestID(ctx, transport.DeriveRequestID(id, what, nil))
}

// newGuestCart names the call that starts a guest cart anew (anotherCall).
const newGuestCart = "new guest cart"

// cartOrigin is the CartOriginCookie value for the request id that
// started a guest cart.
func cartOrigin(requestID string) string {
	sum := sha256.Sum256([]byte("cart origin\x00" + requestID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// reusedKey reports whether err says a request id (an idempotency key)
// was used before for another request.
func reusedKey(err error) bool {
	e := transport.AsError(err)
	return e != nil && e.Code == transport.CodeInvalid && e.Field("request_id") != ""
}

// errSessionUnknown is the answer to a request that needs the visitor's
// session when the auth service could not check it: never treated as
// "not logged in". Nothing was changed.
var errSessionUnknown = &transport.Error{Code: transport.CodeUnavailable, Message: "cannot check your session right now"}

// sessionUnknown reports whether err is errSessionUnknown.
func sessionUnknown(err error) bool {
	var e *transport.Error
	return errors.As(err, &e) && e == errSessionUnknown
}

// newFormKey returns a fresh idempotency key for a form.
func newFormKey() string { return uuid.NewString() }
