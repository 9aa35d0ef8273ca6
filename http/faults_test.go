package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/faulty"
)

// writeIDs returns the event ids of a write's answer.
func writeIDs(tb testing.TB, r Response) []string {
	tb.Helper()
	var w struct {
		Events []struct{ ID string }
	}
	r.JSON(tb, &w)
	ids := make([]string, len(w.Events))
	for i, e := range w.Events {
		ids[i] = e.ID
	}
	return ids
}

// mustUnavailable checks a 503 answer: problem+json with code unavailable,
// a Retry-After, and a detail that says what to do.
func mustUnavailable(tb testing.TB, r Response) {
	tb.Helper()
	if r.Status != 503 {
		tb.Fatalf("status %d, want 503: %s", r.Status, r.Body)
	}
	p, err := problemOf(r)
	if err != nil {
		tb.Fatal(err)
	}
	if p.Code != "unavailable" || r.Header.Get("Retry-After") == "" || !strings.Contains(p.Detail, "Idempotency-Key") {
		tb.Errorf("503 answer = %s (Retry-After %q), want code unavailable, a Retry-After and advice to retry with the key", r.Body, r.Header.Get("Retry-After"))
	}
	for _, leak := range []string{"/tmp", "ledger.db", "wal", "no space left"} {
		if strings.Contains(strings.ToLower(p.Detail), leak) {
			tb.Errorf("the 503 detail leaks %q: %s", leak, p.Detail)
		}
	}
}

// TestStoreFaults makes the store fail under the server the way a full or
// failing disk does, and checks that clients get a 503 with a clear
// message, that a failed write leaves the ledger as it was, that the same
// request retried with its Idempotency-Key once the store heals is
// recorded exactly once, and that the ledger verifies afterwards.
func TestStoreFaults(t *testing.T) {
	var fs *faulty.Store
	f := mustOpenCampaignOn(t, func(s eventstore.Store) eventstore.Store {
		fs = faulty.Wrap(s)
		return fs
	})
	unit := f.As(t, f.Unit001)
	body := func(points string) map[string]any {
		return map[string]any{"scores": []map[string]any{{"item": "1.2", "points": points, "note": "Biên bản kiểm tra"}}}
	}

	for _, tc := range []struct {
		name, points string
		err          error
	}{
		{"ErrUnavailable/DiskFull", "6.5", faulty.DiskFull},
		{"ErrUnavailable/IOError", "6", faulty.IOError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "faults-" + tc.name
			before := f.Head(t)
			fs.FailAppends(tc.err, faulty.Before)
			for range 3 {
				mustUnavailable(t, unit.Do("POST", f.A001+"/self-scores", body(tc.points), "Idempotency-Key", key))
			}
			// Evidence: the file is stored (by its hash, harmless), the
			// event is not.
			pdf, ctype := multipartBody(t, [][2]string{{"item", "1.2"}, {"title", "Biên bản"}}, "bb.pdf", minimalPDF("Biên bản "+tc.name))
			mustUnavailable(t, unit.Do("POST", f.A001+"/evidence", pdf, "Content-Type", ctype, "Idempotency-Key", key+"-ev"))
			if after := f.Head(t); after != before {
				t.Fatalf("failed writes moved the log from %d to %d", before, after)
			}
			// Reads that need no write still answer.
			unit.Must(200, "GET", f.A001, nil)

			fs.Heal()
			first := unit.Must(201, "POST", f.A001+"/self-scores", body(tc.points), "Idempotency-Key", key)
			again := unit.Must(201, "POST", f.A001+"/self-scores", body(tc.points), "Idempotency-Key", key)
			if a, b := writeIDs(t, first), writeIDs(t, again); len(a) != 1 || strings.Join(a, ",") != strings.Join(b, ",") {
				t.Errorf("after healing: first %v, retry %v; want one event, the same", a, b)
			}
			unit.Must(201, "POST", f.A001+"/evidence", pdf, "Content-Type", ctype, "Idempotency-Key", key+"-ev")
			if after := f.Head(t); after != before+2 {
				t.Errorf("after healing the log grew from %d to %d, want 2 events", before, after)
			}
		})
	}

	// The store writes the events and the answer is lost: the client sees
	// a 503, and its retry with the same key finds the events instead of
	// recording them again.
	t.Run("ErrUnavailable/LostAcknowledgement", func(t *testing.T) {
		before := f.Head(t)
		fs.FailNextAppends(1, faulty.IOError, faulty.After)
		mustUnavailable(t, unit.Do("POST", f.A001+"/self-scores", body("7"), "Idempotency-Key", "faults-lost-ack"))
		if after := f.Head(t); after != before+1 {
			t.Fatalf("the lost write is not in the log: head %d, want %d", after, before+1)
		}
		r := unit.Must(201, "POST", f.A001+"/self-scores", body("7"), "Idempotency-Key", "faults-lost-ack")
		if r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("the retry was not recognised: %s", r.Body)
		}
		if after := f.Head(t); after != before+1 {
			t.Errorf("the retry recorded again: head %d, want %d", after, before+1)
		}
	})

	// Reads of the store fail: reads that need it answer 503 too, and the
	// server answers again once the store heals.
	t.Run("ErrUnavailable/Reads", func(t *testing.T) {
		fs.FailReads(faulty.IOError)
		mustUnavailable(t, unit.Do("GET", f.A001, nil))
		if r := unit.Do("GET", "/readyz", nil); r.Status != 503 {
			t.Errorf("readyz = %d while the store cannot be read, want 503", r.Status)
		}
		fs.Heal()
		unit.Must(200, "GET", f.A001, nil)
		unit.Must(200, "GET", "/readyz", nil)
	})

	if fs.Failed() == 0 {
		t.Fatal("no fault was injected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := f.Store.Verify(ctx)
	if err != nil {
		t.Fatalf("the ledger does not verify after the faults: %v", err)
	}
	t.Logf("%d calls failed by injected faults; the ledger verifies: %d events in %d streams", fs.Failed(), rep.Events, rep.Streams)
}
