package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	ledgerhttp "github.com/parledger/parledger/http"
)

// TestDashboardPage serves the page and its files with a strict
// Content-Security-Policy and the other protective headers, and checks
// that nothing in them needs the policy relaxed.
func TestDashboardPage(t *testing.T) {
	ts := MustOpenServer(t)
	anon := ts.Anonymous(t)

	page := anon.Must(200, "GET", "/", nil)
	if ct := page.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	checkSecurityHeaders(t, "/", page.Header)
	html := string(page.Body)
	for _, want := range []string{`<html lang="vi">`, `<meta charset="utf-8">`, `src="/assets/app.js"`, `href="/assets/style.css"`, "Xếp hạng trực tiếp", "Khối quận, huyện, thị xã"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// No inline script, no inline style, no event-handler attributes, no
	// javascript: URLs: all would need the policy relaxed.
	for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*</script>`).FindAllString(html, -1) {
		if !regexp.MustCompile(`^<script type="module" src="/assets/[a-z]+\.js"></script>$`).MatchString(tag) {
			t.Errorf("the page has a script that is not a module file: %s", tag)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<style\b`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`javascript:`),
		regexp.MustCompile(`https?://`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("the page holds %q, which the policy forbids or which leaves the server", m)
		}
	}

	// Every file the page and its modules load is served with its type.
	files := map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
	queue := []string{"app.js"}
	imports := regexp.MustCompile(`(?m)^import .* from '\./([a-z]+\.js)';`)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		r := anon.Must(200, "GET", "/assets/"+name, nil)
		for _, m := range imports.FindAllStringSubmatch(string(r.Body), -1) {
			if _, seen := files[m[1]]; !seen {
				files[m[1]] = "text/javascript; charset=utf-8"
				queue = append(queue, m[1])
			}
		}
	}
	if len(files) < 6 {
		t.Errorf("found %d files, want the page's modules (app, api, chart, format), style and icon: %v", len(files), files)
	}
	for name, ctype := range files {
		r := anon.Must(200, "GET", "/assets/"+name, nil)
		if got := r.Header.Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type = %q, want %q", name, got, ctype)
		}
		checkSecurityHeaders(t, name, r.Header)
		src := string(r.Body)
		// The page's policy has no 'unsafe-eval' and enforces Trusted
		// Types; the credential lives in this tab only.
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout('", "localStorage", "cookie", "http://", "https://", "?token", "&token"} {
			if strings.Contains(src, bad) && !(bad == "http://" && name == "chart.js" || bad == "http://" && name == "favicon.svg") {
				t.Errorf("%s uses %q", name, bad)
			}
		}
		// Revalidation: the ETag answers 304.
		etag := r.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s has no ETag", name)
			continue
		}
		anon.Must(304, "GET", "/assets/"+name, nil, "If-None-Match", etag)
	}
	if r := anon.Do("GET", "/assets/nope.js", nil); r.Status != 404 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown file: status %d %s, want 404 problem", r.Status, r.Header.Get("Content-Type"))
	}
	anon.Must(200, "HEAD", "/", nil)
	anon.Must(405, "POST", "/", nil)
	if r := anon.Do("GET", "/assets/../auth.go", nil); r.Status == 200 {
		t.Errorf("/assets/../auth.go answered 200")
	}
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:", "http:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: Content-Security-Policy %q allows %q", what, csp, bad)
		}
	}
	for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %s = %q, want %q", what, name, got, want)
		}
	}
}

// sseEvent is one event of a stream; comments come as event ":".
type sseEvent struct {
	ID, Event, Data string
}

// liveStream is an open GET .../live.
type liveStream struct {
	Resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
}

// openLive opens a live stream with token (none for the public) and, if
// set, Last-Event-ID. It returns the response and, when it is 200, a
// stream whose events can be read; the stream is closed when the test
// ends.
func openLive(t *testing.T, ts *TestServer, path, token, lastID string, header ...string) (*http.Response, *liveStream) {
	t.Helper()
	return openLiveURL(t, ts.Server.URL()+path, token, lastID, header...)
}

// openLiveURL is openLive for a stream at url.
func openLiveURL(t *testing.T, url, token, lastID string, header ...string) (*http.Response, *liveStream) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// No client timeout: a stream lasts; the context ends it.
	resp, err := liveClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != 200 {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp, nil
	}
	s := &liveStream{Resp: resp, events: make(chan sseEvent, 64), cancel: cancel, done: make(chan struct{})}
	go s.read()
	t.Cleanup(s.Close)
	return resp, s
}

var liveClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}

func (s *liveStream) read() {
	defer close(s.done)
	defer close(s.events)
	br := bufio.NewReader(s.Resp.Body)
	var ev sseEvent
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.Event != "" || len(data) > 0 {
				ev.Data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{Event: ":", Data: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				data = append(data, value)
			case "retry":
				s.events <- sseEvent{Event: "retry", Data: value}
			}
		}
	}
}

// Close ends the stream and waits for its reader.
func (s *liveStream) Close() {
	s.cancel()
	<-s.done
	s.Resp.Body.Close()
}

// next returns the next event other than retry fields and heartbeats,
// or fails the test after timeout.
func (s *liveStream) next(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	ev, ok := s.nextWithin(timeout)
	if !ok {
		t.Fatalf("no event within %s", timeout)
	}
	return ev
}

// nextWithin returns the next real event, or false when none comes within
// timeout or the stream ends.
func (s *liveStream) nextWithin(timeout time.Duration) (sseEvent, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.Event == "retry" || ev.Event == ":" {
				continue
			}
			return ev, true
		case <-deadline:
			return sseEvent{}, false
		}
	}
}

// untilID reads rankings events until the one with id pos, and fails the
// test if the ids do not rise or pos does not come within timeout.
func (s *liveStream) untilID(t *testing.T, pos uint64, timeout time.Duration) sseEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last uint64
	for {
		ev, ok := s.nextWithin(time.Until(deadline))
		if !ok {
			t.Fatalf("no event with id %d within %s (last %d)", pos, timeout, last)
		}
		id, err := strconv.ParseUint(ev.ID, 10, 64)
		if ev.Event != "rankings" || err != nil || id <= last || id > pos {
			t.Fatalf("event %q id %q after %d, want rankings up to id %d", ev.Event, ev.ID, last, pos)
		}
		if id == pos {
			return ev
		}
		last = id
	}
}

// sameJSON reports whether two JSON documents hold the same values.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// indexOf returns a unit's index in a rankings document.
func indexOf(t *testing.T, data string, unit string) string {
	t.Helper()
	var rk rankingsBody
	if err := json.Unmarshal([]byte(data), &rk); err != nil {
		t.Fatalf("decode rankings: %v", err)
	}
	for _, b := range rk.Blocks {
		for _, r := range b.Rows {
			if r.UnitCode == unit {
				return r.Score.Index
			}
		}
	}
	t.Fatalf("unit %s is not in the rankings", unit)
	return ""
}

