package transparency

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parledger/parledger/eventstore"
)

// FileName is the usual name of the Merkle log's file in the data
// directory, beside the ledger.
const FileName = "merkle.db"

// formatID identifies the layout below. A file with another value is
// refused rather than misread.
const formatID = "parledger-merkle-1"

// The file holds three buckets:
//
//	meta   "format" -> formatID; "size" -> leaves (8 bytes);
//	       "last" -> position of the last leaf's event (8 bytes)
//	nodes  one nested bucket per level, named by the level (1 byte):
//	       tile number (8 bytes) -> up to tileWidth hashes back to back;
//	       level 0 holds the leaf hashes, level l the hashes of the
//	       complete subtrees of 2^l leaves (compact.NodeID{l, i} is hash
//	       i%tileWidth of tile i/tileWidth)
//	ids    event id (16 bytes) -> leaf index (8 bytes)
//
// Nodes are written once, when their subtree completes, and never change;
// tiles only grow at their end, so every level bucket grows at its end and
// is filled full.
var (
	bucketMeta  = []byte("meta")
	bucketNodes = []byte("nodes")
	bucketIDs   = []byte("ids")

	keyFormat = []byte("format")
	keySize   = []byte("size")
	keyLast   = []byte("last")
)

const (
	tileBits  = 4
	tileWidth = 1 << tileBits
	// maxBatch bounds the events of one transaction of Follow.
	maxBatch = 8192
)

var (
	// ErrDamaged: the Merkle log's own file is damaged or of another
	// format. It is derived data: remove it and it is rebuilt from the
	// ledger (then check the rebuilt tree against the last published
	// checkpoint with VerifyCheckpoint).
	ErrDamaged = errors.New("merkle log damaged")
	// ErrOutOfRange: a tree size or leaf index beyond the tree.
	ErrOutOfRange = errors.New("beyond the tree")
	// ErrNotFound: no leaf for that event id (yet).
	ErrNotFound = errors.New("event not in the tree")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("merkle log closed")
)

// Options configures Open.
type Options struct {
	// LockTimeout bounds the wait for the file's lock when another
	// process holds it; zero means one second.
	LockTimeout time.Duration
	// Logger receives Follow's progress and warnings; nil means
	// slog.Default().
	Logger *slog.Logger
	// QuickStart makes Follow check only the newest leaf against the
	// store when it starts, instead of every leaf. Audit still checks
	// them all.
	QuickStart bool
}

// Log is the Merkle tree of the ledger (RFC 6962/9162): leaf i is the
// event at index i of the global log (0-based, in log order), hashed with
// LeafHash. It lives in its own bbolt file, so memory does not grow with
// the ledger: only the right border of the tree (at most 64 hashes) is
// kept in memory. It is derived data: Follow builds it from the store,
// catches it up, and reports any event that no longer matches the leaf
// recorded for it. A Log is safe for concurrent use: proofs and roots are
// served while events are appended.
type Log struct {
	db    *bbolt.DB
	path  string
	log   *slog.Logger
	quick bool

	// wmu serialises writers (Append, Follow).
	wmu sync.Mutex
	// mu guards the tree's head: its right border, root and the
	// position of its last event.
	mu   sync.RWMutex
	rng  *compact.Range
	root []byte
	last eventstore.Position
	size atomic.Uint64

	closed    atomic.Bool
	following atomic.Bool
	caughtUp  atomic.Bool
	failed    atomic.Pointer[error]
	notifyMu  sync.Mutex
	notify    chan struct{} // closed and replaced after every commit
}

// Open opens the Merkle log stored at path (a file, created if missing).
// It fails with ErrDamaged when the file is not a Merkle log of this
// format, and with an eventstore.ErrInUse error when another process
// holds it.
func Open(path string, opts Options) (*Log, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, FreelistType: bbolt.FreelistMapType})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s is open in another process", eventstore.ErrInUse, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %s: %v (remove it to rebuild it from the ledger)", ErrDamaged, path, err)
	case err != nil:
		return nil, fmt.Errorf("open merkle log %s: %w", path, err)
	}
	l := &Log{db: db, path: path, log: logger, quick: opts.QuickStart, notify: make(chan struct{})}
	if err := l.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return l, nil
}

