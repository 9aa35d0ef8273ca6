package bolt

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// BenchmarkApply measures how fast the applier moves events from memory
// into ledger.db, by transaction size: 98,304 events of 64 streams wait
// in memory (the applier held back), then one flush commits them all.
func BenchmarkApply(b *testing.B) {
	const total = 3 * 32768
	for _, batch := range []int{1024, 8192, 32768} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var applied time.Duration
			for i := 0; i < b.N; i++ {
				applied += timeFlush(b, b.TempDir(), map[string]uint64{}, total, batch, uuid.New)
			}
			b.ReportMetric(float64(total*b.N)/applied.Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// timeFlush opens the ledger in dir with the applier held back, imports n
// events (continuing the revisions in revs, ids from newID), and returns
// the time the applier takes to commit them all, batch events per
// transaction.
func timeFlush(b *testing.B, dir string, revs map[string]uint64, n, batch int, newID func() uuid.UUID) time.Duration {
	b.Helper()
	s, err := open(dir, Options{}, func(s *Store) { s.applyMin, s.applyMax, s.applyDelay = 1<<30, batch, time.Hour })
	if err != nil {
		b.Fatal(err)
	}
	importEvents(b, s, revs, n, newID)
	if st := s.Stats(); st.Applies != 0 {
		b.Fatalf("the applier ran %d times before the flush", st.Applies)
	}
	if err := s.flush(); err != nil {
		b.Fatal(err)
	}
	applied := s.Stats().ApplyTime
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return applied
}

// BenchmarkApplyLedgerSize measures the applier on a ledger that already
// holds many events: it fills a ledger.db with size events (the applier
// running as usual), reopens it with the applier held back, lets 98,304
// more events wait, and times the flush that commits them. ids=random
// gives every event a random (version 4) id, as callers with an
// idempotency key get (a hash of the key); ids=time-ordered gives them
// version 7 ids, as eventstore.NewID makes. The id index is keyed by id:
// random ids land on pages all over it, time-ordered ones at its end.
//
// The ledger sizes are 0 and 1,000,000 events, or those listed in the
// environment variable APPLY_LEDGER_SIZES (comma-separated, e.g.
// APPLY_LEDGER_SIZES=5000000 for the national campaign's size).
func BenchmarkApplyLedgerSize(b *testing.B) {
	const waiting, batch = 3 * 32768, 32768
	forLedgerSizes(b, func(b *testing.B, size int, newID func() uuid.UUID) {
		var applied time.Duration
		for i := 0; i < b.N; i++ {
			dir, revs := filledLedger(b, size, newID)
			applied += timeFlush(b, dir, revs, waiting, batch, newID)
		}
		b.ReportMetric(float64(waiting*b.N)/applied.Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkAppendLedgerSize is the sustained version of
// BenchmarkApplyLedgerSize: on a ledger filled as there, 64 writers append
// 1,000,000 single events durably (each writer its own stream), long
// enough for the events waiting for the applier to reach their limit
// (200,000) when the applier is the slower, so that appends then go at
// the applier's pace. Reports appends per second.
func BenchmarkAppendLedgerSize(b *testing.B) {
	const writers, total = 64, 1_000_000
	forLedgerSizes(b, func(b *testing.B, size int, newID func() uuid.UUID) {
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			dir, _ := filledLedger(b, size, newID)
			s, err := open(dir, Options{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			err = appendConcurrently(s, writers, total, "writer-", func() eventstore.EventData {
				e := benchEvent()
				e.ID = newID()
				return e
			})
			if err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(total*b.N)/elapsed.Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	})
}

// forLedgerSizes runs bench for each ledger size (0 and 1,000,000, or the
// sizes in APPLY_LEDGER_SIZES) with random and with time-ordered ids.
func forLedgerSizes(b *testing.B, bench func(b *testing.B, size int, newID func() uuid.UUID)) {
	sizes := []int{0, 1_000_000}
	if env := os.Getenv("APPLY_LEDGER_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				b.Fatalf("APPLY_LEDGER_SIZES=%q: %q is not a number of events", env, f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		for _, ids := range []struct {
			name string
			new  func() uuid.UUID
		}{{"random", uuid.New}, {"time-ordered", eventstore.NewID}} {
			b.Run(fmt.Sprintf("ledger=%d/ids=%s", size, ids.name), func(b *testing.B) {
				bench(b, size, ids.new)
			})
		}
	}
}

// filledLedger returns a new ledger directory holding size score events of
// 64 streams, all in ledger.db, with ids from newID, and the streams' next
// revisions.
func filledLedger(b *testing.B, size int, newID func() uuid.UUID) (string, map[string]uint64) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	dir := b.TempDir()
	s, err := open(dir, Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	revs := map[string]uint64{}
	importEvents(b, s, revs, size, newID)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, revs
}

// importEvents imports n score events of 64 streams into s, 1,000 at a
// time, continuing the revisions in revs.
func importEvents(tb testing.TB, s *Store, revs map[string]uint64, n int, newID func() uuid.UUID) {
	tb.Helper()
	now := time.Now().UTC()
	var evs []eventstore.Event
	for i := 0; i < n; i++ {
		st := fmt.Sprintf("assessment-%d", i%64)
		e := eventstore.Event{EventData: eventstore.EventData{ID: newID(), Type: "SelfScoreRecorded", SchemaVersion: 1, Payload: benchPayload,
			Actor: eventstore.Actor{ID: "unit-001-officer", Role: "unit", Scope: "001"}}, Stream: st, Revision: revs[st], RecordedAt: now}
		revs[st]++
		e.ContentHash = e.ComputeHash()
		evs = append(evs, e)
		if len(evs) == 1000 || i == n-1 {
			if err := s.Import(context.Background(), evs); err != nil {
				tb.Fatal(err)
			}
			evs = evs[:0]
		}
	}
}
