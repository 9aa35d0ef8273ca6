package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/excel"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/projections"
)

// EventRef describes a recorded event in a write's response.
type EventRef struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Stream      string    `json:"stream"`
	Revision    uint64    `json:"revision"`
	Position    uint64    `json:"position"`
	RecordedAt  time.Time `json:"recordedAt"`
	ContentHash string    `json:"contentHash"`
}

// WriteResponse is the body of every successful write.
type WriteResponse struct {
	// Revision is the record's revision after the write (its ETag).
	Revision *uint64 `json:"revision"`
	// Events are the events recorded; empty when nothing changed.
	Events []EventRef `json:"events"`
	// Replayed is true when an Idempotency-Key matched an earlier request:
	// the events are the ones that request recorded.
	Replayed bool `json:"replayed"`
}

func refs(events []eventstore.Event) []EventRef {
	out := make([]EventRef, len(events))
	for i, e := range events {
		out[i] = EventRef{ID: e.ID.String(), Type: e.Type, Stream: e.Stream, Revision: e.Revision, Position: uint64(e.Position), RecordedAt: e.RecordedAt, ContentHash: e.ContentHash.String()}
	}
	return out
}

// written answers a successful write: 201 when events were recorded (also
// for a replay of such a request), 200 when nothing changed. It first
// waits, briefly, until the projections show the write.
func (s *Server) written(w http.ResponseWriter, r *http.Request, res ledger.Result) error {
	resp := WriteResponse{Events: refs(res.Events), Replayed: res.Replayed}
	if res.Exists {
		rev := res.Revision
		resp.Revision = &rev
		w.Header().Set("ETag", etag(rev))
	}
	status := http.StatusOK
	if len(res.Events) > 0 {
		if r.Method != http.MethodDelete {
			status = http.StatusCreated
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.WriteWait)
		_ = s.Runner.WaitFor(ctx, res.Events[len(res.Events)-1].Position)
		cancel()
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, status, resp)
	return nil
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// decodeOptional decodes a body that may be empty.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Transfer-Encoding") == "" {
		return nil
	}
	return decodeJSON(w, r, v)
}

// --- frameworks

// FrameworkSummary describes a framework in the library.
type FrameworkSummary struct {
	ID           string       `json:"id"`
	Versions     int          `json:"versions"`
	Title        string       `json:"title"`
	Block        domain.Block `json:"block"`
	Illustrative bool         `json:"illustrative"`
}

func (s *Server) listFrameworks(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	out := []FrameworkSummary{}
	for _, id := range s.Board.FrameworkIDs() {
		vs := s.Board.FrameworkVersions(id)
		last := vs[len(vs)-1]
		out = append(out, FrameworkSummary{ID: id, Versions: len(vs), Title: last.Title, Block: last.Block, Illustrative: last.Illustrative})
	}
	writeJSON(w, http.StatusOK, map[string]any{"frameworks": out})
	return nil
}

func (s *Server) getFramework(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	id := vars(r, "framework")
	vs, err := s.Service.Frameworks(r.Context(), id)
	if domain.ErrorCode(err) == domain.EINVALID {
		vs, err = nil, nil // not a framework id: no such framework
	}
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No framework %q.", id)
	}
	f := vs[len(vs)-1]
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(vs) {
			return domain.Errorf(domain.ENOTFOUND, "Framework %s has versions 1 to %d, not %q.", id, len(vs), v)
		}
		f = vs[n-1]
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// --- campaigns

// OpenCampaignRequest is the body of POST /api/v1/campaigns.
type OpenCampaignRequest struct {
	ID         string                               `json:"id"`
	Year       int                                  `json:"year"`
	Title      string                               `json:"title"`
	Settings   *domain.CampaignSettings             `json:"settings,omitempty"`
	Calendar   domain.Calendar                      `json:"calendar"`
	Frameworks map[domain.Block]domain.FrameworkRef `json:"frameworks"`
}

