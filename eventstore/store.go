package eventstore

import (
	"context"
	"fmt"
	"iter"
)

// ExpectedRevision is the state a writer expects a stream to be in when it
// appends: Any, NoStream, StreamExists or Exact(n).
type ExpectedRevision struct {
	kind expectKind
	rev  uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

var (
	// Any appends whatever the stream's state.
	Any = ExpectedRevision{kind: expectAny}
	// NoStream appends only if the stream has no events yet.
	NoStream = ExpectedRevision{kind: expectNoStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = ExpectedRevision{kind: expectExists}
)

// Exact appends only if the stream's last event has revision n.
func Exact(n uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, rev: n} }

// IsAny reports whether e is Any.
func (e ExpectedRevision) IsAny() bool { return e.kind == expectAny }

// IsNoStream reports whether e is NoStream.
func (e ExpectedRevision) IsNoStream() bool { return e.kind == expectNoStream }

// IsStreamExists reports whether e is StreamExists.
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectExists }

// Revision returns n and true when e is Exact(n).
func (e ExpectedRevision) Revision() (uint64, bool) { return e.rev, e.kind == expectExact }

// Matches reports whether a stream whose last revision is current (exists
// false: no events) satisfies e.
func (e ExpectedRevision) Matches(current uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectExists:
		return exists
	case expectExact:
		return exists && current == e.rev
	default:
		return true
	}
}

// String prints e for error messages: "any", "no stream", "stream exists",
// "revision 7".
func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("revision %d", e.rev)
	default:
		return "any"
	}
}

// Direction is the order of a read.
type Direction uint8

const (
	// Forwards reads from older to newer events.
	Forwards Direction = iota
	// Backwards reads from newer to older events.
	Backwards
)

// ReadStreamOptions selects part of a stream.
type ReadStreamOptions struct {
	// Direction of the read. Forwards starts at From; Backwards starts at
	// From, or at the last event when FromEnd is set.
	Direction Direction
	// From is the first revision returned.
	From uint64
	// FromEnd makes a backwards read start at the stream's last event.
	FromEnd bool
	// Limit caps the number of events returned; 0 means no limit.
	Limit uint64
}

// ReadAllOptions selects part of the global log.
type ReadAllOptions struct {
	// Direction of the read.
	Direction Direction
	// From is the first position returned (Start, or 0, for the beginning
	// when reading forwards). A backwards read starts at From, or at the
	// last event when FromEnd is set.
	From Position
	// FromEnd makes a backwards read start at the last event.
	FromEnd bool
	// Limit caps the number of events returned; 0 means no limit.
	Limit uint64
}

// AppendResult describes a successful append.
type AppendResult struct {
	// Events are the appended events as recorded, in order. For an
	// idempotent retry they are the events recorded by the original append.
	Events []Event
	// Duplicate is true when the append was recognised as a retry and
	// nothing new was written.
	Duplicate bool
}

// LastRevision returns the stream revision of the last appended event.
func (r AppendResult) LastRevision() uint64 { return r.Events[len(r.Events)-1].Revision }

// LastPosition returns the global position of the last appended event.
func (r AppendResult) LastPosition() Position { return r.Events[len(r.Events)-1].Position }

// Message is what a subscription delivers: an event, or the signal that the
// subscriber has caught up with the log (CaughtUp true, Event zero).
type Message struct {
	Event    Event
	CaughtUp bool
}

// Store is the ledger's storage contract. Every implementation passes the
// compliance suite in eventstore/storetest.
type Store interface {
	// Append writes events to the end of stream, atomically, if the stream
	// is in the expected state; otherwise it returns a *ConflictError and
	// writes nothing. It returns once the events are durable. Appending
	// events whose ids are already recorded, with the same content and
	// where the original append put them, returns the original result with
	// Duplicate set; reusing an id for other content is ErrDuplicateEventID.
	// If ctx ends while an append is in flight, the events may or may not
	// have been written: retry with the same ids to find out.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream returns the events of one stream. A stream without
	// events yields a single ErrStreamNotFound error. Any other error ends
	// the iteration with that error: a failed read never looks like the
	// end of the stream.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) iter.Seq2[Event, error]

	// ReadAll returns events of the global log in commit order (or its
	// reverse), with the same error rules as ReadStream.
	ReadAll(ctx context.Context, opts ReadAllOptions) iter.Seq2[Event, error]

	// Subscribe delivers the global log from position from (0 or Start for
	// the beginning): first the events already recorded, then one message
	// with CaughtUp set, then new events as they are committed, until ctx
	// ends or the consumer stops iterating (no error then). A subscription
	// that ends for any other reason yields an error (ErrDropped,
	// ErrClosed, ...); resume it with Subscribe from the position after the
	// last event received, and no event is skipped or repeated.
	Subscribe(ctx context.Context, from Position) iter.Seq2[Message, error]

	// Head returns the position of the last event in the log (0 when the
	// log is empty).
	Head(ctx context.Context) (Position, error)

	// Import writes already-recorded events (from another store's export)
	// at the end of the log, in order, keeping their ids, streams,
	// revisions, recorded times and content hashes; the store assigns new
	// positions. Every event's hash must verify and its revision must be
	// the next of its stream; otherwise nothing of the batch is written.
	// Import is for moving a ledger; Import (the function) checks that the
	// destination continues the source.
	Import(ctx context.Context, events []Event) error

	// Close releases the store. Running subscriptions end with ErrClosed;
	// appends in flight finish or fail first.
	Close() error
}
