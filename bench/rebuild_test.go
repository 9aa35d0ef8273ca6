package bench_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/parledger/parledger/bench"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/loadgen"
)

// benchLedgerDir is the ledger BenchmarkRebuild replays:
// PARLEDGER_BENCH_LEDGER, a data directory built by `parledger bench load`.
func benchLedgerDir(b *testing.B) string {
	dir := os.Getenv("PARLEDGER_BENCH_LEDGER")
	if dir == "" {
		b.Skip("set PARLEDGER_BENCH_LEDGER to a data directory built by parledger bench load")
	}
	return dir
}

// BenchmarkRebuild replays the ledger in PARLEDGER_BENCH_LEDGER into the
// read models, without (restart) and with (first start) the score
// timeline, reporting events/s, the ratio to encoding/json's decode rate
// of a 300-byte event measured in the same run, and the peak heap.
func BenchmarkRebuild(b *testing.B) {
	dir := benchLedgerDir(b)
	for _, mode := range []string{"restart", "first-start"} {
		b.Run(mode, func(b *testing.B) {
			store, err := bolt.Open(dir, bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			var rate, peak float64
			jsonRate := bench.JSONDecodeRate(200e6)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				opts := bench.RebuildOptions{}
				if mode == "first-start" {
					opts.Timeline = filepath.Join(b.TempDir(), "timeline.db")
				}
				res, err := bench.Rebuild(context.Background(), store, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.Log(res)
				rate += res.EventsPerSecond()
				peak = max(peak, float64(res.PeakHeap))
			}
			b.StopTimer()
			jsonRate = (jsonRate + bench.JSONDecodeRate(200e6)) / 2
			b.ReportMetric(rate/float64(b.N), "events/s")
			b.ReportMetric(rate/float64(b.N)/jsonRate, "x_json_decode")
			b.ReportMetric(peak/(1<<20), "peak_heap_MiB")
		})
	}
}

// TestRebuild replays a small generated campaign and checks what Rebuild
// reports, and that HeapProfile receives a profile of the heap it counts.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n, err := loadgen.Import(ctx, store, loadgen.DefaultConfig(6), nil)
	if err != nil {
		t.Fatal(err)
	}
	var profile bytes.Buffer
	res, err := bench.Rebuild(ctx, store, bench.RebuildOptions{HeapProfile: &profile})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != uint64(n) || res.Units != 6 || res.LiveHeap == 0 || res.PeakHeap < res.LiveHeap/2 {
		t.Errorf("%+v after importing %d events of 6 units", res, n)
	}
	// A pprof profile is gzipped protobuf; it names the scoreboard's
	// allocations among the live objects.
	zr, err := gzip.NewReader(&profile)
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil || !bytes.Contains(raw, []byte("projections.")) {
		t.Errorf("heap profile of %d bytes (%v) names no projections' function", len(raw), err)
	}
}
