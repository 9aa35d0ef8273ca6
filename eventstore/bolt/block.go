package bolt

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// The log bucket holds events in blocks: runs of consecutive positions,
// each stored under the position of its first event (8 bytes, big-endian):
//
//	count    4 bytes   big-endian number of records, n >= 1
//	ends     n x 4     big-endian end of each record, counted from the
//	                   first record's first byte
//	records  the n records (record.go), back to back
//
// The applier cuts a committed batch into blocks of up to blockEvents
// events and blockBytes bytes of records (a larger record is a block of
// its own). A block costs bbolt one key and, mostly, one write of its
// pages, where an event per key cost a key, a search and a share of a
// page write each: the applier commits about a third faster (see
// docs/benchmarks.md). A block is never changed once committed.
const (
	blockEvents = 256
	blockBytes  = 32 << 10
)

// block is a parsed block of the log bucket.
type block struct {
	first eventstore.Position // position of its first record
	n     int
	ends  []byte // n big-endian end offsets
	recs  []byte
}

// parseBlock checks the framing of the block stored at first (not the
// records' own checksums: decodeRecord checks those).
func parseBlock(first eventstore.Position, v []byte) (block, error) {
	bad := func(why string) (block, error) {
		return block{}, fmt.Errorf("%w: log block at position %d %s", eventstore.ErrCorrupt, first, why)
	}
	if first == 0 {
		return bad("has position 0")
	}
	if len(v) < 4 {
		return bad("is too short")
	}
	n := binary.BigEndian.Uint32(v)
	if n == 0 || uint64(n) > uint64(len(v)-4)/4 {
		return bad(fmt.Sprintf("claims %d records in %d bytes", n, len(v)))
	}
	b := block{first: first, n: int(n), ends: v[4 : 4+4*n], recs: v[4+4*n:]}
	prev := uint32(0)
	for i := 0; i < b.n; i++ {
		end := binary.BigEndian.Uint32(b.ends[4*i:])
		if end < prev+recordHeaderSize || uint64(end) > uint64(len(b.recs)) {
			return bad(fmt.Sprintf("has record %d ending at byte %d of %d", i, end, len(b.recs)))
		}
		prev = end
	}
	if int(prev) != len(b.recs) {
		return bad(fmt.Sprintf("has %d bytes after its last record", len(b.recs)-int(prev)))
	}
	return b, nil
}

// last is the position of the block's last record.
func (b *block) last() eventstore.Position { return b.first + eventstore.Position(b.n) - 1 }

// holds reports whether the block holds position pos.
func (b *block) holds(pos eventstore.Position) bool { return pos >= b.first && pos <= b.last() }

// record returns the record at pos, which the block holds.
func (b *block) record(pos eventstore.Position) []byte {
	i := int(pos - b.first)
	start := uint32(0)
	if i > 0 {
		start = binary.BigEndian.Uint32(b.ends[4*(i-1):])
	}
	end := binary.BigEndian.Uint32(b.ends[4*i:])
	return b.recs[start:end:end]
}

// appendBlock appends to dst the block of the n records rec(0), ...,
// rec(n-1), whose sizes add up to size.
func appendBlock(dst []byte, n, size int, rec func(i int) []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	end := 0
	for i := 0; i < n; i++ {
		end += len(rec(i))
		dst = binary.BigEndian.AppendUint32(dst, uint32(end))
	}
	for i := 0; i < n; i++ {
		dst = append(dst, rec(i)...)
	}
	return dst
}

// nextBlock returns how many of the records rec(i), ..., rec(n-1) go into
// the block that starts with rec(i), and their total size.
func nextBlock(i, n int, rec func(i int) []byte) (count, size int) {
	for j := i; j < n && j-i < blockEvents; j++ {
		l := len(rec(j))
		if j > i && size+l > blockBytes {
			break
		}
		size += l
		count++
	}
	return count, size
}

