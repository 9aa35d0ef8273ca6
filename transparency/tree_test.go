package transparency

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/testonly"
)

// MustOpenLog opens a Log in a new directory and closes it when the test
// ends.
func MustOpenLog(tb testing.TB) *Log {
	tb.Helper()
	l, err := Open(filepath.Join(tb.TempDir(), FileName), Options{})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// testLeaf returns the leaf hash of a synthetic leaf i.
func testLeaf(i uint64) []byte {
	return hasher.HashLeaf(binary.BigEndian.AppendUint64([]byte("leaf "), i))
}

// TestRFC6962Vectors checks the tree against transparency-dev/merkle's
// RFC 6962 test vectors: every node hash, every root, every compact range.
func TestRFC6962Vectors(t *testing.T) {
	inputs, nodes, roots, compacts := testonly.LeafInputs(), testonly.NodeHashes(), testonly.RootHashes(), testonly.CompactTrees()
	l := MustOpenLog(t)
	if got := l.Size(); got != 0 {
		t.Fatalf("Size of a new log = %d, want 0", got)
	}
	if got, _ := l.Root(0); !bytes.Equal(got, testonly.EmptyRootHash()) {
		t.Fatalf("empty root = %x, want %x", got, testonly.EmptyRootHash())
	}
	for i, in := range inputs {
		if err := l.appendLeaves([][]byte{hasher.HashLeaf(in)}); err != nil {
			t.Fatal(err)
		}
		size := uint64(i + 1)
		if root, _ := l.Root(size); !bytes.Equal(root, roots[size]) {
			t.Errorf("root at size %d = %x, want %x", size, root, roots[size])
		}
		l.mu.RLock()
		hashes := l.rng.Hashes()
		l.mu.RUnlock()
		if len(hashes) != len(compacts[size]) {
			t.Fatalf("compact range at size %d has %d hashes, want %d", size, len(hashes), len(compacts[size]))
		}
		for j := range hashes {
			if !bytes.Equal(hashes[j], compacts[size][j]) {
				t.Errorf("compact range at size %d, hash %d = %x, want %x", size, j, hashes[j], compacts[size][j])
			}
		}
	}
	// Every root again, now from the stored nodes rather than the head.
	for size := range roots {
		if root, err := l.Root(uint64(size)); err != nil || !bytes.Equal(root, roots[size]) {
			t.Errorf("Root(%d) = %x, %v; want %x", size, root, err, roots[size])
		}
	}
	err := l.view(func(r nodeReader) error {
		for level := range nodes {
			for index, want := range nodes[level] {
				got, err := r.node(compact.NewNodeID(uint(level), uint64(index)))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("node %d at level %d = %x, %v; want %x", index, level, got, err, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The in-memory tree VerifyExport uses gives the same hashes.
	mt := newMemTree()
	for i, in := range inputs {
		mt.append(hasher.HashLeaf(in))
		if got := mt.root(); !bytes.Equal(got, roots[i+1]) {
			t.Errorf("memTree root at size %d = %x, want %x", i+1, got, roots[i+1])
		}
	}
}

// TestProofsUpTo1000 checks the root, inclusion and consistency proofs of
// every tree size up to 1000 against transparency-dev/merkle's reference
// tree and verifier: every index and every earlier size for sizes up to
// 64, a sample beyond.
func TestProofsUpTo1000(t *testing.T) {
	const n = 1000
	ref := testonly.New(hasher)
	l := MustOpenLog(t)
	path := l.path
	rnd := rand.New(rand.NewPCG(1, 2))
	// Append in batches of varied sizes, reopening the file once, so that
	// tiles are continued across transactions and restarts.
	for size := uint64(0); size < n; {
		k := min(uint64(1+rnd.IntN(40)), n-size)
		batch := make([][]byte, k)
		for i := range batch {
			batch[i] = testLeaf(size + uint64(i))
		}
		if err := l.appendLeaves(batch); err != nil {
			t.Fatal(err)
		}
		ref.Append(batch...)
		size += k
		if size > n/2 && size-k <= n/2 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			var err error
			if l, err = Open(path, Options{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			if l.Size() != size {
				t.Fatalf("reopened at size %d, want %d", l.Size(), size)
			}
		}
	}
	sample := func(limit uint64, all bool) []uint64 {
		if all {
			out := make([]uint64, limit)
			for i := range out {
				out[i] = uint64(i)
			}
			return out
		}
		out := []uint64{0, limit - 1, limit / 2}
		for range 5 {
			out = append(out, rnd.Uint64N(limit))
		}
		return out
	}
	for size := uint64(1); size <= n; size++ {
		root, err := l.Root(size)
		if err != nil || !bytes.Equal(root, ref.HashAt(size)) {
			t.Fatalf("Root(%d) = %x, %v; want %x", size, root, err, ref.HashAt(size))
		}
		for _, index := range sample(size, size <= 64) {
			p, err := l.InclusionProof(index, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
			}
			if err := proof.VerifyInclusion(hasher, index, size, testLeaf(index), p, root); err != nil {
				t.Fatalf("InclusionProof(%d, %d) does not verify: %v", index, size, err)
			}
			if want, _ := ref.InclusionProof(index, size); !equalHashes(p, want) {
				t.Fatalf("InclusionProof(%d, %d) differs from the reference", index, size)
			}
			if got, want := len(p), inclusionLen(index, size); got != want {
				t.Fatalf("inclusionLen(%d, %d) = %d, the proof has %d", index, size, want, got)
			}
		}
		for _, size1 := range append(sample(size, size <= 64), size) {
			p, err := l.ConsistencyProof(size1, size)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size, err)
			}
			if err := proof.VerifyConsistency(hasher, size1, size, p, ref.HashAt(size1), root); err != nil {
				t.Fatalf("ConsistencyProof(%d, %d) does not verify: %v", size1, size, err)
			}
			if want, _ := ref.ConsistencyProof(size1, size); !equalHashes(p, want) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from the reference", size1, size)
			}
			if got, want := len(p), consistencyLen(size1, size); got != want {
				t.Fatalf("consistencyLen(%d, %d) = %d, the proof has %d", size1, size, want, got)
			}
		}
	}

	t.Run("ErrOutOfRange", func(t *testing.T) {
		for name, err := range map[string]error{
			"Root":                   second(l.Root(n + 1)),
			"InclusionBeyondSize":    second(l.InclusionProof(n, n)),
			"InclusionBeyondTree":    second(l.InclusionProof(3, n+1)),
			"ConsistencyBeyondTree":  second(l.ConsistencyProof(3, n+1)),
			"ConsistencyBackwards":   second(l.ConsistencyProof(5, 4)),
			"LeafHashBeyondTree":     second(l.LeafHash(n)),
			"InclusionInEmptyPrefix": second(l.InclusionProof(0, 0)),
		} {
			if !isOutOfRange(err) {
				t.Errorf("%s: err = %v, want ErrOutOfRange", name, err)
			}
		}
	})
}

func second[T any](_ T, err error) error { return err }

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// big is a tree of 1,000,000 leaves, built once for the tests and
// benchmarks that need it, in a directory TestMain removes.
var big struct {
	once sync.Once
	dir  string
	log  *Log
	err  error
}

const bigSize = 1_000_000

func bigLog(tb testing.TB) *Log {
	tb.Helper()
	big.once.Do(func() {
		if big.dir, big.err = os.MkdirTemp("", "merkle-1m-"); big.err != nil {
			return
		}
		if big.log, big.err = Open(filepath.Join(big.dir, FileName), Options{}); big.err != nil {
			return
		}
		const batch = 1 << 16
		leaves := make([][]byte, 0, batch)
		for i := uint64(0); i < bigSize; i++ {
			leaves = append(leaves, testLeaf(i))
			if len(leaves) == batch || i == bigSize-1 {
				if big.err = big.log.appendLeaves(leaves); big.err != nil {
					return
				}
				leaves = leaves[:0]
			}
		}
	})
	if big.err != nil {
		tb.Fatalf("building the 1,000,000-leaf tree: %v", big.err)
	}
	return big.log
}

func TestMain(m *testing.M) {
	code := m.Run()
	if big.log != nil {
		_ = big.log.Close()
	}
	if big.dir != "" {
		_ = os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// TestProofsRandomSizesTo1M checks proofs at random sizes and indexes of a
// tree of a million leaves against the reference tree and verifier.
func TestProofsRandomSizesTo1M(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a tree of a million leaves")
	}
	l := bigLog(t)
	ref := testonly.New(hasher)
	for i := uint64(0); i < bigSize; i++ {
		ref.Append(testLeaf(i))
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	sizes := []uint64{bigSize, bigSize - 1, 1 << 19, 1<<19 + 1}
	for range 200 {
		sizes = append(sizes, 1+rnd.Uint64N(bigSize))
	}
	for _, size := range sizes {
		root, err := l.Root(size)
		if err != nil || !bytes.Equal(root, ref.HashAt(size)) {
			t.Fatalf("Root(%d) = %x, %v; want %x", size, root, err, ref.HashAt(size))
		}
		index := rnd.Uint64N(size)
		p, err := l.InclusionProof(index, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(hasher, index, size, testLeaf(index), p, root); err != nil {
			t.Fatalf("InclusionProof(%d, %d) does not verify: %v", index, size, err)
		}
		size1 := 1 + rnd.Uint64N(size)
		c, err := l.ConsistencyProof(size1, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(hasher, size1, size, c, ref.HashAt(size1), root); err != nil {
			t.Fatalf("ConsistencyProof(%d, %d) does not verify: %v", size1, size, err)
		}
	}
	info, err := os.Stat(l.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("merkle.db for %d leaves: %.1f MB (%.0f bytes per leaf)", bigSize, float64(info.Size())/1e6, float64(info.Size())/bigSize)
}

// BenchmarkInclusionProof1M measures one inclusion proof at a random index
// of a tree of a million leaves (the tree is built once, outside the
// measurement).
func BenchmarkInclusionProof1M(b *testing.B) {
	l := bigLog(b)
	rnd := rand.New(rand.NewPCG(5, 6))
	for b.Loop() {
		if _, err := l.InclusionProof(rnd.Uint64N(bigSize), bigSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsistencyProof1M measures one consistency proof from a random
// size to a million leaves.
func BenchmarkConsistencyProof1M(b *testing.B) {
	l := bigLog(b)
	rnd := rand.New(rand.NewPCG(7, 8))
	for b.Loop() {
		if _, err := l.ConsistencyProof(1+rnd.Uint64N(bigSize), bigSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoot1M measures the root of a random earlier size of a tree of
// a million leaves (the current size's root is kept in memory).
func BenchmarkRoot1M(b *testing.B) {
	l := bigLog(b)
	rnd := rand.New(rand.NewPCG(9, 10))
	for b.Loop() {
		if _, err := l.Root(1 + rnd.Uint64N(bigSize-1)); err != nil {
			b.Fatal(err)
		}
	}
}

func isOutOfRange(err error) bool { return errors.Is(err, ErrOutOfRange) }
