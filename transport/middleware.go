package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Middleware wraps a Handler, as net/http middleware wraps an http.Handler.
type Middleware func(Handler) Handler

// Chain applies middleware to h; the first one listed is the outermost.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Recover turns a panic in the handler into a CodeInternal error and logs
// the panic with its stack. (The buses recover panics themselves too; this
// middleware lets the panic be logged where the handler is composed.)
func Recover(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, req *Request) (out []byte, err error) {
			defer func() {
				if p := recover(); p != nil {
					logger.Error("handler panicked", "method", req.Method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					out, err = nil, &Error{Code: CodeInternal, Message: "handler panicked"}
				}
			}()
			return next.ServeBus(ctx, req)
		})
	}
}

// Logging logs every request at debug level and every failure at warn
// (client errors) or error (internal and unavailable) level. Bodies are
// never logged: they may hold secrets.
func Logging(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, req *Request) ([]byte, error) {
			start := time.Now()
			out, err := next.ServeBus(ctx, req)
			elapsed := time.Since(start)
			switch code := CodeOf(err); code {
			case "":
				logger.DebugContext(ctx, "request", "method", req.Method, "id", req.ID, "elapsed", elapsed)
			case CodeInternal, CodeUnavailable:
				logger.ErrorContext(ctx, "request failed", "method", req.Method, "id", req.ID, "code", code, "err", err, "elapsed", elapsed)
			default:
				logger.WarnContext(ctx, "request rejected", "method", req.Method, "id", req.ID, "code", code, "err", err, "elapsed", elapsed)
			}
			return out, err
		})
	}
}

// Timeout bounds each handler run to d (or less, when the caller's deadline
// is sooner). A handler that ignores its context still runs to the end, but
// its caller gets CodeDeadlineExceeded at d.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, req *Request) ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			type result struct {
				out      []byte
				err      error
				panicked any
			}
			done := make(chan result, 1)
			go func() {
				defer func() {
					if p := recover(); p != nil {
						done <- result{panicked: fmt.Sprintf("%v\n%s", p, debug.Stack())}
					}
				}()
				out, err := next.ServeBus(ctx, req)
				done <- result{out: out, err: err}
			}()
			select {
			case r := <-done:
				if r.panicked != nil {
					panic(r.panicked) // on the caller's goroutine, where Recover can see it
				}
				return r.out, r.err
			case <-ctx.Done():
				return nil, &Error{Code: CodeDeadlineExceeded, Message: "handler timed out", Cause: ctx.Err()}
			}
		})
	}
}

// Metrics records every request in stats (see Stats). Requests for a
// method the handler does not know (ErrUnknownMethod), or whose name is
// not a well-formed method name, are recorded under UnknownMethod: what
// callers send cannot add series without bound.
func Metrics(stats *Stats) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, req *Request) ([]byte, error) {
			start := time.Now()
			out, err := next.ServeBus(ctx, req)
			method := req.Method
			if errors.Is(err, ErrUnknownMethod) || !WellFormedMethod(method) {
				method = UnknownMethod
			}
			stats.Record(method, time.Since(start), err)
			return out, err
		})
	}
}

// UnknownMethod is the statistics series of requests for methods nobody
// serves.
const UnknownMethod = "unknown"

// WellFormedMethod reports whether m looks like "service.method": at most
// 128 bytes of a-z, 0-9, '.', '_' and '-'. Whatever a caller sends that is
// not is recorded (in statistics, in trace spans) as UnknownMethod.
func WellFormedMethod(m string) bool {
	if m == "" || len(m) > 128 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
