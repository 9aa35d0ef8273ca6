package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/transparency"
)

// ledgerRoutes registers the verifiable-ledger routes: checkpoints, the
// public key, inclusion and consistency proofs, and events with their
// inclusion status. They answer 404 when the server runs without a Merkle
// log.
func (s *Server) ledgerRoutes() {
	for _, rt := range []struct {
		method, path string
		roles        []domain.Role
		h            handlerFunc
	}{
		{"GET", "/api/v1/ledger/checkpoint", anyone, s.getCheckpoint},
		{"POST", "/api/v1/ledger/checkpoints", homeAffair, s.publishCheckpoint},
		{"GET", "/api/v1/ledger/key", anyone, s.getLedgerKey},
		{"GET", "/api/v1/ledger/proof/inclusion", anyone, s.inclusionProof},
		{"GET", "/api/v1/ledger/proof/consistency", anyone, s.consistencyProof},
		{"GET", "/api/v1/events/{position}", signedIn, s.getEvent},
	} {
		s.handle(rt.method, rt.path, rt.roles, rt.h)
	}
}

func (s *Server) needLog() error {
	if s.Log == nil || s.Signer == nil {
		return domain.Errorf(domain.ENOTFOUND, "This server keeps no Merkle log.")
	}
	return nil
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// PublishCheckpoint signs a checkpoint of the Merkle log as it is now and
// records it in the ledger (once per tree size). It returns the note that
// is recorded: the new one, or, when the tree has not grown since the last
// one (or req is a retry), the one recorded before, with recorded false.
func (s *Server) PublishCheckpoint(ctx context.Context, req ledger.Request) (note string, recorded bool, err error) {
	if err := s.needLog(); err != nil {
		return "", false, err
	}
	cp, err := s.Log.SignedCheckpoint(s.Signer)
	if err != nil {
		return "", false, fmt.Errorf("sign checkpoint: %w", err)
	}
	res, err := s.Service.PublishCheckpoint(ctx, req, cp.Size, cp.Root, cp.Note)
	if err != nil {
		return "", false, err
	}
	if len(res.Events) == 0 {
		latest, err := s.Service.LatestCheckpoint(ctx)
		if err != nil {
			return "", false, err
		}
		if latest == nil {
			return "", false, fmt.Errorf("checkpoint of size %d neither recorded nor found", cp.Size)
		}
		return latest.Note, false, nil
	}
	rec, err := ledger.Decode(res.Events[0])
	if err != nil {
		return "", false, err
	}
	published, ok := rec.Event.(*domain.CheckpointPublished)
	if !ok {
		return "", false, fmt.Errorf("checkpoint stream holds a %s event", res.Events[0].Type)
	}
	return published.Note, !res.Replayed, nil
}

func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	if err := s.needLog(); err != nil {
		return err
	}
	cp, err := s.Service.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	if cp == nil {
		return domain.Errorf(domain.ENOTFOUND, "No checkpoint has been published yet.")
	}
	writeText(w, http.StatusOK, cp.Note)
	return nil
}

func (s *Server) publishCheckpoint(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	req, err := request(r, p)
	if err != nil {
		return err
	}
	note, recorded, err := s.PublishCheckpoint(r.Context(), req)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !recorded {
		status = http.StatusOK // the tree has not grown: the last checkpoint
	}
	writeText(w, status, note)
	return nil
}

func (s *Server) getLedgerKey(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	if err := s.needLog(); err != nil {
		return err
	}
	writeText(w, http.StatusOK, s.Signer.VerifierKey()+"\n")
	return nil
}

// proofError maps the Merkle log's errors to application errors.
func proofError(err error) error {
	switch {
	case errors.Is(err, transparency.ErrOutOfRange):
		return domain.Invalid("The tree does not have that size yet.", domain.FieldError{Field: "size", Detail: err.Error()})
	case errors.Is(err, transparency.ErrNotFound):
		return domain.Errorf(domain.ENOTFOUND, "No such event in the Merkle log.")
	}
	return err
}

