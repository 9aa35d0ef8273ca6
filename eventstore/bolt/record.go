package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/parledger/parledger/eventstore"
)

// A record is the value stored under an event's position in the log
// bucket:
//
//	format      1 byte   recordFormat
//	crc         4 bytes  CRC-32C (Castagnoli) of every byte after it
//	revision    8 bytes  big-endian
//	recorded at 8 bytes  big-endian Unix nanoseconds, UTC
//	hash        32 bytes content hash
//	content     the canonical encoding (eventstore.Canonical)
//
// The CRC catches damage on every read; the content hash, checked by
// Verify and by every import, catches deliberate edits too.
const (
	recordFormat     = 1
	recordHeaderSize = 1 + 4 + 8 + 8 + 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeImported returns the stored form of an already-recorded event,
// keeping its recorded time and hash.
func encodeImported(e *eventstore.Event) []byte {
	b := make([]byte, recordHeaderSize, recordHeaderSize+eventstore.CanonicalSize(e.Stream, &e.EventData))
	b = eventstore.AppendCanonical(b, e.Stream, &e.EventData)
	fillHeader(b, e.Revision, e.RecordedAt, e.ContentHash)
	return b
}

func fillHeader(b []byte, revision uint64, recordedAt time.Time, h eventstore.Hash) {
	b[0] = recordFormat
	binary.BigEndian.PutUint64(b[5:13], revision)
	binary.BigEndian.PutUint64(b[13:21], uint64(recordedAt.UnixNano()))
	copy(b[21:53], h[:])
	binary.BigEndian.PutUint32(b[1:5], crc32.Checksum(b[5:], castagnoli))
}

// decodeRecord parses a stored record found at pos. It copies what it
// keeps, so v may point into the memory map.
func decodeRecord(pos eventstore.Position, v []byte) (eventstore.Event, error) {
	var e eventstore.Event
	err := decodeRecordInto(&e, pos, v, nil)
	return e, err
}

// decodeChunk is the size of the buffers a long read copies its events
// into: one allocation serves some 30 typical events, and an event kept
// by a reader keeps at most this much memory alive with it.
const decodeChunk = 16 << 10

// decodeRecordInto is decodeRecord into *e, which must be zero. If chunk
// is not nil, the event's fields are copied into *chunk (a fresh buffer
// of decodeChunk bytes replaces it when it is full), so that one
// allocation serves many events.
func decodeRecordInto(e *eventstore.Event, pos eventstore.Position, v []byte, chunk *[]byte) error {
	if len(v) < recordHeaderSize || v[0] != recordFormat {
		return fmt.Errorf("%w: record at position %d is not a format-%d record", eventstore.ErrCorrupt, pos, recordFormat)
	}
	if got, want := crc32.Checksum(v[5:], castagnoli), binary.BigEndian.Uint32(v[1:5]); got != want {
		return fmt.Errorf("%w: record at position %d fails its checksum (stored %08x, computed %08x)", eventstore.ErrCorrupt, pos, want, got)
	}
	var stream string
	var err error
	if content := v[recordHeaderSize:]; chunk == nil {
		stream, err = eventstore.DecodeCanonicalInto(&e.EventData, content)
	} else {
		if cap(*chunk)-len(*chunk) < len(content) {
			*chunk = make([]byte, 0, max(decodeChunk, len(content)))
		}
		start := len(*chunk)
		*chunk = append(*chunk, content...)
		stream, err = eventstore.DecodeCanonicalShared(&e.EventData, (*chunk)[start:len(*chunk):len(*chunk)])
	}
	if err != nil {
		return fmt.Errorf("record at position %d: %w", pos, err)
	}
	e.Stream = stream
	e.Position = pos
	e.Revision = binary.BigEndian.Uint64(v[5:13])
	e.RecordedAt = time.Unix(0, int64(binary.BigEndian.Uint64(v[13:21]))).UTC()
	copy(e.ContentHash[:], v[21:53])
	return nil
}

// recordMeta reads the revision, recorded time and hash of a stored record without
// decoding the rest.
func recordMeta(v []byte) (revision uint64, recordedAt int64, h eventstore.Hash, ok bool) {
	if len(v) < recordHeaderSize {
		return 0, 0, h, false
	}
	copy(h[:], v[21:53])
	return binary.BigEndian.Uint64(v[5:13]), int64(binary.BigEndian.Uint64(v[13:21])), h, true
}
