package demo

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
)

// The demo decides every score before it plays the calendar: each unit
// gets a target index, then final points per item that add up to it
// exactly, and then the story that leads there (self scores, appraisals
// that lower or raise them, explanations the council accepts or rejects).
// Points are planned in hundredths, as int64, so the arithmetic is exact.

// toCents returns points in hundredths; frameworks allow at most two
// decimal places.
func toCents(d decimal.Decimal) int64 { return d.Shift(2).Round(0).IntPart() }

// toPoints returns hundredths as points.
func toPoints(c int64) decimal.Decimal { return decimal.New(c, -2) }

// Targets that echo published figures (domain.md): Sở Tài chính highest
// and Sở Tài nguyên và Môi trường lowest of the departments (2020), Sở Nội
// vụ (2019), Cầu Giấy highest of the districts and Quốc Oai (2020).
var anchorTargets = map[string]int64{
	"STC":   9276,
	"STNMT": 7627,
	"SNV":   8693,
	"005":   9422,
	"275":   8386,
}

// tiedUnits share a target, so that they share a rank, as Nam Từ Liêm and
// Hoàn Kiếm did in 2023.
var tiedUnits, tiedTarget = []string{"002", "019"}, int64(9218)

// Ranges of the other units' targets, in hundredths: inside the anchors,
// so that the anchors stay the top and bottom of their blocks.
var targetRanges = map[domain.Block][2]int64{
	domain.BlockDepartments: {7800, 9180},
	domain.BlockDistricts:   {8050, 9380},
}

// targets returns every unit's final index in hundredths of a percent
// (the frameworks have 100 points, so it is also the final points).
func targets(units []domain.Unit) map[string]int64 {
	rng := rand.New(rand.NewPCG(20170925, 6677))
	out := make(map[string]int64, len(units))
	for _, u := range units {
		r := targetRanges[u.Block]
		span := int(r[1]-r[0]) + 1
		// The mean of two draws leans towards the middle of the range,
		// as published rankings do.
		out[u.Code] = r[0] + int64(rng.IntN(span)+rng.IntN(span))/2
	}
	for code, t := range anchorTargets {
		out[code] = t
	}
	for _, code := range tiedUnits {
		out[code] = tiedTarget
	}
	return out
}

// The special stories of the campaign and the units they happen to.
var (
	// stragglers submit on 31/10, after Home Affairs extends the deadline.
	stragglers = []string{"BDT", "282"}
	// reopenUnit asks Home Affairs to reopen its submission to fix a score.
	reopenUnit = "018"
	// withdrawUnits attach a wrong file and withdraw it.
	withdrawUnits = []string{"SGTVT", "268"}
	// round2Units have an item appraised twice.
	round2Units = []string{"SCT", "SYT", "017", "279"}
	// explanationStories: the units that contest appraised items, and how
	// the council decides each contest.
	explanationStories = map[string][]outcome{
		"STNMT":   {rejected},
		"SXD":     {accepted},
		"SLDTBXH": {accepted},
		"008":     {accepted, rejected},
		"250":     {rejected},
		"277":     {partial},
	}
	// adjustmentPlans are Home Affairs' bonus and penalty points.
	adjustmentPlans = map[string][]adjustmentPlan{
		"SNV":   {{"9.1.1", 100, "Mô hình tiếp nhận hồ sơ, trả kết quả thủ tục hành chính qua dịch vụ bưu chính công ích được UBND Thành phố công nhận là sáng kiến cải cách hành chính năm 2017"}},
		"005":   {{"9.1.2", 50, "Được UBND Thành phố tặng Bằng khen về thành tích xuất sắc trong công tác cải cách hành chính năm 2017"}},
		"STNMT": {{"9.2.2", 50, "Chậm thực hiện 02 nhiệm vụ cải cách hành chính được UBND Thành phố giao, bị phê bình tại Thông báo số 1135/TB-UBND ngày 12/9/2017"}},
		"250":   {{"9.2.3", 50, "Để xảy ra khiếu kiện đông người, vượt cấp liên quan đến bồi thường, giải phóng mặt bằng trên địa bàn"}},
		"016":   {{"9.2.1", 75, "Có 01 công chức bị kỷ luật khiển trách do vi phạm trong thực thi công vụ"}},
	}
)

// outcome is the council's decision on an explanation.
type outcome int

