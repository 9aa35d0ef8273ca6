package http_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	ledgerhttp "github.com/parledger/parledger/http"
)

// TestLimits sends requests past each of the server's limits: every one
// is refused with its own 4xx and a message naming the limit, and leaves
// the log unchanged.
func TestLimits(t *testing.T) {
	f := MustOpenCampaign(t)
	c := "/api/v1/campaigns/" + f.Campaign
	unit := f.As(t, f.Unit001)

	t.Run("ErrHeaderTooLarge", func(t *testing.T) {
		// Headers past MaxHeaderBytes: 431 from net/http itself, before
		// any handler or credential check.
		r := unit.Do("GET", "/api/v1/whoami", nil, "X-Filler", strings.Repeat("a", ledgerhttp.MaxHeaderBytes+8<<10))
		if r.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431: %s", r.Status, r.Body)
		}
	})

	scores := func(n int) map[string]any {
		s := make([]map[string]any, n)
		for i := range s {
			s[i] = map[string]any{"item": "1.2", "points": "1"}
		}
		return map[string]any{"scores": s}
	}
	manyRefs := make([]map[string]string, 21)
	for i := range manyRefs {
		manyRefs[i] = map[string]string{"sha256": strings.Repeat("ab", 32), "title": "Tài liệu"}
	}
	survey := make([]string, 20001)
	for i := range survey {
		survey[i] = `{"unit":"001","item":"3.1","points":1}`
	}
	hugeCSV := "STT;Nội dung;Điểm tối đa\n" + strings.Repeat("1;"+strings.Repeat("x", 10000)+";1\n", (ledgerhttp.MaxFrameworkUpload/10000)+16)
	longTitle, longType := multipartBody(t, [][2]string{{"item", "1.1.1"}, {"title", strings.Repeat("Kế hoạch ", 600)}}, "kh.pdf", minimalPDF("x"))
	bigFile, bigType := multipartBody(t, nil, "lon.pdf", append(minimalPDF("x"), bytes.Repeat([]byte{' '}, testBlobLimit)...))

	for _, tc := range []struct {
		name            string
		as              string
		method, path    string
		body            any
		headers         []string
		status          int
		field, sayLimit string
	}{
		{name: "ErrBodyTooLarge", as: f.Unit001, method: "POST", path: f.A001 + "/self-scores", status: 413, sayLimit: "1048576 bytes",
			body: `{"scores":[{"item":"1.2","points":1,"note":"` + strings.Repeat("x", ledgerhttp.MaxBodySize) + `"}]}`},
		{name: "ErrFrameworkTooLarge", as: f.HomeAffairs, method: "POST", path: "/api/v1/frameworks?id=lon&version=1&title=x&block=huyen", status: 413, sayLimit: "10 MiB",
			body: rawBody(hugeCSV), headers: []string{"Content-Type", "text/csv"}},
		{name: "ErrEvidenceTooLarge", as: f.Unit001, method: "POST", path: "/api/v1/evidence", status: 413, sayLimit: "64 KiB",
			body: bigFile, headers: []string{"Content-Type", bigType}},
		{name: "ErrFormFieldTooLong", as: f.Unit001, method: "POST", path: f.A001 + "/evidence", status: 400, field: "title", sayLimit: "4096 bytes",
			body: longTitle, headers: []string{"Content-Type", longType}},
		{name: "ErrTooManyItems", as: f.Unit001, method: "POST", path: f.A001 + "/self-scores", status: 400, field: "scores", sayLimit: "at most 500",
			body: scores(501)},
		{name: "ErrTooManySurveyScores", as: f.Institute, method: "POST", path: c + "/survey-scores", status: 400, field: "scores", sayLimit: "1 to 20000",
			body: `{"batch":"x","scores":[` + strings.Join(survey, ",") + `]}`},
		{name: "ErrTooManyEvidence", as: f.Unit001, method: "POST", path: f.A001 + "/explanations", status: 400, field: "evidence", sayLimit: "at most 20",
			body: map[string]any{"item": "1.1.2", "claimedPoints": "9", "argument": "x", "evidence": manyRefs}},
		{name: "ErrPageTooLarge", as: f.Auditor, method: "GET", path: c + "/audit?limit=1001", status: 400, field: "limit", sayLimit: "1 to 1000"},
		{name: "ErrPageEmpty", as: f.Auditor, method: "GET", path: c + "/audit?limit=0", status: 400, field: "limit", sayLimit: "1 to 1000"},
		// A nine-byte number that would print as a million digits.
		{name: "ErrHugeExponent", as: f.Unit001, method: "POST", path: f.A001 + "/self-scores", status: 400, field: "scores[0].points", sayLimit: "no large exponent",
			body: `{"scores":[{"item":"1.2","points":"9e99999999"}]}`},
		{name: "ErrHugeNegativeExponent", as: f.AppraiserSNV, method: "POST", path: f.A005 + "/appraisals", status: 400, field: "scores[0].points", sayLimit: "no large exponent",
			body: `{"round":1,"scores":[{"item":"1.2","points":1e-999999}]}`},
		{name: "ErrTooManyDigits", as: f.Unit001, method: "POST", path: f.A001 + "/explanations", status: 400, field: "claimedPoints", sayLimit: "at most 60 digits",
			body: `{"item":"1.1.2","claimedPoints":"1.` + strings.Repeat("1", 100) + `","argument":"x"}`},
		{name: "ErrIdempotencyKeyTooLong", as: f.Unit001, method: "POST", path: f.A001 + "/self-scores", status: 400, field: "Idempotency-Key", sayLimit: "200 bytes",
			body: scores(1), headers: []string{"Idempotency-Key", strings.Repeat("k", 201)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Head(t)
			r := f.As(t, tc.as).Do(tc.method, tc.path, tc.body, tc.headers...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tc.status, r.Body)
			}
			p, err := problemOf(r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.field != "" && !strings.Contains(strings.Join(p.fields(), " "), tc.field) {
				t.Errorf("fields %q, want %q", p.fields(), tc.field)
			}
			if !strings.Contains(string(r.Body), tc.sayLimit) {
				t.Errorf("the answer does not name the limit %q: %.300s", tc.sayLimit, r.Body)
			}
			if after := f.Head(t); after != before {
				t.Errorf("the log grew from %d to %d", before, after)
			}
		})
	}
}

