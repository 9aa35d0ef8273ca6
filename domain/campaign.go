package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// Hanoi is the time zone of every deadline: Vietnam keeps UTC+7 all year.
var Hanoi = time.FixedZone("ICT", 7*60*60)

// Date is a calendar day in Hanoi, written "2017-10-30" in the API and
// 30/10/2017 for people.
type Date struct{ time.Time }

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, Hanoi)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date written YYYY-MM-DD", s)
	}
	return Date{t}, nil
}

// MustDate parses "YYYY-MM-DD" and panics on error; for constants in
// tests and the demo.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns "YYYY-MM-DD".
func (d Date) String() string { return d.Time.In(Hanoi).Format(time.DateOnly) }

// Vietnamese returns the date as officials write it: dd/mm/yyyy.
func (d Date) Vietnamese() string { return d.Time.In(Hanoi).Format("02/01/2006") }

// End returns the first instant after the day: "before 30/10/2017" means
// until the end of 30/10/2017 in Hanoi.
func (d Date) End() time.Time { return d.Time.In(Hanoi).AddDate(0, 0, 1) }

// IsZero reports whether no date is set.
func (d Date) IsZero() bool { return d.Time.IsZero() }

// MarshalJSON writes "YYYY-MM-DD" (or null when unset).
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.String() + `"`), nil
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("a date must be a string written YYYY-MM-DD")
	}
	parsed, err := ParseDate(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// Phase names a step of the campaign calendar that has a deadline.
type Phase string

// Phases with deadlines.
const (
	PhaseSelfAssessment Phase = "self-assessment"
	PhaseAppraisal      Phase = "appraisal"
	PhaseExplanation    Phase = "explanation"
)

// Calendar holds a campaign's deadlines (inclusive days in Hanoi).
type Calendar struct {
	SelfAssessmentDue Date `json:"selfAssessmentDue"`
	AppraisalDue      Date `json:"appraisalDue"`
	// ExplanationDue is set when Home Affairs opens the explanation round.
	ExplanationDue Date `json:"explanationDue"`
	// CouncilDate and PublicationDue are planned dates, for information.
	CouncilDate    Date `json:"councilDate"`
	PublicationDue Date `json:"publicationDue"`
}

// Due returns the deadline of a phase.
func (c Calendar) Due(p Phase) Date {
	switch p {
	case PhaseSelfAssessment:
		return c.SelfAssessmentDue
	case PhaseAppraisal:
		return c.AppraisalDue
	case PhaseExplanation:
		return c.ExplanationDue
	}
	return Date{}
}

// TieRule says how equal index values share ranks.
type TieRule string

// Tie rules.
const (
	// TieShared: equal values share a rank and the next rank skips
	// (1, 2, 2, 4), as published tables do.
	TieShared TieRule = "shared"
	// TieDense: equal values share a rank and the next follows (1, 2, 2, 3).
	TieDense TieRule = "dense"
)

// GradeBand is a grade given to index values at or above Min.
type GradeBand struct {
	Grade string          `json:"grade"`
	Label string          `json:"label,omitempty"`
	Min   decimal.Decimal `json:"min"`
}

// CampaignSettings are a campaign's scoring settings.
type CampaignSettings struct {
	// Rounding is the number of decimals of published index values.
	Rounding int32 `json:"rounding"`
	// TieRule says how equal rounded values rank.
	TieRule TieRule `json:"tieRule"`
	// GradeBands, highest first; an index below every band gets none.
	GradeBands []GradeBand `json:"gradeBands"`
}

// DefaultSettings are Hanoi's usual settings: two decimals, shared ranks,
// and bands A ≥ 90, B ≥ 80, C ≥ 70, D below.
func DefaultSettings() CampaignSettings {
	return CampaignSettings{
		Rounding: 2,
		TieRule:  TieShared,
		GradeBands: []GradeBand{
			{Grade: "A", Label: "Xuất sắc", Min: decimal.NewFromInt(90)},
			{Grade: "B", Label: "Tốt", Min: decimal.NewFromInt(80)},
			{Grade: "C", Label: "Khá", Min: decimal.NewFromInt(70)},
			{Grade: "D", Label: "Trung bình", Min: decimal.Zero},
		},
	}
}

// Unit is a scored unit: a department (block so) or a district (block
// huyen).
type Unit struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Block Block  `json:"block"`
}

