package bolt_test

import (
	"testing"

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
