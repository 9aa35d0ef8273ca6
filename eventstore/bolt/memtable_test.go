package bolt

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// TestMemtable adds and drops entries across chunk boundaries, in steps
// that leave the oldest entry at every kind of offset, and checks every
// lookup against a plain slice of what should be there.
func TestMemtable(t *testing.T) {
	const first = 1000
	m := newMemtable(first)
	var want []memEntry // want[i] is at position first+dropped+i
	dropped := 0
	next := 0
	entry := func(k int) memEntry {
		return memEntry{stream: fmt.Sprintf("s-%d", k%7), rev: uint64(k / 7), id: uuid.New(), rec: make([]byte, 1+k%5)}
	}
	check := func(step string) {
		t.Helper()
		if m.len() != len(want) || m.first != eventstore.Position(first+dropped) {
			t.Fatalf("%s: %d entries from %d, want %d from %d", step, m.len(), m.first, len(want), first+dropped)
		}
		bytes := 0
		streams := map[string][]eventstore.Position{}
		for i, w := range want {
			pos := eventstore.Position(first + dropped + i)
			got, ok := m.get(pos)
			if !ok || got.id != w.id || got.stream != w.stream || got.rev != w.rev {
				t.Fatalf("%s: entry at %d is %+v (%v), want %+v", step, pos, got, ok, w)
			}
			bytes += len(w.rec)
			streams[w.stream] = append(streams[w.stream], pos)
		}
		for _, pos := range []eventstore.Position{first + eventstore.Position(dropped) - 1, first + eventstore.Position(dropped+len(want))} {
			if _, ok := m.get(pos); ok {
				t.Fatalf("%s: an entry at %d, outside the memtable", step, pos)
			}
		}
		if m.bytes != bytes || len(m.streams) != len(streams) {
			t.Fatalf("%s: %d bytes, %d streams; want %d, %d", step, m.bytes, len(m.streams), bytes, len(streams))
		}
		for st, ps := range streams {
			if fmt.Sprint(m.streams[st]) != fmt.Sprint(ps) {
				t.Fatalf("%s: stream %s at %v, want %v", step, st, m.streams[st], ps)
			}
		}
		if n := len(want); n > 0 {
			for _, k := range []int{1, n / 2, n} {
				v := m.front(k)
				if v.len() != k {
					t.Fatalf("%s: front(%d) has %d entries", step, k, v.len())
				}
				for i := range k {
					if v.at(i).id != want[i].id {
						t.Fatalf("%s: front(%d).at(%d) is not entry %d", step, k, i, i)
					}
				}
			}
		}
	}
	// Adds and drops such that the oldest entry crosses chunk boundaries,
	// the memtable empties mid-chunk and at a boundary, and grows to
	// several chunks.
	for _, s := range []struct{ add, drop int }{
		{10, 3}, {memChunkSize, 7}, {0, memChunkSize - 10}, {1, 0}, {0, 1},
		{3*memChunkSize + 5, memChunkSize + 5}, {memChunkSize - 1, 3*memChunkSize - 1}, {0, 10},
		{memChunkSize, memChunkSize}, {2, 1}, {0, 1},
	} {
		for range s.add {
			e := entry(next)
			next++
			m.add(e)
			want = append(want, e)
		}
		check(fmt.Sprintf("after adding %d", s.add))
		if s.drop > len(want) {
			t.Fatalf("step drops %d of %d entries", s.drop, len(want))
		}
		m.dropFront(s.drop)
		want = want[s.drop:]
		dropped += s.drop
		check(fmt.Sprintf("after dropping %d", s.drop))
		if len(want) == 0 && (len(m.chunks) != 0 || m.off != 0) {
			t.Fatalf("empty memtable keeps %d chunks, offset %d", len(m.chunks), m.off)
		}
		if len(m.chunks) > (m.off+m.n+memChunkSize-1)/memChunkSize {
			t.Fatalf("%d chunks for %d entries at offset %d", len(m.chunks), m.n, m.off)
		}
	}
}

// BenchmarkMemtable adds events as the syncer publishes them, on 64
// streams, while the applier drops the oldest 32,768 whenever 65,536 wait:
// the memtable's share of each append.
func BenchmarkMemtable(b *testing.B) {
	const streams, applyAt, applyMax = 64, 65_536, 32_768
	names := make([]string, streams)
	for i := range names {
		names[i] = fmt.Sprintf("assessment-%d", i)
	}
	rec := make([]byte, 560)
	m := newMemtable(1)
	waiting := 0
	i := 0
	for b.Loop() {
		m.add(memEntry{stream: names[i%streams], rev: uint64(i / streams), id: eventstore.NewID(), rec: rec})
		i++
		if waiting++; waiting == applyAt {
			m.dropFront(applyMax)
			waiting -= applyMax
		}
	}
}
