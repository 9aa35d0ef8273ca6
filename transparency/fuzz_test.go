package transparency_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	tlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/transparency"
)

// fuzzKey is a fixed signing key for tests only (its base64 holds a
// '+'), so that fuzz inputs found once stay meaningful.
const fuzzKey = "PRIVATE+KEY+parledger.hanoi.gov.vn/par-ledger+6aca16c0+AZlrMsxB5M+DbvjTs4hZVk9Rlz+A7oXfr5Pk9mU8dDuU"

func fuzzSigner(tb testing.TB) (*transparency.Signer, note.Signer) {
	tb.Helper()
	s, err := transparency.NewSigner(fuzzKey, transparency.DefaultOrigin)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := note.NewSigner(fuzzKey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, raw
}

// FuzzParseCheckpoint feeds ParseCheckpoint arbitrary bytes, both as they
// are and signed as a note's text (so that the text parser is reached
// past the signature). It must never panic, and what it accepts must read
// back exactly: the same text, and the same fields for
// transparency-dev/formats.
func FuzzParseCheckpoint(f *testing.F) {
	root := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	for _, seed := range []string{
		transparency.DefaultOrigin + "\n0\n" + base64.StdEncoding.EncodeToString(transparency.EmptyRoot()) + "\n",
		transparency.DefaultOrigin + "\n1234\n" + root + "\ntime 2026-11-25T10:00:00Z\n",
		transparency.DefaultOrigin + "\n18446744073709551615\n" + root + "\ntime 2026-11-25T10:00:00Z\nwitness x\n",
		transparency.DefaultOrigin + "\n01\n" + root + "\n",
		transparency.DefaultOrigin + "\n1\n" + root[:43] + "\n",
		transparency.DefaultOrigin + "\n1\n" + root + "\n\n",
		"\n\n\n",
		"x\n1\n" + root + "\ntime 2026-13-01T00:00:00Z\n",
		"— x AAAA\n",
	} {
		f.Add([]byte(seed))
	}
	s, raw := fuzzSigner(f)
	v := s.Verifier()
	f.Fuzz(func(t *testing.T, data []byte) {
		if cp, err := transparency.ParseCheckpoint(data, v); err == nil {
			checkParsed(t, cp)
		} else if !errors.Is(err, transparency.ErrBadCheckpoint) {
			t.Fatalf("error outside ErrBadCheckpoint: %v", err)
		}
		signed, err := note.Sign(&note.Note{Text: string(data)}, raw)
		if err != nil {
			return // not note text (no final newline)
		}
		cp, err := transparency.ParseCheckpoint(signed, v)
		if err != nil {
			if !errors.Is(err, transparency.ErrBadCheckpoint) {
				t.Fatalf("error outside ErrBadCheckpoint: %v", err)
			}
			return
		}
		checkParsed(t, cp)
		if got := cp.Body(); !bytes.Equal(got, data) {
			t.Fatalf("accepted text %q reads back as %q", data, got)
		}
		other, _, _, err := tlog.ParseCheckpoint(signed, cp.Origin, v)
		if err != nil {
			t.Fatalf("transparency-dev/formats refuses what ParseCheckpoint accepts (%q): %v", data, err)
		}
		if other.Size != cp.Size || !bytes.Equal(other.Hash, cp.Root) {
			t.Fatalf("transparency-dev/formats reads %+v, ParseCheckpoint %+v", other, cp)
		}
	})
}

func checkParsed(t *testing.T, cp transparency.Checkpoint) {
	t.Helper()
	if len(cp.Root) != transparency.HashSize || cp.Origin == "" || strings.ContainsAny(cp.Origin, " \n") {
		t.Fatalf("accepted %+v", cp)
	}
	for _, ext := range cp.Extensions {
		if ext == "" || strings.Contains(ext, "\n") {
			t.Fatalf("accepted extension %q", ext)
		}
	}
}

// FuzzParseInclusionProof: never a panic; what is accepted has the shape
// of a proof, survives a JSON round trip, and can be verified (to a yes
// or a no) without a panic.
func FuzzParseInclusionProof(f *testing.F) {
	l := MustOpen(f, transparency.Options{})
	events := testEvents(13)
	MustAppend(f, l, events...)
	for _, i := range []int{0, 5, 12} {
		p, err := l.ProveEvent(&events[i], 0)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(`{"leafIndex":0,"treeSize":1,"leafHash":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","hashes":[]}`))
	f.Add([]byte(`{"leafIndex":3,"treeSize":2,"leafHash":"","hashes":null}`))
	f.Add([]byte(`{"leafIndex":18446744073709551615,"treeSize":18446744073709551615}`))
	f.Add([]byte(`{"leafIndex":1,"treeSize":5,"leafHash":"AA==","hashes":["AA=="],"extra":1}`))
	root, _ := l.Root(13)
	cp := transparency.Checkpoint{Origin: transparency.DefaultOrigin, Size: 13, Root: root}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := transparency.ParseInclusionProof(data)
		if err != nil {
			if !errors.Is(err, transparency.ErrBadProof) {
				t.Fatalf("error outside ErrBadProof: %v", err)
			}
			return
		}
		if p.LeafIndex >= p.TreeSize || len(p.LeafHash) != transparency.HashSize {
			t.Fatalf("accepted %+v", p)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := transparency.ParseInclusionProof(b)
		if err != nil {
			t.Fatalf("re-encoded proof refused: %v", err)
		}
		if again.LeafIndex != p.LeafIndex || again.TreeSize != p.TreeSize || len(again.Hashes) != len(p.Hashes) {
			t.Fatalf("round trip: %+v, then %+v", p, again)
		}
		if err := transparency.VerifyInclusion(cp, p); err != nil && !errors.Is(err, transparency.ErrBadProof) {
			t.Fatalf("VerifyInclusion error outside ErrBadProof: %v", err)
		}
		_ = transparency.VerifyEventInclusion(cp, &events[int(p.LeafIndex%13)], p)
	})
}

