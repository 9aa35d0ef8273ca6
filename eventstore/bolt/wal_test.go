package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

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

// groupFrames returns the frames of events as group writes of up to n
// events, each ended by its commit frame.
func groupFrames(events []eventstore.Event, n int) []byte {
	var frames []byte
	for i := range events {
		frames = appendFrame(frames, events[i].Position, encodeImported(&events[i]))
		if i%n == n-1 || i == len(events)-1 {
			frames = appendCommit(frames, events[i].Position)
		}
	}
	return frames
}

// writeSegment writes frames as a preallocated segment whose first event
// is at first, followed by tail bytes at offset tailAt (relative to the
// end of the frames).
func writeSegment(t *testing.T, dir string, first eventstore.Position, frames, tail []byte, tailAt int) string {
	t.Helper()
	b := make([]byte, segmentMinSize+maxGroupWrite+8192)
	copy(b, frames)
	copy(b[len(frames)+tailAt:], tail)
	path := filepath.Join(dir, walDir, fmt.Sprintf("%020d%s", first, walExt))
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
	// next returns event n (n > 50) of the same stream.
	next := func(n int) eventstore.Event {
		e := walEvents(1)[0]
		e.Revision, e.Position = uint64(n-1), eventstore.Position(n)
		e.ContentHash = e.ComputeHash()
		return e
	}
	t.Run("OKRecovers", func(t *testing.T) {
		dir := emptyLedger(t)
		writeSegment(t, dir, 1, groupFrames(events, 7), nil, 0)
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
	for _, tt := range []struct {
		name string
		tail []byte // what the crash left after the last acknowledged group
	}{
		// A group write cut short: the header of a frame and half its body.
		{"OKTornWrite", groupFrames([]eventstore.Event{next(51)}, 1)[:40]},
		// A group whose event frames all reached the disk, but not its
		// commit frame: it was never acknowledged, and recovering it
		// would recover an append in part.
		{"OKUncommittedGroup", groupFrames([]eventstore.Event{next(51), next(52), next(53)}, 3)[:3*40]},
		{"OKUncommittedGroup/AllEvents", func() []byte {
			b := groupFrames([]eventstore.Event{next(51), next(52)}, 2)
			return b[:len(b)-commitFrame]
		}()},
		// A group whose commit frame survived but an event frame did not.
		{"OKTornGroup", func() []byte {
			b := groupFrames([]eventstore.Event{next(51), next(52)}, 2)
			b[30] ^= 0xff
			return b
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := emptyLedger(t)
			path := writeSegment(t, dir, 1, groupFrames(events, 5), tt.tail, 0)
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if got := len(readAll(t, s)); got != 50 {
				t.Errorf("recovered %d events, want 50", got)
			}
			// The dropped write is gone for good: the next append takes
			// its place and survives a reopen.
			res, err := s.Append(context.Background(), "assessment-001", eventstore.Exact(49), eventstore.EventData{
				ID: uuid.New(), Type: "E", SchemaVersion: 1, Payload: []byte(`{}`)})
			if err != nil || res.Events[0].Position != 51 {
				t.Fatalf("append after recovery = %+v, %v", res, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the log was not removed after a clean close: %v", err)
			}
			s = mustOpenTuned(t, dir, nil)
			if got := readAll(t, s); len(got) != 51 || got[50].ID != res.Events[0].ID {
				t.Errorf("after reopening, %d events", len(got))
			}
		})
	}
	t.Run("OKReusedSegment", func(t *testing.T) {
		// ledger.db holds positions 1 to 30; the log, a reused segment,
		// holds 31 to 50 over the start of its old frames (1 to 30).
		dir := t.TempDir()
		s := mustOpenTuned(t, dir, nil)
		if err := s.Import(context.Background(), events[:30]); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		old := groupFrames(events[:30], 5)
		frames := groupFrames(events[30:], 4)
		if len(frames) >= len(old) {
			t.Fatal("the test wants old frames left after the new ones")
		}
		writeSegment(t, dir, 31, append(frames, old[len(frames):]...), nil, 0)
		s = mustOpenTuned(t, dir, nil)
		if got := s.Stats().Pending; got != 20 {
			t.Errorf("recovered %d events from the log, want 20", got)
		}
		if got := readAll(t, s); len(got) != 50 || got[49].ID != events[49].ID {
			t.Fatalf("log has %d events, want 50", len(got))
		}
		if rep, err := s.Verify(context.Background()); err != nil || rep.Events != 50 {
			t.Errorf("Verify = %+v, %v", rep, err)
		}
	})
	t.Run("OKDamageInApplied", func(t *testing.T) {
		// ledger.db holds 1 to 30; the log holds 1 to 50, damaged at 10:
		// the scan picks the chain up again at 31.
		dir := t.TempDir()
		s := mustOpenTuned(t, dir, nil)
		if err := s.Import(context.Background(), events[:30]); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		frames := groupFrames(events, 5)
		at := bytes.Index(frames, events[9].ID[:])
		frames[at] ^= 0xff
		writeSegment(t, dir, 1, frames, nil, 0)
		s = mustOpenTuned(t, dir, nil)
		if got := s.Stats().Pending; got != 20 {
			t.Errorf("recovered %d events from the log, want 20", got)
		}
		if rep, err := s.Verify(context.Background()); err != nil || rep.Events != 50 {
			t.Errorf("Verify = %+v, %v", rep, err)
		}
	})
	for _, tt := range []struct {
		name   string
		frames []byte
		tail   []byte
		tailAt int
	}{
		// An acknowledged frame far past the end: the end was damaged.
		{"ErrCorruptDataAfterEnd", groupFrames(events[:40], 5), groupFrames(events[45:], 5), maxGroupWrite + 4096},
		// Damage in an acknowledged group with later groups after it.
		{"ErrCorruptDamagedGroup", func() []byte {
			b := groupFrames(events, 5)
			b[20*200] ^= 0xff
			return b
		}(), nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := emptyLedger(t)
			writeSegment(t, dir, 1, tt.frames, tt.tail, tt.tailAt)
			if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("ErrCorruptEarlierSegment", func(t *testing.T) {
		dir := emptyLedger(t)
		path := writeSegment(t, dir, 1, groupFrames(events[:30], 3), nil, 0)
		writeSegment(t, dir, 31, groupFrames(events[30:], 3), nil, 0)
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
		writeSegment(t, dir, 6, groupFrames(events[5:], 3), nil, 0)
		if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt for a log that starts at 6", err)
		}
	})
	t.Run("ErrCorruptOldFormat", func(t *testing.T) {
		dir := emptyLedger(t)
		path := writeSegment(t, dir, 1, groupFrames(events, 3), nil, 0)
		if err := os.Rename(path, strings.TrimSuffix(path, walExt)+oldWALExt); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "older format") {
			t.Errorf("err = %v, want ErrCorrupt naming the older format", err)
		}
	})
}

// TestWALDamageAlreadyApplied damages the log's last group after ledger.db
// has it, then appends and crashes again: the new events must survive.
func TestWALDamageAlreadyApplied(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenTuned(t, dir, nil)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := s.Append(ctx, "s", eventstore.Any, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	// A crash now leaves every event in ledger.db and in the log.
	crashed := copyDir(t, dir)
	seg := filepath.Join(crashed, walDir, fmt.Sprintf("%020d%s", 1, walExt))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	end := len(groupFrames(readAllT(t, s), 1))
	b[end-commitFrame-20] ^= 0xff // inside the last event frame
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := mustOpenTuned(t, crashed, func(s *Store) { s.applyMin, s.applyDelay = 1<<30, time.Hour })
	var want []eventstore.Event
	for i := 10; i < 15; i++ {
		res, err := s2.Append(ctx, "s", eventstore.Any, testEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.Events...)
	}
	// Crash again: the five new events are only in the log.
	s3 := mustOpenTuned(t, copyDir(t, crashed), nil)
	got := readAllT(t, s3)
	if len(got) != 15 {
		t.Fatalf("after the second crash the log has %d events, want 15", len(got))
	}
	for i, e := range want {
		if got[10+i].ID != e.ID {
			t.Errorf("position %d is %s, want %s", 11+i, got[10+i].ID, e.ID)
		}
	}
}

// walModes are the two ways the write-ahead log writes a group: direct
// (O_DIRECT|O_DSYNC, where the file system takes it) and buffered (the
// page cache, then fdatasync).
var walModes = []struct {
	name     string
	buffered bool
}{{"Direct", false}, {"Buffered", true}}

// directIOWorks reports whether the file system under dir takes O_DIRECT.
func directIOWorks(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "direct-probe"), os.O_RDWR|os.O_CREATE|unix.O_DIRECT, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	return os.Remove(f.Name()) == nil
}

// TestWALWrites appends groups of many sizes, so that they end anywhere in
// a 4 KiB block, through small segments, with the applier held (every
// event stays in the log); takes the files as a crash would leave them;
// appends more to that copy, which must continue its last segment in the
// middle of a block; and checks that a second crash-like copy recovers
// every acknowledged event of both. In each write mode, and the mode must
// be the one asked for.
func TestWALWrites(t *testing.T) {
	for _, m := range walModes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			tune := func(s *Store) {
				s.segmentMinSize, s.segmentMaxSize = 16<<10, 32<<10
				s.applyMin, s.applyDelay, s.maxMemEvents, s.maxMemBytes = 1<<30, time.Hour, 1<<30, 1<<30
				s.bufferedWAL = m.buffered
			}
			s := mustOpenTuned(t, dir, tune)
			if want := !m.buffered && directIOWorks(t, dir); (s.wal.direct != nil) != want {
				t.Fatalf("direct writes: %v, want %v", s.wal.direct != nil, want)
			}
			ctx := context.Background()
			var want []eventstore.Event
			appendSome := func(s *Store, from, n int) {
				t.Helper()
				for i := from; i < from+n; i++ {
					d := testEvent(i)
					// Payloads of 10 to about 1,300 bytes, and one or
					// three events a group, so that groups end at every
					// offset of a block.
					d.Payload = []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", (i*379)%1290)))
					events := []eventstore.EventData{d}
					if i%7 == 0 {
						events = append(events, testEvent(-i), testEvent(-2*i))
					}
					res, err := s.Append(ctx, fmt.Sprintf("w-%d", i%5), eventstore.Any, events...)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, res.Events...)
				}
			}
			appendSome(s, 0, 150)
			if s.wal.size%directBlock == 0 {
				appendSome(s, 150, 1) // end in the middle of a block
			}
			crashed := mustOpenTuned(t, copyDir(t, dir), tune)
			if got := crashed.Stats().Pending; got != len(want) {
				t.Fatalf("recovered %d events from the log, want %d", got, len(want))
			}
			checkLog(t, crashed, want...)
			appendSome(crashed, 1000, 150)
			again := mustOpenTuned(t, copyDir(t, crashed.dir), tune)
			checkLog(t, again, want...)
			if rep, err := again.Verify(ctx); err != nil || rep.Events != uint64(len(want)) {
				t.Errorf("Verify = %+v, %v; want %d events", rep, err, len(want))
			}
		})
	}
}

// TestWALDirectRefused has the file system refuse a direct write as
// misaligned (EINVAL): the group is written the buffered way instead, the
// log goes on that way, and nothing acknowledged is lost.
func TestWALDirectRefused(t *testing.T) {
	dir := t.TempDir()
	tune := func(s *Store) { s.applyMin, s.applyDelay = 1<<30, time.Hour }
	s := mustOpenTuned(t, dir, tune)
	if s.wal.direct == nil {
		t.Skip("the file system under the test's directory takes no direct writes")
	}
	ctx := context.Background()
	var want []eventstore.Event
	for i := 0; i < 6; i++ {
		if i == 3 {
			s.wal.fault = func([]byte) (int, error) { return 0, unix.EINVAL }
		}
		res, err := s.Append(ctx, "s", eventstore.Any, testEvent(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		s.wal.fault = nil
		want = append(want, res.Events...)
	}
	if s.wal.direct != nil || !s.wal.buffered {
		t.Errorf("after a refused direct write: direct %v, buffered %v; want buffered writes", s.wal.direct != nil, s.wal.buffered)
	}
	checkLog(t, s, want...)
	checkLog(t, mustOpenTuned(t, copyDir(t, dir), tune), want...)
}
