package bolt

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/parledger/parledger/eventstore"
)

// The write-ahead log makes an append durable with one synchronous write
// for a whole group of appends: direct (O_DIRECT|O_DSYNC, see writeDirect)
// where the file system allows it, else a buffered write and fdatasync.
// It is a directory of segment files, each named by the position of its
// first event (20 decimal digits, then ".log"). A segment is a sequence
// of frames, and each group write is its events' frames followed by one
// commit frame:
//
//	length   4 bytes  big-endian length of what follows the crc
//	crc      4 bytes  CRC-32C of what follows it
//	position 8 bytes  big-endian: an event frame's global position, or a
//	                  commit frame's last position (of its group)
//	record            event frames only: the stored record (record.go)
//
// A commit frame has length 8. Recovery keeps the events up to the last
// commit frame whose frames all check out; a group without its commit
// frame was never acknowledged and is dropped whole, so no append is ever
// recovered in part.
//
// Events move from the log into ledger.db in the background. A segment
// whose events are all committed there is deleted, or kept for reuse as a
// later segment (see release): a segment is preallocated (filled with
// zeros and synced) before its first use, so that appends overwrite blocks
// the file system has already allocated and their syncs write only data,
// with no journal commit (a direct write's padding too lies within the
// preallocated length, whose sizes are whole blocks); reusing segments
// saves writing those zeros again. A reused segment holds old frames
// after its data: their positions lie before the segment's first
// position, so no scan takes them for current ones.
const (
	walDir = "wal"
	walExt = ".log"
	// oldWALExt names segments in the first format (no commit frames),
	// which this version refuses to guess about.
	oldWALExt   = ".wal"
	frameHeader = 4 + 4 + 8
	commitFrame = frameHeader
	// Segments start at segmentMinSize and double up to segmentMaxSize
	// (see nextCapacity).
	segmentMinSize = 4 << 20
	segmentMaxSize = 64 << 20
	// maxRecycled is the most released segments kept for reuse.
	maxRecycled = 2
	// maxGroupWrite bounds one group's write: the group limit plus one
	// request at its largest. A crash can tear only the last group write,
	// so frames of the current segment found further than this past the
	// last commit are acknowledged data cut off by damage.
	maxGroupWrite = maxGroupBytes + 2*eventstore.MaxBatchSize + eventstore.MaxBatchEvents*(recordHeaderSize+frameHeader+4096)
)

type segment struct {
	first eventstore.Position // position of its first event
	path  string
}

// wal is the write-ahead log. The syncer goroutine writes; the applier
// releases the segments it has committed to ledger.db.
type wal struct {
	dir string

	mu       sync.Mutex // guards segments, recycled and reused
	segments []segment  // oldest first; the last one is being written
	recycled []string   // released segments of maxSize, ready for reuse
	reused   int        // segments made from released ones

	minSize, maxSize int64 // segmentMinSize and segmentMaxSize but in tests

	f        *os.File // the last segment, open for writing
	path     string   // its name (f's may be the spare's it was renamed from)
	size     int64    // the length of its data
	capacity int64    // its preallocated length

	// When there is no segment to reuse, the next one is zero-filled in
	// the background (as spareName) once the last one is half full, so a
	// group does not wait for that.
	spare     chan spareSegment
	preparing bool // a spare is being prepared, or waits in spare

	// direct is the last segment opened a second time, with O_DIRECT and
	// O_DSYNC, for writes that go to the disk without the page cache and
	// are durable when they return (see writeDirect); nil when the file
	// system does not take such writes, or buffered is set: then groups
	// are written through the page cache and fdatasync. tail holds the
	// segment's bytes from the last directBlock boundary at or before
	// size to size, which a direct write covers again; buf is the aligned
	// memory of those writes.
	direct   *os.File
	buffered bool
	tail     []byte
	buf      []byte

	// fault, set only by tests, makes a write fail after keep bytes of
	// frames reached the file.
	fault func(frames []byte) (keep int, err error)
}

