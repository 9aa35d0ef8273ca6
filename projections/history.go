package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	err      error
}

type timelineRecord struct {
	key, value []byte
}

var (
	bucketTimeline = []byte("timeline") // campaign 0x00 unit 0x00 position (8) -> score record
	bucketState    = []byte("state")    // "position" -> last event recorded
	keyPosition    = []byte("position")
)

// flushEvery is how many records History keeps in memory before writing.
const flushEvery = 4096

// OpenHistory opens (creating) the timeline file at path. board is the
// scoreboard whose scores it records; store is read for campaign settings
// as they stood at a position.
func OpenHistory(path string, board *Scoreboard, store eventstore.Store) (*History, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open score timeline %s: %w", path, err)
	}
	h := &History{db: db, board: board, store: store}
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

// Apply records the score of the unit whose assessment the event changed.
// Events already recorded before a restart are skipped.
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
	sc, status, ok := h.board.unitScore(campaign, unit)
	if !ok {
		return
	}
	h.pending = append(h.pending, timelineRecord{key: timelineKey(campaign, unit, r.Position), value: encodeScore(sc, status)})
	if len(h.pending) >= flushEvery {
		h.flushLocked()
	}
}

// Flush writes the pending records and the position reached.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushLocked()
	return h.err
}

func (h *History) flushLocked() {
	if h.position == h.flushed {
		return
	}
	err := h.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTimeline)
		for _, rec := range h.pending {
			if err := b.Put(rec.key, rec.value); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketState).Put(keyPosition, binary.BigEndian.AppendUint64(nil, h.position))
	})
	if err != nil {
		h.err = fmt.Errorf("score timeline: %w", err)
		return
	}
	h.pending, h.flushed, h.err = h.pending[:0], h.position, nil
}

func timelineKey(campaign, unit string, pos uint64) []byte {
	k := make([]byte, 0, len(campaign)+len(unit)+10)
	k = append(k, campaign...)
	k = append(k, 0)
	k = append(k, unit...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, pos)
}

// A score record: status, provisional flag, then the decimals Self,
// Appraised, Survey, Bonus, Penalty, Final, Index, each area's and each
// criterion's achieved points (in the framework's order), each written as
// a length byte and its decimal string, so nothing is rounded.
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

// decodeScore reads a record into a score shaped by the framework: blank
// is the score of an empty assessment, which carries the areas' and
// criteria's codes, titles and maxima.
func decodeScore(b []byte, blank domain.Score, rounding int32) (domain.Score, string, error) {
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

// unitScore recomputes one unit's current score and status.
func (b *Scoreboard) unitScore(campaign, unit string) (domain.Score, string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.campaigns[campaign]
	if v == nil {
		return domain.Score{}, "", false
	}
	v.refresh(unit)
	delete(v.dirty, unit)
	sc, ok := v.scores[unit]
	if !ok {
		return domain.Score{}, "", false
	}
	status := "not-started"
	if a := v.assessments[unit]; a != nil {
		status = a.Status()
	}
	return sc, status, true
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
	v := &campaignView{c: c, assessments: map[string]*domain.Assessment{}, scores: map[string]domain.Score{}, dirty: map[string]bool{}}
	statuses := map[string]string{}
	err = h.db.View(func(tx *bbolt.Tx) error {
		cur := tx.Bucket(bucketTimeline).Cursor()
		blanks := map[domain.Block]domain.Score{}
		for _, code := range c.UnitOrder {
			f, u, err := c.Framework(code)
			if err != nil {
				continue
			}
			blank, ok := blanks[u.Block]
			if !ok {
				blank = domain.ComputeScore(f, domain.NewAssessment(campaign, code), c.Settings.Rounding)
				blanks[u.Block] = blank
			}
			v.scores[code], statuses[code] = blank, "not-started"
			prefix := timelineKey(campaign, code, 0)
			prefix = prefix[:len(prefix)-8]
			k, val := cur.Seek(timelineKey(campaign, code, pos+1))
			if k == nil {
				k, val = cur.Last()
			} else {
				k, val = cur.Prev()
			}
			if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
				continue
			}
			sc, status, err := decodeScore(val, blank, c.Settings.Rounding)
			if err != nil {
				return fmt.Errorf("unit %s at position %d: %w", code, binary.BigEndian.Uint64(k[len(prefix):]), err)
			}
			v.scores[code], statuses[code] = sc, status
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
