package bolt

import (
	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// memEntry is one event durable in the write-ahead log but not yet
// committed to ledger.db. Its record is immutable once added.
type memEntry struct {
	stream string
	rev    uint64
	id     uuid.UUID
	rec    []byte
}

// memChunkSize is the number of entries in one chunk of a memtable: 4,096
// entries of 56 bytes.
const memChunkSize = 4096

// memChunk is a fixed run of memtable entries.
type memChunk [memChunkSize]memEntry

// memtable holds the events between ledger.db's last committed position
// and the head, so that reads and append checks see every acknowledged
// event at once while the applier catches up. The Store's mu guards it.
//
// Its entries live in fixed chunks rather than one slice: the syncer adds
// every group to it while holding the Store's mu, and a slice that grows
// to hundreds of thousands of entries (and loses its front capacity each
// time the applier takes a batch) would be copied again and again there.
// An entry never moves once added, so a view of the front (see front)
// stays valid without the lock until dropFront.
type memtable struct {
	first   eventstore.Position // position of the oldest entry
	chunks  []*memChunk         // the oldest entry is chunks[0][off]
	off     int
	n       int // entries
	spare   *memChunk
	streams map[string][]eventstore.Position // positions of each stream's entries, ascending
	bytes   int
}

func newMemtable(first eventstore.Position) *memtable {
	return &memtable{first: first, streams: make(map[string][]eventstore.Position)}
}

// len returns the number of entries.
func (m *memtable) len() int { return m.n }

// add appends e at the next position.
func (m *memtable) add(e memEntry) {
	pos := m.first + eventstore.Position(m.n)
	i := m.off + m.n
	if i == len(m.chunks)*memChunkSize {
		c := m.spare
		if c == nil {
			c = new(memChunk)
		}
		m.spare = nil
		m.chunks = append(m.chunks, c)
	}
	*chunkEntry(m.chunks, i) = e
	m.n++
	m.streams[e.stream] = append(m.streams[e.stream], pos)
	m.bytes += len(e.rec)
}

// get returns the entry at pos, if the memtable holds it.
func (m *memtable) get(pos eventstore.Position) (memEntry, bool) {
	if pos < m.first || pos >= m.first+eventstore.Position(m.n) {
		return memEntry{}, false
	}
	return *m.at(int(pos - m.first)), true
}

// at returns the i-th entry from the oldest.
func (m *memtable) at(i int) *memEntry { return chunkEntry(m.chunks, m.off+i) }

// chunkEntry returns entry i of the run of chunks.
func chunkEntry(chunks []*memChunk, i int) *memEntry {
	return &chunks[i/memChunkSize][i%memChunkSize]
}

// front returns a view of the oldest n entries that stays valid, without
// the lock, until they are dropped.
func (m *memtable) front(n int) memView {
	last := (m.off + n + memChunkSize - 1) / memChunkSize
	return memView{chunks: append([]*memChunk(nil), m.chunks[:last]...), off: m.off, n: n}
}

// dropFront forgets the oldest n entries, which ledger.db now holds.
func (m *memtable) dropFront(n int) {
	for i := range n {
		e := m.at(i)
		m.bytes -= len(e.rec)
		if ps := m.streams[e.stream]; len(ps) <= 1 {
			delete(m.streams, e.stream)
		} else {
			m.streams[e.stream] = ps[1:]
		}
		*e = memEntry{} // let the record be collected
	}
	m.off += n
	m.n -= n
	m.first += eventstore.Position(n)
	for m.off >= memChunkSize || m.n == 0 && len(m.chunks) > 0 {
		// A chunk wholly dropped (or, once empty, the partly used last
		// one, all of whose used entries are cleared): keep one for the
		// next add.
		m.spare = m.chunks[0]
		m.chunks[0] = nil
		m.chunks = m.chunks[1:]
		m.off = max(m.off-memChunkSize, 0)
	}
}

// memView is a run of memtable entries taken by front.
type memView struct {
	chunks []*memChunk
	off, n int
}

// len returns the number of entries in v.
func (v memView) len() int { return v.n }

// at returns the i-th entry of v.
func (v memView) at(i int) *memEntry { return chunkEntry(v.chunks, v.off+i) }
