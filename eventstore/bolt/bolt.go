package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parledger/parledger/eventstore"
)

// FileName is the name of the ledger file inside the data directory.
const FileName = "ledger.db"

// formatID identifies the layout of buckets and records. A file with
// another value is refused rather than misread.
const formatID = "parledger-bolt-1"

// Bucket names.
var (
	bucketMeta    = []byte("meta")    // "format", "head", "time"
	bucketLog     = []byte("log")     // position (8 bytes) -> record
	bucketStreams = []byte("streams") // stream name -> last revision (8 bytes)
	bucketRevs    = []byte("revs")    // stream name, 0x00, revision (8 bytes) -> position
	bucketIDs     = []byte("ids")     // event id (16 bytes) -> position

	keyFormat = []byte("format")
	keyHead   = []byte("head")
	keyTime   = []byte("time")
)

// Group commit limits: one transaction takes at most this many queued
// requests or bytes, so a burst does not make one commit unboundedly large.
const (
	maxGroupRequests = 2048
	maxGroupBytes    = 16 << 20
	readBatch        = 1024
)

// Options configures Open.
type Options struct {
	// Clock returns the time stamped on new events; nil means time.Now.
	// The demo uses a simulated clock; a real server never sets it.
	Clock func() time.Time
	// LockTimeout bounds the wait for the data directory's file lock when
	// another process holds it; zero means one second.
	LockTimeout time.Duration
}

// Store is the embedded event store: one bbolt file in a data directory.
// It is safe for concurrent use. Appends are queued to one writer
// goroutine which commits everything queued so far in one transaction and
// one round of fsyncs (group commit), so many concurrent writers share the
// cost of durability.
type Store struct {
	db    *bbolt.DB
	path  string
	clock func() time.Time

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *writeReq
	done   chan struct{} // closed when Close starts
	idle   chan struct{} // closed when the writer has finished

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after every commit
	head     atomic.Uint64

	lastTime int64 // newest recorded time (Unix ns); writer goroutine only

	commits, committed atomic.Uint64 // transactions and events committed
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Commits is the number of write transactions committed; Events the
	// number of events they held. Events/Commits is the mean group size.
	Commits, Events uint64
	// PageWrites and WriteTime are bbolt's own counts of page writes and
	// the time spent writing them (not syncing).
	PageWrites int64
	WriteTime  time.Duration
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	bs := s.db.Stats()
	return Stats{
		Commits: s.commits.Load(), Events: s.committed.Load(),
		PageWrites: bs.TxStats.GetWrite(), WriteTime: bs.TxStats.GetWriteTime(),
	}
}

var _ eventstore.Store = (*Store)(nil)

// Open opens (creating if needed) the ledger in dir. It fails with an
// eventstore.ErrInUse error when another process has the directory open,
// and with an eventstore.ErrCorrupt error when the file is damaged.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	path := filepath.Join(dir, FileName)
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	if err := checkFileSize(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path, timeout)
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s is open in another process (its file lock was held for %s)", eventstore.ErrInUse, dir, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, path, err)
	case err != nil:
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	s := &Store{
		db:     db,
		path:   path,
		clock:  opts.Clock,
		reqs:   make(chan *writeReq, 1024),
		done:   make(chan struct{}),
		idle:   make(chan struct{}),
		notify: make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.writeLoop()
	return s, nil
}

// openBolt opens the file with bbolt, turning a panic or memory fault
// inside bbolt (how it meets a damaged page) into an ErrCorrupt error.
func openBolt(path string, timeout time.Duration) (db *bbolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %s: opening failed: %v", eventstore.ErrCorrupt, path, p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      timeout,
		FreelistType: bbolt.FreelistMapType,
	})
}

