package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// Assessment is one unit's assessment in one campaign: the state folded
// from its stream.
type Assessment struct {
	Campaign string
	Unit     string
	// Revision is the revision of the stream's last event; Exists is
	// false while the stream has none.
	Revision uint64
	Exists   bool

	Submitted   bool
	SubmittedAt time.Time
	Finalized   bool
	FinalizedAt time.Time

	Items        map[string]*ItemState
	Explanations []*Explanation
	// UpdatedAt is when the last event was recorded.
	UpdatedAt time.Time
}

// NewAssessment returns the empty assessment of a unit in a campaign.
func NewAssessment(campaign, unit string) *Assessment {
	return &Assessment{Campaign: campaign, Unit: unit, Items: make(map[string]*ItemState)}
}

// ItemState is what has been recorded for one leaf item.
type ItemState struct {
	Code string `json:"code"`
	// Self is the unit's own score and note.
	Self     *decimal.Decimal `json:"self,omitempty"`
	SelfNote string           `json:"selfNote,omitempty"`
	// Evidence attached and not withdrawn, in order of attachment.
	Evidence []Evidence `json:"evidence,omitempty"`
	// Appraisals by round (index 0: round 1).
	Appraisals [2]*Appraisal `json:"appraisals"`
	// Survey is the survey institute's score, and how many answers it
	// rests on (0 when not said).
	Survey            *decimal.Decimal `json:"survey,omitempty"`
	SurveyRespondents int              `json:"surveyRespondents,omitempty"`
	// Adjustment is a bonus or penalty item's points.
	Adjustment *decimal.Decimal `json:"adjustment,omitempty"`
	// Council is the final score fixed by the council on an accepted
	// explanation.
	Council *decimal.Decimal `json:"council,omitempty"`
}

// Appraisal is an appraiser's score of an item in one round.
type Appraisal struct {
	Points decimal.Decimal `json:"points"`
	Agency string          `json:"agency"`
	Note   string          `json:"note,omitempty"`
	Reason string          `json:"reason,omitempty"`
	By     string          `json:"by"`
	At     time.Time       `json:"at"`
}

// Appraised returns the latest round's appraisal, if any.
func (s *ItemState) Appraised() *Appraisal {
	if s.Appraisals[1] != nil {
		return s.Appraisals[1]
	}
	return s.Appraisals[0]
}

// Explanation is a unit's contest of an appraised item and its outcome.
type Explanation struct {
	ID          string           `json:"id"`
	Item        string           `json:"item"`
	Claimed     decimal.Decimal  `json:"claimedPoints"`
	Argument    string           `json:"argument"`
	Evidence    []Evidence       `json:"evidence,omitempty"`
	RaisedBy    string           `json:"raisedBy"`
	RaisedAt    time.Time        `json:"raisedAt"`
	Resolved    bool             `json:"resolved"`
	Accepted    bool             `json:"accepted"`
	FinalPoints *decimal.Decimal `json:"finalPoints,omitempty"`
	DecisionRef string           `json:"decisionRef,omitempty"`
	Resolution  string           `json:"resolutionReason,omitempty"`
	ResolvedBy  string           `json:"resolvedBy,omitempty"`
	ResolvedAt  time.Time        `json:"resolvedAt,omitzero"`
}

// OpenExplanations returns the explanations not yet resolved.
func (a *Assessment) OpenExplanations() []*Explanation {
	var out []*Explanation
	for _, x := range a.Explanations {
		if !x.Resolved {
			out = append(out, x)
		}
	}
	return out
}

func (a *Assessment) item(code string) *ItemState {
	s := a.Items[code]
	if s == nil {
		s = &ItemState{Code: code}
		a.Items[code] = s
	}
	return s
}

