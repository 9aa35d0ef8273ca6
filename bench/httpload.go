package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// HTTPResult is what HTTPLoad measured.
type HTTPResult struct {
	Clients  int
	Requests int
	// Errors counts requests that failed or were not answered 2xx.
	Errors  int
	Elapsed time.Duration
	Latency Latencies
	// Bytes is the size of the response bodies, as sent.
	Bytes int64
	// FirstError is the first failure, for the report.
	FirstError string
}

// RequestsPerSecond is the rate of answered requests.
func (r HTTPResult) RequestsPerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r HTTPResult) String() string {
	s := fmt.Sprintf("%d clients: %d requests in %s, %.0f requests/s, %s, %.1f KiB per response, %d errors",
		r.Clients, r.Requests, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond(), r.Latency, float64(r.Bytes)/float64(max(r.Requests, 1))/1024, r.Errors)
	if r.FirstError != "" {
		s += " (first: " + r.FirstError + ")"
	}
	return s
}

// HTTPLoad has clients goroutines, each with a keep-alive connection of
// its own, send the requests newRequest makes (client c's i-th), each as
// soon as the previous answer has been read, for d (a closed loop, as
// wrk does). It measures each request's latency, from sending to the
// last byte of the answer. The client does not decompress: a response
// sent gzipped counts its compressed bytes.
//
// Each client writes its requests and reads the answers on its own
// connection with net/http's HTTP/1.1 codec (Request.Write,
// ReadResponse), as wrk does with its own, rather than through an
// http.Transport, whose goroutines and channels per connection take CPU
// that, on a machine the server shares, is taken from the server being
// measured (pages of 100 rows of the national rankings, 5 interleaved
// rounds: 11,000 -> 13,200 requests/s, p99 19.3 -> 16.7 ms). A
// connection the server closes, or that fails, is dialled again for the
// next request.
func HTTPLoad(ctx context.Context, clients int, d time.Duration, newRequest func(c, i int) (*http.Request, error)) HTTPResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		res = HTTPResult{Clients: clients}
		all []time.Duration
		wg  sync.WaitGroup
	)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A page of rankings is about 100 KiB: read through 64 KiB
			// rather than bufio's default 4 KiB.
			lc := &loadConn{br: bufio.NewReaderSize(nil, 64<<10), bw: bufio.NewWriter(nil)}
			// The end of the run closes the connection, so that a
			// request waiting for its answer ends too.
			stop := context.AfterFunc(ctx, lc.close)
			defer stop()
			defer lc.close()
			var lat []time.Duration
			var n, errs int
			var bytes int64
			var first string
			for i := 0; ctx.Err() == nil; i++ {
				req, err := newRequest(c, i)
				if err != nil {
					errs, first = errs+1, err.Error()
					break
				}
				t := time.Now()
				m, err := lc.roundTrip(req)
				if ctx.Err() != nil {
					break // cut short by the end of the run: not counted
				}
				bytes += m
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t))
				n++
			}
			mu.Lock()
			res.Requests += n
			res.Errors += errs
			res.Bytes += bytes
			all = append(all, lat...)
			if res.FirstError == "" {
				res.FirstError = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Latency = Summarize(all)
	return res
}

// loadConn is one client's connection, dialled when first needed and
// again after it was dropped; close ends it for good (from any
// goroutine: the end of the run), while the client's goroutine alone
// dials, sends and reads, through br and bw, which each dial resets.
type loadConn struct {
	br *bufio.Reader
	bw *bufio.Writer

	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// close closes the connection and keeps roundTrip from dialling again.
func (lc *loadConn) close() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.closed = true
	if lc.conn != nil {
		lc.conn.Close()
	}
}

// drop closes the connection after a failure or the server's
// "Connection: close"; the next request dials again.
func (lc *loadConn) drop() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.conn != nil {
		lc.conn.Close()
		lc.conn = nil
	}
}

// dial connects to u's host (port 80 unless it names one) unless the
// connection is closed for good.
func (lc *loadConn) dial(u *url.URL) error {
	if u.Scheme != "http" {
		return fmt.Errorf("%s: the load client speaks HTTP/1.1 without TLS: give an http:// URL", u.Redacted())
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).Dial("tcp", addr)
	if err != nil {
		return err
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closed {
		c.Close()
		return net.ErrClosed
	}
	lc.conn = c
	lc.br.Reset(c)
	lc.bw.Reset(c)
	return nil
}

// roundTrip sends req and reads its answer to the end, within 30
// seconds: it returns the body's size, and an error for a failure or a
// status other than 2xx.
func (lc *loadConn) roundTrip(req *http.Request) (int64, error) {
	if lc.conn == nil {
		if err := lc.dial(req.URL); err != nil {
			return 0, err
		}
	}
	_ = lc.conn.SetDeadline(time.Now().Add(30 * time.Second))
	err := req.Write(lc.bw)
	if err == nil {
		err = lc.bw.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(lc.br, req)
	}
	if err != nil {
		lc.drop()
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		lc.drop()
	}
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return n, err
}
