// Command parledger is the system of record for a PAR Index campaign.
//
//	parledger serve    run the HTTP API (and the demo with --demo)
//	parledger demo     load the Hanoi 2017 demo campaign into a data directory
//	parledger replay   rebuild the projections from the log and print rankings
//	parledger export   write the whole ledger as NDJSON
//	parledger import   copy an NDJSON export into a store
//	parledger verify   check a store, a running server or an export
//	parledger compare  check that two stores hold the same ledger
//	parledger token    issue, list or revoke credentials
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "parledger:", err)
		os.Exit(1)
	}
}

const usage = `parledger: the system of record for the PAR Index.

Usage:
  parledger serve   [--addr :8080] [--data ./data] [--store URL] [--demo]
  parledger demo    [--data ./data] [--store URL]
  parledger replay  [--data ./data] [--store URL] [--campaign ID] [--until POSITION|TIME|DAY]
  parledger export  [--data ./data] [--store URL] [--out FILE]
  parledger import  [--data ./data] [--store URL] --in FILE
  parledger verify  [--data ./data | --store URL]
  parledger verify  --server URL --key FILE --checkpoint FILE
  parledger verify  --export FILE --key FILE --checkpoint FILE
  parledger compare --from DIR|URL --to DIR|URL
  parledger token   create|list|revoke ... (see parledger token -h)
  parledger bench   load|rebuild|readall|http|scores ... (see parledger bench -h)

Every command takes its settings from flags or from the environment:
PARLEDGER_ADDR, PARLEDGER_DATA, PARLEDGER_STORE, PARLEDGER_ORIGIN.
`

// Run runs one command with its arguments.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		m := NewMain(stdout, stderr)
		if err := m.ParseFlags(rest); err != nil {
			return err
		}
		if m.Config.GCPercent > 0 {
			debug.SetGCPercent(m.Config.GCPercent)
		}
		if err := m.Run(ctx); err != nil {
			_ = m.Close()
			return err
		}
		<-ctx.Done()
		return m.Close()
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, stdout, stderr)
	case "export":
		return runExport(ctx, rest, stdout, stderr)
	case "import":
		return runImport(ctx, rest, stdout, stderr)
	case "verify":
		return runVerify(ctx, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
