package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parledger/parledger/eventstore"
)

// Postgres is the peer: the events table a team would otherwise build on
// PostgreSQL, written and read through pgx. A global position from a
// bigserial, a unique (stream, version) that makes concurrent writers to
// a stream conflict, the payload as jsonb; each append is one statement
// committed at the server's default durability (synchronous_commit on:
// the commit waits for the WAL to be flushed). It is benchmark code, not
// a store of parledger's: it keeps no content hash it could check, and
// jsonb does not keep the payload's bytes.
type Postgres struct {
	pool *pgxpool.Pool
}

// postgresSchema is the common events table.
const postgresSchema = `
CREATE TABLE IF NOT EXISTS events (
	position       bigserial PRIMARY KEY,
	id             uuid NOT NULL UNIQUE,
	stream         text NOT NULL,
	version        bigint NOT NULL,
	type           text NOT NULL,
	schema_version integer NOT NULL,
	actor_id       text NOT NULL,
	actor_role     text NOT NULL,
	actor_scope    text NOT NULL,
	reason         text NOT NULL,
	payload        jsonb NOT NULL,
	recorded_at    timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream, version)
)`

// OpenPostgres connects to the database at url with up to conns
// connections and creates the events table if it is missing.
func OpenPostgres(ctx context.Context, url string, conns int) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", url, err)
	}
	cfg.MaxConns = int32(max(conns, 1))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := pool.Exec(ctx, postgresSchema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: create the events table: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Close closes the connections.
func (p *Postgres) Close() { p.pool.Close() }

// Reset empties the events table.
func (p *Postgres) Reset(ctx context.Context) error {
	_, err := p.pool.Exec(ctx, `TRUNCATE events RESTART IDENTITY`)
	return err
}

// Settings returns the server's version and the settings that decide
// its durability and write speed.
func (p *Postgres) Settings(ctx context.Context) (string, error) {
	var version, syncCommit, fsync, walSync string
	err := p.pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'), current_setting('fsync'), current_setting('wal_sync_method')`).
		Scan(&version, &syncCommit, &fsync, &walSync)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("PostgreSQL %s, synchronous_commit=%s, fsync=%s, wal_sync_method=%s", version, syncCommit, fsync, walSync), nil
}

const insertEvent = `INSERT INTO events (id, stream, version, type, schema_version, actor_id, actor_role, actor_scope, reason, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// AppendAt writes events to stream as its versions next, next+1, ... in
// one transaction (one statement for a single event). A version already
// taken is ErrConflict: another writer got there first.
func (p *Postgres) AppendAt(ctx context.Context, stream string, next uint64, events []eventstore.EventData) error {
	var err error
	if len(events) == 1 {
		e := &events[0]
		_, err = p.pool.Exec(ctx, insertEvent, e.ID, stream, int64(next), e.Type, int32(e.SchemaVersion), e.Actor.ID, e.Actor.Role, e.Actor.Scope, e.Reason, string(e.Payload))
	} else {
		err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			for i := range events {
				e := &events[i]
				b.Queue(insertEvent, e.ID, stream, int64(next)+int64(i), e.Type, int32(e.SchemaVersion), e.Actor.ID, e.Actor.Role, e.Actor.Scope, e.Reason, string(e.Payload))
			}
			return tx.SendBatch(ctx, b).Close()
		})
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrConflict, pgErr.Message)
	}
	return err
}

// ErrConflict is an append at a version another writer took.
var ErrConflict = errors.New("expected version conflict")

// Import copies recorded events into the table with COPY, keeping their
// streams, versions and recorded times (their positions are new).
func (p *Postgres) Import(ctx context.Context, events []eventstore.Event) error {
	rows := make([][]any, len(events))
	for i := range events {
		e := &events[i]
		rows[i] = []any{e.ID, e.Stream, int64(e.Revision), e.Type, int32(e.SchemaVersion), e.Actor.ID, e.Actor.Role, e.Actor.Scope, e.Reason, string(e.Payload), e.RecordedAt}
	}
	_, err := p.pool.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"id", "stream", "version", "type", "schema_version", "actor_id", "actor_role", "actor_scope", "reason", "payload", "recorded_at"},
		pgx.CopyFromRows(rows))
	return err
}

// Count returns the number of events in the table.
func (p *Postgres) Count(ctx context.Context) (int64, error) {
	var n int64
	err := p.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	return n, err
}

// ReadAll reads the whole table in position order, calling fn with each
// event (the same value each time: copy what you keep). The payload is
// the jsonb as PostgreSQL prints it, not the bytes written.
func (p *Postgres) ReadAll(ctx context.Context, fn func(e *eventstore.Event) error) (int, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `SELECT position, id, stream, version, type, schema_version, actor_id, actor_role, actor_scope, reason, payload, recorded_at FROM events ORDER BY position`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		e        eventstore.Event
		pos, ver int64
		sv       int32
		id       uuid.UUID
		payload  []byte
		at       time.Time
	)
	n := 0
	for rows.Next() {
		if err := rows.Scan(&pos, &id, &e.Stream, &ver, &e.Type, &sv, &e.Actor.ID, &e.Actor.Role, &e.Actor.Scope, &e.Reason, &payload, &at); err != nil {
			return n, err
		}
		e.Position, e.ID, e.Revision, e.SchemaVersion, e.Payload, e.RecordedAt = eventstore.Position(pos), id, uint64(ver), uint32(sv), payload, at
		if err := fn(&e); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
