package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/parledger/parledger/eventstore"
)

// Page sizes of reads: each page is one call with its own deadline.
const (
	streamPage = 512
	allPage    = 512
	headPage   = 256
)

// collect receives every event of a read. Only io.EOF ends it: any other
// error is returned, so that a broken read never looks like the end.
func collect(rs *esdb.ReadStream) ([]*esdb.ResolvedEvent, error) {
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
}

// readStreamPage reads up to n events of an EventStoreDB stream.
func (s *Store) readStreamPage(ctx context.Context, stream string, dir esdb.Direction, from esdb.StreamPosition, n uint64) ([]*esdb.ResolvedEvent, error) {
	return do(ctx, s, func(ctx context.Context, c *esdb.Client) ([]*esdb.ResolvedEvent, error) {
		rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: dir, From: from, Deadline: &s.timeout}, n)
		if err != nil {
			return nil, err
		}
		return collect(rs)
	})
}

// readAllPage reads up to n events of $all, unfiltered.
func (s *Store) readAllPage(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, n uint64) ([]*esdb.ResolvedEvent, error) {
	return do(ctx, s, func(ctx context.Context, c *esdb.Client) ([]*esdb.ResolvedEvent, error) {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: from, Deadline: &s.timeout}, n)
		if err != nil {
			return nil, err
		}
		return collect(rs)
	})
}

// ReadStream returns the events of one stream, checking each one's
// content hash and that revisions follow each other (a gap means history
// was deleted in EventStoreDB: eventstore.ErrCorrupt). A stream without
// events yields one eventstore.ErrStreamNotFound error; an unreachable
// server an eventstore.ErrUnavailable one, at any point of the read.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		fail := func(err error) { yield(eventstore.Event{}, err) }
		if err := s.checkStream(stream); err != nil {
			fail(err)
			return
		}
		if s.isClosed() {
			fail(errClosed)
			return
		}
		ctx, stop := s.opContext(ctx)
		defer stop()
		name := s.esdbStream(stream)
		dir := esdb.Forwards
		var from esdb.StreamPosition = esdb.Revision(opts.From)
		if opts.Direction == eventstore.Backwards {
			dir = esdb.Backwards
			if opts.FromEnd {
				from = esdb.End{}
			}
		}
		left := opts.Limit
		next, first := opts.From, true
		for {
			n := uint64(streamPage)
			if left > 0 && left < n {
				n = left
			}
			page, err := s.readStreamPage(ctx, name, dir, from, n)
			if err != nil {
				fail(s.translate(ctx, "read", fmt.Errorf("stream %q: %w", stream, err)))
				return
			}
			for _, re := range page {
				e, err := s.decode(re.OriginalEvent())
				if err != nil {
					fail(err)
					return
				}
				switch {
				case first && dir == esdb.Backwards && (opts.FromEnd || e.Revision <= opts.From):
					// A backwards read starts at the last event or at From.
				case e.Revision != next:
					fail(fmt.Errorf("esdb: %w: stream %q has revision %d where %d was expected: its history was deleted or truncated in EventStoreDB",
						eventstore.ErrCorrupt, stream, e.Revision, next))
					return
				}
				first = false
				s.bounds.add(uint64(e.Position))
				if !yield(e.Event, nil) {
					return
				}
				if dir == esdb.Forwards {
					next = e.Revision + 1
				} else if e.Revision > 0 {
					next = e.Revision - 1
				}
				if left > 0 {
					if left--; left == 0 {
						return
					}
				}
			}
			if uint64(len(page)) < n || dir == esdb.Backwards && len(page) > 0 && page[len(page)-1].OriginalEvent().EventNumber == 0 {
				return
			}
			from = esdb.Revision(next)
		}
	}
}

// ReadAll returns the ledger's events of $all in commit order (or its
// reverse), with the same checks and error rules as ReadStream. It reads
// $all in pages and keeps the events of the ledger's streams: client
// v4.2.0 cannot ask the server to filter a read.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		if s.isClosed() {
			yield(eventstore.Event{}, errClosed)
			return
		}
		ctx, stop := s.opContext(ctx)
		defer stop()
		var err error
		if opts.Direction == eventstore.Backwards {
			err = s.readAllBackwards(ctx, opts, yield)
		} else {
			err = s.readAllForwards(ctx, uint64(opts.From), opts.Limit, yield)
		}
		if err != nil {
			yield(eventstore.Event{}, err)
		}
	}
}

// readAllForwards yields the ledger's events at or after from, at most
// limit of them (0: all).
func (s *Store) readAllForwards(ctx context.Context, from, limit uint64, yield func(eventstore.Event, error) bool) error {
	start, err := s.startAt(ctx, from, false)
	if err != nil {
		return s.translate(ctx, "read", err)
	}
	var last uint64 // position of the last event seen; pages overlap by one
	pos := start
	n := 0
	for {
		page, err := s.readAllPage(ctx, esdb.Forwards, pos, allPage)
		if err != nil {
			return s.translate(ctx, "read", err)
		}
		for _, re := range page {
			r := re.OriginalEvent()
			p := r.Position.Commit
			if last > 0 && p <= last {
				if p < last {
					return fmt.Errorf("esdb: %w: $all went back from position %d to %d", eventstore.ErrCorrupt, last, p)
				}
				continue
			}
			last = p
			if p < from || !s.owns(r.StreamID) {
				continue
			}
			e, err := s.decode(r)
			if err != nil {
				return err
			}
			s.bounds.add(p)
			if !yield(e.Event, nil) {
				return nil
			}
			if n++; limit > 0 && uint64(n) >= limit {
				return nil
			}
		}
		if len(page) < allPage {
			return nil
		}
		pos = esdb.Position{Commit: last, Prepare: last}
	}
}

