package esdb

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/status"

	"github.com/parledger/parledger/eventstore"
)

// appendAttempts is how many times one append is sent, with the same
// event ids, while the server is unreachable or its answers are lost.
const appendAttempts = 3

// Append writes events to the end of stream if it is in the expected
// state, with EventStoreDB's optimistic concurrency. It then reads the
// events back: the result holds them as recorded, with their positions.
//
// A wrong expected revision is an *eventstore.ConflictError. Sending
// again ids that are recorded (EventStoreDB answers such a retry with
// success and writes nothing) returns the recorded events with Duplicate
// set; if they are recorded with other content, or in another stream or
// arrangement as far as the store can tell, it is an
// eventstore.ErrDuplicateEventID error. An unreachable server is retried
// a few times with the same ids, then is an eventstore.ErrUnavailable
// error: the events may or may not be written; retry with the same ids.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.isClosed() {
		return eventstore.AppendResult{}, errClosed
	}
	prepared, err := eventstore.PrepareAppend(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.checkStream(stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	start := time.Now()
	defer func() { s.m.appendSeconds.Observe(time.Since(start).Seconds()) }()
	ids := make([]uuid.UUID, len(prepared))
	hashes := make([]eventstore.Hash, len(prepared))
	for i := range prepared {
		ids[i] = prepared[i].ID
		hashes[i] = sha256.Sum256(eventstore.Canonical(stream, &prepared[i]))
	}
	if res, ok, err := s.knownRetry(ctx, stream, expected, ids, hashes); ok || err != nil {
		return res, err
	}
	appendID := uuid.New()
	at := s.clock().UTC()
	data := make([]esdb.EventData, len(prepared))
	for i := range prepared {
		if data[i], err = encodeEvent(&prepared[i], hashes[i], at, appendID, nil); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	wr, err := s.write(ctx, s.esdbStream(stream), toExpected(expected), data)
	switch k := classify(err); {
	case k == kindWrongVersion:
		return eventstore.AppendResult{}, s.conflict(ctx, stream, expected, ids[0])
	case k == kindInvalid && strings.Contains(err.Error(), "Maximum Append Size"):
		return eventstore.AppendResult{}, fmt.Errorf("esdb: %w: %d events: the server refused them (%v); raise its MaxAppendSize (docs/deployment.md)",
			eventstore.ErrBatchTooLarge, len(data), status.Convert(err).Message())
	case err != nil:
		return eventstore.AppendResult{}, s.translate(ctx, "append", fmt.Errorf("stream %q: %w", stream, err))
	}
	recorded, err := s.readBack(ctx, stream, ids, hashes, wr.NextExpectedVersion)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return appendResult(recorded, recorded[0].appendID != appendID), nil
}

func appendResult(recorded []decoded, duplicate bool) eventstore.AppendResult {
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(recorded)), Duplicate: duplicate}
	for i := range recorded {
		res.Events[i] = recorded[i].Event
	}
	return res
}

func toExpected(e eventstore.ExpectedRevision) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if r, ok := e.Revision(); ok {
		return esdb.Revision(r)
	}
	return esdb.Any{}
}

// write sends an append, again (same ids) while the server is
// unreachable or its answer is lost, all within the store's timeout, and
// returns the client's result or error.
func (s *Store) write(ctx context.Context, stream string, expected esdb.ExpectedRevision, data []esdb.EventData) (*esdb.WriteResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		wr, err := do(ctx, s, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
			return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected, Deadline: &s.timeout}, data...)
		})
		if err == nil {
			return wr, nil
		}
		if k := classify(err); k != kindUnavailable && k != kindClosedConn || attempt == appendAttempts || ctx.Err() != nil {
			return nil, err
		}
		s.m.appendRetries.Inc()
		if !sleep(ctx, backoff) {
			return nil, err
		}
		backoff *= 2
	}
}

// knownRetry answers an append whose ids the store remembers (ok true):
// the recorded events, read back, with Duplicate set; or an
// eventstore.ErrDuplicateEventID error when they are recorded with other
// content, in another stream or another arrangement. A retry whose
// expected revision does not fit where the events are is left to the
// server, which answers it with a wrong expected version.
func (s *Store) knownRetry(ctx context.Context, stream string, expected eventstore.ExpectedRevision, ids []uuid.UUID, hashes []eventstore.Hash) (eventstore.AppendResult, bool, error) {
	known := 0
	var first uint64
	for i, id := range ids {
		e, ok := s.ids.lookup(id)
		if !ok {
			continue
		}
		if e.stream != stream || e.hash != hashes[i] {
			return eventstore.AppendResult{}, false, fmt.Errorf("esdb: %w: event %s is recorded in %q revision %d with other content",
				eventstore.ErrDuplicateEventID, id, e.stream, e.revision)
		}
		if known == 0 {
			first = e.revision - uint64(i)
		}
		if known != i || e.revision != first+uint64(i) {
			return eventstore.AppendResult{}, false, fmt.Errorf("esdb: %w: event %s is recorded in %q revision %d, not as part of this append",
				eventstore.ErrDuplicateEventID, id, e.stream, e.revision)
		}
		known++
	}
	switch known {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(ids):
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf("esdb: %w: the append mixes recorded event ids with new ones", eventstore.ErrDuplicateEventID)
	}
	if r, ok := expected.Revision(); ok && first != r+1 || expected.IsNoStream() && first != 0 {
		return eventstore.AppendResult{}, false, nil
	}
	recorded, err := s.readBack(ctx, stream, ids, hashes, first+uint64(len(ids))-1)
	if err != nil {
		return eventstore.AppendResult{}, true, err
	}
	return appendResult(recorded, true), true, nil
}