const (
	accepted outcome = iota // the claimed points are granted
	partial                 // accepted, with fewer points than claimed
	rejected                // the appraised points stand
)

// adjustmentPlan is a bonus or penalty Home Affairs records.
type adjustmentPlan struct {
	item   string
	points int64
	reason string
}

// itemPlan is everything that happens to one leaf of one unit.
type itemPlan struct {
	node   *domain.Node
	agency string
	max    int64
	levels []int64 // ascending; nil when any two-decimal value is allowed

	// final is the item's final points: the council's when it accepts an
	// explanation, else the latest appraisal, survey score or adjustment.
	final int64

	self     int64  // the self score
	selfNote string // the unit's note
	docs     int    // evidence files attached
	session  int    // the self-assessment session that scores it
	// wrongSelf is a score recorded by mistake and corrected after Home
	// Affairs reopens the submission.
	wrongSelf *int64
	// withdraw: a wrong file is attached, then withdrawn and replaced.
	withdraw bool

	round1, round2 int64
	hasRound2      bool
	reason1        string // why round 1 differs from the self score
	note1          string // appraiser's note

	survey int64

	adjust       int64
	adjustReason string

	// story marks items a special story uses, so that no other story
	// picks them.
	story bool
}

// explanationPlan is a unit's contest of an appraised item.
type explanationPlan struct {
	item        *itemPlan
	claimed     int64
	outcome     outcome
	final       int64 // the council's points when accepted
	argument    string
	resolution  string
	newEvidence bool
}

// unitPlan is everything that happens to one unit's assessment.
type unitPlan struct {
	unit         domain.Unit
	fw           *domain.Framework
	target       int64
	rng          *rand.Rand
	items        []*itemPlan
	byCode       map[string]*itemPlan
	sessions     int
	explanations []*explanationPlan
	reopen       *itemPlan
	straggler    bool
}

// below returns the next score under v the item allows.
func (it *itemPlan) below(v int64) (int64, bool) {
	if it.levels != nil {
		for i := len(it.levels) - 1; i >= 0; i-- {
			if it.levels[i] < v {
				return it.levels[i], true
			}
		}
		return 0, false
	}
	if v <= 0 {
		return 0, false
	}
	return max(v-it.step(), 0), true
}

// above returns the next score over v the item allows.
func (it *itemPlan) above(v int64) (int64, bool) {
	if it.levels != nil {
		for _, l := range it.levels {
			if l > v {
				return l, true
			}
		}
		return 0, false
	}
	if v >= it.max {
		return 0, false
	}
	return min(v+it.step(), it.max), true
}

// step is how far apart scores of an item without levels usually are: a
// quarter of the maximum in multiples of 0.25, at least 0.25.
func (it *itemPlan) step() int64 { return max(25, it.max/4/25*25) }

func (it *itemPlan) method() domain.Method { return it.node.Method }

// appraised reports whether an appraiser scores the item.
func (it *itemPlan) appraised() bool {
	return it.method() == domain.MethodSelf || it.method() == domain.MethodHigherLevel
}

// seed derives a unit's random stream from its code, so that each unit's
// plan depends only on its code and target.
func seed(code string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(code))
	return h.Sum64()
}

// planUnit plans a unit's assessment so that its final index is target.
func planUnit(u domain.Unit, fw *domain.Framework, target int64) (*unitPlan, error) {
	rng := rand.New(rand.NewPCG(seed(u.Code), 2017))
	p := &unitPlan{unit: u, fw: fw, target: target, rng: rng, byCode: make(map[string]*itemPlan)}
	p.straggler = slices.Contains(stragglers, u.Code)
	for _, n := range fw.Leaves() {
		it := &itemPlan{node: n, agency: fw.LeafAgency(n.Code), max: toCents(n.MaxPoints)}
		for _, l := range n.Levels {
			it.levels = append(it.levels, toCents(l.Points))
		}
		slices.Sort(it.levels)
		p.items = append(p.items, it)
		p.byCode[n.Code] = it
	}
	if err := p.planFinals(); err != nil {
		return nil, err
	}
	if err := p.planStories(); err != nil {
		return nil, err
	}
	p.planSelf()
	return p, p.check()
}

