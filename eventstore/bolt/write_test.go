package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/eventstore"
)

// testEvent returns a valid event whose payload carries n.
func testEvent(n int) eventstore.EventData {
	return eventstore.EventData{
		ID: uuid.New(), Type: "SelfScoreRecorded", SchemaVersion: 1,
		Actor:   eventstore.Actor{ID: "u", Role: "unit", Scope: "001"},
		Payload: []byte(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

// mustOpenTuned opens a store in dir with tune applied before it starts,
// and closes it when the test ends.
func mustOpenTuned(t *testing.T, dir string, tune func(*Store)) *Store {
	t.Helper()
	s, err := open(dir, Options{}, tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readAllT(t *testing.T, s *Store) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// checkLog checks that the log holds exactly want, at positions 1, 2, ...
func checkLog(t *testing.T, s *Store, want ...eventstore.Event) {
	t.Helper()
	got := readAllT(t, s)
	if len(got) != len(want) {
		t.Fatalf("log has %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || got[i].Position != eventstore.Position(i+1) || got[i].Revision != want[i].Revision || got[i].ContentHash != want[i].ContentHash {
			t.Errorf("event %d is %s at %d (revision %d), want %s at %d (revision %d)", i, got[i].ID, got[i].Position, got[i].Revision, want[i].ID, i+1, want[i].Revision)
		}
	}
	if h, _ := s.Head(context.Background()); h != eventstore.Position(len(want)) {
		t.Errorf("head = %d, want %d", h, len(want))
	}
}

// TestWriteFailure injects failures into write-ahead log writes and checks
// that nothing of a failed write is acknowledged, readable or recovered,
// and that the store goes on working: with direct writes and with
// buffered ones.
func TestWriteFailure(t *testing.T) {
	for _, m := range walModes {
		t.Run(m.name, func(t *testing.T) { testWriteFailure(t, m.buffered) })
	}
}

func testWriteFailure(t *testing.T, buffered bool) {
	mode := func(s *Store) { s.bufferedWAL = buffered }
	for _, tt := range []struct {
		name string
		keep func(frames []byte) int // bytes that reach the file before the failure
	}{
		{"ErrUnavailable/NothingWritten", func([]byte) int { return 0 }},
		{"ErrUnavailable/TornWrite", func(f []byte) int { return len(f) / 2 }},
		// Every byte written, then fdatasync fails: the bytes must still
		// not count, since the disk did not confirm them.
		{"ErrUnavailable/SyncFailed", func(f []byte) int { return len(f) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenTuned(t, dir, mode)
			ctx := context.Background()
			first, err := s.Append(ctx, "s", eventstore.NoStream, testEvent(0))
			if err != nil {
				t.Fatal(err)
			}
			failNext := true
			s.wal.fault = func(frames []byte) (int, error) {
				if !failNext {
					return 0, nil
				}
				failNext = false
				return tt.keep(frames), errors.New("injected I/O error")
			}
			lost := testEvent(1)
			_, err = s.Append(ctx, "s", eventstore.Exact(0), lost, testEvent(2))
			if !errors.Is(err, eventstore.ErrUnavailable) {
				t.Fatalf("append during a failing write: err = %v, want ErrUnavailable", err)
			}
			if seg := filepath.Join(dir, walDir, "00000000000000000001.log"); !strings.Contains(err.Error(), seg+":") {
				t.Errorf("error %q does not name the segment %s", err, seg)
			}
			checkLog(t, s, first.Events...)

			// The store goes on: the failed events' id is free, the stream
			// is still at revision 0, positions continue without a gap.
			next, err := s.Append(ctx, "s", eventstore.Exact(0), lost)
			if err != nil {
				t.Fatalf("append after the failure: %v", err)
			}
			if e := next.Events[0]; next.Duplicate || e.Position != 2 || e.Revision != 1 {
				t.Errorf("append after the failure = %+v, want a new event at position 2, revision 1", next)
			}
			want := append(first.Events, next.Events...)
			checkLog(t, s, want...)

			// And so does the store reopened.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpenTuned(t, dir, mode)
			checkLog(t, s, want...)
			if rep, err := s.Verify(ctx); err != nil || rep.Events != 2 {
				t.Errorf("Verify = %+v, %v", rep, err)
			}
		})
	}
	t.Run("ErrUnavailable/Recovered", func(t *testing.T) {
		// Events left only in the write-ahead log (the applier never
		// ran), with a failed write after them: reopening finds exactly
		// the acknowledged ones.
		dir := t.TempDir()
		s := mustOpenTuned(t, dir, func(s *Store) { s.applyMin, s.applyDelay, s.bufferedWAL = 1<<30, time.Hour, buffered })
		ctx := context.Background()
		var want []eventstore.Event
		for i := 0; i < 5; i++ {
			res, err := s.Append(ctx, "s", eventstore.Any, testEvent(i))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, res.Events...)
		}
		s.wal.fault = func(frames []byte) (int, error) { return len(frames) - 3, errors.New("injected I/O error") }
		if _, err := s.Append(ctx, "s", eventstore.Any, testEvent(9)); !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		s2 := mustOpenTuned(t, copyDir(t, dir), mode)
		if got := s2.Stats().Pending; got != 5 {
			t.Errorf("recovered %d events from the write-ahead log, want 5", got)
		}
		checkLog(t, s2, want...)
	})
}

// copyDir copies the files of a data directory whose store is idle (no
// write or commit under way) to a new directory: what a crash would leave
// on disk.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// TestPipelinedFailure fails the write of one group while the next group,
// checked against it, waits: both must fail, and the store must start
// again from the durable state.
func TestPipelinedFailure(t *testing.T) {
	dir := t.TempDir()
	entered, release := make(chan struct{}), make(chan struct{})
	staged := make(chan *writeReq, 10)
	calls := 0
	s := mustOpenTuned(t, dir, func(s *Store) {
		s.staged = func(r *writeReq) { staged <- r }
	})
	s.wal.fault = func([]byte) (int, error) {
		calls++
		if calls > 1 {
			return 0, nil
		}
		close(entered)
		<-release
		return 0, errors.New("injected I/O error")
	}
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() {
		_, err := s.Append(ctx, "s", eventstore.NoStream, testEvent(0))
		errs <- err
	}()
	<-staged
	<-entered // the first group is in the syncer, its write pending
	go func() {
		// Checked against the first group: revision 0 exists there.
		_, err := s.Append(ctx, "s", eventstore.Exact(0), testEvent(1))
		errs <- err
	}()
	<-staged
	close(release)
	for i := 0; i < 2; i++ {
		if err := <-errs; !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("append %d: err = %v, want ErrUnavailable", i, err)
		}
	}
	checkLog(t, s)
	// The stream does not exist: the store forgot what it had assumed.
	res, err := s.Append(ctx, "s", eventstore.NoStream, testEvent(2))
	if err != nil {
		t.Fatalf("append after the failure: %v", err)
	}
	checkLog(t, s, res.Events...)
	var conflict *eventstore.ConflictError
	if _, err := s.Append(ctx, "s", eventstore.Exact(1), testEvent(3)); !errors.As(err, &conflict) || conflict.Actual != 0 {
		t.Errorf("append at revision 1: err = %v, want a conflict at revision 0", err)
	}
}

// TestRetryInFlight retries appends whose originals are not durable yet:
// one in the group being written, one in the group being built on it. A
// retry is answered with the original, and a different event with a
// taken id is refused, wherever the original waits; after a failed
// write, the failed events' ids are free again.
func TestRetryInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	staged := make(chan *writeReq, 10) // room for the two the test does not read
	calls := 0
	s := mustOpenTuned(t, t.TempDir(), func(s *Store) {
		s.staged = func(r *writeReq) { staged <- r }
	})
	s.wal.fault = func([]byte) (int, error) {
		if calls++; calls == 1 {
			close(entered)
			<-release
		}
		return 0, nil
	}
	ctx := context.Background()
	type answer struct {
		res eventstore.AppendResult
		err error
	}
	appendAsync := func(stream string, expected eventstore.ExpectedRevision, d eventstore.EventData) chan answer {
		c := make(chan answer, 1)
		go func() {
			res, err := s.Append(ctx, stream, expected, d)
			c <- answer{res, err}
		}()
		<-staged
		return c
	}
	writing, built := testEvent(0), testEvent(1)
	first := appendAsync("a", eventstore.NoStream, writing)
	<-entered // the first group is in the syncer, its write held
	second := appendAsync("b", eventstore.NoStream, built)
	retries := []chan answer{
		appendAsync("a", eventstore.NoStream, writing),
		appendAsync("b", eventstore.NoStream, built),
	}
	changed := built
	changed.Payload = []byte(`{"n":99}`)
	refused := appendAsync("b", eventstore.NoStream, changed)
	close(release)

	originals := []answer{<-first, <-second}
	for i, c := range retries {
		orig, again := originals[i], <-c
		if orig.err != nil || orig.res.Duplicate {
			t.Fatalf("original %d = %+v, %v", i, orig.res, orig.err)
		}
		if again.err != nil || !again.res.Duplicate || len(again.res.Events) != 1 {
			t.Fatalf("retry %d = %+v, %v; want the original", i, again.res, again.err)
		}
		o, a := orig.res.Events[0], again.res.Events[0]
		if a.ID != o.ID || a.Position != o.Position || a.Revision != o.Revision || a.ContentHash != o.ContentHash ||
			!a.RecordedAt.Equal(o.RecordedAt) || string(a.Payload) != string(o.Payload) {
			t.Errorf("retry %d answered %+v, want %+v", i, a, o)
		}
	}
	if got := <-refused; !errors.Is(got.err, eventstore.ErrDuplicateEventID) {
		t.Errorf("other content under a taken id: %+v, %v; want ErrDuplicateEventID", got.res, got.err)
	}
	checkLog(t, s, originals[0].res.Events[0], originals[1].res.Events[0])

	// A failed write forgets its events' ids: appended again, they are
	// new events, not retries.
	appendAfterFailedWrite(t, s, "c", eventstore.NoStream, testEvent(2), 3)
}

// appendAfterFailedWrite appends d while every write-ahead log write
// fails, checks that the append fails with ErrUnavailable, then appends d
// again with the log working and checks that it is a new event at wantPos
// (not a retry of the failed one), which it returns.
func appendAfterFailedWrite(t *testing.T, s *Store, stream string, expected eventstore.ExpectedRevision, d eventstore.EventData, wantPos eventstore.Position) eventstore.Event {
	t.Helper()
	ctx := context.Background()
	s.wal.fault = func([]byte) (int, error) { return 0, errors.New("injected I/O error") }
	if _, err := s.Append(ctx, stream, expected, d); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append during a failing write: err = %v, want ErrUnavailable", err)
	}
	s.wal.fault = nil
	res, err := s.Append(ctx, stream, expected, d)
	if err != nil || res.Duplicate || res.Events[0].Position != wantPos {
		t.Fatalf("append after the failure = %+v, %v; want a new event at position %d", res, err, wantPos)
	}
	return res.Events[0]
}

// TestRetryAfterRecovery retries appends whose originals are only in the
// write-ahead log of a reopened store: they are found there, and then in
// ledger.db once the applier has moved them.
func TestRetryAfterRecovery(t *testing.T) {
	held := func(s *Store) { s.applyMin, s.applyDelay = 1<<30, time.Hour }
	dir := t.TempDir()
	s := mustOpenTuned(t, dir, held)
	ctx := context.Background()
	var originals []eventstore.AppendResult
	var data []eventstore.EventData
	for i := 0; i < 3; i++ {
		d := testEvent(i)
		res, err := s.Append(ctx, "s", eventstore.Any, d)
		if err != nil {
			t.Fatal(err)
		}
		originals, data = append(originals, res), append(data, d)
	}
	s2 := mustOpenTuned(t, copyDir(t, dir), held) // as a crash leaves it
	if got := s2.Stats().Pending; got != 3 {
		t.Fatalf("recovered %d events from the write-ahead log, want 3", got)
	}
	retry := func(where string) {
		t.Helper()
		for i, d := range data {
			expected := eventstore.NoStream
			if i > 0 {
				expected = eventstore.Exact(uint64(i - 1))
			}
			again, err := s2.Append(ctx, "s", expected, d)
			o := originals[i].Events[0]
			if err != nil || !again.Duplicate || again.Events[0].Position != o.Position || again.Events[0].ContentHash != o.ContentHash {
				t.Fatalf("%s: retry of %d = %+v, %v; want the original at %d", where, i, again, err, o.Position)
			}
		}
		changed := data[1]
		changed.Payload = []byte(`{"n":99}`)
		if _, err := s2.Append(ctx, "s", eventstore.Exact(0), changed); !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Fatalf("%s: other content under a taken id: err = %v, want ErrDuplicateEventID", where, err)
		}
	}
	retry("in memory")
	if err := s2.flush(); err != nil {
		t.Fatal(err)
	}
	retry("in ledger.db")
	if got := len(readAllT(t, s2)); got != 3 {
		t.Errorf("log has %d events, want 3", got)
	}
}

