package domain

import "github.com/shopspring/decimal"

// A replay or a live server recomputes a unit's score after every event of
// its assessment. ComputeScore walks the whole framework each time; a
// Tally keeps the sums and updates them from the one item an event
// changed, in whole hundredths, so that the cost of an event no longer
// depends on the size of the framework. Its Score is ComputeScore's,
// value for value (the tests compare them on random histories); when a
// value is not whole hundredths it says so and the caller computes the
// score with ComputeScore.

// Scorer is a framework laid out for tallies: its leaves, and the
// breakdown lines (areas, criteria) each leaf counts in. Make one per
// framework with NewScorer; it is immutable and safe for concurrent use.
type Scorer struct {
	f      *Framework
	index  map[string][]int32 // leaf code -> leaves
	leaves []scorerLeaf
	lines  []scorerLine // the areas' lines, then the criteria's, in Score's order
	areas  int          // how many of lines are areas
	max    cents
	exact  bool // every maximum is whole hundredths
}

type scorerLeaf struct {
	node  *Node
	lines [2]int32 // the lines it counts in (-1: none)
}

type scorerLine struct {
	node *Node
	max  cents
}

// NewScorer lays out f. It follows ComputeScore's walk: a line for each
// area (depth 1) and criterion (depth 2) that holds anything but bonus and
// penalty items, each counting every leaf below it.
func NewScorer(f *Framework) *Scorer {
	s := &Scorer{f: f, index: map[string][]int32{}, exact: true}
	var areas, criteria []scorerLine
	var areaOf, criterionOf []int // per leaf: its line in areas and criteria, -1 none
	conv := func(n *Node) cents {
		c, ok := centsOf(n.MaxPoints)
		s.exact = s.exact && ok
		return c
	}
	// walk adds n's leaves and reports whether n holds only bonus and
	// penalty items.
	var walk func(n *Node, depth int) bool
	walk = func(n *Node, depth int) bool {
		first := len(s.leaves)
		bp := false
		if n.IsLeaf() {
			s.index[n.Code] = append(s.index[n.Code], int32(len(s.leaves)))
			s.leaves = append(s.leaves, scorerLeaf{node: n})
			areaOf, criterionOf = append(areaOf, -1), append(criterionOf, -1)
			bp = n.Method == MethodBonus || n.Method == MethodPenalty
		} else {
			bp = len(n.Children) > 0
			for _, c := range n.Children {
				bp = walk(c, depth+1) && bp
			}
		}
		if bp || depth > 2 {
			return bp
		}
		line := scorerLine{node: n, max: conv(n)}
		for i := first; i < len(s.leaves); i++ {
			if depth == 1 {
				areaOf[i] = len(areas)
			} else {
				criterionOf[i] = len(criteria)
			}
		}
		if depth == 1 {
			s.max += line.max
			areas = append(areas, line)
		} else {
			criteria = append(criteria, line)
		}
		return bp
	}
	for _, a := range f.Areas {
		walk(a, 1)
	}
	s.areas = len(areas)
	s.lines = append(areas, criteria...)
	for i := range s.leaves {
		s.leaves[i].lines = [2]int32{-1, -1}
		if areaOf[i] >= 0 {
			s.leaves[i].lines[0] = int32(areaOf[i])
		}
		if criterionOf[i] >= 0 {
			s.leaves[i].lines[1] = int32(s.areas + criterionOf[i])
		}
	}
	return s
}

// Framework returns the framework s lays out.
func (s *Scorer) Framework() *Framework { return s.f }

// Breakdown returns the nodes of a score's breakdown lines, in the order
// of Score's Areas and Criteria.
func (s *Scorer) Breakdown() (areas, criteria []NodeRef) {
	areas, criteria = make([]NodeRef, 0, s.areas), make([]NodeRef, 0, len(s.lines)-s.areas)
	for i, l := range s.lines {
		ref := NodeRef{Code: l.node.Code, Title: l.node.Title, Max: l.node.MaxPoints}
		if i < s.areas {
			areas = append(areas, ref)
		} else {
			criteria = append(criteria, ref)
		}
	}
	return areas, criteria
}

// Lines returns how many breakdown lines a score of s has: its areas and
// criteria.
func (s *Scorer) Lines() int { return len(s.lines) }

// Tally is one assessment's score in whole hundredths, kept up to date by
// Update. It is not safe for concurrent use.
type Tally struct {
	s       *Scorer
	leaves  []leafTally
	totals  ScoreCents
	prov    int // self-scored leaves whose final points are provisional
	inexact int // leaves holding a value that is not whole hundredths
}

type leafTally struct {
	self, appraised, survey, final cents
	provisional, inexact           bool
}

