package bolt

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/bench"
	"github.com/parledger/parledger/eventstore"
)

// benchPayload is a realistic score event payload, about 300 bytes.
var benchPayload = []byte(`{"campaign":"hanoi-2017","unit":"001","item":"3.2.4","points":"1.25","previous":"0.75",` +
	`"note":"Đã ban hành kế hoạch kiểm soát thủ tục hành chính năm 2017 đúng thời hạn, có tài liệu kiểm chứng kèm theo",` +
	`"evidence":["9f2c4e1a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"]}`)

func benchEvent() eventstore.EventData {
	return eventstore.EventData{
		ID: eventstore.NewID(), Type: "SelfScoreRecorded", SchemaVersion: 1,
		Actor:   eventstore.Actor{ID: "unit-001-officer", Role: "unit", Scope: "001"},
		Reason:  "Tự chấm theo tài liệu kiểm chứng",
		Payload: benchPayload,
	}
}

// fsyncRate measures how many durable 4 KiB writes per second the disk
// under dir does right now, the faster of a write and fdatasync and a
// direct synchronous write (bench.FsyncRate): the ceiling for durable
// commits.
func fsyncRate(tb testing.TB, dir string, d time.Duration) float64 {
	tb.Helper()
	rate, err := bench.FsyncRate(dir, d)
	if err != nil {
		tb.Fatal(err)
	}
	return rate
}

// BenchmarkFsync reports the disk's own rate of durable 4 KiB writes
// (bench.FsyncRate, one second each time), which BenchmarkAppend and
// BenchmarkGroupCommitFloor take as their ceiling.
func BenchmarkFsync(b *testing.B) {
	dir := b.TempDir()
	var sum float64
	for b.Loop() {
		sum += fsyncRate(b, dir, time.Second)
	}
	b.ReportMetric(sum/float64(b.N), "fsyncs/s")
}

// BenchmarkAppend measures durable appends of single events, by one writer
// and by 4, 16 and 64 writers on distinct streams. The disk's fsync rate
// is measured for half a second before and after the appends (it
// drifts), and the append rate is also reported as a share of the
// group-commit ceiling: writers x the mean of the two fsync rates.
//
// writers=64/applier=held is not a configuration but a bound: the same 64
// writers while the applier is held back (events stay in memory and in
// the write-ahead log for the whole run, nothing is written to ledger.db),
// so that it shows what making the applier cheaper could gain at most.
// Compare it with writers=64 of the same round.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name    string
		writers int
		held    bool
	}{
		{"writers=1", 1, false}, {"writers=4", 4, false}, {"writers=16", 16, false}, {"writers=64", 64, false},
		{"writers=64/applier=held", 64, true},
	} {
		writers := c.writers
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			s, err := open(dir, Options{}, func(s *Store) {
				if c.held {
					s.applyMin, s.applyDelay, s.maxMemEvents, s.maxMemBytes = math.MaxInt, time.Hour, math.MaxInt, math.MaxInt
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			before := fsyncRate(b, dir, 500*time.Millisecond)
			cpu0 := bench.CPUTime()
			b.ResetTimer()
			if err := appendConcurrently(s, writers, b.N, "assessment-", benchEvent); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu := bench.CPUTime() - cpu0
			elapsed := b.Elapsed().Seconds()
			st := s.Stats()
			rate := (before + fsyncRate(b, dir, 500*time.Millisecond)) / 2
			perSec := float64(b.N) / elapsed
			b.ReportMetric(perSec, "events/s")
			b.ReportMetric(rate, "fsyncs/s")
			b.ReportMetric(perSec/(float64(writers)*rate), "x_ceiling")
			b.ReportMetric(float64(st.Events)/float64(st.Groups), "events/group")
			// The mean time of one group's write and fdatasync, and the
			// share of the run the applier spent committing to ledger.db.
			b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(st.Groups), "sync_us/group")
			b.ReportMetric(st.ApplyTime.Seconds()/elapsed, "apply_busy")
			// CPU time (user and system, all threads) per event: on a
			// small machine it decides how fast the syncer gets the CPU
			// back after each fdatasync.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/event")
		})
	}
}

