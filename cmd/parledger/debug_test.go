package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDebugAddr checks --debug-addr: the runtime's profiles and an
// execution trace are served on their own loopback listener of a running
// server and not on the API's, and addresses that cannot work are refused
// before anything is opened or, when the address is taken, at start.
func TestDebugAddr(t *testing.T) {
	for _, tc := range []struct{ args []string }{
		{[]string{"--debug-addr", "6060"}},
		{[]string{"--debug-addr", "localhost"}},
		{[]string{"--addr", "127.0.0.1:6060", "--debug-addr", "127.0.0.1:6060"}},
	} {
		err := NewMain(io.Discard, io.Discard).ParseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), "--debug-addr") {
			t.Errorf("%q: error %v, want one naming --debug-addr", tc.args, err)
		}
	}

	debugAddr := freeLoopbackAddr(t)
	srv := mustStartServer(t, t.TempDir(), "--debug-addr", debugAddr)
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: reading the body: %v", url, err)
		}
		return resp.StatusCode, body
	}

	base := "http://" + debugAddr + "/debug/pprof/"
	if code, body := get(base + "goroutine?debug=1"); code != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile:")) {
		t.Errorf("goroutine profile: %d %.200q", code, body)
	}
	if code, body := get(base + "heap"); code != http.StatusOK || len(body) == 0 {
		t.Errorf("heap profile: %d, %d bytes", code, len(body))
	}
	// An execution trace begins with its header, "go 1.NN trace".
	if code, body := get(base + "trace?seconds=0.2"); code != http.StatusOK || !bytes.HasPrefix(body, []byte("go 1.")) {
		t.Errorf("trace: %d %.40q", code, body)
	}
	if code, _ := get(srv.URL() + "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("the API's address answered /debug/pprof/ with %d, want 404: the profiles belong on --debug-addr only", code)
	}
	if !strings.Contains(srv.Log(), "serving the runtime's profiles") {
		t.Errorf("the server's log does not say where the profiles are:\n%s", srv.Log())
	}

	// A taken address stops the start with an error naming the flag.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = Run(ctx, []string{"serve", "--addr", freeLoopbackAddr(t), "--data", t.TempDir(), "--quiet", "--debug-addr", taken.Addr().String()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--debug-addr") {
		t.Errorf("--debug-addr on a taken port: error %v, want one naming --debug-addr", err)
	}
}
