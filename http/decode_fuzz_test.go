package http

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
)

// requestBodies returns a new value of every JSON body type the API
// decodes, by the handler that decodes it.
func requestBodies() []any {
	return []any{
		&OpenCampaignRequest{},
		&ScoresRequest{},
		&TokenRequest{},
		&struct {
			Units []domain.Unit `json:"units"`
		}{},
		&struct {
			Due    domain.Date `json:"due"`
			Reason string      `json:"reason,omitempty"`
		}{},
		&struct {
			DecisionNumber string      `json:"decisionNumber"`
			DecisionDate   domain.Date `json:"decisionDate"`
		}{},
		&struct {
			Item     string           `json:"item"`
			Claimed  *decimal.Decimal `json:"claimedPoints"`
			Argument string           `json:"argument"`
			Evidence []EvidenceRef    `json:"evidence,omitempty"`
		}{},
		&struct {
			Accepted    *bool            `json:"accepted"`
			FinalPoints *decimal.Decimal `json:"finalPoints,omitempty"`
			DecisionRef string           `json:"decisionRef"`
			Reason      string           `json:"reason"`
		}{},
		&struct {
			Batch  string `json:"batch"`
			Scores []struct {
				Unit        string           `json:"unit"`
				Item        string           `json:"item"`
				Points      *decimal.Decimal `json:"points"`
				Respondents int              `json:"respondents,omitempty"`
			} `json:"scores"`
		}{},
		&struct {
			Item string `json:"item"`
			EvidenceRef
		}{},
	}
}

// FuzzDecodeJSON feeds arbitrary bodies to the API's JSON decoder for every
// request type. No body may panic it (its error messages walk the body by
// reflection); every refusal is a *domain.Error whose code has a status,
// whose message is valid UTF-8 of bounded length and names fields only; and
// a body it accepts re-encodes and decodes to the same value.
func FuzzDecodeJSON(f *testing.F) {
	for i, body := range []string{
		`{"scores":[{"item":"1.1.2","points":"9.5","note":"Hoàn thành"}],"round":1}`,
		`{"id":"thu-nghiem","year":2017,"title":"x","calendar":{"selfAssessmentDue":"2017-10-30","appraisalDue":"2017-11-15"},"frameworks":{"huyen":{"id":"k","version":1}}}`,
		`{"principal":{"id":"a","role":"unit","scope":"001"},"ttl":"24h"}`,
		`{"units":[{"code":"001","name":"UBND quận Ba Đình","block":"huyen"}]}`,
		`{"due":"2017-11-20","reason":"Gia hạn"}`,
		`{"decisionNumber":"1752/QĐ-UBND","decisionDate":"2017-12-30"}`,
		`{"item":"1.1.2","claimedPoints":"9.5","argument":"x","evidence":[{"sha256":"ab","title":"t"}]}`,
		`{"accepted":true,"finalPoints":"9","decisionRef":"BB","reason":"r"}`,
		`{"batch":"b","scores":[{"unit":"001","item":"3.1","points":8.52}]}`,
		`{"item":"1.1.1","sha256":"` + strings.Repeat("ab", 32) + `","title":"Kế hoạch"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Add(uint8(1), []byte(`{"scores":[{"item":"1.1.2","points":true}],"scores":[[[]]]}`))
	types := requestBodies()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		v := requestBodies()[int(which)%len(types)]
		r := httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		err := decodeJSON(httptest.NewRecorder(), r, v)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("refused with %T %v, want a *domain.Error", err, err)
			}
			if _, ok := statusOf[de.Code]; !ok {
				t.Fatalf("code %q has no status", de.Code)
			}
			if !utf8.ValidString(de.Message) || len(de.Message) > 2000 {
				t.Fatalf("message of %d bytes, valid UTF-8 %v: %q", len(de.Message), utf8.ValidString(de.Message), de.Message)
			}
			for _, fe := range de.Fields {
				if len(fe.Field) > 2000 || len(fe.Detail) > 2000 {
					t.Fatalf("field error too long: %+v", fe)
				}
			}
			return
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted %s, cannot encode it: %v", body, err)
		}
		again := requestBodies()[int(which)%len(types)]
		if err := json.Unmarshal(enc, again); err != nil {
			t.Fatalf("accepted %s; its encoding %s does not decode: %v", body, enc, err)
		}
		enc2, _ := json.Marshal(again)
		if string(enc) != string(enc2) {
			t.Fatalf("unstable round trip:\n%s\n%s", enc, enc2)
		}
	})
}

// TestDecodeJSONLongFieldName: an unknown field whose name is as long as
// the client likes is named in the error by its first 200 bytes, cut at a
// character boundary and marked with "…"; a short one whole, with its
// place.
func TestDecodeJSONLongFieldName(t *testing.T) {
	long := "ghiChú" + strings.Repeat("ă", 3000)
	for _, c := range []struct {
		body, want string
	}{
		{`{"scores":[{"item":"1.1.2","points":"9","` + long + `":1}]}`, "scores[0]." + long},
		{`{"scores":[{"item":"1.1.2","points":"9","ghiChu":1}]}`, "scores[0].ghiChu"},
	} {
		r := httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/json")
		err := decodeJSON(httptest.NewRecorder(), r, &ScoresRequest{})
		var de *domain.Error
		if !errors.As(err, &de) || len(de.Fields) != 1 {
			t.Fatalf("decodeJSON = %v, want one field error", err)
		}
		got := de.Fields[0].Field
		if len(c.want) <= maxFieldPath {
			if got != c.want {
				t.Errorf("field %q, want %q", got, c.want)
			}
			continue
		}
		prefix, cut := strings.CutSuffix(got, "…")
		if !cut || len(prefix) > maxFieldPath || len(prefix) < maxFieldPath-utf8.UTFMax || !strings.HasPrefix(c.want, prefix) || !utf8.ValidString(got) {
			t.Errorf("field of %d bytes %.40q, want the first %d bytes of %.40q marked with …", len(got), got, maxFieldPath, c.want)
		}
	}
}
