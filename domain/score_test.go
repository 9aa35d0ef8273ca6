package domain_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/shopspring/decimal"
)

// scoreOf applies events to a fresh assessment of SXD and adds it up
// against f.
func scoreOf(f *domain.Framework, rounding int32, events ...domain.Event) domain.Score {
	a := domain.NewAssessment(campaignID, "SXD")
	for i, e := range events {
		a.Apply(domain.Recorded{Meta: domain.Meta{Revision: uint64(i), At: tAppraisal, Actor: homeAffairs, Reason: "test"}, Event: e})
	}
	return domain.ComputeScore(f, a, rounding)
}

func self(item, points string) domain.Event {
	return &domain.SelfScoreRecorded{Item: item, Points: dec(points), Note: "ghi chú"}
}

func appraisal(round int, item, points string) domain.Event {
	return &domain.AppraisalRecorded{Item: item, Round: round, Agency: "SNV", Points: dec(points)}
}

func survey(item, points string) domain.Event {
	return &domain.SurveyScoreRecorded{Item: item, Points: dec(points)}
}

func adjustment(item, points string) domain.Event {
	return &domain.BonusPenaltyRecorded{Item: item, Points: dec(points)}
}

// council raises explanation id on item and resolves it: accepted with
// final points, or rejected when final is "".
func councilDecision(id, item, final string) []domain.Event {
	r := &domain.ExplanationResolved{ID: id, Item: item, Accepted: final != "", DecisionRef: "BB-12"}
	if final != "" {
		p := dec(final)
		r.FinalPoints = &p
	}
	return []domain.Event{&domain.ExplanationRaised{ID: id, Item: item, Claimed: dec("0"), Argument: "x"}, r}
}

// nodes prints node scores as "code achieved/max index" for comparison.
func nodes(ns []domain.NodeScore) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprintf("%s %s/%s %s", n.Code, n.Achieved, n.Max, n.Index.StringFixed(2))
	}
	return strings.Join(s, ", ")
}

// totals prints the totals of a score for comparison.
func totals(sc domain.Score) string {
	return fmt.Sprintf("self %s appraised %s survey %s bonus %s penalty %s final %s max %s index %s provisional %v",
		sc.Self, sc.Appraised, sc.Survey, sc.Bonus, sc.Penalty, sc.Final, sc.Max, sc.Index, sc.Provisional)
}

