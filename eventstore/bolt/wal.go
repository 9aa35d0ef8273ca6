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

	"golang.org/x/sys/unix"

	"github.com/parledger/parledger/eventstore"
)

// The write-ahead log makes an append durable with one write and one
// fdatasync for a whole group of appends. It is a directory of segment
// files, each named by the position of its first event (20 decimal
// digits, ".wal"). A segment is a sequence of frames:
//
//	length   4 bytes  big-endian length of position + record
//	crc      4 bytes  CRC-32C of position + record
//	position 8 bytes  big-endian global position
//	record   the stored record (see record.go)
//
// Events move from the log into ledger.db in the background; a segment is
// deleted once every event in it is committed there.
const (
	walDir      = "wal"
	walExt      = ".wal"
	frameHeader = 4 + 4 + 8
	// Segments start at segmentMinSize and double up to segmentMaxSize
	// (see nextCapacity).
	segmentMinSize = 4 << 20
	segmentMaxSize = 64 << 20
	// maxGroupWrite bounds one group's write: the group limit plus one
	// request at its largest. A damaged frame closer than this to the end
	// of the last segment is an unacknowledged write cut short by a crash.
	maxGroupWrite = maxGroupBytes + 2*eventstore.MaxBatchSize + eventstore.MaxBatchEvents*(recordHeaderSize+frameHeader+4096)
)

type segment struct {
	first eventstore.Position // position of its first event
	path  string
}

// wal is the write-ahead log. The writer goroutine appends; the applier
// removes whole segments it has committed to ledger.db.
type wal struct {
	dir string

	mu       sync.Mutex // guards segments
	segments []segment  // oldest first; the last one is being written

	f        *os.File // the last segment, open for writing
	size     int64    // the length of its data
	capacity int64    // its preallocated length

	// The next segment is zero-filled in the background (as spareName)
	// while the last one fills up, so a group never waits for that.
	spare     chan spareSegment
	preparing bool // a spare is being prepared, or waits in spare

	// fault, set only by tests, makes a write fail after keep bytes of
	// frames reached the file.
	fault func(frames []byte) (keep int, err error)
}

// spareName is the file name of the segment being prepared.
const spareName = "next.tmp"

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
// at or before applied, and returns the frames after applied, in order.
// A torn last write (a crash before its fdatasync returned, so never
// acknowledged) is cut off; damage anywhere else is an ErrCorrupt error.
func openWAL(dir string, applied eventstore.Position) (*wal, []recoveredFrame, error) {
	w := &wal{dir: filepath.Join(dir, walDir), spare: make(chan spareSegment, 1)}
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			// A segment being prepared when the process stopped: it
			// holds no events.
			if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
			}
			continue
		}
		if !strings.HasSuffix(name, walExt) {
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
	next := applied + 1
	for i, seg := range w.segments {
		last := i == len(w.segments)-1
		if seg.first > next {
			return nil, nil, fmt.Errorf("%w: write-ahead log segment %s starts at position %d, but the ledger needs %d next", eventstore.ErrCorrupt, seg.path, seg.first, next)
		}
		got, n, err := scanSegment(seg, last, &next)
		if err != nil {
			return nil, nil, err
		}
		frames = append(frames, got...)
		end = n
	}
	if len(w.segments) == 0 {
		if err := w.create(applied + 1); err != nil {
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
		w.f, w.size, w.capacity = f, end, info.Size()
		w.prepare()
	}
	return w, frames, nil
}

// scanSegment reads the frames of one segment, keeping those at or after
// *next and advancing *next past them, and returns where its data ends.
// Segments are preallocated with zeros, so the data ends at the first
// all-zero frame header; everything after must be zeros. In the last
// segment, the last group write may have been torn by a crash before its
// fdatasync returned (so it was never acknowledged): damage within
// maxGroupWrite of the end of the data is that write, and is zeroed.
func scanSegment(seg segment, last bool, next *eventstore.Position) ([]recoveredFrame, int64, error) {
	b, err := os.ReadFile(seg.path)
	if err != nil {
		return nil, 0, fmt.Errorf("open write-ahead log: %w", err)
	}
	var frames []recoveredFrame
	off := 0
	expect := seg.first
	for off < len(b) && !isZero(b[off:min(off+frameHeader, len(b))]) {
		pos, rec, n, ferr := parseFrame(b[off:])
		if ferr == nil && pos != expect {
			ferr = fmt.Errorf("holds position %d where %d was expected", pos, expect)
		}
		if ferr != nil {
			if !last {
				return nil, 0, fmt.Errorf("%w: write-ahead log %s at byte %d: %v", eventstore.ErrCorrupt, seg.path, off, ferr)
			}
			break // a torn write, if the check below agrees
		}
		if pos >= *next {
			if pos != *next {
				return nil, 0, fmt.Errorf("%w: write-ahead log %s holds position %d, but the ledger needs %d next", eventstore.ErrCorrupt, seg.path, pos, *next)
			}
			frames = append(frames, recoveredFrame{pos: pos, record: rec})
			*next = pos + 1
		}
		expect = pos + 1
		off += n
	}
	tail := off
	if last {
		tail = min(off+maxGroupWrite, len(b))
	}
	if !isZero(b[tail:]) {
		return nil, 0, fmt.Errorf("%w: write-ahead log %s has data after its end at byte %d", eventstore.ErrCorrupt, seg.path, off)
	}
	if !isZero(b[off:tail]) {
		// An append that was never acknowledged: drop it.
		if err := zeroRange(seg.path, int64(off), int64(tail)); err != nil {
			return nil, 0, fmt.Errorf("write-ahead log: dropping a torn write: %w", err)
		}
	}
	return frames, int64(off), nil
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

// parseFrame decodes the frame at the start of b.
func parseFrame(b []byte) (pos eventstore.Position, rec []byte, n int, err error) {
	if len(b) < frameHeader {
		return 0, nil, 0, errors.New("frame header cut short")
	}
	length := binary.BigEndian.Uint32(b[0:4])
	if length < 8+recordHeaderSize || int(length) > len(b)-8 {
		return 0, nil, 0, fmt.Errorf("frame length %d does not fit", length)
	}
	body := b[8 : 8+length]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return 0, nil, 0, errors.New("frame fails its checksum")
	}
	return eventstore.Position(binary.BigEndian.Uint64(body[:8])), body[8:], 8 + int(length), nil
}

// appendFrame appends the frame of rec at pos to buf.
func appendFrame(buf []byte, pos eventstore.Position, rec []byte) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(8+len(rec)))
	buf = append(buf, 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint64(buf, uint64(pos))
	buf = append(buf, rec...)
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return buf
}

