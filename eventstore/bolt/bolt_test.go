package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/storetest"
)

// MustOpen opens a store in dir and closes it when the test ends.
func MustOpen(tb testing.TB, dir string) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func openForSuite(tb testing.TB) (eventstore.Store, func() eventstore.Store) {
	dir := tb.TempDir()
	s := MustOpen(tb, dir)
	return s, func() eventstore.Store {
		if err := s.Close(); err != nil {
			tb.Fatalf("close: %v", err)
		}
		return MustOpen(tb, dir)
	}
}

func TestCompliance(t *testing.T) {
	storetest.Run(t, storetest.Harness{Open: openForSuite, Features: storetest.Features{GaplessPositions: true}})
}

func TestOpen(t *testing.T) {
	t.Run("ErrInUse", func(t *testing.T) {
		dir := t.TempDir()
		_, lines := startChild(t, "hold", dir, 0)
		if !lines.Scan() || lines.Text() != "ready" {
			t.Fatalf("child did not open the store: %q", lines.Text())
		}
		start := time.Now()
		_, err := bolt.Open(dir, bolt.Options{LockTimeout: 200 * time.Millisecond})
		if !errors.Is(err, eventstore.ErrInUse) {
			t.Fatalf("err = %v, want ErrInUse", err)
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("error %q does not name the directory", err)
		}
		// A bound, not a benchmark: the point is that it does not hang.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("refusal took %v", d)
		}
	})
	t.Run("ErrCorrupt", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			damage func(t *testing.T, path string)
		}{
			{"Garbage", func(t *testing.T, path string) {
				mustWriteFile(t, path, bytes.Repeat([]byte("not a ledger "), 2000))
			}},
			{"HeaderZeroed", func(t *testing.T, path string) {
				f := mustOpenFile(t, path)
				defer f.Close()
				if _, err := f.WriteAt(make([]byte, 2*4096), 0); err != nil {
					t.Fatal(err)
				}
			}},
			{"Truncated", func(t *testing.T, path string) {
				// Cut the pages in use in half (bbolt grows the file in
				// large steps, so half the file may all be free space).
				db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				var used int64
				_ = db.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil })
				_ = db.Close()
				if err := os.Truncate(path, used/2); err != nil {
					t.Fatal(err)
				}
			}},
			{"LastEventDeleted", func(t *testing.T, path string) {
				editRaw(t, path, func(tx *bbolt.Tx) error {
					return editLog(tx, func(recs map[uint64][]byte) { delete(recs, uint64(len(recs))) })
				})
			}},
			{"LastEventEdited", func(t *testing.T, path string) {
				editRaw(t, path, func(tx *bbolt.Tx) error {
					return editLog(tx, func(recs map[uint64][]byte) {
						last := uint64(len(recs))
						recs[last] = bytes.Replace(recs[last], []byte("1.25"), []byte("9.25"), 1)
					})
				})
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				s := MustOpen(t, dir)
				for i := 0; i < 300; i++ {
					storetest.MustAppend(t, s, "s", eventstore.Any, storetest.NewEvent("E", i))
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				tt.damage(t, filepath.Join(dir, bolt.FileName))
				_, err := bolt.Open(dir, bolt.Options{})
				if !errors.Is(err, eventstore.ErrCorrupt) {
					t.Fatalf("open damaged ledger: err = %v, want ErrCorrupt", err)
				}
			})
		}
	})
}

