package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// The write path. Each Append checks its own request, on its own
// goroutine, against the state the log will have once every group before
// it is durable, and adds its events to the group being built; then it
// waits for that group. One syncer goroutine takes the group being built
// whenever it is free, writes it to the write-ahead log with one write and
// one fdatasync, publishes it and answers its requests. So the next group
// fills while the syncer waits for the disk, and every request that
// arrives during one fdatasync shares the next.
//
// A group is checked against state that includes the group being written
// before that one is durable. If that write fails, the group built on it
// fails too (nothing of it is written or acknowledged), and the state
// goes back to what is durable.

// writeReq is one append or import.
type writeReq struct {
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
	// out is room for an append's result events, made before the request
	// takes the builder's lock so that the allocation is not done under it.
	out []eventstore.Event

	// Storage for an append of one event, most appends.
	one         [1]eventstore.EventData
	onePrepared [1]preparedEvent
}

// payloadOf returns the bytes of d's payload within rec, a record of d:
// the canonical encoding ends with the payload and then the metadata.
func payloadOf(rec []byte, d *eventstore.EventData) []byte {
	end := len(rec) - 4 // the metadata count
	for k, v := range d.Metadata {
		end -= 8 + len(k) + len(v)
	}
	return rec[end-len(d.Payload) : end : end]
}

// preparedEvent is an appended event encoded by its caller's goroutine, so
// that only its revision, time and checksum remain to fill in.
type preparedEvent struct {
	data eventstore.EventData
	rec  []byte // record with a blank header
	hash eventstore.Hash
}

// group is one group commit: the requests it answers and the events it
// writes.
type group struct {
	reqs     []*writeReq         // every request it answers
	entries  []memEntry          // its events, in log order
	first    eventstore.Position // position of entries[0]
	frames   []byte              // their write-ahead log frames
	size     int                 // record bytes of reqs
	lastTime int64               // newest recorded time once it is durable
	done     chan struct{}       // closed once every request has its answer
}

// groupBuffers are the frames and entries buffers of a group, kept for
// the next one.
type groupBuffers struct {
	frames  []byte
	entries []memEntry
}

func (g *group) full() bool { return len(g.reqs) >= maxGroupRequests || g.size >= maxGroupBytes }

// builder is the group being built and the state the log will have once
// it and the group being written are durable. Its mutex is taken before
// Store.mu, never after.
//
// ids and newest hold the id of every event staged and not yet committed
// to ledger.db: in the group being built, in the one being written, or in
// the memtable. newest holds those staged as the newest version 7 ids
// (the ids NewID makes, in the order it made them), ids every other.
// Appends look their ids up there, under the builder's lock only; the
// applier deletes ids under this lock too, in the same step as it forgets
// their events and moves Store.applied, so that an id missing from both is
// either new or in ledger.db up to appliedPos.
type builder struct {
	mu       sync.Mutex
	cond     sync.Cond // the group got requests, or was taken
	g        *group
	closed   bool
	next     eventstore.Position               // position of the next event
	streams  map[string]uint64                 // every stream's last revision
	lastTime int64                             // newest recorded time
	ids      map[uuid.UUID]eventstore.Position // positions of the events not yet in ledger.db (see below)
	newest   idRun                             // and of those whose ids were the newest (see below)
	v7Max    atomic.Uint64                     // the largest v7High of the ids staged or recovered since Open (see Store.newV7)
	writing  *group                            // the group the syncer took, until it is answered
	spares   []groupBuffers                    // buffers of answered groups, for reuse
	now      func() time.Time                  // the store's clock
	lastSize int                               // requests of the last group taken
}