// directBlock is the alignment of direct writes: their offset, length and
// memory. Disks have logical blocks of 512 bytes or 4 KiB; a file system
// that wants another alignment refuses the write (EINVAL), and the log
// goes on with buffered writes.
const directBlock = 4096

// spareName is the file name of the segment being zero-filled; released
// segments wait for reuse as recyclePrefix + a number + ".tmp". Open
// deletes any ".tmp" file: none holds events.
const (
	spareName     = "next.tmp"
	recyclePrefix = "free-"
)

// spareSegment is a zero-filled, synced file ready to become a segment.
type spareSegment struct {
	f        *os.File
	capacity int64
	err      error
}

// recoveredFrame is an event found in the log at open.
type recoveredFrame struct {
	pos    eventstore.Position
	record []byte
}

// openWAL opens the log in dir/wal, deletes segments whose events are all
// at or before applied, and returns the committed frames after applied, in
// order. A torn last write (a crash before the disk confirmed it, so never
// acknowledged) is dropped; damage anywhere else is an ErrCorrupt error.
func openWAL(dir string, applied eventstore.Position, minSize, maxSize int64, buffered bool) (*wal, []recoveredFrame, error) {
	w := &wal{dir: filepath.Join(dir, walDir), spare: make(chan spareSegment, 1), minSize: minSize, maxSize: maxSize, buffered: buffered}
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
			}
			continue
		case strings.HasSuffix(name, oldWALExt):
			return nil, nil, fmt.Errorf("%w: write-ahead log segment %s is in an older format, which this version does not read", eventstore.ErrCorrupt, filepath.Join(w.dir, name))
		case !strings.HasSuffix(name, walExt):
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, walExt), 10, 64)
		if err != nil || first == 0 {
			return nil, nil, fmt.Errorf("%w: unexpected file %s in %s", eventstore.ErrCorrupt, name, w.dir)
		}
		w.segments = append(w.segments, segment{first: eventstore.Position(first), path: filepath.Join(w.dir, name)})
	}
	slices.SortFunc(w.segments, func(a, b segment) int { return cmp.Compare(a.first, b.first) })

	// Segments wholly at or before applied were committed to ledger.db
	// before a crash kept them from being deleted.
	for len(w.segments) > 1 && w.segments[1].first <= applied+1 {
		if err := os.Remove(w.segments[0].path); err != nil {
			return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
		}
		w.segments = w.segments[1:]
	}
	var frames []recoveredFrame
	var end int64
	var committed eventstore.Position
	next := applied + 1
	for i, seg := range w.segments {
		if seg.first > next {
			return nil, nil, fmt.Errorf("%w: write-ahead log segment %s starts at position %d, but the ledger needs %d next", eventstore.ErrCorrupt, seg.path, seg.first, next)
		}
		got, n, c, err := scanSegment(seg, i == len(w.segments)-1, &next)
		if err != nil {
			return nil, nil, err
		}
		frames = append(frames, got...)
		end, committed = n, c
	}
	// New groups continue the last segment only if its frames run on to
	// the ledger's next position. They do not when the end of its data was
	// damaged after ledger.db had those events: writing on there would
	// leave a gap of positions, where the next recovery would stop.
	if len(w.segments) == 0 || committed+1 != next {
		if err := w.create(next); err != nil {
			return nil, nil, err
		}
	} else {
		f, err := os.OpenFile(w.segments[len(w.segments)-1].path, os.O_RDWR, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
		}
		w.f, w.path, w.size, w.capacity = f, w.segments[len(w.segments)-1].path, end, info.Size()
		w.openDirect()
	}
	return w, frames, nil
}