// Campaign is the state of a campaign, folded from its stream.
type Campaign struct {
	ID         string
	Year       int
	Title      string
	Settings   CampaignSettings
	Calendar   Calendar
	Frameworks map[Block]*Framework
	Units      map[string]Unit
	UnitOrder  []string
	Published  *ResultsPublished
	OpenedAt   time.Time
	// Revision is the revision of the campaign stream's last event.
	Revision uint64
}

// Apply folds one recorded event of the campaign's stream into c.
func (c *Campaign) Apply(r Recorded) {
	c.Revision = r.Revision
	switch e := r.Event.(type) {
	case *CampaignOpened:
		c.ID, c.Year, c.Title, c.Settings, c.Calendar, c.OpenedAt = e.ID, e.Year, e.Title, e.Settings, e.Calendar, r.At
		c.Frameworks = make(map[Block]*Framework)
		c.Units = make(map[string]Unit)
	case *FrameworkFrozen:
		c.Frameworks[e.Block] = e.Framework
	case *UnitEnrolled:
		if _, ok := c.Units[e.Unit.Code]; !ok {
			c.UnitOrder = append(c.UnitOrder, e.Unit.Code)
		}
		c.Units[e.Unit.Code] = e.Unit
	case *DeadlineChanged:
		switch e.Phase {
		case PhaseSelfAssessment:
			c.Calendar.SelfAssessmentDue = e.Due
		case PhaseAppraisal:
			c.Calendar.AppraisalDue = e.Due
		case PhaseExplanation:
			c.Calendar.ExplanationDue = e.Due
		}
	case *ExplanationWindowOpened:
		c.Calendar.ExplanationDue = e.Due
	case *ResultsPublished:
		p := *e
		c.Published = &p
	}
}

// Framework returns the framework of a unit's block.
func (c *Campaign) Framework(unit string) (*Framework, Unit, error) {
	u, ok := c.Units[unit]
	if !ok {
		return nil, Unit{}, Errorf(ENOTFOUND, "Unit %s is not enrolled in campaign %s.", unit, c.ID)
	}
	f := c.Frameworks[u.Block]
	if f == nil {
		return nil, u, Errorf(ECONFLICT, "Campaign %s has no framework for block %s.", c.ID, u.Block)
	}
	return f, u, nil
}

// OpenCampaign is the command that starts a campaign.
type OpenCampaign struct {
	ID         string               `json:"id"`
	Year       int                  `json:"year"`
	Title      string               `json:"title"`
	Settings   *CampaignSettings    `json:"settings,omitempty"`
	Calendar   Calendar             `json:"calendar"`
	Frameworks map[Block]*Framework `json:"-"`
}

// ValidateCampaignID checks a campaign id: lowercase letters, digits and
// '-', 1 to 64 characters.
func ValidateCampaignID(id string) error {
	if !campaignIDPattern.MatchString(id) {
		return Invalid("The campaign id is not valid.", FieldError{"id", "use 1 to 64 lowercase letters, digits and '-', starting with a letter or digit"})
	}
	return nil
}

