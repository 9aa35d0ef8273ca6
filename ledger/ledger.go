// Package ledger executes parledger's commands: it loads the state of a
// stream from the event store, lets the domain decide, and appends the
// events at the expected revision, retrying on a concurrent change. It is
// the one write path of the system.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// Request carries what the caller says about a command besides its body.
type Request struct {
	// Principal is who asks; recorded on every event.
	Principal domain.Principal
	// IdempotencyKey, when set, makes a retry of the same command return
	// the original result instead of recording it again.
	IdempotencyKey string
	// RequestHash fingerprints the request (method, path and body), so
	// that a key reused for a different request is refused, not replayed.
	RequestHash string
	// IfMatch, when set, is the revision the caller last saw; the command
	// fails with EPRECONDITION if the stream has moved on.
	IfMatch *uint64
	// CorrelationID ties the events to the request that caused them.
	CorrelationID string
}

// Result describes the events a command recorded.
type Result struct {
	// Events recorded (or, for a replayed idempotent request, recorded by
	// the original request).
	Events []eventstore.Event
	// Revision is the stream's revision after the command; Exists is
	// false if the stream still has no events.
	Revision uint64
	Exists   bool
	// Replayed is true when the command was recognised as a retry.
	Replayed bool
}

// Observer receives what the service does, for metrics.
type Observer interface {
	// Appended is called after every append attempt with the event types,
	// its duration and its error (nil on success).
	Appended(types []string, d time.Duration, err error)
}

// Service runs commands against a store. It is safe for concurrent use.
type Service struct {
	store    eventstore.Store
	clock    func() time.Time
	observer Observer

	mu        sync.Mutex
	campaigns map[string]*domain.Campaign // by id, at their last known revision
	streams   map[string]*streamLock      // commands in progress, by stream
}

// streamLock serializes the commands of this process on one stream, so
// that they do not race each other to the same revision; writers in other
// processes are still met by the store's expected-revision check.
type streamLock struct {
	mu    sync.Mutex
	users int
}

// lockStream takes the stream's lock and returns its release.
func (s *Service) lockStream(stream string) func() {
	s.mu.Lock()
	l := s.streams[stream]
	if l == nil {
		l = &streamLock{}
		s.streams[stream] = l
	}
	l.users++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.users--; l.users == 0 {
			delete(s.streams, stream)
		}
		s.mu.Unlock()
	}
}

// Options configures NewService.
type Options struct {
	// Clock is the time the domain's rules see; nil means time.Now. The
	// demo passes the same simulated clock as the store's.
	Clock func() time.Time
	// Observer, if set, is told about every append.
	Observer Observer
}

// NewService returns a service writing to store.
func NewService(store eventstore.Store, opts Options) *Service {
	s := &Service{store: store, clock: opts.Clock, observer: opts.Observer, campaigns: make(map[string]*domain.Campaign), streams: make(map[string]*streamLock)}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s
}

// Store returns the underlying store.
func (s *Service) Store() eventstore.Store { return s.store }

// Now returns the service's current time.
func (s *Service) Now() time.Time { return s.clock() }

// maxAttempts bounds the retries of a command that keeps meeting
// concurrent changes.
const maxAttempts = 8

// Decode turns a stored event into a domain event with its metadata.
func Decode(e eventstore.Event) (domain.Recorded, error) {
	ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Payload)
	if err != nil {
		return domain.Recorded{}, fmt.Errorf("event %s at position %d: %w", e.ID, e.Position, err)
	}
	return domain.Recorded{
		Meta: domain.Meta{
			ID: e.ID.String(), Stream: e.Stream, Revision: e.Revision, Position: uint64(e.Position), At: e.RecordedAt,
			Actor:  domain.Principal{ID: e.Actor.ID, Role: domain.Role(e.Actor.Role), Scope: e.Actor.Scope},
			Reason: e.Reason,
		},
		Event: ev,
	}, nil
}

// ReadStream reads and decodes a whole stream. A stream without events is
// no error: it returns nil.
func (s *Service) ReadStream(ctx context.Context, stream string) ([]domain.Recorded, error) {
	return s.readDecoded(ctx, stream, eventstore.ReadStreamOptions{})
}

