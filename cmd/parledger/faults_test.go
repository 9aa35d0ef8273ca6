package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
)

// TestEventStoreDBOutages runs the soak's clients against a server on
// EventStoreDB (the protocol test double) while the database refuses
// every call, goes down and comes back, and loses append responses: the
// clients get 503s (with a clear message) or no answer, retry with their
// Idempotency-Keys, and afterwards every acknowledged event is in the
// ledger exactly once, nothing else is, and a fresh replay ranks as the
// server does.
func TestEventStoreDBOutages(t *testing.T) {
	db := esdbtest.New(t, esdbtest.Options{})
	dir := t.TempDir()
	m := MustRunMainOn(t, dir, db.ConnectionString())
	base := m.Server.URL()
	fx := mustSoakCampaigns(t, base, mustSecret(t, dir), 8)
	cfg := soakConfig{workers: 8, retryFor: 2 * time.Minute}

	var stats soakStats
	stopNew := make(chan struct{})
	models := make([]*unitModel, cfg.workers)
	acks := make([][]acked, cfg.workers)
	var g errgroup.Group
	for w := range cfg.workers {
		models[w] = &unitModel{unit: fx.units[w]["code"], self: map[string]string{}, evidence: map[string][]string{}, appraisal: map[string]string{}}
		g.Go(func() error {
			return soakWorker(w, base, fx.unitTokens[w], fx.appraiser, models[w], &acks[w], &stats, stopNew, cfg)
		})
	}
	outages := []struct {
		name     string
		on, off  func()
		duration time.Duration
	}{
		{"refuses every call", func() { db.SetUnavailable(true) }, func() { db.SetUnavailable(false) }, 1500 * time.Millisecond},
		{"down", db.Down, func() {
			if err := db.Up(); err != nil {
				t.Error(err)
			}
		}, 1500 * time.Millisecond},
		{"loses append responses", func() { db.LoseAppendResponses(20) }, func() {}, 500 * time.Millisecond},
		{"refuses every call again", func() { db.SetUnavailable(true) }, func() { db.SetUnavailable(false) }, 1000 * time.Millisecond},
	}
	for _, o := range outages {
		time.Sleep(700 * time.Millisecond)
		o.on()
		time.Sleep(o.duration)
		o.off()
	}
	time.Sleep(time.Second)
	close(stopNew)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if stats.status503.Load() == 0 {
		t.Fatalf("no client saw a 503 during the outages")
	}
	if body, _ := stats.last503.Load().(string); !strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "Idempotency-Key") {
		t.Errorf("a 503 during the outage says %s", body)
	}

	cl := &http.Client{Timeout: 30 * time.Second}
	served := map[string][]byte{}
	for _, c := range []string{soakCampaign, soakAppraisals} {
		status, _, body, err := send(t.Context(), cl, base, apiCall{method: "GET", path: "/api/v1/campaigns/" + c + "/rankings", token: fx.secrets[0]})
		if err != nil || status != 200 {
			t.Fatalf("rankings: %d %v", status, err)
		}
		served[c] = body
	}
	for _, mo := range models {
		get := func(path string) []byte {
			status, _, body, err := send(t.Context(), cl, base, apiCall{method: "GET", path: path, token: fx.secrets[0]})
			if err != nil || status != 200 {
				t.Fatalf("GET %s: %d %v", path, status, err)
			}
			return body
		}
		checkModel(t, mo, get("/api/v1/campaigns/"+soakCampaign+"/assessments/"+mo.unit), get("/api/v1/campaigns/"+soakAppraisals+"/assessments/"+mo.unit))
	}
	checked, found := checkLedger(t, dir, db.ConnectionString(), acks, served)
	t.Logf("EventStoreDB outages (%d): %d writes acknowledged in %d attempts; %d answers were 503, %d attempts got no answer, %d idempotent replays; %d events read: the %d acknowledged each present exactly once and none other",
		len(outages), stats.requests.Load(), stats.attempts.Load(), stats.status503.Load(), stats.netErrors.Load(), stats.replayed.Load(), checked, found)
}

// mustMountTmpfs mounts a tmpfs of size bytes on a new directory, or
// skips the test where that cannot be done (not Linux, not root, no
// mount). It is unmounted when the test ends, after everything the test
// registers later has been cleaned up.
func mustMountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root on Linux")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file into dir until the file system is full and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			return path
		}
	}
}

