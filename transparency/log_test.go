package transparency_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/storetest"
	"github.com/parledger/parledger/transparency"
)

func TestAppend(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		l := MustOpen(t, transparency.Options{})
		events := testEvents(20)
		MustAppend(t, l, events[:7]...)
		MustAppend(t, l, events[7:]...)
		ref := testonly.New(rfc6962.DefaultHasher)
		for i := range events {
			ref.Append(transparency.LeafHash(&events[i]))
		}
		if got, _ := l.Root(20); !bytes.Equal(got, ref.Hash()) {
			t.Fatalf("root = %x, want %x", got, ref.Hash())
		}
		for i := range events {
			index, err := l.LeafIndex(events[i].ID)
			if err != nil || index != uint64(i) {
				t.Fatalf("LeafIndex(event %d) = %d, %v", i, index, err)
			}
			p, err := l.ProveEvent(&events[i], 0)
			if err != nil {
				t.Fatalf("ProveEvent(event %d): %v", i, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, p.LeafHash, p.Hashes, ref.Hash()); err != nil {
				t.Fatalf("proof of event %d does not verify: %v", i, err)
			}
			if p, err = l.ProveEvent(&events[i], uint64(i+1)); err != nil || p.TreeSize != uint64(i+1) {
				t.Fatalf("ProveEvent(event %d, size %d) = %+v, %v", i, i+1, p, err)
			}
		}
		if _, err := l.ProveEvent(&events[5], 5); !errors.Is(err, transparency.ErrOutOfRange) {
			t.Errorf("proof of leaf 5 in a tree of 5: err = %v, want ErrOutOfRange", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		l := MustOpen(t, transparency.Options{})
		MustAppend(t, l, testEvents(3)...)
		e := testEvent(3)
		if _, err := l.LeafIndex(e.ID); !errors.Is(err, transparency.ErrNotFound) {
			t.Errorf("LeafIndex of an event not appended: err = %v, want ErrNotFound", err)
		}
		if _, err := l.ProveEvent(&e, 0); !errors.Is(err, transparency.ErrNotFound) {
			t.Errorf("ProveEvent of an event not appended: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("ErrLedgerChanged", func(t *testing.T) {
		l := MustOpen(t, transparency.Options{})
		events := testEvents(5)
		MustAppend(t, l, events[:4]...)
		// The event as the store now returns it differs from the one logged.
		edited := events[2]
		edited.RecordedAt = edited.RecordedAt.Add(1)
		_, err := l.ProveEvent(&edited, 0)
		if !errors.Is(err, transparency.ErrLedgerChanged) || !errors.Is(err, eventstore.ErrCorrupt) || eventErr(t, err).Index != 2 {
			t.Errorf("ProveEvent of an edited event: err = %v, want ErrLedgerChanged at leaf 2", err)
		}
		edited = events[2]
		edited.Payload = []byte(`{"n":2,"points":"9.25"}`)
		if _, err := l.ProveEvent(&edited, 0); !errors.Is(err, eventstore.ErrHashMismatch) {
			t.Errorf("ProveEvent of an event failing its hash: err = %v, want ErrHashMismatch", err)
		}
		// Appending an event again, or one failing its hash, appends nothing.
		repeated := events[1]
		repeated.Position = 100
		if err := l.Append(events[4], repeated); !errors.Is(err, transparency.ErrLedgerChanged) {
			t.Errorf("append of a repeated id: err = %v, want ErrLedgerChanged", err)
		}
		bad := events[4]
		bad.Payload = []byte(`{"n":4,"points":"9.25"}`)
		if err := l.Append(bad); !errors.Is(err, eventstore.ErrHashMismatch) {
			t.Errorf("append of an event failing its hash: err = %v, want ErrHashMismatch", err)
		}
		if err := l.Append(events[3]); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("append out of order: err = %v, want ErrInvalid", err)
		}
		if l.Size() != 4 {
			t.Errorf("Size after refused appends = %d, want 4", l.Size())
		}
		MustAppend(t, l, events[4])
	})
	t.Run("ErrDamaged", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), transparency.FileName)
		if err := os.WriteFile(path, bytes.Repeat([]byte("not a tree "), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.Open(path, transparency.Options{}); !errors.Is(err, transparency.ErrDamaged) {
			t.Errorf("open garbage: err = %v, want ErrDamaged", err)
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		l := MustOpen(t, transparency.Options{})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(testEvent(0)); !errors.Is(err, transparency.ErrClosed) {
			t.Errorf("append after Close: err = %v, want ErrClosed", err)
		}
		if _, err := l.InclusionProof(0, 0); err == nil {
			t.Error("proof after Close succeeded")
		}
	})
}

func TestFollow(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		events := MustLedger(t, dir, 100)
		s := MustOpenStore(t, dir)
		treePath := filepath.Join(t.TempDir(), transparency.FileName)
		l := MustOpenAt(t, treePath, transparency.Options{})
		f := startFollow(t, l, s)
		mustWaitSize(t, l, 100)
		if err := l.Follow(context.Background(), s); err == nil {
			t.Error("a second Follow ran beside the first")
		}
		// Live: new events join the tree as they are committed.
		for i := 100; i < 250; i++ {
			storetest.MustAppend(t, s, fmt.Sprintf("s-%d", i%4), eventstore.Any, storetest.NewEvent("E", i))
		}
		mustWaitSize(t, l, 250)
		if !l.CaughtUp() {
			t.Error("CaughtUp is false after catching up")
		}
		all := storetest.Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{}))
		ref := testonly.New(rfc6962.DefaultHasher)
		for i := range all {
			ref.Append(transparency.LeafHash(&all[i]))
		}
		if root, _ := l.Root(250); !bytes.Equal(root, ref.Hash()) {
			t.Fatalf("root after following = %x, want %x", root, ref.Hash())
		}
		if _, err := l.ProveEvent(&events[42], 0); err != nil {
			t.Errorf("ProveEvent: %v", err)
		}
		rep, err := l.Audit(context.Background(), s)
		if err != nil || rep.Checked != 250 || rep.Pending != 0 {
			t.Errorf("Audit = %+v, %v; want 250 checked", rep, err)
		}
		if err := f.stop(t); err != nil {
			t.Errorf("Follow returned %v after its context ended, want nil", err)
		}

		// Restart: the tree is checked against the store, then continues.
		for _, quick := range []bool{false, true} {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = MustOpenAt(t, treePath, transparency.Options{QuickStart: quick})
			if l.Size() != uint64(len(all)) {
				t.Fatalf("reopened with %d leaves, want %d", l.Size(), len(all))
			}
			storetest.MustAppend(t, s, "s-0", eventstore.Any, storetest.NewEvent("E", len(all)))
			all = append(all, storetest.Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{From: eventstore.Position(len(all) + 1)}))...)
			f = startFollow(t, l, s)
			mustWaitSize(t, l, uint64(len(all)))
			if err := f.stop(t); err != nil {
				t.Errorf("Follow (QuickStart %v) returned %v", quick, err)
			}
		}
	})
	t.Run("SameTreeAfterImport", func(t *testing.T) {
		// A ledger exported and imported into another store (where events
		// get other positions) gives the same tree, and the Merkle log of the
		// old store accepts the new one.
		src := t.TempDir()
		MustLedger(t, src, 60)
		s1 := MustOpenStore(t, src)
		// The destination already holds other events, so positions shift.
		dstDir := t.TempDir()
		var export bytes.Buffer
		if _, err := eventstore.Export(context.Background(), s1, &export); err != nil {
			t.Fatal(err)
		}
		l := MustOpen(t, transparency.Options{})
		f := startFollow(t, l, s1)
		mustWaitSize(t, l, 60)
		if err := f.stop(t); err != nil {
			t.Fatal(err)
		}
		root1, _ := l.Root(60)

		s2, err := bolt.Open(dstDir, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s2.Close() })
		if _, err := eventstore.Import(context.Background(), s2, bytes.NewReader(export.Bytes()), nil); err != nil {
			t.Fatal(err)
		}
		l2 := MustOpen(t, transparency.Options{})
		f2 := startFollow(t, l2, s2)
		mustWaitSize(t, l2, 60)
		if root2, _ := l2.Root(60); !bytes.Equal(root1, root2) {
			t.Fatalf("root after import = %x, want %x", root2, root1)
		}
		if err := f2.stop(t); err != nil {
			t.Fatal(err)
		}
		// The first Merkle log follows the new store and grows with it.
		f = startFollow(t, l, s2)
		storetest.MustAppend(t, s2, "s-0", eventstore.Any, storetest.NewEvent("E", 60))
		mustWaitSize(t, l, 61)
		if err := f.stop(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrLedgerChanged", func(t *testing.T) {
		dir := t.TempDir()
		MustLedger(t, dir, 20)
		s := MustOpenStore(t, dir)
		l := MustOpen(t, transparency.Options{})
		f := startFollow(t, l, s)
		mustWaitSize(t, l, 20)
		if err := f.stop(t); err != nil {
			t.Fatal(err)
		}
		var export bytes.Buffer
		if _, err := eventstore.Export(context.Background(), s, &export); err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitAfter(export.Bytes(), []byte("\n"))

		// The same ledger cut back to its first 12 events.
		short := MustOpenStore(t, t.TempDir())
		if _, err := eventstore.Import(context.Background(), short, bytes.NewReader(bytes.Join(lines[:12], nil)), nil); err != nil {
			t.Fatal(err)
		}
		err := startFollow(t, l, short).wait(t)
		if !errors.Is(err, transparency.ErrLedgerChanged) || !bytes.Contains([]byte(err.Error()), []byte("ends after 12 events but the Merkle log recorded 20")) {
			t.Fatalf("Follow of a shortened ledger: err = %v, want ErrLedgerChanged naming 12 and 20", err)
		}
		if !errors.Is(l.Err(), transparency.ErrLedgerChanged) {
			t.Errorf("Err() = %v, want the error Follow returned", l.Err())
		}
		if _, err := l.Audit(context.Background(), short); !errors.Is(err, transparency.ErrLedgerChanged) {
			t.Errorf("Audit of a shortened ledger: err = %v, want ErrLedgerChanged", err)
		}

		// Another ledger altogether.
		other := t.TempDir()
		MustLedger(t, other, 10)
		err = startFollow(t, l, MustOpenStore(t, other)).wait(t)
		if !errors.Is(err, transparency.ErrLedgerChanged) || eventErr(t, err).Index != 0 {
			t.Fatalf("Follow of another ledger: err = %v, want ErrLedgerChanged at leaf 0", err)
		}
	})
}

