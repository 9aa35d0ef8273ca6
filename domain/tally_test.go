package domain_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
)

// tallyFrameworks are frameworks of every shape a Tally must follow: the
// demo's two, and a small one with a criterion scored directly, a
// survey-only area and a bonus and penalty section.
func tallyFrameworks(t *testing.T) []*domain.Framework {
	fws, err := demo.Frameworks()
	if err != nil {
		t.Fatal(err)
	}
	f, err := domain.ParseFrameworkJSON(strings.NewReader(domain.EdgeFrameworkJSON))
	if err != nil {
		t.Fatal(err)
	}
	return append(fws, f)
}

// randomEvent returns an event of an assessment's stream on a random
// item of f (or none), with points of two decimals, or three when odd.
func randomEvent(rng *rand.Rand, f *domain.Framework, odd bool) domain.Event {
	leaves := f.Leaves()
	n := leaves[rng.IntN(len(leaves))]
	pts := func() decimal.Decimal {
		d := decimal.New(rng.Int64N(n.MaxPoints.Shift(2).IntPart()+1), -2)
		if odd {
			d = d.Add(decimal.New(5, -3))
		}
		return d
	}
	switch rng.IntN(12) {
	case 0, 1:
		return &domain.SelfScoreRecorded{Item: n.Code, Points: pts()}
	case 2:
		return &domain.EvidenceAttached{Item: n.Code, Evidence: domain.Evidence{SHA256: fmt.Sprintf("%064x", rng.IntN(3))}}
	case 3:
		return &domain.EvidenceWithdrawn{Item: n.Code, SHA256: fmt.Sprintf("%064x", rng.IntN(3))}
	case 4, 5:
		return &domain.AppraisalRecorded{Item: n.Code, Round: 1 + rng.IntN(2), Points: pts()}
	case 6:
		return &domain.SurveyScoreRecorded{Item: n.Code, Points: pts()}
	case 7:
		return &domain.BonusPenaltyRecorded{Item: n.Code, Points: pts()}
	case 8:
		p := pts()
		return &domain.ExplanationResolved{ID: "x", Item: n.Code, Accepted: rng.IntN(2) == 0, FinalPoints: &p}
	case 9:
		return &domain.SelfAssessmentSubmitted{}
	case 10:
		return &domain.SubmissionReopened{}
	default:
		return &domain.ExplanationRaised{ID: "x", Item: n.Code, Claimed: pts()}
	}
}

// TestTallyMatchesComputeScore plays random histories and checks after
// every event that the tally, updated from the one item the event
// changed, gives exactly ComputeScore's score, or says it cannot (a value
// that is not whole hundredths).
func TestTallyMatchesComputeScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, f := range tallyFrameworks(t) {
		s := domain.NewScorer(f)
		compared := 0
		for h := 0; h < 20; h++ {
			a := domain.NewAssessment("c", "u")
			tally := s.NewTally(a)
			for i := 0; i < 200; i++ {
				odd := rng.IntN(100) == 0
				e := randomEvent(rng, f, odd)
				a.Apply(domain.Recorded{Meta: domain.Meta{Revision: uint64(i)}, Event: e})
				item, known := domain.ItemChanged(e)
				if !known {
					t.Fatalf("ItemChanged(%T) is not known", e)
				}
				if item != "" {
					tally.Update(a, item)
				}
				rounding := int32(rng.IntN(4))
				want := domain.ComputeScore(f, a, rounding)
				got, ok := tally.Score(rounding)
				if !ok {
					continue
				}
				compared++
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s after %d events (%T %s):\n tally %+v\n score %+v", f.ID, i+1, e, item, got, want)
				}
				// A fresh tally of the same state agrees.
				if fresh, _ := s.NewTally(a).Score(rounding); !reflect.DeepEqual(fresh, want) {
					t.Fatalf("%s: a fresh tally differs:\n %+v\n %+v", f.ID, fresh, want)
				}
			}
		}
		if compared < 2000 {
			t.Errorf("%s: only %d of 4000 scores compared", f.ID, compared)
		}
	}
}

// TestTallyInexact checks that a value of three decimals makes the tally
// step aside, and that it comes back once the value is replaced.
func TestTallyInexact(t *testing.T) {
	f := tallyFrameworks(t)[2]
	s := domain.NewScorer(f)
	a := domain.NewAssessment("c", "u")
	tally := s.NewTally(a)
	apply := func(e domain.Event) {
		a.Apply(domain.Recorded{Event: e})
		item, _ := domain.ItemChanged(e)
		tally.Update(a, item)
	}
	apply(&domain.SelfScoreRecorded{Item: "1.1.1", Points: decimal.RequireFromString("0.125")})
	if _, ok := tally.Score(2); ok {
		t.Fatal("the tally took 0.125")
	}
	apply(&domain.SelfScoreRecorded{Item: "1.1.1", Points: decimal.RequireFromString("0.25")})
	got, ok := tally.Score(2)
	if !ok || !reflect.DeepEqual(got, domain.ComputeScore(f, a, 2)) {
		t.Fatalf("after replacing 0.125: %v %+v", ok, got)
	}
}

func BenchmarkTallyUpdate(b *testing.B) {
	fws, err := demo.Frameworks()
	if err != nil {
		b.Fatal(err)
	}
	f := fws[len(fws)-1]
	s := domain.NewScorer(f)
	a := domain.NewAssessment("c", "u")
	tally := s.NewTally(a)
	leaves := f.Leaves()
	for i := 0; b.Loop(); i++ {
		n := leaves[i%len(leaves)]
		a.Apply(domain.Recorded{Event: &domain.AppraisalRecorded{Item: n.Code, Round: 1, Points: decimal.New(int64(i%3), -1)}})
		tally.Update(a, n.Code)
	}
}

// TestScorerBreakdown checks that a scorer names the nodes of every
// score's breakdown, in order, with their titles and maxima: the rankings
// send them once per block.
func TestScorerBreakdown(t *testing.T) {
	for _, f := range tallyFrameworks(t) {
		areas, criteria := domain.NewScorer(f).Breakdown()
		sc := domain.ComputeScore(f, domain.NewAssessment("c", "u"), 2)
		for i, pair := range [2][2]any{{areas, sc.Areas}, {criteria, sc.Criteria}} {
			refs, lines := pair[0].([]domain.NodeRef), pair[1].([]domain.NodeScore)
			if len(refs) != len(lines) || len(refs) == 0 && i == 0 {
				t.Fatalf("%s: %d breakdown nodes, the score has %d lines", f.ID, len(refs), len(lines))
			}
			for j, n := range lines {
				if want := (domain.NodeRef{Code: n.Code, Title: n.Title, Max: n.Max}); !reflect.DeepEqual(refs[j], want) {
					t.Errorf("%s: node %d is %+v, want %+v", f.ID, j, refs[j], want)
				}
			}
		}
	}
}