// checkFileSize compares the file's size with the size its newest valid
// bbolt meta page claims, so that a truncated file is reported as such
// before bbolt maps it (reading past the end of a mapped file kills the
// process). The meta page layout is bbolt's file format version 2: a
// 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (16), the freelist page (8), the high-water page
// id (8) and the transaction id (8).
func checkFileSize(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return err
	}
	var best struct{ txid, end uint64 }
	buf := make([]byte, 72)
	for _, off := range []int64{0, -1} {
		if off < 0 {
			// The second meta page sits one page after the first.
			if best.end == 0 {
				break
			}
			off = int64(binary.LittleEndian.Uint32(buf[24:28]))
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			continue
		}
		const magic = 0xED0CDAED
		if binary.LittleEndian.Uint32(buf[16:20]) != magic {
			continue
		}
		pageSize := uint64(binary.LittleEndian.Uint32(buf[24:28]))
		pgid, txid := binary.LittleEndian.Uint64(buf[56:64]), binary.LittleEndian.Uint64(buf[64:72])
		if txid >= best.txid {
			best.txid, best.end = txid, pgid*pageSize
		}
	}
	if best.end > uint64(info.Size()) {
		return fmt.Errorf("%w: %s is %d bytes but its header claims %d: the file was truncated", eventstore.ErrCorrupt, path, info.Size(), best.end)
	}
	return nil
}

// init creates the buckets of a new file, or checks an existing one: the
// format, that the file holds every page its header claims, and that the
// recorded head is the last event of the log and decodes.
func (s *Store) init() error {
	info, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	var fresh bool
	err = s.view(func(tx *bbolt.Tx) error {
		if size := tx.Size(); info.Size() < size {
			return fmt.Errorf("%w: %s is %d bytes but its header claims %d: the file was truncated", eventstore.ErrCorrupt, s.path, info.Size(), size)
		}
		fresh = tx.Bucket(bucketMeta) == nil
		return nil
	})
	if err != nil {
		return err
	}
	if fresh {
		return s.create()
	}
	return s.view(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if got := meta.Get(keyFormat); string(got) != formatID {
			return fmt.Errorf("%w: %s has format %q, want %q", eventstore.ErrCorrupt, s.path, got, formatID)
		}
		for _, name := range [][]byte{bucketLog, bucketStreams, bucketRevs, bucketIDs} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: %s has no %s bucket", eventstore.ErrCorrupt, s.path, name)
			}
		}
		head := u64(meta.Get(keyHead))
		k, v := tx.Bucket(bucketLog).Cursor().Last()
		var last uint64
		if k != nil {
			last = u64(k)
		}
		if last != head {
			return fmt.Errorf("%w: %s records head position %d but its last event is at %d", eventstore.ErrCorrupt, s.path, head, last)
		}
		if k != nil {
			e, err := decodeRecord(eventstore.Position(last), v)
			if err != nil {
				return err
			}
			if err := e.VerifyHash(); err != nil {
				return err
			}
		}
		s.head.Store(head)
		s.lastTime = int64(u64(meta.Get(keyTime)))
		return nil
	})
}

func (s *Store) create() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketLog, bucketStreams, bucketRevs, bucketIDs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create ledger: %w", err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyFormat, []byte(formatID)); err != nil {
			return fmt.Errorf("create ledger: %w", err)
		}
		return meta.Put(keyHead, be64(0))
	})
}

// Path returns the ledger file's path.
func (s *Store) Path() string { return s.path }

// Close stops the writer after it has committed what was queued, ends
// running subscriptions with eventstore.ErrClosed and closes the file.
// Close is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.idle
		return nil
	}
	s.closed = true
	close(s.reqs)
	close(s.done)
	s.mu.Unlock()
	<-s.idle
	return s.db.Close()
}

// Head returns the position of the last committed event.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return eventstore.Position(s.head.Load()), nil
}

// changed returns a channel that is closed after the next commit.
func (s *Store) changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}

func (s *Store) broadcast() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

// view runs fn in a read transaction. A panic or memory fault inside bbolt
// (which is how it meets a damaged page) becomes an ErrCorrupt error
// instead of crashing the process.
func (s *Store) view(fn func(tx *bbolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: reading failed: %v", eventstore.ErrCorrupt, s.path, p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return eventstore.ErrClosed
	}
	return err
}

