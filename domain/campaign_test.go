package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// The principals of the tests. Units and appraisers are built with unitP
// and appraiserP.
var (
	homeAffairs = domain.Principal{ID: "snv-nguyen-van-a", Role: domain.RoleHomeAffairs}
	council     = domain.Principal{ID: "hdtd-tran-thi-b", Role: domain.RoleCouncil}
	institute   = domain.Principal{ID: "vien-le-van-c", Role: domain.RoleInstitute}
	auditor     = domain.Principal{ID: "ttra-pham-van-d", Role: domain.RoleAuditor}
)

// unitP returns the principal of a unit's working group.
func unitP(code string) domain.Principal {
	return domain.Principal{ID: "tct-" + strings.ToLower(code), Role: domain.RoleUnit, Scope: code}
}

// appraiserP returns the principal of an appraising agency.
func appraiserP(agency string) domain.Principal {
	return domain.Principal{ID: "td-" + strings.ToLower(agency), Role: domain.RoleAppraiser, Scope: agency}
}

// hanoiTime returns a wall-clock time in Hanoi.
func hanoiTime(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, domain.Hanoi)
}

// Moments of the 2017 calendar (self-assessment due 30/10, appraisal due
// 15/11) used across the tests.
var (
	tOpen      = hanoiTime(2017, 9, 25, 8, 0)   // the campaign opens
	tSelf      = hanoiTime(2017, 10, 20, 9, 0)  // during self-assessment
	tAppraisal = hanoiTime(2017, 11, 5, 9, 0)   // after the self-assessment deadline
	tLate      = hanoiTime(2017, 11, 16, 9, 0)  // after the appraisal deadline
	tExplain   = hanoiTime(2017, 12, 5, 9, 0)   // during the explanation round
	tCouncil   = hanoiTime(2017, 12, 20, 14, 0) // the council meets
)

const campaignID = "cchc-2017"

// leaf returns a leaf item with optional discrete levels.
func leaf(code, max string, m domain.Method, levels ...string) *domain.Node {
	n := &domain.Node{Code: code, Title: "Tiêu chí thành phần " + code, MaxPoints: dec(max), Method: m}
	for _, l := range levels {
		n.Levels = append(n.Levels, domain.Level{Points: dec(l), Label: "Mức " + l})
	}
	return n
}

// branch returns an area or criterion.
func branch(code, max, agency string, children ...*domain.Node) *domain.Node {
	return &domain.Node{Code: code, Title: "Tiêu chí " + code, MaxPoints: dec(max), Agency: agency, Children: children}
}

func withAgency(n *domain.Node, agency string) *domain.Node {
	n.Agency = agency
	return n
}

// MustTestFramework returns a small framework for block b whose arithmetic
// is easy to follow by hand (total 40, bonus and penalty excluded):
//
//	1  (SNV)                 20.5
//	  1.1                    10.5
//	    1.1.1 self            10
//	    1.1.2 self             0.5   levels 0.5, 0.25, 0
//	  1.2                    10
//	    1.2.1 higher-level     4     appraised by VPUBND
//	    1.2.2 survey           6
//	2  (STP)                 10.05
//	  2.1                    10.05
//	    2.1.1 self             5.05
//	    2.1.2 self             5
//	3  (SNV)                  9.45
//	  3.1                     9.45
//	    3.1.1 survey           4.45
//	    3.1.2 self             5
//	4  bonus and penalty      3
//	    4.1 bonus              2
//	    4.2 penalty            1
func MustTestFramework(tb testing.TB, b domain.Block) *domain.Framework {
	tb.Helper()
	const (
		self    = domain.MethodSelf
		higher  = domain.MethodHigherLevel
		survey  = domain.MethodSurvey
		bonus   = domain.MethodBonus
		penalty = domain.MethodPenalty
	)
	f := &domain.Framework{
		ID: "test-" + string(b), Version: 1, Title: "Bộ chỉ số thử nghiệm", Block: b, Illustrative: true,
		Areas: []*domain.Node{
			branch("1", "20.5", "SNV",
				branch("1.1", "10.5", "", leaf("1.1.1", "10", self), leaf("1.1.2", "0.5", self, "0.5", "0.25", "0")),
				branch("1.2", "10", "", withAgency(leaf("1.2.1", "4", higher), "VPUBND"), leaf("1.2.2", "6", survey))),
			branch("2", "10.05", "STP",
				branch("2.1", "10.05", "", leaf("2.1.1", "5.05", self), leaf("2.1.2", "5", self))),
			branch("3", "9.45", "SNV",
				branch("3.1", "9.45", "", leaf("3.1.1", "4.45", survey), leaf("3.1.2", "5", self))),
			branch("4", "3", "", leaf("4.1", "2", bonus), leaf("4.2", "1", penalty)),
		},
	}
	if err := f.Validate(); err != nil {
		tb.Fatalf("test framework: %v", err)
	}
	if got, want := f.MaxTotal(), dec("40"); !got.Equal(want) {
		tb.Fatalf("test framework: got max %s, want %s", got, want)
	}
	return f
}

// openCommand returns a valid command opening campaign cchc-2017 with the
// test frameworks for both blocks.
func openCommand(tb testing.TB) domain.OpenCampaign {
	tb.Helper()
	return domain.OpenCampaign{
		ID:    campaignID,
		Year:  2017,
		Title: "Chỉ số cải cách hành chính năm 2017",
		Calendar: domain.Calendar{
			SelfAssessmentDue: domain.MustDate("2017-10-30"),
			AppraisalDue:      domain.MustDate("2017-11-15"),
			CouncilDate:       domain.MustDate("2017-12-20"),
			PublicationDue:    domain.MustDate("2018-01-31"),
		},
		Frameworks: map[domain.Block]*domain.Framework{
			domain.BlockDepartments: MustTestFramework(tb, domain.BlockDepartments),
			domain.BlockDistricts:   MustTestFramework(tb, domain.BlockDistricts),
		},
	}
}

