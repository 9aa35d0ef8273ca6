package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/ledger"
)

// CampaignID is the id of the demo campaign.
const CampaignID = "hanoi-2017"

// The principals of the demo. Units and appraisers are built by
// UnitPrincipal and AppraiserPrincipal.
var (
	// HomeAffairs runs the campaign for Sở Nội vụ.
	HomeAffairs = domain.Principal{ID: "snv-truong-phong-cchc", Role: domain.RoleHomeAffairs}
	// Institute records the survey scores.
	Institute = domain.Principal{ID: "vien-nckt-xh", Role: domain.RoleInstitute}
	// Council is the appraisal council.
	Council = domain.Principal{ID: "hoi-dong-tham-dinh", Role: domain.RoleCouncil}
	// Auditor reads everything; the demo only issues it a credential.
	Auditor = domain.Principal{ID: "thanh-tra-kiem-toan", Role: domain.RoleAuditor}
)

// UnitPrincipal returns the principal of a unit's working group (tổ công
// tác), e.g. "to-cong-tac-001" for unit 001.
func UnitPrincipal(code string) domain.Principal {
	return domain.Principal{ID: "to-cong-tac-" + strings.ToLower(code), Role: domain.RoleUnit, Scope: code}
}

// AppraiserPrincipal returns the principal of an appraising agency, e.g.
// "stp-tham-dinh" for STP.
func AppraiserPrincipal(agency string) domain.Principal {
	return domain.Principal{ID: strings.ToLower(agency) + "-tham-dinh", Role: domain.RoleAppraiser, Scope: agency}
}

// Summary describes what Load recorded and how the campaign ended.
type Summary struct {
	Campaign string
	// Requests is the number of commands Load ran, Events the number of
	// events they recorded.
	Requests int
	Events   int
	// Units is the number of enrolled units.
	Units int
	// EvidenceFiles is the number of files stored in the blob store;
	// EvidenceAttached and EvidenceWithdrawn count those events.
	EvidenceFiles     int
	EvidenceAttached  int
	EvidenceWithdrawn int
	// Explanations raised, and how the council decided them.
	Explanations int
	Accepted     int
	Rejected     int
	// Results are the final standings, block so first, each block ranked
	// as published.
	Results []Result
	// Blocks summarises each block.
	Blocks []BlockSummary
}

// Result is one unit's final standing.
type Result struct {
	Unit  domain.Unit
	Final decimal.Decimal
	Index decimal.Decimal
	Rank  int
	Grade string
}

// BlockSummary is a block's top and bottom unit and its ties.
type BlockSummary struct {
	Block       domain.Block
	Units       int
	Top, Bottom Result
	// Ties lists the groups of units that share a rank.
	Ties [][]Result
}

// step is one timed action of the demo calendar.
type step struct {
	at    time.Time
	phase string
	what  string
	run   func(ctx context.Context) error
}

// loader plays the demo campaign.
type loader struct {
	svc      *ledger.Service
	blobs    *blobs.Store
	clock    *Clock
	progress func(string)
	plans    []*unitPlan
	steps    []step
	docs     []*pendingDoc
	shared   map[string]*pendingDoc // by unit, docRule and rank
	sum      Summary
}

// Phases of the calendar, as progress reports them.
const (
	phaseOpen        = "25/09/2017 opening campaign hanoi-2017: frameworks, calendar, 52 units"
	phaseSelf        = "02/10-31/10/2017 self-assessment: self scores, evidence, submissions"
	phaseAppraisal   = "01/11-15/11/2017 appraisal by the appraising agencies"
	phaseSurvey      = "27/11-29/11/2017 survey scores (ĐTXHH 2017), bonus and penalty points"
	phaseExplanation = "01/12-20/12/2017 explanations and the council's decisions"
	phaseFinalize    = "22/12-28/12/2017 Home Affairs finalizes the assessments"
	phasePublish     = "26/01/2018 publication of the results"
)

