package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/eventstore/bolt"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/projections"
)

// testBlobLimit is the evidence size limit of test servers: small, so
// that the oversize upload stays fast.
const testBlobLimit = 64 << 10

// requestTimeout bounds every HTTP call of the tests.
const requestTimeout = 15 * time.Second

// TestServer is a real parledger server on a loopback port with its own
// embedded store, wired the way cmd/parledger/serve.go wires one.
type TestServer struct {
	Server  *ledgerhttp.Server
	Store   *bolt.Store
	Blobs   *blobs.Store
	Service *ledger.Service
	Board   *projections.Scoreboard
	Tokens  *projections.Tokens
	Runner  *projections.Runner
	History *projections.History
	Metrics *ledgerhttp.Metrics

	// Admin is the secret of a Home Affairs credential issued through the
	// service.
	Admin string

	http *http.Client
	logs *syncBuffer
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// MustOpenServer opens a store and a blob store in tb.TempDir(), starts
// the projections and the HTTP server on 127.0.0.1:0, waits until the
// projections have caught up and issues a Home Affairs credential. All is
// closed when the test ends; a test fails if the server logged an error.
func MustOpenServer(tb testing.TB) *TestServer {
	tb.Helper()
	return mustOpenServerOn(tb, nil)
}

// mustOpenServerOn is MustOpenServer with the service and projections on
// wrap(store) when wrap is not nil (a store that fails on demand, say).
func mustOpenServerOn(tb testing.TB, wrap func(eventstore.Store) eventstore.Store) *TestServer {
	tb.Helper()
	dir := tb.TempDir()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))

	store, err := bolt.Open(filepath.Join(dir, "ledger"), bolt.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	bl, err := blobs.Open(filepath.Join(dir, "blobs"), blobs.Options{MaxSize: testBlobLimit})
	if err != nil {
		_ = store.Close()
		tb.Fatalf("open blobs: %v", err)
	}
	ts := &TestServer{Store: store, Blobs: bl, Board: projections.NewScoreboard(), Tokens: projections.NewTokens(), logs: logs}
	var served eventstore.Store = store
	if wrap != nil {
		served = wrap(store)
	}
	ts.History, err = projections.OpenHistory(filepath.Join(dir, "timeline.db"), ts.Board, served)
	if err != nil {
		tb.Fatalf("open history: %v", err)
	}
	tb.Cleanup(func() { _ = ts.History.Close() })
	ts.Runner = projections.NewRunner(served, logger, ts.Board, ts.Tokens, ts.History)
	ts.Metrics = ledgerhttp.NewMetrics(served, ts.Runner)
	ts.Service = ledger.NewService(served, ledger.Options{Observer: ts.Metrics})

	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = ts.Runner.Run(runCtx)
	}()

	ts.Server = ledgerhttp.NewServer()
	ts.Server.Addr = "127.0.0.1:0"
	ts.Server.Service, ts.Server.Blobs, ts.Server.Board, ts.Server.Tokens = ts.Service, bl, ts.Board, ts.Tokens
	ts.Server.Runner, ts.Server.Metrics, ts.Server.Logger, ts.Server.History = ts.Runner, ts.Metrics, logger, ts.History
	ts.http = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{}}

	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.Server.Close(ctx); err != nil {
			tb.Errorf("close server: %v", err)
		}
		ts.http.CloseIdleConnections()
		stop()
		select {
		case <-stopped:
		case <-ctx.Done():
			tb.Errorf("projections did not stop")
		}
		if err := store.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
		if l := logs.String(); l != "" {
			tb.Logf("server log:\n%s", l)
			if strings.Contains(l, "level=ERROR") {
				tb.Errorf("the server logged an error")
			}
		}
	})
	if err := ts.Server.Open(); err != nil {
		tb.Fatalf("open server: %v", err)
	}
	if !strings.HasPrefix(ts.Server.URL(), "http://127.0.0.1:") {
		tb.Fatalf("server URL %s is not loopback", ts.Server.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Runner.WaitCaughtUp(ctx); err != nil {
		tb.Fatalf("projections did not catch up: %v", err)
	}
	ts.Admin = ts.MustIssueToken(tb, domain.Principal{ID: "snv-quan-tri", Role: domain.RoleHomeAffairs})
	return ts
}

// operator is the principal on whose behalf tests issue credentials
// without HTTP.
var operator = domain.Principal{ID: "cli-test", Role: domain.RoleHomeAffairs}

// MustIssueToken issues a credential for p through the service and waits
// until the projections know it. It returns the secret.
func (ts *TestServer) MustIssueToken(tb testing.TB, p domain.Principal) string {
	tb.Helper()
	secret, _ := ts.mustIssue(tb, p)
	return secret
}

// mustIssue is MustIssueToken that also returns the credential's id.
func (ts *TestServer) mustIssue(tb testing.TB, p domain.Principal) (secret, id string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := ts.Service.IssueToken(ctx, ledger.Request{Principal: operator}, p, "test credential", 24*time.Hour)
	if err != nil {
		tb.Fatalf("issue token for %s: %v", p.ID, err)
	}
	ts.mustWaitFor(tb, tok.Result.Events[len(tok.Result.Events)-1].Position)
	return tok.Secret, tok.TokenID
}

func (ts *TestServer) mustWaitFor(tb testing.TB, pos eventstore.Position) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Runner.WaitFor(ctx, pos); err != nil {
		tb.Fatalf("projections did not reach position %d: %v", pos, err)
	}
}

