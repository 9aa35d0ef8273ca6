package bench_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parledger/parledger/bench"
)

// loadServer is a real HTTP server on loopback that counts the
// connections it accepted.
func loadServer(t *testing.T, h http.HandlerFunc) (url string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, conns
}

func get(url string) func(c, i int) (*http.Request, error) {
	return func(c, i int) (*http.Request, error) { return http.NewRequest(http.MethodGet, url, nil) }
}

// TestHTTPLoad: each client keeps one connection for the whole run, and
// every answer is counted with its bytes.
func TestHTTPLoad(t *testing.T) {
	body := strings.Repeat("x", 100<<10+7)
	url, conns := loadServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	res := bench.HTTPLoad(context.Background(), 4, 300*time.Millisecond, get(url+"/page"))
	if res.Errors != 0 || res.Requests < 4 {
		t.Fatalf("%d requests, %d errors (%s), want some and none", res.Requests, res.Errors, res.FirstError)
	}
	if res.Bytes != int64(res.Requests)*int64(len(body)) {
		t.Errorf("%d bytes for %d answers of %d", res.Bytes, res.Requests, len(body))
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for 4 clients, want one each", n)
	}
	if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
		t.Errorf("latencies %s", res.Latency)
	}
}

// TestHTTPLoadBodies: each request sends its own body, and a request that
// arrives wrong is answered 400 and counted as an error with its status.
func TestHTTPLoadBodies(t *testing.T) {
	url, _ := loadServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != r.Header.Get("X-Want") {
			http.Error(w, "wrong body", http.StatusBadRequest)
		}
	})
	newRequest := func(c, i int) (*http.Request, error) {
		b := fmt.Sprintf(`{"client":%d,"request":%d}`, c, i)
		req, err := http.NewRequest(http.MethodPost, url+"/scores", strings.NewReader(b))
		req.Header.Set("X-Want", b)
		if c == 1 && i == 2 {
			req.Header.Set("X-Want", "something else")
		}
		return req, err
	}
	res := bench.HTTPLoad(context.Background(), 3, 300*time.Millisecond, newRequest)
	if res.Errors != 1 || !strings.Contains(res.FirstError, "400 Bad Request") {
		t.Fatalf("%d errors (first: %q), want the one wrong body's 400", res.Errors, res.FirstError)
	}
	if res.Requests < 3 {
		t.Errorf("%d requests answered 2xx", res.Requests)
	}
}

// TestHTTPLoadReconnects: a server that closes each connection after its
// answer, and one that cuts a connection off without answering, cost new
// connections, and the failures are counted, not fatal.
func TestHTTPLoadReconnects(t *testing.T) {
	var n atomic.Int64
	url, conns := loadServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Connection", "close")
		io.WriteString(w, "ok")
	})
	res := bench.HTTPLoad(context.Background(), 2, 300*time.Millisecond, get(url))
	if res.Requests < 4 || res.Errors < 1 {
		t.Fatalf("%d requests, %d errors, want both", res.Requests, res.Errors)
	}
	if c := conns.Load(); c < int64(res.Requests+res.Errors) {
		t.Errorf("%d connections for %d requests answered and %d cut off, want one each", c, res.Requests, res.Errors)
	}
}

// TestHTTPLoadEnds: the run ends on time when the server never answers,
// or cannot be reached, and when its context is cancelled.
func TestHTTPLoadEnds(t *testing.T) {
	release := make(chan struct{})
	silent, _ := loadServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()

	start := time.Now()
	res := bench.HTTPLoad(context.Background(), 4, 200*time.Millisecond, get(silent))
	if took := time.Since(start); took > 5*time.Second || res.Requests != 0 || res.Errors != 0 {
		t.Errorf("silent server: %s, %d requests, %d errors; want the end of the run to end them uncounted", took, res.Requests, res.Errors)
	}
	res = bench.HTTPLoad(context.Background(), 2, 200*time.Millisecond, get(gone))
	if res.Requests != 0 || res.Errors == 0 || !strings.Contains(res.FirstError, "refused") {
		t.Errorf("no server: %d requests, %d errors (%s); want errors", res.Requests, res.Errors, res.FirstError)
	}
	res = bench.HTTPLoad(context.Background(), 1, 100*time.Millisecond, get(strings.Replace(silent, "http:", "https:", 1)))
	if res.Requests != 0 || res.Errors == 0 || !strings.Contains(res.FirstError, "give an http:// URL") {
		t.Errorf("https: %d requests, %d errors (%s); want each refused by the client", res.Requests, res.Errors, res.FirstError)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	bench.HTTPLoad(ctx, 2, time.Minute, get(silent))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancelled after 100 ms, ended after %s", took)
	}
}
