package domain_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// scene is the state a decision is taken on: campaign cchc-2017 and the
// assessment of Sở Xây dựng (SXD, block so, framework test-so), both built
// by applying recorded events.
type scene struct {
	tb testing.TB
	c  *domain.Campaign
	a  *domain.Assessment
}

// MustScene returns the scene of a campaign just opened, with SXD's
// assessment still empty.
func MustScene(tb testing.TB) *scene {
	tb.Helper()
	return &scene{tb: tb, c: MustCampaign(tb), a: domain.NewAssessment(campaignID, "SXD")}
}

// record applies events to the assessment as if p recorded them at at with
// the reason.
func (s *scene) record(p domain.Principal, at time.Time, reason string, events ...domain.Event) *scene {
	for _, e := range events {
		rev := uint64(0)
		if s.a.Exists {
			rev = s.a.Revision + 1
		}
		s.a.Apply(domain.Recorded{
			Meta:  domain.Meta{Stream: domain.AssessmentStream(campaignID, "SXD"), Revision: rev, At: at, Actor: p, Reason: reason},
			Event: e,
		})
	}
	return s
}

// apply applies decisions as the ledger would: each event with its reason.
func (s *scene) apply(p domain.Principal, at time.Time, ds []domain.Decision) *scene {
	for _, d := range ds {
		s.record(p, at, d.Reason, d.Event)
	}
	return s
}

// campaign applies events to the campaign, recorded by Home Affairs.
func (s *scene) campaign(events ...domain.Event) *scene {
	applyCampaign(s.c, homeAffairs, tOpen, events...)
	return s
}

// ctx returns the context of a decision on SXD's assessment.
func (s *scene) ctx(p domain.Principal, now time.Time) domain.Context {
	s.tb.Helper()
	x, err := domain.NewContext(s.c, "SXD", p, now)
	if err != nil {
		s.tb.Fatalf("NewContext: %v", err)
	}
	return x
}

// selfScored records SXD's self score for each of the five self-scored
// items: 1.1.1 8.5 (with evidence 1), 1.1.2 0.5, 2.1.1 5.05, 2.1.2 4.5 and
// 3.1.2 2.25 (with notes).
func (s *scene) selfScored() *scene {
	u := unitP("SXD")
	return s.record(u, tSelf, "",
		&domain.SelfScoreRecorded{Item: "1.1.1", Points: dec("8.5")},
		&domain.EvidenceAttached{Item: "1.1.1", Evidence: evidence(1)},
		&domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.5"), Note: "Ban hành kế hoạch đúng hạn"},
		&domain.SelfScoreRecorded{Item: "2.1.1", Points: dec("5.05"), Note: "Đủ văn bản"},
		&domain.SelfScoreRecorded{Item: "2.1.2", Points: dec("4.5"), Note: "Thiếu một báo cáo"},
		&domain.SelfScoreRecorded{Item: "3.1.2", Points: dec("2.25"), Note: "Đạt một phần"},
	)
}

// submitted self-scores and submits.
func (s *scene) submitted() *scene {
	return s.selfScored().record(unitP("SXD"), tSelf, "", &domain.SelfAssessmentSubmitted{Items: 5})
}

// appraised records an appraisal by the agency.
func (s *scene) appraised(agency string, round int, item, points, reason string) *scene {
	return s.record(appraiserP(agency), tAppraisal, reason, &domain.AppraisalRecorded{Item: item, Round: round, Agency: agency, Points: dec(points)})
}

// disputable is a submitted assessment with 1.1.1 appraised 8 (SNV) and
// 2.1.1 appraised 4.05 (STP), and the explanation round open until
// 10/12/2017.
func (s *scene) disputable() *scene {
	return s.submitted().
		appraised("SNV", 1, "1.1.1", "8", "Kế hoạch thiếu nội dung").
		appraised("STP", 1, "2.1.1", "4.05", "Thiếu báo cáo rà soát").
		campaign(&domain.ExplanationWindowOpened{Due: domain.MustDate("2017-12-10")})
}

// appraisedRest appraises every self-scored or higher-level item not yet
// appraised: at its self score, or 0.
func (s *scene) appraisedRest() *scene {
	f, _, err := s.c.Framework("SXD")
	if err != nil {
		s.tb.Fatal(err)
	}
	for _, n := range f.Leaves() {
		if n.Method != domain.MethodSelf && n.Method != domain.MethodHigherLevel {
			continue
		}
		st := s.a.Items[n.Code]
		if st != nil && st.Appraised() != nil {
			continue
		}
		points := "0"
		if st != nil && st.Self != nil {
			points = st.Self.String()
		}
		s.appraised(f.LeafAgency(n.Code), 1, n.Code, points, "")
	}
	return s
}

// explained records SXD's explanation of an item, with the next id.
func (s *scene) explained(item, claimed string) *scene {
	id := fmt.Sprintf("GT-%d", len(s.a.Explanations)+1)
	return s.record(unitP("SXD"), tExplain, "", &domain.ExplanationRaised{ID: id, Item: item, Claimed: dec(claimed), Argument: "Đã ban hành đủ"})
}

// resolved records the council's resolution of an explanation.
func (s *scene) resolved(id, item string, accepted bool, final string) *scene {
	e := &domain.ExplanationResolved{ID: id, Item: item, Accepted: accepted, DecisionRef: "Biên bản 12/HĐTĐ"}
	if final != "" {
		p := dec(final)
		e.FinalPoints = &p
	}
	return s.record(council, tCouncil, "Hội đồng đã xem xét", e)
}

// finalized records Home Affairs finalizing the assessment.
func (s *scene) finalized() *scene {
	return s.record(homeAffairs, tCouncil, "", &domain.AssessmentFinalized{FinalPoints: dec("0")})
}

// evidence returns the n-th test document.
func evidence(n int) domain.Evidence {
	return domain.Evidence{
		SHA256:         fmt.Sprintf("%064x", n),
		Size:           int64(1000 + n),
		MediaType:      "application/pdf",
		DocumentNumber: fmt.Sprintf("%d/KH-SXD", n),
		Title:          fmt.Sprintf("Kế hoạch cải cách hành chính số %d", n),
	}
}

// is returns an item score.
func is(item, points string) domain.ItemScore {
	return domain.ItemScore{Item: item, Points: dec(points)}
}

// isWith returns an item score with a note and a reason.
func isWith(item, points, note, reason string) domain.ItemScore {
	return domain.ItemScore{Item: item, Points: dec(points), Note: note, Reason: reason}
}

// decisionCase is a table row of an assessment decision: the state, who
// asks and when, and the outcome; reasons are the wanted reasons of the
// decisions (all empty when nil).
type decisionCase struct {
	name    string
	setup   func(s *scene)
	p       domain.Principal
	now     time.Time
	reasons []string
	outcome
}

// run builds the scene, calls decide with the context and checks the
// outcome. It returns the scene with the decisions applied.
func (tt decisionCase) run(t *testing.T, p domain.Principal, now time.Time, decide func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error)) *scene {
	t.Helper()
	s := MustScene(t)
	if tt.setup != nil {
		tt.setup(s)
	}
	if tt.p != (domain.Principal{}) {
		p = tt.p
	}
	if !tt.now.IsZero() {
		now = tt.now
	}
	ds, err := decide(s.a, s.ctx(p, now))
	var events []domain.Event
	var reasons []string
	for _, d := range ds {
		events = append(events, d.Event)
		reasons = append(reasons, d.Reason)
	}
	tt.check(t, events, err)
	if tt.code == "" {
		want := tt.reasons
		if want == nil {
			want = make([]string, len(tt.want))
		}
		if strings.Join(reasons, "|") != strings.Join(want, "|") || len(reasons) != len(want) {
			t.Errorf("got reasons %q, want %q", reasons, want)
		}
	}
	return s.apply(p, now, ds)
}