// readBack reads the events an append recorded, ending at revision last,
// and checks that they are the ids and content sent. A node that
// acknowledged the append but cannot show it yet is retried briefly.
func (s *Store) readBack(ctx context.Context, stream string, ids []uuid.UUID, hashes []eventstore.Hash, last uint64) ([]decoded, error) {
	n := uint64(len(ids))
	if last+1 < n {
		return nil, fmt.Errorf("esdb: %w: the server reported revision %d for an append of %d events to %q", eventstore.ErrCorrupt, last, n, stream)
	}
	first := last + 1 - n
	var page []*esdb.ResolvedEvent
	for try := 0; ; try++ {
		var err error
		page, err = s.readStreamPage(ctx, s.esdbStream(stream), esdb.Forwards, esdb.Revision(first), n)
		if err == nil && uint64(len(page)) == n {
			break
		}
		if err != nil && classify(err) != kindNotFound {
			return nil, s.translate(ctx, "append", fmt.Errorf("read back %q: %w", stream, err))
		}
		if try == 3 || !sleep(ctx, 20*time.Millisecond<<try) {
			return nil, fmt.Errorf("esdb: append to %q: %w: the server acknowledged revision %d but the events cannot be read back; retry with the same event ids",
				stream, eventstore.ErrUnavailable, last)
		}
	}
	out := make([]decoded, n)
	for i, re := range page {
		e, err := s.decode(re.OriginalEvent())
		if err != nil {
			return nil, err
		}
		s.ids.remember(e.ID, idEntry{stream: e.Stream, revision: e.Revision, hash: e.ContentHash})
		s.bounds.add(uint64(e.Position))
		switch {
		case e.Revision != first+uint64(i):
			return nil, fmt.Errorf("esdb: %w: stream %q has revision %d where %d was expected", eventstore.ErrCorrupt, stream, e.Revision, first+uint64(i))
		case e.ID != ids[i]:
			return nil, fmt.Errorf("esdb: %w: EventStoreDB took the append for a retry, but %q revision %d is event %s, not %s",
				eventstore.ErrDuplicateEventID, stream, e.Revision, e.ID, ids[i])
		case e.ContentHash != hashes[i]:
			return nil, fmt.Errorf("esdb: %w: event %s is already recorded in %q revision %d with other content",
				eventstore.ErrDuplicateEventID, e.ID, stream, e.Revision)
		}
		out[i] = e
	}
	return out, nil
}

// conflict explains a wrong expected version: EventStoreDB also answers
// so when an append's first id is recorded at the expected place but a
// later one is not (a partial retry), and, for expected revision any,
// only then.
func (s *Store) conflict(ctx context.Context, stream string, expected eventstore.ExpectedRevision, firstID uuid.UUID) error {
	cur, exists, err := s.lastRevision(ctx, stream)
	if err != nil {
		return err
	}
	dup := fmt.Errorf("esdb: %w: event %s and others of this append are recorded in %q, but not as this append", eventstore.ErrDuplicateEventID, firstID, stream)
	switch {
	case expected.IsAny():
		return dup
	case expected.IsStreamExists():
		if exists {
			return dup
		}
	default:
		after := int64(-1)
		if r, ok := expected.Revision(); ok {
			after = int64(r)
		}
		if exists && int64(cur) > after {
			page, err := s.readStreamPage(ctx, s.esdbStream(stream), esdb.Forwards, esdb.Revision(uint64(after+1)), 1)
			if err == nil && len(page) == 1 && page[0].OriginalEvent().EventID == firstID {
				return dup
			}
		}
	}
	return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: cur, ActualExists: exists}
}

// lastRevision returns the revision of a stream's last event (exists
// false: no events).
func (s *Store) lastRevision(ctx context.Context, stream string) (uint64, bool, error) {
	page, err := s.readStreamPage(ctx, s.esdbStream(stream), esdb.Backwards, esdb.End{}, 1)
	switch {
	case classify(err) == kindNotFound:
		return 0, false, nil
	case err != nil:
		return 0, false, s.translate(ctx, "read", fmt.Errorf("stream %q: %w", stream, err))
	case len(page) == 0:
		return 0, false, nil
	}
	return page[0].OriginalEvent().EventNumber, true, nil
}

