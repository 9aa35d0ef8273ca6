package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/shopspring/decimal"
)

// Event is a fact of the ledger's domain. Each kind is a struct whose JSON
// form is the event's payload; EventType names it in the ledger.
type Event interface {
	EventType() string
}

// Meta is what the ledger records about an event besides its payload.
type Meta struct {
	// ID is the event's id; Stream, Revision and Position its place.
	ID       string
	Stream   string
	Revision uint64
	Position uint64
	// At is when the event was recorded.
	At time.Time
	// Actor caused the event, for Reason.
	Actor  Principal
	Reason string
}

// Recorded is a decoded event with its Meta.
type Recorded struct {
	Meta
	Event Event
}

// Event types. The names are part of the ledger and never change.
const (
	TypeFrameworkRegistered     = "FrameworkRegistered"
	TypeCampaignOpened          = "CampaignOpened"
	TypeFrameworkFrozen         = "FrameworkFrozen"
	TypeUnitEnrolled            = "UnitEnrolled"
	TypeDeadlineChanged         = "DeadlineChanged"
	TypeExplanationWindowOpened = "ExplanationWindowOpened"
	TypeResultsPublished        = "ResultsPublished"
	TypeSelfScoreRecorded       = "SelfScoreRecorded"
	TypeEvidenceAttached        = "EvidenceAttached"
	TypeEvidenceWithdrawn       = "EvidenceWithdrawn"
	TypeSelfAssessmentSubmitted = "SelfAssessmentSubmitted"
	TypeSubmissionReopened      = "SubmissionReopened"
	TypeAppraisalRecorded       = "AppraisalRecorded"
	TypeSurveyScoreRecorded     = "SurveyScoreRecorded"
	TypeBonusPenaltyRecorded    = "BonusPenaltyRecorded"
	TypeExplanationRaised       = "ExplanationRaised"
	TypeExplanationResolved     = "ExplanationResolved"
	TypeAssessmentFinalized     = "AssessmentFinalized"
	TypeTokenIssued             = "TokenIssued"
	TypeTokenRevoked            = "TokenRevoked"
	TypeCheckpointPublished     = "CheckpointPublished"
)

// FrameworkRegistered adds a version of a framework to the library.
type FrameworkRegistered struct {
	Framework *Framework `json:"framework"`
}

// CampaignOpened starts a campaign (kỳ đánh giá).
type CampaignOpened struct {
	ID       string           `json:"id"`
	Year     int              `json:"year"`
	Title    string           `json:"title"`
	Settings CampaignSettings `json:"settings"`
	Calendar Calendar         `json:"calendar"`
}

// FrameworkFrozen copies a framework into a campaign for one block; later
// changes to the library never touch it.
type FrameworkFrozen struct {
	Block     Block      `json:"block"`
	Framework *Framework `json:"framework"`
}

// UnitEnrolled adds a unit to a campaign.
type UnitEnrolled struct {
	Unit Unit `json:"unit"`
}

// DeadlineChanged moves the due date of a phase (an extension is one).
type DeadlineChanged struct {
	Phase Phase `json:"phase"`
	Due   Date  `json:"due"`
}

// ExplanationWindowOpened opens the explanation round (giải trình) until
// the due date.
type ExplanationWindowOpened struct {
	Due Date `json:"due"`
}

// ResultsPublished records the People's Committee's decision publishing the
// results.
type ResultsPublished struct {
	DecisionNumber string `json:"decisionNumber"`
	DecisionDate   Date   `json:"decisionDate"`
}

// SelfScoreRecorded records a unit's own score for an item, with a note
// explaining it (required at submission when the item has no evidence).
type SelfScoreRecorded struct {
	Item   string          `json:"item"`
	Points decimal.Decimal `json:"points"`
	Note   string          `json:"note,omitempty"`
}

// Evidence describes a document stored in the blob store. The file's
// bytes are addressed by SHA-256; the client's file name is never used.
type Evidence struct {
	SHA256         string `json:"sha256"`
	Size           int64  `json:"size"`
	MediaType      string `json:"mediaType"`
	DocumentNumber string `json:"documentNumber,omitempty"`
	Title          string `json:"title"`
}

// EvidenceAttached attaches evidence (tài liệu kiểm chứng) to an item.
type EvidenceAttached struct {
	Item     string   `json:"item"`
	Evidence Evidence `json:"evidence"`
}

// EvidenceWithdrawn withdraws evidence from an item; it stays in history.
type EvidenceWithdrawn struct {
	Item   string `json:"item"`
	SHA256 string `json:"sha256"`
}

// SelfAssessmentSubmitted locks the self-assessment for appraisal.
type SelfAssessmentSubmitted struct {
	Items int `json:"items"`
}

