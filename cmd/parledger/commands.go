package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/projections"
)

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

// progressBar prints "label  n/total (p%)" on one line of w.
type progressBar struct {
	w     io.Writer
	label string
	total uint64
	last  time.Time
}

func (p *progressBar) set(n uint64, force bool) {
	if !force && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(n) / float64(p.total)
	}
	const width = 30
	filled := int(pct / 100 * width)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d (%.0f%%)", p.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), n, p.total, pct)
	if force {
		fmt.Fprintln(p.w)
	}
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	campaign := fs.String("campaign", "", "print only this campaign")
	until := fs.String("until", "", "replay only up to this log position, time (RFC 3339) or day (YYYY-MM-DD, its end in Hanoi)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	stop, err := parseUntil(*until)
	if err != nil {
		return err
	}
	store, _, err := openFlagged(ctx, *data, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	if stop.position > 0 && stop.position < uint64(head) {
		head = eventstore.Position(stop.position)
	}
	board := projections.NewScoreboard()
	bar := &progressBar{w: stderr, label: "replaying", total: uint64(head)}
	start := time.Now()
	var n uint64
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			return fmt.Errorf("replay after %d events: %w", n, err)
		}
		if stop.position > 0 && uint64(e.Position) > stop.position || !stop.at.IsZero() && e.RecordedAt.After(stop.at) {
			break
		}
		r, err := ledger.Decode(e)
		if err != nil {
			return err
		}
		board.Apply(r)
		n++
		bar.set(n, false)
	}
	bar.set(n, true)
	fmt.Fprintf(stderr, "replayed %d events in %s\n", n, time.Since(start).Round(time.Millisecond))
	for _, c := range board.Campaigns() {
		if *campaign != "" && c.ID != *campaign {
			continue
		}
		rk, _ := board.Rankings(c.ID)
		printRankings(stdout, rk)
	}
	return nil
}

// until is where a replay stops: a position or a time (zero: the end).
type until struct {
	position uint64
	at       time.Time
}

func parseUntil(s string) (until, error) {
	if s == "" {
		return until{}, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && n > 0 {
		return until{position: n}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return until{at: t}, nil
	}
	if d, err := domain.ParseDate(s); err == nil {
		return until{at: d.End().Add(-time.Nanosecond)}, nil
	}
	return until{}, fmt.Errorf("--until %q: give a log position, an RFC 3339 time or a day YYYY-MM-DD", s)
}

// printRankings prints rankings as officials read them: decimal commas.
func printRankings(w io.Writer, rk *projections.Rankings) {
	fmt.Fprintf(w, "\n%s (%s), position %d\n", rk.Title, rk.Campaign, rk.Position)
	for _, b := range rk.Blocks {
		name := map[domain.Block]string{domain.BlockDepartments: "Khối sở, cơ quan ngang sở", domain.BlockDistricts: "Khối quận, huyện, thị xã"}[b.Block]
		fmt.Fprintf(w, "\n%s (%s)\n", name, b.Framework)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "Hạng\tĐơn vị\tChỉ số %\tTự chấm\tThẩm định\tĐTXHH\tThưởng/trừ\tXếp loại\tTrạng thái\t")
		for _, row := range b.Rows {
			bonus := row.Score.Bonus.Sub(row.Score.Penalty)
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Rank, row.Unit.Name, comma(row.Score.Index.StringFixed(2)),
				comma(row.Score.Self.String()), comma(row.Score.Appraised.String()), comma(row.Score.Survey.String()), comma(bonus.String()), row.Grade, row.Status)
		}
		_ = tw.Flush()
	}
}

func comma(s string) string { return strings.Replace(s, ".", ",", 1) }

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	out := fs.String("out", "-", "file to write, - for standard output")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	store, _, err := openFlagged(ctx, *data, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	w := stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return err
		}
		w = f
	}
	n, err := eventstore.Export(ctx, store, w)
	if f != nil {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d events\n", n)
	return nil
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	in := fs.String("in", "", "NDJSON export to import")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("import: --in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	store, _, err := openFlagged(ctx, *data, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	bar := &progressBar{w: stderr, label: "importing"}
	st, err := eventstore.Import(ctx, store, f, func(done int64) { bar.set(uint64(done), false) })
	if err != nil {
		return err
	}
	bar.total = uint64(st.Events)
	bar.set(uint64(st.Events), true)
	fmt.Fprintf(stdout, "%d events in the file: %d imported, %d already present\n", st.Events, st.Imported, st.Skipped)
	return nil
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("token: use token create, token list or token revoke")
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	switch args[0] {
	case "create":
		id := fs.String("id", "", "principal id, e.g. to-cong-tac-001")
		role := fs.String("role", "", "role: unit, appraiser, home-affairs, council, institute or auditor")
		scope := fs.String("scope", "", "unit code (role unit) or agency code (role appraiser)")
		name := fs.String("name", "", "a note on whom the credential is for")
		ttl := fs.Duration("ttl", 90*24*time.Hour, "lifetime")
		if err := parse(fs, args[1:], stderr); err != nil {
			return err
		}
		store, _, err := openFlagged(ctx, *data, *storeURL)
		if err != nil {
			return err
		}
		defer store.Close()
		svc := ledger.NewService(store, ledger.Options{})
		tok, err := svc.IssueToken(ctx, ledger.Request{Principal: operator()}, domain.Principal{ID: *id, Role: domain.Role(*role), Scope: *scope}, *name, *ttl)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "token %s for %s (%s %s), expires %s; the secret is shown once:\n", tok.TokenID, tok.Principal.ID, tok.Principal.Role, tok.Principal.Scope, tok.ExpiresAt.Format(time.RFC3339))
		fmt.Fprintln(stdout, tok.Secret)
		return nil
	case "list", "revoke":
		tokenID := fs.String("token", "", "token id to revoke")
		reason := fs.String("reason", "", "why the token is revoked")
		if err := parse(fs, args[1:], stderr); err != nil {
			return err
		}
		store, _, err := openFlagged(ctx, *data, *storeURL)
		if err != nil {
			return err
		}
		defer store.Close()
		tokens := projections.NewTokens()
		for e, err := range store.ReadStream(ctx, domain.TokenStream, eventstore.ReadStreamOptions{}) {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				break
			}
			if err != nil {
				return err
			}
			r, err := ledger.Decode(e)
			if err != nil {
				return err
			}
			tokens.Apply(r)
		}
		if args[0] == "list" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(tokens.List())
		}
		if tok, ok := tokens.Get(*tokenID); !ok {
			return fmt.Errorf("token revoke: no token %q", *tokenID)
		} else if tok.Revoked {
			return fmt.Errorf("token revoke: %s is already revoked", *tokenID)
		}
		svc := ledger.NewService(store, ledger.Options{})
		if _, err := svc.RevokeToken(ctx, ledger.Request{Principal: operator()}, *tokenID, *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", *tokenID)
		return nil
	}
	return fmt.Errorf("token: unknown subcommand %q; use create, list or revoke", args[0])
}