// Apply folds one recorded event of the assessment's stream into a.
func (a *Assessment) Apply(r Recorded) {
	a.Revision, a.Exists, a.UpdatedAt = r.Revision, true, r.At
	switch e := r.Event.(type) {
	case *SelfScoreRecorded:
		s := a.item(e.Item)
		p := e.Points
		s.Self, s.SelfNote = &p, e.Note
	case *EvidenceAttached:
		s := a.item(e.Item)
		s.Evidence = append(s.Evidence, e.Evidence)
	case *EvidenceWithdrawn:
		s := a.item(e.Item)
		s.Evidence = slices.DeleteFunc(s.Evidence, func(x Evidence) bool { return x.SHA256 == e.SHA256 })
	case *SelfAssessmentSubmitted:
		a.Submitted, a.SubmittedAt = true, r.At
	case *SubmissionReopened:
		a.Submitted = false
	case *AppraisalRecorded:
		if e.Round == 1 || e.Round == 2 {
			a.item(e.Item).Appraisals[e.Round-1] = &Appraisal{Points: e.Points, Agency: e.Agency, Note: e.Note, Reason: r.Reason, By: r.Actor.ID, At: r.At}
		}
	case *SurveyScoreRecorded:
		p := e.Points
		it := a.item(e.Item)
		it.Survey, it.SurveyRespondents = &p, e.Respondents
	case *BonusPenaltyRecorded:
		p := e.Points
		a.item(e.Item).Adjustment = &p
	case *ExplanationRaised:
		a.Explanations = append(a.Explanations, &Explanation{ID: e.ID, Item: e.Item, Claimed: e.Claimed, Argument: e.Argument, Evidence: e.Evidence, RaisedBy: r.Actor.ID, RaisedAt: r.At})
	case *ExplanationResolved:
		for _, x := range a.Explanations {
			if x.ID == e.ID {
				x.Resolved, x.Accepted, x.FinalPoints, x.DecisionRef = true, e.Accepted, e.FinalPoints, e.DecisionRef
				x.Resolution, x.ResolvedBy, x.ResolvedAt = r.Reason, r.Actor.ID, r.At
			}
		}
		if e.Accepted && e.FinalPoints != nil {
			p := *e.FinalPoints
			a.item(e.Item).Council = &p
		}
	case *AssessmentFinalized:
		a.Finalized, a.FinalizedAt = true, r.At
	}
}

// ItemChanged tells what Apply changes in an assessment's items for an
// event: the one item it may change ("" for none), with known true; known
// is false for an event Apply does not list, which may change anything.
// It follows Apply case by case; a Tally relies on it.
func ItemChanged(e Event) (item string, known bool) {
	switch e := e.(type) {
	case *SelfScoreRecorded:
		return e.Item, true
	case *EvidenceAttached:
		return e.Item, true
	case *EvidenceWithdrawn:
		return e.Item, true
	case *AppraisalRecorded:
		return e.Item, true
	case *SurveyScoreRecorded:
		return e.Item, true
	case *BonusPenaltyRecorded:
		return e.Item, true
	case *ExplanationResolved:
		return e.Item, true
	case *SelfAssessmentSubmitted, *SubmissionReopened, *ExplanationRaised, *AssessmentFinalized:
		return "", true
	}
	return "", false
}

// Status is the submission status shown on the scoreboard.
func (a *Assessment) Status() string {
	switch {
	case a.Finalized:
		return "finalized"
	case a.Submitted:
		return "submitted"
	case a.Exists:
		return "in-progress"
	default:
		return "not-started"
	}
}

// Context is what every assessment decision needs besides the state: the
// campaign, who asks, and the current time.
type Context struct {
	Campaign  *Campaign
	Framework *Framework
	Unit      Unit
	Principal Principal
	Now       time.Time
}

// NewContext checks that unit is enrolled in the campaign and returns the
// context of a decision about its assessment.
func NewContext(c *Campaign, unit string, p Principal, now time.Time) (Context, error) {
	f, u, err := c.Framework(unit)
	if err != nil {
		return Context{}, err
	}
	return Context{Campaign: c, Framework: f, Unit: u, Principal: p, Now: now}, nil
}

func (x Context) before(p Phase) error {
	due := x.Campaign.Calendar.Due(p)
	if due.IsZero() {
		if p == PhaseExplanation {
			return Errorf(ECONFLICT, "The explanation round of campaign %s is not open.", x.Campaign.ID)
		}
		return nil
	}
	if !x.Now.Before(due.End()) {
		return Errorf(EDEADLINE, "The %s deadline of campaign %s was %s; Home Affairs can extend it.", p, x.Campaign.ID, due.Vietnamese())
	}
	return nil
}

