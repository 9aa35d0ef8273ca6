package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
)

// These tests pin the double's protocol semantics through the real
// client, as EventStoreDB's IndexWriter.CheckCommit and catch-up
// subscriptions behave.

func client(t *testing.T, srv *esdbtest.Server) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ev(id uuid.UUID) esdb.EventData {
	return esdb.EventData{EventID: id, EventType: "E", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
}

func codeOf(err error) esdb.ErrorCode {
	var ee *esdb.Error
	if errors.As(err, &ee) {
		return ee.Code()
	}
	return -1
}

func TestAppendSemantics(t *testing.T) {
	srv := esdbtest.New(t, esdbtest.Options{})
	c := client(t, srv)
	ctx := context.Background()
	a, b, n := uuid.New(), uuid.New(), uuid.New()
	do := func(stream string, expected esdb.ExpectedRevision, ids ...uuid.UUID) (*esdb.WriteResult, error) {
		events := make([]esdb.EventData, len(ids))
		for i, id := range ids {
			events[i] = ev(id)
		}
		return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
	}
	if wr, err := do("s", esdb.NoStream{}, a, b); err != nil || wr.NextExpectedVersion != 1 {
		t.Fatalf("first append: %v, %v", wr, err)
	}
	for _, tt := range []struct {
		name     string
		stream   string
		expected esdb.ExpectedRevision
		ids      []uuid.UUID
		wrong    bool // wrong expected version
		writes   bool
	}{
		{"RetryNoStream", "s", esdb.NoStream{}, []uuid.UUID{a, b}, false, false},
		{"RetryExact", "s", esdb.NoStream{}, []uuid.UUID{a}, false, false},
		{"RetryAny", "s", esdb.Any{}, []uuid.UUID{a, b}, false, false},
		{"PartialNoStream", "s", esdb.NoStream{}, []uuid.UUID{a, n}, true, false},
		{"PartialAny", "s", esdb.Any{}, []uuid.UUID{a, n}, true, false},
		{"StreamExistsOnMissing", "missing", esdb.StreamExists{}, []uuid.UUID{uuid.New()}, true, false},
		{"ExactTooHigh", "s", esdb.Revision(5), []uuid.UUID{uuid.New()}, true, false},
		{"ExactTooLow", "s", esdb.Revision(0), []uuid.UUID{uuid.New()}, true, false},
		{"SameIDOtherStream", "other", esdb.Any{}, []uuid.UUID{a}, false, true},
		{"Exact", "s", esdb.Revision(1), []uuid.UUID{n}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			writes := srv.Stats().Writes
			_, err := do(tt.stream, tt.expected, tt.ids...)
			if got := codeOf(err) == esdb.ErrorCodeWrongExpectedVersion; got != tt.wrong || !tt.wrong && err != nil {
				t.Errorf("err = %v, want wrong expected version %v", err, tt.wrong)
			}
			if got := srv.Stats().Writes - writes; got != map[bool]int{true: 1}[tt.writes] {
				t.Errorf("wrote %d times", got)
			}
		})
	}
	t.Run("AnyCacheEvicted", func(t *testing.T) {
		srv := esdbtest.New(t, esdbtest.Options{IdempotencyCache: 1})
		c := client(t, srv)
		x, y := uuid.New(), uuid.New()
		for _, id := range []uuid.UUID{x, y, x} {
			if _, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, ev(id)); err != nil {
				t.Fatal(err)
			}
		}
		if got := srv.Stats().Writes; got != 3 {
			t.Errorf("wrote %d times, want 3: an id out of the cache is written again with expected revision any", got)
		}
	})
}

func TestReadSemantics(t *testing.T) {
	srv := esdbtest.New(t, esdbtest.Options{SystemEvents: true})
	c := client(t, srv)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.AppendToStream(ctx, "par-1", esdb.AppendToStreamOptions{}, ev(uuid.New())); err != nil {
			t.Fatal(err)
		}
	}
	read := func(from esdb.AllPosition, dir esdb.Direction) ([]*esdb.ResolvedEvent, error) {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: from, Direction: dir}, 100)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		var out []*esdb.ResolvedEvent
		for {
			e, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, e)
		}
	}
	all, err := read(esdb.Start{}, esdb.Forwards)
	if err != nil || len(all) != 6 {
		t.Fatalf("$all has %d events (%v), want 3 and their 3 links", len(all), err)
	}
	second := all[1].OriginalEvent().Position
	if got, _ := read(second, esdb.Forwards); len(got) != 5 {
		t.Errorf("forwards from the second event: %d events, want 5 (inclusive)", len(got))
	}
	if got, _ := read(second, esdb.Backwards); len(got) != 1 {
		t.Errorf("backwards from the second event: %d events, want 1 (it ends after the position)", len(got))
	}
	_, err = read(esdb.Position{Commit: second.Commit + 1, Prepare: second.Commit + 1}, esdb.Forwards)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("read from inside a record: err = %v, want InvalidArgument", err)
	}
	rs, err := c.ReadStream(ctx, "missing", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Recv(); codeOf(err) != esdb.ErrorCodeResourceNotFound {
		t.Errorf("missing stream: err = %v, want ResourceNotFound", err)
	}
}

func TestSubscriptionSemantics(t *testing.T) {
	srv := esdbtest.New(t, esdbtest.Options{SystemEvents: true})
	c := client(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var first esdb.Position
	for i := 0; i < 40; i++ {
		wr, err := c.AppendToStream(ctx, "par-1", esdb.AppendToStreamOptions{}, ev(uuid.New()))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}
		}
	}
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   first,
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"par-"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	events, checkpoints := 0, 0
	for caughtUp := false; !caughtUp; {
		m := sub.Recv()
		switch {
		case m.EventAppeared != nil:
			if m.EventAppeared.OriginalEvent().StreamID != "par-1" {
				t.Errorf("the filter let %s through", m.EventAppeared.OriginalEvent().StreamID)
			}
			events++
		case m.CheckPointReached != nil:
			checkpoints++
		case m.CaughtUp != nil:
			caughtUp = true
		case m.SubscriptionDropped != nil:
			t.Fatal(m.SubscriptionDropped.Error)
		}
	}
	if events != 39 {
		t.Errorf("caught up after %d events, want 39 (the start is exclusive)", events)
	}
	if checkpoints == 0 {
		t.Errorf("no checkpoint over 80 considered events")
	}
	if _, err := c.AppendToStream(ctx, "par-1", esdb.AppendToStreamOptions{}, ev(uuid.New())); err != nil {
		t.Fatal(err)
	}
	for {
		m := sub.Recv()
		if m.EventAppeared != nil {
			break
		}
		if m.SubscriptionDropped != nil {
			t.Fatal(m.SubscriptionDropped.Error)
		}
	}
	srv.DropSubscriptions()
	for {
		if m := sub.Recv(); m.SubscriptionDropped != nil {
			if status.Code(m.SubscriptionDropped.Error) != codes.Unavailable {
				t.Errorf("drop: %v, want Unavailable", m.SubscriptionDropped.Error)
			}
			break
		}
	}
}
