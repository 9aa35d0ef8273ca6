package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/projections"
)

// soakConfig bounds a soak run. PARLEDGER_SOAK_WORKERS and
// PARLEDGER_SOAK_KILLS make it larger for a report.
type soakConfig struct {
	workers int
	kills   int
	// up is how long the server runs between kills, at least min.
	upMin, upMax time.Duration
	// retryFor bounds the retries of one request.
	retryFor time.Duration
}

func soakConfigFromEnv(tb testing.TB) soakConfig {
	c := soakConfig{workers: 12, kills: 5, upMin: time.Second, upMax: 2500 * time.Millisecond, retryFor: 2 * time.Minute}
	if testing.Short() {
		c.workers, c.kills = 6, 2
	}
	for name, dst := range map[string]*int{"PARLEDGER_SOAK_WORKERS": &c.workers, "PARLEDGER_SOAK_KILLS": &c.kills} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 200 {
				tb.Fatalf("%s=%q: want 1 to 200", name, v)
			}
			*dst = n
		}
	}
	return c
}

// soakStats counts a soak run.
type soakStats struct {
	requests  atomic.Int64 // logical writes
	attempts  atomic.Int64 // HTTP attempts, retries included
	retried   atomic.Int64 // writes that needed more than one attempt
	netErrors atomic.Int64 // attempts that got no answer (server killed)
	status503 atomic.Int64
	replayed  atomic.Int64 // answers marked Idempotent-Replayed
	last503   atomic.Value // the body of a 503 answer
}

// acked is a write the server acknowledged with a 2xx: its idempotency
// key, the stream it wrote and the events it reported.
type acked struct {
	key, stream string
	ids         []string
}

// unitModel is what one worker wrote to its unit, as the server
// acknowledged it: the last self score and appraisal of each item and
// every evidence file attached.
type unitModel struct {
	unit      string
	self      map[string]string
	evidence  map[string][]string
	appraisal map[string]string
}

const (
	soakCampaign   = "soak"           // self-assessment open
	soakAppraisals = "soak-tham-dinh" // self-assessment closed, appraisal open
)

// TestSoakKill has many clients write self scores, evidence and
// appraisals through HTTP to a real server process that is killed with
// SIGKILL and started again several times on the same data directory.
// Every write is retried with its Idempotency-Key until it gets a 2xx.
// Afterwards: every acknowledged event is in the ledger exactly once and
// nothing else is; the server's answers equal what the clients last wrote
// and what a fresh replay of the ledger computes; the store and its Merkle
// log verify offline; and the server's checkpoints before and after the
// kills are consistent (online verify). It runs on the embedded store and
// on EventStoreDB (the protocol test double, in this process, which the
// kills do not touch).
func TestSoakKill(t *testing.T) {
	t.Run("Embedded", func(t *testing.T) { soakKill(t, "") })
	t.Run("EventStoreDB", func(t *testing.T) {
		if testing.Short() {
			t.Skip("the embedded store's soak is enough for -short")
		}
		soakKill(t, esdbtest.New(t, esdbtest.Options{}).ConnectionString())
	})
}

