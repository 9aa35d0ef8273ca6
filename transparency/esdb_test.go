package transparency_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/esdb"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
	"github.com/parledger/parledger/transparency"
)

// TestSameTreeOnEventStoreDB moves a ledger from the embedded store to
// EventStoreDB (its protocol test double), where positions are commit
// positions with gaps, and checks that the Merkle log built there has the
// roots of the one built on bolt: a checkpoint signed before the move
// still verifies after it, and so does the export taken from the new
// store.
func TestSameTreeOnEventStoreDB(t *testing.T) {
	tp := mustTampered(t)
	srv := esdbtest.New(t, esdbtest.Options{})
	ctx := context.Background()
	s, err := esdb.Open(ctx, srv.ConnectionString(), esdb.Options{StreamPrefixes: []string{"s-"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := eventstore.Import(ctx, s, bytes.NewReader(tp.export), nil); err != nil {
		t.Fatal(err)
	}
	l := MustOpen(t, transparency.Options{})
	f := startFollow(t, l, s)
	mustWaitSize(t, l, tamperEvents)
	if err := l.VerifyCheckpoint(tp.cp); err != nil {
		t.Fatalf("the tree built on EventStoreDB does not match the checkpoint signed on bolt: %v", err)
	}
	all, err := collect(s.ReadAll(ctx, eventstore.ReadAllOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if all[len(all)-1].Position == eventstore.Position(len(all)) {
		t.Log("EventStoreDB positions happen to be gapless here")
	}
	for i := range all {
		p, err := l.ProveEvent(&all[i], 0)
		if err != nil || p.LeafIndex != uint64(i) {
			t.Fatalf("ProveEvent(event at position %d) = leaf %d, %v; want leaf %d", all[i].Position, p.LeafIndex, err, i)
		}
		if err := transparency.VerifyEventInclusion(tp.cp, &all[i], p); err != nil {
			t.Fatal(err)
		}
	}
	var export bytes.Buffer
	if _, err := eventstore.Export(ctx, s, &export); err != nil {
		t.Fatal(err)
	}
	if _, err := transparency.VerifyExport(&export, tp.cp, l); err != nil {
		t.Errorf("export from EventStoreDB against the checkpoint signed on bolt: %v", err)
	}
	if err := f.stop(t); err != nil {
		t.Fatal(err)
	}
}

func collect(seq func(func(eventstore.Event, error) bool)) ([]eventstore.Event, error) {
	var out []eventstore.Event
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}