// scanSegment reads the frames of one segment, keeping the committed
// events at or after *next and advancing *next past them, and returns
// where its committed data ends and the last position committed there. The
// data ends at the first frame that does not check out (zeros, a torn
// write, or an old frame of a reused segment); events after the last
// commit frame are dropped. Damage among events that ledger.db already
// holds does not matter: the scan picks the chain up again at the first
// frame ledger.db lacks, if it is intact.
//
// In the last segment, the last group write may have been torn by a crash
// before the disk confirmed it (so it was never acknowledged). Its frames
// lie within maxGroupWrite of the end of the data, and are zeroed so that
// they cannot resurface. A frame of a position ledger.db lacks found
// beyond that, or after a later group's commit, was acknowledged: losing
// it to damage is an ErrCorrupt error.
func scanSegment(seg segment, last bool, next *eventstore.Position) (frames []recoveredFrame, end int64, committed eventstore.Position, err error) {
	b, err := os.ReadFile(seg.path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("open write-ahead log: %w", err)
	}
	var pending []recoveredFrame
	off, dataEnd := 0, 0
	expect := seg.first
	committed = seg.first - 1
	scan := func() error {
		for off < len(b) {
			pos, rec, n, ok := parseFrame(b[off:])
			if !ok {
				return nil
			}
			if rec != nil {
				if pos != expect {
					return nil
				}
				pending = append(pending, recoveredFrame{pos: pos, record: rec})
				expect++
			} else {
				if len(pending) == 0 || pos != expect-1 {
					return nil
				}
				for _, f := range pending {
					if f.pos < *next {
						continue // already in ledger.db
					}
					if f.pos != *next {
						return fmt.Errorf("%w: write-ahead log %s holds position %d, but the ledger needs %d next", eventstore.ErrCorrupt, seg.path, f.pos, *next)
					}
					frames = append(frames, f)
					*next = f.pos + 1
				}
				pending = pending[:0]
				committed, dataEnd = pos, off+n
			}
			off += n
		}
		return nil
	}
	if err := scan(); err != nil {
		return nil, 0, 0, err
	}
	if expect < *next {
		// Stopped among events ledger.db has: go on from the first it
		// lacks, if that frame is intact.
		if at := findPosition(b, off, *next); at >= 0 {
			off, expect, pending = at, *next, pending[:0]
			if err := scan(); err != nil {
				return nil, 0, 0, err
			}
		}
	}
	if !last {
		// The syncer moved on to the next segment after this one's last
		// group was acknowledged; openWAL checks that the next segment
		// starts right after it.
		return frames, int64(dataEnd), committed, nil
	}
	windowEnd := min(dataEnd+maxGroupWrite, len(b))
	found, err := findFrames(b, dataEnd, *next-1)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: write-ahead log %s: %v", eventstore.ErrCorrupt, seg.path, err)
	}
	if found > 0 {
		if found > windowEnd {
			return nil, 0, 0, fmt.Errorf("%w: write-ahead log %s has events after its end at byte %d, up to byte %d: acknowledged events were damaged", eventstore.ErrCorrupt, seg.path, dataEnd, found)
		}
		// An append that was never acknowledged: drop it.
		if err := zeroRange(seg.path, int64(dataEnd), int64(found)); err != nil {
			return nil, 0, 0, fmt.Errorf("write-ahead log: dropping a torn write: %w", err)
		}
	}
	return frames, int64(dataEnd), committed, nil
}

// findPosition returns the offset of the first intact event frame of
// position pos in b at or after from, or -1.
func findPosition(b []byte, from int, pos eventstore.Position) int {
	for off := from; off+frameHeader <= len(b); off++ {
		if binary.BigEndian.Uint64(b[off+8:]) != uint64(pos) {
			continue
		}
		if p, rec, _, ok := parseFrame(b[off:]); ok && rec != nil && p == pos {
			return off
		}
	}
	return -1
}

