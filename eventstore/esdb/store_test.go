package esdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/esdb"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
	"github.com/parledger/parledger/eventstore/storetest"
)

// rawClient is a client of the library itself, to see and write what the
// store does not.
func rawClient(t *testing.T, srv *esdbtest.Server) *esdbclient.Client {
	t.Helper()
	cfg, err := esdbclient.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdbclient.NoopLogging()
	c, err := esdbclient.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readRaw(t *testing.T, c *esdbclient.Client, stream string) []*esdbclient.ResolvedEvent {
	t.Helper()
	rs, err := c.ReadStream(context.Background(), stream, esdbclient.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdbclient.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, ev)
	}
}

// TestEnvelope pins the mapping of a parledger event onto an EventStoreDB
// event (docs/deployment.md, "Envelope mapping").
func TestEnvelope(t *testing.T) {
	at := time.Date(2017, 10, 30, 9, 15, 0, 123456789, time.UTC)
	e := newEnv(t, esdbtest.Options{}, esdb.Options{Clock: func() time.Time { return at }})
	ctx := ctxTimeout(t, time.Minute)
	d := eventstore.EventData{
		ID: uuid.New(), Type: "SelfScoreRecorded", SchemaVersion: 2,
		Actor:  eventstore.Actor{ID: "unit-001", Role: "unit", Scope: "001"},
		Reason: "Tự chấm <điểm>", CorrelationID: "req-1", CausationID: "cmd-1",
		Payload:  []byte(`{ "item": "1.1", "points": "0.75" }`),
		Metadata: map[string]string{"client": "web"},
	}
	const stream = "par.assessment:2017:001"
	res := storetest.MustAppend(t, e.s, stream, eventstore.NoStream, d)
	if got := res.Events[0].RecordedAt; !got.Equal(at) {
		t.Errorf("recorded at %v, want the store's clock %v", got, at)
	}
	raw := readRaw(t, rawClient(t, e.srv), stream)
	if len(raw) != 1 {
		t.Fatalf("EventStoreDB stream has %d events, want 1", len(raw))
	}
	r := raw[0].OriginalEvent()
	if r.EventID != d.ID || r.EventType != d.Type || r.ContentType != "application/json" || r.EventNumber != 0 {
		t.Errorf("id %s type %s content type %s number %d, want %s %s application/json 0", r.EventID, r.EventType, r.ContentType, r.EventNumber, d.ID, d.Type)
	}
	if got, want := string(r.Data), `{"item":"1.1","points":"0.75"}`; got != want {
		t.Errorf("data %s, want the compact payload %s", got, want)
	}
	if uint64(res.Events[0].Position) != r.Position.Commit || r.Position.Commit != r.Position.Prepare {
		t.Errorf("position %d, EventStoreDB commit %d prepare %d", res.Events[0].Position, r.Position.Commit, r.Position.Prepare)
	}
	var meta map[string]any
	if err := json.Unmarshal(r.UserMetadata, &meta); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"parledger": 1.0, "schemaVersion": 2.0,
		"actor":  map[string]any{"id": "unit-001", "role": "unit", "scope": "001"},
		"reason": "Tự chấm <điểm>", "$correlationId": "req-1", "$causationId": "cmd-1",
		"metadata":    map[string]any{"client": "web"},
		"contentHash": res.Events[0].ContentHash.String(),
		"recordedAt":  "2017-10-30T09:15:00.123456789Z",
	}
	for k, v := range want {
		if got, _ := json.Marshal(meta[k]); string(got) != mustJSON(v) {
			t.Errorf("metadata %q = %s, want %s", k, got, mustJSON(v))
		}
	}
	if _, err := uuid.Parse(meta["appendId"].(string)); err != nil {
		t.Errorf("appendId: %v", err)
	}
	if len(meta) != len(want)+1 {
		t.Errorf("metadata has keys %v", meta)
	}

	t.Run("Imported", func(t *testing.T) {
		dst := MustOpen(t, e.srv.ConnectionString(), esdb.Options{Namespace: "copy-"})
		src := res.Events[0]
		if err := dst.Import(ctx, []eventstore.Event{src}); err != nil {
			t.Fatal(err)
		}
		raw := readRaw(t, rawClient(t, e.srv), "copy-"+stream)
		var meta map[string]any
		if err := json.Unmarshal(raw[0].OriginalEvent().UserMetadata, &meta); err != nil {
			t.Fatal(err)
		}
		imp, _ := json.Marshal(meta["imported"])
		if got, want := string(imp), `{"position":`+jsonNumber(uint64(src.Position))+`,"revision":0}`; got != want {
			t.Errorf("imported = %s, want %s", got, want)
		}
		got := storetest.Collect(t, dst.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))
		if got[0].ID != src.ID || !got[0].RecordedAt.Equal(src.RecordedAt) || got[0].ContentHash != src.ContentHash {
			t.Errorf("imported %+v, want %+v", got[0], src)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonNumber(n uint64) string { return mustJSON(n) }

// TestForeignEvents: events of other streams, other applications and the
// server itself are invisible; an event someone else wrote into a ledger
// stream is refused as corrupt.
func TestForeignEvents(t *testing.T) {
	e := newEnv(t, esdbtest.Options{SystemEvents: true}, esdb.Options{})
	ctx := ctxTimeout(t, time.Minute)
	raw := rawClient(t, e.srv)
	write := func(stream string) {
		t.Helper()
		if _, err := raw.AppendToStream(ctx, stream, esdbclient.AppendToStreamOptions{}, esdbclient.EventData{
			EventID: uuid.New(), EventType: "Other", ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	write("billing-42")
	mine := appendMany(t, e.s, 5)
	write("billing-43")
	write("paroles-1") // close to, but not one of, the ledger's prefixes

	all := storetest.Collect(t, e.s.ReadAll(ctx, eventstore.ReadAllOptions{}))
	sameIDs(t, all, mine)
	back := storetest.Collect(t, e.s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true}))
	if len(back) != len(mine) || back[0].ID != mine[len(mine)-1].ID {
		t.Errorf("backwards read gave %d events", len(back))
	}
	if head, err := e.s.Head(ctx); err != nil || head != mine[len(mine)-1].Position {
		t.Errorf("Head = %d, %v; want %d", head, err, mine[len(mine)-1].Position)
	}
	f := follow(e.s, 0)
	got, _ := f.events(t, 5)
	sameIDs(t, got, mine)
	write("billing-44")
	live := appendMany(t, e.s, 1)
	got, _ = f.events(t, 1)
	sameIDs(t, got, live)
	f.stop(t)

	t.Run("ErrInvalidStream", func(t *testing.T) {
		_, err := e.s.Append(ctx, "billing-45", eventstore.Any, storetest.NewEvent("X", 0))
		if !errors.Is(err, eventstore.ErrInvalidStream) {
			t.Errorf("append outside the prefixes: err = %v, want ErrInvalidStream", err)
		}
		if n, err := count(e.s.ReadStream(ctx, "billing-42", eventstore.ReadStreamOptions{})); n != 0 || !errors.Is(err, eventstore.ErrInvalidStream) {
			t.Errorf("read outside the prefixes: %d events, err = %v", n, err)
		}
	})
	t.Run("ErrCorrupt", func(t *testing.T) {
		write(domain.CampaignStream("2017"))
		n, err := count(e.s.ReadStream(ctx, domain.CampaignStream("2017"), eventstore.ReadStreamOptions{}))
		if n != 0 || !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("read of an event parledger did not write: %d events, err = %v, want ErrCorrupt", n, err)
		}
	})
}

// TestPositionsFromAnotherStore: a store that has never seen the log
// starts reads and subscriptions at positions another store handed out
// (an event's, the one after it, or any number in between) without
// sending EventStoreDB an invalid start position.
func TestPositionsFromAnotherStore(t *testing.T) {
	e := newEnv(t, esdbtest.Options{SystemEvents: true}, esdb.Options{})
	ctx := ctxTimeout(t, time.Minute)
	appended := appendMany(t, e.s, 40)
	mid := appended[20].Position
	fresh := func() (*esdb.Store, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		return MustOpen(t, e.srv.ConnectionString(), esdb.Options{Registerer: reg}), reg
	}
	for _, tt := range []struct {
		name  string
		from  eventstore.Position
		first int // index in appended of the first event delivered
	}{
		{"AtEvent", mid, 20},
		{"AfterEvent", mid + 1, 21},
		{"Between", (mid + appended[21].Position) / 2, 21},
		{"BeforeFirst", 2, 0},
		{"AfterLast", appended[39].Position + 1, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := fresh()
			got := storetest.Collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{From: tt.from}))
			sameIDs(t, got, appended[tt.first:])

			s, _ = fresh()
			f := follow(s, tt.from)
			got, caughtUp := f.events(t, 40-tt.first)
			f.stop(t)
			sameIDs(t, got, appended[tt.first:])
			if tt.first < 40 && caughtUp != -1 && caughtUp != 40-tt.first {
				t.Errorf("CaughtUp after %d events", caughtUp)
			}

			s, _ = fresh()
			back := storetest.Collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: tt.from, Limit: 2}))
			if tt.first > 0 {
				last := tt.first - 1
				if tt.name == "AtEvent" {
					last = tt.first
				}
				if len(back) == 0 || back[0].ID != appended[last].ID {
					t.Errorf("backwards from %d starts with %v, want event %d", tt.from, back, last)
				}
			}
		})
	}
	t.Run("Scans", func(t *testing.T) {
		s, reg := fresh()
		storetest.Collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{From: (mid + appended[21].Position) / 2}))
		env := &env{reg: reg}
		if env.metric(t, "parledger_esdb_position_scans_total") != 1 {
			t.Errorf("a start between events was not counted as a scan")
		}
	})
}

