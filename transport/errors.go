package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Code is a stable, wire-level error class. Codes are part of the public
// contract: clients in any language compare them as strings.
type Code string

// The error codes every service and transport uses.
const (
	CodeInvalid          Code = "invalid"
	CodeNotFound         Code = "not_found"
	CodeConflict         Code = "conflict"
	CodeUnauthenticated  Code = "unauthenticated"
	CodeForbidden        Code = "forbidden"
	CodeUnavailable      Code = "unavailable"
	CodeDeadlineExceeded Code = "deadline_exceeded"
	CodeInternal         Code = "internal"
)

// Sentinel errors, one per code. errors.Is(err, ErrNotFound) is true for any
// *Error whose Code is CodeNotFound, wherever it was created.
var (
	ErrInvalid          = &Error{Code: CodeInvalid}
	ErrNotFound         = &Error{Code: CodeNotFound}
	ErrConflict         = &Error{Code: CodeConflict}
	ErrUnauthenticated  = &Error{Code: CodeUnauthenticated}
	ErrForbidden        = &Error{Code: CodeForbidden}
	ErrUnavailable      = &Error{Code: CodeUnavailable}
	ErrDeadlineExceeded = &Error{Code: CodeDeadlineExceeded}
	ErrInternal         = &Error{Code: CodeInternal}
)

// FieldError says what is wrong with one field of an invalid request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the error type that crosses the bus. Handlers return it (or any
// error, which becomes CodeInternal) and callers get it back unchanged.
type Error struct {
	Code    Code         `json:"code"`
	Message string       `json:"message,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
	// Cause is the local error behind this one, if any. It never crosses the
	// wire; it lets errors.Is(err, context.DeadlineExceeded) work for callers.
	Cause error `json:"-"`
}

// Unwrap returns the local cause, if any.
func (e *Error) Unwrap() error { return e.Cause }

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
		if i == len(e.Fields)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrNotFound) works on errors that crossed the wire.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Field returns the message for the named field, or "" if the field is fine.
func (e *Error) Field(name string) string {
	for _, f := range e.Fields {
		if f.Field == name {
			return f.Message
		}
	}
	return ""
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a CodeInvalid error listing what is wrong with each field.
// fieldAndMessage alternates field names and messages.
func Invalid(message string, fieldAndMessage ...string) *Error {
	e := &Error{Code: CodeInvalid, Message: message}
	for i := 0; i+1 < len(fieldAndMessage); i += 2 {
		e.Fields = append(e.Fields, FieldError{Field: fieldAndMessage[i], Message: fieldAndMessage[i+1]})
	}
	return e
}

// CodeOf returns the code of err: the code of an *Error in its chain,
// CodeDeadlineExceeded or CodeUnavailable for the context errors, "" for nil,
// and CodeInternal for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return CodeUnavailable
	}
	return CodeInternal
}

// AsError converts any error into an *Error for the wire. Errors that are not
// an *Error keep no message: internal details are not leaked to callers.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch CodeOf(err) {
	case CodeDeadlineExceeded:
		return &Error{Code: CodeDeadlineExceeded, Message: "deadline exceeded"}
	case CodeUnavailable:
		return &Error{Code: CodeUnavailable, Message: "request canceled"}
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// ContextError maps a finished (or expired) context to the bus error a
// caller sees.
func ContextError(ctx context.Context) *Error {
	// A context whose deadline has passed may not report it yet: only an
	// explicit cancellation counts as one.
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Code: CodeUnavailable, Message: "call canceled", Cause: context.Canceled}
	}
	return &Error{Code: CodeDeadlineExceeded, Message: "deadline exceeded", Cause: context.DeadlineExceeded}
}