// Import batches: runs of one stream are written as one append, within
// EventStoreDB's default MaxAppendSize (1 MiB) with room for envelopes.
const (
	importRunEvents = 256
	importRunBytes  = 512 << 10
)

// Import writes already-recorded events, in order, keeping their ids,
// streams, revisions, recorded times and content hashes (in the
// envelope, with their original position and revision). It first checks
// the whole batch: every hash verifies and every event is the next
// revision of its stream in EventStoreDB (else eventstore.ErrHashMismatch
// or eventstore.ErrImportMismatch, and nothing is written). It then
// appends runs of consecutive events of one stream at the exact expected
// revision. EventStoreDB cannot write several streams atomically: if a
// run fails midway (an unreachable server, a concurrent writer), the runs
// before it stay written, which is a prefix of the batch in log order,
// so eventstore.Import resumes after it.
func (s *Store) Import(ctx context.Context, events []eventstore.Event) error {
	if s.isClosed() {
		return errClosed
	}
	if len(events) == 0 {
		return nil
	}
	next := make(map[string]uint64)
	seen := make(map[uuid.UUID]int, len(events))
	for i := range events {
		e := &events[i]
		if err := eventstore.ValidateImported(e); err != nil {
			return fmt.Errorf("esdb: import: %w", err)
		}
		if err := s.checkStream(e.Stream); err != nil {
			return fmt.Errorf("esdb: import: event %s: %w", e.ID, err)
		}
		if j, dup := seen[e.ID]; dup {
			return fmt.Errorf("esdb: import: %w: events %d and %d have the same id %s", eventstore.ErrInvalidEvent, j, i, e.ID)
		}
		seen[e.ID] = i
		want, ok := next[e.Stream]
		if !ok {
			cur, exists, err := s.lastRevision(ctx, e.Stream)
			if err != nil {
				return err
			}
			if exists {
				want = cur + 1
			}
		}
		if e.Revision != want {
			return fmt.Errorf("esdb: %w: event %s is revision %d of %q, but the stream's next revision is %d", eventstore.ErrImportMismatch, e.ID, e.Revision, e.Stream, want)
		}
		next[e.Stream] = want + 1
		if k, ok := s.ids.lookup(e.ID); ok {
			return fmt.Errorf("esdb: %w: event %s is already recorded in %q revision %d", eventstore.ErrImportMismatch, e.ID, k.stream, k.revision)
		}
	}
	importID := uuid.New()
	for i := 0; i < len(events); {
		j, size := i, 0
		for j < len(events) && events[j].Stream == events[i].Stream && j-i < importRunEvents && (j == i || size+len(events[j].Payload) < importRunBytes) {
			size += len(events[j].Payload) + 1024
			j++
		}
		if err := s.importRun(ctx, events[i:j], importID); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// importRun appends consecutive events of one stream.
func (s *Store) importRun(ctx context.Context, run []eventstore.Event, importID uuid.UUID) error {
	stream := run[0].Stream
	var expected eventstore.ExpectedRevision = eventstore.NoStream
	if run[0].Revision > 0 {
		expected = eventstore.Exact(run[0].Revision - 1)
	}
	ids := make([]uuid.UUID, len(run))
	hashes := make([]eventstore.Hash, len(run))
	data := make([]esdb.EventData, len(run))
	for i := range run {
		e := &run[i]
		ids[i], hashes[i] = e.ID, e.ContentHash
		var err error
		if data[i], err = encodeEvent(&e.EventData, e.ContentHash, e.RecordedAt, importID, &imported{Position: e.Position, Revision: e.Revision}); err != nil {
			return err
		}
	}
	wr, err := s.write(ctx, s.esdbStream(stream), toExpected(expected), data)
	switch k := classify(err); {
	case k == kindWrongVersion:
		return fmt.Errorf("esdb: %w: stream %q is no longer at %s: written to during the import", eventstore.ErrImportMismatch, stream, expected)
	case k == kindInvalid && strings.Contains(err.Error(), "Maximum Append Size"):
		return fmt.Errorf("esdb: import: %w: %d events of %q: the server refused them (%v); raise its MaxAppendSize (docs/deployment.md)",
			eventstore.ErrBatchTooLarge, len(data), stream, status.Convert(err).Message())
	case err != nil:
		return s.translate(ctx, "import", fmt.Errorf("stream %q: %w", stream, err))
	}
	recorded, err := s.readBack(ctx, stream, ids, hashes, wr.NextExpectedVersion)
	if err != nil {
		return err
	}
	if recorded[0].appendID != importID {
		return fmt.Errorf("esdb: %w: events of %q from revision %d were already recorded", eventstore.ErrImportMismatch, stream, run[0].Revision)
	}
	return nil
}
