package bolt

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// writeReq is one append or import waiting for the writer.
type writeReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []preparedEvent    // an append
	imported []eventstore.Event // or an import
	recs     [][]byte           // the import's records
	size     int                // record bytes

	result eventstore.AppendResult
	err    error
	done   chan struct{}
}

// preparedEvent is an appended event encoded by its caller's goroutine, so
// the writer only fills in revision, time and checksum.
type preparedEvent struct {
	data eventstore.EventData
	rec  []byte // record with a blank header
	hash eventstore.Hash
}

// Append writes events to a stream; see eventstore.Store. It returns once
// the events are in the write-ahead log and fdatasync has returned.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	prepared, err := eventstore.PrepareAppend(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &writeReq{ctx: ctx, stream: stream, expected: expected, events: make([]preparedEvent, len(prepared)), done: make(chan struct{})}
	for i := range prepared {
		d := &prepared[i]
		rec := make([]byte, recordHeaderSize, recordHeaderSize+eventstore.CanonicalSize(stream, d))
		rec = eventstore.AppendCanonical(rec, stream, d)
		r.events[i] = preparedEvent{data: *d, rec: rec, hash: sha256.Sum256(rec[recordHeaderSize:])}
		r.size += len(rec)
	}
	if err := s.submit(ctx, r); err != nil {
		return eventstore.AppendResult{}, err
	}
	return r.result, r.err
}

// Import writes already-recorded events; see eventstore.Store.
func (s *Store) Import(ctx context.Context, events []eventstore.Event) error {
	if len(events) == 0 {
		return nil
	}
	r := &writeReq{ctx: ctx, imported: make([]eventstore.Event, len(events)), recs: make([][]byte, len(events)), done: make(chan struct{})}
	for i := range events {
		if err := eventstore.ValidateImported(&events[i]); err != nil {
			return err
		}
		r.imported[i] = events[i]
		r.recs[i] = encodeImported(&events[i])
		r.size += len(r.recs[i])
	}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

func (s *Store) submit(ctx context.Context, r *writeReq) error {
	s.submitMu.RLock()
	if s.closed {
		s.submitMu.RUnlock()
		return eventstore.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.submitMu.RUnlock()
	case <-ctx.Done():
		s.submitMu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeLoop is the single writer: it takes every request queued so far and
// commits them together. Writers whose appends were just acknowledged
// usually come straight back with the next one, so when fewer requests
// are queued than the last group had, it waits up to groupWait for the
// rest: a slightly later fdatasync shared by more appends beats an
// early one shared by few.
func (s *Store) writeLoop() {
	defer close(s.idle)
	var reqs []*writeReq
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	last := 0
	for r := range s.reqs {
		reqs = append(reqs[:0], r)
		size := r.size
		waiting := false
	drain:
		for len(reqs) < maxGroupRequests && size < maxGroupBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				size += r.size
				continue
			default:
			}
			if len(reqs) >= last {
				break
			}
			if !waiting {
				waiting = true
				timer.Reset(groupWait)
			}
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				size += r.size
			case <-timer.C:
				waiting = false
				break drain
			}
		}
		if waiting && !timer.Stop() {
			<-timer.C
		}
		last = len(reqs)
		s.commitGroup(reqs)
	}
}

// group is the writer's view of one group commit: the state as it will be
// once the group is durable.
type group struct {
	s        *Store
	next     eventstore.Position            // position of the next event
	streams  map[string]uint64              // last revisions changed by the group
	pending  map[uuid.UUID]eventstore.Event // events of the group, by id
	known    map[uuid.UUID]eventstore.Event // recorded before the group, by id
	entries  []memEntry
	frames   []byte
	lastTime int64
}

