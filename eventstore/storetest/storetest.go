// Package storetest is the compliance suite of the eventstore contract.
// Every store runs it in a few lines:
//
//	func TestCompliance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{Open: openTestStore, Features: storetest.Features{GaplessPositions: true}})
//	}
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/eventstore"
)

// Harness tells the suite how to get stores.
type Harness struct {
	// Open returns a new, empty store, closed by the harness's own
	// t.Cleanup, and a function that closes it and opens it again on the
	// same data (nil when the store cannot be reopened).
	Open func(t testing.TB) (s eventstore.Store, reopen func() eventstore.Store)
	// Features switches on checks that only some stores promise.
	Features Features
}

// Features are promises beyond the contract's minimum.
type Features struct {
	// GaplessPositions: global positions are 1, 2, 3, ... with no gaps.
	GaplessPositions bool
}

// Run runs every compliance test against stores from h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"ExpectedRevision", testExpectedRevision},
		{"RaceAtSameRevision", testRace},
		{"ConcurrentStreams", testConcurrentStreams},
		{"ReadYourAppend", testReadYourAppend},
		{"IdempotentRetry", testIdempotent},
		{"ErrInvalid", testInvalid},
		{"ReadStream", testReadStream},
		{"ReadAll", testReadAll},
		{"ReadCancelled", testReadCancelled},
		{"Subscribe", testSubscribe},
		{"SubscribeResume", testSubscribeResume},
		{"Durability", testDurability},
		{"Import", testImport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// NewEvent returns a valid event of the given type whose payload carries n.
// Its id is time-ordered (eventstore.NewID, as parledger makes ids) for
// an even n and random (version 4, as a client may choose) for an odd n,
// so that every test runs a store on both kinds.
func NewEvent(typ string, n int) eventstore.EventData {
	id := eventstore.NewID()
	if n%2 != 0 {
		id = uuid.New()
	}
	return eventstore.EventData{
		ID:            id,
		Type:          typ,
		SchemaVersion: 1,
		Actor:         eventstore.Actor{ID: "u-snv-01", Role: "home-affairs", Scope: "SNV"},
		Reason:        "Chấm điểm theo tài liệu kiểm chứng",
		Payload:       []byte(fmt.Sprintf(`{"n":%d,"points":"1.25"}`, n)),
	}
}

// MustAppend appends events and fails the test on error.
func MustAppend(tb testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	tb.Helper()
	res, err := s.Append(context.Background(), stream, expected, events...)
	if err != nil {
		tb.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

// Collect reads a whole iterator, failing the test on error.
func Collect[T any](tb testing.TB, seq func(func(T, error) bool)) []T {
	tb.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			tb.Fatalf("read: %v", err)
		}
		out = append(out, v)
	}
	return out
}

func readAll(tb testing.TB, s eventstore.Store) []eventstore.Event {
	tb.Helper()
	return Collect(tb, s.ReadAll(context.Background(), eventstore.ReadAllOptions{}))
}

func readStream(tb testing.TB, s eventstore.Store, stream string, opts eventstore.ReadStreamOptions) []eventstore.Event {
	tb.Helper()
	return Collect(tb, s.ReadStream(context.Background(), stream, opts))
}

// sameEvent compares every envelope field of two recorded events.
func sameEvent(tb testing.TB, got, want eventstore.Event) {
	tb.Helper()
	if !got.RecordedAt.Equal(want.RecordedAt) {
		tb.Errorf("event %s: recorded at %v, want %v", want.ID, got.RecordedAt, want.RecordedAt)
	}
	got.RecordedAt, want.RecordedAt = time.Time{}, time.Time{}
	if len(got.Metadata) == 0 && len(want.Metadata) == 0 {
		got.Metadata, want.Metadata = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("event differs:\n got  %+v\n want %+v", got, want)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	before := time.Now().Add(-time.Second)
	full := eventstore.EventData{
		ID:            uuid.New(),
		Type:          "SelfScoreRecorded",
		SchemaVersion: 2,
		Actor:         eventstore.Actor{ID: "unit-ba-dinh-01", Role: "unit", Scope: "001"},
		Reason:        "Đã ban hành kế hoạch CCHC năm 2017 đúng hạn",
		CorrelationID: "req-7f3a",
		CausationID:   "cmd-91",
		Payload:       []byte("{ \"item\" : \"1.1.1\",\n \"points\": \"0.75\", \"note\": \"<b>&\u2028\" }"),
		Metadata:      map[string]string{"client": "parledger-test", "ip": "127.0.0.1", "ghi-chú": "Hà Nội"},
	}
	second, third := NewEvent("EvidenceAttached", 2), NewEvent("SelfScoreRecorded", 3)
	res := MustAppend(t, s, "assessment-2017-001", eventstore.NoStream, full, second, third)
	if res.Duplicate {
		t.Errorf("Duplicate = true on a first append")
	}
	if got, want := len(res.Events), 3; got != want {
		t.Fatalf("appended %d events, want %d", got, want)
	}
	wantPayload := `{"item":"1.1.1","points":"0.75","note":"<b>&` + "\u2028" + `"}`
	if got := string(res.Events[0].Payload); got != wantPayload {
		t.Errorf("stored payload %q, want compact %q", got, wantPayload)
	}
	for i, e := range res.Events {
		if e.Stream != "assessment-2017-001" || e.Revision != uint64(i) {
			t.Errorf("event %d: stream %q revision %d, want assessment-2017-001 revision %d", i, e.Stream, e.Revision, i)
		}
		if i > 0 && e.Position <= res.Events[i-1].Position {
			t.Errorf("event %d: position %d not after %d", i, e.Position, res.Events[i-1].Position)
		}
		if e.RecordedAt.Before(before) || e.RecordedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d: recorded at %v, not about now", i, e.RecordedAt)
		}
		if e.ContentHash != e.ComputeHash() {
			t.Errorf("event %d: content hash %s, want %s", i, e.ContentHash, e.ComputeHash())
		}
		if err := e.VerifyHash(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if got, want := res.LastRevision(), uint64(2); got != want {
		t.Errorf("LastRevision = %d, want %d", got, want)
	}
	for i, e := range readStream(t, s, "assessment-2017-001", eventstore.ReadStreamOptions{}) {
		sameEvent(t, e, res.Events[i])
	}
	all := readAll(t, s)
	if got, want := len(all), 3; got != want {
		t.Fatalf("log has %d events, want %d", got, want)
	}
	for i, e := range all {
		sameEvent(t, e, res.Events[i])
	}
	if got, want := all[0].Metadata["ghi-chú"], "Hà Nội"; got != want {
		t.Errorf("metadata = %q, want %q", got, want)
	}
	head, err := s.Head(ctxT(t))
	if err != nil || head != res.LastPosition() {
		t.Errorf("Head = %d, %v; want %d", head, err, res.LastPosition())
	}
}

func testExpectedRevision(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	ctx := ctxT(t)
	const stream = "campaign-2017"
	MustAppend(t, s, stream, eventstore.NoStream, NewEvent("CampaignOpened", 0))
	MustAppend(t, s, stream, eventstore.Exact(0), NewEvent("UnitEnrolled", 1))
	MustAppend(t, s, stream, eventstore.StreamExists, NewEvent("UnitEnrolled", 2))
	MustAppend(t, s, stream, eventstore.Any, NewEvent("UnitEnrolled", 3))
	MustAppend(t, s, "other", eventstore.Any, NewEvent("UnitEnrolled", 4))
	head, _ := s.Head(ctx)

	for _, tt := range []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		exists   bool
		actual   uint64
	}{
		{"NoStreamOnExisting", stream, eventstore.NoStream, true, 3},
		{"ExactTooLow", stream, eventstore.Exact(1), true, 3},
		{"ExactTooHigh", stream, eventstore.Exact(9), true, 3},
		{"ExactOnMissing", "missing", eventstore.Exact(0), false, 0},
		{"StreamExistsOnMissing", "missing", eventstore.StreamExists, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(ctx, tt.stream, tt.expected, NewEvent("UnitEnrolled", 9))
			if !errors.Is(err, eventstore.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			var ce *eventstore.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %T, want *ConflictError", err)
			}
			if ce.Stream != tt.stream || ce.ActualExists != tt.exists || ce.Actual != tt.actual || ce.Expected != tt.expected {
				t.Errorf("conflict = %+v, want stream %q exists %v actual %d expected %v", ce, tt.stream, tt.exists, tt.actual, tt.expected)
			}
		})
	}
	if got, _ := s.Head(ctx); got != head {
		t.Errorf("head moved from %d to %d after conflicts", head, got)
	}
	if got, want := len(readStream(t, s, stream, eventstore.ReadStreamOptions{})), 4; got != want {
		t.Errorf("stream has %d events after conflicts, want %d", got, want)
	}
}

func testRace(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	const stream, racers = "assessment-race", 32
	MustAppend(t, s, stream, eventstore.NoStream, NewEvent("AssessmentStarted", 0))
	var wins, conflicts atomic.Int32
	var g errgroup.Group
	for i := 0; i < racers; i++ {
		g.Go(func() error {
			_, err := s.Append(context.Background(), stream, eventstore.Exact(0), NewEvent("SelfScoreRecorded", i), NewEvent("EvidenceAttached", i))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, eventstore.ErrConflict):
				conflicts.Add(1)
			default:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if wins.Load() != 1 || conflicts.Load() != racers-1 {
		t.Fatalf("wins %d, conflicts %d; want 1 and %d", wins.Load(), conflicts.Load(), racers-1)
	}
	events := readStream(t, s, stream, eventstore.ReadStreamOptions{})
	if got, want := len(events), 3; got != want {
		t.Fatalf("stream has %d events, want %d", got, want)
	}
	for i, e := range events {
		if e.Revision != uint64(i) {
			t.Errorf("event %d has revision %d", i, e.Revision)
		}
	}
	// Both events of the winning append carry the same racer's number.
	if string(events[1].Payload) != string(events[2].Payload) {
		t.Errorf("the winning append was split: %s / %s", events[1].Payload, events[2].Payload)
	}
}

func testConcurrentStreams(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	const writers, each = 16, 20
	var g errgroup.Group
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			stream := fmt.Sprintf("assessment-%03d", w)
			for i := 0; i < each; i++ {
				if _, err := s.Append(context.Background(), stream, eventstore.Any, NewEvent("SelfScoreRecorded", i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	all := readAll(t, s)
	if got, want := len(all), writers*each; got != want {
		t.Fatalf("log has %d events, want %d", got, want)
	}
	next := map[string]uint64{}
	for i, e := range all {
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("position %d follows %d", e.Position, all[i-1].Position)
		}
		if h.Features.GaplessPositions && e.Position != eventstore.Position(i+1) {
			t.Fatalf("event %d has position %d, want gapless %d", i, e.Position, i+1)
		}
		if e.Revision != next[e.Stream] {
			t.Fatalf("%s: revision %d, want %d", e.Stream, e.Revision, next[e.Stream])
		}
		next[e.Stream]++
		var payload struct{ N int }
		if err := jsonUnmarshal(e.Payload, &payload); err != nil || uint64(payload.N) != e.Revision {
			t.Fatalf("%s revision %d carries n=%d (%v): events of one writer out of order", e.Stream, e.Revision, payload.N, err)
		}
	}
}

// testReadYourAppend checks that an append, once answered, is visible to
// every read at once, while other writers go on appending: a client that
// reads right after its write (as the HTTP API's callers do) finds it.
func testReadYourAppend(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	const writers, each = 16, 25
	ctx := context.Background()
	var g errgroup.Group
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			stream := fmt.Sprintf("assessment-%03d", w)
			for i := 0; i < each; i++ {
				res, err := s.Append(ctx, stream, eventstore.Any, NewEvent("SelfScoreRecorded", i))
				if err != nil {
					return err
				}
				e := res.Events[0]
				head, err := s.Head(ctx)
				if err != nil {
					return err
				}
				if head < e.Position {
					return fmt.Errorf("%s: head %d after the append of position %d", stream, head, e.Position)
				}
				for _, read := range []struct {
					what string
					seq  iter.Seq2[eventstore.Event, error]
				}{
					{fmt.Sprintf("ReadAll from %d", e.Position), s.ReadAll(ctx, eventstore.ReadAllOptions{From: e.Position, Limit: 1})},
					{"its last event", s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})},
				} {
					got, found, err := first(read.seq)
					switch {
					case err != nil:
						return err
					case !found:
						return fmt.Errorf("%s: %s right after the append found nothing", stream, read.what)
					case got.ID != e.ID:
						return fmt.Errorf("%s: %s is event %s (revision %d), not the append's %s (revision %d)", stream, read.what, got.ID, got.Revision, e.ID, e.Revision)
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// first returns the first event of seq, whether there was one, and the
// first error. Unlike Collect it reports the error instead of failing the
// test, so goroutines other than the test's may call it.
func first(seq iter.Seq2[eventstore.Event, error]) (eventstore.Event, bool, error) {
	for e, err := range seq {
		return e, err == nil, err
	}
	return eventstore.Event{}, false, nil
}

func testIdempotent(t *testing.T, h Harness) {
	ctx := ctxT(t)
	t.Run("OK", func(t *testing.T) {
		s, _ := h.Open(t)
		a, b := NewEvent("SelfScoreRecorded", 1), NewEvent("EvidenceAttached", 1)
		first := MustAppend(t, s, "s1", eventstore.NoStream, a, b)
		head, _ := s.Head(ctx)
		again, err := s.Append(ctx, "s1", eventstore.NoStream, a, b)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if !again.Duplicate {
			t.Errorf("retry: Duplicate = false")
		}
		for i := range first.Events {
			sameEvent(t, again.Events[i], first.Events[i])
		}
		anyAgain, err := s.Append(ctx, "s1", eventstore.Any, a, b)
		if err != nil || !anyAgain.Duplicate {
			t.Errorf("retry with Any: %v, duplicate %v", err, anyAgain.Duplicate)
		}
		// A retry of an older append still answers after later appends.
		MustAppend(t, s, "s1", eventstore.Exact(1), NewEvent("Submitted", 2))
		if res, err := s.Append(ctx, "s1", eventstore.NoStream, a, b); err != nil || !res.Duplicate {
			t.Errorf("late retry: %v, duplicate %v", err, res.Duplicate)
		}
		if got := len(readAll(t, s)); got != 3 {
			t.Errorf("log has %d events, want 3: a retry wrote events", got)
		}
		if h.Features.GaplessPositions {
			if got, _ := s.Head(ctx); got != head+1 {
				t.Errorf("head = %d, want %d: a retry wrote events", got, head+1)
			}
		}
	})
	t.Run("ErrDuplicateEventID", func(t *testing.T) {
		s, _ := h.Open(t)
		a, b := NewEvent("SelfScoreRecorded", 1), NewEvent("EvidenceAttached", 1)
		MustAppend(t, s, "s1", eventstore.NoStream, a)
		head, _ := s.Head(ctx)
		changed := a
		changed.Payload = []byte(`{"n":2}`)
		for name, tt := range map[string]struct {
			stream string
			events []eventstore.EventData
		}{
			"OtherContent": {"s1", []eventstore.EventData{changed}},
			"OtherStream":  {"s2", []eventstore.EventData{a}},
			"PartlyNew":    {"s1", []eventstore.EventData{a, b}},
		} {
			_, err := s.Append(ctx, tt.stream, eventstore.Any, tt.events...)
			if !errors.Is(err, eventstore.ErrDuplicateEventID) || !errors.Is(err, eventstore.ErrConflict) {
				t.Errorf("%s: err = %v, want ErrDuplicateEventID", name, err)
			}
		}
		if got, _ := s.Head(ctx); got != head {
			t.Errorf("head moved from %d to %d", head, got)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		s, _ := h.Open(t)
		a := NewEvent("SelfScoreRecorded", 1)
		MustAppend(t, s, "s1", eventstore.NoStream, NewEvent("Opened", 0))
		MustAppend(t, s, "s1", eventstore.Exact(0), a)
		_, err := s.Append(ctx, "s1", eventstore.Exact(5), a)
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) {
			t.Errorf("same ids at a wrong expected revision: err = %v, want *ConflictError", err)
		}
	})
}

func testInvalid(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	ctx := ctxT(t)
	MustAppend(t, s, "s1", eventstore.NoStream, NewEvent("Opened", 0))
	big := NewEvent("Big", 0)
	big.Payload = []byte(`"` + strings.Repeat("a", eventstore.MaxPayloadSize) + `"`)
	nilID := NewEvent("X", 0)
	nilID.ID = uuid.Nil
	badJSON := NewEvent("X", 0)
	badJSON.Payload = []byte(`{"a":`)
	noType := NewEvent("", 0)
	noVersion := NewEvent("X", 0)
	noVersion.SchemaVersion = 0
	badUTF8 := NewEvent("X", 0)
	badUTF8.Reason = "\xff\xfe"
	dup := NewEvent("X", 0)
	for _, tt := range []struct {
		name   string
		stream string
		events []eventstore.EventData
		want   error
	}{
		{"ErrEmptyAppend", "s1", nil, eventstore.ErrEmptyAppend},
		{"ErrInvalidStream/Empty", "", []eventstore.EventData{NewEvent("X", 0)}, eventstore.ErrInvalidStream},
		{"ErrInvalidStream/Dollar", "$all", []eventstore.EventData{NewEvent("X", 0)}, eventstore.ErrInvalidStream},
		{"ErrInvalidStream/Space", "a b", []eventstore.EventData{NewEvent("X", 0)}, eventstore.ErrInvalidStream},
		{"ErrInvalidStream/Long", strings.Repeat("s", eventstore.MaxStreamNameLen+1), []eventstore.EventData{NewEvent("X", 0)}, eventstore.ErrInvalidStream},
		{"ErrPayloadTooLarge", "s1", []eventstore.EventData{big}, eventstore.ErrPayloadTooLarge},
		{"ErrInvalidEvent/NilID", "s1", []eventstore.EventData{nilID}, eventstore.ErrInvalidEvent},
		{"ErrInvalidEvent/BadJSON", "s1", []eventstore.EventData{badJSON}, eventstore.ErrInvalidEvent},
		{"ErrInvalidEvent/NoType", "s1", []eventstore.EventData{noType}, eventstore.ErrInvalidEvent},
		{"ErrInvalidEvent/NoVersion", "s1", []eventstore.EventData{noVersion}, eventstore.ErrInvalidEvent},
		{"ErrInvalidEvent/BadUTF8", "s1", []eventstore.EventData{badUTF8}, eventstore.ErrInvalidEvent},
		{"ErrInvalidEvent/DuplicateInBatch", "s1", []eventstore.EventData{dup, dup}, eventstore.ErrInvalidEvent},
		{"ErrBatchTooLarge", "s1", make([]eventstore.EventData, eventstore.MaxBatchEvents+1), eventstore.ErrBatchTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(ctx, tt.stream, eventstore.Any, tt.events...)
			if !errors.Is(err, tt.want) || !errors.Is(err, eventstore.ErrInvalid) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if got := len(readAll(t, s)); got != 1 {
		t.Errorf("log has %d events after invalid appends, want 1", got)
	}
}

func testReadStream(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	const stream = "assessment-read"
	for i := 0; i < 10; i++ {
		MustAppend(t, s, "noise", eventstore.Any, NewEvent("Noise", i))
		MustAppend(t, s, stream, eventstore.Any, NewEvent("SelfScoreRecorded", i))
	}
	revs := func(events []eventstore.Event) []uint64 {
		out := []uint64{}
		for _, e := range events {
			if e.Stream != stream {
				t.Errorf("read %q while reading %q", e.Stream, stream)
			}
			out = append(out, e.Revision)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []uint64
	}{
		{"Forwards", eventstore.ReadStreamOptions{}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"ForwardsFrom", eventstore.ReadStreamOptions{From: 7}, []uint64{7, 8, 9}},
		{"ForwardsLimit", eventstore.ReadStreamOptions{From: 2, Limit: 3}, []uint64{2, 3, 4}},
		{"ForwardsPastEnd", eventstore.ReadStreamOptions{From: 10}, []uint64{}},
		{"BackwardsFromEnd", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true}, []uint64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"BackwardsFrom", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 3}, []uint64{3, 2, 1, 0}},
		{"BackwardsLimit", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}, []uint64{9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := revs(readStream(t, s, stream, tt.opts)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("revisions = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("ErrStreamNotFound", func(t *testing.T) {
		n := 0
		for _, err := range s.ReadStream(context.Background(), "missing", eventstore.ReadStreamOptions{}) {
			n++
			if !errors.Is(err, eventstore.ErrStreamNotFound) {
				t.Errorf("err = %v, want ErrStreamNotFound", err)
			}
		}
		if n != 1 {
			t.Errorf("got %d items, want one error", n)
		}
	})
}

func testReadAll(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	var appended []eventstore.Event
	for i := 0; i < 30; i++ {
		res := MustAppend(t, s, fmt.Sprintf("s-%d", i%4), eventstore.Any, NewEvent("E", i))
		appended = append(appended, res.Events...)
	}
	all := readAll(t, s)
	if len(all) != len(appended) {
		t.Fatalf("log has %d events, want %d", len(all), len(appended))
	}
	for i := range all {
		sameEvent(t, all[i], appended[i])
	}
	mid := appended[10].Position
	from := Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{From: mid, Limit: 5}))
	if len(from) != 5 || from[0].ID != appended[10].ID || from[4].ID != appended[14].ID {
		t.Errorf("ReadAll from %d limit 5 gave %d events starting %v", mid, len(from), from)
	}
	back := Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true}))
	if len(back) != len(appended) {
		t.Fatalf("backwards read %d events, want %d", len(back), len(appended))
	}
	for i := range back {
		if back[i].ID != appended[len(appended)-1-i].ID {
			t.Fatalf("backwards event %d is %s, want %s", i, back[i].ID, appended[len(appended)-1-i].ID)
		}
	}
	backFrom := Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: mid, Limit: 3}))
	if len(backFrom) != 3 || backFrom[0].ID != appended[10].ID || backFrom[2].ID != appended[8].ID {
		t.Errorf("backwards from %d limit 3 gave %v", mid, backFrom)
	}
	past := Collect(t, s.ReadAll(context.Background(), eventstore.ReadAllOptions{From: appended[29].Position + 1}))
	if len(past) != 0 {
		t.Errorf("reading past the end gave %d events", len(past))
	}
}

func testReadCancelled(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	for i := 0; i < 3; i++ {
		MustAppend(t, s, "s", eventstore.Any, NewEvent("E", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var sawErr bool
	for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			sawErr = true
		}
	}
	if !sawErr {
		t.Errorf("a read with a cancelled context ended without an error")
	}
	sawErr = false
	for _, err := range s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{}) {
		if err != nil {
			sawErr = true
		}
	}
	if !sawErr {
		t.Errorf("a stream read with a cancelled context ended without an error")
	}
}

// subscriber collects a subscription's events in a goroutine.
type subscriber struct {
	events   chan eventstore.Event
	caughtUp chan struct{}
	errc     chan error
	cancel   context.CancelFunc
}

func subscribe(s eventstore.Store, from eventstore.Position) *subscriber {
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscriber{events: make(chan eventstore.Event, 10000), caughtUp: make(chan struct{}), errc: make(chan error, 1), cancel: cancel}
	go func() {
		caught := false
		for msg, err := range s.Subscribe(ctx, from) {
			if err != nil {
				sub.errc <- err
				return
			}
			if msg.CaughtUp {
				if caught {
					sub.errc <- errors.New("CaughtUp delivered twice")
					return
				}
				caught = true
				close(sub.caughtUp)
				continue
			}
			sub.events <- msg.Event
		}
		sub.errc <- nil
	}()
	return sub
}

func (sub *subscriber) take(tb testing.TB, n int) []eventstore.Event {
	tb.Helper()
	out := make([]eventstore.Event, 0, n)
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case e := <-sub.events:
			out = append(out, e)
		case err := <-sub.errc:
			tb.Fatalf("subscription ended after %d of %d events: %v", len(out), n, err)
		case <-timeout:
			tb.Fatalf("subscription delivered %d of %d events in 30s", len(out), n)
		}
	}
	return out
}