// TestDiskFull runs the server on a small file system and fills it: an
// evidence upload and, once the write-ahead log's space is used up, score
// writes get 503 with a clear message and leave the ledger as it was;
// when space returns, the same requests retried with their keys are
// recorded once, the server is ready again, and the ledger and its Merkle
// log verify.
func TestDiskFull(t *testing.T) {
	dir := mustMountTmpfs(t, 48<<20)
	srv := mustStartServer(t, dir, "--quiet")
	base := srv.URL()
	unit := mustSmallCampaign(t, base, mustSecret(t, dir))
	cl := &http.Client{Timeout: 30 * time.Second}
	path := "/api/v1/campaigns/thu-nghiem/assessments/001"
	acks := [][]acked{nil}
	write := func(c apiCall) (int, []byte) {
		t.Helper()
		status, _, body, err := send(t.Context(), cl, base, c)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", c.method, c.path, err, lastLines(srv.Log(), 20))
		}
		if status >= 200 && status < 300 {
			ids, err := eventIDs(body)
			if err != nil {
				t.Fatal(err)
			}
			acks[0] = append(acks[0], acked{key: c.key, stream: domain.AssessmentStream("thu-nghiem", "001"), ids: ids})
		}
		return status, body
	}
	note := strings.Repeat("Báo cáo kết quả thực hiện kế hoạch. ", 100)[:3900]
	scores := func(n int) apiCall {
		c := jsonCall("POST", path+"/self-scores", unit, map[string]any{"scores": []map[string]any{
			{"item": "1.1.2", "points": strconv.Itoa(n % 11), "note": note}, {"item": "1.2", "points": strconv.Itoa(n % 8), "note": note},
			{"item": "2.1", "points": strconv.Itoa(n % 7), "note": note}, {"item": "1.1.1", "points": []string{"0", "1.25", "2.5"}[n%3], "note": note}}})
		c.key = fmt.Sprintf("disk-%d", n)
		return c
	}
	for n := range 20 {
		if status, body := write(scores(n)); status != 201 {
			t.Fatalf("write %d before the disk filled: %d %s", n, status, body)
		}
	}

	filler := fillDisk(t, dir)
	upload := evidenceCall(path+"/evidence", unit, "1.1.1", "Kế hoạch số 12/KH-UBND", minimalPDF(strings.Repeat("Kế hoạch cải cách hành chính ", 2000)))
	upload.key = "disk-upload"
	status, body := write(upload)
	if status != 503 || !strings.Contains(string(body), "nothing was recorded") {
		t.Errorf("an upload to a full disk: %d %s, want 503 saying nothing was recorded", status, body)
	}
	// Score writes go on into the space the write-ahead log holds ready,
	// then fail.
	var failed apiCall
	n := 20
	for ; n < 5000; n++ {
		c := scores(n)
		status, body := write(c)
		if status == 503 {
			if !strings.Contains(string(body), "disk full") {
				t.Errorf("a score write to a full disk says %s", body)
			}
			failed = c
			break
		}
		if status != 201 {
			t.Fatalf("write %d to a full disk: %d %s", n, status, body)
		}
	}
	if failed.key == "" {
		t.Fatalf("%d writes to a full disk all succeeded", n-20)
	}
	acceptedOnFull := n - 20

	// Space returns: the failed requests, retried, are recorded once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := write(failed)
		if status == 201 {
			break
		}
		if status != 503 || time.Now().After(deadline) {
			t.Fatalf("after space returned, the failed write: %d %s\n%s", status, body, lastLines(srv.Log(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, body := write(upload); status != 201 {
		t.Fatalf("after space returned, the upload: %d %s", status, body)
	}
	for k := n + 1; k < n+20; k++ {
		if status, body := write(scores(k)); status != 201 {
			t.Fatalf("write %d after space returned: %d %s", k, status, body)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, _, body, err := send(t.Context(), cl, base, apiCall{method: "GET", path: "/readyz"})
		if err == nil && status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 30 s after space returned: %d %v %s\n%s", status, err, body, lastLines(srv.Log(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}

	if took, err := srv.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v (%s)\n%s", err, took, lastLines(srv.Log(), 20))
	}
	out, err := runCLI(t, "verify", "--data", dir)
	if err != nil || !strings.Contains(out, "match the ledger") {
		t.Fatalf("verify after the disk filled: %v\n%s", err, out)
	}
	checked, found := checkLedger(t, dir, "", acks, nil)
	t.Logf("disk full: %d score writes were accepted into the write-ahead log's reserved space, then 503; after space returned the retries were recorded once; %d events read, the %d acknowledged each present once", acceptedOnFull, checked, found)
}