// Load plays Hanoi's 2017 PAR Index campaign into an empty ledger through
// svc, storing evidence files in store, on the simulated clock with which
// the caller opened the event store and svc: the campaign opens on
// 25/9/2017 (Start), 22 departments and 30 districts score themselves in
// October, the appraising agencies appraise them by 15/11, the survey
// institute imports survey scores, a few units contest appraised items
// and the council decides on 20/12, Home Affairs finalizes every
// assessment, and the results are published on 26/1/2018. The clock ends
// there.
//
// The scores are planned from fixed seeds: the same Load on an empty
// ledger always produces the same final scores. progress, if not nil, is
// called as each phase of the calendar starts.
//
// Load fails without writing anything, with a domain.ECONFLICT error, if
// campaign hanoi-2017 already exists or the ledger has events recorded
// after Start, and with another error if the clock shows a time after
// Start. A failure later (a store error, a cancelled ctx) leaves the
// events recorded so far.
func Load(ctx context.Context, svc *ledger.Service, store *blobs.Store, clock *Clock, progress func(step string)) (Summary, error) {
	if svc == nil || store == nil || clock == nil {
		return Summary{}, errors.New("demo: Load needs a ledger service, a blob store and a clock")
	}
	if progress == nil {
		progress = func(string) {}
	}
	switch _, err := svc.Campaign(ctx, CampaignID); {
	case err == nil:
		return Summary{}, domain.Errorf(domain.ECONFLICT, "Campaign %s already exists; load the demo into an empty ledger.", CampaignID)
	case domain.ErrorCode(err) != domain.ENOTFOUND:
		return Summary{}, fmt.Errorf("demo: %w", err)
	}
	if now := clock.Now(); now.After(Start) {
		return Summary{}, fmt.Errorf("demo: the clock shows %s, after the demo's start %s", now.In(domain.Hanoi).Format("02/01/2006 15:04"), Start.Format("02/01/2006 15:04"))
	}
	if !svc.Now().Equal(clock.Now()) {
		return Summary{}, errors.New("demo: the ledger service does not run on the demo clock; open it with ledger.Options{Clock: clock.Now}")
	}
	// The store never stamps an event earlier than the last one, so a
	// ledger with later events would give the demo's events their time.
	for e, err := range svc.Store().ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}) {
		if err != nil {
			return Summary{}, fmt.Errorf("demo: %w", err)
		}
		if e.RecordedAt.After(Start) {
			return Summary{}, domain.Errorf(domain.ECONFLICT, "The ledger has events recorded after %s (the last on %s); load the demo into an empty ledger.", Start.Format("02/01/2006"), e.RecordedAt.In(domain.Hanoi).Format("02/01/2006"))
		}
	}
	l := &loader{svc: svc, blobs: store, clock: clock, progress: progress, shared: map[string]*pendingDoc{}, sum: Summary{Campaign: CampaignID}}
	if err := l.schedule(); err != nil {
		return Summary{}, err
	}
	stop := l.storeDocuments(ctx)
	err := l.run(ctx)
	l.sum.EvidenceFiles = stop()
	if err != nil {
		return l.sum, err
	}
	if err := l.summarize(ctx); err != nil {
		return l.sum, err
	}
	return l.sum, nil
}

// schedule plans every unit and lays out the calendar's steps.
func (l *loader) schedule() error {
	fws, err := Frameworks()
	if err != nil {
		return err
	}
	byBlock := make(map[domain.Block]*domain.Framework, len(fws))
	for _, f := range fws {
		byBlock[f.Block] = f
	}
	units := Units()
	tg := targets(units)
	for _, u := range units {
		p, err := planUnit(u, byBlock[u.Block], tg[u.Code])
		if err != nil {
			return err
		}
		l.plans = append(l.plans, p)
	}
	l.scheduleOpening(fws, units)
	for _, p := range l.plans {
		l.scheduleSelfAssessment(p)
	}
	l.add(at(hanoiDate(2017, time.October, 30), 16, 30), phaseSelf, "Home Affairs extends the self-assessment deadline", func(ctx context.Context) error {
		return l.record(l.svc.ChangeDeadline(ctx, req(HomeAffairs), CampaignID, domain.PhaseSelfAssessment, domain.MustDate("2017-11-01"),
			"Ban Dân tộc và UBND huyện Mỹ Đức đề nghị gia hạn do đang hoàn thiện tài liệu kiểm chứng (Công văn đề nghị ngày 30/10/2017)"))
	})
	for _, p := range l.plans {
		l.scheduleAppraisal(p)
	}
	l.scheduleSurveyAndAdjustments()
	l.scheduleExplanations()
	l.scheduleFinalization()
	slices.SortStableFunc(l.steps, func(a, b step) int { return a.at.Compare(b.at) })
	return nil
}

