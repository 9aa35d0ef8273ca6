// Command tracewait reads a Go execution trace (from `parledger serve
// --debug-addr`'s /debug/pprof/trace, or runtime/trace) and prints how
// long goroutines waited to run once they could: from the moment a
// goroutine became runnable to the moment it ran, grouped by what it had
// been waiting for (the top of its stack when it blocked), with the
// count, the total and the percentiles of each group. It also counts the
// goroutines' running spells longer than a millisecond, which in a server
// whose requests take microseconds of CPU are mostly its thread being
// descheduled by the kernel, or the virtual CPU stopped by the host,
// while it held a Go processor.
//
//	go run . trace.out
//
// docs/benchmarks.md uses it to show where a rankings request's latency
// goes under load. It is a module of its own so that parledger itself
// does not depend on golang.org/x/exp.
package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tracewait TRACE")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tracewait:", err)
		os.Exit(1)
	}
}

// frames is how many frames of a blocking stack name a group.
const frames = 5

func run(path string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var (
		blockedOn = map[trace.GoID]string{}     // why each waiting goroutine waits
		readyAt   = map[trace.GoID]trace.Time{} // when each runnable goroutine became so
		readyWhy  = map[trace.GoID]string{}
		runAt     = map[trace.GoID]trace.Time{} // when each running goroutine began
		waits     = map[string][]time.Duration{}
		all       []time.Duration
		spells    int
		long      []time.Duration // running spells over a millisecond
		ran       time.Duration
		first     trace.Time
		last      trace.Time
	)
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		if from == trace.GoRunning {
			if t, ok := runAt[id]; ok {
				d := time.Duration(ev.Time() - t)
				ran += d
				spells++
				if d > time.Millisecond {
					long = append(long, d)
				}
				delete(runAt, id)
			}
		}
		switch to {
		case trace.GoWaiting:
			blockedOn[id] = describe(st.Reason, ev.Stack())
		case trace.GoRunnable:
			readyAt[id] = ev.Time()
			switch from {
			case trace.GoWaiting:
				why, ok := blockedOn[id]
				if !ok {
					why = "(blocked before the trace began)"
				}
				readyWhy[id] = "waited: " + why
			case trace.GoNotExist:
				readyWhy[id] = "new goroutine"
			case trace.GoSyscall:
				readyWhy[id] = "back from a system call without a processor"
			case trace.GoRunning:
				readyWhy[id] = "preempted or yielded"
			default:
				readyWhy[id] = from.String()
			}
		case trace.GoRunning:
			runAt[id] = ev.Time()
			if t, ok := readyAt[id]; ok {
				d := time.Duration(ev.Time() - t)
				waits[readyWhy[id]] = append(waits[readyWhy[id]], d)
				all = append(all, d)
				delete(readyAt, id)
			}
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("%s: no goroutine became runnable and ran in this trace", path)
	}
	fmt.Fprintf(out, "trace of %v: %d goroutines ran after waiting to run; %s\n",
		time.Duration(last-first).Round(time.Millisecond), len(all), summary(all))
	keys := make([]string, 0, len(waits))
	for k := range waits {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(total(waits[b]), total(waits[a])) })
	for _, k := range keys {
		fmt.Fprintf(out, "\n%s\n    %s\n", k, summary(waits[k]))
	}
	slices.Sort(long)
	var held time.Duration
	for _, d := range long {
		held += d
	}
	fmt.Fprintf(out, "\nrunning spells: %d, %v in all; %d over 1 ms hold %v (%.0f%%)", spells, ran.Round(time.Millisecond), len(long), held.Round(time.Millisecond), 100*float64(held)/float64(max(ran, 1)))
	if len(long) > 0 {
		fmt.Fprintf(out, ", median %v, longest %v", long[len(long)/2].Round(time.Microsecond), long[len(long)-1].Round(time.Microsecond))
	}
	fmt.Fprintln(out)
	return nil
}

// describe names a blocking: the runtime's reason and the top frames.
func describe(reason string, st trace.Stack) string {
	var b strings.Builder
	b.WriteString(reason)
	n := 0
	for f := range st.Frames() {
		if n == frames {
			break
		}
		b.WriteString(" < ")
		b.WriteString(f.Func)
		n++
	}
	return b.String()
}

// total is the sum of ds.
func total(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// summary gives the count, total and percentiles of ds (sorted in place).
func summary(ds []time.Duration) string {
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(float64(len(ds)-1)*p)].Round(time.Microsecond) }
	return fmt.Sprintf("n=%d total=%v mean=%v p50=%v p90=%v p99=%v max=%v",
		len(ds), total(ds).Round(time.Millisecond), (total(ds) / time.Duration(len(ds))).Round(time.Microsecond),
		q(0.5), q(0.9), q(0.99), ds[len(ds)-1].Round(time.Microsecond))
}
