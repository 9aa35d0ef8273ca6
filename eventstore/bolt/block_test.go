package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/storetest"
)

// blockLedger appends n events of varied sizes to 5 streams (one of every
// 97 larger than a whole block), waits until ledger.db holds them all, and
// returns the store and the events.
func blockLedger(t *testing.T, n int) (*Store, []eventstore.Event) {
	t.Helper()
	s := mustOpenTuned(t, t.TempDir(), nil)
	var want []eventstore.Event
	for i := 0; i < n; i++ {
		d := testEvent(i)
		size := 10 + i*37%900
		if i%97 == 0 {
			size = blockBytes + 1000
		}
		d.Payload = []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("đ", size/2)))
		res, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i%5), eventstore.Any, d)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.Events...)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	return s, want
}

// TestBlocks reads a ledger.db cut into blocks from every position,
// forwards and backwards, and by stream, and checks the cuts.
func TestBlocks(t *testing.T) {
	ctx := context.Background()
	s, want := blockLedger(t, 1500)
	if st := s.Stats(); st.Pending != 0 {
		t.Fatalf("%d events not in ledger.db", st.Pending)
	}
	blocks := checkBlocks(t, s)
	if len(blocks) < 1500/blockEvents+15 {
		t.Fatalf("%d blocks, want more than %d", len(blocks), 1500/blockEvents+15)
	}
	same := func(t *testing.T, got []eventstore.Event, want ...eventstore.Event) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %d events, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || got[i].Position != want[i].Position || !bytes.Equal(got[i].Payload, want[i].Payload) {
				t.Fatalf("event %d is %s at %d, want %s at %d", i, got[i].ID, got[i].Position, want[i].ID, want[i].Position)
			}
		}
	}
	collect := func(seq iter.Seq2[eventstore.Event, error]) []eventstore.Event { return storetest.Collect(t, seq) }
	reversed := func(es []eventstore.Event) []eventstore.Event {
		out := slices.Clone(es)
		slices.Reverse(out)
		return out
	}
	for _, from := range []int{1, 2, 255, 256, 257, 700, 1499, 1500} {
		same(t, collect(s.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Position(from), Limit: 300})), want[from-1:min(from-1+300, 1500)]...)
		back := collect(s.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Position(from), Direction: eventstore.Backwards}))
		same(t, back, reversed(want[:from])...)
	}
	same(t, collect(s.ReadAll(ctx, eventstore.ReadAllOptions{From: 1501})))
	for st := 0; st < 5; st++ {
		var stream []eventstore.Event
		for _, e := range want {
			if e.Stream == fmt.Sprintf("s-%d", st) {
				stream = append(stream, e)
			}
		}
		same(t, collect(s.ReadStream(ctx, fmt.Sprintf("s-%d", st), eventstore.ReadStreamOptions{})), stream...)
		same(t, collect(s.ReadStream(ctx, fmt.Sprintf("s-%d", st), eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true})), reversed(stream)...)
	}
	// Idempotent retries find their events in ledger.db, in any block.
	for _, i := range []int{0, 256, 777, 1499} {
		res, err := s.Append(ctx, want[i].Stream, eventstore.Any, want[i].EventData)
		if err != nil || !res.Duplicate || res.Events[0].Position != want[i].Position {
			t.Errorf("retry of event at %d = %+v, %v; want the original", want[i].Position, res, err)
		}
	}
	if rep, err := s.Verify(ctx); err != nil || rep.Events != 1500 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// checkBlocks checks that the blocks of ledger.db follow each other
// without gap or overlap up to its head, within their limits, and returns
// them.
func checkBlocks(t *testing.T, s *Store) []block {
	t.Helper()
	var blocks []block
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			b, err := parseBlock(eventstore.Position(u64(k)), v)
			blocks = append(blocks, b)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	next := eventstore.Position(1)
	for _, b := range blocks {
		if b.first != next || b.n > blockEvents || b.n > 1 && len(b.recs) > blockBytes {
			t.Errorf("block at %d holds %d events in %d bytes (next expected at %d)", b.first, b.n, len(b.recs), next)
		}
		next = b.last() + 1
	}
	if head := s.appliedPos.Load(); uint64(next-1) != head {
		t.Errorf("blocks end at %d, ledger.db's head is %d", next-1, head)
	}
	return blocks
}

