package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// StallThresholds are the gap lengths Stalls counts, shortest first.
var StallThresholds = [...]time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}

// minGap is the shortest gap between two readings of the clock that a
// CPU's Stalls counts as time lost: an interrupt's handling takes some
// microseconds, and shorter gaps are the loop's own pace.
const minGap = 50 * time.Microsecond

// Stalls is how often and how long one CPU stopped running a loop that
// only reads the clock: on an idle machine, the time the machine itself
// takes away (interrupts, the kernel's own work, and in a virtual machine
// the host running something else on the virtual CPU). Any work on the
// machine waits through the same stops, whatever it is.
type Stalls struct {
	CPU     int
	Elapsed time.Duration
	// Over counts the gaps longer than each of StallThresholds.
	Over [len(StallThresholds)]int
	// Gaps counts every gap over minGap, and Lost is their total.
	Gaps  int
	Lost  time.Duration
	Worst time.Duration
}

// add counts one gap between two readings of the clock.
func (s *Stalls) add(gap time.Duration) {
	if gap <= minGap {
		return
	}
	s.Gaps++
	s.Lost += gap
	s.Worst = max(s.Worst, gap)
	for i, t := range StallThresholds {
		if gap > t {
			s.Over[i]++
		}
	}
}

// LostShare is the share of the time lost in gaps over minGap.
func (s Stalls) LostShare() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Lost) / float64(s.Elapsed)
}

func (s Stalls) String() string {
	return fmt.Sprintf("CPU %d, %v: gaps over 1 ms %d, 2 ms %d, 5 ms %d, 10 ms %d; worst %v; %.2f%% of the time lost in gaps over %v",
		s.CPU, s.Elapsed.Round(time.Millisecond), s.Over[0], s.Over[1], s.Over[2], s.Over[3], s.Worst.Round(10*time.Microsecond),
		100*s.LostShare(), minGap)
}

// MeasureStalls spins on every CPU this process may use at once, each
// loop on a thread pinned to its CPU, for d (or until ctx ends), and
// returns each CPU's stalls. It keeps every CPU busy meanwhile: run it on
// an otherwise idle machine.
func MeasureStalls(ctx context.Context, d time.Duration) ([]Stalls, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("the CPUs this process may use: %w", err)
	}
	var cpus []int
	for c := 0; len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) > runtime.GOMAXPROCS(0) {
		return nil, fmt.Errorf("%d CPUs but GOMAXPROCS %d: the loops could not all run at once", len(cpus), runtime.GOMAXPROCS(0))
	}
	out := make([]Stalls, len(cpus))
	errs := make([]error, len(cpus))
	var wg sync.WaitGroup
	for i, c := range cpus {
		wg.Go(func() {
			// The thread ends with the goroutine, since it stays locked.
			runtime.LockOSThread()
			var one unix.CPUSet
			one.Set(c)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				errs[i] = fmt.Errorf("pinning a thread to CPU %d: %w", c, err)
				return
			}
			out[i] = spin(ctx, c, d)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// spin reads the clock until d has passed or ctx ends, counting the gaps.
func spin(ctx context.Context, cpu int, d time.Duration) Stalls {
	s := Stalls{CPU: cpu}
	start := time.Now()
	last := start
	for n := 0; ; n++ {
		now := time.Now()
		s.add(now.Sub(last))
		last = now
		if now.Sub(start) >= d || n%4096 == 0 && ctx.Err() != nil {
			break
		}
	}
	s.Elapsed = last.Sub(start)
	return s
}
