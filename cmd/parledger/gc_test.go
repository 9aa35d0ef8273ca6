package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestGCPercent checks serve's garbage collector setting: 400 by default,
// the runtime's own when GOGC is set, a negative value refused, and the
// flag's value in force in a running server (its start-up log says so).
func TestGCPercent(t *testing.T) {
	t.Setenv("GOGC", "")
	if got := DefaultConfig().GCPercent; got != DefaultGCPercent {
		t.Errorf("without GOGC: GCPercent %d, want %d", got, DefaultGCPercent)
	}
	t.Setenv("GOGC", "50")
	if got := DefaultConfig().GCPercent; got != 0 {
		t.Errorf("with GOGC=50: GCPercent %d, want 0 (the runtime's)", got)
	}
	err := NewMain(io.Discard, io.Discard).ParseFlags([]string{"--gc-percent", "-5"})
	if err == nil || !strings.Contains(err.Error(), "--gc-percent") {
		t.Errorf("--gc-percent -5: error %v, want one naming --gc-percent", err)
	}

	t.Setenv("GOGC", "")
	srv := mustStartServer(t, t.TempDir(), "--gc-percent", "250")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.Log(), "gc_percent=250") {
		if time.Now().After(deadline) {
			t.Fatalf("the server's log does not say gc_percent=250:\n%s", srv.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
