// Package esdbtest is a protocol test double of EventStoreDB (KurrentDB):
// an in-process gRPC server on 127.0.0.1 that answers the part of the
// EventStoreDB protocol that package esdb uses, through the real client
// library (github.com/EventStore/EventStore-Client-Go/v4) and real gRPC.
//
// It is not a substitute for a real server. It follows EventStoreDB's
// documented and observed semantics (see docs/deployment.md, "What the
// test double proves") for:
//
//   - appends (the streaming Streams.Append call of client v4.2.0):
//     expected revisions any, no stream, stream exists and exact; wrong
//     expected version answers with the stream's current revision; event
//     id idempotency as the server's IndexWriter.CheckCommit decides it
//     (ids checked in place for exact and no-stream, against a cache of
//     committed ids for any and stream-exists; a partial match is a wrong
//     expected version); the server's MaxAppendSize;
//   - reads of a stream (forwards and backwards, from a revision, the start
//     or the end, stream-not-found) and of $all (forwards inclusive of the
//     start position, backwards returning the events that end at or
//     before it, positions that are byte offsets in a log and so not
//     gapless, "invalid position" for a position that is not a record
//     boundary);
//   - catch-up subscriptions to $all with a server-side stream or event
//     type filter: confirmation, events after the start position
//     (exclusive), checkpoints, one caught-up message, then live events.
//
// It keeps everything in memory, has one node (no gossip, no leader
// election, no replication), and answers the server-features call with
// Unimplemented, as servers before 21.10 do. It implements no deletes,
// tombstones, stream metadata, projections, persistent subscriptions,
// authentication or TLS.
//
// It injects faults: unavailability (every call fails with Unavailable),
// a stopped listener (connections refused), delays, subscriptions dropped
// after some events, append responses lost after the append committed,
// and server-side edits of stored events.
package esdbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// DefaultMaxAppendSize is EventStoreDB's default MaxAppendSize: 1 MiB of
// event data, metadata and type names per append.
const DefaultMaxAppendSize = 1 << 20

// epochSize is the size of the non-event record that opens the log, so
// that no event sits at position 0 (EventStoreDB starts its log with an
// epoch record too).
const epochSize = 128

// recordOverhead approximates the bytes of a prepare record around its
// stream name, type, data and metadata.
const recordOverhead = 96

// Options configures a Server.
type Options struct {
	// MaxAppendSize caps the summed data, metadata and type bytes of one
	// append, as the server's MaxAppendSize setting does; 0 means
	// DefaultMaxAppendSize.
	MaxAppendSize int
	// SystemEvents makes every append also write one link event per event
	// to a "$ce-<category>" stream, as the $by_category system projection
	// does, so that $all holds events that are not the application's.
	SystemEvents bool
	// LegacyStreamPositions makes stream reads report no $all position,
	// as servers before 22.10 did (commit and prepare positions of
	// 2^64-1).
	LegacyStreamPositions bool
	// IdempotencyCache caps the number of committed event ids remembered
	// for the idempotency of appends with expected revision any or stream
	// exists (the server's committed-events cache); 0 means no cap.
	IdempotencyCache int
}

// record is one record of the simulated transaction log: an event, or
// the epoch record that opens the log.
type record struct {
	pos, size   uint64
	event       bool
	stream      string
	number      uint64
	id          uuid.UUID
	typ         string
	contentType string
	data, meta  []byte
	created     int64 // .NET ticks since the Unix epoch, as the server reports
}

func (r *record) end() uint64 { return r.pos + r.size }

type eventInfo struct {
	stream string
	number uint64
}

// Stats counts what the server did.
type Stats struct {
	// Writes is the number of appends that wrote events (idempotent
	// retries and refused appends are not counted).
	Writes int
	// Idempotent is the number of appends answered as retries.
	Idempotent int
	// Subscriptions is the number of subscriptions started.
	Subscriptions int
	// Reads is the number of count-limited reads served.
	Reads int
}

// Server is the protocol test double. Its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	addr string

	mu      sync.Mutex
	log     []*record
	end     uint64
	starts  map[uint64]int // record position -> index in log
	streams map[string][]*record
	ids     map[uuid.UUID]eventInfo
	idOrder []uuid.UUID
	notify  chan struct{} // closed and replaced after every commit
	subs    map[*subscription]struct{}
	stats   Stats

	// Faults.
	unavailable bool
	delay       time.Duration
	loseAppends int
	dropAfter   int

	srvMu sync.Mutex
	grpc  *grpc.Server
	lis   net.Listener
	done  chan struct{}
}

