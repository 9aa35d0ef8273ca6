package bolt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/parledger/parledger/eventstore"
)

// errStorage marks a failure of bbolt itself inside a write transaction;
// it aborts the whole transaction, unlike a request's own error.
var errStorage = errors.New("storage")

// txWriter applies requests inside one write transaction.
type txWriter struct {
	meta, log, streams, revs, ids *bbolt.Bucket
	head                          uint64
	lastTime                      int64
}

func newTxWriter(tx *bbolt.Tx, lastTime int64) (*txWriter, error) {
	w := &txWriter{
		meta:     tx.Bucket(bucketMeta),
		log:      tx.Bucket(bucketLog),
		streams:  tx.Bucket(bucketStreams),
		revs:     tx.Bucket(bucketRevs),
		ids:      tx.Bucket(bucketIDs),
		lastTime: lastTime,
	}
	if w.meta == nil || w.log == nil || w.streams == nil || w.revs == nil || w.ids == nil {
		return nil, fmt.Errorf("%w: a bucket is missing", eventstore.ErrCorrupt)
	}
	// Positions only grow at the end of the log: keep its pages full.
	w.log.FillPercent = 1
	w.head = u64(w.meta.Get(keyHead))
	return w, nil
}

func (w *txWriter) streamState(stream string) (last uint64, exists bool) {
	v := w.streams.Get([]byte(stream))
	if v == nil {
		return 0, false
	}
	return u64(v), true
}

// append checks and writes one append request.
func (w *txWriter) append(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData, now time.Time) (eventstore.AppendResult, error) {
	for i := range events {
		if w.ids.Get(events[i].ID[:]) != nil {
			return w.retry(stream, expected, events)
		}
	}
	last, exists := w.streamState(stream)
	if !expected.Matches(last, exists) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: last, ActualExists: exists}
	}
	t := now.UnixNano()
	if t < w.lastTime {
		t = w.lastTime // recorded time never goes backwards along the log
	}
	w.lastTime = t
	recordedAt := time.Unix(0, t).UTC()
	rev := uint64(0)
	if exists {
		rev = last + 1
	}
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(events))}
	for i := range events {
		rec, h := encodeRecord(stream, &events[i], rev, recordedAt)
		w.head++
		if err := w.put(stream, events[i].ID[:], rev, w.head, rec); err != nil {
			return eventstore.AppendResult{}, err
		}
		res.Events[i] = eventstore.Event{
			EventData:   events[i],
			Stream:      stream,
			Revision:    rev,
			Position:    eventstore.Position(w.head),
			RecordedAt:  recordedAt,
			ContentHash: h,
		}
		rev++
	}
	if err := w.streams.Put([]byte(stream), be64(rev-1)); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %v", errStorage, err)
	}
	return res, nil
}

// retry answers an append some of whose ids are already recorded: if it is
// exactly an earlier append (same events, same stream, consecutive, and the
// expected revision held for that append), the earlier result; otherwise
// an error that says what differs.
func (w *txWriter) retry(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	res := eventstore.AppendResult{Events: make([]eventstore.Event, len(events)), Duplicate: true}
	for i := range events {
		pos := w.ids.Get(events[i].ID[:])
		if pos == nil {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is new but event %s of the same append is already recorded",
				eventstore.ErrDuplicateEventID, events[i].ID, events[0].ID)
		}
		e, err := decodeRecord(eventstore.Position(u64(pos)), w.log.Get(pos))
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if e.Stream != stream {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is recorded in stream %q, not %q",
				eventstore.ErrDuplicateEventID, e.ID, e.Stream, stream)
		}
		if e.ContentHash != sha256.Sum256(eventstore.Canonical(stream, &events[i])) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is recorded at %q revision %d with other content",
				eventstore.ErrDuplicateEventID, e.ID, stream, e.Revision)
		}
		if i > 0 && e.Revision != res.Events[0].Revision+uint64(i) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: events %s and %s were recorded by different appends",
				eventstore.ErrDuplicateEventID, res.Events[0].ID, e.ID)
		}
		res.Events[i] = e
	}
	first := res.Events[0].Revision
	if !expected.Matches(first-1, first > 0) {
		last, exists := w.streamState(stream)
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: last, ActualExists: exists}
	}
	return res, nil
}

// importEvents checks a whole import batch, then writes it.
func (w *txWriter) importEvents(events []eventstore.Event) error {
	next := make(map[string]uint64)
	ids := make(map[[16]byte]bool, len(events))
	for i := range events {
		e := &events[i]
		want, ok := next[e.Stream]
		if !ok {
			last, exists := w.streamState(e.Stream)
			if exists {
				want = last + 1
			}
		}
		if e.Revision != want {
			return fmt.Errorf("%w: event %s is revision %d of %q, but the stream's next revision here is %d",
				eventstore.ErrImportMismatch, e.ID, e.Revision, e.Stream, want)
		}
		next[e.Stream] = want + 1
		if ids[e.ID] || w.ids.Get(e.ID[:]) != nil {
			return fmt.Errorf("%w: event %s is already recorded", eventstore.ErrImportMismatch, e.ID)
		}
		ids[e.ID] = true
	}
	for i := range events {
		e := &events[i]
		w.head++
		if err := w.put(e.Stream, e.ID[:], e.Revision, w.head, encodeImported(e)); err != nil {
			return err
		}
		w.lastTime = max(w.lastTime, e.RecordedAt.UnixNano())
	}
	for stream, n := range next {
		if err := w.streams.Put([]byte(stream), be64(n-1)); err != nil {
			return fmt.Errorf("%w: %v", errStorage, err)
		}
	}
	return nil
}

func (w *txWriter) put(stream string, id []byte, rev, pos uint64, rec []byte) error {
	pk := be64(pos)
	for _, op := range []struct {
		b    *bbolt.Bucket
		k, v []byte
	}{
		{w.log, pk, rec},
		{w.revs, revKey(stream, rev), pk},
		{w.ids, append([]byte(nil), id...), pk},
	} {
		if err := op.b.Put(op.k, op.v); err != nil {
			return fmt.Errorf("%w: %v", errStorage, err)
		}
	}
	return nil
}

// finish records the head and the newest recorded time.
func (w *txWriter) finish() error {
	if err := w.meta.Put(keyHead, be64(w.head)); err != nil {
		return fmt.Errorf("%w: %v", errStorage, err)
	}
	if err := w.meta.Put(keyTime, be64(uint64(w.lastTime))); err != nil {
		return fmt.Errorf("%w: %v", errStorage, err)
	}
	return nil
}
