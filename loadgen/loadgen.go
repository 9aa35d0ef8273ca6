// Package loadgen builds synthetic national-scale PAR campaigns for
// benchmarks: many district-level units, the illustrative framework's 108
// items each, and about five events per item the way a campaign produces
// them: self scores and their revisions, several evidence documents per
// item (one now and then withdrawn), the submission, appraisals in one or
// two rounds with reasons, survey scores and their corrections, bonus and
// penalty points, a few explanations decided by the council, and the
// finalization. Traffic is interleaved across units, phase by phase, as
// when thousands of units work at once.
//
// Each unit's events depend only on the seed and the unit, not on the
// order they are produced in, so a campaign can be written by one
// importer (Import) or by many concurrent writers each taking a share of
// the units (Append) and holds the same events either way.
package loadgen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// Config describes a synthetic campaign.
type Config struct {
	// Campaign is the campaign id; Units the number of district-level
	// units (block huyen).
	Campaign string
	Units    int
	// Seed makes the campaign reproducible.
	Seed uint64
	// Start is the recorded time of the first event; events follow every
	// Step (Import only: appended events carry the store's time).
	Start time.Time
	Step  time.Duration
	// Evidence is the mean number of documents attached to a self-scored
	// item (Evidence-1 to Evidence+1 each); Revisions the mean number of
	// times a unit revises an item's self score (0 to 2×Revisions).
	Evidence, Revisions int
	// Round2 is the share of appraised items appraised again in round 2,
	// in percent.
	Round2 int
}

// DefaultConfig is a campaign of n units starting on 25/9/2017: about
// 510 events per unit (4.7 per item), so 10,000 units make some
// 5,100,000 events.
func DefaultConfig(n int) Config {
	return Config{Campaign: "quoc-gia", Units: n, Seed: 2017, Start: time.Date(2017, 9, 25, 8, 0, 0, 0, domain.Hanoi), Step: time.Second,
		Evidence: 3, Revisions: 1, Round2: 40}
}

// EventsPerUnit is about how many events DefaultConfig makes per unit.
const EventsPerUnit = 510

// Event is a generated event before a store records it: the stream it
// goes to and what a writer proposes.
type Event struct {
	Stream string
	// Unit is the index of the unit whose assessment it belongs to; -1
	// for the campaign's own events, which come first.
	Unit int
	Data eventstore.EventData
}

// Shard selects the units whose events a generation yields: those whose
// index modulo Of is Index. The zero Shard selects every unit and the
// campaign's own events; any other selects assessment events only.
type Shard struct{ Index, Of int }

func (s Shard) has(unit int) bool {
	if s.Of <= 1 {
		return true
	}
	return unit >= 0 && unit%s.Of == s.Index
}

var (
	homeAffairs = domain.Principal{ID: "bo-noi-vu-vu-cchc", Role: domain.RoleHomeAffairs}
	institute   = domain.Principal{ID: "vien-dieu-tra-xa-hoi-hoc", Role: domain.RoleInstitute}
	council     = domain.Principal{ID: "hoi-dong-tham-dinh", Role: domain.RoleCouncil}
)

// Texts of the kind units and appraisers write.
var (
	selfNotes = []string{
		"Tự chấm theo kết quả thực hiện",
		"Đã ban hành kế hoạch đúng thời hạn, có tài liệu kiểm chứng kèm theo",
		"Hoàn thành 100% nhiệm vụ theo kế hoạch năm",
		"Đã triển khai nhưng chưa đạt chỉ tiêu đề ra; có báo cáo giải trình",
		"Tổ chức kiểm tra tại các phòng, ban chuyên môn và UBND cấp xã",
	}
	revisionNotes = []string{
		"Điều chỉnh sau rà soát",
		"Điều chỉnh theo hướng dẫn của Sở Nội vụ",
		"Bổ sung tài liệu kiểm chứng, chấm lại",
	}
	evidenceTitles = []string{
		"Kế hoạch cải cách hành chính năm 2017",
		"Báo cáo kết quả thực hiện công tác cải cách hành chính quý III",
		"Quyết định ban hành quy chế làm việc",
		"Kế hoạch kiểm tra công tác cải cách hành chính",
		"Báo cáo tự đánh giá, chấm điểm Chỉ số CCHC",
		"Danh mục thủ tục hành chính thuộc thẩm quyền giải quyết",
	}
	evidenceKinds  = []string{"KH-UBND", "BC-UBND", "QĐ-UBND", "TB-UBND"}
	appraisalNotes = []string{
		"Đối chiếu tài liệu kiểm chứng",
		"Tài liệu kiểm chứng chưa đầy đủ, trừ điểm",
		"Văn bản ban hành chậm so với kế hoạch",
		"Đạt yêu cầu",
	}
	round2Reasons = []string{
		"Thẩm định lại sau khi đơn vị bổ sung tài liệu",
		"Hội đồng thẩm định thống nhất điều chỉnh",
	}
)

