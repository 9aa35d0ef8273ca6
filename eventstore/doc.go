/*
Package eventstore is the contract of parledger's ledger storage: the
event envelope, the Store interface every store implements, the error
families callers test with errors.Is, and the encodings that must never
change.

# Events

An EventData is what a writer decides (id, type, schema version, actor,
reason, correlation and causation ids, a JSON payload, metadata). A store
records it in a stream as an Event, adding the stream revision, the global
position and the recorded time. The content hash is SHA-256 of the
canonical encoding of the stream name and the EventData (Canonical); it
does not cover what the store assigns. The encoding is documented byte by
byte in docs/encoding.md and pinned by TestCanonicalGolden.

# Stores

A Store appends to a stream at an expected revision (a mismatch is a
*ConflictError, nothing written), recognises a retried append by its event
ids, reads a stream or the global log as iterators that end with an error
rather than early, and delivers the log to subscribers, catching up and
then live. Every store calls PrepareAppend (or PrepareAppendTo) before it
writes, so the limits (MaxPayloadSize, MaxBatchEvents, ...) and the rules
for names and text are the same everywhere; eventstore/storetest is the
compliance suite each store runs.

# Moving a ledger

Export writes a store's whole log as NDJSON, one self-checking event per
line; Import reads such a file back into another store after checking all
of it, and skips what the destination already holds, so importing the same
file twice is a no-op.
*/
package eventstore