// add appends a step to the calendar.
func (l *loader) add(t time.Time, phase, what string, run func(ctx context.Context) error) {
	l.steps = append(l.steps, step{at: t, phase: phase, what: what, run: run})
}

// run plays the steps in time order, moving the clock to each.
func (l *loader) run(ctx context.Context) error {
	phase := ""
	for _, s := range l.steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.phase != phase {
			phase = s.phase
			l.progress(phase)
		}
		if err := l.clock.Set(s.at); err != nil {
			return err
		}
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("demo: %s at %s: %w", s.what, s.at.Format("02/01/2006 15:04"), err)
		}
	}
	return nil
}

// req returns the request of a principal: no idempotency key, the demo's
// correlation id.
func req(p domain.Principal) ledger.Request {
	return ledger.Request{Principal: p, CorrelationID: "demo"}
}

// record counts a command's events and checks that the store stamped them
// with the simulated time.
func (l *loader) record(res ledger.Result, err error) error {
	if err != nil {
		return err
	}
	l.sum.Requests++
	l.sum.Events += len(res.Events)
	now := l.clock.Now()
	for _, e := range res.Events {
		if !e.RecordedAt.Equal(now) {
			return fmt.Errorf("the event store stamped event %d at %s, not at the demo clock's %s: open it with bolt.Options{Clock: clock.Now}", e.Position, e.RecordedAt.Format(time.RFC3339), now.Format(time.RFC3339))
		}
	}
	return nil
}

// assess runs a decision on a unit's assessment.
func (l *loader) assess(ctx context.Context, p domain.Principal, unit string, decide func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error)) error {
	return l.record(l.svc.Assess(ctx, req(p), CampaignID, unit, decide))
}

// scheduleOpening registers the frameworks, opens the campaign and enrols
// the units on 25/9/2017.
func (l *loader) scheduleOpening(fws []*domain.Framework, units []domain.Unit) {
	refs := make(map[domain.Block]domain.FrameworkRef, len(fws))
	for i, f := range fws {
		l.add(Start.Add(time.Duration(i)*10*time.Minute), phaseOpen, "register framework "+f.ID, func(ctx context.Context) error {
			ref, err := l.register(ctx, f)
			refs[f.Block] = ref
			return err
		})
	}
	l.add(at(Start, 8, 30), phaseOpen, "open campaign "+CampaignID, func(ctx context.Context) error {
		cmd := domain.OpenCampaign{
			ID: CampaignID, Year: 2017, Title: campaignTitle,
			Calendar: domain.Calendar{
				SelfAssessmentDue: domain.MustDate("2017-10-30"),
				AppraisalDue:      domain.MustDate("2017-11-15"),
				CouncilDate:       domain.MustDate("2017-12-20"),
				PublicationDue:    domain.MustDate("2018-01-31"),
			},
		}
		return l.record(l.svc.OpenCampaign(ctx, req(HomeAffairs), cmd, refs))
	})
	l.add(at(Start, 9, 0), phaseOpen, "enrol the units", func(ctx context.Context) error {
		if err := l.record(l.svc.EnrolUnits(ctx, req(HomeAffairs), CampaignID, units)); err != nil {
			return err
		}
		l.sum.Units = len(units)
		return nil
	})
}

