package domain_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// MustDemoFrameworks returns the illustrative frameworks, failing the test
// if they do not load.
func MustDemoFrameworks(tb testing.TB) []*domain.Framework {
	tb.Helper()
	fws, err := demo.Frameworks()
	if err != nil {
		tb.Fatalf("demo.Frameworks: %v", err)
	}
	return fws
}

// mustError returns err as a *domain.Error with the wanted code.
func mustError(tb testing.TB, err error, code string) *domain.Error {
	tb.Helper()
	var e *domain.Error
	if !errors.As(err, &e) {
		tb.Fatalf("got error %v (%T), want a *domain.Error", err, err)
	}
	if e.Code != code {
		tb.Fatalf("got code %q (%v), want %q", e.Code, e, code)
	}
	return e
}

// hasField reports whether e has a field named field whose detail contains
// detail.
func hasField(e *domain.Error, field, detail string) bool {
	for _, f := range e.Fields {
		if f.Field == field && strings.Contains(f.Detail, detail) {
			return true
		}
	}
	return false
}

// tree prints a framework's tree, one node a line, for comparisons that
// read well when they fail.
func tree(f *domain.Framework) string {
	var b strings.Builder
	var walk func(n *domain.Node)
	walk = func(n *domain.Node) {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s", n.Code, n.Title, n.MaxPoints, n.Method, n.Agency)
		for _, l := range n.Levels {
			fmt.Fprintf(&b, "|%s=%s", l.Points, l.Label)
		}
		b.WriteByte('\n')
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, a := range f.Areas {
		walk(a)
	}
	return b.String()
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestDemoFrameworks(t *testing.T) {
	fws := MustDemoFrameworks(t)
	if got, want := len(fws), 2; got != want {
		t.Fatalf("got %d frameworks, want %d", got, want)
	}
	for i, want := range []struct {
		id    string
		block domain.Block
	}{{"hanoi-2017-so", domain.BlockDepartments}, {"hanoi-2017-huyen", domain.BlockDistricts}} {
		f := fws[i]
		t.Run(want.id, func(t *testing.T) {
			if f.ID != want.id || f.Block != want.block || f.Version != 1 {
				t.Fatalf("got %s v%d block %s, want %s v1 block %s", f.ID, f.Version, f.Block, want.id, want.block)
			}
			if !f.Illustrative || f.Decision != "6677/QĐ-UBND ngày 25/9/2017" {
				t.Errorf("got illustrative %v decision %q, want true and 6677/QĐ-UBND ngày 25/9/2017", f.Illustrative, f.Decision)
			}
			if !strings.Contains(f.Notes, "minh họa") || !strings.Contains(f.Notes, "Illustrative") {
				t.Errorf("notes do not say, in both languages, that the table is illustrative: %q", f.Notes)
			}
			if err := f.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}

			scored, sum := 0, decimal.Zero
			bonusSection := false
			for _, a := range f.Areas {
				if a.IsBonusPenalty() {
					bonusSection = true
					continue
				}
				scored++
				sum = sum.Add(a.MaxPoints)
			}
			if got, want := scored, 8; got != want {
				t.Errorf("got %d scored areas, want %d", got, want)
			}
			if want := dec("100"); !sum.Equal(want) || !f.MaxTotal().Equal(want) {
				t.Errorf("got areas summing to %s and MaxTotal %s, want %s", sum, f.MaxTotal(), want)
			}
			if !bonusSection {
				t.Error("got no bonus/penalty section, want one")
			}

			// Appraised (self and higher-level) and survey points.
			points := map[domain.Method]decimal.Decimal{}
			levels := 0
			for _, l := range f.Leaves() {
				points[l.Method] = points[l.Method].Add(l.MaxPoints)
				if len(l.Levels) > 0 {
					levels++
				}
				if l.Method == domain.MethodSelf || l.Method == domain.MethodHigherLevel {
					if f.LeafAgency(l.Code) == "" {
						t.Errorf("leaf %s has no agency", l.Code)
					}
				}
			}
			appraised := points[domain.MethodSelf].Add(points[domain.MethodHigherLevel])
			if !appraised.Equal(dec("70")) || !points[domain.MethodSurvey].Equal(dec("30")) {
				t.Errorf("got %s appraised + %s survey points, want 70 + 30", appraised, points[domain.MethodSurvey])
			}
			if n := len(f.Leaves()); n < 80 || n > 110 {
				t.Errorf("got %d leaves, want 80 to 110", n)
			}
			if levels < 20 {
				t.Errorf("got %d leaves with levels, want at least 20", levels)
			}
			if !points[domain.MethodHigherLevel].IsPositive() || !points[domain.MethodBonus].IsPositive() || !points[domain.MethodPenalty].IsPositive() {
				t.Errorf("got points by method %v, want higher-level, bonus and penalty items", points)
			}
			if !norm.NFC.IsNormalString(tree(f)) {
				t.Error("titles are not NFC")
			}
		})
	}
}

func TestParseFrameworkJSON(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, f := range MustDemoFrameworks(t) {
			// Round trip: what the API serves parses to the same tree.
			data, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			g, err := domain.ParseFrameworkJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("ParseFrameworkJSON(Marshal(%s)): %v", f.ID, err)
			}
			again, _ := json.Marshal(g)
			if got, want := string(again), string(data); got != want {
				t.Errorf("round trip of %s changed the framework:\ngot  %s\nwant %s", f.ID, got, want)
			}
			if got, want := tree(g), tree(f); got != want {
				t.Errorf("round trip of %s: got tree\n%s\nwant\n%s", f.ID, got, want)
			}
		}
	})

	t.Run("OKExactDecimals", func(t *testing.T) {
		// 0.1 + 0.2 is 0.30000000000000004 in float64; exact here.
		f, err := domain.ParseFrameworkJSON(strings.NewReader(minimalJSON(`"maxPoints": 0.3`,
			`{"code": "1.1", "title": "A", "maxPoints": 0.1, "method": "survey"},
			 {"code": "1.2", "title": "B", "maxPoints": "0.20", "method": "survey"}`)))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := f.MaxTotal().String(), "0.3"; got != want {
			t.Errorf("got MaxTotal %s, want %s", got, want)
		}
		if got, want := f.Find("1.2").MaxPoints.String(), "0.2"; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})

	t.Run("OKNFC", func(t *testing.T) {
		nfd := norm.NFD.String("Cải cách thủ tục hành chính")
		doc := strings.Replace(minimalJSON(`"maxPoints": 1`, `{"code": "1.1", "title": "`+nfd+`", "maxPoints": 1, "method": "survey"}`), `"title": "Khung"`, `"title": "`+nfd+`"`, 1)
		f, err := domain.ParseFrameworkJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		want := norm.NFC.String(nfd)
		if got := f.Find("1.1").Title; got != want || got == nfd {
			t.Errorf("got title %+q, want NFC %+q", got, want)
		}
		if got := f.Title; got != want {
			t.Errorf("got framework title %+q, want NFC %+q", got, want)
		}
	})

	for _, tt := range []struct {
		name   string
		doc    string
		field  string
		detail string
	}{
		{"ErrUnknownField", minimalJSON(`"maxPoints": 1, "weight": 2`, leafJSON), "areas[0].weight", "unknown field"},
		{"ErrUnknownTopField", strings.Replace(minimalJSON(`"maxPoints": 1`, leafJSON), `"id"`, `"name": "x", "id"`, 1), "name", "unknown field"},
		{"ErrDuplicateField", minimalJSON(`"maxPoints": 1, "maxPoints": 1`, leafJSON), "areas[0].maxPoints", "appears twice"},
		{"ErrTrailingData", minimalJSON(`"maxPoints": 1`, leafJSON) + ` {}`, "offset", "exactly one JSON object"},
		{"ErrTrailingGarbage", minimalJSON(`"maxPoints": 1`, leafJSON) + ` xyz`, "offset", "exactly one JSON object"},
		{"ErrSyntax", `{"id": "x",}`, "offset", "invalid character"},
		{"ErrTruncated", `{"id": "x", "areas": [`, "offset", "unexpected end"},
		{"ErrMaxBool", minimalJSON(`"maxPoints": true`, leafJSON), "areas[0].maxPoints", "must be a decimal number, got true"},
		{"ErrMaxNull", minimalJSON(`"maxPoints": null`, leafJSON), "areas[0].maxPoints", "got null"},
		{"ErrMaxExponent", minimalJSON(`"maxPoints": 1e0`, leafJSON), "areas[0].maxPoints", "plain decimal"},
		{"ErrMaxText", minimalJSON(`"maxPoints": "1,5"`, leafJSON), "areas[0].maxPoints", "plain decimal"},
		{"ErrVersionString", strings.Replace(minimalJSON(`"maxPoints": 1`, leafJSON), `"version": 1`, `"version": "1"`, 1), "version", "must be a whole number, got a string"},
		{"ErrVersionFraction", strings.Replace(minimalJSON(`"maxPoints": 1`, leafJSON), `"version": 1`, `"version": 1.5`, 1), "version", "whole number"},
		{"ErrTitleNumber", strings.Replace(minimalJSON(`"maxPoints": 1`, leafJSON), `"title": "Khung"`, `"title": 5`, 1), "title", "must be a string, got the number 5"},
		{"ErrAreasObject", `{"id": "x", "version": 1, "title": "T", "block": "so", "areas": {}}`, "areas", "must be an array, got an object"},
		{"ErrIllustrativeString", strings.Replace(minimalJSON(`"maxPoints": 1`, leafJSON), `"illustrative": false`, `"illustrative": "no"`, 1), "illustrative", "true or false"},
		{"ErrLevelPoints", minimalJSON(`"maxPoints": 1`, `{"code": "1.1", "title": "A", "maxPoints": 1, "method": "self", "levels": [{"points": [1], "label": "x"}]}`), "areas[0].children[0].levels[0].points", "got an array"},
		{"ErrNotObject", `[1, 2]`, "", "must be an object, got an array"},
		{"ErrValidation", minimalJSON(`"maxPoints": 2`, leafJSON), "areas[0].maxPoints", "children's maxima sum to 1, less than the parent's 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.ParseFrameworkJSON(strings.NewReader(tt.doc))
			e := mustError(t, err, domain.EINVALID)
			found := false
			for _, f := range e.Fields {
				if strings.HasPrefix(f.Field, tt.field) && strings.Contains(f.Detail, tt.detail) {
					found = true
				}
			}
			if !found {
				t.Errorf("got %v, want a field %q saying %q", e, tt.field, tt.detail)
			}
		})
	}

	t.Run("ErrTooLarge", func(t *testing.T) {
		r := io.MultiReader(strings.NewReader(`{"notes": "`), io.LimitReader(zeros{}, domain.MaxFrameworkSize))
		_, err := domain.ParseFrameworkJSON(r)
		mustError(t, err, domain.ETOOLARGE)
	})

	t.Run("ErrManyProblems", func(t *testing.T) {
		// Every error lists all problems, not just the first.
		doc := minimalJSON(`"maxPoints": true, "colour": "red"`, `{"code": "1.1", "title": 7, "maxPoints": 1, "method": "self"}`)
		_, err := domain.ParseFrameworkJSON(strings.NewReader(doc))
		e := mustError(t, err, domain.EINVALID)
		if got, want := len(e.Fields), 3; got != want {
			t.Errorf("got %d problems (%v), want %d", got, e, want)
		}
	})
}

