package bench

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStallsAdd checks the counting of gaps: those up to minGap are the
// loop's pace, longer ones count as lost, under every threshold they pass.
func TestStallsAdd(t *testing.T) {
	s := Stalls{Elapsed: time.Second}
	for _, gap := range []time.Duration{10 * time.Microsecond, minGap, 100 * time.Microsecond, 1500 * time.Microsecond, 3 * time.Millisecond, 12 * time.Millisecond} {
		s.add(gap)
	}
	if want := [len(StallThresholds)]int{3, 2, 1, 1}; s.Over != want {
		t.Errorf("Over %v, want %v", s.Over, want)
	}
	if s.Gaps != 4 || s.Lost != 16600*time.Microsecond || s.Worst != 12*time.Millisecond {
		t.Errorf("Gaps %d, Lost %v, Worst %v; want 4, 16.6ms, 12ms", s.Gaps, s.Lost, s.Worst)
	}
	if got := s.LostShare(); got < 0.01659 || got > 0.01661 {
		t.Errorf("LostShare %v, want 0.0166", got)
	}
}

// TestMeasureStalls spins briefly on every CPU the test may use: one
// result per CPU, each for about the time asked, losing no more than
// that; and a context that ends stops the loops early.
func TestMeasureStalls(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	res, err := MeasureStalls(context.Background(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != set.Count() {
		t.Fatalf("%d results for %d CPUs", len(res), set.Count())
	}
	seen := map[int]bool{}
	for _, s := range res {
		if seen[s.CPU] || !set.IsSet(s.CPU) {
			t.Errorf("CPU %d: measured twice, or not one of this process's", s.CPU)
		}
		seen[s.CPU] = true
		if s.Elapsed < 100*time.Millisecond || s.Elapsed > time.Minute || s.Lost > s.Elapsed || s.Worst > s.Lost {
			t.Errorf("CPU %d: elapsed %v, lost %v, worst %v", s.CPU, s.Elapsed, s.Lost, s.Worst)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err = MeasureStalls(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("an ended context stopped the loops after %v", took)
	}
	for _, s := range res {
		if s.Elapsed > 30*time.Second {
			t.Errorf("CPU %d spun %v after its context ended", s.CPU, s.Elapsed)
		}
	}
}