// TestVerify edits the file the way an administrator could, behind the
// store's back, and checks that reads or Verify catch every edit.
func TestVerify(t *testing.T) {
	setup := func(t *testing.T) (string, []eventstore.Event) {
		dir := t.TempDir()
		s := MustOpen(t, dir)
		for i := 0; i < 40; i++ {
			storetest.MustAppend(t, s, fmt.Sprintf("s-%d", i%4), eventstore.Any, storetest.NewEvent("E", i))
		}
		events := storetest.Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{}))
		rep, err := s.Verify(context.Background())
		if err != nil || rep.Events != 40 || rep.Streams != 4 {
			t.Fatalf("Verify = %+v, %v; want 40 events in 4 streams", rep, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return dir, events
	}
	for _, tt := range []struct {
		name string
		edit func(tx *bbolt.Tx, events []eventstore.Event) error
		want string
	}{
		{"FlippedByte", func(tx *bbolt.Tx, events []eventstore.Event) error {
			return editLog(tx, func(recs map[uint64][]byte) { recs[7][len(recs[7])-5] ^= 0x01 })
		}, "checksum"},
		{"PayloadRewrittenWithChecksum", func(tx *bbolt.Tx, events []eventstore.Event) error {
			return rewrite(tx, 7, func(e *eventstore.Event) { e.Payload = []byte(`{"n":6,"points":"9.25"}`) })
		}, "hash mismatch"},
		{"EventDeleted", func(tx *bbolt.Tx, events []eventstore.Event) error {
			return editLog(tx, func(recs map[uint64][]byte) { delete(recs, 12) })
		}, "position 12 is missing"},
		{"FirstEventDeleted", func(tx *bbolt.Tx, events []eventstore.Event) error {
			return editLog(tx, func(recs map[uint64][]byte) { delete(recs, 1) })
		}, "position 1 is missing"},
		{"EventsSwapped", func(tx *bbolt.Tx, events []eventstore.Event) error {
			return editLog(tx, func(recs map[uint64][]byte) { recs[5], recs[9] = recs[9], recs[5] })
		}, "revision"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, events := setup(t)
			editRaw(t, filepath.Join(dir, bolt.FileName), func(tx *bbolt.Tx) error { return tt.edit(tx, events) })
			s := MustOpen(t, dir)
			_, err := s.Verify(context.Background())
			if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify: err = %v, want ErrCorrupt mentioning %q", err, tt.want)
			}
			// Reading the whole log must not hand out the edited history as good.
			var readErr error
			for _, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
				if err != nil {
					readErr = err
				}
			}
			// A damaged record or a gap is an error at read, not data or
			// the end of the log.
			if (tt.name == "FlippedByte" || tt.name == "EventDeleted") && !errors.Is(readErr, eventstore.ErrCorrupt) {
				t.Errorf("ReadAll over a damaged or missing record: err = %v, want ErrCorrupt", readErr)
			}
		})
	}
}

// rewrite replaces the record at pos with an edited event, keeping the old
// content hash and a valid checksum: a deliberate edit.
func rewrite(tx *bbolt.Tx, pos uint64, edit func(*eventstore.Event)) error {
	var err error
	editErr := editLog(tx, func(recs map[uint64][]byte) {
		v := recs[pos]
		var stream string
		var data eventstore.EventData
		if stream, data, err = eventstore.DecodeCanonical(v[53:]); err != nil {
			return
		}
		e := eventstore.Event{EventData: data, Stream: stream}
		edit(&e)
		rec := append(append([]byte(nil), v[:53]...), eventstore.Canonical(e.Stream, &e.EventData)...)
		binary.BigEndian.PutUint32(rec[1:5], crc32.Checksum(rec[5:], crc32.MakeTable(crc32.Castagnoli)))
		recs[pos] = rec
	})
	return errors.Join(err, editErr)
}

func editRaw(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// editLog edits the log of a ledger.db behind the store's back: fn gets a
// copy of every record by position and may change, delete or swap them;
// each one left is then stored as a block of its own. The block format
// (eventstore/bolt/block.go) is written out here again, independently:
// a count, the end of each record, the records.
func editLog(tx *bbolt.Tx, fn func(recs map[uint64][]byte)) error {
	log := tx.Bucket([]byte("blocks"))
	recs := make(map[uint64][]byte)
	var keys [][]byte
	err := log.ForEach(func(k, v []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		n := binary.BigEndian.Uint32(v)
		data := v[4+4*n:]
		start := uint32(0)
		for i := uint32(0); i < n; i++ {
			end := binary.BigEndian.Uint32(v[4+4*i:])
			recs[binary.BigEndian.Uint64(k)+uint64(i)] = append([]byte(nil), data[start:end]...)
			start = end
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	fn(recs)
	for pos, rec := range recs {
		v := binary.BigEndian.AppendUint32(nil, 1)
		v = binary.BigEndian.AppendUint32(v, uint32(len(rec)))
		if err := log.Put(be64(pos), append(v, rec...)); err != nil {
			return err
		}
	}
	return nil
}

func mustWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustOpenFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