// readDecoded reads and decodes the events of a stream that opts select;
// a stream without events gives nil.
func (s *Service) readDecoded(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]domain.Recorded, error) {
	var out []domain.Recorded
	for e, err := range s.store.ReadStream(ctx, stream, opts) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, storeError(err)
		}
		r, err := Decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// lastRevision returns a stream's last revision.
func (s *Service) lastRevision(ctx context.Context, stream string) (uint64, bool, error) {
	for e, err := range s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, storeError(err)
		}
		return e.Revision, true, nil
	}
	return 0, false, nil
}

// Campaign returns a campaign's current state. The result is shared and
// must not be modified.
func (s *Service) Campaign(ctx context.Context, id string) (*domain.Campaign, error) {
	if err := domain.ValidateCampaignID(id); err != nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "No campaign %q.", id)
	}
	rev, exists, err := s.lastRevision(ctx, domain.CampaignStream(id))
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, domain.Errorf(domain.ENOTFOUND, "No campaign %q.", id)
	}
	s.mu.Lock()
	c := s.campaigns[id]
	s.mu.Unlock()
	if c != nil && c.Revision == rev {
		return c, nil
	}
	events, err := s.ReadStream(ctx, domain.CampaignStream(id))
	if err != nil {
		return nil, err
	}
	c = &domain.Campaign{}
	for _, r := range events {
		c.Apply(r)
	}
	s.mu.Lock()
	if old := s.campaigns[id]; old == nil || old.Revision < c.Revision {
		s.campaigns[id] = c
	}
	s.mu.Unlock()
	return c, nil
}

// Assessment returns the current state of a unit's assessment.
func (s *Service) Assessment(ctx context.Context, campaign, unit string) (*domain.Assessment, error) {
	events, err := s.ReadStream(ctx, domain.AssessmentStream(campaign, unit))
	if err != nil {
		return nil, err
	}
	a := domain.NewAssessment(campaign, unit)
	for _, r := range events {
		a.Apply(r)
	}
	return a, nil
}

// Frameworks returns every version of a framework in the library, oldest
// first (nil when there is none).
func (s *Service) Frameworks(ctx context.Context, id string) ([]*domain.Framework, error) {
	events, err := s.ReadStream(ctx, domain.FrameworkStream(id))
	if err != nil {
		return nil, err
	}
	var out []*domain.Framework
	for _, r := range events {
		if e, ok := r.Event.(*domain.FrameworkRegistered); ok {
			out = append(out, e.Framework)
		}
	}
	return out, nil
}

// eventData turns decisions into events to append, with deterministic ids
// when the request has an idempotency key.
func eventData(req Request, stream string, ds []domain.Decision) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(ds))
	for i, d := range ds {
		payload, err := domain.EncodeEvent(d.Event)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", d.Event.EventType(), err)
		}
		id := eventstore.NewID()
		var md map[string]string
		if req.IdempotencyKey != "" {
			id = eventstore.DeterministicID(fmt.Sprintf("%s|%s|%s|%d", req.Principal.ID, req.IdempotencyKey, stream, i))
			md = map[string]string{metaIdempotencyKey: req.IdempotencyKey}
			if req.RequestHash != "" {
				md[metaRequestHash] = req.RequestHash
			}
		}
		out[i] = eventstore.EventData{
			ID: id, Type: d.Event.EventType(), SchemaVersion: domain.SchemaVersionOf(d.Event.EventType()),
			Actor:  eventstore.Actor{ID: req.Principal.ID, Role: string(req.Principal.Role), Scope: req.Principal.Scope},
			Reason: d.Reason, CorrelationID: req.CorrelationID, Payload: payload, Metadata: md,
		}
	}
	return out, nil
}

// metaIdempotencyKey is the metadata key holding a request's idempotency
// key on the events it caused.
const metaIdempotencyKey = "idempotency-key"

// metaRequestHash is the metadata key holding the fingerprint of that
// request.
const metaRequestHash = "request-sha256"

// replayWindow is how far back a stream is searched for a request's
// idempotency key.
const replayWindow = 500