// create starts a new segment whose first event will be at first, from
// the spare prepared in the background (waiting for it if need be), and
// starts preparing the next spare. Segments are filled with zeros and
// synced before use, so that appends overwrite blocks the file system has
// already allocated: their fdatasync then writes only data, with no
// journal commit, which keeps it fast and independent of ledger.db's
// writes.
func (w *wal) create(first eventstore.Position) error {
	path := filepath.Join(w.dir, fmt.Sprintf("%020d%s", first, walExt))
	var sp spareSegment
	if w.preparing {
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
	w.f, w.size, w.capacity = sp.f, 0, sp.capacity
	w.mu.Lock()
	w.segments = append(w.segments, segment{first: first, path: path})
	w.mu.Unlock()
	w.prepare()
	return nil
}

// nextCapacity is the size of the next segment: segments start at
// segmentMinSize and double up to segmentMaxSize, so a small ledger does
// not preallocate much.
func (w *wal) nextCapacity() int64 {
	if w.capacity == 0 {
		return segmentMinSize
	}
	return min(2*w.capacity, segmentMaxSize)
}

// prepare starts zero-filling the next segment in the background.
func (w *wal) prepare() {
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

// write appends one group's frames (whose first event is at first) and
// syncs them. On failure it cuts the segment back to where it was, so a
// later group never follows a half-written one. A group larger than a
// whole segment goes into an empty one, which grows past its
// preallocated length.
func (w *wal) write(first eventstore.Position, frames []byte) error {
	if w.size > 0 && w.size+int64(len(frames)) > w.capacity {
		if err := w.create(first); err != nil {
			return err
		}
	}
	var n int
	var err error
	if w.fault != nil {
		var keep int
		if keep, err = w.fault(frames); err != nil {
			n, _ = w.f.WriteAt(frames[:keep], w.size)
		}
	}
	if err == nil {
		n, err = w.f.WriteAt(frames, w.size)
	}
	if err == nil {
		err = unix.Fdatasync(int(w.f.Fd()))
	}
	if err != nil {
		if n > 0 {
			if zerr := writeZeros(w.f, w.size, w.size+int64(n)); zerr == nil {
				_ = unix.Fdatasync(int(w.f.Fd()))
			}
		}
		return fmt.Errorf("write-ahead log %s: %w", w.f.Name(), err)
	}
	w.size += int64(len(frames))
	return nil
}

// release deletes every segment but the last whose events are all at or
// before applied.
func (w *wal) release(applied eventstore.Position) error {
	w.mu.Lock()
	var drop []segment
	for len(w.segments) > 1 && w.segments[1].first <= applied+1 {
		drop = append(drop, w.segments[0])
		w.segments = w.segments[1:]
	}
	w.mu.Unlock()
	for _, seg := range drop {
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("write-ahead log: %w", err)
		}
	}
	return nil
}

// close closes the last segment and deletes the spare.
func (w *wal) close() error {
	if w.preparing {
		if sp := <-w.spare; sp.f != nil {
			sp.f.Close()
			os.Remove(sp.f.Name())
		}
		w.preparing = false
	}
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
