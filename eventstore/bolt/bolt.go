package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parledger/parledger/eventstore"
)

// FileName is the name of the ledger file inside the data directory.
const FileName = "ledger.db"

// formatID identifies the layout of buckets and records. A file with
// another value is refused rather than misread.
const formatID = "parledger-bolt-2"

// Bucket names.
var (
	bucketMeta    = []byte("meta")    // "format", "head", "time"
	bucketLog     = []byte("blocks")  // position of a block's first event (8 bytes) -> block (block.go)
	bucketStreams = []byte("streams") // stream name -> last revision (8 bytes)
	bucketRevs    = []byte("revs")    // stream name, 0x00, revision (8 bytes) -> position
	bucketIDs     = []byte("ids")     // event id (16 bytes) -> position

	keyFormat = []byte("format")
	keyHead   = []byte("head") // last position committed to ledger.db
	keyTime   = []byte("time") // newest recorded time in ledger.db (Unix ns)
)

// Limits of the write path and the applier.
const (
	// maxGroupRequests and maxGroupBytes bound one group commit.
	maxGroupRequests = 4096
	maxGroupBytes    = 8 << 20
	// groupCatchUp is the longest a group smaller than the last waits
	// for more requests before the syncer takes it.
	groupCatchUp = 200 * time.Microsecond
	// maxMemEvents and maxMemBytes bound the events waiting for the
	// applier; appends wait when they are reached.
	maxMemEvents = 200_000
	maxMemBytes  = 256 << 20
	// The applier commits once applyMin events wait or the oldest has
	// waited applyDelay, at most applyMax events per transaction (see
	// applyLoop).
	applyMin   = 32_768
	applyMax   = 65_536
	applyDelay = time.Second
	// readBatch is how many events a read takes per transaction.
	readBatch = 1024
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

// Store is the embedded event store: a write-ahead log and one bbolt file
// in a data directory. It is safe for concurrent use.
//
// Each append checks itself against the state the log will have and joins
// the group being built; a syncer goroutine writes each group to the
// write-ahead log with one write and one fdatasync (group commit), then
// acknowledges it. The next group fills while the syncer waits for the
// disk (see write.go).
// An applier goroutine then commits those events, with their indexes, to
// ledger.db in large transactions, after which their log segments are
// deleted. Until then they are served from memory, so a read always sees
// every acknowledged event.
type Store struct {
	db    *bbolt.DB
	dir   string
	path  string
	clock func() time.Time
	wal   *wal

	b    builder       // the group being built (see write.go)
	done chan struct{} // closed when Close starts
	idle chan struct{} // closed when the syncer has finished

	// mu guards the in-memory state shared by the write path, the
	// applier and readers.
	mu      sync.Mutex
	streams map[string]uint64 // every stream's last revision
	mem     *memtable         // events after applied
	applied eventstore.Position
	// appliedPos is applied, for reading without mu.
	appliedPos atomic.Uint64
	// v7InDB is the largest v7High of the version 7 ids in ledger.db when
	// the applier last read its id index (buildFilter), and the largest
	// value possible until it has (see newV7).
	v7InDB atomic.Uint64
	// ids holds the ids in ledger.db (nil until the applier has built it).
	ids atomic.Pointer[idFilter]
	// durableTime is the newest recorded time of a durable event (Unix ns).
	durableTime int64
	space       *sync.Cond // signalled after every attempt of the applier
	// memFull is set while the events waiting for the applier are at
	// their limit, so that appends need not take mu to find out.
	memFull atomic.Bool
	// applyErr is the applier's last failure, cleared by its next success.
	applyErr error
	// flushWanted asks the applier to commit without waiting.
	flushWanted bool

	head     atomic.Uint64
	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after every group commit

	applierDone chan struct{}
	kick        chan struct{} // wakes the applier
	// applyMin, applyMax, applyDelay, maxMemEvents, maxMemBytes,
	// segmentMinSize and segmentMaxSize are the constants of the same
	// names; tests make them small.
	applyMin, applyMax             int
	applyDelay                     time.Duration
	maxMemEvents, maxMemBytes      int
	segmentMinSize, segmentMaxSize int64
	// bufferedWAL, set only by tests, makes the write-ahead log use
	// buffered writes and fdatasync even where direct writes work.
	bufferedWAL bool
	// applyFault, set only by tests, makes the applier's commits fail
	// while it returns an error; migrateFault fails a conversion from
	// formatV1 before a transaction.
	applyFault   func() error
	migrateFault func() error
	// migrateBatch is the constant of the same name; tests make it small.
	migrateBatch int

	// staged, set only by tests, is called after a request has been
	// checked and added to a group.
	staged func(*writeReq)

	groups, grouped, applies atomic.Uint64
	syncNanos, applyNanos    atomic.Int64
}

var _ eventstore.Store = (*Store)(nil)

// Stats counts the store's work since Open.
type Stats struct {
	// Groups is the number of group commits to the write-ahead log and
	// Events the number of events they held: Events/Groups is the mean
	// group size, and Groups the number of fdatasyncs.
	Groups, Events uint64
	// Applies is the number of ledger.db transactions of the applier.
	Applies uint64
	// Pending is the number of events not yet in ledger.db.
	Pending int
	// SyncTime is the time spent writing groups to the write-ahead log
	// and waiting for their fdatasync; ApplyTime the time the applier
	// spent committing to ledger.db.
	SyncTime, ApplyTime time.Duration
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	pending := s.mem.len()
	s.mu.Unlock()
	return Stats{
		Groups: s.groups.Load(), Events: s.grouped.Load(), Applies: s.applies.Load(), Pending: pending,
		SyncTime: time.Duration(s.syncNanos.Load()), ApplyTime: time.Duration(s.applyNanos.Load()),
	}
}

// Open opens (creating if needed) the ledger in dir. It fails with an
// eventstore.ErrInUse error when another process has the directory open,
// and with an eventstore.ErrCorrupt error when ledger.db or the
// write-ahead log is damaged. Events acknowledged before a crash are
// recovered from the write-ahead log.
func Open(dir string, opts Options) (*Store, error) {
	return open(dir, opts, nil)
}

// open is Open; tune, if not nil, adjusts the store before it reads its
// files and starts its goroutines (tests use it).
func open(dir string, opts Options, tune func(*Store)) (*Store, error) {
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
		db:             db,
		dir:            dir,
		path:           path,
		clock:          opts.Clock,
		done:           make(chan struct{}),
		idle:           make(chan struct{}),
		notify:         make(chan struct{}),
		streams:        make(map[string]uint64),
		applierDone:    make(chan struct{}),
		kick:           make(chan struct{}, 1),
		applyMin:       applyMin,
		applyMax:       applyMax,
		applyDelay:     applyDelay,
		maxMemEvents:   maxMemEvents,
		maxMemBytes:    maxMemBytes,
		segmentMinSize: segmentMinSize,
		segmentMaxSize: segmentMaxSize,
		migrateBatch:   migrateBatch,
	}
	s.space = sync.NewCond(&s.mu)
	s.v7InDB.Store(math.MaxUint64) // unknown until the applier reads the id index
	if s.clock == nil {
		s.clock = time.Now
	}
	if tune != nil {
		tune(s)
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.b.cond.L = &s.b.mu
	s.b.now = s.clock
	s.b.reset(s)
	s.b.g = s.b.newGroup()
	go s.syncLoop()
	go s.applyLoop()
	s.wake()
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
		// Map 1 GiB of address space up front: growing the map means
		// waiting for every reader and copying every node of the writing
		// transaction out of the old map.
		InitialMmapSize: 1 << 30,
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

// init creates the buckets of a new file, or checks an existing one (its
// format, that the file holds every page its header claims, that the
// recorded head is the last event of the log and verifies) and loads the
// streams' last revisions.
func (s *Store) init() error {
	info, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	var fresh, v1 bool
	err = s.view(func(tx *bbolt.Tx) error {
		if size := tx.Size(); info.Size() < size {
			return fmt.Errorf("%w: %s is %d bytes but its header claims %d: the file was truncated", eventstore.ErrCorrupt, s.path, info.Size(), size)
		}
		meta := tx.Bucket(bucketMeta)
		fresh = meta == nil
		v1 = meta != nil && string(meta.Get(keyFormat)) == formatV1 && tx.Bucket(bucketV1Log) != nil
		return nil
	})
	if err != nil {
		return err
	}
	if fresh {
		if err := s.create(); err != nil {
			return err
		}
	}
	if v1 {
		if err := s.migrate(); err != nil {
			return err
		}
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
		b, ok, err := lastBlock(tx.Bucket(bucketLog))
		if err != nil {
			return err
		}
		var last uint64
		if ok {
			last = uint64(b.last())
		}
		if last != head {
			return fmt.Errorf("%w: %s records head position %d but its last event is at %d", eventstore.ErrCorrupt, s.path, head, last)
		}
		if ok {
			e, err := decodeRecord(b.last(), b.record(b.last()))
			if err != nil {
				return err
			}
			if err := e.VerifyHash(); err != nil {
				return err
			}
		}
		s.applied = eventstore.Position(head)
		s.appliedPos.Store(head)
		s.durableTime = int64(u64(meta.Get(keyTime)))
		return tx.Bucket(bucketStreams).ForEach(func(k, v []byte) error {
			s.streams[string(k)] = u64(v)
			return nil
		})
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

// recover opens the write-ahead log and puts the events it holds beyond
// ledger.db's head back in memory, for the applier to commit, and their
// ids in the builder's index (see builder).
func (s *Store) recover() error {
	w, frames, err := openWAL(s.dir, s.applied, s.segmentMinSize, s.segmentMaxSize, s.bufferedWAL)
	if err != nil {
		return err
	}
	s.wal = w
	s.mem = newMemtable(s.applied + 1)
	s.b.ids = make(map[uuid.UUID]eventstore.Position, len(frames))
	for _, f := range frames {
		e, err := decodeRecord(f.pos, f.record)
		if err != nil {
			_ = w.close()
			return fmt.Errorf("write-ahead log: %w", err)
		}
		last, exists := s.streams[e.Stream]
		if want := nextRevision(last, exists); e.Revision != want {
			_ = w.close()
			return fmt.Errorf("%w: write-ahead log has %q revision %d at position %d, but the stream's next revision is %d", eventstore.ErrCorrupt, e.Stream, e.Revision, f.pos, want)
		}
		s.streams[e.Stream] = e.Revision
		s.mem.add(memEntry{stream: e.Stream, rev: e.Revision, id: e.ID, rec: f.record})
		s.b.index(e.ID, f.pos)
		s.durableTime = max(s.durableTime, e.RecordedAt.UnixNano())
	}
	s.head.Store(uint64(s.applied) + uint64(len(frames)))
	s.memFull.Store(s.memAtLimit())
	return nil
}

func nextRevision(last uint64, exists bool) uint64 {
	if exists {
		return last + 1
	}
	return 0
}

// Path returns the ledger file's path.
func (s *Store) Path() string { return s.path }

// Close stops the syncer after it has written what was staged, lets the
// applier commit everything to ledger.db, ends running subscriptions with
// eventstore.ErrClosed and closes the files. Close is safe to call more
// than once.
func (s *Store) Close() error {
	s.b.mu.Lock()
	if s.b.closed {
		s.b.mu.Unlock()
		<-s.applierDone
		return nil
	}
	s.b.closed = true
	s.b.cond.Broadcast()
	s.b.mu.Unlock()
	close(s.done)
	<-s.idle
	s.wake()
	<-s.applierDone
	s.mu.Lock()
	applyErr := s.applyErr
	s.mu.Unlock()
	werr := s.wal.close()
	if applyErr == nil && werr == nil {
		// Everything is in ledger.db: the log is no longer needed.
		werr = s.wal.removeAll()
	}
	return errors.Join(applyErr, werr, s.db.Close())
}

// Head returns the position of the last acknowledged event.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return eventstore.Position(s.head.Load()), nil
}

// changed returns a channel that is closed after the next group commit.
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

// memAtLimit reports whether the events waiting for the applier are at
// their limit; mu is held.
func (s *Store) memAtLimit() bool {
	return s.mem.len() >= s.maxMemEvents || s.mem.bytes >= s.maxMemBytes
}
