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

// The write path is a pipeline of two goroutines. The writer takes
// requests as they come, checks each against the state the log will have
// once every group before it is durable, and adds its events to the group
// being built. The syncer writes a group to the write-ahead log with one
// write and one fdatasync, then publishes it and acknowledges its
// requests. The writer builds group k+1 while the syncer waits for group
// k's fdatasync, and hands it over as soon as the syncer is free: the
// requests that arrive during one fdatasync share the next.
//
// Group k+1 is checked against state that includes group k before k is
// durable. If k's write fails, every group built on it fails too (nothing
// of them is written or acknowledged), and the writer starts again from
// the durable state.

// writeReq is one append or import waiting for the writer.
type writeReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []preparedEvent    // an append
	imported []eventstore.Event // or an import
	recs     [][]byte           // the import's records
	size     int                // record bytes

	// recorded are the request's events that ledger.db held when the
	// caller looked its ids up there (nearly always none), as of the
	// ledger.db head dbHead.
	recorded []eventstore.Event
	dbHead   eventstore.Position

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
	if err := s.lookupRecorded(r); err != nil {
		return eventstore.AppendResult{}, err
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
	if err := s.lookupRecorded(r); err != nil {
		return err
	}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

// ids returns the event ids of a request.
func (r *writeReq) ids() []uuid.UUID {
	out := make([]uuid.UUID, 0, len(r.events)+len(r.imported))
	for i := range r.events {
		out = append(out, r.events[i].data.ID)
	}
	for i := range r.imported {
		out = append(out, r.imported[i].ID)
	}
	return out
}

// lookupRecorded looks the request's ids up in ledger.db, on the caller's
// goroutine so that the writer does not have to: only those the id filter
// does not rule out. The writer looks in memory and among the groups not
// yet durable, and looks in ledger.db again if the applier moved events
// there after this lookup.
func (s *Store) lookupRecorded(r *writeReq) error {
	// Every event up to r.dbHead is in ledger.db and in the filter loaded
	// after it (the applier fills the filter before it moves its head).
	r.dbHead = eventstore.Position(s.appliedPos.Load())
	f := s.ids.Load()
	var maybe []uuid.UUID
	check := func(id *uuid.UUID) {
		if f == nil || f.mayContain(id) {
			maybe = append(maybe, *id)
		}
	}
	for i := range r.events {
		check(&r.events[i].data.ID)
	}
	for i := range r.imported {
		check(&r.imported[i].ID)
	}
	if len(maybe) == 0 {
		return nil
	}
	var err error
	r.recorded, err = s.findInDB(maybe)
	return err
}

// findInDB returns the events of ids that ledger.db holds.
func (s *Store) findInDB(ids []uuid.UUID) (found []eventstore.Event, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bucketIDs)
		for _, id := range ids {
			pk := idx.Get(id[:])
			if pk == nil {
				continue
			}
			e, err := decodeRecord(eventstore.Position(u64(pk)), tx.Bucket(bucketLog).Get(pk))
			if err != nil {
				return err
			}
			found = append(found, e)
		}
		return nil
	})
	return found, err
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

// group is one group commit: the requests it answers and the events it
// writes.
type group struct {
	gen      uint64              // the writer's generation that built it
	reqs     []*writeReq         // every request it answers
	entries  []memEntry          // its events, in log order
	first    eventstore.Position // position of entries[0]
	frames   []byte              // their write-ahead log frames
	size     int                 // record bytes of reqs
	lastTime int64               // newest recorded time once it is durable
	finished chan struct{}       // closed by the syncer once it is answered
}

func (g *group) full() bool { return len(g.reqs) >= maxGroupRequests || g.size >= maxGroupBytes }