// zeros is an endless reader of 'a' bytes, for oversize inputs.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

const leafJSON = `{"code": "1.1", "title": "Mục", "maxPoints": 1, "method": "self"}`

// minimalJSON returns a framework with one area, coded "1", whose extra
// fields (at least maxPoints) and children are given.
func minimalJSON(areaFields, children string) string {
	return `{"id": "test", "version": 1, "title": "Khung", "block": "so", "illustrative": false,
		"areas": [{"code": "1", "title": "Lĩnh vực", "agency": "SNV", ` + areaFields + `, "children": [` + children + `]}]}`
}

// validFramework returns a small valid framework to break in tests:
//
//	1 (3, SNV): 1.1 (2): 1.1.1 self 0.5 levels 0/0.25/0.5, 1.1.2 higher-level 1.5; 1.2 survey 1
//	2 (2.5): 2.1 bonus 1, 2.2 penalty 1.5
func validFramework() *domain.Framework {
	return &domain.Framework{
		ID: "test-1", Version: 1, Title: "Khung thử", Block: domain.BlockDistricts,
		Areas: []*domain.Node{
			{Code: "1", Title: "Chỉ đạo, điều hành", MaxPoints: dec("3"), Agency: "SNV", Children: []*domain.Node{
				{Code: "1.1", Title: "Kế hoạch", MaxPoints: dec("2"), Children: []*domain.Node{
					{Code: "1.1.1", Title: "Ban hành kế hoạch", MaxPoints: dec("0.5"), Method: domain.MethodSelf, Levels: []domain.Level{
						{Points: dec("0.5"), Label: "Đúng hạn"}, {Points: dec("0.25"), Label: "Chậm"}, {Points: dec("0"), Label: "Không"},
					}},
					{Code: "1.1.2", Title: "Thực hiện kế hoạch", MaxPoints: dec("1.5"), Method: domain.MethodHigherLevel, Agency: "VPUBND"},
				}},
				{Code: "1.2", Title: "Hài lòng", MaxPoints: dec("1"), Method: domain.MethodSurvey},
			}},
			{Code: "2", Title: "Điểm thưởng, điểm trừ", MaxPoints: dec("2.5"), Children: []*domain.Node{
				{Code: "2.1", Title: "Sáng kiến", MaxPoints: dec("1"), Method: domain.MethodBonus},
				{Code: "2.2", Title: "Vi phạm", MaxPoints: dec("1.5"), Method: domain.MethodPenalty},
			}},
		},
	}
}

