package blobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
)

// vietnamese is evidence whose original file name would be something like
// "Biên bản kiểm tra.pdf"; the store never sees that name, only the bytes.
var vietnamese = []byte("Biên bản kiểm tra cải cách hành chính — Sở Tư pháp Hà Nội, quý III.\n")

// MustOpen opens a store on a fresh temporary directory and returns it with
// the directory. The directory is removed when the test ends.
func MustOpen(tb testing.TB, opts blobs.Options) (*blobs.Store, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "blobs")
	s, err := blobs.Open(dir, opts)
	if err != nil {
		tb.Fatalf("Open(%q): %v", dir, err)
	}
	return s, dir
}

// MustPut stores content and checks the returned hash and size.
func MustPut(tb testing.TB, s *blobs.Store, content []byte) blobs.Blob {
	tb.Helper()
	b, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		tb.Fatalf("Put(%d bytes): %v", len(content), err)
	}
	if got, want := b, blobOf(content); got != want {
		tb.Fatalf("Put: got %+v, want %+v", got, want)
	}
	return b
}

// MustRead opens blob h and returns its whole content, closing the reader
// when the test ends.
func MustRead(tb testing.TB, s *blobs.Store, h eventstore.Hash) []byte {
	tb.Helper()
	r, err := s.Open(context.Background(), h)
	if err != nil {
		tb.Fatalf("Open(%s): %v", h, err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	got, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("read blob %s: %v", h, err)
	}
	return got
}

// blobOf is the Blob that content must be stored as.
func blobOf(content []byte) blobs.Blob {
	return blobs.Blob{Hash: eventstore.Hash(sha256.Sum256(content)), Size: int64(len(content))}
}

// blobPath is where the package documentation says blob h lives.
func blobPath(dir string, h eventstore.Hash) string {
	name := h.String()
	return filepath.Join(dir, "sha256", name[:2], name)
}

// files lists the regular files under dir/sub, relative to dir.
func files(tb testing.TB, dir, sub string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, sub), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("walk %s: %v", sub, err)
	}
	return out
}

// assertStored checks that the store holds exactly want blob files and no
// temporary file.
func assertStored(tb testing.TB, dir string, want int) {
	tb.Helper()
	if got := files(tb, dir, "sha256"); len(got) != want {
		tb.Errorf("blob files: got %d %v, want %d", len(got), got, want)
	}
	if got := files(tb, dir, "tmp"); len(got) != 0 {
		tb.Errorf("temporary files: got %v, want none", got)
	}
}

// corrupt flips one byte of the stored file of blob h.
func corrupt(tb testing.TB, dir string, h eventstore.Hash, off int64) {
	tb.Helper()
	path := blobPath(dir, h)
	if err := os.Chmod(path, 0o640); err != nil { // stored blobs are read-only
		tb.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatal(err)
	}
}