func TestComputeScore(t *testing.T) {
	f := MustTestFramework(t, domain.BlockDepartments)
	selfAll := []domain.Event{self("1.1.1", "8.5"), self("1.1.2", "0.5"), self("2.1.1", "5.05"), self("2.1.2", "4.5"), self("3.1.2", "2.25")}
	join := func(groups ...[]domain.Event) []domain.Event {
		var out []domain.Event
		for _, g := range groups {
			out = append(out, g...)
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		rounding int32
		events   []domain.Event
		totals   string
		areas    string // "" to skip
		criteria string // "" to skip
	}{
		{
			name:     "OKEmpty",
			rounding: 2,
			totals:   "self 0 appraised 0 survey 0 bonus 0 penalty 0 final 0 max 40 index 0 provisional true",
			areas:    "1 0/20.5 0.00, 2 0/10.05 0.00, 3 0/9.45 0.00",
			criteria: "1.1 0/10.5 0.00, 1.2 0/10 0.00, 2.1 0/10.05 0.00, 3.1 0/9.45 0.00",
		},
		{
			// By hand: finals 7.75 (round 2) + 0.5 (self, provisional) +
			// 3.5 + 4.37 + 5.05 (council) + 4.5 + 3.33 + 2.25 = 31.25;
			// + 1.5 bonus - 0.75 penalty = 32; 32 / 40 = 80%.
			name:     "OKFull",
			rounding: 2,
			events: join(selfAll,
				[]domain.Event{
					appraisal(1, "1.1.1", "8"), appraisal(2, "1.1.1", "7.75"), appraisal(1, "1.2.1", "3.5"),
					appraisal(1, "2.1.1", "4.05"), appraisal(1, "2.1.2", "4.5"), appraisal(1, "3.1.2", "2.25"),
					survey("1.2.2", "4.37"), survey("3.1.1", "3.33"), adjustment("4.1", "1.5"), adjustment("4.2", "0.75"),
				},
				councilDecision("GT-1", "2.1.1", "5.05")),
			totals:   "self 20.8 appraised 22.05 survey 7.7 bonus 1.5 penalty 0.75 final 32 max 40 index 80 provisional true",
			areas:    "1 16.12/20.5 78.63, 2 9.55/10.05 95.02, 3 5.58/9.45 59.05",
			criteria: "1.1 8.25/10.5 78.57, 1.2 7.87/10 78.70, 2.1 9.55/10.05 95.02, 3.1 5.58/9.45 59.05",
		},
		{
			name:     "OKCouncilOverridesAppraisal",
			rounding: 2,
			events:   join([]domain.Event{self("1.1.1", "8.5"), appraisal(1, "1.1.1", "8")}, councilDecision("GT-1", "1.1.1", "9")),
			totals:   "self 8.5 appraised 8 survey 0 bonus 0 penalty 0 final 9 max 40 index 22.5 provisional true",
		},
		{
			name:     "OKCouncilRejectionKeepsAppraisal",
			rounding: 2,
			events:   join([]domain.Event{self("1.1.1", "8.5"), appraisal(1, "1.1.1", "8")}, councilDecision("GT-1", "1.1.1", "")),
			totals:   "self 8.5 appraised 8 survey 0 bonus 0 penalty 0 final 8 max 40 index 20 provisional true",
		},
		{
			name:     "OKCouncilOverridesLaterAppraisal",
			rounding: 2,
			events:   join([]domain.Event{self("1.1.1", "8.5"), appraisal(1, "1.1.1", "8")}, councilDecision("GT-1", "1.1.1", "9"), []domain.Event{appraisal(2, "1.1.1", "6")}),
			totals:   "self 8.5 appraised 6 survey 0 bonus 0 penalty 0 final 9 max 40 index 22.5 provisional true",
		},
		{
			name:     "OKLatestRoundWins",
			rounding: 2,
			events:   []domain.Event{appraisal(1, "1.1.1", "8"), appraisal(2, "1.1.1", "7.75"), appraisal(1, "1.1.1", "9")},
			totals:   "self 0 appraised 7.75 survey 0 bonus 0 penalty 0 final 7.75 max 40 index 19.38 provisional true",
		},
		{
			name:     "OKProvisionalSelf",
			rounding: 2,
			events:   []domain.Event{self("1.1.1", "8.5"), self("2.1.1", "5.05")},
			totals:   "self 13.55 appraised 0 survey 0 bonus 0 penalty 0 final 13.55 max 40 index 33.88 provisional true",
			areas:    "1 8.5/20.5 41.46, 2 5.05/10.05 50.25, 3 0/9.45 0.00",
		},
		{
			// Every self-scored item appraised: no longer provisional,
			// although the higher-level item 1.2.1 is still empty.
			name:     "OKNotProvisional",
			rounding: 2,
			events: join(selfAll, []domain.Event{
				appraisal(1, "1.1.1", "8.5"), appraisal(1, "1.1.2", "0.5"), appraisal(1, "2.1.1", "5.05"),
				appraisal(1, "2.1.2", "4.5"), appraisal(1, "3.1.2", "2.25"),
			}),
			totals: "self 20.8 appraised 20.8 survey 0 bonus 0 penalty 0 final 20.8 max 40 index 52 provisional false",
		},
		{
			name:     "OKClampedToMax",
			rounding: 2,
			events: []domain.Event{
				appraisal(1, "1.1.1", "10"), appraisal(1, "1.1.2", "0.5"), appraisal(1, "1.2.1", "4"), survey("1.2.2", "6"),
				appraisal(1, "2.1.1", "5.05"), appraisal(1, "2.1.2", "5"), survey("3.1.1", "4.45"), appraisal(1, "3.1.2", "5"),
				adjustment("4.1", "2"),
			},
			totals:   "self 0 appraised 29.55 survey 10.45 bonus 2 penalty 0 final 40 max 40 index 100 provisional false",
			areas:    "1 20.5/20.5 100.00, 2 10.05/10.05 100.00, 3 9.45/9.45 100.00",
			criteria: "1.1 10.5/10.5 100.00, 1.2 10/10 100.00, 2.1 10.05/10.05 100.00, 3.1 9.45/9.45 100.00",
		},
		{
			name:     "OKBonusBelowMax",
			rounding: 2,
			events:   []domain.Event{appraisal(1, "1.1.1", "10"), adjustment("4.1", "2"), adjustment("4.2", "0.5")},
			totals:   "self 0 appraised 10 survey 0 bonus 2 penalty 0.5 final 11.5 max 40 index 28.75 provisional true",
		},
		{
			name:     "OKClampedToZero",
			rounding: 2,
			events:   []domain.Event{appraisal(1, "1.1.1", "0.5"), adjustment("4.2", "1")},
			totals:   "self 0 appraised 0.5 survey 0 bonus 0 penalty 1 final 0 max 40 index 0 provisional true",
		},
		{
			// 0.01 / 40 × 100 = 0.025: half up gives 0.03 (half to even
			// would give 0.02).
			name:     "OKIndexHalfUp",
			rounding: 2,
			events:   []domain.Event{appraisal(1, "2.1.2", "0.01")},
			totals:   "self 0 appraised 0.01 survey 0 bonus 0 penalty 0 final 0.01 max 40 index 0.03 provisional true",
		},
		{
			name:     "OKIndexHalfUpOdd",
			rounding: 2,
			events:   []domain.Event{appraisal(1, "1.1.1", "9.99")},
			totals:   "self 0 appraised 9.99 survey 0 bonus 0 penalty 0 final 9.99 max 40 index 24.98 provisional true",
		},
		{
			name:     "OKRounding0",
			rounding: 0,
			events:   []domain.Event{appraisal(1, "1.1.1", "9.99")},
			totals:   "self 0 appraised 9.99 survey 0 bonus 0 penalty 0 final 9.99 max 40 index 25 provisional true",
			areas:    "1 9.99/20.5 49.00, 2 0/10.05 0.00, 3 0/9.45 0.00",
		},
		{
			name:     "OKRounding3",
			rounding: 3,
			events:   []domain.Event{appraisal(1, "1.1.1", "9.99")},
			totals:   "self 0 appraised 9.99 survey 0 bonus 0 penalty 0 final 9.99 max 40 index 24.975 provisional true",
			areas:    "1 9.99/20.5 48.73, 2 0/10.05 0.00, 3 0/9.45 0.00",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := scoreOf(f, tt.rounding, tt.events...)
			if got := totals(sc); got != tt.totals {
				t.Errorf("got  %s\nwant %s", got, tt.totals)
			}
			if got := nodes(sc.Areas); tt.areas != "" && got != tt.areas {
				t.Errorf("got areas %s, want %s", got, tt.areas)
			}
			if got := nodes(sc.Criteria); tt.criteria != "" && got != tt.criteria {
				t.Errorf("got criteria %s, want %s", got, tt.criteria)
			}
		})
	}

	t.Run("OKTwoThirds", func(t *testing.T) {
		tiny := &domain.Framework{ID: "tiny", Version: 1, Title: "Ba điểm", Block: domain.BlockDistricts, Areas: []*domain.Node{
			branch("1", "3", "SNV", leaf("1.1", "3", domain.MethodSelf)),
		}}
		if err := tiny.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			rounding int32
			want     string
		}{{2, "66.67"}, {1, "66.7"}, {0, "67"}, {4, "66.6667"}} {
			sc := scoreOf(tiny, tt.rounding, appraisal(1, "1.1", "2"))
			if got := sc.Index.String(); got != tt.want {
				t.Errorf("rounding %d: got index %s, want %s", tt.rounding, got, tt.want)
			}
			// A leaf directly under an area is a criterion too.
			if len(sc.Areas) != 1 || sc.Areas[0].Index.String() != tt.want || len(sc.Criteria) != 1 || sc.Criteria[0].Index.String() != tt.want {
				t.Errorf("got areas %s and criteria %s, want area 1 and criterion 1.1 at %s", nodes(sc.Areas), nodes(sc.Criteria), tt.want)
			}
		}
	})
}