// FuzzParseConsistencyProof: as FuzzParseInclusionProof, for consistency
// proofs.
func FuzzParseConsistencyProof(f *testing.F) {
	l := MustOpen(f, transparency.Options{})
	MustAppend(f, l, testEvents(21)...)
	for _, sizes := range [][2]uint64{{0, 21}, {1, 21}, {8, 21}, {13, 21}, {21, 21}} {
		h, err := l.ConsistencyProof(sizes[0], sizes[1])
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(transparency.ConsistencyProof{FromSize: sizes[0], ToSize: sizes[1], Hashes: h})
		f.Add(b)
	}
	f.Add([]byte(`{"fromSize":5,"toSize":3,"hashes":[]}`))
	f.Add([]byte(`{"fromSize":0,"toSize":18446744073709551615,"hashes":[]}`))
	f.Add([]byte(`[]`))
	signer, _ := fuzzSigner(f)
	root13, _ := l.Root(13)
	root21, _ := l.Root(21)
	old := transparency.Checkpoint{Origin: signer.Origin(), Size: 13, Root: root13}
	now := transparency.Checkpoint{Origin: signer.Origin(), Size: 21, Root: root21}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := transparency.ParseConsistencyProof(data)
		if err != nil {
			if !errors.Is(err, transparency.ErrBadProof) {
				t.Fatalf("error outside ErrBadProof: %v", err)
			}
			return
		}
		if p.FromSize > p.ToSize {
			t.Fatalf("accepted %+v", p)
		}
		for _, h := range p.Hashes {
			if len(h) != transparency.HashSize {
				t.Fatalf("accepted a hash of %d bytes", len(h))
			}
		}
		err = transparency.VerifyConsistencyWith(old, now, p.Hashes)
		if err != nil && !errors.Is(err, transparency.ErrVerify) {
			t.Fatalf("VerifyConsistencyWith error outside ErrVerify: %v", err)
		}
	})
}

// FuzzVerifyExport feeds VerifyExport arbitrary exports against a fixed
// checkpoint, with and without a reference Merkle log: never a panic, an
// error always within ErrVerify, and success only with the right root.
func FuzzVerifyExport(f *testing.F) {
	l := MustOpen(f, transparency.Options{})
	events := testEvents(9)
	MustAppend(f, l, events...)
	root, _ := l.Root(9)
	cp := transparency.Checkpoint{Origin: transparency.DefaultOrigin, Size: 9, Root: root}
	var export bytes.Buffer
	for i := range events {
		if err := eventstore.EncodeNDJSON(&export, &events[i]); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(export.Bytes())
	f.Add(export.Bytes()[:export.Len()/2])
	f.Add(bytes.ReplaceAll(export.Bytes(), []byte("\n"), []byte("\r\n\n")))
	f.Add(bytes.Replace(export.Bytes(), []byte(`"position":3`), []byte(`"position":30`), 1))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ref := range []transparency.Prover{nil, l} {
			rep, err := transparency.VerifyExport(bytes.NewReader(data), cp, ref)
			if err != nil {
				if !errors.Is(err, transparency.ErrVerify) {
					t.Fatalf("error outside ErrVerify: %v", err)
				}
				continue
			}
			if rep.Covered != 9 || !bytes.Equal(rep.Root, root) {
				t.Fatalf("accepted with report %+v", rep)
			}
		}
	})
}