// init creates the buckets of a new file, or checks an existing one and
// loads the tree's right border.
func (l *Log) init() error {
	err := l.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketNodes); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketIDs); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, []byte(formatID)); err != nil {
				return err
			}
			return meta.Put(keySize, be64(0))
		}
		if f := meta.Get(keyFormat); string(f) != formatID {
			return fmt.Errorf("%w: %s has format %q, want %q (remove it to rebuild it from the ledger)", ErrDamaged, l.path, f, formatID)
		}
		if tx.Bucket(bucketNodes) == nil || tx.Bucket(bucketIDs) == nil || len(meta.Get(keySize)) != 8 {
			return fmt.Errorf("%w: %s lacks buckets (remove it to rebuild it from the ledger)", ErrDamaged, l.path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return l.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		size := u64(meta.Get(keySize))
		hashes, err := readNodes(&txNodes{tx: tx}, compact.RangeNodes(0, size, nil))
		if err != nil {
			return err
		}
		rng, err := factory.NewRange(0, size, hashes)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDamaged, l.path, err)
		}
		root, _ := rng.GetRootHash(nil)
		if size == 0 {
			root = EmptyRoot()
		}
		l.rng, l.root, l.last = rng, root, eventstore.Position(u64(meta.Get(keyLast)))
		l.size.Store(size)
		return nil
	})
}

// Close releases the file. Call it after Follow has returned.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.db.Close()
}

// Size returns the number of leaves (events) in the tree.
func (l *Log) Size() uint64 { return l.size.Load() }

// head returns the tree's size and root, read together.
func (l *Log) head() (uint64, []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.rng.End(), l.root
}

// Root returns the root hash of the tree of the first size leaves (any
// size up to Size; the empty tree's root for 0). It fails with
// ErrOutOfRange beyond Size.
func (l *Log) Root(size uint64) ([]byte, error) {
	if cur, root := l.head(); size == cur {
		return bytes.Clone(root), nil
	} else if size > cur {
		return nil, fmt.Errorf("%w: tree size %d, the tree has %d leaves", ErrOutOfRange, size, cur)
	}
	var root []byte
	err := l.view(func(r nodeReader) (err error) {
		root, err = rootAt(r, size)
		return err
	})
	return root, err
}

// InclusionProof returns the RFC 9162 inclusion proof of leaf index in
// the tree of size leaves: the hashes that, with the leaf hash, rebuild
// Root(size). It fails with ErrOutOfRange unless index < size <= Size.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	if cur := l.Size(); size > cur || index >= size {
		return nil, fmt.Errorf("%w: leaf %d in a tree of %d leaves (the tree has %d)", ErrOutOfRange, index, size, cur)
	}
	var p [][]byte
	err := l.view(func(r nodeReader) (err error) {
		p, err = inclusionProof(r, index, size)
		return err
	})
	return p, err
}

// ConsistencyProof returns the RFC 9162 consistency proof between the
// trees of size1 and size2 leaves: the hashes that show the smaller tree
// is a prefix of the larger. It fails with ErrOutOfRange unless
// size1 <= size2 <= Size.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if cur := l.Size(); size2 > cur || size1 > size2 {
		return nil, fmt.Errorf("%w: consistency from %d to %d leaves (the tree has %d)", ErrOutOfRange, size1, size2, cur)
	}
	var p [][]byte
	err := l.view(func(r nodeReader) (err error) {
		p, err = consistencyProof(r, size1, size2)
		return err
	})
	return p, err
}

// LeafHash returns the hash of leaf index. It fails with ErrOutOfRange
// beyond Size.
func (l *Log) LeafHash(index uint64) ([]byte, error) {
	if cur := l.Size(); index >= cur {
		return nil, fmt.Errorf("%w: leaf %d, the tree has %d leaves", ErrOutOfRange, index, cur)
	}
	var h []byte
	err := l.view(func(r nodeReader) (err error) {
		h, err = r.node(compact.NewNodeID(0, index))
		return err
	})
	return h, err
}

// LeafIndex returns the leaf index of the event with that id, or
// ErrNotFound when the tree has no such event (yet).
func (l *Log) LeafIndex(id uuid.UUID) (uint64, error) {
	size := l.Size()
	var index uint64
	err := l.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketIDs).Get(id[:])
		if v == nil {
			return fmt.Errorf("%w: event %s", ErrNotFound, id)
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: %s: id index entry of event %s is %d bytes", ErrDamaged, l.path, id, len(v))
		}
		index = u64(v)
		return nil
	})
	if err == nil && index >= size {
		// Committed, but not yet published by Size.
		return 0, fmt.Errorf("%w: event %s", ErrNotFound, id)
	}
	return index, err
}