// applyCampaign folds events into c as if p recorded them at at.
func applyCampaign(c *domain.Campaign, p domain.Principal, at time.Time, events ...domain.Event) {
	for _, e := range events {
		rev := c.Revision + 1
		if c.ID == "" {
			rev = 0
		}
		c.Apply(domain.Recorded{Meta: domain.Meta{Stream: domain.CampaignStream(campaignID), Revision: rev, At: at, Actor: p}, Event: e})
	}
}

// testUnits are the units MustCampaign enrols.
var testUnits = []domain.Unit{
	{Code: "SXD", Name: "Sở Xây dựng", Block: domain.BlockDepartments},
	{Code: "SYT", Name: "Sở Y tế", Block: domain.BlockDepartments},
	{Code: "BADINH", Name: "UBND quận Ba Đình", Block: domain.BlockDistricts},
}

// MustCampaign returns campaign cchc-2017 opened with openCommand and the
// test units enrolled, built through the campaign's own decisions.
func MustCampaign(tb testing.TB) *domain.Campaign {
	tb.Helper()
	events, err := domain.DecideOpenCampaign(homeAffairs, openCommand(tb), false)
	if err != nil {
		tb.Fatalf("DecideOpenCampaign: %v", err)
	}
	c := &domain.Campaign{}
	applyCampaign(c, homeAffairs, tOpen, events...)
	events, err = c.DecideEnrolUnits(homeAffairs, testUnits)
	if err != nil {
		tb.Fatalf("DecideEnrolUnits: %v", err)
	}
	applyCampaign(c, homeAffairs, tOpen, events...)
	return c
}

// outcome is what a decision should return: an error code with its field
// errors (every one, in order; Detail is a substring) and a substring of
// its message, or (code "") exactly the events want.
type outcome struct {
	code   string
	fields []domain.FieldError
	msg    string
	want   []domain.Event
}

// check fails tb unless got and err are the outcome.
func (o outcome) check(tb testing.TB, got []domain.Event, err error) {
	tb.Helper()
	if o.code == "" {
		if err != nil {
			tb.Fatalf("got error %v, want none", err)
		}
		checkEvents(tb, got, o.want)
		return
	}
	checkError(tb, err, o.code, o.msg, o.fields)
	if got != nil {
		tb.Errorf("got events %s with an error, want none", showEvents(got))
	}
}

// checkError fails tb unless err has the code (read with domain.ErrorCode),
// a message containing msg and, if fields is not nil, exactly those fields
// in that order (each Detail a substring of the actual detail).
func checkError(tb testing.TB, err error, code, msg string, fields []domain.FieldError) {
	tb.Helper()
	if got := domain.ErrorCode(err); got != code {
		tb.Fatalf("got code %q (%v), want %q", got, err, code)
	}
	if !strings.Contains(domain.ErrorMessage(err), msg) {
		tb.Errorf("got message %q, want it to contain %q", domain.ErrorMessage(err), msg)
	}
	if fields == nil {
		return
	}
	var e *domain.Error
	if !errors.As(err, &e) {
		tb.Fatalf("got %T, want a *domain.Error", err)
	}
	ok := len(e.Fields) == len(fields)
	for i := 0; ok && i < len(fields); i++ {
		ok = e.Fields[i].Field == fields[i].Field && strings.Contains(e.Fields[i].Detail, fields[i].Detail)
	}
	if !ok {
		tb.Errorf("got fields %s, want %s", showFields(e.Fields), showFields(fields))
	}
}

func showFields(fs []domain.FieldError) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%s: %q", f.Field, f.Detail)
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// checkEvents fails tb unless got equals want, element by element.
func checkEvents(tb testing.TB, got, want []domain.Event) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d events %s, want %d %s", len(got), showEvents(got), len(want), showEvents(want))
	}
	for i := range got {
		if !equal(got[i], want[i]) {
			tb.Errorf("event %d: got %s, want %s", i, showEvents(got[i:i+1]), showEvents(want[i:i+1]))
		}
	}
}