// Append writes events to a stream; see eventstore.Store. It returns once
// the events are in the write-ahead log and fdatasync has returned.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	r := reqPool.Get().(*writeReq)
	r.stream, r.expected = stream, expected
	// The prepared events may share their payloads with the caller's
	// until they are encoded, just below; then the result gets its own
	// copy, so that neither the caller reusing its buffer nor a caller
	// writing to its result can change the other or the record.
	prepared, err := eventstore.PrepareAppendTo(r.one[:0], stream, events)
	if err != nil {
		recycle(r)
		return eventstore.AppendResult{}, err
	}
	r.events = r.onePrepared[:0]
	if len(prepared) > 1 {
		r.events = make([]preparedEvent, 0, len(prepared))
	}
	for i := range prepared {
		d := &prepared[i]
		rec := make([]byte, recordHeaderSize, recordHeaderSize+eventstore.CanonicalSize(stream, d))
		rec = eventstore.AppendCanonical(rec, stream, d)
		d.Payload = bytes.Clone(payloadOf(rec, d))
		r.events = append(r.events, preparedEvent{data: *d, rec: rec, hash: sha256.Sum256(rec[recordHeaderSize:])})
		r.size += len(rec)
	}
	r.out = make([]eventstore.Event, len(r.events))
	if err := s.submit(ctx, r); err != nil {
		// r may be in a group that is not answered yet: not recycled.
		return eventstore.AppendResult{}, err
	}
	res, err := r.result, r.err
	recycle(r)
	return res, err
}

// reqPool holds requests for reuse: an append's request is 584 bytes (a
// 640-byte allocation), and most appends are of one event. A request goes
// back only once its group has answered it (nothing refers to it then); it
// holds nothing of the answer, which has its own memory.
var reqPool = sync.Pool{New: func() any { return new(writeReq) }}

// recycle clears r and puts it back in reqPool.
func recycle(r *writeReq) {
	*r = writeReq{}
	reqPool.Put(r)
}

// Import writes already-recorded events; see eventstore.Store.
func (s *Store) Import(ctx context.Context, events []eventstore.Event) error {
	if len(events) == 0 {
		return nil
	}
	r := &writeReq{imported: make([]eventstore.Event, len(events)), recs: make([][]byte, len(events))}
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

// submit checks r, adds it to the group being built and waits for that
// group's answer.
func (s *Store) submit(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.lookupRecorded(r); err != nil {
		return err
	}
	if err := s.waitForSpace(ctx); err != nil {
		return err
	}
	g, err := s.stage(r)
	if err != nil {
		return err
	}
	done := ctx.Done()
	if done == nil { // a context that is never done: no select needed
		<-g.done
		return nil
	}
	select {
	case <-g.done:
		return nil
	case <-done:
		return ctx.Err()
	}
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

// lookupRecorded looks the request's ids up in ledger.db, before the
// request takes the builder's lock: only those the id filter does not
// rule out. stage looks in memory and among the groups not yet durable,
// and looks in ledger.db again if the applier moved events there after
// this lookup.
func (s *Store) lookupRecorded(r *writeReq) error {
	// Every event up to r.dbHead is in ledger.db and in the filter loaded
	// after it (the applier fills the filter before it moves its head).
	r.dbHead = eventstore.Position(s.appliedPos.Load())
	f := s.ids.Load()
	var maybe []uuid.UUID
	check := func(id *uuid.UUID) {
		if s.newV7(id) {
			return // newer than every id up to r.dbHead (see newV7)
		}
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
		idx, log := tx.Bucket(bucketIDs), newBlockCursor(tx)
		for _, id := range ids {
			pk := idx.Get(id[:])
			if pk == nil {
				continue
			}
			pos := eventstore.Position(u64(pk))
			rec, ok, err := log.record(pos)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: the id index maps event %s to position %d, which is missing", eventstore.ErrCorrupt, id, pos)
			}
			e, err := decodeRecord(pos, rec)
			if err != nil {
				return err
			}
			found = append(found, e)
		}
		return nil
	})
	return found, err
}

