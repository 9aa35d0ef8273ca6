package projections

import (
	"slices"
	"strings"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
)

// Scoreboard is the live read model of every campaign: its settings,
// units, and each assessment's scores, and the rankings per block. Scores
// are recomputed only for assessments that changed, and rankings only
// when a score did. It is safe for concurrent use.
type Scoreboard struct {
	mu         sync.Mutex
	campaigns  map[string]*campaignView
	order      []string
	frameworks map[string][]*domain.Framework // library, by id, oldest version first
	position   uint64
	canon      canon
	// The unit of the last event applied, which the score timeline asks
	// for next.
	lastCampaign, lastUnit string
	lastView               *campaignView
	lastState              *unitState
}

type campaignView struct {
	c       *domain.Campaign
	units   map[string]*unitState
	scorers map[*domain.Framework]*domain.Scorer
	version uint64 // bumped on every change of the campaign or its assessments
	// rankings are the last computed, at version ranked.
	rankings *Rankings
	ranked   uint64
}

// unitState is what the scoreboard knows of one unit of a campaign.
type unitState struct {
	// a is the unit's assessment, slimmed (nil before its first event).
	a *domain.Assessment
	// tally keeps its score up to date event by event, on the scorer of
	// its framework (nil until needed, and after its framework changed).
	tally *domain.Tally
	// score is its score when scored is set.
	score  domain.Score
	scored bool
}

// NewScoreboard returns an empty scoreboard.
func NewScoreboard() *Scoreboard {
	return &Scoreboard{campaigns: make(map[string]*campaignView), frameworks: make(map[string][]*domain.Framework)}
}

// Apply folds one event in.
func (b *Scoreboard) Apply(r domain.Recorded) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.position = r.Position
	switch e := r.Event.(type) {
	case *domain.FrameworkRegistered:
		b.frameworks[e.Framework.ID] = append(b.frameworks[e.Framework.ID], e.Framework)
		return
	case *domain.CampaignOpened:
		v := newCampaignView(&domain.Campaign{})
		b.campaigns[e.ID] = v
		b.lastView, b.lastState = nil, nil
		b.order = append(b.order, e.ID)
		v.c.Apply(r)
		return
	}
	if campaign, unit, ok := domain.ParseAssessmentStream(r.Stream); ok {
		v := b.campaigns[campaign]
		if v == nil {
			return
		}
		us := v.unit(unit)
		if us.a == nil {
			us.a = domain.NewAssessment(v.c.ID, strings.Clone(unit))
		}
		us.a.Apply(r)
		item, known := domain.ItemChanged(r.Event)
		b.slim(us.a, item)
		if us.tally != nil {
			if !known {
				us.tally = nil // recounted when next needed
			} else if item != "" {
				us.tally.Update(us.a, item)
			}
		}
		us.scored = false
		v.version++
		b.lastCampaign, b.lastUnit, b.lastView, b.lastState = campaign, unit, v, us
		return
	}
	if id, ok := strings.CutPrefix(r.Stream, domain.CampaignStreamPrefix); ok {
		v := b.campaigns[id]
		if v == nil {
			return
		}
		v.c.Apply(r)
		switch e := r.Event.(type) {
		case *domain.FrameworkFrozen:
			for _, us := range v.units {
				us.tally, us.scored = nil, false
			}
		case *domain.UnitEnrolled:
			us := v.unit(e.Unit.Code)
			us.tally, us.scored = nil, false
		}
		v.version++
	}
}

// slim drops from an assessment, after an event that may have changed
// item, what scores and statuses do not need: evidence, notes, the
// appraisals' authors, reasons and times, the explanations' texts (an
// accepted explanation's points are on the item); and it shares the
// item's points and appraisals with every other item that has the same
// (points are few: quarter points, levels). The scoreboard holds every
// assessment of every campaign, so what it keeps per item is what the
// server's memory grows with; the full assessment is read from the ledger
// when asked for.
func (b *Scoreboard) slim(a *domain.Assessment, item string) {
	a.Explanations = nil
	s := a.Items[item]
	if s == nil {
		return
	}
	s.Evidence, s.SelfNote = nil, ""
	s.Self, s.Survey, s.Adjustment, s.Council = b.canon.decimal(s.Self), b.canon.decimal(s.Survey), b.canon.decimal(s.Adjustment), b.canon.decimal(s.Council)
	for i, ap := range s.Appraisals {
		if ap != nil {
			s.Appraisals[i] = b.canon.appraisal(ap)
		}
	}
}

// canon holds one copy of each score value the scoreboard's assessments
// hold, and of each appraisal reduced to its points; they are never
// written to once made.
type canon struct {
	decimals   map[canonKey]*decimal.Decimal
	appraisals map[canonKey]*domain.Appraisal
}

// canonKey is a decimal's coefficient and exponent: "1.5" and "1.50" stay
// apart, as their decimals do.
type canonKey struct {
	coef int64
	exp  int32
}

