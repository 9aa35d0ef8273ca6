// Package projections builds parledger's read models from the ledger: the
// scoreboard and rankings of every campaign, the credentials in force, and
// audit trails. Read models are fed by a subscription to the global log;
// they rebuild from the log on start and report how far they have read.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
)

// Projection is a read model fed with every event of the log, in order.
type Projection interface {
	// Apply folds one event in. It must not fail: a projection ignores
	// what it does not need.
	Apply(r domain.Recorded)
}

// Flusher is a projection that buffers writes. The runner calls Flush once
// it has caught up with the log, and then, while it follows the log live,
// at most every liveFlushEvery and at the latest liveFlushEvery after a
// change; a flusher holding too much flushes itself. What a flusher
// holds is derived from the log and read back from memory, so a flush
// only bounds what a restart has to read again.
type Flusher interface {
	Flush() error
}

// Runner feeds projections from the global log. Create it with
// NewRunner and start it with Run.
type Runner struct {
	store       eventstore.Store
	projections []Projection
	log         *slog.Logger

	position    atomic.Uint64
	caughtUp    atomic.Bool
	rebuilt     atomic.Int64 // rebuild duration in ns, once caught up
	drops       atomic.Uint64
	failed      atomic.Pointer[error]
	notifyMu    sync.Mutex
	notify      chan struct{}
	caughtUpCh  chan struct{}
	caughtUpSet sync.Once
}

// NewRunner returns a runner that feeds ps from store.
func NewRunner(store eventstore.Store, logger *slog.Logger, ps ...Projection) *Runner {
	if logger == nil {
		logger = slog.Default()
	}
	return &Runner{store: store, projections: ps, log: logger, notify: make(chan struct{}), caughtUpCh: make(chan struct{})}
}

// Position returns the position of the last event applied (0 before any).
func (r *Runner) Position() eventstore.Position { return eventstore.Position(r.position.Load()) }

// CaughtUp reports whether the projections have read the whole log once.
func (r *Runner) CaughtUp() bool { return r.caughtUp.Load() }

// WaitCaughtUp blocks until the projections have caught up or ctx ends.
func (r *Runner) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-r.caughtUpCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RebuildDuration returns how long the first catch-up took (0 before).
func (r *Runner) RebuildDuration() time.Duration { return time.Duration(r.rebuilt.Load()) }

// Drops counts subscriptions that ended with an error and were resumed.
func (r *Runner) Drops() uint64 { return r.drops.Load() }

