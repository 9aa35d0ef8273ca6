package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
func HTTPLoad(ctx context.Context, clients int, d time.Duration, newRequest func(c, i int) (*http.Request, error)) HTTPResult {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
		// A page of rankings is about 100 KiB: read it through a 64 KiB
		// buffer rather than net/http's 4 KiB, so that the client takes
		// less of the CPU it shares with the server it measures.
		ReadBufferSize: 64 << 10,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
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
				resp, err := client.Do(req.WithContext(ctx))
				if err == nil {
					var m int64
					m, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					bytes += m
					if err == nil && resp.StatusCode/100 != 2 {
						err = fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
					}
				}
				if ctx.Err() != nil {
					break // cut short by the end of the run: not counted
				}
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