// commitGroup checks each request against the state including the
// requests before it, writes the accepted ones' events to the
// write-ahead log in one write and one fdatasync, then publishes them.
// A request that fails its checks writes nothing and does not disturb the
// others; if the write fails, no request of the group is acknowledged.
func (s *Store) commitGroup(reqs []*writeReq) {
	if err := s.waitForSpace(); err != nil {
		for _, r := range reqs {
			r.err = err
			close(r.done)
		}
		return
	}
	known, err := s.findRecorded(reqs)
	if err != nil {
		for _, r := range reqs {
			r.err = err
			close(r.done)
		}
		return
	}
	g := &group{
		s:        s,
		known:    known,
		frames:   s.frameBuf[:0],
		next:     eventstore.Position(s.head.Load()) + 1,
		streams:  make(map[string]uint64),
		pending:  make(map[uuid.UUID]eventstore.Event),
		lastTime: s.lastTime,
	}
	var accepted []*writeReq
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		before := len(g.entries)
		if r.imported != nil {
			r.err = g.importEvents(r)
		} else {
			r.result, r.err = g.append(r)
		}
		if r.err == nil && len(g.entries) > before {
			accepted = append(accepted, r)
		}
	}
	if len(g.entries) > 0 {
		first := g.next - eventstore.Position(len(g.entries))
		if err := s.wal.write(first, g.frames); err != nil {
			err = fmt.Errorf("%w: nothing of this append was written: %v", eventstore.ErrUnavailable, err)
			for _, r := range accepted {
				r.result, r.err = eventstore.AppendResult{}, err
			}
		} else {
			s.publish(g)
		}
		s.frameBuf = g.frames // reuse the buffer; the log has copied it
	}
	for _, r := range reqs {
		close(r.done)
	}
}

// waitForSpace blocks while the events waiting for the applier are at
// their limit. It fails instead when the applier cannot make progress.
func (s *Store) waitForSpace() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.mem.entries) >= maxMemEvents || s.mem.bytes >= maxMemBytes {
		if s.applyErr != nil {
			return fmt.Errorf("%w: the ledger cannot take more events until %s accepts writes again: %v", eventstore.ErrUnavailable, s.path, s.applyErr)
		}
		s.space.Wait()
	}
	return nil
}

// publish makes a durable group visible to readers and the applier.
func (s *Store) publish(g *group) {
	s.mu.Lock()
	for _, e := range g.entries {
		s.mem.add(e)
	}
	for stream, rev := range g.streams {
		s.streams[stream] = rev
	}
	s.head.Store(uint64(g.next - 1))
	s.mu.Unlock()
	s.lastTime = g.lastTime
	s.groups.Add(1)
	s.grouped.Add(uint64(len(g.entries)))
	s.broadcast()
	s.wake()
}

// streamState returns the last revision of stream as the group leaves it.
func (g *group) streamState(stream string) (uint64, bool) {
	if rev, ok := g.streams[stream]; ok {
		return rev, true
	}
	rev, ok := g.s.streams[stream] // only this goroutine writes the map
	return rev, ok
}

// lookup finds an already recorded event by id: in this group, or among
// those found by findRecorded when the group began.
func (g *group) lookup(id uuid.UUID) (eventstore.Event, bool, error) {
	if e, ok := g.pending[id]; ok {
		return e, true, nil
	}
	e, ok := g.known[id]
	return e, ok, nil
}

// findRecorded looks up the ids of a group's events among the events
// waiting for the applier, then in ledger.db, in that order: the applier
// commits to ledger.db before it forgets events in memory, so an event is
// always found in one of the two.
func (s *Store) findRecorded(reqs []*writeReq) (map[uuid.UUID]eventstore.Event, error) {
	known := make(map[uuid.UUID]eventstore.Event)
	var misses []uuid.UUID
	type hit struct {
		pos   eventstore.Position
		entry memEntry
	}
	var hits []hit
	s.mu.Lock()
	for _, r := range reqs {
		check := func(id uuid.UUID) {
			if pos, ok := s.mem.ids[id]; ok {
				entry, _ := s.mem.get(pos)
				hits = append(hits, hit{pos, entry})
			} else {
				misses = append(misses, id)
			}
		}
		for i := range r.events {
			check(r.events[i].data.ID)
		}
		for i := range r.imported {
			check(r.imported[i].ID)
		}
	}
	s.mu.Unlock()
	for _, h := range hits {
		e, err := decodeRecord(h.pos, h.entry.rec)
		if err != nil {
			return nil, err
		}
		known[e.ID] = e
	}
	if len(misses) == 0 {
		return known, nil
	}
	err := s.view(func(tx *bbolt.Tx) error {
		ids, log := tx.Bucket(bucketIDs), tx.Bucket(bucketLog)
		for _, id := range misses {
			pk := ids.Get(id[:])
			if pk == nil {
				continue
			}
			e, err := decodeRecord(eventstore.Position(u64(pk)), log.Get(pk))
			if err != nil {
				return err
			}
			known[id] = e
		}
		return nil
	})
	return known, err
}