type subscription struct {
	drop chan struct{}
	once sync.Once
}

func (s *subscription) kill() { s.once.Do(func() { close(s.drop) }) }

// Start starts a server on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = DefaultMaxAppendSize
	}
	s := &Server{
		opts:    opts,
		log:     []*record{{pos: 0, size: epochSize}},
		end:     epochSize,
		starts:  map[uint64]int{0: 0},
		streams: make(map[string][]*record),
		ids:     make(map[uuid.UUID]eventInfo),
		notify:  make(chan struct{}),
		subs:    make(map[*subscription]struct{}),
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("esdbtest: %w", err)
	}
	s.addr = lis.Addr().String()
	s.serve(lis)
	return s, nil
}

// TB is the part of testing.TB that New uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// New starts a server and stops it when the test ends.
func New(tb TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("start EventStoreDB test double: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func (s *Server) serve(lis net.Listener) {
	g := grpc.NewServer(
		// The client pings every 10 s; allow it, as EventStoreDB does.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.ChainStreamInterceptor(s.streamFaults),
		grpc.ChainUnaryInterceptor(s.unaryFaults),
	)
	api.RegisterStreamsServer(g, streamsService{s: s})
	serverfeatures.RegisterServerFeaturesServer(g, featuresService{})
	s.srvMu.Lock()
	s.grpc, s.lis, s.done = g, lis, make(chan struct{})
	done := s.done
	s.srvMu.Unlock()
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// ConnectionString returns a single-node, insecure connection string for
// the server, with the given extra settings appended ("k=v" each).
func (s *Server) ConnectionString(settings ...string) string {
	cs := "esdb://" + s.addr + "?tls=false"
	for _, kv := range settings {
		cs += "&" + kv
	}
	return cs
}

// Close stops the server at once: connections are closed and running
// calls fail.
func (s *Server) Close() {
	s.Down()
	s.mu.Lock()
	for sub := range s.subs {
		sub.kill()
	}
	s.mu.Unlock()
}

// Down stops listening and closes every connection, as a crashed or
// unreachable node would: clients get connection errors (Unavailable)
// until Up. The data stays.
func (s *Server) Down() {
	s.srvMu.Lock()
	g, done := s.grpc, s.done
	s.grpc = nil
	s.srvMu.Unlock()
	if g == nil {
		return
	}
	g.Stop()
	<-done
}

// Up listens again on the same address after Down.
func (s *Server) Up() error {
	s.srvMu.Lock()
	running := s.grpc != nil
	s.srvMu.Unlock()
	if running {
		return nil
	}
	var lis net.Listener
	var err error
	// The port was just released; retry briefly in case it lingers.
	for i := 0; i < 50; i++ {
		if lis, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("esdbtest: listen again on %s: %w", s.addr, err)
	}
	s.serve(lis)
	return nil
}

// SetUnavailable makes every call fail with the gRPC status Unavailable
// (true) or serve again (false). Becoming unavailable also drops every
// running subscription with Unavailable.
func (s *Server) SetUnavailable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = on
	if on {
		for sub := range s.subs {
			sub.kill()
		}
	}
}

// SetDelay delays the start of every call by d (0: no delay). A delayed
// call still fails if its deadline passes first.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// LoseAppendResponses makes the next n appends commit their events and
// then fail with Unavailable, as when the response is lost on the way
// back; 0 stops it.
func (s *Server) LoseAppendResponses(n int) {
	s.mu.Lock()
	s.loseAppends = n
	s.mu.Unlock()
}

// DropSubscriptionsAfter makes every subscription started from now on
// fail with Unavailable after it has sent n events (0: never), as when a
// node restarts or a connection breaks mid-stream.
func (s *Server) DropSubscriptionsAfter(n int) {
	s.mu.Lock()
	s.dropAfter = n
	s.mu.Unlock()
}

// DropSubscriptions ends every running subscription with Unavailable.
func (s *Server) DropSubscriptions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		sub.kill()
	}
}