func TestFrameworkValidate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if err := validFramework().Validate(); err != nil {
			t.Fatal(err)
		}
	})

	for _, tt := range []struct {
		name   string
		change func(f *domain.Framework)
		field  string
		detail string
	}{
		{"ErrID", func(f *domain.Framework) { f.ID = "Hà Nội" }, "id", "lowercase ASCII"},
		{"ErrIDLong", func(f *domain.Framework) { f.ID = strings.Repeat("a", 65) }, "id", "1 to 64"},
		{"ErrVersion", func(f *domain.Framework) { f.Version = 0 }, "version", "1 or more, got 0"},
		{"ErrTitle", func(f *domain.Framework) { f.Title = " " }, "title", "title is empty"},
		{"ErrBlock", func(f *domain.Framework) { f.Block = "xa" }, "block", `got "xa"`},
		{"ErrNoAreas", func(f *domain.Framework) { f.Areas = nil }, "areas", "at least one area"},
		{"ErrOnlyBonus", func(f *domain.Framework) { f.Areas = f.Areas[1:] }, "areas", "scored items"},
		{"ErrNilArea", func(f *domain.Framework) { f.Areas = append(f.Areas, nil) }, "areas[2]", "missing"},
		{"ErrAreaCode", func(f *domain.Framework) { f.Areas[1].Code = "B" }, "areas[1].code", `a number like "3", got "B"`},
		{"ErrChildCode", func(f *domain.Framework) { f.Areas[0].Children[1].Code = "2.2" }, "areas[0].children[1].code", `"1." followed by a number, got "2.2"`},
		{"ErrLeadingZero", func(f *domain.Framework) { f.Areas[0].Children[1].Code = "1.02" }, "areas[0].children[1].code", `got "1.02"`},
		{"ErrDuplicateCode", func(f *domain.Framework) { f.Areas[0].Children[0].Children[1].Code = "1.1.1" }, "areas[0].children[0].children[1].code", "duplicate code 1.1.1 (also at areas[0].children[0].children[0])"},
		{"ErrChildTitle", func(f *domain.Framework) { f.Areas[0].Children[1].Title = "" }, "areas[0].children[1].title", "title is empty"},
		{"ErrMaxZero", func(f *domain.Framework) { f.Areas[1].Children[0].MaxPoints = dec("0") }, "areas[1].children[0].maxPoints", "greater than 0, got 0"},
		{"ErrMaxNegative", func(f *domain.Framework) { f.Areas[0].Children[1].MaxPoints = dec("-1") }, "areas[0].children[1].maxPoints", "greater than 0, got -1"},
		{"ErrMaxPlaces", func(f *domain.Framework) { f.Areas[0].Children[1].MaxPoints = dec("1.005") }, "areas[0].children[1].maxPoints", "at most 2 decimal places, got 1.005"},
		{"ErrSumMore", func(f *domain.Framework) { f.Areas[0].Children[1].MaxPoints = dec("2") }, "areas[0].maxPoints", "children's maxima sum to 4, more than the parent's 3"},
		{"ErrSumLess", func(f *domain.Framework) { f.Areas[0].MaxPoints = dec("3.25") }, "areas[0].maxPoints", "children's maxima sum to 3, less than the parent's 3.25"},
		{"ErrMethodOnParent", func(f *domain.Framework) { f.Areas[0].Children[0].Method = domain.MethodSelf }, "areas[0].children[0].method", "only on leaves"},
		{"ErrMethodMissing", func(f *domain.Framework) { f.Areas[0].Children[1].Method = "" }, "areas[0].children[1].method", "method is missing; use one of self, survey, higher-level, bonus, penalty"},
		{"ErrMethodUnknown", func(f *domain.Framework) { f.Areas[0].Children[1].Method = "vote" }, "areas[0].children[1].method", `unknown method "vote"; use one of self, survey, higher-level, bonus, penalty`},
		{"ErrNoAgency", func(f *domain.Framework) { f.Areas[0].Agency = "" }, "areas[0].children[0].children[0].agency", "no appraising agency"},
		{"ErrLevelsOnParent", func(f *domain.Framework) { f.Areas[0].Children[0].Levels = []domain.Level{{Points: dec("2")}} }, "areas[0].children[0].levels", "only on leaves"},
		{"ErrLevelAboveMax", func(f *domain.Framework) { f.Areas[0].Children[0].Children[0].Levels[0].Points = dec("1") }, "areas[0].children[0].children[0].levels[0].points", "level 1 is higher than the max points 0.5"},
		{"ErrLevelNegative", func(f *domain.Framework) { f.Areas[0].Children[0].Children[0].Levels[2].Points = dec("-0.5") }, "areas[0].children[0].children[0].levels[2].points", "negative"},
		{"ErrLevelPlaces", func(f *domain.Framework) { f.Areas[0].Children[0].Children[0].Levels[1].Points = dec("0.125") }, "areas[0].children[0].children[0].levels[1].points", "more than 2 decimal places"},
		{"ErrLevelTwice", func(f *domain.Framework) { f.Areas[0].Children[0].Children[0].Levels[1].Points = dec("0.50") }, "areas[0].children[0].children[0].levels[1].points", "level 0.5 appears twice"},
		{"ErrLevelHighest", func(f *domain.Framework) { f.Areas[0].Children[0].Children[0].Levels[0].Points = dec("0.4") }, "areas[0].children[0].children[0].levels", "highest level is 0.4; it must equal the max points 0.5"},
		{"ErrBonusInScoredArea", func(f *domain.Framework) {
			f.Areas[0].Children[1].Method = domain.MethodBonus
		}, "areas[0].children[1].method", "separate area holding only bonus and penalty items"},
		{"ErrTooDeep", func(f *domain.Framework) {
			n := f.Areas[0].Children[1]
			n.Method = ""
			for i := 0; i < domain.MaxFrameworkDepth; i++ {
				c := &domain.Node{Code: n.Code + ".1", Title: "x", MaxPoints: dec("1"), Method: domain.MethodSurvey}
				n.Method, n.Children = "", []*domain.Node{c}
				n = c
			}
		}, "areas[0].children[1].children[0].children[0].children[0].children[0].children[0]", "deeper than 6 levels"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := validFramework()
			tt.change(f)
			e := mustError(t, f.Validate(), domain.EINVALID)
			if !hasField(e, tt.field, tt.detail) {
				t.Errorf("got %v, want field %q saying %q", e, tt.field, tt.detail)
			}
		})
	}

	t.Run("ErrAll", func(t *testing.T) {
		// Every problem is reported at once.
		f := validFramework()
		f.Version = 0
		f.Areas[0].Children[1].Title = ""
		f.Areas[0].Children[0].Children[1].Method = "vote"
		f.Areas[1].Children[0].MaxPoints = dec("2")
		e := mustError(t, f.Validate(), domain.EINVALID)
		for _, want := range []string{"version", "areas[0].children[1].title", "areas[0].children[0].children[1].method", "areas[1].maxPoints"} {
			if !hasField(e, want, "") {
				t.Errorf("got %v, want a problem at %s", e, want)
			}
		}
	})

	t.Run("ErrNil", func(t *testing.T) {
		var f *domain.Framework
		mustError(t, f.Validate(), domain.EINVALID)
	})
}

