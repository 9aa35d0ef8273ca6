package eventstore_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

// fuzzEvent is a recorded event for seeds.
func fuzzEvent(n int, md map[string]string) eventstore.Event {
	e := eventstore.Event{
		EventData: eventstore.EventData{
			ID: eventstore.DeterministicID("fuzz" + strings.Repeat("x", n)), Type: "SelfScoreRecorded", SchemaVersion: 1,
			Actor:  eventstore.Actor{ID: "to-cong-tac-001", Role: "unit", Scope: "001"},
			Reason: "Hoàn thành 95% kế hoạch", CorrelationID: "req-1", Payload: []byte(`{"item":"1.1.2","points":"9.5"}`), Metadata: md,
		},
		Stream: "assessment:thu-nghiem:001", Revision: uint64(n), Position: eventstore.Position(n + 1),
		RecordedAt: time.Date(2017, 10, 2, 3, 4, 5, 6, time.UTC),
	}
	e.ContentHash = e.ComputeHash()
	return e
}

// FuzzDecodeCanonical checks that no input makes the canonical decoder
// panic, that whatever it accepts encodes back to exactly the same bytes
// (the encoding is canonical: one event, one encoding), and that
// everything it refuses is an ErrCorrupt error.
func FuzzDecodeCanonical(f *testing.F) {
	for i, md := range []map[string]string{nil, {"idempotency-key": "k1", "request-sha256": "ab"}} {
		e := fuzzEvent(i, md)
		f.Add(eventstore.Canonical(e.Stream, &e.EventData))
	}
	f.Add([]byte("PLE\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		stream, d, err := eventstore.DecodeCanonical(b)
		if err != nil {
			if !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("refused with %v, want ErrCorrupt", err)
			}
			return
		}
		if got := eventstore.Canonical(stream, &d); !bytes.Equal(got, b) {
			t.Fatalf("decoded and encoded again differs:\n%x\n%x", b, got)
		}
	})
}

// FuzzReadNDJSON checks that no export makes the NDJSON reader panic, that
// every event it yields passes ValidateImported (its content hash among
// the rest), and that writing it again reads back the same event.
func FuzzReadNDJSON(f *testing.F) {
	var b bytes.Buffer
	for i, md := range []map[string]string{nil, {"idempotency-key": "k1"}} {
		e := fuzzEvent(i, md)
		if err := eventstore.EncodeNDJSON(&b, &e); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(b.Bytes())
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"id":"` + uuid.Nil.String() + `"}`))
	f.Fuzz(func(t *testing.T, export []byte) {
		for e, err := range eventstore.ReadNDJSON(bytes.NewReader(export)) {
			if err != nil {
				if !strings.Contains(err.Error(), "line ") && !errors.Is(err, eventstore.ErrInvalid) {
					t.Fatalf("error %v names no line", err)
				}
				return
			}
			if err := eventstore.ValidateImported(&e); err != nil {
				t.Fatalf("yielded an event that does not validate: %v", err)
			}
			var again bytes.Buffer
			if err := eventstore.EncodeNDJSON(&again, &e); err != nil {
				t.Fatal(err)
			}
			for e2, err := range eventstore.ReadNDJSON(&again) {
				if err != nil {
					t.Fatalf("its own export does not read back: %v\n%s", err, again.Bytes())
				}
				if !reflect.DeepEqual(e, e2) {
					t.Fatalf("round trip changed the event:\n%+v\n%+v", e, e2)
				}
			}
		}
	})
}