func showEvents(es []domain.Event) string {
	s := make([]string, len(es))
	for i, e := range es {
		b, err := json.Marshal(e)
		if err != nil {
			b = []byte(err.Error())
		}
		s[i] = fmt.Sprintf("%T%s", e, b)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

var (
	decimalType = reflect.TypeFor[decimal.Decimal]()
	timeType    = reflect.TypeFor[time.Time]()
)

// equal compares two values deeply, decimals by value (1.5 equals 1.50)
// and times by instant; a nil slice equals an empty one.
func equal(a, b any) bool { return equalValue(reflect.ValueOf(a), reflect.ValueOf(b)) }

func equalValue(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case decimalType:
		return a.Interface().(decimal.Decimal).Equal(b.Interface().(decimal.Decimal))
	case timeType:
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equalValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !equalValue(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	}
	return a.Equal(b)
}

func TestDecideOpenCampaign(t *testing.T) {
	custom := domain.CampaignSettings{Rounding: 1, TieRule: domain.TieDense, GradeBands: []domain.GradeBand{{Grade: "A", Min: dec("95")}}}
	for _, tt := range []struct {
		name   string
		p      domain.Principal
		change func(cmd *domain.OpenCampaign)
		exists bool
		outcome
	}{
		{name: "OK", outcome: outcome{want: []domain.Event{
			&domain.CampaignOpened{ID: campaignID, Year: 2017, Title: "Chỉ số cải cách hành chính năm 2017", Settings: domain.DefaultSettings(), Calendar: openCommand(t).Calendar},
			// One framework per block: departments (so), then districts (huyen).
			&domain.FrameworkFrozen{Block: domain.BlockDepartments, Framework: MustTestFramework(t, domain.BlockDepartments)},
			&domain.FrameworkFrozen{Block: domain.BlockDistricts, Framework: MustTestFramework(t, domain.BlockDistricts)},
		}}},
		{name: "OKTitleTrimmedNFC", change: func(cmd *domain.OpenCampaign) {
			cmd.Title = "  " + norm.NFD.String("Chỉ số CCHC 2017") + "\n"
			cmd.Settings = &custom
			delete(cmd.Frameworks, domain.BlockDistricts)
		}, outcome: outcome{want: []domain.Event{
			&domain.CampaignOpened{ID: campaignID, Year: 2017, Title: "Chỉ số CCHC 2017", Settings: custom, Calendar: openCommand(t).Calendar},
			&domain.FrameworkFrozen{Block: domain.BlockDepartments, Framework: MustTestFramework(t, domain.BlockDepartments)},
		}}},
		{name: "OKSameDayDeadlines", change: func(cmd *domain.OpenCampaign) {
			cmd.Calendar.AppraisalDue = cmd.Calendar.SelfAssessmentDue
			delete(cmd.Frameworks, domain.BlockDistricts)
		}, outcome: outcome{want: []domain.Event{
			&domain.CampaignOpened{ID: campaignID, Year: 2017, Title: "Chỉ số cải cách hành chính năm 2017", Settings: domain.DefaultSettings(),
				Calendar: domain.Calendar{SelfAssessmentDue: domain.MustDate("2017-10-30"), AppraisalDue: domain.MustDate("2017-10-30"), CouncilDate: domain.MustDate("2017-12-20"), PublicationDue: domain.MustDate("2018-01-31")}},
			&domain.FrameworkFrozen{Block: domain.BlockDepartments, Framework: MustTestFramework(t, domain.BlockDepartments)},
		}}},
		{name: "ErrForbiddenUnit", p: unitP("SXD"), outcome: outcome{code: domain.EFORBIDDEN, msg: "may not open a campaign"}},
		{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenCouncil", p: council, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenInstitute", p: institute, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenAuditor", p: auditor, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenAnonymous", p: domain.Anonymous, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrInvalidID", change: func(cmd *domain.OpenCampaign) { cmd.ID = "CCHC 2017" },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"id", "lowercase letters"}}}},
		{name: "ErrInvalidIDEmpty", change: func(cmd *domain.OpenCampaign) { cmd.ID = "" },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"id", "1 to 64"}}}},
		{name: "ErrInvalidIDLong", change: func(cmd *domain.OpenCampaign) { cmd.ID = strings.Repeat("a", 65) },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"id", "1 to 64"}}}},
		{name: "ErrInvalidYearLow", change: func(cmd *domain.OpenCampaign) { cmd.Year = 1999 },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"year", "between 2000 and 2100"}}}},
		{name: "ErrInvalidYearHigh", change: func(cmd *domain.OpenCampaign) { cmd.Year = 2101 },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"year", "between 2000 and 2100"}}}},
		{name: "ErrInvalidTitleBlank", change: func(cmd *domain.OpenCampaign) { cmd.Title = " \t " },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"title", "1 to 500 bytes"}}}},
		{name: "ErrInvalidTitleLong", change: func(cmd *domain.OpenCampaign) { cmd.Title = strings.Repeat("ệ", 167) }, // 501 bytes
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"title", "1 to 500 bytes"}}}},
		{name: "ErrInvalidCalendarMissing", change: func(cmd *domain.OpenCampaign) { cmd.Calendar = domain.Calendar{} },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"calendar.selfAssessmentDue", "is required"}, {"calendar.appraisalDue", "is required"}}}},
		{name: "ErrInvalidCalendarOrder", change: func(cmd *domain.OpenCampaign) { cmd.Calendar.AppraisalDue = domain.MustDate("2017-10-29") },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"calendar.appraisalDue", "must not be before the self-assessment deadline"}}}},
		{name: "ErrInvalidSettings", change: func(cmd *domain.OpenCampaign) {
			cmd.Settings = &domain.CampaignSettings{Rounding: 7, TieRule: "olympic", GradeBands: []domain.GradeBand{
				{Grade: "A", Min: dec("101")}, {Grade: " ", Min: dec("80")}, {Grade: "C", Min: dec("85")}, {Grade: "D", Min: dec("-1")},
			}}
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"settings.rounding", "0 to 6"},
			{"settings.tieRule", "shared or dense"},
			{"settings.gradeBands[0].min", "0 to 100"},
			{"settings.gradeBands[1].grade", "is required"},
			{"settings.gradeBands[2].min", "highest first"},
			{"settings.gradeBands[3].min", "0 to 100"},
		}}},
		{name: "ErrInvalidSettingsRoundingNegative", change: func(cmd *domain.OpenCampaign) {
			s := domain.DefaultSettings()
			s.Rounding = -1
			cmd.Settings = &s
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"settings.rounding", "0 to 6"}}}},
		{name: "ErrInvalidSettingsEqualBands", change: func(cmd *domain.OpenCampaign) {
			cmd.Settings = &domain.CampaignSettings{Rounding: 2, TieRule: domain.TieShared, GradeBands: []domain.GradeBand{{Grade: "A", Min: dec("90")}, {Grade: "B", Min: dec("90.00")}}}
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"settings.gradeBands[1].min", "highest first"}}}},
		{name: "ErrInvalidNoFrameworks", change: func(cmd *domain.OpenCampaign) { cmd.Frameworks = nil },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"frameworks", "at least one block"}}}},
		{name: "ErrInvalidUnknownBlock", change: func(cmd *domain.OpenCampaign) {
			cmd.Frameworks = map[domain.Block]*domain.Framework{"xa": MustTestFramework(t, domain.BlockDistricts)}
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"frameworks", `unknown block "xa"`}}}},
		{name: "ErrInvalidWrongBlock", change: func(cmd *domain.OpenCampaign) {
			cmd.Frameworks = map[domain.Block]*domain.Framework{domain.BlockDepartments: MustTestFramework(t, domain.BlockDistricts)}
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"frameworks.so", "another block"}}}},
		{name: "ErrInvalidNilFramework", change: func(cmd *domain.OpenCampaign) {
			cmd.Frameworks = map[domain.Block]*domain.Framework{domain.BlockDepartments: nil}
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"frameworks.so", ""}}}},
		{name: "ErrInvalidEverything", change: func(cmd *domain.OpenCampaign) {
			*cmd = domain.OpenCampaign{ID: "-", Year: 17, Settings: &domain.CampaignSettings{Rounding: 9, TieRule: domain.TieShared}}
		}, outcome: outcome{code: domain.EINVALID, msg: "cannot be opened", fields: []domain.FieldError{
			{"id", ""}, {"year", ""}, {"title", ""}, {"settings.rounding", ""},
			{"calendar.selfAssessmentDue", ""}, {"calendar.appraisalDue", ""}, {"frameworks", ""},
		}}},
		{name: "ErrConflictExists", exists: true, outcome: outcome{code: domain.ECONFLICT, msg: "cchc-2017 already exists"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := openCommand(t)
			if tt.change != nil {
				tt.change(&cmd)
			}
			p := tt.p
			if p == (domain.Principal{}) {
				p = homeAffairs
			}
			events, err := domain.DecideOpenCampaign(p, cmd, tt.exists)
			tt.check(t, events, err)
		})
	}

	t.Run("OKDeterministicOrder", func(t *testing.T) {
		// Map iteration is random: the frozen frameworks must not be.
		for range 20 {
			events, err := domain.DecideOpenCampaign(homeAffairs, openCommand(t), false)
			if err != nil {
				t.Fatal(err)
			}
			var blocks []domain.Block
			for _, e := range events[1:] {
				blocks = append(blocks, e.(*domain.FrameworkFrozen).Block)
			}
			if want := []domain.Block{domain.BlockDepartments, domain.BlockDistricts}; !slices.Equal(blocks, want) {
				t.Fatalf("got blocks %v, want %v", blocks, want)
			}
		}
	})

	t.Run("OKApply", func(t *testing.T) {
		c := MustCampaign(t)
		if c.ID != campaignID || c.Year != 2017 || c.Title != "Chỉ số cải cách hành chính năm 2017" || !c.OpenedAt.Equal(tOpen) {
			t.Errorf("got campaign %s %d %q opened %v, want %s 2017 and the title, opened %v", c.ID, c.Year, c.Title, c.OpenedAt, campaignID, tOpen)
		}
		if got, want := len(c.Frameworks), 2; got != want {
			t.Errorf("got %d frameworks, want %d", got, want)
		}
		if got, want := c.Frameworks[domain.BlockDistricts].ID, "test-huyen"; got != want {
			t.Errorf("got framework %s for block huyen, want %s", got, want)
		}
		if got, want := c.UnitOrder, []string{"SXD", "SYT", "BADINH"}; !slices.Equal(got, want) {
			t.Errorf("got units %v, want %v", got, want)
		}
		if got, want := c.Revision, uint64(5); got != want {
			t.Errorf("got revision %d, want %d", got, want)
		}
		if !equal(c.Settings, domain.DefaultSettings()) {
			t.Errorf("got settings %+v, want the defaults", c.Settings)
		}
	})
}