// TestApplierBoundary runs appends, idempotent retries, reads and a
// subscription while the applier moves events from memory to ledger.db
// every few events, so that every read and check crosses the boundary.
func TestApplierBoundary(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenTuned(t, dir, func(s *Store) { s.applyMin, s.applyMax, s.applyDelay = 3, 7, time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const writers, perWriter = 4, 150
	const total = writers * perWriter

	// A subscription from the start sees every event once, in order,
	// wherever it was when read.
	subErr := make(chan error, 1)
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	go func() {
		next := eventstore.Start
		for msg, err := range s.Subscribe(subCtx, 0) {
			if err != nil {
				subErr <- err
				return
			}
			if msg.CaughtUp {
				continue
			}
			if msg.Event.Position != next {
				subErr <- fmt.Errorf("subscription delivered position %d, want %d", msg.Event.Position, next)
				return
			}
			if err := msg.Event.VerifyHash(); err != nil {
				subErr <- err
				return
			}
			if next++; next > total {
				subErr <- nil
				return
			}
		}
		subErr <- errors.New("subscription ended early")
	}()

	var g errgroup.Group
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			stream := fmt.Sprintf("w-%d", w)
			for i := 0; i < perWriter; i++ {
				expected := eventstore.NoStream
				if i > 0 {
					expected = eventstore.Exact(uint64(i - 1))
				}
				res, err := s.Append(ctx, stream, expected, testEvent(i))
				if err != nil {
					return fmt.Errorf("writer %d append %d: %w", w, i, err)
				}
				// Retry an earlier append: the original is in memory or
				// in ledger.db by now, and must be found in either.
				if i%10 == 9 {
					old := readBack(ctx, s, stream, uint64(i-5))
					if old.err != nil {
						return old.err
					}
					again, err := s.Append(ctx, stream, eventstore.Exact(uint64(i-6)), old.e.EventData)
					if err != nil || !again.Duplicate || again.Events[0].Position != old.e.Position {
						return fmt.Errorf("writer %d retry of revision %d = %+v, %v; want the original at %d", w, i-5, again, err, old.e.Position)
					}
				}
				// Read the stream back while it straddles the boundary.
				n := 0
				for e, err := range s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}) {
					if err != nil {
						return err
					}
					if e.Revision != uint64(n) {
						return fmt.Errorf("stream %s read revision %d at %d", stream, e.Revision, n)
					}
					n++
				}
				if n != i+1 || res.Events[0].Revision != uint64(i) {
					return fmt.Errorf("stream %s has %d events after append %d", stream, n, i)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-subErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("subscription did not deliver every event")
	}
	if st := s.Stats(); st.Applies < 10 {
		t.Errorf("the applier committed %d times; the test wants it busy", st.Applies)
	}
	if rep, err := s.Verify(ctx); err != nil || rep.Events != total {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

type readResult struct {
	e   eventstore.Event
	err error
}

func readBack(ctx context.Context, s *Store, stream string, rev uint64) readResult {
	for e, err := range s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: rev, Limit: 1}) {
		return readResult{e, err}
	}
	return readResult{err: fmt.Errorf("%s revision %d not found", stream, rev)}
}

// TestImportThroughWriter interleaves imports with appends on other
// streams and checks that an import is checked against everything
// recorded, in memory, in flight or in ledger.db.
func TestImportThroughWriter(t *testing.T) {
	src := mustOpenTuned(t, t.TempDir(), nil)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if _, err := src.Append(ctx, fmt.Sprintf("s-%d", i%3), eventstore.Any, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	events := readAllT(t, src)

	dst := mustOpenTuned(t, t.TempDir(), func(s *Store) { s.applyMin, s.applyDelay = 1<<30, time.Hour })
	var g errgroup.Group
	g.Go(func() error {
		for i := 0; i < 50; i++ {
			if _, err := dst.Append(ctx, "local", eventstore.Any, testEvent(i)); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		for i := 0; i < len(events); i += 10 {
			if err := dst.Import(ctx, events[i:i+10]); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		t.Helper()
		// An imported event keeps everything but its position.
		n := 0
		for e, err := range dst.ReadAll(ctx, eventstore.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Stream == "local" {
				continue
			}
			want := events[n]
			if e.ID != want.ID || e.Revision != want.Revision || !e.RecordedAt.Equal(want.RecordedAt) || e.ContentHash != want.ContentHash {
				t.Fatalf("imported event %d = %+v, want %+v", n, e, want)
			}
			n++
		}
		if n != len(events) {
			t.Fatalf("%d events imported, want %d", n, len(events))
		}
		// The same events again are refused, and so is an event whose id
		// is taken, wherever the recorded one is.
		if err := dst.Import(ctx, events[:10]); !errors.Is(err, eventstore.ErrImportMismatch) {
			t.Errorf("importing again: err = %v, want ErrImportMismatch", err)
		}
		next := events[len(events)-1]
		next.Revision++
		next.ContentHash = next.ComputeHash()
		if err := dst.Import(ctx, []eventstore.Event{next}); !errors.Is(err, eventstore.ErrImportMismatch) {
			t.Errorf("importing a recorded id: err = %v, want ErrImportMismatch", err)
		}
	}
	t.Run("InMemory", check)
	if err := dst.flush(); err != nil {
		t.Fatal(err)
	}
	t.Run("InLedgerDB", check)
	if got := len(readAllT(t, dst)); got != 80 {
		t.Errorf("log has %d events, want 80", got)
	}
}

// TestAppendPayloadNotShared checks that an appended event, as returned
// and as stored, keeps its payload when the caller reuses its buffer, and
// that writing to the returned payload does not reach the ledger.
func TestAppendPayloadNotShared(t *testing.T) {
	s := mustOpenTuned(t, t.TempDir(), nil)
	ctx := context.Background()
	for _, md := range []map[string]string{nil, {"client": "web", "request": "r-1"}} {
		ev := testEvent(7)
		ev.Payload = []byte(`{"points":"1.25"}`)
		ev.Metadata = md
		res, err := s.Append(ctx, "s", eventstore.Any, ev)
		if err != nil {
			t.Fatal(err)
		}
		copy(ev.Payload, `{"points":"9.99"}`)
		got := res.Events[0]
		if string(got.Payload) != `{"points":"1.25"}` {
			t.Errorf("result payload %s, want the appended one", got.Payload)
		}
		if err := got.VerifyHash(); err != nil {
			t.Error(err)
		}
		copy(got.Payload, `{"points":"0.00"}`)
		stored := readBack(ctx, s, "s", got.Revision)
		if stored.err != nil || string(stored.e.Payload) != `{"points":"1.25"}` {
			t.Errorf("stored payload %s, %v", stored.e.Payload, stored.err)
		}
	}
}

// TestSegments runs many appends through tiny log segments while the
// applier commits every few events, so that segments fill, are prepared
// in the background, released and reused; then checks what a crash at
// the end would recover, and that a clean close leaves no log.
func TestSegments(t *testing.T) {
	dir := t.TempDir()
	var hold atomic.Bool // keeps the applier from committing
	s := mustOpenTuned(t, dir, func(s *Store) {
		s.segmentMinSize, s.segmentMaxSize = 16<<10, 32<<10
		s.applyMin, s.applyMax, s.applyDelay = 40, 100, time.Millisecond
		s.applyFault = func() error {
			if hold.Load() {
				return errors.New("held")
			}
			return nil
		}
	})
	ctx := context.Background()
	var g errgroup.Group
	for w := 0; w < 4; w++ {
		g.Go(func() error {
			for i := 0; i < 300; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("w-%d", w), eventstore.Any, testEvent(i), testEvent(i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	s.wal.mu.Lock()
	reused, segments := s.wal.reused, len(s.wal.segments)
	s.wal.mu.Unlock()
	if reused == 0 {
		t.Errorf("no segment was reused")
	}
	t.Logf("%d segments reused, %d in use", reused, segments)

	// Hold the applier, add events only the log has, and take what a
	// crash would leave.
	hold.Store(true)
	if _, err := s.Append(ctx, "last", eventstore.Any, testEvent(0)); err != nil {
		t.Fatal(err)
	}
	// The flush fails once the applier has tried and failed, so no commit
	// is under way while the files are copied.
	if err := s.flush(); err == nil {
		t.Fatal("flush succeeded while the applier was held")
	}
	crashed := mustOpenTuned(t, copyDir(t, dir), nil)
	hold.Store(false)
	if rep, err := crashed.Verify(ctx); err != nil || rep.Events != 2401 {
		t.Fatalf("after a crash: Verify = %+v, %v; want 2401 events", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, walDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("after a clean close the log directory holds %d files", len(entries))
	}
}

// TestApplierFailure makes ledger.db refuse commits: appends go on until
// the events waiting for it reach their limit, then fail with
// ErrUnavailable instead of waiting forever; once commits succeed again,
// so do appends, and nothing acknowledged is lost.
func TestApplierFailure(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	s := mustOpenTuned(t, t.TempDir(), func(s *Store) {
		s.applyMin, s.applyDelay, s.maxMemEvents = 5, time.Millisecond, 20
		s.applyFault = func() error {
			if failing.Load() {
				return errors.New("injected: disk full")
			}
			return nil
		}
	})
	ctx := context.Background()
	var acked []eventstore.Event
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		var res eventstore.AppendResult
		if res, err = s.Append(ctx, "s", eventstore.Any, testEvent(i)); err == nil {
			acked = append(acked, res.Events...)
		}
	}
	if !errors.Is(err, eventstore.ErrUnavailable) || len(acked) != 20 {
		t.Fatalf("after %d appends: err = %v, want ErrUnavailable after 20", len(acked), err)
	}
	failing.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.Append(ctx, "s", eventstore.Any, testEvent(100))
		if err == nil {
			acked = append(acked, res.Events...)
			break
		}
		if !errors.Is(err, eventstore.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after commits work again: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkLog(t, s, acked...)
	if rep, err := s.Verify(ctx); err != nil || rep.Events != uint64(len(acked)) {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// TestSubscribeClosed checks that Close ends a live subscription with
// ErrClosed.
func TestSubscribeClosed(t *testing.T) {
	s := mustOpenTuned(t, t.TempDir(), nil)
	if _, err := s.Append(context.Background(), "s", eventstore.Any, testEvent(0)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	caughtUp := make(chan struct{})
	go func() {
		for msg, err := range s.Subscribe(context.Background(), 0) {
			if err != nil {
				errc <- err
				return
			}
			if msg.CaughtUp {
				close(caughtUp)
			}
		}
		errc <- nil
	}()
	<-caughtUp
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("subscription ended with %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription still running 10s after Close")
	}
	if _, err := s.Append(context.Background(), "s", eventstore.Any, testEvent(1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("append after Close: err = %v, want ErrClosed", err)
	}
}

// TestRetryNewestIDs retries appends of time-ordered ids (version 7, from
// NewID), which an append does not look up anywhere while they are newer
// than every such id the store holds (see newV7): the newest id, retried
// while its event is in memory, once it is in ledger.db, after a crash-like
// reopen that finds it only in the write-ahead log and after a reopen that
// finds it only in ledger.db, is answered with the original, and other
// content under it is refused.
func TestRetryNewestIDs(t *testing.T) {
	ctx := context.Background()
	held := func(s *Store) { s.applyMin, s.applyDelay = 1<<30, time.Hour }
	// scanned waits until the applier has read ledger.db's ids, so that
	// newV7 may answer true.
	scanned := func(s *Store) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); s.v7InDB.Load() == math.MaxUint64; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the applier did not read the id index")
			}
		}
	}
	retry := func(s *Store, where string, d eventstore.EventData, orig eventstore.Event) {
		t.Helper()
		scanned(s)
		again, err := s.Append(ctx, orig.Stream, eventstore.Any, d)
		if err != nil || !again.Duplicate || len(again.Events) != 1 || again.Events[0].Position != orig.Position || again.Events[0].ContentHash != orig.ContentHash {
			t.Fatalf("%s: retry = %+v, %v; want the original at %d", where, again, err, orig.Position)
		}
		changed := d
		changed.Payload = []byte(`{"n":-1}`)
		if _, err := s.Append(ctx, "other", eventstore.Any, changed); !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Fatalf("%s: other content under the id: err = %v, want ErrDuplicateEventID", where, err)
		}
	}
	dir := t.TempDir()
	s := mustOpenTuned(t, dir, held)
	var d eventstore.EventData
	var orig eventstore.Event
	for i := 0; i < 3; i++ {
		d = testEvent(i)
		d.ID = eventstore.NewID()
		res, err := s.Append(ctx, "s", eventstore.Any, d)
		if err != nil {
			t.Fatal(err)
		}
		orig = res.Events[0]
	}
	retry(s, "in memory", d, orig)

	crashed := mustOpenTuned(t, copyDir(t, dir), held)
	if got := crashed.Stats().Pending; got != 3 {
		t.Fatalf("recovered %d events from the write-ahead log, want 3", got)
	}
	retry(crashed, "recovered from the write-ahead log", d, orig)

	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	retry(s, "in ledger.db", d, orig)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := mustOpenTuned(t, dir, held)
	if got := reopened.Stats().Pending; got != 0 {
		t.Fatalf("%d events in the write-ahead log after a flush, want 0", got)
	}
	retry(reopened, "only in ledger.db", d, orig)
	// A new id is newer than all of them: its append looks nowhere.
	if id := eventstore.NewID(); !reopened.newV7(&id) {
		t.Errorf("a new id %s is not newer than the store's (%x in ledger.db, %x since open)", id, reopened.v7InDB.Load(), reopened.b.v7Max.Load())
	}
	if got := len(readAllT(t, reopened)); got != 3 {
		t.Errorf("log has %d events, want 3", got)
	}

	// A failed write forgets its newest ids: appended again, they are
	// new events at the positions the failed write would have had.
	lost := testEvent(9)
	lost.ID = eventstore.NewID()
	written := appendAfterFailedWrite(t, reopened, "s", eventstore.Any, lost, 4)
	retry(reopened, "after a failed write", lost, written)
	if err := reopened.flush(); err != nil {
		t.Fatal(err)
	}
	retry(reopened, "after a failed write, in ledger.db", lost, written)
}

// TestIDRun checks the run of newest ids: found by binary search while
// held, gone once dropped from the front (past the point where the rest
// moves to the slice's start) or from a position on.
func TestIDRun(t *testing.T) {
	var r idRun
	var ids []uuid.UUID
	for i := 0; i < 10_000; i++ {
		id := eventstore.NewID()
		ids = append(ids, id)
		r.push(id, eventstore.Position(i+1))
	}
	if r.dropFront(2) {
		t.Fatal("dropped the id at position 2 while position 1 is first")
	}
	for i := 0; i < 6_000; i++ {
		if !r.dropFront(eventstore.Position(i + 1)) {
			t.Fatalf("could not drop position %d", i+1)
		}
		if i+1 == 5_000 && (r.off != 0 || len(r.entries) != 5_000) {
			t.Errorf("after dropping 5,000 of 10,000: off %d, %d entries; want the rest moved to the start", r.off, len(r.entries))
		}
	}
	r.dropFrom(9_001)
	for i, id := range ids {
		pos, ok := r.find(&id)
		if want := i >= 6_000 && i < 9_000; ok != want || ok && pos != eventstore.Position(i+1) {
			t.Fatalf("id %d: found %v at %d; want found %v at %d", i, ok, pos, want, i+1)
		}
	}
	for i := 6_000; i < 9_000; i++ {
		if !r.dropFront(eventstore.Position(i + 1)) {
			t.Fatalf("could not drop position %d", i+1)
		}
	}
	if r.off != 0 || len(r.entries) != 0 {
		t.Errorf("emptied: off %d, %d entries; want none", r.off, len(r.entries))
	}
	r.push(ids[0], 1) // an emptied run takes ids again
	if pos, ok := r.find(&ids[0]); !ok || pos != 1 {
		t.Errorf("after emptying: find = %d, %v", pos, ok)
	}
}

// BenchmarkStageIDs is the builder's id bookkeeping for one appended event
// as the store does it: the checks that the id is not recorded (outside
// and then under the builder's lock), adding it to a group, and the
// applier forgetting the oldest 32,768 ids whenever 65,536 wait. Random
// ids (version 4, or 5 from an idempotency key) take the map; the
// time-ordered ids NewID makes take the ordered run and skip the checks.
// The ids are made before the timer starts.
func BenchmarkStageIDs(b *testing.B) {
	const applyAt, applyMax = 65_536, 32_768
	for _, c := range []struct {
		name  string
		newID func() uuid.UUID
	}{{"ids=random", uuid.New}, {"ids=time-ordered", eventstore.NewID}} {
		b.Run(c.name, func(b *testing.B) {
			s := &Store{}
			s.v7InDB.Store(0) // an empty ledger.db, read
			s.b.ids = make(map[uuid.UUID]eventstore.Position)
			s.b.streams = make(map[string]uint64)
			s.ids.Store(newIDFilter(1 << 20))
			ids := make([]uuid.UUID, b.N)
			for i := range ids {
				ids[i] = c.newID()
			}
			rec := make([]byte, 560)
			g := s.b.newGroup()
			b.ResetTimer()
			for i := range ids {
				id := &ids[i]
				pos := eventstore.Position(i + 1)
				if f := s.ids.Load(); !s.newV7(id) && f.mayContain(id) {
					b.Fatal("a new id may be in ledger.db")
				}
				if _, found := s.b.lookUp(id); found {
					b.Fatal("a new id is staged")
				}
				s.b.add(g, &eventstore.Event{EventData: eventstore.EventData{ID: *id}, Stream: "s", Position: pos}, rec)
				if len(g.entries) == 64 {
					g.frames, g.entries = g.frames[:0], g.entries[:0]
				}
				if waiting := int(pos) - int(s.appliedPos.Load()); waiting == applyAt {
					first := s.appliedPos.Load() + 1
					for j := range applyMax {
						p := eventstore.Position(first) + eventstore.Position(j)
						s.b.forget(&ids[p-1], p)
					}
					s.appliedPos.Add(applyMax)
				}
			}
		})
	}
}
