package demo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/ledger"
)

// env is a fresh ledger on a simulated clock, as the demo command opens it.
type env struct {
	clock *demo.Clock
	store *bolt.Store
	blobs *blobs.Store
	svc   *ledger.Service
}

// mustEnv opens a bolt store and a blob store in temporary directories,
// with a clock at demo.Start.
func mustEnv(tb testing.TB) *env {
	tb.Helper()
	clock := demo.NewClock(demo.Start)
	store, err := bolt.Open(tb.TempDir(), bolt.Options{Clock: clock.Now})
	if err != nil {
		tb.Fatalf("bolt.Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := store.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	bs, err := blobs.Open(tb.TempDir(), blobs.Options{})
	if err != nil {
		tb.Fatalf("blobs.Open: %v", err)
	}
	return &env{clock: clock, store: store, blobs: bs, svc: ledger.NewService(store, ledger.Options{Clock: clock.Now})}
}

// mustLoad runs demo.Load and reports its duration.
func mustLoad(tb testing.TB, e *env) demo.Summary {
	tb.Helper()
	start := time.Now()
	var phases []string
	sum, err := demo.Load(context.Background(), e.svc, e.blobs, e.clock, func(s string) { phases = append(phases, s) })
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	tb.Logf("Load: %d requests, %d events, %d evidence files in %s; phases: %q", sum.Requests, sum.Events, sum.EvidenceFiles, time.Since(start).Round(time.Millisecond), phases)
	return sum
}

// readAll returns the whole log.
func readAll(tb testing.TB, s eventstore.Store) []eventstore.Event {
	tb.Helper()
	var out []eventstore.Event
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			tb.Fatalf("ReadAll: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// finalScores folds every assessment of the demo campaign from the ledger
// and returns each unit's final points.
func finalScores(tb testing.TB, svc *ledger.Service) map[string]string {
	tb.Helper()
	ctx := context.Background()
	c, err := svc.Campaign(ctx, demo.CampaignID)
	if err != nil {
		tb.Fatalf("Campaign: %v", err)
	}
	out := map[string]string{}
	for _, code := range c.UnitOrder {
		a, err := svc.Assessment(ctx, demo.CampaignID, code)
		if err != nil {
			tb.Fatalf("Assessment %s: %v", code, err)
		}
		sc := domain.ComputeScore(c.Frameworks[c.Units[code].Block], a, c.Settings.Rounding)
		out[code] = sc.Final.String()
	}
	return out
}

func TestClock(t *testing.T) {
	t0 := time.Date(2017, 9, 25, 8, 0, 0, 0, domain.Hanoi)
	c := demo.NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %s, want %s", got, t0)
	}
	c.Advance(time.Hour)
	c.Advance(-2 * time.Hour)
	if got, want := c.Now(), t0.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after Advance: Now = %s, want %s", got, want)
	}
	if err := c.Set(t0); err == nil {
		t.Fatal("Set backwards: no error")
	}
	if got, want := c.Now(), t0.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after a refused Set: Now = %s, want %s", got, want)
	}
	if err := c.Set(t0.Add(48 * time.Hour)); err != nil {
		t.Fatalf("Set forwards: %v", err)
	}
	if got, want := c.Now(), t0.Add(48*time.Hour); !got.Equal(want) {
		t.Fatalf("after Set: Now = %s, want %s", got, want)
	}
}

func TestUnits(t *testing.T) {
	units := demo.Units()
	count := map[domain.Block]int{}
	seen := map[string]bool{}
	for _, u := range units {
		count[u.Block]++
		if seen[u.Code] {
			t.Errorf("unit %s listed twice", u.Code)
		}
		seen[u.Code] = true
		if err := domain.ValidateUnitCode(u.Code); err != nil {
			t.Errorf("unit %s: %v", u.Code, err)
		}
		if !norm.NFC.IsNormalString(u.Name) {
			t.Errorf("unit %s: name %q is not NFC", u.Code, u.Name)
		}
	}
	if count[domain.BlockDepartments] != 22 || count[domain.BlockDistricts] != 30 {
		t.Fatalf("blocks: got %v, want 22 so and 30 huyen", count)
	}
	byCode := map[string]string{}
	for _, u := range units {
		byCode[u.Code] = u.Name
	}
	for code, name := range map[string]string{
		"SNV": "Sở Nội vụ", "STP": "Sở Tư pháp", "STC": "Sở Tài chính", "VPUBND": "Văn phòng UBND Thành phố",
		"SKHDT": "Sở Kế hoạch và Đầu tư", "SKHCN": "Sở Khoa học và Công nghệ", "STTTT": "Sở Thông tin và Truyền thông",
		"TTTP": "Thanh tra Thành phố", "001": "UBND quận Ba Đình", "005": "UBND quận Cầu Giấy", "269": "UBND thị xã Sơn Tây",
	} {
		if got := byCode[code]; got != name {
			t.Errorf("unit %s: name %q, want %q", code, got, name)
		}
	}
	// Every appraising agency of the frameworks that is a department
	// appears under the same code.
	fws, err := demo.Frameworks()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fws {
		for _, n := range f.Leaves() {
			if a := f.LeafAgency(n.Code); a != "" && !seen[a] {
				t.Errorf("agency %s of item %s is not a unit code", a, n.Code)
			}
		}
	}
}

// TestLoad loads the demo and checks the campaign through the ledger; then
// that a second Load on the same ledger fails without writing, that a Load
// on another fresh ledger gives the same scores, and that the demo
// credentials can be issued.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	sum := mustLoad(t, e)

	c, err := e.svc.Campaign(ctx, demo.CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Units", func(t *testing.T) {
		count := map[domain.Block]int{}
		for _, u := range c.Units {
			count[u.Block]++
		}
		if len(c.Units) != 52 || count[domain.BlockDepartments] != 22 || count[domain.BlockDistricts] != 30 {
			t.Fatalf("enrolled %d units (%v), want 52: 22 so and 30 huyen", len(c.Units), count)
		}
		if sum.Units != 52 {
			t.Errorf("Summary.Units = %d, want 52", sum.Units)
		}
	})
	t.Run("Published", func(t *testing.T) {
		if c.Published == nil {
			t.Fatal("the campaign is not published")
		}
		if got := c.Published.DecisionNumber; got != "1203/QĐ-UBND" {
			t.Errorf("decision number %q", got)
		}
		if got, want := c.Calendar.SelfAssessmentDue.String(), "2017-11-01"; got != want {
			t.Errorf("self-assessment due %s, want the extension to %s", got, want)
		}
		if got, want := c.Calendar.ExplanationDue.String(), "2017-12-10"; got != want {
			t.Errorf("explanation due %s, want %s", got, want)
		}
	})
	t.Run("Assessments", func(t *testing.T) {
		var explanations, accepted, withdrawn, round2, reopened int
		for _, code := range c.UnitOrder {
			a, err := e.svc.Assessment(ctx, demo.CampaignID, code)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Finalized || !a.Submitted {
				t.Errorf("%s: finalized %v, submitted %v", code, a.Finalized, a.Submitted)
			}
			sc := domain.ComputeScore(c.Frameworks[c.Units[code].Block], a, c.Settings.Rounding)
			if sc.Provisional {
				t.Errorf("%s: score is provisional", code)
			}
			for _, x := range a.Explanations {
				explanations++
				if !x.Resolved {
					t.Errorf("%s: explanation %s is open", code, x.ID)
				}
				if x.Accepted {
					accepted++
				}
			}
			for _, s := range a.Items {
				if s.Appraisals[1] != nil {
					round2++
				}
			}
			events, err := e.svc.ReadStream(ctx, domain.AssessmentStream(demo.CampaignID, code))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range events {
				switch r.Event.(type) {
				case *domain.EvidenceWithdrawn:
					withdrawn++
					if r.Reason == "" {
						t.Errorf("%s: evidence withdrawn without a reason", code)
					}
				case *domain.SubmissionReopened:
					reopened++
				case *domain.AppraisalRecorded:
					if r.Actor.Role != domain.RoleAppraiser {
						t.Errorf("%s: appraisal by %v", code, r.Actor)
					}
				}
			}
		}
		if explanations < 4 || accepted == 0 || accepted == explanations {
			t.Errorf("%d explanations, %d accepted: want at least 4, some accepted and some rejected", explanations, accepted)
		}
		if explanations != sum.Explanations || accepted != sum.Accepted {
			t.Errorf("summary says %d explanations, %d accepted; the ledger %d, %d", sum.Explanations, sum.Accepted, explanations, accepted)
		}
		if withdrawn == 0 || round2 == 0 || reopened != 1 {
			t.Errorf("withdrawn %d, round-2 appraisals %d, reopened %d: want some, some, 1", withdrawn, round2, reopened)
		}
	})
	t.Run("Times", func(t *testing.T) {
		events := readAll(t, e.store)
		if len(events) != sum.Events {
			t.Errorf("the log holds %d events, Summary.Events = %d", len(events), sum.Events)
		}
		first := time.Date(2017, 1, 1, 0, 0, 0, 0, domain.Hanoi)
		end := time.Date(2018, 2, 1, 0, 0, 0, 0, domain.Hanoi)
		var prev time.Time
		for _, ev := range events {
			if ev.RecordedAt.Before(first) || !ev.RecordedAt.Before(end) {
				t.Fatalf("event %d (%s) recorded at %s, outside 2017 and January 2018", ev.Position, ev.Type, ev.RecordedAt)
			}
			if ev.RecordedAt.Before(prev) {
				t.Fatalf("event %d recorded at %s, before the previous event (%s)", ev.Position, ev.RecordedAt, prev)
			}
			prev = ev.RecordedAt
		}
		if got := events[0].RecordedAt.In(domain.Hanoi).Format(time.DateOnly); got != "2017-09-25" {
			t.Errorf("first event on %s, want 2017-09-25", got)
		}
		if got := events[len(events)-1].RecordedAt.In(domain.Hanoi).Format(time.DateOnly); !strings.HasPrefix(got, "2018-01-") {
			t.Errorf("last event on %s, want January 2018", got)
		}
	})
	t.Run("Indexes", func(t *testing.T) {
		ranges := map[domain.Block][2]float64{domain.BlockDepartments: {76, 93}, domain.BlockDistricts: {80, 96}}
		if len(sum.Results) != 52 {
			t.Fatalf("%d results, want 52", len(sum.Results))
		}
		scores := finalScores(t, e.svc)
		ties := 0
		for _, r := range sum.Results {
			idx := r.Index.InexactFloat64()
			if rg := ranges[r.Unit.Block]; idx < rg[0] || idx > rg[1] {
				t.Errorf("%s (%s): index %s outside %v", r.Unit.Code, r.Unit.Name, r.Index, rg)
			}
			if got := scores[r.Unit.Code]; got != r.Final.String() {
				t.Errorf("%s: summary final %s, ledger %s", r.Unit.Code, r.Final, got)
			}
		}
		for _, b := range sum.Blocks {
			ties += len(b.Ties)
			t.Logf("block %s: top %s %s, bottom %s %s, ties %s", b.Block, b.Top.Unit.Name, b.Top.Index, b.Bottom.Unit.Name, b.Bottom.Index, tieString(b.Ties))
		}
		if ties == 0 {
			t.Error("no two units of a block share a rank")
		}
		want := map[string]string{"STC": "92.76", "STNMT": "76.27", "005": "94.22", "275": "83.86"}
		for _, r := range sum.Results {
			if w, ok := want[r.Unit.Code]; ok && !r.Index.Equal(decimal.RequireFromString(w)) {
				t.Errorf("%s: index %s, want %s", r.Unit.Code, r.Index, w)
			}
		}
		if len(sum.Blocks) != 2 || sum.Blocks[0].Top.Unit.Code != "STC" || sum.Blocks[0].Bottom.Unit.Code != "STNMT" || sum.Blocks[1].Top.Unit.Code != "005" {
			t.Errorf("blocks: %+v", sum.Blocks)
		}
	})
	t.Run("ErrLoadTwice", func(t *testing.T) {
		head, err := e.store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = demo.Load(ctx, e.svc, e.blobs, demo.NewClock(demo.Start), nil)
		if got := domain.ErrorCode(err); got != domain.ECONFLICT {
			t.Fatalf("second Load: %v (code %q), want a conflict", err, got)
		}
		after, err := e.store.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after != head {
			t.Fatalf("the second Load wrote events: head %d, then %d", head, after)
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		if testing.Short() {
			t.Skip("loads the demo campaign a second time")
		}
		other := mustEnv(t)
		sb := mustLoad(t, other)
		fa, fb := finalScores(t, e.svc), finalScores(t, other.svc)
		if len(fa) != 52 || len(fb) != 52 {
			t.Fatalf("%d and %d units, want 52", len(fa), len(fb))
		}
		for code, x := range fa {
			if y := fb[code]; x != y {
				t.Errorf("%s: final %s, then %s", code, x, y)
			}
		}
		if sum.Events != sb.Events || sum.EvidenceFiles != sb.EvidenceFiles {
			t.Errorf("events %d and %d, evidence files %d and %d", sum.Events, sb.Events, sum.EvidenceFiles, sb.EvidenceFiles)
		}
	})
	t.Run("Tokens", func(t *testing.T) {
		toks, err := demo.IssueDemoTokens(ctx, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		var roles []string
		for _, tok := range toks {
			if !strings.HasPrefix(tok.Secret, ledger.TokenPrefix) {
				t.Errorf("%s: secret %q", tok.PrincipalID, tok.Secret)
			}
			if d := time.Until(tok.ExpiresAt); d < 29*24*time.Hour || d > 31*24*time.Hour {
				t.Errorf("%s: expires in %s, want 30 days of real time", tok.PrincipalID, d)
			}
			roles = append(roles, fmt.Sprintf("%s/%s", tok.Role, tok.Scope))
		}
		for _, want := range []string{"home-affairs/", "council/", "institute/", "auditor/", "appraiser/SNV", "appraiser/STP", "appraiser/STC",
			"appraiser/VPUBND", "appraiser/STTTT", "appraiser/SKHCN", "appraiser/SKHDT", "unit/SNV", "unit/001", "unit/005"} {
			if !slices.Contains(roles, want) {
				t.Errorf("no credential for %s; got %v", want, roles)
			}
		}
	})
}

// TestLoadErrClockAhead refuses a clock past the demo's start.
func TestLoadErrClockAhead(t *testing.T) {
	e := mustEnv(t)
	_, err := demo.Load(context.Background(), e.svc, e.blobs, demo.NewClock(demo.Start.Add(time.Hour)), nil)
	if err == nil {
		t.Fatal("Load with a clock after Start: no error")
	}
	head, herr := e.store.Head(context.Background())
	if herr != nil || head != 0 {
		t.Fatalf("head %d, %v: want an empty ledger", head, herr)
	}
}

// TestLoadErrLedgerAhead refuses a ledger holding events recorded after
// the demo's start, which would lend the demo their time.
func TestLoadErrLedgerAhead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := bolt.Open(dir, bolt.Options{}) // real time
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.NewService(store, ledger.Options{}).IssueToken(ctx, ledger.Request{Principal: demo.HomeAffairs}, demo.Auditor, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	clock := demo.NewClock(demo.Start)
	store, err = bolt.Open(dir, bolt.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bs, err := blobs.Open(t.TempDir(), blobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = demo.Load(ctx, ledger.NewService(store, ledger.Options{Clock: clock.Now}), bs, clock, nil)
	if got := domain.ErrorCode(err); got != domain.ECONFLICT {
		t.Fatalf("Load: %v (code %q), want a conflict", err, got)
	}
	if head, err := store.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head %d, %v: want the one token event", head, err)
	}
}

// TestLoadErrWiring refuses a store or service not on the demo clock.
func TestLoadErrWiring(t *testing.T) {
	for _, tc := range []struct {
		name         string
		storeOnClock bool
		svcOnClock   bool
	}{{"ErrStoreClock", false, true}, {"ErrServiceClock", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := demo.NewClock(demo.Start)
			var opts bolt.Options
			if tc.storeOnClock {
				opts.Clock = clock.Now
			}
			store, err := bolt.Open(t.TempDir(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			bs, err := blobs.Open(t.TempDir(), blobs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var sopts ledger.Options
			if tc.svcOnClock {
				sopts.Clock = clock.Now
			}
			_, err = demo.Load(context.Background(), ledger.NewService(store, sopts), bs, clock, nil)
			if err == nil || !strings.Contains(err.Error(), "demo clock") {
				t.Fatalf("Load: %v, want an error about the demo clock", err)
			}
		})
	}
}

// TestLoadCanceled stops at a cancelled context with its error.
func TestLoadCanceled(t *testing.T) {
	e := mustEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	_, err := demo.Load(ctx, e.svc, e.blobs, e.clock, func(string) {
		if steps++; steps == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load: %v, want context.Canceled", err)
	}
}

func tieString(ties [][]demo.Result) string {
	var parts []string
	for _, g := range ties {
		var names []string
		for _, r := range g {
			names = append(names, r.Unit.Name)
		}
		parts = append(parts, fmt.Sprintf("%s at %s (rank %d)", strings.Join(names, " = "), g[0].Index, g[0].Rank))
	}
	return strings.Join(parts, "; ")
}