func TestDecideEnrolUnits(t *testing.T) {
	soOnly := func(t *testing.T) *domain.Campaign {
		cmd := openCommand(t)
		delete(cmd.Frameworks, domain.BlockDistricts)
		events, err := domain.DecideOpenCampaign(homeAffairs, cmd, false)
		if err != nil {
			t.Fatal(err)
		}
		c := &domain.Campaign{}
		applyCampaign(c, homeAffairs, tOpen, events...)
		return c
	}
	published := func(t *testing.T) *domain.Campaign {
		c := MustCampaign(t)
		applyCampaign(c, homeAffairs, tOpen, &domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: domain.MustDate("2018-01-29")})
		return c
	}
	sct := domain.Unit{Code: "SCT", Name: "Sở Công Thương", Block: domain.BlockDepartments}
	hoankiem := domain.Unit{Code: "HOANKIEM", Name: "UBND quận Hoàn Kiếm", Block: domain.BlockDistricts}
	for _, tt := range []struct {
		name     string
		campaign func(t *testing.T) *domain.Campaign
		p        domain.Principal
		units    []domain.Unit
		outcome
	}{
		{name: "OK", units: []domain.Unit{sct, hoankiem},
			outcome: outcome{want: []domain.Event{&domain.UnitEnrolled{Unit: sct}, &domain.UnitEnrolled{Unit: hoankiem}}}},
		{name: "OKNameTrimmedNFC", units: []domain.Unit{{Code: "SCT", Name: " " + norm.NFD.String("Sở Công Thương") + " ", Block: domain.BlockDepartments}},
			outcome: outcome{want: []domain.Event{&domain.UnitEnrolled{Unit: sct}}}},
		{name: "OKReenrolNoOp", units: []domain.Unit{testUnits[0], {Code: "SYT", Name: norm.NFD.String("Sở Y tế"), Block: domain.BlockDepartments}},
			outcome: outcome{want: nil}},
		{name: "OKReenrolAmongNew", units: []domain.Unit{testUnits[0], sct},
			outcome: outcome{want: []domain.Event{&domain.UnitEnrolled{Unit: sct}}}},
		{name: "ErrForbidden", p: unitP("SCT"), units: []domain.Unit{sct}, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenCouncil", p: council, units: []domain.Unit{sct}, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrInvalidEmpty", units: nil, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units", "is empty"}}}},
		{name: "ErrInvalidCode", units: []domain.Unit{{Code: "sct", Name: "Sở Công Thương", Block: domain.BlockDepartments}, {Code: "", Name: "X", Block: domain.BlockDepartments}, {Code: strings.Repeat("A", 17), Name: "X", Block: domain.BlockDepartments}},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[0].code", "capital letters"}, {"units[1].code", "capital letters"}, {"units[2].code", "capital letters"}}}},
		{name: "ErrInvalidDuplicate", units: []domain.Unit{sct, hoankiem, sct},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[2].code", "SCT is listed twice"}}}},
		{name: "ErrInvalidName", units: []domain.Unit{{Code: "SCT", Name: "  ", Block: domain.BlockDepartments}, {Code: "STC", Name: strings.Repeat("ở", 101), Block: domain.BlockDepartments}},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[0].name", "1 to 300 bytes"}, {"units[1].name", "1 to 300 bytes"}}}},
		{name: "ErrInvalidBlock", units: []domain.Unit{{Code: "XA", Name: "UBND xã", Block: "xa"}},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[0].block", "use so or huyen"}}}},
		{name: "ErrInvalidBlockWithoutFramework", campaign: soOnly, units: []domain.Unit{sct, hoankiem},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[1].block", "no framework for block huyen"}}}},
		{name: "ErrInvalidRenamed", units: []domain.Unit{{Code: "SXD", Name: "Sở Xây dựng Hà Nội", Block: domain.BlockDepartments}},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[0]", "already enrolled as Sở Xây dựng (so)"}}}},
		{name: "ErrInvalidMovedBlock", units: []domain.Unit{{Code: "BADINH", Name: "UBND quận Ba Đình", Block: domain.BlockDepartments}},
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"units[0]", "already enrolled as UBND quận Ba Đình (huyen)"}}}},
		{name: "ErrInvalidAllAtOnce", units: []domain.Unit{{Code: "x", Name: "", Block: "xa"}, sct, sct},
			outcome: outcome{code: domain.EINVALID, msg: "cannot be enrolled", fields: []domain.FieldError{
				{"units[0].code", ""}, {"units[0].name", ""}, {"units[0].block", ""}, {"units[2].code", "twice"},
			}}},
		{name: "ErrConflictPublished", campaign: published, units: []domain.Unit{sct},
			outcome: outcome{code: domain.ECONFLICT, msg: "published"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := MustCampaign(t)
			if tt.campaign != nil {
				c = tt.campaign(t)
			}
			p := tt.p
			if p == (domain.Principal{}) {
				p = homeAffairs
			}
			events, err := c.DecideEnrolUnits(p, tt.units)
			tt.check(t, events, err)
		})
	}
}

func TestDecideChangeDeadline(t *testing.T) {
	for _, tt := range []struct {
		name      string
		p         domain.Principal
		phase     domain.Phase
		due       string
		published bool
		outcome
	}{
		{name: "OKExtendSelfAssessment", phase: domain.PhaseSelfAssessment, due: "2017-11-02",
			outcome: outcome{want: []domain.Event{&domain.DeadlineChanged{Phase: domain.PhaseSelfAssessment, Due: domain.MustDate("2017-11-02")}}}},
		{name: "OKExtendAppraisal", phase: domain.PhaseAppraisal, due: "2017-11-20",
			outcome: outcome{want: []domain.Event{&domain.DeadlineChanged{Phase: domain.PhaseAppraisal, Due: domain.MustDate("2017-11-20")}}}},
		{name: "ErrConflictExplanationNotOpen", phase: domain.PhaseExplanation, due: "2017-12-10", outcome: outcome{code: domain.ECONFLICT, msg: "not open"}},
		{name: "ErrInvalidOutOfOrder", phase: domain.PhaseAppraisal, due: "2017-10-20", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"due", "must not be before the self-assessment deadline"}}}},
		{name: "OKSameDateNoEvent", phase: domain.PhaseSelfAssessment, due: "2017-10-30", outcome: outcome{want: nil}},
		{name: "OKSameAppraisalDateNoEvent", phase: domain.PhaseAppraisal, due: "2017-11-15", outcome: outcome{want: nil}},
		{name: "ErrForbiddenUnit", p: unitP("SXD"), phase: domain.PhaseSelfAssessment, due: "2017-11-02", outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenAppraiser", p: appraiserP("STP"), phase: domain.PhaseAppraisal, due: "2017-11-20", outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrInvalidPhase", phase: "council", due: "2017-12-20", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"phase", "self-assessment, appraisal or explanation"}}}},
		{name: "ErrInvalidDue", phase: domain.PhaseAppraisal, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"due", "is required"}}}},
		{name: "ErrConflictPublished", phase: domain.PhaseAppraisal, due: "2017-11-20", published: true, outcome: outcome{code: domain.ECONFLICT, msg: "published"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := MustCampaign(t)
			if tt.published {
				applyCampaign(c, homeAffairs, tOpen, &domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: domain.MustDate("2018-01-29")})
			}
			p := tt.p
			if p == (domain.Principal{}) {
				p = homeAffairs
			}
			var due domain.Date
			if tt.due != "" {
				due = domain.MustDate(tt.due)
			}
			events, err := c.DecideChangeDeadline(p, tt.phase, due)
			tt.check(t, events, err)
			applyCampaign(c, p, tSelf, events...)
			if err == nil && tt.due != "" {
				if got := c.Calendar.Due(tt.phase).String(); got != tt.due {
					t.Errorf("got %s due %s after applying, want %s", tt.phase, got, tt.due)
				}
			}
		})
	}
}

