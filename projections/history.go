package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
)

// History answers "how did it stand then?": the rankings of a campaign as
// of any log position or time. It records, after every event of an
// assessment, that unit's score as the scoreboard computes it (the score
// timeline), in a file of its own. An as-of query then reads, for each
// unit, its last record at or before the position: one seek per unit, no
// replay, whatever the size of the ledger.
//
// The file is derived data. It remembers how far it has read; a new
// History catches up from there, and deleting the file only makes the
// next start rebuild it. History is a Projection: the runner feeds it
// after the scoreboard, whose scores it records.
type History struct {
	db    *bbolt.DB
	board *Scoreboard
	store eventstore.Store

	mu       sync.Mutex
	position uint64 // last event taken into account
	flushed  uint64 // last event whose records are on disk
	pending  []timelineRecord
	// writing is the batch being written in the background, if any;
	// batches are written once flushEvery records are pending.
	writing    *timelineBatch
	flushEvery int
	err        error
	// last is each unit's latest record (by campaign 0x00 unit): an event
	// that leaves the score and status as they were (evidence, say) adds
	// no record, since an as-of query would find the same one before it.
	last map[string][]byte
	buf  []byte
}

type timelineRecord struct {
	key, value []byte
}

// timelineBatch is a batch of records written in the background, with
// the position it brings the file to; done delivers the outcome.
type timelineBatch struct {
	records  []timelineRecord
	position uint64
	done     chan error
}

var (
	bucketTimeline = []byte("timeline") // campaign 0x00 unit 0x00 position (8) -> score record
	bucketState    = []byte("state")    // "position" -> last event recorded
	keyPosition    = []byte("position")
)

// flushEvery is how many records History keeps in memory before writing.
const flushEvery = 1 << 16

// OpenHistory opens (creating) the timeline file at path. board is the
// scoreboard whose scores it records; store is read for campaign settings
// as they stood at a position.
func OpenHistory(path string, board *Scoreboard, store eventstore.Store) (*History, error) {
	// The timeline of a national campaign runs to gigabytes: map a
	// gigabyte from the start (address space, not memory) so that bbolt
	// does not remap, copying every node of a large write, as the file
	// grows; and keep the free pages in a map, which finds room in a
	// large file quickly.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, InitialMmapSize: 1 << 30, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open score timeline %s: %w", path, err)
	}
	h := &History{db: db, board: board, store: store, last: map[string][]byte{}, flushEvery: flushEvery}
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketTimeline); err != nil {
			return err
		}
		st, err := tx.CreateBucketIfNotExists(bucketState)
		if err != nil {
			return err
		}
		if v := st.Get(keyPosition); len(v) == 8 {
			h.position = binary.BigEndian.Uint64(v)
			h.flushed = h.position
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open score timeline %s: %w", path, err)
	}
	return h, nil
}

// Close writes what is pending and closes the file.
func (h *History) Close() error {
	return errors.Join(h.Flush(), h.db.Close())
}

// Position returns the position of the last event History took into
// account.
func (h *History) Position() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.position
}

// Err returns the last failure to write the timeline, if any.
func (h *History) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Apply records the score of the unit whose assessment the event changed,
// unless it is the score and status already recorded last. Events already
// recorded before a restart are skipped.
func (h *History) Apply(r domain.Recorded) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Position <= h.position {
		return
	}
	h.position = r.Position
	campaign, unit, ok := domain.ParseAssessmentStream(r.Stream)
	if !ok {
		return
	}
	rec, ok := h.board.timelineRecord(campaign, unit, h.buf[:0])
	if !ok {
		return
	}
	h.buf = rec
	// The key and the record share one allocation; the record is never
	// written to again.
	kv := appendTimelineKey(make([]byte, 0, len(campaign)+len(unit)+10+len(rec)), campaign, unit, r.Position)
	unitKey := kv[:len(kv)-9]
	if prev, ok := h.last[string(unitKey)]; ok && bytes.Equal(prev, rec) {
		return
	}
	n := len(kv)
	kv = append(kv, rec...)
	key, rec := kv[:n:n], kv[n:]
	h.last[string(unitKey)] = rec
	h.pending = append(h.pending, timelineRecord{key: key, value: rec})
	if len(h.pending) >= h.flushEvery {
		h.writeInBackground()
	}
}