// waitForSpace blocks while the events waiting for the applier are at
// their limit. It fails instead when the applier cannot make progress.
func (s *Store) waitForSpace(ctx context.Context) error {
	if !s.memFull.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.memAtLimit() {
		if s.applyErr != nil {
			return fmt.Errorf("%w: the ledger cannot take more events until %s accepts writes again: %v", eventstore.ErrUnavailable, s.path, s.applyErr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.space.Wait()
	}
	return nil
}

// stage checks r against the state as the groups before it leave it and,
// if it passes, adds its events to the group being built. Either way r
// joins that group, whose answer it waits for: its answer may depend on
// groups not yet durable.
func (s *Store) stage(r *writeReq) (*group, error) {
	b := &s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.g.full() && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		return nil, eventstore.ErrClosed
	}
	g := b.g
	g.reqs = append(g.reqs, r)
	g.size += r.size
	if len(g.reqs) == 1 {
		b.cond.Broadcast() // the syncer may be waiting for work
	}
	rs, err := s.recordedSet(r)
	if err == nil {
		if r.imported != nil {
			err = b.importEvents(g, &rs, r)
		} else {
			r.result, err = b.append(g, &rs, r)
		}
	}
	r.err = err
	if s.staged != nil {
		s.staged(r)
	}
	return g, nil
}

// recordedSet is where stage looks for already recorded events: those
// not yet in ledger.db (builder.ids), decoded for this request, then
// ledger.db (the request's recorded, looked up by its caller).
type recordedSet struct {
	unapplied []eventstore.Event
	r         *writeReq
}

// recordedSet finds r's events among those not yet in ledger.db, and in
// ledger.db again if the applier moved events there since r's caller
// looked. The builder's lock is held.
func (s *Store) recordedSet(r *writeReq) (recordedSet, error) {
	rs := recordedSet{r: r}
	lookUp := func(id uuid.UUID) error {
		pos, ok := s.b.lookUp(&id)
		if !ok {
			return nil
		}
		e, err := s.unapplied(pos)
		if err == nil {
			rs.unapplied = append(rs.unapplied, e)
		}
		return err
	}
	for i := range r.events {
		if err := lookUp(r.events[i].data.ID); err != nil {
			return rs, err
		}
	}
	for i := range r.imported {
		if err := lookUp(r.imported[i].ID); err != nil {
			return rs, err
		}
	}
	if applied := eventstore.Position(s.appliedPos.Load()); applied > r.dbHead {
		// The applier moved events from memory to ledger.db since the
		// caller looked there: look again, at everything.
		var err error
		if r.recorded, err = s.findInDB(r.ids()); err != nil {
			return rs, err
		}
		r.dbHead = applied
	}
	return rs, nil
}

// unapplied returns the event at pos, which is staged or in memory: pos is
// in builder.ids. The builder's lock is held.
func (s *Store) unapplied(pos eventstore.Position) (eventstore.Event, error) {
	for _, g := range []*group{s.b.writing, s.b.g} {
		if g != nil && pos >= g.first && pos-g.first < eventstore.Position(len(g.entries)) {
			return decodeRecord(pos, g.entries[pos-g.first].rec)
		}
	}
	s.mu.Lock()
	e, ok := s.mem.get(pos)
	s.mu.Unlock()
	if !ok {
		return eventstore.Event{}, fmt.Errorf("%w: the id index in memory maps an event to position %d, which is neither staged nor in memory", eventstore.ErrCorrupt, pos)
	}
	return decodeRecord(pos, e.rec)
}

// find returns the recorded event with id, if any. It is r's own: decoded
// for r, it shares no memory with another request or the store.
func (rs *recordedSet) find(id uuid.UUID) (*eventstore.Event, bool) {
	for i := range rs.unapplied {
		if rs.unapplied[i].ID == id {
			return &rs.unapplied[i], true
		}
	}
	for i := range rs.r.recorded {
		if rs.r.recorded[i].ID == id {
			return &rs.r.recorded[i], true
		}
	}
	return nil, false
}

// newGroup returns an empty group starting at the next position.
func (b *builder) newGroup() *group {
	g := &group{first: b.next, lastTime: b.lastTime, done: make(chan struct{})}
	if n := len(b.spares); n > 0 {
		g.frames, g.entries = b.spares[n-1].frames, b.spares[n-1].entries
		b.spares = b.spares[:n-1]
	}
	return g
}

// reset loads the durable state, which the syncer has published. The
// ids of groups that will not be written must be deleted from b.ids
// before.
func (b *builder) reset(s *Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b.streams = make(map[string]uint64, len(s.streams))
	for k, v := range s.streams {
		b.streams[k] = v
	}
	b.next = eventstore.Position(s.head.Load()) + 1
	b.lastTime = s.durableTime
}

// add stages one event in g.
func (b *builder) add(g *group, e *eventstore.Event, rec []byte) {
	g.frames = appendFrame(g.frames, e.Position, rec)
	g.entries = append(g.entries, memEntry{stream: e.Stream, rev: e.Revision, id: e.ID, rec: rec})
	b.index(e.ID, e.Position)
	b.streams[e.Stream] = e.Revision
}

// index records the position of an event not yet in ledger.db, staged or
// recovered, in position order: a version 7 id newer than every id so far
// at the end of newest, any other id in ids. The builder's lock is held,
// or the store is opening.
func (b *builder) index(id uuid.UUID, pos eventstore.Position) {
	if hi, ok := v7High(&id); ok && hi > b.v7Max.Load() {
		b.newest.push(id, pos)
		b.v7Max.Store(hi)
		return
	}
	b.ids[id] = pos
}

// lookUp returns the position of the staged or unapplied event with id,
// if there is one. A version 7 id newer than v7Max was never indexed, so
// it is not looked for. The builder's lock is held.
func (b *builder) lookUp(id *uuid.UUID) (eventstore.Position, bool) {
	hi, v7 := v7High(id)
	if v7 && hi > b.v7Max.Load() {
		return 0, false
	}
	if pos, ok := b.ids[*id]; ok {
		return pos, true
	}
	if v7 {
		return b.newest.find(id)
	}
	return 0, false
}

// forget deletes the id of the event at pos, which ledger.db now holds.
// The builder's lock is held.
func (b *builder) forget(id *uuid.UUID, pos eventstore.Position) {
	if !b.newest.dropFront(pos) {
		delete(b.ids, *id)
	}
}

// idRun is a run of ids and their positions in increasing order of both:
// the ids an append staged as the newest version 7 ids (each larger in its
// first 8 bytes than every id before it, at a larger position than every
// one before it). Appends add at the end, the applier forgets at the
// front, and an id is found by binary search: no hashing, and the memory
// an append touches is the run's end, not a random slot of a map of tens
// of thousands of ids.
type idRun struct {
	entries []idPos // the run is entries[off:]
	off     int
}

// idPos is an id and its event's position.
type idPos struct {
	id  uuid.UUID
	pos eventstore.Position
}

// push adds an id larger than every id in the run, at a larger position.
func (r *idRun) push(id uuid.UUID, pos eventstore.Position) {
	r.entries = append(r.entries, idPos{id: id, pos: pos})
}

// find returns the position of id, if the run holds it.
func (r *idRun) find(id *uuid.UUID) (eventstore.Position, bool) {
	run := r.entries[r.off:]
	i, ok := slices.BinarySearchFunc(run, id, func(e idPos, id *uuid.UUID) int { return compareIDs(&e.id, id) })
	if !ok {
		return 0, false
	}
	return run[i].pos, true
}

// dropFront removes the run's first id if it is at pos, and reports
// whether it did. Once half of the slice is dropped, the rest moves to its
// start.
func (r *idRun) dropFront(pos eventstore.Position) bool {
	if r.off == len(r.entries) || r.entries[r.off].pos != pos {
		return false
	}
	r.off++
	if r.off == len(r.entries) {
		r.entries, r.off = r.entries[:0], 0
	} else if r.off >= 4096 && r.off >= len(r.entries)/2 {
		n := copy(r.entries, r.entries[r.off:])
		r.entries, r.off = r.entries[:n], 0
	}
	return true
}

// dropFrom removes the ids at pos and after.
func (r *idRun) dropFrom(pos eventstore.Position) {
	for len(r.entries) > r.off && r.entries[len(r.entries)-1].pos >= pos {
		r.entries = r.entries[:len(r.entries)-1]
	}
}

// v7High returns the first 8 bytes of id (for a version 7 id, its
// milliseconds, version and sub-millisecond sequence) as a big-endian
// number, and whether id is of version 7.
func v7High(id *uuid.UUID) (uint64, bool) {
	return binary.BigEndian.Uint64(id[:8]), id[6]>>4 == 7
}

// newV7 reports whether id is certainly not recorded because it is a
// version 7 id newer than every version 7 id the store holds: its first
// 8 bytes are larger than those of any id staged or recovered since Open
// (builder.v7Max) and of any id ledger.db held when the applier last read
// its id index (v7InDB, the largest possible value until it has). An id
// of another version never equals one of version 7. Ids from NewID
// increase within a process, so an append of new events, with no
// idempotency key, skips looking for its ids in ledger.db (and, by the
// first bound alone, builder.lookUp skips memory); any other id (version
// 4 or 5, or a version 7 id that is not the newest) is looked up as
// before. Both bounds only grow once the applier has read the index
// (v7InDB starts above every id and is then set to what ledger.db holds,
// which later reads can only raise), so a true answer stays right for
// everything recorded before it was given.
func (s *Store) newV7(id *uuid.UUID) bool {
	hi, ok := v7High(id)
	return ok && hi > s.b.v7Max.Load() && hi > s.v7InDB.Load()
}

// append checks and stages one append request.
func (b *builder) append(g *group, rs *recordedSet, r *writeReq) (eventstore.AppendResult, error) {
	for i := range r.events {
		if _, found := rs.find(r.events[i].data.ID); found {
			return b.retry(rs, r)
		}
	}
	last, exists := b.streams[r.stream]
	if !r.expected.Matches(last, exists) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	t := max(b.now().UnixNano(), b.lastTime) // recorded time never goes backwards
	b.lastTime, g.lastTime = t, t
	recordedAt := time.Unix(0, t).UTC()
	rev := nextRevision(last, exists)
	res := eventstore.AppendResult{Events: r.out}
	for i := range r.events {
		p := &r.events[i]
		fillHeader(p.rec, rev, recordedAt, p.hash)
		res.Events[i] = eventstore.Event{
			EventData:   p.data,
			Stream:      r.stream,
			Revision:    rev,
			Position:    b.next,
			RecordedAt:  recordedAt,
			ContentHash: p.hash,
		}
		b.next++
		b.add(g, &res.Events[i], p.rec)
		rev++
	}
	return res, nil
}

// retry answers an append some of whose ids are already recorded: if it is
// exactly an earlier append (same events, same stream, consecutive, and the
// expected revision held for that append), the earlier result; otherwise
// an error that says what differs.
func (b *builder) retry(rs *recordedSet, r *writeReq) (eventstore.AppendResult, error) {
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
		res.Events[i] = *e // decoded for r alone (see recordedSet.find)
	}
	if first := res.Events[0].Revision; !r.expected.Matches(first-1, first > 0) {
		last, exists := b.streams[r.stream]
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: r.stream, Expected: r.expected, Actual: last, ActualExists: exists}
	}
	return res, nil
}