func TestDecideSelfScores(t *testing.T) {
	long := strings.Repeat("x", 4001)
	for _, tt := range []struct {
		decisionCase
		scores []domain.ItemScore
	}{
		{decisionCase: decisionCase{name: "OK", outcome: outcome{want: []domain.Event{
			&domain.SelfScoreRecorded{Item: "1.1.1", Points: dec("8.5")},
			&domain.SelfScoreRecorded{Item: "2.1.1", Points: dec("5.05"), Note: "Đủ văn bản"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "8.5"), isWith("2.1.1", "5.05", " "+norm.NFD.String("Đủ văn bản")+"\n", "")}},
		{decisionCase: decisionCase{name: "OKZeroAndMax", outcome: outcome{want: []domain.Event{
			&domain.SelfScoreRecorded{Item: "1.1.1", Points: dec("0")},
			&domain.SelfScoreRecorded{Item: "2.1.1", Points: dec("5.05")},
		}}}, scores: []domain.ItemScore{is("1.1.1", "0"), is("2.1.1", "5.05")}},
		{decisionCase: decisionCase{name: "OKOnLevel", outcome: outcome{want: []domain.Event{
			&domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.25")},
		}}}, scores: []domain.ItemScore{is("1.1.2", "0.25")}},
		{decisionCase: decisionCase{name: "OKTrailingZeros", outcome: outcome{want: []domain.Event{
			&domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.5")},
		}}}, scores: []domain.ItemScore{is("1.1.2", "0.500")}},
		{decisionCase: decisionCase{name: "OKUnchangedNoEvent", setup: func(s *scene) { s.selfScored() }, outcome: outcome{want: nil}},
			scores: []domain.ItemScore{is("1.1.1", "8.50"), isWith("1.1.2", "0.5", " Ban hành kế hoạch đúng hạn ", "")}},
		{decisionCase: decisionCase{name: "OKOnlyChangedItems", setup: func(s *scene) { s.selfScored() }, outcome: outcome{want: []domain.Event{
			&domain.SelfScoreRecorded{Item: "2.1.2", Points: dec("5"), Note: "Đủ báo cáo"},
			&domain.SelfScoreRecorded{Item: "3.1.2", Points: dec("2.25"), Note: "Đạt"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "8.5"), isWith("2.1.2", "5", "Đủ báo cáo", ""), isWith("3.1.2", "2.25", "Đạt", "")}},
		{decisionCase: decisionCase{name: "OKAfterReopen", setup: func(s *scene) {
			s.submitted().record(homeAffairs, tSelf, "Sửa điểm 2.1.2", &domain.SubmissionReopened{})
		}, outcome: outcome{want: []domain.Event{&domain.SelfScoreRecorded{Item: "2.1.2", Points: dec("5")}}}},
			scores: []domain.ItemScore{is("2.1.2", "5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenOtherUnit", p: unitP("SYT"), outcome: outcome{code: domain.EFORBIDDEN, msg: "for unit SXD"}},
			scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), outcome: outcome{code: domain.EFORBIDDEN}},
			scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenHomeAffairs", p: homeAffairs, outcome: outcome{code: domain.EFORBIDDEN}},
			scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenAuditor", p: auditor, outcome: outcome{code: domain.EFORBIDDEN}},
			scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrConflictSubmitted", setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.ECONFLICT, msg: "submitted"}},
			scores: []domain.ItemScore{is("1.1.1", "9")}},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.selfScored().finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}},
			scores: []domain.ItemScore{is("1.1.1", "9")}},
		{decisionCase: decisionCase{name: "ErrDeadline", now: tAppraisal, outcome: outcome{code: domain.EDEADLINE, msg: "30/10/2017"}},
			scores: []domain.ItemScore{is("1.1.1", "9")}},
		{decisionCase: decisionCase{name: "ErrInvalidSurveyItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.2.2 is scored by the survey only; units do not self-score it"},
		}}}, scores: []domain.ItemScore{is("1.2.2", "6")}},
		{decisionCase: decisionCase{name: "ErrInvalidHigherLevelItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.2.1 is scored by the appraising agency only"},
		}}}, scores: []domain.ItemScore{is("1.2.1", "4")}},
		{decisionCase: decisionCase{name: "ErrInvalidBonusPenaltyItems", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "4.1 is scored by Home Affairs as bonus points"},
			{"scores[1].item", "4.2 is scored by Home Affairs as penalty points"},
		}}}, scores: []domain.ItemScore{is("4.1", "1"), is("4.2", "0")}},
		{decisionCase: decisionCase{name: "ErrInvalidAboveMax", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].points", "2.1.1 allows 0 to 5.05 points, got 5.06"},
		}}}, scores: []domain.ItemScore{is("2.1.1", "5.06")}},
		{decisionCase: decisionCase{name: "ErrInvalidNegative", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].points", "1.1.1 allows 0 to 10 points, got -0.5"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "-0.5")}},
		{decisionCase: decisionCase{name: "ErrInvalidThreeDecimals", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].points", "1.1.1 takes points with at most 2 decimal places, got 1.125"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "1.125")}},
		{decisionCase: decisionCase{name: "ErrInvalidOffLevel", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].points", "1.1.2 allows only the levels 0, 0.25, 0.5, got 0.3"},
		}}}, scores: []domain.ItemScore{is("1.1.2", "0.3")}},
		{decisionCase: decisionCase{name: "ErrInvalidUnknownItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", `framework test-so has no item "9.9.9"`},
			{"scores[1].item", `framework test-so has no item ""`},
		}}}, scores: []domain.ItemScore{is("9.9.9", "1"), is("", "1")}},
		{decisionCase: decisionCase{name: "ErrInvalidCriterion", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.1 is a criterion; score its sub-criteria"},
			{"scores[1].item", "2 is a criterion"},
		}}}, scores: []domain.ItemScore{is("1.1", "1"), is("2", "1")}},
		{decisionCase: decisionCase{name: "ErrInvalidDuplicate", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[1].item", "item 1.1.1 is also scores[0]"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "8"), is("1.1.1", "9")}},
		{decisionCase: decisionCase{name: "ErrInvalidEmpty", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores", "name at least one item"},
		}}}, scores: nil},
		{decisionCase: decisionCase{name: "ErrInvalidNoteLong", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].note", "at most 4000 bytes"},
		}}}, scores: []domain.ItemScore{isWith("1.1.1", "8", long, "")}},
		{decisionCase: decisionCase{name: "ErrInvalidAllInOneBatch", outcome: outcome{code: domain.EINVALID, msg: "not recorded", fields: []domain.FieldError{
			{"scores[5].item", "item 2.1.1 is also scores[1]"},
			{"scores[0].item", "1.2.2 is scored by the survey only"},
			{"scores[1].points", "2.1.1 allows 0 to 5.05 points, got 6"},
			{"scores[2].item", `has no item "9.9"`},
			{"scores[3].points", "at most 2 decimal places"},
			{"scores[4].item", "1.1 is a criterion"},
		}}}, scores: []domain.ItemScore{is("1.2.2", "1"), is("2.1.1", "6"), is("9.9", "1"), is("1.1.1", "1.125"), is("1.1", "1"), is("2.1.1", "1"), is("3.1.2", "2")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, unitP("SXD"), tSelf, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideSelfScores(x, tt.scores)
			})
			if tt.code == "" {
				for _, e := range tt.want {
					r := e.(*domain.SelfScoreRecorded)
					if got := s.a.Items[r.Item].Self; got == nil || !got.Equal(r.Points) || s.a.Items[r.Item].SelfNote != r.Note {
						t.Errorf("item %s: got self %v %q after applying, want %s %q", r.Item, got, s.a.Items[r.Item].SelfNote, r.Points, r.Note)
					}
				}
			}
		})
	}

	t.Run("ErrInvalidTooMany", func(t *testing.T) {
		s := MustScene(t)
		scores := make([]domain.ItemScore, domain.MaxBatchItems+1)
		for i := range scores {
			scores[i] = is("1.1.1", "1")
		}
		_, err := s.a.DecideSelfScores(s.ctx(unitP("SXD"), tSelf), scores)
		e := mustError(t, err, domain.EINVALID)
		if !hasField(e, "scores", "501 items, at most 500") {
			t.Errorf("got fields %s, want scores: 501 items, at most 500", showFields(e.Fields[:2]))
		}
	})
}

