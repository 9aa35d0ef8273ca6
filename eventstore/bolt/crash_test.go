package bolt_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/bolt"
	"github.com/parledger/parledger/eventstore/storetest"
)

// The crash test runs this test binary again as a child process (selected
// by these variables) that appends until it is killed.
const (
	envChildMode = "PARLEDGER_BOLT_CHILD"
	envChildDir  = "PARLEDGER_BOLT_CHILD_DIR"
	envChildBase = "PARLEDGER_BOLT_CHILD_BASE"
)

// TestMain turns the test binary into a child process when asked.
func TestMain(m *testing.M) {
	switch os.Getenv(envChildMode) {
	case "append":
		base, _ := strconv.Atoi(os.Getenv(envChildBase))
		os.Exit(childAppend(os.Getenv(envChildDir), base))
	case "hold":
		os.Exit(childHold(os.Getenv(envChildDir)))
	}
	os.Exit(m.Run())
}

// childAppend appends from several goroutines forever and prints one line
// per acknowledged event: "ack <id> <stream> <revision> <position> <hash>".
// Each goroutine's append number i holds 1+i%3 events whose payload
// carries n = base+i.
func childAppend(dir string, base int) int {
	s, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 3
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("crash-%d", g)
			for i := 0; ; i++ {
				batch := make([]eventstore.EventData, 1+i%3)
				for j := range batch {
					batch[j] = storetest.NewEvent("SelfScoreRecorded", base+i)
				}
				res, err := s.Append(context.Background(), stream, eventstore.Any, batch...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(4)
				}
				mu.Lock()
				for _, e := range res.Events {
					fmt.Fprintf(out, "ack %s %s %d %d %s\n", e.ID, e.Stream, e.Revision, e.Position, e.ContentHash)
				}
				_ = out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// childHold opens the store, says so, and waits to be killed.
func childHold(dir string) int {
	s, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 3
	}
	defer s.Close()
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return 0
}

func startChild(t *testing.T, mode, dir string, base int) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildMode+"="+mode, envChildDir+"="+dir, envChildBase+"="+strconv.Itoa(base))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(stdout)
}

type ack struct {
	id       uuid.UUID
	stream   string
	revision uint64
	hash     eventstore.Hash
}

// childRoundSpan separates the payload numbers of the crash test's rounds.
const childRoundSpan = 1_000_000

// TestCrashSafety kills a child process that appends from eight goroutines
// with SIGKILL at random moments, then checks after every kill that each
// acknowledged event is in the ledger, unchanged, that no append is there
// in part, and that the ledger is whole: gapless positions and revisions,
// every hash verifying.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const rounds = 20
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[uuid.UUID]ack{}
	var killedAfter []int
	for round := 0; round < rounds; round++ {
		cmd, lines := startChild(t, "append", dir, round*childRoundSpan)
		// Let it run for a random while after its first acknowledgement.
		got := make(chan []ack, 1)
		go func() {
			var acks []ack
			for lines.Scan() {
				if a, ok := parseAck(lines.Text()); ok {
					acks = append(acks, a)
				}
			}
			got <- acks
		}()
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		_ = cmd.Wait()
		acks := <-got
		killedAfter = append(killedAfter, len(acks))
		for _, a := range acks {
			acked[a.id] = a
		}

		s, err := bolt.Open(dir, bolt.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		recovered := s.Stats().Pending
		rep, err := s.Verify(context.Background())
		if err != nil {
			t.Fatalf("round %d: verify after SIGKILL: %v", round, err)
		}
		found := 0
		// The child's append number i of a stream holds 1+i%3 events, each
		// with payload n = round*childRoundSpan + i: an append recovered
		// in part shows as a short batch.
		type batchKey struct {
			stream string
			n      int
		}
		batches := map[batchKey]int{}
		for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
			if err != nil {
				t.Fatalf("round %d: read: %v", round, err)
			}
			var p struct{ N int }
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				t.Fatalf("round %d: payload of %s: %v", round, e.ID, err)
			}
			batches[batchKey{e.Stream, p.N}]++
			if a, ok := acked[e.ID]; ok {
				found++
				if a.stream != e.Stream || a.revision != e.Revision || a.hash != e.ContentHash {
					t.Fatalf("round %d: acknowledged event %s was %s/%d %s, ledger has %s/%d %s", round, e.ID, a.stream, a.revision, a.hash, e.Stream, e.Revision, e.ContentHash)
				}
			}
		}
		if found != len(acked) {
			t.Fatalf("round %d: %d acknowledged events, %d of them in the ledger", round, len(acked), found)
		}
		for k, got := range batches {
			if want := 1 + k.n%childRoundSpan%3; got != want {
				t.Fatalf("round %d: append %d of %s has %d of its %d events in the ledger", round, k.n, k.stream, got, want)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acks; %d events recovered from the write-ahead log; ledger verified: %d events in %d streams", round, len(acks), recovered, rep.Events, rep.Streams)
	}
	if len(acked) == 0 {
		t.Fatalf("the child acknowledged nothing in %d rounds", rounds)
	}
	t.Logf("%d rounds, %d acknowledged events all present; acks per round %v", rounds, len(acked), killedAfter)
}

func parseAck(line string) (ack, bool) {
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "ack" {
		return ack{}, false // the last line may be cut by the kill
	}
	id, err1 := uuid.Parse(f[1])
	rev, err2 := strconv.ParseUint(f[3], 10, 64)
	h, err3 := eventstore.ParseHash(f[5])
	if err1 != nil || err2 != nil || err3 != nil {
		return ack{}, false
	}
	return ack{id: id, stream: f[2], revision: rev, hash: h}, true
}
