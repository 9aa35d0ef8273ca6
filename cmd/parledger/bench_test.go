package main

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parledger/parledger/bench/pgtest"
)

// TestBenchStalls runs `parledger bench stalls` briefly: a result line
// for each CPU the process may use, and a clear error for a duration that
// is not positive.
func TestBenchStalls(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Run(context.Background(), []string{"bench", "stalls", "--duration", "100ms"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^result: bench=stalls cpu=\d+ seconds=\S+ over_1ms=\d+ over_2ms=\d+ over_5ms=\d+ over_10ms=\d+ worst_ms=\S+ lost_pct=\S+$`)
	if got := len(line.FindAllString(out.String(), -1)); got != set.Count() {
		t.Errorf("%d result lines for %d CPUs:\n%s", got, set.Count(), out.String())
	}
	for _, d := range []string{"0s", "-1s"} {
		err := Run(context.Background(), []string{"bench", "stalls", "--duration", d}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--duration") {
			t.Errorf("--duration %s: error %v, want one naming --duration", d, err)
		}
	}
}

// resultField returns the value of key on the "result:" line of a bench
// command's output, failing the test if there is none.
func resultField(tb testing.TB, out, key string) string {
	tb.Helper()
	m := regexp.MustCompile(`(?m)^result: .*\b` + key + `=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("no %s in the result line:\n%s", key, out)
	}
	return m[1]
}

// TestBenchLoadReadAllPeer runs the national benchmark's commands on a
// small campaign, end to end: `bench load` builds a ledger of 3 units,
// `bench rebuild` replays it, and `bench readall --peer` reads every
// event from parledger and from a real PostgreSQL it first copies them
// into, and reports both rates and their ratio; run twice, the second
// time on the table the first filled, it reports the same events.
func TestBenchLoadReadAllPeer(t *testing.T) {
	peer := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := t.TempDir()
	field := func(out, key string) string { return resultField(t, out, key) }
	var out, progress strings.Builder
	if err := Run(ctx, []string{"bench", "load", "--data", data, "--units", "3"}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	events := field(out.String(), "events")
	if n, err := strconv.Atoi(events); err != nil || n < 3*400 {
		t.Fatalf("bench load wrote %s events for 3 units, want about 510 each:\n%s", events, out.String())
	}
	// The progress bar ends full, on a line of its own.
	if want := "\rimporting [" + strings.Repeat("=", 30) + "] " + events + "/" + events + " (100%)\n"; !strings.HasSuffix(progress.String(), want) {
		t.Errorf("bench load's progress ends %q, want %q", progress.String()[max(0, progress.Len()-80):], want)
	}

	out.Reset()
	if err := Run(ctx, []string{"bench", "rebuild", "--data", data}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := field(out.String(), "events"); got != events {
		t.Errorf("bench rebuild replayed %s events, the load wrote %s", got, events)
	}
	if got := field(out.String(), "units"); got != "3" {
		t.Errorf("bench rebuild found %s units, want 3", got)
	}

	for range 2 {
		out.Reset()
		if err := Run(ctx, []string{"bench", "readall", "--data", data, "--peer", peer}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := field(out.String(), "events"); got != events {
			t.Errorf("bench readall read %s events, the load wrote %s", got, events)
		}
		if !strings.Contains(out.String(), "PostgreSQL: read and decoded "+events+" events") {
			t.Errorf("the peer did not read the same %s events:\n%s", events, out.String())
		}
		for _, key := range []string{"parledger_events_per_s", "postgres_events_per_s", "x_postgres"} {
			if v, err := strconv.ParseFloat(field(out.String(), key), 64); err != nil || v <= 0 {
				t.Errorf("%s = %s, want a positive rate", key, field(out.String(), key))
			}
		}
	}

	err := Run(ctx, []string{"bench", "readall", "--data", data, "--peer", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("readall with an unreachable peer: %v, want an error naming postgres", err)
	}
}

// TestBenchHTTPAndScores runs the HTTP benchmarks' commands against a
// real server on loopback, briefly: `bench http` reads pages of a
// national campaign's rankings (plain and gzipped) and the whole of
// them, `bench scores` opens a campaign of its own and records self
// scores through the API; each reports requests and no errors, and the
// scores are in the ledger afterwards. A campaign that does not exist is
// a clear error.
func TestBenchHTTPAndScores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := Run(ctx, []string{"bench", "load", "--data", dir, "--units", "3"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var tok strings.Builder
	if err := Run(ctx, []string{"token", "create", "--data", dir, "--id", "bench-home-affairs", "--role", "home-affairs", "--ttl", "1h"}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(tok.String())
	m := MustRunMain(t, dir)
	url := m.Server.URL()
	field := func(out, key string) float64 {
		t.Helper()
		s := resultField(t, out, key)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s=%s: %v", key, s, err)
		}
		return v
	}
	var kib []float64 // per response: pages of 2, gzipped, the whole rankings
	for _, args := range [][]string{
		{"--limit", "2"}, {"--limit", "2", "--gzip"}, {},
	} {
		var out strings.Builder
		args = append([]string{"bench", "http", "--url", url, "--token", token, "--campaign", "quoc-gia", "--clients", "4", "--duration", "300ms"}, args...)
		if err := Run(ctx, args, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if field(out.String(), "requests") < 1 || field(out.String(), "errors") != 0 {
			t.Errorf("%v: %s", args, out.String())
		}
		kib = append(kib, field(out.String(), "kib_per_response"))
	}
	if !(0 < kib[1] && kib[1] < kib[0] && kib[0] < kib[2]) {
		t.Errorf("KiB per response: page %.2f, gzipped page %.2f, whole rankings %.2f; want 0 < gzipped < page < whole", kib[0], kib[1], kib[2])
	}
	err := Run(ctx, []string{"bench", "http", "--url", url, "--token", token, "--campaign", "khong-co", "--clients", "2", "--duration", "100ms"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no request succeeded") {
		t.Errorf("bench http on a campaign that does not exist: %v", err)
	}

	before, err := m.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Run(ctx, []string{"bench", "scores", "--url", url, "--token", token, "--clients", "4", "--duration", "300ms"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	requests := field(out.String(), "requests")
	if requests < 1 || field(out.String(), "errors") != 0 {
		t.Fatalf("bench scores: %s", out.String())
	}
	after, err := m.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each score request records one event, after the campaign, its units
	// and their credentials.
	if got := float64(after - before); got < requests {
		t.Errorf("the ledger grew by %v events for %v score requests", got, requests)
	}
}
