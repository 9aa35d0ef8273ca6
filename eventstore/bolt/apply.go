package bolt

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// wake nudges the applier.
func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// applyLoop commits the events waiting in memory to ledger.db, oldest
// first, then forgets them and deletes the write-ahead log segments it no
// longer needs. It lets events gather: it commits once applyMin events
// (or a quarter of maxMemBytes) wait, or once the oldest has waited
// applyDelay, or when asked to (flush, Close), up to applyMax events per
// transaction. Large transactions cost much less per event than small
// ones (the random-keyed id index is rewritten page by page), and their
// writes and fsyncs compete less often with the write-ahead log's. A
// failed commit is retried with backoff; meanwhile the events stay in
// memory and in the log, and appends stop once memory is full. When the
// syncer has stopped and nothing is left, it returns.
func (s *Store) applyLoop() {
	defer close(s.applierDone)
	backoff := 10 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var since time.Time   // when the events now waiting began to wait
	closingTried := false // a failed commit was retried once after Close began
	s.buildFilter(0)
	for {
		s.mu.Lock()
		waiting := s.mem.len()
		ready := s.flushWanted || waiting >= s.applyMin || s.mem.bytes >= s.maxMemBytes/4
		s.mu.Unlock()
		closing := isClosed(s.idle)
		if waiting == 0 {
			if closing {
				return
			}
			since = time.Time{}
			select {
			case <-s.kick:
			case <-s.idle:
			}
			continue
		}
		if since.IsZero() {
			since = time.Now()
		}
		if wait := s.applyDelay - time.Since(since); !ready && !closing && wait > 0 {
			timer.Reset(wait)
			select {
			case <-s.kick:
			case <-s.idle:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		s.mu.Lock()
		n := min(s.mem.len(), s.applyMax)
		batch := s.mem.front(n)
		first := s.mem.first
		s.mu.Unlock()
		start := time.Now()
		err := s.applyEntries(first, batch)
		s.applyNanos.Add(int64(time.Since(start)))
		if err != nil {
			s.mu.Lock()
			s.applyErr = err
			s.space.Broadcast()
			s.mu.Unlock()
			if isClosed(s.idle) && closingTried {
				// Closing, and the last try failed too: the events stay in
				// the write-ahead log, and the next Open commits them.
				return
			}
			select {
			case <-s.idle:
				closingTried = true // one more try, now
			case <-time.After(backoff):
				backoff = min(2*backoff, 5*time.Second)
			}
			continue
		}
		backoff = 10 * time.Millisecond
		// Fill the id filter before moving the head (see idFilter).
		if f := s.ids.Load(); f != nil {
			for i := range n {
				f.add(&batch.at(i).id)
			}
			if f.full() {
				s.buildFilter(4 * f.count)
			}
		}
		// Forget the ids and the events in one step with moving the head
		// (see builder).
		s.b.mu.Lock()
		for i := range n {
			s.b.forget(&batch.at(i).id, first+eventstore.Position(i))
		}
		s.mu.Lock()
		s.mem.dropFront(n)
		s.memFull.Store(s.memAtLimit())
		s.applied = first + eventstore.Position(n) - 1
		s.appliedPos.Store(uint64(s.applied))
		applied := s.applied
		s.applyErr = nil
		s.space.Broadcast()
		s.mu.Unlock()
		s.b.mu.Unlock()
		s.applies.Add(1)
		since = time.Time{}
		if err := s.wal.release(applied); err != nil {
			s.mu.Lock()
			s.applyErr = err
			s.mu.Unlock()
		}
	}
}

// applyEntries commits events first, first+1, ... in blocks (block.go),
// with their indexes, in one ledger.db transaction. Index keys are
// inserted in key order, which keeps bbolt's page splits and writes local.
func (s *Store) applyEntries(first eventstore.Position, batch memView) error {
	// Every value is a position; they live in one slab that outlives the
	// transaction, as bbolt requires of values.
	n := batch.len()
	positions := make([]byte, 8*n)
	ids := make([]idKey, n)
	byStream := make(map[string][]int) // indexes into batch, in log (and so revision) order
	var newest int64
	for i := range n {
		e := batch.at(i)
		binary.BigEndian.PutUint64(positions[8*i:], uint64(first)+uint64(i))
		ids[i] = idKey{id: e.id, i: i}
		byStream[e.stream] = append(byStream[e.stream], i)
		if _, t, _, ok := recordMeta(e.rec); ok {
			newest = max(newest, t)
		}
	}
	slices.SortFunc(ids, func(a, b idKey) int { return compareIDs(&a.id, &b.id) })
	// Stream names never hold 0x00, so sorting the names sorts the
	// stream index's keys (name, 0x00, revision) too.
	streams := make([]string, 0, len(byStream))
	for st := range byStream {
		streams = append(streams, st)
	}
	slices.Sort(streams)
	pos := func(i int) []byte { return positions[8*i : 8*i+8 : 8*i+8] }

	if s.applyFault != nil {
		if err := s.applyFault(); err != nil {
			return fmt.Errorf("commit to %s: %w", s.path, err)
		}
	}
	err := s.update(func(tx *bbolt.Tx) error {
		meta, log := tx.Bucket(bucketMeta), tx.Bucket(bucketLog)
		rb, ib, sb := tx.Bucket(bucketRevs), tx.Bucket(bucketIDs), tx.Bucket(bucketStreams)
		if want := be64(uint64(first) - 1); !bytes.Equal(meta.Get(keyHead), want) {
			return fmt.Errorf("%w: ledger.db head is %d, expected %d", eventstore.ErrCorrupt, u64(meta.Get(keyHead)), first-1)
		}
		// Positions only grow at the end of the log: keep its pages full.
		log.FillPercent = 1
		if err := putBlocks(log, first, n, func(i int) []byte { return batch.at(i).rec }); err != nil {
			return err
		}
		key := make([]byte, 0, eventstore.MaxStreamNameLen+9)
		for _, st := range streams {
			for _, i := range byStream[st] {
				key = binary.BigEndian.AppendUint64(append(append(key[:0], st...), 0), batch.at(i).rev)
				if err := rb.Put(key, pos(i)); err != nil {
					return err
				}
			}
		}
		for _, x := range ids {
			if err := ib.Put(x.id[:], pos(x.i)); err != nil {
				return err
			}
		}
		for _, st := range streams {
			is := byStream[st]
			if err := sb.Put([]byte(st), be64(batch.at(is[len(is)-1]).rev)); err != nil {
				return err
			}
		}
		if err := meta.Put(keyHead, be64(uint64(first)+uint64(n)-1)); err != nil {
			return err
		}
		if t := int64(u64(meta.Get(keyTime))); newest > t {
			return meta.Put(keyTime, be64(uint64(newest)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit to %s: %w", s.path, err)
	}
	return nil
}

// idKey is an event id and the index of its event in a batch.
type idKey struct {
	id uuid.UUID
	i  int
}

// compareIDs orders ids as bytes.Compare orders their bytes.
func compareIDs(a, b *uuid.UUID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}

// buildFilter fills a new id filter, for at least capacity ids, from
// ledger.db, and installs it. Only the applier calls it, so no id enters
// ledger.db meanwhile. If reading fails, appends look every id up in
// ledger.db until a later build succeeds.
func (s *Store) buildFilter(capacity int) {
	err := s.view(func(tx *bbolt.Tx) error {
		f := newIDFilter(max(capacity, 2*int(u64(tx.Bucket(bucketMeta).Get(keyHead)))))
		var v7 uint64
		c := tx.Bucket(bucketIDs).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != len(uuid.UUID{}) {
				return fmt.Errorf("%w: id index key of %d bytes", eventstore.ErrCorrupt, len(k))
			}
			f.add((*uuid.UUID)(k))
			if hi, ok := v7High((*uuid.UUID)(k)); ok {
				v7 = max(v7, hi)
			}
		}
		s.ids.Store(f)
		s.v7InDB.Store(v7)
		return nil
	})
	if err != nil {
		s.ids.Store(nil)
	}
}

// isClosed reports whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// flush waits until ledger.db holds every event acknowledged so far.
func (s *Store) flush() error {
	target := eventstore.Position(s.head.Load())
	s.mu.Lock()
	s.flushWanted = true
	s.mu.Unlock()
	s.wake()
	s.mu.Lock()
	defer func() {
		s.flushWanted = false
		s.mu.Unlock()
	}()
	for s.applied < target {
		if s.applyErr != nil {
			return s.applyErr
		}
		s.space.Wait()
	}
	return nil
}