func TestDecideOpenExplanationWindow(t *testing.T) {
	for _, tt := range []struct {
		name      string
		p         domain.Principal
		due       string
		now       time.Time
		published bool
		outcome
	}{
		{name: "OK", due: "2017-12-10", now: tExplain, outcome: outcome{want: []domain.Event{&domain.ExplanationWindowOpened{Due: domain.MustDate("2017-12-10")}}}},
		{name: "OKToday", due: "2017-12-05", now: hanoiTime(2017, 12, 5, 23, 59), outcome: outcome{want: []domain.Event{&domain.ExplanationWindowOpened{Due: domain.MustDate("2017-12-05")}}}},
		{name: "ErrForbidden", p: council, due: "2017-12-10", now: tExplain, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrInvalidPast", due: "2017-12-04", now: tExplain, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"due", "must not be in the past"}}}},
		{name: "ErrInvalidMissing", now: tExplain, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"due", ""}}}},
		{name: "ErrConflictPublished", due: "2018-02-10", now: hanoiTime(2018, 2, 1, 8, 0), published: true, outcome: outcome{code: domain.ECONFLICT}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := MustCampaign(t)
			if tt.published {
				applyCampaign(c, homeAffairs, tOpen, &domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: domain.MustDate("2018-01-29")})
			}
			p := tt.p
			if p == (domain.Principal{}) {
				p = homeAffairs
			}
			var due domain.Date
			if tt.due != "" {
				due = domain.MustDate(tt.due)
			}
			events, err := c.DecideOpenExplanationWindow(p, due, tt.now)
			tt.check(t, events, err)
			applyCampaign(c, p, tt.now, events...)
			if err == nil {
				if got := c.Calendar.ExplanationDue.String(); got != tt.due {
					t.Errorf("got explanations due %s after applying, want %s", got, tt.due)
				}
			}
		})
	}
}

