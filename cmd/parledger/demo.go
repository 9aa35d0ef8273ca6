package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/ledger"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	loaded, err := loadDemo(ctx, *data, *storeURL, stdout, true)
	if err != nil {
		return err
	}
	if !loaded {
		return fmt.Errorf("the ledger in %s is not empty; the demo loads only into an empty one", *data)
	}
	return nil
}

// loadDemoIfEmpty loads the demo when the ledger in dir has no events.
func loadDemoIfEmpty(ctx context.Context, dir, storeURL string, stdout io.Writer) error {
	_, err := loadDemo(ctx, dir, storeURL, stdout, false)
	return err
}

// loadDemo plays the Hanoi 2017 campaign into an empty ledger on a
// simulated clock, then issues demo credentials in real time and writes
// them to demo-tokens.txt in the data directory.
func loadDemo(ctx context.Context, dir, storeURL string, stdout io.Writer, verbose bool) (bool, error) {
	clock := demo.NewClock(demo.Start)
	store, _, err := openStore(ctx, dir, storeURL, storeOptions{clock: clock.Now})
	if err != nil {
		return false, err
	}
	bl, err := openBlobs(dir)
	if err != nil {
		return false, errors.Join(err, store.Close())
	}
	empty, err := isEmpty(ctx, store)
	if err != nil || !empty {
		return false, errors.Join(err, store.Close())
	}
	fmt.Fprintln(stdout, "Loading the Hanoi 2017 demo campaign (simulated 2017 calendar)...")
	start := time.Now()
	svc := ledger.NewService(store, ledger.Options{Clock: clock.Now})
	progress := func(step string) {
		if verbose {
			fmt.Fprintf(stdout, "  %s\n", step)
		}
	}
	sum, err := demo.Load(ctx, svc, bl, clock, progress)
	var tokens []demo.DemoToken
	if err == nil {
		tokens, err = demo.IssueDemoTokens(ctx, svc)
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, "Loaded %d events (%d units, %d evidence files, %d explanations) in %s.\n",
		sum.Events, sum.Units, sum.EvidenceFiles, sum.Explanations, time.Since(start).Round(time.Millisecond))
	path := filepath.Join(dir, "demo-tokens.txt")
	var b strings.Builder
	fmt.Fprintln(&b, "# parledger demo credentials: send as Authorization: Bearer <secret>")
	for _, t := range tokens {
		fmt.Fprintf(&b, "%-13s %-8s %-26s %s\n", t.Role, t.Scope, t.PrincipalID, t.Secret)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return false, err
	}
	fmt.Fprintf(stdout, "Demo credentials written to %s\n", path)
	return true, nil
}
