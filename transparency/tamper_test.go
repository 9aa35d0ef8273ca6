package transparency_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/transparency"
)

// The tamper tests edit a ledger the way an administrator could, behind
// the store's back, after a checkpoint was signed, and check that the
// edit is caught and named: in the bolt file (by the Merkle log when it
// next reads the store, and by the checkpoint if the Merkle log is
// rebuilt) and in an NDJSON export (by VerifyExport).

const tamperEvents = 40

// tampered is a ledger of tamperEvents events in 4 streams (event i is
// revision i/4 of stream s-(i%4), at position i+1), its Merkle log, a
// checkpoint of it, and its export, all taken before any edit.
type tampered struct {
	dir      string // the bolt ledger, closed
	treePath string // the Merkle log, closed
	events   []eventstore.Event
	signer   *transparency.Signer
	cp       transparency.Checkpoint
	export   []byte
}

func mustTampered(t *testing.T) *tampered {
	t.Helper()
	tp := &tampered{dir: t.TempDir(), treePath: filepath.Join(t.TempDir(), transparency.FileName)}
	tp.events = MustLedger(t, tp.dir, tamperEvents)
	s, err := bolt.Open(tp.dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := transparency.Open(tp.treePath, transparency.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := startFollow(t, l, s)
	mustWaitSize(t, l, tamperEvents)
	if err := f.stop(t); err != nil {
		t.Fatal(err)
	}
	tp.signer, _ = MustSigner(t, transparency.DefaultOrigin)
	tp.cp = MustCheckpoint(t, l, tp.signer)
	var buf bytes.Buffer
	if _, err := eventstore.Export(context.Background(), s, &buf); err != nil {
		t.Fatal(err)
	}
	tp.export = buf.Bytes()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return tp
}

// editLedger changes ledger.db directly with bbolt. The store keeps its
// records in blocks of consecutive positions (eventstore/bolt/block.go: a
// 4-byte count, the 4-byte end of each record, the records); fn edits a
// scratch bucket of one record per position, which then replaces the
// blocks, each record a block of its own, and the recorded head follows.
func (tp *tampered) editLedger(t *testing.T, fn func(log *bbolt.Bucket) error) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(tp.dir, bolt.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		blocks := tx.Bucket([]byte("blocks"))
		scratch, err := tx.CreateBucket([]byte("tamper-scratch"))
		if err != nil {
			return err
		}
		err = blocks.ForEach(func(k, v []byte) error {
			n := binary.BigEndian.Uint32(v)
			recs, start := v[4+4*n:], uint32(0)
			for i := uint32(0); i < n; i++ {
				end := binary.BigEndian.Uint32(v[4+4*i:])
				if err := scratch.Put(be64(binary.BigEndian.Uint64(k)+uint64(i)), bytes.Clone(recs[start:end])); err != nil {
					return err
				}
				start = end
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := fn(scratch); err != nil {
			return err
		}
		// The recorded head follows the last event, as a careful forger
		// would keep it.
		if k, _ := scratch.Cursor().Last(); k != nil {
			if err := tx.Bucket([]byte("meta")).Put([]byte("head"), bytes.Clone(k)); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket([]byte("blocks")); err != nil {
			return err
		}
		if blocks, err = tx.CreateBucket([]byte("blocks")); err != nil {
			return err
		}
		err = scratch.ForEach(func(k, rec []byte) error {
			v := binary.BigEndian.AppendUint32(nil, 1)
			v = binary.BigEndian.AppendUint32(v, uint32(len(rec)))
			return blocks.Put(bytes.Clone(k), append(v, rec...))
		})
		if err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("tamper-scratch"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The record layout of eventstore/bolt (record.go): format (1 byte),
// CRC-32C of the rest (4), revision (8), recorded time (8), content hash
// (32), canonical content.
const recordHeader = 1 + 4 + 8 + 8 + 32

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rewrite replaces the record at pos with an edited event and a valid
// checksum, as a careful forger would. With rehash the content hash is
// recomputed too; without, the old one stays.
func rewrite(log *bbolt.Bucket, pos uint64, rehash bool, edit func(*eventstore.Event)) error {
	v := log.Get(be64(pos))
	stream, data, err := eventstore.DecodeCanonical(v[recordHeader:])
	if err != nil {
		return err
	}
	e := eventstore.Event{EventData: data, Stream: stream, Revision: binary.BigEndian.Uint64(v[5:13]),
		RecordedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[13:21]))).UTC()}
	copy(e.ContentHash[:], v[21:53])
	edit(&e)
	if rehash {
		e.ContentHash = e.ComputeHash()
	}
	rec := make([]byte, recordHeader, recordHeader+len(v))
	rec[0] = v[0]
	binary.BigEndian.PutUint64(rec[5:13], e.Revision)
	binary.BigEndian.PutUint64(rec[13:21], uint64(e.RecordedAt.UnixNano()))
	copy(rec[21:53], e.ContentHash[:])
	rec = eventstore.AppendCanonical(rec, e.Stream, &e.EventData)
	binary.BigEndian.PutUint32(rec[1:5], crc32.Checksum(rec[5:], castagnoli))
	return log.Put(be64(pos), rec)
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func TestTamperLedgerFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(log *bbolt.Bucket) error
		// The first event that no longer matches: its leaf index and
		// position, and what the message says.
		index    uint64
		position eventstore.Position
		want     string
	}{
		{"PayloadByte", func(log *bbolt.Bucket) error {
			return rewrite(log, 7, false, func(e *eventstore.Event) { e.Payload = bytes.Replace(e.Payload, []byte("1.25"), []byte("9.25"), 1) })
		}, 6, 7, "content hash mismatch"},
		{"PayloadRehashed", func(log *bbolt.Bucket) error {
			return rewrite(log, 7, true, func(e *eventstore.Event) { e.Payload = bytes.Replace(e.Payload, []byte("1.25"), []byte("9.25"), 1) })
		}, 6, 7, "edited since"},
		{"EventDeleted", func(log *bbolt.Bucket) error {
			// The later events move up a position, so that the log has
			// no gap (a gap is ErrCorrupt at the store's own read).
			for pos := uint64(12); ; pos++ {
				next := log.Get(be64(pos + 1))
				if next == nil {
					return log.Delete(be64(pos))
				}
				if err := log.Put(be64(pos), bytes.Clone(next)); err != nil {
					return err
				}
			}
		}, 11, 12, "recorded this event at leaf 12: events before it were deleted"},
		{"EventsSwapped", func(log *bbolt.Bucket) error {
			a, b := bytes.Clone(log.Get(be64(5))), bytes.Clone(log.Get(be64(9)))
			if err := log.Put(be64(5), b); err != nil {
				return err
			}
			return log.Put(be64(9), a)
		}, 4, 5, "recorded this event at leaf 8"},
		{"StreamReplaced", func(log *bbolt.Bucket) error {
			return rewrite(log, 7, true, func(e *eventstore.Event) { e.Stream = "s-9" })
		}, 6, 7, "edited since"},
		{"RecordedTimeEdited", func(log *bbolt.Bucket) error {
			return rewrite(log, 7, false, func(e *eventstore.Event) { e.RecordedAt = e.RecordedAt.Add(time.Millisecond) })
		}, 6, 7, "edited since"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp := mustTampered(t)
			tp.editLedger(t, tt.edit)
			s := MustOpenStore(t, tp.dir)

			// The Merkle log, catching up from the edited store, names the
			// first event that differs from what it recorded.
			l := MustOpenAt(t, tp.treePath, transparency.Options{})
			err := startFollow(t, l, s).wait(t)
			t.Logf("Follow: %v", err)
			if !errors.Is(err, transparency.ErrLedgerChanged) || !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Follow: err = %v, want ErrLedgerChanged mentioning %q", err, tt.want)
			}
			if ee := eventErr(t, err); ee.Index != tt.index || ee.Position != tt.position {
				t.Errorf("Follow blames leaf %d (position %d), want leaf %d (position %d)", ee.Index, ee.Position, tt.index, tt.position)
			}
			if _, err := l.Audit(context.Background(), s); !errors.Is(err, transparency.ErrLedgerChanged) || eventErr(t, err).Index != tt.index {
				t.Errorf("Audit: err = %v, want ErrLedgerChanged at leaf %d", err, tt.index)
			}
			// The tree it keeps still matches the signed checkpoint.
			if err := l.VerifyCheckpoint(tp.cp); err != nil {
				t.Errorf("the kept tree no longer matches the checkpoint: %v", err)
			}
			if tt.name == "PayloadByte" {
				return // a content hash that fails cannot be folded into a new tree
			}

			// A Merkle log rebuilt from the edited store no longer matches the
			// checkpoint, and its checkpoints are inconsistent with the old one.
			rebuilt := MustOpen(t, transparency.Options{})
			f := startFollow(t, rebuilt, s)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			want := uint64(tamperEvents)
			if tt.name == "EventDeleted" {
				want--
			}
			if err := rebuilt.WaitSize(ctx, want); err != nil {
				t.Fatal(err)
			}
			if err := f.stop(t); err != nil {
				t.Fatal(err)
			}
			if err := rebuilt.VerifyCheckpoint(tp.cp); !errors.Is(err, transparency.ErrRootMismatch) {
				t.Errorf("rebuilt tree against the old checkpoint: err = %v, want ErrRootMismatch", err)
			}
			now := MustCheckpoint(t, rebuilt, tp.signer)
			var proof [][]byte
			if now.Size > tp.cp.Size {
				proof, _ = rebuilt.ConsistencyProof(tp.cp.Size, now.Size)
			}
			if err := transparency.VerifyConsistencyWith(tp.cp, now, proof); !errors.Is(err, transparency.ErrInconsistent) && !errors.Is(err, transparency.ErrRolledBack) {
				t.Errorf("auditor's check of the rebuilt log's checkpoint: err = %v, want ErrInconsistent or ErrRolledBack", err)
			}
		})
	}
}

// editExport returns the export with line n (1-based) replaced by what
// edit makes of its event; with rehash the content hash is recomputed.
func editExport(t *testing.T, export []byte, n int, rehash bool, edit func(*eventstore.Event)) []byte {
	t.Helper()
	lines := bytes.SplitAfter(export, []byte("\n"))
	var e eventstore.Event
	for ev, err := range eventstore.ReadNDJSON(bytes.NewReader(lines[n-1])) {
		if err != nil {
			t.Fatal(err)
		}
		e = ev
	}
	edit(&e)
	if rehash {
		e.ContentHash = e.ComputeHash()
	}
	var b bytes.Buffer
	if err := eventstore.EncodeNDJSON(&b, &e); err != nil {
		t.Fatal(err)
	}
	lines[n-1] = b.Bytes()
	return bytes.Join(lines, nil)
}

// swapLines exchanges lines a and b (1-based).
func swapLines(export []byte, a, b int) []byte {
	lines := bytes.SplitAfter(export, []byte("\n"))
	lines[a-1], lines[b-1] = lines[b-1], lines[a-1]
	return bytes.Join(lines, nil)
}

func deleteLine(export []byte, n int) []byte {
	lines := bytes.SplitAfter(export, []byte("\n"))
	return bytes.Join(append(lines[:n-1:n-1], lines[n:]...), nil)
}

func TestVerifyExport(t *testing.T) {
	tp := mustTampered(t)
	ref := MustOpenAt(t, tp.treePath, transparency.Options{})
	t.Run("OK", func(t *testing.T) {
		for _, prover := range []transparency.Prover{nil, ref} {
			rep, err := transparency.VerifyExport(bytes.NewReader(tp.export), tp.cp, prover)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Events != tamperEvents || rep.Covered != tamperEvents || rep.Streams != 4 || !bytes.Equal(rep.Root, tp.cp.Root) {
				t.Errorf("report %+v", rep)
			}
		}
		// An export taken later than the checkpoint: its first events match.
		l := MustOpen(t, transparency.Options{})
		MustAppend(t, l, tp.events[:25]...)
		older := MustCheckpoint(t, l, tp.signer)
		rep, err := transparency.VerifyExport(bytes.NewReader(tp.export), older, nil)
		if err != nil || rep.Events != tamperEvents || rep.Covered != 25 {
			t.Errorf("against an older checkpoint: %+v, %v", rep, err)
		}
		// Blank lines are skipped and do not confuse line numbers.
		spaced := bytes.ReplaceAll(tp.export, []byte("\n"), []byte("\n\n"))
		if _, err := transparency.VerifyExport(bytes.NewReader(spaced), tp.cp, nil); err != nil {
			t.Errorf("with blank lines: %v", err)
		}
	})

	type want struct {
		err      error // family
		line     int   // 0: no *EventError
		position eventstore.Position
		text     string // in the message
	}
	for _, tt := range []struct {
		name        string
		export      []byte
		alone, wRef want // without and with a reference Merkle log
	}{
		{"PayloadByte",
			bytes.Replace(tp.export, []byte(`"n":6,`), []byte(`"n":7,`), 1),
			want{eventstore.ErrHashMismatch, 0, 0, "line 7: "},
			want{eventstore.ErrHashMismatch, 0, 0, "line 7: "}},
		{"PayloadRehashed",
			editExport(t, tp.export, 7, true, func(e *eventstore.Event) { e.Payload = []byte(`{"n":6,"points":"9.25"}`) }),
			want{transparency.ErrRootMismatch, 0, 0, "the first 40 events of the export hash to"},
			want{transparency.ErrRootMismatch, 7, 7, "is not the signed tree's leaf 6"}},
		{"LineDeleted", deleteLine(tp.export, 12),
			// Event 12 was revision 2 of s-3; the next of s-3 (position 16,
			// now on line 15) shows the gap.
			want{transparency.ErrVerify, 15, 16, "should be revision 2"},
			want{transparency.ErrVerify, 15, 16, "should be revision 2"}},
		{"LastLineDeleted", deleteLine(tp.export, 40),
			want{transparency.ErrRootMismatch, 0, 0, "the export has 39 events but the checkpoint covers 40"},
			want{transparency.ErrRootMismatch, 0, 0, "exactly the first 39 of the signed tree"}},
		{"LinesSwapped", swapLines(tp.export, 5, 9),
			// Both are of s-0: revision 2 now comes before revision 1.
			want{transparency.ErrVerify, 5, 9, "should be revision 1: an event of the stream before it is missing here"},
			want{transparency.ErrVerify, 5, 9, "should be revision 1: an event of the stream before it is missing here"}},
		{"LinesOfTwoStreamsSwapped", swapLines(tp.export, 5, 6),
			want{transparency.ErrVerify, 6, 5, "position 5 comes after position 6"},
			want{transparency.ErrVerify, 6, 5, "position 5 comes after position 6"}},
		{"LinesSwappedRenumbered",
			// Events 5 and 6 are of different streams; positions are not
			// hashed, so a forger renumbers them.
			swapLines(editExport(t, editExport(t, tp.export, 5, false, func(e *eventstore.Event) { e.Position = 6 }), 6, false, func(e *eventstore.Event) { e.Position = 5 }), 5, 6),
			want{transparency.ErrRootMismatch, 0, 0, "the first 40 events"},
			want{transparency.ErrRootMismatch, 5, 5, "is not the signed tree's leaf 4"}},
		{"StreamReplaced",
			bytes.Replace(tp.export, []byte(`"stream":"s-1","revision":1`), []byte(`"stream":"s-5","revision":1`), 1),
			want{eventstore.ErrHashMismatch, 0, 0, "line 6: "},
			want{eventstore.ErrHashMismatch, 0, 0, "line 6: "}},
		{"StreamReplacedRehashed",
			editExport(t, tp.export, 6, true, func(e *eventstore.Event) { e.Stream = "s-5" }),
			want{transparency.ErrVerify, 6, 6, `stream "s-5" has 0 events before it`},
			want{transparency.ErrVerify, 6, 6, `stream "s-5" has 0 events before it`}},
		{"RecordedTimeEdited",
			editExport(t, tp.export, 7, false, func(e *eventstore.Event) { e.RecordedAt = e.RecordedAt.Add(time.Nanosecond) }),
			want{transparency.ErrRootMismatch, 0, 0, "the first 40 events"},
			want{transparency.ErrRootMismatch, 7, 7, "is not the signed tree's leaf 6"}},
		{"RecordedTimeBackwards",
			editExport(t, tp.export, 7, false, func(e *eventstore.Event) { e.RecordedAt = e.RecordedAt.AddDate(-1, 0, 0) }),
			want{transparency.ErrRootMismatch, 0, 0, "suspect line 7, leaf 6 (position 7)"},
			want{transparency.ErrRootMismatch, 7, 7, "is not the signed tree's leaf 6"}},
		{"Truncated", tp.export[:len(tp.export)/2],
			want{transparency.ErrVerify, 0, 0, "line 21: "},
			want{transparency.ErrVerify, 0, 0, "line 21: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				name   string
				prover transparency.Prover
				want   want
			}{{"Alone", nil, tt.alone}, {"WithReference", ref, tt.wRef}} {
				_, err := transparency.VerifyExport(bytes.NewReader(tt.export), tp.cp, c.prover)
				t.Logf("%s: %v", c.name, err)
				if !errors.Is(err, transparency.ErrVerify) || !errors.Is(err, c.want.err) || !strings.Contains(err.Error(), c.want.text) {
					t.Errorf("%s: err = %v\nwant %v mentioning %q", c.name, err, c.want.err, c.want.text)
					continue
				}
				var ee *transparency.EventError
				if errors.As(err, &ee) != (c.want.line > 0) {
					t.Errorf("%s: err = %v, an *EventError: %v, want %v", c.name, err, ee != nil, c.want.line > 0)
				} else if ee != nil && (ee.Line != c.want.line || ee.Position != c.want.position) {
					t.Errorf("%s: blames line %d (position %d), want line %d (position %d): %v", c.name, ee.Line, ee.Position, c.want.line, c.want.position, err)
				}
			}
		})
	}

	t.Run("ProverFails", func(t *testing.T) {
		export := editExport(t, tp.export, 7, false, func(e *eventstore.Event) { e.RecordedAt = e.RecordedAt.Add(time.Nanosecond) })
		failing := transparency.ProverFunc(func(size1, size2 uint64) ([][]byte, error) { return nil, errors.New("server unreachable") })
		_, err := transparency.VerifyExport(bytes.NewReader(export), tp.cp, failing)
		if !errors.Is(err, transparency.ErrRootMismatch) || !strings.Contains(err.Error(), "server unreachable") {
			t.Errorf("err = %v, want ErrRootMismatch saying why the event could not be named", err)
		}
	})
}