// TestComputeScoreLeafNodes checks that an area or a criterion scored
// directly (a leaf) still has its line in the per-area and per-criterion
// breakdown, so that the areas add up to the scored total.
func TestComputeScoreLeafNodes(t *testing.T) {
	f := &domain.Framework{ID: "flat", Version: 1, Title: "Khung phẳng", Block: domain.BlockDistricts, Areas: []*domain.Node{
		branch("1", "6", "SNV", branch("1.1", "4", "", leaf("1.1.1", "4", domain.MethodSelf)), leaf("1.2", "2", domain.MethodSelf)),
		leaf("2", "4", domain.MethodSurvey),
		leaf("3", "1", domain.MethodBonus),
	}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	sc := scoreOf(f, 2, appraisal(1, "1.1.1", "3"), appraisal(1, "1.2", "1.5"), survey("2", "3.25"), adjustment("3", "0.5"))
	if got, want := totals(sc), "self 0 appraised 4.5 survey 3.25 bonus 0.5 penalty 0 final 8.25 max 10 index 82.5 provisional false"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := nodes(sc.Areas), "1 4.5/6 75.00, 2 3.25/4 81.25"; got != want {
		t.Errorf("got areas %s, want %s", got, want)
	}
	if got, want := nodes(sc.Criteria), "1.1 3/4 75.00, 1.2 1.5/2 75.00"; got != want {
		t.Errorf("got criteria %s, want %s", got, want)
	}
}

// TestComputeScoreHanoi2012 checks domain.md's example: on a 100-point
// scale the index is appraised points plus survey points, 51.25 + 31.52 =
// 82.77.
func TestComputeScoreHanoi2012(t *testing.T) {
	f := &domain.Framework{ID: "hanoi-2012", Version: 1, Title: "Chỉ số CCHC 2012", Block: domain.BlockDistricts, Areas: []*domain.Node{
		branch("1", "68", "SNV", branch("1.1", "68", "", leaf("1.1.1", "40", domain.MethodSelf), leaf("1.1.2", "28", domain.MethodSelf))),
		branch("2", "32", "", branch("2.1", "32", "", leaf("2.1.1", "20", domain.MethodSurvey), leaf("2.1.2", "12", domain.MethodSurvey))),
	}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	sc := scoreOf(f, 2,
		self("1.1.1", "35"), self("1.1.2", "20"),
		appraisal(1, "1.1.1", "31.25"), appraisal(1, "1.1.2", "20"),
		survey("2.1.1", "19.77"), survey("2.1.2", "11.75"))
	if got, want := totals(sc), "self 55 appraised 51.25 survey 31.52 bonus 0 penalty 0 final 82.77 max 100 index 82.77 provisional false"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := nodes(sc.Areas), "1 51.25/68 75.37, 2 31.52/32 98.50"; got != want {
		t.Errorf("got areas %s, want %s", got, want)
	}
}

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		part, whole string
		places      int32
		want        string
	}{
		{"2", "3", 2, "66.67"},
		{"1", "3", 2, "33.33"},
		{"12.345", "100", 2, "12.35"}, // half up, not half to even (12.34)
		{"12.335", "100", 2, "12.34"},
		{"0.2469", "2", 2, "12.35"},
		{"89.995", "100", 2, "90"},
		{"89.994", "100", 2, "89.99"},
		{"1", "8", 2, "12.5"},
		{"40", "40", 2, "100"},
		{"0", "40", 2, "0"},
		{"5", "0", 2, "0"},
		{"2", "3", 0, "67"},
		{"1", "3", 3, "33.333"},
	} {
		got := domain.Percent(dec(tt.part), dec(tt.whole), tt.places)
		if !got.Equal(dec(tt.want)) {
			t.Errorf("Percent(%s, %s, %d): got %s, want %s", tt.part, tt.whole, tt.places, got, tt.want)
		}
	}
}

