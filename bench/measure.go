package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
)

// Latencies summarises a sample of durations.
type Latencies struct {
	N                   int
	P50, P90, P99, P999 time.Duration // P999 is the 99.9th percentile
	Max                 time.Duration
}

// Summarize sorts d and returns its percentiles (nearest rank).
func Summarize(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.5) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return Latencies{N: len(d), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: d[len(d)-1]}
}

// String prints the percentiles in milliseconds.
func (l Latencies) String() string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (n=%d)", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), l.N)
}

// Median returns the median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// probePages is the length of FsyncRate's file in 4 KiB pages, which it
// overwrites in turn.
const probePages = 64

// FsyncRate measures how many durable 4 KiB writes per second the file
// system under dir does now, for about d: the ceiling of any durable
// commit on this machine, since each needs at least one. It times two
// ways, for half of d each, and returns the faster: a write followed by
// fdatasync, and a direct synchronous write (O_DIRECT|O_DSYNC, as
// parledger's write-ahead log writes where the file system allows it;
// skipped where it does not). Like the log's segments, the probe's file
// is preallocated and synced first, so it measures overwrites.
func FsyncRate(dir string, d time.Duration) (float64, error) {
	buffered, direct, err := syncRates(dir, d)
	return max(buffered, direct), err
}

// syncRates is FsyncRate's two rates, buffered and direct (0 where the file
// system takes no direct writes).
func syncRates(dir string, d time.Duration) (buffered, direct float64, err error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, probePages*4096)); err != nil {
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	raw := make([]byte, 2*4096)
	page := raw[int(-uintptr(unsafe.Pointer(&raw[0]))&4095):][:4096] // aligned, as O_DIRECT wants
	buffered, err = writeRate(d/2, func(n int) error {
		if _, err := f.WriteAt(page, int64(n%probePages)*4096); err != nil {
			return err
		}
		return syscall.Fdatasync(int(f.Fd()))
	})
	if err != nil {
		return 0, 0, err
	}
	df, err := os.OpenFile(f.Name(), os.O_RDWR|syscall.O_DIRECT|syscall.O_DSYNC, 0)
	if err != nil {
		return buffered, 0, nil // no direct writes on this file system
	}
	defer df.Close()
	direct, err = writeRate(d/2, func(n int) error {
		_, err := df.WriteAt(page, int64(n%probePages)*4096)
		return err
	})
	switch {
	case errors.Is(err, syscall.EINVAL):
		return buffered, 0, nil // the file system wants another alignment
	case err != nil:
		return 0, 0, err
	}
	return buffered, direct, nil
}

// writeRate calls write(0), write(1), ... for about d and returns the calls
// per second.
func writeRate(d time.Duration, write func(n int) error) (float64, error) {
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if err := write(n); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// SamplePayload is a score event's payload of about 300 bytes, as the
// ledger stores them: the reference for decode rates.
func SamplePayload() []byte {
	e := &domain.SelfScoreRecorded{Item: "3.2.4", Points: decimal.RequireFromString("1.25"),
		Note: "Đã ban hành kế hoạch kiểm soát thủ tục hành chính năm 2017 đúng thời hạn, có đủ tài liệu kiểm chứng kèm theo; đã tổ chức kiểm tra tại 12 phòng, ban và UBND các xã, phường trên địa bàn"}
	b, _ := domain.EncodeEvent(e)
	return b
}

// JSONDecodeRate measures how many ~300-byte event payloads per second
// encoding/json decodes into their struct on one goroutine, for about d:
// the machine's own reference for a replay's decoding.
func JSONDecodeRate(d time.Duration) float64 {
	payload := SamplePayload()
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 1000; i++ {
			var e domain.SelfScoreRecorded
			if err := json.Unmarshal(payload, &e); err != nil {
				panic(err)
			}
		}
		n += 1000
	}
	return float64(n) / time.Since(start).Seconds()
}

// DecodeRate is JSONDecodeRate through domain.DecodeEvent, the path a
// replay takes.
func DecodeRate(d time.Duration) float64 {
	payload := SamplePayload()
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 1000; i++ {
			if _, err := domain.DecodeEvent(domain.TypeSelfScoreRecorded, 1, payload); err != nil {
				panic(err)
			}
		}
		n += 1000
	}
	return float64(n) / time.Since(start).Seconds()
}

// MaxRSS returns the peak resident set size of this process so far.
func MaxRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return uint64(ru.Maxrss) * 1024
}

// CPUTime returns the CPU time (user and system, every thread) this
// process has used so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// HeapSampler records the peak of the heap (bytes in live and not yet
// swept objects) while it runs, sampling every few milliseconds.
type HeapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

// StartHeapSampler starts sampling.
func StartHeapSampler() *HeapSampler {
	h := &HeapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak heap seen.
func (h *HeapSampler) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak
}

// LiveHeap collects garbage and returns the bytes of live objects.
func LiveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// DiskUsage returns the bytes of the files under dir.
func DiskUsage(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