// Err returns the error that stopped the runner, if any.
func (r *Runner) Err() error {
	if p := r.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Changed returns a channel closed after the next batch of events is
// applied.
func (r *Runner) Changed() <-chan struct{} {
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	return r.notify
}

// flush has the projections that buffer writes write them.
func (r *Runner) flush() {
	for _, p := range r.projections {
		if f, ok := p.(Flusher); ok {
			if err := f.Flush(); err != nil {
				r.log.Error("projection flush", "err", err)
			}
		}
	}
}

// signal tells waiters that events were applied.
func (r *Runner) signal() {
	r.notifyMu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.notifyMu.Unlock()
}

// WaitFor blocks until the projections have applied position pos (for
// read-your-writes after a command) or ctx ends.
func (r *Runner) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		ch := r.Changed()
		if r.Position() >= pos {
			return nil
		}
		if err := r.Err(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run reads the log from the start and then live, applying every event,
// until ctx ends. A dropped subscription is resumed from the next
// position with backoff and jitter. An event that cannot be decoded stops
// the runner (a read model built around it would be wrong); Run then
// returns the error, also available from Err.
func (r *Runner) Run(ctx context.Context) error {
	start := time.Now()
	backoff := 50 * time.Millisecond
	for {
		err := r.follow(ctx, start)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *decodeError
		if errors.As(err, &fatal) || errors.Is(err, eventstore.ErrClosed) {
			r.failed.Store(&err)
			r.signal()
			r.log.Error("projections stopped", "err", err, "position", r.Position())
			return err
		}
		r.drops.Add(1)
		r.log.Warn("subscription dropped; resuming", "err", err, "position", r.Position(), "backoff", backoff)
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// liveFlushEvery is how often, at most, the runner flushes the projections
// while it follows the log live: one write of the score timeline per
// second, not one per event.
const liveFlushEvery = time.Second

// decodedBatch is what the runner's reader hands its applier: events
// decoded in log order, then possibly the news that the subscription has
// caught up, or an error that ends it.
type decodedBatch struct {
	recs     []domain.Recorded
	caughtUp bool
	err      error
}

// batchSize is how many decoded events the reader hands over at once
// while catching up; live, it hands over every event at once.
const batchSize = 256

// follow reads the log from the position after the last event applied
// and applies it, until the subscription ends. Reading and decoding run
// in a goroutine of their own, a batch ahead of the projections, so that
// a rebuild uses two cores.
func (r *Runner) follow(ctx context.Context, start time.Time) error {
	readCtx, cancel := context.WithCancel(ctx)
	batches := make(chan decodedBatch, 8)
	free := make(chan []domain.Recorded, 10)
	go r.read(readCtx, r.Position()+1, batches, free)
	defer func() {
		cancel()
		for range batches { // the reader stops before Run subscribes again
		}
	}()
	pending := 0
	lastFlush := time.Now()
	var flushTimer <-chan time.Time
	for {
		var b decodedBatch
		var ok bool
		select {
		case b, ok = <-batches:
		case <-flushTimer:
			r.flush()
			lastFlush, flushTimer = time.Now(), nil
			continue
		}
		if !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return eventstore.ErrDropped
		}
		for _, rec := range b.recs {
			for _, p := range r.projections {
				p.Apply(rec)
			}
			r.position.Store(rec.Position)
			pending++
			// Live: tell waiters after every event; while catching up, in batches.
			if r.caughtUp.Load() || pending >= 1000 {
				r.signal()
				pending = 0
			}
		}
		if cap(b.recs) == batchSize {
			clear(b.recs)
			select {
			case free <- b.recs[:0]:
			default:
			}
		}
		if len(b.recs) > 0 && r.caughtUp.Load() {
			if since := time.Since(lastFlush); since >= liveFlushEvery {
				r.flush()
				lastFlush, flushTimer = time.Now(), nil
			} else if flushTimer == nil {
				flushTimer = time.After(liveFlushEvery - since)
			}
		}
		if b.err != nil {
			return b.err
		}
		if b.caughtUp {
			if pending > 0 {
				r.signal()
				pending = 0
			}
			if !r.caughtUp.Load() {
				r.flush()
				lastFlush = time.Now()
				r.rebuilt.Store(int64(time.Since(start)))
				r.caughtUp.Store(true)
				r.caughtUpSet.Do(func() { close(r.caughtUpCh) })
				r.log.Info("projections caught up", "position", r.Position(), "took", time.Since(start).Round(time.Millisecond))
			}
		}
	}
}

// read subscribes to the log from position from, decodes each event and
// sends the events to out in batches, in order, until the subscription
// ends or ctx does; then it closes out. An error (an undecodable event, a
// dropped subscription) is sent after the events before it.
func (r *Runner) read(ctx context.Context, from eventstore.Position, out chan<- decodedBatch, free chan []domain.Recorded) {
	defer close(out)
	live := r.caughtUp.Load()
	buf := func() []domain.Recorded {
		select {
		case b := <-free:
			return b
		default:
			return make([]domain.Recorded, 0, batchSize)
		}
	}
	send := func(b decodedBatch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	batch := buf()
	for msg, err := range r.store.Subscribe(ctx, from) {
		if err != nil {
			send(decodedBatch{recs: batch, err: err})
			return
		}
		if msg.CaughtUp {
			if !send(decodedBatch{recs: batch, caughtUp: true}) {
				return
			}
			batch, live = buf(), true
			continue
		}
		rec, err := ledger.Decode(msg.Event)
		if err != nil {
			send(decodedBatch{recs: batch, err: &decodeError{fmt.Errorf("projections: %w", err)}})
			return
		}
		batch = append(batch, rec)
		if live || len(batch) == batchSize {
			if !send(decodedBatch{recs: batch}) {
				return
			}
			batch = buf()
		}
	}
	if len(batch) > 0 {
		send(decodedBatch{recs: batch})
	}
}