// TestLive follows the fixture campaign's live rankings: the first event
// is what the rankings API answers, each change brings a new snapshot, and
// a client that reconnects with Last-Event-ID misses nothing.
func TestLive(t *testing.T) {
	f := MustOpenCampaign(t)
	live := "/api/v1/campaigns/" + f.Campaign + "/live"
	rankings := "/api/v1/campaigns/" + f.Campaign + "/rankings"

	t.Run("OK", func(t *testing.T) {
		resp, s := openLive(t, f.TestServer, live, f.HomeAffairs, "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		if !resp.Uncompressed {
			t.Errorf("the stream was not gzipped for a client that accepts gzip")
		}
		first := s.next(t, 5*time.Second)
		api := f.As(t, f.HomeAffairs).Must(200, "GET", rankings, nil)
		var rk rankingsBody
		api.JSON(t, &rk)
		if first.Event != "rankings" || first.ID != strconv.FormatUint(rk.Position, 10) {
			t.Errorf("first event %q id %q, want rankings id %d", first.Event, first.ID, rk.Position)
		}
		if !sameJSON(t, []byte(first.Data), api.Body) {
			t.Errorf("the event's data is not what the rankings API answers:\n%s\n%s", first.Data, api.Body)
		}
		if got := indexOf(t, first.Data, "005"); got != "0" {
			t.Errorf("005 starts at %s, want 0", got)
		}

		// The write answers once the projections show it: the stream
		// reaches the rankings API's new position (after, perhaps, a
		// snapshot taken while the batch was being applied).
		f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", fullSelfScores("2.5", "10", "7.5", "6"))
		api = f.As(t, f.HomeAffairs).Must(200, "GET", rankings, nil)
		var after rankingsBody
		api.JSON(t, &after)
		if after.Position <= rk.Position {
			t.Fatalf("the rankings' position did not move: %d", after.Position)
		}
		ev := s.untilID(t, after.Position, 5*time.Second)
		// 26 self points of 40, provisional: 65%.
		if got := indexOf(t, ev.Data, "005"); got != "65" {
			t.Errorf("005 index = %s, want 65", got)
		}
		if !sameJSON(t, []byte(ev.Data), api.Body) {
			t.Errorf("the new snapshot is not what the rankings API answers")
		}
	})

	t.Run("Resume", func(t *testing.T) {
		_, s := openLive(t, f.TestServer, live, f.Auditor, "")
		last := s.next(t, 5*time.Second)
		s.Close()

		// Up to date: nothing is sent until something changes.
		_, s = openLive(t, f.TestServer, live, f.Auditor, last.ID)
		if ev, ok := s.nextWithin(700 * time.Millisecond); ok {
			t.Errorf("a client with the current id got %q id %s", ev.Event, ev.ID)
		}
		s.Close()

		// Behind: a change while it was away comes at once on reconnect.
		f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "5", "5", "3"))
		_, s = openLive(t, f.TestServer, live, f.Auditor, last.ID)
		ev := s.next(t, 2*time.Second)
		if ev.Event != "rankings" || ev.ID == last.ID {
			t.Fatalf("reconnect after a change: event %q id %s, want a new snapshot after %s", ev.Event, ev.ID, last.ID)
		}
		if got := indexOf(t, ev.Data, "001"); got != "38.75" {
			t.Errorf("001 index = %s, want 38.75 (15.5 of 40)", got)
		}
		s.Close()

		// A malformed id counts as none: the snapshot comes at once.
		_, s = openLive(t, f.TestServer, live, f.Auditor, "not-a-number")
		if ev := s.next(t, 2*time.Second); ev.Event != "rankings" {
			t.Errorf("malformed Last-Event-ID: got %q, want rankings", ev.Event)
		}
	})

	t.Run("Burst", func(t *testing.T) {
		_, s := openLive(t, f.TestServer, live, f.Auditor, "")
		s.next(t, 5*time.Second)
		// Ten writes in a row arrive as at most a few snapshots, the last
		// showing the last write.
		for i := 0; i < 10; i++ {
			f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.1.2", "points": strconv.Itoa(i), "note": "Báo cáo"}}})
		}
		var got []sseEvent
		for {
			ev, ok := s.nextWithin(1500 * time.Millisecond)
			if !ok {
				break
			}
			got = append(got, ev)
		}
		if len(got) == 0 || len(got) > 10 {
			t.Fatalf("%d snapshots for 10 writes", len(got))
		}
		// 2.5 + 9 + 5 + 3 = 19.5 of 40.
		if idx := indexOf(t, got[len(got)-1].Data, "001"); idx != "48.75" {
			t.Errorf("last snapshot: 001 index = %s, want 48.75", idx)
		}
		t.Logf("10 writes, %d snapshots", len(got))
	})

	t.Run("Block", func(t *testing.T) {
		_, s := openLive(t, f.TestServer, live+"?block=so", f.Auditor, "")
		var rk rankingsBody
		if err := json.Unmarshal([]byte(s.next(t, 5*time.Second).Data), &rk); err != nil {
			t.Fatal(err)
		}
		if len(rk.Blocks) != 1 || rk.Blocks[0].Block != "so" || len(rk.Blocks[0].Rows) != 1 {
			t.Errorf("?block=so: %+v", rk.Blocks)
		}
	})

	t.Run("UnitSeesItself", func(t *testing.T) {
		_, s := openLive(t, f.TestServer, live, f.Unit005, "")
		var rk rankingsBody
		if err := json.Unmarshal([]byte(s.next(t, 5*time.Second).Data), &rk); err != nil {
			t.Fatal(err)
		}
		var units []string
		for _, b := range rk.Blocks {
			for _, r := range b.Rows {
				units = append(units, r.UnitCode)
			}
		}
		if !reflect.DeepEqual(units, []string{"005"}) {
			t.Errorf("before publication unit 005 sees %v, want only itself", units)
		}
	})

	t.Run("NoGzip", func(t *testing.T) {
		resp, s := openLive(t, f.TestServer, live, f.Auditor, "", "Accept-Encoding", "identity")
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Content-Encoding %q for a client that takes none", resp.Header.Get("Content-Encoding"))
		}
		if ev := s.next(t, 5*time.Second); ev.Event != "rankings" {
			t.Errorf("got %q", ev.Event)
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, token string
			status            int
		}{
			{"public, unpublished", live, "", 404},
			{"bad token", live, "plt_nope", 401},
			{"unknown campaign", "/api/v1/campaigns/khong-co/live", f.Auditor, 404},
			{"bad block", live + "?block=xa", f.Auditor, 400},
		} {
			resp, _ := openLive(t, f.TestServer, tc.path, tc.token, "")
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: Content-Type %q, want a problem", tc.name, ct)
			}
		}
		if r := f.As(t, f.Auditor).Do("POST", live, nil); r.Status != 405 {
			t.Errorf("POST: status %d, want 405", r.Status)
		}
	})

	t.Run("ErrRevoked", func(t *testing.T) {
		secret, id := f.mustIssue(t, domain.Principal{ID: "kiem-toan-tam", Role: domain.RoleAuditor})
		_, s := openLive(t, f.TestServer, live, secret, "")
		s.next(t, 5*time.Second)
		f.As(t, f.HomeAffairs).Must(200, "DELETE", "/api/v1/tokens/"+id, nil)
		// The revocation is an event: the stream wakes, finds the
		// credential gone, says so and ends.
		ev := s.next(t, 5*time.Second)
		for ev.Event == "rankings" {
			ev = s.next(t, 5*time.Second)
		}
		if ev.Event != "error" || !strings.Contains(ev.Data, `"unauthorized"`) {
			t.Errorf("after revocation: %q %s, want an unauthorized error", ev.Event, ev.Data)
		}
		if ev, ok := s.nextWithin(2 * time.Second); ok {
			t.Errorf("the stream went on after the error: %q", ev.Event)
		}
	})
}

