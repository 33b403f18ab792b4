package transport

import (
	"context"
	"strings"
)

type headerKey struct{}

// WithHeader returns a context whose calls carry the header key=value to
// the handler, which reads it with HeaderFrom or Request.Header. Keys are
// lower-cased; keys starting with "x-shop-" and the trace context keys
// ("traceparent", "tracestate") are reserved for the bus and ignored here.
// A handler's context carries the caller's headers, so they follow nested
// calls (an auth token, for instance).
func WithHeader(ctx context.Context, key, value string) context.Context {
	key = strings.ToLower(key)
	if ReservedHeader(key) {
		return ctx
	}
	old, _ := ctx.Value(headerKey{}).(map[string]string)
	h := make(map[string]string, len(old)+1)
	for k, v := range old {
		h[k] = v
	}
	h[key] = value
	return context.WithValue(ctx, headerKey{}, h)
}

// WithHeaders returns a context carrying all of h as WithHeader carries
// one: added to the headers ctx carries already, keys in lower case,
// reserved keys dropped; h itself is copied, not kept.
func WithHeaders(ctx context.Context, h map[string]string) context.Context {
	if len(h) == 0 {
		return ctx
	}
	old, _ := ctx.Value(headerKey{}).(map[string]string)
	out := make(map[string]string, len(old)+len(h))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range h {
		if k = strings.ToLower(k); !ReservedHeader(k) {
			out[k] = v
		}
	}
	return context.WithValue(ctx, headerKey{}, out)
}

// HeaderFrom returns the header key carried by ctx, or "".
func HeaderFrom(ctx context.Context, key string) string {
	h, _ := ctx.Value(headerKey{}).(map[string]string)
	return h[strings.ToLower(key)]
}

// HeadersFrom returns every header carried by ctx. The map must not be changed.
func HeadersFrom(ctx context.Context) map[string]string {
	h, _ := ctx.Value(headerKey{}).(map[string]string)
	return h
}

// ReservedHeader reports whether key belongs to the bus itself.
func ReservedHeader(key string) bool {
	return strings.HasPrefix(key, "x-shop-") || key == "traceparent" || key == "tracestate"
}