// soakKill is TestSoakKill on a store ("" for the embedded one).
func soakKill(t *testing.T, store string) {
	cfg := soakConfigFromEnv(t)
	dir := t.TempDir()
	args := []string{"--checkpoint-every", "700ms"}
	if store != "" {
		args = append(args, "--store", store)
	}
	srv := mustStartServer(t, dir, args...)
	base := srv.URL()
	admin := mustSecret(t, dir)
	fx := mustSoakCampaigns(t, base, admin, cfg.workers)
	setup, units, unitTokens, appraiser, secrets := fx.call, fx.units, fx.unitTokens, fx.appraiser, fx.secrets
	publishCheckpoint := client{tb: t, base: base, token: admin}.publishCheckpoint

	// The log's key and a first checkpoint, kept as an auditor would.
	keyFile, saved := filepath.Join(t.TempDir(), "ledger.pub"), filepath.Join(t.TempDir(), "checkpoint")
	if err := os.WriteFile(keyFile, setup(apiCall{method: "GET", path: "/api/v1/ledger/key"}, 200), 0o600); err != nil {
		t.Fatal(err)
	}
	publishCheckpoint()
	if out, err := runCLI(t, "verify", "--server", base, "--key", keyFile, "--checkpoint", saved); err != nil {
		t.Fatalf("first online verify: %v\n%s", err, out)
	}

	// The clients: worker i writes unit i's self scores and evidence in
	// the first campaign and, as the SNV appraiser, its appraisals in the
	// second.
	var stats soakStats
	stopNew := make(chan struct{})
	models := make([]*unitModel, cfg.workers)
	acks := make([][]acked, cfg.workers)
	var g errgroup.Group
	for w := range cfg.workers {
		models[w] = &unitModel{unit: units[w]["code"], self: map[string]string{}, evidence: map[string][]string{}, appraisal: map[string]string{}}
		g.Go(func() error {
			return soakWorker(w, base, unitTokens[w], appraiser, models[w], &acks[w], &stats, stopNew, cfg)
		})
	}

	// The killer.
	started := time.Now()
	for k := range cfg.kills {
		time.Sleep(cfg.upMin + rand.N(cfg.upMax-cfg.upMin))
		srv.kill()
		if k%2 == 1 {
			time.Sleep(300 * time.Millisecond) // clients find nothing listening
		}
		srv.start()
	}
	time.Sleep(cfg.upMin)
	close(stopNew)
	if err := g.Wait(); err != nil {
		t.Fatalf("%v\nserver log (last lines):\n%s", err, lastLines(srv.Log(), 40))
	}
	elapsed := time.Since(started)

	// The server's answers equal what the clients last wrote.
	cl := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) []byte {
		t.Helper()
		status, _, body, err := send(context.Background(), cl, base, apiCall{method: "GET", path: path, token: admin})
		if err != nil || status != 200 {
			t.Fatalf("GET %s: %d %v: %s", path, status, err, body)
		}
		return body
	}
	for _, m := range models {
		checkModel(t, m, get("/api/v1/campaigns/"+soakCampaign+"/assessments/"+m.unit), get("/api/v1/campaigns/"+soakAppraisals+"/assessments/"+m.unit))
	}
	served := map[string][]byte{}
	for _, c := range []string{soakCampaign, soakAppraisals} {
		served[c] = get("/api/v1/campaigns/" + c + "/rankings")
	}
	metrics := get("/metrics")

	// The Merkle log after the kills is consistent with the checkpoint
	// saved before them.
	publishCheckpoint()
	if out, err := runCLI(t, "verify", "--server", base, "--key", keyFile, "--checkpoint", saved); err != nil || !strings.Contains(out, "without rewriting") {
		t.Errorf("online verify after %d kills: %v\n%s", cfg.kills, err, out)
	}

	// A clean stop, then the ledger itself.
	if took, err := srv.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("the server exited with %v after SIGTERM (%s)", err, took)
	}
	out, err := runCLI(t, "verify", "--data", dir, "--store", store)
	if err != nil || !strings.Contains(out, "match the ledger") {
		t.Fatalf("verify --data after %d kills: %v\n%s", cfg.kills, err, out)
	}
	checked, found := checkLedger(t, dir, store, acks, served)

	// No secret in what the server printed or published.
	logs := srv.Log()
	for _, s := range secrets {
		if strings.Contains(logs, s) || strings.Contains(string(metrics), s) {
			t.Errorf("a secret (%s…) appears in the server's log or metrics", s[:8])
		}
	}

	t.Logf("soak on %s: %d clients for %s, %d SIGKILLs (%d server starts): %d writes acknowledged in %d HTTP attempts; %d writes needed retries, %d attempts got no answer, %d got 503, %d answers were idempotent replays; %d events read from the ledger: the %d acknowledged events each present exactly once and no other event of the clients' kinds; offline and online verification passed",
		storeName(store), cfg.workers, elapsed.Round(time.Second), cfg.kills, srv.Starts, stats.requests.Load(), stats.attempts.Load(), stats.retried.Load(), stats.netErrors.Load(), stats.status503.Load(), stats.replayed.Load(), checked, found)
}

