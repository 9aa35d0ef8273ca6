package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/esdb"
)

// isESDB reports whether a store setting names EventStoreDB.
func isESDB(store string) bool {
	for _, scheme := range []string{"esdb://", "esdb+discover://", "kurrentdb://", "kurrentdb+discover://"} {
		if strings.HasPrefix(store, scheme) {
			return true
		}
	}
	return false
}

// validateStore checks a store setting: empty (or "bolt") for the
// embedded store, or an EventStoreDB connection string.
func validateStore(store string) error {
	if store == "" || store == "bolt" || isESDB(store) {
		return nil
	}
	return fmt.Errorf("--store %q: leave it empty for the embedded store, or give an EventStoreDB connection string esdb://host:2113?tls=false", store)
}

// storeOptions are what opening a store may need.
type storeOptions struct {
	clock    func() time.Time
	registry prometheus.Registerer
	logger   *slog.Logger
}

// openStore opens the ledger named by store: the embedded store in data
// when store is empty, else EventStoreDB. The embedded store is also
// returned as *bolt.Store (nil for EventStoreDB) for what only it offers.
func openStore(ctx context.Context, data, store string, opts storeOptions) (eventstore.Store, *bolt.Store, error) {
	if err := validateStore(store); err != nil {
		return nil, nil, err
	}
	if isESDB(store) {
		s, err := esdb.Open(ctx, store, esdb.Options{Clock: opts.clock, Registerer: opts.registry, Logger: opts.logger})
		if err != nil {
			return nil, nil, err
		}
		return s, nil, nil
	}
	s, err := bolt.Open(data, bolt.Options{Clock: opts.clock})
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// openBlobs opens the evidence store in data.
func openBlobs(data string) (*blobs.Store, error) {
	return blobs.Open(filepath.Join(data, "blobs"), blobs.Options{})
}

// storeFlags declares --data and --store on fs.
func storeFlags(fs *flag.FlagSet) (data, store *string) {
	c := DefaultConfig()
	return fs.String("data", c.Data, "data directory of the embedded store (PARLEDGER_DATA)"),
		fs.String("store", c.Store, "store: empty for the embedded store in --data, esdb://... for EventStoreDB (PARLEDGER_STORE)")
}

// openFlagged opens the store that --data and --store name.
func openFlagged(ctx context.Context, data, store string) (eventstore.Store, *bolt.Store, error) {
	return openStore(ctx, data, store, storeOptions{})
}
