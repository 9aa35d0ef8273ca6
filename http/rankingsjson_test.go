package http

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/projections"
)

// The rankings document as encoding/json would write it: the reference
// the encoder is checked against.
type (
	wireRankings struct {
		Campaign  string                   `json:"campaign"`
		Title     string                   `json:"title"`
		Position  uint64                   `json:"position"`
		Published *domain.ResultsPublished `json:"published,omitempty"`
		Blocks    []wireBlock              `json:"blocks"`
		AsOf      *AsOf                    `json:"asOf,omitempty"`
	}
	wireBlock struct {
		Block     domain.Block     `json:"block"`
		Framework string           `json:"framework"`
		Areas     []domain.NodeRef `json:"areas"`
		Criteria  []domain.NodeRef `json:"criteria"`
		Total     *int             `json:"total,omitempty"`
		Offset    *int             `json:"offset,omitempty"`
		Limit     *int             `json:"limit,omitempty"`
		Rows      []wireRow        `json:"rows"`
	}
	wireRow struct {
		UnitCode string       `json:"unitCode"`
		UnitName string       `json:"unitName"`
		Block    domain.Block `json:"block"`
		Rank     int          `json:"rank"`
		Grade    string       `json:"grade,omitempty"`
		Status   string       `json:"status"`
		Score    wireScore    `json:"score"`
	}
	// wireScore is domain.Score as encoding/json writes it, but for its
	// breakdowns, which a row carries as values in the block's order
	// (the outer fields hide the embedded ones of the same name).
	wireScore struct {
		domain.Score
		Areas    *wireValues `json:"areas"`
		Criteria *wireValues `json:"criteria"`
	}
	wireValues struct {
		Achieved []decimal.Decimal `json:"achieved"`
		Index    []decimal.Decimal `json:"index"`
	}
)

func wireOf(rk *projections.Rankings, key rankingsKey, asOf *AsOf) wireRankings {
	out := wireRankings{Campaign: rk.Campaign, Title: rk.Title, Position: rk.Position, Published: rk.Published, Blocks: []wireBlock{}, AsOf: asOf}
	values := func(lines []domain.NodeScore) *wireValues {
		if lines == nil {
			return nil
		}
		v := &wireValues{Achieved: []decimal.Decimal{}, Index: []decimal.Decimal{}}
		for _, n := range lines {
			v.Achieved, v.Index = append(v.Achieved, n.Achieved), append(v.Index, n.Index)
		}
		return v
	}
	for _, br := range rk.Blocks {
		if key.block != "" && br.Block != key.block {
			continue
		}
		wb := wireBlock{Block: br.Block, Framework: br.Framework, Areas: br.Areas, Criteria: br.Criteria}
		rows := br.Rows
		if key.limit > 0 {
			rows = pageOf(rows, key.limit, key.offset)
			total, offset, limit := len(br.Rows), key.offset, key.limit
			wb.Total, wb.Offset, wb.Limit = &total, &offset, &limit
		}
		if rows != nil {
			wb.Rows = []wireRow{}
		}
		for _, s := range rows {
			sc := s.Score
			wb.Rows = append(wb.Rows, wireRow{UnitCode: s.Unit.Code, UnitName: s.Unit.Name, Block: s.Unit.Block, Rank: s.Rank, Grade: s.Grade, Status: s.Status,
				Score: wireScore{Score: sc, Areas: values(sc.Areas), Criteria: values(sc.Criteria)}})
		}
		out.Blocks = append(out.Blocks, wb)
	}
	return out
}

