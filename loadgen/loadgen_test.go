package loadgen_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/loadgen"
	"github.com/parledger/parledger/projections"
)

// MustStore opens an embedded store in a temporary directory.
func MustStore(tb testing.TB) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// rankings replays a store into a scoreboard and returns its rankings as
// "unit index rank status" lines.
func rankings(tb testing.TB, store eventstore.Store, campaign string) []string {
	tb.Helper()
	board := projections.NewScoreboard()
	for e, err := range store.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			tb.Fatal(err)
		}
		r, err := ledger.Decode(e)
		if err != nil {
			tb.Fatal(err)
		}
		board.Apply(r)
	}
	rk, ok := board.Rankings(campaign)
	if !ok || len(rk.Blocks) != 1 {
		tb.Fatalf("rankings = %+v", rk)
	}
	var out []string
	for _, row := range rk.Blocks[0].Rows {
		if row.Score.Index.IsZero() || row.Score.Provisional || row.Status != "finalized" {
			tb.Errorf("%s: index %s provisional %v status %s", row.Unit.Code, row.Score.Index, row.Score.Provisional, row.Status)
		}
		out = append(out, row.Unit.Code+" "+row.Score.Index.String()+" "+row.Status)
	}
	slices.Sort(out)
	return out
}

// TestImport builds a small synthetic campaign and checks that every
// event decodes, there are about five events per item, and the
// scoreboard ranks every unit, finalized.
func TestImport(t *testing.T) {
	store := MustStore(t)
	ctx := context.Background()
	cfg := loadgen.DefaultConfig(12)
	n, err := loadgen.Import(ctx, store, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	perUnit := float64(n) / 12
	if perUnit < 0.9*loadgen.EventsPerUnit || perUnit > 1.1*loadgen.EventsPerUnit {
		t.Errorf("%d events for 12 units: %.0f per unit, want about %d", n, perUnit, loadgen.EventsPerUnit)
	}
	rankings(t, store, cfg.Campaign)
	if _, err := store.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAppend writes the same campaign with concurrent writers through
// Append and checks it ranks exactly as the imported one.
func TestAppend(t *testing.T) {
	ctx := context.Background()
	cfg := loadgen.DefaultConfig(6)
	cfg.Evidence, cfg.Revisions = 1, 0 // fewer events: each append waits for the disk
	imported, appended := MustStore(t), MustStore(t)
	n, err := loadgen.Import(ctx, imported, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	m, err := loadgen.Append(ctx, appended, cfg, loadgen.AppendOptions{Writers: 4, Progress: func(int) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if m != n || calls == 0 {
		t.Errorf("appended %d events (progress called %d times), imported %d", m, calls, n)
	}
	if got, want := rankings(t, appended, cfg.Campaign), rankings(t, imported, cfg.Campaign); !slices.Equal(got, want) {
		t.Errorf("appended:\n%v\nimported:\n%v", got, want)
	}
}
