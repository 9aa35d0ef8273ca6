package blobs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/parledger/parledger/eventstore"
)

// DefaultMaxSize is the largest blob a Store accepts when Options.MaxSize
// is zero: 32 MiB.
const DefaultMaxSize int64 = 32 << 20

// Directory and file modes. Blobs are read-only once stored: nothing in the
// store ever rewrites one.
const (
	dirMode  fs.FileMode = 0o750
	blobMode fs.FileMode = 0o440
)

// Names inside the store directory.
const (
	hashDirName = "sha256"
	tmpDirName  = "tmp"
	tmpPattern  = "put-*"
)

// chunkSize is how much Put and the verifier read at a time; the context is
// checked between chunks.
const chunkSize = 64 << 10

var (
	// ErrNotFound reports that no blob with the requested hash is stored.
	// It is its own sentinel, outside the eventstore families: for a lookup
	// a missing blob is an ordinary answer (an HTTP handler maps it to 404),
	// and only the caller knows whether an event citing it makes the ledger
	// inconsistent.
	ErrNotFound = errors.New("blob not found")
	// ErrTooLarge reports content longer than the store's MaxSize. The
	// message gives the limit in MiB. Nothing was stored. It matches
	// eventstore.ErrInvalid.
	ErrTooLarge = fmt.Errorf("%w: blob too large", eventstore.ErrInvalid)
	// ErrEmpty reports content of zero bytes, which is never evidence.
	// Nothing was stored. It matches eventstore.ErrInvalid.
	ErrEmpty = fmt.Errorf("%w: empty file", eventstore.ErrInvalid)
	// ErrBlobCorrupt reports a stored blob whose content no longer hashes
	// to its name, or that is not a regular non-empty file. The message
	// names the blob and, when the content was read, what it hashes to now.
	// It matches eventstore.ErrCorrupt.
	ErrBlobCorrupt = fmt.Errorf("%w: blob corrupt", eventstore.ErrCorrupt)
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// MaxSize is the largest blob Put accepts, in bytes. Zero means
	// DefaultMaxSize; negative is invalid.
	MaxSize int64
}

// Blob identifies stored content: its SHA-256 and its size in bytes. These
// are the values an event records when it cites evidence.
type Blob struct {
	Hash eventstore.Hash
	Size int64
}

// Store is a content-addressed file store in one directory. It is safe for
// concurrent use. See the package documentation for the layout and the
// guarantees.
type Store struct {
	dir     string
	hashDir string
	tmpDir  string
	maxSize int64

	// mu guards synced: the fan-out directories whose entry in hashDir this
	// Store has fsynced. Each is synced once, by the first Put that lands
	// in it, even if it already existed: it may have been created by a run
	// that died before syncing it.
	mu     sync.Mutex
	synced map[string]bool
}

// Open opens the store in dir, creating dir (mode 0750) and its
// subdirectories if they are missing, and deletes whatever an interrupted
// Put left in dir/tmp. A negative opts.MaxSize is an eventstore.ErrInvalid
// error; file-system failures are eventstore.ErrUnavailable errors.
//
// Only one Store may be open on a directory at a time (see the package
// documentation).
func Open(dir string, opts Options) (*Store, error) {
	if opts.MaxSize < 0 {
		return nil, fmt.Errorf("%w: blobs: max size %d is negative", eventstore.ErrInvalid, opts.MaxSize)
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: blobs: empty directory name", eventstore.ErrInvalid)
	}
	s := &Store{
		dir:     dir,
		hashDir: filepath.Join(dir, hashDirName),
		tmpDir:  filepath.Join(dir, tmpDirName),
		maxSize: opts.MaxSize,
		synced:  make(map[string]bool),
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, err
	}
	for _, sub := range []string{s.hashDir, s.tmpDir} {
		if err := mkdirDurable(sub); err != nil {
			return nil, err
		}
	}
	if err := s.cleanTmp(); err != nil {
		return nil, err
	}
	return s, nil
}

// MaxSize returns the largest blob the store accepts, in bytes. An HTTP
// handler can use it to bound the request body before calling Put.
func (s *Store) MaxSize() int64 { return s.maxSize }