func (sub *subscriber) waitCaughtUp(tb testing.TB) {
	tb.Helper()
	select {
	case <-sub.caughtUp:
	case err := <-sub.errc:
		tb.Fatalf("subscription ended before catching up: %v", err)
	case <-time.After(30 * time.Second):
		tb.Fatalf("subscription did not catch up in 30s")
	}
}

func (sub *subscriber) stop(tb testing.TB) {
	tb.Helper()
	sub.cancel()
	select {
	case err := <-sub.errc:
		if err != nil {
			tb.Errorf("subscription stopped by its reader ended with %v, want no error", err)
		}
	case <-time.After(10 * time.Second):
		tb.Errorf("subscription did not stop within 10s of cancel")
	}
}

func testSubscribe(t *testing.T, h Harness) {
	for _, tt := range []struct {
		name  string
		first int // index of the first of five events delivered in catch-up
	}{
		{"FromStart", 0},
		{"FromMiddle", 3},
		{"FromEnd", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := h.Open(t)
			var appended []eventstore.Event
			for i := 0; i < 5; i++ {
				appended = append(appended, MustAppend(t, s, "s", eventstore.Any, NewEvent("E", i)).Events...)
			}
			from := appended[4].Position + 1
			if tt.first < 5 {
				from = appended[tt.first].Position
			}
			if tt.first == 0 {
				from = 0
			}
			sub := subscribe(s, from)
			defer sub.stop(t)
			caught := sub.take(t, 5-tt.first)
			sub.waitCaughtUp(t)
			for i, e := range caught {
				sameEvent(t, e, appended[tt.first+i])
			}
			live := MustAppend(t, s, "live", eventstore.Any, NewEvent("Live", 1), NewEvent("Live", 2)).Events
			got := sub.take(t, 2)
			for i := range live {
				sameEvent(t, got[i], live[i])
			}
		})
	}
}

