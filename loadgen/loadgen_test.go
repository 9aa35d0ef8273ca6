package loadgen_test

import (
	"context"
	"testing"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/loadgen"
	"github.com/parledger/parledger/projections"
)

// TestImport builds a small synthetic campaign and checks that every
// event decodes, revisions are gapless and the scoreboard ranks all units.
func TestImport(t *testing.T) {
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	cfg := loadgen.DefaultConfig(12)
	n, err := loadgen.Import(ctx, store, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	perUnit := float64(n) / 12
	if perUnit < 300 || perUnit > 600 {
		t.Errorf("%d events for 12 units: %.0f per unit, want about 5 per item", n, perUnit)
	}
	board := projections.NewScoreboard()
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		r, err := ledger.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		board.Apply(r)
	}
	rk, ok := board.Rankings(cfg.Campaign)
	if !ok || len(rk.Blocks) != 1 || len(rk.Blocks[0].Rows) != 12 {
		t.Fatalf("rankings = %+v", rk)
	}
	for _, row := range rk.Blocks[0].Rows {
		if row.Score.Index.IsZero() || row.Score.Provisional {
			t.Errorf("%s: index %s provisional %v", row.Unit.Code, row.Score.Index, row.Score.Provisional)
		}
	}
	if _, err := store.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