// notFinalized refuses a change to a finalized assessment, or to any
// assessment once the campaign's results are published.
func (a *Assessment) notFinalized(x Context) error {
	if err := x.notPublished(); err != nil {
		return err
	}
	if a.Finalized {
		return Errorf(ECONFLICT, "The assessment of %s is finalized; only the council's resolution of an explanation can change it.", a.Unit)
	}
	return nil
}

func (x Context) notPublished() error {
	if p := x.Campaign.Published; p != nil {
		return Errorf(ECONFLICT, "The results of campaign %s are published (decision %s); assessments cannot change.", x.Campaign.ID, p.DecisionNumber)
	}
	return nil
}

func (x Context) ownUnit(action string) error {
	if x.Principal.Role != RoleUnit || x.Principal.Scope != x.Unit.Code {
		return forbidden(x.Principal, "%s for unit %s", action, x.Unit.Code)
	}
	return nil
}

// leaf returns the leaf item code of the framework, or a field error.
func (x Context) leaf(field, code string) (*Node, *FieldError) {
	n := x.Framework.Find(code)
	switch {
	case n == nil:
		return nil, &FieldError{field, fmt.Sprintf("framework %s has no item %q", x.Framework.ID, code)}
	case !n.IsLeaf():
		return nil, &FieldError{field, fmt.Sprintf("%s is a criterion; score its sub-criteria", code)}
	}
	return n, nil
}

func pointsError(field string, n *Node, p decimal.Decimal) *FieldError {
	if err := n.AllowsPoints(p); err != nil {
		return &FieldError{field, ErrorMessage(err)}
	}
	return nil
}

// text cleans s and records a field error when it is longer than max
// bytes: nothing is ever cut silently.
func text(fields *[]FieldError, name, s string, max int) string {
	s, ok := cleanText(s, max)
	if !ok {
		*fields = append(*fields, FieldError{name, fmt.Sprintf("at most %d bytes", max)})
	}
	return s
}

func cleanText(s string, max int) (string, bool) {
	s = strings.TrimSpace(norm.NFC.String(s))
	return s, len(s) <= max
}

// ItemScore is one item's points in a batch command.
type ItemScore struct {
	Item   string          `json:"item"`
	Points decimal.Decimal `json:"points"`
	// Note is the unit's note (self scores) or the appraiser's note.
	Note string `json:"note,omitempty"`
	// Reason is why an appraiser's score differs from the self score.
	Reason string `json:"reason,omitempty"`
	// Respondents is, for a survey score, how many answers it rests on.
	Respondents int `json:"respondents,omitempty"`
}

// Decision is an event with the reason recorded on it.
type Decision struct {
	Event  Event
	Reason string
}

func decisions(reason string, events ...Event) []Decision {
	out := make([]Decision, len(events))
	for i, e := range events {
		out[i] = Decision{Event: e, Reason: reason}
	}
	return out
}

// checkBatch checks the common shape of a batch of item scores.
func checkBatch(scores []ItemScore) []FieldError {
	var fields []FieldError
	if len(scores) == 0 {
		fields = append(fields, FieldError{"scores", "name at least one item"})
	}
	if len(scores) > MaxBatchItems {
		fields = append(fields, FieldError{"scores", fmt.Sprintf("%d items, at most %d per request", len(scores), MaxBatchItems)})
	}
	seen := map[string]int{}
	for i, s := range scores {
		if j, dup := seen[s.Item]; dup {
			fields = append(fields, FieldError{fmt.Sprintf("scores[%d].item", i), fmt.Sprintf("item %s is also scores[%d]", s.Item, j)})
		}
		seen[s.Item] = i
	}
	return fields
}

// MaxBatchItems caps the items of one batch command.
const MaxBatchItems = 500