// register adds f to the framework library, unless the library's latest
// version of f.ID already has the same content, and returns the version
// the campaign freezes.
func (l *loader) register(ctx context.Context, f *domain.Framework) (domain.FrameworkRef, error) {
	versions, err := l.svc.Frameworks(ctx, f.ID)
	if err != nil {
		return domain.FrameworkRef{}, err
	}
	if n := len(versions); n > 0 {
		same, err := sameContent(versions[n-1], f)
		if err != nil || same {
			return domain.FrameworkRef{ID: f.ID, Version: n}, err
		}
	}
	g := *f
	g.Version = len(versions) + 1
	return domain.FrameworkRef{ID: f.ID, Version: g.Version}, l.record(l.svc.RegisterFramework(ctx, req(HomeAffairs), &g))
}

// sameContent reports whether two frameworks differ only in version.
func sameContent(a, b *domain.Framework) (bool, error) {
	x, y := *a, *b
	x.Version, y.Version = 0, 0
	ja, err := json.Marshal(&x)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(&y)
	return bytes.Equal(ja, jb), err
}

// scheduleSelfAssessment lays out a unit's October: three or four working
// sessions on different days, each recording the scores of part of the
// framework and attaching the evidence a few files at a time, then the
// submission by 30/10 (by 31/10 for the stragglers, after the extension),
// and for one unit a submission reopened to fix a score.
func (l *loader) scheduleSelfAssessment(p *unitPlan) {
	rng, u := p.rng, p.unit
	unit := UnitPrincipal(u.Code)
	oct := func(d int) time.Time { return hanoiDate(2017, time.October, d) }
	var submitDay time.Time
	var days []time.Time
	switch {
	case p.straggler:
		submitDay = oct(31)
		days = append(sampleDays(rng, workdays(oct(2), oct(27)), p.sessions-1), submitDay)
	case p.reopen != nil:
		submitDay = workdays(oct(18), oct(24))[rng.IntN(5)]
		days = sampleDays(rng, workdays(oct(2), submitDay.AddDate(0, 0, -1)), p.sessions)
	default:
		candidates := workdays(oct(20), oct(30))
		submitDay = candidates[rng.IntN(len(candidates))]
		days = sampleDays(rng, workdays(oct(2), submitDay.AddDate(0, 0, -1)), p.sessions)
	}
	var wrong *pendingDoc // the file attached by mistake
	for k, day := range days {
		t := at(day, 8+rng.IntN(6), rng.IntN(60))
		if p.straggler && k == len(days)-1 {
			t = at(day, 8, 15)
		}
		next := func() time.Time {
			t = t.Add(time.Duration(3+rng.IntN(10)) * time.Minute)
			return t
		}
		var scores []domain.ItemScore
		var files []attachment
		for _, it := range p.items {
			if it.method() != domain.MethodSelf || it.session != k {
				continue
			}
			points := it.self
			if it.wrongSelf != nil {
				points = *it.wrongSelf
			}
			scores = append(scores, domain.ItemScore{Item: it.node.Code, Points: toPoints(points), Note: it.selfNote})
			if it.withdraw {
				continue
			}
			for j := range it.docs {
				files = append(files, attachment{it.node.Code, l.sharedDoc(rng, u, it.node, day, j)})
			}
		}
		if len(scores) > 0 {
			l.add(t, phaseSelf, u.Code+" records self scores", func(ctx context.Context) error {
				return l.assess(ctx, unit, u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
					return a.DecideSelfScores(x, scores)
				})
			})
		}
		// Files go up a few at a time, as a unit's clerk uploads them.
		for len(files) > 0 {
			n := min(1+rng.IntN(5), len(files))
			l.attachStep(next(), p, files[:n:n])
			files = files[n:]
		}
		for _, it := range p.items {
			if !it.withdraw {
				continue
			}
			switch k {
			case 0:
				// The wrong file: another item's document.
				other := p.items[0]
				if other == it {
					other = p.items[1]
				}
				wrong = l.newDoc(rng, u, other.node, day, "")
				l.attachStep(next(), p, []attachment{{it.node.Code, wrong}})
			case 1:
				// Noticed and replaced in the next session.
				code := it.node.Code
				l.add(next(), phaseSelf, u.Code+" withdraws evidence from "+code, func(ctx context.Context) error {
					ev, err := wrong.evidence(ctx)
					if err != nil {
						return err
					}
					wrongSHA := ev.SHA256
					err = l.assess(ctx, unit, u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
						return a.DecideWithdrawEvidence(x, code, wrongSHA, withdrawReason)
					})
					if err == nil {
						l.sum.EvidenceWithdrawn++
					}
					return err
				})
				var right []attachment
				for j := range it.docs {
					right = append(right, attachment{code, l.sharedDoc(rng, u, it.node, day, j)})
				}
				l.attachStep(next(), p, right)
			}
		}
	}
	submit := func(ctx context.Context) error {
		return l.assess(ctx, unit, u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
			return a.DecideSubmit(x)
		})
	}
	submitAt := at(submitDay, 9+rng.IntN(7), rng.IntN(60))
	if p.straggler {
		submitAt = at(submitDay, 16, 0)
	}
	l.add(submitAt, phaseSelf, u.Code+" submits its self-assessment", submit)
	if it := p.reopen; it != nil {
		reopenDay := nextWorkday(nextWorkday(submitDay))
		reason := fmt.Sprintf("%s đề nghị điều chỉnh điểm tự đánh giá tiêu chí %s do nhầm lẫn khi tổng hợp số liệu; Sở Nội vụ đồng ý mở lại bản tự đánh giá để đơn vị chỉnh sửa.", u.Name, it.node.Code)
		l.add(at(reopenDay, 9, 30), phaseSelf, "Home Affairs reopens the submission of "+u.Code, func(ctx context.Context) error {
			return l.assess(ctx, HomeAffairs, u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideReopen(x, reason)
			})
		})
		fix := []domain.ItemScore{{Item: it.node.Code, Points: toPoints(it.self), Note: it.selfNote}}
		l.add(at(reopenDay, 14, 10), phaseSelf, u.Code+" corrects a self score", func(ctx context.Context) error {
			return l.assess(ctx, unit, u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideSelfScores(x, fix)
			})
		})
		l.add(at(nextWorkday(reopenDay), 10, 0), phaseSelf, u.Code+" submits its corrected self-assessment", submit)
	}
}