// EditEvent changes the data and user metadata of a stored event in
// place, as an administrator with access to the database files could.
// edit gets copies and returns the new values. It reports whether the
// event exists.
func (s *Server) EditEvent(stream string, number uint64, edit func(data, meta []byte) ([]byte, []byte)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.streams[stream]
	if number >= uint64(len(events)) {
		return false
	}
	r := events[number]
	r.data, r.meta = edit(append([]byte(nil), r.data...), append([]byte(nil), r.meta...))
	return true
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Head returns the position where the next record will be written (the
// end of the log).
func (s *Server) Head() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end
}

// injected is the error of a call refused by SetUnavailable.
var injected = status.Error(codes.Unavailable, "esdbtest: server unavailable (injected fault)")

func (s *Server) fault(ctx context.Context) error {
	s.mu.Lock()
	unavailable, delay := s.unavailable, s.delay
	s.mu.Unlock()
	if unavailable {
		return injected
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	return nil
}

func (s *Server) streamFaults(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.fault(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}

func (s *Server) unaryFaults(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.fault(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// featuresService answers like a server without the server-features API.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods answers Unimplemented: the client then assumes an
// older server and uses the calls every version has.
func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return nil, status.Error(codes.Unimplemented, "method GetSupportedMethods not implemented")
}

type streamsService struct {
	api.UnimplementedStreamsServer
	s *Server
}

// The expected versions of EventStoreDB's storage layer.
const (
	expectAny          = -2
	expectNoStream     = -1
	expectStreamExists = -4
)

// Append implements Streams.Append: one options message, then the
// proposed events, then one response.
func (svc streamsService) Append(stream api.Streams_AppendServer) error {
	s := svc.s
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first message of an append must be its options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "'stream_identifier' is a required argument")
	}
	var expected int64
	switch v := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Any:
		expected = expectAny
	case *api.AppendReq_Options_NoStream:
		expected = expectNoStream
	case *api.AppendReq_Options_StreamExists:
		expected = expectStreamExists
	case *api.AppendReq_Options_Revision:
		expected = int64(v.Revision)
	default:
		return status.Error(codes.InvalidArgument, "'expected_stream_revision' is a required argument")
	}
	var proposed []*record
	size := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := req.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		typ, ok := pm.GetMetadata()["type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "Required Metadata Property 'type' is missing")
		}
		ct, ok := pm.GetMetadata()["content-type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "Required Metadata Property 'content-type' is missing")
		}
		id, err := uuidFromProto(pm.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		size += len(typ) + len(pm.GetData()) + len(pm.GetCustomMetadata())
		if size > s.opts.MaxAppendSize {
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.opts.MaxAppendSize)
		}
		proposed = append(proposed, &record{
			event: true, stream: name, id: id, typ: typ, contentType: ct,
			data: append([]byte(nil), pm.GetData()...), meta: append([]byte(nil), pm.GetCustomMetadata()...),
		})
	}
	resp, lose := s.append(name, expected, proposed)
	if lose {
		return status.Error(codes.Unavailable, "esdbtest: append committed, response lost (injected fault)")
	}
	return stream.SendAndClose(resp)
}

// append decides an append as EventStoreDB's IndexWriter.CheckCommit
// does, writes it if it is new, and returns the response and whether the
// response is to be lost.
func (s *Server) append(name string, expected int64, proposed []*record) (*api.AppendResp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lose := false
	if s.loseAppends > 0 {
		s.loseAppends--
		lose = true
	}
	events := s.streams[name]
	cur := int64(len(events)) - 1 // -1: no stream
	wrong := func() *api.AppendResp { return wrongExpectedVersion(cur, expected) }

	if expected == expectStreamExists && cur < 0 {
		return wrong(), lose
	}
	if expected == expectAny || expected == expectStreamExists {
		// Idempotency by the committed-events cache: all ids known in
		// this stream is a retry; a known first id and an unknown later
		// one is a partial match (a wrong expected version); an unknown
		// first id is a new write.
		start, end := int64(-1), int64(-1)
		for i, p := range proposed {
			info, ok := s.ids[p.id]
			if !ok || info.stream != name {
				if i == 0 {
					start = -2
					break
				}
				return wrong(), lose
			}
			if i == 0 {
				start = int64(info.number)
			}
			end = int64(info.number)
		}
		if start >= 0 {
			s.stats.Idempotent++
			return success(end, events[end].pos), lose
		}
		return s.commit(name, proposed), lose
	}
	if expected < cur {
		// Idempotency in place: the ids must be the events right after
		// the expected revision.
		// A mismatch at the first event is a plain conflict, a later
		// one a partial match: the server answers both with a wrong
		// expected version.
		n := expected
		for _, p := range proposed {
			n++
			if n > cur || events[n].id != p.id {
				return wrong(), lose
			}
		}
		if n == expected {
			return wrong(), lose
		}
		s.stats.Idempotent++
		return success(n, events[n].pos), lose
	}
	if expected > cur {
		return wrong(), lose
	}
	return s.commit(name, proposed), lose
}