func testSubscribeResume(t *testing.T, h Harness) {
	s, _ := h.Open(t)
	const total = 600
	// Writers keep appending while the subscriber drops and resumes.
	var g errgroup.Group
	for w := 0; w < 4; w++ {
		g.Go(func() error {
			for i := 0; i < total/4; i++ {
				if _, err := s.Append(context.Background(), fmt.Sprintf("w-%d", w), eventstore.Any, NewEvent("E", i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var got []eventstore.Event
	next := eventstore.Position(0)
	for len(got) < total {
		sub := subscribe(s, next)
		// Read a few events, then drop the subscription without warning.
		n := min(57, total-len(got))
		batch := sub.take(t, n)
		sub.stop(t)
		got = append(got, batch...)
		next = batch[len(batch)-1].Position + 1
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	all := readAll(t, s)
	if len(all) != total {
		t.Fatalf("log has %d events, want %d", len(all), total)
	}
	for i := range all {
		if got[i].ID != all[i].ID {
			t.Fatalf("resumed subscription event %d is %s at %d, log has %s at %d (gap or duplicate)", i, got[i].ID, got[i].Position, all[i].ID, all[i].Position)
		}
	}
}

func testDurability(t *testing.T, h Harness) {
	s, reopen := h.Open(t)
	if reopen == nil {
		t.Skip("store cannot be reopened")
	}
	var appended []eventstore.Event
	for i := 0; i < 20; i++ {
		appended = append(appended, MustAppend(t, s, fmt.Sprintf("s-%d", i%3), eventstore.Any, NewEvent("E", i)).Events...)
	}
	s = reopen()
	all := readAll(t, s)
	if len(all) != len(appended) {
		t.Fatalf("after reopen the log has %d events, want %d", len(all), len(appended))
	}
	for i := range all {
		sameEvent(t, all[i], appended[i])
	}
	// The reopened store continues revisions and positions.
	res := MustAppend(t, s, "s-0", eventstore.Exact(appended[18].Revision), NewEvent("E", 99))
	if res.Events[0].Position <= appended[19].Position {
		t.Errorf("position after reopen %d, not after %d", res.Events[0].Position, appended[19].Position)
	}
}

func testImport(t *testing.T, h Harness) {
	src, _ := h.Open(t)
	for i := 0; i < 25; i++ {
		MustAppend(t, src, fmt.Sprintf("s-%d", i%5), eventstore.Any, NewEvent("E", i))
	}
	events := readAll(t, src)
	ctx := ctxT(t)
	t.Run("OK", func(t *testing.T) {
		dst, _ := h.Open(t)
		if err := dst.Import(ctx, events[:10]); err != nil {
			t.Fatal(err)
		}
		if err := dst.Import(ctx, events[10:]); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, dst)
		if len(got) != len(events) {
			t.Fatalf("imported %d events, want %d", len(got), len(events))
		}
		for i := range got {
			want := events[i]
			want.Position = got[i].Position
			sameEvent(t, got[i], want)
		}
		// New appends continue the imported streams.
		MustAppend(t, dst, "s-0", eventstore.Exact(events[20].Revision), NewEvent("E", 100))
	})
	t.Run("ErrImportMismatch", func(t *testing.T) {
		dst, _ := h.Open(t)
		if err := dst.Import(ctx, events[:10]); err != nil {
			t.Fatal(err)
		}
		for name, batch := range map[string][]eventstore.Event{
			"Twice":       events[:10],
			"SkipsEvents": events[15:17],
		} {
			if err := dst.Import(ctx, batch); !errors.Is(err, eventstore.ErrImportMismatch) {
				t.Errorf("%s: err = %v, want ErrImportMismatch", name, err)
			}
		}
		if got := len(readAll(t, dst)); got != 10 {
			t.Errorf("log has %d events after refused imports, want 10", got)
		}
	})
	t.Run("ErrHashMismatch", func(t *testing.T) {
		dst, _ := h.Open(t)
		tampered := append([]eventstore.Event(nil), events[:3]...)
		tampered[2].Payload = []byte(`{"n":2,"points":"9.25"}`)
		if err := dst.Import(ctx, tampered); !errors.Is(err, eventstore.ErrHashMismatch) {
			t.Errorf("err = %v, want ErrHashMismatch", err)
		}
		if got := len(readAll(t, dst)); got != 0 {
			t.Errorf("log has %d events after a refused import, want 0", got)
		}
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
