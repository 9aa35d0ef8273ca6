package transparency_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/transparency"
)

// TestLeafBytes pins the leaf encoding and the leaf hash with golden
// bytes computed outside Go. They must never change: every checkpoint
// ever signed depends on them.
func TestLeafBytes(t *testing.T) {
	t.Run("Layout", func(t *testing.T) {
		var h eventstore.Hash
		for i := range h {
			h[i] = byte(i)
		}
		e := eventstore.Event{Revision: 7, RecordedAt: time.Date(2017, 3, 1, 8, 30, 0, 123456789, time.UTC), ContentHash: h}
		const want = "504c4c01" + "0000000000000007" + "14a7b4ce53531d15" + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		if got := hex.EncodeToString(eventstore.LeafBytes(&e)); got != want {
			t.Errorf("LeafBytes = %s, want %s", got, want)
		}
		if got := len(eventstore.LeafBytes(&e)); got != eventstore.LeafSize {
			t.Errorf("len(LeafBytes) = %d, LeafSize = %d", got, eventstore.LeafSize)
		}
		const wantHash = "ebbb4c9d846d95026dbc9505e082a11652c3888cdaf28ace8450079476ed70b1"
		if got := hex.EncodeToString(transparency.LeafHash(&e)); got != wantHash {
			t.Errorf("LeafHash = %s, want %s", got, wantHash)
		}
		// The recorded time's zone does not matter, only the instant.
		e.RecordedAt = e.RecordedAt.In(time.FixedZone("ICT", 7*3600))
		if got := hex.EncodeToString(eventstore.LeafBytes(&e)); got != want {
			t.Errorf("LeafBytes in another zone = %s, want %s", got, want)
		}
	})
	t.Run("Event", func(t *testing.T) {
		e := eventstore.Event{
			EventData: eventstore.EventData{
				ID:            uuid.MustParse("0190f5e2-7c1a-7d3e-9b4f-2a6c8e0d1f35"),
				Type:          "SelfScoreRecorded",
				SchemaVersion: 1,
				Actor:         eventstore.Actor{ID: "u-snv-01", Role: "unit", Scope: "SNV"},
				Reason:        "Tự chấm",
				CorrelationID: "req-1",
				Payload:       []byte(`{"item":"1.1","points":"2.5"}`),
				Metadata:      map[string]string{"client": "web"},
			},
			Stream:     "assessment-hanoi-2017-SNV",
			Revision:   3,
			Position:   99, // not in the leaf
			RecordedAt: time.Date(2017, 3, 1, 8, 30, 0, 0, time.UTC),
		}
		e.ContentHash = e.ComputeHash()
		if got, want := e.ContentHash.String(), "e4a77d8dda7c6aeefee7b47997fd57b77b927b9ea6d882aee66a107fd1b2c051"; got != want {
			t.Fatalf("content hash = %s, want %s", got, want)
		}
		const want = "8543007fad04cf88e0286ab00a2deb525f8fca23d93068870cccb58c5f5f75c5"
		if got := hex.EncodeToString(transparency.LeafHash(&e)); got != want {
			t.Errorf("LeafHash = %s, want %s", got, want)
		}
		if got := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(eventstore.LeafBytes(&e))); got != want {
			t.Errorf("rfc6962 leaf hash of LeafBytes = %s, want %s", got, want)
		}
		e.Position = 1
		if got := hex.EncodeToString(transparency.LeafHash(&e)); got != want {
			t.Errorf("LeafHash depends on the position: %s, want %s", got, want)
		}
	})
}
