package faulty_test

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/faulty"
	"github.com/parledger/parledger/eventstore/storetest"
)

func mustOpen(tb testing.TB, dir string) *faulty.Store {
	tb.Helper()
	s, err := bolt.Open(filepath.Join(dir, "ledger"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	f := faulty.Wrap(s)
	tb.Cleanup(func() { _ = f.Close() })
	return f
}

// TestCompliance shows that the wrapper without a fault is the store it
// wraps: the whole contract holds through it.
func TestCompliance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(tb testing.TB) (eventstore.Store, func() eventstore.Store) {
			dir := tb.TempDir()
			s := mustOpen(tb, dir)
			return s, func() eventstore.Store {
				if err := s.Close(); err != nil {
					tb.Fatalf("close: %v", err)
				}
				return mustOpen(tb, dir)
			}
		},
		Features: storetest.Features{GaplessPositions: true},
	})
}

// TestFaults checks each fault: Before writes nothing, After writes and
// reports a failure, reads fail while a read fault is set, and Heal ends
// them all.
func TestFaults(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	storetest.MustAppend(t, s, "s", eventstore.NoStream, storetest.NewEvent("A", 0))

	t.Run("ErrUnavailable/Before", func(t *testing.T) {
		s.FailAppends(faulty.DiskFull, faulty.Before)
		defer s.Heal()
		_, err := s.Append(ctx, "s", eventstore.Exact(0), storetest.NewEvent("A", 1))
		if !errors.Is(err, eventstore.ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("err = %v, want ErrUnavailable and ENOSPC", err)
		}
		if h, _ := s.Head(ctx); h != 1 {
			t.Errorf("head = %d after a failed append, want 1", h)
		}
	})
	t.Run("ErrUnavailable/After", func(t *testing.T) {
		s.FailNextAppends(1, faulty.IOError, faulty.After)
		e := storetest.NewEvent("A", 2)
		_, err := s.Append(ctx, "s", eventstore.Exact(0), e)
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("err = %v, want EIO", err)
		}
		// Written all the same: a retry with the same id finds it.
		res, err := s.Append(ctx, "s", eventstore.Exact(0), e)
		if err != nil || !res.Duplicate {
			t.Fatalf("retry = %+v, %v; want the original result", res, err)
		}
		if s.LostAcks() != 1 {
			t.Errorf("LostAcks = %d, want 1", s.LostAcks())
		}
	})
	t.Run("ErrUnavailable/Reads", func(t *testing.T) {
		s.FailReads(faulty.IOError)
		for _, err := range s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{}) {
			if !errors.Is(err, eventstore.ErrUnavailable) {
				t.Errorf("read err = %v, want ErrUnavailable", err)
			}
		}
		if _, err := s.Head(ctx); err == nil {
			t.Errorf("Head succeeded during a read fault")
		}
		s.Heal()
		if got := storetest.Collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{})); len(got) != 2 {
			t.Errorf("after Heal: %d events, want 2", len(got))
		}
	})
}
