package http

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/projections"
)

// Limits and rhythm of the live rankings streams
// (GET /api/v1/campaigns/{campaign}/live).
const (
	// MaxLiveStreams caps the live streams one server holds open at once;
	// one more is refused with 503 and Retry-After, and the browser tries
	// again later.
	MaxLiveStreams = 100
	// LiveHeartbeat is how often an idle stream sends a comment line, so
	// that proxies keep it open and the client knows the server is there.
	LiveHeartbeat = 15 * time.Second
	// LiveRetry is the reconnection delay a stream asks its client for.
	LiveRetry = 3 * time.Second
	// LiveMinInterval is the least time between two snapshots of one
	// stream: a burst of events (a survey import) is sent as its last
	// state, not as hundreds of snapshots.
	LiveMinInterval = 250 * time.Millisecond
	// liveWriteTimeout bounds one write to a client that stopped reading.
	liveWriteTimeout = 30 * time.Second
	// liveSettle is how long a stream waits after a change before it
	// reads the rankings: the projections apply a command's events one by
	// one, and a short wait lets the whole command land in one snapshot.
	liveSettle = 30 * time.Millisecond
)

// liveStreams serves the live rankings streams of one Server: it bounds
// how many are open and ends them all when the http.Server serving them
// shuts down (Shutdown waits for handlers, and a stream never ends by
// itself).
type liveStreams struct {
	s     *Server
	slots chan struct{}

	mu   sync.Mutex
	done map[*http.Server]chan struct{}
}

func newLiveStreams(s *Server, limit int) *liveStreams {
	return &liveStreams{s: s, slots: make(chan struct{}, limit), done: map[*http.Server]chan struct{}{}}
}

// shutdown returns a channel closed when the http.Server that serves r
// shuts down; nil (never closed) when r names no server.
func (l *liveStreams) shutdown(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.done[srv]
	if !ok {
		ch = make(chan struct{})
		l.done[srv] = ch
		// Shutdown runs its hooks each time it is called: close once.
		srv.RegisterOnShutdown(sync.OnceFunc(func() { close(ch) }))
	}
	return ch
}

// liveView is what principal p may see of rankings rk, in one block when
// block is set: what GET .../rankings answers. Before publication a unit
// sees its own line only.
func liveView(rk *projections.Rankings, p domain.Principal, block domain.Block) *projections.Rankings {
	out := *rk
	out.Blocks = make([]projections.BlockRanking, 0, len(rk.Blocks))
	for _, br := range rk.Blocks {
		if block != "" && br.Block != block {
			continue
		}
		if p.Role == domain.RoleUnit && rk.Published == nil {
			br.Rows = slices.DeleteFunc(slices.Clone(br.Rows), func(row domain.Standing) bool { return row.Unit.Code != p.Scope })
		}
		out.Blocks = append(out.Blocks, br)
	}
	return &out
}

// serve streams a campaign's rankings as Server-Sent Events: a "rankings"
// event with the rankings API's JSON each time they change, its id the
// log position they reflect. A client that reconnects with Last-Event-ID
// gets the current snapshot at once unless it already has it, so no
// change is missed: each snapshot is the whole state. The stream ends
// when the client goes, the server shuts down, or the credential it was
// opened with stops being valid (an "error" event says why).
func (l *liveStreams) serve(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	c, err := l.s.campaignFor(r, p)
	if err != nil {
		return err
	}
	block := domain.Block(r.URL.Query().Get("block"))
	if block != "" && !block.Valid() {
		return domain.Invalid("Unknown block.", domain.FieldError{Field: "block", Detail: "use so or huyen"})
	}
	// The client's last snapshot; a malformed id counts as none.
	last, err := strconv.ParseUint(strings.TrimSpace(r.Header.Get("Last-Event-ID")), 10, 64)
	has := err == nil
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
	default:
		return domain.Errorf(domain.EUNAVAILABLE, "Too many live streams are open (at most %d); try again shortly.", cap(l.slots))
	}
	done := l.shutdown(r)

	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts: lift the
	// read deadline (its expiry would cancel the request) and bound each
	// write instead.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell nginx not to buffer
	h.Set("Vary", "Accept-Encoding")
	var out io.Writer = w
	var zw *gzip.Writer
	if acceptsGzip(r) {
		// A snapshot of 52 units is ~62 kB of JSON and ~20% of that gzipped.
		h.Set("Content-Encoding", "gzip")
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = zw
	}
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) error {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := fmt.Fprintf(out, format, args...); err != nil {
			return err
		}
		if zw != nil {
			if err := zw.Flush(); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	defer func() {
		if zw != nil {
			_ = zw.Close()
		}
	}()
	if send("retry: %d\n\n", LiveRetry.Milliseconds()) != nil {
		return nil
	}

	heartbeat := time.NewTicker(LiveHeartbeat)
	defer heartbeat.Stop()
	for {
		// Take the channel before reading the rankings, so that a change
		// applied in between still wakes us.
		changed := l.s.Runner.Changed()
		if p.Role != domain.RolePublic {
			if _, err := l.s.authenticate(r); err != nil {
				_ = send("event: error\ndata: %s\n\n", problemJSON(domain.ErrorCode(err), domain.ErrorMessage(err)))
				return nil
			}
		}
		if err := l.s.Runner.Err(); err != nil {
			_ = send("event: error\ndata: %s\n\n", problemJSON(domain.EUNAVAILABLE, "The projections stopped; the server must be restarted."))
			return nil
		}
		rk, ok := l.s.Board.Rankings(c.ID)
		if ok && (!has || rk.Position != last) {
			data, err := encodeRankings(liveView(rk, p, block), rankingsKey{}, nil)
			data = bytes.TrimSuffix(data, []byte("\n"))
			if err != nil {
				return fmt.Errorf("live rankings of %s: %w", c.ID, err)
			}
			if send("id: %d\nevent: rankings\ndata: %s\n\n", rk.Position, data) != nil {
				return nil
			}
			last, has = rk.Position, true
			// Let a burst settle; the next turn sends its last state.
			select {
			case <-time.After(LiveMinInterval):
				continue
			case <-r.Context().Done():
				return nil
			case <-done:
				_ = send("event: bye\ndata: {}\n\n")
				return nil
			}
		}
		select {
		case <-changed:
			select {
			case <-time.After(liveSettle):
			case <-r.Context().Done():
				return nil
			}
		case <-heartbeat.C:
			if send(": heartbeat %d\n\n", last) != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-done:
			_ = send("event: bye\ndata: {}\n\n")
			return nil
		}
	}
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return strings.ReplaceAll(params, " ", "") != "q=0"
		}
	}
	return false
}

// compactJSON encodes v on one line, as writeJSON does (no HTML escaping),
// for an SSE data field.
func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// problemJSON is the data of an "error" event: the code and detail of a
// problem.
func problemJSON(code, detail string) []byte {
	b, _ := compactJSON(map[string]string{"code": code, "detail": detail})
	return b
}