// Put stores the content read from r until io.EOF and returns its hash and
// size. Storing content that is already present succeeds and returns the
// same Blob without a second copy.
//
// Put reads at most MaxSize+1 bytes: longer content fails with an
// ErrTooLarge error, empty content with ErrEmpty. An error from r (anything
// but io.EOF itself, so a wrapped or unexpected EOF is a failure, not the
// end) is returned wrapped, as is ctx's error, which Put checks between
// chunks. File-system failures are eventstore.ErrUnavailable errors.
//
// When Put returns nil the blob is durable on disk. When it returns an
// error, no blob was added: nothing is left at the final path and the
// temporary file has been removed.
func (s *Store) Put(ctx context.Context, r io.Reader) (Blob, error) {
	if err := ctx.Err(); err != nil {
		return Blob{}, fmt.Errorf("blobs: put: %w", err)
	}
	f, err := os.CreateTemp(s.tmpDir, tmpPattern)
	if err != nil {
		return Blob{}, fmt.Errorf("%w: blobs: create temporary file: %w", eventstore.ErrUnavailable, err)
	}
	tmp := f.Name()
	b, err := s.receive(ctx, f, r)
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("%w: blobs: close temporary file: %w", eventstore.ErrUnavailable, cerr)
	}
	if err != nil {
		_ = os.Remove(tmp) // best effort; Open sweeps tmp/ anyway
		return Blob{}, err
	}
	if err := s.commit(ctx, tmp, b); err != nil {
		return Blob{}, err
	}
	return b, nil
}

// receive copies r into the temporary file f while hashing it, enforces the
// limits, and makes f read-only and durable.
func (s *Store) receive(ctx context.Context, f *os.File, r io.Reader) (Blob, error) {
	h := sha256.New()
	// One byte more than allowed tells an oversize upload from one of
	// exactly MaxSize, without reading further.
	lr := io.LimitReader(r, s.maxSize+1)
	buf := make([]byte, chunkSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return Blob{}, fmt.Errorf("blobs: put: after %d bytes: %w", n, err)
		}
		m, rerr := lr.Read(buf)
		if m > 0 {
			if _, err := f.Write(buf[:m]); err != nil {
				return Blob{}, fmt.Errorf("%w: blobs: write temporary file: %w", eventstore.ErrUnavailable, err)
			}
			h.Write(buf[:m]) // never fails
			n += int64(m)
		}
		// Only the io.EOF sentinel itself ends the content, as the
		// io.Reader contract says: a broken upload must never look like a
		// short file.
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return Blob{}, fmt.Errorf("blobs: put: read content after %d bytes: %w", n, rerr)
		}
	}
	if n > s.maxSize {
		return Blob{}, fmt.Errorf("%w: more than the %s MiB limit (%d bytes)", ErrTooLarge, mib(s.maxSize), s.maxSize)
	}
	if n == 0 {
		return Blob{}, ErrEmpty
	}
	// Chmod before Sync so the mode is durable along with the data.
	if err := f.Chmod(blobMode); err != nil {
		return Blob{}, fmt.Errorf("%w: blobs: chmod temporary file: %w", eventstore.ErrUnavailable, err)
	}
	if err := f.Sync(); err != nil {
		return Blob{}, fmt.Errorf("%w: blobs: sync temporary file: %w", eventstore.ErrUnavailable, err)
	}
	var sum eventstore.Hash
	h.Sum(sum[:0])
	return Blob{Hash: sum, Size: n}, nil
}

// commit moves the complete, synced temporary file tmp into place as blob
// b, or drops it if an intact copy is already there. It removes tmp on
// every path that does not rename it; after a successful rename the name
// tmp may belong to another Put's new temporary file, so it must not be
// touched again.
func (s *Store) commit(ctx context.Context, tmp string, b Blob) error {
	fan, final := s.paths(b.Hash)
	if err := s.ensureFanout(fan); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	switch _, _, err := s.openVerified(ctx, b.Hash, true); {
	case err == nil:
		// Deduplicate. Sync anyway: the existing name may come from a
		// concurrent Put that has renamed but not yet synced, and our
		// caller is about to cite the blob.
		_ = os.Remove(tmp)
		return syncDir(fan)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrBlobCorrupt):
		// Absent, or damaged: renaming over a damaged copy repairs it.
	default:
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("%w: blobs: move blob %s into place: %w", eventstore.ErrUnavailable, b.Hash, err)
	}
	return syncDir(fan)
}

