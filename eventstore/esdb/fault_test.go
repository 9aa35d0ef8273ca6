package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/esdb"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
	"github.com/parledger/parledger/eventstore/storetest"
)

// env is a store on a test double, with its metrics.
type env struct {
	srv *esdbtest.Server
	s   *esdb.Store
	reg *prometheus.Registry
	ns  string
}

// newEnv starts a test double and opens a store on it for the ledger's
// own prefixes.
func newEnv(t *testing.T, srvOpts esdbtest.Options, opts esdb.Options) *env {
	t.Helper()
	e := &env{srv: esdbtest.New(t, srvOpts), reg: prometheus.NewRegistry(), ns: opts.Namespace}
	opts.Registerer = e.reg
	e.s = MustOpen(t, e.srv.ConnectionString(), opts)
	return e
}

// metric returns the value of a counter or gauge (summed over labels).
func (e *env) metric(t *testing.T, name string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// appendMany appends n events, one per append, over a few assessment
// streams, and returns them as recorded.
func appendMany(t *testing.T, s eventstore.Store, n int) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for i := 0; i < n; i++ {
		stream := fmt.Sprintf("par.assessment:2017:%03d", i%7)
		out = append(out, storetest.MustAppend(t, s, stream, eventstore.Any, storetest.NewEvent("SelfScoreRecorded", i)).Events...)
	}
	return out
}

// following collects a subscription in a goroutine.
type following struct {
	msgs   chan eventstore.Message
	errc   chan error
	cancel context.CancelFunc
}

func follow(s eventstore.Store, from eventstore.Position) *following {
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{msgs: make(chan eventstore.Message, 10000), errc: make(chan error, 1), cancel: cancel}
	go func() {
		for msg, err := range s.Subscribe(ctx, from) {
			if err != nil {
				f.errc <- err
				return
			}
			f.msgs <- msg
		}
		f.errc <- nil
	}()
	return f
}

// events receives n events, noting whether and after how many events
// CaughtUp arrived (-1: not yet).
func (f *following) events(t *testing.T, n int) (got []eventstore.Event, caughtUpAfter int) {
	t.Helper()
	caughtUpAfter = -1
	timeout := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case m := <-f.msgs:
			if m.CaughtUp {
				if caughtUpAfter >= 0 {
					t.Fatalf("CaughtUp delivered twice")
				}
				caughtUpAfter = len(got)
				continue
			}
			got = append(got, m.Event)
		case err := <-f.errc:
			t.Fatalf("subscription ended after %d of %d events: %v", len(got), n, err)
		case <-timeout:
			t.Fatalf("subscription delivered %d of %d events in 30s", len(got), n)
		}
	}
	return got, caughtUpAfter
}

func (f *following) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	select {
	case err := <-f.errc:
		if err != nil {
			t.Errorf("subscription stopped by its reader ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("subscription did not stop within 10s")
	}
}

func sameIDs(t *testing.T, got, want []eventstore.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Position != want[i].Position {
			t.Fatalf("event %d is %s at %d, want %s at %d (gap or repeat)", i, got[i].ID, got[i].Position, want[i].ID, want[i].Position)
		}
	}
}

// TestSubscribeDroppedMidCatchUp: the server drops every subscription
// after 70 events while it catches up with 300; Subscribe resubscribes
// after the last event it delivered each time, so the reader sees every
// event once, in order, then CaughtUp once, then live events.
func TestSubscribeDroppedMidCatchUp(t *testing.T) {
	e := newEnv(t, esdbtest.Options{SystemEvents: true}, esdb.Options{})
	appended := appendMany(t, e.s, 300)
	e.srv.DropSubscriptionsAfter(70)
	f := follow(e.s, 0)
	defer f.stop(t)
	got, caughtUp := f.events(t, 300)
	sameIDs(t, got, appended)
	live := appendMany(t, e.s, 20)
	more, again := f.events(t, 20)
	sameIDs(t, more, live)
	if caughtUp == -1 && again != 0 {
		t.Errorf("CaughtUp after %d catch-up events and %d live ones, want after the 300th", caughtUp, again)
	}
	if caughtUp != -1 && caughtUp != 300 {
		t.Errorf("CaughtUp after %d events, want 300", caughtUp)
	}
	if got, want := e.metric(t, "parledger_esdb_subscription_drops_total"), 4.0; got != want {
		t.Errorf("drops = %v, want %v", got, want)
	}
	if got, want := e.metric(t, "parledger_esdb_resubscribes_total"), 4.0; got != want {
		t.Errorf("resubscribes = %v, want %v", got, want)
	}
	if got := e.metric(t, "parledger_esdb_subscriptions"); got != 1 {
		t.Errorf("subscriptions = %v, want 1", got)
	}
}