func keyOf(d decimal.Decimal) (canonKey, bool) {
	if d.NumDigits() > 18 {
		return canonKey{}, false
	}
	return canonKey{d.CoefficientInt64(), d.Exponent()}, true
}

// decimal returns the shared copy of *d (nil for nil).
func (c *canon) decimal(d *decimal.Decimal) *decimal.Decimal {
	if d == nil {
		return nil
	}
	k, ok := keyOf(*d)
	if !ok {
		return d
	}
	if shared := c.decimals[k]; shared != nil {
		return shared
	}
	if c.decimals == nil {
		c.decimals = map[canonKey]*decimal.Decimal{}
	}
	c.decimals[k] = d
	return d
}

// appraisal returns the shared appraisal of ap's points.
func (c *canon) appraisal(ap *domain.Appraisal) *domain.Appraisal {
	k, ok := keyOf(ap.Points)
	if !ok {
		return &domain.Appraisal{Points: ap.Points}
	}
	if shared := c.appraisals[k]; shared != nil {
		return shared
	}
	if c.appraisals == nil {
		c.appraisals = map[canonKey]*domain.Appraisal{}
	}
	shared := &domain.Appraisal{Points: *c.decimal(&ap.Points)}
	c.appraisals[k] = shared
	return shared
}

// Position returns the position of the last event applied.
func (b *Scoreboard) Position() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.position
}

// CampaignSummary describes a campaign in a list.
type CampaignSummary struct {
	ID         string                   `json:"id"`
	Year       int                      `json:"year"`
	Title      string                   `json:"title"`
	Units      int                      `json:"units"`
	Calendar   domain.Calendar          `json:"calendar"`
	Published  *domain.ResultsPublished `json:"published,omitempty"`
	Frameworks map[domain.Block]string  `json:"frameworks"`
}

// Campaigns lists the campaigns in the order they were opened.
func (b *Scoreboard) Campaigns() []CampaignSummary {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]CampaignSummary, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, summary(b.campaigns[id].c))
	}
	return out
}

func summary(c *domain.Campaign) CampaignSummary {
	s := CampaignSummary{ID: c.ID, Year: c.Year, Title: c.Title, Units: len(c.Units), Calendar: c.Calendar, Published: c.Published, Frameworks: map[domain.Block]string{}}
	for block, f := range c.Frameworks {
		s.Frameworks[block] = domain.FrameworkRef{ID: f.ID, Version: f.Version}.String()
	}
	return s
}

// Campaign returns a copy of a campaign's state.
func (b *Scoreboard) Campaign(id string) (domain.Campaign, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.campaigns[id]
	if v == nil {
		return domain.Campaign{}, false
	}
	c := *v.c
	c.UnitOrder = slices.Clone(c.UnitOrder)
	return c, true
}

// Published reports whether a campaign's results are published.
func (b *Scoreboard) Published(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.campaigns[id]
	return v != nil && v.c.Published != nil
}

// FrameworkVersions returns the versions of a framework in the library.
func (b *Scoreboard) FrameworkVersions(id string) []*domain.Framework {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.frameworks[id])
}

// FrameworkIDs lists the library's framework ids.
func (b *Scoreboard) FrameworkIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.frameworks))
	for id := range b.frameworks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// BlockRanking is the ranking of one block.
type BlockRanking struct {
	Block     domain.Block `json:"block"`
	Framework string       `json:"framework"`
	// Areas and Criteria are the framework's breakdown nodes, in the
	// order of every row's Score.Areas and Score.Criteria.
	Areas    []domain.NodeRef  `json:"areas"`
	Criteria []domain.NodeRef  `json:"criteria"`
	Rows     []domain.Standing `json:"rows"`
}

// Rankings are a campaign's rankings per block at a log position. They
// are immutable once returned.
type Rankings struct {
	Campaign  string                   `json:"campaign"`
	Title     string                   `json:"title"`
	Position  uint64                   `json:"position"`
	Published *domain.ResultsPublished `json:"published,omitempty"`
	Blocks    []BlockRanking           `json:"blocks"`

	memo *memo
}

// memo holds what callers derived from one Rankings value.
type memo struct {
	mu      sync.Mutex
	entries map[any]*memoEntry
}

type memoEntry struct {
	once sync.Once
	v    any
}

// memoCap bounds the entries a Rankings memo keeps (pages of a large
// campaign, say); past it, Memo computes without keeping.
const memoCap = 4096

// Memo returns what compute returns for key, computed once for these
// rankings however many goroutines ask at once: an encoded response, for
// one, which stays right as long as the rankings are current. A copy of
// the Rankings value shares its memo, so a caller who changes a copy
// (filters its rows) must not use Memo on it. Keys are comparable values
// of the caller's own types.
func (r *Rankings) Memo(key any, compute func() any) any {
	if r.memo == nil {
		return compute()
	}
	r.memo.mu.Lock()
	e := r.memo.entries[key]
	if e == nil {
		if len(r.memo.entries) >= memoCap {
			r.memo.mu.Unlock()
			return compute()
		}
		if r.memo.entries == nil {
			r.memo.entries = map[any]*memoEntry{}
		}
		e = &memoEntry{}
		r.memo.entries[key] = e
	}
	r.memo.mu.Unlock()
	e.once.Do(func() { e.v = compute() })
	return e.v
}

