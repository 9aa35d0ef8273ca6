package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugServer serves the Go runtime's profiles (net/http/pprof) on a
// listener of its own, --debug-addr, apart from the API: an operator
// takes a CPU profile, a heap profile or an execution trace of the
// running server with `go tool pprof` or `go tool trace`, as
// docs/benchmarks.md does under load. The profiles name the program's
// functions and goroutines, not the ledger's data, but they cost CPU
// while they run and anyone who reaches the address can start them: bind
// it to loopback or a private network, never the public one.
type debugServer struct {
	ln  net.Listener
	srv *http.Server
}

// openDebug listens on addr and serves the profiles in the background.
func openDebug(addr string, logger *slog.Logger) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // the index and every named profile
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	d := &debugServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// A CPU profile or a trace answers after its ?seconds= (30 by
		// default for a profile); the write timeout leaves room for a
		// few minutes of one.
		WriteTimeout: 10 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug server", "err", err)
		}
	}()
	return d, nil
}

// URL returns the base URL of the profiles, e.g.
// "http://127.0.0.1:6060/debug/pprof/".
func (d *debugServer) URL() string { return "http://" + d.ln.Addr().String() + "/debug/pprof/" }

// close stops the debug server at once: a profile in progress is cut
// off, as nothing of the ledger depends on it.
func (d *debugServer) close() error {
	if d == nil {
		return nil
	}
	return d.srv.Close()
}
