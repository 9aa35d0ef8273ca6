package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// TestRun traces a goroutine that waits on a channel for 20 ms and is then
// woken, and one that runs 3 ms without blocking, and checks that
// tracewait reports the wait under its blocking stack and the long
// running spell, besides the other goroutines' waits.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := trace.Start(f); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		waitHere(ch)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	close(ch)
	<-done
	spun := make(chan struct{})
	go func() {
		for start := time.Now(); time.Since(start) < 3*time.Millisecond; {
		}
		close(spun)
	}()
	<-spun
	trace.Stop()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	if err := run(path, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^trace of \S+: [1-9]\d* goroutines ran after waiting to run; n=[1-9]`),
		regexp.MustCompile(`(?m)^waited: chan receive < runtime\.chanrecv1 < \S+\.waitHere( < \S+)*\n    n=1 total=`),
		regexp.MustCompile(`(?m)^running spells: [1-9]\d*, \S+ in all; [1-9]\d* over 1 ms hold `),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %s:\n%s", want, got)
		}
	}

	if err := run(filepath.Join(t.TempDir(), "none"), &out); err == nil {
		t.Error("a missing trace file gave no error")
	}
	if err := os.WriteFile(path, []byte("not a trace"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(path, &out); err == nil {
		t.Error("a file that is not a trace gave no error")
	}
}

//go:noinline
func waitHere(ch chan struct{}) { <-ch }