// findFrames looks through b from byte from on for frames of positions
// after known (the last the ledger has), at any byte offset (damage may
// have cut the chain of frames), and returns the end of the last one
// found, or 0. Frames of one group, the torn one, may be there; frames of
// a later group mean the torn one was acknowledged after all, which is an
// error. Old frames of a reused segment have earlier positions and are
// skipped whole.
func findFrames(b []byte, from int, known eventstore.Position) (int, error) {
	if isZero(b[from:]) {
		return 0, nil
	}
	lastEnd := 0
	var groupEnd eventstore.Position // the torn group's last position, once its commit frame is seen
	var maxPos eventstore.Position
	for off := from; off+frameHeader <= len(b); {
		pos, rec, n, ok := parseFrame(b[off:])
		if !ok {
			off++
			continue
		}
		if pos > known {
			if rec == nil && (groupEnd == 0 || pos < groupEnd) {
				groupEnd = pos
			}
			maxPos = max(maxPos, pos)
			lastEnd = off + n
		}
		off += n
	}
	if groupEnd != 0 && maxPos > groupEnd {
		return 0, fmt.Errorf("events up to position %d follow a group committed at %d after damage after position %d: acknowledged events were damaged", maxPos, groupEnd, known)
	}
	return lastEnd, nil
}

var zeroChunk = make([]byte, 1<<20)

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroChunk))
		if !bytes.Equal(b[:n], zeroChunk[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// writeZeros writes zeros over [from, to) of f.
func writeZeros(f *os.File, from, to int64) error {
	for from < to {
		n := min(to-from, int64(len(zeroChunk)))
		if _, err := f.WriteAt(zeroChunk[:n], from); err != nil {
			return err
		}
		from += n
	}
	return nil
}

func zeroRange(path string, from, to int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeZeros(f, from, to); err != nil {
		return err
	}
	return f.Sync()
}

// parseFrame decodes the frame at the start of b: an event frame (rec not
// nil) or a commit frame (rec nil, pos the group's last position). ok is
// false when b does not start with a whole frame that passes its checksum.
func parseFrame(b []byte) (pos eventstore.Position, rec []byte, n int, ok bool) {
	if len(b) < frameHeader {
		return 0, nil, 0, false
	}
	length := binary.BigEndian.Uint32(b[0:4])
	if length != 8 && length < 8+recordHeaderSize || uint64(length) > uint64(len(b)-8) {
		return 0, nil, 0, false
	}
	body := b[8 : 8+length]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return 0, nil, 0, false
	}
	pos = eventstore.Position(binary.BigEndian.Uint64(body[:8]))
	if length > 8 {
		rec = body[8:]
	}
	return pos, rec, 8 + int(length), true
}

// appendFrame appends the event frame of rec at pos to buf.
func appendFrame(buf []byte, pos eventstore.Position, rec []byte) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(8+len(rec)))
	buf = append(buf, 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint64(buf, uint64(pos))
	buf = append(buf, rec...)
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return buf
}

// appendCommit appends the commit frame of a group whose last event is at
// last.
func appendCommit(buf []byte, last eventstore.Position) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 8)
	buf = append(buf, 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint64(buf, uint64(last))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return buf
}

