package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// DefaultTimeout bounds one call to EventStoreDB when Options.Timeout is
// zero.
const DefaultTimeout = 10 * time.Second

// Options configures Open.
type Options struct {
	// StreamPrefixes are the prefixes of the ledger's stream names. Append
	// refuses other streams (their events would be invisible to the global
	// log), and ReadAll, Subscribe and Head see only the events of streams
	// that start with one of them. Nil means domain.StreamPrefixes. The
	// empty prefix (every stream) is allowed only with a Namespace.
	StreamPrefixes []string
	// Namespace, when not empty, is prepended to every stream name in
	// EventStoreDB and removed on reading, so that several ledgers (or test
	// runs) share a cluster without seeing each other. It is 1 to 64
	// letters, digits and "._:-". A deployment normally leaves it empty.
	Namespace string
	// Registerer receives the store's metrics (see docs/deployment.md);
	// nil leaves them unregistered. The store never uses the global
	// registry.
	Registerer prometheus.Registerer
	// Logger receives the store's warnings, and the client library's
	// messages at debug level; nil discards them.
	Logger *slog.Logger
	// Clock returns the recorded time of appended events; nil means
	// time.Now. The demo uses a simulated clock; a real server never sets
	// it.
	Clock func() time.Time
	// Timeout bounds each call to EventStoreDB: one attempt of an append,
	// one page of a read, the start of a subscription. Zero means
	// DefaultTimeout.
	Timeout time.Duration
}

// supportedSettings are the connection string settings Open accepts (in
// lower case): those of client v4.2.0 that parledger can run with.
var supportedSettings = []string{
	"tls", "tlscafile", "tlsverifycert", "usercertfile", "userkeyfile",
	"nodepreference", "keepaliveinterval", "keepalivetimeout",
	"maxdiscoverattempts", "discoveryinterval", "gossiptimeout", "defaultdeadline",
}

// Store is the eventstore contract on EventStoreDB. It holds one client
// (one gRPC connection to the node it discovered) and replaces it when
// the node stays unreachable. It is safe for concurrent use; open one per
// process and Close it on shutdown.
type Store struct {
	cfg      esdb.Configuration
	ns       string
	names    []string // the stream prefixes, as the ledger names streams
	prefixes []string // namespace + prefix, as EventStoreDB sees them
	log      *slog.Logger
	clock    func() time.Time
	timeout  time.Duration
	m        *metrics

	mu           sync.Mutex
	cur          *conn
	closed       bool
	down         bool // the last call found the server unreachable
	failures     int  // consecutive unreachable calls
	lastRecreate time.Time
	// While down, one call at a time probes the server (see acquire).
	probing    bool
	probeUntil time.Time
	probeDone  chan struct{}
	probeConn  *conn

	// closing ends when Close starts: reads and subscriptions stop then.
	closing context.Context
	cancel  context.CancelFunc

	bounds bounds
	ids    idCache
	head   headCache
}

var _ eventstore.Store = (*Store)(nil)

// conn is one client and the calls running on it. A replaced client is
// closed only when its last call has returned: closing a v4.2.0 client
// while a call is about to use it makes that call panic.
type conn struct {
	client   *esdb.Client
	inflight sync.WaitGroup
}

// Open connects to EventStoreDB. connectionString is an esdb:// URL
// (esdb+discover:// for DNS discovery; kurrentdb:// and
// kurrentdb+discover:// are synonyms; several host:port pairs separated
// by commas are gossip seeds) with these settings:
//
//	tls=false                 plain gRPC (default true: TLS)
//	tlsCAFile=/path/ca.crt    CA certificate of the cluster
//	tlsVerifyCert=false       skip certificate verification (tests only)
//	userCertFile, userKeyFile X.509 client certificate and key
//	user:password@            credentials (basic auth; needs TLS)
//	nodePreference=leader     the only accepted value (the default)
//	keepAliveInterval=10000   ms between keep-alive pings (-1: off)
//	keepAliveTimeout=10000    ms to wait for a ping's answer
//	maxDiscoverAttempts=10    discovery attempts before the client gives up
//	discoveryInterval=100     ms between discovery attempts
//	gossipTimeout=5           s to wait for a gossip answer
//	defaultDeadline=10000     ms; accepted, but every call of the store
//	                          has its own deadline (Options.Timeout)
//
// Open fails on any other setting, on credentials without TLS (the client
// would silently not send them), on a node preference other than leader
// (an append is read back at once, which a lagging follower could not
// serve), and, with an eventstore.ErrUnavailable error, when the server
// does not answer within ctx and Options.Timeout. Errors never repeat the
// connection string, which may hold a password.
func Open(ctx context.Context, connectionString string, opts Options) (*Store, error) {
	cfg, err := parseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	prefixes, err := checkNames(opts.Namespace, opts.StreamPrefixes)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:      *cfg,
		ns:       opts.Namespace,
		names:    opts.StreamPrefixes,
		prefixes: prefixes,
		log:      opts.Logger,
		clock:    opts.Clock,
		timeout:  opts.Timeout,
		m:        newMetrics(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.names == nil {
		s.names = domain.StreamPrefixes
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	s.cfg.Logger = clientLogger(s.log)
	s.bounds.max = maxBounds
	s.ids.capacity = idCacheSize
	s.closing, s.cancel = context.WithCancel(context.Background())
	client, err := esdb.NewClient(&s.cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: %v", err)
	}
	s.cur = &conn{client: client}
	if err := s.ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("esdb: open: %w", err)
	}
	if opts.Registerer != nil {
		if err := s.m.register(opts.Registerer); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("esdb: open: %w", err)
		}
	}
	return s, nil
}