// planFinals chooses every item's final points so that they add up to the
// target: appraised items near the unit's level, the survey taking up the
// remainder to the hundredth.
func (p *unitPlan) planFinals() error {
	var bonus, penalty, amax, smax int64
	for _, a := range adjustmentPlans[p.unit.Code] {
		it := p.byCode[a.item]
		if it == nil {
			return fmt.Errorf("demo plan: %s has no item %s", p.fw.ID, a.item)
		}
		it.adjust, it.adjustReason, it.final = a.points, a.reason, a.points
		if it.method() == domain.MethodBonus {
			bonus += a.points
		} else {
			penalty += a.points
		}
	}
	var appraised, surveyed []*itemPlan
	for _, it := range p.items {
		switch {
		case it.appraised():
			appraised = append(appraised, it)
			it.final = it.max
			amax += it.max
		case it.method() == domain.MethodSurvey:
			surveyed = append(surveyed, it)
			smax += it.max
		}
	}
	// The survey scores a unit about as well as the appraisal does.
	ratio := min(max(float64(p.target)/10000+p.rng.NormFloat64()*0.02, 0.6), 0.985)
	wantSurvey := int64(math.Round(ratio * float64(smax)))
	deficit := amax - min(p.target-wantSurvey-bonus+penalty, amax)
	lower(p.rng, appraised, &deficit, 50)
	survey := p.target + penalty - bonus
	for _, it := range appraised {
		survey -= it.final
	}
	if survey > smax {
		deficit = survey - smax
		lower(p.rng, appraised, &deficit, math.MaxInt32)
		survey = p.target + penalty - bonus
		for _, it := range appraised {
			survey -= it.final
		}
	}
	if survey < 0 || survey > smax {
		return fmt.Errorf("demo plan: %s cannot reach %s: the survey would need %s of %s points", p.unit.Code, toPoints(p.target), toPoints(survey), toPoints(smax))
	}
	// Share the survey points in proportion to the maxima, with noise,
	// then settle the rounding remainder.
	share := float64(survey) / float64(smax)
	rest := survey
	for _, it := range surveyed {
		v := int64(math.Round(share * float64(it.max) * (1 + p.rng.NormFloat64()*0.05)))
		it.survey = min(max(v, 0), it.max)
		rest -= it.survey
	}
	for _, i := range p.rng.Perm(len(surveyed)) {
		it := surveyed[i]
		d := rest
		if d > 0 {
			d = min(d, it.max-it.survey)
		} else {
			d = max(d, -it.survey)
		}
		it.survey += d
		rest -= d
	}
	for _, it := range surveyed {
		it.final = it.survey
	}
	return nil
}

// lower takes points off random items, one allowed level at a time, until
// deficit is used up, never overshooting it by more than slack.
func lower(rng *rand.Rand, items []*itemPlan, deficit *int64, slack int64) {
	for pass := 0; pass < 10 && *deficit > 0; pass++ {
		moved := false
		for _, i := range rng.Perm(len(items)) {
			if *deficit <= 0 {
				break
			}
			it := items[i]
			lo, ok := it.below(it.final)
			if !ok || it.final-lo > *deficit+slack {
				continue
			}
			*deficit -= it.final - lo
			it.final = lo
			moved = true
		}
		if !moved {
			return
		}
	}
}

// selfItems returns the self-scored items no story has taken that satisfy
// ok, in framework order.
func (p *unitPlan) selfItems(ok func(it *itemPlan) bool) []*itemPlan {
	var out []*itemPlan
	for _, it := range p.items {
		if it.method() == domain.MethodSelf && !it.story && it.levels != nil && ok(it) {
			out = append(out, it)
		}
	}
	return out
}

// take picks one of items at random and marks it taken.
func (p *unitPlan) take(items []*itemPlan, what string) (*itemPlan, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("demo plan: %s has no item fit for %s", p.unit.Code, what)
	}
	it := items[p.rng.IntN(len(items))]
	it.story = true
	return it, nil
}