// create starts a new segment whose first event will be at first: a
// released segment if one waits for reuse, else the spare zero-filled in
// the background (waiting for it if need be), else a file zero-filled now.
func (w *wal) create(first eventstore.Position) error {
	path := filepath.Join(w.dir, fmt.Sprintf("%020d%s", first, walExt))
	var sp spareSegment
	w.mu.Lock()
	if n := len(w.recycled); n > 0 {
		tmp := w.recycled[n-1]
		w.recycled = w.recycled[:n-1]
		w.reused++
		w.mu.Unlock()
		f, err := os.OpenFile(tmp, os.O_RDWR, 0)
		if err == nil {
			sp = spareSegment{f: f, capacity: w.maxSize}
			if info, err := f.Stat(); err == nil {
				sp.capacity = info.Size()
			}
		}
	} else {
		w.mu.Unlock()
	}
	if sp.f == nil && w.preparing {
		sp = <-w.spare
		w.preparing = false
	}
	if sp.f == nil || sp.err != nil {
		// No spare (a new log), or preparing it failed: make one now.
		sp = zeroFile(path+".tmp", w.nextCapacity())
		if sp.err != nil {
			return fmt.Errorf("write-ahead log: new segment: %w", sp.err)
		}
	}
	if err := os.Rename(sp.f.Name(), path); err != nil {
		sp.f.Close()
		os.Remove(sp.f.Name())
		return fmt.Errorf("write-ahead log: new segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		sp.f.Close()
		return err
	}
	if w.f != nil {
		_ = w.f.Close()
	}
	w.f, w.path, w.size, w.capacity = sp.f, path, 0, sp.capacity
	w.openDirect()
	w.mu.Lock()
	w.segments = append(w.segments, segment{first: first, path: path})
	w.mu.Unlock()
	return nil
}

// nextCapacity is the size of the next segment: segments start at
// segmentMinSize and double up to segmentMaxSize, so a small ledger does
// not preallocate much.
func (w *wal) nextCapacity() int64 {
	if w.capacity == 0 {
		return w.minSize
	}
	return min(2*w.capacity, w.maxSize)
}

// prepare starts zero-filling the next segment in the background, unless
// one is ready or being prepared, or a released one waits for reuse. write
// calls it once the last segment is half full, so a small ledger never
// makes a second segment.
func (w *wal) prepare() {
	w.mu.Lock()
	reuse := len(w.recycled) > 0
	w.mu.Unlock()
	if w.preparing || reuse {
		return
	}
	capacity := w.nextCapacity()
	path := filepath.Join(w.dir, spareName)
	w.preparing = true
	go func() { w.spare <- zeroFile(path, capacity) }()
}

// zeroFile creates path filled with capacity zero bytes and synced.
func zeroFile(path string, capacity int64) spareSegment {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return spareSegment{err: err}
	}
	if err = writeZeros(f, 0, capacity); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return spareSegment{err: err}
	}
	return spareSegment{f: f, capacity: capacity}
}

// write appends one group's frames (whose first event is at first, and
// which end with the group's commit frame) and makes them durable. On
// failure it puts the segment back as it was, so a later group never
// follows a half-written one. A group larger than a whole segment goes
// into an empty one, which grows past its preallocated length.
func (w *wal) write(first eventstore.Position, frames []byte) error {
	if w.size > 0 && w.size+int64(len(frames)) > w.capacity {
		if err := w.create(first); err != nil {
			return err
		}
	}
	keep, fault := len(frames), error(nil)
	if w.fault != nil {
		if keep, fault = w.fault(frames); fault == nil {
			keep = len(frames)
		}
	}
	var err error
	if w.direct != nil {
		err = w.writeDirect(frames, keep, fault)
		if errors.Is(err, unix.EINVAL) {
			// The file system wants another alignment, and wrote
			// nothing (the blocks are put back all the same): go on
			// with buffered writes, this group first.
			w.closeDirect()
			w.buffered = true
			err = w.writeBuffered(frames, len(frames), nil)
		}
	} else {
		err = w.writeBuffered(frames, keep, fault)
	}
	if err != nil {
		return fmt.Errorf("write-ahead log %s: %w", w.path, err)
	}
	w.size += int64(len(frames))
	if w.size > w.capacity/2 {
		w.prepare()
	}
	return nil
}

// writeBuffered writes frames at the end of the data through the page
// cache, then calls fdatasync. fault, if not nil, is a test's error for a
// write that stopped after keep bytes.
func (w *wal) writeBuffered(frames []byte, keep int, fault error) error {
	n, err := w.f.WriteAt(frames[:keep], w.size)
	if err == nil {
		err = fault
	}
	if err == nil {
		err = unix.Fdatasync(int(w.f.Fd()))
	}
	if err != nil && n > 0 {
		if zerr := writeZeros(w.f, w.size, w.size+int64(n)); zerr == nil {
			_ = unix.Fdatasync(int(w.f.Fd()))
		}
	}
	return err
}