func TestParseBlock(t *testing.T) {
	rec := make([]byte, recordHeaderSize+5)
	good := appendBlock(nil, 2, 2*len(rec), func(int) []byte { return rec })
	if b, err := parseBlock(7, good); err != nil || b.n != 2 || b.last() != 8 || len(b.record(8)) != len(rec) {
		t.Fatalf("parseBlock(good) = %+v, %v", b, err)
	}
	for name, v := range map[string][]byte{
		"Empty":         nil,
		"NoRecords":     {0, 0, 0, 0},
		"CountTooLarge": append([]byte{0, 0, 1, 0}, good[4:]...),
		"TrailingBytes": append(bytes.Clone(good), 0),
		"ShortRecord":   appendBlock(nil, 1, 3, func(int) []byte { return []byte("abc") }),
		"Truncated":     good[:len(good)-1],
	} {
		if _, err := parseBlock(7, v); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

// downgrade turns the closed ledger in dir into format formatV1: one
// record per position in the "log" bucket.
func downgrade(t *testing.T, dir string) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		old, err := tx.CreateBucket(bucketV1Log)
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			b, err := parseBlock(eventstore.Position(u64(k)), v)
			if err != nil {
				return err
			}
			for pos := b.first; pos <= b.last(); pos++ {
				if err := old.Put(be64(uint64(pos)), bytes.Clone(b.record(pos))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketLog); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatV1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV1 opens ledgers of the first format: Open converts them,
// also after a conversion cut short, and refuses one with a gap.
func TestMigrateV1(t *testing.T) {
	ctx := context.Background()
	v1 := func(t *testing.T) (string, []eventstore.Event) {
		s, want := blockLedger(t, 700)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		downgrade(t, s.dir)
		return s.dir, want
	}
	converted := func(t *testing.T, s *Store, want []eventstore.Event) {
		t.Helper()
		checkLog(t, s, want...)
		checkBlocks(t, s)
		if rep, err := s.Verify(ctx); err != nil || rep.Events != uint64(len(want)) {
			t.Errorf("Verify = %+v, %v", rep, err)
		}
		err := s.view(func(tx *bbolt.Tx) error {
			if f := tx.Bucket(bucketMeta).Get(keyFormat); string(f) != formatID || tx.Bucket(bucketV1Log) != nil {
				return fmt.Errorf("format %q, old bucket there: %v", f, tx.Bucket(bucketV1Log) != nil)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		res, err := s.Append(ctx, "s-0", eventstore.Any, testEvent(1))
		if err != nil || res.Events[0].Position != eventstore.Position(len(want)+1) {
			t.Errorf("append after the conversion = %+v, %v", res, err)
		}
	}
	t.Run("OK", func(t *testing.T) {
		dir, want := v1(t)
		converted(t, mustOpenTuned(t, dir, func(s *Store) { s.migrateBatch = 64 }), want)
	})
	t.Run("OKEmpty", func(t *testing.T) {
		s := mustOpenTuned(t, t.TempDir(), nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		downgrade(t, s.dir)
		converted(t, mustOpenTuned(t, s.dir, nil), nil)
	})
	t.Run("OKResumed", func(t *testing.T) {
		dir, want := v1(t)
		calls := 0
		_, err := open(dir, Options{}, func(s *Store) {
			s.migrateBatch = 64
			s.migrateFault = func() error {
				if calls++; calls == 5 {
					return errors.New("injected failure")
				}
				return nil
			}
		})
		if err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("open with a failing conversion: err = %v", err)
		}
		converted(t, mustOpenTuned(t, dir, func(s *Store) { s.migrateBatch = 100 }), want)
	})
	t.Run("ErrCorruptGap", func(t *testing.T) {
		dir, _ := v1(t)
		editV1 := func(tx *bbolt.Tx) error { return tx.Bucket(bucketV1Log).Delete(be64(300)) }
		db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(editV1)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "position 300 is missing") {
			t.Errorf("open: err = %v, want ErrCorrupt naming position 300", err)
		}
	})
}
