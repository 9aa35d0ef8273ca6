package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv, set in a test binary's environment, makes it run parledger
// with its arguments instead of the tests: tests start the real server as
// a child process this way, to kill it.
const childEnv = "PARLEDGER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// childMain is main() of a child process.
func childMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parledger:", err)
		return 1
	}
	return 0
}

// serverProc is `parledger serve` running as a child process on a fixed
// loopback address and data directory, so that it can be killed and
// started again where it was.
type serverProc struct {
	tb   testing.TB
	dir  string
	addr string
	args []string
	// log collects the children's standard output and error, across
	// restarts.
	log *os.File
	cmd *exec.Cmd
	// exited is closed when the process has exited, with exitErr its
	// status (nil for 0).
	exited  chan struct{}
	exitErr error
	// Starts counts the processes started.
	Starts int
}

// freeLoopbackAddr returns a loopback address with a port nothing listens
// on now.
func freeLoopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// mustStartServer starts `parledger serve --data dir` with extra flags as a
// child process on a free loopback port and waits until it is ready. The
// process is killed when the test ends, if it still runs.
func mustStartServer(tb testing.TB, dir string, extra ...string) *serverProc {
	tb.Helper()
	log, err := os.Create(filepath.Join(tb.TempDir(), "server.log"))
	if err != nil {
		tb.Fatal(err)
	}
	p := &serverProc{tb: tb, dir: dir, addr: freeLoopbackAddr(tb), log: log}
	p.args = append([]string{"serve", "--addr", p.addr, "--data", dir}, extra...)
	tb.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		_ = log.Close()
	})
	p.start()
	return p
}

// URL returns the server's base URL.
func (p *serverProc) URL() string { return "http://" + p.addr }

func (p *serverProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start starts a new process and waits until /readyz answers 200.
func (p *serverProc) start() {
	p.tb.Helper()
	cmd := exec.Command(os.Args[0], p.args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.tb.Fatalf("start the server: %v", err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.Starts = cmd, exited, p.Starts+1
	go func() {
		p.exitErr = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	cl := &http.Client{Timeout: 2 * time.Second}
	for {
		if !p.running() {
			p.tb.Fatalf("the server exited while starting: %v\n%s", p.exitErr, p.Log())
		}
		if resp, err := cl.Get(p.URL() + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("the server was not ready within 90 s\n%s", p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would.
func (p *serverProc) kill() {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.tb.Fatalf("kill: %v", err)
	}
	<-p.exited
}

// stop sends sig and waits up to timeout for the process to exit; it
// returns how long the exit took and its error (nil for status 0).
func (p *serverProc) stop(sig syscall.Signal, timeout time.Duration) (time.Duration, error) {
	p.tb.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.tb.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.exited:
		return time.Since(start), p.exitErr
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.tb.Fatalf("the server did not exit within %s of %v\n%s", timeout, sig, p.Log())
		return time.Since(start), p.exitErr
	}
}

// Log returns what the processes printed so far.
func (p *serverProc) Log() string {
	b, _ := os.ReadFile(p.log.Name())
	return string(b)
}

// apiCall is one HTTP request, built again for each attempt.
type apiCall struct {
	method, path, token string
	body                []byte
	ctype               string
	key                 string // Idempotency-Key
	ifMatch             string
}

// send makes one attempt of c against base.
func send(ctx context.Context, cl *http.Client, base string, c apiCall) (int, http.Header, []byte, error) {
	var rd io.Reader
	if c.body != nil {
		rd = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, base+c.path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	if c.ifMatch != "" {
		req.Header.Set("If-Match", c.ifMatch)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// jsonCall is an apiCall with a JSON body.
func jsonCall(method, path, token string, v any) apiCall {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // test bodies are maps of strings and numbers
	}
	return apiCall{method: method, path: path, token: token, body: b, ctype: "application/json"}
}

// evidenceCall is an apiCall uploading file as evidence for item.
func evidenceCall(path, token, item, title string, file []byte) apiCall {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("item", item)
	_ = mw.WriteField("title", title)
	fw, _ := mw.CreateFormFile("file", "tai-lieu.pdf")
	_, _ = fw.Write(file)
	_ = mw.Close()
	return apiCall{method: "POST", path: path, token: token, body: buf.Bytes(), ctype: mw.FormDataContentType()}
}

// eventIDs returns the event ids of a write's answer.
func eventIDs(body []byte) ([]string, error) {
	var w struct {
		Events []struct{ ID, Stream string }
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode %s: %w", body, err)
	}
	ids := make([]string, len(w.Events))
	for i, e := range w.Events {
		ids[i] = e.ID
	}
	return ids, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
