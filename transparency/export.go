package transparency

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/parledger/parledger/eventstore"
)

// Prover answers consistency proofs for the tree a checkpoint signs. A
// *Log is one; a client of a server's consistency route is another (wrap
// it with ProverFunc). VerifyExport trusts none of its answers: it checks
// every proof against the signed checkpoint.
type Prover interface {
	ConsistencyProof(size1, size2 uint64) ([][]byte, error)
}

// ProverFunc adapts a function to Prover.
type ProverFunc func(size1, size2 uint64) ([][]byte, error)

// ConsistencyProof calls f.
func (f ProverFunc) ConsistencyProof(size1, size2 uint64) ([][]byte, error) { return f(size1, size2) }

// Report summarises a successful VerifyExport.
type Report struct {
	// Events is the number of events in the export, every one of which
	// was decoded and its content hash recomputed.
	Events uint64
	// Covered is the number of them the checkpoint covers (its size): the
	// first Covered events build exactly the checkpoint's root. Events
	// after them were recorded after the checkpoint.
	Covered uint64
	// Streams is the number of streams in the export.
	Streams int
	// Root is the root of the first Covered events: the checkpoint's.
	Root []byte
}

// exportEntry is what VerifyExport keeps of each event to name it later.
type exportEntry struct {
	id       uuid.UUID
	stream   string
	position eventstore.Position
	revision uint64
	line     int
}

// VerifyExport checks an NDJSON export (eventstore.Export) offline
// against a signed checkpoint: every line decodes and its content hash
// verifies, positions increase, every stream's revisions run 0, 1, 2, ...,
// and the first cp.Size events build a tree whose root is cp.Root. The
// first problem is an error matching ErrVerify that names what is wrong:
// an *EventError (line, leaf index, position, id, stream, revision) when
// one event can be blamed, ErrRootMismatch (with the size) otherwise.
//
// A root mismatch alone does not say which event changed. Given ref (the
// log's server, or the Merkle log on the server's disk; nil for none),
// VerifyExport finds the first event whose leaf differs from the signed
// tree, by bisection with consistency proofs that it checks against cp,
// and names it. That costs memory for the whole tree (about 130 bytes per
// event); without ref, memory stays small.
func VerifyExport(r io.Reader, cp Checkpoint, ref Prover) (Report, error) {
	var rep Report
	lr := &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
	var (
		small   = factory.NewEmptyRange(0) // the first cp.Size leaves, without ref
		tree    *memTree                   // the same, whole, with ref
		entries []exportEntry
		next    = make(map[string]uint64)
		names   = make(map[string]string) // interned stream names
		prev    *eventstore.Event
		// backwards is the first event recorded earlier than the one
		// before it: a likely edit, named if the root does not match.
		backwards *EventError
	)
	if ref != nil {
		tree = newMemTree()
	}
	for e, err := range eventstore.ReadNDJSON(lr) {
		if err != nil {
			// ReadNDJSON names the line, and for a hash mismatch the
			// event, its stream, revision and position.
			return rep, fmt.Errorf("%w: %w", ErrVerify, err)
		}
		index, line := rep.Events, lr.line
		rep.Events++
		if prev != nil && e.Position <= prev.Position {
			return rep, eventError(index, line, &e, fmt.Errorf("%w: position %d comes after position %d: lines were reordered, repeated or renumbered", ErrVerify, e.Position, prev.Position))
		}
		want, seen := next[e.Stream]
		switch {
		case e.Revision > want:
			return rep, eventError(index, line, &e, fmt.Errorf("%w: stream %q has %s before it, so this should be revision %d: an event of the stream before it is missing here (deleted, or moved after it)", ErrVerify, e.Stream, plural(want, "event", "events"), want))
		case e.Revision < want:
			return rep, eventError(index, line, &e, fmt.Errorf("%w: stream %q already has revision %d before it: events were reordered or repeated", ErrVerify, e.Stream, e.Revision))
		}
		if !seen {
			names[e.Stream] = e.Stream
		}
		next[e.Stream] = want + 1
		if prev != nil && backwards == nil && e.RecordedAt.Before(prev.RecordedAt) {
			backwards = eventError(index, line, &e, fmt.Errorf("recorded at %s, before the event on the previous line (%s)", e.RecordedAt.Format("2006-01-02T15:04:05.999999999Z"), prev.RecordedAt.Format("2006-01-02T15:04:05.999999999Z")))
		}
		if index < cp.Size {
			leaf := LeafHash(&e)
			if tree != nil {
				tree.append(leaf)
				entries = append(entries, exportEntry{id: e.ID, stream: names[e.Stream], position: e.Position, revision: e.Revision, line: line})
			} else if err := small.Append(leaf, nil); err != nil {
				return rep, err
			}
		}
		ev := e
		prev = &ev
	}
	rep.Streams = len(next)
	rep.Covered = min(rep.Events, cp.Size)
	var root []byte
	if tree != nil {
		root = tree.root()
	} else if root, _ = small.GetRootHash(nil); rep.Covered == 0 {
		root = EmptyRoot()
	}
	if rep.Events >= cp.Size && bytes.Equal(root, cp.Root) {
		rep.Root = root
		return rep, nil
	}

	// Something differs. Name it as precisely as the means allow.
	var note string
	if ref != nil {
		var err error
		if note, err = locate(tree, entries, cp, ref); err != nil {
			return rep, err
		}
	}
	if rep.Events < cp.Size {
		return rep, fmt.Errorf("%w: the export has %d events but the checkpoint covers %d: %s missing (deleted, or the export is cut short)", ErrRootMismatch, rep.Events, cp.Size, plural(cp.Size-rep.Events, "event is", "events are"))
	}
	msg := fmt.Sprintf("the first %d events of the export hash to %x, the checkpoint signs %x: an event was edited (content, revision or recorded time), deleted, inserted or moved", cp.Size, root, cp.Root)
	if backwards != nil && backwards.Index < cp.Size {
		msg += fmt.Sprintf("; suspect %v", backwards)
	}
	if ref == nil {
		msg += "; verify against the server or its Merkle log to name the first event that differs"
	} else if note != "" {
		msg += "; " + note
	}
	return rep, fmt.Errorf("%w: %s", ErrRootMismatch, msg)
}