// ReadStream returns the events of one stream; see eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if err := eventstore.ValidateStreamName(stream); err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		backwards := opts.Direction == eventstore.Backwards
		next, remaining := opts.From, opts.Limit
		first := true
		for {
			if err := ctx.Err(); err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			n := uint64(readBatch)
			if remaining > 0 && remaining < n {
				n = remaining
			}
			var batch []eventstore.Event
			var exhausted bool
			err := s.view(func(tx *bbolt.Tx) error {
				last := tx.Bucket(bucketStreams).Get([]byte(stream))
				if last == nil {
					return eventstore.ErrStreamNotFound
				}
				if first && backwards && (opts.FromEnd || next > u64(last)) {
					next = u64(last)
				}
				var err error
				batch, exhausted, err = readStreamBatch(tx, stream, next, backwards, n)
				return err
			})
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				err = fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
			}
			if err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			first = false
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
			if remaining > 0 {
				remaining -= uint64(len(batch))
				if remaining == 0 {
					return
				}
			}
			if exhausted || len(batch) == 0 {
				return
			}
			last := batch[len(batch)-1].Revision
			if backwards {
				if last == 0 {
					return
				}
				next = last - 1
			} else {
				next = last + 1
			}
		}
	}
}

// readStreamBatch reads up to n events of stream starting at revision from.
// exhausted reports that the stream has no more events in that direction.
func readStreamBatch(tx *bbolt.Tx, stream string, from uint64, backwards bool, n uint64) ([]eventstore.Event, bool, error) {
	prefix := append([]byte(stream), 0)
	c := tx.Bucket(bucketRevs).Cursor()
	log := tx.Bucket(bucketLog)
	k, v := c.Seek(revKey(stream, from))
	if backwards && (k == nil || !bytes.Equal(k, revKey(stream, from))) {
		k, v = c.Prev()
	}
	out := make([]eventstore.Event, 0, min(n, readBatch))
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = step(c, backwards) {
		if uint64(len(out)) == n {
			return out, false, nil
		}
		pos := eventstore.Position(u64(v))
		rec := log.Get(v)
		if rec == nil {
			return nil, false, fmt.Errorf("%w: stream %q revision %d points at position %d, which is missing", eventstore.ErrCorrupt, stream, u64(k[len(prefix):]), pos)
		}
		e, err := decodeRecord(pos, rec)
		if err != nil {
			return nil, false, err
		}
		if e.Stream != stream || e.Revision != u64(k[len(prefix):]) {
			return nil, false, fmt.Errorf("%w: stream index %q revision %d points at position %d, which holds %q revision %d", eventstore.ErrCorrupt, stream, u64(k[len(prefix):]), pos, e.Stream, e.Revision)
		}
		out = append(out, e)
	}
	return out, true, nil
}

func step(c *bbolt.Cursor, backwards bool) ([]byte, []byte) {
	if backwards {
		return c.Prev()
	}
	return c.Next()
}

// ReadAll returns the global log; see eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		backwards := opts.Direction == eventstore.Backwards
		next, remaining := opts.From, opts.Limit
		if !backwards && next < eventstore.Start {
			next = eventstore.Start
		}
		if backwards && (opts.FromEnd || uint64(next) > s.head.Load()) {
			next = eventstore.Position(s.head.Load())
		}
		for {
			if backwards && next == 0 {
				return
			}
			if err := ctx.Err(); err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			n := uint64(readBatch)
			if remaining > 0 && remaining < n {
				n = remaining
			}
			batch, err := s.readLog(next, backwards, n)
			if err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
			if remaining > 0 {
				remaining -= uint64(len(batch))
				if remaining == 0 {
					return
				}
			}
			if uint64(len(batch)) < n {
				return
			}
			if backwards {
				next = batch[len(batch)-1].Position - 1
			} else {
				next = batch[len(batch)-1].Position + 1
			}
		}
	}
}