// DecideSelfScores records a unit's own scores. Unchanged items produce no
// event. Rules: only the unit itself, during self-assessment, before
// submission, on self-scored items, within 0..max and on the item's levels.
func (a *Assessment) DecideSelfScores(x Context, scores []ItemScore) ([]Decision, error) {
	if err := x.ownUnit("record self scores"); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if a.Submitted {
		return nil, Errorf(ECONFLICT, "The self-assessment of %s is submitted; ask Home Affairs to reopen it to correct scores.", a.Unit)
	}
	if err := x.before(PhaseSelfAssessment); err != nil {
		return nil, err
	}
	fields := checkBatch(scores)
	var events []Event
	for i, s := range scores {
		f := fmt.Sprintf("scores[%d]", i)
		n, fe := x.leaf(f+".item", s.Item)
		if fe != nil {
			fields = append(fields, *fe)
			continue
		}
		if n.Method != MethodSelf {
			fields = append(fields, FieldError{f + ".item", fmt.Sprintf("%s is scored by %s; units do not self-score it", s.Item, methodName(n.Method))})
			continue
		}
		if fe := pointsError(f+".points", n, s.Points); fe != nil {
			fields = append(fields, *fe)
			continue
		}
		note, ok := cleanText(s.Note, 4000)
		if !ok {
			fields = append(fields, FieldError{f + ".note", "at most 4000 bytes"})
			continue
		}
		if cur := a.Items[s.Item]; cur != nil && cur.Self != nil && cur.Self.Equal(s.Points) && cur.SelfNote == note {
			continue
		}
		events = append(events, &SelfScoreRecorded{Item: s.Item, Points: s.Points, Note: note})
	}
	if len(fields) > 0 {
		return nil, Invalid("The self scores were not recorded.", fields...)
	}
	return decisions("", events...), nil
}

func methodName(m Method) string {
	switch m {
	case MethodSurvey:
		return "the survey only"
	case MethodHigherLevel:
		return "the appraising agency only"
	case MethodBonus, MethodPenalty:
		return "Home Affairs as " + string(m) + " points"
	}
	return "self-assessment"
}

// DecideAttachEvidence attaches stored evidence to a self-scored item.
func (a *Assessment) DecideAttachEvidence(x Context, item string, ev Evidence) ([]Decision, error) {
	if err := x.ownUnit("attach evidence"); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if a.Submitted {
		return nil, Errorf(ECONFLICT, "The self-assessment of %s is submitted; ask Home Affairs to reopen it to change evidence.", a.Unit)
	}
	if err := x.before(PhaseSelfAssessment); err != nil {
		return nil, err
	}
	n, fe := x.leaf("item", item)
	if fe != nil {
		return nil, Invalid("The evidence was not attached.", *fe)
	}
	if n.Method != MethodSelf {
		return nil, Invalid("The evidence was not attached.", FieldError{"item", fmt.Sprintf("%s is scored by %s; evidence goes with self-scored items", item, methodName(n.Method))})
	}
	ev, fields := cleanEvidence("", ev)
	if len(fields) > 0 {
		return nil, Invalid("The evidence was not attached.", fields...)
	}
	if cur := a.Items[item]; cur != nil {
		for _, e := range cur.Evidence {
			if e.SHA256 == ev.SHA256 {
				return nil, nil
			}
		}
	}
	return decisions("", &EvidenceAttached{Item: item, Evidence: ev}), nil
}

func cleanEvidence(field string, ev Evidence) (Evidence, []FieldError) {
	var fields []FieldError
	var ok bool
	if len(ev.SHA256) != 64 || strings.Trim(ev.SHA256, "0123456789abcdef") != "" {
		fields = append(fields, FieldError{field + "sha256", "must be 64 lowercase hex digits"})
	}
	if ev.Size <= 0 {
		fields = append(fields, FieldError{field + "size", "must be positive"})
	}
	if ev.Title, ok = cleanText(ev.Title, 500); !ok || ev.Title == "" {
		fields = append(fields, FieldError{field + "title", "is required, at most 500 bytes"})
	}
	if ev.DocumentNumber, ok = cleanText(ev.DocumentNumber, 200); !ok {
		fields = append(fields, FieldError{field + "documentNumber", "at most 200 bytes"})
	}
	if ev.MediaType == "" || len(ev.MediaType) > 200 {
		fields = append(fields, FieldError{field + "mediaType", "is required"})
	}
	return ev, fields
}

