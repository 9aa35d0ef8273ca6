package bolt

import (
	"bytes"
	"context"
	"fmt"
	"iter"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// ReadAll returns the global log; see eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		backwards := opts.Direction == eventstore.Backwards
		next, remaining := opts.From, opts.Limit
		if !backwards && next < eventstore.Start {
			next = eventstore.Start
		}
		if head := eventstore.Position(s.head.Load()); backwards && (opts.FromEnd || next > head) {
			next = head
		}
		// One buffer serves every batch: each event is yielded as a copy.
		var batch []eventstore.Event
		for {
			if backwards && next == 0 {
				return
			}
			if err := ctx.Err(); err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			n := uint64(readBatch)
			if remaining > 0 {
				n = min(n, remaining)
			}
			var err error
			batch, err = s.readLog(batch[:0], next, backwards, n)
			if err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			if len(batch) == 0 {
				return
			}
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
			if remaining > 0 {
				if remaining -= uint64(len(batch)); remaining == 0 {
					return
				}
			}
			if backwards {
				next = batch[len(batch)-1].Position - 1
			} else {
				next = batch[len(batch)-1].Position + 1
			}
		}
	}
}

// readLog appends to dst up to n events of the log starting at position
// from: from memory when from is beyond what ledger.db holds, else from
// ledger.db. It adds no events only at the end of the log.
func (s *Store) readLog(dst []eventstore.Event, from eventstore.Position, backwards bool, n uint64) ([]eventstore.Event, error) {
	s.mu.Lock()
	if from > s.applied {
		var entries []memEntry
		var positions []eventstore.Position
		for pos := from; uint64(len(entries)) < n && pos > s.applied; {
			e, ok := s.mem.get(pos)
			if !ok {
				break
			}
			entries, positions = append(entries, e), append(positions, pos)
			if backwards {
				pos--
			} else {
				pos++
			}
		}
		s.mu.Unlock()
		return decodeEntries(dst, positions, entries)
	}
	s.mu.Unlock()
	// ledger.db holds every position up to applied, and only grows.
	var chunk []byte
	err := s.view(func(tx *bbolt.Tx) error {
		// ledger.db holds from (at most its head): a position it lacks is
		// damage, not the end of the log.
		bc := newBlockCursor(tx)
		pos := from
		for got := uint64(0); got < n; got++ {
			rec, ok, err := bc.next(pos, backwards)
			if err != nil || !ok {
				return err
			}
			dst = append(dst, eventstore.Event{})
			if err := decodeRecordInto(&dst[len(dst)-1], pos, rec, &chunk); err != nil {
				return err
			}
			if backwards {
				if pos--; pos == 0 {
					break
				}
			} else {
				pos++
			}
		}
		return nil
	})
	return dst, err
}