// SubmissionReopened unlocks a submitted self-assessment for correction,
// with Home Affairs' approval (the reason is recorded on the event).
type SubmissionReopened struct{}

// AppraisalRecorded records an appraiser's score for an item in round 1
// or 2; a change from the self score carries a reason on the event.
type AppraisalRecorded struct {
	Item   string          `json:"item"`
	Round  int             `json:"round"`
	Agency string          `json:"agency"`
	Points decimal.Decimal `json:"points"`
	Note   string          `json:"note,omitempty"`
}

// SurveyScoreRecorded records the survey institute's points for an item.
type SurveyScoreRecorded struct {
	Item   string          `json:"item"`
	Points decimal.Decimal `json:"points"`
	Batch  string          `json:"batch,omitempty"`
	// Respondents is how many survey answers the score rests on (schema
	// version 2; 0 when unknown, as for every version-1 event).
	Respondents int `json:"respondents"`
}

// BonusPenaltyRecorded records bonus or penalty points for an item of the
// bonus and penalty section.
type BonusPenaltyRecorded struct {
	Item   string          `json:"item"`
	Points decimal.Decimal `json:"points"`
}

// ExplanationRaised records a unit contesting an appraised item.
type ExplanationRaised struct {
	ID       string          `json:"id"`
	Item     string          `json:"item"`
	Claimed  decimal.Decimal `json:"claimedPoints"`
	Argument string          `json:"argument"`
	Evidence []Evidence      `json:"evidence,omitempty"`
}

// ExplanationResolved records the council's decision on an explanation.
type ExplanationResolved struct {
	ID          string           `json:"id"`
	Item        string           `json:"item"`
	Accepted    bool             `json:"accepted"`
	FinalPoints *decimal.Decimal `json:"finalPoints,omitempty"`
	DecisionRef string           `json:"decisionRef"`
}

// AssessmentFinalized closes an assessment: only the council's resolution
// of an explanation may change it afterwards.
type AssessmentFinalized struct {
	FinalPoints decimal.Decimal `json:"finalPoints"`
}

