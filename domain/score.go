package domain

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

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

// NodeRef names an area or criterion of a score's breakdown: what every
// NodeScore of that node repeats, whoever's score it is.
type NodeRef struct {
	Code  string          `json:"code"`
	Title string          `json:"title"`
	Max   decimal.Decimal `json:"max"`
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

// ComputeScore adds up an assessment against its framework. Points have
// at most two decimals, so it adds them as whole hundredths in int64 (fast
// and exact); should any value have more, it adds them as arbitrary
// precision decimals instead. Both give the same result.
func ComputeScore(f *Framework, a *Assessment, rounding int32) Score {
	if sc, ok := computeScore(f, a, rounding, centsOf, cents.decimal, centsPercent(rounding)); ok {
		return sc
	}
	sc, _ := computeScore(f, a, rounding, func(d decimal.Decimal) (decimal.Decimal, bool) { return d, true },
		func(d decimal.Decimal) decimal.Decimal { return d },
		func(part, whole decimal.Decimal) decimal.Decimal { return Percent(part, whole, rounding) })
	return sc
}

// number is what ComputeScore needs of its arithmetic.
type number[T any] interface {
	Add(T) T
	Sub(T) T
	IsNegative() bool
	GreaterThan(T) bool
}

// cents is an amount of points in hundredths.
type cents int64

func (c cents) Add(d cents) cents        { return c + d }
func (c cents) Sub(d cents) cents        { return c - d }
func (c cents) IsNegative() bool         { return c < 0 }
func (c cents) GreaterThan(d cents) bool { return c > d }

// decimal returns c as a decimal with two places. The values from 0.00 to
// 100.00 are made once and shared (a Decimal is immutable): a campaign's
// rankings hold every unit's points and percentages for every area and
// criterion, nearly all in that range, and at national scale (10,000 units)
// fresh decimals were two million small objects for the garbage collector
// to mark on every collection, and to allocate on every new ranking.
func (c cents) decimal() decimal.Decimal {
	if t := sharedCents(); c >= 0 && int64(c) < int64(len(t)) {
		return t[c]
	}
	return decimal.New(int64(c), -2)
}

// sharedCents holds the decimals 0.00, 0.01, ... 100.00.
var sharedCents = sync.OnceValue(func() []decimal.Decimal {
	t := make([]decimal.Decimal, 10_001)
	for i := range t {
		t[i] = decimal.New(int64(i), -2)
	}
	return t
})

// centsOf converts d to hundredths if it has at most two decimals and
// fits comfortably in an int64.
func centsOf(d decimal.Decimal) (cents, bool) {
	exp := d.Exponent()
	c := d.CoefficientInt64()
	// Points are validated to two decimals within their maxima: anything
	// else (or a coefficient too large for the int64) takes the decimal path.
	if exp < -2 || exp > 6 || c > 1e12 || c < -1e12 {
		return 0, false
	}
	for ; exp > -2; exp-- {
		c *= 10
	}
	return cents(c), true
}

// centsPercent returns part ÷ whole × 100 rounded half up (away from zero)
// to places decimals, computed on integers, as Percent does on decimals.
func centsPercent(places int32) func(part, whole cents) decimal.Decimal {
	scale := int64(1)
	for i := int32(0); i < places; i++ {
		scale *= 10
	}
	return func(part, whole cents) decimal.Decimal {
		if whole == 0 || places > 6 {
			return Percent(part.decimal(), whole.decimal(), places)
		}
		q, w := int64(part)*100*scale, int64(whole)
		neg := (q < 0) != (w < 0)
		if q < 0 {
			q = -q
		}
		if w < 0 {
			w = -w
		}
		r := (2*q + w) / (2 * w)
		if neg {
			r = -r
		}
		if places == 2 {
			return cents(r).decimal()
		}
		return decimal.New(r, -places)
	}
}

// computeScore walks the framework adding up in T; it fails if a value
// cannot be converted to T.
func computeScore[T number[T]](f *Framework, a *Assessment, rounding int32, of func(decimal.Decimal) (T, bool), dec func(T) decimal.Decimal, pct func(part, whole T) decimal.Decimal) (sc Score, ok bool) {
	ok = true
	conv := func(d decimal.Decimal) T {
		v, good := of(d)
		ok = ok && good
		return v
	}
	var self, appraised, survey, bonus, penalty, scored, max T
	// node records the breakdown line of an area (depth 1) or a criterion
	// (depth 2), whether it has sub-items or is scored directly; the
	// bonus and penalty section has none, and counts in no maximum.
	node := func(n *Node, depth int, achieved T, bonusPenalty bool) {
		if bonusPenalty || depth > 2 {
			return
		}
		m := conv(n.MaxPoints)
		ns := NodeScore{Code: n.Code, Title: n.Title, Max: n.MaxPoints, Achieved: dec(achieved), Index: pct(achieved, m)}
		if depth == 1 {
			max = max.Add(m)
			sc.Areas = append(sc.Areas, ns)
		} else {
			sc.Criteria = append(sc.Criteria, ns)
		}
	}
	// walk adds up a node; it also reports whether the node holds only
	// bonus and penalty items.
	var walk func(n *Node, depth int) (T, bool)
	walk = func(n *Node, depth int) (T, bool) {
		if n.IsLeaf() {
			s := a.Items[n.Code]
			fd, provisional := ItemFinal(n, s)
			final := conv(fd)
			if provisional && n.Method == MethodSelf {
				sc.Provisional = true
			}
			if s != nil {
				if s.Self != nil {
					self = self.Add(conv(*s.Self))
				}
				if ap := s.Appraised(); ap != nil {
					appraised = appraised.Add(conv(ap.Points))
				}
				if s.Survey != nil && n.Method == MethodSurvey {
					survey = survey.Add(conv(*s.Survey))
				}
			}
			bp := false
			switch n.Method {
			case MethodBonus:
				bonus, bp = bonus.Add(final), true
			case MethodPenalty:
				penalty, bp = penalty.Add(final), true
			default:
				scored = scored.Add(final)
			}
			node(n, depth, final, bp)
			return final, bp
		}
		var sum T
		bpOnly := len(n.Children) > 0
		for _, c := range n.Children {
			v, bp := walk(c, depth+1)
			sum, bpOnly = sum.Add(v), bpOnly && bp
		}
		node(n, depth, sum, bpOnly)
		return sum, bpOnly
	}
	for _, area := range f.Areas {
		walk(area, 1)
	}
	final := scored.Add(bonus).Sub(penalty)
	if final.IsNegative() {
		var zero T
		final = zero
	}
	if final.GreaterThan(max) {
		final = max
	}
	sc.Self, sc.Appraised, sc.Survey, sc.Bonus, sc.Penalty = dec(self), dec(appraised), dec(survey), dec(bonus), dec(penalty)
	sc.Final, sc.Max, sc.Index = dec(final), dec(max), pct(final, max)
	return sc, ok
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