// TestEncodeRankings checks that the rankings encoder writes, byte for
// byte, what writeJSON writes for the same document: with published
// results or not, as of a moment or not, every block or one, pages
// within and past the rows, strings that need escaping and decimals of
// every shape.
func TestEncodeRankings(t *testing.T) {
	decs := []decimal.Decimal{
		{}, decimal.New(0, -2), decimal.RequireFromString("1.25"), decimal.RequireFromString("-0.5"), decimal.New(-1234500, -4),
		decimal.New(5, 3), decimal.New(7, -18), decimal.New(1, -20), decimal.RequireFromString("12345678901234567890123.5"),
		decimal.RequireFromString("100"), decimal.RequireFromString("0.001"), decimal.New(999999999999999999, -2),
	}
	names := []string{"UBND quận Ba Đình", `Sở "Nội vụ"`, "a<b>&c", "line\u2028sep", "tab\there", "bad\xffutf8", "", "Sở Tài chính"}
	var areas []domain.NodeRef
	for k := 0; k < 3; k++ {
		areas = append(areas, domain.NodeRef{Code: names[k+1], Title: names[k+2], Max: decs[k]})
	}
	row := func(i int) domain.Standing {
		d := func(k int) decimal.Decimal { return decs[(i+k)%len(decs)] }
		sc := domain.Score{Self: d(0), Appraised: d(1), Survey: d(2), Bonus: d(3), Penalty: d(4), Final: d(5), Max: d(6), Index: d(7), Provisional: i%2 == 0}
		if i%5 != 0 {
			for k, a := range areas {
				sc.Areas = append(sc.Areas, domain.NodeScore{Code: a.Code, Title: a.Title, Max: a.Max, Achieved: d(k + 1), Index: d(k + 2)})
			}
			sc.Criteria = []domain.NodeScore{}
		}
		grade := []string{"", "A", "B<"}[i%3]
		return domain.Standing{Unit: domain.Unit{Code: names[i%len(names)], Name: names[(i+3)%len(names)], Block: domain.BlockDistricts}, Score: sc, Status: "in-progress", Rank: i + 1, Grade: grade}
	}
	var rows []domain.Standing
	for i := 0; i < 40; i++ {
		rows = append(rows, row(i))
	}
	published := &domain.ResultsPublished{DecisionNumber: "1203/QĐ-UBND <x>", DecisionDate: domain.MustDate("2018-01-26")}
	at := time.Date(2017, 12, 20, 8, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	none := []domain.NodeRef{}
	for _, rk := range []*projections.Rankings{
		{Campaign: "hanoi-2017", Title: "Chỉ số <CCHC> & \"năm\" 2017", Position: 12468, Published: published,
			Blocks: []projections.BlockRanking{{Block: domain.BlockDepartments, Framework: "f-so@1", Areas: areas, Criteria: none, Rows: rows[:7]}, {Block: domain.BlockDistricts, Framework: "f-huyen@2", Areas: areas, Criteria: none, Rows: rows[7:]}}},
		{Campaign: "c", Title: "", Position: 0, Blocks: []projections.BlockRanking{{Block: domain.BlockDistricts, Framework: "x@1", Areas: none, Criteria: none, Rows: []domain.Standing{}}}},
		{Campaign: "c", Blocks: []projections.BlockRanking{}},
		{Campaign: "c", Blocks: []projections.BlockRanking{{Block: domain.BlockDistricts, Framework: "x@1"}}}, // nodes and rows nil
	} {
		for _, asOf := range []*AsOf{nil, {Position: 7}, {Position: 9, At: &at}} {
			for _, key := range []rankingsKey{
				{}, {block: domain.BlockDistricts}, {block: domain.BlockDepartments},
				{limit: 5}, {limit: 5, offset: 5}, {limit: 10, offset: 30}, {limit: 1000, offset: 100}, {block: domain.BlockDistricts, limit: 3, offset: 1},
			} {
				got, err := encodeRankings(rk, key, asOf)
				if err != nil {
					t.Fatal(err)
				}
				rec := httptest.NewRecorder()
				writeJSON(rec, 200, wireOf(rk, key, asOf))
				if want := rec.Body.String(); string(got) != want {
					t.Fatalf("key %+v:\n got %s\nwant %s", key, got, want)
				}
				if key == (rankingsKey{}) {
					// RankingsView encodes as the handler writes it.
					rec := httptest.NewRecorder()
					writeJSON(rec, 200, RankingsView{Rankings: rk, AsOf: asOf})
					if rec.Body.String() != string(got) {
						t.Fatalf("RankingsView:\n got %s\nwant %s", rec.Body, got)
					}
				}
			}
		}
	}
	// A row whose breakdown is not its block's cannot be sent.
	bad := &projections.Rankings{Campaign: "c", Blocks: []projections.BlockRanking{{Block: domain.BlockDistricts, Framework: "x@1", Areas: areas[:2], Criteria: none, Rows: rows[1:2]}}}
	if _, err := encodeRankings(bad, rankingsKey{}, nil); err == nil {
		t.Error("a row of 3 areas in a block of 2: no error")
	}
}

func BenchmarkEncodeRankings(b *testing.B) {
	var rows []domain.Standing
	for i := 0; i < 52; i++ {
		sc := domain.Score{Self: decimal.RequireFromString("56.75"), Final: decimal.RequireFromString("92.76"), Max: decimal.NewFromInt(100), Index: decimal.RequireFromString("92.76")}
		for k := 0; k < 50; k++ {
			sc.Criteria = append(sc.Criteria, domain.NodeScore{Code: "1.1", Title: "Công tác chỉ đạo, điều hành cải cách hành chính", Max: decimal.NewFromInt(11), Achieved: decimal.RequireFromString("9.96"), Index: decimal.RequireFromString("90.55")})
		}
		rows = append(rows, domain.Standing{Unit: domain.Unit{Code: "STC", Name: "Sở Tài chính", Block: domain.BlockDepartments}, Score: sc, Status: "finalized", Rank: i + 1, Grade: "A"})
	}
	var nodes []domain.NodeRef
	for _, n := range rows[0].Score.Criteria {
		nodes = append(nodes, domain.NodeRef{Code: n.Code, Title: n.Title, Max: n.Max})
	}
	rk := &projections.Rankings{Campaign: "hanoi-2017", Title: "Chỉ số", Blocks: []projections.BlockRanking{{Block: domain.BlockDepartments, Framework: "f@1", Criteria: nodes, Rows: rows}}}
	b.Run("parledger", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeRankings(rk, rankingsKey{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, wireOf(rk, rankingsKey{}, nil))
		}
	})
}
