package http

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/excel"
	"github.com/parledger/parledger/projections"
)

// AsOf says which moment of the ledger a view shows.
type AsOf struct {
	// Position is the log position of the last event the view includes.
	Position uint64 `json:"position"`
	// At is the time asked for, if the caller asked by time.
	At *time.Time `json:"at,omitempty"`
}

// asOf reads ?position= or ?at= (RFC 3339). It reports ok false when
// neither is given.
func (s *Server) asOf(r *http.Request) (AsOf, bool, error) {
	q := r.URL.Query()
	pos, at := q.Get("position"), q.Get("at")
	switch {
	case pos != "" && at != "":
		return AsOf{}, false, domain.Invalid("Ask by position or by time, not both.", domain.FieldError{Field: "at", Detail: "remove position or at"})
	case pos != "":
		p, err := strconv.ParseUint(pos, 10, 64)
		if err != nil || p == 0 {
			return AsOf{}, false, domain.Invalid("The position is not valid.", domain.FieldError{Field: "position", Detail: "a positive integer"})
		}
		head, err := s.Service.Store().Head(r.Context())
		if err != nil {
			return AsOf{}, false, err
		}
		if p > uint64(head) {
			return AsOf{}, false, domain.Invalid("The ledger has not reached that position.", domain.FieldError{Field: "position", Detail: fmt.Sprintf("the last position is %d", head)})
		}
		return AsOf{Position: p}, true, nil
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return AsOf{}, false, domain.Invalid("The time is not valid.", domain.FieldError{Field: "at", Detail: "use RFC 3339, e.g. 2017-12-20T08:00:00+07:00"})
		}
		p, err := projections.PositionAt(r.Context(), s.Service.Store(), t)
		if err != nil {
			return AsOf{}, false, err
		}
		return AsOf{Position: p, At: &t}, true, nil
	}
	return AsOf{}, false, nil
}

// RankingsView is the body of GET .../rankings: the rankings, and when they
// were asked as of a moment, which.
type RankingsView struct {
	*projections.Rankings
	AsOf *AsOf `json:"asOf,omitempty"`
}

// rankingsAsOf returns the current rankings, or those of ?position= / ?at=.
func (s *Server) rankingsAsOf(r *http.Request, campaign string) (RankingsView, error) {
	at, ok, err := s.asOf(r)
	if err != nil {
		return RankingsView{}, err
	}
	if !ok {
		rk, found := s.Board.Rankings(campaign)
		if !found {
			return RankingsView{}, domain.Errorf(domain.ENOTFOUND, "No campaign %q.", campaign)
		}
		return RankingsView{Rankings: rk}, nil
	}
	if s.History == nil {
		return RankingsView{}, &domain.Error{Code: domain.EUNAVAILABLE, Message: "This server keeps no history of rankings."}
	}
	rk, err := s.History.RankingsAt(r.Context(), campaign, at.Position)
	if err != nil {
		return RankingsView{}, err
	}
	return RankingsView{Rankings: rk, AsOf: &at}, nil
}

// exportFormat reads ?format= from a request's query: "" or json, xlsx, csv.
func exportFormat(q url.Values) (string, error) {
	switch f := q.Get("format"); f {
	case "", "json", "xlsx", "csv":
		return f, nil
	default:
		return "", domain.Invalid("Unknown format.", domain.FieldError{Field: "format", Detail: "use json, xlsx or csv"})
	}
}

// writeExport answers sheets as an XLSX or CSV download named name.
func writeExport(w http.ResponseWriter, format, name string, sheets []excel.Sheet) error {
	var buf bytes.Buffer
	var ctype string
	switch format {
	case "xlsx":
		ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		if err := excel.WriteWorkbook(&buf, sheets); err != nil {
			return err
		}
	case "csv":
		ctype = "text/csv; charset=utf-8"
		if err := excel.WriteCSV(&buf, sheets); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, name, format))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, err := w.Write(buf.Bytes())
	return err
}

var blockNames = map[domain.Block]string{domain.BlockDepartments: "Khối sở, ban, ngành", domain.BlockDistricts: "Khối quận, huyện, thị xã"}