// decodeEntries appends the events of entries, at positions, to dst.
func decodeEntries(dst []eventstore.Event, positions []eventstore.Position, entries []memEntry) ([]eventstore.Event, error) {
	var chunk []byte
	for i, e := range entries {
		dst = append(dst, eventstore.Event{})
		if err := decodeRecordInto(&dst[len(dst)-1], positions[i], e.rec, &chunk); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

func step(c *bbolt.Cursor, backwards bool) ([]byte, []byte) {
	if backwards {
		return c.Prev()
	}
	return c.Next()
}

// ReadStream returns the events of one stream; see eventstore.Store. It
// reads the stream as it was when the read began.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if err := eventstore.ValidateStreamName(stream); err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		// The stream's newest events may still be in memory; they are a
		// suffix of the stream, and ledger.db holds every revision before
		// them.
		s.mu.Lock()
		last, exists := s.streams[stream]
		positions := append([]eventstore.Position(nil), s.mem.streams[stream]...)
		entries := make([]memEntry, len(positions))
		for i, pos := range positions {
			entries[i], _ = s.mem.get(pos)
		}
		s.mu.Unlock()
		if !exists {
			yield(eventstore.Event{}, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream))
			return
		}
		recent, err := decodeEntries(nil, positions, entries)
		if err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		memFirst := last + 1 - uint64(len(recent)) // first revision held in memory

		remaining := opts.Limit
		emit := func(batch []eventstore.Event) bool {
			for _, e := range batch {
				if !yield(e, nil) {
					return false
				}
				if remaining > 0 {
					if remaining--; remaining == 0 {
						return false
					}
				}
			}
			return true
		}
		// fromDB reads revisions from ledger.db; it reports whether the
		// read should go on (false: stopped, failed or at its limit).
		fromDB := func(from, until uint64, backwards bool) bool {
			for {
				if err := ctx.Err(); err != nil {
					yield(eventstore.Event{}, err)
					return false
				}
				n := uint64(readBatch)
				if remaining > 0 {
					n = min(n, remaining)
				}
				var batch []eventstore.Event
				err := s.view(func(tx *bbolt.Tx) error {
					var err error
					batch, err = readStreamBatch(tx, stream, from, until, backwards, n)
					return err
				})
				if err != nil {
					yield(eventstore.Event{}, err)
					return false
				}
				if len(batch) == 0 {
					return true
				}
				if !emit(batch) {
					return false
				}
				lastRev := batch[len(batch)-1].Revision
				if backwards {
					if lastRev == 0 {
						return true
					}
					from = lastRev - 1
				} else {
					from = lastRev + 1
				}
			}
		}

		if err := ctx.Err(); err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		if opts.Direction == eventstore.Backwards {
			start := last
			if !opts.FromEnd {
				start = min(opts.From, last)
			}
			var fromMem []eventstore.Event
			for i := len(recent) - 1; i >= 0; i-- {
				if recent[i].Revision <= start {
					fromMem = append(fromMem, recent[i])
				}
			}
			if !emit(fromMem) || memFirst == 0 {
				return
			}
			fromDB(min(start, memFirst-1), 0, true)
			return
		}
		if opts.From < memFirst && !fromDB(opts.From, memFirst, false) {
			return
		}
		var fromMem []eventstore.Event
		for _, e := range recent {
			if e.Revision >= opts.From {
				fromMem = append(fromMem, e)
			}
		}
		emit(fromMem)
	}
}

// readStreamBatch reads up to n events of stream from revision from, in
// ledger.db. A forwards read stops before revision until.
func readStreamBatch(tx *bbolt.Tx, stream string, from, until uint64, backwards bool, n uint64) ([]eventstore.Event, error) {
	prefix := append([]byte(stream), 0)
	c := tx.Bucket(bucketRevs).Cursor()
	log := newBlockCursor(tx)
	k, v := c.Seek(revKey(stream, from))
	if backwards && (k == nil || !bytes.Equal(k, revKey(stream, from))) {
		k, v = c.Prev()
	}
	out := make([]eventstore.Event, 0, min(n, readBatch))
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 && uint64(len(out)) < n; k, v = step(c, backwards) {
		rev := u64(k[len(prefix):])
		if !backwards && rev >= until {
			break
		}
		pos := eventstore.Position(u64(v))
		rec, ok, err := log.record(pos)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: stream %q revision %d points at position %d, which is missing", eventstore.ErrCorrupt, stream, rev, pos)
		}
		e, err := decodeRecord(pos, rec)
		if err != nil {
			return nil, err
		}
		if e.Stream != stream || e.Revision != rev {
			return nil, fmt.Errorf("%w: stream index %q revision %d points at position %d, which holds %q revision %d", eventstore.ErrCorrupt, stream, rev, pos, e.Stream, e.Revision)
		}
		out = append(out, e)
	}
	return out, nil
}

// Subscribe delivers the log from position from, then live; see
// eventstore.Store. A subscriber never falls behind in a way that loses
// events: whatever it has not read yet is read when it asks.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		next := max(from, eventstore.Start)
		caughtUp := false
		var batch []eventstore.Event // reused: each event is yielded as a copy
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				yield(eventstore.Message{}, eventstore.ErrClosed)
				return
			default:
			}
			// Take the change signal before reading, so that a commit
			// between the read and the wait is not missed.
			changed := s.changed()
			var err error
			batch, err = s.readLog(batch[:0], next, false, readBatch)
			if err != nil {
				yield(eventstore.Message{}, err)
				return
			}
			for _, e := range batch {
				if !yield(eventstore.Message{Event: e}, nil) {
					return
				}
				next = e.Position + 1
			}
			if len(batch) > 0 {
				continue
			}
			if !caughtUp {
				caughtUp = true
				if !yield(eventstore.Message{CaughtUp: true}, nil) {
					return
				}
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-s.done:
				yield(eventstore.Message{}, eventstore.ErrClosed)
				return
			}
		}
	}
}