func (s *Server) openCampaign(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body OpenCampaignRequest
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.OpenCampaign(r.Context(), req, domain.OpenCampaign{ID: body.ID, Year: body.Year, Title: body.Title, Settings: body.Settings, Calendar: body.Calendar}, body.Frameworks)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/campaigns/"+body.ID)
	return s.written(w, r, res)
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	out := []projections.CampaignSummary{}
	for _, c := range s.Board.Campaigns() {
		if p.Role == domain.RolePublic && c.Published == nil {
			continue
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
	return nil
}

// campaignFor returns a campaign the principal may read: the public reads
// published campaigns only (and gets 404 for others, which it may not know
// of).
func (s *Server) campaignFor(r *http.Request, p domain.Principal) (domain.Campaign, error) {
	id := vars(r, "campaign")
	c, ok := s.Board.Campaign(id)
	if !ok || p.Role == domain.RolePublic && c.Published == nil {
		return domain.Campaign{}, domain.Errorf(domain.ENOTFOUND, "No campaign %q.", id)
	}
	return c, nil
}

// CampaignView is the body of GET /api/v1/campaigns/{campaign}.
type CampaignView struct {
	projections.CampaignSummary
	Settings  domain.CampaignSettings `json:"settings"`
	Units     []domain.Unit           `json:"units"`
	Revision  uint64                  `json:"revision"`
	Phase     string                  `json:"phase"`
	DaysLeft  *int                    `json:"daysLeft,omitempty"`
	NotSubmit []string                `json:"notSubmitted,omitempty"`
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return err
	}
	v := CampaignView{Settings: c.Settings, Revision: c.Revision, Units: []domain.Unit{}}
	for _, sum := range s.Board.Campaigns() {
		if sum.ID == c.ID {
			v.CampaignSummary = sum
		}
	}
	for _, code := range c.UnitOrder {
		v.Units = append(v.Units, c.Units[code])
	}
	v.Phase, v.DaysLeft = currentPhase(&c, s.Service.Now())
	if p.Role != domain.RolePublic {
		if rk, ok := s.Board.Rankings(c.ID); ok {
			for _, b := range rk.Blocks {
				for _, row := range b.Rows {
					if !canReadAssessment(p, row.Unit.Code) {
						continue // a unit learns only of itself
					}
					if row.Status == "not-started" || row.Status == "in-progress" {
						v.NotSubmit = append(v.NotSubmit, row.Unit.Code)
					}
				}
			}
		}
	}
	w.Header().Set("ETag", etag(c.Revision))
	writeJSON(w, http.StatusOK, v)
	return nil
}

// currentPhase names the campaign's phase at now and the days left in it.
func currentPhase(c *domain.Campaign, now time.Time) (string, *int) {
	daysLeft := func(d domain.Date) *int {
		n := int(d.End().Sub(now).Hours()/24 + 0.999)
		return &n
	}
	switch {
	case c.Published != nil:
		return "published", nil
	case now.Before(c.Calendar.SelfAssessmentDue.End()):
		return string(domain.PhaseSelfAssessment), daysLeft(c.Calendar.SelfAssessmentDue)
	case now.Before(c.Calendar.AppraisalDue.End()):
		return string(domain.PhaseAppraisal), daysLeft(c.Calendar.AppraisalDue)
	case !c.Calendar.ExplanationDue.IsZero() && now.Before(c.Calendar.ExplanationDue.End()):
		return string(domain.PhaseExplanation), daysLeft(c.Calendar.ExplanationDue)
	}
	return "compilation", nil
}

func (s *Server) enrolUnits(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Units []domain.Unit `json:"units"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.EnrolUnits(r.Context(), req, vars(r, "campaign"), body.Units)
	if err != nil {
		return err
	}
	return s.written(w, r, res)
}

func (s *Server) changeDeadline(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Due    domain.Date `json:"due"`
		Reason string      `json:"reason,omitempty"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if len(body.Reason) > 4000 {
		return domain.Invalid("The reason is too long.", domain.FieldError{Field: "reason", Detail: "at most 4000 bytes"})
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.ChangeDeadline(r.Context(), req, vars(r, "campaign"), domain.Phase(vars(r, "phase")), body.Due, strings.TrimSpace(body.Reason))
	if err != nil {
		return err
	}
	return s.written(w, r, res)
}

func (s *Server) openExplanationWindow(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Due domain.Date `json:"due"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.OpenExplanationWindow(r.Context(), req, vars(r, "campaign"), body.Due)
	if err != nil {
		return err
	}
	return s.written(w, r, res)
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		DecisionNumber string      `json:"decisionNumber"`
		DecisionDate   domain.Date `json:"decisionDate"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.Publish(r.Context(), req, vars(r, "campaign"), body.DecisionNumber, body.DecisionDate)
	if err != nil {
		return err
	}
	return s.written(w, r, res)
}

func (s *Server) rankings(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	// The current rankings name the campaign and whether it is
	// published (as campaignFor does, without copying the campaign).
	cur, ok := s.Board.Rankings(vars(r, "campaign"))
	if !ok || p.Role == domain.RolePublic && cur.Published == nil {
		return domain.Errorf(domain.ENOTFOUND, "No campaign %q.", vars(r, "campaign"))
	}
	q := r.URL.Query()
	format, err := exportFormat(q)
	if err != nil {
		return err
	}
	block := domain.Block(q.Get("block"))
	if block != "" && !block.Valid() {
		return domain.Invalid("Unknown block.", domain.FieldError{Field: "block", Detail: "use so or huyen"})
	}
	limit, offset, paged, err := pageParams(q)
	if err != nil {
		return err
	}
	unitOnly := p.Role == domain.RoleUnit && cur.Published == nil
	asOf := q.Get("position") != "" || q.Get("at") != ""
	if (format == "" || format == "json") && !asOf && !unitOnly {
		// The usual request: the current rankings, encoded once per
		// version (see rankingsjson.go).
		body := cachedRankings(cur, rankingsKey{block: block, limit: limit, offset: offset})
		if body.err != nil {
			return body.err
		}
		body.write(w, r)
		return nil
	}
	view, err := s.rankingsAsOf(r, cur.Campaign)
	if err != nil {
		return err
	}
	rk := view.Rankings
	if asOf && rk.Published == nil {
		// What was visible then decides, not what is now: rankings from
		// before publication stay closed to the public, and to a unit
		// beyond its own line, after the campaign is published.
		if p.Role == domain.RolePublic {
			return domain.Errorf(domain.EFORBIDDEN, "The rankings of campaign %s were not yet published at position %d; only published results are public.", cur.Campaign, view.AsOf.Position)
		}
		unitOnly = p.Role == domain.RoleUnit
	}
	if block != "" {
		only := *rk
		only.Blocks = slices.DeleteFunc(slices.Clone(rk.Blocks), func(x projections.BlockRanking) bool { return x.Block != block })
		rk = &only
	}
	if unitOnly {
		// Before publication a unit sees its own line only.
		only := *rk
		only.Blocks = make([]projections.BlockRanking, 0, len(rk.Blocks))
		for _, br := range rk.Blocks {
			br.Rows = slices.DeleteFunc(slices.Clone(br.Rows), func(row domain.Standing) bool { return row.Unit.Code != p.Scope })
			only.Blocks = append(only.Blocks, br)
		}
		rk = &only
	}
	if format == "xlsx" || format == "csv" {
		if paged {
			return domain.Invalid("Downloads hold the whole rankings.", domain.FieldError{Field: "limit", Detail: "leave out limit and offset with format " + format})
		}
		return writeExport(w, format, "xep-hang-"+cur.Campaign, rankingSheets(rk))
	}
	body, err := encodeRankings(rk, rankingsKey{limit: limit, offset: offset}, view.AsOf)
	if err != nil {
		return err
	}
	writeRankings(w, body)
	return nil
}

// MaxRankingsPage caps ?limit= of the rankings.
const MaxRankingsPage = 1000

// pageParams reads ?limit= and ?offset= of the rankings: paged is false
// when neither is given (the whole rankings); offset alone pages by
// MaxRankingsPage.
func pageParams(q url.Values) (limit, offset int, paged bool, err error) {
	l, o := q.Get("limit"), q.Get("offset")
	if l == "" && o == "" {
		return 0, 0, false, nil
	}
	var fields []domain.FieldError
	limit = MaxRankingsPage
	if l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxRankingsPage {
			fields = append(fields, domain.FieldError{Field: "limit", Detail: fmt.Sprintf("a whole number of rows from 1 to %d", MaxRankingsPage)})
		}
		limit = n
	}
	if o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			fields = append(fields, domain.FieldError{Field: "offset", Detail: "a whole number of rows from 0"})
		}
		offset = n
	}
	if len(fields) > 0 {
		return 0, 0, false, domain.Invalid("The page is not valid.", fields...)
	}
	return limit, offset, true, nil
}

