package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/loadgen"
)

// MustRunMain starts a Main serving on a free loopback port with its data
// in dir, and closes it when the test ends.
func MustRunMain(tb testing.TB, dir string) *Main {
	tb.Helper()
	return MustRunMainOn(tb, dir, "")
}

// MustRunMainOn is MustRunMain on the given store setting (empty for the
// embedded store).
func MustRunMainOn(tb testing.TB, dir, store string) *Main {
	tb.Helper()
	m := NewMain(io.Discard, io.Discard)
	m.Config = DefaultConfig()
	m.Config.Addr, m.Config.Data, m.Config.Quiet, m.Config.Store = "127.0.0.1:0", dir, true, store
	if err := m.Run(context.Background()); err != nil {
		tb.Fatalf("run: %v", err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

// client calls the API with one credential.
type client struct {
	tb    testing.TB
	base  string
	token string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
}

func (c client) do(method, path string, body any, headers ...string) response {
	c.tb.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.tb.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must calls the API and fails the test unless the status is want.
func (c client) must(want int, method, path string, body any, headers ...string) response {
	c.tb.Helper()
	r := c.do(method, path, body, headers...)
	if r.status != want {
		c.tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

func (c client) as(token string) client { c.token = token; return c }

// testFramework is a small framework whose totals are easy to check by
// hand: 20 points self-scored and appraised by SNV, 10 by STP (one item
// higher-level only), 10 from the survey; bonus 2 and penalty 3 aside.
func testFramework(id, block string) string {
	return fmt.Sprintf(`{"id":%q,"version":1,"title":"Bộ chỉ số thử nghiệm","block":%q,"illustrative":true,"areas":[
 {"code":"1","title":"Công tác chỉ đạo, điều hành","maxPoints":"20","agency":"SNV","children":[
   {"code":"1.1","title":"Kế hoạch cải cách hành chính","maxPoints":"12.5","children":[
     {"code":"1.1.1","title":"Ban hành kế hoạch đúng hạn","maxPoints":"2.5","method":"self","levels":[{"points":"2.5","label":"Đúng hạn"},{"points":"1.25","label":"Chậm"},{"points":"0","label":"Không ban hành"}]},
     {"code":"1.1.2","title":"Mức độ thực hiện kế hoạch","maxPoints":"10","method":"self"}]},
   {"code":"1.2","title":"Kiểm tra công tác cải cách hành chính","maxPoints":"7.5","method":"self"}]},
 {"code":"2","title":"Văn bản quy phạm pháp luật","maxPoints":"10","agency":"STP","children":[
   {"code":"2.1","title":"Rà soát văn bản","maxPoints":"6","method":"self"},
   {"code":"2.2","title":"Kết quả kiểm tra của Sở Tư pháp","maxPoints":"4","method":"higher-level"}]},
 {"code":"3","title":"Sự hài lòng của người dân","maxPoints":"10","children":[
   {"code":"3.1","title":"Hài lòng về thủ tục hành chính","maxPoints":"10","method":"survey"}]},
 {"code":"9","title":"Điểm thưởng, điểm trừ","maxPoints":"5","agency":"SNV","children":[
   {"code":"9.1","title":"Sáng kiến cải cách hành chính","maxPoints":"2","method":"bonus"},
   {"code":"9.2","title":"Vi phạm kỷ luật hành chính","maxPoints":"3","method":"penalty"}]}]}`, id, block)
}

// minimalPDF is a tiny but well-formed PDF document.
func minimalPDF(title string) []byte {
	return []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0>>endobj\n% " + title + "\ntrailer<</Root 1 0 R>>\n%%EOF\n")
}

func multipartEvidence(tb testing.TB, fields map[string]string, file []byte) ([]byte, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "../../etc/passwd.pdf")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		tb.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

type campaignFixture struct {
	unit1, unit2, dept, snv, stp, institute, council, auditor string
}

// publishCheckpoint asks for a checkpoint of the whole ledger: 201 when
// one is recorded, 200 when the server's own publisher (which signs one
// as it starts, and then every period) has just recorded one of this size.
func (c client) publishCheckpoint() {
	c.tb.Helper()
	if r := c.do("POST", "/api/v1/ledger/checkpoints", nil); r.status != 201 && r.status != 200 {
		c.tb.Fatalf("POST /api/v1/ledger/checkpoints: %d %s", r.status, r.body)
	}
}

// issue creates a credential through the API.
func issue(c client, id, role, scope string) string {
	c.tb.Helper()
	var out struct{ Secret string }
	c.must(201, "POST", "/api/v1/tokens", map[string]any{"principal": map[string]string{"id": id, "role": role, "scope": scope}, "ttl": "24h"}).json(c.tb, &out)
	return out.Secret
}

// TestCampaignEndToEnd plays a whole campaign over HTTP with different
// credentials, checks rankings, audit trail and metrics, restarts the
// server on the same data directory and gets identical answers.
func TestCampaignEndToEnd(t *testing.T) {
	var bolt, esdb [2][]byte
	t.Run("Embedded", func(t *testing.T) { bolt = playCampaign(t, "") })
	t.Run("EventStoreDB", func(t *testing.T) {
		// The protocol test double of EventStoreDB, through the real client.
		srv := esdbtest.New(t, esdbtest.Options{})
		esdb = playCampaign(t, srv.ConnectionString())
	})
	for i, what := range []string{"rankings", "audit trail"} {
		if a, b := comparable(t, bolt[i]), comparable(t, esdb[i]); !bytes.Equal(a, b) {
			t.Errorf("the %s on EventStoreDB differs from the embedded store's:\n%s\n%s", what, b, a)
		}
	}
}

// comparable drops from a JSON body what depends on the store rather than
// on the campaign: log positions, event ids and times.
func comparable(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatal(err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range []string{"position", "eventId", "at", "recordedAt", "raisedAt", "resolvedAt"} {
				delete(x, k)
			}
			for _, c := range x {
				strip(c)
			}
		case []any:
			for _, c := range x {
				strip(c)
			}
		}
	}
	strip(v)
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// playCampaign plays a whole campaign on a server over the given store and
// returns its final rankings and 001's audit trail.
func playCampaign(t *testing.T, store string) [2][]byte {
	dir := t.TempDir()
	m := MustRunMainOn(t, dir, store)
	secret, err := os.ReadFile(filepath.Join(dir, "initial-token"))
	if err != nil {
		t.Fatal(err)
	}
	api := client{tb: t, base: m.Server.URL()}
	admin := api.as(strings.TrimSpace(string(secret)))
	admin.must(200, "GET", "/readyz", nil)

	// Home Affairs loads two frameworks and opens the campaign.
	admin.must(201, "POST", "/api/v1/frameworks", testFramework("test-huyen", "huyen"))
	admin.must(201, "POST", "/api/v1/frameworks", testFramework("test-so", "so"))
	now := time.Now().In(time.FixedZone("ICT", 7*3600))
	day := func(d int) string { return now.AddDate(0, 0, d).Format(time.DateOnly) }
	admin.must(201, "POST", "/api/v1/campaigns", map[string]any{
		"id": "thu-nghiem", "year": now.Year(), "title": "Chỉ số CCHC thử nghiệm",
		"calendar":   map[string]string{"selfAssessmentDue": day(10), "appraisalDue": day(20)},
		"frameworks": map[string]any{"huyen": map[string]any{"id": "test-huyen", "version": 1}, "so": map[string]any{"id": "test-so", "version": 1}},
	})
	admin.must(201, "POST", "/api/v1/campaigns/thu-nghiem/units", map[string]any{"units": []map[string]string{
		{"code": "001", "name": "UBND quận Ba Đình", "block": "huyen"},
		{"code": "005", "name": "UBND quận Cầu Giấy", "block": "huyen"},
		{"code": "SNV", "name": "Sở Nội vụ", "block": "so"},
	}})
	f := campaignFixture{
		unit1: issue(admin, "to-cong-tac-001", "unit", "001"), unit2: issue(admin, "to-cong-tac-005", "unit", "005"),
		dept: issue(admin, "to-cong-tac-snv", "unit", "SNV"), snv: issue(admin, "snv-tham-dinh", "appraiser", "SNV"),
		stp: issue(admin, "stp-tham-dinh", "appraiser", "STP"), institute: issue(admin, "vien-nc", "institute", ""),
		council: issue(admin, "hoi-dong", "council", ""), auditor: issue(admin, "kiem-toan", "auditor", ""),
	}
	const a1 = "/api/v1/campaigns/thu-nghiem/assessments/001"
	const a2 = "/api/v1/campaigns/thu-nghiem/assessments/005"
	const a3 = "/api/v1/campaigns/thu-nghiem/assessments/SNV"

	// Unit 001 scores itself; the retry with the same Idempotency-Key
	// answers the same and records nothing new.
	scores1 := map[string]any{"scores": []map[string]any{
		{"item": "1.1.1", "points": "2.5"}, {"item": "1.1.2", "points": 9.5, "note": "Hoàn thành 95% kế hoạch"},
		{"item": "1.2", "points": "7.5", "note": "Kiểm tra 12/12 phường"}, {"item": "2.1", "points": "6", "note": "Rà soát 100% văn bản"},
	}}
	first := api.as(f.unit1).must(201, "POST", a1+"/self-scores", scores1, "Idempotency-Key", "self-001-a")
	again := api.as(f.unit1).must(201, "POST", a1+"/self-scores", scores1, "Idempotency-Key", "self-001-a")
	if !bytes.Equal(bytes.Replace(again.body, []byte(`"replayed":true`), []byte(`"replayed":false`), 1), first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry answered %s, first %s", again.body, first.body)
	}
	var aw struct{ Revision uint64 }
	first.json(t, &aw)
	if aw.Revision != 3 {
		t.Errorf("revision after 4 self scores = %d, want 3", aw.Revision)
	}
	// Evidence: uploaded as multipart, stored by hash, downloadable.
	pdf := minimalPDF("Kế hoạch CCHC 2017")
	body, ctype := multipartEvidence(t, map[string]string{"item": "1.1.1", "title": "Kế hoạch số 12/KH-UBND", "documentNumber": "12/KH-UBND"}, pdf)
	r := api.as(f.unit1).do("POST", a1+"/evidence", body, "Content-Type", ctype)
	if r.status != 201 {
		t.Fatalf("evidence upload: %d %s", r.status, r.body)
	}
	var assessment struct {
		Items []struct {
			Code     string
			Evidence []struct{ SHA256, Title, MediaType string }
		}
	}
	api.as(f.unit1).must(200, "GET", a1, nil).json(t, &assessment)
	var sha string
	for _, it := range assessment.Items {
		if it.Code == "1.1.1" && len(it.Evidence) == 1 {
			sha = it.Evidence[0].SHA256
			if it.Evidence[0].MediaType != "application/pdf" || it.Evidence[0].Title != "Kế hoạch số 12/KH-UBND" {
				t.Errorf("evidence = %+v", it.Evidence[0])
			}
		}
	}
	dl := api.as(f.auditor).must(200, "GET", "/api/v1/evidence/"+sha, nil)
	if !bytes.Equal(dl.body, pdf) || dl.header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(dl.header.Get("Content-Disposition"), sha+".pdf") {
		t.Errorf("download: %d bytes, headers %v", len(dl.body), dl.header)
	}
	// The unit downloads its own file; another unit may not, even knowing
	// its hash, nor learn whether a file exists.
	api.as(f.unit1).must(200, "GET", "/api/v1/evidence/"+sha, nil)
	api.as(f.unit2).must(403, "GET", "/api/v1/evidence/"+sha, nil)
	api.as(f.unit2).must(403, "GET", "/api/v1/evidence/"+strings.Repeat("ab", 32), nil)
	api.as(f.unit1).must(201, "POST", a1+"/submission", nil)

	// Unit 005 and the department score and submit.
	api.as(f.unit2).must(201, "POST", a2+"/self-scores", map[string]any{"scores": []map[string]any{
		{"item": "1.1.1", "points": "1.25", "note": "Ban hành chậm 5 ngày"}, {"item": "1.1.2", "points": "8", "note": "Đạt 80%"},
		{"item": "1.2", "points": "7.5", "note": "Đã kiểm tra 100% đơn vị"}, {"item": "2.1", "points": "5", "note": "Rà soát định kỳ"},
	}})
	api.as(f.unit2).must(201, "POST", a2+"/submission", nil)
	api.as(f.dept).must(201, "POST", a3+"/self-scores", map[string]any{"scores": []map[string]any{
		{"item": "1.1.1", "points": "2.5", "note": "x"}, {"item": "1.1.2", "points": "10", "note": "x"}, {"item": "1.2", "points": "7.5", "note": "x"}, {"item": "2.1", "points": "6", "note": "x"},
	}})
	api.as(f.dept).must(201, "POST", a3+"/submission", nil)

	// Appraisals: SNV lowers an item of 001 (a reason is required), STP
	// appraises its items including the higher-level one.
	api.as(f.snv).must(400, "POST", a1+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{{"item": "1.1.2", "points": "8.5"}}})
	api.as(f.snv).must(201, "POST", a1+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{
		{"item": "1.1.1", "points": "2.5"}, {"item": "1.1.2", "points": "8.5", "reason": "Tài liệu chỉ chứng minh 85% nhiệm vụ hoàn thành"}, {"item": "1.2", "points": "7.5"},
	}})
	api.as(f.stp).must(403, "POST", a1+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{{"item": "1.2", "points": "7.5"}}})
	api.as(f.stp).must(201, "POST", a1+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{{"item": "2.1", "points": "6"}, {"item": "2.2", "points": "3.5"}}})
	for _, path := range []string{a2, a3} {
		api.as(f.snv).must(201, "POST", path+"/appraisals", map[string]any{"round": 1, "reason": "Đối chiếu tài liệu kiểm chứng", "scores": []map[string]any{
			{"item": "1.1.1", "points": "1.25"}, {"item": "1.1.2", "points": "8"}, {"item": "1.2", "points": "7.5"}}})
		api.as(f.stp).must(201, "POST", path+"/appraisals", map[string]any{"round": 1, "reason": "Đối chiếu", "scores": []map[string]any{{"item": "2.1", "points": "5"}, {"item": "2.2", "points": "4"}}})
	}

	// The institute imports survey scores for all three units at once.
	api.as(f.institute).must(201, "POST", "/api/v1/campaigns/thu-nghiem/survey-scores", map[string]any{"batch": "ĐTXHH", "scores": []map[string]any{
		{"unit": "001", "item": "3.1", "points": "8.52"}, {"unit": "005", "item": "3.1", "points": "9.1"}, {"unit": "SNV", "item": "3.1", "points": "7.77"},
	}})
	// Home Affairs: a bonus for 005, a penalty for SNV.
	admin.must(201, "POST", a2+"/bonus-penalties", map[string]any{"reason": "Sáng kiến một cửa điện tử", "scores": []map[string]any{{"item": "9.1", "points": "1"}}})
	admin.must(201, "POST", a3+"/bonus-penalties", map[string]any{"reason": "Chậm báo cáo", "scores": []map[string]any{{"item": "9.2", "points": "0.5"}}})

	// The explanation round: 001 contests 1.1.2, the council accepts 9.
	admin.must(201, "POST", "/api/v1/campaigns/thu-nghiem/explanation-window", map[string]any{"due": day(25)})
	api.as(f.unit1).must(201, "POST", a1+"/explanations", map[string]any{"item": "1.1.2", "claimedPoints": "9.5", "argument": "Báo cáo quý IV chứng minh đạt 95%", "evidence": []map[string]string{{"sha256": sha, "title": "Báo cáo quý IV"}}})
	admin.must(409, "POST", a1+"/finalization", nil)
	api.as(f.council).must(201, "POST", a1+"/explanations/GT-1/resolution", map[string]any{"accepted": true, "finalPoints": "9", "decisionRef": "Biên bản họp Hội đồng số 3", "reason": "Chấp nhận một phần"})

	// Finalize and publish.
	for _, path := range []string{a1, a2, a3} {
		admin.must(201, "POST", path+"/finalization", nil)
	}
	api.must(404, "GET", "/api/v1/campaigns/thu-nghiem/rankings", nil) // not public before publication
	admin.must(201, "POST", "/api/v1/campaigns/thu-nghiem/publication", map[string]any{"decisionNumber": "1752/QĐ-UBND", "decisionDate": day(30)})

	// Rankings, by hand: 001 = 2.5 + 9 (council) + 7.5 + 6 + 3.5 + 8.52 = 37.02 of 40 → 92.55%.
	// 005 = 1.25 + 8 + 7.5 + 5 + 4 + 9.1 + 1 = 35.85 → 89.63% (89.625 rounds up).
	// SNV = 2.5 + 10?  no: appraised 1.25 + 8 + 7.5 + 5 + 4 + 7.77 - 0.5 = 33.02 → 82.55%.
	type row struct {
		UnitCode, UnitName string
		Score              struct{ Index, Final, Self, Appraised, Survey, Bonus, Penalty string }
		Rank               int
		Grade              string
	}
	var rk struct {
		Blocks []struct {
			Block string
			Rows  []row
		}
	}
	api.must(200, "GET", "/api/v1/campaigns/thu-nghiem/rankings", nil).json(t, &rk) // public after publication
	got := map[string]row{}
	for _, b := range rk.Blocks {
		for _, r := range b.Rows {
			got[r.UnitCode] = r
		}
	}
	for _, want := range []struct {
		code, final, index string
		rank               int
		grade              string
	}{
		{"001", "37.02", "92.55", 1, "A"},
		{"005", "35.85", "89.63", 2, "B"},
		{"SNV", "33.02", "82.55", 1, "B"},
	} {
		g := got[want.code]
		if g.Score.Final != want.final || g.Score.Index != want.index || g.Rank != want.rank || g.Grade != want.grade {
			t.Errorf("%s: final %s index %s rank %d grade %s; want %s %s %d %s", want.code, g.Score.Final, g.Score.Index, g.Rank, g.Grade, want.final, want.index, want.rank, want.grade)
		}
	}
	if g := got["001"]; g.Score.Self != "25.5" || g.Score.Appraised != "28" || g.Score.Survey != "8.52" || g.UnitName != "UBND quận Ba Đình" {
		t.Errorf("001 parts: %+v", g)
	}

	// The audit trail shows every change with actor and reason.
	var audit struct {
		Entries []struct {
			Type, Reason, Item string
			Actor              struct{ ID, Role string }
			Before, After      map[string]any
		}
	}
	api.as(f.auditor).must(200, "GET", a1+"/audit", nil).json(t, &audit)
	if n := len(audit.Entries); n != 15 {
		t.Errorf("audit of 001 has %d entries, want 15", n)
	}
	var sawReason bool
	for _, e := range audit.Entries {
		if e.Type == "AppraisalRecorded" && e.Item == "1.1.2" {
			sawReason = e.Reason == "Tài liệu chỉ chứng minh 85% nhiệm vụ hoàn thành" && e.Actor.ID == "snv-tham-dinh" && e.Before["self"] == "9.5" && e.After["appraisedRound1"] == "8.5"
		}
		if e.Actor.ID == "" {
			t.Errorf("audit entry %s without actor", e.Type)
		}
	}
	if !sawReason {
		t.Errorf("the appraisal of 1.1.2 does not show its actor, reason, before and after: %+v", audit.Entries)
	}
	api.as(f.unit2).must(403, "GET", a1+"/audit", nil)

	metrics := string(api.must(200, "GET", "/metrics", nil).body)
	for _, want := range []string{
		`parledger_events_appended_total{type="SelfScoreRecorded"}`, "parledger_append_duration_seconds_bucket",
		"parledger_projection_position", "parledger_projection_lag_events 0",
		`parledger_http_requests_total{code="201",method="POST",route="/api/v1/campaigns/{campaign}/assessments/{unit}/self-scores"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Restart on the same data directory: identical answers.
	rankings := api.must(200, "GET", "/api/v1/campaigns/thu-nghiem/rankings", nil).body
	auditBody := api.as(f.auditor).must(200, "GET", a1+"/audit", nil).body
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := MustRunMainOn(t, dir, store)
	api2 := client{tb: t, base: m2.Server.URL()}
	api2.must(200, "GET", "/readyz", nil)
	// The restart may publish a checkpoint (an event of its own): compare
	// everything but the log position.
	if got := api2.must(200, "GET", "/api/v1/campaigns/thu-nghiem/rankings", nil).body; !bytes.Equal(withoutPosition(t, got), withoutPosition(t, rankings)) {
		t.Errorf("rankings after restart differ:\n%s\n%s", got, rankings)
	}
	if got := api2.as(f.auditor).must(200, "GET", a1+"/audit", nil).body; !bytes.Equal(got, auditBody) {
		t.Errorf("audit trail after restart differs")
	}
	return [2][]byte{rankings, auditBody}
}

// TestDemo loads the demo the way the README's first command does and
// checks what a newcomer sees: all 52 units in two blocks, indexes that add
// up from their parts, and an audit trail with actors and reasons.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo writes 12,000 events")
	}
	dir := t.TempDir()
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"demo", "--data", dir}, &out, io.Discard); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if err := Run(context.Background(), []string{"demo", "--data", dir}, io.Discard, io.Discard); err == nil {
		t.Errorf("a second demo into the same ledger succeeded")
	}
	m := MustRunMain(t, dir)
	api := client{tb: t, base: m.Server.URL()}
	var rk struct {
		Blocks []struct {
			Block string
			Rows  []struct {
				UnitCode, UnitName string
				Rank               int
				Score              struct{ Appraised, Survey, Bonus, Penalty, Final, Max, Index string }
			}
		}
	}
	api.must(200, "GET", "/api/v1/campaigns/hanoi-2017/rankings", nil).json(t, &rk)
	units := map[string]int{}
	for _, b := range rk.Blocks {
		for _, r := range b.Rows {
			units[b.Block]++
			final, _ := decimalOf(r.Score.Final)
			index, _ := decimalOf(r.Score.Index)
			max, _ := decimalOf(r.Score.Max)
			if got := final.Mul(decimalMust("100")).DivRound(max, 2); !got.Equal(index) {
				t.Errorf("%s: index %s, but final %s of %s gives %s", r.UnitCode, r.Score.Index, r.Score.Final, r.Score.Max, got)
			}
		}
	}
	if units["so"] != 22 || units["huyen"] != 30 {
		t.Errorf("rankings list %v units per block, want 22 so and 30 huyen", units)
	}
	tokens, err := os.ReadFile(filepath.Join(dir, "demo-tokens.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var auditor string
	for _, line := range strings.Split(string(tokens), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "auditor" {
			auditor = f[len(f)-1]
		}
	}
	var audit struct {
		Entries []struct {
			Type, Reason string
			Actor        struct{ ID string }
		}
	}
	api.as(auditor).must(200, "GET", "/api/v1/campaigns/hanoi-2017/assessments/005/audit", nil).json(t, &audit)
	reasons := 0
	for _, e := range audit.Entries {
		if e.Actor.ID == "" {
			t.Errorf("audit entry %s has no actor", e.Type)
		}
		if e.Reason != "" {
			reasons++
		}
	}
	if len(audit.Entries) < 100 || reasons == 0 {
		t.Errorf("audit of 005 has %d entries, %d with reasons", len(audit.Entries), reasons)
	}
}

func decimalOf(s string) (decimal.Decimal, error) { return decimal.NewFromString(s) }

func decimalMust(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// withoutPosition drops the top-level "position" of a JSON object.
func withoutPosition(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatal(err)
	}
	delete(m, "position")
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// runCLI runs a parledger command and returns its output.
func runCLI(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestMigrateAndVerify moves a ledger from the embedded store into
// EventStoreDB (the protocol test double) and checks the copy is whole,
// then verifies a running server against a saved checkpoint and an export
// offline, and catches an edited export.
func TestMigrateAndVerify(t *testing.T) {
	dir := t.TempDir()
	store, _, err := openStore(context.Background(), dir, "", storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadgen.Import(context.Background(), store, loadgen.DefaultConfig(5), nil); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(t.TempDir(), "ledger.ndjson")
	if out, err := runCLI(t, "export", "--data", dir, "--out", export); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	srv := esdbtest.New(t, esdbtest.Options{})
	if out, err := runCLI(t, "import", "--store", srv.ConnectionString(), "--in", export); err != nil {
		t.Fatalf("import into EventStoreDB: %v\n%s", err, out)
	}
	out, err := runCLI(t, "compare", "--from", dir, "--to", srv.ConnectionString())
	if err != nil || !strings.Contains(out, "ok: both hold the same") {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "import", "--store", srv.ConnectionString(), "--in", export); err != nil || !strings.Contains(out, "0 imported") {
		t.Errorf("importing twice: %v\n%s", err, out)
	}

	// Online: a running server, its key, a checkpoint kept between visits.
	m := MustRunMain(t, dir)
	admin := client{tb: t, base: m.Server.URL(), token: mustSecret(t, dir)}
	key := filepath.Join(t.TempDir(), "ledger.pub")
	if err := os.WriteFile(key, admin.must(200, "GET", "/api/v1/ledger/key", nil).body, 0o600); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "checkpoint")
	admin.publishCheckpoint()
	if out, err := runCLI(t, "verify", "--server", m.Server.URL(), "--key", key, "--checkpoint", saved); err != nil || !strings.Contains(out, "trusting this first one") {
		t.Fatalf("first online verify: %v\n%s", err, out)
	}
	admin.must(201, "POST", "/api/v1/tokens", map[string]any{"principal": map[string]string{"id": "kiem-toan", "role": "auditor"}})
	head, err := m.Store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Log.WaitSize(wctx, uint64(head)); err != nil { // the Merkle log takes the new events
		t.Fatal(err)
	}
	admin.must(201, "POST", "/api/v1/ledger/checkpoints", nil)
	if out, err := runCLI(t, "verify", "--server", m.Server.URL(), "--key", key, "--checkpoint", saved); err != nil || !strings.Contains(out, "without rewriting") {
		t.Fatalf("second online verify: %v\n%s", err, out)
	}
	// One event, as served, is a leaf of the signed tree.
	var third struct{ ID string }
	admin.must(200, "GET", "/api/v1/events/3", nil).json(t, &third)
	t.Setenv("PARLEDGER_TOKEN", admin.token)
	if out, err := runCLI(t, "verify", "--server", m.Server.URL(), "--key", key, "--checkpoint", saved, "--event", third.ID); err != nil || !strings.Contains(out, "is leaf 2 of the signed tree") {
		t.Fatalf("online verify of an event: %v\n%s", err, out)
	}
	// An event's page shows its inclusion in the last checkpoint.
	var ev struct {
		Inclusion struct {
			Included bool
			Detail   string
		}
	}
	admin.must(200, "GET", "/api/v1/events/3", nil).json(t, &ev)
	if !ev.Inclusion.Included {
		t.Errorf("event 3 is not shown included: %+v", ev.Inclusion)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Offline: the export of the whole ledger against the saved checkpoint.
	full := filepath.Join(t.TempDir(), "full.ndjson")
	if out, err := runCLI(t, "export", "--data", dir, "--out", full); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "verify", "--export", full, "--key", key, "--checkpoint", saved); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("offline verify: %v\n%s", err, out)
	}
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	edited := -1
	for i, l := range lines {
		if strings.Contains(l, `"type":"AppraisalRecorded"`) {
			lines[i], edited = strings.Replace(l, `"reason":"`, `"reason":"Sửa: `, 1), i
			break
		}
	}
	if err := os.WriteFile(full, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "verify", "--export", full, "--key", key, "--checkpoint", saved); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d", edited+1)) {
		t.Errorf("an edited export (line %d) verified: %v\n%s", edited+1, err, out)
	}
	// With the server's Merkle log at hand, the first event that differs
	// is named even where only the root disagrees.
	if out, err := runCLI(t, "verify", "--export", full, "--key", key, "--checkpoint", saved, "--data", dir); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d", edited+1)) {
		t.Errorf("an edited export verified with the Merkle log: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "verify", "--data", dir); err != nil || !strings.Contains(out, "match the ledger") {
		t.Errorf("verify the store: %v\n%s", err, out)
	}
}

func mustSecret(tb testing.TB, dir string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "initial-token"))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestPeriodicCheckpoints: the server publishes a checkpoint every period
// while the ledger grows, and none while it is idle (the checkpoint's own
// event is no reason for another).
func TestPeriodicCheckpoints(t *testing.T) {
	m := NewMain(io.Discard, io.Discard)
	m.Config = DefaultConfig()
	m.Config.Addr, m.Config.Data, m.Config.Quiet = "127.0.0.1:0", t.TempDir(), true
	m.Config.CheckpointEvery = 20 * time.Millisecond
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	checkpoints := func() int {
		n := 0
		for _, err := range m.Store.ReadStream(ctx, domain.CheckpointStream, eventstore.ReadStreamOptions{}) {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	// settled waits until the Merkle log has every event and a checkpoint
	// covers all but its own event.
	settled := func() {
		t.Helper()
		for {
			head, err := m.Store.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			latest, err := m.Service.LatestCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if latest != nil && m.Log.Size() == uint64(head) && latest.Size+1 == uint64(head) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no checkpoint of the ledger (head %d, Merkle log %d, latest %+v)", head, m.Log.Size(), latest)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	settled()
	idle := checkpoints()
	time.Sleep(500 * time.Millisecond) // about 25 periods of an idle ledger
	if n := checkpoints(); n != idle {
		t.Fatalf("an idle ledger got %d more checkpoints", n-idle)
	}
	// One more event, one more checkpoint that covers it, then quiet again.
	if _, err := m.Service.IssueToken(ctx, ledger.Request{Principal: domain.Principal{ID: "so-noi-vu", Role: domain.RoleHomeAffairs}}, domain.Principal{ID: "kiem-toan", Role: domain.RoleAuditor}, "", time.Hour); err != nil {
		t.Fatal(err)
	}
	settled()
	time.Sleep(200 * time.Millisecond)
	if n := checkpoints(); n != idle+1 {
		t.Errorf("after one more event: %d checkpoints, want %d", n, idle+1)
	}
}