// rankingSheets lays rankings out as officials print them: one sheet per
// block, Vietnamese headers.
func rankingSheets(rk *projections.Rankings) []excel.Sheet {
	var out []excel.Sheet
	for _, b := range rk.Blocks {
		sh := excel.Sheet{Name: blockNames[b.Block], Header: []string{"Hạng", "Mã đơn vị", "Đơn vị", "Chỉ số CCHC (%)", "Điểm đạt", "Điểm tối đa",
			"Tự chấm", "Thẩm định", "ĐTXHH", "Điểm thưởng", "Điểm trừ", "Xếp loại", "Trạng thái"}}
		for _, row := range b.Rows {
			sc := row.Score
			sh.Rows = append(sh.Rows, []any{row.Rank, row.Unit.Code, row.Unit.Name, sc.Index, sc.Final, sc.Max,
				sc.Self, sc.Appraised, sc.Survey, sc.Bonus, sc.Penalty, row.Grade, statusNames[row.Status]})
		}
		out = append(out, sh)
	}
	return out
}

var statusNames = map[string]string{"not-started": "Chưa tự chấm", "in-progress": "Đang tự chấm", "submitted": "Đã nộp", "finalized": "Đã chốt điểm"}

// auditSheet lays an audit trail out as one sheet.
func auditSheet(unit string, entries []projections.AuditEntry) excel.Sheet {
	sh := excel.Sheet{Name: "Nhật ký " + unit, Header: []string{"Vị trí", "Phiên bản", "Thời điểm", "Loại sự kiện", "Người thực hiện", "Vai trò", "Phạm vi",
		"Tiêu chí", "Tự chấm trước", "Tự chấm sau", "Thẩm định trước", "Thẩm định sau", "ĐTXHH trước", "ĐTXHH sau", "Lý do", "Tài liệu kiểm chứng"}}
	for _, e := range entries {
		row := []any{int(e.Position), int(e.Revision), e.At, e.Type, e.Actor.ID, string(e.Actor.Role), e.Actor.Scope, e.Item}
		for _, pair := range [][2]*decimal.Decimal{
			{valueOf(e.Before, "self"), valueOf(e.After, "self")},
			{valueOf(e.Before, "appraised"), valueOf(e.After, "appraised")},
			{valueOf(e.Before, "survey"), valueOf(e.After, "survey")},
		} {
			for _, v := range pair {
				if v == nil {
					row = append(row, "")
				} else {
					row = append(row, *v)
				}
			}
		}
		doc := ""
		if e.Evidence != nil {
			doc = e.Evidence.Title + " (" + e.Evidence.SHA256 + ")"
		}
		sh.Rows = append(sh.Rows, append(row, e.Reason, doc))
	}
	return sh
}

func valueOf(v *projections.ItemValues, what string) *decimal.Decimal {
	if v == nil {
		return nil
	}
	switch what {
	case "self":
		return v.Self
	case "appraised":
		if v.Appraised2 != nil {
			return v.Appraised2
		}
		return v.Appraised1
	case "survey":
		return v.Survey
	}
	return nil
}

// --- assessments as of a version, diffs, disputes

// VersionRef names the event that made a version of an assessment.
type VersionRef = projections.EventRef

// foldUntil folds an assessment's events up to and including revision
// rev, and returns the state and the event that made it.
func foldUntil(c *domain.Campaign, unit string, events []domain.Recorded, keep func(r domain.Recorded) bool) (*domain.Assessment, *VersionRef) {
	a := domain.NewAssessment(c.ID, unit)
	n := 0
	for _, e := range events {
		if !keep(e) {
			break
		}
		a.Apply(e)
		n++
	}
	if n == 0 {
		return a, nil
	}
	ref := projections.RefOf(events[n-1])
	return a, &ref
}

// version reads ?revision= or ?at= of an assessment read. ok is false when
// neither is given.
func version(r *http.Request) (keep func(domain.Recorded) bool, ok bool, err error) {
	q := r.URL.Query()
	rev, at := q.Get("revision"), q.Get("at")
	switch {
	case rev != "" && at != "":
		return nil, false, domain.Invalid("Ask by revision or by time, not both.", domain.FieldError{Field: "at", Detail: "remove revision or at"})
	case rev != "":
		n, err := strconv.ParseUint(rev, 10, 64)
		if err != nil {
			return nil, false, domain.Invalid("The revision is not valid.", domain.FieldError{Field: "revision", Detail: "a non-negative integer"})
		}
		return func(e domain.Recorded) bool { return e.Revision <= n }, true, nil
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return nil, false, domain.Invalid("The time is not valid.", domain.FieldError{Field: "at", Detail: "use RFC 3339, e.g. 2017-11-15T17:00:00+07:00"})
		}
		return func(e domain.Recorded) bool { return !e.At.After(t) }, true, nil
	}
	return nil, false, nil
}

