package bench_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/parledger/parledger/bench"
	"github.com/parledger/parledger/eventstore/bolt"
)

// BenchmarkAppends measures durable appends of single ~300-byte score
// events on distinct streams at exact expected versions, by 1 and by 64
// writers, on parledger's embedded store and, when PARLEDGER_BENCH_PG
// names a database, on the PostgreSQL events table; both on the same
// disk (PARLEDGER_BENCH_PG's server should keep its data there too).
// Each reports events/s, append latency percentiles (and the longest) and the share of the
// machine's group-commit ceiling, writers × the fsync rate measured
// around the run.
func BenchmarkAppends(b *testing.B) {
	for _, store := range []string{"parledger", "postgres"} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("store=%s/writers=%d", store, writers), func(b *testing.B) {
				ctx := context.Background()
				dir := b.TempDir()
				var a bench.Appender
				switch store {
				case "parledger":
					s, err := bolt.Open(dir, bolt.Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					a = bench.StoreAppender{Store: s}
				case "postgres":
					url := os.Getenv("PARLEDGER_BENCH_PG")
					if url == "" {
						b.Skip("set PARLEDGER_BENCH_PG to a PostgreSQL database (scripts/bench starts one)")
					}
					pg, err := bench.OpenPostgres(ctx, url, writers)
					if err != nil {
						b.Fatal(err)
					}
					defer pg.Close()
					if err := pg.Reset(ctx); err != nil {
						b.Fatal(err)
					}
					a = pg
				}
				before, err := bench.FsyncRate(dir, 500*time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				res, err := bench.AppendLoad(ctx, a, fmt.Sprintf("assessment-%d", time.Now().UnixNano()), writers, b.N)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				after, err := bench.FsyncRate(dir, 500*time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				fsyncs := (before + after) / 2
				b.ReportMetric(res.EventsPerSecond(), "events/s")
				b.ReportMetric(fsyncs, "fsyncs/s")
				b.ReportMetric(res.EventsPerSecond()/(float64(writers)*fsyncs), "x_ceiling")
				b.ReportMetric(float64(res.Latency.P50.Microseconds()), "p50_us")
				b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99_us")
				b.ReportMetric(float64(res.Latency.P999.Microseconds()), "p999_us")
				b.ReportMetric(float64(res.Latency.Max.Microseconds()), "max_us")
				b.ReportMetric(float64(res.CPU.Microseconds())/float64(res.Events), "cpu_us/event")
			})
		}
	}
}
