package http_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parledger/parledger/domain"
)

// principals of the role matrix, in the order each route is tried.
var matrixPrincipals = []string{"anon", "own", "other", "snv", "stp", "ha", "council", "inst", "aud"}

const (
	signedIn = "own other snv stp ha council inst aud"
	everyone = "anon " + signedIn
)

// matrixRoute is one route of the API tried by every principal.
type matrixRoute struct {
	// route is the route's template as registered; method and path the
	// request sent (with a body valid for the allowed principals).
	route        string
	method, path string
	body         any
	headers      []string
	// allow lists the principals the route lets through: they get a 2xx
	// or a domain error that is neither 401 nor 403; ok lists those of
	// them that must get a 2xx. Every other principal gets 401 when
	// anonymous, else 403.
	allow, ok string
	// anon, when set, is the exact status the anonymous public gets.
	anon int
}

// TestRoleMatrix tries every route of the API with every kind of
// principal: anonymous, a unit in and out of its scope, appraisers of two
// agencies, Home Affairs, the council, the survey institute and an
// auditor. Refused requests must leave the log as it was.
func TestRoleMatrix(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	c := "/api/v1/campaigns/" + f.Campaign
	const tc, ta = "/api/v1/campaigns/{campaign}", "/api/v1/campaigns/{campaign}/assessments/{unit}"

	// State for the routes to act on: 001 self-scored with evidence; 005
	// submitted, appraised and contesting item 1.1.1 (GT-1); 009
	// submitted and appraised in full; campaign da-cong-bo published with
	// unit 002 finalized; a credential to revoke.
	unit009 := f.MustIssueToken(t, domain.Principal{ID: "to-cong-tac-009", Role: domain.RoleUnit, Scope: "009"})
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9", "7", "6"))
	pdf := minimalPDF("Kế hoạch số 12/KH-UBND")
	body, ctype := multipartBody(t, [][2]string{{"item", "1.1.1"}, {"title", "Kế hoạch số 12/KH-UBND"}}, "ke-hoach.pdf", pdf)
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/evidence", body, "Content-Type", ctype)
	var a001 struct {
		Items []struct {
			Code     string
			Evidence []struct{ SHA256 string }
		}
	}
	f.As(t, f.Unit001).Must(200, "GET", f.A001, nil).JSON(t, &a001)
	var sha string
	for _, it := range a001.Items {
		if it.Code == "1.1.1" && len(it.Evidence) == 1 {
			sha = it.Evidence[0].SHA256
		}
	}
	if sha == "" {
		t.Fatalf("the evidence of 001 is not shown: %+v", a001)
	}
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", fullSelfScores("2.5", "8", "7.5", "5"))
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/submission", nil)
	f.As(t, f.AppraiserSNV).Must(201, "POST", f.A005+"/appraisals", map[string]any{"round": 1, "reason": "Ban hành chậm",
		"scores": []map[string]any{{"item": "1.1.1", "points": "1.25"}}})
	admin.Must(201, "POST", c+"/explanation-window", map[string]any{"due": day(5)})
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/explanations", map[string]any{"item": "1.1.1", "claimedPoints": "2.5", "argument": "Kế hoạch ban hành đúng hạn"})
	f.As(t, unit009).Must(201, "POST", f.A009+"/self-scores", fullSelfScores("0", "5", "5", "3"))
	f.As(t, unit009).Must(201, "POST", f.A009+"/submission", nil)
	f.mustAppraise(t, f.A009, "0", "5", "5", "3", "2")
	// da-cong-bo closed its self-assessment yesterday: 002 is appraised
	// without self scores, finalized and published.
	admin.Must(201, "POST", "/api/v1/campaigns", map[string]any{
		"id": "da-cong-bo", "year": 2016, "title": "Chỉ số CCHC năm 2016",
		"calendar":   map[string]string{"selfAssessmentDue": day(-1), "appraisalDue": day(20)},
		"frameworks": map[string]any{"huyen": map[string]any{"id": "test-huyen", "version": 1}},
	})
	admin.Must(201, "POST", "/api/v1/campaigns/da-cong-bo/units", map[string]any{"units": []map[string]string{{"code": "002", "name": "UBND quận Hoàn Kiếm", "block": "huyen"}}})
	f.mustAppraise(t, "/api/v1/campaigns/da-cong-bo/assessments/002", "1.25", "6", "5", "4", "3")
	admin.Must(201, "POST", "/api/v1/campaigns/da-cong-bo/assessments/002/finalization", nil)
	admin.Must(201, "POST", "/api/v1/campaigns/da-cong-bo/publication", map[string]any{"decisionNumber": "999/QĐ-UBND", "decisionDate": "2017-03-01"})
	_, revokeID := f.mustIssue(t, domain.Principal{ID: "can-bo-chuyen-cong-tac", Role: domain.RoleAuditor})

	newPDF, newType := multipartBody(t, [][2]string{{"item", "1.2"}, {"title", "Biên bản kiểm tra"}, {"documentNumber", "05/BB-UBND"}}, "bien-ban.pdf", minimalPDF("Biên bản kiểm tra"))

	routes := []matrixRoute{
		{route: "/api/v1/frameworks", method: "GET", path: "/api/v1/frameworks", allow: signedIn, ok: signedIn},
		{route: "/api/v1/frameworks", method: "POST", path: "/api/v1/frameworks", body: testFramework("ma-tran", "huyen"), allow: "ha", ok: "ha"},
		{route: "/api/v1/frameworks/{framework}", method: "GET", path: "/api/v1/frameworks/test-huyen", allow: signedIn, ok: signedIn},
		{route: "/api/v1/campaigns", method: "GET", path: "/api/v1/campaigns", allow: everyone, ok: everyone},
		{route: "/api/v1/campaigns", method: "POST", path: "/api/v1/campaigns", allow: "ha", ok: "ha", body: map[string]any{
			"id": "ma-tran", "year": 2018, "title": "Chỉ số CCHC năm 2018",
			"calendar":   map[string]string{"selfAssessmentDue": "2018-10-30", "appraisalDue": "2018-11-15"},
			"frameworks": map[string]any{"so": map[string]any{"id": "test-so", "version": 1}}}},
		{route: tc, method: "GET", path: c, allow: everyone, ok: signedIn, anon: 404},
		{route: tc, method: "GET", path: "/api/v1/campaigns/da-cong-bo", allow: everyone, ok: everyone},
		{route: tc + "/units", method: "POST", path: c + "/units", allow: "ha", ok: "ha",
			body: map[string]any{"units": []map[string]string{{"code": "004", "name": "UBND quận Long Biên", "block": "huyen"}}}},
		{route: tc + "/deadlines/{phase}", method: "PUT", path: c + "/deadlines/appraisal", allow: "ha", ok: "ha", body: map[string]any{"due": day(21)}},
		{route: tc + "/explanation-window", method: "POST", path: c + "/explanation-window", allow: "ha", ok: "ha", body: map[string]any{"due": day(6)}},
		{route: tc + "/publication", method: "POST", path: c + "/publication", allow: "ha",
			body: map[string]any{"decisionNumber": "1752/QĐ-UBND", "decisionDate": day(30)}},
		{route: tc + "/rankings", method: "GET", path: c + "/rankings", allow: everyone, ok: signedIn, anon: 404},
		{route: tc + "/rankings", method: "GET", path: "/api/v1/campaigns/da-cong-bo/rankings", allow: everyone, ok: everyone},
		{route: tc + "/survey-scores", method: "POST", path: c + "/survey-scores", allow: "inst", ok: "inst",
			body: map[string]any{"batch": "ĐTXHH 2026", "scores": []map[string]any{{"unit": "001", "item": "3.1", "points": "8.5"}, {"unit": "SNV", "item": "3.1", "points": "7.75"}}}},
		{route: tc + "/assessments", method: "GET", path: c + "/assessments", allow: signedIn, ok: signedIn},
		{route: ta, method: "GET", path: f.A001, allow: "own snv stp ha council inst aud", ok: "own snv stp ha council inst aud", anon: 404},
		{route: ta, method: "GET", path: "/api/v1/campaigns/da-cong-bo/assessments/002", allow: everyone, ok: everyone},
		{route: ta + "/self-scores", method: "POST", path: f.A001 + "/self-scores", allow: "own", ok: "own",
			body: map[string]any{"scores": []map[string]any{{"item": "1.2", "points": "7.5", "note": "Kiểm tra 12/12 phường"}}}},
		{route: ta + "/evidence", method: "POST", path: f.A001 + "/evidence", allow: "own", ok: "own", body: newPDF, headers: []string{"Content-Type", newType}},
		{route: ta + "/evidence/{sha256}", method: "DELETE", path: f.A001 + "/evidence/" + sha + "?item=1.1.1&reason=Nh%E1%BA%A7m+t%C3%A0i+li%E1%BB%87u", allow: "own", ok: "own"},
		{route: ta + "/submission", method: "POST", path: f.A001 + "/submission", allow: "own", ok: "own"},
		{route: ta + "/submission/reopen", method: "POST", path: f.A009 + "/submission/reopen", allow: "ha", ok: "ha", body: map[string]any{"reason": "Bổ sung tài liệu kiểm chứng"}},
		{route: ta + "/appraisals", method: "POST", path: f.A005 + "/appraisals", allow: "snv", ok: "snv",
			body: map[string]any{"round": 1, "scores": []map[string]any{{"item": "1.1.2", "points": "8"}, {"item": "1.2", "points": "7.5"}}}},
		{route: ta + "/survey-scores", method: "POST", path: f.A001 + "/survey-scores", allow: "inst", ok: "inst",
			body: map[string]any{"batch": "ĐTXHH", "scores": []map[string]any{{"item": "3.1", "points": "9"}}}},
		{route: ta + "/bonus-penalties", method: "POST", path: f.A001 + "/bonus-penalties", allow: "ha", ok: "ha",
			body: map[string]any{"reason": "Sáng kiến một cửa điện tử", "scores": []map[string]any{{"item": "9.1", "points": "1"}}}},
		{route: ta + "/explanations", method: "POST", path: f.A001 + "/explanations", allow: "own",
			body: map[string]any{"item": "1.1.2", "claimedPoints": "9", "argument": "Báo cáo quý IV chứng minh đạt 90%"}},
		{route: ta + "/explanations/{explanation}/resolution", method: "POST", path: f.A005 + "/explanations/GT-1/resolution", allow: "council", ok: "council",
			body: map[string]any{"accepted": true, "finalPoints": "2.5", "decisionRef": "Biên bản họp Hội đồng số 3", "reason": "Kế hoạch ban hành đúng hạn"}},
		{route: ta + "/finalization", method: "POST", path: f.A009 + "/finalization", allow: "ha", ok: "ha"},
		{route: ta + "/audit", method: "GET", path: f.A001 + "/audit", allow: "own snv stp ha council inst aud", ok: "own snv stp ha council inst aud"},
		{route: ta + "/diff", method: "GET", path: f.A001 + "/diff?from=0&to=1", allow: "own snv stp ha council inst aud", ok: "own snv stp ha council inst aud"},
		{route: ta + "/disputes/{item}", method: "GET", path: f.A001 + "/disputes/1.1.1", allow: "own snv stp ha council inst aud", ok: "own snv stp ha council inst aud"},
		{route: ta + "/explanations", method: "GET", path: f.A001 + "/explanations", allow: "own snv stp ha council inst aud", ok: "own snv stp ha council inst aud"},
		{route: tc + "/explanations", method: "GET", path: c + "/explanations?status=open", allow: signedIn, ok: signedIn},
		{route: tc + "/audit", method: "GET", path: c + "/audit?limit=5", allow: "snv stp ha council inst aud", ok: "snv stp ha council inst aud"},
		{route: "/api/v1/evidence", method: "POST", path: "/api/v1/evidence", allow: "own other", body: newPDF, headers: []string{"Content-Type", newType}},
		{route: "/api/v1/evidence/{sha256}", method: "GET", path: "/api/v1/evidence/" + sha, allow: "own snv stp ha council inst aud", ok: "own snv stp ha council inst aud"},
		{route: "/api/v1/tokens", method: "GET", path: "/api/v1/tokens", allow: "ha", ok: "ha"},
		{route: "/api/v1/tokens", method: "POST", path: "/api/v1/tokens", allow: "ha", ok: "ha",
			body: map[string]any{"principal": map[string]string{"id": "thanh-tra-vien", "role": "auditor"}, "name": "Thanh tra Sở", "ttl": "720h"}},
		{route: "/api/v1/tokens/{token}", method: "DELETE", path: "/api/v1/tokens/" + revokeID + "?reason=Chuy%E1%BB%83n+c%C3%B4ng+t%C3%A1c", allow: "ha", ok: "ha"},
		{route: "/api/v1/whoami", method: "GET", path: "/api/v1/whoami", allow: signedIn, ok: signedIn},
		{route: "/healthz", method: "GET", path: "/healthz", allow: everyone, ok: everyone},
		{route: "/readyz", method: "GET", path: "/readyz", allow: everyone, ok: everyone},
		{route: "/metrics", method: "GET", path: "/metrics", allow: everyone, ok: everyone},
	}
	checkCoversRoutes(t, routes)

	secrets := map[string]string{
		"anon": "", "own": f.Unit001, "other": f.Unit005, "snv": f.AppraiserSNV, "stp": f.AppraiserSTP,
		"ha": f.HomeAffairs, "council": f.Council, "inst": f.Institute, "aud": f.Auditor,
	}
	cases := 0
	var table strings.Builder
	fmt.Fprintf(&table, "%-70s", "")
	for _, who := range matrixPrincipals {
		fmt.Fprintf(&table, " %7s", who)
	}
	for _, rt := range routes {
		allow, ok := strings.Fields(rt.allow), strings.Fields(rt.ok)
		fmt.Fprintf(&table, "\n%-70.70s", rt.method+" "+strings.TrimPrefix(rt.path, "/api/v1"))
		for _, who := range matrixPrincipals {
			cases++
			name := fmt.Sprintf("%s %s as %s", rt.method, strings.TrimPrefix(rt.path, "/api/v1"), who)
			t.Run(name, func(t *testing.T) {
				before := f.Head(t)
				r := f.As(t, secrets[who]).Do(rt.method, rt.path, rt.body, rt.headers...)
				fmt.Fprintf(&table, " %7d", r.Status)
				refused := r.Status == 401 || r.Status == 403
				switch {
				case who == "anon" && rt.anon != 0:
					if r.Status != rt.anon {
						t.Errorf("status %d, want %d: %s", r.Status, rt.anon, r.Body)
					}
				case slices.Contains(ok, who):
					if r.Status < 200 || r.Status > 299 {
						t.Errorf("status %d, want 2xx: %s", r.Status, r.Body)
					}
				case slices.Contains(allow, who):
					if refused || r.Status >= 500 {
						t.Errorf("status %d, want 2xx or a domain error: %s", r.Status, r.Body)
					}
				case who == "anon":
					if r.Status != 401 {
						t.Errorf("status %d, want 401: %s", r.Status, r.Body)
					}
				default:
					if r.Status != 403 {
						t.Errorf("status %d, want 403: %s", r.Status, r.Body)
					}
				}
				if r.Status >= 400 {
					if _, err := problemOf(r); err != nil {
						t.Error(err)
					}
				}
				if after := f.Head(t); refused && after != before {
					t.Errorf("refused with %d, yet the log grew from %d to %d", r.Status, before, after)
				}
			})
		}
	}
	t.Logf("%d routes × %d principals = %d cases; statuses:\n%s", len(routes), len(matrixPrincipals), cases, table.String())
}

