package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/eventstore"
)

// Appender is what the append workload needs of a store: one durable
// append of events to a stream at its next version (0 for a new stream),
// failing if another writer took it.
type Appender interface {
	AppendAt(ctx context.Context, stream string, next uint64, events []eventstore.EventData) error
}

// StoreAppender appends to a parledger store at exact expected
// revisions, as the command path does.
type StoreAppender struct{ Store eventstore.Store }

// AppendAt appends events to stream; see Appender.
func (a StoreAppender) AppendAt(ctx context.Context, stream string, next uint64, events []eventstore.EventData) error {
	expected := eventstore.NoStream
	if next > 0 {
		expected = eventstore.Exact(next - 1)
	}
	_, err := a.Store.Append(ctx, stream, expected, events...)
	return err
}

var _ Appender = StoreAppender{}
var _ Appender = (*Postgres)(nil)

// ScoreEvent returns a score event of about 300 bytes (SamplePayload)
// with a new id, as a unit's officer records it.
func ScoreEvent() eventstore.EventData {
	return eventstore.EventData{
		ID: eventstore.NewID(), Type: "SelfScoreRecorded", SchemaVersion: 1,
		Actor:   eventstore.Actor{ID: "to-cong-tac-U00001", Role: "unit", Scope: "U00001"},
		Reason:  "",
		Payload: samplePayload,
	}
}

var samplePayload = SamplePayload()

// AppendResult is what AppendLoad measured.
type AppendResult struct {
	Writers int
	Events  int
	Elapsed time.Duration
	// Latency is the time each append took, as its writer saw it.
	Latency Latencies
	// CPU is the process's CPU time during the load.
	CPU time.Duration
}

// EventsPerSecond is the append rate.
func (r AppendResult) EventsPerSecond() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

func (r AppendResult) String() string {
	return fmt.Sprintf("%d writers: %d events in %s, %.0f events/s, latency %s", r.Writers, r.Events, r.Elapsed.Round(time.Millisecond), r.EventsPerSecond(), r.Latency)
}

// AppendLoad has writers goroutines append single score events, each to
// a stream of its own (prefix-w) at its next version, until total events
// are written (or ctx ends), and measures the rate and every append's
// latency.
func AppendLoad(ctx context.Context, a Appender, prefix string, writers, total int) (AppendResult, error) {
	var next atomic.Int64
	lat := make([][]time.Duration, writers)
	cpu0 := CPUTime()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			stream := fmt.Sprintf("%s-%d", prefix, w)
			var version uint64
			for next.Add(1) <= int64(total) {
				t := time.Now()
				if err := a.AppendAt(gctx, stream, version, []eventstore.EventData{ScoreEvent()}); err != nil {
					return fmt.Errorf("writer %d: %w", w, err)
				}
				lat[w] = append(lat[w], time.Since(t))
				version++
			}
			return nil
		})
	}
	err := g.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return AppendResult{Writers: writers, Events: len(all), Elapsed: elapsed, Latency: Summarize(all), CPU: CPUTime() - cpu0}, err
}