// TestDeadlineHanoiTime checks that "before 30/10/2017" means until
// midnight in Hanoi, whatever the zone of the clock.
func TestDeadlineHanoiTime(t *testing.T) {
	extended := &domain.DeadlineChanged{Phase: domain.PhaseSelfAssessment, Due: domain.MustDate("2017-11-02")}
	newYork := time.FixedZone("EST", -5*60*60)
	for _, tt := range []struct {
		name     string
		now      time.Time
		extended bool
		code     string
	}{
		{"OKLastMinute", time.Date(2017, 10, 30, 16, 59, 0, 0, time.UTC), false, ""},
		{"OKLastNanosecond", time.Date(2017, 10, 30, 16, 59, 59, 999999999, time.UTC), false, ""},
		{"OKLastMinuteHanoi", hanoiTime(2017, 10, 30, 23, 59), false, ""},
		{"OKLastMinuteNewYork", time.Date(2017, 10, 30, 11, 59, 0, 0, newYork), false, ""},
		{"ErrDeadlineMidnight", time.Date(2017, 10, 30, 17, 0, 0, 0, time.UTC), false, domain.EDEADLINE},
		{"ErrDeadlineMidnightHanoi", hanoiTime(2017, 10, 31, 0, 0), false, domain.EDEADLINE},
		{"ErrDeadlineMidnightNewYork", time.Date(2017, 10, 30, 12, 0, 0, 0, newYork), false, domain.EDEADLINE},
		{"OKExtendedMidnight", time.Date(2017, 10, 30, 17, 0, 0, 0, time.UTC), true, ""},
		{"OKExtendedLastMinute", time.Date(2017, 11, 2, 16, 59, 0, 0, time.UTC), true, ""},
		{"ErrDeadlineExtended", time.Date(2017, 11, 2, 17, 0, 0, 0, time.UTC), true, domain.EDEADLINE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := MustScene(t)
			if tt.extended {
				events, err := s.c.DecideChangeDeadline(homeAffairs, domain.PhaseSelfAssessment, extended.Due)
				checkEvents(t, events, []domain.Event{extended})
				if err != nil {
					t.Fatal(err)
				}
				s.campaign(events...)
			}
			x := s.ctx(unitP("SXD"), tt.now)
			_, err := s.a.DecideSelfScores(x, []domain.ItemScore{is("1.1.1", "8.5")})
			if got := domain.ErrorCode(err); got != tt.code {
				t.Fatalf("self score: got code %q (%v), want %q", got, err, tt.code)
			}
			want := "30/10/2017"
			if tt.extended {
				want = "02/11/2017"
			}
			if err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to name the deadline %s", err, want)
			}
			// Evidence and submission keep the same deadline.
			_, err = s.a.DecideAttachEvidence(x, "1.1.1", evidence(1))
			if got := domain.ErrorCode(err); got != tt.code {
				t.Errorf("evidence: got code %q (%v), want %q", got, err, tt.code)
			}
			s.selfScored()
			_, err = s.a.DecideSubmit(x)
			if got := domain.ErrorCode(err); got != tt.code {
				t.Errorf("submit: got code %q (%v), want %q", got, err, tt.code)
			}
		})
	}
}

func TestDecideAttachEvidence(t *testing.T) {
	bad := domain.Evidence{SHA256: strings.Repeat("A", 64), Size: 0, MediaType: "", Title: " ", DocumentNumber: strings.Repeat("1", 201)}
	for _, tt := range []struct {
		decisionCase
		item string
		ev   domain.Evidence
	}{
		{decisionCase: decisionCase{name: "OK", outcome: outcome{want: []domain.Event{&domain.EvidenceAttached{Item: "2.1.1", Evidence: evidence(2)}}}},
			item: "2.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "OKTrimmedNFC", outcome: outcome{want: []domain.Event{&domain.EvidenceAttached{Item: "2.1.1", Evidence: evidence(2)}}}},
			item: "2.1.1", ev: func() domain.Evidence {
				e := evidence(2)
				e.Title, e.DocumentNumber = " "+norm.NFD.String(e.Title)+" ", e.DocumentNumber+"\t"
				return e
			}()},
		{decisionCase: decisionCase{name: "OKSameHashTwiceNoEvent", setup: func(s *scene) { s.selfScored() }, outcome: outcome{want: nil}},
			item: "1.1.1", ev: evidence(1)},
		{decisionCase: decisionCase{name: "OKSameHashOtherItem", setup: func(s *scene) { s.selfScored() }, outcome: outcome{want: []domain.Event{&domain.EvidenceAttached{Item: "2.1.1", Evidence: evidence(1)}}}},
			item: "2.1.1", ev: evidence(1)},
		{decisionCase: decisionCase{name: "OKAfterWithdrawal", setup: func(s *scene) {
			s.selfScored().record(unitP("SXD"), tSelf, "", &domain.EvidenceWithdrawn{Item: "1.1.1", SHA256: evidence(1).SHA256})
		}, outcome: outcome{want: []domain.Event{&domain.EvidenceAttached{Item: "1.1.1", Evidence: evidence(1)}}}},
			item: "1.1.1", ev: evidence(1)},
		{decisionCase: decisionCase{name: "ErrForbiddenOtherUnit", p: unitP("SYT"), outcome: outcome{code: domain.EFORBIDDEN}}, item: "1.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), outcome: outcome{code: domain.EFORBIDDEN}}, item: "1.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrConflictSubmitted", setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.ECONFLICT}}, item: "1.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}}, item: "1.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrDeadline", now: tAppraisal, outcome: outcome{code: domain.EDEADLINE}}, item: "1.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrInvalidUnknownItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"item", `no item "7.1.1"`}}}}, item: "7.1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrInvalidCriterion", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"item", "1.1 is a criterion"}}}}, item: "1.1", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrInvalidSurveyItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"item", "1.2.2 is scored by the survey only; evidence goes with self-scored items"}}}}, item: "1.2.2", ev: evidence(2)},
		{decisionCase: decisionCase{name: "ErrInvalidEvidence", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"sha256", "64 lowercase hex digits"}, {"size", "positive"}, {"title", "is required"}, {"documentNumber", "at most 200 bytes"}, {"mediaType", "is required"},
		}}}, item: "1.1.1", ev: bad},
		{decisionCase: decisionCase{name: "ErrInvalidShortHash", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"sha256", "64 lowercase hex digits"}}}},
			item: "1.1.1", ev: func() domain.Evidence { e := evidence(2); e.SHA256 = e.SHA256[1:]; return e }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, unitP("SXD"), tSelf, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideAttachEvidence(x, tt.item, tt.ev)
			})
			if len(tt.want) > 0 {
				ev := s.a.Items[tt.item].Evidence
				if len(ev) == 0 || !equal(ev[len(ev)-1], tt.want[0].(*domain.EvidenceAttached).Evidence) {
					t.Errorf("got evidence %+v after applying, want it to end with the attached one", ev)
				}
			}
		})
	}
}

func TestDecideWithdrawEvidence(t *testing.T) {
	sha1 := evidence(1).SHA256
	for _, tt := range []struct {
		decisionCase
		item, sha, reason string
	}{
		{decisionCase: decisionCase{name: "OK", setup: func(s *scene) { s.selfScored() }, reasons: []string{"Nhầm tài liệu"},
			outcome: outcome{want: []domain.Event{&domain.EvidenceWithdrawn{Item: "1.1.1", SHA256: sha1}}}},
			item: "1.1.1", sha: sha1, reason: "Nhầm tài liệu"},
		{decisionCase: decisionCase{name: "ErrNotFoundUnknownHash", setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.ENOTFOUND, msg: "has no evidence"}},
			item: "1.1.1", sha: evidence(9).SHA256},
		{decisionCase: decisionCase{name: "ErrNotFoundOtherItem", setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.ENOTFOUND}},
			item: "2.1.1", sha: sha1},
		{decisionCase: decisionCase{name: "ErrNotFoundWithdrawnTwice", setup: func(s *scene) {
			s.selfScored().record(unitP("SXD"), tSelf, "", &domain.EvidenceWithdrawn{Item: "1.1.1", SHA256: sha1})
		}, outcome: outcome{code: domain.ENOTFOUND}}, item: "1.1.1", sha: sha1},
		{decisionCase: decisionCase{name: "ErrForbiddenOtherUnit", p: unitP("SYT"), setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.EFORBIDDEN}},
			item: "1.1.1", sha: sha1},
		{decisionCase: decisionCase{name: "ErrConflictSubmitted", setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.ECONFLICT}},
			item: "1.1.1", sha: sha1},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.selfScored().finalized() }, outcome: outcome{code: domain.ECONFLICT}},
			item: "1.1.1", sha: sha1},
		{decisionCase: decisionCase{name: "ErrDeadline", now: tAppraisal, setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.EDEADLINE}},
			item: "1.1.1", sha: sha1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, unitP("SXD"), tSelf, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideWithdrawEvidence(x, tt.item, tt.sha, tt.reason)
			})
			if tt.code == "" && len(s.a.Items[tt.item].Evidence) != 0 {
				t.Errorf("got evidence %+v after withdrawal, want none", s.a.Items[tt.item].Evidence)
			}
		})
	}
}

