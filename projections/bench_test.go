package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/loadgen"
	"github.com/parledger/parledger/projections"
)

// benchLedger opens (building it the first time) a synthetic ledger of
// about n events in dir, with its projections caught up: the scoreboard
// and the score timeline. PARLEDGER_BENCH_DIR keeps it between runs.
func benchLedger(b *testing.B, n int) (*bolt.Store, *projections.Scoreboard, *projections.History, func()) {
	b.Helper()
	dir := os.Getenv("PARLEDGER_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	dir = filepath.Join(dir, fmt.Sprintf("ledger-%d", n))
	store, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	head, _ := store.Head(ctx)
	if head == 0 {
		units := n / loadgen.EventsPerUnit
		start := time.Now()
		got, err := loadgen.Import(ctx, store, loadgen.DefaultConfig(units), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("built a ledger of %d events (%d units) in %s", got, units, time.Since(start).Round(time.Second))
	}
	board := projections.NewScoreboard()
	history, err := projections.OpenHistory(filepath.Join(dir, "timeline.db"), board, store)
	if err != nil {
		b.Fatal(err)
	}
	runner := projections.NewRunner(store, quiet, board, history)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = runner.Run(runCtx); close(done) }()
	start := time.Now()
	if err := runner.WaitCaughtUp(ctx); err != nil {
		b.Fatal(err)
	}
	head, _ = store.Head(ctx)
	b.Logf("projections caught up with %d events in %s", head, time.Since(start).Round(time.Millisecond))
	return store, board, history, func() {
		cancel()
		<-done
		_ = history.Close()
		_ = store.Close()
	}
}

// BenchmarkRankingsAt measures an as-of-time ranking query on a ledger of
// 1,000,000 events: find the position of a random moment of the campaign,
// then the rankings as they stood then (target: under 300 ms).
func BenchmarkRankingsAt(b *testing.B) {
	store, _, history, closeAll := benchLedger(b, 1_000_000)
	defer closeAll()
	ctx := context.Background()
	var first, last time.Time
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{Limit: 1}) {
		if err != nil {
			b.Fatal(err)
		}
		first = e.RecordedAt
	}
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}) {
		if err != nil {
			b.Fatal(err)
		}
		last = e.RecordedAt
	}
	rng := rand.New(rand.NewPCG(1, 2))
	runtime.GC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := first.Add(time.Duration(rng.Int64N(int64(last.Sub(first)))))
		pos, err := projections.PositionAt(ctx, store, at)
		if err != nil {
			b.Fatal(err)
		}
		rk, err := history.RankingsAt(ctx, "quoc-gia", pos)
		if err != nil {
			b.Fatal(err)
		}
		if len(rk.Blocks) != 1 || len(rk.Blocks[0].Rows) == 0 {
			b.Fatalf("rankings at %d: %+v", pos, rk)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
}