// gen produces one unit's events (or the campaign's), deterministically.
type gen struct {
	cfg    Config
	f      *domain.Framework
	leaves []*domain.Node
	pcg    *rand.PCG
	rng    *rand.Rand
}

// at seeds the generator for one step of one unit, so that the step's
// random choices depend on nothing else.
func (g *gen) at(unit, phase, item int) *rand.Rand {
	g.pcg.Seed(g.cfg.Seed^uint64(unit+1)*0x9E3779B97F4A7C15, uint64(phase)<<32|uint64(item))
	return g.rng
}

func code(unit int) string { return fmt.Sprintf("U%05d", unit+1) }

func unitPrincipal(unit int) domain.Principal {
	c := code(unit)
	return domain.Principal{ID: "to-cong-tac-" + c, Role: domain.RoleUnit, Scope: c}
}

// points returns a score of leaf n near frac of its maximum: one of its
// levels, or quarter points.
func points(rng *rand.Rand, n *domain.Node, frac float64) decimal.Decimal {
	if len(n.Levels) > 0 {
		return n.Levels[rng.IntN(len(n.Levels))].Points
	}
	q := n.MaxPoints.Mul(decimal.NewFromInt(4)).IntPart()
	return decimal.NewFromInt(int64(frac * float64(q))).Div(decimal.NewFromInt(4))
}

// evidence returns document d of a unit's item: the same every time it
// is asked for, so that a withdrawal names a document really attached.
func evidence(rng *rand.Rand, unit int, item string, d int) domain.Evidence {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%s/%d", unit, item, d))
	return domain.Evidence{SHA256: hex.EncodeToString(sum[:]), Size: int64(20_000 + rng.IntN(2_000_000)), MediaType: "application/pdf",
		DocumentNumber: fmt.Sprintf("%d/%s", 1+rng.IntN(400), evidenceKinds[rng.IntN(len(evidenceKinds))]),
		Title:          evidenceTitles[rng.IntN(len(evidenceTitles))]}
}

func pick(rng *rand.Rand, s []string) string { return s[rng.IntN(len(s))] }