// parseConnectionString checks the settings and parses the string with
// the client's parser. KurrentDB's schemes are accepted for EventStoreDB's.
func parseConnectionString(cs string) (*esdb.Configuration, error) {
	for kurrent, es := range map[string]string{"kurrentdb://": "esdb://", "kurrentdb+discover://": "esdb+discover://"} {
		if rest, ok := strings.CutPrefix(cs, kurrent); ok {
			cs = es + rest
		}
	}
	if i := strings.IndexByte(cs, '?'); i >= 0 {
		q, err := url.ParseQuery(cs[i+1:])
		if err != nil {
			return nil, fmt.Errorf("esdb: invalid connection string: settings: %v", err)
		}
		for k := range q {
			if !slices.Contains(supportedSettings, strings.ToLower(k)) {
				return nil, fmt.Errorf("esdb: connection string setting %q is not supported; use %s", k, strings.Join(supportedSettings, ", "))
			}
		}
	}
	cfg, err := esdb.ParseConnectionString(cs)
	if err != nil {
		// A *url.Error quotes the whole string, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("esdb: invalid connection string: %v", err)
	}
	if cfg.NodePreference != esdb.NodePreferenceLeader {
		return nil, fmt.Errorf("esdb: nodePreference=%s: parledger needs the leader (appends are read back at once)", cfg.NodePreference)
	}
	if cfg.Username != "" && cfg.DisableTLS {
		return nil, errors.New("esdb: the connection string has credentials and tls=false: client v4.2.0 sends credentials only over TLS")
	}
	return cfg, nil
}

// checkNames validates the namespace and prefixes and returns the
// prefixes as EventStoreDB sees them.
func checkNames(ns string, prefixes []string) ([]string, error) {
	if ns != "" {
		if len(ns) > 64 || strings.HasPrefix(ns, "$") {
			return nil, fmt.Errorf("esdb: namespace %q: 1 to 64 characters, not starting with $", ns)
		}
		for _, c := range ns {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)) {
				return nil, fmt.Errorf("esdb: namespace %q: only letters, digits and ._:- are allowed", ns)
			}
		}
	}
	if prefixes == nil {
		prefixes = domain.StreamPrefixes
	}
	if len(prefixes) == 0 {
		return nil, errors.New("esdb: no stream prefixes")
	}
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		if p == "" && ns == "" {
			return nil, errors.New("esdb: the empty stream prefix needs a namespace (it would take in every stream of the cluster)")
		}
		if strings.HasPrefix(p, "$") {
			return nil, fmt.Errorf("esdb: stream prefix %q: $ streams belong to EventStoreDB", p)
		}
		out[i] = ns + p
	}
	return out, nil
}

// clientLogger passes the client library's messages to log at debug
// level: the client logs ordinary outcomes (a missing stream) as errors.
func clientLogger(log *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("esdb client: "+fmt.Sprintf(format, args...), "level", level)
		}
	}
}

