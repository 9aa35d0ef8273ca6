package projections_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/loadgen"
	"github.com/parledger/parledger/projections"
)

// TestHistoryMatchesReplay builds the score timeline of a synthetic
// campaign and checks the rankings as of many positions, every score
// line and status included, against a scoreboard replayed up to each;
// in the usual batches, and in batches of 100 records written in the
// background while events are applied.
func TestHistoryMatchesReplay(t *testing.T) {
	t.Run("OK", func(t *testing.T) { testHistoryMatchesReplay(t, 0) })
	t.Run("BackgroundWrites", func(t *testing.T) { testHistoryMatchesReplay(t, 100) })
}

func testHistoryMatchesReplay(t *testing.T, batch int) {
	ctx := context.Background()
	store, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cfg := loadgen.DefaultConfig(5)
	n, err := loadgen.Import(ctx, store, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	board := projections.NewScoreboard()
	history, err := projections.OpenHistory(filepath.Join(t.TempDir(), "timeline.db"), board, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = history.Close() })
	if batch > 0 {
		projections.SetFlushEvery(history, batch)
	}
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		r, err := ledger.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		board.Apply(r)
		history.Apply(r)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	positions := []uint64{uint64(n), uint64(n) - 1, uint64(cfg.Units) + 4}
	for range 15 {
		positions = append(positions, uint64(cfg.Units)+4+rng.Uint64N(uint64(n-cfg.Units-4)))
	}
	for _, pos := range positions {
		got, err := history.RankingsAt(ctx, cfg.Campaign, pos)
		if err != nil {
			t.Fatal(err)
		}
		replay := projections.NewScoreboard()
		for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{Limit: pos}) {
			if err != nil {
				t.Fatal(err)
			}
			r, err := ledger.Decode(e)
			if err != nil {
				t.Fatal(err)
			}
			replay.Apply(r)
		}
		want, _ := replay.Rankings(cfg.Campaign)
		checkBreakdown(t, got)
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("as of %d:\n got %.600s\nwant %.600s", pos, gotJSON, wantJSON)
		}
	}
}
