package esdb

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/parledger/parledger/eventstore"
)

// Resubscription after a drop: exponential backoff with jitter between
// attempts, and the number of failed attempts in a row after which the
// subscription ends with eventstore.ErrDropped.
const (
	resubscribeMin      = 50 * time.Millisecond
	resubscribeMax      = 5 * time.Second
	resubscribeAttempts = 10
)

// sleep waits about d (between d/2 and 3d/2, so that many subscribers do
// not retry in step) or until ctx ends, and reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d/2 + rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Subscribe delivers the ledger's events from position from: those
// already recorded, one message with CaughtUp set, then new events as
// they are committed. It is a catch-up subscription to $all, filtered on
// the server by the store's stream prefixes.
//
// CaughtUp is delivered once, at the first of: the server's caught-up
// message (recent servers send one), a checkpoint or an event at or
// after the ledger's head read when the subscription started (older
// servers), or at once when from is after that head.
//
// When EventStoreDB drops the subscription (a restart, a leader change, a
// broken connection), Subscribe subscribes again after the last event it
// delivered, with backoff and jitter, so that the reader sees no gap and
// no repeat; drops and resubscriptions are counted in the metrics. After
// resubscribeAttempts failed attempts in a row it yields an error that
// matches eventstore.ErrDropped (and eventstore.ErrUnavailable). Close
// ends it with eventstore.ErrClosed; ctx ending or the reader stopping
// ends it without an error. An event whose content hash fails ends it
// with eventstore.ErrHashMismatch.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		if s.isClosed() {
			yield(eventstore.Message{}, errClosed)
			return
		}
		parent := ctx
		ctx, stop := s.opContext(ctx)
		defer stop()
		s.m.subscriptions.Inc()
		defer s.m.subscriptions.Dec()
		sub := &subscription{s: s, ctx: ctx, from: uint64(from), yield: yield}
		if err := sub.run(); err != nil && parent.Err() == nil {
			if errors.Is(err, eventstore.ErrClosed) || s.isClosed() {
				err = errClosed
			}
			yield(eventstore.Message{}, err)
		}
	}
}

// subscription is the state of one Subscribe.
type subscription struct {
	s     *Store
	ctx   context.Context
	from  uint64
	yield func(eventstore.Message, error) bool

	last     uint64 // position of the last event delivered
	head     uint64 // the ledger's head when the subscription started
	haveHead bool
	caughtUp bool
}

// errReaderStopped ends run when the reader stops iterating.
var errReaderStopped = errors.New("reader stopped")

