package http_test

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// rowsOf returns the rows of a rankings body as "code index rank" lines.
func rowsOf(tb testing.TB, r Response) string {
	tb.Helper()
	var rk struct {
		Blocks []struct {
			Rows []struct {
				UnitCode string
				Rank     int
				Score    struct{ Index, Final string }
			}
		}
	}
	r.JSON(tb, &rk)
	var b strings.Builder
	for _, bl := range rk.Blocks {
		for _, row := range bl.Rows {
			fmt.Fprintf(&b, "%s %s %s %d; ", row.UnitCode, row.Score.Final, row.Score.Index, row.Rank)
		}
	}
	return b.String()
}

// TestAsOf plays part of a campaign, records the rankings and an
// assessment at several moments, keeps going, and checks that as-of
// queries by position and by time return exactly what was recorded.
func TestAsOf(t *testing.T) {
	f := MustOpenCampaign(t)
	ha := f.As(t, f.HomeAffairs)
	rankings := "/api/v1/campaigns/" + f.Campaign + "/rankings"
	type moment struct {
		position uint64
		at       time.Time
		rankings string
		a001     []byte
		rev001   string
	}
	var moments []moment
	record := func() {
		r := ha.Must(200, "GET", rankings, nil)
		a := ha.Must(200, "GET", f.A001, nil)
		var view struct{ Position uint64 }
		r.JSON(t, &view)
		moments = append(moments, moment{position: view.Position, at: time.Now(), rankings: rowsOf(t, r), a001: a.Body, rev001: strings.Trim(a.Header.Get("ETag"), `"`)})
		time.Sleep(20 * time.Millisecond) // separate the moments in time
	}
	u1, u5 := f.As(t, f.Unit001), f.As(t, f.Unit005)
	u1.Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	record()
	u5.Must(201, "POST", f.A005+"/self-scores", fullSelfScores("1.25", "8", "7.5", "5"))
	record()
	u1.Must(201, "POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.1.2", "points": "6", "note": "Sửa lại: đạt 60%"}}})
	record()
	f.As(t, f.Institute).Must(201, "POST", "/api/v1/campaigns/"+f.Campaign+"/survey-scores", map[string]any{"scores": []map[string]any{
		{"unit": "001", "item": "3.1", "points": "8.52"}, {"unit": "005", "item": "3.1", "points": "9.1"}}})
	record()
	// Keep going after the last recorded moment.
	u5.Must(201, "POST", f.A005+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.1.2", "points": "10", "note": "Đạt 100%"}}})

	for i, m := range moments {
		byPos := ha.Must(200, "GET", fmt.Sprintf("%s?position=%d", rankings, m.position), nil)
		if got := rowsOf(t, byPos); got != m.rankings {
			t.Errorf("moment %d, as of position %d:\n got  %s\n want %s", i, m.position, got, m.rankings)
		}
		byTime := ha.Must(200, "GET", rankings+"?at="+m.at.Format(time.RFC3339Nano), nil)
		if got := rowsOf(t, byTime); got != m.rankings {
			t.Errorf("moment %d, as of %s:\n got  %s\n want %s", i, m.at.Format(time.RFC3339Nano), got, m.rankings)
		}
		var asOf struct{ AsOf struct{ Position uint64 } }
		byTime.JSON(t, &asOf)
		if asOf.AsOf.Position != m.position {
			t.Errorf("moment %d: as of time answers position %d, want %d", i, asOf.AsOf.Position, m.position)
		}
		// The assessment at that revision, and the event that made it.
		past := ha.Must(200, "GET", f.A001+"?revision="+m.rev001, nil)
		var got, want map[string]any
		past.JSON(t, &got)
		if err := json.Unmarshal(m.a001, &want); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got["items"]) != fmt.Sprint(want["items"]) || fmt.Sprint(got["score"]) != fmt.Sprint(want["score"]) {
			t.Errorf("moment %d: 001 at revision %s differs from what was read then", i, m.rev001)
		}
		if v, _ := got["version"].(map[string]any); v == nil || fmt.Sprint(v["revision"]) != m.rev001 {
			t.Errorf("moment %d: version = %v, want revision %s", i, got["version"], m.rev001)
		}
	}
	// Errors: both position and time; a position beyond the head; an
	// assessment version before its first event.
	ha.Must(400, "GET", rankings+"?position=1&at=2020-01-01T00:00:00Z", nil)
	ha.Must(400, "GET", rankings+"?position=999999", nil)
	ha.Must(404, "GET", f.A001+"?at=2000-01-01T00:00:00Z", nil)
	ha.Must(400, "GET", rankings+"?at=30/10/2017", nil)
}

