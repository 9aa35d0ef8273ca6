package domain

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

var hundred = decimal.NewFromInt(100)

// NodeScore is the points achieved in one area or criterion.
type NodeScore struct {
	Code     string          `json:"code"`
	Title    string          `json:"title"`
	Max      decimal.Decimal `json:"max"`
	Achieved decimal.Decimal `json:"achieved"`
	// Index is Achieved ÷ Max × 100, rounded to the campaign's decimals.
	Index decimal.Decimal `json:"index"`
}

// Score is an assessment's totals as a person would compute them by hand,
// in exact decimals.
type Score struct {
	// Self is the sum of the unit's own scores.
	Self decimal.Decimal `json:"self"`
	// Appraised is the sum of appraised scores (latest round) of the items
	// appraised so far; Survey the sum of survey scores.
	Appraised decimal.Decimal `json:"appraised"`
	Survey    decimal.Decimal `json:"survey"`
	// Bonus and Penalty are the points of the bonus and penalty section.
	Bonus   decimal.Decimal `json:"bonus"`
	Penalty decimal.Decimal `json:"penalty"`
	// Final is the sum of every item's final points, plus bonus, minus
	// penalty, kept within 0..Max. An item's final points are the
	// council's when it accepted an explanation, else the latest
	// appraisal, else (for self-scored items not yet appraised, marked
	// Provisional) the self score; survey items count their survey score.
	Final decimal.Decimal `json:"final"`
	// Max is the framework's maximum, bonus and penalty excluded.
	Max decimal.Decimal `json:"max"`
	// Index is Final ÷ Max × 100 rounded half up to the campaign's
	// decimals: the PAR index in percent.
	Index decimal.Decimal `json:"index"`
	// Provisional is true while some self-scored item is not appraised.
	Provisional bool        `json:"provisional"`
	Areas       []NodeScore `json:"areas"`
	Criteria    []NodeScore `json:"criteria"`
}

// ItemFinal returns an item's final points and whether they are
// provisional (a self score not yet appraised).
func ItemFinal(n *Node, s *ItemState) (decimal.Decimal, bool) {
	if s == nil {
		return decimal.Zero, n.Method == MethodSelf || n.Method == MethodHigherLevel
	}
	if s.Council != nil {
		return *s.Council, false
	}
	switch n.Method {
	case MethodSurvey:
		if s.Survey != nil {
			return *s.Survey, false
		}
		return decimal.Zero, false
	case MethodBonus, MethodPenalty:
		if s.Adjustment != nil {
			return *s.Adjustment, false
		}
		return decimal.Zero, false
	}
	if a := s.Appraised(); a != nil {
		return a.Points, false
	}
	if n.Method == MethodSelf && s.Self != nil {
		return *s.Self, true
	}
	return decimal.Zero, true
}

// Percent returns part ÷ whole × 100 rounded half up to places decimals
// (0 when whole is 0).
func Percent(part, whole decimal.Decimal, places int32) decimal.Decimal {
	if whole.IsZero() {
		return decimal.Zero
	}
	return part.Mul(hundred).DivRound(whole, places)
}

