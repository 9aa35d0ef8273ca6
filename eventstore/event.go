package eventstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Position is an event's place in the global log. Positions are assigned by
// the store at commit, are strictly increasing in commit order, and start at
// 1; the zero Position means "before the first event". The embedded store
// assigns gapless positions (1, 2, 3, ...).
type Position uint64

// Start is the position of the first event of any log. Reading or
// subscribing from Start delivers the whole log.
const Start Position = 1

// Hash is a SHA-256 digest, printed and parsed as 64 lowercase hex digits.
type Hash [sha256.Size]byte

// String returns the digest as lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeroes (no hash).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes h as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(len(h)))
	hex.Encode(b, h[:])
	return b, nil
}

// UnmarshalText decodes 64 hex digits into h.
func (h *Hash) UnmarshalText(b []byte) error {
	parsed, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = parsed
	return nil
}

// ParseHash decodes a digest written as 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("%w: hash must be %d hex digits, got %d characters", ErrInvalid, hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: hash is not hex: %v", ErrInvalid, err)
	}
	return h, nil
}

// Actor is the authenticated principal behind an event: who did it, in
// which role, and within which scope (a unit code or an appraising agency
// code; empty for roles without a scope).
type Actor struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	Scope string `json:"scope,omitempty"`
}

// EventData is an event as a writer proposes it: everything the caller
// decides. The store adds the stream revision, global position and recorded
// time. The content hash covers exactly these fields plus the stream name
// (see Canonical).
type EventData struct {
	// ID identifies the event forever. Writers derive it from an
	// idempotency key when they have one (see DeterministicID), so that a
	// retried append is recognised and not written twice. It must not be
	// the nil UUID.
	ID uuid.UUID
	// Type names the event kind, e.g. "SelfScoreRecorded".
	Type string
	// SchemaVersion is the version of the payload's schema for Type,
	// starting at 1.
	SchemaVersion uint32
	// Actor is who caused the event.
	Actor Actor
	// Reason is the free-text why, in the actor's words (may be empty).
	Reason string
	// CorrelationID ties together every event caused by one request or
	// process; CausationID names the command or event that caused this one.
	CorrelationID string
	CausationID   string
	// Payload is the event body: a JSON value. The store keeps it in
	// compact form (insignificant whitespace removed, nothing else changed).
	Payload []byte
	// Metadata holds extra string pairs (client, request id, ...). Keys are
	// unique by construction; they are hashed in byte order.
	Metadata map[string]string
}

// Event is an event as recorded in the ledger.
type Event struct {
	EventData
	// Stream is the name of the stream the event belongs to.
	Stream string
	// Revision is the event's number within its stream, from 0, gapless.
	Revision uint64
	// Position is the event's place in the global log.
	Position Position
	// RecordedAt is when the store committed the event (UTC). The embedded
	// store never lets it go backwards along the log.
	RecordedAt time.Time
	// ContentHash is SHA-256 over Canonical(Stream, EventData).
	ContentHash Hash
}

// ComputeHash recomputes the content hash of e from its fields.
func (e *Event) ComputeHash() Hash {
	return sha256.Sum256(Canonical(e.Stream, &e.EventData))
}

// VerifyHash reports ErrHashMismatch, naming the event, when e's content
// no longer matches its recorded hash.
func (e *Event) VerifyHash() error {
	if got := e.ComputeHash(); got != e.ContentHash {
		return fmt.Errorf("%w: event %s (stream %q revision %d, position %d): recorded %s, content hashes to %s",
			ErrHashMismatch, e.ID, e.Stream, e.Revision, e.Position, e.ContentHash, got)
	}
	return nil
}

// NewID returns a new event id for an event that has no idempotency key: a
// time-ordered UUID (version 7: milliseconds since 1970, a sub-millisecond
// sequence that keeps the ids of one process increasing, then 62 random
// bits). Stores index events by id; ids that increase land at the end of
// such an index instead of on pages all over it, which keeps the cost of
// adding one independent of the ledger's size.
func NewID() uuid.UUID {
	// NewV7 fails only if crypto/rand does, and crypto/rand does not
	// return errors (it stops the program when the system has no entropy).
	return uuid.Must(uuid.NewV7())
}

// idNamespace is the UUID namespace of parledger's deterministic event ids.
// It is fixed forever: changing it would change every derived id.
var idNamespace = uuid.MustParse("6f1d3a52-7b0e-5c59-9a8e-2d4c0f3b8e11")

// DeterministicID derives an event id from a key (for example an
// idempotency key with the index of the event within its command), as a
// name-based UUID (version 5). The same key always gives the same id.
func DeterministicID(key string) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte(key))
}
