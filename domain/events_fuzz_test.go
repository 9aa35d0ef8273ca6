package domain_test

import (
	"bytes"
	"testing"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/loadgen"
)

// eventTypes are every event type of the ledger.
var eventTypes = []string{
	domain.TypeFrameworkRegistered, domain.TypeCampaignOpened, domain.TypeFrameworkFrozen, domain.TypeUnitEnrolled,
	domain.TypeDeadlineChanged, domain.TypeExplanationWindowOpened, domain.TypeResultsPublished, domain.TypeSelfScoreRecorded,
	domain.TypeEvidenceAttached, domain.TypeEvidenceWithdrawn, domain.TypeSelfAssessmentSubmitted, domain.TypeSubmissionReopened,
	domain.TypeAppraisalRecorded, domain.TypeSurveyScoreRecorded, domain.TypeBonusPenaltyRecorded, domain.TypeExplanationRaised,
	domain.TypeExplanationResolved, domain.TypeAssessmentFinalized, domain.TypeTokenIssued, domain.TypeTokenRevoked,
	domain.TypeCheckpointPublished,
}

// FuzzDecodeEvent decodes arbitrary payloads as every event type and
// version. No input may panic; whatever decodes must encode, and decode
// again to the same encoding (a stable round trip), so that a stored event
// the decoder accepts is never read two ways. Seeds are the events of a
// generated campaign.
func FuzzDecodeEvent(f *testing.F) {
	seen := map[string]int{}
	for e, err := range loadgen.Events(loadgen.DefaultConfig(2)) {
		if err != nil {
			f.Fatal(err)
		}
		if seen[e.Type] < 3 {
			seen[e.Type]++
			f.Add(e.Type, e.SchemaVersion, e.Payload)
		}
	}
	for _, typ := range eventTypes {
		f.Add(typ, domain.SchemaVersionOf(typ), []byte(`{}`))
		f.Add(typ, uint32(1), []byte(`{"item":"1.1","points":"1e99","note":null}`))
	}
	f.Fuzz(func(t *testing.T, typ string, version uint32, payload []byte) {
		ev, err := domain.DecodeEvent(typ, version, payload)
		if err != nil {
			return
		}
		if ev.EventType() != typ {
			t.Fatalf("decoded a %s payload as %s", typ, ev.EventType())
		}
		enc, err := domain.EncodeEvent(ev)
		if err != nil {
			t.Fatalf("decoded %s but cannot encode it: %v", payload, err)
		}
		again, err := domain.DecodeEvent(typ, domain.SchemaVersionOf(typ), enc)
		if err != nil {
			t.Fatalf("%s: its own encoding %s does not decode: %v", typ, enc, err)
		}
		enc2, err := domain.EncodeEvent(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("%s: unstable round trip:\n%s\n%s (%v)", typ, enc, enc2, err)
		}
	})
}
