package http_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/projections"
)

// rankingsBody is the body of GET .../rankings.
type rankingsBody struct {
	Campaign string `json:"campaign"`
	Position uint64 `json:"position"`
	Blocks   []struct {
		Block     string `json:"block"`
		Framework string `json:"framework"`
		// The areas and criteria of the block's framework, in the order
		// of each row's points.
		Areas, Criteria []struct {
			Code, Title, Max string
		}
		Rows []struct {
			UnitCode string `json:"unitCode"`
			UnitName string `json:"unitName"`
			Block    string `json:"block"`
			Score    struct {
				Self, Appraised, Survey, Bonus, Penalty, Final, Max, Index string
				Provisional                                                bool
				Areas, Criteria                                            *struct {
					Achieved, Index []string
				}
			} `json:"score"`
			Status string `json:"status"`
			Rank   int    `json:"rank"`
			Grade  string `json:"grade"`
		} `json:"rows"`
	} `json:"blocks"`
}

// TestRankings scores the fixture campaign through the API and checks the
// rankings against totals computed by hand, to the exact decimal string.
func TestRankings(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	unit009 := f.MustIssueToken(t, domain.Principal{ID: "to-cong-tac-009", Role: domain.RoleUnit, Scope: "009"})
	unitSNV := f.MustIssueToken(t, domain.Principal{ID: "to-cong-tac-snv", Role: domain.RoleUnit, Scope: "SNV"})

	// 001 and 009 score themselves alike and are not appraised.
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	f.As(t, unit009).Must(201, "POST", f.A009+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	// 005 submits, and SNV and STP appraise it, lowering 1.1.2.
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", fullSelfScores("1.25", "8", "7", "5.5"))
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/submission", nil)
	f.As(t, f.AppraiserSNV).Must(201, "POST", f.A005+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{
		{"item": "1.1.1", "points": "1.25"}, {"item": "1.1.2", "points": "7.5", "reason": "Chỉ chứng minh được 75% nhiệm vụ"}, {"item": "1.2", "points": 7}}})
	f.As(t, f.AppraiserSTP).Must(201, "POST", f.A005+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{
		{"item": "2.1", "points": "5.5"}, {"item": "2.2", "points": "3.25"}}})
	// The department SNV scores itself in full.
	f.As(t, unitSNV).Must(201, "POST", f.ASNV+"/self-scores", fullSelfScores("2.5", "10", "7.5", "6"))
	// Survey, bonus and penalty.
	f.As(t, f.Institute).Must(201, "POST", "/api/v1/campaigns/"+f.Campaign+"/survey-scores", map[string]any{"batch": "ĐTXHH", "scores": []map[string]any{
		{"unit": "001", "item": "3.1", "points": "8.52"}, {"unit": "005", "item": "3.1", "points": "9.13"},
		{"unit": "009", "item": "3.1", "points": "8.52"}, {"unit": "SNV", "item": "3.1", "points": "7.77"}}})
	admin.Must(201, "POST", f.A005+"/bonus-penalties", map[string]any{"reason": "Sáng kiến một cửa điện tử", "scores": []map[string]any{{"item": "9.1", "points": "1"}}})
	admin.Must(201, "POST", f.ASNV+"/bonus-penalties", map[string]any{"reason": "Chậm báo cáo quý", "scores": []map[string]any{{"item": "9.2", "points": "0.5"}}})

	var rk rankingsBody
	f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/rankings", nil).JSON(t, &rk)
	if rk.Position != uint64(f.Head(t)) {
		t.Errorf("rankings at position %d, head %d", rk.Position, f.Head(t))
	}
	type want struct {
		code, name, self, appraised, survey, bonus, penalty, final, index string
		provisional                                                       bool
		rank                                                              int
		grade, status                                                     string
	}
	// By hand, of 40 points:
	// 005: appraised 1.25 + 7.5 + 7 + 5.5 + 3.25 = 24.5, survey 9.13,
	//      bonus 1: 34.63 → 86.575% → 86.58 (half up).
	// 001, 009: self 2.5 + 9.5 + 7.5 + 6 = 25.5 (provisional), survey
	//      8.52: 34.02 → 85.05%, sharing rank 2.
	// SNV: self 26, survey 7.77, penalty 0.5: 33.27 → 83.175% → 83.18.
	wants := map[string][]want{
		"so": {
			{"SNV", "Sở Nội vụ", "26", "0", "7.77", "0", "0.5", "33.27", "83.18", true, 1, "B", "in-progress"},
		},
		"huyen": {
			{"005", "UBND quận Cầu Giấy", "21.75", "24.5", "9.13", "1", "0", "34.63", "86.58", false, 1, "B", "submitted"},
			{"001", "UBND quận Ba Đình", "25.5", "0", "8.52", "0", "0", "34.02", "85.05", true, 2, "B", "in-progress"},
			{"009", "UBND quận Thanh Xuân", "25.5", "0", "8.52", "0", "0", "34.02", "85.05", true, 2, "B", "in-progress"},
		},
	}
	if len(rk.Blocks) != 2 || rk.Blocks[0].Block != "so" || rk.Blocks[1].Block != "huyen" {
		t.Fatalf("blocks = %+v, want so then huyen", rk.Blocks)
	}
	for _, b := range rk.Blocks {
		ws := wants[b.Block]
		if len(b.Rows) != len(ws) {
			t.Errorf("block %s has %d rows, want %d", b.Block, len(b.Rows), len(ws))
			continue
		}
		for i, w := range ws {
			r := b.Rows[i]
			got := want{r.UnitCode, r.UnitName, r.Score.Self, r.Score.Appraised, r.Score.Survey, r.Score.Bonus, r.Score.Penalty,
				r.Score.Final, r.Score.Index, r.Score.Provisional, r.Rank, r.Grade, r.Status}
			if got != w {
				t.Errorf("block %s row %d:\n got %+v\nwant %+v", b.Block, i, got, w)
			}
			if r.Score.Max != "40" {
				t.Errorf("%s: max %s, want 40", r.UnitCode, r.Score.Max)
			}
		}
	}

	// Per area and per criterion, for 005: area 1 has 15.75 of 20, area 2
	// 8.75 of 10, area 3 9.13 of 10; criterion 1.1 has 8.75 of 12.5 and
	// 1.2 (scored directly) 7 of 7.5 = 93.333…% → 93.33.
	// The block names its areas and criteria once; a row has their
	// points in that order.
	huyen := rk.Blocks[1]
	row005 := huyen.Rows[0]
	if len(huyen.Areas) == 0 || huyen.Areas[0].Title == "" || row005.Score.Areas == nil || row005.Score.Criteria == nil {
		t.Fatalf("block huyen: areas %+v, 005's %+v", huyen.Areas, row005.Score.Areas)
	}
	if len(row005.Score.Areas.Achieved) != len(huyen.Areas) || len(row005.Score.Areas.Index) != len(huyen.Areas) ||
		len(row005.Score.Criteria.Achieved) != len(huyen.Criteria) || len(row005.Score.Criteria.Index) != len(huyen.Criteria) {
		t.Fatalf("005's points %+v %+v do not match the block's %d areas and %d criteria", row005.Score.Areas, row005.Score.Criteria, len(huyen.Areas), len(huyen.Criteria))
	}
	areas := map[string]string{}
	for i, a := range huyen.Areas {
		areas[a.Code] = row005.Score.Areas.Achieved[i] + " of " + a.Max + " = " + row005.Score.Areas.Index[i]
	}
	for code, w := range map[string]string{"1": "15.75 of 20 = 78.75", "2": "8.75 of 10 = 87.5", "3": "9.13 of 10 = 91.3"} {
		if areas[code] != w {
			t.Errorf("005 area %s: %q, want %q", code, areas[code], w)
		}
	}
	if len(areas) != 3 {
		t.Errorf("005 areas %v: want 1, 2 and 3 only (bonus and penalty aside)", areas)
	}
	criteria := map[string]string{}
	for i, c := range huyen.Criteria {
		criteria[c.Code] = row005.Score.Criteria.Achieved[i] + " of " + c.Max + " = " + row005.Score.Criteria.Index[i]
	}
	// 1.2, 2.1, 2.2 and 3.1 are criteria too, scored directly.
	wantCriteria := map[string]string{"1.1": "8.75 of 12.5 = 70", "1.2": "7 of 7.5 = 93.33", "2.1": "5.5 of 6 = 91.67", "2.2": "3.25 of 4 = 81.25", "3.1": "9.13 of 10 = 91.3"}
	if fmt.Sprint(criteria) != fmt.Sprint(wantCriteria) {
		t.Errorf("005 criteria:\n got %v\nwant %v", criteria, wantCriteria)
	}

	// One block only; an unknown block is a field error.
	var only rankingsBody
	f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/rankings?block=huyen", nil).JSON(t, &only)
	if len(only.Blocks) != 1 || only.Blocks[0].Block != "huyen" || len(only.Blocks[0].Rows) != 3 {
		t.Errorf("rankings of block huyen: %+v", only.Blocks)
	}
	r := f.As(t, f.Auditor).Must(400, "GET", "/api/v1/campaigns/"+f.Campaign+"/rankings?block=quan", nil)
	if p, err := problemOf(r); err != nil || len(p.Errors) != 1 || p.Errors[0].Field != "block" {
		t.Errorf("unknown block: %v %s", err, r.Body)
	}

	// The assessment of 005 adds up to the same, with rank and grade.
	var a struct {
		Rank  int
		Grade string
		Score struct{ Final, Index string }
	}
	f.As(t, f.Unit005).Must(200, "GET", f.A005, nil).JSON(t, &a)
	if a.Rank != 1 || a.Grade != "B" || a.Score.Final != "34.63" || a.Score.Index != "86.58" {
		t.Errorf("assessment of 005 = %+v", a)
	}
}