func TestItemFinal(t *testing.T) {
	f := MustTestFramework(t, domain.BlockDepartments)
	p := func(s string) *decimal.Decimal { d := dec(s); return &d }
	for _, tt := range []struct {
		name        string
		item        string
		state       *domain.ItemState
		want        string
		provisional bool
	}{
		{"OKSelfNothing", "1.1.1", nil, "0", true},
		{"OKHigherLevelNothing", "1.2.1", nil, "0", true},
		{"OKSurveyNothing", "1.2.2", nil, "0", false},
		{"OKBonusNothing", "4.1", nil, "0", false},
		{"OKSelfOnly", "1.1.1", &domain.ItemState{Self: p("8.5")}, "8.5", true},
		{"OKAppraised", "1.1.1", &domain.ItemState{Self: p("8.5"), Appraisals: [2]*domain.Appraisal{{Points: dec("8")}}}, "8", false},
		{"OKRound2", "1.1.1", &domain.ItemState{Appraisals: [2]*domain.Appraisal{{Points: dec("8")}, {Points: dec("7")}}}, "7", false},
		{"OKCouncil", "1.1.1", &domain.ItemState{Council: p("9"), Appraisals: [2]*domain.Appraisal{{Points: dec("8")}}}, "9", false},
		{"OKSurvey", "1.2.2", &domain.ItemState{Survey: p("4.37")}, "4.37", false},
		{"OKPenalty", "4.2", &domain.ItemState{Adjustment: p("0.75")}, "0.75", false},
		{"OKHigherLevelNoSelf", "1.2.1", &domain.ItemState{Self: p("3")}, "0", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, provisional := domain.ItemFinal(f.Find(tt.item), tt.state)
			if !got.Equal(dec(tt.want)) || provisional != tt.provisional {
				t.Errorf("got %s provisional %v, want %s provisional %v", got, provisional, tt.want, tt.provisional)
			}
		})
	}
}