// ProveEvent returns the inclusion proof of e in the tree of size leaves
// (0 means the current size). It first checks that e, as the store holds
// it now, is what the tree recorded: an event whose content no longer
// matches its hash, or whose leaf differs from the recorded one, is an
// *EventError matching ErrLedgerChanged. An event not in the tree (yet) is
// ErrNotFound; an event after leaf size-1 is ErrOutOfRange.
func (l *Log) ProveEvent(e *eventstore.Event, size uint64) (InclusionProof, error) {
	if size == 0 {
		size = l.Size()
	}
	index, err := l.LeafIndex(e.ID)
	if err != nil {
		return InclusionProof{}, err
	}
	if err := e.VerifyHash(); err != nil {
		return InclusionProof{}, eventError(index, 0, e, fmt.Errorf("%w: %w", ErrLedgerChanged, err))
	}
	recorded, err := l.LeafHash(index)
	if err != nil {
		return InclusionProof{}, err
	}
	leaf := LeafHash(e)
	if !bytes.Equal(recorded, leaf) {
		return InclusionProof{}, eventError(index, 0, e, fmt.Errorf("%w: its leaf hash is %x but the Merkle log recorded %x for it: its revision, recorded time or content was changed", ErrLedgerChanged, leaf, recorded))
	}
	hashes, err := l.InclusionProof(index, size)
	if err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{LeafIndex: index, TreeSize: size, LeafHash: leaf, Hashes: hashes}, nil
}

// VerifyCheckpoint checks that cp (already signature-checked, for
// example the last checkpoint this server published) signs this tree:
// Root(cp.Size) must equal cp.Root. Run it on start: a Merkle log rebuilt
// from an edited ledger fails it with ErrRootMismatch.
func (l *Log) VerifyCheckpoint(cp Checkpoint) error {
	root, err := l.Root(cp.Size)
	if err != nil {
		return fmt.Errorf("%w: checkpoint of %d events, but the Merkle log has %d: %w", ErrRootMismatch, cp.Size, l.Size(), err)
	}
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("%w: the first %d events hash to %x, the checkpoint signs %x", ErrRootMismatch, cp.Size, root, cp.Root)
	}
	return nil
}

// Append adds events to the tree, in log order, in one transaction: the
// first becomes leaf Size(). Their positions must increase (the log's
// order) and their content hashes must verify; an event whose hash does
// not, or whose id is already in the tree, is an *EventError matching
// ErrLedgerChanged and nothing is appended. Follow calls Append; call it
// directly only when feeding the log yourself.
func (l *Log) Append(events ...eventstore.Event) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	return l.appendLocked(events)
}

func (l *Log) appendLocked(events []eventstore.Event) error {
	if len(events) == 0 {
		return nil
	}
	l.mu.RLock()
	rng, err := factory.NewRange(0, l.rng.End(), append([][]byte(nil), l.rng.Hashes()...))
	last := l.last
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	leaves := make([][]byte, len(events))
	for i := range events {
		e := &events[i]
		index := rng.End() + uint64(i)
		if e.Position <= last {
			return eventError(index, 0, e, fmt.Errorf("%w: events out of log order: position %d after %d", eventstore.ErrInvalid, e.Position, last))
		}
		last = e.Position
		if err := e.VerifyHash(); err != nil {
			return eventError(index, 0, e, fmt.Errorf("%w: %w", ErrLedgerChanged, err))
		}
		leaves[i] = LeafHash(e)
	}
	err = l.db.Update(func(tx *bbolt.Tx) error {
		ids := tx.Bucket(bucketIDs)
		for i := range events {
			e := &events[i]
			index := rng.End() + uint64(i)
			if v := ids.Get(e.ID[:]); v != nil {
				return eventError(index, 0, e, fmt.Errorf("%w: its id is already in the log at leaf %d: the event is repeated", ErrLedgerChanged, u64(v)))
			}
			if err := ids.Put(e.ID[:], be64(index)); err != nil {
				return err
			}
		}
		return l.writeLeaves(tx, rng, leaves, last)
	})
	if err != nil {
		return err
	}
	l.publish(rng, last)
	return nil
}

// appendLeaves adds leaf hashes without events (tests and benchmarks).
func (l *Log) appendLeaves(leaves [][]byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	rng, err := factory.NewRange(0, l.rng.End(), append([][]byte(nil), l.rng.Hashes()...))
	last := l.last
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error { return l.writeLeaves(tx, rng, leaves, last) }); err != nil {
		return err
	}
	l.publish(rng, last)
	return nil
}