// TokenIssued records a credential: its id, the SHA-256 of its secret
// (never the secret), its principal and expiry.
type TokenIssued struct {
	TokenID   string    `json:"tokenId"`
	SecretSHA string    `json:"secretSha256"`
	Principal Principal `json:"principal"`
	Name      string    `json:"name,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// TokenRevoked withdraws a credential at once.
type TokenRevoked struct {
	TokenID string `json:"tokenId"`
}

// CheckpointPublished records a signed checkpoint of the ledger's Merkle
// tree as it was published: anyone who kept it can later prove the
// history they were shown has not been rewritten.
type CheckpointPublished struct {
	// Size is the number of events the checkpoint covers; Root their
	// RFC 6962 root hash (hex).
	Size uint64 `json:"size"`
	Root string `json:"root"`
	// Note is the signed checkpoint, as served.
	Note string `json:"note"`
}

// EventType names each kind of event.
func (FrameworkRegistered) EventType() string     { return TypeFrameworkRegistered }
func (CampaignOpened) EventType() string          { return TypeCampaignOpened }
func (FrameworkFrozen) EventType() string         { return TypeFrameworkFrozen }
func (UnitEnrolled) EventType() string            { return TypeUnitEnrolled }
func (DeadlineChanged) EventType() string         { return TypeDeadlineChanged }
func (ExplanationWindowOpened) EventType() string { return TypeExplanationWindowOpened }
func (ResultsPublished) EventType() string        { return TypeResultsPublished }
func (SelfScoreRecorded) EventType() string       { return TypeSelfScoreRecorded }
func (EvidenceAttached) EventType() string        { return TypeEvidenceAttached }
func (EvidenceWithdrawn) EventType() string       { return TypeEvidenceWithdrawn }
func (SelfAssessmentSubmitted) EventType() string { return TypeSelfAssessmentSubmitted }
func (SubmissionReopened) EventType() string      { return TypeSubmissionReopened }
func (AppraisalRecorded) EventType() string       { return TypeAppraisalRecorded }
func (SurveyScoreRecorded) EventType() string     { return TypeSurveyScoreRecorded }
func (BonusPenaltyRecorded) EventType() string    { return TypeBonusPenaltyRecorded }
func (ExplanationRaised) EventType() string       { return TypeExplanationRaised }
func (ExplanationResolved) EventType() string     { return TypeExplanationResolved }
func (AssessmentFinalized) EventType() string     { return TypeAssessmentFinalized }
func (TokenIssued) EventType() string             { return TypeTokenIssued }
func (TokenRevoked) EventType() string            { return TypeTokenRevoked }
func (CheckpointPublished) EventType() string     { return TypeCheckpointPublished }

// SchemaVersion is the payload schema version of events whose schema has
// not changed since the first release.
const SchemaVersion = 1

// schemaVersions lists the current schema version of each event type whose
// payload has changed; every other type is at SchemaVersion.
var schemaVersions = map[string]uint32{
	// Version 2 added respondents: how many survey answers the score rests on.
	TypeSurveyScoreRecorded: 2,
}

// SchemaVersionOf returns the schema version an event of type typ is
// written with now.
func SchemaVersionOf(typ string) uint32 {
	if v, ok := schemaVersions[typ]; ok {
		return v
	}
	return SchemaVersion
}

// upcasters turn a payload of an older schema version into the next one,
// so that old events replay through today's code. Their bytes in the
// ledger never change (their content hash covers them); only the decoded
// value is brought up to date.
var upcasters = map[string]map[uint32]func(payload []byte) ([]byte, error){
	TypeSurveyScoreRecorded: {
		// Version 1 did not say how many answers the score rests on:
		// record that as unknown (0).
		1: func(payload []byte) ([]byte, error) { return setField(payload, "respondents", 0) },
	},
}

// setField returns payload (a JSON object) with key set to v, unless the
// object already has it.
func setField(payload []byte, key string, v any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, err
	}
	if _, ok := m[key]; !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[key] = b
	}
	return json.Marshal(m)
}

// newEvent returns an empty event of the given type.
func newEvent(typ string) (Event, bool) {
	switch typ {
	case TypeFrameworkRegistered:
		return &FrameworkRegistered{}, true
	case TypeCampaignOpened:
		return &CampaignOpened{}, true
	case TypeFrameworkFrozen:
		return &FrameworkFrozen{}, true
	case TypeUnitEnrolled:
		return &UnitEnrolled{}, true
	case TypeDeadlineChanged:
		return &DeadlineChanged{}, true
	case TypeExplanationWindowOpened:
		return &ExplanationWindowOpened{}, true
	case TypeResultsPublished:
		return &ResultsPublished{}, true
	case TypeSelfScoreRecorded:
		return &SelfScoreRecorded{}, true
	case TypeEvidenceAttached:
		return &EvidenceAttached{}, true
	case TypeEvidenceWithdrawn:
		return &EvidenceWithdrawn{}, true
	case TypeSelfAssessmentSubmitted:
		return &SelfAssessmentSubmitted{}, true
	case TypeSubmissionReopened:
		return &SubmissionReopened{}, true
	case TypeAppraisalRecorded:
		return &AppraisalRecorded{}, true
	case TypeSurveyScoreRecorded:
		return &SurveyScoreRecorded{}, true
	case TypeBonusPenaltyRecorded:
		return &BonusPenaltyRecorded{}, true
	case TypeExplanationRaised:
		return &ExplanationRaised{}, true
	case TypeExplanationResolved:
		return &ExplanationResolved{}, true
	case TypeAssessmentFinalized:
		return &AssessmentFinalized{}, true
	case TypeTokenIssued:
		return &TokenIssued{}, true
	case TypeTokenRevoked:
		return &TokenRevoked{}, true
	case TypeCheckpointPublished:
		return &CheckpointPublished{}, true
	}
	return nil, false
}

// DecodeEvent decodes a payload of the given type and schema version into
// its event struct (a pointer). Unknown types and versions are errors:
// replaying a ledger must never skip what it does not understand.
func DecodeEvent(typ string, version uint32, payload []byte) (Event, error) {
	// The hot types, as written, take the fast path (see decodeFast); it
	// gives up, for encoding/json to decide, on anything else.
	if version == SchemaVersionOf(typ) {
		if e, ok := decodeFast(typ, payload); ok {
			return e, nil
		}
	}
	return decodeJSON(typ, version, payload)
}

// decodeJSON is DecodeEvent through encoding/json, for every payload.
func decodeJSON(typ string, version uint32, payload []byte) (Event, error) {
	e, ok := newEvent(typ)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", typ)
	}
	// A payload is exactly one JSON object: null would decode to an empty
	// event, and anything after the object would be skipped unread.
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		return nil, fmt.Errorf("decode %s: the payload is not a JSON object", typ)
	}
	current := SchemaVersionOf(typ)
	if version == 0 || version > current {
		return nil, fmt.Errorf("event type %s: unknown schema version %d (this build knows up to %d)", typ, version, current)
	}
	for v := version; v < current; v++ {
		up := upcasters[typ][v]
		if up == nil {
			return nil, fmt.Errorf("event type %s: no upcaster from schema version %d", typ, v)
		}
		var err error
		if payload, err = up(payload); err != nil {
			return nil, fmt.Errorf("upcast %s from version %d: %w", typ, v, err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode %s: data after the payload", typ)
	}
	return e, nil
}

// EncodeEvent returns an event's payload.
func EncodeEvent(e Event) ([]byte, error) {
	return json.Marshal(e)
}
