package demo

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
)

// TestPlan checks every unit's plan without a ledger: the final points add
// up to the target, every score is allowed, and the stories are in place.
func TestPlan(t *testing.T) {
	fws, err := Frameworks()
	if err != nil {
		t.Fatal(err)
	}
	byBlock := map[domain.Block]*domain.Framework{}
	for _, f := range fws {
		byBlock[f.Block] = f
	}
	units := Units()
	tg := targets(units)
	explanations := 0
	for _, u := range units {
		p, err := planUnit(u, byBlock[u.Block], tg[u.Code])
		if err != nil {
			t.Fatal(err) // planUnit checks the arithmetic and the levels
		}
		explanations += len(p.explanations)
		if want := len(explanationStories[u.Code]); len(p.explanations) != want {
			t.Errorf("%s: %d explanations, want %d", u.Code, len(p.explanations), want)
		}
		for _, it := range p.items {
			if it.method() == domain.MethodSelf && it.self > 0 && it.docs == 0 && it.selfNote == "" {
				t.Errorf("%s %s: scored %s without evidence or note", u.Code, it.node.Code, toPoints(it.self))
			}
			if it.appraised() && it.method() == domain.MethodSelf && it.round1 != it.self && it.reason1 == "" {
				t.Errorf("%s %s: appraisal differs from the self score without a reason", u.Code, it.node.Code)
			}
		}
	}
	if explanations < 4 {
		t.Errorf("%d explanations, want at least 4", explanations)
	}
	if tg[tiedUnits[0]] != tg[tiedUnits[1]] {
		t.Errorf("tied units %v have targets %d and %d", tiedUnits, tg[tiedUnits[0]], tg[tiedUnits[1]])
	}
}

// TestDocumentPDF checks that evidence files are well-formed PDFs: the
// cross-reference table points at each object, startxref at the table,
// and the content stream's length is right.
func TestDocumentPDF(t *testing.T) {
	u := domain.Unit{Code: "005", Name: "UBND quận Cầu Giấy", Block: domain.BlockDistricts}
	d := document{Kind: kindPlan, Number: "123/KH-UBND", Date: hanoiDate(2017, time.January, 15), Subject: "cải cách hành chính năm 2017 (đợt 1)", Issuer: u, Ref: "005-1.1.1-0001"}
	if got, want := d.Title(), "Kế hoạch số 123/KH-UBND ngày 15/01/2017 về cải cách hành chính năm 2017 (đợt 1)"; got != want {
		t.Errorf("Title() = %q, want %q", got, want)
	}
	b := d.pdf(`a note with \ and )`)
	if !bytes.HasPrefix(b, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(b, []byte("%%EOF\n")) {
		t.Fatalf("not a PDF:\n%s", b)
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(b[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	offsets := regexp.MustCompile(`(\d{10}) 00000 n \n`).FindAllSubmatch(b, -1)
	if len(offsets) != 6 {
		t.Fatalf("%d objects in the xref table, want 6", len(offsets))
	}
	for i, o := range offsets {
		off, _ := strconv.Atoi(string(o[1]))
		if want := fmt.Sprintf("%d 0 obj\n", i+1); !bytes.HasPrefix(b[off:], []byte(want)) {
			t.Errorf("object %d: offset %d points at %q", i+1, off, b[off:min(off+12, len(b))])
		}
	}
	s := regexp.MustCompile(`<< /Length (\d+) >>\nstream\n`).FindSubmatchIndex(b)
	n, _ := strconv.Atoi(string(b[s[2]:s[3]]))
	if !bytes.HasPrefix(b[s[1]+n:], []byte("endstream")) {
		t.Errorf("the content stream is not %d bytes long", n)
	}
	if !bytes.Contains(b, []byte(`(a note with \\ and \)) '`)) {
		t.Error("the note is not escaped")
	}
	if bytes.ContainsFunc(b[s[1]:s[1]+n], func(r rune) bool { return r > 0x7e }) {
		t.Error("the page text is not ASCII")
	}
}

func TestLowerFirst(t *testing.T) {
	for in, want := range map[string]string{
		"Tỷ lệ hồ sơ": "tỷ lệ hồ sơ",
		"TTHC cấp xã": "TTHC cấp xã",
		"Đánh giá":    "đánh giá",
		"":            "",
	} {
		if got := lowerFirst(in); got != want {
			t.Errorf("lowerFirst(%q) = %q, want %q", in, got, want)
		}
	}
}