// TestOpen checks the connection string and options.
func TestOpen(t *testing.T) {
	srv := esdbtest.New(t, esdbtest.Options{})
	ctx := ctxTimeout(t, time.Minute)
	t.Run("OK", func(t *testing.T) {
		s := MustOpen(t, srv.ConnectionString("nodePreference=leader", "keepAliveInterval=10000", "maxDiscoverAttempts=3"), esdb.Options{})
		if _, err := s.Head(ctx); err != nil {
			t.Fatal(err)
		}
		MustOpen(t, "kurrentdb://"+srv.Addr()+"?tls=false", esdb.Options{})
	})
	for _, tt := range []struct {
		name, cs string
		opts     esdb.Options
		want     string
	}{
		{"Scheme", "http://" + srv.Addr(), esdb.Options{}, "invalid connection string"},
		{"UnknownSetting", srv.ConnectionString("tlsCaFiel=/x"), esdb.Options{}, `"tlsCaFiel" is not supported`},
		{"Follower", srv.ConnectionString("nodePreference=follower"), esdb.Options{}, "needs the leader"},
		{"CredentialsWithoutTLS", "esdb://admin:changeit@" + srv.Addr() + "?tls=false", esdb.Options{}, "only over TLS"},
		{"CAFile", "esdb://" + srv.Addr() + "?tlsCAFile=/nonexistent/ca.crt", esdb.Options{}, "invalid connection string"},
		{"EmptyPrefix", srv.ConnectionString(), esdb.Options{StreamPrefixes: []string{""}}, "needs a namespace"},
		{"DollarPrefix", srv.ConnectionString(), esdb.Options{StreamPrefixes: []string{"$ce-"}}, "belong to EventStoreDB"},
		{"Namespace", srv.ConnectionString(), esdb.Options{Namespace: "a b"}, "only letters"},
		{"NoPrefixes", srv.ConnectionString(), esdb.Options{StreamPrefixes: []string{}}, "no stream prefixes"},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			s, err := esdb.Open(ctx, tt.cs, tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "changeit") {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
	t.Run("ErrUnavailable", func(t *testing.T) {
		down := esdbtest.New(t, esdbtest.Options{})
		down.Close()
		start := time.Now()
		_, err := esdb.Open(ctx, down.ConnectionString(), esdb.Options{Timeout: time.Second})
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Open took %v to fail", d)
		}
	})
	t.Run("ErrMetricsRegistered", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		MustOpen(t, srv.ConnectionString(), esdb.Options{Registerer: reg})
		if _, err := esdb.Open(ctx, srv.ConnectionString(), esdb.Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "already registered") {
			t.Errorf("second store on one registry: err = %v", err)
		}
	})
}

