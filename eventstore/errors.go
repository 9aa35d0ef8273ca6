package eventstore

import (
	"errors"
	"fmt"
)

// Error families. Every error a store returns for one of these reasons
// matches the family with errors.Is; the message says what exactly went
// wrong. Families are built by wrapping, so a specific error such as
// ErrPayloadTooLarge also matches ErrInvalid.
var (
	// ErrInvalid: the request itself is wrong (empty append, bad stream
	// name, oversize payload, ...). Nothing was written.
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the stream is not at the expected revision, or an event
	// id is already used by different content. Nothing was written.
	ErrConflict = errors.New("conflict")
	// ErrStreamNotFound: the stream has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrCorrupt: the stored data is damaged or was changed outside the
	// store. The store refuses to return damaged data as if it were good.
	ErrCorrupt = errors.New("ledger corrupt")
	// ErrInUse: another process holds the data directory.
	ErrInUse = errors.New("ledger in use")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrDropped: a subscription ended before its reader stopped it; resume
	// from the position after the last event received.
	ErrDropped = errors.New("subscription dropped")
	// ErrUnavailable: the store could not complete the operation now (disk
	// full, I/O error, server unreachable). A write that failed this way
	// was not acknowledged; retry it with the same event ids.
	ErrUnavailable = errors.New("store unavailable")
)

// Specific errors within the families.
var (
	ErrEmptyAppend        = fmt.Errorf("%w: append has no events", ErrInvalid)
	ErrPayloadTooLarge    = fmt.Errorf("%w: payload too large", ErrInvalid)
	ErrBatchTooLarge      = fmt.Errorf("%w: append batch too large", ErrInvalid)
	ErrInvalidStream      = fmt.Errorf("%w: invalid stream name", ErrInvalid)
	ErrInvalidEvent       = fmt.Errorf("%w: invalid event", ErrInvalid)
	ErrDuplicateEventID   = fmt.Errorf("%w: event id already recorded with other content", ErrConflict)
	ErrHashMismatch       = fmt.Errorf("%w: content hash mismatch", ErrCorrupt)
	ErrImportMismatch     = fmt.Errorf("%w: import does not continue this ledger", ErrConflict)
	ErrPositionOutOfRange = fmt.Errorf("%w: position out of range", ErrInvalid)
)

// ConflictError reports an append whose expected revision did not match the
// stream. It matches ErrConflict with errors.Is; read its fields with
// errors.As.
type ConflictError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's current revision; ActualExists is false when
	// the stream has no events.
	Actual       uint64
	ActualExists bool
}

// Error says which stream, what was expected and what was found.
func (e *ConflictError) Error() string {
	actual := "no stream"
	if e.ActualExists {
		actual = fmt.Sprintf("revision %d", e.Actual)
	}
	return fmt.Sprintf("conflict: stream %q expected %s, found %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrConflict) true for a *ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