func TestFrameworkHelpers(t *testing.T) {
	f := validFramework()
	var codes []string
	for _, l := range f.Leaves() {
		codes = append(codes, l.Code)
	}
	if got, want := strings.Join(codes, " "), "1.1.1 1.1.2 1.2 2.1 2.2"; got != want {
		t.Errorf("got leaves %s, want %s", got, want)
	}
	for _, tt := range []struct {
		code, find, area, agency string
		leaf                     bool
	}{
		{"1", "Chỉ đạo, điều hành", "1", "SNV", false},
		{"1.1.1", "Ban hành kế hoạch", "1", "SNV", true},
		{"1.1.2", "Thực hiện kế hoạch", "1", "VPUBND", true},
		{"2.2", "Vi phạm", "2", "", true},
		{"3", "", "", "", false},
		{"1.1.1.1", "", "", "", false},
		{"", "", "", "", false},
	} {
		n := f.Find(tt.code)
		switch {
		case tt.find == "" && n != nil:
			t.Errorf("Find(%q): got %s, want nil", tt.code, n.Code)
		case tt.find != "" && (n == nil || n.Title != tt.find):
			t.Errorf("Find(%q): got %v, want %q", tt.code, n, tt.find)
		}
		if got := n.IsLeaf(); got != tt.leaf {
			t.Errorf("Find(%q).IsLeaf(): got %v, want %v", tt.code, got, tt.leaf)
		}
		var area string
		if a := f.AreaOf(tt.code); a != nil {
			area = a.Code
		}
		if area != tt.area {
			t.Errorf("AreaOf(%q): got %q, want %q", tt.code, area, tt.area)
		}
		if got := f.LeafAgency(tt.code); got != tt.agency {
			t.Errorf("LeafAgency(%q): got %q, want %q", tt.code, got, tt.agency)
		}
	}

	t.Run("MaxTotal", func(t *testing.T) {
		// Area 2 holds bonus and penalty items only: it does not count.
		if got, want := f.MaxTotal(), dec("3"); !got.Equal(want) {
			t.Errorf("got %s, want %s", got, want)
		}
		if !f.Areas[1].IsBonusPenalty() || f.Areas[0].IsBonusPenalty() {
			t.Error("got the wrong area as the bonus/penalty section")
		}
	})
}

