package eventstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"github.com/google/uuid"
)

// canonicalMagic opens every canonical encoding: "PLE" and format 1.
var canonicalMagic = [4]byte{'P', 'L', 'E', 1}

// Canonical returns the canonical byte encoding of an event's content: the
// fields a writer decides plus the stream name, and nothing the store
// assigns. The content hash is SHA-256 of these bytes. The encoding is
// fixed forever (docs/encoding.md; a test pins it with golden bytes):
//
//	magic          4 bytes  "PLE" 0x01
//	id             16 bytes the UUID's bytes
//	stream         str
//	type           str
//	schema version u32
//	actor id       str
//	actor role     str
//	actor scope    str
//	reason         str
//	correlation id str
//	causation id   str
//	payload        str      (compact JSON as stored)
//	metadata       u32 count, then per pair in byte order of keys: key str, value str
//
// where u32 is a big-endian uint32 and str is a u32 length followed by that
// many bytes.
func Canonical(stream string, d *EventData) []byte {
	return AppendCanonical(make([]byte, 0, CanonicalSize(stream, d)), stream, d)
}

// CanonicalSize returns the length of Canonical(stream, d).
func CanonicalSize(stream string, d *EventData) int {
	n := len(canonicalMagic) + 16 + 4 + 4 + 4*9
	n += len(stream) + len(d.Type) + len(d.Actor.ID) + len(d.Actor.Role) + len(d.Actor.Scope) +
		len(d.Reason) + len(d.CorrelationID) + len(d.CausationID) + len(d.Payload)
	for k, v := range d.Metadata {
		n += 8 + len(k) + len(v)
	}
	return n
}

// AppendCanonical appends Canonical(stream, d) to b and returns the result.
func AppendCanonical(b []byte, stream string, d *EventData) []byte {
	b = append(b, canonicalMagic[:]...)
	b = append(b, d.ID[:]...)
	b = appendStr(b, stream)
	b = appendStr(b, d.Type)
	b = binary.BigEndian.AppendUint32(b, d.SchemaVersion)
	b = appendStr(b, d.Actor.ID)
	b = appendStr(b, d.Actor.Role)
	b = appendStr(b, d.Actor.Scope)
	b = appendStr(b, d.Reason)
	b = appendStr(b, d.CorrelationID)
	b = appendStr(b, d.CausationID)
	b = appendStr(b, d.Payload)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Metadata)))
	keys := make([]string, 0, len(d.Metadata))
	for k := range d.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendStr(b, k)
		b = appendStr(b, d.Metadata[k])
	}
	return b
}

// appendStr appends s with its length. It takes bytes as well, so that a
// payload is not converted to a string (a copy) on its way.
func appendStr[T string | []byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// DecodeCanonical parses bytes made by Canonical. It copies what it keeps,
// so b may be reused afterwards. Malformed input is an ErrCorrupt error.
func DecodeCanonical(b []byte) (stream string, d EventData, err error) {
	stream, err = DecodeCanonicalInto(&d, b)
	return stream, d, err
}

// DecodeCanonicalInto is DecodeCanonical into *d, which must be the zero
// EventData; a store decoding many events reuses its Event values this
// way. On error *d holds what was decoded so far.
func DecodeCanonicalInto(d *EventData, b []byte) (stream string, err error) {
	buf := make([]byte, len(b))
	copy(buf, b)
	return DecodeCanonicalShared(d, buf)
}

// DecodeCanonicalShared is DecodeCanonicalInto without the copy: the text
// fields of *d are substrings of b and its payload is a slice of b, so b
// must never change afterwards, except that a caller may write to its
// Payload, whose bytes no string shares (its capacity ends where it does).
// A store that decodes many events copies them into a few large buffers
// and decodes from there.
func DecodeCanonicalShared(d *EventData, b []byte) (stream string, err error) {
	if len(b) < len(canonicalMagic)+16 || [4]byte(b[:4]) != canonicalMagic {
		return "", fmt.Errorf("%w: not a canonical event encoding", ErrCorrupt)
	}
	d.ID = uuid.UUID(b[4:20])
	buf := b
	r := canonicalReader{s: unsafe.String(unsafe.SliceData(buf), len(buf)), off: 20}
	stream = r.str()
	d.Type = r.str()
	d.SchemaVersion = r.u32()
	d.Actor.ID = r.str()
	d.Actor.Role = r.str()
	d.Actor.Scope = r.str()
	d.Reason = r.str()
	d.CorrelationID = r.str()
	d.CausationID = r.str()
	payload := r.str()
	n := r.u32()
	if r.bad {
		return "", fmt.Errorf("%w: canonical event encoding is truncated", ErrCorrupt)
	}
	end := r.off - 4
	d.Payload = buf[end-len(payload) : end : end]
	if n > 0 {
		if uint64(n)*8 > uint64(len(r.s)-r.off) {
			return "", fmt.Errorf("%w: canonical event encoding declares %d metadata pairs in %d bytes", ErrCorrupt, n, len(r.s)-r.off)
		}
		d.Metadata = make(map[string]string, n)
		prev := ""
		for i := uint32(0); i < n; i++ {
			k, v := r.str(), r.str()
			if r.bad {
				return "", fmt.Errorf("%w: canonical event encoding is truncated in metadata", ErrCorrupt)
			}
			if i > 0 && k <= prev {
				return "", fmt.Errorf("%w: canonical metadata keys out of order at %q", ErrCorrupt, k)
			}
			d.Metadata[k] = v
			prev = k
		}
	}
	if r.off != len(r.s) {
		return "", fmt.Errorf("%w: %d trailing bytes after canonical event encoding", ErrCorrupt, len(r.s)-r.off)
	}
	return stream, nil
}

// canonicalReader reads length-prefixed fields; once a read runs past the
// end it sets bad and returns zero values.
type canonicalReader struct {
	s   string
	off int
	bad bool
}

func (r *canonicalReader) u32() uint32 {
	if r.bad || len(r.s)-r.off < 4 {
		r.bad = true
		return 0
	}
	v := uint32(r.s[r.off])<<24 | uint32(r.s[r.off+1])<<16 | uint32(r.s[r.off+2])<<8 | uint32(r.s[r.off+3])
	r.off += 4
	return v
}

func (r *canonicalReader) str() string {
	n := r.u32()
	if r.bad || uint64(n) > uint64(len(r.s)-r.off) {
		r.bad = true
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}