// writeDirect writes frames at the end of the data with one direct,
// synchronous write: whole blocks from the one that holds the end of the
// data, so the tail first, then the frames, then zeros to the block's
// end. The blocks it covers again hold the same bytes as before. This
// saves the page cache's copy and writeback, and the fdatasync call: on
// the 2-core development machine a group's sync took 7% less time
// (docs/benchmarks.md). fault, if not nil, is a test's error for a write
// that stopped after keep bytes.
func (w *wal) writeDirect(frames []byte, keep int, fault error) error {
	start := w.size &^ (directBlock - 1)
	n := len(w.tail) + keep
	buf := w.block(n)
	copy(buf, w.tail)
	copy(buf[len(w.tail):], frames[:keep])
	clear(buf[n:])
	_, err := w.direct.WriteAt(buf, start)
	if err == nil {
		err = fault
	}
	if err != nil {
		// Put the blocks back as they were before the group: the tail,
		// then zeros.
		clear(buf[len(w.tail):])
		_, _ = w.direct.WriteAt(buf, start)
		return err
	}
	end := w.size + int64(len(frames))
	from := end&^(directBlock-1) - start
	w.tail = append(w.tail[:0], buf[from:end-start]...)
	if cap(w.buf) > 1<<20 {
		w.buf = nil // a very large group's buffer is not kept
	}
	return nil
}

// block returns aligned memory for a direct write of n bytes, rounded up
// to whole blocks.
func (w *wal) block(n int) []byte {
	size := (n + directBlock - 1) &^ (directBlock - 1)
	if cap(w.buf) < size {
		raw := make([]byte, size+directBlock)
		off := int(-uintptr(unsafe.Pointer(&raw[0])) & (directBlock - 1))
		w.buf = raw[off : off+size : off+size]
	}
	return w.buf[:size]
}

// openDirect opens the last segment a second time for direct writes, and
// reads its tail. Where that fails (a file system without O_DIRECT), or
// the tail cannot be read, the segment is written with buffered writes.
func (w *wal) openDirect() {
	w.closeDirect()
	if w.buffered {
		return
	}
	d, err := os.OpenFile(w.path, os.O_RDWR|unix.O_DIRECT|unix.O_DSYNC, 0)
	if err != nil {
		return
	}
	start := w.size &^ (directBlock - 1)
	w.tail = slices.Grow(w.tail[:0], directBlock)[:w.size-start]
	if _, err := w.f.ReadAt(w.tail, start); err != nil {
		d.Close()
		return
	}
	w.direct = d
}

// closeDirect closes the direct handle of the last segment, if any.
func (w *wal) closeDirect() {
	if w.direct != nil {
		_ = w.direct.Close()
		w.direct = nil
	}
}

// release gives up every segment but the last whose events are all at or
// before applied: it keeps up to maxRecycled full-size ones for reuse and
// deletes the rest.
func (w *wal) release(applied eventstore.Position) error {
	w.mu.Lock()
	var drop []segment
	for len(w.segments) > 1 && w.segments[1].first <= applied+1 {
		drop = append(drop, w.segments[0])
		w.segments = w.segments[1:]
	}
	keep := maxRecycled - len(w.recycled)
	w.mu.Unlock()
	for _, seg := range drop {
		if keep > 0 {
			if info, err := os.Stat(seg.path); err == nil && info.Size() >= w.maxSize {
				tmp := filepath.Join(w.dir, fmt.Sprintf("%s%d.tmp", recyclePrefix, seg.first))
				if err := os.Rename(seg.path, tmp); err == nil {
					keep--
					w.mu.Lock()
					w.recycled = append(w.recycled, tmp)
					w.mu.Unlock()
					continue
				}
			}
		}
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("write-ahead log: %w", err)
		}
	}
	return nil
}

// close closes the last segment and deletes the spare and the segments
// kept for reuse.
func (w *wal) close() error {
	if w.preparing {
		if sp := <-w.spare; sp.f != nil {
			sp.f.Close()
			os.Remove(sp.f.Name())
		}
		w.preparing = false
	}
	w.mu.Lock()
	for _, tmp := range w.recycled {
		os.Remove(tmp)
	}
	w.recycled = nil
	w.mu.Unlock()
	w.closeDirect()
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeAll deletes every segment; the caller has closed the log and
// ledger.db holds all its events.
func (w *wal) removeAll() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, seg := range w.segments {
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("write-ahead log: %w", err)
		}
	}
	w.segments = nil
	return syncDir(w.dir)
}