// TestETag checks optimistic concurrency on an assessment: GET gives the
// revision as ETag, a write with If-Match of it succeeds and moves it on,
// and a second write with the old ETag gets 412 and records nothing.
func TestETag(t *testing.T) {
	f := MustOpenCampaign(t)
	unit := f.As(t, f.Unit001)
	unit.Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))

	r := unit.Must(200, "GET", f.A001, nil)
	var a struct{ Revision uint64 }
	r.JSON(t, &a)
	etag := r.Header.Get("ETag")
	if etag != `"3"` || a.Revision != 3 {
		t.Fatalf("after four self scores: ETag %s, revision %d; want \"3\" and 3", etag, a.Revision)
	}

	change := func(points string) map[string]any {
		return map[string]any{"scores": []map[string]any{{"item": "1.2", "points": points, "note": "Biên bản kiểm tra"}}}
	}
	w := unit.Must(201, "POST", f.A001+"/self-scores", change("7"), "If-Match", etag)
	var wr ledgerhttp.WriteResponse
	w.JSON(t, &wr)
	if w.Header.Get("ETag") != `"4"` || wr.Revision == nil || *wr.Revision != 4 || len(wr.Events) != 1 {
		t.Errorf("write with If-Match %s: ETag %s, body %s; want ETag \"4\" and one event", etag, w.Header.Get("ETag"), w.Body)
	}

	before := f.Head(t)
	stale := unit.Do("POST", f.A001+"/self-scores", change("6.5"), "If-Match", etag)
	if p, err := problemOf(stale); stale.Status != 412 || err != nil || p.Code != "precondition" {
		t.Errorf("second write with If-Match %s: %d %v %s; want 412 precondition", etag, stale.Status, err, stale.Body)
	}
	if after := f.Head(t); after != before {
		t.Errorf("the refused write moved the head from %d to %d", before, after)
	}
	if got := unit.Must(200, "GET", f.A001, nil).Header.Get("ETag"); got != `"4"` {
		t.Errorf("ETag after the refused write = %s, want \"4\"", got)
	}

	// A write that changes nothing answers 200 with the current ETag.
	same := unit.Must(200, "POST", f.A001+"/self-scores", change("7"), "If-Match", `"4"`)
	if same.Header.Get("ETag") != `"4"` {
		t.Errorf("no-op write: ETag %s, want \"4\"", same.Header.Get("ETag"))
	}
	// An assessment without events has no ETag, and If-Match on it fails.
	if got := f.As(t, f.HomeAffairs).Must(200, "GET", f.A009, nil).Header.Get("ETag"); got != "" {
		t.Errorf("assessment without events has ETag %s", got)
	}
	f.As(t, f.HomeAffairs).Must(412, "POST", f.A009+"/bonus-penalties", map[string]any{"reason": "Sáng kiến", "scores": []map[string]any{{"item": "9.1", "points": "1"}}}, "If-Match", `"0"`)
	// The campaign has an ETag of its own.
	if got := f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign, nil).Header.Get("ETag"); got == "" {
		t.Error("campaign without ETag")
	}
}