// TestSubscribeAcrossRestart: a live subscription outlives a server that
// goes down and comes back, with no gap and no repeat.
func TestSubscribeAcrossRestart(t *testing.T) {
	e := newEnv(t, esdbtest.Options{}, esdb.Options{Timeout: time.Second})
	before := appendMany(t, e.s, 10)
	f := follow(e.s, 0)
	defer f.stop(t)
	got, _ := f.events(t, 10)
	sameIDs(t, got, before)
	e.srv.Down()
	time.Sleep(300 * time.Millisecond)
	if err := e.srv.Up(); err != nil {
		t.Fatal(err)
	}
	after := appendEventually(t, e.s, 10)
	got, _ = f.events(t, 10)
	sameIDs(t, got, after)
	if e.metric(t, "parledger_esdb_subscription_drops_total") < 1 {
		t.Errorf("the restart was not counted as a drop")
	}
}

// appendEventually appends n events, retrying each while the store
// reports the server unavailable (for up to 20 s).
func appendEventually(t *testing.T, s eventstore.Store, n int) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < n; i++ {
		ev := storetest.NewEvent("SelfScoreRecorded", i)
		for {
			res, err := s.Append(context.Background(), "par.assessment:2017:restart", eventstore.Any, ev)
			if err == nil {
				out = append(out, res.Events...)
				break
			}
			if !errors.Is(err, eventstore.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("append: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// TestAppendResponseLost: an append that committed but whose response
// was lost is sent again with the same ids and written once.
func TestAppendResponseLost(t *testing.T) {
	e := newEnv(t, esdbtest.Options{}, esdb.Options{Timeout: time.Second})
	ctx := ctxTimeout(t, time.Minute)
	const stream = "par.assessment:2017:001"

	t.Run("RetriedByTheStore", func(t *testing.T) {
		e.srv.LoseAppendResponses(1)
		writes := e.srv.Stats().Writes
		a, b := storetest.NewEvent("SelfScoreRecorded", 1), storetest.NewEvent("EvidenceAttached", 1)
		res, err := e.s.Append(ctx, stream, eventstore.NoStream, a, b)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if res.Duplicate {
			t.Errorf("Duplicate = true: the caller's append did write the events")
		}
		if got := e.srv.Stats().Writes - writes; got != 1 {
			t.Errorf("the server wrote %d times, want 1", got)
		}
		if got := e.metric(t, "parledger_esdb_append_retries_total"); got != 1 {
			t.Errorf("append retries = %v, want 1", got)
		}
		if got := len(storetest.Collect(t, e.s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))); got != 2 {
			t.Errorf("stream has %d events, want 2", got)
		}
	})
	t.Run("RetriedByTheCaller", func(t *testing.T) {
		for _, tt := range []struct {
			name     string
			expected eventstore.ExpectedRevision
		}{
			{"Exact", eventstore.Exact(1)}, // in-place idempotency
			{"Any", eventstore.Any},        // the server's cache of committed ids
		} {
			head, _ := e.s.Head(ctx)
			writes := e.srv.Stats().Writes
			c := storetest.NewEvent("AppraisalScoreRecorded", 2)
			e.srv.LoseAppendResponses(100)
			if _, err := e.s.Append(ctx, stream, tt.expected, c); !errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("%s: append with every response lost: err = %v, want ErrUnavailable", tt.name, err)
			}
			e.srv.LoseAppendResponses(0)
			var res eventstore.AppendResult
			var err error
			for try := 0; try < 50; try++ {
				if res, err = e.s.Append(ctx, stream, tt.expected, c); !errors.Is(err, eventstore.ErrUnavailable) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("%s: retry: %v", tt.name, err)
			}
			if !res.Duplicate {
				t.Errorf("%s: retry: Duplicate = false, but the first append had written the event", tt.name)
			}
			if got := e.srv.Stats().Writes - writes; got != 1 {
				t.Errorf("%s: the server wrote %d times, want 1", tt.name, got)
			}
			if res.Events[0].Position <= head {
				t.Errorf("%s: the retry answered position %d, not after %d", tt.name, res.Events[0].Position, head)
			}
			all := storetest.Collect(t, e.s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))
			last := all[len(all)-1]
			if last.ID != c.ID || last.Position != res.Events[0].Position || !last.RecordedAt.Equal(res.Events[0].RecordedAt) {
				t.Errorf("%s: the retry answered %+v, the stream ends with %+v", tt.name, res.Events[0], last)
			}
		}
		if got := len(storetest.Collect(t, e.s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))); got != 4 {
			t.Errorf("stream has %d events, want 4", got)
		}
	})
}

