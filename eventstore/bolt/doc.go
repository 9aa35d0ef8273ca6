/*
Package bolt is parledger's embedded event store: a write-ahead log and a
bbolt file (ledger.db) in one data directory. docs/storage.md says what it
promises an operator; docs/encoding.md gives its file formats.

# Writing

An Append checks its request on the caller's goroutine, against the state
the log will have once every group before it is durable, and joins the
group being built. A syncer goroutine writes each group to the
write-ahead log with one synchronous write, then publishes it to
memory and answers its appends: an append returns only after its events
are on disk. The next group fills while the syncer waits for the disk. If a
write fails, nothing of it, or of the group checked against it, is
acknowledged.

# ledger.db

An applier goroutine commits acknowledged events to ledger.db in large
transactions, in blocks of consecutive events (block.go), with a stream
index and an id index, then releases the log segments it no longer needs.
Open converts a ledger.db of the first format, one event per key
(migrate.go). Until then reads are served from memory, so a
read sees every acknowledged event at once. Open replays whatever the log
holds beyond ledger.db.

# Checks

Every record carries a CRC checked on every read; Verify checks the whole
file (positions, revisions, content hashes, indexes). Damage is an
eventstore.ErrCorrupt error, never data, and never a silent truncation.
*/
package bolt
