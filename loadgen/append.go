package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/eventstore"
)

// AppendOptions configures Append.
type AppendOptions struct {
	// Writers is the number of concurrent writers (default 64).
	Writers int
	// Progress, if set, is called now and then, and at the end, with the
	// number of events appended so far; never concurrently.
	Progress func(n int)
	// Latency, if set, is called after every append with how long it
	// took, from the writer's goroutine.
	Latency func(d time.Duration)
}

// Append writes the campaign into store the way its clients would: one
// durable Append per event at the stream's expected revision, the
// campaign's own events first, then Writers concurrent writers each
// taking a share of the units (writer w the units w, w+Writers, ...). It
// returns the number of events appended.
func Append(ctx context.Context, store eventstore.Store, cfg Config, opts AppendOptions) (int, error) {
	writers := opts.Writers
	if writers <= 0 {
		writers = 64
	}
	var n atomic.Int64
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				if opts.Progress != nil {
					opts.Progress(int(n.Load()))
				}
				return
			case <-tick.C:
				if opts.Progress != nil {
					opts.Progress(int(n.Load()))
				}
			}
		}
	}()
	defer func() { close(stop); <-reported }()

	// write appends the events of one shard, each stream at its next
	// revision.
	write := func(ctx context.Context, shard Shard) error {
		next := map[string]uint64{}
		for e, err := range Generate(cfg, shard) {
			if err != nil {
				return err
			}
			if e.Unit < 0 {
				continue // written by setup
			}
			expected := eventstore.NoStream
			if rev, ok := next[e.Stream]; ok {
				expected = eventstore.Exact(rev)
			}
			start := time.Now()
			res, err := store.Append(ctx, e.Stream, expected, e.Data)
			if err != nil {
				return fmt.Errorf("append to %s after %d events: %w", e.Stream, n.Load(), err)
			}
			if opts.Latency != nil {
				opts.Latency(time.Since(start))
			}
			next[e.Stream] = res.LastRevision()
			n.Add(1)
		}
		return nil
	}
	// The campaign, its framework and its units, in order.
	setup := func(ctx context.Context) error {
		next := map[string]uint64{}
		for e, err := range Generate(cfg, Shard{}) {
			if err != nil {
				return err
			}
			if e.Unit >= 0 {
				return nil
			}
			expected := eventstore.NoStream
			if rev, ok := next[e.Stream]; ok {
				expected = eventstore.Exact(rev)
			}
			res, err := store.Append(ctx, e.Stream, expected, e.Data)
			if err != nil {
				return fmt.Errorf("append to %s: %w", e.Stream, err)
			}
			next[e.Stream] = res.LastRevision()
			n.Add(1)
		}
		return nil
	}
	if err := setup(ctx); err != nil {
		return int(n.Load()), err
	}
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < writers; w++ {
		g.Go(func() error { return write(gctx, Shard{Index: w, Of: writers}) })
	}
	err := g.Wait()
	return int(n.Load()), err
}
