package transparency

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/parledger/parledger/eventstore"
)

// MaxProofSize bounds a proof that ParseInclusionProof or
// ParseConsistencyProof reads: far more than the longest proof (about
// 130 hashes of 32 bytes in base64).
const MaxProofSize = 16 << 10

// InclusionProof proves that a leaf is in the tree of TreeSize leaves:
// Hashes, RFC 9162's audit path, rebuild the root from LeafHash. Its JSON
// form, which the HTTP API serves, is
//
//	{"leafIndex": 41, "treeSize": 1234, "leafHash": "<base64>", "hashes": ["<base64>", ...]}
type InclusionProof struct {
	LeafIndex uint64   `json:"leafIndex"`
	TreeSize  uint64   `json:"treeSize"`
	LeafHash  []byte   `json:"leafHash"`
	Hashes    [][]byte `json:"hashes"`
}

// ConsistencyProof proves that the tree of FromSize leaves is a prefix of
// the tree of ToSize leaves (RFC 9162). Its JSON form is
//
//	{"fromSize": 1000, "toSize": 1234, "hashes": ["<base64>", ...]}
type ConsistencyProof struct {
	FromSize uint64   `json:"fromSize"`
	ToSize   uint64   `json:"toSize"`
	Hashes   [][]byte `json:"hashes"`
}

// ParseInclusionProof reads an InclusionProof's JSON strictly: one object
// with exactly the four fields, leafIndex < treeSize, every hash 32 bytes
// in standard base64, and as many hashes as such a proof has. Anything
// else is an ErrBadProof error saying what is wrong. It checks the form,
// not the proof: VerifyInclusion does that.
func ParseInclusionProof(b []byte) (InclusionProof, error) {
	var raw struct {
		LeafIndex *uint64   `json:"leafIndex"`
		TreeSize  *uint64   `json:"treeSize"`
		LeafHash  *[]byte   `json:"leafHash"`
		Hashes    *[][]byte `json:"hashes"`
	}
	if err := decodeStrict(b, &raw); err != nil {
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof: %w", ErrBadProof, err)
	}
	switch {
	case raw.LeafIndex == nil:
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof has no leafIndex", ErrBadProof)
	case raw.TreeSize == nil:
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof has no treeSize", ErrBadProof)
	case raw.LeafHash == nil:
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof has no leafHash", ErrBadProof)
	case raw.Hashes == nil:
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof has no hashes", ErrBadProof)
	}
	p := InclusionProof{LeafIndex: *raw.LeafIndex, TreeSize: *raw.TreeSize, LeafHash: *raw.LeafHash, Hashes: *raw.Hashes}
	if p.LeafIndex >= p.TreeSize {
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof of leaf %d in a tree of %d leaves", ErrBadProof, p.LeafIndex, p.TreeSize)
	}
	if len(p.LeafHash) != HashSize {
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof: leafHash is %d bytes, want %d", ErrBadProof, len(p.LeafHash), HashSize)
	}
	if err := checkHashes(p.Hashes, inclusionLen(p.LeafIndex, p.TreeSize)); err != nil {
		return InclusionProof{}, fmt.Errorf("%w: inclusion proof of leaf %d in %d: %w", ErrBadProof, p.LeafIndex, p.TreeSize, err)
	}
	return p, nil
}

// ParseConsistencyProof reads a ConsistencyProof's JSON strictly, as
// ParseInclusionProof does: fromSize <= toSize, and the hashes a proof
// between those sizes has.
func ParseConsistencyProof(b []byte) (ConsistencyProof, error) {
	var raw struct {
		FromSize *uint64   `json:"fromSize"`
		ToSize   *uint64   `json:"toSize"`
		Hashes   *[][]byte `json:"hashes"`
	}
	if err := decodeStrict(b, &raw); err != nil {
		return ConsistencyProof{}, fmt.Errorf("%w: consistency proof: %w", ErrBadProof, err)
	}
	switch {
	case raw.FromSize == nil:
		return ConsistencyProof{}, fmt.Errorf("%w: consistency proof has no fromSize", ErrBadProof)
	case raw.ToSize == nil:
		return ConsistencyProof{}, fmt.Errorf("%w: consistency proof has no toSize", ErrBadProof)
	case raw.Hashes == nil:
		return ConsistencyProof{}, fmt.Errorf("%w: consistency proof has no hashes", ErrBadProof)
	}
	p := ConsistencyProof{FromSize: *raw.FromSize, ToSize: *raw.ToSize, Hashes: *raw.Hashes}
	if p.FromSize > p.ToSize {
		return ConsistencyProof{}, fmt.Errorf("%w: consistency proof from %d down to %d leaves", ErrBadProof, p.FromSize, p.ToSize)
	}
	if err := checkHashes(p.Hashes, consistencyLen(p.FromSize, p.ToSize)); err != nil {
		return ConsistencyProof{}, fmt.Errorf("%w: consistency proof from %d to %d: %w", ErrBadProof, p.FromSize, p.ToSize, err)
	}
	return p, nil
}

