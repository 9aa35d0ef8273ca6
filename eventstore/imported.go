package eventstore

import (
	"bytes"
	"fmt"
)

// ValidateImported checks an already-recorded event before a store imports
// it: the fields obey the same rules as an append, the payload is in the
// compact form stores keep, and the content hash verifies.
func ValidateImported(e *Event) error {
	if err := ValidateStreamName(e.Stream); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	prepared, err := prepareEvent(&e.EventData, false)
	if err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if !bytes.Equal(prepared.Payload, e.Payload) {
		return fmt.Errorf("%w: event %s: payload is not in compact form", ErrInvalidEvent, e.ID)
	}
	if e.RecordedAt.IsZero() {
		return fmt.Errorf("%w: event %s: no recorded time", ErrInvalidEvent, e.ID)
	}
	return e.VerifyHash()
}
