package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/eventstore/bolt"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/oidc"
	"github.com/parledger/parledger/projections"
	"github.com/parledger/parledger/transparency"
)

// Config is the configuration of serve, from flags and environment.
type Config struct {
	Addr  string // PARLEDGER_ADDR
	Data  string // PARLEDGER_DATA
	Store string // PARLEDGER_STORE: empty for the embedded store in Data
	Demo  bool   // load the demo into an empty ledger first
	Quiet bool   // log warnings and errors only
	// Origin names the log in its signed checkpoints (PARLEDGER_ORIGIN).
	Origin string
	// CheckpointEvery is how often a new checkpoint is published when the
	// ledger has grown; zero publishes only on demand.
	CheckpointEvery time.Duration
	// OIDC is the path of an OpenID Connect configuration file
	// (PARLEDGER_OIDC); empty: parledger's own credentials only.
	OIDC string
	// GCPercent is the garbage collector's target percentage, as GOGC
	// sets it; zero leaves the runtime's own (GOGC's, when it is set).
	// See DefaultGCPercent.
	GCPercent int
	// DebugAddr, when set, is the address of a second listener serving
	// the Go runtime's profiles (PARLEDGER_DEBUG_ADDR; see debugServer).
	DebugAddr string
}

// DefaultGCPercent is serve's garbage collector target unless GOGC is
// set: the heap may grow to five times the data live after a collection
// before the next one starts. Most of a server's heap is its projections,
// large and long-lived, while a request leaves little garbage; with Go's
// default of 100 each collection marks the whole projections again as
// soon as that little garbage adds up to their size, and at national
// scale the requests that meet a collection wait for it (measured in
// docs/benchmarks.md: p99 of a rankings page 22-24 ms at 100, 19 ms at
// 400, with heap in use 0.6 against 0.75-1.3 GiB under reads, up to
// 2.5 GiB after score writes). Set GOMEMLIMIT to cap the heap: the
// runtime then collects more often as it nears the limit.
const DefaultGCPercent = 400