func TestDecideSubmit(t *testing.T) {
	u := unitP("SXD")
	for _, tt := range []decisionCase{
		{name: "OK", setup: func(s *scene) { s.selfScored() }, outcome: outcome{want: []domain.Event{&domain.SelfAssessmentSubmitted{Items: 5}}}},
		{name: "OKZeroWithoutEvidence", setup: func(s *scene) {
			s.selfScored().record(u, tSelf, "", &domain.SelfScoreRecorded{Item: "2.1.2", Points: dec("0")})
		}, outcome: outcome{want: []domain.Event{&domain.SelfAssessmentSubmitted{Items: 5}}}},
		{name: "OKNoteWithoutEvidence", setup: func(s *scene) {
			s.selfScored().record(u, tSelf, "",
				&domain.EvidenceWithdrawn{Item: "1.1.1", SHA256: evidence(1).SHA256},
				&domain.SelfScoreRecorded{Item: "1.1.1", Points: dec("8.5"), Note: "Kế hoạch số 12/KH-SXD, đã gửi bản giấy"})
		}, outcome: outcome{want: []domain.Event{&domain.SelfAssessmentSubmitted{Items: 5}}}},
		{name: "OKAfterReopen", setup: func(s *scene) {
			s.submitted().record(homeAffairs, tSelf, "Sửa điểm", &domain.SubmissionReopened{})
		}, outcome: outcome{want: []domain.Event{&domain.SelfAssessmentSubmitted{Items: 5}}}},
		{name: "ErrInvalidUnscored", setup: func(s *scene) {
			s.record(u, tSelf, "", &domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.5"), Note: "Đúng hạn"},
				&domain.SelfScoreRecorded{Item: "2.1.2", Points: dec("0")})
		}, outcome: outcome{code: domain.EINVALID, msg: "3 items need attention", fields: []domain.FieldError{
			// Survey, higher-level, bonus and penalty items are not the unit's to score.
			{"1.1.1", "has no self score"}, {"2.1.1", "has no self score"}, {"3.1.2", "has no self score"},
		}}},
		{name: "ErrInvalidNothingScored", outcome: outcome{code: domain.EINVALID, msg: "5 items", fields: []domain.FieldError{
			{"1.1.1", ""}, {"1.1.2", ""}, {"2.1.1", ""}, {"2.1.2", ""}, {"3.1.2", ""},
		}}},
		{name: "ErrInvalidNoEvidenceOrNote", setup: func(s *scene) {
			s.selfScored().record(u, tSelf, "", &domain.SelfScoreRecorded{Item: "2.1.1", Points: dec("5.05")})
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"2.1.1", "above zero without evidence or a note"}}}},
		{name: "ErrInvalidEvidenceWithdrawn", setup: func(s *scene) {
			s.selfScored().record(u, tSelf, "", &domain.EvidenceWithdrawn{Item: "1.1.1", SHA256: evidence(1).SHA256})
		}, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"1.1.1", "without evidence or a note"}}}},
		{name: "ErrForbiddenOtherUnit", p: unitP("SYT"), setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenHomeAffairs", p: homeAffairs, setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrConflictSubmitted", setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.ECONFLICT, msg: "already submitted"}},
		{name: "ErrConflictFinalized", setup: func(s *scene) { s.selfScored().finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}},
		{name: "ErrDeadline", now: tAppraisal, setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.EDEADLINE}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, u, tSelf, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) { return a.DecideSubmit(x) })
			if tt.code == "" && (!s.a.Submitted || !s.a.SubmittedAt.Equal(tSelf) || s.a.Status() != "submitted") {
				t.Errorf("got submitted %v at %v (%s), want submitted at %v", s.a.Submitted, s.a.SubmittedAt, s.a.Status(), tSelf)
			}
		})
	}
}

func TestDecideReopen(t *testing.T) {
	for _, tt := range []struct {
		decisionCase
		reason string
	}{
		{decisionCase: decisionCase{name: "OK", setup: func(s *scene) { s.submitted() }, reasons: []string{"Đơn vị đề nghị sửa điểm 2.1.2"},
			outcome: outcome{want: []domain.Event{&domain.SubmissionReopened{}}}}, reason: "  Đơn vị đề nghị sửa điểm 2.1.2 "},
		{decisionCase: decisionCase{name: "OKAfterSelfDeadline", now: tAppraisal, setup: func(s *scene) { s.submitted() }, reasons: []string{"Sai sót"},
			outcome: outcome{want: []domain.Event{&domain.SubmissionReopened{}}}}, reason: "Sai sót"},
		{decisionCase: decisionCase{name: "ErrForbiddenUnit", p: unitP("SXD"), setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.EFORBIDDEN}}, reason: "Sai sót"},
		{decisionCase: decisionCase{name: "ErrForbiddenCouncil", p: council, setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.EFORBIDDEN}}, reason: "Sai sót"},
		{decisionCase: decisionCase{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.EFORBIDDEN}}, reason: "Sai sót"},
		{decisionCase: decisionCase{name: "ErrInvalidReason", setup: func(s *scene) { s.submitted() }, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"reason", "is required"}}}}, reason: " \n "},
		{decisionCase: decisionCase{name: "ErrConflictNotSubmitted", setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.ECONFLICT, msg: "not submitted"}}, reason: "Sai sót"},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.submitted().finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}}, reason: "Sai sót"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, homeAffairs, tSelf, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideReopen(x, tt.reason)
			})
			if tt.code == "" && s.a.Submitted {
				t.Error("got submitted after reopening, want not submitted")
			}
		})
	}
}

