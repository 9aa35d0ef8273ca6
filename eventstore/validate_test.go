package eventstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

func TestPrepareAppend(t *testing.T) {
	batch := func(n int) []eventstore.EventData {
		out := make([]eventstore.EventData, n)
		for i := range out {
			out[i] = eventstore.EventData{ID: uuid.New(), Type: "E", SchemaVersion: 1, Payload: []byte(fmt.Sprintf(`{"n": %d}`, i))}
		}
		return out
	}
	t.Run("OK", func(t *testing.T) {
		in := batch(3)
		in[1].Payload = []byte(`{"n":1}`) // already compact
		got, err := eventstore.PrepareAppend("s", in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if want := fmt.Sprintf(`{"n":%d}`, i); string(got[i].Payload) != want {
				t.Errorf("payload %d = %s, want %s", i, got[i].Payload, want)
			}
		}
		if in[0].Payload[5] != ' ' {
			t.Errorf("the caller's payload was modified: %s", in[0].Payload)
		}
		got[1].Payload[0] = 'X'
		if in[1].Payload[0] != '{' {
			t.Errorf("the prepared payload shares the caller's bytes")
		}
	})
	t.Run("ErrInvalidEvent/PayloadNotUTF8", func(t *testing.T) {
		in := batch(1)
		in[0].Payload = []byte("{\"note\":\"\xff\xfe\"}")
		if _, err := eventstore.PrepareAppend("s", in); !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("err = %v, want ErrInvalidEvent about UTF-8", err)
		}
	})
	t.Run("OKPrepareAppendTo", func(t *testing.T) {
		in := batch(2)
		in[1].Payload = []byte(`{"n":1}`)
		dst := make([]eventstore.EventData, 1, 3)
		got, err := eventstore.PrepareAppendTo(dst, "s", in)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || &got[0] != &dst[0] {
			t.Fatalf("got %d events, want dst's 1 and 2 more in its array", len(got))
		}
		if string(got[1].Payload) != `{"n":0}` || &got[2].Payload[0] != &in[1].Payload[0] {
			t.Errorf("payloads %s %s: want the first compacted, the second shared", got[1].Payload, got[2].Payload)
		}
		if in[0].Payload[5] != ' ' {
			t.Errorf("the caller's payload was modified: %s", in[0].Payload)
		}
	})
	// Repeated ids are found by a scan in small appends and a map in
	// large ones: check both, with the repeat far from the original.
	for _, n := range []int{2, 16, 17, 500} {
		t.Run(fmt.Sprintf("ErrInvalidEvent/Repeat%d", n), func(t *testing.T) {
			in := batch(n)
			in[n-1].ID = in[0].ID
			_, err := eventstore.PrepareAppend("s", in)
			if !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), fmt.Sprintf("event %d repeats", n-1)) {
				t.Errorf("err = %v, want ErrInvalidEvent naming event %d", err, n-1)
			}
			if _, err := eventstore.PrepareAppend("s", batch(n)); err != nil {
				t.Errorf("distinct ids: %v", err)
			}
		})
	}
}