// Close ends running reads and subscriptions (they yield
// eventstore.ErrClosed), lets appends in flight finish or fail (within
// Options.Timeout), then closes the client. Later calls fail with
// eventstore.ErrClosed. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cn := s.cur
	s.mu.Unlock()
	s.cancel()
	drained := make(chan struct{})
	go func() {
		cn.inflight.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		_ = cn.client.Close()
	case <-time.After(s.timeout + 5*time.Second):
		s.log.Warn("esdb: calls still running at close; the client is closed when they end")
		go func() {
			<-drained
			_ = cn.client.Close()
		}()
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

var errClosed = fmt.Errorf("esdb: %w", eventstore.ErrClosed)

// lease is the use of a client by one call.
type lease struct {
	s       *Store
	cn      *conn
	probe   chan struct{} // closed when the probe ends; nil for other calls
	settled bool
}

// acquire returns the current client for one call. While the server is
// unreachable, one call at a time (the probe) may use the client: client
// v4.2.0 serializes calls behind its node discovery, and calls waiting
// there when discovery gives up are never answered. Other calls wait for
// the probe (within ctx and the store's timeout) and go on if it
// succeeded, or fail with eventstore.ErrUnavailable. A probe that does not
// come back within the timeout means the client is wedged: it is
// replaced.
func (s *Store) acquire(ctx context.Context) (*lease, error) {
	waited := false
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return nil, eventstore.ErrClosed
		}
		if !s.down {
			break
		}
		expired := s.probing && time.Now().After(s.probeUntil)
		if !s.probing || expired {
			if expired {
				s.recreateLocked(s.probeConn, errors.New("a call did not return within the timeout"))
			}
			l := &lease{s: s, cn: s.cur, probe: make(chan struct{})}
			s.probing, s.probeUntil, s.probeDone, s.probeConn = true, time.Now().Add(s.timeout+time.Second), l.probe, l.cn
			l.cn.inflight.Add(1)
			s.mu.Unlock()
			return l, nil
		}
		if waited {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: EventStoreDB is unreachable; reconnecting", eventstore.ErrUnavailable)
		}
		done := s.probeDone
		s.mu.Unlock()
		t := time.NewTimer(s.timeout)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
		waited = true
		s.mu.Lock()
	}
	l := &lease{s: s, cn: s.cur}
	l.cn.inflight.Add(1)
	s.mu.Unlock()
	return l, nil
}

// recreateAfter is the number of consecutive calls that found the server
// unreachable after which the client is replaced; a client whose node
// discovery failed is replaced at once.
const recreateAfter = 3

// release ends the call: settle, then done.
func (l *lease) release(err error, learn bool) {
	l.settle(err, learn)
	l.done()
}

// done gives the client back.
func (l *lease) done() { l.cn.inflight.Done() }