// TestSlowClients serves the API with short connection timeouts and
// checks each kind of slow client: one that never finishes its headers is
// cut off at ReadHeaderTimeout; one that never finishes its body gets 408
// at ReadTimeout, for a JSON body and for an upload; nothing is recorded.
func TestSlowClients(t *testing.T) {
	f := MustOpenCampaign(t)
	srv := ledgerhttp.NewServer()
	srv.Addr = "127.0.0.1:0"
	srv.Service, srv.Blobs, srv.Board, srv.Tokens = f.Service, f.Blobs, f.Board, f.Tokens
	srv.Runner, srv.History, srv.Logger = f.Runner, f.History, f.Server.Logger
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout = 300*time.Millisecond, 700*time.Millisecond, 5*time.Second
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(t.Context()) })
	addr := strings.TrimPrefix(srv.URL(), "http://")
	before := f.Head(t)

	// dial sends head, then nothing more, and returns what the server
	// answers (if anything) and when the connection ended.
	dial := func(t *testing.T, head string) (string, time.Duration) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(bufio.NewReader(conn))
		return string(b), time.Since(start)
	}

	t.Run("ErrSlowHeaders", func(t *testing.T) {
		got, took := dial(t, "GET /api/v1/whoami HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ")
		if took > 3*time.Second {
			t.Errorf("a client stalled in its headers kept its connection %s", took)
		}
		if got != "" && !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Errorf("answered %q, want the connection closed or 408", got)
		}
	})
	for _, tc := range []struct {
		name, path, ctype string
		body              string
	}{
		{"ErrSlowBody", f.A001 + "/self-scores", "application/json", `{"scores":[{"item":"1.2",`},
		{"ErrSlowUpload", f.A001 + "/evidence", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\n" + strings.Repeat("x", 600)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n%s", tc.path, f.Unit001, tc.ctype, tc.body)
			got, took := dial(t, head)
			if !strings.HasPrefix(got, "HTTP/1.1 408") || !strings.Contains(got, `"code":"request_timeout"`) || !strings.Contains(got, "too slowly") {
				t.Errorf("a client stalled in its body got %q after %s, want 408 request_timeout", got, took)
			}
			if took > 3*time.Second {
				t.Errorf("answered after %s, want about the 700 ms read timeout", took)
			}
		})
	}
	// An upload that breaks off: a 400 (not a logged 500: the fixture
	// fails on any logged error), and nothing recorded.
	t.Run("ErrBrokenUpload", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\n" + strings.Repeat("x", 2000)
		fmt.Fprintf(conn, "POST %s/evidence HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n%s", f.A001, f.Unit001, body)
		_ = conn.(*net.TCPConn).CloseWrite()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(conn)
		if !strings.HasPrefix(string(got), "HTTP/1.1 400") {
			t.Errorf("a broken upload got %q, want 400", got)
		}
	})
	if after := f.Head(t); after != before {
		t.Errorf("slow clients moved the log from %d to %d", before, after)
	}
}