// TestConcurrentReads serves roots and proofs while Follow appends, and
// checks every answer with the independent verifier.
func TestConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	MustLedger(t, dir, 10)
	s := MustOpenStore(t, dir)
	l := MustOpen(t, transparency.Options{})
	startFollow(t, l, s)
	mustWaitSize(t, l, 10)
	const total = 600
	done := make(chan struct{})
	var g errgroup.Group
	g.Go(func() error {
		defer close(done)
		for i := 10; i < total; i++ {
			if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i%7), eventstore.Any, storetest.NewEvent("E", i)); err != nil {
				return err
			}
		}
		return nil
	})
	for r := 0; r < 3; r++ {
		g.Go(func() error {
			for n := 0; ; n++ {
				select {
				case <-done:
					return nil
				default:
				}
				size := l.Size()
				root, err := l.Root(size)
				if err != nil {
					return err
				}
				index := uint64(n) % size
				leaf, err := l.LeafHash(index)
				if err != nil {
					return err
				}
				p, err := l.InclusionProof(index, size)
				if err != nil {
					return err
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, p, root); err != nil {
					return fmt.Errorf("inclusion of %d in %d: %w", index, size, err)
				}
				size1 := 1 + uint64(n*7)%size
				root1, err := l.Root(size1)
				if err != nil {
					return err
				}
				c, err := l.ConsistencyProof(size1, size)
				if err != nil {
					return err
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size, c, root1, root); err != nil {
					return fmt.Errorf("consistency from %d to %d: %w", size1, size, err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	mustWaitSize(t, l, total)
}

// BenchmarkAppend measures appending events (content hash check, leaf
// hash, tree nodes, id index) in batches of 4096, as Follow does while
// catching up; ns/op is per event.
func BenchmarkAppend(b *testing.B) {
	l := MustOpen(b, transparency.Options{})
	batch := make([]eventstore.Event, 0, 4096)
	i := 0
	for b.Loop() {
		batch = append(batch, testEvent(i))
		i++
		if len(batch) == cap(batch) {
			if err := l.Append(batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// droppy is a store whose first subscriptions drop after a few messages.
type droppy struct {
	eventstore.Store
	drops atomic.Int32
}

func (d *droppy) Subscribe(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		n := 0
		for m, err := range d.Store.Subscribe(ctx, from) {
			if n++; n > 7 && d.drops.Add(1) <= 3 {
				yield(eventstore.Message{}, eventstore.ErrDropped)
				return
			}
			if !yield(m, err) {
				return
			}
		}
	}
}

func TestFollowResumesAfterDrops(t *testing.T) {
	dir := t.TempDir()
	MustLedger(t, dir, 50)
	s := &droppy{Store: MustOpenStore(t, dir)}
	l := MustOpen(t, transparency.Options{})
	f := startFollow(t, l, s)
	mustWaitSize(t, l, 50)
	all := storetest.Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{}))
	ref := testonly.New(rfc6962.DefaultHasher)
	for i := range all {
		ref.Append(transparency.LeafHash(&all[i]))
	}
	if root, _ := l.Root(50); !bytes.Equal(root, ref.Hash()) {
		t.Fatalf("root after drops = %x, want %x", root, ref.Hash())
	}
	if got := s.drops.Load(); got < 3 {
		t.Fatalf("the store dropped %d subscriptions, want 3", got)
	}
	if err := f.stop(t); err != nil {
		t.Fatal(err)
	}
}
