package http_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/ledger"
)

// TestConcurrentIfMatch has 32 clients edit one item of one assessment at
// once, each reading the assessment and writing with If-Match on the
// revision it read, for several rounds. Every write either wins (201, the
// next revision) or loses with 412 (or 409); no two winners started from
// the same revision, so no update was lost; the stream holds exactly the
// winners' values in order; and the server's final answer equals a fresh
// replay of the stream.
func TestConcurrentIfMatch(t *testing.T) {
	const clients, rounds = 32, 4
	f := MustOpenCampaign(t)
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9", "7", "6"))
	start := f.Head(t)

	type win struct {
		base, rev uint64
		points    string
		note      string
	}
	var (
		mu     sync.Mutex
		wins   []win
		losers = map[int]int{}
	)
	var g errgroup.Group
	barrier := make(chan struct{})
	for c := range clients {
		g.Go(func() error {
			unit := f.As(t, f.Unit001)
			<-barrier
			for r := range rounds {
				read := unit.Do("GET", f.A001, nil)
				if read.Status != 200 {
					return fmt.Errorf("client %d: GET %d %s", c, read.Status, read.Body)
				}
				etag := read.Header.Get("ETag")
				base, err := strconv.ParseUint(strings.Trim(etag, `"`), 10, 64)
				if err != nil {
					return fmt.Errorf("client %d: ETag %q", c, etag)
				}
				k := c*rounds + r + 1
				points := decimal.New(int64(k), -2).String() // 0.01 … 1.28: every write changes the item
				note := fmt.Sprintf("Khách %d, lượt %d", c, r)
				w := unit.Do("POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.1.2", "points": points, "note": note}}}, "If-Match", etag)
				switch w.Status {
				case 201:
					rev, err := strconv.ParseUint(strings.Trim(w.Header.Get("ETag"), `"`), 10, 64)
					if err != nil {
						return fmt.Errorf("client %d: a win without ETag: %s", c, w.Body)
					}
					mu.Lock()
					wins = append(wins, win{base, rev, points, note})
					mu.Unlock()
				case 412, 409:
					if p, err := problemOf(w); err != nil || (p.Code != "precondition" && p.Code != "conflict") {
						return fmt.Errorf("client %d: a loss answered %s (%v)", c, w.Body, err)
					}
					mu.Lock()
					losers[w.Status]++
					mu.Unlock()
				default:
					return fmt.Errorf("client %d: If-Match %s: %d %s", c, etag, w.Status, w.Body)
				}
			}
			return nil
		})
	}
	close(barrier)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// No lost update: each winner wrote the revision after the one it
	// read, and no two read the same.
	slices.SortFunc(wins, func(a, b win) int { return int(a.rev) - int(b.rev) })
	for i, w := range wins {
		if w.rev != w.base+1 {
			t.Errorf("a write with If-Match %d made revision %d", w.base, w.rev)
		}
		if i > 0 && wins[i-1].base == w.base {
			t.Errorf("two writes won from revision %d: a lost update", w.base)
		}
	}
	if len(wins) == 0 || len(wins)+losers[412]+losers[409] != clients*rounds {
		t.Fatalf("%d wins and %v losses of %d writes", len(wins), losers, clients*rounds)
	}
	if got := f.Head(t) - start; int(got) != len(wins) {
		t.Errorf("the log grew by %d events for %d winning writes", got, len(wins))
	}

	// The stream holds exactly the winners' values, in order.
	ctx := context.Background()
	svc := ledger.NewService(f.Store, ledger.Options{})
	events, err := svc.ReadStream(ctx, domain.AssessmentStream(f.Campaign, "001"))
	if err != nil {
		t.Fatal(err)
	}
	var written []win
	for _, e := range events {
		if s, ok := e.Event.(*domain.SelfScoreRecorded); ok && e.Revision > 3 {
			written = append(written, win{rev: e.Revision, points: s.Points.String(), note: s.Note})
		}
	}
	if len(written) != len(wins) {
		t.Fatalf("the stream holds %d new self scores, %d writes won", len(written), len(wins))
	}
	for i := range wins {
		if written[i].rev != wins[i].rev || written[i].points != wins[i].points || written[i].note != wins[i].note {
			t.Errorf("revision %d holds %s (%q), the winner wrote %s (%q)", written[i].rev, written[i].points, written[i].note, wins[i].points, wins[i].note)
		}
	}

	// The server's final answer equals a fresh replay.
	last := wins[len(wins)-1]
	var got struct {
		Revision uint64
		Items    []struct {
			Code     string
			Self     *decimal.Decimal
			SelfNote string
		}
	}
	f.As(t, f.Auditor).Must(200, "GET", f.A001, nil).JSON(t, &got)
	replay, err := svc.Assessment(ctx, f.Campaign, "001")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != last.rev || replay.Revision != last.rev {
		t.Errorf("revision: server %d, replay %d, last winner %d", got.Revision, replay.Revision, last.rev)
	}
	for _, it := range got.Items {
		st := replay.Items[it.Code]
		if st == nil || st.Self == nil {
			if it.Self != nil {
				t.Errorf("item %s: the server shows %s, the replay nothing", it.Code, it.Self)
			}
			continue
		}
		if it.Self == nil || !it.Self.Equal(*st.Self) || it.SelfNote != st.SelfNote {
			t.Errorf("item %s: the server shows %v %q, the replay %s %q", it.Code, it.Self, it.SelfNote, st.Self, st.SelfNote)
		}
		if it.Code == "1.1.2" && (it.Self.String() != last.points || it.SelfNote != last.note) {
			t.Errorf("item 1.1.2 is %s %q, the last winner wrote %s %q", it.Self, it.SelfNote, last.points, last.note)
		}
	}
	t.Logf("%d clients × %d rounds with If-Match: %d writes won (revisions %d to %d, each from the one before), %d lost with 412 and %d with 409; the final state equals the replay",
		clients, rounds, len(wins), wins[0].rev, last.rev, losers[412], losers[409])
}
