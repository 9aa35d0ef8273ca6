package transparency_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/transparency"
)

func TestCheckpoint(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, err := transparency.LoadOrCreateKey(t.TempDir(), transparency.DefaultOrigin)
		if err != nil {
			t.Fatal(err)
		}
		l := MustOpen(t, transparency.Options{})
		MustAppend(t, l, testEvents(10)...)
		before := time.Now().UTC().Truncate(time.Second)
		signed, err := l.Checkpoint(s)
		if err != nil {
			t.Fatal(err)
		}
		text, sig, ok := strings.Cut(string(signed), "\n\n")
		if !ok {
			t.Fatalf("no signature block:\n%s", signed)
		}
		lines := strings.Split(text, "\n")
		root, _ := l.Root(10)
		if len(lines) != 4 || lines[0] != transparency.DefaultOrigin || lines[1] != "10" ||
			lines[2] != base64.StdEncoding.EncodeToString(root) || !strings.HasPrefix(lines[3], "time ") {
			t.Errorf("checkpoint text:\n%s\nwant origin, 10, the root, a time line", text)
		}
		if !strings.HasPrefix(sig, "— "+transparency.DefaultOrigin+" ") {
			t.Errorf("signature line %q does not name the log", sig)
		}
		cp, err := transparency.ParseCheckpoint(signed, s.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Origin != transparency.DefaultOrigin || cp.Size != 10 || !bytes.Equal(cp.Root, root) ||
			cp.Time.Before(before) || cp.Time.After(time.Now()) || !bytes.Equal(cp.Note, signed) {
			t.Errorf("parsed %+v", cp)
		}
		if err := l.VerifyCheckpoint(cp); err != nil {
			t.Errorf("VerifyCheckpoint of its own checkpoint: %v", err)
		}
		// The auditor's copy of the key, as served, reads it too.
		v, err := transparency.NewVerifier(s.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.ParseCheckpoint(signed, v); err != nil {
			t.Errorf("parse with the served key: %v", err)
		}
		// So does transparency-dev/formats, an independent reader.
		other, rest, _, err := tlog.ParseCheckpoint(signed, transparency.DefaultOrigin, v)
		if err != nil {
			t.Fatalf("transparency-dev/formats cannot read the checkpoint: %v", err)
		}
		if other.Size != 10 || !bytes.Equal(other.Hash, root) || !strings.HasPrefix(string(rest), "time ") {
			t.Errorf("transparency-dev/formats read %+v, extension %q", other, rest)
		}
	})
	t.Run("Extensions", func(t *testing.T) {
		s, _ := MustSigner(t, "example.org/log")
		cp, err := s.Sign(transparency.Checkpoint{Size: 3, Root: make([]byte, 32), Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Extensions: []string{"witnessed-by example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := transparency.ParseCheckpoint(cp.Note, s.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(cp.Time) || len(got.Extensions) != 1 || got.Extensions[0] != "witnessed-by example.com" || got.Origin != "example.org/log" {
			t.Errorf("parsed %+v", got)
		}
		if !bytes.Equal(got.Body(), cp.Body()) {
			t.Errorf("Body after parsing:\n%s\nwant\n%s", got.Body(), cp.Body())
		}
	})
	t.Run("ErrBadCheckpoint", func(t *testing.T) {
		s, raw := MustSigner(t, transparency.DefaultOrigin)
		stranger, _ := MustSigner(t, transparency.DefaultOrigin)
		root := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		sign := func(text string) []byte {
			b, err := note.Sign(&note.Note{Text: text}, raw)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		good := sign(transparency.DefaultOrigin + "\n5\n" + root + "\n")
		if _, err := transparency.ParseCheckpoint(good, s.Verifier()); err != nil {
			t.Fatalf("the good checkpoint: %v", err)
		}
		for _, tt := range []struct {
			name   string
			signed []byte
			want   string
		}{
			{"SizeEdited", bytes.Replace(good, []byte("\n5\n"), []byte("\n6\n"), 1), "does not verify"},
			{"SignedByStranger", func() []byte {
				cp, _ := stranger.Sign(transparency.Checkpoint{Size: 5, Root: make([]byte, 32)})
				return cp.Note
			}(), "not signed by"},
			{"Unsigned", []byte(transparency.DefaultOrigin + "\n5\n" + root + "\n"), "not a signed note"},
			{"Empty", nil, "not a signed note"},
			{"TwoLines", sign(transparency.DefaultOrigin + "\n5\n"), "at least 3"},
			{"EmptyOrigin", sign("\n5\n" + root + "\n"), "empty origin"},
			{"SpaceInOrigin", sign("parledger hanoi\n5\n" + root + "\n"), "spaces"},
			{"LeadingZero", sign(transparency.DefaultOrigin + "\n05\n" + root + "\n"), "leading zeros"},
			{"NegativeSize", sign(transparency.DefaultOrigin + "\n-5\n" + root + "\n"), "decimal"},
			{"HugeSize", sign(transparency.DefaultOrigin + "\n18446744073709551616\n" + root + "\n"), "64 bits"},
			{"ShortRoot", sign(transparency.DefaultOrigin + "\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n"), "32 bytes"},
			{"RootNotBase64", sign(transparency.DefaultOrigin + "\n5\n" + strings.Repeat("!", 44) + "\n"), "base64"},
			{"RootURLBase64", sign(transparency.DefaultOrigin + "\n5\n" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n"), "base64"},
			{"RootNotCanonical", sign(transparency.DefaultOrigin + "\n5\n" + root[:42] + "B=\n"), "base64"},
			{"EmptyExtension", sign(transparency.DefaultOrigin + "\n5\n" + root + "\n\nx\n"), "line 4 is empty"},
			{"TwoTimes", sign(transparency.DefaultOrigin + "\n5\n" + root + "\ntime 2026-01-01T00:00:00Z\ntime 2026-01-01T00:00:00Z\n"), "second time"},
			{"TimeNotUTC", sign(transparency.DefaultOrigin + "\n5\n" + root + "\ntime 2026-01-01T07:00:00+07:00\n"), "RFC 3339"},
			{"TimeFraction", sign(transparency.DefaultOrigin + "\n5\n" + root + "\ntime 2026-01-01T00:00:00.5Z\n"), "RFC 3339"},
			{"TimeNotFirst", sign(transparency.DefaultOrigin + "\n5\n" + root + "\nx\ntime 2026-01-01T00:00:00Z\n"), "first extension"},
			{"TooLarge", append(bytes.Repeat([]byte("x"), transparency.MaxCheckpointSize), good...), "more than"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := transparency.ParseCheckpoint(tt.signed, s.Verifier())
				if !errors.Is(err, transparency.ErrBadCheckpoint) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want ErrBadCheckpoint mentioning %q", err, tt.want)
				}
			})
		}
		if _, err := transparency.ParseCheckpoint(good, stranger.Verifier()); !errors.Is(err, transparency.ErrBadCheckpoint) {
			t.Errorf("checked with another key: err = %v, want ErrBadCheckpoint", err)
		}
		if _, err := transparency.ParseCheckpoint(good, nil); !errors.Is(err, transparency.ErrBadCheckpoint) {
			t.Errorf("checked with no key: err = %v, want ErrBadCheckpoint", err)
		}
	})
	t.Run("File", func(t *testing.T) {
		s, _ := MustSigner(t, transparency.DefaultOrigin)
		l := MustOpen(t, transparency.Options{})
		MustAppend(t, l, testEvents(4)...)
		cp := MustCheckpoint(t, l, s)
		path := filepath.Join(t.TempDir(), "saved.checkpoint")
		if err := transparency.WriteCheckpointFile(path, cp); err != nil {
			t.Fatal(err)
		}
		got, err := transparency.ReadCheckpointFile(path, s.Verifier())
		if err != nil || got.Size != 4 || !bytes.Equal(got.Root, cp.Root) {
			t.Fatalf("ReadCheckpointFile = %+v, %v", got, err)
		}
		if _, err := transparency.ReadCheckpointFile(filepath.Join(t.TempDir(), "none"), s.Verifier()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
		}
		if err := os.WriteFile(path, bytes.Replace(cp.Note, []byte("\n4\n"), []byte("\n3\n"), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.ReadCheckpointFile(path, s.Verifier()); !errors.Is(err, transparency.ErrBadCheckpoint) || !strings.Contains(err.Error(), path) {
			t.Errorf("edited file: err = %v, want ErrBadCheckpoint naming the file", err)
		}
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s1, err := transparency.LoadOrCreateKey(dir, transparency.DefaultOrigin)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(dir, transparency.KeyFileName))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode())
		}
		s2, err := transparency.LoadOrCreateKey(dir, transparency.DefaultOrigin)
		if err != nil {
			t.Fatal(err)
		}
		if s1.VerifierKey() != s2.VerifierKey() {
			t.Errorf("second start made another key: %s, then %s", s1.VerifierKey(), s2.VerifierKey())
		}
		if !strings.HasPrefix(s1.VerifierKey(), transparency.DefaultOrigin+"+") || strings.Contains(s1.VerifierKey(), "PRIVATE") {
			t.Errorf("VerifierKey = %q", s1.VerifierKey())
		}
		b, _ := os.ReadFile(filepath.Join(dir, transparency.KeyFileName))
		secret := strings.SplitN(strings.TrimSpace(string(b)), "+", 5)
		if len(secret) != 5 || strings.Contains(s1.VerifierKey(), secret[4]) {
			t.Error("the public key contains the private key")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("data directory holds %d files, want the key only", len(entries))
		}
		// A configured key file, under another origin.
		s3, err := transparency.LoadKey(filepath.Join(dir, transparency.KeyFileName), "example.org/log")
		if err != nil || s3.Origin() != "example.org/log" || s3.VerifierKey() != s1.VerifierKey() {
			t.Errorf("LoadKey = %v, %v", s3, err)
		}
	})
	t.Run("ErrPermissions", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := transparency.LoadOrCreateKey(dir, transparency.DefaultOrigin); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, transparency.KeyFileName)
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.LoadOrCreateKey(dir, transparency.DefaultOrigin); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("readable key: err = %v, want a refusal saying chmod 600", err)
		}
	})
	t.Run("ErrNotExist", func(t *testing.T) {
		if _, err := transparency.LoadKey(filepath.Join(t.TempDir(), "none"), transparency.DefaultOrigin); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, tt := range []struct{ skey, origin string }{
			{"PRIVATE+KEY+x+00000000+AAAA", transparency.DefaultOrigin},
			{"not a key", transparency.DefaultOrigin},
			{"", transparency.DefaultOrigin},
		} {
			if _, err := transparency.NewSigner(tt.skey, tt.origin); err == nil {
				t.Errorf("NewSigner(%q) succeeded", tt.skey)
			}
		}
		for _, origin := range []string{"", "with space", "a+b", "tab\there"} {
			if _, err := transparency.LoadOrCreateKey(t.TempDir(), origin); err == nil {
				t.Errorf("LoadOrCreateKey with origin %q succeeded", origin)
			}
		}
	})
}

