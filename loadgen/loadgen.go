// Package loadgen builds synthetic national-scale PAR campaigns for
// benchmarks: many units, the illustrative framework's hundred items each,
// about five events per item (self scores and their revisions, evidence,
// appraisals in one or two rounds, survey scores), with realistic payloads
// and recorded times, interleaved across units the way a campaign's
// traffic is.
package loadgen

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
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
	// Seed makes the scores reproducible.
	Seed uint64
	// Start is the recorded time of the first event; events follow every
	// Step.
	Start time.Time
	Step  time.Duration
}

// DefaultConfig is a campaign of n units starting on 25/9/2017.
func DefaultConfig(n int) Config {
	return Config{Campaign: "quoc-gia", Units: n, Seed: 2017, Start: time.Date(2017, 9, 25, 8, 0, 0, 0, domain.Hanoi), Step: 5 * time.Millisecond}
}

// gen keeps the state of a generation: each stream's next revision and
// the clock.
type gen struct {
	cfg  Config
	rng  *rand.Rand
	next map[string]uint64
	at   time.Time
}

func (g *gen) event(stream string, actor domain.Principal, reason string, e domain.Event) (eventstore.Event, error) {
	payload, err := domain.EncodeEvent(e)
	if err != nil {
		return eventstore.Event{}, err
	}
	g.at = g.at.Add(g.cfg.Step)
	ev := eventstore.Event{
		EventData: eventstore.EventData{
			ID: uuid.New(), Type: e.EventType(), SchemaVersion: domain.SchemaVersionOf(e.EventType()),
			Actor:   eventstore.Actor{ID: actor.ID, Role: string(actor.Role), Scope: actor.Scope},
			Reason:  reason,
			Payload: payload,
		},
		Stream: stream, Revision: g.next[stream], RecordedAt: g.at.UTC(),
	}
	g.next[stream]++
	ev.ContentHash = ev.ComputeHash()
	return ev, nil
}

// Events yields the campaign's events in ledger order. An error ends it.
func Events(cfg Config) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		fws, err := demo.Frameworks()
		if err != nil {
			yield(eventstore.Event{}, err)
			return
		}
		var f *domain.Framework
		for _, fw := range fws {
			if fw.Block == domain.BlockDistricts {
				f = fw
			}
		}
		g := &gen{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 1)), next: map[string]uint64{}, at: cfg.Start}
		ha := domain.Principal{ID: "bo-noi-vu-vu-cchc", Role: domain.RoleHomeAffairs}
		emit := func(stream string, actor domain.Principal, reason string, e domain.Event) bool {
			ev, err := g.event(stream, actor, reason, e)
			if err != nil {
				yield(eventstore.Event{}, err)
				return false
			}
			return yield(ev, nil)
		}
		cs := domain.CampaignStream(cfg.Campaign)
		if !emit(domain.FrameworkStream(f.ID), ha, "", &domain.FrameworkRegistered{Framework: f}) ||
			!emit(cs, ha, "", &domain.CampaignOpened{ID: cfg.Campaign, Year: 2017, Title: "Chỉ số CCHC toàn quốc (tổng hợp)", Settings: domain.DefaultSettings(),
				Calendar: domain.Calendar{SelfAssessmentDue: domain.MustDate("2017-10-30"), AppraisalDue: domain.MustDate("2017-11-15")}}) ||
			!emit(cs, ha, "", &domain.FrameworkFrozen{Block: domain.BlockDistricts, Framework: f}) {
			return
		}
		codes := make([]string, cfg.Units)
		for i := range codes {
			codes[i] = fmt.Sprintf("U%05d", i+1)
			if !emit(cs, ha, "", &domain.UnitEnrolled{Unit: domain.Unit{Code: codes[i], Name: fmt.Sprintf("UBND đơn vị số %d", i+1), Block: domain.BlockDistricts}}) {
				return
			}
		}
		leaves := f.Leaves()
		levelOf := func(n *domain.Node, frac float64) decimal.Decimal {
			if len(n.Levels) > 0 {
				return n.Levels[g.rng.IntN(len(n.Levels))].Points
			}
			// Quarter points within 0..max.
			q := n.MaxPoints.Mul(decimal.NewFromInt(4)).IntPart()
			return decimal.NewFromInt(int64(frac * float64(q))).Div(decimal.NewFromInt(4))
		}
		unit := func(code string) domain.Principal {
			return domain.Principal{ID: "to-cong-tac-" + code, Role: domain.RoleUnit, Scope: code}
		}
		// Phase by phase, item by item, every unit in turn: the traffic
		// of many units working at once.
		type step func(code string, n *domain.Node) bool
		phases := []step{
			func(code string, n *domain.Node) bool { // self score
				if n.Method != domain.MethodSelf {
					return true
				}
				return emit(domain.AssessmentStream(cfg.Campaign, code), unit(code), "", &domain.SelfScoreRecorded{Item: n.Code, Points: levelOf(n, 0.7+0.3*g.rng.Float64()), Note: "Tự chấm theo kết quả thực hiện"})
			},
			func(code string, n *domain.Node) bool { // evidence, two documents
				if n.Method != domain.MethodSelf {
					return true
				}
				for d := 0; d < 2; d++ {
					var sha [32]byte
					for i := range sha {
						sha[i] = byte(g.rng.IntN(256))
					}
					ev := domain.Evidence{SHA256: fmt.Sprintf("%x", sha), Size: int64(20_000 + g.rng.IntN(500_000)), MediaType: "application/pdf",
						DocumentNumber: fmt.Sprintf("%d/KH-UBND", 1+g.rng.IntN(400)), Title: "Kế hoạch cải cách hành chính năm 2017"}
					if !emit(domain.AssessmentStream(cfg.Campaign, code), unit(code), "", &domain.EvidenceAttached{Item: n.Code, Evidence: ev}) {
						return false
					}
				}
				return true
			},
			func(code string, n *domain.Node) bool { // revised self score
				if n.Method != domain.MethodSelf {
					return true
				}
				return emit(domain.AssessmentStream(cfg.Campaign, code), unit(code), "", &domain.SelfScoreRecorded{Item: n.Code, Points: levelOf(n, 0.8+0.2*g.rng.Float64()), Note: "Điều chỉnh sau rà soát"})
			},
			func(code string, n *domain.Node) bool { // appraisal, survey
				stream := domain.AssessmentStream(cfg.Campaign, code)
				switch n.Method {
				case domain.MethodSelf, domain.MethodHigherLevel:
					agency := f.LeafAgency(n.Code)
					return emit(stream, domain.Principal{ID: agency + "-tham-dinh", Role: domain.RoleAppraiser, Scope: agency}, "Đối chiếu tài liệu kiểm chứng",
						&domain.AppraisalRecorded{Item: n.Code, Round: 1, Agency: agency, Points: levelOf(n, 0.6+0.4*g.rng.Float64())})
				case domain.MethodSurvey:
					return emit(stream, domain.Principal{ID: "vien-dieu-tra", Role: domain.RoleInstitute}, "",
						&domain.SurveyScoreRecorded{Item: n.Code, Points: levelOf(n, 0.5+0.5*g.rng.Float64()), Batch: "ĐTXHH 2017", Respondents: 300 + g.rng.IntN(900)})
				}
				return true
			},
		}
		for _, phase := range phases {
			for _, n := range leaves {
				for _, code := range codes {
					if !phase(code, n) {
						return
					}
				}
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