// --- assessments

// ItemView is one leaf item of an assessment with its recorded values.
type ItemView struct {
	Code        string               `json:"code"`
	Title       string               `json:"title"`
	Area        string               `json:"area"`
	Max         decimal.Decimal      `json:"max"`
	Method      domain.Method        `json:"method"`
	Agency      string               `json:"agency,omitempty"`
	Levels      []domain.Level       `json:"levels,omitempty"`
	Self        *decimal.Decimal     `json:"self,omitempty"`
	SelfNote    string               `json:"selfNote,omitempty"`
	Evidence    []domain.Evidence    `json:"evidence,omitempty"`
	Appraisals  [2]*domain.Appraisal `json:"appraisals"`
	Survey      *decimal.Decimal     `json:"survey,omitempty"`
	Adjustment  *decimal.Decimal     `json:"adjustment,omitempty"`
	Council     *decimal.Decimal     `json:"council,omitempty"`
	Final       decimal.Decimal      `json:"final"`
	Provisional bool                 `json:"provisional"`
}

// AssessmentView is the body of GET .../assessments/{unit}.
type AssessmentView struct {
	Campaign     string                `json:"campaign"`
	Unit         domain.Unit           `json:"unit"`
	Revision     *uint64               `json:"revision"`
	Status       string                `json:"status"`
	SubmittedAt  *time.Time            `json:"submittedAt,omitempty"`
	FinalizedAt  *time.Time            `json:"finalizedAt,omitempty"`
	Framework    string                `json:"framework"`
	Score        domain.Score          `json:"score"`
	Rank         int                   `json:"rank,omitempty"`
	Grade        string                `json:"grade,omitempty"`
	Items        []ItemView            `json:"items,omitempty"`
	Explanations []*domain.Explanation `json:"explanations,omitempty"`
	// Version, for a past version (?revision= or ?at=), is the event that
	// made it.
	Version *VersionRef `json:"version,omitempty"`
}