// DecideOpenCampaign returns the events that open a campaign. exists
// reports whether the campaign's stream already has events.
func DecideOpenCampaign(p Principal, cmd OpenCampaign, exists bool) ([]Event, error) {
	if err := require(p, "open a campaign", RoleHomeAffairs); err != nil {
		return nil, err
	}
	var fields []FieldError
	if !campaignIDPattern.MatchString(cmd.ID) {
		fields = append(fields, FieldError{"id", "use 1 to 64 lowercase letters, digits and '-', starting with a letter or digit"})
	}
	if cmd.Year < 2000 || cmd.Year > 2100 {
		fields = append(fields, FieldError{"year", "must be between 2000 and 2100"})
	}
	title := strings.TrimSpace(norm.NFC.String(cmd.Title))
	if title == "" || len(title) > 500 {
		fields = append(fields, FieldError{"title", "must be 1 to 500 bytes"})
	}
	settings := DefaultSettings()
	if cmd.Settings != nil {
		settings = *cmd.Settings
		fields = append(fields, validateSettings(settings)...)
	}
	if cmd.Calendar.SelfAssessmentDue.IsZero() {
		fields = append(fields, FieldError{"calendar.selfAssessmentDue", "is required"})
	}
	if cmd.Calendar.AppraisalDue.IsZero() {
		fields = append(fields, FieldError{"calendar.appraisalDue", "is required"})
	} else if cmd.Calendar.AppraisalDue.Before(cmd.Calendar.SelfAssessmentDue.Time) {
		fields = append(fields, FieldError{"calendar.appraisalDue", "must not be before the self-assessment deadline"})
	}
	if len(cmd.Frameworks) == 0 {
		fields = append(fields, FieldError{"frameworks", "name a framework for at least one block"})
	}
	blocks := make([]Block, 0, len(cmd.Frameworks))
	for b, f := range cmd.Frameworks {
		if !b.Valid() {
			fields = append(fields, FieldError{"frameworks", fmt.Sprintf("unknown block %q; use so or huyen", b)})
			continue
		}
		if f == nil || f.Block != b {
			fields = append(fields, FieldError{"frameworks." + string(b), "the framework is for another block"})
			continue
		}
		blocks = append(blocks, b)
	}
	if len(fields) > 0 {
		return nil, Invalid("The campaign cannot be opened.", fields...)
	}
	if exists {
		return nil, Errorf(ECONFLICT, "Campaign %s already exists.", cmd.ID)
	}
	// Departments first, then districts, as Hanoi's tables list them.
	slices.SortFunc(blocks, func(a, b Block) int { return strings.Compare(string(b), string(a)) })
	events := []Event{&CampaignOpened{ID: cmd.ID, Year: cmd.Year, Title: title, Settings: settings, Calendar: cmd.Calendar}}
	for _, b := range blocks {
		events = append(events, &FrameworkFrozen{Block: b, Framework: cmd.Frameworks[b]})
	}
	return events, nil
}

func validateSettings(s CampaignSettings) []FieldError {
	var fields []FieldError
	if s.Rounding < 0 || s.Rounding > 6 {
		fields = append(fields, FieldError{"settings.rounding", "must be 0 to 6 decimals"})
	}
	if s.TieRule != TieShared && s.TieRule != TieDense {
		fields = append(fields, FieldError{"settings.tieRule", "use shared or dense"})
	}
	for i, g := range s.GradeBands {
		if strings.TrimSpace(g.Grade) == "" {
			fields = append(fields, FieldError{fmt.Sprintf("settings.gradeBands[%d].grade", i), "is required"})
		}
		if g.Min.IsNegative() || g.Min.GreaterThan(decimal.NewFromInt(100)) {
			fields = append(fields, FieldError{fmt.Sprintf("settings.gradeBands[%d].min", i), "must be 0 to 100"})
		}
		if i > 0 && !g.Min.LessThan(s.GradeBands[i-1].Min) {
			fields = append(fields, FieldError{fmt.Sprintf("settings.gradeBands[%d].min", i), "bands must be listed highest first"})
		}
	}
	return fields
}