// soakFixture is the state the soak's clients start from.
type soakFixture struct {
	// call sends a request as Home Affairs and fails the test unless it
	// gets want.
	call       func(c apiCall, want int) []byte
	units      []map[string]string
	unitTokens []string
	appraiser  string
	// secrets are every credential issued.
	secrets []string
}

// mustSoakCampaigns sets up two campaigns over the same units, one per
// worker: self-assessment open in the first, closed (appraisal open) in
// the second; and a credential per unit and one for the SNV appraiser.
func mustSoakCampaigns(t testing.TB, base, admin string, workers int) soakFixture {
	t.Helper()
	setup := func(c apiCall, want int) []byte {
		t.Helper()
		c.token = admin
		status, _, body, err := send(context.Background(), &http.Client{Timeout: 30 * time.Second}, base, c)
		if err != nil || status != want {
			t.Fatalf("%s %s: %d %v: %s", c.method, c.path, status, err, body)
		}
		return body
	}
	issueToken := func(id, role, scope string) string {
		var out struct{ Secret string }
		_ = json.Unmarshal(setup(jsonCall("POST", "/api/v1/tokens", "", map[string]any{"principal": map[string]string{"id": id, "role": role, "scope": scope}, "ttl": "24h"}), 201), &out)
		return out.Secret
	}

	var fw map[string]any
	if err := json.Unmarshal([]byte(testFramework("test-huyen", "huyen")), &fw); err != nil {
		t.Fatal(err)
	}
	setup(jsonCall("POST", "/api/v1/frameworks", "", fw), 201)
	now := time.Now().In(time.FixedZone("ICT", 7*3600))
	day := func(d int) string { return now.AddDate(0, 0, d).Format(time.DateOnly) }
	units := make([]map[string]string, workers)
	for i := range units {
		units[i] = map[string]string{"code": strconv.Itoa(100 + i), "name": fmt.Sprintf("UBND huyện thử nghiệm %d", i+1), "block": "huyen"}
	}
	for id, selfDue := range map[string]int{soakCampaign: 10, soakAppraisals: -1} {
		setup(jsonCall("POST", "/api/v1/campaigns", "", map[string]any{
			"id": id, "year": now.Year(), "title": "Thử tải " + id,
			"calendar":   map[string]string{"selfAssessmentDue": day(selfDue), "appraisalDue": day(20)},
			"frameworks": map[string]any{"huyen": map[string]any{"id": "test-huyen", "version": 1}},
		}), 201)
		setup(jsonCall("POST", "/api/v1/campaigns/"+id+"/units", "", map[string]any{"units": units}), 201)
	}
	secrets := []string{admin}
	unitTokens := make([]string, workers)
	for i := range unitTokens {
		unitTokens[i] = issueToken("to-cong-tac-"+units[i]["code"], "unit", units[i]["code"])
		secrets = append(secrets, unitTokens[i])
	}
	appraiser := issueToken("snv-tham-dinh", "appraiser", "SNV")
	secrets = append(secrets, appraiser)
	return soakFixture{call: setup, units: units, unitTokens: unitTokens, appraiser: appraiser, secrets: secrets}
}