func TestDecideAppraisals(t *testing.T) {
	rec := func(item string, round int, agency, points, note string) *domain.AppraisalRecorded {
		return &domain.AppraisalRecorded{Item: item, Round: round, Agency: agency, Points: dec(points), Note: note}
	}
	submitted := func(s *scene) { s.submitted() }
	for _, tt := range []struct {
		decisionCase
		round  int
		scores []domain.ItemScore
		reason string
	}{
		{decisionCase: decisionCase{name: "OKSameAsSelf", setup: submitted, outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "8.5", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "OKItemReason", setup: submitted, reasons: []string{"Kế hoạch thiếu nội dung", ""},
			outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "8", "Đã xem"), rec("3.1.2", 1, "SNV", "2.25", "")}}},
			round: 1, scores: []domain.ItemScore{isWith("1.1.1", "8", " Đã xem ", " Kế hoạch thiếu nội dung "), is("3.1.2", "2.25")}},
		{decisionCase: decisionCase{name: "OKRequestReason", setup: submitted, reasons: []string{"Theo kết quả kiểm tra", "Thiếu minh chứng", "Theo kết quả kiểm tra"},
			outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "8", ""), rec("1.1.2", 1, "SNV", "0.25", ""), rec("3.1.2", 1, "SNV", "2.25", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8"), isWith("1.1.2", "0.25", "", "Thiếu minh chứng"), is("3.1.2", "2.25")}, reason: "Theo kết quả kiểm tra"},
		{decisionCase: decisionCase{name: "OKHigherLevelOverriddenAgency", p: appraiserP("VPUBND"), setup: submitted, outcome: outcome{want: []domain.Event{rec("1.2.1", 1, "VPUBND", "3.5", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.2.1", "3.5")}},
		{decisionCase: decisionCase{name: "OKOtherAgency", p: appraiserP("STP"), setup: submitted, reasons: []string{"", "Thiếu báo cáo"},
			outcome: outcome{want: []domain.Event{rec("2.1.1", 1, "STP", "5.05", ""), rec("2.1.2", 1, "STP", "4", "")}}},
			round: 1, scores: []domain.ItemScore{is("2.1.1", "5.05"), isWith("2.1.2", "4", "", "Thiếu báo cáo")}},
		{decisionCase: decisionCase{name: "OKUnscoredItemNeedsNoReason", setup: func(s *scene) {
			s.record(unitP("SXD"), tSelf, "", &domain.SelfScoreRecorded{Item: "1.1.2", Points: dec("0.5")})
		}, outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "3", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "3")}},
		{decisionCase: decisionCase{name: "OKNotSubmittedAfterSelfDeadline", setup: func(s *scene) { s.selfScored() }, outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "8.5", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "OKSubmittedBeforeSelfDeadline", now: tSelf, setup: submitted, outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "8.5", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "OKRound2", setup: func(s *scene) { s.submitted().appraised("SNV", 1, "1.1.1", "8", "Thiếu") }, reasons: []string{"Bổ sung minh chứng"},
			outcome: outcome{want: []domain.Event{rec("1.1.1", 2, "SNV", "8.25", "")}}},
			round: 2, scores: []domain.ItemScore{is("1.1.1", "8.25")}, reason: "Bổ sung minh chứng"},
		{decisionCase: decisionCase{name: "OKRound2SameAsSelf", setup: func(s *scene) { s.submitted().appraised("SNV", 1, "1.1.1", "8", "Thiếu") },
			outcome: outcome{want: []domain.Event{rec("1.1.1", 2, "SNV", "8.5", "")}}},
			round: 2, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "OKUnchangedNoEvent", setup: func(s *scene) { s.submitted().appraised("SNV", 1, "1.1.1", "8.5", "") }, outcome: outcome{want: nil}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.50")}},
		{decisionCase: decisionCase{name: "OKExtendedDeadline", now: tLate, setup: func(s *scene) {
			s.submitted().campaign(&domain.DeadlineChanged{Phase: domain.PhaseAppraisal, Due: domain.MustDate("2017-11-20")})
		}, outcome: outcome{want: []domain.Event{rec("1.1.1", 1, "SNV", "8.5", "")}}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenAgency", p: appraiserP("STP"), setup: submitted, outcome: outcome{code: domain.EFORBIDDEN, msg: "appraise item 1.1.1, which agency SNV appraises"}},
			round: 1, scores: []domain.ItemScore{is("2.1.1", "5.05"), is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenOverriddenAgency", setup: submitted, outcome: outcome{code: domain.EFORBIDDEN, msg: "which agency VPUBND appraises"}},
			round: 1, scores: []domain.ItemScore{is("1.2.1", "3")}},
		{decisionCase: decisionCase{name: "ErrForbiddenAreaAgency", p: appraiserP("VPUBND"), setup: submitted, outcome: outcome{code: domain.EFORBIDDEN, msg: "which agency SNV appraises"}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenUnit", p: unitP("SXD"), setup: submitted, outcome: outcome{code: domain.EFORBIDDEN}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenHomeAffairs", p: homeAffairs, setup: submitted, outcome: outcome{code: domain.EFORBIDDEN}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrForbiddenCouncil", p: council, setup: submitted, outcome: outcome{code: domain.EFORBIDDEN}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrConflictNotSubmitted", now: tSelf, setup: func(s *scene) { s.selfScored() }, outcome: outcome{code: domain.ECONFLICT, msg: "neither submitted nor past its deadline"}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrConflictReopened", now: tSelf, setup: func(s *scene) {
			s.submitted().record(homeAffairs, tSelf, "Sửa", &domain.SubmissionReopened{})
		}, outcome: outcome{code: domain.ECONFLICT}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.submitted().finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrDeadline", now: tLate, setup: submitted, outcome: outcome{code: domain.EDEADLINE, msg: "15/11/2017"}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrDeadlineMidnight", now: time.Date(2017, 11, 15, 17, 0, 0, 0, time.UTC), setup: submitted, outcome: outcome{code: domain.EDEADLINE}},
			round: 1, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrInvalidNoReason", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[1].reason", "the score 8 differs from the self score 8.5; give the reason"},
		}}}, round: 1, scores: []domain.ItemScore{is("3.1.2", "2.25"), isWith("1.1.1", "8", "Thiếu nội dung", " ")}},
		{decisionCase: decisionCase{name: "ErrInvalidRound2WithoutRound1", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.1.1 has no round-1 appraisal yet"},
		}}}, round: 2, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrInvalidRound", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"round", "must be 1 or 2"}}}},
			round: 3, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrInvalidRound0", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"round", "must be 1 or 2"}}}},
			round: 0, scores: []domain.ItemScore{is("1.1.1", "8.5")}},
		{decisionCase: decisionCase{name: "ErrInvalidSurveyItem", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.2.2 is scored by the survey only, not appraised"},
			{"scores[1].item", "3.1.1 is scored by the survey only, not appraised"},
		}}}, round: 1, scores: []domain.ItemScore{is("1.2.2", "5"), is("3.1.1", "4")}},
		{decisionCase: decisionCase{name: "ErrInvalidBonusItem", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "4.1 is scored by Home Affairs as bonus points, not appraised"},
		}}}, round: 1, scores: []domain.ItemScore{is("4.1", "1")}},
		{decisionCase: decisionCase{name: "ErrInvalidPoints", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].points", "1.1.1 allows 0 to 10 points, got 10.5"},
			{"scores[1].points", "1.1.2 allows only the levels 0, 0.25, 0.5, got 0.1"},
			{"scores[2].points", "at most 2 decimal places"},
		}}}, round: 1, scores: []domain.ItemScore{isWith("1.1.1", "10.5", "", "x"), isWith("1.1.2", "0.1", "", "x"), isWith("3.1.2", "0.001", "", "x")}},
		{decisionCase: decisionCase{name: "ErrInvalidUnknownItem", setup: submitted, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", `no item "1.9.9"`}, {"scores[1].item", "1.1 is a criterion"},
		}}}, round: 1, scores: []domain.ItemScore{is("1.9.9", "1"), is("1.1", "1")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, appraiserP("SNV"), tAppraisal, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideAppraisals(x, tt.round, tt.scores, tt.reason)
			})
			if tt.code == "" {
				for i, e := range tt.want {
					r := e.(*domain.AppraisalRecorded)
					got := s.a.Items[r.Item].Appraised()
					if got == nil || !got.Points.Equal(r.Points) || got.Agency != r.Agency || got.Reason != tt.decisionCase.reasonAt(i) {
						t.Errorf("item %s: got appraisal %+v after applying, want %s by %s", r.Item, got, r.Points, r.Agency)
					}
				}
			}
		})
	}
}

// reasonAt returns the wanted reason of the i-th decision.
func (tt decisionCase) reasonAt(i int) string {
	if tt.reasons == nil {
		return ""
	}
	return tt.reasons[i]
}

func TestDecideSurveyScores(t *testing.T) {
	rec := func(item, points, batch string) *domain.SurveyScoreRecorded {
		return &domain.SurveyScoreRecorded{Item: item, Points: dec(points), Batch: batch}
	}
	for _, tt := range []struct {
		decisionCase
		scores []domain.ItemScore
		batch  string
	}{
		{decisionCase: decisionCase{name: "OK", outcome: outcome{want: []domain.Event{rec("1.2.2", "4.37", "ĐTXHH-2017"), rec("3.1.1", "3.33", "ĐTXHH-2017")}}},
			scores: []domain.ItemScore{is("1.2.2", "4.37"), is("3.1.1", "3.33")}, batch: " " + norm.NFD.String("ĐTXHH-2017")},
		{decisionCase: decisionCase{name: "OKAnyPhase", now: tLate, setup: func(s *scene) { s.submitted() }, outcome: outcome{want: []domain.Event{rec("1.2.2", "6", "")}}},
			scores: []domain.ItemScore{is("1.2.2", "6")}},
		{decisionCase: decisionCase{name: "OKUnchangedNoEvent", setup: func(s *scene) {
			s.record(institute, tAppraisal, "", rec("1.2.2", "4.37", "a"))
		}, outcome: outcome{want: []domain.Event{rec("3.1.1", "0", "b")}}},
			scores: []domain.ItemScore{is("1.2.2", "4.370"), is("3.1.1", "0")}, batch: "b"},
		{decisionCase: decisionCase{name: "OKRespondentsChanged", setup: func(s *scene) {
			s.record(institute, tAppraisal, "", &domain.SurveyScoreRecorded{Item: "1.2.2", Points: dec("4.37"), Batch: "a", Respondents: 400})
			s.record(institute, tAppraisal, "", &domain.SurveyScoreRecorded{Item: "3.1.1", Points: dec("3"), Batch: "a", Respondents: 380})
		}, outcome: outcome{want: []domain.Event{&domain.SurveyScoreRecorded{Item: "1.2.2", Points: dec("4.37"), Batch: "b", Respondents: 412}}}},
			scores: []domain.ItemScore{{Item: "1.2.2", Points: dec("4.37"), Respondents: 412}, {Item: "3.1.1", Points: dec("3"), Respondents: 380}}, batch: "b"},
		{decisionCase: decisionCase{name: "ErrForbiddenUnit", p: unitP("SXD"), outcome: outcome{code: domain.EFORBIDDEN}}, scores: []domain.ItemScore{is("1.2.2", "4")}},
		{decisionCase: decisionCase{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), outcome: outcome{code: domain.EFORBIDDEN}}, scores: []domain.ItemScore{is("1.2.2", "4")}},
		{decisionCase: decisionCase{name: "ErrForbiddenHomeAffairs", p: homeAffairs, outcome: outcome{code: domain.EFORBIDDEN}}, scores: []domain.ItemScore{is("1.2.2", "4")}},
		{decisionCase: decisionCase{name: "ErrInvalidNotSurveyItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.1.1 is scored by self-assessment, not by the survey"},
			{"scores[1].item", "1.2.1 is scored by the appraising agency only, not by the survey"},
			{"scores[2].item", "4.1 is scored by Home Affairs as bonus points, not by the survey"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "4"), is("1.2.1", "4"), is("4.1", "1")}},
		{decisionCase: decisionCase{name: "ErrInvalidPoints", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[2].item", "item 1.2.2 is also scores[0]"},
			{"scores[0].points", "1.2.2 allows 0 to 6 points, got 6.01"},
			{"scores[1].points", "3.1.1 allows 0 to 4.45 points, got -1"},
		}}}, scores: []domain.ItemScore{is("1.2.2", "6.01"), is("3.1.1", "-1"), is("1.2.2", "1")}},
		{decisionCase: decisionCase{name: "ErrInvalidEmpty", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"scores", "at least one item"}}}}},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.finalized() }, outcome: outcome{code: domain.ECONFLICT}}, scores: []domain.ItemScore{is("1.2.2", "4")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, institute, tAppraisal, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideSurveyScores(x, tt.scores, tt.batch)
			})
			for _, e := range tt.want {
				r := e.(*domain.SurveyScoreRecorded)
				if got := s.a.Items[r.Item].Survey; got == nil || !got.Equal(r.Points) {
					t.Errorf("item %s: got survey %v after applying, want %s", r.Item, got, r.Points)
				}
				if got := s.a.Items[r.Item].SurveyRespondents; got != r.Respondents {
					t.Errorf("item %s: got %d respondents after applying, want %d", r.Item, got, r.Respondents)
				}
			}
		})
	}
}