// commit writes events at the end of the stream and the log.
func (s *Server) commit(name string, proposed []*record) *api.AppendResp {
	if len(proposed) == 0 {
		cur := int64(len(s.streams[name])) - 1
		return success(cur, 0)
	}
	created := time.Now().UnixNano() / 100
	var last *record
	for _, p := range proposed {
		p.number = uint64(len(s.streams[name]))
		p.created = created
		s.put(p)
		s.remember(p.id, eventInfo{stream: name, number: p.number})
		last = p
		if s.opts.SystemEvents && !strings.HasPrefix(name, "$") {
			link := "$ce-" + category(name)
			s.put(&record{
				event: true, stream: link, number: uint64(len(s.streams[link])), id: uuid.New(),
				typ: "$>", contentType: "application/octet-stream", created: created,
				data: []byte(fmt.Sprintf("%d@%s", p.number, name)),
				meta: []byte(`{"$v":"3:-1:1:4","$c":0,"$p":0,"$causedBy":"` + p.id.String() + `"}`),
			})
		}
	}
	s.stats.Writes++
	close(s.notify)
	s.notify = make(chan struct{})
	return success(int64(last.number), last.pos)
}

// put appends a record to the log and its stream.
func (s *Server) put(r *record) {
	r.pos = s.end
	r.size = uint64(recordOverhead + len(r.stream) + len(r.typ) + len(r.data) + len(r.meta))
	s.end += r.size
	s.starts[r.pos] = len(s.log)
	s.log = append(s.log, r)
	s.streams[r.stream] = append(s.streams[r.stream], r)
}

func (s *Server) remember(id uuid.UUID, info eventInfo) {
	if _, ok := s.ids[id]; !ok && s.opts.IdempotencyCache > 0 {
		if len(s.idOrder) >= s.opts.IdempotencyCache {
			delete(s.ids, s.idOrder[0])
			s.idOrder = s.idOrder[1:]
		}
		s.idOrder = append(s.idOrder, id)
	}
	s.ids[id] = info
}

// category is what $by_category takes from a stream name: the part
// before the first dash.
func category(stream string) string {
	if i := strings.IndexByte(stream, '-'); i > 0 {
		return stream[:i]
	}
	return stream
}

func success(revision int64, pos uint64) *api.AppendResp {
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(revision)},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: pos, PreparePosition: pos,
		}},
	}}}
}

func wrongExpectedVersion(cur, expected int64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if cur < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(cur)}
	}
	switch expected {
	case expectAny:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case expectStreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case expectNoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(expected)}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Read implements Streams.Read: count-limited reads of a stream or of
// $all, and subscriptions to $all.
func (svc streamsService) Read(req *api.ReadReq, stream api.Streams_ReadServer) error {
	s := svc.s
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "'options' is a required argument")
	}
	match, checkpointEvery, err := filterOf(o)
	if err != nil {
		return err
	}
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	switch count := o.GetCountOption().(type) {
	case *api.ReadReq_Options_Count:
		s.mu.Lock()
		s.stats.Reads++
		s.mu.Unlock()
		if all := o.GetAll(); all != nil {
			return s.readAll(stream, all, backwards, count.Count, match)
		}
		if so := o.GetStream(); so != nil {
			return s.readStream(stream, so, backwards, count.Count)
		}
		return status.Error(codes.InvalidArgument, "'stream_option' is a required argument")
	case *api.ReadReq_Options_Subscription:
		if o.GetAll() == nil {
			return status.Error(codes.Unimplemented, "esdbtest: only subscriptions to $all are implemented")
		}
		if backwards {
			return status.Error(codes.InvalidArgument, "subscriptions read forwards")
		}
		return s.subscribeAll(stream, o.GetAll(), match, checkpointEvery)
	default:
		return status.Error(codes.InvalidArgument, "'count_option' is a required argument")
	}
}