func TestDiff(t *testing.T) {
	f := MustOpenCampaign(t)
	u1 := f.As(t, f.Unit001)
	u1.Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))  // revisions 0-3
	u1.Must(201, "POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{ // revision 4
		{"item": "1.1.2", "points": "6", "note": "Sửa lại: đạt 60%"}}})
	var d struct {
		From, To uint64
		Items    []struct {
			Code          string
			Before, After struct{ Self, Final string }
			Delta         string
		}
		Events []struct {
			Revision uint64
			Type     string
			Actor    struct{ ID string }
		}
		Before, After struct{ Self string }
	}
	f.As(t, f.Auditor).Must(200, "GET", f.A001+"/diff?from=3&to=4", nil).JSON(t, &d)
	if len(d.Items) != 1 || d.Items[0].Code != "1.1.2" || d.Items[0].Before.Self != "9.5" || d.Items[0].After.Self != "6" || d.Items[0].Delta != "-3.5" {
		t.Errorf("diff items = %+v", d.Items)
	}
	if len(d.Events) != 1 || d.Events[0].Revision != 4 || d.Events[0].Actor.ID != "to-cong-tac-001" || d.Before.Self != "25.5" || d.After.Self != "22" {
		t.Errorf("diff events %+v, totals %+v → %+v", d.Events, d.Before, d.After)
	}
	f.As(t, f.Auditor).Must(400, "GET", f.A001+"/diff?from=4&to=3", nil)
	f.As(t, f.Auditor).Must(400, "GET", f.A001+"/diff?from=0&to=99", nil)
	f.As(t, f.Unit005).Must(403, "GET", f.A001+"/diff?from=0&to=1", nil)
}

// TestExplanationRound: the list with its deadline, accepted and rejected
// resolutions, finalization blocked while one is open, and the dispute
// view of an item.
func TestExplanationRound(t *testing.T) {
	f := MustOpenCampaign(t)
	u1 := f.As(t, f.Unit001)
	u1.Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	u1.Must(201, "POST", f.A001+"/submission", nil)
	f.mustAppraise(t, f.A001, "2.5", "8", "6", "6", "3")
	campaign := "/api/v1/campaigns/" + f.Campaign
	u1.Must(409, "POST", f.A001+"/explanations", map[string]any{"item": "1.1.2", "claimedPoints": "9.5", "argument": "Đã hoàn thành 95%"})
	f.As(t, f.HomeAffairs).Must(201, "POST", campaign+"/explanation-window", map[string]any{"due": day(5)})
	u1.Must(201, "POST", f.A001+"/explanations", map[string]any{"item": "1.1.2", "claimedPoints": "9.5", "argument": "Đã hoàn thành 95%"})
	u1.Must(201, "POST", f.A001+"/explanations", map[string]any{"item": "1.2", "claimedPoints": "7.5", "argument": "Đã kiểm tra đủ"})
	f.As(t, f.Unit005).Must(403, "POST", f.A001+"/explanations", map[string]any{"item": "2.1", "claimedPoints": "6", "argument": "x"})

	var list struct {
		Deadline     string
		Explanations []struct {
			UnitCode, ID, Item string
			Resolved           bool
		}
	}
	f.As(t, f.Council).Must(200, "GET", campaign+"/explanations?status=open", nil).JSON(t, &list)
	if list.Deadline != day(5) || len(list.Explanations) != 2 || list.Explanations[0].UnitCode != "001" || list.Explanations[0].ID != "GT-1" {
		t.Errorf("open explanations = %+v", list)
	}
	f.As(t, f.HomeAffairs).Must(409, "POST", f.A001+"/finalization", nil)
	council := f.As(t, f.Council)
	council.Must(201, "POST", f.A001+"/explanations/GT-1/resolution", map[string]any{"accepted": true, "finalPoints": "9", "decisionRef": "Biên bản số 3", "reason": "Chấp nhận một phần"})
	council.Must(400, "POST", f.A001+"/explanations/GT-2/resolution", map[string]any{"accepted": false, "decisionRef": "Biên bản số 3"})
	council.Must(201, "POST", f.A001+"/explanations/GT-2/resolution", map[string]any{"accepted": false, "decisionRef": "Biên bản số 3", "reason": "Chưa có biên bản kiểm tra"})
	f.As(t, f.HomeAffairs).Must(201, "POST", f.A001+"/finalization", nil)

	var d struct {
		Self         string
		Appraisals   []*struct{ Points, Reason, By string }
		Final        string
		Explanations []struct {
			ClaimedPoints, FinalPoints, DecisionRef, RaisedBy, ResolvedBy string
			Accepted                                                      bool
		}
		History []struct{ Type string }
	}
	f.As(t, f.Auditor).Must(200, "GET", f.A001+"/disputes/1.1.2", nil).JSON(t, &d)
	if d.Self != "9.5" || d.Appraisals[0] == nil || d.Appraisals[0].Points != "8" || d.Appraisals[0].Reason == "" || d.Final != "9" ||
		len(d.Explanations) != 1 || !d.Explanations[0].Accepted || d.Explanations[0].RaisedBy != "to-cong-tac-001" || d.Explanations[0].ResolvedBy != "hoi-dong-tham-dinh" {
		t.Errorf("dispute view = %+v", d)
	}
	if len(d.History) != 4 { // self, appraisal, raised, resolved
		t.Errorf("dispute history has %d events, want 4", len(d.History))
	}
	// An item nobody has touched: an empty history, not null.
	var untouched struct{ History []any }
	r := f.As(t, f.Auditor).Must(200, "GET", f.A005+"/disputes/2.2", nil)
	r.JSON(t, &untouched)
	if untouched.History == nil || len(untouched.History) != 0 {
		t.Errorf("dispute view of an untouched item: %s", r.Body)
	}
	// A unit reads its own explanations only.
	f.As(t, f.Unit005).Must(403, "GET", f.A001+"/explanations", nil)
	f.As(t, f.Unit001).Must(200, "GET", f.A001+"/explanations", nil)
	f.As(t, f.Council).Must(200, "GET", campaign+"/explanations?status=resolved", nil).JSON(t, &list)
	if len(list.Explanations) != 2 {
		t.Errorf("resolved explanations = %+v", list.Explanations)
	}
}

