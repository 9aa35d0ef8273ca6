package bolt

import (
	"bytes"
	"fmt"
	"slices"
	"time"

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
// first, in transactions of up to applyBatch events, then forgets them
// and deletes the write-ahead log segments it no longer needs. A failed
// commit is retried with backoff; meanwhile the events stay in memory and
// in the log, and appends stop once memory is full. When the writer has
// stopped and nothing is left, it returns.
func (s *Store) applyLoop() {
	defer close(s.applierDone)
	backoff := 10 * time.Millisecond
	timer := time.NewTimer(applyDelay)
	defer timer.Stop()
	for {
		s.mu.Lock()
		n := min(len(s.mem.entries), applyBatch)
		batch := s.mem.entries[:n:n]
		first := s.mem.first
		urgent := s.flushWanted || len(s.mem.entries) >= applyBatch/4 || s.mem.bytes >= maxMemBytes/4
		s.mu.Unlock()
		closing := isClosed(s.idle)
		if n == 0 && closing {
			return
		}
		if n == 0 || !urgent && !closing {
			// Let events gather: one large transaction costs little more
			// than a small one, and its fsyncs compete with the log's.
			timer.Reset(applyDelay)
			select {
			case <-s.kick:
				continue
			case <-s.idle:
				continue
			case <-timer.C:
				if n == 0 {
					continue
				}
			}
			s.mu.Lock()
			n = min(len(s.mem.entries), applyBatch)
			batch = s.mem.entries[:n:n]
			s.mu.Unlock()
		}
		err := s.applyEntries(first, batch)
		s.mu.Lock()
		if err != nil {
			s.applyErr = err
			s.space.Broadcast()
			s.mu.Unlock()
			select {
			case <-s.idle:
				// Closing: the events stay in the write-ahead log, and the
				// next Open commits them.
				return
			case <-time.After(backoff):
				backoff = min(2*backoff, 5*time.Second)
			}
			continue
		}
		backoff = 10 * time.Millisecond
		s.mem.dropFront(n)
		s.applied = first + eventstore.Position(n) - 1
		applied := s.applied
		s.applyErr = nil
		s.space.Broadcast()
		s.mu.Unlock()
		s.applies.Add(1)
		if err := s.wal.release(applied); err != nil {
			s.mu.Lock()
			s.applyErr = err
			s.mu.Unlock()
		}
	}
}

// applyEntries commits events first, first+1, ... with their indexes in
// one ledger.db transaction. Index keys are inserted in key order, which
// keeps bbolt's page splits and writes local.
func (s *Store) applyEntries(first eventstore.Position, batch []memEntry) error {
	type kv struct{ k, v []byte }
	revs := make([]kv, len(batch))
	ids := make([]kv, len(batch))
	last := make(map[string]uint64)
	var newest int64
	for i, e := range batch {
		pk := be64(uint64(first) + uint64(i))
		revs[i] = kv{revKey(e.stream, e.rev), pk}
		ids[i] = kv{append([]byte(nil), e.id[:]...), pk}
		last[e.stream] = e.rev
		if _, t, _, ok := recordMeta(e.rec); ok {
			newest = max(newest, t)
		}
	}
	byKey := func(a, b kv) int { return bytes.Compare(a.k, b.k) }
	slices.SortFunc(revs, byKey)
	slices.SortFunc(ids, byKey)
	streams := make([]string, 0, len(last))
	for st := range last {
		streams = append(streams, st)
	}
	slices.Sort(streams)

	err := s.update(func(tx *bbolt.Tx) error {
		meta, log := tx.Bucket(bucketMeta), tx.Bucket(bucketLog)
		rb, ib, sb := tx.Bucket(bucketRevs), tx.Bucket(bucketIDs), tx.Bucket(bucketStreams)
		if want := be64(uint64(first) - 1); !bytes.Equal(meta.Get(keyHead), want) {
			return fmt.Errorf("%w: ledger.db head is %d, expected %d", eventstore.ErrCorrupt, u64(meta.Get(keyHead)), first-1)
		}
		// Positions only grow at the end of the log: keep its pages full.
		log.FillPercent = 1
		for i, e := range batch {
			if err := log.Put(be64(uint64(first)+uint64(i)), e.rec); err != nil {
				return err
			}
		}
		for _, x := range revs {
			if err := rb.Put(x.k, x.v); err != nil {
				return err
			}
		}
		for _, x := range ids {
			if err := ib.Put(x.k, x.v); err != nil {
				return err
			}
		}
		for _, st := range streams {
			if err := sb.Put([]byte(st), be64(last[st])); err != nil {
				return err
			}
		}
		if err := meta.Put(keyHead, be64(uint64(first)+uint64(len(batch))-1)); err != nil {
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