// planStories sets up the special stories: explanations, round-2
// appraisals, the reopened submission and the withdrawn file.
func (p *unitPlan) planStories() error {
	hasBelow := func(it *itemPlan) bool { _, ok := it.below(it.final); return ok }
	hasAbove := func(it *itemPlan) bool { _, ok := it.above(it.final); return ok }
	for _, o := range explanationStories[p.unit.Code] {
		var it *itemPlan
		var err error
		x := &explanationPlan{outcome: o}
		switch o {
		case accepted:
			// The appraiser lowered a correct self score; the council
			// restores it.
			if it, err = p.take(p.selfItems(hasBelow), "an accepted explanation"); err != nil {
				return err
			}
			it.self = it.final
			it.round1, _ = it.below(it.final)
			x.newEvidence = true
			x.argument = fmt.Sprintf("Đơn vị đã thực hiện đầy đủ nội dung tiêu chí %s đúng thời hạn; văn bản chứng minh được bổ sung kèm theo. Đề nghị Hội đồng thẩm định xem xét công nhận %s điểm như đơn vị tự đánh giá.", it.node.Code, vn(toPoints(it.self)))
			x.resolution = fmt.Sprintf("Tài liệu bổ sung chứng minh đơn vị đã thực hiện đúng yêu cầu của tiêu chí %s; Hội đồng chấp nhận mức điểm %s.", it.node.Code, vn(toPoints(it.final)))
		case partial:
			// The unit over-scored, the appraiser under-scored; the
			// council settles in between.
			if it, err = p.take(p.selfItems(func(it *itemPlan) bool { return hasBelow(it) && hasAbove(it) }), "a partly accepted explanation"); err != nil {
				return err
			}
			it.self, _ = it.above(it.final)
			it.round1, _ = it.below(it.final)
			x.newEvidence = true
			x.argument = fmt.Sprintf("Đơn vị đã hoàn thành nội dung tiêu chí %s; báo cáo kết quả thực hiện được bổ sung kèm theo. Đề nghị Hội đồng thẩm định công nhận %s điểm.", it.node.Code, vn(toPoints(it.self)))
			x.resolution = fmt.Sprintf("Hội đồng chấp nhận một phần: tài liệu bổ sung chứng minh việc thực hiện nhưng chưa đạt mức tối đa của tiêu chí %s; điểm cuối cùng %s.", it.node.Code, vn(toPoints(it.final)))
		case rejected:
			// The appraiser lowered an over-scored item; the council
			// agrees with the appraiser.
			if it, err = p.take(p.selfItems(hasAbove), "a rejected explanation"); err != nil {
				return err
			}
			it.self, _ = it.above(it.final)
			it.round1 = it.final
			x.argument = fmt.Sprintf("Đơn vị đã thực hiện nội dung tiêu chí %s trong năm 2017, nhưng do sơ suất nên tài liệu kiểm chứng gửi kèm chưa đầy đủ. Đề nghị giữ nguyên mức điểm tự đánh giá %s điểm.", it.node.Code, vn(toPoints(it.self)))
			x.resolution = pick(p.rng, []string{
				"Tài liệu bổ sung được ban hành sau thời điểm chốt số liệu đánh giá (30/9/2017); Hội đồng giữ nguyên điểm thẩm định.",
				"Nội dung giải trình không có căn cứ mới so với hồ sơ đã thẩm định; Hội đồng giữ nguyên điểm thẩm định.",
			})
		}
		x.item, x.claimed, x.final = it, it.self, it.final
		it.reason1 = pick(p.rng, lowerReasons)
		p.explanations = append(p.explanations, x)
	}
	if slices.Contains(round2Units, p.unit.Code) {
		// Round 1 lowered the item too far; after the unit sends more
		// documents, round 2 sets it right.
		it, err := p.take(p.selfItems(hasBelow), "a round-2 appraisal")
		if err != nil {
			return err
		}
		it.self = it.final
		if hi, ok := it.above(it.final); ok {
			it.self = hi
		}
		it.round1, _ = it.below(it.final)
		it.round2, it.hasRound2 = it.final, true
		it.reason1 = pick(p.rng, lowerReasons)
	}
	if p.unit.Code == reopenUnit {
		// The unit under-scored an item by mistake and asks to correct it.
		it, err := p.take(p.selfItems(func(it *itemPlan) bool { return it.final > 0 && hasBelow(it) }), "a reopened submission")
		if err != nil {
			return err
		}
		it.self, it.round1 = it.final, it.final
		wrong, _ := it.below(it.final)
		it.wrongSelf = &wrong
		p.reopen = it
	}
	if slices.Contains(withdrawUnits, p.unit.Code) {
		it, err := p.take(p.selfItems(func(it *itemPlan) bool { return it.final > 0 }), "a withdrawn file")
		if err != nil {
			return err
		}
		it.self, it.round1 = it.final, it.final
		it.withdraw = true
	}
	return nil
}

