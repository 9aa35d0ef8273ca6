package eventstore

import "encoding/binary"

// leafMagic opens every Merkle leaf: "PLL" and format 1.
var leafMagic = [4]byte{'P', 'L', 'L', 1}

// LeafSize is the length of every LeafBytes result.
const LeafSize = len(leafMagic) + 8 + 8 + len(Hash{})

// LeafBytes returns the Merkle tree leaf of a recorded event: what the
// verifiable ledger (package transparency) commits to for e. It binds the
// event's content, its place in its stream and its recorded time, so an
// edit of any of them changes the leaf. The encoding is fixed forever
// (docs/verification.md; a test pins it with golden bytes):
//
//	magic       4 bytes  "PLL" 0x01
//	revision    8 bytes  big-endian stream revision
//	recorded at 8 bytes  big-endian signed Unix nanoseconds (UTC)
//	content     32 bytes the content hash (SHA-256 of Canonical)
//
// The leaf hash is RFC 6962's: SHA-256(0x00 || LeafBytes(e)). The content
// hash covers the id, stream, type, schema version, actor, reason,
// correlation and causation ids, payload and metadata. The global position
// is not in the leaf: it is the leaf's index in the tree (0-based, in log
// order), so a ledger moved to another store, where positions differ,
// gives the same tree. LeafBytes trusts e.ContentHash; verify it first
// (Event.VerifyHash) when e comes from outside.
func LeafBytes(e *Event) []byte {
	return AppendLeaf(make([]byte, 0, LeafSize), e)
}

// AppendLeaf appends LeafBytes(e) to b and returns the result.
func AppendLeaf(b []byte, e *Event) []byte {
	b = append(b, leafMagic[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Revision)
	b = binary.BigEndian.AppendUint64(b, uint64(e.RecordedAt.UnixNano()))
	return append(b, e.ContentHash[:]...)
}
