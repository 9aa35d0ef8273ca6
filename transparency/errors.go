package transparency

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// Error families. Every failure of a check matches ErrVerify with
// errors.Is, and the message says exactly what did not match; the
// specific errors below narrow it down.
var (
	// ErrVerify: something an auditor checks did not hold: a signature,
	// a proof, a root, an event. The data is wrong, not the request.
	ErrVerify = errors.New("verification failed")
	// ErrBadCheckpoint: a checkpoint is malformed or not signed by the
	// expected key.
	ErrBadCheckpoint = fmt.Errorf("%w: bad checkpoint", ErrVerify)
	// ErrBadProof: a proof is malformed, or does not prove what it claims.
	ErrBadProof = fmt.Errorf("%w: bad proof", ErrVerify)
	// ErrInconsistent: two checkpoints cannot both be honest views of one
	// append-only log: history was rewritten between them, or the log
	// shows different histories to different people (a split view).
	ErrInconsistent = fmt.Errorf("%w: checkpoints are inconsistent", ErrVerify)
	// ErrRolledBack: a checkpoint is smaller than one seen before. It may
	// be stale (check it against the larger one with a consistency proof
	// the other way round) or the log was cut back.
	ErrRolledBack = fmt.Errorf("%w: checkpoint older than one already seen", ErrVerify)
	// ErrRootMismatch: events hash to another tree than the checkpoint
	// signs.
	ErrRootMismatch = fmt.Errorf("%w: root mismatch", ErrVerify)
	// ErrLedgerChanged: the store now holds another history than the
	// one the Merkle log recorded as events landed: an event was edited,
	// deleted, inserted or moved behind the store's back. It also
	// matches eventstore.ErrCorrupt.
	ErrLedgerChanged = fmt.Errorf("%w: %w: the ledger differs from its Merkle log", ErrVerify, eventstore.ErrCorrupt)
)

// EventError names the event at which a check failed: its leaf index
// (0-based place in the log), position, id, stream and revision, and the
// NDJSON line when it comes from an export. Read it with errors.As; Err
// says what is wrong and matches the families above.
type EventError struct {
	Index    uint64
	Position eventstore.Position
	ID       uuid.UUID
	Stream   string
	Revision uint64
	// Line is the event's line in an NDJSON export (0: not from one).
	Line int
	Err  error
}

func eventError(index uint64, line int, e *eventstore.Event, err error) *EventError {
	return &EventError{Index: index, Position: e.Position, ID: e.ID, Stream: e.Stream, Revision: e.Revision, Line: line, Err: err}
}

// Error reads "line 12, leaf 11 (position 12), event 6b1f… (stream "x"
// revision 3): what went wrong".
func (e *EventError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, ", e.Line)
	}
	fmt.Fprintf(&b, "leaf %d (position %d), event %s (stream %q revision %d): %v", e.Index, e.Position, e.ID, e.Stream, e.Revision, e.Err)
	return b.String()
}

// Unwrap returns what went wrong.
func (e *EventError) Unwrap() error { return e.Err }