// add records one event of the group.
func (g *group) add(e eventstore.Event, rec []byte) {
	g.frames = appendFrame(g.frames, e.Position, rec)
	g.entries = append(g.entries, memEntry{stream: e.Stream, rev: e.Revision, id: e.ID, rec: rec})
	g.pending[e.ID] = e
	g.streams[e.Stream] = e.Revision
}

// append checks and stages one append request.
func (g *group) append(r *writeReq) (eventstore.AppendResult, error) {
	for i := range r.events {
		if _, found, err := g.lookup(r.events[i].data.ID); err != nil {
			return eventstore.AppendResult{}, err
		} else if found {
			return g.retry(r)
		}
	}
	last, exists := g.streamState(r.stream)
	if !r.expected.Matches(last, exists) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	t := max(g.s.clock().UnixNano(), g.lastTime) // recorded time never goes backwards
	g.lastTime = t
	recordedAt := time.Unix(0, t).UTC()
	rev := nextRevision(last, exists)
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(r.events))}
	for i := range r.events {
		p := &r.events[i]
		fillHeader(p.rec, rev, recordedAt, p.hash)
		e := eventstore.Event{
			EventData:   p.data,
			Stream:      r.stream,
			Revision:    rev,
			Position:    g.next,
			RecordedAt:  recordedAt,
			ContentHash: p.hash,
		}
		g.next++
		g.add(e, p.rec)
		res.Events[i] = e
		rev++
	}
	return res, nil
}

// retry answers an append some of whose ids are already recorded: if it is
// exactly an earlier append (same events, same stream, consecutive, and the
// expected revision held for that append), the earlier result; otherwise
// an error that says what differs.
func (g *group) retry(r *writeReq) (eventstore.AppendResult, error) {
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(r.events)), Duplicate: true}
	for i := range r.events {
		p := &r.events[i]
		e, found, err := g.lookup(p.data.ID)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		switch {
		case !found:
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is new but event %s of the same append is already recorded",
				eventstore.ErrDuplicateEventID, p.data.ID, r.events[0].data.ID)
		case e.Stream != r.stream:
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is recorded in stream %q, not %q",
				eventstore.ErrDuplicateEventID, e.ID, e.Stream, r.stream)
		case e.ContentHash != p.hash:
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is recorded at %q revision %d with other content",
				eventstore.ErrDuplicateEventID, e.ID, r.stream, e.Revision)
		case i > 0 && e.Revision != res.Events[0].Revision+uint64(i):
			return eventstore.AppendResult{}, fmt.Errorf("%w: events %s and %s were recorded by different appends",
				eventstore.ErrDuplicateEventID, res.Events[0].ID, e.ID)
		}
		res.Events[i] = e
	}
	if first := res.Events[0].Revision; !r.expected.Matches(first-1, first > 0) {
		last, exists := g.streamState(r.stream)
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	return res, nil
}

// importEvents checks a whole import batch, then stages it.
func (g *group) importEvents(r *writeReq) error {
	next := make(map[string]uint64)
	seen := make(map[uuid.UUID]bool, len(r.imported))
	for i := range r.imported {
		e := &r.imported[i]
		want, ok := next[e.Stream]
		if !ok {
			want = nextRevision(g.streamState(e.Stream))
		}
		if e.Revision != want {
			return fmt.Errorf("%w: event %s is revision %d of %q, but the stream's next revision here is %d",
				eventstore.ErrImportMismatch, e.ID, e.Revision, e.Stream, want)
		}
		next[e.Stream] = want + 1
		_, found, err := g.lookup(e.ID)
		if err != nil {
			return err
		}
		if found || seen[e.ID] {
			return fmt.Errorf("%w: event %s is already recorded", eventstore.ErrImportMismatch, e.ID)
		}
		seen[e.ID] = true
	}
	for i := range r.imported {
		e := r.imported[i]
		e.Position = g.next
		g.next++
		g.add(e, r.recs[i])
		g.lastTime = max(g.lastTime, e.RecordedAt.UnixNano())
	}
	return nil
}