// TestUnavailable: while the server refuses every call, appends, reads
// and Head fail with ErrUnavailable within the store's timeout; they
// work again when it serves again.
func TestUnavailable(t *testing.T) {
	e := newEnv(t, esdbtest.Options{}, esdb.Options{Timeout: 500 * time.Millisecond})
	ctx := ctxTimeout(t, time.Minute)
	appended := appendMany(t, e.s, 3)
	stream := appended[0].Stream
	for _, fault := range []struct {
		name     string
		on, off  func()
		recreate bool
	}{
		{"Refused", func() { e.srv.SetUnavailable(true) }, func() { e.srv.SetUnavailable(false) }, false},
		{"Down", e.srv.Down, func() {
			if err := e.srv.Up(); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(fault.name, func(t *testing.T) {
			fault.on()
			ops := map[string]func() error{
				"Append": func() error {
					_, err := e.s.Append(ctx, stream, eventstore.Any, storetest.NewEvent("X", 0))
					return err
				},
				"ReadStream": func() error {
					for _, err := range e.s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
						if err != nil {
							return err
						}
					}
					return nil
				},
				"ReadAll": func() error {
					for _, err := range e.s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
						if err != nil {
							return err
						}
					}
					return nil
				},
				"Head": func() error {
					_, err := e.s.Head(ctx)
					return err
				},
			}
			// Several rounds, so that the client's own rediscovery fails
			// and the store replaces it.
			for round := 0; round < 2; round++ {
				for name, op := range ops {
					start := time.Now()
					if err := op(); !errors.Is(err, eventstore.ErrUnavailable) {
						t.Fatalf("%s while unavailable: err = %v, want ErrUnavailable", name, err)
					}
					if d := time.Since(start); d > 5*time.Second {
						t.Errorf("%s took %v to fail", name, d)
					}
				}
				time.Sleep(400 * time.Millisecond)
			}
			fault.off()
			recovering := time.Now()
			defer func() { t.Logf("recovered in %v", time.Since(recovering)) }()
			deadline := time.Now().Add(20 * time.Second)
			for name, op := range ops {
				for {
					err := op()
					if err == nil {
						break
					}
					if !errors.Is(err, eventstore.ErrUnavailable) || time.Now().After(deadline) {
						t.Fatalf("%s after the fault: %v", name, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			if got := e.metric(t, "parledger_esdb_unavailable_total"); got == 0 {
				t.Errorf("unavailable_total = 0")
			}
			if fault.recreate && e.metric(t, "parledger_esdb_client_recreations_total") == 0 {
				t.Errorf("the client was never replaced although its discovery failed")
			}
		})
	}
}

// TestDeadline: a server that does not answer in time makes every one-shot
// call fail with ErrUnavailable after the store's timeout, not hang.
func TestDeadline(t *testing.T) {
	e := newEnv(t, esdbtest.Options{}, esdb.Options{Timeout: 300 * time.Millisecond})
	ctx := ctxTimeout(t, time.Minute)
	appended := appendMany(t, e.s, 2)
	e.srv.SetDelay(3 * time.Second)
	start := time.Now()
	for _, err := range e.s.ReadStream(ctx, appended[0].Stream, eventstore.ReadStreamOptions{}) {
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("ReadStream from a stalled server: err = %v, want ErrUnavailable", err)
		}
		break
	}
	if _, err := e.s.Head(ctx); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("Head from a stalled server: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("calls to a stalled server took %v", d)
	}
	e.srv.SetDelay(0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.s.Head(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Head after the delay ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHashMismatch: an event edited in the database is refused by every
// read, by its content hash.
func TestHashMismatch(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(data, meta []byte) ([]byte, []byte)
		want error
	}{
		{"Payload", func(data, meta []byte) ([]byte, []byte) {
			return []byte(`{"n":1,"points":"9.75"}`), meta
		}, eventstore.ErrHashMismatch},
		{"Reason", func(data, meta []byte) ([]byte, []byte) {
			return data, []byte(replace(string(meta), "Chấm điểm", "Sửa điểm"))
		}, eventstore.ErrHashMismatch},
		{"Envelope", func(data, meta []byte) ([]byte, []byte) {
			return data, []byte(`{}`)
		}, eventstore.ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, esdbtest.Options{}, esdb.Options{Namespace: "tamper-"})
			ctx := ctxTimeout(t, time.Minute)
			const stream = "par.assessment:2017:005"
			for i := 0; i < 3; i++ {
				storetest.MustAppend(t, e.s, stream, eventstore.Any, storetest.NewEvent("SelfScoreRecorded", i))
			}
			if !e.srv.EditEvent("tamper-"+stream, 1, tt.edit) {
				t.Fatal("no event to edit")
			}
			check := func(what string, n int, err error) {
				t.Helper()
				if !errors.Is(err, tt.want) || n != 1 {
					t.Errorf("%s: %d events then err = %v, want one event then %v", what, n, err, tt.want)
				}
			}
			n, err := count(e.s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}))
			check("ReadStream", n, err)
			n, err = count(e.s.ReadAll(ctx, eventstore.ReadAllOptions{}))
			check("ReadAll", n, err)
			n = 0
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			for msg, err := range e.s.Subscribe(sctx, 0) {
				if err != nil {
					check("Subscribe", n, err)
					break
				}
				if !msg.CaughtUp {
					n++
				}
			}
			if tt.want == eventstore.ErrHashMismatch && e.metric(t, "parledger_esdb_hash_mismatches_total") < 3 {
				t.Errorf("hash mismatches = %v, want 3 or more", e.metric(t, "parledger_esdb_hash_mismatches_total"))
			}
		})
	}
}

func replace(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// count reads an iterator to its end and returns the number of events
// before the first error.
func count(seq func(func(eventstore.Event, error) bool)) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
