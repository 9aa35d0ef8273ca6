package transparency

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// DefaultOrigin is the origin line of parledger's checkpoints unless
// configured otherwise: the log's name, which every checkpoint repeats.
const DefaultOrigin = "parledger.hanoi.gov.vn/par-ledger"

// KeyFileName is the name of the signing key's file in the data
// directory.
const KeyFileName = "checkpoint.key"

// MaxCheckpointSize bounds a signed checkpoint that ParseCheckpoint reads.
const MaxCheckpointSize = 16 << 10

// timePrefix opens the extension line that says when the checkpoint was
// signed.
const timePrefix = "time "

// Checkpoint is a signed statement of the log: "the tree of the first
// Size events has root Root", in the transparency-log checkpoint format
// (c2sp.org/tlog-checkpoint), signed as a note (golang.org/x/mod/sumdb/note)
// with Ed25519:
//
//	parledger.hanoi.gov.vn/par-ledger
//	1234
//	<base64 root hash>
//	time 2026-11-25T10:00:00Z
//
//	— parledger.hanoi.gov.vn/par-ledger <base64 key hash and signature>
type Checkpoint struct {
	// Origin names the log.
	Origin string
	// Size is the number of events the checkpoint covers.
	Size uint64
	// Root is the RFC 6962 root hash of the tree of those events.
	Root []byte
	// Time is when the checkpoint was signed (zero if it does not say).
	Time time.Time
	// Extensions are other extension lines, kept verbatim.
	Extensions []string
	// Note is the signed note ParseCheckpoint read, or Signer.Sign wrote:
	// what an auditor saves and compares.
	Note []byte
}

// Body returns the checkpoint's text, the part that is signed.
func (c Checkpoint) Body() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
	if !c.Time.IsZero() {
		fmt.Fprintf(&b, "%s%s\n", timePrefix, c.Time.UTC().Format(time.RFC3339))
	}
	for _, ext := range c.Extensions {
		b.WriteString(ext)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// String prints the checkpoint briefly for messages.
func (c Checkpoint) String() string {
	return fmt.Sprintf("checkpoint of %q at %d events, root %x", c.Origin, c.Size, c.Root)
}

// ParseCheckpoint reads a signed checkpoint strictly: it must be a note
// signed by verifier (other signatures, such as witnesses' cosignatures,
// are allowed and ignored), and its text must be an origin line, the
// tree size in decimal without leading zeros, the root as standard base64
// of 32 bytes, then optional non-empty extension lines; a first extension
// line "time 2006-01-02T15:04:05Z" (UTC, whole seconds) gives Time. Anything else is an
// ErrBadCheckpoint error saying what is wrong. Check the returned Origin
// against the log you expect.
func ParseCheckpoint(signed []byte, verifier note.Verifier) (Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes, more than the %d a checkpoint may have", ErrBadCheckpoint, len(signed), MaxCheckpointSize)
	}
	if verifier == nil {
		return Checkpoint{}, fmt.Errorf("%w: no verifier (public key) given", ErrBadCheckpoint)
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: not signed by %s (key hash %08x)", ErrBadCheckpoint, verifier.Name(), verifier.KeyHash())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: the signature of %s does not verify: the text was changed after signing, or it was signed by another key", ErrBadCheckpoint, invalid.Name)
		default:
			return Checkpoint{}, fmt.Errorf("%w: not a signed note: %v", ErrBadCheckpoint, err)
		}
	}
	cp, err := parseBody(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	cp.Note = bytes.Clone(signed)
	return cp, nil
}

