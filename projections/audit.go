package projections

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
)

// ItemValues are an item's recorded values at one moment.
type ItemValues struct {
	Self       *decimal.Decimal `json:"self,omitempty"`
	SelfNote   string           `json:"selfNote,omitempty"`
	Appraised1 *decimal.Decimal `json:"appraisedRound1,omitempty"`
	Appraised2 *decimal.Decimal `json:"appraisedRound2,omitempty"`
	Survey     *decimal.Decimal `json:"survey,omitempty"`
	Adjustment *decimal.Decimal `json:"adjustment,omitempty"`
	Council    *decimal.Decimal `json:"council,omitempty"`
	Evidence   []string         `json:"evidence,omitempty"`
}

func valuesOf(s *domain.ItemState) *ItemValues {
	if s == nil {
		return &ItemValues{}
	}
	v := &ItemValues{Self: s.Self, SelfNote: s.SelfNote, Survey: s.Survey, Adjustment: s.Adjustment, Council: s.Council}
	if a := s.Appraisals[0]; a != nil {
		p := a.Points
		v.Appraised1 = &p
	}
	if a := s.Appraisals[1]; a != nil {
		p := a.Points
		v.Appraised2 = &p
	}
	for _, e := range s.Evidence {
		v.Evidence = append(v.Evidence, e.SHA256)
	}
	return v
}

// EventRef names a recorded event of a stream: where it stands, what it
// is, when, by whom and why.
type EventRef struct {
	Revision uint64           `json:"revision"`
	Position uint64           `json:"position"`
	EventID  string           `json:"eventId"`
	Type     string           `json:"type"`
	At       time.Time        `json:"at"`
	Actor    domain.Principal `json:"actor"`
	Reason   string           `json:"reason,omitempty"`
}

// RefOf names r.
func RefOf(r domain.Recorded) EventRef {
	return EventRef{Revision: r.Revision, Position: r.Position, EventID: r.ID, Type: r.Event.EventType(), At: r.At, Actor: r.Actor, Reason: r.Reason}
}

// AuditEntry is one event of an assessment with the values it changed.
type AuditEntry struct {
	EventRef
	// Item is the item the event concerns, if any, with its values
	// before and after the event.
	Item   string      `json:"item,omitempty"`
	Before *ItemValues `json:"before,omitempty"`
	After  *ItemValues `json:"after,omitempty"`
	// StatusBefore and StatusAfter are the assessment's status around the
	// event.
	StatusBefore string `json:"statusBefore"`
	StatusAfter  string `json:"statusAfter"`
	// Evidence attached or withdrawn by the event.
	Evidence *domain.Evidence `json:"evidence,omitempty"`
	// Event is the payload as recorded.
	Event domain.Event `json:"event"`
}

// AuditFilter selects audit entries; empty fields select everything.
type AuditFilter struct {
	Item  string
	Actor string
	Type  string
	From  time.Time
	Until time.Time
}

func (f AuditFilter) match(e *AuditEntry) bool {
	return (f.Item == "" || e.Item == f.Item) &&
		(f.Actor == "" || e.Actor.ID == f.Actor) &&
		(f.Type == "" || e.Type == f.Type) &&
		(f.From.IsZero() || !e.At.Before(f.From)) &&
		(f.Until.IsZero() || e.At.Before(f.Until))
}

// AuditTrail replays an assessment's events and returns, for each event
// the filter selects, what it changed (an empty list, never nil, when it
// selects none).
func AuditTrail(campaign, unit string, events []domain.Recorded, filter AuditFilter) []AuditEntry {
	a := domain.NewAssessment(campaign, unit)
	out := []AuditEntry{}
	evidence := map[string]domain.Evidence{}
	for _, r := range events {
		item := itemOf(r.Event)
		entry := AuditEntry{EventRef: RefOf(r), Item: item, StatusBefore: a.Status(), Event: r.Event}
		if item != "" {
			entry.Before = valuesOf(a.Items[item])
		}
		a.Apply(r)
		entry.StatusAfter = a.Status()
		if item != "" {
			entry.After = valuesOf(a.Items[item])
		}
		switch e := r.Event.(type) {
		case *domain.EvidenceAttached:
			ev := e.Evidence
			evidence[ev.SHA256] = ev
			entry.Evidence = &ev
		case *domain.EvidenceWithdrawn:
			if ev, ok := evidence[e.SHA256]; ok {
				entry.Evidence = &ev
			}
		}
		if filter.match(&entry) {
			out = append(out, entry)
		}
	}
	return slices.Clip(out)
}

// itemOf returns the item an event concerns ("" for none).
func itemOf(e domain.Event) string {
	switch e := e.(type) {
	case *domain.SelfScoreRecorded:
		return e.Item
	case *domain.EvidenceAttached:
		return e.Item
	case *domain.EvidenceWithdrawn:
		return e.Item
	case *domain.AppraisalRecorded:
		return e.Item
	case *domain.SurveyScoreRecorded:
		return e.Item
	case *domain.BonusPenaltyRecorded:
		return e.Item
	case *domain.ExplanationRaised:
		return e.Item
	case *domain.ExplanationResolved:
		return e.Item
	}
	return ""
}