func TestNodeAllowsPoints(t *testing.T) {
	f := validFramework()
	f.Areas[0].Children[0].Children[1].MaxPoints = dec("1.5")
	plain := f.Find("1.1.2")  // 0..1.5
	levels := f.Find("1.1.1") // 0, 0.25, 0.5
	for _, tt := range []struct {
		name   string
		node   *domain.Node
		points string
		err    string
	}{
		{"OKInRange", plain, "1.25", ""},
		{"OKZero", plain, "0", ""},
		{"OKMax", plain, "1.5", ""},
		{"OKTrailingZeros", plain, "1.500", ""},
		{"OKOnLevel", levels, "0.25", ""},
		{"OKPenalty", f.Find("2.2"), "1.5", ""},
		{"ErrAboveMax", plain, "2", "1.1.2 allows 0 to 1.5 points, got 2"},
		{"ErrNegative", plain, "-0.5", "1.1.2 allows 0 to 1.5 points, got -0.5"},
		{"ErrThreePlaces", plain, "0.125", "1.1.2 takes points with at most 2 decimal places, got 0.125"},
		{"ErrOffLevel", levels, "0.3", "1.1.1 allows only the levels 0, 0.25, 0.5, got 0.3"},
		{"ErrNotLeaf", f.Find("1.1"), "1", "1.1 has sub-items"},
		{"ErrNil", nil, "1", "no such item"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.node.AllowsPoints(dec(tt.points))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			e := mustError(t, err, domain.EINVALID)
			if got := e.Error(); got != tt.err && !strings.HasPrefix(got, tt.err) {
				t.Errorf("got %q, want %q", got, tt.err)
			}
		})
	}
}

func TestFrameworkNormalize(t *testing.T) {
	f := validFramework()
	nfd := norm.NFD.String("Điểm thưởng, điểm trừ")
	f.Title, f.Notes, f.Decision = nfd, nfd, nfd
	f.Areas[1].Title = nfd
	f.Areas[0].Children[0].Children[0].Levels[0].Label = nfd
	f.Normalize()
	want := norm.NFC.String(nfd)
	for _, got := range []string{f.Title, f.Notes, f.Decision, f.Areas[1].Title, f.Areas[0].Children[0].Children[0].Levels[0].Label} {
		if got != want {
			t.Errorf("got %+q, want %+q", got, want)
		}
	}
}

// goodSheet is a framework sheet as an official saves it from Excel: a
// title above the header, Vietnamese headers, comma decimals, a Roman
// numeral area, Vietnamese methods, levels, a total row and an extra
// column.
var goodSheet = strings.Join([]string{
	`BỘ CHỈ SỐ CẢI CÁCH HÀNH CHÍNH (thử),,,,,,`,
	`,,,,,,`,
	`STT,"Lĩnh vực/Tiêu chí/Tiêu chí thành phần",Điểm tối đa,Phương pháp,Cơ quan thẩm định,Mức điểm,Ghi chú`,
	`I,Công tác chỉ đạo điều hành,"3,5",,SNV,,`,
	`1.1.,Kế hoạch CCHC,2,,,,`,
	`1.1.1,Ban hành kế hoạch,"0,5",Tự chấm,,"0,5: Đúng hạn; 0,25: Chậm; 0: Không ban hành",`,
	`1.1.2,Thực hiện kế hoạch,"1,5",Cấp trên chấm,VPUBND,,tỷ lệ`,
	`1.2,Sự hài lòng,"1,5",ĐTXHH,,,`,
	``,
	`2,"Điểm thưởng, điểm trừ","2,25",,,,`,
	`2.1,Sáng kiến,1,Điểm thưởng,,,`,
	`2.2,Vi phạm,"1,25",điểm trừ,,,`,
	`,Tổng cộng,"3,5",,,,`,
}, "\n")

const goodTree = `1|Công tác chỉ đạo điều hành|3.5||SNV
1.1|Kế hoạch CCHC|2||
1.1.1|Ban hành kế hoạch|0.5|self||0.5=Đúng hạn|0.25=Chậm|0=Không ban hành
1.1.2|Thực hiện kế hoạch|1.5|higher-level|VPUBND
1.2|Sự hài lòng|1.5|survey|
2|Điểm thưởng, điểm trừ|2.25||
2.1|Sáng kiến|1|bonus|
2.2|Vi phạm|1.25|penalty|
`