// DecideEnrolUnits returns the events that enrol units. A unit already
// enrolled with the same name and block is left alone.
func (c *Campaign) DecideEnrolUnits(p Principal, units []Unit) ([]Event, error) {
	if err := require(p, "enrol units", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if c.Published != nil {
		return nil, Errorf(ECONFLICT, "Campaign %s is published; its units cannot change.", c.ID)
	}
	if len(units) == 0 {
		return nil, Invalid("Name at least one unit.", FieldError{"units", "is empty"})
	}
	var fields []FieldError
	var events []Event
	seen := map[string]bool{}
	for i, u := range units {
		u.Name = strings.TrimSpace(norm.NFC.String(u.Name))
		f := fmt.Sprintf("units[%d]", i)
		switch {
		case !unitCodePattern.MatchString(u.Code):
			fields = append(fields, FieldError{f + ".code", "use 1 to 16 capital letters or digits"})
		case seen[u.Code]:
			fields = append(fields, FieldError{f + ".code", "unit " + u.Code + " is listed twice"})
		}
		seen[u.Code] = true
		if u.Name == "" || len(u.Name) > 300 {
			fields = append(fields, FieldError{f + ".name", "must be 1 to 300 bytes"})
		}
		if !u.Block.Valid() {
			fields = append(fields, FieldError{f + ".block", "use so or huyen"})
		} else if c.Frameworks[u.Block] == nil {
			fields = append(fields, FieldError{f + ".block", "the campaign has no framework for block " + string(u.Block)})
		}
		if old, ok := c.Units[u.Code]; ok {
			if old != u {
				fields = append(fields, FieldError{f, fmt.Sprintf("unit %s is already enrolled as %s (%s)", u.Code, old.Name, old.Block)})
			}
			continue
		}
		events = append(events, &UnitEnrolled{Unit: u})
	}
	if len(fields) > 0 {
		return nil, Invalid("The units cannot be enrolled.", fields...)
	}
	return events, nil
}

// DecideChangeDeadline returns the event that moves a phase's deadline.
func (c *Campaign) DecideChangeDeadline(p Principal, phase Phase, due Date) ([]Event, error) {
	if err := require(p, "change deadlines", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if phase != PhaseSelfAssessment && phase != PhaseAppraisal && phase != PhaseExplanation {
		return nil, Invalid("Unknown phase.", FieldError{"phase", "use self-assessment, appraisal or explanation"})
	}
	if due.IsZero() {
		return nil, Invalid("The deadline is missing.", FieldError{"due", "is required"})
	}
	if c.Published != nil {
		return nil, Errorf(ECONFLICT, "Campaign %s is published.", c.ID)
	}
	if c.Calendar.Due(phase).Equal(due.Time) {
		return nil, nil
	}
	cal := c.Calendar
	switch phase {
	case PhaseSelfAssessment:
		cal.SelfAssessmentDue = due
	case PhaseAppraisal:
		cal.AppraisalDue = due
	case PhaseExplanation:
		if cal.ExplanationDue.IsZero() {
			return nil, Errorf(ECONFLICT, "The explanation round of campaign %s is not open; open it with its deadline first.", c.ID)
		}
		cal.ExplanationDue = due
	}
	if cal.AppraisalDue.Before(cal.SelfAssessmentDue.Time) {
		return nil, Invalid("The deadlines would be out of order.", FieldError{"due", fmt.Sprintf("the appraisal deadline (%s) must not be before the self-assessment deadline (%s)", cal.AppraisalDue.Vietnamese(), cal.SelfAssessmentDue.Vietnamese())})
	}
	return []Event{&DeadlineChanged{Phase: phase, Due: due}}, nil
}

// DecideOpenExplanationWindow returns the event that opens the
// explanation round until due.
func (c *Campaign) DecideOpenExplanationWindow(p Principal, due Date, now time.Time) ([]Event, error) {
	if err := require(p, "open the explanation round", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if due.IsZero() || !now.Before(due.End()) {
		return nil, Invalid("The explanation deadline must be today or later.", FieldError{"due", "must not be in the past"})
	}
	if c.Published != nil {
		return nil, Errorf(ECONFLICT, "Campaign %s is published.", c.ID)
	}
	if c.Calendar.ExplanationDue.Equal(due.Time) {
		return nil, nil
	}
	return []Event{&ExplanationWindowOpened{Due: due}}, nil
}

// DecidePublish returns the event that publishes the results. unfinished
// lists enrolled units whose assessment is not finalized.
func (c *Campaign) DecidePublish(p Principal, decisionNumber string, decisionDate Date, unfinished []string) ([]Event, error) {
	if err := require(p, "publish results", RoleHomeAffairs); err != nil {
		return nil, err
	}
	decisionNumber = strings.TrimSpace(norm.NFC.String(decisionNumber))
	var fields []FieldError
	if decisionNumber == "" || len(decisionNumber) > 200 {
		fields = append(fields, FieldError{"decisionNumber", "is required, e.g. 1752/QĐ-UBND"})
	}
	if decisionDate.IsZero() {
		fields = append(fields, FieldError{"decisionDate", "is required"})
	}
	if len(fields) > 0 {
		return nil, Invalid("The publication is incomplete.", fields...)
	}
	if c.Published != nil {
		return nil, Errorf(ECONFLICT, "Campaign %s was already published by decision %s.", c.ID, c.Published.DecisionNumber)
	}
	if len(unfinished) > 0 {
		return nil, Errorf(ECONFLICT, "Campaign %s cannot be published: %d assessments are not finalized (%s).", c.ID, len(unfinished), strings.Join(unfinished, ", "))
	}
	return []Event{&ResultsPublished{DecisionNumber: decisionNumber, DecisionDate: decisionDate}}, nil
}