// ItemDiff is one item whose values differ between two versions.
type ItemDiff struct {
	Code   string          `json:"code"`
	Title  string          `json:"title"`
	Before ItemSide        `json:"before"`
	After  ItemSide        `json:"after"`
	Delta  decimal.Decimal `json:"delta"`
}

// ItemSide is an item's values in one version.
type ItemSide struct {
	Self      *decimal.Decimal `json:"self,omitempty"`
	Appraised *decimal.Decimal `json:"appraised,omitempty"`
	Survey    *decimal.Decimal `json:"survey,omitempty"`
	Council   *decimal.Decimal `json:"council,omitempty"`
	Final     decimal.Decimal  `json:"final"`
	Evidence  []string         `json:"evidence,omitempty"`
}

func side(n *domain.Node, st *domain.ItemState) ItemSide {
	final, _ := domain.ItemFinal(n, st)
	s := ItemSide{Final: final}
	if st != nil {
		s.Self, s.Survey, s.Council = st.Self, st.Survey, st.Council
		if n.Method == domain.MethodBonus || n.Method == domain.MethodPenalty {
			s.Survey = nil
		}
		if ap := st.Appraised(); ap != nil {
			p := ap.Points
			s.Appraised = &p
		}
		for _, e := range st.Evidence {
			s.Evidence = append(s.Evidence, e.SHA256)
		}
	}
	return s
}

func (a ItemSide) equal(b ItemSide) bool {
	eq := func(x, y *decimal.Decimal) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	return eq(a.Self, b.Self) && eq(a.Appraised, b.Appraised) && eq(a.Survey, b.Survey) && eq(a.Council, b.Council) &&
		a.Final.Equal(b.Final) && slices.Equal(a.Evidence, b.Evidence)
}

