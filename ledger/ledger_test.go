package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/ledger"
)

var (
	homeAffairs = domain.Principal{ID: "snv-admin", Role: domain.RoleHomeAffairs}
	unit001     = domain.Principal{ID: "to-cong-tac-001", Role: domain.RoleUnit, Scope: "001"}
)

// MustService returns a service on a fresh store with the illustrative
// Hanoi district framework, a campaign whose deadlines are in the future
// and unit 001 enrolled.
func MustService(tb testing.TB) *ledger.Service {
	tb.Helper()
	store, err := bolt.Open(tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	svc := ledger.NewService(store, ledger.Options{})
	ctx := context.Background()
	fws, err := demo.Frameworks()
	if err != nil {
		tb.Fatal(err)
	}
	req := ledger.Request{Principal: homeAffairs}
	for _, f := range fws {
		if _, err := svc.RegisterFramework(ctx, req, f); err != nil {
			tb.Fatal(err)
		}
	}
	now := time.Now().In(domain.Hanoi)
	day := func(d int) domain.Date { return domain.MustDate(now.AddDate(0, 0, d).Format(time.DateOnly)) }
	if _, err := svc.OpenCampaign(ctx, req, domain.OpenCampaign{ID: "thu", Year: now.Year(), Title: "Thử nghiệm",
		Calendar: domain.Calendar{SelfAssessmentDue: day(10), AppraisalDue: day(20)}},
		map[domain.Block]domain.FrameworkRef{domain.BlockDistricts: {ID: "hanoi-2017-huyen", Version: 1}}); err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.EnrolUnits(ctx, req, "thu", []domain.Unit{{Code: "001", Name: "UBND quận Ba Đình", Block: domain.BlockDistricts}}); err != nil {
		tb.Fatal(err)
	}
	return svc
}

func selfScore(item, points string) func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
	return func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideSelfScores(x, []domain.ItemScore{{Item: item, Points: decimal.RequireFromString(points), Note: "ghi chú"}})
	}
}

// selfItems returns the codes of the framework's self-scored items.
func selfItems(tb testing.TB, n int) []string {
	tb.Helper()
	fws, err := demo.Frameworks()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, f := range fws {
		if f.Block != domain.BlockDistricts {
			continue
		}
		for _, leaf := range f.Leaves() {
			if leaf.Method == domain.MethodSelf && len(out) < n {
				out = append(out, leaf.Code)
			}
		}
	}
	return out
}

// TestConcurrentCommands has 32 writers score different items of one
// assessment at once: every command succeeds (the service retries on the
// conflicts the store reports), nothing is lost, revisions are gapless.
func TestConcurrentCommands(t *testing.T) {
	svc := MustService(t)
	ctx := context.Background()
	items := selfItems(t, 32)
	var g errgroup.Group
	for _, item := range items {
		g.Go(func() error {
			_, err := svc.Assess(ctx, ledger.Request{Principal: unit001}, "thu", "001", selfScore(item, "0"))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	a, err := svc.Assessment(ctx, "thu", "001")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(a.Items), len(items); got != want || a.Revision != uint64(want-1) {
		t.Errorf("assessment has %d items at revision %d, want %d at %d", got, a.Revision, want, want-1)
	}
}

func TestIfMatch(t *testing.T) {
	svc := MustService(t)
	ctx := context.Background()
	items := selfItems(t, 3)
	res, err := svc.Assess(ctx, ledger.Request{Principal: unit001}, "thu", "001", selfScore(items[0], "0"))
	if err != nil {
		t.Fatal(err)
	}
	rev := res.Revision
	if _, err := svc.Assess(ctx, ledger.Request{Principal: unit001, IfMatch: &rev}, "thu", "001", selfScore(items[1], "0")); err != nil {
		t.Fatalf("write at the current revision: %v", err)
	}
	_, err = svc.Assess(ctx, ledger.Request{Principal: unit001, IfMatch: &rev}, "thu", "001", selfScore(items[2], "0"))
	if got := domain.ErrorCode(err); got != domain.EPRECONDITION {
		t.Errorf("write at a stale revision: code %q (%v), want %q", got, err, domain.EPRECONDITION)
	}
}

func TestIdempotencyKey(t *testing.T) {
	svc := MustService(t)
	ctx := context.Background()
	items := selfItems(t, 2)
	req := ledger.Request{Principal: unit001, IdempotencyKey: "k-1", RequestHash: "h-1"}
	first, err := svc.Assess(ctx, req, "thu", "001", selfScore(items[0], "0"))
	if err != nil {
		t.Fatal(err)
	}
	// Another write moves the stream on; the retry still answers the original.
	if _, err := svc.Assess(ctx, ledger.Request{Principal: unit001}, "thu", "001", selfScore(items[1], "0")); err != nil {
		t.Fatal(err)
	}
	again, err := svc.Assess(ctx, req, "thu", "001", selfScore(items[0], "0"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.Revision != first.Revision || len(again.Events) != 1 || again.Events[0].ID != first.Events[0].ID {
		t.Errorf("retry = %+v, want the original result %+v", again, first)
	}
	other := req
	other.RequestHash = "h-2"
	_, err = svc.Assess(ctx, other, "thu", "001", selfScore(items[1], "0"))
	if got := domain.ErrorCode(err); got != domain.ECONFLICT || !strings.Contains(err.Error(), "Idempotency-Key") {
		t.Errorf("key reused for another request: %v, want a conflict naming the key", err)
	}
	a, err := svc.Assessment(ctx, "thu", "001")
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != 1 {
		t.Errorf("revision %d after a write, a retry and a refused reuse, want 1", a.Revision)
	}
}

func TestUnknown(t *testing.T) {
	svc := MustService(t)
	ctx := context.Background()
	for name, run := range map[string]func() error{
		"Campaign": func() error { _, err := svc.Campaign(ctx, "khong-co"); return err },
		"BadCampaignID": func() error {
			_, err := svc.Campaign(ctx, "Không Có")
			return err
		},
		"Unit": func() error {
			_, err := svc.Assess(ctx, ledger.Request{Principal: unit001}, "thu", "999", selfScore("1.1.1", "0"))
			return err
		},
	} {
		if got := domain.ErrorCode(run()); got != domain.ENOTFOUND {
			t.Errorf("%s: code %q, want %q", name, got, domain.ENOTFOUND)
		}
	}
}

func TestTokens(t *testing.T) {
	svc := MustService(t)
	ctx := context.Background()
	tok, err := svc.IssueToken(ctx, ledger.Request{Principal: homeAffairs}, domain.Principal{ID: "kiem-toan", Role: domain.RoleAuditor}, "Kiểm toán", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Secret, ledger.TokenPrefix) || len(tok.Secret) < 40 {
		t.Errorf("secret %q is not a prefixed 256-bit secret", tok.Secret)
	}
	events, err := svc.ReadStream(ctx, domain.TokenStream)
	if err != nil {
		t.Fatal(err)
	}
	issued := events[len(events)-1].Event.(*domain.TokenIssued)
	if issued.SecretSHA != ledger.HashSecret(tok.Secret) || strings.Contains(fmt.Sprint(events), tok.Secret) {
		t.Errorf("the ledger holds %+v; want the secret's hash only", issued)
	}
	if _, err := svc.IssueToken(ctx, ledger.Request{Principal: unit001}, domain.Principal{ID: "x", Role: domain.RoleAuditor}, "", time.Hour); domain.ErrorCode(err) != domain.EFORBIDDEN {
		t.Errorf("a unit issued a credential: %v", err)
	}
}