func TestDecideBonusPenalty(t *testing.T) {
	rec := func(item, points string) *domain.BonusPenaltyRecorded {
		return &domain.BonusPenaltyRecorded{Item: item, Points: dec(points)}
	}
	for _, tt := range []struct {
		decisionCase
		scores []domain.ItemScore
		reason string
	}{
		{decisionCase: decisionCase{name: "OK", reasons: []string{"QĐ khen thưởng 123", "Chậm báo cáo quý III"},
			outcome: outcome{want: []domain.Event{rec("4.1", "1.5"), rec("4.2", "0.75")}}},
			scores: []domain.ItemScore{is("4.1", "1.5"), isWith("4.2", "0.75", "", "Chậm báo cáo quý III")}, reason: "QĐ khen thưởng 123"},
		{decisionCase: decisionCase{name: "OKMaxPenalty", now: tLate, reasons: []string{"Vi phạm kỷ luật"}, outcome: outcome{want: []domain.Event{rec("4.2", "1")}}},
			scores: []domain.ItemScore{isWith("4.2", "1", "", "Vi phạm kỷ luật")}},
		{decisionCase: decisionCase{name: "OKUnchangedNoEvent", setup: func(s *scene) {
			s.record(homeAffairs, tAppraisal, "Khen thưởng", rec("4.1", "1.5"))
		}, outcome: outcome{want: nil}}, scores: []domain.ItemScore{is("4.1", "1.50")}, reason: "Khen thưởng"},
		{decisionCase: decisionCase{name: "ErrForbiddenCouncil", p: council, outcome: outcome{code: domain.EFORBIDDEN}}, scores: []domain.ItemScore{is("4.1", "1")}, reason: "x"},
		{decisionCase: decisionCase{name: "ErrForbiddenUnit", p: unitP("SXD"), outcome: outcome{code: domain.EFORBIDDEN}}, scores: []domain.ItemScore{is("4.1", "1")}, reason: "x"},
		{decisionCase: decisionCase{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), outcome: outcome{code: domain.EFORBIDDEN}}, scores: []domain.ItemScore{is("4.1", "1")}, reason: "x"},
		{decisionCase: decisionCase{name: "ErrInvalidNotBonusItem", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].item", "1.1.1 is not a bonus or penalty item"}, {"scores[1].item", "1.2.2 is not a bonus or penalty item"},
		}}}, scores: []domain.ItemScore{is("1.1.1", "1"), is("1.2.2", "1")}, reason: "x"},
		{decisionCase: decisionCase{name: "ErrInvalidNoReason", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].reason", "need a reason"}, {"scores[1].reason", "need a reason"},
		}}}, scores: []domain.ItemScore{is("4.1", "1"), isWith("4.2", "0", "", " ")}, reason: "  "},
		{decisionCase: decisionCase{name: "ErrInvalidPoints", outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"scores[0].points", "4.1 allows 0 to 2 points, got 2.5"}, {"scores[1].points", "4.2 allows 0 to 1 points, got -0.5"},
		}}}, scores: []domain.ItemScore{is("4.1", "2.5"), is("4.2", "-0.5")}, reason: "x"},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.finalized() }, outcome: outcome{code: domain.ECONFLICT}}, scores: []domain.ItemScore{is("4.1", "1")}, reason: "x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, homeAffairs, tAppraisal, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideBonusPenalty(x, tt.scores, tt.reason)
			})
			for _, e := range tt.want {
				r := e.(*domain.BonusPenaltyRecorded)
				if got := s.a.Items[r.Item].Adjustment; got == nil || !got.Equal(r.Points) {
					t.Errorf("item %s: got %v after applying, want %s", r.Item, got, r.Points)
				}
			}
		})
	}
}

func TestDecideRaiseExplanation(t *testing.T) {
	disputable := func(s *scene) { s.disputable() }
	raised := func(id, item, claimed string, ev ...domain.Evidence) *domain.ExplanationRaised {
		return &domain.ExplanationRaised{ID: id, Item: item, Claimed: dec(claimed), Argument: "Đã ban hành đủ kế hoạch", Evidence: ev}
	}
	claim := func(item, claimed string, ev ...domain.Evidence) domain.RaiseExplanation {
		return domain.RaiseExplanation{Item: item, Claimed: dec(claimed), Argument: "Đã ban hành đủ kế hoạch", Evidence: ev}
	}
	for _, tt := range []struct {
		decisionCase
		cmd domain.RaiseExplanation
	}{
		{decisionCase: decisionCase{name: "OK", setup: disputable, outcome: outcome{want: []domain.Event{raised("GT-1", "1.1.1", "8.5", evidence(3))}}},
			cmd: claim("1.1.1", "8.5", evidence(3))},
		{decisionCase: decisionCase{name: "OKArgumentTrimmedNFC", setup: disputable, outcome: outcome{want: []domain.Event{raised("GT-1", "2.1.1", "5.05")}}},
			cmd: domain.RaiseExplanation{Item: "2.1.1", Claimed: dec("5.05"), Argument: "\n" + norm.NFD.String("Đã ban hành đủ kế hoạch") + " "}},
		{decisionCase: decisionCase{name: "OKSecondItem", setup: func(s *scene) { s.disputable().explained("1.1.1", "8.5") },
			outcome: outcome{want: []domain.Event{raised("GT-2", "2.1.1", "5.05")}}}, cmd: claim("2.1.1", "5.05")},
		{decisionCase: decisionCase{name: "OKAgainAfterResolution", setup: func(s *scene) {
			s.disputable().explained("1.1.1", "8.5").resolved("GT-1", "1.1.1", false, "")
		}, outcome: outcome{want: []domain.Event{raised("GT-2", "1.1.1", "8.25")}}}, cmd: claim("1.1.1", "8.25")},
		{decisionCase: decisionCase{name: "OKLastDay", now: hanoiTime(2017, 12, 10, 23, 59), setup: disputable,
			outcome: outcome{want: []domain.Event{raised("GT-1", "1.1.1", "8.5")}}}, cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrConflictWindowNotOpen", setup: func(s *scene) {
			s.submitted().appraised("SNV", 1, "1.1.1", "8", "Thiếu")
		}, outcome: outcome{code: domain.ECONFLICT, msg: "explanation round of campaign cchc-2017 is not open"}}, cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrDeadline", now: hanoiTime(2017, 12, 11, 0, 0), setup: disputable, outcome: outcome{code: domain.EDEADLINE, msg: "10/12/2017"}},
			cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrForbiddenOtherUnit", p: unitP("SYT"), setup: disputable, outcome: outcome{code: domain.EFORBIDDEN}}, cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrForbiddenHomeAffairs", p: homeAffairs, setup: disputable, outcome: outcome{code: domain.EFORBIDDEN}}, cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrForbiddenAppraiser", p: appraiserP("SNV"), setup: disputable, outcome: outcome{code: domain.EFORBIDDEN}}, cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrConflictFinalized", setup: func(s *scene) { s.disputable().finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}},
			cmd: claim("1.1.1", "8.5")},
		{decisionCase: decisionCase{name: "ErrConflictAlreadyOpen", setup: func(s *scene) { s.disputable().explained("1.1.1", "8.5") },
			outcome: outcome{code: domain.ECONFLICT, msg: "Item 1.1.1 already has an open explanation (GT-1)"}}, cmd: claim("1.1.1", "9")},
		{decisionCase: decisionCase{name: "ErrInvalidNotAppraised", setup: disputable, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"item", "2.1.2 has not been appraised; only appraised items can be contested"},
		}}}, cmd: claim("2.1.2", "5")},
		{decisionCase: decisionCase{name: "ErrInvalidSurveyItem", setup: disputable, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"item", "1.2.2 has not been appraised"},
		}}}, cmd: claim("1.2.2", "5")},
		{decisionCase: decisionCase{name: "ErrInvalidClaimAboveMax", setup: disputable, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"claimedPoints", "1.1.1 allows 0 to 10 points, got 10.5"},
		}}}, cmd: claim("1.1.1", "10.5")},
		{decisionCase: decisionCase{name: "ErrInvalidClaimOffLevel", setup: func(s *scene) { s.disputable().appraised("SNV", 1, "1.1.2", "0", "Chậm") },
			outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"claimedPoints", "1.1.2 allows only the levels 0, 0.25, 0.5, got 0.4"}}}},
			cmd: claim("1.1.2", "0.4")},
		{decisionCase: decisionCase{name: "ErrInvalidUnknownItem", setup: disputable, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"item", `no item "8.1"`}}}},
			cmd: claim("8.1", "1")},
		{decisionCase: decisionCase{name: "ErrInvalidCriterion", setup: disputable, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{{"item", "1.1 is a criterion"}}}},
			cmd: claim("1.1", "1")},
		{decisionCase: decisionCase{name: "ErrInvalidAll", setup: disputable, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"item", "not been appraised"}, {"claimedPoints", "allows 0 to 5 points"}, {"argument", "is required"},
			{"evidence[0].sha256", "64 lowercase hex"}, {"evidence[0].title", "is required"},
		}}}, cmd: domain.RaiseExplanation{Item: "2.1.2", Claimed: dec("6"), Argument: " ", Evidence: []domain.Evidence{{SHA256: "x", Size: 1, MediaType: "application/pdf"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, unitP("SXD"), tExplain, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideRaiseExplanation(x, tt.cmd)
			})
			if tt.code == "" {
				open := s.a.OpenExplanations()
				if len(open) == 0 || open[len(open)-1].ID != tt.want[0].(*domain.ExplanationRaised).ID || open[len(open)-1].RaisedBy != "tct-sxd" {
					t.Errorf("got open explanations %+v after applying, want the new one last", open)
				}
			}
		})
	}
}