// writer is the writer goroutine's state: the log as it will be once every
// group built so far is durable.
type writer struct {
	s        *Store
	gen      uint64
	next     eventstore.Position             // position of the next event
	streams  map[string]uint64               // every stream's last revision
	lastTime int64                           // newest recorded time
	pending  map[uuid.UUID]*eventstore.Event // events of unfinished groups, by id
	queue    []*group                        // groups handed to the syncer, not yet known finished
	bufs     chan []byte                     // frame buffers given back by the syncer
}

// writeLoop is the writer goroutine. It returns, closing s.toSync, once
// s.reqs is closed and everything received is handed to the syncer.
func (s *Store) writeLoop() {
	defer close(s.toSync)
	w := &writer{s: s, gen: 1, pending: make(map[uuid.UUID]*eventstore.Event), bufs: s.frameBufs}
	w.resetState()
	g := w.newGroup()
	reqs := s.reqs
	var batch []*writeReq
	for reqs != nil || len(g.reqs) > 0 {
		if s.brokenGen.Load() >= w.gen {
			g = w.restart(g)
		}
		var send chan<- *group
		if len(g.reqs) > 0 {
			send = s.toSync
		}
		recv := reqs
		if g.full() {
			recv = nil
		}
		select {
		case send <- g:
			w.queue = append(w.queue, g)
			g = w.newGroup()
		case r, ok := <-recv:
			if !ok {
				reqs = nil
				continue
			}
			// Take everything queued so far: one look at memory serves it all.
			batch = append(batch[:0], r)
			size := g.size + r.size
		drain:
			for len(g.reqs)+len(batch) < maxGroupRequests && size < maxGroupBytes {
				select {
				case r, ok := <-reqs:
					if !ok {
						reqs = nil
						break drain
					}
					batch = append(batch, r)
					size += r.size
				default:
					break drain
				}
			}
			if s.brokenGen.Load() >= w.gen {
				// Check the batch against the durable state, not the
				// failed one.
				g = w.restart(g)
			}
			w.stage(g, batch)
			clear(batch)
		}
	}
	if len(g.reqs) > 0 {
		s.toSync <- g
	}
}

func (w *writer) newGroup() *group {
	g := &group{gen: w.gen, first: w.next, lastTime: w.lastTime, finished: make(chan struct{})}
	select {
	case g.frames = <-w.bufs:
	default:
	}
	return g
}

// resetState loads the durable state: what the syncer has published.
func (w *writer) resetState() {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	w.streams = make(map[string]uint64, len(s.streams))
	for k, v := range s.streams {
		w.streams[k] = v
	}
	w.next = eventstore.Position(s.head.Load()) + 1
	w.lastTime = s.durableTime
}

// restart follows a failed write: g and every group handed over since
// the failure were built on it, so they fail (the syncer fails those it
// holds), and the writer starts again from the durable state with a new
// group, which it returns.
func (w *writer) restart(g *group) *group {
	err := fmt.Errorf("%w: nothing of this append was written: an earlier write to the write-ahead log failed", eventstore.ErrUnavailable)
	for _, r := range g.reqs {
		r.result, r.err = eventstore.AppendResult{}, err
		close(r.done)
	}
	if n := len(w.queue); n > 0 {
		<-w.queue[n-1].finished
	}
	w.queue = w.queue[:0]
	clear(w.pending)
	w.resetState()
	w.gen++
	return w.newGroup()
}

// prune forgets the groups the syncer has finished: their events are in
// memory now (or were not written).
func (w *writer) prune() {
	n := 0
	for _, g := range w.queue {
		if !isClosed(g.finished) {
			break
		}
		for i := range g.entries {
			delete(w.pending, g.entries[i].id)
		}
		n++
	}
	if n > 0 {
		w.queue = append(w.queue[:0], w.queue[n:]...)
	}
}

// recordedSet is where the writer looks for already recorded events while
// it stages a batch: the groups not yet finished (w.pending), then the
// events in memory (mem, found under the lock), then ledger.db (each
// request's recorded, looked up by its caller).
type recordedSet struct {
	w       *writer
	mem     map[uuid.UUID]eventstore.Event
	applied eventstore.Position
	r       *writeReq
}