// run subscribes and resubscribes until the reader stops, ctx ends or the
// server stays unreachable.
func (sub *subscription) run() error {
	s := sub.s
	backoff := resubscribeMin
	failures, started := 0, false
	for {
		if sub.ctx.Err() != nil {
			return sub.ctx.Err()
		}
		ran, progressed, err := sub.once(started)
		switch {
		case errors.Is(err, errReaderStopped):
			return nil
		case sub.ctx.Err() != nil:
			return sub.ctx.Err()
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if ran {
			started = true
			s.m.drops.Inc()
			s.log.Warn("esdb: subscription dropped; resubscribing", "after", sub.last, "err", err)
		}
		if progressed {
			failures, backoff = 0, resubscribeMin
		}
		if failures++; failures >= resubscribeAttempts {
			return fmt.Errorf("esdb: subscription: %w after %d attempts: %w", eventstore.ErrDropped, failures, s.translate(sub.ctx, "subscribe", err))
		}
		if !sleep(sub.ctx, backoff) {
			return sub.ctx.Err()
		}
		backoff = min(2*backoff, resubscribeMax)
	}
}

// fatalError ends a subscription without resubscribing.
type fatalError struct{ err error }

// Error returns the cause's message.
func (f fatalError) Error() string { return f.err.Error() }

// once runs one EventStoreDB subscription until it drops. ran reports
// that the subscription started (the next one is a resubscription);
// progressed that it received messages or lived long enough for its drop
// to count as a new incident rather than one more failed attempt.
func (sub *subscription) once(resubscribe bool) (ran, progressed bool, err error) {
	s := sub.s
	if !sub.caughtUp && !sub.haveHead {
		h, err := s.Head(sub.ctx)
		if err != nil {
			return false, false, err
		}
		sub.head, sub.haveHead = uint64(h), true
	}
	var start esdb.AllPosition = esdb.Position{Commit: sub.last, Prepare: sub.last}
	if sub.last == 0 {
		if start, err = s.startAt(sub.ctx, sub.from, true); err != nil {
			return false, false, err
		}
	}
	es, l, err := s.subscribeAll(sub.ctx, start)
	if err != nil {
		return false, false, err
	}
	began := time.Now()
	received := false
	defer func() {
		_ = es.Close()
		// A drop alone does not mark the server unreachable: the next
		// subscription attempt finds out.
		l.done()
	}()
	// progress reports a drop after the subscription ran.
	progress := func(err error) (bool, bool, error) {
		return true, received || time.Since(began) >= resubscribeMax, err
	}
	if resubscribe {
		s.m.resubscribes.Inc()
	}
	if !sub.caughtUp && (sub.head == 0 || sub.head < sub.from) {
		if err := sub.caughtUpNow(); err != nil {
			return progress(err)
		}
	}
	for {
		ev := es.Recv()
		if ev.SubscriptionDropped == nil {
			received = true
		}
		switch {
		case ev.EventAppeared != nil:
			r := ev.EventAppeared.OriginalEvent()
			p := r.Position.Commit
			if p <= sub.last || p < sub.from || !s.owns(r.StreamID) {
				continue
			}
			e, err := s.decode(r)
			if err != nil {
				return progress(fatalError{err})
			}
			sub.last = p
			s.bounds.add(p)
			if !sub.yield(eventstore.Message{Event: e.Event}, nil) {
				return progress(errReaderStopped)
			}
			if !sub.caughtUp && p >= sub.head {
				if err := sub.caughtUpNow(); err != nil {
					return progress(err)
				}
			}
		case ev.CaughtUp != nil:
			if err := sub.caughtUpNow(); err != nil {
				return progress(err)
			}
		case ev.CheckPointReached != nil:
			if !sub.caughtUp && ev.CheckPointReached.Commit >= sub.head {
				if err := sub.caughtUpNow(); err != nil {
					return progress(err)
				}
			}
		case ev.FellBehind != nil:
			s.log.Debug("esdb: subscription fell behind; the server catches it up")
		case ev.SubscriptionDropped != nil:
			err := ev.SubscriptionDropped.Error
			if err == nil {
				err = errors.New("subscription dropped")
			}
			return progress(err)
		}
	}
}

// caughtUpNow delivers the CaughtUp message, once.
func (sub *subscription) caughtUpNow() error {
	if sub.caughtUp {
		return nil
	}
	sub.caughtUp = true
	if !sub.yield(eventstore.Message{CaughtUp: true}, nil) {
		return errReaderStopped
	}
	return nil
}

// subscribeAll starts a subscription to $all after position from,
// filtered by the ledger's prefixes. The lease is held until the caller
// releases it with the subscription's end.
func (s *Store) subscribeAll(ctx context.Context, from esdb.AllPosition) (*esdb.Subscription, *lease, error) {
	l, err := s.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan result[*esdb.Subscription], 1)
	go func() {
		es, err := l.cn.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
			From:   from,
			Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: s.prefixes},
		})
		ch <- result[*esdb.Subscription]{es, err}
	}()
	abandon := func(cause error) {
		go func() {
			r := <-ch
			if r.v != nil {
				_ = r.v.Close()
			}
			l.release(cause, ctx.Err() == nil)
		}()
	}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			l.release(r.err, ctx.Err() == nil)
			return nil, nil, r.err
		}
		l.settle(nil, true)
		return r.v, l, nil
	case <-ctx.Done():
		abandon(ctx.Err())
		return nil, nil, ctx.Err()
	case <-timer.C:
		err := fmt.Errorf("%w: the subscription did not start within %s", eventstore.ErrUnavailable, s.timeout)
		abandon(err)
		return nil, nil, err
	}
}
