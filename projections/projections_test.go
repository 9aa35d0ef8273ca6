package projections_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/projections"
)

var (
	homeAffairs = domain.Principal{ID: "snv-admin", Role: domain.RoleHomeAffairs}
	institute   = domain.Principal{ID: "vien", Role: domain.RoleInstitute}
)

// framework is a 10-point framework: one survey item of 6, one self item
// of 4 appraised by SNV.
const framework = `{"id":"nho","version":1,"title":"Khung nhỏ","block":"huyen","areas":[
 {"code":"1","title":"Hài lòng","maxPoints":"6","children":[{"code":"1.1","title":"Hài lòng","maxPoints":"6","method":"survey"}]},
 {"code":"2","title":"Chỉ đạo","maxPoints":"4","agency":"SNV","children":[{"code":"2.1","title":"Kế hoạch","maxPoints":"4","method":"self"}]}]}`

type fixture struct {
	store  *bolt.Store
	svc    *ledger.Service
	board  *projections.Scoreboard
	runner *projections.Runner
}

// MustFixture opens a store with a campaign of three districts and starts
// a runner feeding a scoreboard, stopped when the test ends.
func MustFixture(tb testing.TB, store eventstore.Store) *fixture {
	tb.Helper()
	ctx := context.Background()
	bs, err := bolt.Open(tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = bs.Close() })
	if store == nil {
		store = bs
	}
	f := &fixture{store: bs, svc: ledger.NewService(bs, ledger.Options{}), board: projections.NewScoreboard()}
	fw, err := domain.ParseFrameworkJSON(stringsReader(framework))
	if err != nil {
		tb.Fatal(err)
	}
	req := ledger.Request{Principal: homeAffairs}
	if _, err := f.svc.RegisterFramework(ctx, req, fw); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().In(domain.Hanoi)
	day := func(d int) domain.Date { return domain.MustDate(now.AddDate(0, 0, d).Format(time.DateOnly)) }
	if _, err := f.svc.OpenCampaign(ctx, req, domain.OpenCampaign{ID: "c", Year: now.Year(), Title: "Thử",
		Calendar: domain.Calendar{SelfAssessmentDue: day(5), AppraisalDue: day(9)}},
		map[domain.Block]domain.FrameworkRef{domain.BlockDistricts: {ID: "nho", Version: 1}}); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.svc.EnrolUnits(ctx, req, "c", []domain.Unit{
		{Code: "001", Name: "Ba Đình", Block: domain.BlockDistricts},
		{Code: "002", Name: "Hoàn Kiếm", Block: domain.BlockDistricts},
		{Code: "003", Name: "Tây Hồ", Block: domain.BlockDistricts},
	}); err != nil {
		tb.Fatal(err)
	}
	f.runner = projections.NewRunner(wrapIfNil(store, bs), quiet, f.board)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = f.runner.Run(runCtx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return f
}

func wrapIfNil(s eventstore.Store, fallback *bolt.Store) eventstore.Store {
	if d, ok := s.(*dropping); ok {
		d.Store = fallback
		return d
	}
	return s
}

func (f *fixture) survey(tb testing.TB, unit, points string) uint64 {
	tb.Helper()
	res, err := f.svc.Assess(context.Background(), ledger.Request{Principal: institute}, "c", unit, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideSurveyScores(x, []domain.ItemScore{{Item: "1.1", Points: decimal.RequireFromString(points)}}, "")
	})
	if err != nil {
		tb.Fatal(err)
	}
	return uint64(res.Events[len(res.Events)-1].Position)
}

func (f *fixture) waitFor(tb testing.TB, pos uint64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.runner.WaitFor(ctx, eventstore.Position(pos)); err != nil {
		tb.Fatalf("projections did not reach %d: %v", pos, err)
	}
}

func ranks(tb testing.TB, b *projections.Scoreboard) map[string]string {
	tb.Helper()
	rk, ok := b.Rankings("c")
	if !ok {
		tb.Fatal("no rankings")
	}
	out := map[string]string{}
	for _, br := range rk.Blocks {
		for _, r := range br.Rows {
			out[r.Unit.Code] = r.Score.Index.String() + "#" + string(rune('0'+r.Rank))
		}
	}
	return out
}