// TestIdempotencyKey checks that a retry with the same key and body
// answers the same and records nothing new.
func TestIdempotencyKey(t *testing.T) {
	f := MustOpenCampaign(t)
	unit := f.As(t, f.Unit001)
	body := fullSelfScores("2.5", "9.5", "7.5", "6")
	first := unit.Must(201, "POST", f.A001+"/self-scores", body, "Idempotency-Key", "tu-cham-001")
	head := f.Head(t)
	again := unit.Must(201, "POST", f.A001+"/self-scores", body, "Idempotency-Key", "tu-cham-001")
	var a, b ledgerhttp.WriteResponse
	first.JSON(t, &a)
	again.JSON(t, &b)
	if !b.Replayed || again.Header.Get("Idempotent-Replayed") != "true" || fmt.Sprint(a.Events) != fmt.Sprint(b.Events) {
		t.Errorf("retry answered %s, first %s", again.Body, first.Body)
	}
	if f.Head(t) != head {
		t.Errorf("the retry recorded events")
	}
	// The same key from another principal is another request.
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", body, "Idempotency-Key", "tu-cham-001")
	// A retry of an evidence upload (multipart) replays too, even with
	// another boundary, as curl -F picks on every run; the same key on
	// another document does not.
	fields := [][2]string{{"item", "1.1.1"}, {"title", "Kế hoạch số 12/KH-UBND"}}
	up, ctype := multipartBody(t, fields, "ke-hoach.pdf", minimalPDF("Kế hoạch"))
	unit.Must(201, "POST", f.A001+"/evidence", up, "Content-Type", ctype, "Idempotency-Key", "minh-chung-1")
	head = f.Head(t)
	retry, rtype := multipartBody(t, fields, "ke-hoach.pdf", minimalPDF("Kế hoạch"))
	if ctype == rtype {
		t.Fatal("the retry has the same boundary")
	}
	if r := unit.Must(201, "POST", f.A001+"/evidence", retry, "Content-Type", rtype, "Idempotency-Key", "minh-chung-1"); r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("evidence retry not replayed: %s", r.Body)
	}
	other, otype := multipartBody(t, [][2]string{{"item", "1.1.1"}, {"title", "Kế hoạch sửa đổi"}}, "ke-hoach.pdf", minimalPDF("Kế hoạch sửa đổi"))
	unit.Must(409, "POST", f.A001+"/evidence", other, "Content-Type", otype, "Idempotency-Key", "minh-chung-1")
	if f.Head(t) != head {
		t.Errorf("the evidence retries recorded events")
	}
}