// Rankings returns a campaign's current rankings.
func (b *Scoreboard) Rankings(id string) (*Rankings, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.campaigns[id]
	if v == nil {
		return nil, false
	}
	if v.rankings != nil && v.ranked == v.version {
		return v.rankings, true
	}
	v.rankings, v.ranked = v.rank(b.position), v.version
	return v.rankings, true
}

func newCampaignView(c *domain.Campaign) *campaignView {
	return &campaignView{c: c, units: map[string]*unitState{}, scorers: map[*domain.Framework]*domain.Scorer{}}
}

// unit returns the state of a unit, made empty if the view has none.
func (v *campaignView) unit(code string) *unitState {
	us := v.units[code]
	if us == nil {
		us = &unitState{}
		v.units[strings.Clone(code)] = us
	}
	return us
}

// assessment returns the unit's assessment, or an empty one.
func (v *campaignView) assessment(code string, us *unitState) *domain.Assessment {
	if us.a == nil {
		return domain.NewAssessment(v.c.ID, code)
	}
	return us.a
}

// refresh recomputes one unit's score; false when the unit has no
// framework (it is not enrolled, or its block has none).
func (v *campaignView) refresh(code string, us *unitState) bool {
	t, ok := v.tally(code, us)
	if !ok {
		us.score, us.scored = domain.Score{}, false
		return false
	}
	if sc, ok := t.Score(v.c.Settings.Rounding); ok {
		us.score = sc
	} else {
		us.score = domain.ComputeScore(t.Scorer().Framework(), v.assessment(code, us), v.c.Settings.Rounding)
	}
	us.scored = true
	return true
}

// tally returns the tally of a unit's assessment, counting it afresh when
// it has none; false when the unit has no framework.
func (v *campaignView) tally(code string, us *unitState) (*domain.Tally, bool) {
	if us.tally != nil {
		return us.tally, true
	}
	f, _, err := v.c.Framework(code)
	if err != nil {
		return nil, false
	}
	s := v.scorers[f]
	if s == nil {
		s = domain.NewScorer(f)
		v.scorers[f] = s
	}
	us.tally = s.NewTally(v.assessment(code, us))
	return us.tally, true
}

func (v *campaignView) rank(position uint64) *Rankings { return v.rankWith(position, nil) }

// rankWith ranks the view's scores; statuses, when not nil, gives each
// unit's status instead of its assessment's.
func (v *campaignView) rankWith(position uint64, statuses map[string]string) *Rankings {
	r := &Rankings{Campaign: v.c.ID, Title: v.c.Title, Position: position, Published: v.c.Published, Blocks: []BlockRanking{}, memo: &memo{}}
	for _, block := range []domain.Block{domain.BlockDepartments, domain.BlockDistricts} {
		f := v.c.Frameworks[block]
		if f == nil {
			continue
		}
		s := v.scorers[f]
		if s == nil {
			s = domain.NewScorer(f)
			v.scorers[f] = s
		}
		br := BlockRanking{Block: block, Framework: domain.FrameworkRef{ID: f.ID, Version: f.Version}.String(), Rows: []domain.Standing{}}
		br.Areas, br.Criteria = s.Breakdown()
		for _, code := range v.c.UnitOrder {
			u := v.c.Units[code]
			if u.Block != block {
				continue
			}
			us := v.unit(code)
			if !us.scored {
				v.refresh(code, us)
			}
			sc := us.score
			status := "not-started"
			if us.a != nil {
				status = us.a.Status()
			}
			if st, ok := statuses[code]; ok {
				status = st
			}
			br.Rows = append(br.Rows, domain.Standing{Unit: u, Score: sc, Status: status})
		}
		domain.RankBlock(br.Rows, v.c.Settings)
		r.Blocks = append(r.Blocks, br)
	}
	return r
}

// Standing returns one unit's current standing in its block.
func (b *Scoreboard) Standing(campaign, unit string) (domain.Standing, bool) {
	r, ok := b.Rankings(campaign)
	if !ok {
		return domain.Standing{}, false
	}
	for _, br := range r.Blocks {
		for _, row := range br.Rows {
			if row.Unit.Code == unit {
				return row, true
			}
		}
	}
	return domain.Standing{}, false
}

// Unfinished lists a campaign's units whose assessment is not finalized.
func (b *Scoreboard) Unfinished(campaign string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.campaigns[campaign]
	if v == nil {
		return nil
	}
	var out []string
	for _, code := range v.c.UnitOrder {
		if us := v.units[code]; us == nil || us.a == nil || !us.a.Finalized {
			out = append(out, code)
		}
	}
	return out
}
