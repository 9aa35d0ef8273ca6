package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parledger/parledger/bench"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/loadgen"
)

const benchUsage = `parledger bench: measure parledger at national scale (see docs/benchmarks.md).

  parledger bench load    --data DIR [--store URL] --units N [--mode import|append] [--writers 64]
                          [--evidence 3] [--revisions 1] [--seed 2017]
        build a synthetic national campaign (about 510 events per unit)
  parledger bench rebuild --data DIR [--store URL] [--timeline]
        rebuild the read models from the whole log, as a server start does
  parledger bench readall --data DIR [--peer postgres://...]
        read every event and decode its payload, from parledger and from
        the PostgreSQL events table (loaded with the same events)
  parledger bench http    --url URL [--token SECRET] --campaign ID [--limit 100] [--gzip]
                          [--clients 64] [--duration 10s]
        GET a campaign's rankings (pages of --limit rows at random offsets)
  parledger bench scores  --url URL --token SECRET [--clients 64] [--duration 10s]
        record self scores, one client per unit of a campaign it opens
  parledger bench stalls  [--duration 10s]
        spin on every CPU and count how often and how long each stopped:
        what the machine itself takes away (run it on an idle machine)

Each prints what it measured and a last line "result: key=value ..." (stalls: a
line for each CPU).
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "load":
		return benchLoad(ctx, args[1:], stdout, stderr)
	case "rebuild":
		return benchRebuild(ctx, args[1:], stdout, stderr)
	case "readall":
		return benchReadAll(ctx, args[1:], stdout, stderr)
	case "http":
		return benchHTTP(ctx, args[1:], stdout, stderr)
	case "scores":
		return benchScores(ctx, args[1:], stdout, stderr)
	case "stalls":
		return benchStalls(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	fmt.Fprint(stderr, benchUsage)
	return fmt.Errorf("bench: unknown benchmark %q", args[0])
}

// result prints the machine-readable last line of a benchmark.
func result(w io.Writer, name string, kv ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "result: bench=%s", name)
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case float64:
			fmt.Fprintf(&b, " %s=%.6g", kv[i], v)
		default:
			fmt.Fprintf(&b, " %s=%v", kv[i], v)
		}
	}
	fmt.Fprintln(w, b.String())
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func benchLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	def := loadgen.DefaultConfig(0)
	units := fs.Int("units", 10_000, "number of units (about 510 events each)")
	mode := fs.String("mode", "import", "import (the fast path, synthetic 2017 times) or append (concurrent durable appends)")
	writers := fs.Int("writers", 64, "concurrent writers in append mode")
	fs.IntVar(&def.Evidence, "evidence", def.Evidence, "mean documents per self-scored item")
	fs.IntVar(&def.Revisions, "revisions", def.Revisions, "mean revisions of each self score")
	fs.Uint64Var(&def.Seed, "seed", def.Seed, "random seed")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *units <= 0 || *mode != "import" && *mode != "append" {
		return errors.New("bench load: --units must be positive and --mode import or append")
	}
	cfg := loadgen.DefaultConfig(*units)
	cfg.Evidence, cfg.Revisions, cfg.Seed = def.Evidence, def.Revisions, def.Seed
	store, _, err := openFlagged(ctx, *data, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	if empty, err := isEmpty(ctx, store); err != nil || !empty {
		return errors.Join(err, fmt.Errorf("bench load: the ledger in %s is not empty", *data))
	}
	expected := uint64(*units) * uint64(loadgen.EventsPerUnit+71*(cfg.Revisions-1)+71*(cfg.Evidence-3))
	bar := &progressBar{w: stderr, label: *mode + "ing", total: expected}
	start := time.Now()
	var n int
	var lat []time.Duration
	switch *mode {
	case "import":
		n, err = loadgen.Import(ctx, store, cfg, func(n int) { bar.set(uint64(n), false) })
	case "append":
		latencies := make(chan time.Duration, 4096)
		done := make(chan struct{})
		go func() {
			for d := range latencies {
				lat = append(lat, d)
			}
			close(done)
		}()
		n, err = loadgen.Append(ctx, store, cfg, loadgen.AppendOptions{Writers: *writers,
			Progress: func(n int) { bar.set(uint64(n), false) },
			Latency:  func(d time.Duration) { latencies <- d }})
		close(latencies)
		<-done
	}
	elapsed := time.Since(start)
	bar.total = uint64(n)
	bar.set(uint64(n), true)
	if err != nil {
		return err
	}
	rate := float64(n) / elapsed.Seconds()
	fmt.Fprintf(stdout, "%d units, %d events in %s: %.0f events/s (%s); %d MiB on disk\n", *units, n, elapsed.Round(time.Millisecond), rate, *mode, bench.DiskUsage(*data)>>20)
	kv := []any{"mode", *mode, "units", *units, "events", n, "seconds", elapsed.Seconds(), "events_per_s", rate, "disk_mib", float64(bench.DiskUsage(*data)) / (1 << 20)}
	if *mode == "append" {
		l := bench.Summarize(lat)
		fmt.Fprintf(stdout, "%d writers, append latency %s\n", *writers, l)
		kv = append(kv, "writers", *writers, "p50_ms", float64(l.P50.Microseconds())/1000, "p99_ms", float64(l.P99.Microseconds())/1000)
	}
	result(stdout, "load", kv...)
	return nil
}

func benchRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench rebuild", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	timeline := fs.Bool("timeline", false, "build the score timeline too, as a first start does (in a temporary file)")
	heapProfile := fs.String("heap-profile", "", "write a heap profile of what the projections and the store hold once caught up to this file (go tool pprof)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	store, _, err := openFlagged(ctx, *data, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	opts := bench.RebuildOptions{}
	if *timeline {
		dir, err := os.MkdirTemp("", "parledger-timeline-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		opts.Timeline = filepath.Join(dir, "timeline.db")
	}
	var profile *os.File
	if *heapProfile != "" {
		if profile, err = os.Create(*heapProfile); err != nil {
			return err
		}
		defer profile.Close()
		opts.HeapProfile = profile
	}
	jsonRate := bench.JSONDecodeRate(time.Second)
	res, err := bench.Rebuild(ctx, store, opts)
	if err != nil {
		return err
	}
	if profile != nil {
		if err := profile.Close(); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	jsonRate = (jsonRate + bench.JSONDecodeRate(time.Second)) / 2
	rss := bench.MaxRSS()
	fmt.Fprintf(stdout, "rebuild (%s) of %d units: %s\n", map[bool]string{false: "restart", true: "first start, with the score timeline"}[*timeline], res.Units, res)
	fmt.Fprintf(stdout, "encoding/json decodes a %d-byte event payload at %.0f/s on one goroutine: the rebuild runs at %.2fx that\n", len(bench.SamplePayload()), jsonRate, res.EventsPerSecond()/jsonRate)
	fmt.Fprintf(stdout, "peak RSS of the process %d MiB\n", rss>>20)
	result(stdout, "rebuild", "timeline", *timeline, "units", res.Units, "events", res.Events, "seconds", res.Duration.Seconds(),
		"events_per_s", res.EventsPerSecond(), "cpu_us_per_event", float64(res.CPU.Microseconds())/float64(res.Events),
		"json_decode_per_s", jsonRate, "x_json_decode", res.EventsPerSecond()/jsonRate,
		"peak_heap_mib", mib(res.PeakHeap), "live_heap_mib", mib(res.LiveHeap), "max_rss_mib", mib(rss))
	return nil
}

func benchReadAll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench readall", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	peer := fs.String("peer", "", "PostgreSQL database of the peer (postgres://...); empty: parledger only")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	store, _, err := openFlagged(ctx, *data, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	// decode is the work both sides do for each event: the payload
	// decoded into its event, as a replay does.
	decode := func(e *eventstore.Event) error {
		_, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Payload)
		return err
	}
	start := time.Now()
	n := 0
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			return err
		}
		if err := decode(&e); err != nil {
			return err
		}
		n++
	}
	own := float64(n) / time.Since(start).Seconds()
	fmt.Fprintf(stdout, "parledger: read and decoded %d events at %.0f events/s\n", n, own)
	kv := []any{"events", n, "parledger_events_per_s", own}
	if *peer != "" {
		pg, err := bench.OpenPostgres(ctx, *peer, 2)
		if err != nil {
			return err
		}
		defer pg.Close()
		if count, err := pg.Count(ctx); err != nil || count != int64(head) {
			if err := loadPeer(ctx, store, pg, uint64(head), stderr); err != nil {
				return err
			}
		}
		start := time.Now()
		m, err := pg.ReadAll(ctx, decode)
		if err != nil {
			return err
		}
		theirs := float64(m) / time.Since(start).Seconds()
		fmt.Fprintf(stdout, "PostgreSQL: read and decoded %d events at %.0f events/s; parledger is %.2fx\n", m, theirs, own/theirs)
		kv = append(kv, "postgres_events_per_s", theirs, "x_postgres", own/theirs)
	}
	result(stdout, "readall", kv...)
	return nil
}

// loadPeer copies the ledger's events into the peer's empty table.
func loadPeer(ctx context.Context, store eventstore.Store, pg *bench.Postgres, head uint64, stderr io.Writer) error {
	if err := pg.Reset(ctx); err != nil {
		return err
	}
	bar := &progressBar{w: stderr, label: "copying to PostgreSQL", total: head}
	batch := make([]eventstore.Event, 0, 10_000)
	var n uint64
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			return err
		}
		e.Payload = bytes.Clone(e.Payload)
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := pg.Import(ctx, batch); err != nil {
				return err
			}
			n += uint64(len(batch))
			batch = batch[:0]
			bar.set(n, false)
		}
	}
	if err := pg.Import(ctx, batch); err != nil {
		return err
	}
	bar.set(n+uint64(len(batch)), true)
	return nil
}

func benchHTTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench http", flag.ContinueOnError)
	url := fs.String("url", "", "the server, e.g. http://127.0.0.1:8080")
	token := fs.String("token", "", "a credential's secret (empty: anonymous, published campaigns only)")
	campaign := fs.String("campaign", "", "the campaign whose rankings to read")
	limit := fs.Int("limit", 0, "rows per page, at random offsets within the largest block (0: the whole rankings)")
	gzip := fs.Bool("gzip", false, "accept gzip, as browsers do (bytes counted compressed)")
	clients := fs.Int("clients", 64, "concurrent clients, each with its own connection")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *url == "" || *campaign == "" {
		return errors.New("bench http: --url and --campaign are required")
	}
	path := *url + "/api/v1/campaigns/" + *campaign + "/rankings"
	rows := 0
	if *limit > 0 {
		var rk struct {
			Blocks []struct {
				Total int `json:"total"`
			} `json:"blocks"`
		}
		if err := getJSON(ctx, path+"?limit=1", *token, &rk); err != nil {
			return err
		}
		for _, b := range rk.Blocks {
			rows = max(rows, b.Total)
		}
	}
	newRequest := func(c, i int) (*http.Request, error) {
		u := path
		if *limit > 0 {
			u = fmt.Sprintf("%s?limit=%d&offset=%d", path, *limit, rand.IntN(max(rows/(*limit), 1))*(*limit))
		}
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		if *gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		return req, nil
	}
	res := bench.HTTPLoad(ctx, *clients, *duration, newRequest)
	what := "the whole rankings"
	if *limit > 0 {
		what = fmt.Sprintf("pages of %d rows out of %d", *limit, rows)
	}
	fmt.Fprintf(stdout, "GET rankings of %s, %s: %s\n", *campaign, what, res)
	result(stdout, "http", "campaign", *campaign, "limit", *limit, "gzip", *gzip, "clients", *clients, "requests", res.Requests, "errors", res.Errors,
		"requests_per_s", res.RequestsPerSecond(), "p50_ms", ms(res.Latency.P50), "p90_ms", ms(res.Latency.P90), "p99_ms", ms(res.Latency.P99),
		"kib_per_response", float64(res.Bytes)/float64(max(res.Requests, 1))/1024)
	if res.Requests == 0 {
		return fmt.Errorf("bench http: no request succeeded: %s", res.FirstError)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func benchStalls(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench stalls", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Second, "how long to spin")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *duration <= 0 {
		return errors.New("bench stalls: --duration must be positive")
	}
	res, err := bench.MeasureStalls(ctx, *duration)
	if err != nil {
		return fmt.Errorf("bench stalls: %w", err)
	}
	for _, s := range res {
		fmt.Fprintln(stdout, s)
	}
	for _, s := range res {
		result(stdout, "stalls", "cpu", s.CPU, "seconds", s.Elapsed.Seconds(), "over_1ms", s.Over[0], "over_2ms", s.Over[1],
			"over_5ms", s.Over[2], "over_10ms", s.Over[3], "worst_ms", ms(s.Worst), "lost_pct", 100*s.LostShare())
	}
	return nil
}

func benchScores(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench scores", flag.ContinueOnError)
	url := fs.String("url", "", "the server, e.g. http://127.0.0.1:8080")
	token := fs.String("token", "", "a Home Affairs credential's secret")
	framework := fs.String("framework", "hanoi-2017-huyen@1", "framework of the campaign opened for the benchmark")
	clients := fs.Int("clients", 64, "concurrent clients, one unit each")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *url == "" || *token == "" {
		return errors.New("bench scores: --url and --token are required")
	}
	fwID, fwVersion, ok := strings.Cut(*framework, "@")
	if !ok {
		return errors.New("bench scores: --framework is id@version")
	}
	var fw domain.Framework
	if err := getJSON(ctx, *url+"/api/v1/frameworks/"+fwID+"?version="+fwVersion, *token, &fw); err != nil {
		return err
	}
	// The self-scored items and two scores each may take, so that every
	// request changes something and records one event.
	type choice struct {
		item   string
		points [2]string
	}
	var items []choice
	for _, n := range fw.Leaves() {
		if n.Method == domain.MethodSelf {
			lo, hi := "0", n.MaxPoints.String()
			if len(n.Levels) > 1 {
				lo, hi = n.Levels[0].Points.String(), n.Levels[len(n.Levels)-1].Points.String()
			}
			if lo != hi {
				items = append(items, choice{n.Code, [2]string{lo, hi}})
			}
		}
	}
	if len(items) == 0 {
		return fmt.Errorf("bench scores: framework %s has no self-scored items (%s)", *framework, fw.ID)
	}
	// A campaign of its own, open for self-assessment, with a unit and a
	// credential per client.
	id := fmt.Sprintf("bench-%d", time.Now().UnixMilli())
	now := time.Now().In(domain.Hanoi)
	due := func(days int) string { return now.AddDate(0, 0, days).Format(time.DateOnly) }
	open := map[string]any{"id": id, "year": now.Year(), "title": "Đo hiệu năng ghi điểm",
		"calendar":   map[string]any{"selfAssessmentDue": due(30), "appraisalDue": due(60)},
		"frameworks": map[string]any{"huyen": map[string]any{"id": fwID, "version": atoi(fwVersion)}}}
	if err := postJSON(ctx, *url+"/api/v1/campaigns", *token, open, nil); err != nil {
		return err
	}
	var units []map[string]any
	for c := 0; c < *clients; c++ {
		units = append(units, map[string]any{"code": fmt.Sprintf("B%04d", c+1), "name": fmt.Sprintf("Đơn vị đo %d", c+1), "block": "huyen"})
	}
	if err := postJSON(ctx, *url+"/api/v1/campaigns/"+id+"/units", *token, map[string]any{"units": units}, nil); err != nil {
		return err
	}
	secrets := make([]string, *clients)
	for c := range secrets {
		var tok struct {
			Secret string `json:"secret"`
		}
		code := units[c]["code"].(string)
		if err := postJSON(ctx, *url+"/api/v1/tokens", *token, map[string]any{"principal": map[string]any{"id": "to-cong-tac-" + code, "role": "unit", "scope": code}, "ttl": "2h"}, &tok); err != nil {
			return err
		}
		secrets[c] = tok.Secret
	}
	var events atomic.Int64
	newRequest := func(c, i int) (*http.Request, error) {
		it := items[i%len(items)]
		body := fmt.Sprintf(`{"scores":[{"item":%q,"points":%q,"note":"Tự chấm theo kết quả thực hiện"}]}`, it.item, it.points[(i/len(items))%2])
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/campaigns/%s/assessments/%s/self-scores", *url, id, units[c]["code"]), strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+secrets[c])
		req.Header.Set("Content-Type", "application/json")
		events.Add(1)
		return req, nil
	}
	res := bench.HTTPLoad(ctx, *clients, *duration, newRequest)
	fmt.Fprintf(stdout, "POST self scores, one event each, campaign %s: %s\n", id, res)
	result(stdout, "scores", "clients", *clients, "requests", res.Requests, "errors", res.Errors, "requests_per_s", res.RequestsPerSecond(),
		"p50_ms", ms(res.Latency.P50), "p90_ms", ms(res.Latency.P90), "p99_ms", ms(res.Latency.P99))
	if res.Requests == 0 {
		return fmt.Errorf("bench scores: no request succeeded: %s", res.FirstError)
	}
	return nil
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

// getJSON GETs url with a bearer token and decodes the answer into v.
func getJSON(ctx context.Context, url, token string, v any) error {
	return callJSON(ctx, http.MethodGet, url, token, nil, v)
}

// postJSON POSTs body as JSON and decodes the answer into v (if not nil).
func postJSON(ctx context.Context, url, token string, body, v any) error {
	return callJSON(ctx, http.MethodPost, url, token, body, v)
}

func callJSON(ctx context.Context, method, url, token string, body, v any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}