// standings returns rows of block huyen with the given "CODE index" pairs.
func standings(pairs ...string) []domain.Standing {
	rows := make([]domain.Standing, len(pairs))
	for i, p := range pairs {
		code, index, _ := strings.Cut(p, " ")
		rows[i] = domain.Standing{Unit: domain.Unit{Code: code, Name: code, Block: domain.BlockDistricts}, Score: domain.Score{Index: dec(index)}, Grade: "stale"}
	}
	return rows
}

// ranking prints ranked rows as "rank CODE index grade".
func ranking(rows []domain.Standing) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = strings.TrimSpace(fmt.Sprintf("%d %s %s %s", r.Rank, r.Unit.Code, r.Score.Index, r.Grade))
	}
	return strings.Join(s, ", ")
}

func TestRankBlock(t *testing.T) {
	shared := domain.DefaultSettings()
	dense := domain.DefaultSettings()
	dense.TieRule = domain.TieDense
	onlyA := domain.CampaignSettings{Rounding: 2, TieRule: domain.TieShared, GradeBands: []domain.GradeBand{{Grade: "A", Min: dec("95")}}}
	for _, tt := range []struct {
		name     string
		settings domain.CampaignSettings
		rows     []domain.Standing
		want     string
	}{
		{"OKShared", shared, standings("QUOCOAI 83.86", "HOANKIEM 90", "CAUGIAY 95.61", "BADINH 90.00"),
			"1 CAUGIAY 95.61 A, 2 BADINH 90 A, 2 HOANKIEM 90 A, 4 QUOCOAI 83.86 B"},
		{"OKDense", dense, standings("QUOCOAI 83.86", "HOANKIEM 90", "CAUGIAY 95.61", "BADINH 90.00"),
			"1 CAUGIAY 95.61 A, 2 BADINH 90 A, 2 HOANKIEM 90 A, 3 QUOCOAI 83.86 B"},
		{"OKSharedLeadingTie", shared, standings("NAMTULIEM 95.7", "HOANKIEM 95.70", "DONGDA 95.7", "PHUXUYEN 91.61", "BAVI 91.61", "MYDUC 80"),
			"1 DONGDA 95.7 A, 1 HOANKIEM 95.7 A, 1 NAMTULIEM 95.7 A, 4 BAVI 91.61 A, 4 PHUXUYEN 91.61 A, 6 MYDUC 80 B"},
		{"OKDenseLeadingTie", dense, standings("NAMTULIEM 95.7", "HOANKIEM 95.70", "DONGDA 95.7", "PHUXUYEN 91.61", "BAVI 91.61", "MYDUC 80"),
			"1 DONGDA 95.7 A, 1 HOANKIEM 95.7 A, 1 NAMTULIEM 95.7 A, 2 BAVI 91.61 A, 2 PHUXUYEN 91.61 A, 3 MYDUC 80 B"},
		{"OKGradeBoundaries", shared, standings("E 79.99", "A 90", "F 70", "B 89.99", "G 69.99", "C 80", "H 0", "D 100"),
			"1 D 100 A, 2 A 90 A, 3 B 89.99 B, 4 C 80 B, 5 E 79.99 C, 6 F 70 C, 7 G 69.99 D, 8 H 0 D"},
		{"OKBelowEveryBand", onlyA, standings("A 95", "B 94.99"), "1 A 95 A, 2 B 94.99"},
		{"OKNoBands", domain.CampaignSettings{Rounding: 2}, standings("A 50", "B 50", "C 40"), "1 A 50, 1 B 50, 3 C 40"},
		{"OKOne", shared, standings("SONTAY 88.5"), "1 SONTAY 88.5 B"},
		{"OKEmpty", shared, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			domain.RankBlock(tt.rows, tt.settings)
			if got := ranking(tt.rows); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}

	t.Run("OKTiesOnRoundedIndex", func(t *testing.T) {
		// On a 1000-point framework 0.01 point is 0.001%: units whose
		// points differ share a rank when their published (rounded)
		// indexes are equal.
		f := &domain.Framework{ID: "big", Version: 1, Title: "Một nghìn điểm", Block: domain.BlockDistricts, Areas: []*domain.Node{
			branch("1", "1000", "SNV", leaf("1.1", "1000", domain.MethodSelf)),
		}}
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		var rows []domain.Standing
		for _, p := range []string{"BAVI 499.94", "PHUXUYEN 499.99", "NAMTULIEM 500.04", "DONGDA 500.05", "HOANKIEM 500"} {
			code, points, _ := strings.Cut(p, " ")
			rows = append(rows, domain.Standing{Unit: domain.Unit{Code: code, Block: domain.BlockDistricts}, Score: scoreOf(f, 2, appraisal(1, "1.1", points))})
		}
		for _, settings := range []struct {
			s    domain.CampaignSettings
			want string
		}{
			{shared, "1 DONGDA 50.01 D, 2 HOANKIEM 50 D, 2 NAMTULIEM 50 D, 2 PHUXUYEN 50 D, 5 BAVI 49.99 D"},
			{dense, "1 DONGDA 50.01 D, 2 HOANKIEM 50 D, 2 NAMTULIEM 50 D, 2 PHUXUYEN 50 D, 3 BAVI 49.99 D"},
		} {
			domain.RankBlock(rows, settings.s)
			if got := ranking(rows); got != settings.want {
				t.Errorf("%s: got  %s\nwant %s", settings.s.TieRule, got, settings.want)
			}
		}
	})
}

// TestDemoFrameworks scores a department and a district at every
// maximum on the illustrative frameworks, through the decisions: each item
// goes to the agency that appraises it, and the index is 100.
func TestDemoFrameworksScoring(t *testing.T) {
	fws := MustDemoFrameworks(t)
	cmd := openCommand(t)
	cmd.Frameworks = map[domain.Block]*domain.Framework{fws[0].Block: fws[0], fws[1].Block: fws[1]}
	events, err := domain.DecideOpenCampaign(homeAffairs, cmd, false)
	if err != nil {
		t.Fatal(err)
	}
	c := &domain.Campaign{}
	applyCampaign(c, homeAffairs, tOpen, events...)
	events, err = c.DecideEnrolUnits(homeAffairs, []domain.Unit{
		{Code: "SNV", Name: "Sở Nội vụ", Block: domain.BlockDepartments},
		{Code: "CAUGIAY", Name: "UBND quận Cầu Giấy", Block: domain.BlockDistricts},
	})
	if err != nil {
		t.Fatal(err)
	}
	applyCampaign(c, homeAffairs, tOpen, events...)

	for _, unit := range []string{"SNV", "CAUGIAY"} {
		t.Run(unit, func(t *testing.T) {
			a := domain.NewAssessment(campaignID, unit)
			decide := func(p domain.Principal, now time.Time, d func(x domain.Context) ([]domain.Decision, error)) {
				t.Helper()
				x, err := domain.NewContext(c, unit, p, now)
				if err != nil {
					t.Fatal(err)
				}
				ds, err := d(x)
				if err != nil {
					t.Fatalf("%s: %v", p.ID, err)
				}
				for _, dd := range ds {
					rev := uint64(0)
					if a.Exists {
						rev = a.Revision + 1
					}
					a.Apply(domain.Recorded{Meta: domain.Meta{Revision: rev, At: now, Actor: p, Reason: dd.Reason}, Event: dd.Event})
				}
			}
			f := c.Frameworks[c.Units[unit].Block]
			var selfScores, surveyScores []domain.ItemScore
			appraisals := map[string][]domain.ItemScore{}
			for _, n := range f.Leaves() {
				top := domain.ItemScore{Item: n.Code, Points: n.MaxPoints, Note: "Đạt tối đa"}
				switch n.Method {
				case domain.MethodSelf:
					selfScores = append(selfScores, top)
					appraisals[f.LeafAgency(n.Code)] = append(appraisals[f.LeafAgency(n.Code)], domain.ItemScore{Item: n.Code, Points: n.MaxPoints})
				case domain.MethodHigherLevel:
					appraisals[f.LeafAgency(n.Code)] = append(appraisals[f.LeafAgency(n.Code)], domain.ItemScore{Item: n.Code, Points: n.MaxPoints})
				case domain.MethodSurvey:
					surveyScores = append(surveyScores, domain.ItemScore{Item: n.Code, Points: n.MaxPoints})
				}
			}
			u := unitP(unit)
			decide(u, tSelf, func(x domain.Context) ([]domain.Decision, error) { return a.DecideSelfScores(x, selfScores) })
			decide(u, tSelf, func(x domain.Context) ([]domain.Decision, error) { return a.DecideSubmit(x) })
			if sc := domain.ComputeScore(f, a, 2); !sc.Provisional {
				t.Error("got a final score before appraisal, want a provisional one")
			}
			if len(appraisals) < 2 {
				t.Errorf("got %d appraising agencies, want several", len(appraisals))
			}
			for agency, scores := range appraisals {
				decide(appraiserP(agency), tAppraisal, func(x domain.Context) ([]domain.Decision, error) { return a.DecideAppraisals(x, 1, scores, "") })
			}
			decide(institute, tAppraisal, func(x domain.Context) ([]domain.Decision, error) {
				return a.DecideSurveyScores(x, surveyScores, "ĐTXHH-2017")
			})
			sc := domain.ComputeScore(f, a, 2)
			if !sc.Final.Equal(f.MaxTotal()) || !sc.Index.Equal(dec("100")) || sc.Provisional {
				t.Errorf("got %s, want final %s index 100 and not provisional", totals(sc), f.MaxTotal())
			}
			if !sc.Appraised.Add(sc.Survey).Equal(sc.Final) {
				t.Errorf("got appraised %s + survey %s, want final %s", sc.Appraised, sc.Survey, sc.Final)
			}
		})
	}
}