func TestDecidePublish(t *testing.T) {
	decided := domain.MustDate("2018-01-29")
	for _, tt := range []struct {
		name       string
		p          domain.Principal
		number     string
		date       domain.Date
		unfinished []string
		published  bool
		outcome
	}{
		{name: "OK", number: " 1752/QĐ-UBND ", date: decided,
			outcome: outcome{want: []domain.Event{&domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: decided}}}},
		{name: "OKNFC", number: norm.NFD.String("1752/QĐ-UBND"), date: decided,
			outcome: outcome{want: []domain.Event{&domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: decided}}}},
		{name: "ErrForbiddenCouncil", p: council, number: "1752/QĐ-UBND", date: decided, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenAuditor", p: auditor, number: "1752/QĐ-UBND", date: decided, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrInvalidDecisionNumber", number: "  ", date: decided, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"decisionNumber", "is required"}}}},
		{name: "ErrInvalidDecisionNumberLong", number: strings.Repeat("1", 201), date: decided, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"decisionNumber", "is required"}}}},
		{name: "ErrInvalidDecisionDate", number: "1752/QĐ-UBND", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"decisionDate", "is required"}}}},
		{name: "ErrInvalidBoth", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"decisionNumber", ""}, {"decisionDate", ""}}}},
		{name: "ErrConflictUnfinished", number: "1752/QĐ-UBND", date: decided, unfinished: []string{"SYT", "BADINH"},
			outcome: outcome{code: domain.ECONFLICT, msg: "2 assessments are not finalized (SYT, BADINH)"}},
		{name: "ErrConflictTwice", number: "1800/QĐ-UBND", date: decided, published: true,
			outcome: outcome{code: domain.ECONFLICT, msg: "already published by decision 1752/QĐ-UBND"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := MustCampaign(t)
			if tt.published {
				applyCampaign(c, homeAffairs, tOpen, &domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: decided})
			}
			p := tt.p
			if p == (domain.Principal{}) {
				p = homeAffairs
			}
			events, err := c.DecidePublish(p, tt.number, tt.date, tt.unfinished)
			tt.check(t, events, err)
			applyCampaign(c, p, tOpen, events...)
			if err == nil && (c.Published == nil || c.Published.DecisionNumber != "1752/QĐ-UBND") {
				t.Errorf("got published %+v after applying, want decision 1752/QĐ-UBND", c.Published)
			}
		})
	}
}

