package esdb

import (
	"slices"
	"sort"
	"sync"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// maxBounds caps the positions bounds keeps (8 MiB); beyond it every
// other one is dropped, so starts land a little earlier and skip more.
const maxBounds = 1 << 20

// bounds remembers positions of events the store has seen in $all. Each
// is a record boundary, and only record boundaries are valid start
// positions of an EventStoreDB read or subscription ("Trying to read from
// an invalid position" otherwise). Positions arrive mostly in increasing
// order (subscriptions, appends); others wait in pending until a lookup
// merges them.
type bounds struct {
	mu      sync.Mutex
	sorted  []uint64
	pending []uint64
	max     int
}

// add remembers that an event starts at p.
func (b *bounds) add(p uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.sorted); len(b.pending) == 0 && (n == 0 || p > b.sorted[n-1]) {
		b.sorted = append(b.sorted, p)
		b.thin()
		return
	}
	b.pending = append(b.pending, p)
	if len(b.pending) >= 4096 {
		b.merge()
	}
}

func (b *bounds) merge() {
	if len(b.pending) == 0 {
		return
	}
	b.sorted = append(b.sorted, b.pending...)
	b.pending = b.pending[:0]
	slices.Sort(b.sorted)
	b.sorted = slices.Compact(b.sorted)
	b.thin()
}

// thin halves the positions kept once there are more than max, keeping
// the newest.
func (b *bounds) thin() {
	if b.max <= 0 || len(b.sorted) <= b.max {
		return
	}
	n := len(b.sorted)
	out := b.sorted[:0]
	for i := n % 2; i < n; i += 2 {
		out = append(out, b.sorted[i])
	}
	b.sorted = out
}

// floor returns the greatest known position at or before p.
func (b *bounds) floor(p uint64) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.merge()
	i := sort.Search(len(b.sorted), func(i int) bool { return b.sorted[i] > p })
	if i == 0 {
		return 0, false
	}
	return b.sorted[i-1], true
}

// before returns the greatest known position strictly before p.
func (b *bounds) before(p uint64) (uint64, bool) {
	if p == 0 {
		return 0, false
	}
	return b.floor(p - 1)
}

// idCacheSize is how many event ids idCache remembers.
const idCacheSize = 1 << 16

// idEntry is where an event id is recorded and with what content.
type idEntry struct {
	stream   string // ledger stream name
	revision uint64
	hash     eventstore.Hash
}

// idCache remembers the ids of the events this store appended or read
// back most recently. EventStoreDB keeps event ids unique per stream
// only, and idempotency of appends with expected revision any rests on a
// bounded server cache; the store uses idCache to refuse an id it knows
// in another stream or with other content, and to answer a retry it
// knows without writing. It cannot know ids written by other processes
// or long ago (docs/deployment.md).
type idCache struct {
	mu       sync.Mutex
	m        map[uuid.UUID]idEntry
	ring     []uuid.UUID
	next     int
	capacity int
}

func (c *idCache) lookup(id uuid.UUID) (idEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e, ok
}

func (c *idCache) remember(id uuid.UUID, e idEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[uuid.UUID]idEntry, c.capacity)
		c.ring = make([]uuid.UUID, c.capacity)
	}
	if _, ok := c.m[id]; !ok {
		if old := c.ring[c.next]; old != uuid.Nil {
			delete(c.m, old)
		}
		c.ring[c.next] = id
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[id] = e
}

// headCache remembers the last scan of Head: every event of $all up to
// scanned has been looked at, and the ledger's last one among them is at
// head (0: none). $all only grows at its end, so the next scan can stop
// at scanned.
type headCache struct {
	mu      sync.Mutex
	scanned uint64
	head    uint64
}

func (h *headCache) get() (scanned, head uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scanned, h.head
}

func (h *headCache) put(scanned, head uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if scanned > h.scanned {
		h.scanned, h.head = scanned, head
	}
}