// planSelf decides the self scores of the other items, the evidence and
// notes of all, the appraisers' reasons, and the sessions in which the
// unit records them.
func (p *unitPlan) planSelf() {
	var selfItems []*itemPlan
	for _, it := range p.items {
		switch it.method() {
		case domain.MethodSelf:
			selfItems = append(selfItems, it)
		case domain.MethodHigherLevel:
			it.round1 = it.final
			it.note1 = "Theo số liệu theo dõi của " + agencyName(it.agency)
			continue
		default:
			continue
		}
		if !it.story {
			it.self, it.round1 = it.final, it.final
			if hi, ok := it.above(it.final); ok && p.rng.Float64() < 0.3 {
				// Units tend to score themselves generously.
				it.self = hi
			} else if lo, ok := it.below(it.final); ok && p.rng.Float64() < 0.006 {
				// Rarely, modestly.
				it.self = lo
			}
		}
		switch r := p.rng.Float64(); {
		case it.self == 0 && (it.wrongSelf == nil || *it.wrongSelf == 0):
			if r < 0.5 {
				it.selfNote = pick(p.rng, zeroNotes)
			}
		case it.story || r >= 0.92:
			it.docs = 1
		case r < 0.08:
			it.selfNote = pick(p.rng, evidenceNotes)
		default:
			it.docs = 1
		}
		if it.docs == 1 && p.rng.Float64() < 0.08 {
			it.docs = 2
		}
		if it.round1 != it.self && it.reason1 == "" {
			switch {
			case it.round1 > it.self:
				it.reason1 = raiseReason
			case it.docs == 0:
				it.reason1 = lowerReasonNoEvidence
			default:
				it.reason1 = pick(p.rng, lowerReasons)
			}
		}
	}
	// Three or four sessions, in framework order.
	p.sessions = 3 + p.rng.IntN(2)
	for i, it := range selfItems {
		it.session = i * p.sessions / len(selfItems)
	}
	// A wrong file goes in during the first session and is replaced in
	// the second.
	for _, it := range selfItems {
		if it.withdraw {
			it.session = 0
		}
	}
}

// check verifies the plan against the framework's rules and the target:
// every score is one the item allows, and the final points add up.
func (p *unitPlan) check() error {
	var total int64
	allow := func(it *itemPlan, what string, v int64) error {
		if err := it.node.AllowsPoints(toPoints(v)); err != nil {
			return fmt.Errorf("demo plan: %s %s %s: %w", p.unit.Code, it.node.Code, what, err)
		}
		return nil
	}
	for _, it := range p.items {
		checks := map[string]int64{"final": it.final}
		switch it.method() {
		case domain.MethodSelf:
			checks["self"], checks["round 1"] = it.self, it.round1
			if it.wrongSelf != nil {
				checks["wrong self"] = *it.wrongSelf
			}
		case domain.MethodHigherLevel:
			checks["round 1"] = it.round1
		case domain.MethodSurvey:
			checks["survey"] = it.survey
		}
		if it.hasRound2 {
			checks["round 2"] = it.round2
		}
		for what, v := range checks {
			if err := allow(it, what, v); err != nil {
				return err
			}
		}
		switch it.method() {
		case domain.MethodBonus:
			total += it.final
		case domain.MethodPenalty:
			total -= it.final
		default:
			total += it.final
		}
		// Without an explanation the latest appraisal is final.
		if it.appraised() {
			latest := it.round1
			if it.hasRound2 {
				latest = it.round2
			}
			if latest != it.final && !p.contested(it) {
				return fmt.Errorf("demo plan: %s %s: appraised %s, final %s", p.unit.Code, it.node.Code, toPoints(latest), toPoints(it.final))
			}
		}
	}
	for _, x := range p.explanations {
		if err := allow(x.item, "claimed", x.claimed); err != nil {
			return err
		}
	}
	if total != p.target {
		return fmt.Errorf("demo plan: %s adds up to %s, not %s", p.unit.Code, toPoints(total), toPoints(p.target))
	}
	return nil
}

// contested reports whether the council accepts an explanation on it.
func (p *unitPlan) contested(it *itemPlan) bool {
	for _, x := range p.explanations {
		if x.item == it && x.outcome != rejected {
			return true
		}
	}
	return false
}
