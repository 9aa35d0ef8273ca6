package bench_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/bench"
	"github.com/parledger/parledger/bench/pgtest"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// TestPostgresPeer runs the benchmark's peer against a real PostgreSQL
// server: the events table it creates, appends at exact versions with
// conflicts and all-or-nothing batches, the concurrent append load, the
// COPY import, reading everything back in position order with the
// Vietnamese text and the points intact, and the reset.
func TestPostgresPeer(t *testing.T) {
	url := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := bench.OpenPostgres(ctx, url, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	settings, err := pg.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(settings, "synchronous_commit=on") || !strings.Contains(settings, "fsync=on") {
		t.Errorf("the peer should run at PostgreSQL's default durability: %s", settings)
	}

	count := func() int64 {
		t.Helper()
		n, err := pg.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Exact versions: 0, then 1; a second writer at 1 conflicts, and a
	// batch that reaches a taken version writes none of its events.
	if err := pg.AppendAt(ctx, "assessment-a", 0, []eventstore.EventData{bench.ScoreEvent()}); err != nil {
		t.Fatal(err)
	}
	if err := pg.AppendAt(ctx, "assessment-a", 1, []eventstore.EventData{bench.ScoreEvent(), bench.ScoreEvent()}); err != nil {
		t.Fatal(err)
	}
	if err := pg.AppendAt(ctx, "assessment-a", 1, []eventstore.EventData{bench.ScoreEvent()}); !errors.Is(err, bench.ErrConflict) {
		t.Errorf("append at a taken version: %v, want ErrConflict", err)
	}
	if err := pg.AppendAt(ctx, "assessment-a", 3, []eventstore.EventData{bench.ScoreEvent(), bench.ScoreEvent()}); err != nil {
		t.Fatal(err)
	}
	if err := pg.AppendAt(ctx, "assessment-a", 4, []eventstore.EventData{bench.ScoreEvent(), bench.ScoreEvent()}); !errors.Is(err, bench.ErrConflict) {
		t.Errorf("batch over a taken version: %v, want ErrConflict", err)
	}
	// The table checks only that versions are unique: a batch whose
	// first version is free and second taken must write neither.
	if err := pg.AppendAt(ctx, "assessment-b", 1, []eventstore.EventData{bench.ScoreEvent()}); err != nil {
		t.Fatal(err)
	}
	if err := pg.AppendAt(ctx, "assessment-b", 0, []eventstore.EventData{bench.ScoreEvent(), bench.ScoreEvent()}); !errors.Is(err, bench.ErrConflict) {
		t.Errorf("batch whose second version is taken: %v, want ErrConflict", err)
	}
	if n := count(); n != 6 {
		t.Fatalf("%d events after the appends, want 6 (a failed batch must write nothing)", n)
	}

	// The concurrent load the benchmark runs: every append lands once.
	res, err := bench.AppendLoad(ctx, pg, "load", 8, 200)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 200 || count() != 206 {
		t.Fatalf("the load wrote %d events, the table holds %d; want 200 and 206", res.Events, count())
	}
	if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
		t.Errorf("latencies not measured: %s", res.Latency)
	}

	// Import keeps streams, versions and recorded times; ReadAll returns
	// the events in position order with their payloads' meaning intact.
	if err := pg.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d events after Reset", n)
	}
	at := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	var in []eventstore.Event
	for i := range 50 {
		d := bench.ScoreEvent()
		d.Reason = "Sửa theo ý kiến thẩm định"
		in = append(in, eventstore.Event{EventData: d, Stream: fmt.Sprintf("assessment-%d", i%5), Revision: uint64(i / 5),
			RecordedAt: at.Add(time.Duration(i) * time.Second)})
	}
	if err := pg.Import(ctx, in); err != nil {
		t.Fatal(err)
	}
	decode := func(e *eventstore.Event) (*domain.SelfScoreRecorded, error) {
		d, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			return nil, err
		}
		s, ok := d.(*domain.SelfScoreRecorded)
		if !ok {
			return nil, fmt.Errorf("decoded as %T", d)
		}
		return s, nil
	}
	want, err := decode(&in[0])
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	n, err := pg.ReadAll(ctx, func(e *eventstore.Event) error {
		w := in[i]
		if e.Position != eventstore.Position(i+1) || e.ID != w.ID || e.Stream != w.Stream || e.Revision != w.Revision ||
			e.Type != w.Type || e.Actor != w.Actor || e.Reason != w.Reason || !e.RecordedAt.Equal(w.RecordedAt) {
			return fmt.Errorf("event %d read back as %s %s@%d at %d, %s, %+v %q, recorded %s; want %s %s@%d at %d, %s, %+v %q, recorded %s",
				i, e.ID, e.Stream, e.Revision, e.Position, e.Type, e.Actor, e.Reason, e.RecordedAt,
				w.ID, w.Stream, w.Revision, i+1, w.Type, w.Actor, w.Reason, w.RecordedAt)
		}
		got, err := decode(e)
		if err != nil {
			return fmt.Errorf("event %d: jsonb's payload %s: %w", i, e.Payload, err)
		}
		if got.Item != want.Item || !got.Points.Equal(want.Points) || got.Note != want.Note {
			return fmt.Errorf("event %d decodes to %+v, want %+v", i, got, want)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(in) {
		t.Fatalf("ReadAll read %d events, want %d", n, len(in))
	}
}
