/*
Package transparency makes parledger's ledger verifiable by anyone: the
global log is a Merkle tree (RFC 6962 / RFC 9162 hashing, as in
Certificate Transparency), the server signs checkpoints of it, and anyone
can check inclusion and consistency proofs, online or offline, with this
package or with any RFC 6962 verifier (github.com/transparency-dev/merkle
has one). docs/verification.md explains it for auditors.

# The tree

Leaf i is the event at index i of the global log (0-based, in log order);
its hash is RFC 6962's leaf hash of eventstore.LeafBytes: the content hash
(id, stream, type, schema version, actor, reason, correlation and causation
ids, payload, metadata), the stream revision and the recorded time. The
global position is not in the leaf, so a ledger exported from one store and
imported into another gives the same tree.

# The Merkle log on the server

A Log keeps the tree in its own bbolt file (FileName, beside the ledger):
leaf hashes, the hashes of complete subtrees, and an event id index. It is
derived data. Follow builds it from the store and keeps it in step; when it
starts it checks every event already in the tree against its recorded leaf,
so an event edited, deleted, inserted or reordered in the store behind its
back is reported (ErrLedgerChanged, naming the leaf, position and event)
instead of being folded into a new tree. Audit repeats that check on
demand. Remove the file and it is rebuilt; VerifyCheckpoint then tells
whether the rebuilt tree still matches the last published checkpoint.

Serving it (the wiring in http/ and cmd/ is done elsewhere):

	lg, err := transparency.Open(filepath.Join(dataDir, transparency.FileName), transparency.Options{Logger: logger})
	signer, err := transparency.LoadOrCreateKey(dataDir, transparency.DefaultOrigin)
	go lg.Follow(ctx, store) // returns nil when ctx ends; lg.Err() after a failure

	GET /api/v1/ledger/checkpoint                         lg.Checkpoint(signer)      signed note, text/plain
	GET /api/v1/ledger/key                                signer.VerifierKey()      text/plain
	GET /api/v1/ledger/proof/inclusion?event=ID&size=N    lg.ProveEvent(&e, N)      InclusionProof JSON
	GET /api/v1/ledger/proof/inclusion?position=P&size=N  the event at P, then ProveEvent
	GET /api/v1/ledger/proof/consistency?from=M&to=N      lg.ConsistencyProof(M, N) ConsistencyProof JSON

ErrOutOfRange maps to 400, ErrNotFound to 404, ErrLedgerChanged to 500
with the message (and an alarm): the ledger was changed behind the store.

# Checkpoints

A checkpoint is the transparency-log checkpoint text (origin, size, base64
root, a "time" extension line) signed as a golang.org/x/mod/sumdb/note
with an Ed25519 key that LoadOrCreateKey makes on first start and keeps in
the data directory (mode 0600, never served). ParseCheckpoint reads one
strictly and checks its signature.

# Verifying

An auditor's online check: fetch the checkpoint, ParseCheckpoint it with
the published key (NewVerifier), fetch the consistency proof from the size
of the checkpoint saved last time (ReadCheckpointFile), check it with
VerifyConsistencyWith, then WriteCheckpointFile the new one. VerifyInclusion
and VerifyEventInclusion check an event's proof. Offline, VerifyExport
checks an NDJSON export against a checkpoint and names the first event
that differs.
*/
package transparency