// pendingDoc is an evidence file: a document the calendar needs at use,
// stored in the background ahead of it.
type pendingDoc struct {
	doc  document
	note string
	use  time.Time // the first step that cites it

	done chan struct{} // closed once stored or failed
	ev   domain.Evidence
	err  error
}

// attachment is a file for an item.
type attachment struct {
	item string
	file *pendingDoc
}

// usedAt records that a step at t cites the file.
func (pd *pendingDoc) usedAt(t time.Time) {
	if pd.use.IsZero() || t.Before(pd.use) {
		pd.use = t
	}
}

// evidence waits until the file is stored and describes it.
func (pd *pendingDoc) evidence(ctx context.Context) (domain.Evidence, error) {
	select {
	case <-pd.done:
		return pd.ev, pd.err
	case <-ctx.Done():
		return domain.Evidence{}, ctx.Err()
	}
}

// newDoc drafts a unit's document for an item and queues its file.
func (l *loader) newDoc(rng *rand.Rand, u domain.Unit, item *domain.Node, before time.Time, note string) *pendingDoc {
	d, _ := newDocument(rng, u, item, before)
	d.Ref = fmt.Sprintf("%s-%s-%04d", u.Code, item.Code, len(l.docs)+1)
	pd := &pendingDoc{doc: d, note: note}
	l.docs = append(l.docs, pd)
	return pd
}

// sharedDoc returns the k-th document a unit attaches to an item. Units
// cite one document for every item it proves (the year's plan for
// cải cách hành chính proves several items), so a document whose kind and
// subject come from a docRule is drafted once per unit and reused.
func (l *loader) sharedDoc(rng *rand.Rand, u domain.Unit, item *domain.Node, before time.Time, k int) *pendingDoc {
	d, kind := newDocument(rng, u, item, before)
	if kind == "" {
		d.Ref = fmt.Sprintf("%s-%s-%04d", u.Code, item.Code, len(l.docs)+1)
		pd := &pendingDoc{doc: d}
		l.docs = append(l.docs, pd)
		return pd
	}
	key := fmt.Sprintf("%s|%s|%d", u.Code, kind, k)
	if pd, ok := l.shared[key]; ok {
		return pd
	}
	d.Ref = fmt.Sprintf("%s-%s-%04d", u.Code, item.Code, len(l.docs)+1)
	pd := &pendingDoc{doc: d}
	l.docs = append(l.docs, pd)
	l.shared[key] = pd
	return pd
}

