package bolt

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// formatV1 is the first layout of ledger.db: the same buckets and records,
// but one record per position, in a bucket named "log". Open converts such
// a file to blocks (block.go).
const formatV1 = "parledger-bolt-1"

var bucketV1Log = []byte("log")

// migrateBatch is how many events one transaction of the conversion moves.
const migrateBatch = 32_768

// migrate converts a ledger.db of format formatV1 (init has checked that
// it is one) to the current format, in transactions of migrateBatch
// events. The blocks bucket holds what is done, so a conversion cut short
// (a crash, a full disk) goes on where it stopped at the next Open; the
// format changes, and the old bucket goes, in the last transaction.
func (s *Store) migrate() error {
	for done := false; !done; {
		if s.migrateFault != nil {
			if err := s.migrateFault(); err != nil {
				return fmt.Errorf("convert %s to format %s: %w", s.path, formatID, err)
			}
		}
		err := s.update(func(tx *bbolt.Tx) error {
			meta, old := tx.Bucket(bucketMeta), tx.Bucket(bucketV1Log)
			blocks, err := tx.CreateBucketIfNotExists(bucketLog)
			if err != nil {
				return err
			}
			next := eventstore.Position(1)
			if b, ok, err := lastBlock(blocks); err != nil {
				return err
			} else if ok {
				next = b.last() + 1
			}
			// The records stay in the memory map until the transaction
			// ends; putBlocks copies them.
			var recs [][]byte
			c := old.Cursor()
			for k, v := c.Seek(be64(uint64(next))); k != nil && len(recs) < s.migrateBatch; k, v = c.Next() {
				if want := uint64(next) + uint64(len(recs)); len(k) != 8 || u64(k) != want {
					return fmt.Errorf("%w: position %d is missing from the log", eventstore.ErrCorrupt, want)
				}
				recs = append(recs, v)
			}
			if len(recs) > 0 {
				blocks.FillPercent = 1
				return putBlocks(blocks, next, len(recs), func(i int) []byte { return recs[i] })
			}
			if head := eventstore.Position(u64(meta.Get(keyHead))); next-1 != head {
				return fmt.Errorf("%w: the log ends at position %d but the recorded head is %d", eventstore.ErrCorrupt, next-1, head)
			}
			if err := tx.DeleteBucket(bucketV1Log); err != nil {
				return err
			}
			done = true
			return meta.Put(keyFormat, []byte(formatID))
		})
		if err != nil {
			return fmt.Errorf("convert %s to format %s: %w", s.path, formatID, err)
		}
	}
	return nil
}