func TestScoreboard(t *testing.T) {
	f := MustFixture(t, nil)
	f.waitFor(t, f.survey(t, "001", "3"))
	if got := ranks(t, f.board); got["001"] != "30#1" || got["002"] != "0#2" || got["003"] != "0#2" {
		t.Errorf("rankings = %v, want 001 30%% first, 002 and 003 sharing rank 2", got)
	}
	// A later change invalidates the cached rankings.
	f.survey(t, "002", "4.5")
	f.waitFor(t, f.survey(t, "003", "3"))
	if got := ranks(t, f.board); got["002"] != "45#1" || got["001"] != "30#2" || got["003"] != "30#2" {
		t.Errorf("rankings after changes = %v", got)
	}
	// Publication, a campaign event, shows in the rankings too.
	if f.board.Published("c") {
		t.Errorf("published before publication")
	}
	if got := f.board.Unfinished("c"); len(got) != 3 {
		t.Errorf("unfinished = %v, want all three", got)
	}

	// A second runner rebuilding from the log reaches the same rankings.
	board2 := projections.NewScoreboard()
	r2 := projections.NewRunner(f.store, quiet, board2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r2.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := r2.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	head, _ := f.store.Head(ctx)
	if r2.Position() != head || !r2.CaughtUp() || r2.RebuildDuration() <= 0 {
		t.Errorf("rebuilt runner at %d of %d, caught up %v", r2.Position(), head, r2.CaughtUp())
	}
	if a, b := ranks(t, f.board), ranks(t, board2); a["001"] != b["001"] || a["002"] != b["002"] || a["003"] != b["003"] {
		t.Errorf("rebuilt rankings %v differ from live %v", b, a)
	}
	rk, _ := f.board.Rankings("c")
	checkBreakdown(t, rk)
}

// checkBreakdown checks that each block of rk names its framework's
// breakdown nodes, and that every row's areas and criteria are those
// nodes, in that order: the rankings API sends the nodes once per block.
func checkBreakdown(t *testing.T, rk *projections.Rankings) {
	t.Helper()
	if len(rk.Blocks) == 0 {
		t.Fatal("no blocks")
	}
	for _, b := range rk.Blocks {
		if len(b.Areas) == 0 || len(b.Rows) == 0 {
			t.Errorf("block %s: %d areas, %d rows", b.Block, len(b.Areas), len(b.Rows))
		}
		for _, row := range b.Rows {
			for i, pair := range [2][2]any{{b.Areas, row.Score.Areas}, {b.Criteria, row.Score.Criteria}} {
				refs, lines := pair[0].([]domain.NodeRef), pair[1].([]domain.NodeScore)
				if len(refs) != len(lines) {
					t.Fatalf("block %s, unit %s: %d nodes of kind %d, the row has %d", b.Block, row.Unit.Code, len(refs), i, len(lines))
				}
				for j, n := range lines {
					if r := refs[j]; r.Code != n.Code || r.Title != n.Title || r.Max.String() != n.Max.String() {
						t.Errorf("block %s, unit %s: node %d is %+v, the row's %s", b.Block, row.Unit.Code, j, refs[j], n.Code)
					}
				}
			}
		}
	}
}

// dropping is a store whose subscriptions fail with ErrDropped after a
// few events, a given number of times.
type dropping struct {
	eventstore.Store
	after int
	drops atomic.Int32
}

func (d *dropping) Subscribe(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		n := 0
		for msg, err := range d.Store.Subscribe(ctx, from) {
			if err == nil && !msg.CaughtUp && d.drops.Load() < 3 {
				if n++; n > d.after {
					d.drops.Add(1)
					yield(eventstore.Message{}, eventstore.ErrDropped)
					return
				}
			}
			if !yield(msg, err) {
				return
			}
		}
	}
}

// TestRunnerResumes drops the subscription three times: the runner resumes
// from the next position each time, so the scoreboard sees every event
// exactly once.
func TestRunnerResumes(t *testing.T) {
	d := &dropping{after: 2}
	f := MustFixture(t, d)
	f.survey(t, "001", "1")
	f.waitFor(t, f.survey(t, "002", "2"))
	if got := f.runner.Drops(); got != 3 {
		t.Errorf("runner counted %d drops, want 3", got)
	}
	head, _ := f.store.Head(context.Background())
	if f.runner.Position() != head || f.board.Position() != uint64(head) {
		t.Errorf("runner at %d, board at %d, head %d", f.runner.Position(), f.board.Position(), head)
	}
	if got := ranks(t, f.board); got["001"] != "10#2" || got["002"] != "20#1" {
		t.Errorf("rankings after drops = %v", got)
	}
}