// soakWorker writes until stopNew is closed, each write retried with its
// Idempotency-Key until it gets a 2xx.
func soakWorker(w int, base, unitToken, appraiser string, m *unitModel, acks *[]acked, stats *soakStats, stopNew <-chan struct{}, cfg soakConfig) error {
	cl := &http.Client{Timeout: 20 * time.Second}
	selfItems := []struct {
		code string
		max  int // in quarters of a point
	}{{"1.1.1", -1}, {"1.1.2", 40}, {"1.2", 30}, {"2.1", 24}}
	points := func(item string, max int) string {
		if max < 0 { // levels 0, 1.25, 2.5
			return []string{"0", "1.25", "2.5"}[rand.IntN(3)]
		}
		return decimal.New(int64(rand.IntN(max+1)*25), -2).String()
	}
	a := "/api/v1/campaigns/" + soakCampaign + "/assessments/" + m.unit
	b := "/api/v1/campaigns/" + soakAppraisals + "/assessments/" + m.unit
	for n := 0; ; n++ {
		select {
		case <-stopNew:
			return nil
		default:
		}
		var call apiCall
		var apply func()
		stream := domain.AssessmentStream(soakCampaign, m.unit)
		switch op := rand.IntN(10); {
		case op < 6:
			it := selfItems[rand.IntN(len(selfItems))]
			p := points(it.code, it.max)
			call = jsonCall("POST", a+"/self-scores", unitToken, map[string]any{"scores": []map[string]any{{"item": it.code, "points": p, "note": fmt.Sprintf("Lần ghi %d", n)}}})
			apply = func() { m.self[it.code] = p }
		case op < 8:
			it := selfItems[rand.IntN(len(selfItems))].code
			file := minimalPDF(fmt.Sprintf("Tài liệu %s-%d-%x", m.unit, n, rand.Uint64()))
			sum := sha256.Sum256(file)
			call = evidenceCall(a+"/evidence", unitToken, it, fmt.Sprintf("Tài liệu kiểm chứng số %d", n), file)
			apply = func() { m.evidence[it] = append(m.evidence[it], hex.EncodeToString(sum[:])) }
		default:
			it := selfItems[rand.IntN(3)]
			p := points(it.code, it.max)
			stream = domain.AssessmentStream(soakAppraisals, m.unit)
			call = jsonCall("POST", b+"/appraisals", appraiser, map[string]any{"round": 1, "reason": "Đối chiếu tài liệu kiểm chứng", "scores": []map[string]any{{"item": it.code, "points": p}}})
			apply = func() { m.appraisal[it.code] = p }
		}
		call.key = fmt.Sprintf("soak-%d-%d", w, n)
		stats.requests.Add(1)
		first := time.Now()
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			status, h, body, err := send(ctx, cl, base, call)
			cancel()
			stats.attempts.Add(1)
			if attempt == 2 {
				stats.retried.Add(1)
			}
			switch {
			case err != nil:
				stats.netErrors.Add(1)
			case status == 503:
				stats.status503.Add(1)
				stats.last503.Store(string(body))
			case status >= 200 && status < 300:
				ids, err := eventIDs(body)
				if err != nil {
					return err
				}
				if h.Get("Idempotent-Replayed") == "true" {
					stats.replayed.Add(1)
				}
				*acks = append(*acks, acked{key: call.key, stream: stream, ids: ids})
				apply()
			default:
				return fmt.Errorf("worker %d: %s %s (key %s, attempt %d): %d %s", w, call.method, call.path, call.key, attempt, status, body)
			}
			if err == nil && status >= 200 && status < 300 {
				break
			}
			if time.Since(first) > cfg.retryFor {
				return fmt.Errorf("worker %d: %s %s (key %s) got no 2xx in %s: last %d %v", w, call.method, call.path, call.key, cfg.retryFor, status, err)
			}
			time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond)
		}
	}
}

// checkModel compares the server's assessments of a unit with what its
// worker last wrote.
func checkModel(tb testing.TB, m *unitModel, selfBody, appraisalBody []byte) {
	tb.Helper()
	type item struct {
		Code       string
		Self       *decimal.Decimal
		Evidence   []struct{ SHA256 string }
		Appraisals [2]*struct{ Points decimal.Decimal }
	}
	var a, b struct{ Items []item }
	if err := json.Unmarshal(selfBody, &a); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(appraisalBody, &b); err != nil {
		tb.Fatal(err)
	}
	for _, it := range a.Items {
		want, ok := m.self[it.Code]
		switch {
		case !ok && it.Self != nil:
			tb.Errorf("unit %s item %s: self score %s, but none was acknowledged", m.unit, it.Code, it.Self)
		case ok && (it.Self == nil || !it.Self.Equal(decimal.RequireFromString(want))):
			tb.Errorf("unit %s item %s: self score %v, last acknowledged %s", m.unit, it.Code, it.Self, want)
		}
		var got []string
		for _, e := range it.Evidence {
			got = append(got, e.SHA256)
		}
		if want := m.evidence[it.Code]; !slices.Equal(got, want) {
			tb.Errorf("unit %s item %s: evidence %v, acknowledged %v", m.unit, it.Code, got, want)
		}
	}
	for _, it := range b.Items {
		want, ok := m.appraisal[it.Code]
		got := it.Appraisals[0]
		switch {
		case !ok && got != nil:
			tb.Errorf("unit %s item %s: appraisal %s, but none was acknowledged", m.unit, it.Code, got.Points)
		case ok && (got == nil || !got.Points.Equal(decimal.RequireFromString(want))):
			tb.Errorf("unit %s item %s: appraisal %v, last acknowledged %s", m.unit, it.Code, got, want)
		}
	}
}

