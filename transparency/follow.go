package transparency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// cursor is how far Follow has read: the leaf index the next event of
// the subscription takes, and the position to resubscribe from.
type cursor struct {
	index uint64
	from  eventstore.Position
}

// Follow keeps the tree in step with store until ctx ends (then it
// returns nil). It reads the whole log from the start: every event
// already in the tree is checked against its recorded leaf (with
// Options.QuickStart, only the newest), the rest are appended, in
// batches, and then new events as they are committed. A dropped
// subscription is resumed after the last event read, with backoff.
//
// Follow stops and returns an error, also kept for Err, when the ledger no
// longer matches the tree: an event whose content fails its hash, whose
// leaf differs from the one recorded at its index, or a log shorter than
// the tree. That is an *EventError (or, for a shortened log, a plain
// error) matching ErrLedgerChanged: the history was edited, deleted,
// inserted or reordered behind the store's back. It also stops when the
// store reports corruption or is closed. The tree is then left as it was,
// still matching the checkpoints it signed. Only one Follow may run at a
// time.
func (l *Log) Follow(ctx context.Context, store eventstore.Store) error {
	if !l.following.CompareAndSwap(false, true) {
		return errors.New("merkle log: Follow is already running")
	}
	defer l.following.Store(false)
	cur := cursor{from: eventstore.Start}
	if l.quick {
		if ok, err := l.quickCheck(ctx, store); err != nil {
			return l.stop(err)
		} else if ok {
			l.mu.RLock()
			cur = cursor{index: l.rng.End(), from: l.last + 1}
			l.mu.RUnlock()
		}
	}
	start := time.Now()
	backoff := 50 * time.Millisecond
	for {
		err := l.follow(ctx, store, &cur, start)
		if ctx.Err() != nil {
			return nil
		}
		if fatal(err) {
			return l.stop(err)
		}
		l.log.Warn("merkle log: subscription dropped; resuming", "err", err, "leaves", cur.index, "backoff", backoff)
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// fatal reports whether Follow must stop rather than resume.
func fatal(err error) bool {
	return errors.Is(err, ErrVerify) || errors.Is(err, eventstore.ErrCorrupt) || errors.Is(err, eventstore.ErrClosed) ||
		errors.Is(err, eventstore.ErrInvalid) || errors.Is(err, ErrClosed) || errors.Is(err, ErrDamaged)
}

func (l *Log) stop(err error) error {
	l.failed.Store(&err)
	l.log.Error("merkle log stopped", "err", err, "leaves", l.Size())
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
	return err
}

// Err returns the error that stopped Follow, if any: with ErrLedgerChanged,
// the evidence that the ledger was changed behind the store's back.
func (l *Log) Err() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// CaughtUp reports whether Follow has read the whole log once.
func (l *Log) CaughtUp() bool { return l.caughtUp.Load() }

// follow runs one subscription from cur until it ends.
func (l *Log) follow(ctx context.Context, store eventstore.Store, cur *cursor, start time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A reader goroutine runs the subscription, so that the loop below
	// can take whatever has arrived as one batch: one transaction per
	// batch, not per event.
	msgs := make(chan eventstore.Message, maxBatch)
	errc := make(chan error, 1)
	go func() {
		defer close(msgs)
		for m, err := range store.Subscribe(ctx, cur.from) {
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
		if err := ctx.Err(); err != nil {
			errc <- err
		} else {
			errc <- eventstore.ErrDropped
		}
	}()
	defer func() {
		cancel()
		for range msgs {
		}
	}()

	batch := make([]eventstore.Event, 0, maxBatch)
	for m := range msgs {
		caughtUp := m.CaughtUp
		if !caughtUp {
			batch = append(batch[:0], m.Event)
		drain:
			for len(batch) < maxBatch {
				select {
				case next, ok := <-msgs:
					if !ok {
						break drain
					}
					if next.CaughtUp {
						caughtUp = true
						break drain
					}
					batch = append(batch, next.Event)
				default:
					break drain
				}
			}
			if err := l.consume(batch, cur); err != nil {
				return err
			}
		}
		if caughtUp {
			if size := l.Size(); cur.index < size {
				return fmt.Errorf("%w: the ledger ends after %d events but the Merkle log recorded %d: events were deleted from its end (or the ledger was restored from an older backup)", ErrLedgerChanged, cur.index, size)
			}
			if !l.caughtUp.Swap(true) {
				l.log.Info("merkle log caught up", "leaves", l.Size(), "took", time.Since(start).Round(time.Millisecond))
			}
		}
	}
	return <-errc
}

// consume checks the events already in the tree and appends the rest.
func (l *Log) consume(events []eventstore.Event, cur *cursor) error {
	l.mu.RLock()
	size, last := l.rng.End(), l.last
	l.mu.RUnlock()
	if cur.index < size {
		n := min(uint64(len(events)), size-cur.index)
		if err := l.check(cur.index, events[:n]); err != nil {
			return err
		}
		cur.index += n
		cur.from = events[n-1].Position + 1
		if p := events[n-1].Position; cur.index == size && p != last {
			// The ledger moved to another store: same events, new positions.
			if err := l.setLast(p); err != nil {
				return err
			}
		}
		events = events[n:]
	}
	if len(events) == 0 {
		return nil
	}
	if err := l.Append(events...); err != nil {
		return err
	}
	cur.index += uint64(len(events))
	cur.from = events[len(events)-1].Position + 1
	return nil
}

// setLast records the position of the last leaf's event.
func (l *Log) setLast(p eventstore.Position) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLast, be64(uint64(p))) }); err != nil {
		return err
	}
	l.mu.Lock()
	l.last = p
	l.mu.Unlock()
	return nil
}