// TestLivePublic follows a campaign through its publication: the public
// may not follow it before, a unit's stream widens from its own line to
// every unit when the results are published, and the public may follow
// it after.
func TestLivePublic(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	live := "/api/v1/campaigns/" + f.Campaign + "/live"
	if resp, _ := openLive(t, f.TestServer, live, "", ""); resp.StatusCode != 404 {
		t.Errorf("public before publication: status %d, want 404", resp.StatusCode)
	}
	_, unit := openLive(t, f.TestServer, live, f.Unit005, "")
	unit.next(t, 5*time.Second)

	admin.Must(201, "PUT", "/api/v1/campaigns/"+f.Campaign+"/deadlines/self-assessment", map[string]any{"due": day(-1)})
	for _, a := range []string{f.A001, f.A005, f.A009, f.ASNV} {
		f.mustAppraise(t, a, "2.5", "8", "6", "5", "3")
		admin.Must(201, "POST", a+"/finalization", nil)
	}
	admin.Must(201, "POST", "/api/v1/campaigns/"+f.Campaign+"/publication", map[string]any{"decisionNumber": "12/QĐ-UBND", "decisionDate": day(0)})

	rows := func(data string) (n int, published bool) {
		var rk struct {
			Published *struct{ DecisionNumber string } `json:"published"`
			Blocks    []struct{ Rows []struct{ UnitCode string } }
		}
		if err := json.Unmarshal([]byte(data), &rk); err != nil {
			t.Fatal(err)
		}
		for _, b := range rk.Blocks {
			n += len(b.Rows)
		}
		return n, rk.Published != nil
	}
	for {
		ev := unit.next(t, 5*time.Second)
		if n, published := rows(ev.Data); published {
			if n != len(fixtureUnits) {
				t.Errorf("after publication unit 005 sees %d units, want %d", n, len(fixtureUnits))
			}
			break
		} else if n != 1 {
			t.Fatalf("before publication unit 005 sees %d units, want 1", n)
		}
	}
	_, public := openLive(t, f.TestServer, live, "", "")
	ev := public.next(t, 5*time.Second)
	if n, published := rows(ev.Data); ev.Event != "rankings" || !published || n != len(fixtureUnits) {
		t.Errorf("public stream: %q with %d units, published %v; want the published rankings of %d", ev.Event, n, published, len(fixtureUnits))
	}
}

