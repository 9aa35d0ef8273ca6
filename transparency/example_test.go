package transparency_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/transparency"
)

// The server keeps the Merkle log and signs checkpoints; an auditor checks
// that a new checkpoint extends the one saved last time, and that an event
// is in the log.
func Example() {
	dir, err := os.MkdirTemp("", "parledger-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Server side (normally fed by Follow from the store).
	lg, err := transparency.Open(filepath.Join(dir, transparency.FileName), transparency.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer lg.Close()
	signer, err := transparency.LoadOrCreateKey(dir, transparency.DefaultOrigin)
	if err != nil {
		log.Fatal(err)
	}
	events := make([]eventstore.Event, 5)
	for i := range events {
		e := &events[i]
		e.ID = eventstore.DeterministicID(fmt.Sprint("example-", i))
		e.Type, e.SchemaVersion, e.Payload = "SelfScoreRecorded", 1, []byte(fmt.Sprintf(`{"n":%d}`, i))
		e.Stream, e.Revision, e.Position = "assessment-hanoi-2017-SNV", uint64(i), eventstore.Position(i+1)
		e.RecordedAt = time.Date(2017, 3, 1, 8, i, 0, 0, time.UTC)
		e.ContentHash = e.ComputeHash()
	}
	_ = lg.Append(events[:3]...)
	saved, _ := lg.Checkpoint(signer) // the auditor saved this one last month
	_ = lg.Append(events[3:]...)
	latest, _ := lg.Checkpoint(signer)

	// Auditor side: the published key, the saved and the latest checkpoint.
	verifier, err := transparency.NewVerifier(signer.VerifierKey())
	if err != nil {
		log.Fatal(err)
	}
	old, err := transparency.ParseCheckpoint(saved, verifier)
	if err != nil {
		log.Fatal(err)
	}
	now, err := transparency.ParseCheckpoint(latest, verifier)
	if err != nil {
		log.Fatal(err)
	}
	hashes, _ := lg.ConsistencyProof(old.Size, now.Size)
	fmt.Println("consistent:", transparency.VerifyConsistencyWith(old, now, hashes) == nil)
	p, _ := lg.ProveEvent(&events[1], now.Size)
	fmt.Println("event 1 included:", transparency.VerifyEventInclusion(now, &events[1], p) == nil)
	// Output:
	// consistent: true
	// event 1 included: true
}

// An auditor needs none of parledger's code: the signed checkpoint is a
// standard note, the proof plain JSON, the hashing RFC 6962's. This is
// the program docs/verification.md shows.
func Example_independentVerifier() {
	dir, err := os.MkdirTemp("", "parledger-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lg, _ := transparency.Open(filepath.Join(dir, transparency.FileName), transparency.Options{})
	defer lg.Close()
	signer, _ := transparency.LoadOrCreateKey(dir, transparency.DefaultOrigin)
	e := eventstore.Event{Stream: "s", Position: 1, RecordedAt: time.Date(2017, 3, 1, 8, 0, 0, 0, time.UTC)}
	e.ID, e.Type, e.SchemaVersion, e.Payload = eventstore.DeterministicID("x"), "T", 1, []byte(`{}`)
	e.ContentHash = e.ComputeHash()
	_ = lg.Append(e)
	// What the server serves.
	checkpointNote, _ := lg.Checkpoint(signer)
	publicKey := signer.VerifierKey()
	ip, _ := lg.ProveEvent(&e, 0)
	proofJSON, _ := json.Marshal(ip)

	// The auditor's program.
	v, err := note.NewVerifier(publicKey)
	if err != nil {
		log.Fatal(err)
	}
	cp, _, _, err := tlog.ParseCheckpoint(checkpointNote, "parledger.hanoi.gov.vn/par-ledger", v)
	if err != nil {
		log.Fatal(err)
	}
	var p struct {
		LeafIndex uint64   `json:"leafIndex"`
		TreeSize  uint64   `json:"treeSize"`
		LeafHash  []byte   `json:"leafHash"`
		Hashes    [][]byte `json:"hashes"`
	}
	if err := json.Unmarshal(proofJSON, &p); err != nil {
		log.Fatal(err)
	}
	// The leaf: "PLL" 1, revision, recorded time (Unix ns), content hash;
	// RFC 6962 hashes it as SHA-256(0x00 || leaf).
	leaf := append([]byte("PLL\x01"), make([]byte, 16)...)
	for i := 0; i < 8; i++ {
		leaf[4+i] = byte(e.Revision >> (56 - 8*i))
		leaf[12+i] = byte(uint64(e.RecordedAt.UnixNano()) >> (56 - 8*i))
	}
	content := sha256.Sum256(eventstore.Canonical(e.Stream, &e.EventData)) // or the export's contentHash
	leaf = append(leaf, content[:]...)
	leafHash := rfc6962.DefaultHasher.HashLeaf(leaf)
	err = proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, cp.Size, leafHash, p.Hashes, cp.Hash)
	fmt.Println("included:", err == nil)
	// Output:
	// included: true
}
