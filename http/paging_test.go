package http_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/parledger/parledger/domain"
	ledgerhttp "github.com/parledger/parledger/http"
)

// pagedRankings is the body of a page of the rankings.
type pagedRankings struct {
	Position uint64 `json:"position"`
	Blocks   []struct {
		Block                string `json:"block"`
		Total, Offset, Limit int
		Rows                 []struct {
			UnitCode string `json:"unitCode"`
			Rank     int    `json:"rank"`
		} `json:"rows"`
	} `json:"blocks"`
	AsOf *struct {
		Position uint64 `json:"position"`
	} `json:"asOf"`
}

// mustPagingFixture is the fixture campaign with 25 more districts, 001
// scored so that ranks differ.
func mustPagingFixture(tb testing.TB) *Fixture {
	tb.Helper()
	f := MustOpenCampaign(tb)
	var units []domain.Unit
	for i := 0; i < 25; i++ {
		units = append(units, domain.Unit{Code: fmt.Sprintf("D%02d", i), Name: fmt.Sprintf("UBND huyện %d", i), Block: domain.BlockDistricts})
	}
	f.As(tb, f.HomeAffairs).Must(201, "POST", "/api/v1/campaigns/"+f.Campaign+"/units", map[string]any{"units": units})
	f.As(tb, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	return f
}

// TestRankingsDefaultUnchanged checks that without ?limit= and ?offset=
// the rankings are exactly the encoding of the scoreboard's rankings, as
// before paging, gzipped or not.
func TestRankingsDefaultUnchanged(t *testing.T) {
	f := mustPagingFixture(t)
	path := "/api/v1/campaigns/" + f.Campaign + "/rankings"
	got := f.As(t, f.Auditor).Must(200, "GET", path, nil, "Accept-Encoding", "identity")
	rk, _ := f.Board.Rankings(f.Campaign)
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ledgerhttp.RankingsView{Rankings: rk}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, want.Bytes()) {
		t.Fatalf("rankings:\n got %.300s\nwant %.300s", got.Body, want.Bytes())
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" || got.Header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Type %q, Content-Encoding %q", ct, got.Header.Get("Content-Encoding"))
	}
	// Asked for gzip (set by hand, so the client does not undo it).
	zipped := f.As(t, f.Auditor).Must(200, "GET", path, nil, "Accept-Encoding", "gzip, deflate")
	if zipped.Header.Get("Content-Encoding") != "gzip" || len(zipped.Body) >= len(got.Body) {
		t.Fatalf("Content-Encoding %q, %d bytes (plain %d)", zipped.Header.Get("Content-Encoding"), len(zipped.Body), len(got.Body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.Body))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, want.Bytes()) {
		t.Fatalf("gunzipped body differs (%v)", err)
	}
	if z := f.As(t, f.Auditor).Must(200, "GET", path, nil, "Accept-Encoding", "gzip;q=0"); z.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 answered with %q", z.Header.Get("Content-Encoding"))
	}
}