// failingReader returns data, then err instead of io.EOF: an upload whose
// connection breaks.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// cancellingReader produces bytes forever and cancels its context after
// the first read: a client that goes away mid-upload.
type cancellingReader struct {
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	r.cancel()
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestOpen(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		if got, want := s.MaxSize(), blobs.DefaultMaxSize; got != want {
			t.Errorf("MaxSize: got %d, want %d", got, want)
		}
		for _, sub := range []string{"", "sha256", "tmp"} {
			fi, err := os.Stat(filepath.Join(dir, sub))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), fs.FileMode(0o750); got != want {
				t.Errorf("mode of %q: got %v, want %v", sub, got, want)
			}
		}
	})

	t.Run("OKCleansLeftoverTempFiles", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		// What a crash mid-Put leaves behind, plus stranger debris.
		tmp := filepath.Join(dir, "tmp")
		for _, name := range []string{"put-123456", "put-999"} {
			if err := os.WriteFile(filepath.Join(tmp, name), []byte("half an upl"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(tmp, "d", "e"), 0o750); err != nil {
			t.Fatal(err)
		}

		s2, err := blobs.Open(dir, blobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("tmp after Open: got %d entries, want none", len(entries))
		}
		// Stored blobs are untouched.
		if got, want := MustRead(t, s2, b.Hash), vietnamese; !bytes.Equal(got, want) {
			t.Errorf("content after reopen: got %q, want %q", got, want)
		}
		assertStored(t, dir, 1)
	})

	t.Run("OKCreatesMissingParents", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b", "blobs")
		s, err := blobs.Open(dir, blobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		MustPut(t, s, vietnamese)
		assertStored(t, dir, 1)
	})

	t.Run("ErrInvalidMaxSize", func(t *testing.T) {
		_, err := blobs.Open(t.TempDir(), blobs.Options{MaxSize: -1})
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})

	t.Run("ErrInvalidNotADirectory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Open(path, blobs.Options{}); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
}

func TestPut(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)

		// The file is named by the hash, under a fan-out directory.
		path := blobPath(dir, b.Hash)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("stored file: %v", err)
		}
		if got, want := fi.Size(), int64(len(vietnamese)); got != want {
			t.Errorf("file size: got %d, want %d", got, want)
		}
		if got, want := fi.Mode().Perm(), fs.FileMode(0o440); got != want {
			t.Errorf("file mode: got %v, want %v", got, want)
		}
		assertStored(t, dir, 1)

		if got, want := MustRead(t, s, b.Hash), vietnamese; !bytes.Equal(got, want) {
			t.Errorf("content: got %q, want %q", got, want)
		}
	})

	t.Run("OKLargerThanOneChunk", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		content := bytes.Repeat(vietnamese, 5000) // ~360 KB, several chunks
		b := MustPut(t, s, content)
		if got := MustRead(t, s, b.Hash); !bytes.Equal(got, content) {
			t.Errorf("content: got %d bytes, want %d identical bytes", len(got), len(content))
		}
	})

	t.Run("OKDedupe", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		first := MustPut(t, s, vietnamese)
		info1, err := os.Stat(blobPath(dir, first.Hash))
		if err != nil {
			t.Fatal(err)
		}
		second := MustPut(t, s, vietnamese)
		if second != first {
			t.Errorf("second Put: got %+v, want %+v", second, first)
		}
		info2, err := os.Stat(blobPath(dir, first.Hash))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(info1, info2) {
			t.Error("second Put replaced the intact file, want it kept")
		}
		assertStored(t, dir, 1)
	})

	t.Run("OKRepairsCorruptCopy", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		corrupt(t, dir, b.Hash, 3)
		MustPut(t, s, vietnamese)
		if err := s.Verify(context.Background(), b.Hash); err != nil {
			t.Errorf("Verify after re-Put: %v", err)
		}
		assertStored(t, dir, 1)
	})

	t.Run("OKExactlyMaxSize", func(t *testing.T) {
		const limit = 1 << 20
		s, dir := MustOpen(t, blobs.Options{MaxSize: limit})
		content := bytes.Repeat([]byte{'a'}, limit)
		b := MustPut(t, s, content)
		if got, want := b.Size, int64(limit); got != want {
			t.Errorf("Size: got %d, want %d", got, want)
		}
		assertStored(t, dir, 1)
	})

	t.Run("ErrTooLarge", func(t *testing.T) {
		const limit = 1 << 20
		s, dir := MustOpen(t, blobs.Options{MaxSize: limit})
		content := bytes.Repeat([]byte{'a'}, limit+1)
		r := bytes.NewReader(content)
		_, err := s.Put(context.Background(), r)
		if !errors.Is(err, blobs.ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("got %v, want it to match eventstore.ErrInvalid", err)
		}
		if got, want := err.Error(), "1 MiB"; !strings.Contains(got, want) {
			t.Errorf("message: got %q, want it to contain %q", got, want)
		}
		if got, want := r.Len(), 0; got != want {
			// limit+1 bytes is exactly what Put may read; nothing is left.
			t.Errorf("unread bytes: got %d, want %d", got, want)
		}
		if _, err := os.Stat(blobPath(dir, blobOf(content).Hash)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat of refused blob: got %v, want not exist", err)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrTooLargeReadsAtMostMaxSizePlusOne", func(t *testing.T) {
		const limit = 4096
		s, dir := MustOpen(t, blobs.Options{MaxSize: limit})
		r := &countingReader{}
		_, err := s.Put(context.Background(), r)
		if !errors.Is(err, blobs.ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if got, want := r.n, int64(limit+1); got != want {
			t.Errorf("bytes read: got %d, want %d", got, want)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrEmpty", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		_, err := s.Put(context.Background(), strings.NewReader(""))
		if !errors.Is(err, blobs.ErrEmpty) || !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("got %v, want ErrEmpty matching eventstore.ErrInvalid", err)
		}
		if got, want := err.Error(), "empty file"; !strings.Contains(got, want) {
			t.Errorf("message: got %q, want it to contain %q", got, want)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrReaderFailsMidway", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		boom := errors.New("connection reset by client")
		content := bytes.Repeat(vietnamese, 2000) // several chunks before failing
		_, err := s.Put(context.Background(), &failingReader{data: content, err: boom})
		if !errors.Is(err, boom) {
			t.Errorf("got %v, want the reader's error", err)
		}
		if _, err := os.Stat(blobPath(dir, blobOf(content).Hash)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat of failed blob: got %v, want not exist", err)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrUnexpectedEOF", func(t *testing.T) {
		// A truncated upload must not be stored as a shorter file.
		s, dir := MustOpen(t, blobs.Options{})
		wrapped := fmt.Errorf("body: %w", io.EOF)
		_, err := s.Put(context.Background(), &failingReader{data: vietnamese, err: wrapped})
		if !errors.Is(err, io.EOF) {
			t.Errorf("got %v, want the wrapped io.EOF reported as an error", err)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrUnavailableCannotReplace", func(t *testing.T) {
		// A directory squats on the blob's path: it is reported as
		// corrupt, cannot be renamed over, and the upload is dropped.
		s, dir := MustOpen(t, blobs.Options{})
		path := blobPath(dir, blobOf(vietnamese).Hash)
		if err := os.MkdirAll(path, 0o750); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(blobOf(vietnamese).Hash); !errors.Is(err, blobs.ErrBlobCorrupt) {
			t.Errorf("Stat: got %v, want ErrBlobCorrupt", err)
		}
		_, err := s.Put(context.Background(), bytes.NewReader(vietnamese))
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("Put: got %v, want ErrUnavailable", err)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrCanceledBefore", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Put(ctx, bytes.NewReader(vietnamese))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		assertStored(t, dir, 0)
	})

	t.Run("ErrCanceledMidway", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := s.Put(ctx, &cancellingReader{cancel: cancel})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		assertStored(t, dir, 0)
	})
}

// countingReader produces bytes forever and counts how many were read.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	r.n += int64(len(p))
	return len(p), nil
}

func TestPut_concurrent(t *testing.T) {
	const (
		workers  = 32
		contents = 8 // workers share contents, so Puts of one content race
	)
	s, dir := MustOpen(t, blobs.Options{})
	content := func(i int) []byte {
		return bytes.Repeat(fmt.Appendf(nil, "biên bản số %d; ", i%contents), 3000+i%contents)
	}

	got := make([]blobs.Blob, workers) // each worker writes only its own slot
	var g errgroup.Group
	for i := range workers {
		g.Go(func() error {
			b, err := s.Put(context.Background(), bytes.NewReader(content(i)))
			if err != nil {
				return fmt.Errorf("worker %d: put: %w", i, err)
			}
			got[i] = b
			// Read back while other workers still write the same blob.
			r, err := s.Open(context.Background(), b.Hash)
			if err != nil {
				return fmt.Errorf("worker %d: open: %w", i, err)
			}
			defer r.Close()
			back, err := io.ReadAll(r)
			if err != nil {
				return fmt.Errorf("worker %d: read: %w", i, err)
			}
			if !bytes.Equal(back, content(i)) {
				return fmt.Errorf("worker %d: read back %d bytes that differ from the %d put", i, len(back), len(content(i)))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if want := blobOf(content(i)); b != want {
			t.Errorf("worker %d: got %+v, want %+v", i, b, want)
		}
	}
	assertStored(t, dir, contents)
}

func TestStore_Open(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		r, err := s.Open(context.Background(), b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Blob != b {
			t.Errorf("Blob: got %+v, want %+v", r.Blob, b)
		}
		if pos, err := r.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
			t.Errorf("position after Open: got %d, %v; want 0, nil", pos, err)
		}
		// Seek and ReadAt are what http.ServeContent needs for ranges.
		if _, err := r.Seek(-5, io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		tail, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(tail), string(vietnamese[len(vietnamese)-5:]); got != want {
			t.Errorf("tail: got %q, want %q", got, want)
		}
		head := make([]byte, 4)
		if _, err := r.ReadAt(head, 0); err != nil {
			t.Fatal(err)
		}
		if got, want := string(head), string(vietnamese[:4]); got != want {
			t.Errorf("ReadAt: got %q, want %q", got, want)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		h := blobOf([]byte("never stored")).Hash
		_, err := s.Open(context.Background(), h)
		if !errors.Is(err, blobs.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
		if err != nil && !strings.Contains(err.Error(), h.String()) {
			t.Errorf("message %q does not name the hash %s", err, h)
		}
	})

	t.Run("ErrBlobCorrupt", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		corrupt(t, dir, b.Hash, 10)
		damaged, err := os.ReadFile(blobPath(dir, b.Hash))
		if err != nil {
			t.Fatal(err)
		}

		r, err := s.Open(context.Background(), b.Hash)
		if r != nil {
			r.Close()
			t.Error("Open returned a reader for corrupt content")
		}
		if !errors.Is(err, blobs.ErrBlobCorrupt) || !errors.Is(err, eventstore.ErrCorrupt) {
			t.Fatalf("got %v, want ErrBlobCorrupt matching eventstore.ErrCorrupt", err)
		}
		now := blobOf(damaged).Hash
		for _, want := range []string{b.Hash.String(), now.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not contain %s", err, want)
			}
		}
	})

	t.Run("ErrBlobCorruptTruncated", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		path := blobPath(dir, b.Hash)
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 7); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(context.Background(), b.Hash); !errors.Is(err, blobs.ErrBlobCorrupt) {
			t.Errorf("got %v, want ErrBlobCorrupt", err)
		}
	})

	t.Run("ErrInvalidZeroHash", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		if _, err := s.Open(context.Background(), eventstore.Hash{}); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
}

func TestStore_Stat(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		want := MustPut(t, s, vietnamese)
		got, err := s.Stat(want.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		if _, err := s.Stat(blobOf(vietnamese).Hash); !errors.Is(err, blobs.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})

	t.Run("ErrBlobCorruptEmpty", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		path := blobPath(dir, b.Hash)
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(b.Hash); !errors.Is(err, blobs.ErrBlobCorrupt) {
			t.Errorf("got %v, want ErrBlobCorrupt", err)
		}
	})
}

func TestStore_Verify(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		if err := s.Verify(context.Background(), b.Hash); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		err := s.Verify(context.Background(), blobOf(vietnamese).Hash)
		if !errors.Is(err, blobs.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})

	t.Run("ErrBlobCorrupt", func(t *testing.T) {
		s, dir := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		corrupt(t, dir, b.Hash, int64(len(vietnamese)-1))
		err := s.Verify(context.Background(), b.Hash)
		if !errors.Is(err, blobs.ErrBlobCorrupt) || !errors.Is(err, eventstore.ErrCorrupt) {
			t.Errorf("got %v, want ErrBlobCorrupt matching eventstore.ErrCorrupt", err)
		}
	})

	t.Run("ErrCanceled", func(t *testing.T) {
		s, _ := MustOpen(t, blobs.Options{})
		b := MustPut(t, s, vietnamese)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Verify(ctx, b.Hash); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}