// TestClose: a running subscription ends with ErrClosed, later calls fail
// with ErrClosed, Close is idempotent.
func TestClose(t *testing.T) {
	e := newEnv(t, esdbtest.Options{}, esdb.Options{})
	ctx := ctxTimeout(t, time.Minute)
	appendMany(t, e.s, 3)
	f := follow(e.s, 0)
	f.events(t, 3)
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-f.errc:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("subscription ended with %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription still running after Close")
	}
	if _, err := e.s.Append(ctx, "par.tokens", eventstore.Any, storetest.NewEvent("X", 0)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := count(e.s.ReadAll(ctx, eventstore.ReadAllOptions{})); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadAll after Close: %v", err)
	}
	if _, err := count(e.s.ReadStream(ctx, "par.tokens", eventstore.ReadStreamOptions{})); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadStream after Close: %v", err)
	}
	if _, err := e.s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Head after Close: %v", err)
	}
	if err := e.s.Import(ctx, nil); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Import after Close: %v", err)
	}
	for _, err := range e.s.Subscribe(ctx, 0) {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("Subscribe after Close: %v", err)
		}
	}
	if err := e.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestLegacyServer: a server that reports no $all position on stream
// reads (before 22.10) is refused with a message that says so.
func TestLegacyServer(t *testing.T) {
	e := newEnv(t, esdbtest.Options{LegacyStreamPositions: true}, esdb.Options{})
	_, err := e.s.Append(ctxTimeout(t, time.Minute), "par.tokens", eventstore.Any, storetest.NewEvent("TokenIssued", 0))
	if err == nil || !strings.Contains(err.Error(), "22.10") {
		t.Errorf("err = %v, want it to name the server version needed", err)
	}
}