// storeDocuments starts writing the queued files to the blob store in
// the background, several at a time and in the order the calendar needs
// them: files carry no time, so they can go in ahead of the steps that
// cite them, and concurrent writes share the disk's flushes. stop ends
// the writers and waits for them; it returns the number of files stored.
func (l *loader) storeDocuments(ctx context.Context) (stop func() int) {
	slices.SortStableFunc(l.docs, func(a, b *pendingDoc) int { return a.use.Compare(b.use) })
	for _, pd := range l.docs {
		pd.done = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(ctx)
	queue := make(chan *pendingDoc)
	var wg sync.WaitGroup
	var stored atomic.Int64
	wg.Go(func() {
		defer close(queue)
		for _, pd := range l.docs {
			select {
			case queue <- pd:
			case <-ctx.Done():
				return
			}
		}
	})
	for range storeWorkers {
		wg.Go(func() {
			for pd := range queue {
				b, err := l.blobs.Put(ctx, bytes.NewReader(pd.doc.pdf(pd.note)))
				if err != nil {
					pd.err = fmt.Errorf("store evidence %s: %w", pd.doc.Ref, err)
				} else {
					pd.ev = domain.Evidence{SHA256: b.Hash.String(), Size: b.Size, MediaType: "application/pdf", DocumentNumber: pd.doc.Number, Title: pd.doc.Title()}
					stored.Add(1)
				}
				close(pd.done)
			}
		})
	}
	return func() int {
		cancel()
		wg.Wait()
		return int(stored.Load())
	}
}

// storeWorkers is the number of files written at once.
const storeWorkers = 8

// attachStep schedules one request attaching files to a unit's items.
func (l *loader) attachStep(t time.Time, p *unitPlan, files []attachment) {
	if len(files) == 0 {
		return
	}
	code := p.unit.Code
	for _, f := range files {
		f.file.usedAt(t)
	}
	l.add(t, phaseSelf, fmt.Sprintf("%s attaches %d evidence files", code, len(files)), func(ctx context.Context) error {
		evs := make([]domain.Evidence, len(files))
		for i, f := range files {
			ev, err := f.file.evidence(ctx)
			if err != nil {
				return err
			}
			evs[i] = ev
		}
		err := l.assess(ctx, UnitPrincipal(code), code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
			var out []domain.Decision
			for i, f := range files {
				ds, err := a.DecideAttachEvidence(x, f.item, evs[i])
				if err != nil {
					return nil, err
				}
				out = append(out, ds...)
			}
			return out, nil
		})
		if err == nil {
			l.sum.EvidenceAttached += len(files)
		}
		return err
	})
}

// scheduleAppraisal lays out the appraisal of a unit: each agency scores
// its items in one request between 1/11 and 10/11; round 2 follows on
// 13-14/11 where planned.
func (l *loader) scheduleAppraisal(p *unitPlan) {
	rng, u := p.rng, p.unit
	byAgency := map[string][]domain.ItemScore{}
	round2 := map[string][]domain.ItemScore{}
	var agencies []string
	for _, it := range p.items {
		if !it.appraised() {
			continue
		}
		if _, ok := byAgency[it.agency]; !ok {
			agencies = append(agencies, it.agency)
		}
		byAgency[it.agency] = append(byAgency[it.agency], domain.ItemScore{Item: it.node.Code, Points: toPoints(it.round1), Note: it.note1, Reason: it.reason1})
		if it.hasRound2 {
			round2[it.agency] = append(round2[it.agency], domain.ItemScore{Item: it.node.Code, Points: toPoints(it.round2), Reason: round2Reason})
		}
	}
	days := workdays(hanoiDate(2017, time.November, 1), hanoiDate(2017, time.November, 10))
	for _, agency := range agencies {
		scores := byAgency[agency]
		t := at(days[rng.IntN(len(days))], 8+rng.IntN(8), rng.IntN(60))
		l.add(t, phaseAppraisal, agency+" appraises "+u.Code, func(ctx context.Context) error {
			return l.assess(ctx, AppraiserPrincipal(agency), u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideAppraisals(x, 1, scores, "")
			})
		})
		if r2 := round2[agency]; len(r2) > 0 {
			t := at(hanoiDate(2017, time.November, 13+rng.IntN(2)), 9+rng.IntN(7), rng.IntN(60))
			l.add(t, phaseAppraisal, agency+" appraises "+u.Code+" in round 2", func(ctx context.Context) error {
				return l.assess(ctx, AppraiserPrincipal(agency), u.Code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
					return a.DecideAppraisals(x, 2, r2, "")
				})
			})
		}
	}
}