// TestRankingsPaging reads a block page by page: the pages put together
// are the whole block, in order with its ranks, and say the block's size.
func TestRankingsPaging(t *testing.T) {
	f := mustPagingFixture(t)
	path := "/api/v1/campaigns/" + f.Campaign + "/rankings"
	var whole pagedRankings
	f.As(t, f.Auditor).Must(200, "GET", path+"?block=huyen", nil).JSON(t, &whole)
	want := whole.Blocks[0].Rows
	if len(want) != 28 || want[0].UnitCode != "001" {
		t.Fatalf("whole block: %d rows, first %+v", len(want), want[0])
	}
	var got []string
	for offset := 0; offset < 40; offset += 10 {
		var page pagedRankings
		f.As(t, f.Auditor).Must(200, "GET", fmt.Sprintf("%s?block=huyen&limit=10&offset=%d", path, offset), nil).JSON(t, &page)
		b := page.Blocks[0]
		if len(page.Blocks) != 1 || b.Total != 28 || b.Offset != offset || b.Limit != 10 || len(b.Rows) != min(10, max(28-offset, 0)) {
			t.Fatalf("page at %d: %+v", offset, page)
		}
		for i, row := range b.Rows {
			if w := want[offset+i]; row != w {
				t.Errorf("row %d: %+v, want %+v", offset+i, row, w)
			}
			got = append(got, row.UnitCode)
		}
	}
	if len(got) != 28 {
		t.Errorf("pages hold %d rows, want 28", len(got))
	}
	// Every block is paged alike; offset alone pages by the cap.
	var both pagedRankings
	f.As(t, f.Auditor).Must(200, "GET", path+"?limit=2&offset=1", nil).JSON(t, &both)
	if len(both.Blocks) != 2 || len(both.Blocks[0].Rows) != 0 || both.Blocks[0].Total != 1 || len(both.Blocks[1].Rows) != 2 || both.Blocks[1].Rows[0] != want[1] {
		t.Errorf("?limit=2&offset=1: %+v", both)
	}
	var rest pagedRankings
	f.As(t, f.Auditor).Must(200, "GET", path+"?block=huyen&offset=20", nil).JSON(t, &rest)
	if b := rest.Blocks[0]; b.Limit != ledgerhttp.MaxRankingsPage || len(b.Rows) != 8 {
		t.Errorf("?offset=20: limit %d, %d rows", b.Limit, len(b.Rows))
	}
	// A write shows in the next page read (a new version of the rankings).
	before := rest.Position
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", fullSelfScores("2.5", "10", "7.5", "6"))
	var after pagedRankings
	f.As(t, f.Auditor).Must(200, "GET", path+"?block=huyen&limit=1", nil).JSON(t, &after)
	if after.Position <= before || after.Blocks[0].Rows[0].UnitCode != "005" {
		t.Errorf("after 005 scored higher: %+v", after)
	}
	// As of a past position, paged too.
	var past pagedRankings
	f.As(t, f.Auditor).Must(200, "GET", fmt.Sprintf("%s?block=huyen&limit=1&position=%d", path, before), nil).JSON(t, &past)
	if past.AsOf == nil || past.AsOf.Position != before || past.Blocks[0].Total != 28 || past.Blocks[0].Rows[0].UnitCode != "001" {
		t.Errorf("as of %d: %+v", before, past)
	}
}

// TestRankingsPagingUnit checks that a unit, before publication, still
// sees only its own line, page or not.
func TestRankingsPagingUnit(t *testing.T) {
	f := mustPagingFixture(t)
	var page pagedRankings
	f.As(t, f.Unit005).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/rankings?limit=100", nil).JSON(t, &page)
	var codes []string
	for _, b := range page.Blocks {
		for _, r := range b.Rows {
			codes = append(codes, r.UnitCode)
		}
	}
	if !slices.Equal(codes, []string{"005"}) {
		t.Errorf("unit 005 sees %v", codes)
	}
}

// TestRankingsPagingErrInvalid lists the pages the API refuses.
func TestRankingsPagingErrInvalid(t *testing.T) {
	f := MustOpenCampaign(t)
	path := "/api/v1/campaigns/" + f.Campaign + "/rankings"
	for _, tc := range []struct{ query, field string }{
		{"?limit=0", "limit"},
		{fmt.Sprintf("?limit=%d", ledgerhttp.MaxRankingsPage+1), "limit"},
		{"?limit=ten", "limit"},
		{"?offset=-1", "offset"},
		{"?offset=x&limit=5", "offset"},
		{"?limit=5&format=csv", "limit"},
	} {
		r := f.As(t, f.Auditor).Do("GET", path+tc.query, nil)
		p, err := problemOf(r)
		if r.Status != http.StatusBadRequest || err != nil || !slices.Contains(p.fields(), tc.field) {
			t.Errorf("%s: status %d, fields %v (%v), want 400 on %s", tc.query, r.Status, p.fields(), err, tc.field)
		}
	}
}
