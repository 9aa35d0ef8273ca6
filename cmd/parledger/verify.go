package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/transparency"
)

// runVerify checks a ledger in one of three ways:
//
//	verify [--data DIR | --store URL]                      the store itself
//	verify --server URL --key FILE --checkpoint FILE       a running server, against the checkpoint saved last time
//	verify --export FILE --key FILE --checkpoint FILE      an NDJSON export, offline
//
// Any mismatch ends with a non-zero exit and a message naming the event.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	data, storeURL := storeFlags(fs)
	server := fs.String("server", "", "verify a running server at this URL")
	export := fs.String("export", "", "verify this NDJSON export offline")
	keyFile := fs.String("key", "", "file holding the log's public key (GET /api/v1/ledger/key)")
	cpFile := fs.String("checkpoint", "", "checkpoint file: the one saved last time (online; updated) or the one to check the export against")
	event := fs.String("event", "", "online: also check that this event (id) is in the signed tree (needs PARLEDGER_TOKEN)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case *export != "":
		// With --server or --data, a root mismatch is narrowed down to the
		// first event that differs.
		var ref transparency.Prover
		if *server != "" {
			ref = &apiClient{base: strings.TrimRight(*server, "/"), http: &http.Client{Timeout: 30 * time.Second}, ctx: ctx}
		} else if path := filepath.Join(*data, transparency.FileName); fileExists(path) {
			lg, err := transparency.Open(path, transparency.Options{})
			if err != nil {
				return err
			}
			defer lg.Close()
			ref = lg
		}
		return verifyExport(*export, *keyFile, *cpFile, ref, stdout)
	case *server != "":
		return verifyServer(ctx, *server, *keyFile, *cpFile, *event, stdout)
	}
	return verifyStore(ctx, *data, *storeURL, stdout)
}

// verifyStore checks the store's structure and every content hash, and
// the Merkle log in the data directory against the store.
func verifyStore(ctx context.Context, data, storeURL string, stdout io.Writer) error {
	store, bs, err := openFlagged(ctx, data, storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	if bs != nil {
		rep, err := bs.Verify(ctx)
		if err != nil {
			return fmt.Errorf("verification failed: %w", err)
		}
		fmt.Fprintf(stdout, "ok: %d events in %d streams, positions 1 to %d gapless, every content hash verified\n", rep.Events, rep.Streams, rep.Head)
	} else {
		n, streams, err := walkLog(ctx, store)
		if err != nil {
			return fmt.Errorf("verification failed: %w", err)
		}
		fmt.Fprintf(stdout, "ok: %d events in %d streams, revisions gapless, every content hash verified\n", n, streams)
	}
	path := filepath.Join(data, transparency.FileName)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stdout, "no Merkle log in %s to check\n", data)
		return nil
	}
	lg, err := transparency.Open(path, transparency.Options{})
	if err != nil {
		return err
	}
	defer lg.Close()
	rep, err := lg.Audit(ctx, store)
	if err != nil {
		return fmt.Errorf("the ledger differs from its Merkle log: %w", err)
	}
	fmt.Fprintf(stdout, "ok: the Merkle log's %d leaves match the ledger (%d newer events not yet in it)\n", rep.Checked, rep.Pending)
	return nil
}

// walkLog reads the whole log, checking each stream's revisions run
// without gaps (the store checks each event's content hash as it reads).
func walkLog(ctx context.Context, store eventstore.Store) (uint64, int, error) {
	next := map[string]uint64{}
	var n uint64
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			return n, len(next), err
		}
		if err := e.VerifyHash(); err != nil {
			return n, len(next), err
		}
		if e.Revision != next[e.Stream] {
			return n, len(next), fmt.Errorf("%w: position %d holds %q revision %d, expected %d", eventstore.ErrCorrupt, e.Position, e.Stream, e.Revision, next[e.Stream])
		}
		next[e.Stream]++
		n++
	}
	return n, len(next), nil
}