// Head returns the position of the last event in the log.
func (ts *TestServer) Head(tb testing.TB) eventstore.Position {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := ts.Store.Head(ctx)
	if err != nil {
		tb.Fatalf("head: %v", err)
	}
	return h
}

// Client calls a test server's API with one credential (none for the
// anonymous public).
type Client struct {
	tb    testing.TB
	ts    *TestServer
	token string
}

// As returns a client sending token as its bearer credential.
func (ts *TestServer) As(tb testing.TB, token string) Client {
	return Client{tb: tb, ts: ts, token: token}
}

// Anonymous returns a client without credentials.
func (ts *TestServer) Anonymous(tb testing.TB) Client { return Client{tb: tb, ts: ts} }

// Response is an API answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// rawBody is a request body sent as is, without a Content-Type unless a
// header names one.
type rawBody []byte

// Do sends a request. body is nil, a string (raw JSON), a rawBody, or a
// value encoded as JSON. headers are name, value pairs set last, so they
// can replace the defaults.
func (c Client) Do(method, path string, body any, headers ...string) Response {
	c.tb.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case rawBody:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.tb.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.ts.Server.URL()+path, rd)
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
	resp, err := c.ts.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must sends a request and fails the test unless the status is want.
func (c Client) Must(want int, method, path string, body any, headers ...string) Response {
	c.tb.Helper()
	r := c.Do(method, path, body, headers...)
	if r.Status != want {
		c.tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// problem is an RFC 9457 problem details body as the API writes it.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	Code     string `json:"code"`
	Errors   []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// problemOf decodes a problem+json answer, or says why it is not one.
func problemOf(r Response) (problem, error) {
	var p problem
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		return p, fmt.Errorf("Content-Type %q, want application/problem+json (body %s)", ct, r.Body)
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return p, fmt.Errorf("body is not a problem: %v: %s", err, r.Body)
	}
	if p.Status != r.Status {
		return p, fmt.Errorf("problem status %d, response status %d", p.Status, r.Status)
	}
	if p.Type != "urn:parledger:problem:"+p.Code || p.Title != http.StatusText(r.Status) || p.Detail == "" {
		return p, fmt.Errorf("problem incomplete: %s", r.Body)
	}
	return p, nil
}

// fields lists the fields a problem names.
func (p problem) fields() []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

// testFramework is a small framework whose totals are easy to check by
// hand: 20 points self-scored and appraised by SNV, 10 by STP (one item
// higher-level only), 10 from the survey (max total 40); bonus 2 and
// penalty 3 aside.
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

// multipartBody builds a multipart/form-data body with the fields in
// order and, when file is not nil, a file part "file" named filename.
func multipartBody(tb testing.TB, fields [][2]string, filename string, file []byte) (rawBody, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			tb.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := fw.Write(file); err != nil {
			tb.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return rawBody(buf.Bytes()), mw.FormDataContentType()
}

// hanoi is the campaign's time zone.
var hanoi = time.FixedZone("ICT", 7*3600)

// day returns the date d days from today in Hanoi, written YYYY-MM-DD.
func day(d int) string { return time.Now().In(hanoi).AddDate(0, 0, d).Format(time.DateOnly) }

// Fixture is a test server with a campaign in its self-assessment phase
// (deadlines in the future, real time), two frameworks, four units and a
// credential for every role.
type Fixture struct {
	*TestServer

	// Campaign is the campaign's id; A001, A005, A009 and ASNV are the
	// paths of the assessments of its units.
	Campaign               string
	A001, A005, A009, ASNV string

	// Secrets of credentials, by role and scope. HomeAffairs is the
	// server's Admin.
	Unit001, Unit005, AppraiserSNV, AppraiserSTP, HomeAffairs, Council, Institute, Auditor string
}

// fixtureUnits are the units the fixture enrols.
var fixtureUnits = []domain.Unit{
	{Code: "001", Name: "UBND quận Ba Đình", Block: domain.BlockDistricts},
	{Code: "005", Name: "UBND quận Cầu Giấy", Block: domain.BlockDistricts},
	{Code: "009", Name: "UBND quận Thanh Xuân", Block: domain.BlockDistricts},
	{Code: "SNV", Name: "Sở Nội vụ", Block: domain.BlockDepartments},
}

// MustOpenCampaign opens a test server, registers the frameworks
// test-huyen and test-so through the API, opens campaign thu-nghiem with
// its self-assessment due in 10 days and its appraisal in 20, enrols the
// fixture units and issues a credential for every role.
func MustOpenCampaign(tb testing.TB) *Fixture {
	tb.Helper()
	return mustOpenCampaignOn(tb, nil)
}

// mustOpenCampaignOn is MustOpenCampaign on a server whose service runs
// on wrap(store) (see mustOpenServerOn).
func mustOpenCampaignOn(tb testing.TB, wrap func(eventstore.Store) eventstore.Store) *Fixture {
	tb.Helper()
	ts := mustOpenServerOn(tb, wrap)
	f := &Fixture{TestServer: ts, Campaign: "thu-nghiem", HomeAffairs: ts.Admin}
	c := "/api/v1/campaigns/" + f.Campaign
	f.A001, f.A005, f.A009, f.ASNV = c+"/assessments/001", c+"/assessments/005", c+"/assessments/009", c+"/assessments/SNV"

	admin := ts.As(tb, ts.Admin)
	admin.Must(201, "POST", "/api/v1/frameworks", testFramework("test-huyen", "huyen"))
	admin.Must(201, "POST", "/api/v1/frameworks", testFramework("test-so", "so"))
	admin.Must(201, "POST", "/api/v1/campaigns", map[string]any{
		"id": f.Campaign, "year": time.Now().In(hanoi).Year(), "title": "Chỉ số CCHC thử nghiệm",
		"calendar":   map[string]string{"selfAssessmentDue": day(10), "appraisalDue": day(20)},
		"frameworks": map[string]any{"huyen": map[string]any{"id": "test-huyen", "version": 1}, "so": map[string]any{"id": "test-so", "version": 1}},
	})
	admin.Must(201, "POST", c+"/units", map[string]any{"units": fixtureUnits})

	f.Unit001 = ts.MustIssueToken(tb, domain.Principal{ID: "to-cong-tac-001", Role: domain.RoleUnit, Scope: "001"})
	f.Unit005 = ts.MustIssueToken(tb, domain.Principal{ID: "to-cong-tac-005", Role: domain.RoleUnit, Scope: "005"})
	f.AppraiserSNV = ts.MustIssueToken(tb, domain.Principal{ID: "snv-tham-dinh", Role: domain.RoleAppraiser, Scope: "SNV"})
	f.AppraiserSTP = ts.MustIssueToken(tb, domain.Principal{ID: "stp-tham-dinh", Role: domain.RoleAppraiser, Scope: "STP"})
	f.Council = ts.MustIssueToken(tb, domain.Principal{ID: "hoi-dong-tham-dinh", Role: domain.RoleCouncil})
	f.Institute = ts.MustIssueToken(tb, domain.Principal{ID: "vien-nghien-cuu", Role: domain.RoleInstitute})
	f.Auditor = ts.MustIssueToken(tb, domain.Principal{ID: "kiem-toan-vien", Role: domain.RoleAuditor})
	return f
}

// fullSelfScores are self scores for every self-scored item, each with a
// note, so that the assessment can be submitted.
func fullSelfScores(p1, p2, p3, p4 string) map[string]any {
	return map[string]any{"scores": []map[string]any{
		{"item": "1.1.1", "points": p1, "note": "Kế hoạch số 12/KH-UBND"},
		{"item": "1.1.2", "points": p2, "note": "Báo cáo kết quả thực hiện"},
		{"item": "1.2", "points": p3, "note": "Biên bản kiểm tra"},
		{"item": "2.1", "points": p4, "note": "Báo cáo rà soát văn bản"},
	}}
}

// mustAppraise has the fixture's appraisers record round 1 for every
// appraised item of an assessment: 1.1.1, 1.1.2 and 1.2 by SNV, 2.1 and
// 2.2 by STP, each with a reason in case it differs from the self score.
// The assessment must be submitted or past its self-assessment deadline.
func (f *Fixture) mustAppraise(tb testing.TB, path, p111, p112, p12, p21, p22 string) {
	tb.Helper()
	const why = "Đối chiếu tài liệu kiểm chứng"
	f.As(tb, f.AppraiserSNV).Must(201, "POST", path+"/appraisals", map[string]any{"round": 1, "reason": why, "scores": []map[string]any{
		{"item": "1.1.1", "points": p111}, {"item": "1.1.2", "points": p112}, {"item": "1.2", "points": p12}}})
	f.As(tb, f.AppraiserSTP).Must(201, "POST", path+"/appraisals", map[string]any{"round": 1, "reason": why, "scores": []map[string]any{
		{"item": "2.1", "points": p21}, {"item": "2.2", "points": p22}}})
}

// TestMustOpenCampaign checks the fixture itself: every credential
// authenticates as its principal, and the campaign is in its
// self-assessment phase.
func TestMustOpenCampaign(t *testing.T) {
	f := MustOpenCampaign(t)
	for _, tc := range []struct {
		secret, id, role, scope string
	}{
		{f.Unit001, "to-cong-tac-001", "unit", "001"},
		{f.Unit005, "to-cong-tac-005", "unit", "005"},
		{f.AppraiserSNV, "snv-tham-dinh", "appraiser", "SNV"},
		{f.AppraiserSTP, "stp-tham-dinh", "appraiser", "STP"},
		{f.HomeAffairs, "snv-quan-tri", "home-affairs", ""},
		{f.Council, "hoi-dong-tham-dinh", "council", ""},
		{f.Institute, "vien-nghien-cuu", "institute", ""},
		{f.Auditor, "kiem-toan-vien", "auditor", ""},
	} {
		var p domain.Principal
		f.As(t, tc.secret).Must(200, "GET", "/api/v1/whoami", nil).JSON(t, &p)
		if p.ID != tc.id || string(p.Role) != tc.role || p.Scope != tc.scope {
			t.Errorf("whoami = %+v, want %s %s %s", p, tc.id, tc.role, tc.scope)
		}
	}
	var c struct {
		Phase string   `json:"phase"`
		Units []string `json:"notSubmitted"`
	}
	f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign, nil).JSON(t, &c)
	if c.Phase != "self-assessment" || len(c.Units) != len(fixtureUnits) {
		t.Errorf("campaign = %+v, want self-assessment with %d units not submitted", c, len(fixtureUnits))
	}
}
