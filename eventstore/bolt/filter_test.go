package bolt

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

func TestIDFilter(t *testing.T) {
	f := newIDFilter(0)
	added := make([]uuid.UUID, filterMinCapacity)
	for i := range added {
		added[i] = uuid.New()
		f.add(&added[i])
	}
	for i := range added {
		if !f.mayContain(&added[i]) {
			t.Fatalf("id %d added but not found: a false negative", i)
		}
	}
	// Deterministic (version 5) ids of similar keys and time-ordered
	// (version 7) ids, which share their first bytes, must spread as well.
	for _, c := range []struct {
		name string
		id   func(i int) uuid.UUID
	}{
		{"deterministic", func(i int) uuid.UUID { return eventstore.DeterministicID("key-" + strconv.Itoa(i)) }},
		{"time-ordered", func(int) uuid.UUID { return eventstore.NewID() }},
	} {
		falsePositives := 0
		const tries = 100_000
		for i := 0; i < tries; i++ {
			id := c.id(i)
			if f.mayContain(&id) {
				falsePositives++
			}
		}
		if rate := float64(falsePositives) / tries; rate > 0.03 {
			t.Errorf("%s ids: false positive rate %.3f at capacity, want about 0.01", c.name, rate)
		}
	}
	if f.full() {
		t.Errorf("full at its capacity")
	}
}

// TestIDFilterLargest: a filter for more ids than the largest one holds
// at 1% is the largest one, and is never full, so it is never rebuilt
// larger: the store's memory stays bounded however long the ledger.
func TestIDFilterLargest(t *testing.T) {
	for _, capacity := range []int{filterMaxBits / filterBitsPerID, 1 << 30} {
		f := newIDFilter(capacity)
		if bits := len(f.words) * 64; bits != filterMaxBits {
			t.Errorf("filter for %d ids has %d bits, want the cap %d", capacity, bits, filterMaxBits)
		}
		f.count = 1 << 40
		if f.full() {
			t.Errorf("the largest filter says it is full")
		}
	}
	if f := newIDFilter(filterMaxBits / filterBitsPerID / 4); len(f.words)*64 >= filterMaxBits || f.full() {
		t.Errorf("a filter under the cap: %d bits, full %v", len(f.words)*64, f.full())
	}
}

// TestIdempotentAfterReopen retries appends whose events are in ledger.db
// only, once the id filter is built from it, and appends new events.
func TestIdempotentAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenTuned(t, dir, nil)
	ctx := context.Background()
	var first []eventstore.AppendResult
	for i := 0; i < 20; i++ {
		res, err := s.Append(ctx, "s", eventstore.Any, testEvent(i), testEvent(100+i))
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, res)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenTuned(t, dir, nil)
	for deadline := time.Now().Add(10 * time.Second); s.ids.Load() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the id filter was not built")
		}
	}
	for i, orig := range first {
		data := []eventstore.EventData{orig.Events[0].EventData, orig.Events[1].EventData}
		expected := eventstore.NoStream
		if i > 0 {
			expected = eventstore.Exact(orig.Events[0].Revision - 1)
		}
		res, err := s.Append(ctx, "s", expected, data...)
		if err != nil || !res.Duplicate || res.Events[1].Position != orig.Events[1].Position {
			t.Fatalf("retry %d = %+v, %v; want the original", i, res, err)
		}
	}
	res, err := s.Append(ctx, "s", eventstore.Exact(39), testEvent(1000))
	if err != nil || res.Duplicate || res.Events[0].Position != 41 {
		t.Fatalf("new append = %+v, %v", res, err)
	}
}
