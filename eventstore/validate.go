package eventstore

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits every store enforces. They are part of the contract: an append
// beyond them fails with an ErrInvalid error and writes nothing.
const (
	// MaxPayloadSize is the largest payload of one event, in bytes, after
	// compaction. Evidence files never travel in payloads (they go to the
	// blob store), so a real event is a few hundred bytes.
	MaxPayloadSize = 1 << 20
	// MaxMetadataSize caps the summed key and value bytes of one event's
	// metadata.
	MaxMetadataSize = 64 << 10
	// MaxBatchEvents caps the number of events of one append.
	MaxBatchEvents = 1000
	// MaxBatchSize caps the summed payload and metadata bytes of one append.
	MaxBatchSize = 4 << 20
	// MaxStreamNameLen and MaxTypeLen cap stream and type names, in bytes.
	MaxStreamNameLen = 200
	MaxTypeLen       = 100
	// MaxFieldLen caps the actor fields and the correlation and causation
	// ids; MaxReasonLen caps the reason.
	MaxFieldLen  = 256
	MaxReasonLen = 16 << 10
)

// ValidateStreamName reports whether name is a legal stream name: 1 to
// MaxStreamNameLen bytes of ASCII letters, digits and "._:-", starting with
// a letter or digit. ("$" is reserved by EventStoreDB for system streams.)
func ValidateStreamName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidStream)
	}
	if len(name) > MaxStreamNameLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidStream, len(name), MaxStreamNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == ':' || c == '-')
		if !ok {
			return fmt.Errorf("%w: %q: byte %d (%q) is not allowed; use letters, digits and . _ : - (not first)", ErrInvalidStream, name, i, c)
		}
	}
	return nil
}

// PrepareAppend checks an append request against the contract and returns
// the events as they will be stored (payloads compacted). The caller's
// slices are not modified. Every store calls it (or PrepareAppendTo)
// before writing.
func PrepareAppend(stream string, events []EventData) ([]EventData, error) {
	return prepareAppend(nil, stream, events, true)
}

// PrepareAppendTo is PrepareAppend for a store that encodes the events
// before it returns: it appends the prepared events to dst, and a payload
// that is already compact is not copied, so the prepared event shares its
// bytes with the caller's. The caller's slices are still not modified.
func PrepareAppendTo(dst []EventData, stream string, events []EventData) ([]EventData, error) {
	return prepareAppend(dst, stream, events, false)
}

func prepareAppend(dst []EventData, stream string, events []EventData, copyPayload bool) ([]EventData, error) {
	if err := ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, ErrEmptyAppend
	}
	if len(events) > MaxBatchEvents {
		return nil, fmt.Errorf("%w: %d events, at most %d", ErrBatchTooLarge, len(events), MaxBatchEvents)
	}
	dst = slices.Grow(dst, len(events))
	out := dst[len(dst) : len(dst)+len(events)]
	total := 0
	// Small appends (nearly all) look for repeated ids without a map.
	var seen map[uuid.UUID]int
	if len(events) > 16 {
		seen = make(map[uuid.UUID]int, len(events))
	}
	for i := range events {
		d, err := prepareEvent(&events[i], copyPayload)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		j, dup := seen[d.ID]
		for k := 0; seen == nil && k < i && !dup; k++ {
			j, dup = k, out[k].ID == d.ID
		}
		if dup {
			return nil, fmt.Errorf("%w: event %d repeats the id %s of event %d", ErrInvalidEvent, i, d.ID, j)
		}
		if seen != nil {
			seen[d.ID] = i
		}
		total += len(d.Payload) + metadataSize(d.Metadata)
		if total > MaxBatchSize {
			return nil, fmt.Errorf("%w: more than %d bytes of payload and metadata", ErrBatchTooLarge, MaxBatchSize)
		}
		out[i] = d
	}
	return dst[:len(dst)+len(events)], nil
}

func prepareEvent(in *EventData, copyPayload bool) (EventData, error) {
	d := *in
	if d.ID == uuid.Nil {
		return d, fmt.Errorf("%w: id is the nil UUID", ErrInvalidEvent)
	}
	if d.Type == "" || len(d.Type) > MaxTypeLen {
		return d, fmt.Errorf("%w: type must be 1 to %d bytes", ErrInvalidEvent, MaxTypeLen)
	}
	for i := 0; i < len(d.Type); i++ {
		c := d.Type[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')) {
			return d, fmt.Errorf("%w: type %q: byte %d (%q) is not allowed", ErrInvalidEvent, d.Type, i, c)
		}
	}
	if d.SchemaVersion == 0 {
		return d, fmt.Errorf("%w: schema version must be at least 1", ErrInvalidEvent)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"actor id", d.Actor.ID, MaxFieldLen},
		{"actor role", d.Actor.Role, MaxFieldLen},
		{"actor scope", d.Actor.Scope, MaxFieldLen},
		{"reason", d.Reason, MaxReasonLen},
		{"correlation id", d.CorrelationID, MaxFieldLen},
		{"causation id", d.CausationID, MaxFieldLen},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return d, err
		}
	}
	if len(d.Payload) > MaxPayloadSize {
		return d, fmt.Errorf("%w: %d bytes, at most %d", ErrPayloadTooLarge, len(d.Payload), MaxPayloadSize)
	}
	compact, err := compactJSON(d.Payload, copyPayload) // also checks that it is JSON in UTF-8
	if errors.Is(err, errNotUTF8) {
		return d, fmt.Errorf("%w: payload is not valid UTF-8", ErrInvalidEvent)
	}
	if err != nil {
		return d, fmt.Errorf("%w: payload is not valid JSON: %v", ErrInvalidEvent, err)
	}
	d.Payload = compact
	if len(d.Metadata) > 0 {
		if n := metadataSize(d.Metadata); n > MaxMetadataSize {
			return d, fmt.Errorf("%w: metadata is %d bytes, at most %d", ErrInvalidEvent, n, MaxMetadataSize)
		}
		md := make(map[string]string, len(d.Metadata))
		for k, v := range d.Metadata {
			if k == "" {
				return d, fmt.Errorf("%w: metadata has an empty key", ErrInvalidEvent)
			}
			if err := checkText("metadata key", k, MaxMetadataSize); err != nil {
				return d, err
			}
			if err := checkText("metadata value of "+k, v, MaxMetadataSize); err != nil {
				return d, err
			}
			md[k] = v
		}
		d.Metadata = md
	} else {
		d.Metadata = nil
	}
	return d, nil
}

func checkText(name, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidEvent, name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidEvent, name)
	}
	return nil
}

func metadataSize(md map[string]string) int {
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	return n
}