var testMeta = domain.FrameworkMeta{ID: "test", Version: 1, Title: "Khung thử", Block: domain.BlockDepartments}

func TestParseFrameworkCSV(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(goodSheet))
		if err != nil {
			t.Fatal(err)
		}
		if got := tree(f); got != goodTree {
			t.Errorf("got tree\n%s\nwant\n%s", got, goodTree)
		}
		if got, want := f.Meta(), testMeta; got != want {
			t.Errorf("got meta %+v, want %+v", got, want)
		}
	})

	t.Run("OKSemicolonBOM", func(t *testing.T) {
		// Excel with a Vietnamese locale writes ';' and a BOM, and quotes
		// only the cells that need it.
		sheet := "\uFEFF" + strings.Join([]string{
			`STT;Nội dung;Điểm tối đa;Phương pháp;Cơ quan thẩm định;Mức điểm`,
			`1;Công tác chỉ đạo điều hành;3,5;;SNV;`,
			`1.1;Kế hoạch CCHC;2;;;`,
			`1.1.1;Ban hành kế hoạch;0,5;Tự đánh giá;;"0,5: Đúng hạn; 0,25: Chậm; 0: Không ban hành"`,
			`1.1.2;Thực hiện kế hoạch;1,5;higher-level;VPUBND;`,
			`1.2;Sự hài lòng;1,5;Điều tra xã hội học;;`,
			`2;Điểm thưởng, điểm trừ;2,25;;;`,
			`2.1;Sáng kiến;1;bonus;;`,
			`2.2;Vi phạm;1,25;Điểm trừ;;`,
		}, "\r\n")
		f, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(sheet))
		if err != nil {
			t.Fatal(err)
		}
		if got := tree(f); got != goodTree {
			t.Errorf("got tree\n%s\nwant\n%s", got, goodTree)
		}
	})

	t.Run("OKEnglishHeaders", func(t *testing.T) {
		sheet := strings.Join([]string{
			`stt,Content,MAX POINTS,Method,Agency,Levels`,
			`1,Area,1,,SNV,`,
			`1.1,Item,1,,,"1: yes` + "\n" + `0: no"`,
		}, "\n")
		f, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(sheet))
		if err != nil {
			t.Fatal(err)
		}
		// An empty method on a leaf is self; levels may be one per line.
		if got, want := tree(f), "1|Area|1||SNV\n1.1|Item|1|self||1=yes|0=no\n"; got != want {
			t.Errorf("got tree\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("OKNFC", func(t *testing.T) {
		nfd := norm.NFD.String("Sự hài lòng")
		f, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(strings.Replace(goodSheet, "Sự hài lòng", nfd, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := f.Find("1.2").Title, norm.NFC.String(nfd); got != want {
			t.Errorf("got %+q, want %+q", got, want)
		}
	})

	// Each bad sheet is goodSheet with lines replaced (by number) or
	// inserted before a line ("+n").
	for _, tt := range []struct {
		name   string
		edit   map[string]string
		line   string
		detail string
	}{
		{"ErrChildrenExceedParent", map[string]string{"7": `1.1.2,Thực hiện kế hoạch,2,Cấp trên chấm,VPUBND,,`}, "line 5", "1.1: children's maxima sum to 2.5, more than the parent's 2"},
		{"ErrChildrenBelowParent", map[string]string{"7": `1.1.2,Thực hiện kế hoạch,1,Cấp trên chấm,VPUBND,,`}, "line 5", "1.1: children's maxima sum to 1.5, less than the parent's 2"},
		{"ErrDuplicateCode", map[string]string{"+8": `1.1.2,Trùng,1,,,,`}, "line 8", "duplicate code 1.1.2 (first on line 7)"},
		{"ErrDuplicateRoman", map[string]string{"+10": `1,Trùng,1,,,,`}, "line 10", "duplicate code 1 (first on line 4)"},
		{"ErrUnknownMethod", map[string]string{"8": `1.2,Sự hài lòng,"1,5",abc,,,`}, "line 8", `1.2: unknown method "abc"; use one of self, survey, higher-level, bonus, penalty`},
		{"ErrMissingParent", map[string]string{"+9": `1.3.1,Mồ côi,1,,,,`}, "line 9", "1.3.1 has no parent: no row is coded 1.3"},
		{"ErrBadDecimal", map[string]string{"8": `1.2,Sự hài lòng,"1.234,5",ĐTXHH,,,`}, "line 8", `1.2: max points "1.234,5" is not a plain decimal number`},
		{"ErrThousands", map[string]string{"8": `1.2,Sự hài lòng,"1,234.5",ĐTXHH,,,`}, "line 8", "not a plain decimal"},
		{"ErrNoMax", map[string]string{"8": `1.2,Sự hài lòng,,ĐTXHH,,,`}, "line 8", "1.2: no max points"},
		{"ErrThreePlaces", map[string]string{"8": `1.2,Sự hài lòng,"1,234",ĐTXHH,,,`}, "line 8", "1.2: max points may have at most 2 decimal places, got 1.234"},
		{"ErrLevelAboveMax", map[string]string{"6": `1.1.1,Ban hành kế hoạch,"0,5",Tự chấm,,"1: Đúng hạn; 0: Không",`}, "line 6", "1.1.1: level 1 is higher than the max points 0.5"},
		{"ErrLevelSyntax", map[string]string{"6": `1.1.1,Ban hành kế hoạch,"0,5",Tự chấm,,"Đúng hạn: 0,5",`}, "line 6", `level "Đúng hạn: 0,5" is not "points: label"`},
		{"ErrEmptyTitle", map[string]string{"7": `1.1.2,,"1,5",Cấp trên chấm,VPUBND,,`}, "line 7", "1.1.2: title is empty"},
		{"ErrNoCode", map[string]string{"+9": `,Dòng không mã,1,,,,`}, "line 9", "the STT column has no code"},
		{"ErrBadCode", map[string]string{"+9": `A.1,Mã lạ,1,,,,`}, "line 9", `code "A.1" is not a dotted number`},
		{"ErrMethodOnParent", map[string]string{"5": `1.1,Kế hoạch CCHC,2,Tự chấm,,,`}, "line 5", "1.1: a method is set only on leaves"},
		{"ErrBonusInScoredArea", map[string]string{"8": `1.2,Sự hài lòng,"1,5",Điểm thưởng,,,`}, "line 8", "separate area holding only bonus and penalty items"},
		{"ErrTotal", map[string]string{"13": `,Tổng cộng,100,,,,`}, "line 13", "the total row says 100, but the maxima of the scored areas sum to 3.5"},
		{"ErrNoAgency", map[string]string{"4": `I,Công tác chỉ đạo điều hành,"3,5",,,,`}, "line 6", "1.1.1: no appraising agency"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(editSheet(goodSheet, tt.edit)))
			e := mustError(t, err, domain.EINVALID)
			if !hasField(e, tt.line, tt.detail) {
				t.Errorf("got %v, want %s: %s", e, tt.line, tt.detail)
			}
			if got, want := len(e.Fields), 1; got != want {
				t.Errorf("got %d problems (%v), want %d: one mistake, one problem", got, e, want)
			}
		})
	}

	t.Run("ErrAll", func(t *testing.T) {
		sheet := editSheet(goodSheet, map[string]string{
			"5":  `1.1.,,2,,,,`,
			"6":  `1.1.1,Ban hành kế hoạch,"0,5",abc,,"1: Đúng hạn; 0: Không",`,
			"7":  `1.1.2,Thực hiện kế hoạch,"1.234,5",Cấp trên chấm,VPUBND,,`,
			"+9": `1.1.2,Trùng,1,,,,`,
			"12": `2.2,Vi phạm,2,điểm trừ,,,`,
		})
		_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(sheet))
		e := mustError(t, err, domain.EINVALID)
		want := []domain.FieldError{
			{Field: "line 5", Detail: "1.1: title is empty"},
			{Field: "line 6", Detail: `1.1.1: unknown method "abc"`},
			{Field: "line 6", Detail: "1.1.1: level 1 is higher than the max points 0.5"},
			{Field: "line 7", Detail: `1.1.2: max points "1.234,5" is not a plain decimal`},
			{Field: "line 9", Detail: "duplicate code 1.1.2 (first on line 7)"},
			{Field: "line 11", Detail: "2: children's maxima sum to 3, more than the parent's 2.25"},
		}
		if got := len(e.Fields); got != len(want) {
			t.Errorf("got %d problems, want %d:\n%v", got, len(want), e)
		}
		for i, w := range want {
			if i >= len(e.Fields) {
				break
			}
			if g := e.Fields[i]; g.Field != w.Field || !strings.HasPrefix(g.Detail, w.Detail) {
				t.Errorf("problem %d: got %s: %s, want %s: %s", i, g.Field, g.Detail, w.Field, w.Detail)
			}
		}
	})

	t.Run("ErrNoHeader", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader("Mã,Nội dung,Điểm\n1,A,1\n"))
		e := mustError(t, err, domain.EINVALID)
		if !hasField(e, "sheet", `no row starts with "STT"`) {
			t.Errorf("got %v, want a missing header", e)
		}
	})

	t.Run("ErrHeaderColumns", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader("\n STT ,Nội dung,Content\n1,A,B\n"))
		e := mustError(t, err, domain.EINVALID)
		if !hasField(e, "line 2", "the column Nội dung appears twice (columns B and C)") || !hasField(e, "line 2", "no Điểm tối đa column") {
			t.Errorf("got %v, want a repeated title column and no max column on line 2", e)
		}
	})

	t.Run("ErrMeta", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(domain.FrameworkMeta{ID: "X"}, strings.NewReader(goodSheet))
		e := mustError(t, err, domain.EINVALID)
		for _, field := range []string{"id", "version", "title", "block"} {
			if !hasField(e, field, "") {
				t.Errorf("got %v, want a problem with %s", e, field)
			}
		}
	})

	t.Run("ErrQuotes", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader("STT,Nội dung,Điểm tối đa\n1,\"A,1\n"))
		e := mustError(t, err, domain.EINVALID)
		if !hasField(e, "line 2", "") {
			t.Errorf("got %v, want a problem on line 2", e)
		}
	})

	t.Run("ErrNotUTF8", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader("STT,N\xf4i dung,\xd0i\xeam\n"))
		mustError(t, err, domain.EINVALID)
	})

	t.Run("ErrTooLarge", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(testMeta, io.LimitReader(zeros{}, domain.MaxFrameworkSize+1))
		mustError(t, err, domain.ETOOLARGE)
	})

	t.Run("OKBlankRowsFarDown", func(t *testing.T) {
		sheet := goodSheet + strings.Repeat("\n,,,,,,", domain.MaxFrameworkRows)
		if _, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(sheet)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrTooManyRows", func(t *testing.T) {
		_, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(strings.Repeat("\n", domain.MaxFrameworkRows+1)+"x"))
		mustError(t, err, domain.ETOOLARGE)
	})
}