// check compares events, which the store holds at leaf indexes first,
// first+1, ..., with the leaves recorded for those indexes.
func (l *Log) check(first uint64, events []eventstore.Event) error {
	return l.view(func(r nodeReader) error {
		tx := r.(*txNodes).tx
		for i := range events {
			e, index := &events[i], first+uint64(i)
			if err := e.VerifyHash(); err != nil {
				return eventError(index, 0, e, fmt.Errorf("%w: %w", ErrLedgerChanged, err))
			}
			recorded, err := r.node(compact.NewNodeID(0, index))
			if err != nil {
				return err
			}
			leaf := LeafHash(e)
			if bytes.Equal(recorded, leaf) {
				continue
			}
			var why string
			switch v := tx.Bucket(bucketIDs).Get(e.ID[:]); {
			case v == nil:
				why = "the Merkle log never had an event with this id: it was inserted, or its id was edited"
			case u64(v) == index:
				why = "this is the event logged here, edited since: its revision, recorded time or content (stream, payload, ...) changed"
			default:
				why = fmt.Sprintf("the Merkle log recorded this event at leaf %d: events before it were deleted, inserted or reordered", u64(v))
			}
			return eventError(index, 0, e, fmt.Errorf("%w: its leaf hash is %x but the Merkle log recorded %x at this index; %s", ErrLedgerChanged, leaf, recorded, why))
		}
		return nil
	})
}

// quickCheck checks the event at the tree's last position against the
// last leaf. It returns false (check everything) when the log has moved.
func (l *Log) quickCheck(ctx context.Context, store eventstore.Store) (bool, error) {
	l.mu.RLock()
	size, last := l.rng.End(), l.last
	l.mu.RUnlock()
	if size == 0 {
		return false, nil
	}
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: last, Limit: 1}) {
		if err != nil {
			return false, err
		}
		if index, err := l.LeafIndex(e.ID); err != nil || index != size-1 || e.Position != last {
			break
		}
		return true, l.check(size-1, []eventstore.Event{e})
	}
	l.log.Info("merkle log: the ledger's newest event is not where the tree expects it; checking every leaf", "leaves", size, "position", last)
	return false, nil
}

// AuditReport summarises a successful Audit.
type AuditReport struct {
	// Checked is the number of events compared with their leaves: every
	// leaf of the tree when Audit began.
	Checked uint64
	// Pending counts events of the store not yet in the tree.
	Pending uint64
}

// Audit reads the whole log of store and checks every event that the
// tree holds against its recorded leaf, as Follow does when it starts; it
// can run beside Follow (for example daily, or from an operator's
// command). The first difference is an *EventError matching
// ErrLedgerChanged that names the leaf index, position and event; a log
// shorter than the tree is an ErrLedgerChanged error too.
func (l *Log) Audit(ctx context.Context, store eventstore.Store) (AuditReport, error) {
	size := l.Size()
	var rep AuditReport
	batch := make([]eventstore.Event, 0, 1024)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := l.check(rep.Checked, batch); err != nil {
			return err
		}
		rep.Checked += uint64(len(batch))
		batch = batch[:0]
		return nil
	}
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			return rep, fmt.Errorf("audit after %d events: %w", rep.Checked+uint64(len(batch)), err)
		}
		if rep.Checked+uint64(len(batch)) >= size {
			rep.Pending++
			continue
		}
		if batch = append(batch, e); len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	if rep.Checked < size {
		return rep, fmt.Errorf("%w: the ledger ends after %d events but the Merkle log recorded %d: events were deleted from its end (or the ledger was restored from an older backup)", ErrLedgerChanged, rep.Checked, size)
	}
	return rep, nil
}
