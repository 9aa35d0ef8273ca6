package esdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// envelopeFormat is the version of the user metadata layout; readers
// refuse others.
const envelopeFormat = 1

// contentTypeJSON is the content type EventStoreDB reports for events
// written with esdb.ContentTypeJson.
const contentTypeJSON = "application/json"

// envelope is the user metadata of a parledger event in EventStoreDB: the
// fields of the contract's envelope that are not the event id, type,
// stream, revision, position or payload (docs/deployment.md). The
// correlation and causation ids use the keys EventStoreDB's system
// projections read.
type envelope struct {
	Format        int               `json:"parledger"`
	SchemaVersion uint32            `json:"schemaVersion"`
	Actor         eventstore.Actor  `json:"actor"`
	Reason        string            `json:"reason,omitempty"`
	CorrelationID string            `json:"$correlationId,omitempty"`
	CausationID   string            `json:"$causationId,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	ContentHash   eventstore.Hash   `json:"contentHash"`
	RecordedAt    time.Time         `json:"recordedAt"`
	// AppendID identifies the append (or import batch) that wrote the
	// event: a read-back that finds another one was a retry.
	AppendID uuid.UUID `json:"appendId"`
	// Imported is set on events copied from another store.
	Imported *imported `json:"imported,omitempty"`
}

// imported records where an imported event was in the source ledger.
type imported struct {
	Position eventstore.Position `json:"position"`
	Revision uint64              `json:"revision"`
}

// encodeEvent builds the EventStoreDB event of d.
func encodeEvent(d *eventstore.EventData, hash eventstore.Hash, at time.Time, appendID uuid.UUID, from *imported) (esdb.EventData, error) {
	meta, err := json.Marshal(envelope{
		Format: envelopeFormat, SchemaVersion: d.SchemaVersion, Actor: d.Actor, Reason: d.Reason,
		CorrelationID: d.CorrelationID, CausationID: d.CausationID, Metadata: d.Metadata,
		ContentHash: hash, RecordedAt: at.UTC(), AppendID: appendID, Imported: from,
	})
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("esdb: encode the envelope of event %s: %w", d.ID, err)
	}
	return esdb.EventData{EventID: d.ID, EventType: d.Type, ContentType: esdb.ContentTypeJson, Data: d.Payload, Metadata: meta}, nil
}

// decoded is an event read from EventStoreDB.
type decoded struct {
	eventstore.Event
	appendID uuid.UUID
}

// maxPosition is what servers before 22.10 report as the $all position of
// an event read from its stream.
const maxPosition = ^uint64(0)

// decode rebuilds the ledger event of a recorded EventStoreDB event and
// checks its content hash. An event that parledger did not write, or
// that was changed since, is an eventstore.ErrCorrupt error (the
// ErrHashMismatch one when its content no longer matches its hash).
func (s *Store) decode(r *esdb.RecordedEvent) (decoded, error) {
	where := func() string {
		return fmt.Sprintf("event %s (EventStoreDB stream %q revision %d)", r.EventID, r.StreamID, r.EventNumber)
	}
	if !s.owns(r.StreamID) {
		return decoded{}, fmt.Errorf("esdb: %w: %s is not in the ledger's streams", eventstore.ErrCorrupt, where())
	}
	if r.Position.Commit == maxPosition {
		return decoded{}, fmt.Errorf("esdb: %s has no $all position: the server is older than EventStoreDB 22.10, which parledger needs", where())
	}
	if r.Position.Commit != r.Position.Prepare {
		return decoded{}, fmt.Errorf("esdb: %w: %s has commit position %d and prepare position %d: it was written in an explicit transaction, not by parledger",
			eventstore.ErrCorrupt, where(), r.Position.Commit, r.Position.Prepare)
	}
	if r.ContentType != contentTypeJSON {
		return decoded{}, fmt.Errorf("esdb: %w: %s has content type %q, not JSON: it was not written by parledger", eventstore.ErrCorrupt, where(), r.ContentType)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(r.UserMetadata))
	if err := dec.Decode(&env); err != nil || env.Format != envelopeFormat {
		return decoded{}, fmt.Errorf("esdb: %w: %s has no parledger envelope (format %d, %v): it was not written by parledger", eventstore.ErrCorrupt, where(), env.Format, err)
	}
	if len(env.Metadata) == 0 {
		env.Metadata = nil
	}
	e := eventstore.Event{
		EventData: eventstore.EventData{
			ID: r.EventID, Type: r.EventType, SchemaVersion: env.SchemaVersion, Actor: env.Actor,
			Reason: env.Reason, CorrelationID: env.CorrelationID, CausationID: env.CausationID,
			Payload: r.Data, Metadata: env.Metadata,
		},
		Stream:      r.StreamID[len(s.ns):],
		Revision:    r.EventNumber,
		Position:    eventstore.Position(r.Position.Commit),
		RecordedAt:  env.RecordedAt.UTC(),
		ContentHash: env.ContentHash,
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	if env.Imported != nil && env.Imported.Revision != e.Revision {
		return decoded{}, fmt.Errorf("esdb: %w: %s was imported as revision %d", eventstore.ErrCorrupt, where(), env.Imported.Revision)
	}
	if err := e.VerifyHash(); err != nil {
		s.m.hashMismatches.Inc()
		return decoded{}, fmt.Errorf("esdb: %w", err)
	}
	return decoded{Event: e, appendID: env.AppendID}, nil
}