// TestExports: the rankings and the audit trail as XLSX (read back with
// excelize) and CSV (UTF-8 with a BOM) hold the same numbers as the API.
func TestExports(t *testing.T) {
	f := MustOpenCampaign(t)
	f.As(t, f.Unit001).Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	f.As(t, f.Unit005).Must(201, "POST", f.A005+"/self-scores", fullSelfScores("1.25", "8", "7.5", "5"))
	ha := f.As(t, f.HomeAffairs)
	rankings := "/api/v1/campaigns/" + f.Campaign + "/rankings"
	want := map[string][2]string{} // unit code → name, index
	var rk struct {
		Blocks []struct {
			Rows []struct {
				UnitCode, UnitName string
				Score              struct{ Index string }
			}
		}
	}
	ha.Must(200, "GET", rankings, nil).JSON(t, &rk)
	for _, b := range rk.Blocks {
		for _, r := range b.Rows {
			want[r.UnitCode] = [2]string{r.UnitName, r.Score.Index}
		}
	}

	x := ha.Must(200, "GET", rankings+"?format=xlsx", nil)
	if ct := x.Header.Get("Content-Type"); !strings.Contains(ct, "spreadsheetml") || !strings.Contains(x.Header.Get("Content-Disposition"), ".xlsx") {
		t.Errorf("xlsx headers %v", x.Header)
	}
	book, err := excelize.OpenReader(bytes.NewReader(x.Body))
	if err != nil {
		t.Fatal(err)
	}
	sheets := book.GetSheetList()
	if len(sheets) != 2 {
		t.Errorf("workbook sheets %v, want one per block", sheets)
	}
	seen := 0
	for _, sh := range sheets {
		rows, err := book.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		if rows[0][3] != "Chỉ số CCHC (%)" {
			t.Errorf("sheet %s header %v", sh, rows[0])
		}
		for _, row := range rows[1:] {
			w := want[row[1]]
			if row[2] != w[0] || row[3] != w[1] {
				t.Errorf("xlsx row %v, API says %v", row, w)
			}
			typ, err := book.GetCellType(sh, "D2")
			if err != nil || typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
				t.Errorf("index cell type %v, want a number", typ)
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Errorf("xlsx has %d units, API %d", seen, len(want))
	}

	c := ha.Must(200, "GET", rankings+"?format=csv", nil)
	if !bytes.HasPrefix(c.Body, []byte("\ufeff")) || !strings.HasPrefix(c.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("csv without BOM or type: %q %v", c.Body[:10], c.Header)
	}
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(c.Body, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range records[1:] {
		if w := want[rec[2]]; rec[3] != w[0] || rec[4] != w[1] {
			t.Errorf("csv row %v, API says %v", rec, w)
		}
	}

	audit := f.As(t, f.Auditor).Must(200, "GET", f.A001+"/audit?format=csv", nil)
	if !strings.Contains(string(audit.Body), "SelfScoreRecorded") || !strings.Contains(string(audit.Body), "to-cong-tac-001") {
		t.Errorf("audit csv: %s", audit.Body)
	}
	ax := f.As(t, f.Auditor).Must(200, "GET", f.A001+"/audit?format=xlsx", nil)
	if book, err := excelize.OpenReader(bytes.NewReader(ax.Body)); err != nil {
		t.Errorf("audit xlsx: %v", err)
	} else if rows, _ := book.GetRows(book.GetSheetList()[0]); len(rows) != 5 {
		t.Errorf("audit xlsx has %d rows, want header and 4 events", len(rows))
	}
	ha.Must(400, "GET", rankings+"?format=pdf", nil)

	var page struct {
		Entries []struct{ Unit, Type string }
		Next    uint64
	}
	f.As(t, f.Auditor).Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/audit?limit=5", nil).JSON(t, &page)
	if len(page.Entries) != 5 || page.Next == 0 {
		t.Fatalf("first page %+v", page)
	}
	var rest struct{ Entries []struct{ Unit string } }
	f.As(t, f.Auditor).Must(200, "GET", fmt.Sprintf("/api/v1/campaigns/%s/audit?limit=5&after=%d", f.Campaign, page.Next), nil).JSON(t, &rest)
	if len(rest.Entries) != 3 {
		t.Errorf("second page has %d entries, want 3", len(rest.Entries))
	}
}

// TestCampaignAuditPages pages through the campaign's audit trail, with
// and without filters, and checks that the pages together are exactly the
// units' own trails merged in log order, each entry as the unit's trail
// shows it.
func TestCampaignAuditPages(t *testing.T) {
	f := MustOpenCampaign(t)
	u1, u5 := f.As(t, f.Unit001), f.As(t, f.Unit005)
	u1.Must(201, "POST", f.A001+"/self-scores", fullSelfScores("2.5", "9.5", "7.5", "6"))
	u5.Must(201, "POST", f.A005+"/self-scores", fullSelfScores("1.25", "8", "7.5", "5"))
	u1.Must(201, "POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.1.2", "points": "6", "note": "Sửa lại"}}})
	f.As(t, f.Institute).Must(201, "POST", "/api/v1/campaigns/"+f.Campaign+"/survey-scores", map[string]any{"scores": []map[string]any{
		{"unit": "001", "item": "3.1", "points": "8.52"}, {"unit": "005", "item": "3.1", "points": "9.1"}, {"unit": "SNV", "item": "3.1", "points": "7"}}})
	u5.Must(201, "POST", f.A005+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.1.2", "points": "10", "note": "Đạt 100%"}}})
	aud := f.As(t, f.Auditor)
	type entry = map[string]any
	for _, filter := range []string{"", "item=1.1.2", "type=SurveyScoreRecorded", "unit=005", "unit=005&item=3.1", "actor=to-cong-tac-001"} {
		var want []entry
		for _, u := range []string{"001", "005", "009", "SNV"} {
			if strings.HasPrefix(filter, "unit=") && !strings.HasPrefix(filter, "unit="+u) {
				continue
			}
			var trail struct{ Entries []entry }
			aud.Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/assessments/"+u+"/audit?"+filter, nil).JSON(t, &trail)
			for _, e := range trail.Entries {
				e["unit"] = u
				want = append(want, e)
			}
		}
		slices.SortFunc(want, func(a, b entry) int { return cmp.Compare(a["position"].(float64), b["position"].(float64)) })
		var got []entry
		after := ""
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatalf("%q: more than 50 pages", filter)
			}
			var page struct {
				Entries []entry
				Next    uint64
			}
			aud.Must(200, "GET", "/api/v1/campaigns/"+f.Campaign+"/audit?limit=2&"+filter+after, nil).JSON(t, &page)
			got = append(got, page.Entries...)
			if page.Next == 0 {
				break
			}
			after = fmt.Sprintf("&after=%d", page.Next)
		}
		if len(want) == 0 {
			t.Fatalf("%q: the units' trails are empty", filter)
		}
		if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
			t.Errorf("%q: the campaign's pages differ from the units' trails:\n got  %s\n want %s", filter, g, w)
		}
	}
}
