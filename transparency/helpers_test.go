package transparency_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/storetest"
	"github.com/parledger/parledger/transparency"
)

// quiet discards the logs of the Merkle logs under test.
var quiet = slog.New(slog.DiscardHandler)

// testEvent returns a recorded event with a valid content hash: event i
// of the log, revision i of stream "s", at position i+1.
func testEvent(i int) eventstore.Event {
	e := eventstore.Event{
		EventData: eventstore.EventData{
			ID:            eventstore.DeterministicID(fmt.Sprintf("test-%d", i)),
			Type:          "SelfScoreRecorded",
			SchemaVersion: 1,
			Actor:         eventstore.Actor{ID: "u-snv-01", Role: "unit", Scope: "SNV"},
			Payload:       []byte(fmt.Sprintf(`{"n":%d,"points":"1.25"}`, i)),
		},
		Stream:     "s",
		Revision:   uint64(i),
		Position:   eventstore.Position(i + 1),
		RecordedAt: time.Date(2017, 3, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
	}
	e.ContentHash = e.ComputeHash()
	return e
}

func testEvents(n int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		out[i] = testEvent(i)
	}
	return out
}

// MustOpen opens a Log at a new path and closes it when the test ends.
func MustOpen(tb testing.TB, opts transparency.Options) *transparency.Log {
	tb.Helper()
	return MustOpenAt(tb, filepath.Join(tb.TempDir(), transparency.FileName), opts)
}

// MustOpenAt opens the Log at path and closes it when the test ends.
func MustOpenAt(tb testing.TB, path string, opts transparency.Options) *transparency.Log {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	l, err := transparency.Open(path, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// MustAppend appends events to l.
func MustAppend(tb testing.TB, l *transparency.Log, events ...eventstore.Event) {
	tb.Helper()
	if err := l.Append(events...); err != nil {
		tb.Fatalf("append: %v", err)
	}
}

// MustSigner returns a signer with a fresh key for origin.
func MustSigner(tb testing.TB, origin string) (*transparency.Signer, note.Signer) {
	tb.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := transparency.NewSigner(skey, origin)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, raw
}

// MustCheckpoint signs a checkpoint of l now and parses it back.
func MustCheckpoint(tb testing.TB, l *transparency.Log, s *transparency.Signer) transparency.Checkpoint {
	tb.Helper()
	signed, err := l.Checkpoint(s)
	if err != nil {
		tb.Fatalf("checkpoint: %v", err)
	}
	cp, err := transparency.ParseCheckpoint(signed, s.Verifier())
	if err != nil {
		tb.Fatalf("parse own checkpoint: %v\n%s", err, signed)
	}
	return cp
}

// MustLedger makes a bolt ledger of n events in 4 streams in dir and
// returns the events as recorded. The store is closed.
func MustLedger(tb testing.TB, dir string, n int) []eventstore.Event {
	tb.Helper()
	s, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < n; i++ {
		storetest.MustAppend(tb, s, fmt.Sprintf("s-%d", i%4), eventstore.Any, storetest.NewEvent("E", i))
	}
	return storetest.Collect(tb, s.ReadAll(context.Background(), eventstore.ReadAllOptions{}))
}

// MustOpenStore opens the bolt ledger in dir and closes it when the test
// ends.
func MustOpenStore(tb testing.TB, dir string) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		tb.Fatalf("open ledger %s: %v", dir, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// following runs Follow in the background; stop ends it and returns what
// Follow returned.
type following struct {
	cancel context.CancelFunc
	done   chan error
}

func startFollow(tb testing.TB, l *transparency.Log, s eventstore.Store) *following {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- l.Follow(ctx, s) }()
	tb.Cleanup(func() { _ = f.stop(tb) })
	return f
}

func (f *following) stop(tb testing.TB) error {
	f.cancel()
	select {
	case err := <-f.done:
		f.done <- err // stop may be called again
		return err
	case <-time.After(10 * time.Second):
		tb.Fatal("Follow did not return within 10s of its context ending")
		return nil
	}
}

// wait returns Follow's result, which must come within 10 seconds.
func (f *following) wait(tb testing.TB) error {
	tb.Helper()
	select {
	case err := <-f.done:
		f.done <- err
		return err
	case <-time.After(10 * time.Second):
		tb.Fatal("Follow did not stop within 10s")
		return nil
	}
}

// mustWaitSize waits (at most 10 seconds) until l has size leaves.
func mustWaitSize(tb testing.TB, l *transparency.Log, size uint64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitSize(ctx, size); err != nil {
		tb.Fatalf("waiting for %d leaves (have %d): %v", size, l.Size(), err)
	}
}

// eventErr returns err's *EventError, failing the test if there is none.
func eventErr(tb testing.TB, err error) *transparency.EventError {
	tb.Helper()
	var ee *transparency.EventError
	if !errors.As(err, &ee) {
		tb.Fatalf("err = %v, want an *EventError", err)
	}
	return ee
}
