package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. The HTTP layer maps each to one status in one table.
const (
	EINVALID      = "invalid"      // the request is wrong; nothing was written
	ENOTFOUND     = "not_found"    // no such framework, campaign, unit, item, ...
	ECONFLICT     = "conflict"     // the state changed or forbids the command
	EPRECONDITION = "precondition" // If-Match named a revision that is not current
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, outside role or scope
	EUNAVAILABLE  = "unavailable"  // storage cannot take the request now
	EINTERNAL     = "internal"     // a bug or an unexpected failure
	ETOOLARGE     = "too_large"    // a body, file or batch over its limit
	EDEADLINE     = "deadline_passed"
)

// Error is parledger's application error: a code from the list above, a
// human message safe to show to the caller, and optional per-field
// details. Any error that is not an *Error is internal.
type Error struct {
	Code    string
	Message string
	// Fields maps a field path (e.g. "scores[2].points") to what is wrong
	// with it.
	Fields []FieldError
}

// FieldError says what is wrong with one field of a request or one line of
// a file.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error returns the message, followed by the field details.
func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	var b strings.Builder
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		b.WriteString("; ")
		if f.Field != "" {
			b.WriteString(f.Field)
			b.WriteString(": ")
		}
		b.WriteString(f.Detail)
	}
	return b.String()
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error listing every field problem at once.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// EINTERNAL otherwise; nil has no code.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of err if it is an *Error, and a
// generic message otherwise, so internal details never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error."
	}
}