// Generate yields the campaign's events in ledger order, or those of one
// shard of its units. An error ends it.
func Generate(cfg Config, shard Shard) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		fws, err := demo.Frameworks()
		if err != nil {
			yield(Event{}, err)
			return
		}
		var f *domain.Framework
		for _, fw := range fws {
			if fw.Block == domain.BlockDistricts {
				f = fw
			}
		}
		pcg := rand.NewPCG(0, 0)
		g := &gen{cfg: cfg, f: f, leaves: f.Leaves(), pcg: pcg, rng: rand.New(pcg)}
		emit := func(unit int, stream string, actor domain.Principal, reason string, e domain.Event) bool {
			payload, err := domain.EncodeEvent(e)
			if err != nil {
				yield(Event{}, err)
				return false
			}
			return yield(Event{Stream: stream, Unit: unit, Data: eventstore.EventData{
				ID: eventstore.NewID(), Type: e.EventType(), SchemaVersion: domain.SchemaVersionOf(e.EventType()),
				Actor:   eventstore.Actor{ID: actor.ID, Role: string(actor.Role), Scope: actor.Scope},
				Reason:  reason,
				Payload: payload,
			}}, nil)
		}
		cs := domain.CampaignStream(cfg.Campaign)
		if shard.Of <= 1 {
			if !emit(-1, domain.FrameworkStream(f.ID), homeAffairs, "", &domain.FrameworkRegistered{Framework: f}) ||
				!emit(-1, cs, homeAffairs, "", &domain.CampaignOpened{ID: cfg.Campaign, Year: 2017, Title: "Chỉ số CCHC toàn quốc (tổng hợp)", Settings: domain.DefaultSettings(),
					Calendar: domain.Calendar{SelfAssessmentDue: domain.MustDate("2017-10-30"), AppraisalDue: domain.MustDate("2017-11-15")}}) ||
				!emit(-1, cs, homeAffairs, "", &domain.FrameworkFrozen{Block: domain.BlockDistricts, Framework: f}) {
				return
			}
			for u := 0; u < cfg.Units; u++ {
				if !emit(-1, cs, homeAffairs, "", &domain.UnitEnrolled{Unit: domain.Unit{Code: code(u), Name: fmt.Sprintf("UBND đơn vị số %d", u+1), Block: domain.BlockDistricts}}) {
					return
				}
			}
		}
		// A phase is one step of every unit's work on every item (or on
		// the assessment as a whole, item -1); the units take turns.
		type phase struct {
			perItem bool
			step    func(u, item int, stream string, rng *rand.Rand) bool
		}
		self := func(n *domain.Node) bool { return n.Method == domain.MethodSelf }
		appraised := func(n *domain.Node) bool {
			return n.Method == domain.MethodSelf || n.Method == domain.MethodHigherLevel
		}
		appraise := func(u, item int, stream string, rng *rand.Rand, round int, reason string) bool {
			n := g.leaves[item]
			agency := f.LeafAgency(n.Code)
			return emit(u, stream, domain.Principal{ID: agency + "-tham-dinh", Role: domain.RoleAppraiser, Scope: agency}, reason,
				&domain.AppraisalRecorded{Item: n.Code, Round: round, Agency: agency, Points: points(rng, n, 0.6+0.4*rng.Float64()), Note: pick(rng, appraisalNotes)})
		}
		phases := []phase{
			{true, func(u, item int, stream string, rng *rand.Rand) bool { // self score
				n := g.leaves[item]
				return !self(n) || emit(u, stream, unitPrincipal(u), "", &domain.SelfScoreRecorded{Item: n.Code, Points: points(rng, n, 0.7+0.3*rng.Float64()), Note: pick(rng, selfNotes)})
			}},
			{true, func(u, item int, stream string, rng *rand.Rand) bool { // evidence
				n := g.leaves[item]
				if !self(n) {
					return true
				}
				docs := max(cfg.Evidence-1+rng.IntN(3), 0)
				for d := 0; d < docs; d++ {
					if !emit(u, stream, unitPrincipal(u), "", &domain.EvidenceAttached{Item: n.Code, Evidence: evidence(rng, u, n.Code, d)}) {
						return false
					}
				}
				return true
			}},
			{true, func(u, item int, stream string, rng *rand.Rand) bool { // revisions, a withdrawn document
				n := g.leaves[item]
				if !self(n) {
					return true
				}
				for r := rng.IntN(2*cfg.Revisions + 1); r > 0; r-- {
					if !emit(u, stream, unitPrincipal(u), "", &domain.SelfScoreRecorded{Item: n.Code, Points: points(rng, n, 0.8+0.2*rng.Float64()), Note: pick(rng, revisionNotes)}) {
						return false
					}
				}
				if cfg.Evidence > 1 && rng.IntN(10) == 0 {
					return emit(u, stream, unitPrincipal(u), "Tài liệu đính kèm nhầm", &domain.EvidenceWithdrawn{Item: n.Code, SHA256: evidence(rng, u, n.Code, 0).SHA256})
				}
				return true
			}},
			{false, func(u, _ int, stream string, rng *rand.Rand) bool { // submission
				return emit(u, stream, unitPrincipal(u), "", &domain.SelfAssessmentSubmitted{Items: 71})
			}},
			{true, func(u, item int, stream string, rng *rand.Rand) bool { // round 1, survey
				n := g.leaves[item]
				switch {
				case appraised(n):
					return appraise(u, item, stream, rng, 1, "Đối chiếu tài liệu kiểm chứng")
				case n.Method == domain.MethodSurvey:
					return emit(u, stream, institute, "", &domain.SurveyScoreRecorded{Item: n.Code, Points: points(rng, n, 0.5+0.5*rng.Float64()), Batch: "ĐTXHH 2017", Respondents: 300 + rng.IntN(900)})
				}
				return true
			}},
			{true, func(u, item int, stream string, rng *rand.Rand) bool { // round 2, survey corrections, bonus and penalty
				n := g.leaves[item]
				switch {
				case appraised(n):
					return rng.IntN(100) >= cfg.Round2 || appraise(u, item, stream, rng, 2, pick(rng, round2Reasons))
				case n.Method == domain.MethodSurvey:
					return rng.IntN(4) != 0 || emit(u, stream, institute, "Cập nhật theo số phiếu hợp lệ", &domain.SurveyScoreRecorded{Item: n.Code, Points: points(rng, n, 0.5+0.5*rng.Float64()), Batch: "ĐTXHH 2017 (bổ sung)", Respondents: 300 + rng.IntN(900)})
				default: // bonus, penalty
					return rng.IntN(2) == 0 || emit(u, stream, homeAffairs, "Theo kết quả kiểm tra", &domain.BonusPenaltyRecorded{Item: n.Code, Points: points(rng, n, rng.Float64())})
				}
			}},
			{false, func(u, _ int, stream string, rng *rand.Rand) bool { // explanations, finalization
				if rng.IntN(10) == 0 {
					for x := 1 + rng.IntN(3); x > 0; x-- {
						n := g.leaves[rng.IntN(len(g.leaves))]
						if !appraised(n) {
							continue
						}
						id := fmt.Sprintf("GT-%s-%s", code(u), n.Code)
						claimed := points(rng, n, 1)
						if !emit(u, stream, unitPrincipal(u), "", &domain.ExplanationRaised{ID: id, Item: n.Code, Claimed: claimed, Argument: "Đơn vị đã thực hiện đầy đủ, đề nghị xem xét lại", Evidence: []domain.Evidence{evidence(rng, u, n.Code, 9)}}) {
							return false
						}
						res := &domain.ExplanationResolved{ID: id, Item: n.Code, Accepted: rng.IntN(2) == 0, DecisionRef: "Biên bản họp Hội đồng số 12/BB-HĐ"}
						if res.Accepted {
							res.FinalPoints = &claimed
						}
						if !emit(u, stream, council, "Hội đồng thẩm định xem xét giải trình", res) {
							return false
						}
					}
				}
				return emit(u, stream, homeAffairs, "", &domain.AssessmentFinalized{})
			}},
		}
		for p, ph := range phases {
			items := 1
			if ph.perItem {
				items = len(g.leaves)
			}
			for item := 0; item < items; item++ {
				for u := 0; u < cfg.Units; u++ {
					if !shard.has(u) {
						continue
					}
					if !ph.step(u, item, domain.AssessmentStream(cfg.Campaign, code(u)), g.at(u, p, item)) {
						return
					}
				}
			}
		}
	}
}

// Events yields the whole campaign in ledger order as recorded events:
// gapless revisions, recorded times from Start every Step, content hashes.
func Events(cfg Config) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		next := map[string]uint64{}
		at := cfg.Start
		for e, err := range Generate(cfg, Shard{}) {
			if err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			at = at.Add(cfg.Step)
			ev := eventstore.Event{EventData: e.Data, Stream: e.Stream, Revision: next[e.Stream], RecordedAt: at.UTC()}
			next[e.Stream]++
			ev.ContentHash = ev.ComputeHash()
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Import writes the campaign into store with Import, in batches, calling
// progress after each batch with the events written so far. It is the
// fast way to build a large ledger; its events carry the synthetic
// recorded times.
func Import(ctx context.Context, store eventstore.Store, cfg Config, progress func(n int)) (int, error) {
	batch := make([]eventstore.Event, 0, 1000)
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := store.Import(ctx, batch); err != nil {
			return fmt.Errorf("import after %d events: %w", n, err)
		}
		n += len(batch)
		batch = batch[:0]
		if progress != nil {
			progress(n)
		}
		return nil
	}
	for e, err := range Events(cfg) {
		if err != nil {
			return n, err
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}