func TestNewContext(t *testing.T) {
	c := MustCampaign(t)
	t.Run("OK", func(t *testing.T) {
		x, err := domain.NewContext(c, "BADINH", unitP("BADINH"), tSelf)
		if err != nil {
			t.Fatal(err)
		}
		if x.Framework.ID != "test-huyen" || x.Unit != testUnits[2] || x.Campaign != c || !x.Now.Equal(tSelf) {
			t.Errorf("got context %s %+v, want framework test-huyen and unit %+v", x.Framework.ID, x.Unit, testUnits[2])
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := domain.NewContext(c, "SCT", unitP("SCT"), tSelf)
		checkError(t, err, domain.ENOTFOUND, "SCT is not enrolled", nil)
	})
	t.Run("ErrConflictNoFramework", func(t *testing.T) {
		delete(c.Frameworks, domain.BlockDistricts)
		_, err := domain.NewContext(c, "BADINH", unitP("BADINH"), tSelf)
		checkError(t, err, domain.ECONFLICT, "no framework for block huyen", nil)
	})
}

func TestDate(t *testing.T) {
	d := domain.MustDate("2017-10-30")
	if got, want := d.String(), "2017-10-30"; got != want {
		t.Errorf("String: got %s, want %s", got, want)
	}
	if got, want := d.Vietnamese(), "30/10/2017"; got != want {
		t.Errorf("Vietnamese: got %s, want %s", got, want)
	}
	// "Before 30/10/2017" ends at midnight in Hanoi: 17:00 UTC on the 30th.
	if got, want := d.End(), time.Date(2017, 10, 30, 17, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("End: got %v, want %v", got, want)
	}
	for _, s := range []string{"30/10/2017", "2017-13-01", "2017-10-30T00:00:00Z", ""} {
		if _, err := domain.ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q): got no error, want one", s)
		}
	}
	var got struct{ D, Z domain.Date }
	b, err := json.Marshal(struct{ D, Z domain.Date }{D: d})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"D":"2017-10-30","Z":null}`; string(b) != want {
		t.Errorf("JSON: got %s, want %s", b, want)
	}
	if err := json.Unmarshal(b, &got); err != nil || !got.D.Equal(d.Time) || !got.Z.IsZero() {
		t.Errorf("JSON round trip: got %v %v (%v), want %v and zero", got.D, got.Z, err, d)
	}
	for _, bad := range []string{`"30/10/2017"`, `20171030`, `"2017-10-30`} {
		var x domain.Date
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("Unmarshal(%s): got no error, want one", bad)
		}
	}
}