// DefaultConfig returns the defaults, overridden by the environment.
func DefaultConfig() Config {
	c := Config{Addr: ":8080", Data: "./data", Origin: transparency.DefaultOrigin, CheckpointEvery: 10 * time.Minute}
	if v := os.Getenv("PARLEDGER_ORIGIN"); v != "" {
		c.Origin = v
	}
	if v := os.Getenv("PARLEDGER_ADDR"); v != "" {
		c.Addr = v
	}
	if v := os.Getenv("PARLEDGER_DATA"); v != "" {
		c.Data = v
	}
	c.Store = os.Getenv("PARLEDGER_STORE")
	c.OIDC = os.Getenv("PARLEDGER_OIDC")
	c.DebugAddr = os.Getenv("PARLEDGER_DEBUG_ADDR")
	if os.Getenv("GOGC") == "" {
		c.GCPercent = DefaultGCPercent
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr is empty"))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("--data is empty"))
	}
	if err := validateStore(c.Store); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(c.Origin) == "" || strings.ContainsAny(c.Origin, "\n") {
		errs = append(errs, errors.New("--origin must be one line of text naming the log"))
	}
	if c.GCPercent < 0 {
		errs = append(errs, errors.New("--gc-percent must be a positive percentage, or 0 to leave the runtime's (GOGC)"))
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			errs = append(errs, fmt.Errorf("--debug-addr %q is not a host:port address (e.g. 127.0.0.1:6060)", c.DebugAddr))
		} else if c.DebugAddr == c.Addr {
			errs = append(errs, errors.New("--debug-addr must differ from --addr: the profiles are served apart from the API"))
		}
	}
	if c.CheckpointEvery < 0 {
		errs = append(errs, errors.New("--checkpoint-every must not be negative"))
	}
	if c.OIDC != "" {
		if _, err := oidc.LoadConfig(c.OIDC); err != nil {
			errs = append(errs, fmt.Errorf("--oidc: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Main is a running parledger server: its store, services, projections
// and HTTP server. The same Main runs in end-to-end tests.
type Main struct {
	Config Config

	Store   eventstore.Store
	Bolt    *bolt.Store // the embedded store, nil on EventStoreDB
	Blobs   *blobs.Store
	Service *ledger.Service
	Board   *projections.Scoreboard
	Tokens  *projections.Tokens
	Runner  *projections.Runner
	History *projections.History
	Log     *transparency.Log
	Signer  *transparency.Signer
	Server  *ledgerhttp.Server
	Logger  *slog.Logger

	debug          *debugServer // nil unless Config.DebugAddr is set
	stdout, stderr io.Writer
	cancel         context.CancelFunc
	wg             sync.WaitGroup
}

// NewMain returns a Main with the default configuration.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Config: DefaultConfig(), stdout: stdout, stderr: stderr}
}

// ParseFlags reads serve's flags into m.Config and validates it.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	fs.StringVar(&m.Config.Addr, "addr", m.Config.Addr, "address to listen on (PARLEDGER_ADDR)")
	fs.StringVar(&m.Config.Data, "data", m.Config.Data, "data directory of the embedded store (PARLEDGER_DATA)")
	fs.StringVar(&m.Config.Store, "store", m.Config.Store, "store: empty for the embedded store, esdb://... for EventStoreDB (PARLEDGER_STORE)")
	fs.BoolVar(&m.Config.Demo, "demo", m.Config.Demo, "load the Hanoi 2017 demo into an empty ledger first")
	fs.BoolVar(&m.Config.Quiet, "quiet", m.Config.Quiet, "log warnings and errors only")
	fs.StringVar(&m.Config.Origin, "origin", m.Config.Origin, "the log's name in its signed checkpoints (PARLEDGER_ORIGIN)")
	fs.DurationVar(&m.Config.CheckpointEvery, "checkpoint-every", m.Config.CheckpointEvery, "publish a signed checkpoint this often when the ledger grew (0: on demand only)")
	fs.StringVar(&m.Config.OIDC, "oidc", m.Config.OIDC, "OpenID Connect configuration file: sign in with an identity provider too (PARLEDGER_OIDC)")
	fs.StringVar(&m.Config.DebugAddr, "debug-addr", m.Config.DebugAddr, "serve the Go runtime's profiles (pprof, execution traces) on this address, apart from the API; keep it on loopback or a private network (PARLEDGER_DEBUG_ADDR; default off)")
	fs.IntVar(&m.Config.GCPercent, "gc-percent", m.Config.GCPercent, "the garbage collector's target percentage, as GOGC (0: the runtime's; default 400 unless GOGC is set)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	return m.Config.Validate()
}

// Run opens the ledger, starts the projections and the HTTP server, and
// returns; the server runs until Close.
func (m *Main) Run(ctx context.Context) error {
	level := slog.LevelInfo
	if m.Config.Quiet {
		level = slog.LevelWarn
	}
	m.Logger = slog.New(slog.NewTextHandler(m.stderr, &slog.HandlerOptions{Level: level}))
	if m.Config.Demo {
		if err := loadDemoIfEmpty(ctx, m.Config.Data, m.Config.Store, m.stdout); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	store, bs, err := openStore(ctx, m.Config.Data, m.Config.Store, storeOptions{registry: reg, logger: m.Logger})
	if err != nil {
		return err
	}
	m.Store, m.Bolt = store, bs
	if m.Blobs, err = openBlobs(m.Config.Data); err != nil {
		return err
	}
	m.Board, m.Tokens = projections.NewScoreboard(), projections.NewTokens()
	if m.History, err = projections.OpenHistory(filepath.Join(m.Config.Data, "timeline.db"), m.Board, store); err != nil {
		return err
	}
	if m.Log, err = transparency.Open(filepath.Join(m.Config.Data, transparency.FileName), transparency.Options{Logger: m.Logger}); err != nil {
		return err
	}
	if m.Signer, err = transparency.LoadOrCreateKey(m.Config.Data, m.Config.Origin); err != nil {
		return err
	}
	m.Runner = projections.NewRunner(store, m.Logger, m.Board, m.Tokens, m.History)
	metrics := ledgerhttp.NewMetricsOn(reg, store, m.Runner)
	m.Service = ledger.NewService(store, ledger.Options{Observer: metrics})

	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		_ = m.Runner.Run(runCtx)
	}()
	go func() {
		defer m.wg.Done()
		if err := m.Log.Follow(runCtx, store); err != nil {
			m.Logger.Error("the Merkle log stopped: the ledger differs from it", "err", err)
		}
	}()

	if err := m.bootstrapToken(ctx); err != nil {
		return err
	}

	m.Server = ledgerhttp.NewServer()
	m.Server.Addr = m.Config.Addr
	m.Server.Service, m.Server.Blobs, m.Server.Board, m.Server.Tokens = m.Service, m.Blobs, m.Board, m.Tokens
	m.Server.Runner, m.Server.Metrics, m.Server.Logger, m.Server.History = m.Runner, metrics, m.Logger, m.History
	m.Server.Log, m.Server.Signer = m.Log, m.Signer
	if m.Config.OIDC != "" {
		cfg, err := oidc.LoadConfig(m.Config.OIDC)
		if err != nil {
			return err
		}
		if m.Server.OIDC, err = oidc.New(ctx, cfg); err != nil {
			return err
		}
		m.Logger.Info("signing in with an identity provider too", "issuer", cfg.Issuer)
	}
	if err := m.Server.Open(); err != nil {
		return err
	}
	if m.Config.DebugAddr != "" {
		if m.debug, err = openDebug(m.Config.DebugAddr, m.Logger); err != nil {
			return err
		}
		m.Logger.Info("serving the runtime's profiles", "url", m.debug.URL())
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.publishCheckpoints(runCtx)
	}()
	m.Logger.Info("parledger serving", "url", m.Server.URL(), "data", m.Config.Data, "store", storeName(m.Config.Store), "gc_percent", currentGCPercent())
	return nil
}

func storeName(store string) string {
	if isESDB(store) {
		return "EventStoreDB"
	}
	return "embedded"
}

// publishCheckpoints checks, once the Merkle log has caught up, that it
// still matches the last published checkpoint, then publishes a signed
// checkpoint every CheckpointEvery while the ledger grows.
func (m *Main) publishCheckpoints(ctx context.Context) {
	for !m.Log.CaughtUp() {
		if m.Log.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if latest, err := m.Service.LatestCheckpoint(ctx); err == nil && latest != nil {
		cp, err := transparency.ParseCheckpoint([]byte(latest.Note), m.Signer.Verifier())
		if err == nil {
			err = m.Log.VerifyCheckpoint(cp)
		}
		if err != nil {
			m.Logger.Error("the Merkle log does not match the last published checkpoint", "size", latest.Size, "err", err)
		}
	}
	if m.Config.CheckpointEvery <= 0 {
		return
	}
	tick := time.NewTicker(m.Config.CheckpointEvery)
	defer tick.Stop()
	for {
		latest, err := m.Service.LatestCheckpoint(ctx)
		// The checkpoint's own event is the one leaf after its size: a
		// ledger that got nothing else since needs no new checkpoint (an
		// idle server would otherwise record one every period).
		if err == nil && (latest == nil || m.Log.Size() > latest.Size+1) {
			if _, _, err := m.Server.PublishCheckpoint(ctx, ledger.Request{Principal: domain.System}); err != nil && ctx.Err() == nil {
				m.Logger.Warn("publish checkpoint", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// bootstrapToken issues a first Home Affairs credential when the ledger has
// none, and writes it to a file only the operator can read.
func (m *Main) bootstrapToken(ctx context.Context) error {
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := m.Runner.WaitCaughtUp(waitCtx); err != nil {
		return fmt.Errorf("projections did not catch up: %w", err)
	}
	if len(m.Tokens.List()) > 0 {
		return nil
	}
	tok, err := m.Service.IssueToken(ctx, ledger.Request{Principal: operator()}, domain.Principal{ID: "home-affairs-admin", Role: domain.RoleHomeAffairs}, "first credential, issued at first start", 30*24*time.Hour)
	if err != nil {
		return fmt.Errorf("issue the first credential: %w", err)
	}
	// The credential works once the projections know it: wait, so that a
	// caller of Run can use it at once.
	if n := len(tok.Result.Events); n > 0 {
		if err := m.Runner.WaitFor(waitCtx, tok.Result.Events[n-1].Position); err != nil {
			return fmt.Errorf("the first credential is not yet known: %w", err)
		}
	}
	path := filepath.Join(m.Config.Data, "initial-token")
	if err := os.WriteFile(path, []byte(tok.Secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the first credential: %w", err)
	}
	m.Logger.Info("issued a first Home Affairs credential", "file", path, "token_id", tok.TokenID)
	return nil
}

// operator is the principal of commands run on the data directory itself.
func operator() domain.Principal {
	name := os.Getenv("USER")
	if name == "" {
		name = "operator"
	}
	return domain.Principal{ID: "cli-" + sanitizeID(name), Role: domain.RoleHomeAffairs}
}

func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "operator"
	}
	return b.String()
}

// Close stops the server (draining requests for up to 10 seconds), the
// projections and the store.
func (m *Main) Close() error {
	var errs []error
	errs = append(errs, m.debug.close())
	if m.Server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, m.Server.Close(ctx))
		cancel()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.History != nil {
		errs = append(errs, m.History.Close())
	}
	if m.Log != nil {
		errs = append(errs, m.Log.Close())
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

// isEmpty reports whether a store has no events.
func isEmpty(ctx context.Context, s eventstore.Store) (bool, error) {
	head, err := s.Head(ctx)
	return head == 0, err
}

// currentGCPercent returns the garbage collector's target percentage in
// force (GOGC's or --gc-percent's), or "off".
func currentGCPercent() string {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[0].Value.Uint64() > math.MaxInt32 {
		return "off"
	}
	return strconv.FormatUint(s[0].Value.Uint64(), 10)
}
