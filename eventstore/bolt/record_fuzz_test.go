package bolt

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/parledger/parledger/eventstore"
)

// fuzzRecord is the stored form of a small event.
func fuzzRecord(md map[string]string) []byte {
	e := eventstore.Event{
		EventData: eventstore.EventData{
			ID: eventstore.DeterministicID("fuzz"), Type: "AppraisalRecorded", SchemaVersion: 1,
			Actor:   eventstore.Actor{ID: "snv-tham-dinh", Role: "appraiser", Scope: "SNV"},
			Payload: []byte(`{"round":1,"item":"1.1.2","points":"8.5"}`), Metadata: md,
		},
		Stream: "assessment:thu-nghiem:001", Revision: 4, RecordedAt: time.Date(2017, 11, 2, 1, 2, 3, 0, time.UTC),
	}
	e.ContentHash = e.ComputeHash()
	return encodeImported(&e)
}

// refused reports whether err refused the input, failing the test unless
// it did so as ErrCorrupt: damage on disk is never another kind of error.
func refused(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("refused with %v, want ErrCorrupt", err)
	}
	return err != nil
}

// FuzzDecodeRecord checks that no bytes in ledger.db make the record
// decoder panic, that it refuses damage as ErrCorrupt, and that what it
// accepts is stored again as exactly the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(fuzzRecord(nil))
	f.Add(fuzzRecord(map[string]string{"idempotency-key": "k"}))
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeRecord(7, v)
		if refused(t, err) {
			return
		}
		if e.Position != 7 {
			t.Fatalf("position %d, want 7", e.Position)
		}
		if got := encodeImported(&e); !bytes.Equal(got, v) {
			t.Fatalf("decoded and encoded again differs:\n%x\n%x", v, got)
		}
	})
}

// FuzzParseFrame checks that no bytes in a write-ahead log segment make
// the frame parser panic or read past its input, and that every frame it
// accepts is exactly the frame the writer would write.
func FuzzParseFrame(f *testing.F) {
	rec := fuzzRecord(nil)
	f.Add(appendCommit(appendFrame(nil, 1, rec), 1))
	f.Add(appendCommit(nil, 9))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := 0; off < len(b); {
			pos, rec, n, ok := parseFrame(b[off:])
			if !ok {
				return
			}
			if n <= 0 || off+n > len(b) {
				t.Fatalf("frame of %d bytes at %d in %d bytes", n, off, len(b))
			}
			var want []byte
			if rec != nil {
				want = appendFrame(nil, pos, rec)
			} else {
				want = appendCommit(nil, pos)
			}
			if !bytes.Equal(want, b[off:off+n]) {
				t.Fatalf("accepted frame at %d is not what the writer writes:\n%x\n%x", off, b[off:off+n], want)
			}
			off += n
		}
	})
}

// FuzzParseBlock checks that no bytes stored as a log block make the
// block parser panic or hand out a record outside the block, that it
// refuses bad framing as ErrCorrupt, and that every block it accepts is
// exactly the block the applier would write of the same records.
func FuzzParseBlock(f *testing.F) {
	rec := fuzzRecord(nil)
	f.Add(appendBlock(nil, 1, len(rec), func(int) []byte { return rec }))
	f.Add(appendBlock(nil, 3, 3*len(rec), func(int) []byte { return rec }))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		b, err := parseBlock(5, v)
		if refused(t, err) {
			return
		}
		if b.n < 1 || b.first != 5 {
			t.Fatalf("accepted block of %d records at %d", b.n, b.first)
		}
		recs := make([][]byte, b.n)
		size := 0
		for pos := b.first; pos <= b.last(); pos++ {
			r := b.record(pos)
			if len(r) < recordHeaderSize {
				t.Fatalf("record at %d of %d bytes", pos, len(r))
			}
			recs[pos-b.first], size = r, size+len(r)
		}
		if got := appendBlock(nil, b.n, size, func(i int) []byte { return recs[i] }); !bytes.Equal(got, v) {
			t.Fatalf("parsed and written again differs:\n%x\n%x", v, got)
		}
	})
}