func TestDecideResolveExplanation(t *testing.T) {
	open := func(s *scene) { s.disputable().explained("1.1.1", "8.5") }
	points := func(s string) *decimal.Decimal { d := dec(s); return &d }
	for _, tt := range []struct {
		decisionCase
		id  string
		cmd domain.ResolveExplanation
		// council is the item's council points after applying ("" none).
		council string
	}{
		{decisionCase: decisionCase{name: "OKAccepted", setup: open, reasons: []string{""},
			outcome: outcome{want: []domain.Event{&domain.ExplanationResolved{ID: "GT-1", Item: "1.1.1", Accepted: true, FinalPoints: points("8.5"), DecisionRef: "Biên bản 12/HĐTĐ"}}}},
			id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("8.5"), DecisionRef: " Biên bản 12/HĐTĐ "}, council: "8.5"},
		{decisionCase: decisionCase{name: "OKAcceptedPartly", setup: open, reasons: []string{"Chấp nhận một phần"},
			outcome: outcome{want: []domain.Event{&domain.ExplanationResolved{ID: "GT-1", Item: "1.1.1", Accepted: true, FinalPoints: points("8.25"), DecisionRef: "BB-12"}}}},
			id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("8.25"), DecisionRef: "BB-12", Reason: "Chấp nhận một phần"}, council: "8.25"},
		{decisionCase: decisionCase{name: "OKRejected", setup: open, reasons: []string{"Không có minh chứng mới"},
			outcome: outcome{want: []domain.Event{&domain.ExplanationResolved{ID: "GT-1", Item: "1.1.1", DecisionRef: "BB-12"}}}},
			id: "GT-1", cmd: domain.ResolveExplanation{DecisionRef: "BB-12", Reason: " Không có minh chứng mới "}},
		{decisionCase: decisionCase{name: "OKAfterFinalization", setup: func(s *scene) { open(s); s.finalized() }, reasons: []string{""},
			outcome: outcome{want: []domain.Event{&domain.ExplanationResolved{ID: "GT-1", Item: "1.1.1", Accepted: true, FinalPoints: points("9"), DecisionRef: "BB-12"}}}},
			id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("9"), DecisionRef: "BB-12"}, council: "9"},
		{decisionCase: decisionCase{name: "OKAfterWindowClosed", now: hanoiTime(2018, 1, 5, 9, 0), setup: open, reasons: []string{"Không đủ căn cứ"},
			outcome: outcome{want: []domain.Event{&domain.ExplanationResolved{ID: "GT-1", Item: "1.1.1", DecisionRef: "BB-12"}}}},
			id: "GT-1", cmd: domain.ResolveExplanation{DecisionRef: "BB-12", Reason: "Không đủ căn cứ"}},
		{decisionCase: decisionCase{name: "ErrForbiddenHomeAffairs", p: homeAffairs, setup: open, outcome: outcome{code: domain.EFORBIDDEN}},
			id: "GT-1", cmd: domain.ResolveExplanation{DecisionRef: "BB-12", Reason: "x"}},
		{decisionCase: decisionCase{name: "ErrForbiddenUnit", p: unitP("SXD"), setup: open, outcome: outcome{code: domain.EFORBIDDEN}},
			id: "GT-1", cmd: domain.ResolveExplanation{DecisionRef: "BB-12", Reason: "x"}},
		{decisionCase: decisionCase{name: "ErrNotFound", setup: open, outcome: outcome{code: domain.ENOTFOUND, msg: "no explanation GT-9"}},
			id: "GT-9", cmd: domain.ResolveExplanation{DecisionRef: "BB-12", Reason: "x"}},
		{decisionCase: decisionCase{name: "ErrConflictResolvedTwice", setup: func(s *scene) { open(s); s.resolved("GT-1", "1.1.1", false, "") },
			outcome: outcome{code: domain.ECONFLICT, msg: "GT-1 is already resolved (decision Biên bản 12/HĐTĐ)"}},
			id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("9"), DecisionRef: "BB-13"}},
		{decisionCase: decisionCase{name: "ErrInvalidAcceptedNoPoints", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"finalPoints", "an accepted explanation fixes the final points"},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, DecisionRef: "BB-12"}},
		{decisionCase: decisionCase{name: "ErrInvalidAcceptedOutOfRange", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"finalPoints", "1.1.1 allows 0 to 10 points, got 10.25"},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("10.25"), DecisionRef: "BB-12"}},
		{decisionCase: decisionCase{name: "ErrInvalidAcceptedNegative", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"finalPoints", "got -1"},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("-1"), DecisionRef: "BB-12"}},
		{decisionCase: decisionCase{name: "ErrInvalidAcceptedNoDecisionRef", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"decisionRef", "cite the council's decision"},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{Accepted: true, FinalPoints: points("9"), DecisionRef: "  "}},
		{decisionCase: decisionCase{name: "ErrInvalidRejectedNoReason", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"reason", "a rejection needs a reason"},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{DecisionRef: "BB-12"}},
		{decisionCase: decisionCase{name: "ErrInvalidRejectedWithPoints", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"finalPoints", "a rejected explanation keeps the appraised points"},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{FinalPoints: points("8"), DecisionRef: "BB-12", Reason: "x"}},
		{decisionCase: decisionCase{name: "ErrInvalidRejectedAll", setup: open, outcome: outcome{code: domain.EINVALID, fields: []domain.FieldError{
			{"decisionRef", ""}, {"finalPoints", ""}, {"reason", ""},
		}}}, id: "GT-1", cmd: domain.ResolveExplanation{FinalPoints: points("8")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, council, tCouncil, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideResolveExplanation(x, tt.id, tt.cmd)
			})
			if tt.code != "" {
				return
			}
			if n := len(s.a.OpenExplanations()); n != 0 {
				t.Errorf("got %d open explanations after applying, want 0", n)
			}
			x := s.a.Explanations[0]
			if !x.Resolved || x.Accepted != tt.cmd.Accepted || x.ResolvedBy != council.ID || x.Resolution != tt.reasonAt(0) {
				t.Errorf("got explanation %+v after applying, want it resolved by %s", x, council.ID)
			}
			got := s.a.Items["1.1.1"].Council
			switch {
			case tt.council == "" && got != nil:
				t.Errorf("got council points %s, want none", got)
			case tt.council != "" && (got == nil || !got.Equal(dec(tt.council))):
				t.Errorf("got council points %v, want %s", got, tt.council)
			}
			// The council's points replace the appraisal in the score.
			want := dec("19.3") // 8 + 0.5 + 4.05 + 4.5 + 2.25
			if tt.council != "" {
				want = want.Sub(dec("8")).Add(dec(tt.council))
			}
			if sc := domain.ComputeScore(s.c.Frameworks[domain.BlockDepartments], s.a, 2); !sc.Final.Equal(want) {
				t.Errorf("got final %s, want %s", sc.Final, want)
			}
		})
	}
}