// filterOf returns the event filter of a read (nil: every event) and how
// many considered events pass between checkpoints (the search window
// times the checkpoint interval multiplier).
func filterOf(o *api.ReadReq_Options) (func(*record) bool, int, error) {
	f := o.GetFilter()
	if f == nil {
		return nil, 0, nil
	}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	var field func(*record) string
	switch v := f.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, field = v.StreamIdentifier, func(r *record) string { return r.stream }
	case *api.ReadReq_Options_FilterOptions_EventType:
		expr, field = v.EventType, func(r *record) string { return r.typ }
	default:
		return nil, 0, status.Error(codes.InvalidArgument, "a filter needs a stream identifier or an event type expression")
	}
	var re *regexp.Regexp
	if expr.GetRegex() != "" {
		var err error
		if re, err = regexp.Compile(expr.GetRegex()); err != nil {
			return nil, 0, status.Errorf(codes.InvalidArgument, "invalid filter regex: %v", err)
		}
	}
	prefixes := expr.GetPrefix()
	match := func(r *record) bool {
		v := field(r)
		if re != nil && re.MatchString(v) {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(v, p) {
				return true
			}
		}
		return false
	}
	window := 32
	if m, ok := f.GetWindow().(*api.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = int(m.Max)
	}
	mult := int(f.GetCheckpointIntervalMultiplier())
	if mult == 0 {
		mult = 1
	}
	return match, mult * window, nil
}

// invalidPosition is the server's answer to a position that is not the
// start of a record or the end of the log.
var invalidPosition = status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")

// boundary checks that pos starts a record or is the end of the log;
// s.mu is held.
func (s *Server) boundary(pos uint64) bool {
	if pos == s.end {
		return true
	}
	_, ok := s.starts[pos]
	return ok
}

// firstAtOrAfter returns the index in the log of the first record at or
// after the boundary pos; s.mu is held.
func (s *Server) firstAtOrAfter(pos uint64) int {
	if i, ok := s.starts[pos]; ok {
		return i
	}
	return len(s.log)
}

func allPosition(all *api.ReadReq_Options_AllOptions, end uint64) (pos uint64, isEnd bool) {
	switch v := all.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		return v.Position.GetCommitPosition(), false
	case *api.ReadReq_Options_AllOptions_End:
		return end, true
	default:
		return 0, false
	}
}

func (s *Server) readAll(stream api.Streams_ReadServer, all *api.ReadReq_Options_AllOptions, backwards bool, count uint64, match func(*record) bool) error {
	s.mu.Lock()
	pos, _ := allPosition(all, s.end)
	if p := all.GetPosition(); p != nil && p.GetPreparePosition() != p.GetCommitPosition() {
		s.mu.Unlock()
		return invalidPosition
	}
	if !s.boundary(pos) {
		s.mu.Unlock()
		return invalidPosition
	}
	var out []*api.ReadResp
	if backwards {
		// Events whose record ends at or before pos, newest first.
		for i := s.firstAtOrAfter(pos) - 1; i >= 0 && uint64(len(out)) < count; i-- {
			if r := s.log[i]; r.event && r.end() <= pos && (match == nil || match(r)) {
				out = append(out, s.eventResp(r, true))
			}
		}
	} else {
		for i := s.firstAtOrAfter(pos); i < len(s.log) && uint64(len(out)) < count; i++ {
			if r := s.log[i]; r.event && (match == nil || match(r)) {
				out = append(out, s.eventResp(r, true))
			}
		}
	}
	s.mu.Unlock()
	for _, m := range out {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) readStream(stream api.Streams_ReadServer, so *api.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	name := string(so.GetStreamIdentifier().GetStreamName())
	s.mu.Lock()
	events := s.streams[name]
	if len(events) == 0 {
		s.mu.Unlock()
		return stream.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	last := uint64(len(events) - 1)
	var from uint64
	switch v := so.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = v.Revision
	case *api.ReadReq_Options_StreamOptions_End:
		from = last + 1
		if backwards {
			from = last
		}
	}
	var out []*api.ReadResp
	if backwards {
		from = min(from, last)
		for n := int64(from); n >= 0 && uint64(len(out)) < count; n-- {
			out = append(out, s.eventResp(events[n], !s.opts.LegacyStreamPositions))
		}
	} else {
		for n := from; n <= last && uint64(len(out)) < count; n++ {
			out = append(out, s.eventResp(events[n], !s.opts.LegacyStreamPositions))
		}
	}
	s.mu.Unlock()
	for _, m := range out {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// eventResp encodes an event as the server sends it; s.mu is held.
func (s *Server) eventResp(r *record, positions bool) *api.ReadResp {
	commit, prepare := r.pos, r.pos
	if !positions {
		commit, prepare = ^uint64(0), ^uint64(0)
	}
	most, least := esdb.UUIDAsInt64(r.id)
	ev := &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.number,
			PreparePosition:  prepare,
			CommitPosition:   commit,
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
	}
	if positions {
		ev.Position = &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: commit}
	} else {
		ev.Position = &api.ReadResp_ReadEvent_NoPosition{NoPosition: &shared.Empty{}}
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: ev}}
}