// find returns the recorded event with id, if any.
func (rs *recordedSet) find(id uuid.UUID) (*eventstore.Event, bool) {
	if e, ok := rs.w.pending[id]; ok {
		return e, true
	}
	if e, ok := rs.mem[id]; ok {
		return &e, true
	}
	for i := range rs.r.recorded {
		if rs.r.recorded[i].ID == id {
			return &rs.r.recorded[i], true
		}
	}
	return nil, false
}

// stage checks the requests of a batch in order and adds what they write
// to g. A request that fails its checks writes nothing and does not
// disturb the others; its answer still waits for g, like every answer
// that depends on groups not yet durable.
func (w *writer) stage(g *group, batch []*writeReq) {
	w.prune()
	s := w.s
	if err := s.waitForSpace(); err != nil {
		for _, r := range batch {
			r.err = err
			g.reqs = append(g.reqs, r)
		}
		return
	}
	// Events are in memory from the applier's head on; those before are
	// in ledger.db.
	rs := recordedSet{w: w}
	s.mu.Lock()
	rs.applied = s.applied
	var hits []memEntry
	var hitPos []eventstore.Position
	inMem := func(id uuid.UUID) {
		if _, ok := w.pending[id]; ok {
			return
		}
		if pos, ok := s.mem.ids[id]; ok {
			e, _ := s.mem.get(pos)
			hits, hitPos = append(hits, e), append(hitPos, pos)
		}
	}
	for _, r := range batch {
		for i := range r.events {
			inMem(r.events[i].data.ID)
		}
		for i := range r.imported {
			inMem(r.imported[i].ID)
		}
	}
	s.mu.Unlock()
	if len(hits) > 0 {
		rs.mem = make(map[uuid.UUID]eventstore.Event, len(hits))
		for i, h := range hits {
			e, err := decodeRecord(hitPos[i], h.rec)
			if err != nil {
				w.failBatch(g, batch, err)
				return
			}
			rs.mem[e.ID] = e
		}
	}
	for _, r := range batch {
		g.reqs = append(g.reqs, r)
		g.size += r.size
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if rs.applied > r.dbHead {
			// The applier moved events from memory to ledger.db since the
			// caller looked there: look again, at everything.
			var err error
			if r.recorded, err = s.findInDB(r.ids()); err != nil {
				r.err = err
				continue
			}
			r.dbHead = rs.applied
		}
		rs.r = r
		if r.imported != nil {
			r.err = w.importEvents(g, &rs, r)
		} else {
			r.result, r.err = w.append(g, &rs, r)
		}
		if s.staged != nil {
			s.staged(r)
		}
	}
}

func (w *writer) failBatch(g *group, batch []*writeReq, err error) {
	for _, r := range batch {
		r.err = err
		g.reqs = append(g.reqs, r)
	}
}

// add stages one event in g.
func (w *writer) add(g *group, e *eventstore.Event, rec []byte) {
	g.frames = appendFrame(g.frames, e.Position, rec)
	g.entries = append(g.entries, memEntry{stream: e.Stream, rev: e.Revision, id: e.ID, rec: rec})
	w.pending[e.ID] = e
	w.streams[e.Stream] = e.Revision
}

// append checks and stages one append request.
func (w *writer) append(g *group, rs *recordedSet, r *writeReq) (eventstore.AppendResult, error) {
	for i := range r.events {
		if _, found := rs.find(r.events[i].data.ID); found {
			return w.retry(rs, r)
		}
	}
	last, exists := w.streams[r.stream]
	if !r.expected.Matches(last, exists) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	t := max(w.s.clock().UnixNano(), w.lastTime) // recorded time never goes backwards
	w.lastTime, g.lastTime = t, t
	recordedAt := time.Unix(0, t).UTC()
	rev := nextRevision(last, exists)
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(r.events))}
	for i := range r.events {
		p := &r.events[i]
		fillHeader(p.rec, rev, recordedAt, p.hash)
		res.Events[i] = eventstore.Event{
			EventData:   p.data,
			Stream:      r.stream,
			Revision:    rev,
			Position:    w.next,
			RecordedAt:  recordedAt,
			ContentHash: p.hash,
		}
		w.next++
		w.add(g, &res.Events[i], p.rec)
		rev++
	}
	return res, nil
}

