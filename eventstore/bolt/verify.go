package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// VerifyReport summarises a successful Verify.
type VerifyReport struct {
	Events  uint64 // events checked
	Streams int    // streams seen
	Head    eventstore.Position
}

// Verify reads the whole ledger and checks everything the file promises:
// positions run 1, 2, 3, ... up to the head with no gap; every record
// passes its checksum and its content hash; every stream's revisions run
// 0, 1, 2, ... with no gap; the id and stream indexes point at the right
// records; and each stream's recorded last revision is its last event. The
// first problem found is returned as an eventstore.ErrCorrupt error naming
// the position, stream and event. Appends may run meanwhile; Verify checks
// the log as it was when it started, after waiting for every event
// acknowledged so far to reach ledger.db.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	if err := s.flush(); err != nil {
		return VerifyReport{}, err
	}
	s.mu.Lock()
	head := uint64(s.applied)
	s.mu.Unlock()
	rep := VerifyReport{Head: eventstore.Position(head)}
	next := make(map[string]uint64)
	pos := uint64(1)
	for pos <= head {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		err := s.view(func(tx *bbolt.Tx) error {
			revs, ids := tx.Bucket(bucketRevs), tx.Bucket(bucketIDs)
			bc := newBlockCursor(tx)
			for n := 0; n < readBatch && pos <= head; n++ {
				rec, ok, err := bc.next(eventstore.Position(pos), false)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("%w: position %d is missing (found the end of the log next)", eventstore.ErrCorrupt, pos)
				}
				e, err := decodeRecord(eventstore.Position(pos), rec)
				if err != nil {
					return err
				}
				if err := e.VerifyHash(); err != nil {
					return err
				}
				if want := next[e.Stream]; e.Revision != want {
					return fmt.Errorf("%w: position %d holds %q revision %d, but the stream's next revision is %d", eventstore.ErrCorrupt, pos, e.Stream, e.Revision, want)
				}
				next[e.Stream] = e.Revision + 1
				if got := u64(ids.Get(e.ID[:])); got != pos {
					return fmt.Errorf("%w: id index maps event %s to position %d, but it is at %d", eventstore.ErrCorrupt, e.ID, got, pos)
				}
				if got := u64(revs.Get(revKey(e.Stream, e.Revision))); got != pos {
					return fmt.Errorf("%w: stream index maps %q revision %d to position %d, but it is at %d", eventstore.ErrCorrupt, e.Stream, e.Revision, got, pos)
				}
				rep.Events++
				pos++
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	rep.Streams = len(next)
	err := s.view(func(tx *bbolt.Tx) error {
		streams := tx.Bucket(bucketStreams)
		quiet := u64(tx.Bucket(bucketMeta).Get(keyHead)) == head
		for stream, n := range next {
			v := streams.Get([]byte(stream))
			if v == nil || u64(v) < n-1 || quiet && u64(v) != n-1 {
				return fmt.Errorf("%w: stream %q has %d events in the log but its recorded last revision is %v", eventstore.ErrCorrupt, stream, n, revString(v))
			}
		}
		if quiet && streams.Stats().KeyN != len(next) {
			return fmt.Errorf("%w: %d streams are recorded but the log has events of %d", eventstore.ErrCorrupt, streams.Stats().KeyN, len(next))
		}
		return nil
	})
	return rep, err
}

func revString(v []byte) string {
	if v == nil {
		return "missing"
	}
	return fmt.Sprint(u64(v))
}