// subscribeAll serves a catch-up subscription to $all: the confirmation,
// the events after the start position that pass the filter (checkpoints
// between them), one caught-up message when it reaches the end of the
// log, then live events.
func (s *Server) subscribeAll(stream api.Streams_ReadServer, all *api.ReadReq_Options_AllOptions, match func(*record) bool, checkpointEvery int) error {
	ctx := stream.Context()
	s.mu.Lock()
	pos, isEnd := allPosition(all, s.end)
	if p := all.GetPosition(); p != nil && p.GetPreparePosition() != p.GetCommitPosition() {
		s.mu.Unlock()
		return invalidPosition
	}
	if !s.boundary(pos) {
		s.mu.Unlock()
		return invalidPosition
	}
	// next is the index of the first record to consider: after the start
	// position's record (the start is exclusive), or from the beginning.
	next := s.firstAtOrAfter(pos)
	if _, ok := all.GetAllOption().(*api.ReadReq_Options_AllOptions_Position); ok && next < len(s.log) {
		next++
	}
	if isEnd {
		next = len(s.log)
	}
	sub := &subscription{drop: make(chan struct{})}
	s.subs[sub] = struct{}{}
	s.stats.Subscriptions++
	dropAfter := s.dropAfter
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()

	if err := stream.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	sent, considered, caughtUp := 0, 0, false
	for {
		s.mu.Lock()
		batch := make([]*api.ReadResp, 0, 64)
		var checkpoints []int // indexes in batch before which to send a checkpoint
		var checkpointPos []uint64
		for ; next < len(s.log) && len(batch) < 64; next++ {
			r := s.log[next]
			if !r.event {
				continue
			}
			considered++
			if match == nil || match(r) {
				batch = append(batch, s.eventResp(r, true))
			}
			if checkpointEvery > 0 && considered >= checkpointEvery {
				considered = 0
				checkpoints = append(checkpoints, len(batch))
				checkpointPos = append(checkpointPos, r.pos)
			}
		}
		atEnd := next == len(s.log)
		notify := s.notify
		s.mu.Unlock()

		c := 0
		for i, m := range batch {
			for c < len(checkpoints) && checkpoints[c] == i {
				if err := s.sendCheckpoint(stream, checkpointPos[c]); err != nil {
					return err
				}
				c++
			}
			select {
			case <-sub.drop:
				return status.Error(codes.Unavailable, "esdbtest: subscription dropped (injected fault)")
			default:
			}
			if dropAfter > 0 && sent >= dropAfter {
				return status.Error(codes.Unavailable, "esdbtest: subscription dropped (injected fault)")
			}
			if err := stream.Send(m); err != nil {
				return err
			}
			sent++
		}
		for ; c < len(checkpoints); c++ {
			if err := s.sendCheckpoint(stream, checkpointPos[c]); err != nil {
				return err
			}
		}
		if !atEnd {
			continue
		}
		if !caughtUp {
			caughtUp = true
			if err := stream.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-notify:
		case <-sub.drop:
			return status.Error(codes.Unavailable, "esdbtest: subscription dropped (injected fault)")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (s *Server) sendCheckpoint(stream api.Streams_ReadServer, pos uint64) error {
	return stream.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
		CommitPosition: pos, PreparePosition: pos,
	}}})
}

func uuidFromProto(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		return esdb.ParseUUIDFromInt64(st.GetMostSignificantBits(), st.GetLeastSignificantBits())
	}
	if str := u.GetString_(); str != "" {
		return uuid.Parse(str)
	}
	return uuid.Nil, errors.New("'id' is a required argument")
}
