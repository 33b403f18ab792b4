package storefront

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// RetryAfter is the Retry-After (in seconds) of a 503 answer.
const RetryAfter = 5

// StatusOf returns the HTTP status of err, for pages and the API alike:
// the one place where the services' error codes become HTTP statuses.
//
//	invalid                          400 (413 for a body over MaxBodyBytes,
//	                                 422 for an idempotency key reused with another request)
//	unauthenticated                  401
//	forbidden                        403
//	not_found                        404
//	conflict                         409
//	a *RateLimitError                429 (code rate_limited, with Retry-After)
//	unavailable, deadline_exceeded   503 (the service did not answer in time)
//	internal and anything else       500
func StatusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	var limited *RateLimitError
	if errors.As(err, &limited) {
		return http.StatusTooManyRequests
	}
	switch transport.CodeOf(err) {
	case transport.CodeInvalid:
		if reusedKey(err) {
			return http.StatusUnprocessableEntity
		}
		return http.StatusBadRequest
	case transport.CodeUnauthenticated:
		return http.StatusUnauthorized
	case transport.CodeForbidden:
		return http.StatusForbidden
	case transport.CodeNotFound:
		return http.StatusNotFound
	case transport.CodeConflict:
		return http.StatusConflict
	case transport.CodeUnavailable, transport.CodeDeadlineExceeded:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// publicError is what a client is told about err, the answer to r (nil
// for a read): the service's own error for the 4xx codes (their messages
// and field errors are written for callers), and a fixed message for
// failures inside the shop, whose details stay in the logs.
func publicError(r *http.Request, err error) *transport.Error {
	status := StatusOf(err)
	e := transport.AsError(err)
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return &transport.Error{Code: transport.CodeInvalid, Message: "request too large",
			Fields: []transport.FieldError{{Field: "body", Message: "must be at most " + strconv.Itoa(MaxBodyBytes) + " bytes"}}}
	case status == http.StatusUnprocessableEntity:
		return &transport.Error{Code: transport.CodeInvalid, Message: "idempotency key reused",
			Fields: []transport.FieldError{{Field: IdempotencyHeader, Message: "was used before for a different request"}}}
	case status == http.StatusTooManyRequests:
		return &transport.Error{Code: CodeRateLimited, Message: err.Error()}
	case status == http.StatusServiceUnavailable:
		return &transport.Error{Code: e.Code, Message: unavailableMessage(r, err)}
	case status >= 500:
		return &transport.Error{Code: transport.CodeInternal, Message: "internal error"}
	}
	return &transport.Error{Code: e.Code, Message: e.Message, Fields: e.Fields}
}

// readOnly reports whether r (nil for none) changes nothing: a safe
// method, or a filter query sent as a body.
func readOnly(r *http.Request) bool {
	return r == nil || safeMethod(r.Method) || r.URL.Path == "/api/filter"
}

// unavailableMessage is what an API client is told about a 503 answer to
// r: whether something may have been changed, and whether repeating the
// request is safe. A change whose service went silent may have been made:
// only a repeat with the same Idempotency-Key is safe then.
func unavailableMessage(r *http.Request, err error) string {
	switch {
	case sessionUnknown(err) && readOnly(r):
		return "cannot check your session right now; try again in a moment"
	case sessionUnknown(err):
		return "cannot check your session right now; nothing was changed: try again in a moment"
	case readOnly(r):
		return "service unavailable; try again in a moment"
	case visitorOf(r).keyed:
		return "service unavailable; the outcome is unknown: repeat the request with the same Idempotency-Key, which applies it at most once"
	}
	return "service unavailable; the outcome is unknown: the change may have been made, so check before repeating it (a request with an Idempotency-Key can be repeated safely)"
}

// formError turns a failure to read a form into an error with a status:
// 413 for a body over MaxBodyBytes, 400 otherwise.
func formError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &transport.Error{Code: transport.CodeInvalid, Message: "request too large", Cause: tooBig}
	}
	return shop.Invalid("malformed form", "body", "must be a form")
}

// message is what a shopper is told about err, the answer to r, on a page.
func message(r *http.Request, err error) string {
	switch StatusOf(err) {
	case http.StatusRequestEntityTooLarge:
		return "That was more than the shop accepts in one go."
	case http.StatusNotFound:
		return "We could not find that page."
	case http.StatusTooManyRequests:
		var limited *RateLimitError
		errors.As(err, &limited)
		return fmt.Sprintf("Too many attempts. Please try again in %d seconds.", retrySeconds(limited.RetryAfter))
	case http.StatusServiceUnavailable:
		switch {
		case sessionUnknown(err) && readOnly(r):
			return "We cannot check your login right now: this page is temporarily unavailable. Please try again in a moment."
		case sessionUnknown(err):
			return "We cannot check your login right now, so nothing was changed. Please try again in a moment."
		case readOnly(r):
			return "This part of the shop is not available right now. Please try again in a moment."
		}
		return "The shop did not answer in time, so we cannot tell whether your change was made. Please check in a moment before trying again."
	case http.StatusInternalServerError:
		return "Something went wrong on our side."
	}
	e := publicError(r, err)
	msg := e.Message
	for _, f := range e.Fields {
		msg += "; " + f.Field + ": " + f.Message
	}
	return msg
}

// fail renders the error page for err (a friendly 503 page when a service
// the page needs did not answer).
func (s *Storefront) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "storefront: page failed", "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	title := http.StatusText(status)
	if status == http.StatusServiceUnavailable {
		title = "We'll be right back"
	}
	s.render(w, r, status, "error", meta{Title: title, Robots: "noindex"}, "", errorView{Status: status, Title: title, Message: message(r, err), Trace: s.traceOf(r)})
}

type errorView struct {
	Status  int
	Title   string
	Message string
	// Trace is the request's trace: a reference to quote to the shop,
	// and the operator's link to it (Options.TraceURL).
	Trace traceRef
}

// APIError is the body of every failed API call.
type APIError struct {
	Error *transport.Error `json:"error"`
}

// writeAPIError answers r (nil for none) with err's status and public
// error.
func writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	body, _ := json.Marshal(APIError{Error: publicError(r, err)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Cookie realm="shop"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	setRetryAfter(h, err)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// setRetryAfter sets the Retry-After of a refused attempt (err a
// *RateLimitError).
func setRetryAfter(h http.Header, err error) {
	var limited *RateLimitError
	if errors.As(err, &limited) {
		h.Set("Retry-After", strconv.Itoa(retrySeconds(limited.RetryAfter)))
	}
}

func (s *Storefront) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	if StatusOf(err) >= 500 {
		s.log.ErrorContext(r.Context(), "storefront: API call failed", "path", r.URL.Path, "err", err)
	}
	writeAPIError(w, r, err)
}