// DecideWithdrawEvidence withdraws evidence from an item; it stays in the
// history.
func (a *Assessment) DecideWithdrawEvidence(x Context, item, sha string, reason string) ([]Decision, error) {
	if err := x.ownUnit("withdraw evidence"); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if a.Submitted {
		return nil, Errorf(ECONFLICT, "The self-assessment of %s is submitted; ask Home Affairs to reopen it to change evidence.", a.Unit)
	}
	if err := x.before(PhaseSelfAssessment); err != nil {
		return nil, err
	}
	if cur := a.Items[item]; cur != nil {
		for _, e := range cur.Evidence {
			if e.SHA256 == sha {
				return decisions(reason, &EvidenceWithdrawn{Item: item, SHA256: sha}), nil
			}
		}
	}
	return nil, Errorf(ENOTFOUND, "Item %s of %s has no evidence %s.", item, a.Unit, sha)
}

// DecideSubmit submits the self-assessment: every self-scored item must
// have a score, and every item scored above zero needs evidence or a note.
func (a *Assessment) DecideSubmit(x Context) ([]Decision, error) {
	if err := x.ownUnit("submit the self-assessment"); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if a.Submitted {
		return nil, Errorf(ECONFLICT, "The self-assessment of %s is already submitted.", a.Unit)
	}
	if err := x.before(PhaseSelfAssessment); err != nil {
		return nil, err
	}
	var fields []FieldError
	count := 0
	for _, n := range x.Framework.Leaves() {
		if n.Method != MethodSelf {
			continue
		}
		s := a.Items[n.Code]
		switch {
		case s == nil || s.Self == nil:
			fields = append(fields, FieldError{n.Code, "has no self score"})
		case s.Self.IsPositive() && len(s.Evidence) == 0 && s.SelfNote == "":
			fields = append(fields, FieldError{n.Code, "is scored above zero without evidence or a note explaining the score"})
		default:
			count++
		}
	}
	if len(fields) > 0 {
		return nil, Invalid(fmt.Sprintf("The self-assessment is incomplete: %d items need attention.", len(fields)), fields...)
	}
	return decisions("", &SelfAssessmentSubmitted{Items: count}), nil
}