// readAllBackwards yields the ledger's events at or before opts.From (or
// from the end), newest first.
func (s *Store) readAllBackwards(ctx context.Context, opts eventstore.ReadAllOptions, yield func(eventstore.Event, error) bool) error {
	// A backwards read from a position returns the events that end at or
	// before it, so it must start at the event after From.
	var pos esdb.AllPosition = esdb.End{}
	if !opts.FromEnd {
		after, err := s.eventAfter(ctx, uint64(opts.From))
		if err != nil {
			return s.translate(ctx, "read", err)
		}
		if after > 0 {
			pos = esdb.Position{Commit: after, Prepare: after}
		}
	}
	n := uint64(0)
	for {
		page, err := s.readAllPage(ctx, esdb.Backwards, pos, allPage)
		if err != nil {
			return s.translate(ctx, "read", err)
		}
		for _, re := range page {
			r := re.OriginalEvent()
			if !s.owns(r.StreamID) {
				continue
			}
			e, err := s.decode(r)
			if err != nil {
				return err
			}
			if !yield(e.Event, nil) {
				return nil
			}
			if n++; opts.Limit > 0 && n >= opts.Limit {
				return nil
			}
		}
		if len(page) < allPage {
			return nil
		}
		last := page[len(page)-1].OriginalEvent().Position.Commit
		pos = esdb.Position{Commit: last, Prepare: last}
	}
}

// eventAfter returns the position of the first event of $all (of any
// stream) after position p, or 0 when there is none.
func (s *Store) eventAfter(ctx context.Context, p uint64) (uint64, error) {
	start, err := s.startAt(ctx, p, false)
	if err != nil {
		return 0, err
	}
	pos := start
	for {
		page, err := s.readAllPage(ctx, esdb.Forwards, pos, allPage)
		if err != nil {
			return 0, err
		}
		for _, re := range page {
			if q := re.OriginalEvent().Position.Commit; q > p {
				return q, nil
			}
		}
		if len(page) < allPage {
			return 0, nil
		}
		last := page[len(page)-1].OriginalEvent().Position.Commit
		pos = esdb.Position{Commit: last, Prepare: last}
	}
}

// startAt returns a valid EventStoreDB start position for events at or
// after p (strict: after p, for subscriptions, whose start is exclusive):
// p itself or p-1 when an event is known or found there (p-1 is the usual
// "after my last event"), else the nearest known event before, else the
// start of $all. The caller skips the events before p.
func (s *Store) startAt(ctx context.Context, p uint64, strict bool) (esdb.AllPosition, error) {
	if p <= uint64(eventstore.Start) {
		return esdb.Start{}, nil
	}
	known, ok := s.bounds.floor(p)
	if strict {
		known, ok = s.bounds.before(p)
	}
	if ok && (known == p-1 || known == p) {
		return esdb.Position{Commit: known, Prepare: known}, nil
	}
	// Ask the server whether an event starts exactly there: a position
	// that is not a record boundary is refused, never misread.
	candidates := []uint64{p - 1}
	if !strict {
		candidates = []uint64{p, p - 1}
	}
	for _, c := range candidates {
		page, err := s.readAllPage(ctx, esdb.Forwards, esdb.Position{Commit: c, Prepare: c}, 1)
		if err != nil {
			if classify(err) == kindInvalid {
				continue
			}
			return nil, err
		}
		if len(page) == 1 && page[0].OriginalEvent().Position.Commit == c {
			s.bounds.add(c)
			return esdb.Position{Commit: c, Prepare: c}, nil
		}
	}
	s.m.positionScans.Inc()
	if ok {
		return esdb.Position{Commit: known, Prepare: known}, nil
	}
	return esdb.Start{}, nil
}

// Head returns the position of the ledger's last event (0 when it has
// none). It reads $all backwards to the first event of the ledger's
// streams, or to the end of its previous scan.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if s.isClosed() {
		return 0, errClosed
	}
	ctx, stop := s.opContext(ctx)
	defer stop()
	scanned, cached := s.head.get()
	var pos esdb.AllPosition = esdb.End{}
	var newest uint64
	head, found := uint64(0), false
	for !found {
		page, err := s.readAllPage(ctx, esdb.Backwards, pos, headPage)
		if err != nil {
			return 0, s.translate(ctx, "head", err)
		}
		for _, re := range page {
			r := re.OriginalEvent()
			p := r.Position.Commit
			if newest == 0 {
				newest = p
			}
			if scanned > 0 && p <= scanned {
				head, found = cached, true
				break
			}
			if s.owns(r.StreamID) {
				head, found = p, true
				break
			}
		}
		if len(page) < headPage {
			break
		}
		last := page[len(page)-1].OriginalEvent().Position.Commit
		pos = esdb.Position{Commit: last, Prepare: last}
	}
	s.head.put(newest, head)
	return eventstore.Position(head), nil
}