// ComputeScore adds up an assessment against its framework.
func ComputeScore(f *Framework, a *Assessment, rounding int32) Score {
	var sc Score
	sc.Max = f.MaxTotal()
	var scored decimal.Decimal
	// node records the breakdown line of an area (depth 1) or a criterion
	// (depth 2), whether it has sub-items or is scored directly.
	node := func(n *Node, depth int, achieved decimal.Decimal) {
		if n.IsBonusPenalty() {
			return
		}
		ns := NodeScore{Code: n.Code, Title: n.Title, Max: n.MaxPoints, Achieved: achieved, Index: Percent(achieved, n.MaxPoints, rounding)}
		switch depth {
		case 1:
			sc.Areas = append(sc.Areas, ns)
		case 2:
			sc.Criteria = append(sc.Criteria, ns)
		}
	}
	var walk func(n *Node, depth int) decimal.Decimal
	walk = func(n *Node, depth int) decimal.Decimal {
		if n.IsLeaf() {
			s := a.Items[n.Code]
			final, provisional := ItemFinal(n, s)
			if provisional && n.Method == MethodSelf {
				sc.Provisional = true
			}
			if s != nil {
				if s.Self != nil {
					sc.Self = sc.Self.Add(*s.Self)
				}
				if ap := s.Appraised(); ap != nil {
					sc.Appraised = sc.Appraised.Add(ap.Points)
				}
				if s.Survey != nil && n.Method == MethodSurvey {
					sc.Survey = sc.Survey.Add(*s.Survey)
				}
			}
			switch n.Method {
			case MethodBonus:
				sc.Bonus = sc.Bonus.Add(final)
			case MethodPenalty:
				sc.Penalty = sc.Penalty.Add(final)
			default:
				scored = scored.Add(final)
			}
			node(n, depth, final)
			return final
		}
		var sum decimal.Decimal
		for _, c := range n.Children {
			sum = sum.Add(walk(c, depth+1))
		}
		node(n, depth, sum)
		return sum
	}
	for _, area := range f.Areas {
		walk(area, 1)
	}
	final := scored.Add(sc.Bonus).Sub(sc.Penalty)
	if final.IsNegative() {
		final = decimal.Zero
	}
	if final.GreaterThan(sc.Max) {
		final = sc.Max
	}
	sc.Final = final
	sc.Index = Percent(final, sc.Max, rounding)
	return sc
}

// Standing is one unit's line in a block's ranking.
type Standing struct {
	Unit   Unit   `json:"unit"`
	Score  Score  `json:"score"`
	Status string `json:"status"`
	Rank   int    `json:"rank"`
	Grade  string `json:"grade,omitempty"`
}

// standingJSON is the wire form of a Standing: the unit named by its code
// and name at the top level, as rankings tables list it.
type standingJSON struct {
	UnitCode string `json:"unitCode"`
	UnitName string `json:"unitName"`
	Block    Block  `json:"block"`
	Rank     int    `json:"rank"`
	Grade    string `json:"grade,omitempty"`
	Status   string `json:"status"`
	Score    Score  `json:"score"`
}

// MarshalJSON writes the standing with unitCode and unitName.
func (s Standing) MarshalJSON() ([]byte, error) {
	return json.Marshal(standingJSON{UnitCode: s.Unit.Code, UnitName: s.Unit.Name, Block: s.Unit.Block, Rank: s.Rank, Grade: s.Grade, Status: s.Status, Score: s.Score})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Standing) UnmarshalJSON(b []byte) error {
	var j standingJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Standing{Unit: Unit{Code: j.UnitCode, Name: j.UnitName, Block: j.Block}, Score: j.Score, Status: j.Status, Rank: j.Rank, Grade: j.Grade}
	return nil
}

// RankBlock orders standings of one block by index, highest first (then by
// unit code), and gives ranks: equal rounded indexes share a rank, the
// next rank skipping (shared) or not (dense); and grades from the bands.
func RankBlock(rows []Standing, s CampaignSettings) {
	slices.SortStableFunc(rows, func(a, b Standing) int {
		if c := b.Score.Index.Cmp(a.Score.Index); c != 0 {
			return c
		}
		return strings.Compare(a.Unit.Code, b.Unit.Code)
	})
	rank := 0
	for i := range rows {
		switch {
		case i > 0 && rows[i].Score.Index.Equal(rows[i-1].Score.Index):
			rows[i].Rank = rows[i-1].Rank
		case s.TieRule == TieDense:
			rank++
			rows[i].Rank = rank
		default:
			rows[i].Rank = i + 1
		}
		rows[i].Grade = ""
		for _, g := range s.GradeBands {
			if rows[i].Score.Index.GreaterThanOrEqual(g.Min) {
				rows[i].Grade = g.Grade
				break
			}
		}
	}
}
