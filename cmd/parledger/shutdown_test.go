package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// mustSmallCampaign registers the test framework, opens campaign
// thu-nghiem with unit 001 in self-assessment and returns a credential of
// unit 001.
func mustSmallCampaign(tb testing.TB, base, admin string) string {
	tb.Helper()
	cl := &http.Client{Timeout: 30 * time.Second}
	call := func(c apiCall, want int) []byte {
		tb.Helper()
		c.token = admin
		status, _, body, err := send(context.Background(), cl, base, c)
		if err != nil || status != want {
			tb.Fatalf("%s %s: %d %v: %s", c.method, c.path, status, err, body)
		}
		return body
	}
	var fw map[string]any
	if err := json.Unmarshal([]byte(testFramework("test-huyen", "huyen")), &fw); err != nil {
		tb.Fatal(err)
	}
	call(jsonCall("POST", "/api/v1/frameworks", "", fw), 201)
	now := time.Now().In(time.FixedZone("ICT", 7*3600))
	call(jsonCall("POST", "/api/v1/campaigns", "", map[string]any{
		"id": "thu-nghiem", "year": now.Year(), "title": "Chỉ số CCHC thử nghiệm",
		"calendar":   map[string]string{"selfAssessmentDue": now.AddDate(0, 0, 10).Format(time.DateOnly), "appraisalDue": now.AddDate(0, 0, 20).Format(time.DateOnly)},
		"frameworks": map[string]any{"huyen": map[string]any{"id": "test-huyen", "version": 1}},
	}), 201)
	call(jsonCall("POST", "/api/v1/campaigns/thu-nghiem/units", "", map[string]any{"units": []map[string]string{{"code": "001", "name": "UBND quận Ba Đình", "block": "huyen"}}}), 201)
	var tok struct{ Secret string }
	if err := json.Unmarshal(call(jsonCall("POST", "/api/v1/tokens", "", map[string]any{"principal": map[string]string{"id": "to-cong-tac-001", "role": "unit", "scope": "001"}, "ttl": "24h"}), 201), &tok); err != nil {
		tb.Fatal(err)
	}
	return tok.Secret
}

// slowUpload starts an evidence upload whose body the caller finishes: it
// sends the headers and the first part of the body, then returns a
// function that sends the rest and returns the answer.
func slowUpload(tb testing.TB, base, token string) (finish func() (int, []byte, error)) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("item", "1.1.1")
	_ = mw.WriteField("title", "Kế hoạch số 12/KH-UBND")
	fw, _ := mw.CreateFormFile("file", "ke-hoach.pdf")
	_, _ = fw.Write(minimalPDF("Kế hoạch gửi chậm"))
	_ = mw.Close()
	body := buf.Bytes()

	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", base+"/api/v1/campaigns/thu-nghiem/assessments/001/evidence", pr)
	if err != nil {
		tb.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", "slow-upload")
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			answers <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answers <- answer{resp.StatusCode, b, err}
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		tb.Fatal(err)
	}
	return func() (int, []byte, error) {
		if _, err := pw.Write(body[half:]); err != nil {
			return 0, nil, err
		}
		_ = pw.Close()
		a := <-answers
		return a.status, a.body, a.err
	}
}

// walSegments lists the write-ahead log segments left in a data
// directory: none after a clean close.
func walSegments(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Base(filepath.Dir(path)) == "wal" {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestGracefulShutdown sends SIGTERM to a real server process while a
// client is halfway through an upload: the server stops taking new
// connections at once, lets the upload finish and records it, then closes
// the store cleanly (the write-ahead log fully applied and removed) and
// exits with status 0, within its drain deadline.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	srv := mustStartServer(t, dir, "--quiet")
	unit := mustSmallCampaign(t, srv.URL(), mustSecret(t, dir))

	finish := slowUpload(t, srv.URL(), unit)
	time.Sleep(200 * time.Millisecond) // the server is reading the body
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// New connections are refused while the upload drains (as soon as
	// the process has handled the signal).
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := cl.Get(srv.URL() + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("new requests still got %d 5 s after SIGTERM, want the connection refused", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	status, body, err := finish()
	if err != nil || status != 201 {
		t.Fatalf("the upload in flight at SIGTERM: %d %v: %s", status, err, body)
	}
	ids, err := eventIDs(body)
	if err != nil || len(ids) != 1 {
		t.Fatalf("the upload's answer names events %v (%v)", ids, err)
	}
	select {
	case <-srv.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("the server did not exit within 15 s of SIGTERM\n%s", srv.Log())
	}
	if srv.exitErr != nil {
		t.Errorf("the server exited with %v after SIGTERM\n%s", srv.exitErr, srv.Log())
	}
	took := time.Since(start)
	if left := walSegments(t, dir); len(left) > 0 {
		t.Errorf("the store was not closed cleanly: write-ahead log segments left: %v", left)
	}
	out, err := runCLI(t, "verify", "--data", dir)
	if err != nil || !strings.Contains(out, "match the ledger") {
		t.Fatalf("verify after SIGTERM: %v\n%s", err, out)
	}
	found := false
	store, _, err := openStore(context.Background(), dir, "", storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for e, err := range store.ReadStream(context.Background(), domain.AssessmentStream("thu-nghiem", "001"), eventstore.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		found = found || e.ID.String() == ids[0]
	}
	if !found {
		t.Errorf("the upload acknowledged during the drain (event %s) is not in the ledger", ids[0])
	}
	t.Logf("SIGTERM with an upload in flight: the upload finished (201), the process exited 0 after %s, the store closed cleanly", took.Round(10*time.Millisecond))
}

// TestShutdownDeadline sends SIGTERM while a client never finishes its
// request: the server gives up on it after its 10 s drain and still
// closes the store cleanly.
func TestShutdownDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s drain deadline")
	}
	dir := t.TempDir()
	srv := mustStartServer(t, dir, "--quiet")
	unit := mustSmallCampaign(t, srv.URL(), mustSecret(t, dir))
	_ = slowUpload(t, srv.URL(), unit) // never finished
	time.Sleep(200 * time.Millisecond)
	took, err := srv.stop(syscall.SIGTERM, 20*time.Second)
	if took < 9*time.Second || took > 15*time.Second {
		t.Errorf("the server exited %s after SIGTERM, want after its 10 s drain", took)
	}
	// Cut-off requests make the exit a failure, with the reason.
	if log := srv.Log(); err == nil || !strings.Contains(log, "requests still in flight when the drain ended were cut off") {
		t.Errorf("exit %v; the server said:\n%s", err, lastLines(log, 5))
	}
	if left := walSegments(t, dir); len(left) > 0 {
		t.Errorf("the store was not closed cleanly: write-ahead log segments left: %v", left)
	}
	if out, err := runCLI(t, "verify", "--data", dir); err != nil {
		t.Errorf("verify after a cut-off drain: %v\n%s", err, out)
	}
}