// allEvents returns one filled-in value of every event type.
func allEvents(tb testing.TB) []domain.Event {
	tb.Helper()
	fw := MustTestFramework(tb, domain.BlockDepartments)
	ev := evidence(1)
	final := dec("9.25")
	return []domain.Event{
		&domain.FrameworkRegistered{Framework: fw},
		&domain.CampaignOpened{ID: campaignID, Year: 2017, Title: "Chỉ số CCHC 2017", Settings: domain.DefaultSettings(), Calendar: openCommand(tb).Calendar},
		&domain.FrameworkFrozen{Block: domain.BlockDepartments, Framework: fw},
		&domain.UnitEnrolled{Unit: testUnits[0]},
		&domain.DeadlineChanged{Phase: domain.PhaseSelfAssessment, Due: domain.MustDate("2017-11-02")},
		&domain.ExplanationWindowOpened{Due: domain.MustDate("2017-12-10")},
		&domain.ResultsPublished{DecisionNumber: "1752/QĐ-UBND", DecisionDate: domain.MustDate("2018-01-29")},
		&domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.25"), Note: "Ban hành chậm"},
		&domain.EvidenceAttached{Item: "1.1.1", Evidence: ev},
		&domain.EvidenceWithdrawn{Item: "1.1.1", SHA256: ev.SHA256},
		&domain.SelfAssessmentSubmitted{Items: 5},
		&domain.SubmissionReopened{},
		&domain.AppraisalRecorded{Item: "2.1.1", Round: 2, Agency: "STP", Points: dec("4.05"), Note: "Thiếu báo cáo"},
		&domain.SurveyScoreRecorded{Item: "1.2.2", Points: dec("4.37"), Batch: "ĐTXHH-2017"},
		&domain.BonusPenaltyRecorded{Item: "4.2", Points: dec("0.75")},
		&domain.ExplanationRaised{ID: "GT-1", Item: "2.1.1", Claimed: dec("5.05"), Argument: "Đã có báo cáo", Evidence: []domain.Evidence{ev, evidence(2)}},
		&domain.ExplanationResolved{ID: "GT-1", Item: "2.1.1", Accepted: true, FinalPoints: &final, DecisionRef: "Biên bản 12/HĐTĐ"},
		&domain.ExplanationResolved{ID: "GT-2", Item: "1.1.1", Accepted: false, DecisionRef: "Biên bản 12/HĐTĐ"},
		&domain.AssessmentFinalized{FinalPoints: dec("32.00")},
		&domain.TokenIssued{TokenID: "tok-1", SecretSHA: strings.Repeat("ab", 32), Principal: unitP("SXD"), Name: "Tổ công tác", ExpiresAt: time.Date(2018, 1, 31, 17, 0, 0, 0, time.UTC)},
		&domain.TokenRevoked{TokenID: "tok-1"},
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range allEvents(t) {
		t.Run(e.EventType(), func(t *testing.T) {
			seen[e.EventType()] = true
			payload, err := domain.EncodeEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := domain.DecodeEvent(e.EventType(), domain.SchemaVersion, payload)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): %v", payload, err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(e) {
				t.Fatalf("got %T, want %T", got, e)
			}
			if !equal(got, e) {
				t.Errorf("got %s, want %s", showEvents([]domain.Event{got}), showEvents([]domain.Event{e}))
			}
			again, err := domain.EncodeEvent(got)
			if err != nil || string(again) != string(payload) {
				t.Errorf("re-encoded: got %s (%v), want %s", again, err, payload)
			}
		})
	}
	for _, typ := range []string{
		domain.TypeFrameworkRegistered, domain.TypeCampaignOpened, domain.TypeFrameworkFrozen, domain.TypeUnitEnrolled,
		domain.TypeDeadlineChanged, domain.TypeExplanationWindowOpened, domain.TypeResultsPublished, domain.TypeSelfScoreRecorded,
		domain.TypeEvidenceAttached, domain.TypeEvidenceWithdrawn, domain.TypeSelfAssessmentSubmitted, domain.TypeSubmissionReopened,
		domain.TypeAppraisalRecorded, domain.TypeSurveyScoreRecorded, domain.TypeBonusPenaltyRecorded, domain.TypeExplanationRaised,
		domain.TypeExplanationResolved, domain.TypeAssessmentFinalized, domain.TypeTokenIssued, domain.TypeTokenRevoked,
	} {
		if !seen[typ] {
			t.Errorf("event type %s has no round-trip case", typ)
		}
		e, err := domain.DecodeEvent(typ, domain.SchemaVersion, []byte(`{}`))
		if err != nil || e.EventType() != typ {
			t.Errorf("DecodeEvent(%s, {}): got %v, %v, want an empty %s", typ, e, err, typ)
		}
	}

	t.Run("Shape", func(t *testing.T) {
		// Points are decimal strings and dates YYYY-MM-DD, so no reader
		// goes through binary floating point or a time zone.
		for _, tt := range []struct {
			e    domain.Event
			want string
		}{
			{&domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.25")}, `{"item":"1.1.2","points":"0.25"}`},
			{&domain.AppraisalRecorded{Item: "2.1.1", Round: 1, Agency: "STP", Points: dec("10.05")}, `{"item":"2.1.1","round":1,"agency":"STP","points":"10.05"}`},
			{&domain.DeadlineChanged{Phase: domain.PhaseSelfAssessment, Due: domain.MustDate("2017-11-02")}, `{"phase":"self-assessment","due":"2017-11-02"}`},
			{&domain.ExplanationResolved{ID: "GT-2", Item: "1.1.1", DecisionRef: "BB-12"}, `{"id":"GT-2","item":"1.1.1","accepted":false,"decisionRef":"BB-12"}`},
			{&domain.SubmissionReopened{}, `{}`},
		} {
			got, err := domain.EncodeEvent(tt.e)
			if err != nil || string(got) != tt.want {
				t.Errorf("EncodeEvent(%T): got %s (%v), want %s", tt.e, got, err, tt.want)
			}
		}
		b, _ := domain.EncodeEvent(&domain.CampaignOpened{Settings: domain.DefaultSettings(), Calendar: openCommand(t).Calendar})
		for _, want := range []string{`"selfAssessmentDue":"2017-10-30"`, `"explanationDue":null`, `"min":"90"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("CampaignOpened: got %s, want it to contain %s", b, want)
			}
		}
	})

	t.Run("OKWhitespace", func(t *testing.T) {
		e, err := domain.DecodeEvent(domain.TypeSelfScoreRecorded, 1, []byte(" \n{\"item\":\"1.1.1\",\"points\":\"1\"}\n "))
		if err != nil || e.(*domain.SelfScoreRecorded).Item != "1.1.1" {
			t.Fatalf("got %v, %v, want item 1.1.1", e, err)
		}
	})

	t.Run("OKNumbersExact", func(t *testing.T) {
		// A JSON number is read as a decimal, never through float64.
		e, err := domain.DecodeEvent(domain.TypeSelfScoreRecorded, 1, []byte(`{"item":"1.1.1","points":0.1}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.(*domain.SelfScoreRecorded).Points; got.String() != "0.1" {
			t.Errorf("got %s, want 0.1", got)
		}
	})

	for _, tt := range []struct {
		name    string
		typ     string
		version uint32
		payload string
		err     string
	}{
		{"ErrUnknownType", "ScoreDeleted", 1, `{}`, `unknown event type "ScoreDeleted"`},
		{"ErrUnknownTypeEmpty", "", 1, `{}`, "unknown event type"},
		{"ErrSchemaVersion0", domain.TypeSelfScoreRecorded, 0, `{}`, "unknown schema version 0"},
		{"ErrSchemaVersion2", domain.TypeSelfScoreRecorded, 2, `{}`, "unknown schema version 2"},
		{"ErrMalformed", domain.TypeSelfScoreRecorded, 1, `{"item":`, "decode SelfScoreRecorded"},
		{"ErrBadDecimal", domain.TypeSelfScoreRecorded, 1, `{"points":"1,5"}`, "decode SelfScoreRecorded"},
		{"ErrBadDate", domain.TypeDeadlineChanged, 1, `{"phase":"appraisal","due":"15/11/2017"}`, "decode DeadlineChanged"},
		// A payload is one JSON object: null would decode to an empty
		// event, and data after the object would be skipped unread.
		{"ErrNull", domain.TypeSelfScoreRecorded, 1, `null`, "not a JSON object"},
		{"ErrArray", domain.TypeSelfScoreRecorded, 1, `[]`, "not a JSON object"},
		{"ErrEmpty", domain.TypeSubmissionReopened, 1, ``, "not a JSON object"},
		{"ErrTrailingObject", domain.TypeSelfScoreRecorded, 1, `{"item":"1.1.1","points":"1"} {"points":"9"}`, "data after the payload"},
		{"ErrTrailingGarbage", domain.TypeSelfScoreRecorded, 1, `{"item":"1.1.1","points":"1"}x`, "data after the payload"},
		{"ErrTrailingBrace", domain.TypeSelfScoreRecorded, 1, `{"item":"1.1.1","points":"1"}}`, "data after the payload"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := domain.DecodeEvent(tt.typ, tt.version, []byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, %v, want an error containing %q", e, err, tt.err)
			}
		})
	}
}
