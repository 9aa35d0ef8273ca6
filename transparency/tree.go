package transparency

import (
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/parledger/parledger/eventstore"
)

// HashSize is the length of every hash in the tree: a leaf hash, a node
// hash, a root, a proof element.
const HashSize = 32

// hasher is RFC 6962's SHA-256 tree hashing, the one every verifier knows.
var hasher = rfc6962.DefaultHasher

// factory builds compact ranges (the perfect subtrees covering a range of
// leaves) with the same hashing.
var factory = &compact.RangeFactory{Hash: hasher.HashChildren}

// LeafHash returns the RFC 6962 leaf hash of e: SHA-256(0x00 ||
// eventstore.LeafBytes(e)). It trusts e.ContentHash; check it with
// e.VerifyHash when e comes from outside.
func LeafHash(e *eventstore.Event) []byte {
	return hasher.HashLeaf(eventstore.LeafBytes(e))
}

// EmptyRoot is the root of the tree of no events: SHA-256 of nothing.
func EmptyRoot() []byte { return hasher.EmptyRoot() }

// nodeReader reads hashes of complete subtrees: leaves (level 0) and the
// internal nodes whose every leaf is in the tree.
type nodeReader interface {
	node(id compact.NodeID) ([]byte, error)
}

func readNodes(r nodeReader, ids []compact.NodeID) ([][]byte, error) {
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := r.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return hashes, nil
}

// rootAt computes the root of the first size leaves from the perfect
// subtrees that cover them (at most 64 reads).
func rootAt(r nodeReader, size uint64) ([]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	hashes, err := readNodes(r, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	rng, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

// inclusionProof builds the RFC 9162 inclusion proof of leaf index in the
// tree of size leaves.
func inclusionProof(r nodeReader, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes, err := readNodes(r, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// consistencyProof builds the RFC 9162 consistency proof between the trees
// of size1 and size2 leaves.
func consistencyProof(r nodeReader, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	hashes, err := readNodes(r, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// inclusionLen returns the number of hashes in the inclusion proof of
// leaf index in a tree of size leaves (index < size), as RFC 9162 (and
// proof.VerifyInclusion) counts them.
func inclusionLen(index, size uint64) int {
	inner := bits.Len64(index ^ (size - 1))
	return inner + bits.OnesCount64(index>>uint(inner))
}

// consistencyLen returns the number of hashes in the consistency proof
// between trees of size1 and size2 leaves (size1 <= size2).
func consistencyLen(size1, size2 uint64) int {
	if size1 == 0 || size1 == size2 {
		return 0
	}
	shift := bits.TrailingZeros64(size1)
	n := inclusionLen(size1-1, size2) - shift
	if size1 != 1<<uint(shift) {
		n++ // the root of the subtree of 2^shift leaves ending at size1
	}
	return n
}

// memTree is a whole Merkle tree in memory, every complete subtree's hash
// kept level by level (about 64 bytes per leaf). VerifyExport uses it to
// find where an export departs from a signed tree.
type memTree struct {
	rng    *compact.Range
	levels [][]byte // levels[l] holds the level-l hashes back to back
}

func newMemTree() *memTree { return &memTree{rng: factory.NewEmptyRange(0)} }

func (t *memTree) size() uint64 { return t.rng.End() }

func (t *memTree) append(leafHash []byte) {
	// Append fails only on a corrupted range, which a memTree never has.
	_ = t.rng.Append(leafHash, func(id compact.NodeID, h []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		t.levels[id.Level] = append(t.levels[id.Level], h...)
	})
}

func (t *memTree) node(id compact.NodeID) ([]byte, error) {
	if id.Level >= uint(len(t.levels)) || id.Index >= uint64(len(t.levels[id.Level])/HashSize) {
		return nil, fmt.Errorf("tree has no node %d at level %d", id.Index, id.Level)
	}
	off := id.Index * HashSize
	return t.levels[id.Level][off : off+HashSize : off+HashSize], nil
}

// root returns the root of the whole tree.
func (t *memTree) root() []byte {
	if t.size() == 0 {
		return EmptyRoot()
	}
	root, _ := t.rng.GetRootHash(nil)
	return root
}