// canReadAssessment says whether p may read a unit's assessment in full:
// a unit only its own; every other signed-in role all.
func canReadAssessment(p domain.Principal, unit string) bool {
	return p.Role != domain.RoleUnit || p.Scope == unit
}

func (s *Server) getAssessment(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return err
	}
	unit := vars(r, "unit")
	f, u, err := c.Framework(unit)
	if err != nil {
		return err
	}
	// Another unit reads what the public reads: published results only.
	public := p.Role == domain.RolePublic || !canReadAssessment(p, unit)
	if public && c.Published == nil {
		return domain.Errorf(domain.EFORBIDDEN, "%s may read only the assessment of unit %s.", p.ID, p.Scope)
	}
	keep, past, err := version(r)
	if err != nil {
		return err
	}
	if past && public {
		return domain.Errorf(domain.EFORBIDDEN, "Past versions of an assessment are not public.")
	}
	var a *domain.Assessment
	var made *VersionRef
	if past {
		events, err := s.Service.ReadStream(r.Context(), domain.AssessmentStream(c.ID, unit))
		if err != nil {
			return err
		}
		if a, made = foldUntil(&c, unit, events, keep); made == nil {
			return domain.Errorf(domain.ENOTFOUND, "The assessment of %s had no version then.", unit)
		}
	} else if a, err = s.Service.Assessment(r.Context(), c.ID, unit); err != nil {
		return err
	}
	v := assessmentView(&c, f, u, a)
	v.Version = made
	if st, ok := s.Board.Standing(c.ID, unit); ok && !past {
		v.Rank, v.Grade = st.Rank, st.Grade
	}
	if public {
		v.Items, v.Explanations = nil, nil
	}
	if a.Exists {
		w.Header().Set("ETag", etag(a.Revision))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func assessmentView(c *domain.Campaign, f *domain.Framework, u domain.Unit, a *domain.Assessment) AssessmentView {
	v := AssessmentView{Campaign: c.ID, Unit: u, Status: a.Status(), Framework: domain.FrameworkRef{ID: f.ID, Version: f.Version}.String(),
		Score: domain.ComputeScore(f, a, c.Settings.Rounding), Explanations: a.Explanations}
	if a.Exists {
		rev := a.Revision
		v.Revision = &rev
	}
	if a.Submitted {
		v.SubmittedAt = &a.SubmittedAt
	}
	if a.Finalized {
		v.FinalizedAt = &a.FinalizedAt
	}
	for _, n := range f.Leaves() {
		st := a.Items[n.Code]
		final, provisional := domain.ItemFinal(n, st)
		iv := ItemView{Code: n.Code, Title: n.Title, Area: f.AreaOf(n.Code).Code, Max: n.MaxPoints, Method: n.Method, Levels: n.Levels, Final: final, Provisional: provisional}
		if n.Method == domain.MethodSelf || n.Method == domain.MethodHigherLevel {
			iv.Agency = f.LeafAgency(n.Code)
		}
		if st != nil {
			iv.Self, iv.SelfNote, iv.Evidence, iv.Appraisals = st.Self, st.SelfNote, st.Evidence, st.Appraisals
			iv.Survey, iv.Adjustment, iv.Council = st.Survey, st.Adjustment, st.Council
		}
		v.Items = append(v.Items, iv)
	}
	return v
}

func (s *Server) listAssessments(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return err
	}
	rk, _ := s.Board.Rankings(c.ID)
	out := []domain.Standing{}
	for _, b := range rk.Blocks {
		for _, row := range b.Rows {
			if canReadAssessment(p, row.Unit.Code) {
				out = append(out, row)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaign": c.ID, "position": rk.Position, "assessments": out})
	return nil
}

// assess runs an assessment command for the route's campaign and unit.
func (s *Server) assess(w http.ResponseWriter, r *http.Request, p domain.Principal, decide func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error)) error {
	req, err := request(r, p)
	if err != nil {
		return err
	}
	unit := vars(r, "unit")
	if err := domain.ValidateUnitCode(unit); err != nil {
		return err
	}
	res, err := s.Service.Assess(r.Context(), req, vars(r, "campaign"), unit, decide)
	if err != nil {
		return err
	}
	return s.written(w, r, res)
}

// ScoreInput is one item's score in a request. Points are required: a
// missing or null value is an error, never zero.
type ScoreInput struct {
	Item   string           `json:"item"`
	Points *decimal.Decimal `json:"points"`
	Note   string           `json:"note,omitempty"`
	Reason string           `json:"reason,omitempty"`
	// Respondents (survey scores only) is how many answers the score rests on.
	Respondents int `json:"respondents,omitempty"`
}

// ScoresRequest is the body of the batch score commands.
type ScoresRequest struct {
	Round  int          `json:"round,omitempty"`
	Reason string       `json:"reason,omitempty"`
	Batch  string       `json:"batch,omitempty"`
	Scores []ScoreInput `json:"scores"`
	// items are Scores checked for points.
	items []domain.ItemScore
}

// required returns the points or records that they are missing.
func required(fields *[]domain.FieldError, name string, p *decimal.Decimal) decimal.Decimal {
	if p == nil {
		*fields = append(*fields, domain.FieldError{Field: name, Detail: "is required: a decimal number such as 1.25"})
		return decimal.Zero
	}
	return *p
}

func (s *Server) scores(w http.ResponseWriter, r *http.Request, allowed ...string) (ScoresRequest, error) {
	var body ScoresRequest
	if err := decodeJSON(w, r, &body); err != nil {
		return body, err
	}
	var fields []domain.FieldError
	for i, sc := range body.Scores {
		pts := required(&fields, fmt.Sprintf("scores[%d].points", i), sc.Points)
		body.items = append(body.items, domain.ItemScore{Item: sc.Item, Points: pts, Note: sc.Note, Reason: sc.Reason, Respondents: sc.Respondents})
	}
	if len(fields) > 0 {
		return body, domain.Invalid("Some scores have no points.", fields...)
	}
	if body.Round != 0 && !slices.Contains(allowed, "round") {
		fields = append(fields, domain.FieldError{Field: "round", Detail: "this request has no round"})
	}
	if body.Batch != "" && !slices.Contains(allowed, "batch") {
		fields = append(fields, domain.FieldError{Field: "batch", Detail: "this request has no batch"})
	}
	if body.Reason != "" && !slices.Contains(allowed, "reason") {
		fields = append(fields, domain.FieldError{Field: "reason", Detail: "this request has no reason"})
	}
	if len(fields) > 0 {
		return body, domain.Invalid("The body has fields this request does not take.", fields...)
	}
	return body, nil
}

func (s *Server) recordSelfScores(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	body, err := s.scores(w, r)
	if err != nil {
		return err
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideSelfScores(x, body.items)
	})
}

func (s *Server) recordAppraisals(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	body, err := s.scores(w, r, "round", "reason")
	if err != nil {
		return err
	}
	if body.Round == 0 {
		body.Round = 1
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideAppraisals(x, body.Round, body.items, body.Reason)
	})
}