func TestVerifyConsistencyWith(t *testing.T) {
	s, _ := MustSigner(t, transparency.DefaultOrigin)
	l := MustOpen(t, transparency.Options{})
	events := testEvents(40)
	MustAppend(t, l, events[:13]...)
	old := MustCheckpoint(t, l, s)
	MustAppend(t, l, events[13:]...)
	now := MustCheckpoint(t, l, s)
	p, err := l.ConsistencyProof(old.Size, now.Size)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		if err := transparency.VerifyConsistencyWith(old, now, p); err != nil {
			t.Errorf("consistent checkpoints: %v", err)
		}
		if err := transparency.VerifyConsistencyWith(now, now, nil); err != nil {
			t.Errorf("the same checkpoint twice: %v", err)
		}
		empty := transparency.Checkpoint{Origin: now.Origin, Root: transparency.EmptyRoot()}
		if err := transparency.VerifyConsistencyWith(empty, now, nil); err != nil {
			t.Errorf("from the empty tree: %v", err)
		}
	})
	t.Run("ErrInconsistent", func(t *testing.T) {
		// The same history with event 5 edited: signed by the same key.
		forked := MustOpen(t, transparency.Options{})
		edited := append([]eventstore.Event(nil), events...)
		edited[5].RecordedAt = edited[5].RecordedAt.Add(time.Millisecond)
		MustAppend(t, forked, edited...)
		fork := MustCheckpoint(t, forked, s)
		fp, _ := forked.ConsistencyProof(old.Size, fork.Size)
		for name, tt := range map[string]struct {
			old, new transparency.Checkpoint
			proof    [][]byte
		}{
			"EditedHistory":   {old, fork, fp},
			"OtherLogsProof":  {old, now, fp},
			"SameSizeForked":  {now, fork, nil},
			"OtherOrigin":     {transparency.Checkpoint{Origin: "other", Size: old.Size, Root: old.Root}, now, p},
			"ProofHashEdited": {old, now, flipped(p)},
		} {
			if err := transparency.VerifyConsistencyWith(tt.old, tt.new, tt.proof); !errors.Is(err, transparency.ErrInconsistent) {
				t.Errorf("%s: err = %v, want ErrInconsistent", name, err)
			}
		}
	})
	t.Run("ErrRolledBack", func(t *testing.T) {
		if err := transparency.VerifyConsistencyWith(now, old, p); !errors.Is(err, transparency.ErrRolledBack) {
			t.Errorf("err = %v, want ErrRolledBack", err)
		}
	})
	t.Run("ErrBadProof", func(t *testing.T) {
		if err := transparency.VerifyConsistencyWith(old, now, p[1:]); !errors.Is(err, transparency.ErrBadProof) {
			t.Errorf("short proof: err = %v, want ErrBadProof", err)
		}
	})
}

func flipped(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i])
	}
	out[len(out)-1][0] ^= 1
	return out
}