// treeSize reads a size parameter, defaulting to the current tree size.
func (s *Server) treeSize(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return s.Log.Size(), nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, domain.Invalid("The tree size is not valid.", domain.FieldError{Field: name, Detail: "a non-negative integer"})
	}
	if n > s.Log.Size() {
		return 0, domain.Invalid("The tree is not that large yet.", domain.FieldError{Field: name, Detail: fmt.Sprintf("the tree has %d leaves", s.Log.Size())})
	}
	return n, nil
}

// eventAt reads the event at a log position.
func (s *Server) eventAt(ctx context.Context, pos uint64) (eventstore.Event, error) {
	for e, err := range s.Service.Store().ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Position(pos), Limit: 1}) {
		if err != nil {
			return e, err
		}
		if uint64(e.Position) != pos {
			break
		}
		return e, nil
	}
	return eventstore.Event{}, domain.Errorf(domain.ENOTFOUND, "No event at position %d.", pos)
}

// eventByQuery finds the event named by ?event=ID or ?position=P.
func (s *Server) eventByQuery(r *http.Request) (eventstore.Event, error) {
	q := r.URL.Query()
	switch {
	case q.Get("event") != "" && q.Get("position") != "":
		return eventstore.Event{}, domain.Invalid("Name the event by id or by position, not both.", domain.FieldError{Field: "event", Detail: "remove event or position"})
	case q.Get("position") != "":
		pos, err := strconv.ParseUint(q.Get("position"), 10, 64)
		if err != nil || pos == 0 {
			return eventstore.Event{}, domain.Invalid("The position is not valid.", domain.FieldError{Field: "position", Detail: "a positive integer"})
		}
		return s.eventAt(r.Context(), pos)
	case q.Get("event") != "":
		id, err := uuid.Parse(q.Get("event"))
		if err != nil {
			return eventstore.Event{}, domain.Invalid("The event id is not valid.", domain.FieldError{Field: "event", Detail: "a UUID"})
		}
		index, err := s.Log.LeafIndex(id)
		if err != nil {
			return eventstore.Event{}, proofError(err)
		}
		return s.eventAtIndex(r.Context(), index, id)
	}
	return eventstore.Event{}, domain.Invalid("Name the event.", domain.FieldError{Field: "event", Detail: "give event=ID or position=P"})
}

// eventAtIndex finds the event of leaf index. In the embedded store the
// position is index + 1; elsewhere the log is walked.
func (s *Server) eventAtIndex(ctx context.Context, index uint64, id uuid.UUID) (eventstore.Event, error) {
	if e, err := s.eventAt(ctx, index+1); err == nil && e.ID == id {
		return e, nil
	}
	var i uint64
	for e, err := range s.Service.Store().ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			return e, err
		}
		if i == index {
			return e, nil
		}
		i++
	}
	return eventstore.Event{}, domain.Errorf(domain.ENOTFOUND, "No event %s in the log.", id)
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	if err := s.needLog(); err != nil {
		return err
	}
	e, err := s.eventByQuery(r)
	if err != nil {
		return err
	}
	size, err := s.treeSize(r, "size")
	if err != nil {
		return err
	}
	proof, err := s.Log.ProveEvent(&e, size)
	if err != nil {
		return proofError(err)
	}
	writeJSON(w, http.StatusOK, proof)
	return nil
}

func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	if err := s.needLog(); err != nil {
		return err
	}
	from, err := s.treeSize(r, "from")
	if err != nil {
		return err
	}
	to, err := s.treeSize(r, "to")
	if err != nil {
		return err
	}
	if from > to {
		return domain.Invalid("The sizes are out of order.", domain.FieldError{Field: "from", Detail: "must not be larger than to"})
	}
	hashes, err := s.Log.ConsistencyProof(from, to)
	if err != nil {
		return proofError(err)
	}
	writeJSON(w, http.StatusOK, transparency.ConsistencyProof{FromSize: from, ToSize: to, Hashes: hashes})
	return nil
}

