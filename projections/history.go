package projections

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
)

// History answers "how did it stand then?": rankings of a campaign as of
// any log position or time. It keeps snapshots of the scoreboard's state
// every SnapshotEvery events in a file of its own (derived data: deleting
// it only makes old queries slower until new snapshots are taken), so an
// as-of query restores the nearest snapshot at or before the position and
// replays only the tail of the log after it.
//
// History is a Projection: the runner feeds it after the scoreboard, and
// it snapshots the scoreboard it was given.
type History struct {
	db    *bbolt.DB
	board *Scoreboard
	store eventstore.Store
	every uint64

	mu   sync.Mutex
	last uint64 // position of the newest snapshot
	err  error  // the last snapshot failure, if any
}

// DefaultSnapshotEvery is how many events pass between snapshots.
const DefaultSnapshotEvery = 20_000

var bucketSnapshots = []byte("snapshots") // position (8 bytes) -> deflated JSON

// OpenHistory opens (creating) the snapshot file at path, snapshotting
// board every `every` events (DefaultSnapshotEvery when 0) and replaying
// tails from store.
func OpenHistory(path string, board *Scoreboard, store eventstore.Store, every uint64) (*History, error) {
	if every == 0 {
		every = DefaultSnapshotEvery
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open snapshots %s: %w", path, err)
	}
	h := &History{db: db, board: board, store: store, every: every}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSnapshots)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().Last(); k != nil {
			h.last = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open snapshots %s: %w", path, err)
	}
	return h, nil
}

// Close closes the snapshot file.
func (h *History) Close() error { return h.db.Close() }

// Apply takes a snapshot of the scoreboard when SnapshotEvery events have
// passed since the last one. The runner applies the scoreboard first, so
// the snapshot includes this event.
func (h *History) Apply(r domain.Recorded) {
	h.mu.Lock()
	due := r.Position >= h.last+h.every
	h.mu.Unlock()
	if !due {
		return
	}
	if err := h.snapshot(); err != nil {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
	}
}

// Err returns the last snapshot failure (nil if the last one succeeded).
func (h *History) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// snapshot writes the scoreboard's state under its position.
func (h *History) snapshot() error {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	pos, err := h.board.encodeState(zw)
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", pos, err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	err = h.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSnapshots).Put(binary.BigEndian.AppendUint64(nil, pos), buf.Bytes())
	})
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", pos, err)
	}
	h.mu.Lock()
	h.last, h.err = pos, nil
	h.mu.Unlock()
	return nil
}

// boardState is what a snapshot holds: every campaign's state and its
// assessments. (Scores and rankings are recomputed on restore.)
type boardState struct {
	Position  uint64
	Order     []string
	Campaigns map[string]*campaignState
}

type campaignState struct {
	Campaign    *domain.Campaign
	Assessments map[string]*domain.Assessment
}

// encodeState writes the board's state to w while holding its lock, so
// later events cannot change what the snapshot holds.
func (b *Scoreboard) encodeState(w io.Writer) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &boardState{Position: b.position, Order: b.order, Campaigns: make(map[string]*campaignState, len(b.campaigns))}
	for id, v := range b.campaigns {
		s.Campaigns[id] = &campaignState{Campaign: v.c, Assessments: v.assessments}
	}
	return b.position, json.NewEncoder(w).Encode(s)
}

// restoreBoard builds a scoreboard from a snapshot's state.
func restoreBoard(s *boardState) *Scoreboard {
	b := NewScoreboard()
	b.position, b.order = s.Position, s.Order
	for id, cs := range s.Campaigns {
		v := &campaignView{c: cs.Campaign, assessments: cs.Assessments, scores: map[string]domain.Score{}, dirty: map[string]bool{}}
		if v.assessments == nil {
			v.assessments = map[string]*domain.Assessment{}
		}
		for _, a := range v.assessments {
			if a.Items == nil {
				a.Items = map[string]*domain.ItemState{}
			}
		}
		if v.c.Frameworks == nil {
			v.c.Frameworks = map[domain.Block]*domain.Framework{}
		}
		if v.c.Units == nil {
			v.c.Units = map[string]domain.Unit{}
		}
		b.campaigns[id] = v
	}
	return b
}

// load returns the scoreboard of the newest snapshot at or before pos
// (an empty one when there is none).
func (h *History) load(pos uint64) (*Scoreboard, error) {
	var data []byte
	err := h.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketSnapshots).Cursor()
		k, v := c.Seek(binary.BigEndian.AppendUint64(nil, pos+1))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k != nil && binary.BigEndian.Uint64(k) <= pos {
			data = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || data == nil {
		return NewScoreboard(), err
	}
	var s boardState
	if err := json.NewDecoder(flate.NewReader(bytes.NewReader(data))).Decode(&s); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return restoreBoard(&s), nil
}

// RankingsAt returns a campaign's rankings as they stood when the event at
// position pos had been recorded: the nearest snapshot, plus the events of
// that campaign after it up to pos, replayed from the log.
func (h *History) RankingsAt(ctx context.Context, campaign string, pos uint64) (*Rankings, error) {
	board, err := h.load(pos)
	if err != nil {
		return nil, err
	}
	if err := replayInto(ctx, h.store, board, campaign, board.position, pos); err != nil {
		return nil, err
	}
	board.position = pos
	rk, ok := board.Rankings(campaign)
	if !ok {
		return nil, domain.Errorf(domain.ENOTFOUND, "Campaign %s did not exist at position %d.", campaign, pos)
	}
	return rk, nil
}

// replayInto applies to board the events of one campaign (its own stream
// and its assessments) after position from, up to position to.
func replayInto(ctx context.Context, store eventstore.Store, board *Scoreboard, campaign string, from, to uint64) error {
	if to <= from {
		return nil
	}
	own := domain.CampaignStream(campaign)
	assessments := domain.AssessmentStreamPrefix + campaign + ":"
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Position(from + 1)}) {
		if err != nil {
			return err
		}
		if uint64(e.Position) > to {
			break
		}
		if e.Stream != own && !strings.HasPrefix(e.Stream, assessments) {
			continue
		}
		r, err := ledger.Decode(e)
		if err != nil {
			return err
		}
		board.Apply(r)
	}
	return nil
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