// ensureFanout creates the fan-out directory fan if needed and makes its
// entry in the hash directory durable, once per directory per Store.
func (s *Store) ensureFanout(fan string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.synced[fan] {
		return nil
	}
	if err := os.Mkdir(fan, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: blobs: create fan-out directory: %w", eventstore.ErrUnavailable, err)
	}
	if err := syncDir(s.hashDir); err != nil {
		return err
	}
	s.synced[fan] = true
	return nil
}

// Open returns the content of blob h for reading, after checking that it
// still hashes to h. The Reader is positioned at offset 0; the caller must
// close it.
//
// A blob that is not stored is an ErrNotFound error. A blob whose content
// has changed is an ErrBlobCorrupt error naming h and what the content
// hashes to now, and no content is returned. The zero hash is an
// eventstore.ErrInvalid error; file-system failures are
// eventstore.ErrUnavailable errors.
//
// Open reads the whole blob before returning; its cost grows with the
// blob's size, at most MaxSize.
func (s *Store) Open(ctx context.Context, h eventstore.Hash) (*Reader, error) {
	f, size, err := s.openVerified(ctx, h, false)
	if err != nil {
		return nil, err
	}
	return &Reader{Blob: Blob{Hash: h, Size: size}, f: f}, nil
}

// Stat reports whether blob h is stored, and its size, from file metadata
// alone: it does not read or check the content (use Verify or Open for
// that). A blob that is not stored is an ErrNotFound error; a path that is
// not a regular non-empty file is an ErrBlobCorrupt error.
func (s *Store) Stat(h eventstore.Hash) (Blob, error) {
	if h.IsZero() {
		return Blob{}, errZeroHash
	}
	_, path := s.paths(h)
	fi, err := os.Stat(path)
	if err != nil {
		return Blob{}, pathError(h, err)
	}
	if err := checkFileInfo(h, fi); err != nil {
		return Blob{}, err
	}
	return Blob{Hash: h, Size: fi.Size()}, nil
}

// Verify reads blob h and checks that it still hashes to h. It returns nil
// if so, ErrNotFound if the blob is not stored, an ErrBlobCorrupt error
// naming what the content hashes to now if not, and ctx's error (wrapped)
// if ctx ends first; ctx is checked between chunks.
func (s *Store) Verify(ctx context.Context, h eventstore.Hash) error {
	_, _, err := s.openVerified(ctx, h, true)
	return err
}

// errZeroHash refuses the zero hash, which the eventstore uses for "no
// hash".
var errZeroHash = fmt.Errorf("%w: blobs: zero hash", eventstore.ErrInvalid)

// openVerified opens blob h and hashes it. If the content matches it returns
// the file positioned at 0 and the number of bytes hashed, or, when
// closeAfter is set, closes the file and returns nil.
func (s *Store) openVerified(ctx context.Context, h eventstore.Hash, closeAfter bool) (_ *os.File, _ int64, err error) {
	if h.IsZero() {
		return nil, 0, errZeroHash
	}
	_, path := s.paths(h)
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, pathError(h, err)
	}
	defer func() {
		if err != nil || closeAfter {
			_ = f.Close() // read-only: nothing to lose
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: blobs: stat blob %s: %w", eventstore.ErrUnavailable, h, err)
	}
	if err := checkFileInfo(h, fi); err != nil {
		return nil, 0, err
	}
	got, n, err := hashContent(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("blobs: verify blob %s: %w", h, err)
	}
	if got != h {
		return nil, 0, fmt.Errorf("%w: %s now hashes to %s (%d bytes)", ErrBlobCorrupt, h, got, n)
	}
	if closeAfter {
		return nil, n, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("%w: blobs: rewind blob %s: %w", eventstore.ErrUnavailable, h, err)
	}
	return f, n, nil
}

