package domain_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// TestSchemaEvolution: SurveyScoreRecorded gained a field in schema
// version 2. An event written by version 1 keeps its bytes and content hash
// forever and still replays, through an upcaster, into today's type.
func TestSchemaEvolution(t *testing.T) {
	// A version-1 event as the first release wrote it.
	v1 := eventstore.Event{
		EventData: eventstore.EventData{
			ID:            uuid.MustParse("5b0e4d3c-1a2b-4c5d-8e9f-0a1b2c3d4e5f"),
			Type:          domain.TypeSurveyScoreRecorded,
			SchemaVersion: 1,
			Actor:         eventstore.Actor{ID: "vien-nckt-xh", Role: "institute"},
			Payload:       []byte(`{"item":"8.1.1","points":"2.75","batch":"ĐTXHH 2017"}`),
		},
		Stream: "par.assessment:hanoi-2017:005",
	}
	// Pinned: the content hash of that event never changes.
	if got, want := v1.ComputeHash().String(), "6e455b0057da9216eacff138482ae1bb7fcc6f6fad87734fb76a302b0c750141"; got != want {
		t.Errorf("content hash of the version-1 event = %s, want %s", got, want)
	}
	e, err := domain.DecodeEvent(v1.Type, v1.SchemaVersion, v1.Payload)
	if err != nil {
		t.Fatalf("a version-1 event no longer replays: %v", err)
	}
	s := e.(*domain.SurveyScoreRecorded)
	if s.Item != "8.1.1" || s.Points.String() != "2.75" || s.Batch != "ĐTXHH 2017" || s.Respondents != 0 {
		t.Errorf("upcast version 1 = %+v", s)
	}
	if got := domain.SchemaVersionOf(domain.TypeSurveyScoreRecorded); got != 2 {
		t.Errorf("survey scores are written with version %d, want 2", got)
	}
	if got := domain.SchemaVersionOf(domain.TypeSelfScoreRecorded); got != 1 {
		t.Errorf("self scores are written with version %d, want 1", got)
	}
	v2, err := domain.DecodeEvent(domain.TypeSurveyScoreRecorded, 2, []byte(`{"item":"8.1.1","points":"2.75","respondents":412}`))
	if err != nil || v2.(*domain.SurveyScoreRecorded).Respondents != 412 {
		t.Errorf("version 2 = %+v, %v", v2, err)
	}
	for _, version := range []uint32{0, 3} {
		if _, err := domain.DecodeEvent(domain.TypeSurveyScoreRecorded, version, v1.Payload); err == nil {
			t.Errorf("schema version %d decoded without error", version)
		}
	}
	if _, err := domain.DecodeEvent(domain.TypeSelfScoreRecorded, 2, []byte(`{"item":"1.1","points":"1"}`)); err == nil {
		t.Errorf("a self score of an unknown version 2 decoded without error")
	}
}