func (s *Server) recordSurveyScores(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	body, err := s.scores(w, r, "batch")
	if err != nil {
		return err
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideSurveyScores(x, body.items, body.Batch)
	})
}

func (s *Server) recordBonusPenalties(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	body, err := s.scores(w, r, "reason")
	if err != nil {
		return err
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideBonusPenalty(x, body.items, body.Reason)
	})
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct{}
	if err := decodeOptional(w, r, &body); err != nil {
		return err
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideSubmit(x)
	})
}

func (s *Server) reopen(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideReopen(x, body.Reason)
	})
}

func (s *Server) finalize(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct{}
	if err := decodeOptional(w, r, &body); err != nil {
		return err
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideFinalize(x)
	})
}

// EvidenceRef names an uploaded blob in a JSON request.
type EvidenceRef struct {
	SHA256         string `json:"sha256"`
	Title          string `json:"title"`
	DocumentNumber string `json:"documentNumber,omitempty"`
}

// evidence completes a reference with the blob's size and media type; the
// blob must be stored.
func (s *Server) evidence(ctx context.Context, field string, ref EvidenceRef) (domain.Evidence, error) {
	h, err := eventstore.ParseHash(ref.SHA256)
	if err != nil {
		return domain.Evidence{}, domain.Invalid("The evidence reference is not valid.", domain.FieldError{Field: field + "sha256", Detail: "must be 64 hex digits"})
	}
	rd, err := s.Blobs.Open(ctx, h)
	if err != nil {
		return domain.Evidence{}, domain.Invalid("The evidence is not stored.", domain.FieldError{Field: field + "sha256", Detail: "upload the file first: " + blobProblem(err)})
	}
	defer rd.Close()
	mt, err := sniff(rd)
	if err != nil {
		return domain.Evidence{}, err
	}
	return domain.Evidence{SHA256: h.String(), Size: rd.Size, MediaType: mt, Title: ref.Title, DocumentNumber: ref.DocumentNumber}, nil
}

