// Package faulty wraps an eventstore.Store and makes its calls fail on
// demand, the way a full disk, a failing disk or an unreachable server makes
// a real store fail. Tests use it to show what clients see while the store
// fails and that the ledger is whole afterwards.
//
// # Faults
//
// An append fault either fails the append before it reaches the store
// (Before: nothing is written, as when the disk is full) or lets the store
// write it and then loses the acknowledgement (After: the events are
// recorded, the caller is told the append failed, as when a connection drops
// or fdatasync's answer is lost). A read fault fails ReadStream, ReadAll and
// Head. Subscriptions pass through, each event late by DelayDeliveries if
// set: the projections then lag behind what is written.
//
// Every fault's error matches eventstore.ErrUnavailable, which a store
// returns for a write that failed for reasons of its own; DiskFull and
// IOError also match syscall.ENOSPC and syscall.EIO.
package faulty

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parledger/parledger/eventstore"
)

// Errors a test can inject: each matches eventstore.ErrUnavailable and the
// system error it imitates.
var (
	DiskFull = fmt.Errorf("%w: write the ledger: %w", eventstore.ErrUnavailable, syscall.ENOSPC)
	IOError  = fmt.Errorf("%w: write the ledger: %w", eventstore.ErrUnavailable, syscall.EIO)
)

// When says where an append fault strikes.
type When int

const (
	// Before fails the append without passing it on: nothing is written.
	Before When = iota
	// After passes the append on and, once the store has written it,
	// returns the error instead of the result: the events are recorded but
	// the caller does not know.
	After
)

// Store is an eventstore.Store whose calls fail while a fault is set. It is
// safe for concurrent use. The zero value is not usable: call Wrap.
type Store struct {
	inner eventstore.Store

	mu          sync.Mutex
	appendErr   error
	appendWhen  When
	appendLeft  int // faults left; < 0 means until Heal
	readErr     error
	delay       atomic.Int64 // nanoseconds before each subscribed event
	failedCalls atomic.Int64
	lostAcks    atomic.Int64
}

var _ eventstore.Store = (*Store)(nil)

// Wrap returns a Store passing every call to inner until a fault is set.
func Wrap(inner eventstore.Store) *Store { return &Store{inner: inner} }

// Inner returns the wrapped store.
func (s *Store) Inner() eventstore.Store { return s.inner }

// FailAppends makes every append fail with err at when, until Heal.
func (s *Store) FailAppends(err error, when When) { s.FailNextAppends(-1, err, when) }

// FailNextAppends makes the next n appends fail with err at when; n < 0
// means every append until Heal.
func (s *Store) FailNextAppends(n int, err error, when When) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendErr, s.appendWhen, s.appendLeft = err, when, n
}

// FailReads makes ReadStream, ReadAll and Head fail with err until Heal.
func (s *Store) FailReads(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readErr = err
}

// DelayDeliveries makes subscriptions hand over each event d late (0:
// on time), as a slow disk or network does: whoever follows the log
// (the projections) falls behind the writes.
func (s *Store) DelayDeliveries(d time.Duration) { s.delay.Store(int64(d)) }

// Heal clears every fault: the store works again.
func (s *Store) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendErr, s.appendLeft, s.readErr = nil, 0, nil
}

// Failed returns how many calls a fault has failed since Wrap.
func (s *Store) Failed() int64 { return s.failedCalls.Load() }

// LostAcks returns how many appends were written and then reported as
// failed (faults After).
func (s *Store) LostAcks() int64 { return s.lostAcks.Load() }

// appendFault takes one append fault, if one is set.
func (s *Store) appendFault() (When, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appendErr == nil || s.appendLeft == 0 {
		return Before, nil
	}
	if s.appendLeft > 0 {
		s.appendLeft--
	}
	return s.appendWhen, s.appendErr
}

func (s *Store) readFault() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readErr
}

// Append passes the append on unless an append fault is set.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	when, err := s.appendFault()
	if err == nil {
		return s.inner.Append(ctx, stream, expected, events...)
	}
	s.failedCalls.Add(1)
	if when == Before {
		return eventstore.AppendResult{}, err
	}
	if _, werr := s.inner.Append(ctx, stream, expected, events...); werr != nil {
		return eventstore.AppendResult{}, werr
	}
	s.lostAcks.Add(1)
	return eventstore.AppendResult{}, err
}

// ReadStream passes the read on unless a read fault is set.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.Event, error] {
	if err := s.readFault(); err != nil {
		s.failedCalls.Add(1)
		return failed[eventstore.Event](err)
	}
	return s.inner.ReadStream(ctx, stream, opts)
}

// ReadAll passes the read on unless a read fault is set.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.Event, error] {
	if err := s.readFault(); err != nil {
		s.failedCalls.Add(1)
		return failed[eventstore.Event](err)
	}
	return s.inner.ReadAll(ctx, opts)
}

// Subscribe passes through, each event late by DelayDeliveries; other
// faults do not touch subscriptions.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		for m, err := range s.inner.Subscribe(ctx, from) {
			if d := time.Duration(s.delay.Load()); d > 0 && err == nil && !m.CaughtUp {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			if !yield(m, err) {
				return
			}
		}
	}
}

// Head passes the call on unless a read fault is set.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := s.readFault(); err != nil {
		s.failedCalls.Add(1)
		return 0, err
	}
	return s.inner.Head(ctx)
}

// Import passes the import on unless an append fault is set (Before only:
// an import is all or nothing).
func (s *Store) Import(ctx context.Context, events []eventstore.Event) error {
	if _, err := s.appendFault(); err != nil {
		s.failedCalls.Add(1)
		return err
	}
	return s.inner.Import(ctx, events)
}

// Close closes the wrapped store.
func (s *Store) Close() error { return s.inner.Close() }

// failed is a read that yields one error.
func failed[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}