// hashContent hashes r to its end, checking ctx between chunks. Read errors
// are eventstore.ErrUnavailable errors; ctx's error is returned as is.
func hashContent(ctx context.Context, r io.Reader) (eventstore.Hash, int64, error) {
	var sum eventstore.Hash
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return sum, n, err
		}
		m, err := r.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, n, fmt.Errorf("%w: read after %d bytes: %w", eventstore.ErrUnavailable, n, err)
		}
	}
	h.Sum(sum[:0])
	return sum, n, nil
}

// checkFileInfo reports an ErrBlobCorrupt error if the file at blob h's
// path is not a regular file with content. Put never stores anything else.
func checkFileInfo(h eventstore.Hash, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%s)", ErrBlobCorrupt, h, fi.Mode().Type())
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s is empty", ErrBlobCorrupt, h)
	}
	return nil
}

// pathError translates an error from opening or stating blob h's file.
func pathError(h eventstore.Hash, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, h)
	}
	return fmt.Errorf("%w: blobs: open blob %s: %w", eventstore.ErrUnavailable, h, err)
}

// paths returns the fan-out directory and the file path of blob h. Both
// derive from the hash alone.
func (s *Store) paths(h eventstore.Hash) (fan, file string) {
	name := h.String()
	fan = filepath.Join(s.hashDir, name[:2])
	return fan, filepath.Join(fan, name)
}

// cleanTmp removes everything in the temporary directory: files left by
// Puts that never finished.
func (s *Store) cleanTmp() error {
	entries, err := os.ReadDir(s.tmpDir)
	if err != nil {
		return fmt.Errorf("%w: blobs: list temporary directory: %w", eventstore.ErrUnavailable, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.tmpDir, e.Name())); err != nil {
			return fmt.Errorf("%w: blobs: remove leftover temporary file: %w", eventstore.ErrUnavailable, err)
		}
	}
	return nil
}

// mkdirDurable creates directory path if it is missing and syncs its parent
// so the new entry survives a power cut. An existing directory is left as
// it is; an existing non-directory is an error.
func mkdirDurable(path string) error {
	err := os.Mkdir(path, dirMode)
	switch {
	case err == nil:
		return syncDir(filepath.Dir(path))
	case errors.Is(err, fs.ErrExist):
		fi, serr := os.Stat(path)
		if serr != nil {
			return fmt.Errorf("%w: blobs: %w", eventstore.ErrUnavailable, serr)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: blobs: %s exists and is not a directory", eventstore.ErrInvalid, path)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist) && filepath.Dir(path) != path:
		// The parent is missing too: create it first, as os.MkdirAll would.
		if perr := mkdirDurable(filepath.Dir(path)); perr != nil {
			return perr
		}
		return mkdirDurable(path)
	default:
		return fmt.Errorf("%w: blobs: create directory: %w", eventstore.ErrUnavailable, err)
	}
}

// syncDir fsyncs directory path, making the names in it durable.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: blobs: open directory to sync: %w", eventstore.ErrUnavailable, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("%w: blobs: sync directory %s: %w", eventstore.ErrUnavailable, path, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("%w: blobs: close directory %s: %w", eventstore.ErrUnavailable, path, err)
	}
	return nil
}

// mib formats n bytes in MiB without rounding: "32" for 32 MiB, "0.5" for
// 512 KiB.
func mib(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64)
}

// Reader is a verified blob open for reading. It is an io.ReadSeekCloser
// and an io.ReaderAt positioned at offset 0 when returned by Store.Open,
// so an HTTP handler can pass it to http.ServeContent (with the hash as
// ETag: the content of a blob never changes). Blob gives its hash and size.
// A Reader is not safe for concurrent use, except ReadAt.
type Reader struct {
	Blob
	f *os.File
}

var (
	_ io.ReadSeekCloser = (*Reader)(nil)
	_ io.ReaderAt       = (*Reader)(nil)
)

// Read reads up to len(p) bytes of the blob, as io.Reader.
func (r *Reader) Read(p []byte) (int, error) { return r.f.Read(p) }

// ReadAt reads len(p) bytes at offset off, as io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }

// Seek sets the offset of the next Read, as io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) { return r.f.Seek(offset, whence) }

// Close releases the file. Reading after Close fails.
func (r *Reader) Close() error { return r.f.Close() }