// retry answers an append some of whose ids are already recorded: if it is
// exactly an earlier append (same events, same stream, consecutive, and the
// expected revision held for that append), the earlier result; otherwise
// an error that says what differs.
func (w *writer) retry(rs *recordedSet, r *writeReq) (eventstore.AppendResult, error) {
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(r.events)), Duplicate: true}
	for i := range r.events {
		p := &r.events[i]
		e, found := rs.find(p.data.ID)
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
		res.Events[i] = *e
	}
	if first := res.Events[0].Revision; !r.expected.Matches(first-1, first > 0) {
		last, exists := w.streams[r.stream]
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	return res, nil
}

// importEvents checks a whole import batch, then stages it.
func (w *writer) importEvents(g *group, rs *recordedSet, r *writeReq) error {
	next := make(map[string]uint64)
	seen := make(map[uuid.UUID]bool, len(r.imported))
	for i := range r.imported {
		e := &r.imported[i]
		want, ok := next[e.Stream]
		if !ok {
			last, exists := w.streams[e.Stream]
			want = nextRevision(last, exists)
		}
		if e.Revision != want {
			return fmt.Errorf("%w: event %s is revision %d of %q, but the stream's next revision here is %d",
				eventstore.ErrImportMismatch, e.ID, e.Revision, e.Stream, want)
		}
		next[e.Stream] = want + 1
		if _, found := rs.find(e.ID); found || seen[e.ID] {
			return fmt.Errorf("%w: event %s is already recorded", eventstore.ErrImportMismatch, e.ID)
		}
		seen[e.ID] = true
	}
	for i := range r.imported {
		e := &r.imported[i]
		e.Position = w.next
		w.next++
		w.add(g, e, r.recs[i])
		w.lastTime = max(w.lastTime, e.RecordedAt.UnixNano())
	}
	g.lastTime = w.lastTime
	return nil
}

// syncLoop is the syncer goroutine: it writes each group to the
// write-ahead log, publishes it and answers its requests, in order. After
// a failed write it fails every group of the same generation, since they
// were checked against the failed one. It closes s.idle when the writer
// has stopped and every group is answered.
func (s *Store) syncLoop() {
	defer close(s.idle)
	var broken uint64 // the generation whose write failed
	var brokenErr error
	for g := range s.toSync {
		var err error
		switch {
		case g.gen <= broken:
			err = brokenErr
		case len(g.entries) > 0:
			start := time.Now()
			g.frames = appendCommit(g.frames, g.first+eventstore.Position(len(g.entries))-1)
			werr := s.wal.write(g.first, g.frames)
			s.syncNanos.Add(int64(time.Since(start)))
			if werr != nil {
				broken = g.gen
				brokenErr = fmt.Errorf("%w: nothing of this append was written: %v", eventstore.ErrUnavailable, werr)
				s.brokenGen.Store(broken)
				err = brokenErr
			} else {
				s.publish(g)
			}
		}
		for _, r := range g.reqs {
			if err != nil {
				r.result, r.err = eventstore.AppendResult{}, err
			}
			close(r.done)
		}
		select {
		case s.frameBufs <- g.frames[:0]: // the log has copied it
		default:
		}
		g.frames = nil
		close(g.finished)
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
		s.streams[e.stream] = e.rev
	}
	s.head.Store(uint64(g.first) + uint64(len(g.entries)) - 1)
	s.durableTime = g.lastTime
	s.mu.Unlock()
	s.groups.Add(1)
	s.grouped.Add(uint64(len(g.entries)))
	s.broadcast()
	s.wake()
}
