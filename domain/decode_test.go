package domain

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// fastTypes are the event types decodeFast reads.
var fastTypes = []string{TypeSelfScoreRecorded, TypeEvidenceAttached, TypeEvidenceWithdrawn, TypeAppraisalRecorded, TypeSurveyScoreRecorded, TypeBonusPenaltyRecorded}

// sameAsJSON fails unless decodeFast agrees with encoding/json on payload:
// where the fast path answers, encoding/json must succeed with an equal
// value.
func sameAsJSON(t *testing.T, typ string, payload []byte) (fast bool) {
	t.Helper()
	got, ok := decodeFast(typ, payload)
	if !ok {
		return false
	}
	want, err := decodeJSON(typ, SchemaVersionOf(typ), payload)
	if err != nil {
		t.Fatalf("%s %s: the fast path decoded %+v, encoding/json says %v", typ, payload, got, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %s: fast path %+v, encoding/json %+v", typ, payload, got, want)
	}
	return true
}

func randomEvent(rng *rand.Rand, typ string) Event {
	texts := []string{"", "1.2.3", "Tự chấm theo kết quả thực hiện", `a "quoted" note`, "back\\slash", "tab\there", "<html> & co", "ĐTXHH 2017", "\u2028", "x"}
	decs := []string{"0", "1", "1.25", "-0.5", "0.10", "100", "12345678901234567890.5", "0.000000000000000001", "-0", "3.00"}
	text := func() string { return texts[rng.IntN(len(texts))] }
	dec := func() decimal.Decimal { return decimal.RequireFromString(decs[rng.IntN(len(decs))]) }
	ev := func() Evidence {
		return Evidence{SHA256: strings.Repeat("ab", 32), Size: rng.Int64N(1 << 40), MediaType: "application/pdf", DocumentNumber: text(), Title: text()}
	}
	switch typ {
	case TypeSelfScoreRecorded:
		return &SelfScoreRecorded{Item: text(), Points: dec(), Note: text()}
	case TypeEvidenceAttached:
		return &EvidenceAttached{Item: text(), Evidence: ev()}
	case TypeEvidenceWithdrawn:
		return &EvidenceWithdrawn{Item: text(), SHA256: text()}
	case TypeAppraisalRecorded:
		return &AppraisalRecorded{Item: text(), Round: rng.IntN(4) - 1, Agency: text(), Points: dec(), Note: text()}
	case TypeSurveyScoreRecorded:
		return &SurveyScoreRecorded{Item: text(), Points: dec(), Batch: text(), Respondents: rng.IntN(2000) - 5}
	default:
		return &BonusPenaltyRecorded{Item: text(), Points: dec()}
	}
}

// TestDecodeFastAgrees decodes payloads as EncodeEvent writes them, then
// mutated byte by byte, on both paths: the fast path reads the usual ones
// and never disagrees with encoding/json.
func TestDecodeFastAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	alphabet := []byte(`{}[]":,.-+0123456789eE \t\\nul"aitemponsrdIP` + "\x00\xff\xc3")
	fast := 0
	for i := 0; i < 20_000; i++ {
		typ := fastTypes[rng.IntN(len(fastTypes))]
		payload, err := EncodeEvent(randomEvent(rng, typ))
		if err != nil {
			t.Fatal(err)
		}
		if sameAsJSON(t, typ, payload) {
			fast++
		}
		for m := 0; m < 3; m++ {
			b := []byte(string(payload))
			for k := rng.IntN(3); k >= 0; k-- {
				j := rng.IntN(len(b))
				switch rng.IntN(3) {
				case 0:
					b[j] = alphabet[rng.IntN(len(alphabet))]
				case 1:
					b = append(b[:j], b[j+1:]...)
				default:
					b = append(b[:j], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[j:]...)...)
				}
			}
			sameAsJSON(t, typ, b)
		}
	}
	// Most encoded payloads take the fast path; those with escapes,
	// twenty-digit decimals and the like do not.
	if fast < 20_000/8 {
		t.Errorf("the fast path read %d of 20000 encoded payloads", fast)
	}
}

