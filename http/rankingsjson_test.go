package http

import (
	"net/http/httptest"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/projections"
)

// TestEncodeRankings checks that the encoder of the current rankings
// writes, byte for byte, what writeJSON writes for RankingsView and
// RankingsPage: with published results or not, every block or one,
// pages within and past the rows, strings that need escaping and
// decimals of every shape.
func TestEncodeRankings(t *testing.T) {
	decs := []decimal.Decimal{
		{}, decimal.New(0, -2), decimal.RequireFromString("1.25"), decimal.RequireFromString("-0.5"), decimal.New(-1234500, -4),
		decimal.New(5, 3), decimal.New(7, -18), decimal.New(1, -20), decimal.RequireFromString("12345678901234567890123.5"),
		decimal.RequireFromString("100"), decimal.RequireFromString("0.001"), decimal.New(999999999999999999, -2),
	}
	names := []string{"UBND quận Ba Đình", `Sở "Nội vụ"`, "a<b>&c", "line\u2028sep", "tab\there", "bad\xffutf8", "", "Sở Tài chính"}
	row := func(i int) domain.Standing {
		d := func(k int) decimal.Decimal { return decs[(i+k)%len(decs)] }
		sc := domain.Score{Self: d(0), Appraised: d(1), Survey: d(2), Bonus: d(3), Penalty: d(4), Final: d(5), Max: d(6), Index: d(7), Provisional: i%2 == 0}
		if i%5 != 0 {
			for k := 0; k < 3; k++ {
				sc.Areas = append(sc.Areas, domain.NodeScore{Code: "1", Title: names[(i+k)%len(names)], Max: d(k), Achieved: d(k + 1), Index: d(k + 2)})
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
	for _, rk := range []*projections.Rankings{
		{Campaign: "hanoi-2017", Title: "Chỉ số <CCHC> & \"năm\" 2017", Position: 12468, Published: published,
			Blocks: []projections.BlockRanking{{Block: domain.BlockDepartments, Framework: "f-so@1", Rows: rows[:7]}, {Block: domain.BlockDistricts, Framework: "f-huyen@2", Rows: rows[7:]}}},
		{Campaign: "c", Title: "", Position: 0, Blocks: []projections.BlockRanking{{Block: domain.BlockDistricts, Framework: "x@1", Rows: []domain.Standing{}}}},
		{Campaign: "c", Blocks: []projections.BlockRanking{}},
		{Campaign: "c", Blocks: []projections.BlockRanking{{Block: domain.BlockDistricts, Framework: "x@1"}}}, // rows nil
	} {
		for _, key := range []rankingsKey{
			{}, {block: domain.BlockDistricts}, {block: domain.BlockDepartments},
			{limit: 5}, {limit: 5, offset: 5}, {limit: 10, offset: 30}, {limit: 1000, offset: 100}, {block: domain.BlockDistricts, limit: 3, offset: 1},
		} {
			got, err := encodeRankings(rk, key)
			if err != nil {
				t.Fatal(err)
			}
			view := *rk
			if key.block != "" {
				view.Blocks = nil
				for _, br := range rk.Blocks {
					if br.Block == key.block {
						view.Blocks = append(view.Blocks, br)
					}
				}
				if view.Blocks == nil {
					view.Blocks = []projections.BlockRanking{}
				}
			}
			rec := httptest.NewRecorder()
			if key.limit > 0 {
				writeJSON(rec, 200, rankingsPage(&view, nil, key.limit, key.offset))
			} else {
				writeJSON(rec, 200, RankingsView{Rankings: &view})
			}
			if want := rec.Body.String(); string(got) != want {
				t.Fatalf("key %+v:\n got %s\nwant %s", key, got, want)
			}
		}
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
	rk := &projections.Rankings{Campaign: "hanoi-2017", Title: "Chỉ số", Blocks: []projections.BlockRanking{{Block: domain.BlockDepartments, Framework: "f@1", Rows: rows}}}
	b.Run("parledger", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeRankings(rk, rankingsKey{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, RankingsView{Rankings: rk})
		}
	})
}