// TestMaxAppendSize: an append beyond the server's MaxAppendSize is an
// ErrBatchTooLarge error that names the setting.
func TestMaxAppendSize(t *testing.T) {
	e := newEnv(t, esdbtest.Options{MaxAppendSize: 4 << 10}, esdb.Options{})
	ev := storetest.NewEvent("EvidenceAttached", 0)
	ev.Payload = []byte(`"` + strings.Repeat("x", 5<<10) + `"`)
	_, err := e.s.Append(ctxTimeout(t, time.Minute), "par.tokens", eventstore.Any, ev)
	if !errors.Is(err, eventstore.ErrBatchTooLarge) || !strings.Contains(err.Error(), "MaxAppendSize") {
		t.Errorf("err = %v, want ErrBatchTooLarge naming MaxAppendSize", err)
	}
}

// TestConflictAcrossStores: two stores (two parledger instances) racing
// at one revision: one wins, the other gets a *ConflictError that names
// the winner's revision.
func TestConflictAcrossStores(t *testing.T) {
	e := newEnv(t, esdbtest.Options{}, esdb.Options{})
	other := MustOpen(t, e.srv.ConnectionString(), esdb.Options{})
	ctx := ctxTimeout(t, time.Minute)
	const stream = "par.assessment:2017:009"
	storetest.MustAppend(t, e.s, stream, eventstore.NoStream, storetest.NewEvent("Opened", 0))
	storetest.MustAppend(t, other, stream, eventstore.Exact(0), storetest.NewEvent("SelfScoreRecorded", 1))
	_, err := e.s.Append(ctx, stream, eventstore.Exact(0), storetest.NewEvent("SelfScoreRecorded", 2))
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Actual != 1 || !ce.ActualExists {
		t.Errorf("err = %v, want a conflict at revision 1", err)
	}
}

// TestIdempotentRetry is storetest's IdempotentRetry/OK with the last
// check counting events: that subtest compares Head with head+1, which
// holds only for gapless positions (see the esdb package notes).
func TestIdempotentRetry(t *testing.T) {
	e := newEnv(t, esdbtest.Options{SystemEvents: true}, esdb.Options{Namespace: namespace(), StreamPrefixes: []string{""}})
	ctx := ctxTimeout(t, time.Minute)
	a, b := storetest.NewEvent("SelfScoreRecorded", 1), storetest.NewEvent("EvidenceAttached", 1)
	first := storetest.MustAppend(t, e.s, "s1", eventstore.NoStream, a, b)
	for _, expected := range []eventstore.ExpectedRevision{eventstore.NoStream, eventstore.Any} {
		again, err := e.s.Append(ctx, "s1", expected, a, b)
		if err != nil || !again.Duplicate {
			t.Fatalf("retry with %s: %v, duplicate %v", expected, err, again.Duplicate)
		}
		for i := range first.Events {
			if again.Events[i].ID != first.Events[i].ID || again.Events[i].Position != first.Events[i].Position || !again.Events[i].RecordedAt.Equal(first.Events[i].RecordedAt) {
				t.Errorf("retry with %s answered %+v, want %+v", expected, again.Events[i], first.Events[i])
			}
		}
	}
	storetest.MustAppend(t, e.s, "s1", eventstore.Exact(1), storetest.NewEvent("Submitted", 2))
	// A retry of an older append still answers after later appends, from
	// this store's memory and, for another store, from the server.
	other := MustOpen(t, e.srv.ConnectionString(), esdb.Options{Namespace: e.ns, StreamPrefixes: []string{""}})
	for _, s := range []*esdb.Store{e.s, other} {
		if res, err := s.Append(ctx, "s1", eventstore.NoStream, a, b); err != nil || !res.Duplicate {
			t.Errorf("late retry: %v, duplicate %v", err, res.Duplicate)
		}
	}
	if got := len(storetest.Collect(t, e.s.ReadAll(ctx, eventstore.ReadAllOptions{}))); got != 3 {
		t.Errorf("log has %d events, want 3: a retry wrote events", got)
	}
}