// Flush writes the pending records and the position reached, once the
// batch written in the background (if any) is on disk.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushLocked()
	return h.err
}

func (h *History) flushLocked() {
	h.waitWrite()
	if h.position == h.flushed {
		return
	}
	if err := h.write(h.pending, h.position); err != nil {
		h.err = err
		return
	}
	clear(h.pending) // let the records go
	h.pending, h.flushed, h.err = h.pending[:0], h.position, nil
}

// writeInBackground hands the pending records to a goroutine that
// writes them while events go on being applied: the file's write is as
// long as applying the events, and a rebuild has two cores. One batch is
// written at a time.
func (h *History) writeInBackground() {
	h.waitWrite()
	b := &timelineBatch{records: h.pending, position: h.position, done: make(chan error, 1)}
	h.pending = make([]timelineRecord, 0, h.flushEvery)
	h.writing = b
	go func() { b.done <- h.write(b.records, b.position) }()
}

// waitWrite waits for the batch being written in the background, and
// takes its outcome: the position it reached, or, if it failed, its
// records back to write again.
func (h *History) waitWrite() {
	b := h.writing
	if b == nil {
		return
	}
	h.writing = nil
	if err := <-b.done; err != nil {
		h.err = err
		h.pending = append(b.records, h.pending...)
		return
	}
	h.flushed, h.err = b.position, nil
}

// write puts records in the file and records position as reached, in one
// transaction. It sorts records.
func (h *History) write(records []timelineRecord, position uint64) error {
	// In key order, bbolt inserts each record next to the unit's last
	// one without moving the records written since the last commit.
	slices.SortFunc(records, func(a, b timelineRecord) int { return bytes.Compare(a.key, b.key) })
	err := h.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTimeline)
		for _, rec := range records {
			if err := b.Put(rec.key, rec.value); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketState).Put(keyPosition, binary.BigEndian.AppendUint64(nil, position))
	})
	if err != nil {
		return fmt.Errorf("score timeline: %w", err)
	}
	return nil
}

func timelineKey(campaign, unit string, pos uint64) []byte {
	return appendTimelineKey(make([]byte, 0, len(campaign)+len(unit)+10), campaign, unit, pos)
}

func appendTimelineKey(k []byte, campaign, unit string, pos uint64) []byte {
	k = append(k, campaign...)
	k = append(k, 0)
	k = append(k, unit...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, pos)
}

// A score record is one of two forms. The usual one, written whenever the
// unit's tally is exact (domain.Tally), holds whole hundredths:
//
//	0xC1, status (length byte and text), flags (1: provisional), then as
//	varints Self, Appraised, Survey, Bonus, Penalty and Scored, the
//	number of breakdown lines (uvarint) and each line's points.
//
// The other, for scores with values finer than hundredths, starts with
// the status (its length byte is never 0xC1), the provisional flag, then
// the decimals Self, Appraised, Survey, Bonus, Penalty, Final, Index,
// each area's and each criterion's achieved points (in the framework's
// order), each written as a length byte and its decimal string, so
// nothing is rounded. Files written before the first form existed hold
// only the second, and read the same.
const centsRecord = 0xC1