// importEvents checks a whole import batch, then stages it.
func (b *builder) importEvents(g *group, rs *recordedSet, r *writeReq) error {
	next := make(map[string]uint64)
	seen := make(map[uuid.UUID]bool, len(r.imported))
	for i := range r.imported {
		e := &r.imported[i]
		want, ok := next[e.Stream]
		if !ok {
			last, exists := b.streams[e.Stream]
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
		e.Position = b.next
		b.next++
		b.add(g, e, r.recs[i])
		b.lastTime = max(b.lastTime, e.RecordedAt.UnixNano())
	}
	g.lastTime = b.lastTime
	return nil
}

// take waits until the group being built has a request (and, if it has
// fewer than the last, up to groupCatchUp for more), and returns it,
// putting an empty one in its place. It returns nil once the store is
// closed and every group is taken.
func (b *builder) take() *group {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.g.reqs) == 0 && !b.closed {
		b.cond.Wait()
	}
	if len(b.g.reqs) == 0 {
		return nil
	}
	// Writers whose appends the last group answered are usually on their
	// way back with the next: a group smaller than the last waits a
	// little for them, since one fdatasync shared by more appends beats
	// an earlier one shared by few. A lone writer never waits.
	//
	// The syncer yields its processor meanwhile rather than sleeping: the
	// writers it waits for were just woken and are runnable, often on this
	// processor, and a Go timer shorter than a millisecond fires about a
	// millisecond late when the processors go idle (a 20 µs sleep took
	// 1.1 ms on the 2-core development machine), which held back groups of
	// a few writers. Yielding costs at most groupCatchUp of CPU per group,
	// and only while the group is smaller than the last.
	for start := time.Now(); len(b.g.reqs) < b.lastSize && !b.closed && time.Since(start) < groupCatchUp; {
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	b.lastSize = len(b.g.reqs)
	g := b.g
	b.g = b.newGroup()
	b.writing = g
	b.cond.Broadcast() // for requests waiting for room
	return g
}

// syncLoop is the syncer goroutine: it writes each group to the
// write-ahead log, publishes it and answers its requests, in order. It
// closes s.idle once the store is closed and every group is answered.
func (s *Store) syncLoop() {
	defer close(s.idle)
	b := &s.b
	for g := b.take(); g != nil; g = b.take() {
		if len(g.entries) > 0 {
			start := time.Now()
			g.frames = appendCommit(g.frames, g.first+eventstore.Position(len(g.entries))-1)
			err := s.wal.write(g.first, g.frames)
			s.syncNanos.Add(int64(time.Since(start)))
			if err != nil {
				s.failWrite(g, err)
				continue
			}
			s.publish(g)
		}
		b.mu.Lock()
		b.writing = nil
		if len(b.spares) < 2 {
			// The log has copied the frames, the memtable the entries.
			clear(g.entries)
			b.spares = append(b.spares, groupBuffers{frames: g.frames[:0], entries: g.entries[:0]})
		}
		b.mu.Unlock()
		close(g.done)
	}
}

// failWrite answers the requests of g, whose write failed, and of the
// group built on it since, with err, and puts the builder back to the
// durable state.
func (s *Store) failWrite(g *group, err error) {
	err = fmt.Errorf("%w: nothing of this append was written: %v", eventstore.ErrUnavailable, err)
	b := &s.b
	b.mu.Lock()
	next := b.g
	b.newest.dropFrom(g.first) // next follows g
	for _, failed := range []*group{g, next} {
		for i := range failed.entries {
			delete(b.ids, failed.entries[i].id)
		}
	}
	b.writing = nil
	b.reset(s)
	b.g = b.newGroup()
	b.cond.Broadcast()
	b.mu.Unlock()
	for _, failed := range []*group{g, next} {
		for _, r := range failed.reqs {
			r.result, r.err = eventstore.AppendResult{}, err
		}
		close(failed.done)
	}
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
	s.memFull.Store(s.memAtLimit())
	s.mu.Unlock()
	s.groups.Add(1)
	s.grouped.Add(uint64(len(g.entries)))
	s.broadcast()
	s.wake()
}