// parseBody parses a checkpoint's text (ending in a newline, as note.Open
// guarantees).
func parseBody(text string) (Checkpoint, error) {
	var cp Checkpoint
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return cp, fmt.Errorf("%w: %d lines of text, want at least 3 (origin, size, root)", ErrBadCheckpoint, len(lines))
	}
	if err := checkOrigin(lines[0]); err != nil {
		return cp, fmt.Errorf("%w: line 1: %w", ErrBadCheckpoint, err)
	}
	cp.Origin = lines[0]
	s := lines[1]
	if s == "" || len(s) > 20 || s[0] == '0' && len(s) > 1 || strings.Trim(s, "0123456789") != "" {
		return cp, fmt.Errorf("%w: line 2: tree size %q is not a decimal number without leading zeros", ErrBadCheckpoint, s)
	}
	size, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return cp, fmt.Errorf("%w: line 2: tree size %q does not fit 64 bits", ErrBadCheckpoint, s)
	}
	cp.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != HashSize {
		return cp, fmt.Errorf("%w: line 3: root hash %q is not %d bytes in standard base64", ErrBadCheckpoint, lines[2], HashSize)
	}
	cp.Root = root
	for i, ext := range lines[3:] {
		if ext == "" {
			return cp, fmt.Errorf("%w: line %d is empty", ErrBadCheckpoint, i+4)
		}
		if ts, ok := strings.CutPrefix(ext, timePrefix); ok {
			if !cp.Time.IsZero() {
				return cp, fmt.Errorf("%w: line %d: a second time line", ErrBadCheckpoint, i+4)
			}
			if i > 0 {
				return cp, fmt.Errorf("%w: line %d: the time line must be the first extension line", ErrBadCheckpoint, i+4)
			}
			t, err := time.Parse(time.RFC3339, ts)
			if err != nil || t.UTC().Format(time.RFC3339) != ts || t.IsZero() {
				return cp, fmt.Errorf("%w: line %d: time %q is not RFC 3339 in UTC (2006-01-02T15:04:05Z)", ErrBadCheckpoint, i+4, ts)
			}
			cp.Time = t.UTC()
			continue
		}
		cp.Extensions = append(cp.Extensions, ext)
	}
	return cp, nil
}

// checkOrigin accepts an origin that is also a valid note key name:
// printable, without spaces or '+'.
func checkOrigin(origin string) error {
	switch {
	case origin == "":
		return errors.New("empty origin")
	case !utf8.ValidString(origin) || strings.IndexFunc(origin, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("origin %q has spaces or unprintable characters", origin)
	case strings.Contains(origin, "+"):
		return fmt.Errorf("origin %q contains '+'", origin)
	}
	return nil
}

// Signer signs checkpoints with the log's Ed25519 key. The private key
// stays inside it; Verifier and VerifierKey give what auditors need.
type Signer struct {
	origin   string
	signer   note.Signer
	verifier note.Verifier
	vkey     string
	now      func() time.Time
}

// NewSigner returns a signer for the log named origin, from a private key
// in note format ("PRIVATE+KEY+name+hash+key", as note.GenerateKey makes,
// Ed25519 only).
func NewSigner(skey, origin string) (*Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: not a note signing key: %w", err)
	}
	// "PRIVATE+KEY+name+hash+base64(0x01 || seed)": derive the public key.
	// The name holds no '+', the base64 key may.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return nil, errors.New("checkpoint signer: not a note signing key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("checkpoint signer: not an Ed25519 note signing key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	if v.KeyHash() != s.KeyHash() {
		return nil, errors.New("checkpoint signer: the key's hash does not match its public key")
	}
	return &Signer{origin: origin, signer: s, verifier: v, vkey: vkey, now: time.Now}, nil
}

// LoadOrCreateKey returns the signer kept in dir/checkpoint.key, first
// creating the key (Ed25519, named after origin, mode 0600) if the file
// does not exist. It refuses a key file that others than its owner may
// read or write.
func LoadOrCreateKey(dir, origin string) (*Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	path := filepath.Join(dir, KeyFileName)
	s, err := LoadKey(path, origin)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	// Write a temporary file and link it into place: the key appears
	// whole or not at all, and a key another process made first wins.
	tmp, err := os.CreateTemp(dir, KeyFileName+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(skey + "\n")
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Link(tmp.Name(), path)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("checkpoint signer: create %s: %w", path, err)
		}
	} else {
		_ = tmp.Close()
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	syncDir(dir)
	return LoadKey(path, origin)
}