// appendConcurrently appends n single events made by newEvent to s from
// the given number of goroutines, each on its own stream (prefix and the
// goroutine's number), each waiting for its append before the next. It
// returns the first error.
func appendConcurrently(s *Store, writers, n int, prefix string, newEvent func() eventstore.EventData) error {
	var next atomic.Int64
	var g errgroup.Group
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			stream := fmt.Sprintf("%s%d", prefix, w)
			for next.Add(1) <= int64(n) {
				if _, err := s.Append(context.Background(), stream, eventstore.Any, newEvent()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// BenchmarkGroupCommitFloor is the reference for BenchmarkAppend: the
// same 64 writers, each waiting for its 560-byte record to be durable, but
// nothing else: one goroutine takes every record queued, writes them to a
// preallocated file with one write and one fdatasync, and answers. No
// checks, no encoding, no hashing, no ledger.db. What it reaches on a
// machine is about the best a group commit in Go can do there.
func BenchmarkGroupCommitFloor(b *testing.B) {
	const writers, recordSize = 64, 560
	dir := b.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, "floor"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < 256<<20; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	type req struct {
		rec  []byte
		done chan error
	}
	reqs := make(chan req, writers)
	var groups atomic.Int64
	go func() {
		var off int64
		var buf []byte
		var batch []req
		for r := range reqs {
			batch = append(batch[:0], r)
		drain:
			for {
				select {
				case r := <-reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			buf = buf[:0]
			for _, r := range batch {
				buf = append(buf, r.rec...)
			}
			if off+int64(len(buf)) > 256<<20 {
				off = 0
			}
			_, err := f.WriteAt(buf, off)
			if err == nil {
				err = f.Sync()
			}
			off += int64(len(buf))
			groups.Add(1)
			for _, r := range batch {
				r.done <- err
			}
		}
	}()
	defer close(reqs)
	before := fsyncRate(b, dir, 500*time.Millisecond)
	var next atomic.Int64
	b.ResetTimer()
	var g errgroup.Group
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			for next.Add(1) <= int64(b.N) {
				r := req{rec: make([]byte, recordSize), done: make(chan error, 1)}
				reqs <- r
				if err := <-r.done; err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed := b.Elapsed().Seconds()
	rate := (before + fsyncRate(b, dir, 500*time.Millisecond)) / 2
	perSec := float64(b.N) / elapsed
	b.ReportMetric(perSec, "events/s")
	b.ReportMetric(rate, "fsyncs/s")
	b.ReportMetric(perSec/(writers*rate), "x_ceiling")
	b.ReportMetric(float64(b.N)/float64(groups.Load()), "events/group")
}

var (
	readOnce  sync.Once
	readStore *Store
)

// BenchmarkReadAll reads the whole global log of 200,000 events from
// ledger.db with a warm cache: envelope fields decoded, payloads left as
// bytes. The store is closed and reopened after the import, so that every
// event is in ledger.db and the applier is idle, and read once before the
// timer starts.
func BenchmarkReadAll(b *testing.B) {
	const total = 200_000
	ctx := context.Background()
	readAll := func(s *Store) {
		n := 0
		for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != total {
			b.Fatalf("read %d events, want %d", n, total)
		}
	}
	readOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parledger-bench-")
		if err != nil {
			b.Fatal(err)
		}
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		batch := make([]eventstore.Event, 0, 1000)
		for i := 0; i < total; i++ {
			e := eventstore.Event{EventData: benchEvent(), Stream: fmt.Sprintf("assessment-%d", i%10_000), Revision: uint64(i / 10_000), RecordedAt: now}
			e.ContentHash = e.ComputeHash()
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				if err := s.Import(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if readStore, err = Open(dir, Options{}); err != nil {
			b.Fatal(err)
		}
		if st := readStore.Stats(); st.Pending != 0 {
			b.Fatalf("%d events not in ledger.db", st.Pending)
		}
		readAll(readStore)
	})
	b.ReportAllocs()
	cpu0 := bench.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readAll(readStore)
	}
	b.StopTimer()
	events := float64(total) * float64(b.N)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	// CPU time per event, all threads (the GC's included): on a busy
	// machine it shows the cost when the wall clock cannot.
	b.ReportMetric(float64((bench.CPUTime()-cpu0).Nanoseconds())/events, "cpu_ns/event")
}
