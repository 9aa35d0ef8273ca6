package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