// scheduleSurveyAndAdjustments lays out the survey import on 27/11 and
// Home Affairs' bonus and penalty points on 29/11.
func (l *loader) scheduleSurveyAndAdjustments() {
	t := at(hanoiDate(2017, time.November, 27), 9, 0)
	for _, p := range l.plans {
		var scores []domain.ItemScore
		for _, it := range p.items {
			if it.method() == domain.MethodSurvey {
				scores = append(scores, domain.ItemScore{Item: it.node.Code, Points: toPoints(it.survey)})
			}
		}
		code := p.unit.Code
		l.add(t, phaseSurvey, "the institute imports the survey scores of "+code, func(ctx context.Context) error {
			return l.assess(ctx, Institute, code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideSurveyScores(x, scores, surveyBatch)
			})
		})
		t = t.Add(3 * time.Minute)
	}
	t = at(hanoiDate(2017, time.November, 29), 14, 0)
	for _, p := range l.plans {
		var scores []domain.ItemScore
		for _, it := range p.items {
			if it.adjustReason != "" {
				scores = append(scores, domain.ItemScore{Item: it.node.Code, Points: toPoints(it.adjust), Reason: it.adjustReason})
			}
		}
		if len(scores) == 0 {
			continue
		}
		code := p.unit.Code
		l.add(t, phaseSurvey, "Home Affairs records bonus and penalty points of "+code, func(ctx context.Context) error {
			return l.assess(ctx, HomeAffairs, code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideBonusPenalty(x, scores, "")
			})
		})
		t = t.Add(10 * time.Minute)
	}
}

// scheduleExplanations lays out the explanation round: Home Affairs opens
// it on 1/12 until 10/12, units raise their explanations on 4-8/12, and
// the council decides them on 20/12.
func (l *loader) scheduleExplanations() {
	l.add(at(hanoiDate(2017, time.December, 1), 8, 0), phaseExplanation, "Home Affairs opens the explanation round", func(ctx context.Context) error {
		return l.record(l.svc.OpenExplanationWindow(ctx, req(HomeAffairs), CampaignID, domain.MustDate("2017-12-10")))
	})
	days := workdays(hanoiDate(2017, time.December, 4), hanoiDate(2017, time.December, 8))
	council := at(hanoiDate(2017, time.December, 20), 14, 0)
	for _, p := range l.plans {
		if len(p.explanations) == 0 {
			continue
		}
		u := p.unit
		t := at(days[p.rng.IntN(len(days))], 9+p.rng.IntN(6), p.rng.IntN(60))
		for _, x := range p.explanations {
			var doc *pendingDoc
			if x.newEvidence {
				doc = l.newDoc(p.rng, u, x.item.node, hanoiDate(2017, time.October, 1), "Tài liệu bổ sung kèm đề nghị giải trình")
				doc.usedAt(t)
			}
			code := x.item.node.Code
			l.add(t, phaseExplanation, u.Code+" raises an explanation on "+code, func(ctx context.Context) error {
				cmd := domain.RaiseExplanation{Item: code, Claimed: toPoints(x.claimed), Argument: x.argument}
				if doc != nil {
					ev, err := doc.evidence(ctx)
					if err != nil {
						return err
					}
					cmd.Evidence = []domain.Evidence{ev}
				}
				err := l.assess(ctx, UnitPrincipal(u.Code), u.Code, func(a *domain.Assessment, xc domain.Context) ([]domain.Decision, error) {
					return a.DecideRaiseExplanation(xc, cmd)
				})
				if err == nil {
					l.sum.Explanations++
				}
				return err
			})
			t = t.Add(25 * time.Minute)
			l.add(council, phaseExplanation, "the council decides the explanation of "+u.Code+" on "+code, func(ctx context.Context) error {
				cmd := domain.ResolveExplanation{Accepted: x.outcome != rejected, DecisionRef: councilRef, Reason: x.resolution}
				if cmd.Accepted {
					final := toPoints(x.final)
					cmd.FinalPoints = &final
				}
				err := l.assess(ctx, Council, u.Code, func(a *domain.Assessment, xc domain.Context) ([]domain.Decision, error) {
					for _, e := range a.Explanations {
						if e.Item == code && !e.Resolved {
							return a.DecideResolveExplanation(xc, e.ID, cmd)
						}
					}
					return nil, domain.Errorf(domain.ENOTFOUND, "%s has no open explanation on %s.", u.Code, code)
				})
				switch {
				case err != nil:
				case cmd.Accepted:
					l.sum.Accepted++
				default:
					l.sum.Rejected++
				}
				return err
			})
			council = council.Add(10 * time.Minute)
		}
	}
}