// verifierFrom reads a public key file.
func verifierFrom(path string) (note.Verifier, error) {
	if path == "" {
		return nil, errors.New("verify: --key is required (the log's public key, from GET /api/v1/ledger/key)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return transparency.NewVerifier(string(b))
}

// verifyServer fetches the server's latest checkpoint, checks its
// signature, proves it consistent with the checkpoint saved last time, and
// saves it.
func verifyServer(ctx context.Context, server, keyFile, cpFile, event string, stdout io.Writer) error {
	if cpFile == "" {
		return errors.New("verify: --checkpoint is required (where the last checkpoint is kept)")
	}
	v, err := verifierFrom(keyFile)
	if err != nil {
		return err
	}
	base, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil {
		return fmt.Errorf("verify: --server: %w", err)
	}
	api := &apiClient{base: base.String(), http: &http.Client{Timeout: 30 * time.Second}, ctx: ctx, token: os.Getenv("PARLEDGER_TOKEN")}
	get := api.get
	raw, err := get("/api/v1/ledger/checkpoint")
	if err != nil {
		return err
	}
	latest, err := transparency.ParseCheckpoint(raw, v)
	if err != nil {
		return fmt.Errorf("verification failed: the server's checkpoint: %w", err)
	}
	old, err := transparency.ReadCheckpointFile(cpFile, v)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stdout, "no checkpoint saved yet in %s: trusting this first one (%d events); keep it\n", cpFile, latest.Size)
	case err != nil:
		return fmt.Errorf("verification failed: the saved checkpoint: %w", err)
	default:
		body, err := get(fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", old.Size, latest.Size))
		if err != nil {
			return err
		}
		proof, err := transparency.ParseConsistencyProof(body)
		if err != nil {
			return fmt.Errorf("verification failed: %w", err)
		}
		if err := transparency.VerifyConsistencyWith(old, latest, proof.Hashes); err != nil {
			return fmt.Errorf("verification failed: the ledger of %d events is not a continuation of the one of %d events you saved: %w", latest.Size, old.Size, err)
		}
		fmt.Fprintf(stdout, "ok: the ledger grew from %d to %d events without rewriting any of the first %d\n", old.Size, latest.Size, old.Size)
	}
	if event != "" {
		if err := verifyServedEvent(api, latest, event, stdout); err != nil {
			return err
		}
	}
	if err := transparency.WriteCheckpointFile(cpFile, latest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved the checkpoint of %d events to %s\n", latest.Size, cpFile)
	return nil
}

// verifyServedEvent checks that an event, as the server serves it (its
// revision, recorded time and content hash), is a leaf of the signed tree.
func verifyServedEvent(api *apiClient, cp transparency.Checkpoint, id string, stdout io.Writer) error {
	body, err := api.get("/api/v1/events/" + url.PathEscape(id))
	if err != nil {
		return err
	}
	var ev struct {
		Revision    uint64
		RecordedAt  time.Time
		ContentHash eventstore.Hash
		Position    uint64
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Errorf("verify: the event: %w", err)
	}
	body, err = api.get(fmt.Sprintf("/api/v1/ledger/proof/inclusion?event=%s&size=%d", url.QueryEscape(id), cp.Size))
	if err != nil {
		return err
	}
	proof, err := transparency.ParseInclusionProof(body)
	if err != nil {
		return fmt.Errorf("verification failed: %w", err)
	}
	e := eventstore.Event{Revision: ev.Revision, RecordedAt: ev.RecordedAt, ContentHash: ev.ContentHash}
	if !bytes.Equal(transparency.LeafHash(&e), proof.LeafHash) {
		return fmt.Errorf("verification failed: event %s as served (revision %d, recorded %s, hash %s) is not the leaf the proof proves", id, ev.Revision, ev.RecordedAt.Format(time.RFC3339Nano), ev.ContentHash)
	}
	if err := transparency.VerifyInclusion(cp, proof); err != nil {
		return fmt.Errorf("verification failed: event %s: %w", id, err)
	}
	fmt.Fprintf(stdout, "ok: event %s (position %d) is leaf %d of the signed tree of %d events\n", id, ev.Position, proof.LeafIndex, cp.Size)
	return nil
}

// apiClient reads a server's ledger routes.
type apiClient struct {
	base  string
	http  *http.Client
	ctx   context.Context
	token string
}

func (c *apiClient) get(path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// ConsistencyProof asks the server for a consistency proof (Prover).
func (c *apiClient) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	body, err := c.get(fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", size1, size2))
	if err != nil {
		return nil, err
	}
	p, err := transparency.ParseConsistencyProof(body)
	if err != nil {
		return nil, err
	}
	return p.Hashes, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// verifyExport recomputes every content hash of an export and the Merkle
// root of the events a signed checkpoint covers.
func verifyExport(path, keyFile, cpFile string, ref transparency.Prover, stdout io.Writer) error {
	v, err := verifierFrom(keyFile)
	if err != nil {
		return err
	}
	if cpFile == "" {
		return errors.New("verify: --checkpoint is required (the signed checkpoint to check the export against)")
	}
	cp, err := transparency.ReadCheckpointFile(cpFile, v)
	if err != nil {
		return fmt.Errorf("verification failed: the checkpoint: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := transparency.VerifyExport(f, cp, ref)
	if err != nil {
		return fmt.Errorf("verification failed: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %d events, every content hash verified; the first %d build the checkpoint's root\n", rep.Events, rep.Covered)
	return nil
}

// runCompare checks that two stores hold the same ledger, event by event:
// the way to confirm a copy (export, then import) is complete.
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	from := fs.String("from", "", "the original: a data directory or an EventStoreDB connection string")
	to := fs.String("to", "", "the copy: a data directory or an EventStoreDB connection string")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return errors.New("compare: --from and --to are required")
	}
	open := func(spec string) (eventstore.Store, error) {
		if isESDB(spec) {
			s, _, err := openStore(ctx, "", spec, storeOptions{})
			return s, err
		}
		s, _, err := openStore(ctx, spec, "", storeOptions{})
		return s, err
	}
	a, err := open(*from)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := open(*to)
	if err != nil {
		return err
	}
	defer b.Close()
	n, err := compareLogs(ctx, a, b)
	if err != nil {
		return fmt.Errorf("the copy differs: %w", err)
	}
	fmt.Fprintf(stdout, "ok: both hold the same %d events (ids, streams, revisions, recorded times, content hashes, in order)\n", n)
	return nil
}

// compareLogs walks two logs side by side.
func compareLogs(ctx context.Context, a, b eventstore.Store) (uint64, error) {
	type item struct {
		e   eventstore.Event
		err error
	}
	next := func(seq func(func(eventstore.Event, error) bool)) (func() (eventstore.Event, bool, error), func()) {
		ch := make(chan item)
		done := make(chan struct{})
		go func() {
			defer close(ch)
			for e, err := range seq {
				select {
				case ch <- item{e, err}:
				case <-done:
					return
				}
				if err != nil {
					return
				}
			}
		}()
		return func() (eventstore.Event, bool, error) {
			it, ok := <-ch
			return it.e, ok, it.err
		}, func() { close(done) }
	}
	na, stopA := next(a.ReadAll(ctx, eventstore.ReadAllOptions{}))
	defer stopA()
	nb, stopB := next(b.ReadAll(ctx, eventstore.ReadAllOptions{}))
	defer stopB()
	var n uint64
	for {
		ea, oka, erra := na()
		eb, okb, errb := nb()
		if erra != nil || errb != nil {
			return n, errors.Join(erra, errb)
		}
		switch {
		case !oka && !okb:
			return n, nil
		case !oka:
			return n, fmt.Errorf("the copy has more events: event %d is %s (%q revision %d)", n+1, eb.ID, eb.Stream, eb.Revision)
		case !okb:
			return n, fmt.Errorf("the copy ends after %d events; the original goes on with %s (%q revision %d)", n, ea.ID, ea.Stream, ea.Revision)
		}
		n++
		if ea.ID != eb.ID || ea.Stream != eb.Stream || ea.Revision != eb.Revision || ea.ContentHash != eb.ContentHash || !ea.RecordedAt.Equal(eb.RecordedAt) {
			return n, fmt.Errorf("event %d: the original has %s (%q revision %d, %s, hash %s), the copy %s (%q revision %d, %s, hash %s)",
				n, ea.ID, ea.Stream, ea.Revision, ea.RecordedAt.Format(time.RFC3339Nano), ea.ContentHash, eb.ID, eb.Stream, eb.Revision, eb.RecordedAt.Format(time.RFC3339Nano), eb.ContentHash)
		}
	}
}
