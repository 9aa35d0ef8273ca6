package eventstore_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
)

func goldenEvent() eventstore.EventData {
	return eventstore.EventData{
		ID:            uuid.MustParse("0192f7a4-5b6c-7d8e-9fa0-b1c2d3e4f506"),
		Type:          "SelfScoreRecorded",
		SchemaVersion: 1,
		Actor:         eventstore.Actor{ID: "u1", Role: "unit", Scope: "001"},
		Reason:        "Đúng hạn",
		CorrelationID: "c1",
		Payload:       []byte(`{"p":"0.5"}`),
		Metadata:      map[string]string{"z": "1", "a": "Hà"},
	}
}

// TestCanonicalGolden pins the canonical encoding forever. If this test
// fails, the change breaks every content hash already in every ledger:
// revert it, or add a new format beside this one.
func TestCanonicalGolden(t *testing.T) {
	segments := []string{
		"504c4501",                         // magic "PLE" 0x01
		"0192f7a45b6c7d8e9fa0b1c2d3e4f506", // id
		"00000013" + hex.EncodeToString([]byte("assessment-2017-001")), // stream
		"00000011" + hex.EncodeToString([]byte("SelfScoreRecorded")),   // type
		"00000001",                              // schema version
		"00000002" + "7531",                     // actor id "u1"
		"00000004" + "756e6974",                 // actor role "unit"
		"00000003" + "303031",                   // actor scope "001"
		"0000000c" + "c490c3ba6e672068e1baa16e", // reason "Đúng hạn" in NFC UTF-8
		"00000002" + "6331",                     // correlation id "c1"
		"00000000",                              // causation id ""
		"0000000b" + hex.EncodeToString([]byte(`{"p":"0.5"}`)), // payload
		"00000002", // two metadata pairs, keys in byte order
		"00000001" + "61" + "00000003" + "48c3a0", // "a" = "Hà"
		"00000001" + "7a" + "00000001" + "31",     // "z" = "1"
	}
	want, err := hex.DecodeString(strings.Join(segments, ""))
	if err != nil {
		t.Fatal(err)
	}
	d := goldenEvent()
	got := eventstore.Canonical("assessment-2017-001", &d)
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical bytes changed:\n got  %x\n want %x", got, want)
	}
	if n := eventstore.CanonicalSize("assessment-2017-001", &d); n != len(want) {
		t.Errorf("CanonicalSize = %d, want %d", n, len(want))
	}
	e := eventstore.Event{EventData: d, Stream: "assessment-2017-001"}
	if got, want := e.ComputeHash().String(), "49cc72f6d273982c0d7dac9c9f2855a9cac1d83d2adb583b458ebcc495b17650"; got != want {
		t.Errorf("content hash = %s, want %s", got, want)
	}
}

// TestAppendCanonicalNoAlloc checks that encoding an event without
// metadata into a buffer of CanonicalSize allocates nothing: every append
// encodes its events so, on the store's write path.
func TestAppendCanonicalNoAlloc(t *testing.T) {
	d := goldenEvent()
	d.Metadata = nil
	d.Payload = []byte(`{"note":"` + strings.Repeat("Đã ban hành kế hoạch. ", 20) + `"}`)
	buf := make([]byte, 0, eventstore.CanonicalSize("assessment-2017-001", &d))
	if n := testing.AllocsPerRun(100, func() {
		buf = eventstore.AppendCanonical(buf[:0], "assessment-2017-001", &d)
	}); n != 0 {
		t.Errorf("AppendCanonical allocated %v times per event, want 0", n)
	}
}

func TestDecodeCanonical(t *testing.T) {
	d := goldenEvent()
	b := eventstore.Canonical("assessment-2017-001", &d)
	t.Run("OK", func(t *testing.T) {
		stream, got, err := eventstore.DecodeCanonical(b)
		if err != nil {
			t.Fatal(err)
		}
		if stream != "assessment-2017-001" || !reflect.DeepEqual(got, d) {
			t.Errorf("decoded %q %+v, want %+v", stream, got, d)
		}
	})
	t.Run("ErrCorrupt", func(t *testing.T) {
		for name, bad := range map[string][]byte{
			"Empty":     nil,
			"BadMagic":  append([]byte("XLE\x01"), b[4:]...),
			"Truncated": b[:len(b)-3],
			"Trailing":  append(append([]byte(nil), b...), 0),
			"HugeLen":   append(append([]byte(nil), b[:20]...), 0xff, 0xff, 0xff, 0xff),
		} {
			if _, _, err := eventstore.DecodeCanonical(bad); !errors.Is(err, eventstore.ErrCorrupt) {
				t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
			}
		}
	})
}

func TestDeterministicID(t *testing.T) {
	a, b := eventstore.DeterministicID("key-1/0"), eventstore.DeterministicID("key-1/0")
	if a != b || a == eventstore.DeterministicID("key-1/1") {
		t.Errorf("DeterministicID not a function of its key: %s %s", a, b)
	}
	if got, want := a.Version(), uuid.Version(5); got != want {
		t.Errorf("version = %d, want %d", got, want)
	}
}

// TestNewID: new ids are version 7 (RFC 9562 variant), carry the time
// they were made, and increase as bytes within a process, so that an
// index keyed by id grows at its end.
func TestNewID(t *testing.T) {
	before := time.Now()
	prev := eventstore.NewID()
	for i := 0; i < 100_000; i++ {
		id := eventstore.NewID()
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("id %s: version %d variant %s, want 7 %s", id, id.Version(), id.Variant(), uuid.RFC4122)
		}
		if bytes.Compare(id[:], prev[:]) <= 0 {
			t.Fatalf("id %s made after %s does not sort after it", id, prev)
		}
		prev = id
	}
	// Past 4,096 ids in a millisecond the sequence carries into the
	// time, which may then run a little ahead of the clock.
	sec, nsec := prev.Time().UnixTime()
	if at := time.Unix(sec, nsec); at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("last id's time %s is not between %s and now", at, before)
	}
}

// TestDecodeCanonicalPayloadIsolated checks that writing to a decoded
// payload changes nothing else of the event, and not the input.
func TestDecodeCanonicalPayloadIsolated(t *testing.T) {
	d := goldenEvent()
	b := eventstore.Canonical("assessment-2017-001", &d)
	in := bytes.Clone(b)
	stream, got, err := eventstore.DecodeCanonical(b)
	if err != nil {
		t.Fatal(err)
	}
	if cap(got.Payload) != len(got.Payload) {
		t.Errorf("payload capacity %d beyond its length %d: appending would overwrite other fields", cap(got.Payload), len(got.Payload))
	}
	for i := range got.Payload {
		got.Payload[i] = 'X'
	}
	got.Payload = d.Payload
	if stream != "assessment-2017-001" || !reflect.DeepEqual(got, d) {
		t.Errorf("after writing to the payload, decoded %q %+v, want %+v", stream, got, d)
	}
	if !bytes.Equal(b, in) {
		t.Errorf("decoding changed its input")
	}
}
