// Package esdb implements the eventstore contract on EventStoreDB (now
// KurrentDB) through the official Go client,
// github.com/EventStore/EventStore-Client-Go/v4 (v4.2.0). It is the store
// for deployments that outgrow one machine: a three-node cluster keeps
// the ledger, and several parledger instances, each with its own
// projections, serve it behind a load balancer (docs/deployment.md).
//
// # Streams and events
//
// A parledger stream is an EventStoreDB stream of the same name (after an
// optional namespace, Options.Namespace). A parledger event is one
// EventStoreDB event: the same event id, the same type, content type
// application/json, the payload as data byte for byte (the compact JSON
// the content hash covers), and a JSON object as user metadata that
// carries the rest of the envelope: schema version, actor, reason,
// correlation and causation ids, the metadata map, the content hash, the
// recorded time, the id of the append that wrote it and, for imported
// events, their original position and revision. docs/deployment.md
// documents the exact mapping.
//
// Every read rebuilds the event and checks its content hash, so an event
// edited in the database is refused with eventstore.ErrHashMismatch.
//
// # Positions
//
// An event's eventstore.Position is its EventStoreDB commit position in
// $all. For every event written through gRPC (all of parledger's) the
// commit and prepare positions are equal, so the commit position alone
// orders $all; an event whose positions differ (written in an explicit
// TCP transaction) is refused as corrupt. Positions are byte offsets in
// the server's log: increasing, never reused, not gapless.
//
// EventStoreDB accepts only real record boundaries as read and
// subscription start positions, while the contract accepts any position
// ("from 0", "after the last event I saw"). The store therefore remembers
// the positions of the events it has seen and starts at the nearest one
// at or before the requested position, skipping what comes before it
// (see bounds).
//
// # The global log
//
// $all holds every event of the cluster; parledger's are those whose
// stream starts with one of Options.StreamPrefixes. Subscriptions filter
// $all on the server by those prefixes. Reads of $all are filtered by the
// store: client v4.2.0 sends no filter with a read.
//
// # Defences against the client
//
// Client v4.2.0 has weaknesses the store works around: a dropped
// subscription never resumes (Subscribe resubscribes from the last event
// with backoff and jitter and counts it); reads have no deadline (every
// page of a read has one); a client whose node discovery failed is closed
// for good and may leave calls blocked (the store runs client calls in
// their own goroutines with deadlines, lets one call at a time test an
// unreachable server, and replaces the client); closing a client under a
// running call panics (a replaced client is closed after its last call);
// an unknown response message panics (the store never asks for one). See
// docs/deployment.md.
//
// # Testing
//
// Package esdbtest is a protocol test double of EventStoreDB, in process,
// that the store's tests run against on every go test; the compliance
// suite also runs against a real server when PARLEDGER_TEST_ESDB holds its
// connection string.
package esdb