// checkLedger opens the stopped server's store and checks that the
// events of the soak's writes are exactly those acknowledged, each once,
// and that a fresh replay ranks the units as the server did. It returns
// the number of events read and of acknowledged events found.
func checkLedger(tb testing.TB, dir, storeURL string, acks [][]acked, served map[string][]byte) (events, acknowledged int) {
	tb.Helper()
	ctx := context.Background()
	store, _, err := openStore(ctx, dir, storeURL, storeOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()

	want := map[string]acked{} // event id → its write
	for _, w := range acks {
		for _, a := range w {
			for _, id := range a.ids {
				if prev, dup := want[id]; dup && prev.key != a.key {
					tb.Errorf("event %s acknowledged for two writes, %s and %s", id, prev.key, a.key)
				}
				want[id] = a
			}
		}
	}
	soakTypes := []string{domain.TypeSelfScoreRecorded, domain.TypeEvidenceAttached, domain.TypeAppraisalRecorded}
	seen := map[string]bool{}
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			tb.Fatalf("read the ledger: %v", err)
		}
		events++
		if err := e.VerifyHash(); err != nil {
			tb.Error(err)
		}
		if !slices.Contains(soakTypes, e.Type) {
			continue
		}
		id := e.ID.String()
		if seen[id] {
			tb.Errorf("event %s is in the ledger twice", id)
		}
		seen[id] = true
		a, ok := want[id]
		switch {
		case !ok:
			tb.Errorf("event %s (%s, key %q) is in the ledger, but no write was acknowledged with it", id, e.Type, e.Metadata["idempotency-key"])
		case e.Metadata["idempotency-key"] != a.key:
			tb.Errorf("event %s carries key %q, acknowledged for %q", id, e.Metadata["idempotency-key"], a.key)
		case e.Stream != a.stream:
			tb.Errorf("event %s is in stream %s, acknowledged for %s", id, e.Stream, a.stream)
		}
	}
	for id, a := range want {
		if !seen[id] {
			tb.Errorf("event %s, acknowledged for write %s, is not in the ledger", id, a.key)
		}
	}

	// A fresh replay ranks as the server did.
	board := projections.NewScoreboard()
	runner := projections.NewRunner(store, slog.New(slog.NewTextHandler(io.Discard, nil)), board)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = runner.Run(rctx)
	}()
	defer func() { cancel(); wg.Wait() }()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := runner.WaitCaughtUp(wctx); err != nil {
		tb.Fatal(err)
	}
	for c, body := range served {
		rk, ok := board.Rankings(c)
		if !ok {
			tb.Fatalf("the replay has no campaign %s", c)
		}
		var fromServer struct{ Blocks any }
		if err := json.Unmarshal(body, &fromServer); err != nil {
			tb.Fatal(err)
		}
		// Encoded as the API encodes rankings.
		var fromReplay struct{ Blocks any }
		b, err := json.Marshal(ledgerhttp.RankingsView{Rankings: rk})
		if err != nil {
			tb.Fatal(err)
		}
		_ = json.Unmarshal(b, &fromReplay)
		if !reflect.DeepEqual(fromServer.Blocks, fromReplay.Blocks) {
			tb.Errorf("campaign %s: the server ranked\n%s\nthe replay ranks\n%s", c, body, b)
		}
	}
	return events, len(want)
}