// TestDecodeFastGivesUp lists payloads the fast path leaves to
// encoding/json, and a few it reads.
func TestDecodeFastGivesUp(t *testing.T) {
	for _, tc := range []struct {
		typ, payload string
		fast         bool
	}{
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"1.25","note":"Tự chấm"}`, true},
		{TypeSelfScoreRecorded, ` { "item" : "1.1" , "points" : "1.25" } `, true},
		{TypeSelfScoreRecorded, `{}`, true},
		{TypeSelfScoreRecorded, `{"item":"1.1","item":"1.2","points":"1"}`, true},
		{TypeSelfScoreRecorded, `{"Item":"1.1","points":"1.25"}`, false},       // case-folded key
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"1.25","x":1}`, false}, // unknown key
		{TypeSelfScoreRecorded, `{"item":"1.1","points":1.25}`, false},         // unquoted decimal
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"1e2"}`, false},
		{TypeSelfScoreRecorded, `{"item":"1.1","points":".5"}`, false},
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"5."}`, false},
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"+5"}`, false},
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"1234567890123456789"}`, false},
		{TypeSelfScoreRecorded, `{"item":null,"points":"1"}`, false},
		{TypeSelfScoreRecorded, `{"item":"a\"b","points":"1"}`, false},
		{TypeSelfScoreRecorded, "{\"item\":\"a\xffb\",\"points\":\"1\"}", false},
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"1"} x`, false},
		{TypeSelfScoreRecorded, `{"item":"1.1","points":"1",}`, false},
		{TypeSelfScoreRecorded, `null`, false},
		{TypeAppraisalRecorded, `{"item":"1.1","round":1,"agency":"so-noi-vu","points":"0.5"}`, true},
		{TypeAppraisalRecorded, `{"item":"1.1","round":01,"points":"0.5"}`, false},
		{TypeAppraisalRecorded, `{"item":"1.1","round":1.0,"points":"0.5"}`, false},
		{TypeAppraisalRecorded, `{"item":"1.1","round":1e0,"points":"0.5"}`, false},
		{TypeAppraisalRecorded, `{"item":"1.1","round":"1","points":"0.5"}`, false},
		{TypeEvidenceAttached, `{"item":"1.1","evidence":{"sha256":"ab","size":12,"mediaType":"application/pdf","title":"Kế hoạch"}}`, true},
		{TypeEvidenceAttached, `{"item":"1.1","evidence":{"sha256":"ab","size":12,"extra":true}}`, false},
		{TypeEvidenceAttached, `{"item":"1.1","evidence":null}`, false},
		{TypeSurveyScoreRecorded, `{"item":"5.1","points":"2.5","batch":"ĐTXHH","respondents":300}`, true},
		{TypeExplanationRaised, `{"id":"x","item":"1.1","claimedPoints":"1","argument":"a"}`, false}, // not a fast type
	} {
		if got := sameAsJSON(t, tc.typ, []byte(tc.payload)); got != tc.fast {
			t.Errorf("%s %s: fast path %v, want %v", tc.typ, tc.payload, got, tc.fast)
		}
	}
}

// FuzzDecodeFast checks on any payload that the fast path either gives up
// or agrees with encoding/json.
func FuzzDecodeFast(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i, typ := range fastTypes {
		p, _ := json.Marshal(randomEvent(rng, typ))
		f.Add(uint8(i), p)
	}
	f.Fuzz(func(t *testing.T, i uint8, payload []byte) {
		sameAsJSON(t, fastTypes[int(i)%len(fastTypes)], payload)
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	// About 300 bytes, as bench.SamplePayload.
	payload, _ := EncodeEvent(&SelfScoreRecorded{Item: "3.2.4", Points: decimal.RequireFromString("1.25"),
		Note: "Đã ban hành kế hoạch kiểm soát thủ tục hành chính năm 2017 đúng thời hạn, có đủ tài liệu kiểm chứng kèm theo; đã tổ chức kiểm tra tại 12 phòng, ban và UBND các xã, phường trên địa bàn"})
	for _, path := range []struct {
		name   string
		decode func(string, uint32, []byte) (Event, error)
	}{{"fast", DecodeEvent}, {"encoding-json", decodeJSON}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := path.decode(TypeSelfScoreRecorded, 1, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
