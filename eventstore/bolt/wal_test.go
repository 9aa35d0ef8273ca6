package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// walEvents returns n valid recorded events of one stream.
func walEvents(n int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		e := eventstore.Event{
			EventData: eventstore.EventData{
				ID: uuid.New(), Type: "SelfScoreRecorded", SchemaVersion: 1,
				Actor:   eventstore.Actor{ID: "u", Role: "unit", Scope: "001"},
				Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			},
			Stream: "assessment-001", Revision: uint64(i), Position: eventstore.Position(i + 1),
			RecordedAt: time.Date(2017, 10, 1, 8, 0, i, 0, time.UTC),
		}
		e.ContentHash = e.ComputeHash()
		out[i] = e
	}
	return out
}

// writeSegment writes events as a preallocated segment file, followed by
// tail bytes at offset tailAt (relative to the end of the frames).
func writeSegment(t *testing.T, dir string, events []eventstore.Event, tail []byte, tailAt int) string {
	t.Helper()
	var frames []byte
	for i := range events {
		frames = appendFrame(frames, events[i].Position, encodeImported(&events[i]))
	}
	b := make([]byte, segmentMinSize+maxGroupWrite+8192)
	copy(b, frames)
	copy(b[len(frames)+tailAt:], tail)
	path := filepath.Join(dir, walDir, fmt.Sprintf("%020d%s", events[0].Position, walExt))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// emptyLedger creates ledger.db with no events and no log.
func emptyLedger(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, walDir)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWAL(t *testing.T) {
	events := walEvents(50)
	readAll := func(t *testing.T, s *Store) []eventstore.Event {
		var out []eventstore.Event
		for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	t.Run("OKRecovers", func(t *testing.T) {
		dir := emptyLedger(t)
		writeSegment(t, dir, events, nil, 0)
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := readAll(t, s)
		if len(got) != 50 || got[49].ID != events[49].ID || !got[49].RecordedAt.Equal(events[49].RecordedAt) {
			t.Fatalf("recovered %d events, want the 50 in the log", len(got))
		}
		if rep, err := s.Verify(context.Background()); err != nil || rep.Events != 50 {
			t.Errorf("Verify after recovery = %+v, %v", rep, err)
		}
		// Appends continue the recovered stream.
		res, err := s.Append(context.Background(), "assessment-001", eventstore.Exact(49), eventstore.EventData{
			ID: uuid.New(), Type: "E", SchemaVersion: 1, Payload: []byte(`{}`)})
		if err != nil || res.Events[0].Position != 51 || res.Events[0].Revision != 50 {
			t.Errorf("append after recovery = %+v, %v", res, err)
		}
	})
	t.Run("OKTornWrite", func(t *testing.T) {
		dir := emptyLedger(t)
		// A group write cut short: the header of a frame and half its body.
		torn := appendFrame(nil, 51, encodeImported(&events[0]))[:40]
		path := writeSegment(t, dir, events, torn, 0)
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("open with a torn last write: %v", err)
		}
		if got := len(readAll(t, s)); got != 50 {
			t.Errorf("recovered %d events, want 50", got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the log was not removed after a clean close: %v", err)
		}
	})
	for _, tt := range []struct {
		name   string
		tail   []byte
		tailAt int
	}{
		{"ErrCorruptDataAfterEnd", []byte("written long after the last group"), maxGroupWrite + 4096},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := emptyLedger(t)
			writeSegment(t, dir, events, tt.tail, tt.tailAt)
			if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("ErrCorruptEarlierSegment", func(t *testing.T) {
		dir := emptyLedger(t)
		path := writeSegment(t, dir, events[:30], nil, 0)
		writeSegment(t, dir, events[30:], nil, 0)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[200] ^= 0xff
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("ErrCorruptGap", func(t *testing.T) {
		dir := emptyLedger(t)
		writeSegment(t, dir, events[5:], nil, 0)
		if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt for a log that starts at 6", err)
		}
	})
}