// readLog reads up to n events of the log from position from.
func (s *Store) readLog(from eventstore.Position, backwards bool, n uint64) ([]eventstore.Event, error) {
	var out []eventstore.Event
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		k, v := c.Seek(be64(uint64(from)))
		if backwards && (k == nil || u64(k) != uint64(from)) {
			k, v = c.Prev()
		}
		out = make([]eventstore.Event, 0, min(n, readBatch))
		for ; k != nil && uint64(len(out)) < n; k, v = step(c, backwards) {
			e, err := decodeRecord(eventstore.Position(u64(k)), v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Subscribe delivers the log from position from, then live; see
// eventstore.Store. A subscriber never falls behind in a way that loses
// events: whatever it has not read yet is read from the file when it asks.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		next := max(from, eventstore.Start)
		caughtUp := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				yield(eventstore.Message{}, eventstore.ErrClosed)
				return
			default:
			}
			// Take the change signal before reading, so that a commit
			// between the read and the wait is not missed.
			changed := s.changed()
			batch, err := s.readLog(next, false, readBatch)
			if err != nil {
				yield(eventstore.Message{}, err)
				return
			}
			for _, e := range batch {
				if !yield(eventstore.Message{Event: e}, nil) {
					return
				}
				next = e.Position + 1
			}
			if len(batch) == readBatch {
				continue
			}
			if !caughtUp {
				caughtUp = true
				if !yield(eventstore.Message{CaughtUp: true}, nil) {
					return
				}
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-s.done:
				yield(eventstore.Message{}, eventstore.ErrClosed)
				return
			}
		}
	}
}

// Append writes events to a stream; see eventstore.Store. It returns after
// the transaction holding them has been committed and synced to disk.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	prepared, err := eventstore.PrepareAppend(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &writeReq{ctx: ctx, stream: stream, expected: expected, events: prepared, done: make(chan struct{})}
	for i := range prepared {
		r.size += len(prepared[i].Payload)
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
	r := &writeReq{ctx: ctx, imported: make([]eventstore.Event, len(events)), done: make(chan struct{})}
	for i := range events {
		if err := eventstore.ValidateImported(&events[i]); err != nil {
			return err
		}
		r.imported[i] = events[i]
		r.size += len(events[i].Payload)
	}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

func (s *Store) submit(ctx context.Context, r *writeReq) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeReq is one append or import waiting for the writer.
type writeReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	imported []eventstore.Event
	size     int

	result eventstore.AppendResult
	err    error
	done   chan struct{}
}

// writeLoop is the single writer: it takes every request queued so far and
// commits them in one transaction.
func (s *Store) writeLoop() {
	defer close(s.idle)
	var group []*writeReq
	for r := range s.reqs {
		group = append(group[:0], r)
		size := r.size
	drain:
		for len(group) < maxGroupRequests && size < maxGroupBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
				size += r.size
			default:
				break drain
			}
		}
		s.commit(group)
	}
}

// commit applies a group of requests in one transaction. Each request
// either writes all its events or none: every check runs before its first
// write. If the commit itself fails, no request of the group was written
// and each gets an ErrUnavailable error.
func (s *Store) commit(group []*writeReq) {
	live := make([]*writeReq, 0, len(group))
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var w *txWriter
	err := s.update(func(tx *bbolt.Tx) error {
		var err error
		w, err = newTxWriter(tx, s.lastTime)
		if err != nil {
			return err
		}
		for _, r := range live {
			if r.imported != nil {
				r.err = w.importEvents(r.imported)
			} else {
				r.result, r.err = w.append(r.stream, r.expected, r.events, s.clock())
			}
			if errors.Is(r.err, errStorage) {
				return r.err
			}
		}
		return w.finish()
	})
	if err != nil {
		if !errors.Is(err, eventstore.ErrCorrupt) {
			err = fmt.Errorf("%w: commit to %s failed, nothing of this append was written: %v", eventstore.ErrUnavailable, s.path, err)
		}
		for _, r := range live {
			r.result, r.err = eventstore.AppendResult{}, err
		}
	} else {
		s.lastTime = w.lastTime
		s.commits.Add(1)
		s.committed.Add(w.head - s.head.Load())
		if w.head != s.head.Load() {
			s.head.Store(w.head)
			s.broadcast()
		}
	}
	for _, r := range live {
		close(r.done)
	}
}

// update runs fn in a write transaction, turning a panic inside bbolt into
// an ErrCorrupt error (bbolt rolls the transaction back).
func (s *Store) update(fn func(tx *bbolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: writing failed: %v", eventstore.ErrCorrupt, s.path, p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.db.Update(fn)
}

func hashOf(b []byte) eventstore.Hash { return sha256.Sum256(b) }

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func revKey(stream string, rev uint64) []byte {
	k := make([]byte, 0, len(stream)+9)
	k = append(k, stream...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, rev)
}