// TestLiveLimit refuses one stream more than MaxLiveStreams with 503 and
// Retry-After, and takes a new one once another has closed.
func TestLiveLimit(t *testing.T) {
	f := MustOpenCampaign(t)
	live := "/api/v1/campaigns/" + f.Campaign + "/live"
	streams := make([]*liveStream, 0, ledgerhttp.MaxLiveStreams)
	for range ledgerhttp.MaxLiveStreams {
		resp, s := openLive(t, f.TestServer, live, f.Auditor, "")
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: status %d", len(streams)+1, resp.StatusCode)
		}
		streams = append(streams, s)
	}
	resp, _ := openLive(t, f.TestServer, live, f.Auditor, "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d: status %d, Retry-After %q; want 503 with Retry-After", ledgerhttp.MaxLiveStreams+1, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	streams[0].Close()
	// The server sees the client go when its next write or read fails:
	// give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := openLive(t, f.TestServer, live, f.Auditor, "")
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing a stream: status %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLiveShutdown ends open streams when the server shuts down, so that
// Shutdown does not wait for them until its deadline.
func TestLiveShutdown(t *testing.T) {
	f := MustOpenCampaign(t)
	_, s := openLive(t, f.TestServer, "/api/v1/campaigns/"+f.Campaign+"/live", f.Auditor, "")
	s.next(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := f.Server.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s with a stream open", d)
	}
	ev, ok := s.nextWithin(2 * time.Second)
	if !ok || ev.Event != "bye" {
		t.Errorf("at shutdown: %q, want bye", ev.Event)
	}
	if _, ok := s.nextWithin(2 * time.Second); ok {
		t.Errorf("the stream went on after bye")
	}
}

// TestLiveOutlivesTimeouts follows a stream served by an http.Server
// whose read and write timeouts are one second: the stream lifts the
// first and bounds each write instead, so it lasts.
func TestLiveOutlivesTimeouts(t *testing.T) {
	f := MustOpenCampaign(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.Server.Handler(), ReadTimeout: time.Second, WriteTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, s := openLiveURL(t, "http://"+ln.Addr().String()+"/api/v1/campaigns/"+f.Campaign+"/live", f.Auditor, "")
	s.next(t, 5*time.Second)
	time.Sleep(2500 * time.Millisecond)
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", fullSelfScores("2.5", "10", "7.5", "6"))
	var rk rankingsBody
	f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/rankings", nil).JSON(t, &rk)
	if ev := s.untilID(t, rk.Position, 3*time.Second); indexOf(t, ev.Data, "005") != "65" {
		t.Errorf("2.5 s past the server's timeouts: 005 at %s, want 65", indexOf(t, ev.Data, "005"))
	}
}

// TestLiveHeartbeat sends a comment line on an idle stream every
// LiveHeartbeat.
func TestLiveHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a heartbeat (15 s)")
	}
	t.Parallel()
	f := MustOpenCampaign(t)
	_, s := openLive(t, f.TestServer, "/api/v1/campaigns/"+f.Campaign+"/live", f.Auditor, "")
	first := s.next(t, 5*time.Second)
	deadline := time.After(ledgerhttp.LiveHeartbeat + 5*time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.Event == ":" {
				if ev.Data != "heartbeat "+first.ID {
					t.Errorf("heartbeat %q, want it to name the last id %s", ev.Data, first.ID)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no heartbeat within %s", ledgerhttp.LiveHeartbeat+5*time.Second)
		}
	}
}

// TestLiveConcurrent has many clients follow many writes; each ends on
// the same last snapshot.
func TestLiveConcurrent(t *testing.T) {
	f := MustOpenCampaign(t)
	live := "/api/v1/campaigns/" + f.Campaign + "/live"
	const clients = 8
	streams := make([]*liveStream, clients)
	for i := range streams {
		_, streams[i] = openLive(t, f.TestServer, live, f.Auditor, "")
		streams[i].next(t, 5*time.Second)
	}
	for i := 1; i <= 6; i++ {
		f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "2.1", "points": strconv.Itoa(i), "note": "Báo cáo"}}})
	}
	var want rankingsBody
	f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/rankings", nil).JSON(t, &want)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ev, ok := s.nextWithin(5 * time.Second)
				if !ok {
					errs <- errors.New("a client never saw the last snapshot")
					return
				}
				if ev.ID == strconv.FormatUint(want.Position, 10) {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// screenshotDir returns the folder the browser test saves screenshots in:
// $PARLEDGER_SCREENSHOTS, or screenshots/ at the repository's root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PARLEDGER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "screenshots")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatalf("screenshots folder: %v", err)
	}
	return abs
}
