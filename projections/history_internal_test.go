package projections

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
)

// TestScoreRecords writes a score in each record form and reads it back
// as ComputeScore gave it: in hundredths while every value is whole
// hundredths, as decimal strings once one is finer.
func TestScoreRecords(t *testing.T) {
	f, err := domain.ParseFrameworkJSON(strings.NewReader(`{"id":"nho","version":1,"title":"Khung nhỏ","block":"huyen","areas":[
	 {"code":"1","title":"Hài lòng","maxPoints":"6","children":[{"code":"1.1","title":"Hài lòng","maxPoints":"6","method":"survey"}]},
	 {"code":"2","title":"Chỉ đạo","maxPoints":"4","agency":"SNV","children":[{"code":"2.1","title":"Kế hoạch","maxPoints":"4","method":"self"}]},
	 {"code":"9","title":"Thưởng","maxPoints":"2","children":[{"code":"9.1","title":"Thưởng","maxPoints":"2","method":"bonus"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	scorer := domain.NewScorer(f)
	blank := domain.ComputeScore(f, domain.NewAssessment("c", "u"), 2)
	a := domain.NewAssessment("c", "u")
	apply := func(e domain.Event) { a.Apply(domain.Recorded{Event: e}) }
	apply(&domain.SelfScoreRecorded{Item: "2.1", Points: decimal.RequireFromString("3.25")})
	apply(&domain.BonusPenaltyRecorded{Item: "9.1", Points: decimal.RequireFromString("1")})
	apply(&domain.SurveyScoreRecorded{Item: "1.1", Points: decimal.RequireFromString("5.5")})

	c, ok := scorer.NewTally(a).Cents()
	if !ok {
		t.Fatal("the tally is not exact")
	}
	rec := appendCentsRecord(nil, a.Status(), c)
	got, status, err := decodeScore(rec, blank, scorer, 2)
	if err != nil || status != "in-progress" || !reflect.DeepEqual(got, domain.ComputeScore(f, a, 2)) {
		t.Fatalf("hundredths record: %v %q %+v", err, status, got)
	}
	if _, _, err := decodeScore(rec[:len(rec)-1], blank, scorer, 2); err == nil {
		t.Error("a truncated record decoded")
	}

	apply(&domain.SurveyScoreRecorded{Item: "1.1", Points: decimal.RequireFromString("5.125")})
	if _, ok := scorer.NewTally(a).Cents(); ok {
		t.Fatal("the tally took 5.125")
	}
	want := domain.ComputeScore(f, a, 2)
	rec = encodeScore(want, a.Status())
	got, status, err = decodeScore(rec, blank, scorer, 2)
	if err != nil || status != "in-progress" || got.Final.String() != want.Final.String() || got.Survey.String() != "5.125" {
		t.Fatalf("decimal record: %v %q %+v", err, status, got)
	}
}