// LoadKey returns the signer whose private key (note format) is in the
// file at path, for the log named origin. It refuses a file that others
// than its owner may read or write; a missing file is an fs.ErrNotExist
// error.
func LoadKey(path, origin string) (*Signer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("checkpoint signer: %s is accessible to others (mode %04o): run chmod 600 on it", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer: %w", err)
	}
	s, err := NewSigner(string(b), origin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Origin returns the name of the log the signer signs for.
func (s *Signer) Origin() string { return s.origin }

// VerifierKey returns the public key in note verifier format
// ("name+hash+base64 key"), to serve and publish: auditors pass it to
// NewVerifier.
func (s *Signer) VerifierKey() string { return s.vkey }

// Verifier returns the note verifier of the signer's public key.
func (s *Signer) Verifier() note.Verifier { return s.verifier }

// Sign signs cp's body (Origin, Size, Root, Time, Extensions; Origin
// defaults to the signer's) and returns the signed note, which is also
// left in the returned Checkpoint's Note.
func (s *Signer) Sign(cp Checkpoint) (Checkpoint, error) {
	if cp.Origin == "" {
		cp.Origin = s.origin
	}
	if err := checkOrigin(cp.Origin); err != nil {
		return cp, fmt.Errorf("sign checkpoint: %w", err)
	}
	if len(cp.Root) != HashSize {
		return cp, fmt.Errorf("sign checkpoint: root is %d bytes, want %d", len(cp.Root), HashSize)
	}
	for _, ext := range cp.Extensions {
		if ext == "" || strings.ContainsAny(ext, "\n") || strings.HasPrefix(ext, timePrefix) {
			return cp, fmt.Errorf("sign checkpoint: bad extension line %q", ext)
		}
	}
	cp.Time = cp.Time.UTC().Truncate(time.Second)
	signed, err := note.Sign(&note.Note{Text: string(cp.Body())}, s.signer)
	if err != nil {
		return cp, fmt.Errorf("sign checkpoint: %w", err)
	}
	cp.Note = signed
	return cp, nil
}

// NewVerifier parses a public key in note verifier format, as
// Signer.VerifierKey prints it.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("checkpoint public key: %w", err)
	}
	return v, nil
}

// Checkpoint signs a checkpoint of the tree as it is now (its size, its
// root, the current time) and returns the signed note. Publish it, and
// record it: every later checkpoint must be consistent with it.
func (l *Log) Checkpoint(s *Signer) ([]byte, error) {
	cp, err := l.SignedCheckpoint(s)
	return cp.Note, err
}

// SignedCheckpoint is Checkpoint, returning the parsed checkpoint too
// (its Note is the signed text).
func (l *Log) SignedCheckpoint(s *Signer) (Checkpoint, error) {
	size, root := l.head()
	return s.Sign(Checkpoint{Origin: s.origin, Size: size, Root: bytes.Clone(root), Time: s.now().UTC().Truncate(time.Second)})
}

// ReadCheckpointFile reads a checkpoint saved by WriteCheckpointFile (or
// any signed checkpoint) and checks it as ParseCheckpoint does.
func ReadCheckpointFile(path string, verifier note.Verifier) (Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Checkpoint{}, err
	}
	cp, err := ParseCheckpoint(b, verifier)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	return cp, nil
}

// WriteCheckpointFile saves cp's signed note at path, replacing the file
// atomically (a crash leaves the old checkpoint or the new one, never
// half of one).
func WriteCheckpointFile(path string, cp Checkpoint) error {
	if len(cp.Note) == 0 {
		return errors.New("save checkpoint: it has no signed note")
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(cp.Note)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable; failure only weakens
// durability, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