// locate finds the first leaf of the export's tree that differs from the
// tree cp signs, asking ref for consistency proofs between prefixes of
// the export and cp.Size: the export's first m events are the signed
// tree's first m exactly when such a proof verifies from the export's
// prefix root to cp.Root. It returns an *EventError for that event, an
// error matching ErrRootMismatch when the export is a correct but short
// prefix, or else a note on why it cannot tell (ref failed, or
// contradicts itself).
func locate(tree *memTree, entries []exportEntry, cp Checkpoint, ref Prover) (string, error) {
	matches := func(m uint64) (bool, error) {
		if m == 0 {
			return true, nil
		}
		rootM, err := rootAt(tree, m)
		if err != nil {
			return false, err
		}
		hashes, err := ref.ConsistencyProof(m, cp.Size)
		if err != nil {
			return false, err
		}
		return proof.VerifyConsistency(hasher, m, cp.Size, hashes, rootM, cp.Root) == nil, nil
	}
	n := tree.size() // <= cp.Size
	if n == 0 {
		return "", nil
	}
	ok, err := matches(n)
	if err != nil {
		return fmt.Sprintf("could not get proofs to find the first event that differs: %v", err), nil
	}
	if ok {
		if n < cp.Size {
			e := entries[n-1]
			return "", fmt.Errorf("%w: the export's %d events are exactly the first %d of the signed tree (the last at line %d, event %s), but the checkpoint covers %d: %s after it missing (deleted, or the export is cut short)", ErrRootMismatch, n, n, e.line, e.id, cp.Size, plural(cp.Size-n, "event is", "events are"))
		}
		return "the reference's proofs contradict the checkpoint: it is not the log that signed it", nil
	}
	// Invariant: the first lo leaves match; the first hi do not.
	lo, hi := uint64(0), n
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := matches(mid)
		if err != nil {
			return fmt.Sprintf("could not get proofs to find the first event that differs: %v", err), nil
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	e := entries[lo]
	ev := eventstore.Event{EventData: eventstore.EventData{ID: e.id}, Stream: e.stream, Revision: e.revision, Position: e.position}
	leaf, _ := tree.node(compact.NewNodeID(0, lo))
	return "", eventError(lo, e.line, &ev, fmt.Errorf("%w: its leaf hash %x is not the signed tree's leaf %d (the %d events before it match): this event was edited (its content, revision or recorded time), or an event was deleted, inserted or moved here", ErrRootMismatch, leaf, lo, lo))
}

// lineReader hands its reader to bufio.Scanner (inside
// eventstore.ReadNDJSON) at most one line per Read. A Scanner reads only
// when it holds no whole line, so when an event is yielded, line is the
// number of the line it came from.
type lineReader struct {
	br      *bufio.Reader
	pending []byte
	line    int
	midLine bool
}

func (r *lineReader) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		chunk, err := r.br.ReadSlice('\n')
		if len(chunk) == 0 {
			if errors.Is(err, bufio.ErrBufferFull) {
				err = nil
			}
			return 0, err
		}
		r.pending = chunk
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.midLine {
		r.line++
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	r.midLine = p[n-1] != '\n'
	return n, nil
}

// plural returns "1 event is", "2 events are" and the like.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
