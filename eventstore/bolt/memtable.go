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

// memtable holds the events between ledger.db's last committed position
// and the head, so that reads and append checks see every acknowledged
// event at once while the applier catches up. The Store's mu guards it.
type memtable struct {
	first   eventstore.Position // position of entries[0]
	entries []memEntry
	streams map[string][]eventstore.Position // positions of each stream's entries, ascending
	ids     map[uuid.UUID]eventstore.Position
	bytes   int
}

func newMemtable(first eventstore.Position) *memtable {
	return &memtable{first: first, streams: make(map[string][]eventstore.Position), ids: make(map[uuid.UUID]eventstore.Position)}
}

func (m *memtable) add(e memEntry) {
	pos := m.first + eventstore.Position(len(m.entries))
	m.entries = append(m.entries, e)
	m.streams[e.stream] = append(m.streams[e.stream], pos)
	m.ids[e.id] = pos
	m.bytes += len(e.rec)
}

// get returns the entry at pos, if the memtable holds it.
func (m *memtable) get(pos eventstore.Position) (memEntry, bool) {
	if pos < m.first || pos >= m.first+eventstore.Position(len(m.entries)) {
		return memEntry{}, false
	}
	return m.entries[pos-m.first], true
}

// dropFront forgets the first n entries, which ledger.db now holds.
func (m *memtable) dropFront(n int) {
	for _, e := range m.entries[:n] {
		m.bytes -= len(e.rec)
		delete(m.ids, e.id)
		if ps := m.streams[e.stream]; len(ps) <= 1 {
			delete(m.streams, e.stream)
		} else {
			m.streams[e.stream] = ps[1:]
		}
	}
	clear(m.entries[:n]) // let the records be collected
	m.entries = m.entries[n:]
	m.first += eventstore.Position(n)
}