// TestRunnerStopsOnUndecodable: an event the domain cannot decode stops
// the projections with an error instead of being skipped.
func TestRunnerStopsOnUndecodable(t *testing.T) {
	f := MustFixture(t, nil)
	ctx := context.Background()
	if _, err := f.store.Append(ctx, "par.campaign:c", eventstore.Any, eventstore.EventData{
		ID: uuid.New(), Type: "SomethingNew", SchemaVersion: 1, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.runner.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.runner.Err() == nil {
		t.Fatal("the runner did not stop on an unknown event type")
	}
}

func TestAuditTrail(t *testing.T) {
	f := MustFixture(t, nil)
	f.survey(t, "001", "3")
	f.survey(t, "001", "4.5")
	events, err := f.svc.ReadStream(context.Background(), domain.AssessmentStream("c", "001"))
	if err != nil {
		t.Fatal(err)
	}
	all := projections.AuditTrail("c", "001", events, projections.AuditFilter{})
	if len(all) != 2 {
		t.Fatalf("audit has %d entries, want 2", len(all))
	}
	second := all[1]
	if second.Item != "1.1" || second.Before.Survey.String() != "3" || second.After.Survey.String() != "4.5" || second.Actor.ID != "vien" {
		t.Errorf("second entry = %+v", second)
	}
	if second.StatusBefore != "in-progress" || all[0].StatusBefore != "not-started" {
		t.Errorf("statuses %s → %s", all[0].StatusBefore, second.StatusBefore)
	}
	if got := projections.AuditTrail("c", "001", events, projections.AuditFilter{Actor: "someone-else"}); len(got) != 0 {
		t.Errorf("filter by actor kept %d entries", len(got))
	}
	if got := projections.AuditTrail("c", "001", events, projections.AuditFilter{From: second.At}); len(got) != 1 {
		t.Errorf("filter from the second entry's time kept %d entries", len(got))
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestHistory plays a campaign, records the live rankings at several
// moments, keeps going, and checks that as-of queries for those moments
// return exactly the recorded rankings, whether a snapshot sits before
// them or not.
func TestHistory(t *testing.T) {
	f := MustFixture(t, nil)
	ctx := context.Background()
	// A runner feeds a board and its history together, in order.
	board := projections.NewScoreboard()
	h2, err := projections.OpenHistory(t.TempDir()+"/timeline.db", board, f.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h2.Close() })
	r := projections.NewRunner(f.store, quiet, board, h2)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = r.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	type moment struct {
		pos      uint64
		at       time.Time
		rankings string
	}
	var moments []moment
	for i, step := range []struct{ unit, points string }{
		{"001", "1"}, {"002", "2.5"}, {"003", "3"}, {"001", "5.25"}, {"002", "0"}, {"003", "6"}, {"001", "2"},
	} {
		pos := f.survey(t, step.unit, step.points)
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		if err := r.WaitFor(wctx, eventstore.Position(pos)); err != nil {
			t.Fatal(err)
		}
		wcancel()
		rk, _ := board.Rankings("c")
		events := storetestLast(t, f.store)
		moments = append(moments, moment{pos: pos, at: events.RecordedAt, rankings: rankingsKey(rk)})
		if i == 2 {
			time.Sleep(5 * time.Millisecond) // a gap in time between moments
		}
	}
	if h2.Err() != nil {
		t.Fatal(h2.Err())
	}
	for _, m := range moments {
		got, err := h2.RankingsAt(ctx, "c", m.pos)
		if err != nil {
			t.Fatal(err)
		}
		if key := rankingsKey(got); key != m.rankings || got.Position != m.pos {
			t.Errorf("as of %d: %s (position %d), want %s", m.pos, key, got.Position, m.rankings)
		}
		pos, err := projections.PositionAt(ctx, f.store, m.at)
		if err != nil || pos != m.pos {
			t.Errorf("PositionAt(%v) = %d, %v; want %d", m.at, pos, err, m.pos)
		}
	}
	if pos, err := projections.PositionAt(ctx, f.store, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || pos != 0 {
		t.Errorf("PositionAt(2000) = %d, %v; want 0", pos, err)
	}
	if _, err := h2.RankingsAt(ctx, "c", 1); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("rankings before the campaign existed: %v, want not found", err)
	}
}

func rankingsKey(rk *projections.Rankings) string {
	var b strings.Builder
	for _, br := range rk.Blocks {
		for _, r := range br.Rows {
			fmt.Fprintf(&b, "%s:%s#%d ", r.Unit.Code, r.Score.Index, r.Rank)
		}
	}
	return b.String()
}

func storetestLast(tb testing.TB, s eventstore.Store) eventstore.Event {
	tb.Helper()
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}) {
		if err != nil {
			tb.Fatal(err)
		}
		return e
	}
	tb.Fatal("empty log")
	return eventstore.Event{}
}