// scheduleFinalization lays out Home Affairs finalizing every assessment
// over 22-28/12, and the publication on 26/1/2018.
func (l *loader) scheduleFinalization() {
	days := workdays(hanoiDate(2017, time.December, 22), hanoiDate(2017, time.December, 28))
	perDay := (len(l.plans) + len(days) - 1) / len(days)
	for i, p := range l.plans {
		code := p.unit.Code
		t := at(days[i/perDay], 8, 30).Add(time.Duration(i%perDay) * 20 * time.Minute)
		l.add(t, phaseFinalize, "Home Affairs finalizes the assessment of "+code, func(ctx context.Context) error {
			return l.assess(ctx, HomeAffairs, code, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
				return a.DecideFinalize(x)
			})
		})
	}
	date := domain.MustDate(decisionDate)
	l.add(at(date.Time, 15, 0), phasePublish, "publish the results", func(ctx context.Context) error {
		return l.record(l.svc.Publish(ctx, req(HomeAffairs), CampaignID, decisionNumber, date))
	})
}

// summarize ranks the units from the ledger's final state.
func (l *loader) summarize(ctx context.Context) error {
	c, err := l.svc.Campaign(ctx, CampaignID)
	if err != nil {
		return err
	}
	rows := map[domain.Block][]domain.Standing{}
	for _, code := range c.UnitOrder {
		u := c.Units[code]
		a, err := l.svc.Assessment(ctx, CampaignID, code)
		if err != nil {
			return err
		}
		sc := domain.ComputeScore(c.Frameworks[u.Block], a, c.Settings.Rounding)
		rows[u.Block] = append(rows[u.Block], domain.Standing{Unit: u, Score: sc, Status: a.Status()})
	}
	for _, b := range []domain.Block{domain.BlockDepartments, domain.BlockDistricts} {
		standings := rows[b]
		if len(standings) == 0 {
			continue
		}
		domain.RankBlock(standings, c.Settings)
		bs := BlockSummary{Block: b, Units: len(standings)}
		results := make([]Result, len(standings))
		for i, s := range standings {
			results[i] = Result{Unit: s.Unit, Final: s.Score.Final, Index: s.Score.Index, Rank: s.Rank, Grade: s.Grade}
		}
		for i := 0; i < len(results); {
			j := i + 1
			for j < len(results) && results[j].Rank == results[i].Rank {
				j++
			}
			if j-i > 1 {
				bs.Ties = append(bs.Ties, results[i:j:j])
			}
			i = j
		}
		bs.Top, bs.Bottom = results[0], results[len(results)-1]
		l.sum.Results = append(l.sum.Results, results...)
		l.sum.Blocks = append(l.sum.Blocks, bs)
	}
	return nil
}