// TestPublishedAssessment checks what each reader sees of a published
// campaign's assessment: the public and other units the totals only, the
// unit itself and the auditors every item.
func TestPublishedAssessment(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	// The self-assessment closes; every item is appraised (001 as it
	// scored itself, with 0 for 2.2) and every assessment finalized.
	admin.Must(201, "PUT", "/api/v1/campaigns/"+f.Campaign+"/deadlines/self-assessment", map[string]any{"due": day(-1)})
	f.mustAppraise(t, f.A001, "2.5", "9.5", "7.5", "6", "0")
	for _, a := range []string{f.A005, f.A009, f.ASNV} {
		f.mustAppraise(t, a, "0", "0", "0", "0", "0")
	}
	for _, a := range []string{f.A001, f.A005, f.A009, f.ASNV} {
		admin.Must(201, "POST", a+"/finalization", nil)
	}
	before := f.Head(t)
	admin.Must(201, "POST", "/api/v1/campaigns/"+f.Campaign+"/publication", map[string]any{"decisionNumber": "1752/QĐ-UBND", "decisionDate": day(0)})
	for _, tc := range []struct {
		who, secret string
		items       bool
	}{
		{"anonymous", "", false}, {"other unit", f.Unit005, false}, {"own unit", f.Unit001, true}, {"auditor", f.Auditor, true},
	} {
		var a struct {
			Items []struct{ Code string }
			Score struct{ Final string }
		}
		f.As(t, tc.secret).Must(200, "GET", f.A001, nil).JSON(t, &a)
		if (len(a.Items) > 0) != tc.items || a.Score.Final != "25.5" {
			t.Errorf("%s reads %d items, final %s; want items %v, final 25.5", tc.who, len(a.Items), a.Score.Final, tc.items)
		}
	}
	rankings := "/api/v1/campaigns/" + f.Campaign + "/rankings"
	f.Anonymous(t).Must(200, "GET", rankings, nil)
	f.Anonymous(t).Must(401, "GET", f.A001+"/audit", nil)
	f.As(t, f.Unit005).Must(403, "GET", f.A001+"/audit", nil)

	// The rankings as they stood before publication stay as closed as
	// they were then: not public, a unit sees its own line only; from
	// the publication on they are public.
	past := fmt.Sprintf("%s?position=%d", rankings, before)
	f.Anonymous(t).Must(403, "GET", past, nil)
	f.Anonymous(t).Must(403, "GET", past+"&format=csv", nil)
	f.Anonymous(t).Must(200, "GET", fmt.Sprintf("%s?position=%d", rankings, f.Head(t)), nil)
	if got := rowsOf(t, f.As(t, f.Unit005).Must(200, "GET", past, nil)); !strings.HasPrefix(got, "005 ") || strings.Count(got, ";") != 1 {
		t.Errorf("unit 005 reads the rankings before publication as %q, want its own line only", got)
	}
	if got := rowsOf(t, f.As(t, f.Auditor).Must(200, "GET", past, nil)); strings.Count(got, ";") != 4 {
		t.Errorf("the auditor reads the rankings before publication as %q, want 4 lines", got)
	}
}

