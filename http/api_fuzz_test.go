package http_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
)

// FuzzAPIWrites sends arbitrary bodies to every write route of a running
// server, each as a principal the route lets in. No body may get a 5xx;
// every refusal is a problem+json answer and leaves the log unchanged;
// every event a 2xx records is valid (its content hash verifies, it
// decodes, and the assessment it belongs to still folds and answers).
func FuzzAPIWrites(f *testing.F) {
	fx := MustOpenCampaign(f)
	c := "/api/v1/campaigns/" + fx.Campaign
	routes := []struct {
		method, path, as string
		seed             string
	}{
		{"POST", fx.A001 + "/self-scores", fx.Unit001, `{"scores":[{"item":"1.1.2","points":"9.5","note":"Hoàn thành 95%"}]}`},
		{"POST", fx.A005 + "/appraisals", fx.AppraiserSNV, `{"round":1,"reason":"Đối chiếu","scores":[{"item":"1.2","points":"7"}]}`},
		{"POST", fx.A001 + "/survey-scores", fx.Institute, `{"batch":"ĐTXHH","scores":[{"item":"3.1","points":"8.5","respondents":120}]}`},
		{"POST", fx.A001 + "/bonus-penalties", fx.HomeAffairs, `{"reason":"Sáng kiến","scores":[{"item":"9.1","points":"1"}]}`},
		{"POST", c + "/survey-scores", fx.Institute, `{"batch":"ĐTXHH","scores":[{"unit":"001","item":"3.1","points":"8.52"}]}`},
		{"POST", fx.A001 + "/explanations", fx.Unit001, `{"item":"1.1.2","claimedPoints":"9.5","argument":"Báo cáo quý IV"}`},
		{"POST", fx.A001 + "/evidence", fx.Unit001, `{"item":"1.1.1","sha256":"00","title":"Kế hoạch"}`},
		{"POST", "/api/v1/frameworks", fx.HomeAffairs, testFramework("fuzz", "huyen")},
		{"POST", "/api/v1/campaigns", fx.HomeAffairs, `{"id":"fuzz","year":2018,"title":"x","calendar":{"selfAssessmentDue":"2018-10-30","appraisalDue":"2018-11-15"},"frameworks":{"huyen":{"id":"test-huyen","version":1}}}`},
		{"POST", c + "/units", fx.HomeAffairs, `{"units":[{"code":"077","name":"UBND huyện Mê Linh","block":"huyen"}]}`},
		{"PUT", c + "/deadlines/appraisal", fx.HomeAffairs, `{"due":"2099-12-31","reason":"Gia hạn"}`},
		{"POST", "/api/v1/tokens", fx.HomeAffairs, `{"principal":{"id":"thanh-tra","role":"auditor"},"ttl":"1h"}`},
	}
	for i, r := range routes {
		f.Add(uint8(i), []byte(r.seed))
	}
	f.Add(uint8(0), []byte(`{"scores":[{"item":"1.2","points":"1e999"}]}`))
	f.Add(uint8(5), []byte(`{"item":"1.1.2","claimedPoints":-1e-99,"argument":"x"}`))
	svc := ledger.NewService(fx.Store, ledger.Options{})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		rt := routes[int(which)%len(routes)]
		before := fx.Head(t)
		r := fx.As(t, rt.as).Do(rt.method, rt.path, rawBody(body), "Content-Type", "application/json")
		switch {
		case r.Status >= 500:
			t.Fatalf("%s %s answered %d: %s", rt.method, rt.path, r.Status, r.Body)
		case r.Status >= 400:
			if _, err := problemOf(r); err != nil {
				t.Fatal(err)
			}
			if after := fx.Head(t); after != before {
				t.Fatalf("refused with %d, yet the log grew from %d to %d", r.Status, before, after)
			}
			return
		}
		var w struct {
			Events []struct{ Position uint64 }
		}
		if err := json.Unmarshal(r.Body, &w); err != nil {
			t.Fatalf("a %d answer is not JSON: %s", r.Status, r.Body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for e, err := range fx.Store.ReadAll(ctx, eventstore.ReadAllOptions{From: before + 1}) {
			if err != nil {
				t.Fatal(err)
			}
			if err := e.VerifyHash(); err != nil {
				t.Fatal(err)
			}
			rec, err := ledger.Decode(e)
			if err != nil {
				t.Fatalf("%s %s recorded an event that does not decode: %v", rt.method, rt.path, err)
			}
			if rec.Event.EventType() != e.Type {
				t.Fatalf("event %s decodes as %s", e.Type, rec.Event.EventType())
			}
		}
		for _, unit := range []string{"001", "005"} {
			if _, err := svc.Assessment(ctx, fx.Campaign, unit); err != nil {
				t.Fatalf("assessment %s no longer folds: %v", unit, err)
			}
			fx.As(t, fx.Auditor).Must(200, "GET", c+"/assessments/"+unit, nil)
		}
		fx.As(t, fx.Auditor).Must(200, "GET", c+"/rankings", nil)
	})
}

// FuzzAPIQueries sends arbitrary query strings to every read route that
// takes parameters (as-of views, diffs, audit filters and pages, rankings
// pages, proofs, exports). No query may get a 5xx or anything but a
// problem+json refusal, and none may change the log.
func FuzzAPIQueries(f *testing.F) {
	fx := MustOpenCampaign(f)
	fx.As(f, fx.Unit001).Must(201, "POST", fx.A001+"/self-scores", fullSelfScores("2.5", "9", "7", "6"))
	c := "/api/v1/campaigns/" + fx.Campaign
	routes := []struct{ path, seed string }{
		{c + "/rankings", "position=3&block=huyen&limit=10&offset=1"},
		{c + "/rankings", "at=2017-11-15T10:00:00%2B07:00&format=csv"},
		{fx.A001, "revision=2"},
		{fx.A001, "at=2017-10-30"},
		{fx.A001 + "/diff", "from=0&to=3"},
		{fx.A001 + "/audit", "item=1.1.2&actor=to-cong-tac-001&type=SelfScoreRecorded&from=2017-01-01&to=2099-01-01&format=xlsx"},
		{fx.A001 + "/disputes/1.1.2", ""},
		{fx.A001 + "/explanations", "status=open"},
		{c + "/audit", "limit=5&after=3&unit=001"},
		{c + "/explanations", "status=resolved"},
		{"/api/v1/frameworks/test-huyen", "version=1"},
		{"/api/v1/events/3", ""},
		{"/api/v1/ledger/proof/inclusion", "event=3&size=5"},
		{"/api/v1/ledger/proof/consistency", "from=1&to=5"},
	}
	for i, r := range routes {
		f.Add(uint8(i), r.seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		rt := routes[int(which)%len(routes)]
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == '#' || r == 0x7f }) || !utf8.ValidString(query) {
			return // not a query a client can send
		}
		before := fx.Head(t)
		r := fx.As(t, fx.Auditor).Do("GET", rt.path+"?"+query, nil)
		if r.Status >= 500 {
			t.Fatalf("GET %s?%s answered %d: %s", rt.path, query, r.Status, r.Body)
		}
		if r.Status >= 400 {
			if _, err := problemOf(r); err != nil {
				t.Fatal(err)
			}
		}
		if after := fx.Head(t); after != before {
			t.Fatalf("a read moved the log from %d to %d", before, after)
		}
	})
}