// replayed looks for events recorded by an earlier request with the same
// idempotency key from the same principal on stream.
func (s *Service) replayed(ctx context.Context, req Request, stream string) (Result, bool, error) {
	if req.IdempotencyKey == "" {
		return Result{}, false, nil
	}
	var found []eventstore.Event
	for e, err := range s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: replayWindow}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return Result{}, false, nil
		}
		if err != nil {
			return Result{}, false, storeError(err)
		}
		if e.Metadata[metaIdempotencyKey] == req.IdempotencyKey && e.Actor.ID == req.Principal.ID {
			if h := e.Metadata[metaRequestHash]; h != "" && req.RequestHash != "" && h != req.RequestHash {
				return Result{}, false, domain.Errorf(domain.ECONFLICT, "This Idempotency-Key was already used for a different request; use a new key.")
			}
			found = append(found, e)
		} else if len(found) > 0 {
			break
		}
	}
	if len(found) == 0 {
		return Result{}, false, nil
	}
	slices.Reverse(found)
	// The answer of the original request: the revision its last event made.
	return Result{Events: found, Revision: found[len(found)-1].Revision, Exists: true, Replayed: true}, true, nil
}

// execute appends decisions to stream at the expected revision.
func (s *Service) execute(ctx context.Context, req Request, stream string, expected eventstore.ExpectedRevision, ds []domain.Decision) (Result, error) {
	data, err := eventData(req, stream, ds)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	res, err := s.store.Append(ctx, stream, expected, data...)
	if s.observer != nil {
		types := make([]string, len(data))
		for i := range data {
			types[i] = data[i].Type
		}
		s.observer.Appended(types, time.Since(start), err)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Events: res.Events, Revision: res.LastRevision(), Exists: true, Replayed: res.Duplicate}, nil
}

// command runs load-decide-append on one stream, retrying when another
// writer got there first (unless the caller pinned a revision with
// If-Match).
func (s *Service) command(ctx context.Context, req Request, stream string, decide func() (rev uint64, exists bool, ds []domain.Decision, err error)) (Result, error) {
	defer s.lockStream(stream)()
	if r, ok, err := s.replayed(ctx, req, stream); err != nil || ok {
		return r, err
	}
	for attempt := 1; ; attempt++ {
		rev, exists, ds, err := decide()
		if err != nil {
			return Result{}, err
		}
		if req.IfMatch != nil && (!exists || rev != *req.IfMatch) {
			return Result{}, preconditionFailed(stream, rev, exists, *req.IfMatch)
		}
		if len(ds) == 0 {
			return Result{Revision: rev, Exists: exists}, nil
		}
		expected := eventstore.NoStream
		if exists {
			expected = eventstore.Exact(rev)
		}
		res, err := s.execute(ctx, req, stream, expected, ds)
		if errors.Is(err, eventstore.ErrConflict) && !errors.Is(err, eventstore.ErrDuplicateEventID) {
			if req.IfMatch != nil {
				cur, ok, _ := s.lastRevision(ctx, stream)
				return Result{}, preconditionFailed(stream, cur, ok, *req.IfMatch)
			}
			if attempt < maxAttempts {
				// Another process wrote first: back off a little, with jitter.
				time.Sleep(time.Duration(attempt*attempt) * time.Duration(1+rand.IntN(1000)) * time.Microsecond)
				continue
			}
			return Result{}, domain.Errorf(domain.ECONFLICT, "The record changed %d times while this request was applied; try again.", maxAttempts)
		}
		if err != nil {
			return Result{}, storeError(err)
		}
		return res, nil
	}
}

func preconditionFailed(stream string, rev uint64, exists bool, want uint64) error {
	if !exists {
		return domain.Errorf(domain.EPRECONDITION, "If-Match names revision %d, but the record has no revision yet.", want)
	}
	return domain.Errorf(domain.EPRECONDITION, "If-Match names revision %d, but the record is at revision %d; reload it and try again.", want, rev)
}

// storeError turns a store error into an application error.
func storeError(err error) error {
	var de *domain.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrClosed):
		// The store may have written an append whose answer it lost (a
		// dropped connection): only a retry with the same key can tell.
		return &domain.Error{Code: domain.EUNAVAILABLE, Message: "The ledger's storage cannot take this request now (disk full, I/O error or store unreachable). Retry shortly with the same Idempotency-Key: a retry is never recorded twice, and tells whether this request was."}
	case errors.Is(err, eventstore.ErrDuplicateEventID):
		return domain.Errorf(domain.ECONFLICT, "This Idempotency-Key was already used for a different request.")
	case errors.Is(err, eventstore.ErrInvalid):
		return domain.Errorf(domain.EINVALID, "%s", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	return err
}
