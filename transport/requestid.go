package transport

import (
	"context"
	"crypto/sha256"

	"github.com/google/uuid"
)

// Request ids make retries safe. Every request carries one (header
// x-shop-request-id; a request without it is known by its correlation id),
// and a service that changes state remembers the requests it has handled
// by that id: a redelivered or retried request with an id it has seen
// returns the first outcome instead of applying again (CONTRACT.md,
// "Idempotency").
//
// The id of a call is chosen like this:
//   - an id set with WithRequestID, as it is;
//   - inside a handler, an id derived from the id of the request being
//     served, the method and the body, so that a redelivered request makes
//     the same nested calls with the same ids;
//   - otherwise a fresh one (Invoke picks it once and keeps it across its
//     retries).

// MaxRequestIDLength is the longest request id a service accepts.
const MaxRequestIDLength = 128

type (
	callIDKey    struct{} // the id the next calls carry (WithRequestID)
	servingIDKey struct{} // the id of the request a handler serves
)

// WithRequestID returns a context whose calls carry id as their request
// id. Use one id for one logical operation: a call made again with the
// same id (a retry) is applied at most once by the service.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// ServingRequestID returns a context for a handler serving the request
// with id: RequestID reports it, and calls made under it derive their own
// ids from it. It is for Bus implementations.
func ServingRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, servingIDKey{}, id)
}

// RequestID returns the id of the request being served under ctx or,
// outside a handler, the id set with WithRequestID; "" when there is none.
// Services key their memory of handled requests by it.
func RequestID(ctx context.Context) string {
	if id, _ := ctx.Value(servingIDKey{}).(string); id != "" {
		return id
	}
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// CallRequestID returns the request id a call of method with body made
// under ctx carries: the one set with WithRequestID, else one derived from
// the request being served, else "". It is for Bus implementations and
// Invoke.
func CallRequestID(ctx context.Context, method string, body []byte) string {
	if id, _ := ctx.Value(callIDKey{}).(string); id != "" {
		return id
	}
	if parent, _ := ctx.Value(servingIDKey{}).(string); parent != "" {
		return DeriveRequestID(parent, method, body)
	}
	return ""
}

// DeriveRequestID returns a request id that depends only on its inputs:
// the same parent, method and body always give the same id.
func DeriveRequestID(parent, method string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(parent))
	h.Write([]byte{0})
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write(body)
	return uuid.NewSHA1(requestIDSpace, h.Sum(nil)).String()
}

// NewRequestID returns a fresh random request id.
func NewRequestID() string { return uuid.NewString() }

// requestIDSpace is the UUID namespace of derived request ids.
var requestIDSpace = uuid.MustParse("6f0b6c1e-2f4c-4d5e-9a51-5b8e1c3d7a20")

// CheckRequestID reports whether id is acceptable as a request id: 1 to
// MaxRequestIDLength printable ASCII characters.
func CheckRequestID(id string) error {
	if id == "" || len(id) > MaxRequestIDLength {
		return Invalid("malformed request id", "request_id", "must be 1-128 printable ASCII characters")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return Invalid("malformed request id", "request_id", "must be 1-128 printable ASCII characters")
		}
	}
	return nil
}
