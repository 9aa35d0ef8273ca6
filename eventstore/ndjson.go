package eventstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/google/uuid"
)

// record is the NDJSON form of an event: one JSON object per line, the
// payload embedded as JSON exactly as stored (see docs/encoding.md).
type record struct {
	Position      Position          `json:"position"`
	ID            uuid.UUID         `json:"id"`
	Stream        string            `json:"stream"`
	Revision      uint64            `json:"revision"`
	RecordedAt    time.Time         `json:"recordedAt"`
	Type          string            `json:"type"`
	SchemaVersion uint32            `json:"schemaVersion"`
	Actor         Actor             `json:"actor"`
	Reason        string            `json:"reason,omitempty"`
	CorrelationID string            `json:"correlationId,omitempty"`
	CausationID   string            `json:"causationId,omitempty"`
	Payload       json.RawMessage   `json:"payload"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	ContentHash   Hash              `json:"contentHash"`
}

// maxLineSize bounds one NDJSON line: the largest payload and metadata,
// escaped, plus the envelope.
const maxLineSize = 2*(MaxPayloadSize+MaxMetadataSize) + 64<<10

// EncodeNDJSON writes e as one NDJSON line.
func EncodeNDJSON(w io.Writer, e *Event) error {
	enc := json.NewEncoder(w)
	// Payload bytes must be written exactly as stored: no HTML escaping.
	enc.SetEscapeHTML(false)
	return enc.Encode(record{
		Position: e.Position, ID: e.ID, Stream: e.Stream, Revision: e.Revision,
		RecordedAt: e.RecordedAt.UTC(), Type: e.Type, SchemaVersion: e.SchemaVersion,
		Actor: e.Actor, Reason: e.Reason, CorrelationID: e.CorrelationID, CausationID: e.CausationID,
		Payload: e.Payload, Metadata: e.Metadata, ContentHash: e.ContentHash,
	})
}

// Export writes the whole log of s to w as NDJSON, one event per line in
// log order, and returns the number of events written.
func Export(ctx context.Context, s Store, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var n int64
	for e, err := range s.ReadAll(ctx, ReadAllOptions{}) {
		if err != nil {
			return n, fmt.Errorf("export after %d events: %w", n, err)
		}
		if err := EncodeNDJSON(bw, &e); err != nil {
			return n, fmt.Errorf("export event %d: %w", e.Position, err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

// ReadNDJSON decodes an NDJSON export line by line. Every line must be a
// complete event whose content hash verifies; a bad line ends the
// iteration with an ErrInvalid (or ErrHashMismatch) error naming the line.
// Blank lines are skipped.
func ReadNDJSON(r io.Reader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLineSize)
		line := 0
		for sc.Scan() {
			line++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			e, err := decodeLine(b)
			if err != nil {
				yield(Event{}, fmt.Errorf("line %d: %w", line, err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("%w: line %d is longer than %d bytes", ErrInvalid, line+1, maxLineSize)
			}
			yield(Event{}, err)
		}
	}
}

func decodeLine(b []byte) (Event, error) {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Event{}, fmt.Errorf("%w: not an exported event: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: more than one JSON value on the line", ErrInvalid)
	}
	e := Event{
		EventData: EventData{
			ID: rec.ID, Type: rec.Type, SchemaVersion: rec.SchemaVersion, Actor: rec.Actor,
			Reason: rec.Reason, CorrelationID: rec.CorrelationID, CausationID: rec.CausationID,
			Payload: []byte(rec.Payload), Metadata: rec.Metadata,
		},
		Stream: rec.Stream, Revision: rec.Revision, Position: rec.Position,
		RecordedAt: rec.RecordedAt.UTC(), ContentHash: rec.ContentHash,
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	}
	if err := ValidateImported(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// ImportStats reports what Import did.
type ImportStats struct {
	Events   int64 // events in the file
	Skipped  int64 // already in the destination (a resumed or repeated import)
	Imported int64 // written now
}

// Import copies an NDJSON export into dst. It first reads the whole file
// and checks it (every line decodes, every hash verifies, every stream's
// revisions run from 0 without gaps, positions increase), so a bad file
// writes nothing. It then requires dst's log to be a prefix of the file
// (empty, or a previous import of the same file cut short): events already
// there are skipped, the rest are imported in batches. Importing the same
// file twice is therefore a no-op, and a file that does not continue dst is
// refused with ErrImportMismatch. progress, if not nil, is called after
// each batch with the number of events done.
func Import(ctx context.Context, dst Store, src io.ReadSeeker, progress func(done int64)) (ImportStats, error) {
	var st ImportStats
	next := make(map[string]uint64)
	var last Position
	for e, err := range ReadNDJSON(src) {
		if err != nil {
			return st, err
		}
		st.Events++
		if want := next[e.Stream]; e.Revision != want {
			return st, fmt.Errorf("%w: event %d (%s) is revision %d of %q, expected %d: the file is not a whole export",
				ErrInvalid, st.Events, e.ID, e.Revision, e.Stream, want)
		}
		next[e.Stream] = e.Revision + 1
		if e.Position <= last {
			return st, fmt.Errorf("%w: event %d (%s) has position %d after %d", ErrInvalid, st.Events, e.ID, e.Position, last)
		}
		last = e.Position
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return st, fmt.Errorf("import: %w", err)
	}

	existing, stop := iter.Pull2(dst.ReadAll(ctx, ReadAllOptions{}))
	defer stop()
	const batchSize = 500
	batch := make([]Event, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.Import(ctx, batch); err != nil {
			return fmt.Errorf("import after %d events: %w", st.Skipped+st.Imported, err)
		}
		st.Imported += int64(len(batch))
		batch = batch[:0]
		if progress != nil {
			progress(st.Skipped + st.Imported)
		}
		return nil
	}
	inDst := true
	var n int64
	for e, err := range ReadNDJSON(src) {
		if err != nil {
			return st, err
		}
		n++
		if inDst {
			have, err, ok := existing()
			if err != nil {
				return st, fmt.Errorf("import: reading the destination: %w", err)
			}
			if ok {
				if have.ID != e.ID || have.ContentHash != e.ContentHash || have.Stream != e.Stream || have.Revision != e.Revision {
					return st, fmt.Errorf("%w: event %d of the file is %s (%q revision %d) but the destination has %s (%q revision %d) there",
						ErrImportMismatch, n, e.ID, e.Stream, e.Revision, have.ID, have.Stream, have.Revision)
				}
				st.Skipped++
				continue
			}
			inDst = false
			stop()
		}
		batch = append(batch, e)
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if inDst {
		if _, err, ok := existing(); err != nil {
			return st, fmt.Errorf("import: reading the destination: %w", err)
		} else if ok {
			return st, fmt.Errorf("%w: the destination has more events than the file's %d", ErrImportMismatch, n)
		}
	}
	return st, flush()
}
