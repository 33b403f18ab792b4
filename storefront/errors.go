package storefront

import (
	"encoding/json"
	"errors"
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

// publicError is what a client is told about err: the service's own
// error for the 4xx codes (their messages and field errors are written
// for callers), and a fixed message for failures inside the shop, whose
// details stay in the logs.
func publicError(err error) *transport.Error {
	status := StatusOf(err)
	e := transport.AsError(err)
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return &transport.Error{Code: transport.CodeInvalid, Message: "request too large",
			Fields: []transport.FieldError{{Field: "body", Message: "must be at most " + strconv.Itoa(MaxBodyBytes) + " bytes"}}}
	case status == http.StatusUnprocessableEntity:
		return &transport.Error{Code: transport.CodeInvalid, Message: "idempotency key reused",
			Fields: []transport.FieldError{{Field: IdempotencyHeader, Message: "was used before for a different request"}}}
	case status == http.StatusServiceUnavailable:
		// A change may have been made before the service went silent:
		// only a repeat with the same idempotency key is safe.
		return &transport.Error{Code: e.Code, Message: "service unavailable; try again in a moment (a change may already have been made: repeat it with the same Idempotency-Key)"}
	case status >= 500:
		return &transport.Error{Code: transport.CodeInternal, Message: "internal error"}
	}
	return &transport.Error{Code: e.Code, Message: e.Message, Fields: e.Fields}
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

// message is what a shopper is told about err on a page.
func message(err error) string {
	switch StatusOf(err) {
	case http.StatusRequestEntityTooLarge:
		return "That was more than the shop accepts in one go."
	case http.StatusNotFound:
		return "We could not find that page."
	case http.StatusServiceUnavailable:
		return "This part of the shop is not available right now. Please try again in a moment."
	case http.StatusInternalServerError:
		return "Something went wrong on our side."
	}
	e := publicError(err)
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
	s.render(w, r, status, "error", meta{Title: title, Robots: "noindex"}, "", errorView{Status: status, Title: title, Message: message(err)})
}

type errorView struct {
	Status  int
	Title   string
	Message string
}

// APIError is the body of every failed API call.
type APIError struct {
	Error *transport.Error `json:"error"`
}

// writeAPIError answers with err's status and public error.
func writeAPIError(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	body, _ := json.Marshal(APIError{Error: publicError(err)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Cookie realm="shop"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Storefront) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	if StatusOf(err) >= 500 {
		s.log.ErrorContext(r.Context(), "storefront: API call failed", "path", r.URL.Path, "err", err)
	}
	writeAPIError(w, err)
}