// writeLeaves appends leaves to rng and writes every node that completes,
// and the new size, in tx.
func (l *Log) writeLeaves(tx *bbolt.Tx, rng *compact.Range, leaves [][]byte, last eventstore.Position) error {
	w := tileWriter{nodes: tx.Bucket(bucketNodes), open: map[uint]*openTile{}}
	for _, leaf := range leaves {
		if err := rng.Append(leaf, w.put); err != nil {
			return err
		}
		if w.err != nil {
			return w.err
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keySize, be64(rng.End())); err != nil {
		return err
	}
	return meta.Put(keyLast, be64(uint64(last)))
}

// publish makes a committed tree head visible to readers.
func (l *Log) publish(rng *compact.Range, last eventstore.Position) {
	root, _ := rng.GetRootHash(nil)
	if rng.End() == 0 {
		root = EmptyRoot()
	}
	l.mu.Lock()
	l.rng, l.root, l.last = rng, root, last
	l.size.Store(rng.End())
	l.mu.Unlock()
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
}

// Changed returns a channel closed after the next append commits.
func (l *Log) Changed() <-chan struct{} {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	return l.notify
}

// WaitSize blocks until the tree has at least size leaves, Follow has
// stopped with an error (returned), or ctx ends. A handler that appended
// an event at leaf i calls WaitSize(ctx, i+1) before proving it.
func (l *Log) WaitSize(ctx context.Context, size uint64) error {
	for {
		ch := l.Changed()
		if l.Size() >= size {
			return nil
		}
		if err := l.Err(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// view runs fn with a reader of the committed tree.
func (l *Log) view(fn func(nodeReader) error) error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.db.View(func(tx *bbolt.Tx) error { return fn(&txNodes{tx: tx}) })
}

// txNodes reads nodes in a bbolt transaction, keeping the level buckets
// it has opened.
type txNodes struct {
	tx     *bbolt.Tx
	levels [64]*bbolt.Bucket
}

func (r *txNodes) node(id compact.NodeID) ([]byte, error) {
	var tile []byte
	if id.Level < uint(len(r.levels)) {
		b := r.levels[id.Level]
		if b == nil {
			b = r.tx.Bucket(bucketNodes).Bucket([]byte{byte(id.Level)})
			r.levels[id.Level] = b
		}
		if b != nil {
			tile = b.Get(be64(id.Index >> tileBits))
		}
	}
	off := (id.Index & (tileWidth - 1)) * HashSize
	if uint64(len(tile)) < off+HashSize {
		return nil, fmt.Errorf("%w: node %d of level %d is missing (remove the file to rebuild it from the ledger)", ErrDamaged, id.Index, id.Level)
	}
	// Copy: the tile points into the memory map, valid only during tx.
	return bytes.Clone(tile[off : off+HashSize]), nil
}

// tileWriter gathers the nodes of one transaction into their tiles and
// writes each changed tile once.
type tileWriter struct {
	nodes *bbolt.Bucket
	open  map[uint]*openTile
	err   error
}

type openTile struct {
	b    *bbolt.Bucket
	tile uint64
	buf  []byte
}

// put is a compact.VisitFn: it records the hash of a node that has just
// completed.
func (w *tileWriter) put(id compact.NodeID, hash []byte) {
	if w.err != nil {
		return
	}
	t := w.open[id.Level]
	tile, slot := id.Index>>tileBits, id.Index&(tileWidth-1)
	if t == nil || t.tile != tile {
		if t != nil {
			if w.err = t.write(); w.err != nil {
				return
			}
		} else {
			b, err := w.nodes.CreateBucketIfNotExists([]byte{byte(id.Level)})
			if err != nil {
				w.err = err
				return
			}
			// Tiles are appended in key order: pack pages full.
			b.FillPercent = 1
			t = &openTile{b: b}
			w.open[id.Level] = t
		}
		t.tile = tile
		t.buf = append(t.buf[:0], t.b.Get(be64(tile))...)
	}
	if uint64(len(t.buf)) != slot*HashSize {
		w.err = fmt.Errorf("%w: tile %d of level %d holds %d bytes, node %d goes at %d", ErrDamaged, tile, id.Level, len(t.buf), id.Index, slot*HashSize)
		return
	}
	t.buf = append(t.buf, hash...)
}

func (t *openTile) write() error { return t.b.Put(be64(t.tile), bytes.Clone(t.buf)) }

func (w *tileWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	for _, t := range w.open {
		if err := t.write(); err != nil {
			return err
		}
	}
	return nil
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