// ScoreCents is a score in whole hundredths of a point: the sums a Tally
// keeps, and all a score timeline needs to record. Scorer.Score turns it
// back into a Score.
type ScoreCents struct {
	Self, Appraised, Survey, Bonus, Penalty int64
	// Scored is the sum of the final points of the items that are
	// neither bonus nor penalty.
	Scored      int64
	Provisional bool
	// Lines are the points achieved on each breakdown line: the areas,
	// then the criteria, in Score's order.
	Lines []int64
}

// NewTally adds up assessment a (nil: an empty one) on s.
func (s *Scorer) NewTally(a *Assessment) *Tally {
	t := &Tally{s: s, leaves: make([]leafTally, len(s.leaves)), totals: ScoreCents{Lines: make([]int64, len(s.lines))}}
	var items map[string]*ItemState
	if a != nil {
		items = a.Items
	}
	for i := range s.leaves {
		t.set(i, items[s.leaves[i].node.Code])
	}
	return t
}

// Scorer returns the scorer t counts on.
func (t *Tally) Scorer() *Scorer { return t.s }

// Update takes in the current state of one item of a (after an event that
// changed that item only).
func (t *Tally) Update(a *Assessment, item string) {
	for _, i := range t.s.index[item] {
		t.set(int(i), a.Items[item])
	}
}

// set replaces leaf i's contribution by that of state st.
func (t *Tally) set(i int, st *ItemState) {
	leaf := &t.s.leaves[i]
	n := leaf.node
	var v leafTally
	conv := func(d *cents, p *decimal.Decimal) {
		c, ok := centsOf(*p)
		*d, v.inexact = c, v.inexact || !ok
	}
	final, provisional := ItemFinal(n, st)
	conv(&v.final, &final)
	v.provisional = provisional && n.Method == MethodSelf
	if st != nil {
		if st.Self != nil {
			conv(&v.self, st.Self)
		}
		if ap := st.Appraised(); ap != nil {
			conv(&v.appraised, &ap.Points)
		}
		if st.Survey != nil && n.Method == MethodSurvey {
			conv(&v.survey, st.Survey)
		}
	}
	old := t.leaves[i]
	t.leaves[i] = v
	tot := &t.totals
	tot.Self += int64(v.self - old.self)
	tot.Appraised += int64(v.appraised - old.appraised)
	tot.Survey += int64(v.survey - old.survey)
	d := int64(v.final - old.final)
	switch n.Method {
	case MethodBonus:
		tot.Bonus += d
	case MethodPenalty:
		tot.Penalty += d
	default:
		tot.Scored += d
	}
	for _, l := range leaf.lines {
		if l >= 0 {
			tot.Lines[l] += d
		}
	}
	t.prov += b2i(v.provisional) - b2i(old.provisional)
	t.inexact += b2i(v.inexact) - b2i(old.inexact)
	tot.Provisional = t.prov > 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Cents returns the tally's sums, and false when some value is not whole
// hundredths (then only ComputeScore gives the score). The Lines slice is
// the tally's own: copy it to keep it past the next Update.
func (t *Tally) Cents() (ScoreCents, bool) {
	return t.totals, t.inexact == 0 && t.s.exact
}

// Score returns the tally's score, equal to ComputeScore's, and false
// when some value is not whole hundredths.
func (t *Tally) Score(rounding int32) (Score, bool) {
	c, ok := t.Cents()
	if !ok {
		return Score{}, false
	}
	return t.s.Score(c, rounding)
}

// Score turns sums in hundredths back into the Score ComputeScore gives;
// false when c does not fit s (another number of lines) or s's maxima are
// not whole hundredths.
func (s *Scorer) Score(c ScoreCents, rounding int32) (Score, bool) {
	if !s.exact || len(c.Lines) != len(s.lines) {
		return Score{}, false
	}
	pct := centsPercent(rounding)
	var sc Score
	for i, l := range s.lines {
		ns := NodeScore{Code: l.node.Code, Title: l.node.Title, Max: l.node.MaxPoints, Achieved: cents(c.Lines[i]).decimal(), Index: pct(cents(c.Lines[i]), l.max)}
		if i < s.areas {
			sc.Areas = append(sc.Areas, ns)
		} else {
			sc.Criteria = append(sc.Criteria, ns)
		}
	}
	final := max(cents(c.Scored+c.Bonus-c.Penalty), 0)
	final = min(final, s.max)
	sc.Self, sc.Appraised, sc.Survey = cents(c.Self).decimal(), cents(c.Appraised).decimal(), cents(c.Survey).decimal()
	sc.Bonus, sc.Penalty = cents(c.Bonus).decimal(), cents(c.Penalty).decimal()
	sc.Final, sc.Max, sc.Index = final.decimal(), s.max.decimal(), pct(final, s.max)
	sc.Provisional = c.Provisional
	return sc, true
}