// settle ends the call's probe, if it is one, and, when learn is set,
// learns from the call's outcome whether the server is reachable (not
// when the caller's context ended, which says nothing about the server).
// Only its first call counts: a subscription settles when it starts and
// gives the client back when it ends.
func (l *lease) settle(err error, learn bool) {
	if l.settled {
		return
	}
	l.settled = true
	s := l.s
	k := classify(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.probe != nil {
		close(l.probe)
		if s.probeDone == l.probe {
			s.probing = false
		}
	}
	if s.closed || !learn || k == kindCanceled {
		return
	}
	switch k {
	case kindUnavailable, kindClosedConn:
		s.failures++
		if !s.down {
			s.down = true
			s.log.Warn("esdb: EventStoreDB unreachable", "err", err)
		}
		if k == kindClosedConn || s.failures >= recreateAfter && time.Since(s.lastRecreate) >= time.Second {
			s.recreateLocked(l.cn, err)
		}
	default:
		if s.down {
			s.log.Info("esdb: EventStoreDB reachable again")
		}
		s.down, s.failures = false, 0
	}
}

// recreateLocked replaces the client cn by a new one (s.mu held). The old
// one is closed when its last call returns.
func (s *Store) recreateLocked(cn *conn, cause error) {
	if s.cur != cn || s.closed {
		return
	}
	client, err := esdb.NewClient(&s.cfg)
	if err != nil {
		s.log.Error("esdb: cannot create a new client", "err", err)
		return
	}
	s.cur = &conn{client: client}
	s.failures = 0
	s.lastRecreate = time.Now()
	s.m.recreations.Inc()
	s.log.Warn("esdb: replaced the EventStoreDB client", "cause", cause)
	go func() {
		cn.inflight.Wait()
		_ = cn.client.Close()
	}()
}

type result[T any] struct {
	v   T
	err error
}

// do runs fn with the current client in its own goroutine, under a
// deadline of s.timeout, and returns its result, or the context's error
// when the deadline passes or ctx ends first. The goroutine protects the
// caller from client v4.2.0 calls that block without regard to their
// context.
func do[T any](ctx context.Context, s *Store, fn func(ctx context.Context, c *esdb.Client) (T, error)) (T, error) {
	var zero T
	l, err := s.acquire(ctx)
	if err != nil {
		return zero, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	ch := make(chan result[T], 1)
	go func() {
		v, err := fn(cctx, l.cn.client)
		l.release(err, ctx.Err() == nil)
		ch <- result[T]{v, err}
		cancel()
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-cctx.Done():
		// The goroutine cancels cctx after sending its result.
		select {
		case r := <-ch:
			return r.v, r.err
		default:
			return zero, cctx.Err()
		}
	}
}

// opContext returns a context that also ends when the store closes, for
// reads and subscriptions.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// kind classifies the client's errors.
type kind int

const (
	kindNone kind = iota
	kindOther
	kindUnavailable
	kindClosedConn
	kindCanceled
	kindNotFound
	kindWrongVersion
	kindDeleted
	kindDenied
	kindInvalid
)

// classify reads an error of the client (an *esdb.Error, read with
// errors.As, or a gRPC status).
func classify(err error) kind {
	if err == nil {
		return kindNone
	}
	var ee *esdb.Error
	if errors.As(err, &ee) {
		switch ee.Code() {
		case esdb.ErrorUnavailable, esdb.ErrorCodeDeadlineExceeded, esdb.ErrorCodeNotLeader:
			return kindUnavailable
		case esdb.ErrorCodeConnectionClosed:
			return kindClosedConn
		case esdb.ErrorCodeResourceNotFound:
			return kindNotFound
		case esdb.ErrorCodeWrongExpectedVersion:
			return kindWrongVersion
		case esdb.ErrorCodeStreamDeleted:
			return kindDeleted
		case esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeAccessDenied:
			return kindDenied
		}
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return kindUnavailable
	case codes.Canceled:
		return kindCanceled
	case codes.NotFound:
		return kindNotFound
	case codes.Unauthenticated, codes.PermissionDenied:
		return kindDenied
	case codes.InvalidArgument:
		return kindInvalid
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return kindUnavailable
	case errors.Is(err, context.Canceled):
		return kindCanceled
	case errors.Is(err, eventstore.ErrUnavailable):
		return kindUnavailable
	}
	return kindOther
}

// translate turns a client error of operation op into the contract's
// errors. ctx is the caller's context (merged with the store's closing).
func (s *Store) translate(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, eventstore.ErrUnavailable) && !isClientError(err):
		return fmt.Errorf("esdb: %s: %w", op, err)
	case ctx.Err() != nil:
		if s.isClosed() {
			return fmt.Errorf("esdb: %s: %w", op, eventstore.ErrClosed)
		}
		return fmt.Errorf("esdb: %s: %w", op, ctx.Err())
	}
	switch classify(err) {
	case kindUnavailable, kindCanceled:
		s.m.unavailable.WithLabelValues(op).Inc()
		return fmt.Errorf("esdb: %s: %w: %v", op, eventstore.ErrUnavailable, err)
	case kindClosedConn:
		if s.isClosed() {
			return fmt.Errorf("esdb: %s: %w", op, eventstore.ErrClosed)
		}
		s.m.unavailable.WithLabelValues(op).Inc()
		return fmt.Errorf("esdb: %s: %w: the client lost its connection: %v", op, eventstore.ErrUnavailable, err)
	case kindNotFound:
		return fmt.Errorf("esdb: %s: %w", op, eventstore.ErrStreamNotFound)
	case kindDeleted:
		return fmt.Errorf("esdb: %s: %w: the stream was deleted in EventStoreDB: %v", op, eventstore.ErrCorrupt, err)
	case kindDenied:
		return fmt.Errorf("esdb: %s: access denied (check the credentials of the connection string): %v", op, err)
	}
	return fmt.Errorf("esdb: %s: %v", op, err)
}

func isClientError(err error) bool {
	var ee *esdb.Error
	return errors.As(err, &ee)
}

// ping reads the last event of $all: it checks that the server answers.
func (s *Store) ping(ctx context.Context) error {
	_, err := s.readAllPage(ctx, esdb.Backwards, esdb.End{}, 1)
	return s.translate(ctx, "ping", err)
}

// esdbStream returns the EventStoreDB name of a ledger stream.
func (s *Store) esdbStream(stream string) string { return s.ns + stream }

// owns reports whether an EventStoreDB stream belongs to the ledger.
func (s *Store) owns(esdbStream string) bool {
	if strings.HasPrefix(esdbStream, "$") {
		return false
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(esdbStream, p) {
			return true
		}
	}
	return false
}

// checkStream refuses a stream name that is not valid or not the
// ledger's.
func (s *Store) checkStream(stream string) error {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return err
	}
	if !s.owns(s.esdbStream(stream)) {
		return fmt.Errorf("%w: %q does not start with one of the store's prefixes %q, so the global log would not show it", eventstore.ErrInvalidStream, stream, s.names)
	}
	return nil
}