// editSheet replaces the 1-based lines of sheet named in edit, and inserts
// the lines named "+n" before line n.
func editSheet(sheet string, edit map[string]string) string {
	lines := strings.Split(sheet, "\n")
	var out []string
	for i, l := range lines {
		n := fmt.Sprint(i + 1)
		if ins, ok := edit["+"+n]; ok {
			out = append(out, ins)
		}
		if rep, ok := edit[n]; ok {
			l = rep
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestParseFrameworkRows(t *testing.T) {
	meta := domain.FrameworkMeta{ID: "t", Version: 1, Title: "T", Block: domain.BlockDistricts, Decision: "1/QĐ-UBND"}

	t.Run("OK", func(t *testing.T) {
		rows := [][]string{
			{"STT", "Nội dung", "Điểm tối đa", "Cơ quan thẩm định"},
			{"II", "Lĩnh vực hai", "1", "STP"},
			{"2.1", "Mục", "1", "", "cột thừa"},
			{"   ", ""},
			nil,
			{"1", "Lĩnh vực một", "20.5", "SNV"},
			{"1.1", "Mục", "20,5"},
		}
		f, err := domain.ParseFrameworkRows(meta, rows)
		if err != nil {
			t.Fatal(err)
		}
		// Areas keep sheet order; a leaf without a method is self.
		want := "2|Lĩnh vực hai|1||STP\n2.1|Mục|1|self|\n1|Lĩnh vực một|20.5||SNV\n1.1|Mục|20.5|self|\n"
		if got := tree(f); got != want {
			t.Errorf("got tree\n%s\nwant\n%s", got, want)
		}
		if got, want := f.Decision, meta.Decision; got != want {
			t.Errorf("got decision %q, want %q", got, want)
		}
	})

	t.Run("ErrLineNumbers", func(t *testing.T) {
		// Lines count every row, blank or not, as a spreadsheet does.
		rows := [][]string{nil, {"Bảng"}, nil, {"STT", "Nội dung", "Điểm tối đa", "Agency"}, nil, {"1", "A", "x", "SNV"}}
		_, err := domain.ParseFrameworkRows(meta, rows)
		e := mustError(t, err, domain.EINVALID)
		if !hasField(e, "line 6", `max points "x"`) {
			t.Errorf("got %v, want a problem on line 6", e)
		}
	})

	t.Run("ErrNoRows", func(t *testing.T) {
		_, err := domain.ParseFrameworkRows(meta, nil)
		mustError(t, err, domain.EINVALID)
	})

	t.Run("ErrHeaderOnly", func(t *testing.T) {
		_, err := domain.ParseFrameworkRows(meta, [][]string{{"STT", "Nội dung", "Điểm tối đa"}})
		e := mustError(t, err, domain.EINVALID)
		if !hasField(e, "areas", "at least one area") {
			t.Errorf("got %v, want no areas", e)
		}
	})
}

func ExampleParseFrameworkCSV() {
	sheet := `STT;Nội dung;Điểm tối đa;Phương pháp;Cơ quan thẩm định;Mức điểm
I;Công tác chỉ đạo, điều hành;1,5;;SNV;
1.1;Ban hành kế hoạch CCHC năm;1;Tự chấm;;"1: Đúng hạn; 0,5: Chậm; 0: Không ban hành"
1.2;Sự hài lòng của người dân;0,5;ĐTXHH;;
`
	f, err := domain.ParseFrameworkCSV(domain.FrameworkMeta{ID: "vi-du", Version: 1, Title: "Ví dụ", Block: domain.BlockDistricts}, strings.NewReader(sheet))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range f.Leaves() {
		fmt.Println(l.Code, l.MaxPoints, l.Method, f.LeafAgency(l.Code))
	}
	fmt.Println(f.Find("1.1").AllowsPoints(decimal.RequireFromString("0.75")))
	// Output:
	// 1.1 1 self SNV
	// 1.2 0.5 survey SNV
	// 1.1 allows only the levels 0, 0.5, 1, got 0.75
}

// FuzzParseFrameworkJSON checks that no input makes the parser panic and
// that whatever it accepts is valid.
func FuzzParseFrameworkJSON(f *testing.F) {
	f.Add(minimalJSON(`"maxPoints": 1`, leafJSON))
	f.Add(minimalJSON(`"maxPoints": "1.5"`, `{"code": "1.1", "title": "A", "maxPoints": 1.5, "method": "self", "levels": [{"points": 1.5, "label": "x"}, {"points": 0, "label": "y"}]}`))
	f.Add(`{"areas": [{"children": [{"children": [null]}]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		fw, err := domain.ParseFrameworkJSON(strings.NewReader(doc))
		if err != nil {
			if domain.ErrorCode(err) != domain.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			return
		}
		if err := fw.Validate(); err != nil {
			t.Fatalf("accepted an invalid framework: %v", err)
		}
	})
}

// FuzzParseFrameworkCSV checks that no sheet makes the parser panic.
func FuzzParseFrameworkCSV(f *testing.F) {
	f.Add(goodSheet)
	f.Add("STT;Nội dung;Điểm tối đa;Mức điểm\nI;A;1;\n1.1;B;1;\"1: x; 0: y\"\n")
	f.Fuzz(func(t *testing.T, sheet string) {
		fw, err := domain.ParseFrameworkCSV(testMeta, strings.NewReader(sheet))
		if err != nil {
			if domain.ErrorCode(err) != domain.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			return
		}
		if err := fw.Validate(); err != nil {
			t.Fatalf("accepted an invalid framework: %v", err)
		}
	})
}