// TestProbes checks /healthz, and that /readyz answers 503 until the
// projections have caught up with the log and 200 after.
func TestProbes(t *testing.T) {
	f := MustOpenCampaign(t)
	var health map[string]string
	f.Anonymous(t).Must(200, "GET", "/healthz", nil).JSON(t, &health)
	if health["status"] != "ok" {
		t.Errorf("healthz = %v", health)
	}
	var ready struct {
		Position, Head uint64
		CaughtUp       bool
	}
	f.Anonymous(t).Must(200, "GET", "/readyz", nil).JSON(t, &ready)
	if !ready.CaughtUp || ready.Position != ready.Head || ready.Head != uint64(f.Head(t)) {
		t.Errorf("readyz = %+v, head %d", ready, f.Head(t))
	}

	// A second server on the same ledger whose projections have not run
	// yet is not ready; it is once they have caught up.
	runner := projections.NewRunner(f.Store, slog.New(slog.DiscardHandler), projections.NewScoreboard(), projections.NewTokens())
	s := ledgerhttp.NewServer()
	s.Addr = "127.0.0.1:0"
	s.Service, s.Blobs, s.Board, s.Tokens, s.Runner = f.Service, f.Blobs, projections.NewScoreboard(), projections.NewTokens(), runner
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(cctx)
		stop()
		<-stopped
	})
	other := &TestServer{Server: s, Store: f.Store, http: f.http}
	other.Anonymous(t).Must(503, "GET", "/readyz", nil)
	go func() {
		defer close(stopped)
		_ = runner.Run(ctx)
	}()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := runner.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	other.Anonymous(t).Must(200, "GET", "/readyz", nil)
}

