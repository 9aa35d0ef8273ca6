package bench

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSyncRates probes a temporary directory: the buffered way always
// gives a rate, the direct way exactly where the file system takes
// O_DIRECT; the probe's file is gone afterwards; a missing directory is an
// error, not a rate.
func TestSyncRates(t *testing.T) {
	dir := t.TempDir()
	buffered, direct, err := syncRates(dir, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if buffered <= 0 {
		t.Errorf("buffered rate %v, want > 0", buffered)
	}
	f, derr := os.OpenFile(filepath.Join(t.TempDir(), "direct"), os.O_RDWR|os.O_CREATE|syscall.O_DIRECT, 0o600)
	if derr == nil {
		f.Close()
	}
	if (direct > 0) != (derr == nil) {
		t.Errorf("direct rate %v, but opening a file with O_DIRECT here gives %v", direct, derr)
	}
	t.Logf("buffered %.0f/s, direct %.0f/s", buffered, direct)
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the probe left %d files (%v)", len(entries), err)
	}
	if rate, err := FsyncRate(filepath.Join(dir, "missing"), time.Millisecond); err == nil {
		t.Errorf("FsyncRate of a missing directory = %v, want an error", rate)
	}
}
