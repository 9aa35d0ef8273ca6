package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/pprof"
	"time"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/projections"
)

// RebuildOptions configures Rebuild.
type RebuildOptions struct {
	// Timeline, when set, is the path of a score timeline (History) to
	// build as well, as a server does on its first start; it should not
	// exist yet. Empty rebuilds the in-memory projections only, as a
	// server does on every later start, its timeline being on disk.
	Timeline string
	// HeapProfile, when set, receives a heap profile (pprof) taken once
	// the projections have caught up, while they are still held: what
	// LiveHeap counts.
	HeapProfile io.Writer
}

// RebuildResult is what Rebuild measured.
type RebuildResult struct {
	Events   uint64
	Duration time.Duration
	// CPU is the process's CPU time during the rebuild (every thread).
	CPU time.Duration
	// PeakHeap is the largest heap seen during the rebuild; LiveHeap the
	// heap still in use once it is done (after a collection): the read
	// models.
	PeakHeap, LiveHeap uint64
	// Units is the number of assessments the scoreboard holds.
	Units int
}

// EventsPerSecond is the rebuild's rate.
func (r RebuildResult) EventsPerSecond() float64 {
	return float64(r.Events) / r.Duration.Seconds()
}

func (r RebuildResult) String() string {
	return fmt.Sprintf("%d events in %s: %.0f events/s, cpu %s, peak heap %d MiB, live heap %d MiB",
		r.Events, r.Duration.Round(time.Millisecond), r.EventsPerSecond(), r.CPU.Round(time.Millisecond), r.PeakHeap>>20, r.LiveHeap>>20)
}

// Rebuild builds the server's read models (scoreboard, credentials and,
// with a timeline path, the score history) from the whole log of store,
// the way the server does on start: a projections.Runner reading the log
// through a subscription, decoding every event and applying it. It
// returns once the projections have caught up.
func Rebuild(ctx context.Context, store eventstore.Store, opts RebuildOptions) (RebuildResult, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return RebuildResult{}, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	board, tokens := projections.NewScoreboard(), projections.NewTokens()
	ps := []projections.Projection{board, tokens}
	var history *projections.History
	if opts.Timeline != "" {
		if history, err = projections.OpenHistory(opts.Timeline, board, store); err != nil {
			return RebuildResult{}, err
		}
		defer history.Close()
		ps = append(ps, history)
	}
	LiveHeap() // start from a collected heap
	sampler := StartHeapSampler()
	cpu0 := CPUTime()
	start := time.Now()
	runner := projections.NewRunner(store, quiet, ps...)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	err = runner.WaitCaughtUp(ctx)
	elapsed := time.Since(start)
	cpu := CPUTime() - cpu0
	cancel()
	if runErr := <-done; err == nil {
		err = runErr
	}
	peak := sampler.Stop()
	if err != nil {
		return RebuildResult{}, err
	}
	if history != nil {
		if err := history.Err(); err != nil {
			return RebuildResult{}, err
		}
	}
	res := RebuildResult{Events: uint64(head), Duration: elapsed, CPU: cpu, PeakHeap: peak, LiveHeap: LiveHeap()}
	if opts.HeapProfile != nil {
		if err := pprof.WriteHeapProfile(opts.HeapProfile); err != nil {
			return RebuildResult{}, fmt.Errorf("heap profile: %w", err)
		}
	}
	for _, c := range board.Campaigns() {
		res.Units += c.Units
	}
	return res, nil
}