func (s *Server) raiseExplanation(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Item     string           `json:"item"`
		Claimed  *decimal.Decimal `json:"claimedPoints"`
		Argument string           `json:"argument"`
		Evidence []EvidenceRef    `json:"evidence,omitempty"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	var fields []domain.FieldError
	claimed := required(&fields, "claimedPoints", body.Claimed)
	if len(body.Evidence) > 20 {
		fields = append(fields, domain.FieldError{Field: "evidence", Detail: "at most 20 documents"})
	}
	if len(fields) > 0 {
		return domain.Invalid("The explanation was not recorded.", fields...)
	}
	cmd := domain.RaiseExplanation{Item: body.Item, Claimed: claimed, Argument: body.Argument}
	for i, ref := range body.Evidence {
		ev, err := s.evidence(r.Context(), fmt.Sprintf("evidence[%d].", i), ref)
		if err != nil {
			return err
		}
		cmd.Evidence = append(cmd.Evidence, ev)
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideRaiseExplanation(x, cmd)
	})
}

func (s *Server) resolveExplanation(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Accepted    *bool            `json:"accepted"`
		FinalPoints *decimal.Decimal `json:"finalPoints,omitempty"`
		DecisionRef string           `json:"decisionRef"`
		Reason      string           `json:"reason"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Accepted == nil {
		return domain.Invalid("Say whether the council accepts the explanation.", domain.FieldError{Field: "accepted", Detail: "is required: true or false"})
	}
	cmd := domain.ResolveExplanation{Accepted: *body.Accepted, FinalPoints: body.FinalPoints, DecisionRef: body.DecisionRef, Reason: body.Reason}
	id := vars(r, "explanation")
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideResolveExplanation(x, id, cmd)
	})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return err
	}
	unit := vars(r, "unit")
	if _, ok := c.Units[unit]; !ok {
		return domain.Errorf(domain.ENOTFOUND, "Unit %s is not enrolled in campaign %s.", unit, c.ID)
	}
	if !canReadAssessment(p, unit) {
		return domain.Errorf(domain.EFORBIDDEN, "%s may read only the audit trail of unit %s.", p.ID, p.Scope)
	}
	filter, err := auditFilter(r)
	if err != nil {
		return err
	}
	format, err := exportFormat(r.URL.Query())
	if err != nil {
		return err
	}
	events, err := s.Service.ReadStream(r.Context(), domain.AssessmentStream(c.ID, unit))
	if err != nil {
		return err
	}
	entries := projections.AuditTrail(c.ID, unit, events, filter)
	if format == "xlsx" || format == "csv" {
		return writeExport(w, format, "nhat-ky-"+c.ID+"-"+unit, []excel.Sheet{auditSheet(unit, entries)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaign": c.ID, "unit": unit, "entries": entries})
	return nil
}

// importSurveyScores records survey scores for many units at once. Every
// unit's scores are checked first; if any is refused, nothing is recorded.
func (s *Server) importSurveyScores(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body struct {
		Batch  string `json:"batch"`
		Scores []struct {
			Unit        string           `json:"unit"`
			Item        string           `json:"item"`
			Points      *decimal.Decimal `json:"points"`
			Respondents int              `json:"respondents,omitempty"`
		} `json:"scores"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if r.Header.Get("If-Match") != "" {
		return domain.Invalid("A survey import spans many assessments; it takes no If-Match.", domain.FieldError{Field: "If-Match", Detail: "not allowed here"})
	}
	const maxImport = 20000
	if len(body.Scores) == 0 || len(body.Scores) > maxImport {
		return domain.Invalid("The import must hold 1 to 20000 scores.", domain.FieldError{Field: "scores", Detail: fmt.Sprintf("%d scores", len(body.Scores))})
	}
	campaign := vars(r, "campaign")
	c, err := s.Service.Campaign(r.Context(), campaign)
	if err != nil {
		return err
	}
	byUnit := map[string][]domain.ItemScore{}
	at := map[string][]int{} // each unit's scores' indexes in the request
	var order []string
	var fields []domain.FieldError
	for i, sc := range body.Scores {
		pts := required(&fields, fmt.Sprintf("scores[%d].points", i), sc.Points)
		if _, ok := c.Units[sc.Unit]; !ok {
			fields = append(fields, domain.FieldError{Field: fmt.Sprintf("scores[%d].unit", i), Detail: fmt.Sprintf("unit %q is not enrolled", sc.Unit)})
			continue
		}
		if _, ok := byUnit[sc.Unit]; !ok {
			order = append(order, sc.Unit)
		}
		byUnit[sc.Unit] = append(byUnit[sc.Unit], domain.ItemScore{Item: sc.Item, Points: pts, Respondents: sc.Respondents})
		at[sc.Unit] = append(at[sc.Unit], i)
	}
	// Check every unit before recording any.
	for _, unit := range order {
		a, err := s.Service.Assessment(r.Context(), campaign, unit)
		if err != nil {
			return err
		}
		x, err := domain.NewContext(c, unit, p, s.Service.Now())
		if err != nil {
			return err
		}
		if len(byUnit[unit]) > domain.MaxBatchItems {
			fields = append(fields, domain.FieldError{Field: "unit " + unit, Detail: fmt.Sprintf("at most %d items per unit", domain.MaxBatchItems)})
			continue
		}
		if _, err := a.DecideSurveyScores(x, byUnit[unit], body.Batch); err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != domain.EINVALID {
				return err
			}
			for _, f := range de.Fields {
				// The domain numbers the unit's own scores: name the
				// request's.
				field := "unit " + unit + ": " + f.Field
				var k int
				var rest string
				if n, _ := fmt.Sscanf(f.Field, "scores[%d]%s", &k, &rest); n >= 1 && k >= 0 && k < len(at[unit]) {
					field = fmt.Sprintf("scores[%d]%s", at[unit][k], rest)
				}
				fields = append(fields, domain.FieldError{Field: field, Detail: f.Detail})
			}
		}
	}
	if len(fields) > 0 {
		return domain.Invalid("The survey import was not recorded.", fields...)
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	var all []eventstore.Event
	var done []string
	var replayed bool
	for _, unit := range order {
		res, err := s.Service.Assess(r.Context(), req, campaign, unit, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
			return a.DecideSurveyScores(x, byUnit[unit], body.Batch)
		})
		if err != nil {
			var de *domain.Error
			if errors.As(err, &de) {
				de2 := *de
				de2.Message = fmt.Sprintf("%s The import stopped at unit %s.", de.Message, unit)
				if len(done) > 0 {
					de2.Message += fmt.Sprintf(" The scores of the units before it (%s) were recorded", strings.Join(done, ", "))
					if req.IdempotencyKey != "" {
						de2.Message += "; retry with the same Idempotency-Key to record the rest."
					} else {
						de2.Message += "; send the rest again."
					}
				}
				return &de2
			}
			return fmt.Errorf("survey import stopped at unit %s after %d events: %w", unit, len(all), err)
		}
		done = append(done, unit)
		all = append(all, res.Events...)
		replayed = replayed || res.Replayed
	}
	return s.written(w, r, ledger.Result{Events: all, Replayed: replayed})
}

// --- tokens

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Principal domain.Principal `json:"principal"`
	Name      string           `json:"name,omitempty"`
	// TTL is a Go duration such as "720h"; default 90 days.
	TTL string `json:"ttl,omitempty"`
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	var body TokenRequest
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	ttl := 90 * 24 * time.Hour
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil {
			return domain.Invalid("The lifetime is not valid.", domain.FieldError{Field: "ttl", Detail: "use a duration such as 720h"})
		}
		ttl = d
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	tok, err := s.Service.IssueToken(r.Context(), req, body.Principal, strings.TrimSpace(body.Name), ttl)
	if err != nil {
		return err
	}
	if n := len(tok.Result.Events); n > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.WriteWait)
		_ = s.Runner.WaitFor(ctx, tok.Result.Events[n-1].Position)
		cancel()
	}
	writeJSON(w, http.StatusCreated, map[string]any{"tokenId": tok.TokenID, "secret": tok.Secret, "principal": tok.Principal, "expiresAt": tok.ExpiresAt})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	writeJSON(w, http.StatusOK, map[string]any{"tokens": s.Tokens.List()})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	id := vars(r, "token")
	if tok, ok := s.Tokens.Get(id); !ok {
		return domain.Errorf(domain.ENOTFOUND, "No token %q.", id)
	} else if tok.Revoked {
		return domain.Errorf(domain.ECONFLICT, "Token %s is already revoked.", id)
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.RevokeToken(r.Context(), req, id, r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	// A revocation is acknowledged only once it is in force: wait for the
	// credentials model as long as the request may last, not WriteWait.
	if n := len(res.Events); n > 0 {
		if err := s.Runner.WaitFor(r.Context(), res.Events[n-1].Position); err != nil {
			return &domain.Error{Code: domain.EUNAVAILABLE, Message: fmt.Sprintf("The revocation of token %s is recorded but not yet in force; it will be once the server catches up. GET /api/v1/tokens shows when.", id)}
		}
	}
	return s.written(w, r, res)
}
