package domain

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// EdgeFrameworkJSON is a small framework of the shapes scoring must follow
// besides the demo's (exported to the package's external tests): a
// criterion scored directly, a survey-only area and a bonus and penalty
// section.
const EdgeFrameworkJSON = `{"id":"p","version":1,"title":"Khung","block":"huyen","areas":[
 {"code":"1","title":"A","maxPoints":"20.5","agency":"SNV","children":[
   {"code":"1.1","title":"a","maxPoints":"10.05","children":[
     {"code":"1.1.1","title":"x","maxPoints":"0.25","method":"self"},
     {"code":"1.1.2","title":"y","maxPoints":"9.8","method":"self"}]},
   {"code":"1.2","title":"b","maxPoints":"10.45","method":"higher-level"}]},
 {"code":"2","title":"B","maxPoints":"9.5","children":[
   {"code":"2.1","title":"s","maxPoints":"9.5","method":"survey"}]},
 {"code":"9","title":"C","maxPoints":"5","agency":"SNV","children":[
   {"code":"9.1","title":"b","maxPoints":"2","method":"bonus"},
   {"code":"9.2","title":"p","maxPoints":"3","method":"penalty"}]}]}`

// TestComputeScorePaths checks that the fast path (whole hundredths) and
// the decimal path give identical scores on random assessments.
func TestComputeScorePaths(t *testing.T) {
	f, err := ParseFrameworkJSON(strings.NewReader(EdgeFrameworkJSON))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	pts := func(max decimal.Decimal) *decimal.Decimal {
		d := decimal.New(rng.Int64N(max.Shift(2).IntPart()+1), -2)
		return &d
	}
	for i := 0; i < 2000; i++ {
		a := NewAssessment("c", "u")
		for _, n := range f.Leaves() {
			if rng.IntN(4) == 0 {
				continue
			}
			s := a.item(n.Code)
			switch n.Method {
			case MethodSelf:
				s.Self = pts(n.MaxPoints)
				if rng.IntN(2) == 0 {
					s.Appraisals[0] = &Appraisal{Points: *pts(n.MaxPoints)}
				}
			case MethodHigherLevel:
				s.Appraisals[rng.IntN(2)] = &Appraisal{Points: *pts(n.MaxPoints)}
			case MethodSurvey:
				s.Survey = pts(n.MaxPoints)
			default:
				s.Adjustment = pts(n.MaxPoints)
			}
			if rng.IntN(10) == 0 {
				s.Council = pts(n.MaxPoints)
			}
		}
		for _, rounding := range []int32{0, 2, 3} {
			fast, ok := computeScore(f, a, rounding, centsOf, cents.decimal, centsPercent(rounding))
			if !ok {
				t.Fatal("fast path refused two-decimal points")
			}
			slow, _ := computeScore(f, a, rounding, func(d decimal.Decimal) (decimal.Decimal, bool) { return d, true },
				func(d decimal.Decimal) decimal.Decimal { return d },
				func(part, whole decimal.Decimal) decimal.Decimal { return Percent(part, whole, rounding) })
			if !reflect.DeepEqual(fmtScore(fast), fmtScore(slow)) {
				t.Fatalf("paths differ:\n fast %+v\n slow %+v", fast, slow)
			}
		}
	}
	// A value with three decimals takes the decimal path.
	a := NewAssessment("c", "u")
	third := decimal.RequireFromString("0.125")
	a.item("1.1.1").Self = &third
	if _, ok := computeScore(f, a, 2, centsOf, cents.decimal, centsPercent(2)); ok {
		t.Errorf("the fast path took 0.125")
	}
	if got := ComputeScore(f, a, 2).Self.String(); got != "0.125" {
		t.Errorf("self = %s, want 0.125", got)
	}
}

// fmtScore prints every decimal of a score, so equal values compare equal
// whatever their internal representation.
func fmtScore(s Score) []string {
	out := []string{s.Self.String(), s.Appraised.String(), s.Survey.String(), s.Bonus.String(), s.Penalty.String(), s.Final.String(), s.Max.String(), s.Index.String()}
	for _, n := range append(s.Areas, s.Criteria...) {
		out = append(out, n.Code, n.Achieved.String(), n.Max.String(), n.Index.String())
	}
	if s.Provisional {
		out = append(out, "provisional")
	}
	return out
}

func BenchmarkComputeScore(b *testing.B) {
	f, err := ParseFrameworkJSON(strings.NewReader(`{"id":"p","version":1,"title":"Khung","block":"huyen","areas":[
	 {"code":"1","title":"A","maxPoints":"10","agency":"SNV","children":[
	   {"code":"1.1","title":"a","maxPoints":"10","method":"self"}]}]}`))
	if err != nil {
		b.Fatal(err)
	}
	a := NewAssessment("c", "u")
	p := decimal.RequireFromString("7.25")
	a.item("1.1").Self = &p
	for i := 0; i < b.N; i++ {
		ComputeScore(f, a, 2)
	}
}

// TestSharedCents checks the decimals cents shares: each the value it
// stands for, the same inside and outside the shared range, and left
// unchanged by the arithmetic, rounding and formatting scores use on them
// (they would be wrong for every later user if an operation changed one in
// place).
func TestSharedCents(t *testing.T) {
	for _, c := range []cents{-1, 0, 1, 99, 100, 4567, 9999, 10_000, 10_001, 123_456} {
		want := decimal.New(int64(c), -2)
		if got := c.decimal(); !got.Equal(want) || got.Exponent() != -2 || got.String() != want.String() {
			t.Errorf("cents(%d).decimal() = %s (exponent %d), want %s", c, got, got.Exponent(), want)
		}
	}
	if got := centsPercent(2)(1, 3); got.String() != "33.33" {
		t.Errorf("centsPercent(2)(1, 3) = %s, want 33.33", got)
	}
	for c := cents(0); c <= 10_000; c += 37 {
		d := c.decimal()
		_ = d.Add(decimal.New(1, -2)).Sub(d).Mul(d).Neg().Abs()
		_, _ = d.Round(2), d.Round(1)
		_, _, _ = d.RoundBank(2), d.RoundBank(1), d.RoundCeil(1)
		_, _ = d.RoundFloor(0), d.Truncate(1)
		_, _ = d.Div(decimal.New(3, 0)), d.Shift(2)
		_, _, _ = d.String(), d.StringFixed(2), d.Coefficient()
		_, _ = d.MarshalJSON()
		if want := decimal.New(int64(c), -2); !c.decimal().Equal(want) || c.decimal().String() != want.String() {
			t.Fatalf("the shared decimal of %d hundredths changed to %s", c, c.decimal())
		}
	}
}
