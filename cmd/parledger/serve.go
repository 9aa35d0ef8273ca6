package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/eventstore/bolt"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/projections"
)

// Config is the configuration of serve, from flags and environment.
type Config struct {
	Addr  string // PARLEDGER_ADDR
	Data  string // PARLEDGER_DATA
	Store string // PARLEDGER_STORE: empty for the embedded store in Data
	Demo  bool   // load the demo into an empty ledger first
	Quiet bool   // log warnings and errors only
}

// DefaultConfig returns the defaults, overridden by the environment.
func DefaultConfig() Config {
	c := Config{Addr: ":8080", Data: "./data"}
	if v := os.Getenv("PARLEDGER_ADDR"); v != "" {
		c.Addr = v
	}
	if v := os.Getenv("PARLEDGER_DATA"); v != "" {
		c.Data = v
	}
	c.Store = os.Getenv("PARLEDGER_STORE")
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
	switch {
	case c.Store == "", c.Store == "bolt":
	case strings.HasPrefix(c.Store, "esdb://"), strings.HasPrefix(c.Store, "esdb+discover://"), strings.HasPrefix(c.Store, "kurrentdb://"):
		errs = append(errs, errors.New("--store: the EventStoreDB store is not available in this build yet; use the embedded store"))
	default:
		errs = append(errs, fmt.Errorf("--store %q: use an empty value for the embedded store, or esdb://host:2113", c.Store))
	}
	return errors.Join(errs...)
}

// Main is a running parledger server: its store, services, projections
// and HTTP server. The same Main runs in end-to-end tests.
type Main struct {
	Config Config

	Store   *bolt.Store
	Blobs   *blobs.Store
	Service *ledger.Service
	Board   *projections.Scoreboard
	Tokens  *projections.Tokens
	Runner  *projections.Runner
	History *projections.History
	Server  *ledgerhttp.Server
	Logger  *slog.Logger

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
		if err := loadDemoIfEmpty(ctx, m.Config.Data, m.stdout); err != nil {
			return err
		}
	}
	store, bl, err := openLedger(m.Config.Data, nil)
	if err != nil {
		return err
	}
	m.Store, m.Blobs = store, bl
	m.Board, m.Tokens = projections.NewScoreboard(), projections.NewTokens()
	if m.History, err = projections.OpenHistory(filepath.Join(m.Config.Data, "timeline.db"), m.Board, store); err != nil {
		_ = store.Close()
		return err
	}
	m.Runner = projections.NewRunner(store, m.Logger, m.Board, m.Tokens, m.History)
	metrics := ledgerhttp.NewMetrics(store, m.Runner)
	m.Service = ledger.NewService(store, ledger.Options{Observer: metrics})

	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = m.Runner.Run(runCtx)
	}()

	if err := m.bootstrapToken(ctx); err != nil {
		return err
	}

	m.Server = ledgerhttp.NewServer()
	m.Server.Addr = m.Config.Addr
	m.Server.Service, m.Server.Blobs, m.Server.Board, m.Server.Tokens = m.Service, bl, m.Board, m.Tokens
	m.Server.Runner, m.Server.Metrics, m.Server.Logger, m.Server.History = m.Runner, metrics, m.Logger, m.History
	if err := m.Server.Open(); err != nil {
		return err
	}
	m.Logger.Info("parledger serving", "url", m.Server.URL(), "data", m.Config.Data)
	return nil
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
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

// openLedger opens the embedded store and the blob store in dir.
func openLedger(dir string, clock func() time.Time) (*bolt.Store, *blobs.Store, error) {
	store, err := bolt.Open(dir, bolt.Options{Clock: clock})
	if err != nil {
		return nil, nil, err
	}
	bl, err := blobs.Open(filepath.Join(dir, "blobs"), blobs.Options{})
	if err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	return store, bl, nil
}

// isEmpty reports whether a store has no events.
func isEmpty(ctx context.Context, s eventstore.Store) (bool, error) {
	head, err := s.Head(ctx)
	return head == 0, err
}