func appendCentsRecord(b []byte, status string, c domain.ScoreCents) []byte {
	b = append(b, centsRecord, byte(len(status)))
	b = append(b, status...)
	var flags byte
	if c.Provisional {
		flags = 1
	}
	b = append(b, flags)
	for _, v := range [...]int64{c.Self, c.Appraised, c.Survey, c.Bonus, c.Penalty, c.Scored} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Lines)))
	for _, v := range c.Lines {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func decodeCentsRecord(b []byte) (domain.ScoreCents, string, error) {
	var c domain.ScoreCents
	bad := errors.New("score record: truncated")
	if len(b) < 3 || int(b[1]) > len(b)-3 {
		return c, "", bad
	}
	status := string(b[2 : 2+b[1]])
	b = b[2+b[1]:]
	c.Provisional = b[0]&1 != 0
	b = b[1:]
	next := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for _, dst := range []*int64{&c.Self, &c.Appraised, &c.Survey, &c.Bonus, &c.Penalty, &c.Scored} {
		var ok bool
		if *dst, ok = next(); !ok {
			return c, "", bad
		}
	}
	lines, n := binary.Uvarint(b)
	if n <= 0 || lines > uint64(len(b)) {
		return c, "", bad
	}
	b = b[n:]
	c.Lines = make([]int64, lines)
	for i := range c.Lines {
		var ok bool
		if c.Lines[i], ok = next(); !ok {
			return c, "", bad
		}
	}
	if len(b) != 0 {
		return c, "", errors.New("score record: trailing bytes")
	}
	return c, status, nil
}

// encodeScore writes a score record of the second form.
func encodeScore(sc domain.Score, status string) []byte {
	b := make([]byte, 0, 16+8*(7+len(sc.Areas)+len(sc.Criteria)))
	b = append(b, byte(len(status)))
	b = append(b, status...)
	if sc.Provisional {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	put := func(d decimal.Decimal) {
		s := d.String()
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	for _, d := range []decimal.Decimal{sc.Self, sc.Appraised, sc.Survey, sc.Bonus, sc.Penalty, sc.Final, sc.Index} {
		put(d)
	}
	for _, n := range sc.Areas {
		put(n.Achieved)
	}
	for _, n := range sc.Criteria {
		put(n.Achieved)
	}
	return b
}

// decodeScore reads a record of either form into a score shaped by the
// framework: blank is the score of an empty assessment, which carries the
// areas' and criteria's codes, titles and maxima, and scorer lays out the
// framework for records in hundredths.
func decodeScore(b []byte, blank domain.Score, scorer *domain.Scorer, rounding int32) (domain.Score, string, error) {
	if len(b) > 0 && b[0] == centsRecord {
		c, status, err := decodeCentsRecord(b)
		if err != nil {
			return blank, "", err
		}
		sc, ok := scorer.Score(c, rounding)
		if !ok {
			return blank, "", fmt.Errorf("score record: %d breakdown lines, the framework has %d", len(c.Lines), scorer.Lines())
		}
		return sc, status, nil
	}
	r := bytes.NewReader(b)
	str := func() (string, error) {
		n, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		s := make([]byte, n)
		if _, err := io.ReadFull(r, s); err != nil {
			return "", err
		}
		return string(s), nil
	}
	dec := func() (decimal.Decimal, error) {
		s, err := str()
		if err != nil {
			return decimal.Decimal{}, err
		}
		return decimal.NewFromString(s)
	}
	status, err := str()
	if err != nil {
		return blank, "", fmt.Errorf("score record: %w", err)
	}
	flag, err := r.ReadByte()
	if err != nil {
		return blank, "", fmt.Errorf("score record: %w", err)
	}
	sc := blank
	sc.Provisional = flag == 1
	for _, dst := range []*decimal.Decimal{&sc.Self, &sc.Appraised, &sc.Survey, &sc.Bonus, &sc.Penalty, &sc.Final, &sc.Index} {
		if *dst, err = dec(); err != nil {
			return blank, "", fmt.Errorf("score record: %w", err)
		}
	}
	sc.Areas = append([]domain.NodeScore(nil), blank.Areas...)
	sc.Criteria = append([]domain.NodeScore(nil), blank.Criteria...)
	for _, list := range [][]domain.NodeScore{sc.Areas, sc.Criteria} {
		for i := range list {
			if list[i].Achieved, err = dec(); err != nil {
				return blank, "", fmt.Errorf("score record: %w", err)
			}
			list[i].Index = domain.Percent(list[i].Achieved, list[i].Max, rounding)
		}
	}
	if r.Len() != 0 {
		return blank, "", errors.New("score record: trailing bytes")
	}
	return sc, status, nil
}

// timelineRecord appends to dst the score record of one unit as it
// stands (false when the campaign or the unit's framework is unknown).
func (b *Scoreboard) timelineRecord(campaign, unit string, dst []byte) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, us := b.lastView, b.lastState
	if us == nil || campaign != b.lastCampaign || unit != b.lastUnit {
		if v = b.campaigns[campaign]; v == nil {
			return dst, false
		}
		us = v.unit(unit)
	}
	t, ok := v.tally(unit, us)
	if !ok {
		return dst, false
	}
	status := "not-started"
	if us.a != nil {
		status = us.a.Status()
	}
	if c, ok := t.Cents(); ok {
		return appendCentsRecord(dst, status, c), true
	}
	v.refresh(unit, us)
	return append(dst, encodeScore(us.score, status)...), true
}

// RankingsAt returns a campaign's rankings as they stood once the event at
// position pos was recorded: the campaign's settings and units then, and
// each unit's last score at or before pos.
func (h *History) RankingsAt(ctx context.Context, campaign string, pos uint64) (*Rankings, error) {
	if err := h.Flush(); err != nil {
		return nil, err
	}
	if reached := h.Position(); pos > reached {
		return nil, &domain.Error{Code: domain.EUNAVAILABLE, Message: fmt.Sprintf("The history has reached position %d, not %d yet; try again shortly.", reached, pos)}
	}
	c, err := campaignAt(ctx, h.store, campaign, pos)
	if err != nil {
		return nil, err
	}
	v := newCampaignView(c)
	statuses := map[string]string{}
	err = h.db.View(func(tx *bbolt.Tx) error {
		cur := tx.Bucket(bucketTimeline).Cursor()
		blanks := map[domain.Block]domain.Score{}
		scorers := map[domain.Block]*domain.Scorer{}
		for _, code := range c.UnitOrder {
			f, u, err := c.Framework(code)
			if err != nil {
				continue
			}
			blank, ok := blanks[u.Block]
			if !ok {
				blank = domain.ComputeScore(f, domain.NewAssessment(campaign, code), c.Settings.Rounding)
				blanks[u.Block], scorers[u.Block] = blank, domain.NewScorer(f)
			}
			v.units[code], statuses[code] = &unitState{score: blank, scored: true}, "not-started"
			prefix := timelineKey(campaign, code, 0)
			prefix = prefix[:len(prefix)-8]
			// The last entry at or before pos: the one before the first
			// after it.
			k, _ := cur.Seek(timelineKey(campaign, code, pos+1))
			var val []byte
			if k == nil {
				k, val = cur.Last()
			} else {
				k, val = cur.Prev()
			}
			if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
				continue
			}
			sc, status, err := decodeScore(val, blank, scorers[u.Block], c.Settings.Rounding)
			if err != nil {
				return fmt.Errorf("unit %s at position %d: %w", code, binary.BigEndian.Uint64(k[len(prefix):]), err)
			}
			v.units[code], statuses[code] = &unitState{score: sc, scored: true}, status
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rk := v.rankWith(pos, statuses)
	return rk, nil
}

// campaignAt folds a campaign's own stream up to position pos.
func campaignAt(ctx context.Context, store eventstore.Store, id string, pos uint64) (*domain.Campaign, error) {
	c := &domain.Campaign{}
	opened := false
	for e, err := range store.ReadStream(ctx, domain.CampaignStream(id), eventstore.ReadStreamOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		if uint64(e.Position) > pos {
			break
		}
		r, err := ledger.Decode(e)
		if err != nil {
			return nil, err
		}
		c.Apply(r)
		opened = true
	}
	if !opened {
		return nil, domain.Errorf(domain.ENOTFOUND, "Campaign %s did not exist at position %d.", id, pos)
	}
	return c, nil
}

// PositionAt returns the position of the last event recorded at or before
// t (0 when the log starts later). The log's recorded times never go
// backwards, so it bisects the log.
func PositionAt(ctx context.Context, store eventstore.Store, t time.Time) (uint64, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return 0, err
	}
	at := func(p uint64) (eventstore.Event, error) {
		for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Position(p), Limit: 1}) {
			return e, err
		}
		return eventstore.Event{}, io.EOF
	}
	// Invariant: events at positions <= lo are at or before t; > hi after.
	lo, hi := uint64(0), uint64(head)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		e, err := at(mid)
		if errors.Is(err, io.EOF) {
			hi = mid - 1
			continue
		}
		if err != nil {
			return 0, err
		}
		if e.RecordedAt.After(t) {
			hi = mid - 1
		} else {
			// The store's positions may have gaps: land on a real event.
			lo = max(mid, uint64(e.Position))
		}
	}
	return lo, nil
}
