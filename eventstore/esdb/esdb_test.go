package esdb_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/esdb"
	"github.com/parledger/parledger/eventstore/esdb/esdbtest"
	"github.com/parledger/parledger/eventstore/storetest"
)

// realServerEnv names the variable that holds the connection string of a
// real EventStoreDB or KurrentDB for TestComplianceRealServer.
const realServerEnv = "PARLEDGER_TEST_ESDB"

// MustOpen opens a store on connectionString and closes it when the test
// ends.
func MustOpen(tb testing.TB, connectionString string, opts esdb.Options) *esdb.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdb.Open(ctx, connectionString, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// namespace returns a namespace no other store of the run uses, so that
// every store of the compliance suite starts empty on a shared server.
func namespace() string {
	return "t" + uuid.NewString()[:8] + "-"
}

// harness runs the compliance suite on connectionString: every Open gets
// a fresh namespace and accepts every stream name; reopening opens a new
// store (a new client) on the same namespace.
func harness(connectionString string) storetest.Harness {
	return storetest.Harness{
		Open: func(tb testing.TB) (eventstore.Store, func() eventstore.Store) {
			opts := esdb.Options{Namespace: namespace(), StreamPrefixes: []string{""}, Registerer: prometheus.NewRegistry()}
			s := MustOpen(tb, connectionString, opts)
			return s, func() eventstore.Store {
				if err := s.Close(); err != nil {
					tb.Fatalf("close: %v", err)
				}
				opts.Registerer = prometheus.NewRegistry()
				return MustOpen(tb, connectionString, opts)
			}
		},
		// $all positions are byte offsets in EventStoreDB's log.
		Features: storetest.Features{GaplessPositions: false},
	}
}

// TestCompliance runs the compliance suite through the real client and
// real gRPC against the protocol test double, which writes system events
// between the ledger's so that positions have gaps and $all holds events
// that are not the ledger's.
func TestCompliance(t *testing.T) {
	srv := esdbtest.New(t, esdbtest.Options{SystemEvents: true})
	storetest.Run(t, harness(srv.ConnectionString()))
}

// TestComplianceRealServer runs the compliance suite against the server
// whose connection string is in PARLEDGER_TEST_ESDB.
func TestComplianceRealServer(t *testing.T) {
	cs := os.Getenv(realServerEnv)
	if cs == "" {
		t.Skipf("%s is not set: no real EventStoreDB to test against. Start one with\n"+
			"  docker run --rm -p 2113:2113 eventstore/eventstore:latest --insecure --run-projections=All --mem-db\n"+
			"(or docker.kurrent.io/kurrent-latest/kurrentdb:latest with the same flags) and run\n"+
			"  %s='esdb://127.0.0.1:2113?tls=false' go test -run RealServer ./eventstore/esdb/",
			realServerEnv, realServerEnv)
	}
	storetest.Run(t, harness(cs))
}

func ExampleOpen() {
	srv, err := esdbtest.Start(esdbtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	// A deployment passes its cluster's connection string, for example
	// "esdb://node1:2113,node2:2113,node3:2113?tlsCAFile=/etc/parledger/ca.crt".
	s, err := esdb.Open(ctx, srv.ConnectionString(), esdb.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	res, err := s.Append(ctx, "par.campaign:2017", eventstore.NoStream, eventstore.EventData{
		ID:            eventstore.DeterministicID("example"),
		Type:          "CampaignOpened",
		SchemaVersion: 1,
		Actor:         eventstore.Actor{ID: "snv-admin", Role: "home-affairs"},
		Payload:       []byte(`{"year": 2017}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Events[0].Stream, res.Events[0].Revision, string(res.Events[0].Payload))
	// Output: par.campaign:2017 0 {"year":2017}
}