// TestMetrics checks /metrics: requests are counted by route template,
// never by raw path, with their status; appends by event type; the
// projections' position and lag.
func TestMetrics(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	admin.Must(404, "GET", "/api/v1/campaigns/xyz", nil)
	admin.Must(404, "GET", "/api/v1/campaigns/xyz", nil)
	admin.Must(404, "GET", "/api/v1/campaigns/khong-co-dau/rankings", nil)
	admin.Must(404, "GET", "/api/v1/duong-dan-la", nil)
	admin.Must(405, "DELETE", "/api/v1/campaigns", nil)
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	f.Anonymous(t).Must(401, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))

	m := string(f.Anonymous(t).Must(200, "GET", "/metrics", nil).Body)
	for _, want := range []string{
		`parledger_http_requests_total{code="404",method="GET",route="/api/v1/campaigns/{campaign}"} 2`,
		`parledger_http_requests_total{code="404",method="GET",route="/api/v1/campaigns/{campaign}/rankings"} 1`,
		`parledger_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`parledger_http_requests_total{code="405",method="DELETE",route="unmatched"} 1`,
		`parledger_http_requests_total{code="201",method="POST",route="/api/v1/campaigns/{campaign}/assessments/{unit}/self-scores"} 1`,
		`parledger_http_requests_total{code="401",method="POST",route="/api/v1/campaigns/{campaign}/assessments/{unit}/self-scores"} 1`,
		`parledger_http_request_duration_seconds_count{method="GET",route="/api/v1/campaigns/{campaign}"} 2`,
		`parledger_events_appended_total{type="SelfScoreRecorded"} 4`,
		`parledger_events_appended_total{type="UnitEnrolled"} 4`,
		`parledger_events_appended_total{type="TokenIssued"} 8`,
		"parledger_append_duration_seconds_bucket",
		"parledger_projection_lag_events 0",
		fmt.Sprintf("parledger_projection_position %d", f.Head(t)),
		"parledger_projection_rebuild_seconds",
		"parledger_append_conflicts_total 0",
		"go_gc_heap_live_bytes ",
	} {
		if !strings.Contains(m, want+"\n") && !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// No label holds a raw path: no campaign id, unit code or unknown path.
	for _, raw := range []string{"xyz", "khong-co-dau", "duong-dan-la", "thu-nghiem", "/001/"} {
		if strings.Contains(m, raw) {
			t.Errorf("metrics hold the raw path part %q", raw)
		}
	}
	route := regexp.MustCompile(`route="([^"]*)"`)
	for _, r := range route.FindAllStringSubmatch(m, -1) {
		if r[1] != "unmatched" && r[1] != "/healthz" && r[1] != "/readyz" && r[1] != "/metrics" && !strings.HasPrefix(r[1], "/api/v1/") {
			t.Errorf("route label %q", r[1])
		}
	}
	// Status codes are numbers.
	for _, c := range regexp.MustCompile(`code="([^"]*)"`).FindAllStringSubmatch(m, -1) {
		if _, err := strconv.Atoi(c[1]); err != nil {
			t.Errorf("code label %q", c[1])
		}
	}
}

// TestCredentialEvents: the events that issue and revoke credentials are
// Home Affairs' to read, as the list of credentials is; other events stay
// readable by every signed-in role that may see their stream.
func TestCredentialEvents(t *testing.T) {
	f := MustOpenCampaign(t)
	ha := f.As(t, f.HomeAffairs)
	var token, other uint64
	for pos := uint64(1); pos <= uint64(f.Head(t)) && (token == 0 || other == 0); pos++ {
		var e struct{ Stream string }
		ha.Must(200, "GET", fmt.Sprintf("/api/v1/events/%d", pos), nil).JSON(t, &e)
		switch {
		case e.Stream == "par.tokens" && token == 0:
			token = pos
		case strings.HasPrefix(e.Stream, "par.campaign:") && other == 0:
			other = pos
		}
	}
	if token == 0 || other == 0 {
		t.Fatalf("no credential event (%d) or campaign event (%d) in the fixture", token, other)
	}
	for _, who := range []struct{ name, secret string }{{"appraiser", f.AppraiserSNV}, {"council", f.Council}, {"institute", f.Institute}, {"auditor", f.Auditor}} {
		r := f.As(t, who.secret).Must(403, "GET", fmt.Sprintf("/api/v1/events/%d", token), nil)
		if strings.Contains(string(r.Body), "secretSha256") {
			t.Errorf("%s: the refusal holds the credential: %s", who.name, r.Body)
		}
		f.As(t, who.secret).Must(200, "GET", fmt.Sprintf("/api/v1/events/%d", other), nil)
	}
	f.As(t, f.Unit001).Must(403, "GET", fmt.Sprintf("/api/v1/events/%d", token), nil)
	f.Anonymous(t).Must(401, "GET", fmt.Sprintf("/api/v1/events/%d", token), nil)
}