// putBlocks cuts the records of positions first, first+1, ... (rec(0),
// ..., rec(n-1)) into blocks and puts them in the log bucket. The blocks
// live in one slab that outlives the transaction, as bbolt requires of
// values (it copies keys); a block's 4+4k bytes of framing never exceed
// the 8 bytes per record the slab allows, so it is never reallocated.
func putBlocks(log *bbolt.Bucket, first eventstore.Position, n int, rec func(i int) []byte) error {
	total := 0
	for i := 0; i < n; i++ {
		total += 8 + len(rec(i))
	}
	slab := make([]byte, 0, total)
	var key [8]byte
	for i := 0; i < n; {
		count, size := nextBlock(i, n, rec)
		start := len(slab)
		slab = appendBlock(slab, count, size, func(j int) []byte { return rec(i + j) })
		binary.BigEndian.PutUint64(key[:], uint64(first)+uint64(i))
		if err := log.Put(key[:], slab[start:len(slab):len(slab)]); err != nil {
			return err
		}
		i += count
	}
	return nil
}

// blockCursor finds positions in the log bucket of one transaction,
// keeping the block it found last.
type blockCursor struct {
	c *bbolt.Cursor
	b block
}

func newBlockCursor(tx *bbolt.Tx) *blockCursor {
	return &blockCursor{c: tx.Bucket(bucketLog).Cursor()}
}

// find returns the block that holds pos, or ok false if none does.
func (bc *blockCursor) find(pos eventstore.Position) (b *block, ok bool, err error) {
	if bc.b.n > 0 && bc.b.holds(pos) {
		return &bc.b, true, nil
	}
	k, v := bc.c.Seek(be64(uint64(pos)))
	if k == nil || u64(k) != uint64(pos) {
		k, v = bc.c.Prev()
	}
	if k == nil {
		return nil, false, nil
	}
	if err := bc.load(k, v); err != nil {
		return nil, false, err
	}
	return &bc.b, bc.b.holds(pos), nil
}

// record returns the record at pos, or ok false if no block holds it.
func (bc *blockCursor) record(pos eventstore.Position) (rec []byte, ok bool, err error) {
	b, ok, err := bc.find(pos)
	if err != nil || !ok {
		return nil, false, err
	}
	return b.record(pos), true, nil
}

// next returns the record at pos, reading on from the block found last
// (the first call finds pos's block): pos is in that block or, in the
// direction given, the first position of the next one. ok is false when
// there is no next block; a next block that does not start at pos, or no
// block at all for the first pos, is ErrCorrupt.
func (bc *blockCursor) next(pos eventstore.Position, backwards bool) (rec []byte, ok bool, err error) {
	if bc.b.n == 0 {
		_, found, err := bc.find(pos)
		if err != nil {
			return nil, false, err
		}
		if !found {
			return nil, false, fmt.Errorf("%w: position %d is missing", eventstore.ErrCorrupt, pos)
		}
	}
	if !bc.b.holds(pos) {
		b, ok, err := bc.step(backwards)
		if err != nil || !ok {
			return nil, false, err
		}
		if backwards && b.last() != pos || !backwards && b.first != pos {
			return nil, false, fmt.Errorf("%w: position %d is missing (the next block holds %d to %d)", eventstore.ErrCorrupt, pos, b.first, b.last())
		}
	}
	return bc.b.record(pos), true, nil
}

// lastBlock returns the last block of the log bucket log, or ok false if
// it is empty.
func lastBlock(log *bbolt.Bucket) (b block, ok bool, err error) {
	k, v := log.Cursor().Last()
	if k == nil {
		return block{}, false, nil
	}
	var bc blockCursor
	if err := bc.load(k, v); err != nil {
		return block{}, false, err
	}
	return bc.b, true, nil
}

// step moves to the next block (or the previous one, backwards), and
// reports whether there is one. The cursor stands at the block found
// last.
func (bc *blockCursor) step(backwards bool) (*block, bool, error) {
	k, v := step(bc.c, backwards)
	if k == nil {
		return nil, false, nil
	}
	if err := bc.load(k, v); err != nil {
		return nil, false, err
	}
	return &bc.b, true, nil
}

func (bc *blockCursor) load(k, v []byte) error {
	if len(k) != 8 {
		return fmt.Errorf("%w: log key of %d bytes", eventstore.ErrCorrupt, len(k))
	}
	b, err := parseBlock(eventstore.Position(u64(k)), v)
	if err != nil {
		return err
	}
	bc.b = b
	return nil
}