// DecideReopen reopens a submitted self-assessment for correction, with
// Home Affairs' approval and a reason.
func (a *Assessment) DecideReopen(x Context, reason string) ([]Decision, error) {
	if err := require(x.Principal, "reopen a submission", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if !a.Submitted {
		return nil, Errorf(ECONFLICT, "The self-assessment of %s is not submitted.", a.Unit)
	}
	var fields []FieldError
	if reason = text(&fields, "reason", reason, 4000); reason == "" && len(fields) == 0 {
		fields = append(fields, FieldError{"reason", "is required"})
	}
	if len(fields) > 0 {
		return nil, Invalid("Reopening needs a reason.", fields...)
	}
	return decisions(reason, &SubmissionReopened{}), nil
}

// DecideAppraisals records an appraiser's scores for items of its agency's
// areas, in round 1 or 2. Rules: the self-assessment is submitted or its
// deadline has passed; the appraisal deadline has not; a score that differs
// from the self score needs a reason; round 2 follows round 1.
func (a *Assessment) DecideAppraisals(x Context, round int, scores []ItemScore, reason string) ([]Decision, error) {
	if err := require(x.Principal, "appraise items", RoleAppraiser); err != nil {
		return nil, err
	}
	// Scope first: an agency learns nothing of another agency's items.
	for _, s := range scores {
		if n := x.Framework.Find(s.Item); n != nil && n.IsLeaf() && (n.Method == MethodSelf || n.Method == MethodHigherLevel) {
			if agency := x.Framework.LeafAgency(s.Item); agency != x.Principal.Scope {
				return nil, forbidden(x.Principal, "appraise item %s, which agency %s appraises", s.Item, agency)
			}
		}
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if !a.Submitted && x.before(PhaseSelfAssessment) == nil {
		return nil, Errorf(ECONFLICT, "The self-assessment of %s is neither submitted nor past its deadline; appraisal starts after.", a.Unit)
	}
	if err := x.before(PhaseAppraisal); err != nil {
		return nil, err
	}
	fields := checkBatch(scores)
	if round != 1 && round != 2 {
		fields = append(fields, FieldError{"round", "must be 1 or 2"})
	}
	reason = text(&fields, "reason", reason, 4000)
	var out []Decision
	for i, s := range scores {
		f := fmt.Sprintf("scores[%d]", i)
		n, fe := x.leaf(f+".item", s.Item)
		if fe != nil {
			fields = append(fields, *fe)
			continue
		}
		if n.Method != MethodSelf && n.Method != MethodHigherLevel {
			fields = append(fields, FieldError{f + ".item", fmt.Sprintf("%s is scored by %s, not appraised", s.Item, methodName(n.Method))})
			continue
		}
		agency := x.Framework.LeafAgency(s.Item)
		if agency != x.Principal.Scope {
			return nil, forbidden(x.Principal, "appraise item %s, which agency %s appraises", s.Item, agency)
		}
		if fe := pointsError(f+".points", n, s.Points); fe != nil {
			fields = append(fields, *fe)
			continue
		}
		cur := a.Items[s.Item]
		if round == 2 && (cur == nil || cur.Appraisals[0] == nil) {
			fields = append(fields, FieldError{f + ".item", fmt.Sprintf("%s has no round-1 appraisal yet", s.Item)})
			continue
		}
		if round == 1 && cur != nil && cur.Appraisals[1] != nil {
			fields = append(fields, FieldError{f + ".item", fmt.Sprintf("%s already has a round-2 appraisal; record the change in round 2", s.Item)})
			continue
		}
		note, ok := cleanText(s.Note, 4000)
		if !ok {
			fields = append(fields, FieldError{f + ".note", "at most 4000 bytes"})
			continue
		}
		why := text(&fields, f+".reason", s.Reason, 4000)
		if why == "" {
			why = reason
		}
		if n.Method == MethodSelf && cur != nil && cur.Self != nil && !cur.Self.Equal(s.Points) && why == "" {
			fields = append(fields, FieldError{f + ".reason", fmt.Sprintf("the score %s differs from the self score %s; give the reason", s.Points, cur.Self)})
			continue
		}
		if cur != nil && round >= 1 && round <= 2 && cur.Appraisals[round-1] != nil {
			prev := cur.Appraisals[round-1]
			if prev.Points.Equal(s.Points) && prev.Note == note {
				continue
			}
		}
		out = append(out, Decision{Event: &AppraisalRecorded{Item: s.Item, Round: round, Agency: agency, Points: s.Points, Note: note}, Reason: why})
	}
	if len(fields) > 0 {
		return nil, Invalid("The appraisal was not recorded.", fields...)
	}
	return out, nil
}

// DecideSurveyScores records the survey institute's points for survey
// items.
func (a *Assessment) DecideSurveyScores(x Context, scores []ItemScore, batch string) ([]Decision, error) {
	if err := require(x.Principal, "record survey scores", RoleInstitute); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	fields := checkBatch(scores)
	batch = text(&fields, "batch", batch, 200)
	var events []Event
	for i, s := range scores {
		f := fmt.Sprintf("scores[%d]", i)
		n, fe := x.leaf(f+".item", s.Item)
		if fe != nil {
			fields = append(fields, *fe)
			continue
		}
		if n.Method != MethodSurvey {
			fields = append(fields, FieldError{f + ".item", fmt.Sprintf("%s is scored by %s, not by the survey", s.Item, methodName(n.Method))})
			continue
		}
		if fe := pointsError(f+".points", n, s.Points); fe != nil {
			fields = append(fields, *fe)
			continue
		}
		if s.Respondents < 0 {
			fields = append(fields, FieldError{f + ".respondents", "must not be negative"})
			continue
		}
		if cur := a.Items[s.Item]; cur != nil && cur.Survey != nil && cur.Survey.Equal(s.Points) && cur.SurveyRespondents == s.Respondents {
			continue // as recorded: nothing new
		}
		events = append(events, &SurveyScoreRecorded{Item: s.Item, Points: s.Points, Batch: batch, Respondents: s.Respondents})
	}
	if len(fields) > 0 {
		return nil, Invalid("The survey scores were not recorded.", fields...)
	}
	return decisions("", events...), nil
}

// DecideBonusPenalty records bonus or penalty points (Home Affairs).
func (a *Assessment) DecideBonusPenalty(x Context, scores []ItemScore, reason string) ([]Decision, error) {
	if err := require(x.Principal, "record bonus or penalty points", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	fields := checkBatch(scores)
	reason = text(&fields, "reason", reason, 4000)
	var out []Decision
	for i, s := range scores {
		f := fmt.Sprintf("scores[%d]", i)
		n, fe := x.leaf(f+".item", s.Item)
		if fe != nil {
			fields = append(fields, *fe)
			continue
		}
		if n.Method != MethodBonus && n.Method != MethodPenalty {
			fields = append(fields, FieldError{f + ".item", fmt.Sprintf("%s is not a bonus or penalty item", s.Item)})
			continue
		}
		if fe := pointsError(f+".points", n, s.Points); fe != nil {
			fields = append(fields, *fe)
			continue
		}
		why := text(&fields, f+".reason", s.Reason, 4000)
		if why == "" {
			why = reason
		}
		if why == "" {
			fields = append(fields, FieldError{f + ".reason", "bonus and penalty points need a reason"})
			continue
		}
		if cur := a.Items[s.Item]; cur != nil && cur.Adjustment != nil && cur.Adjustment.Equal(s.Points) {
			continue
		}
		out = append(out, Decision{Event: &BonusPenaltyRecorded{Item: s.Item, Points: s.Points}, Reason: why})
	}
	if len(fields) > 0 {
		return nil, Invalid("The bonus or penalty points were not recorded.", fields...)
	}
	return out, nil
}

// RaiseExplanation is a unit's contest of an appraised item.
type RaiseExplanation struct {
	Item     string          `json:"item"`
	Claimed  decimal.Decimal `json:"claimedPoints"`
	Argument string          `json:"argument"`
	Evidence []Evidence      `json:"evidence,omitempty"`
}

// DecideRaiseExplanation records an explanation: the unit itself, during
// the explanation round, on an appraised item without an open
// explanation, claiming points the item allows.
func (a *Assessment) DecideRaiseExplanation(x Context, cmd RaiseExplanation) ([]Decision, error) {
	if err := x.ownUnit("raise an explanation"); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if err := x.before(PhaseExplanation); err != nil {
		return nil, err
	}
	n, fe := x.leaf("item", cmd.Item)
	if fe != nil {
		return nil, Invalid("The explanation was not recorded.", *fe)
	}
	var fields []FieldError
	cur := a.Items[cmd.Item]
	if cur == nil || cur.Appraised() == nil {
		fields = append(fields, FieldError{"item", fmt.Sprintf("%s has not been appraised; only appraised items can be contested", cmd.Item)})
	}
	if fe := pointsError("claimedPoints", n, cmd.Claimed); fe != nil {
		fields = append(fields, *fe)
	} else if cur != nil && cur.Appraised() != nil && cur.Appraised().Points.Equal(cmd.Claimed) {
		fields = append(fields, FieldError{"claimedPoints", fmt.Sprintf("%s is already appraised at %s; claim the points you contest for", cmd.Item, cmd.Claimed)})
	}
	arg, ok := cleanText(cmd.Argument, 8000)
	if !ok || arg == "" {
		fields = append(fields, FieldError{"argument", "is required, at most 8000 bytes"})
	}
	evidence := make([]Evidence, len(cmd.Evidence))
	for i, ev := range cmd.Evidence {
		var fs []FieldError
		evidence[i], fs = cleanEvidence(fmt.Sprintf("evidence[%d].", i), ev)
		fields = append(fields, fs...)
	}
	if len(fields) > 0 {
		return nil, Invalid("The explanation was not recorded.", fields...)
	}
	for _, x := range a.Explanations {
		if x.Item == cmd.Item && !x.Resolved {
			return nil, Errorf(ECONFLICT, "Item %s already has an open explanation (%s).", cmd.Item, x.ID)
		}
	}
	id := fmt.Sprintf("GT-%d", len(a.Explanations)+1)
	return decisions("", &ExplanationRaised{ID: id, Item: cmd.Item, Claimed: cmd.Claimed, Argument: arg, Evidence: evidence}), nil
}

// ResolveExplanation is the council's decision on an explanation.
type ResolveExplanation struct {
	Accepted    bool             `json:"accepted"`
	FinalPoints *decimal.Decimal `json:"finalPoints,omitempty"`
	DecisionRef string           `json:"decisionRef"`
	Reason      string           `json:"reason"`
}

// DecideResolveExplanation records the council's resolution: accepted with
// final points the item allows, or rejected with a reason; both cite the
// council's decision. It is allowed after finalization.
func (a *Assessment) DecideResolveExplanation(x Context, id string, cmd ResolveExplanation) ([]Decision, error) {
	if err := require(x.Principal, "resolve explanations", RoleCouncil); err != nil {
		return nil, err
	}
	if err := x.notPublished(); err != nil {
		return nil, err
	}
	var exp *Explanation
	for _, e := range a.Explanations {
		if e.ID == id {
			exp = e
		}
	}
	if exp == nil {
		return nil, Errorf(ENOTFOUND, "The assessment of %s has no explanation %s.", a.Unit, id)
	}
	if exp.Resolved {
		return nil, Errorf(ECONFLICT, "Explanation %s is already resolved (decision %s).", id, exp.DecisionRef)
	}
	var fields []FieldError
	ref := text(&fields, "decisionRef", cmd.DecisionRef, 200)
	if ref == "" {
		fields = append(fields, FieldError{"decisionRef", "cite the council's decision"})
	}
	reason := text(&fields, "reason", cmd.Reason, 8000)
	if cmd.Accepted {
		if cmd.FinalPoints == nil {
			fields = append(fields, FieldError{"finalPoints", "an accepted explanation fixes the final points"})
		} else if n := x.Framework.Find(exp.Item); n != nil {
			if fe := pointsError("finalPoints", n, *cmd.FinalPoints); fe != nil {
				fields = append(fields, *fe)
			}
		}
	} else {
		if cmd.FinalPoints != nil {
			fields = append(fields, FieldError{"finalPoints", "a rejected explanation keeps the appraised points"})
		}
		if reason == "" {
			fields = append(fields, FieldError{"reason", "a rejection needs a reason"})
		}
	}
	if len(fields) > 0 {
		return nil, Invalid("The resolution was not recorded.", fields...)
	}
	return decisions(reason, &ExplanationResolved{ID: id, Item: exp.Item, Accepted: cmd.Accepted, FinalPoints: cmd.FinalPoints, DecisionRef: ref}), nil
}

// DecideFinalize finalizes the assessment (Home Affairs); an open
// explanation blocks it.
func (a *Assessment) DecideFinalize(x Context) ([]Decision, error) {
	if err := require(x.Principal, "finalize assessments", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if err := a.notFinalized(x); err != nil {
		return nil, err
	}
	if open := a.OpenExplanations(); len(open) > 0 {
		ids := make([]string, len(open))
		for i, e := range open {
			ids[i] = e.ID + " (" + e.Item + ")"
		}
		return nil, Errorf(ECONFLICT, "The assessment of %s has %d open explanations: %s; the council must resolve them first.", a.Unit, len(open), strings.Join(ids, ", "))
	}
	// Every appraised item must have its appraisal: a final score is never
	// built on a unit's own word.
	var fields []FieldError
	for _, n := range x.Framework.Leaves() {
		if n.Method != MethodSelf && n.Method != MethodHigherLevel {
			continue
		}
		if s := a.Items[n.Code]; s == nil || s.Appraised() == nil {
			fields = append(fields, FieldError{n.Code, fmt.Sprintf("is not appraised yet (agency %s)", x.Framework.LeafAgency(n.Code))})
		}
	}
	if len(fields) > 0 {
		return nil, &Error{Code: ECONFLICT, Message: fmt.Sprintf("The assessment of %s cannot be finalized: %d items are not appraised.", a.Unit, len(fields)), Fields: fields}
	}
	score := ComputeScore(x.Framework, a, x.Campaign.Settings.Rounding)
	return decisions("", &AssessmentFinalized{FinalPoints: score.Final}), nil
}
