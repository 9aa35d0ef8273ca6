package bolt

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/google/uuid"
)

// idFilter is a Bloom filter of the event ids in ledger.db. An append
// looks its ids up in ledger.db (for idempotent retries) only when the
// filter says an id may be there, which for new ids is about one time in
// a hundred; without it every append would open a read transaction.
//
// Only the applier adds to a filter, after committing the ids and before
// publishing its new head (appliedPos); readers read it at any time. So a
// reader that loads appliedPos and then the filter finds every id at or
// before that head, and stage looks again in ledger.db for requests
// that the applier overtook (see stage).
type idFilter struct {
	words    []atomic.Uint64
	mask     uint64 // len(words)*64 - 1: the number of bits is a power of two
	count    int    // ids added; the applier's only
	capacity int    // ids it holds at about 1% false positives (MaxInt at the largest size)
}

const (
	filterBitsPerID = 10
	filterHashes    = 7
	// filterMinCapacity is the smallest filter: 80 KiB.
	filterMinCapacity = 1 << 16
	// filterMaxBits caps the filter at 16 MiB, about 13 million ids at
	// 1% false positives, so that the store's memory does not grow with
	// the ledger. Past that the filter is never rebuilt: its false
	// positives rise (by the Bloom filter formula, about 10% at 25 million
	// ids and 58% at 50 million) and
	// appends look in ledger.db that much more often, as they all did
	// before there was a filter.
	filterMaxBits = 1 << 27
)

// newIDFilter returns an empty filter for at least capacity ids.
func newIDFilter(capacity int) *idFilter {
	capacity = max(capacity, filterMinCapacity)
	nbits := uint64(1) << bits.Len64(uint64(capacity*filterBitsPerID-1))
	if nbits >= filterMaxBits {
		nbits, capacity = filterMaxBits, math.MaxInt // never full
	}
	return &idFilter{words: make([]atomic.Uint64, nbits/64), mask: nbits - 1, capacity: capacity}
}

// idHashes derives the filter's two base hashes from an id. Ids are
// time-ordered (version 7: the first six bytes are a time), random
// (version 4) or hashes (version 5) in practice, and a client may choose
// them, so their bits are mixed first.
func idHashes(id *uuid.UUID) (h1, h2 uint64) {
	a := binary.LittleEndian.Uint64(id[:8])
	b := binary.LittleEndian.Uint64(id[8:])
	h1 = mix64(a ^ bits.RotateLeft64(b, 29))
	h2 = mix64(b+0x9e3779b97f4a7c15) | 1
	return h1, h2
}

// mix64 is the finalizer of SplitMix64.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// add records id; only the applier calls it.
func (f *idFilter) add(id *uuid.UUID) {
	h1, h2 := idHashes(id)
	for i := uint64(0); i < filterHashes; i++ {
		bit := (h1 + i*h2) & f.mask
		f.words[bit/64].Or(1 << (bit % 64))
	}
	f.count++
}

// mayContain reports whether id may have been added; false is certain.
func (f *idFilter) mayContain(id *uuid.UUID) bool {
	h1, h2 := idHashes(id)
	for i := uint64(0); i < filterHashes; i++ {
		bit := (h1 + i*h2) & f.mask
		if f.words[bit/64].Load()&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// full reports whether the filter holds more ids than it was made for.
func (f *idFilter) full() bool { return f.count > f.capacity }