// DiffView is the body of GET .../diff.
type DiffView struct {
	Campaign string                   `json:"campaign"`
	Unit     string                   `json:"unit"`
	From     uint64                   `json:"from"`
	To       uint64                   `json:"to"`
	Before   domain.Score             `json:"before"`
	After    domain.Score             `json:"after"`
	Items    []ItemDiff               `json:"items"`
	Events   []projections.AuditEntry `json:"events"`
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, unit, events, err := s.readableAssessment(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, err1 := strconv.ParseUint(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseUint(q.Get("to"), 10, 64)
	var fields []domain.FieldError
	if err1 != nil {
		fields = append(fields, domain.FieldError{Field: "from", Detail: "a revision"})
	}
	if err2 != nil {
		fields = append(fields, domain.FieldError{Field: "to", Detail: "a revision"})
	}
	if len(fields) == 0 && from > to {
		fields = append(fields, domain.FieldError{Field: "from", Detail: "must not be after to"})
	}
	if len(fields) == 0 && (len(events) == 0 || to > events[len(events)-1].Revision) {
		fields = append(fields, domain.FieldError{Field: "to", Detail: fmt.Sprintf("the assessment has %d revisions", len(events))})
	}
	if len(fields) > 0 {
		return domain.Invalid("Name two revisions of the assessment.", fields...)
	}
	f, _, err := c.Framework(unit)
	if err != nil {
		return err
	}
	before, _ := foldUntil(&c, unit, events, func(e domain.Recorded) bool { return e.Revision <= from })
	after, _ := foldUntil(&c, unit, events, func(e domain.Recorded) bool { return e.Revision <= to })
	v := DiffView{Campaign: c.ID, Unit: unit, From: from, To: to, Items: []ItemDiff{},
		Before: domain.ComputeScore(f, before, c.Settings.Rounding), After: domain.ComputeScore(f, after, c.Settings.Rounding)}
	for _, n := range f.Leaves() {
		b, a := side(n, before.Items[n.Code]), side(n, after.Items[n.Code])
		if !b.equal(a) {
			v.Items = append(v.Items, ItemDiff{Code: n.Code, Title: n.Title, Before: b, After: a, Delta: a.Final.Sub(b.Final)})
		}
	}
	all := projections.AuditTrail(c.ID, unit, events, projections.AuditFilter{})
	v.Events = []projections.AuditEntry{}
	for _, e := range all {
		if e.Revision > from && e.Revision <= to {
			v.Events = append(v.Events, e)
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// readableAssessment checks the caller may read a unit's assessment in full
// and returns its events.
func (s *Server) readableAssessment(r *http.Request, p domain.Principal) (domain.Campaign, string, []domain.Recorded, error) {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return c, "", nil, err
	}
	unit := vars(r, "unit")
	if _, ok := c.Units[unit]; !ok {
		return c, "", nil, domain.Errorf(domain.ENOTFOUND, "Unit %s is not enrolled in campaign %s.", unit, c.ID)
	}
	if !canReadAssessment(p, unit) || p.Role == domain.RolePublic {
		return c, "", nil, domain.Errorf(domain.EFORBIDDEN, "%s may not read the history of unit %s.", p.ID, unit)
	}
	events, err := s.Service.ReadStream(r.Context(), domain.AssessmentStream(c.ID, unit))
	return c, unit, events, err
}

// DisputeView is the side-by-side view of one contested item.
type DisputeView struct {
	Campaign     string                   `json:"campaign"`
	Unit         string                   `json:"unit"`
	Item         string                   `json:"item"`
	Title        string                   `json:"title"`
	Max          decimal.Decimal          `json:"max"`
	Self         *decimal.Decimal         `json:"self,omitempty"`
	SelfNote     string                   `json:"selfNote,omitempty"`
	Evidence     []domain.Evidence        `json:"evidence,omitempty"`
	Appraisals   [2]*domain.Appraisal     `json:"appraisals"`
	Final        decimal.Decimal          `json:"final"`
	Explanations []*domain.Explanation    `json:"explanations"`
	History      []projections.AuditEntry `json:"history"`
}

func (s *Server) dispute(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, unit, events, err := s.readableAssessment(r, p)
	if err != nil {
		return err
	}
	f, _, err := c.Framework(unit)
	if err != nil {
		return err
	}
	item := vars(r, "item")
	n := f.Find(item)
	if n == nil || !n.IsLeaf() {
		return domain.Errorf(domain.ENOTFOUND, "Framework %s has no item %s.", f.ID, item)
	}
	a, _ := foldUntil(&c, unit, events, func(domain.Recorded) bool { return true })
	v := DisputeView{Campaign: c.ID, Unit: unit, Item: item, Title: n.Title, Max: n.MaxPoints, Explanations: []*domain.Explanation{}}
	if st := a.Items[item]; st != nil {
		v.Self, v.SelfNote, v.Evidence, v.Appraisals = st.Self, st.SelfNote, st.Evidence, st.Appraisals
	}
	v.Final, _ = domain.ItemFinal(n, a.Items[item])
	for _, x := range a.Explanations {
		if x.Item == item {
			v.Explanations = append(v.Explanations, x)
		}
	}
	v.History = projections.AuditTrail(c.ID, unit, events, projections.AuditFilter{Item: item})
	writeJSON(w, http.StatusOK, v)
	return nil
}

// --- explanations

// ExplanationLine is an explanation in a list, with its unit.
type ExplanationLine struct {
	UnitCode string `json:"unitCode"`
	UnitName string `json:"unitName"`
	*domain.Explanation
}

func (s *Server) listExplanations(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && status != "open" && status != "resolved" {
		return domain.Invalid("Unknown status.", domain.FieldError{Field: "status", Detail: "use open or resolved"})
	}
	units := c.UnitOrder
	if u := vars(r, "unit"); u != "" {
		if _, ok := c.Units[u]; !ok {
			return domain.Errorf(domain.ENOTFOUND, "Unit %s is not enrolled in campaign %s.", u, c.ID)
		}
		if !canReadAssessment(p, u) {
			return domain.Errorf(domain.EFORBIDDEN, "%s may not read the explanations of unit %s.", p.ID, u)
		}
		units = []string{u}
	}
	out := []ExplanationLine{}
	for _, code := range units {
		if !canReadAssessment(p, code) {
			continue
		}
		a, err := s.Service.Assessment(r.Context(), c.ID, code)
		if err != nil {
			return err
		}
		for _, x := range a.Explanations {
			if status == "open" && x.Resolved || status == "resolved" && !x.Resolved {
				continue
			}
			out = append(out, ExplanationLine{UnitCode: code, UnitName: c.Units[code].Name, Explanation: x})
		}
	}
	slices.SortStableFunc(out, func(a, b ExplanationLine) int { return a.RaisedAt.Compare(b.RaisedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"campaign": c.ID, "deadline": c.Calendar.ExplanationDue, "explanations": out})
	return nil
}

// --- the campaign's audit trail

// maxAuditPage caps one page of the campaign's audit trail.
const maxAuditPage = 1000

func (s *Server) campaignAudit(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := s.campaignFor(r, p)
	if err != nil {
		return err
	}
	if p.Role == domain.RoleUnit || p.Role == domain.RolePublic {
		return domain.Errorf(domain.EFORBIDDEN, "%s may read only its own unit's audit trail.", p.ID)
	}
	q := r.URL.Query()
	filter, err := auditFilter(r)
	if err != nil {
		return err
	}
	limit, after := 100, uint64(0)
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxAuditPage {
			return domain.Invalid("The page size is not valid.", domain.FieldError{Field: "limit", Detail: fmt.Sprintf("1 to %d", maxAuditPage)})
		}
	}
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return domain.Invalid("The cursor is not valid.", domain.FieldError{Field: "after", Detail: "the position of the last entry of the previous page"})
		}
	}
	only := q.Get("unit")
	if only != "" {
		if _, ok := c.Units[only]; !ok {
			return domain.Errorf(domain.ENOTFOUND, "Unit %s is not enrolled in campaign %s.", only, c.ID)
		}
	}
	type line struct {
		Unit string `json:"unit"`
		projections.AuditEntry
	}
	// The page is read off the global log from the cursor on, so a page
	// costs the events it spans (plus the streams of the units it names,
	// whose trails give the values before and after), not the whole
	// campaign. A selective filter may scan far.
	var all []line
	trails := map[string]map[uint64]projections.AuditEntry{}
	for e, err := range s.Service.Store().ReadAll(r.Context(), eventstore.ReadAllOptions{From: eventstore.Position(after + 1)}) {
		if err != nil {
			return err
		}
		campaign, unit, ok := domain.ParseAssessmentStream(e.Stream)
		if !ok || campaign != c.ID || only != "" && unit != only {
			continue
		}
		if _, ok := c.Units[unit]; !ok {
			continue
		}
		trail, ok := trails[unit]
		if !ok {
			events, err := s.Service.ReadStream(r.Context(), domain.AssessmentStream(c.ID, unit))
			if err != nil {
				return err
			}
			trail = map[uint64]projections.AuditEntry{}
			for _, x := range projections.AuditTrail(c.ID, unit, events, filter) {
				trail[x.Position] = x
			}
			trails[unit] = trail
		}
		if x, ok := trail[uint64(e.Position)]; ok {
			all = append(all, line{Unit: unit, AuditEntry: x})
			if len(all) > limit {
				break
			}
		}
	}
	page := map[string]any{"campaign": c.ID}
	if len(all) > limit {
		all = all[:limit]
		page["next"] = all[limit-1].Position
	}
	if all == nil {
		all = []line{}
	}
	page["entries"] = all
	writeJSON(w, http.StatusOK, page)
	return nil
}

// auditFilter reads the audit trail's filters: item, actor, type, from,
// until.
func auditFilter(r *http.Request) (projections.AuditFilter, error) {
	q := r.URL.Query()
	filter := projections.AuditFilter{Item: q.Get("item"), Actor: q.Get("actor"), Type: q.Get("type")}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &filter.From}, {"until", &filter.Until}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return filter, domain.Invalid("A time is not valid.", domain.FieldError{Field: t.name, Detail: "use RFC 3339, e.g. 2017-10-30T17:00:00+07:00"})
			}
			*t.dst = at
		}
	}
	return filter, nil
}