func TestDecideFinalize(t *testing.T) {
	for _, tt := range []decisionCase{
		// 1.1.1 appraised 8, 2.1.1 appraised 4.05, the rest self scores:
		// 8 + 0.5 + 4.05 + 4.5 + 2.25.
		{name: "OK", setup: func(s *scene) { s.disputable().appraisedRest() }, outcome: outcome{want: []domain.Event{&domain.AssessmentFinalized{FinalPoints: dec("19.3")}}}},
		{name: "OKResolvedExplanation", setup: func(s *scene) {
			s.disputable().appraisedRest().explained("1.1.1", "8.5").resolved("GT-1", "1.1.1", true, "8.5")
		}, outcome: outcome{want: []domain.Event{&domain.AssessmentFinalized{FinalPoints: dec("19.8")}}}},
		{name: "ErrConflictNotAppraised", setup: func(s *scene) { s.disputable() }, outcome: outcome{code: domain.ECONFLICT, msg: "4 items are not appraised"}},
		{name: "ErrConflictNothingRecorded", outcome: outcome{code: domain.ECONFLICT, msg: "6 items are not appraised"}},
		{name: "ErrConflictOpenExplanation", setup: func(s *scene) {
			s.disputable().explained("1.1.1", "8.5").explained("2.1.1", "5.05").resolved("GT-1", "1.1.1", false, "")
		}, outcome: outcome{code: domain.ECONFLICT, msg: "1 open explanations: GT-2 (2.1.1)"}},
		{name: "ErrConflictOpenExplanations", setup: func(s *scene) {
			s.disputable().explained("1.1.1", "8.5").explained("2.1.1", "5.05")
		}, outcome: outcome{code: domain.ECONFLICT, msg: "GT-1 (1.1.1), GT-2 (2.1.1)"}},
		{name: "ErrConflictFinalized", setup: func(s *scene) { s.disputable().finalized() }, outcome: outcome{code: domain.ECONFLICT, msg: "finalized"}},
		{name: "ErrForbiddenCouncil", p: council, setup: func(s *scene) { s.disputable() }, outcome: outcome{code: domain.EFORBIDDEN}},
		{name: "ErrForbiddenUnit", p: unitP("SXD"), setup: func(s *scene) { s.disputable() }, outcome: outcome{code: domain.EFORBIDDEN}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t, homeAffairs, tCouncil, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) { return a.DecideFinalize(x) })
			if tt.code == "" && (!s.a.Finalized || s.a.Status() != "finalized" || !s.a.FinalizedAt.Equal(tCouncil)) {
				t.Errorf("got finalized %v (%s) at %v, want finalized at %v", s.a.Finalized, s.a.Status(), s.a.FinalizedAt, tCouncil)
			}
		})
	}
}

// TestAssessmentFinalizedRefusesAll checks that a finalized assessment takes
// nothing but the council's resolution of an explanation.
func TestAssessmentFinalizedRefusesAll(t *testing.T) {
	s := MustScene(t)
	s.disputable().explained("1.1.1", "8.5").finalized()
	now := tExplain
	sxd := s.ctx(unitP("SXD"), now)
	for _, tt := range []struct {
		name   string
		decide func() ([]domain.Decision, error)
		code   string
	}{
		{"ErrConflictSelfScores", func() ([]domain.Decision, error) {
			return s.a.DecideSelfScores(sxd, []domain.ItemScore{is("1.1.1", "9")})
		}, domain.ECONFLICT},
		{"ErrConflictEvidence", func() ([]domain.Decision, error) { return s.a.DecideAttachEvidence(sxd, "1.1.1", evidence(5)) }, domain.ECONFLICT},
		{"ErrConflictWithdraw", func() ([]domain.Decision, error) {
			return s.a.DecideWithdrawEvidence(sxd, "1.1.1", evidence(1).SHA256, "")
		}, domain.ECONFLICT},
		{"ErrConflictSubmit", func() ([]domain.Decision, error) { return s.a.DecideSubmit(sxd) }, domain.ECONFLICT},
		{"ErrConflictReopen", func() ([]domain.Decision, error) { return s.a.DecideReopen(s.ctx(homeAffairs, now), "Sửa") }, domain.ECONFLICT},
		{"ErrConflictAppraisal", func() ([]domain.Decision, error) {
			return s.a.DecideAppraisals(s.ctx(appraiserP("SNV"), tAppraisal), 2, []domain.ItemScore{is("1.1.1", "8.5")}, "")
		}, domain.ECONFLICT},
		{"ErrConflictSurvey", func() ([]domain.Decision, error) {
			return s.a.DecideSurveyScores(s.ctx(institute, now), []domain.ItemScore{is("1.2.2", "5")}, "")
		}, domain.ECONFLICT},
		{"ErrConflictBonus", func() ([]domain.Decision, error) {
			return s.a.DecideBonusPenalty(s.ctx(homeAffairs, now), []domain.ItemScore{is("4.1", "1")}, "x")
		}, domain.ECONFLICT},
		{"ErrConflictExplanation", func() ([]domain.Decision, error) {
			return s.a.DecideRaiseExplanation(sxd, domain.RaiseExplanation{Item: "2.1.1", Claimed: dec("5"), Argument: "x"})
		}, domain.ECONFLICT},
		{"ErrConflictFinalize", func() ([]domain.Decision, error) { return s.a.DecideFinalize(s.ctx(homeAffairs, now)) }, domain.ECONFLICT},
		{"OKResolve", func() ([]domain.Decision, error) {
			return s.a.DecideResolveExplanation(s.ctx(council, now), "GT-1", domain.ResolveExplanation{DecisionRef: "BB-12", Reason: "Không đủ căn cứ"})
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := tt.decide()
			if got := domain.ErrorCode(err); got != tt.code {
				t.Fatalf("got code %q (%v), want %q", got, err, tt.code)
			}
			if tt.code != "" && ds != nil {
				t.Errorf("got decisions %v with an error, want none", ds)
			}
		})
	}
}

func TestAssessmentApply(t *testing.T) {
	s := MustScene(t)
	if got, want := s.a.Status(), "not-started"; got != want {
		t.Errorf("got status %s, want %s", got, want)
	}
	s.selfScored()
	if got, want := s.a.Status(), "in-progress"; got != want {
		t.Errorf("got status %s, want %s", got, want)
	}
	if got, want := s.a.Revision, uint64(5); got != want {
		t.Errorf("got revision %d, want %d", got, want)
	}
	s.submitted().appraised("SNV", 1, "1.1.1", "8", "Thiếu").appraised("SNV", 2, "1.1.1", "7.75", "Thiếu nữa")
	ap := s.a.Items["1.1.1"].Appraisals
	if ap[0] == nil || ap[1] == nil || !ap[0].Points.Equal(dec("8")) || ap[1].Reason != "Thiếu nữa" || ap[1].By != "td-snv" || !ap[1].At.Equal(tAppraisal) {
		t.Errorf("got appraisals %+v %+v, want round 1 8 and round 2 7.75 by td-snv", ap[0], ap[1])
	}
	if got := s.a.Items["1.1.1"].Appraised().Points; !got.Equal(dec("7.75")) {
		t.Errorf("got latest appraisal %s, want 7.75", got)
	}
	// A round outside 1..2 in the ledger is ignored rather than panicking.
	s.record(appraiserP("SNV"), tAppraisal, "", &domain.AppraisalRecorded{Item: "1.1.2", Round: 3, Agency: "SNV", Points: dec("0")})
	if got := s.a.Items["1.1.2"].Appraised(); got != nil {
		t.Errorf("got appraisal %+v from round 3, want none", got)
	}
}