// EventView is an event of the ledger with its place in the Merkle log.
type EventView struct {
	Position    uint64            `json:"position"`
	ID          string            `json:"id"`
	Stream      string            `json:"stream"`
	Revision    uint64            `json:"revision"`
	RecordedAt  time.Time         `json:"recordedAt"`
	Type        string            `json:"type"`
	Schema      uint32            `json:"schemaVersion"`
	Actor       eventstore.Actor  `json:"actor"`
	Reason      string            `json:"reason,omitempty"`
	Correlation string            `json:"correlationId,omitempty"`
	Payload     any               `json:"payload"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ContentHash string            `json:"contentHash"`
	// Inclusion says whether the event is proved included in the last
	// published checkpoint.
	Inclusion *InclusionStatus `json:"inclusion,omitempty"`
}

// InclusionStatus is the result of checking an event against the last
// published checkpoint.
type InclusionStatus struct {
	CheckpointSize uint64                       `json:"checkpointSize"`
	Included       bool                         `json:"included"`
	Detail         string                       `json:"detail"`
	Proof          *transparency.InclusionProof `json:"proof,omitempty"`
}

// getEvent answers the event at a log position, or the event with an id
// (when the path names a UUID), with its inclusion status.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var e eventstore.Event
	if id, err := uuid.Parse(vars(r, "position")); err == nil {
		if err := s.needLog(); err != nil {
			return err
		}
		index, err := s.Log.LeafIndex(id)
		if err != nil {
			return proofError(err)
		}
		if e, err = s.eventAtIndex(r.Context(), index, id); err != nil {
			return err
		}
	} else {
		pos, err := strconv.ParseUint(vars(r, "position"), 10, 64)
		if err != nil || pos == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No event at %q.", vars(r, "position"))
		}
		if e, err = s.eventAt(r.Context(), pos); err != nil {
			return err
		}
	}
	if e.Stream == domain.TokenStream && p.Role != domain.RoleHomeAffairs {
		// Who holds which credential is for Home Affairs, who issues
		// them, as GET /api/v1/tokens is.
		return domain.Errorf(domain.EFORBIDDEN, "%s may not read the events of credentials.", p.ID)
	}
	if p.Role == domain.RoleUnit {
		if _, unit, ok := domain.ParseAssessmentStream(e.Stream); !ok || unit != p.Scope {
			return domain.Errorf(domain.EFORBIDDEN, "%s may read only the events of unit %s.", p.ID, p.Scope)
		}
	}
	rec, err := ledger.Decode(e)
	if err != nil {
		return err
	}
	v := EventView{Position: uint64(e.Position), ID: e.ID.String(), Stream: e.Stream, Revision: e.Revision, RecordedAt: e.RecordedAt,
		Type: e.Type, Schema: e.SchemaVersion, Actor: e.Actor, Reason: e.Reason, Correlation: e.CorrelationID,
		Payload: rec.Event, Metadata: e.Metadata, ContentHash: e.ContentHash.String()}
	if s.Log != nil && s.Signer != nil {
		v.Inclusion = s.inclusionStatus(r.Context(), &e)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// inclusionStatus checks an event against the last published checkpoint
// with an inclusion proof, as an auditor would.
func (s *Server) inclusionStatus(ctx context.Context, e *eventstore.Event) *InclusionStatus {
	latest, err := s.Service.LatestCheckpoint(ctx)
	if err != nil || latest == nil {
		return &InclusionStatus{Detail: "no checkpoint has been published yet"}
	}
	cp, err := transparency.ParseCheckpoint([]byte(latest.Note), s.Signer.Verifier())
	if err != nil {
		return &InclusionStatus{CheckpointSize: latest.Size, Detail: "the last checkpoint does not verify: " + err.Error()}
	}
	st := &InclusionStatus{CheckpointSize: cp.Size}
	proof, err := s.Log.ProveEvent(e, cp.Size)
	switch {
	case errors.Is(err, transparency.ErrOutOfRange), errors.Is(err, transparency.ErrNotFound):
		st.Detail = "recorded after the last checkpoint; the next one will include it"
		return st
	case err != nil:
		st.Detail = "no proof: " + err.Error()
		return st
	}
	if err := transparency.VerifyEventInclusion(cp, e, proof); err != nil {
		st.Detail = "the proof does not verify: " + err.Error()
		return st
	}
	st.Included, st.Proof = true, &proof
	st.Detail = fmt.Sprintf("included in the checkpoint of %d events signed by %s", cp.Size, strings.SplitN(cp.Origin, "\n", 2)[0])
	return st
}