// checkCoversRoutes fails the test unless the matrix tries every route
// that http/auth.go registers, so that a new route cannot be left out.
func checkCoversRoutes(t *testing.T, routes []matrixRoute) {
	t.Helper()
	src, err := os.ReadFile("auth.go")
	if err != nil {
		t.Fatalf("read the route table: %v", err)
	}
	consts := map[string]string{}
	resolve := func(expr string) string {
		var b strings.Builder
		for _, part := range strings.Split(expr, "+") {
			part = strings.TrimSpace(part)
			if v, ok := consts[part]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(strings.Trim(part, `"`))
			}
		}
		return b.String()
	}
	for _, m := range regexp.MustCompile(`const (\w+) = (.+)`).FindAllStringSubmatch(string(src), -1) {
		consts[m[1]] = resolve(m[2])
	}
	var registered []string
	for _, m := range regexp.MustCompile(`\{"(GET|POST|PUT|DELETE)", ([^,]+),`).FindAllStringSubmatch(string(src), -1) {
		registered = append(registered, m[1]+" "+resolve(m[2]))
	}
	for _, m := range regexp.MustCompile(`s\.router\.(?:Handle|HandleFunc)\("(/[a-z]+)"`).FindAllStringSubmatch(string(src), -1) {
		registered = append(registered, "GET "+m[1])
	}
	if len(registered) < 30 {
		t.Fatalf("found only %d routes in auth.go: %q", len(registered), registered)
	}
	tried := map[string]bool{}
	for _, rt := range routes {
		tried[rt.method+" "+rt.route] = true
	}
	for _, r := range registered {
		if !tried[r] {
			t.Errorf("the role matrix does not try %s", r)
		}
		delete(tried, r)
	}
	for r := range tried {
		t.Errorf("the role matrix tries %s, which auth.go does not register", r)
	}
}