func decodeStrict(b []byte, v any) error {
	if len(b) > MaxProofSize {
		return fmt.Errorf("%d bytes, more than the %d a proof may have", len(b), MaxProofSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a JSON proof: %v", err)
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

func checkHashes(hashes [][]byte, want int) error {
	if len(hashes) != want {
		return fmt.Errorf("%d hashes, such a proof has %d", len(hashes), want)
	}
	for i, h := range hashes {
		if len(h) != HashSize {
			return fmt.Errorf("hash %d is %d bytes, want %d", i, len(h), HashSize)
		}
	}
	return nil
}

// VerifyInclusion checks that p proves its leaf is in the tree cp signs
// (cp's signature already checked by ParseCheckpoint). It uses
// transparency-dev/merkle's RFC 6962 verifier. Failure is an ErrBadProof
// error.
func VerifyInclusion(cp Checkpoint, p InclusionProof) error {
	if p.TreeSize != cp.Size {
		return fmt.Errorf("%w: the proof is for a tree of %d leaves, the checkpoint covers %d", ErrBadProof, p.TreeSize, cp.Size)
	}
	if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, p.LeafHash, p.Hashes, cp.Root); err != nil {
		return fmt.Errorf("%w: leaf %d is not proven in the tree of %d leaves: %v", ErrBadProof, p.LeafIndex, p.TreeSize, err)
	}
	return nil
}

// VerifyEventInclusion checks that e, as the caller holds it, is the event
// at leaf p.LeafIndex of the tree cp signs: its content hash verifies, its
// leaf hash is p.LeafHash, and p proves that leaf. Failure is an
// *EventError matching ErrVerify.
func VerifyEventInclusion(cp Checkpoint, e *eventstore.Event, p InclusionProof) error {
	if err := e.VerifyHash(); err != nil {
		return eventError(p.LeafIndex, 0, e, fmt.Errorf("%w: %w", ErrVerify, err))
	}
	if leaf := LeafHash(e); !bytes.Equal(leaf, p.LeafHash) {
		return eventError(p.LeafIndex, 0, e, fmt.Errorf("%w: its leaf hash is %x, the proof is for leaf hash %x: its revision, recorded time or content differs from what was logged", ErrBadProof, leaf, p.LeafHash))
	}
	if err := VerifyInclusion(cp, p); err != nil {
		return eventError(p.LeafIndex, 0, e, err)
	}
	return nil
}

// VerifyConsistencyWith checks a newly fetched checkpoint against the one
// an auditor saved last time, with the consistency proof between their
// sizes (both signatures already checked by ParseCheckpoint): same
// origin, no smaller, and the saved tree a prefix of the new one. Save the
// new checkpoint only if it passes. It fails with
//   - ErrInconsistent: another origin; the same size with another root;
//     or a proof that does not link them. The log rewrote history or shows
//     different histories to different people: keep both signed notes,
//     together they are the evidence.
//   - ErrRolledBack: the new checkpoint is smaller. Check it the other
//     way round (VerifyConsistencyWith(new, old, proof from new.Size to
//     old.Size)) to tell a stale copy from a log cut back.
//   - ErrBadProof: the proof is malformed (wrong number of hashes).
func VerifyConsistencyWith(old, new Checkpoint, hashes [][]byte) error {
	switch {
	case old.Origin != new.Origin:
		return fmt.Errorf("%w: the saved checkpoint is of log %q, the new one of %q", ErrInconsistent, old.Origin, new.Origin)
	case new.Size < old.Size:
		return fmt.Errorf("%w: the new checkpoint covers %d events, the saved one %d", ErrRolledBack, new.Size, old.Size)
	case new.Size == old.Size && !bytes.Equal(old.Root, new.Root):
		return fmt.Errorf("%w: two signed checkpoints of %d events with different roots (%x, %x): the log forked; keep both notes as evidence", ErrInconsistent, new.Size, old.Root, new.Root)
	}
	if want := consistencyLen(old.Size, new.Size); len(hashes) != want {
		return fmt.Errorf("%w: consistency proof from %d to %d has %d hashes, want %d", ErrBadProof, old.Size, new.Size, len(hashes), want)
	}
	if err := proof.VerifyConsistency(hasher, old.Size, new.Size, hashes, old.Root, new.Root); err != nil {
		return fmt.Errorf("%w: the proof does not show the %d events of the saved checkpoint as the start of the %d of the new one (%v): history was rewritten, or the server sent a wrong proof; ask again, and keep both checkpoints", ErrInconsistent, old.Size, new.Size, err)
	}
	return nil
}
