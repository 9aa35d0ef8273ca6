package excel_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/excel"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// mustError returns err as a *domain.Error with the wanted code.
func mustError(tb testing.TB, err error, code string) *domain.Error {
	tb.Helper()
	var e *domain.Error
	if !errors.As(err, &e) {
		tb.Fatalf("got error %v (%T), want a *domain.Error", err, err)
	}
	if e.Code != code {
		tb.Fatalf("got code %q (%v), want %q", e.Code, e, code)
	}
	return e
}

// MustWorkbook builds an XLSX workbook whose sheets hold the given cells
// (cell reference → value), in order, and returns its bytes.
func MustWorkbook(tb testing.TB, sheets []string, cells ...map[string]any) []byte {
	tb.Helper()
	x := excelize.NewFile()
	defer x.Close()
	for i, name := range sheets {
		if i == 0 {
			if err := x.SetSheetName(x.GetSheetName(0), name); err != nil {
				tb.Fatal(err)
			}
		} else if _, err := x.NewSheet(name); err != nil {
			tb.Fatal(err)
		}
		for ref, v := range cells[i] {
			if err := x.SetCellValue(name, ref, v); err != nil {
				tb.Fatal(err)
			}
		}
	}
	var b bytes.Buffer
	if err := x.Write(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestFrameworkSheetRoundTrip(t *testing.T) {
	fws, err := demo.Frameworks()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fws {
		t.Run(f.ID, func(t *testing.T) {
			var b bytes.Buffer
			if err := excel.WriteFrameworkSheet(&b, f); err != nil {
				t.Fatalf("WriteFrameworkSheet: %v", err)
			}
			g, err := excel.ReadFrameworkSheet(f.Meta(), &b)
			if err != nil {
				t.Fatalf("ReadFrameworkSheet: %v", err)
			}
			got, _ := json.MarshalIndent(g, "", " ")
			want, _ := json.MarshalIndent(f, "", " ")
			if !bytes.Equal(got, want) {
				t.Errorf("round trip changed %s:\ngot  %s\nwant %s", f.ID, got, want)
			}
		})
	}
}

func TestReadFrameworkSheet(t *testing.T) {
	meta := domain.FrameworkMeta{ID: "test", Version: 1, Title: "Khung thử", Block: domain.BlockDistricts}

	t.Run("OK", func(t *testing.T) {
		// A sheet as an official types it: numbers as numbers (one of
		// them a float64 sum that is not exactly 0.3), a Roman numeral,
		// text codes, blank rows, and the framework on a sheet named
		// "Khung" after another sheet.
		data := MustWorkbook(t, []string{"Hướng dẫn", "Khung"},
			map[string]any{"A1": "Không phải khung"},
			map[string]any{
				"A1": "BỘ CHỈ SỐ",
				"A3": "STT", "B3": "Nội dung", "C3": "Điểm tối đa", "D3": "Phương pháp", "E3": "Cơ quan thẩm định", "F3": "Mức điểm",
				"A4": "I", "B4": "Chỉ đạo, điều hành", "C4": 1.3, "E4": "SNV",
				"A5": "1.1", "B5": "Kế hoạch", "C5": 1, "D5": "Tự chấm", "F5": "1: Đúng hạn; 0,5: Chậm; 0: Không",
				"A7": "1.2", "B7": "Hài lòng", "C7": 0.1 + 0.2, "D7": "ĐTXHH",
				"A8": 2, "B8": "Điểm thưởng", "C8": 1.25,
				"A9": "2.1", "B9": "Sáng kiến", "C9": "1,25", "D9": "Điểm thưởng",
			})
		f, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range f.Leaves() {
			got = append(got, l.Code+"="+l.MaxPoints.String()+" "+string(l.Method))
		}
		if want := "1.1=1 self, 1.2=0.3 survey, 2.1=1.25 bonus"; strings.Join(got, ", ") != want {
			t.Errorf("got %s, want %s", strings.Join(got, ", "), want)
		}
		if got, want := f.MaxTotal(), decimal.RequireFromString("1.3"); !got.Equal(want) {
			t.Errorf("got MaxTotal %s, want %s", got, want)
		}
	})

	t.Run("OKFirstSheet", func(t *testing.T) {
		data := MustWorkbook(t, []string{"Sheet1", "Other"},
			map[string]any{"A1": "STT", "B1": "Content", "C1": "Max points", "D1": "Method", "A2": "1", "B2": "Area", "C2": 2, "A3": "1.1", "B3": "Item", "C3": 2, "D3": "survey"},
			map[string]any{"A1": "nothing"})
		f, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(f.Leaves()), 1; got != want {
			t.Errorf("got %d leaves, want %d", got, want)
		}
	})

	t.Run("ErrLineNumbers", func(t *testing.T) {
		// Errors name the row as Excel shows it.
		data := MustWorkbook(t, []string{"Khung"}, map[string]any{
			"A2": "STT", "B2": "Nội dung", "C2": "Điểm tối đa", "E2": "Cơ quan thẩm định",
			"A3": "1", "B3": "A", "C3": 1, "E3": "SNV",
			"A4": "1.1", "B4": "B", "C4": 1,
			"A7": "1.1", "B7": "C", "C7": 1,
		})
		_, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(data))
		e := mustError(t, err, domain.EINVALID)
		if len(e.Fields) != 1 || e.Fields[0].Field != "line 7" || !strings.Contains(e.Fields[0].Detail, "duplicate code 1.1 (first on line 4)") {
			t.Errorf("got %v, want line 7: duplicate code 1.1 (first on line 4)", e)
		}
	})

	t.Run("ErrNotXLSX", func(t *testing.T) {
		_, err := excel.ReadFrameworkSheet(meta, strings.NewReader("STT,Nội dung,Điểm tối đa\n1,A,1\n"))
		e := mustError(t, err, domain.EINVALID)
		if !strings.HasPrefix(e.Message, "not an XLSX file: ") {
			t.Errorf("got %q, want it to start with %q", e.Message, "not an XLSX file: ")
		}
	})

	t.Run("ErrZipNotWorkbook", func(t *testing.T) {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create("hello.txt")
		io.WriteString(w, "xin chào")
		zw.Close()
		_, err := excel.ReadFrameworkSheet(meta, &b)
		e := mustError(t, err, domain.EINVALID)
		if !strings.HasPrefix(e.Message, "not an XLSX file: ") {
			t.Errorf("got %q, want it to start with %q", e.Message, "not an XLSX file: ")
		}
	})

	t.Run("ErrEmpty", func(t *testing.T) {
		_, err := excel.ReadFrameworkSheet(meta, strings.NewReader(""))
		mustError(t, err, domain.EINVALID)
	})

	t.Run("ErrTooLarge", func(t *testing.T) {
		_, err := excel.ReadFrameworkSheet(meta, io.LimitReader(ones{}, domain.MaxFrameworkSize+1))
		mustError(t, err, domain.ETOOLARGE)
	})

	t.Run("OKAtLimit", func(t *testing.T) {
		// Exactly the limit is not too large (and not a workbook).
		_, err := excel.ReadFrameworkSheet(meta, io.LimitReader(ones{}, domain.MaxFrameworkSize))
		mustError(t, err, domain.EINVALID)
	})

	t.Run("ErrUnpacksTooLarge", func(t *testing.T) {
		// A small file that would unpack beyond the cap.
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create("xl/worksheets/sheet1.xml")
		if _, err := io.Copy(w, io.LimitReader(ones{}, excel.MaxUnpackedSize+1)); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		if b.Len() > domain.MaxFrameworkSize {
			t.Fatalf("test zip is %d bytes; want it under the file cap", b.Len())
		}
		_, err := excel.ReadFrameworkSheet(meta, &b)
		mustError(t, err, domain.ETOOLARGE)
	})

	t.Run("OKBlankRowsFarDown", func(t *testing.T) {
		data := MustWorkbook(t, []string{"Khung"}, map[string]any{
			"A1": "STT", "B1": "Nội dung", "C1": "Điểm tối đa", "D1": "Phương pháp",
			"A2": "1", "B2": "A", "C2": 1, "D2": "survey",
			"B9000": "",
		})
		if _, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrTooManyRows", func(t *testing.T) {
		data := MustWorkbook(t, []string{"Khung"}, map[string]any{
			"A1": "STT", "B1": "Nội dung", "C1": "Điểm tối đa", "D1": "Phương pháp",
			"A2": "1", "B2": "A", "C2": 1, "D2": "survey",
			"B9000": "x",
		})
		_, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(data))
		mustError(t, err, domain.ETOOLARGE)
	})

	t.Run("ErrNoHeader", func(t *testing.T) {
		data := MustWorkbook(t, []string{"Khung"}, map[string]any{"A1": "Mã", "B1": "Nội dung"})
		_, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(data))
		mustError(t, err, domain.EINVALID)
	})
}

func TestWriteFrameworkSheet(t *testing.T) {
	fws, err := demo.Frameworks()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OKLayout", func(t *testing.T) {
		var b bytes.Buffer
		if err := excel.WriteFrameworkSheet(&b, fws[0]); err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(&b)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		if got, want := x.GetSheetList(), []string{"Khung"}; len(got) != 1 || got[0] != want[0] {
			t.Errorf("got sheets %v, want %v", got, want)
		}
		for ref, want := range map[string]string{"A4": "STT", "B4": "Lĩnh vực/Tiêu chí/Tiêu chí thành phần", "C4": "Điểm tối đa", "A5": "1", "A6": "1.1"} {
			if got, _ := x.GetCellValue("Khung", ref); got != want {
				t.Errorf("%s: got %q, want %q", ref, got, want)
			}
		}
		// Maxima are numbers, codes are text.
		if got, _ := x.GetCellType("Khung", "C5"); got != excelize.CellTypeUnset && got != excelize.CellTypeNumber {
			t.Errorf("C5: got cell type %v, want a number", got)
		}
		if got, _ := x.GetCellType("Khung", "A6"); got != excelize.CellTypeInlineString && got != excelize.CellTypeSharedString {
			t.Errorf("A6: got cell type %v, want text", got)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		f := *fws[0]
		f.Version = 0
		err := excel.WriteFrameworkSheet(io.Discard, &f)
		mustError(t, err, domain.EINVALID)
	})

	t.Run("ErrLabelSeparator", func(t *testing.T) {
		f := &domain.Framework{ID: "t", Version: 1, Title: "T", Block: domain.BlockDepartments, Areas: []*domain.Node{{
			Code: "1", Title: "A", MaxPoints: decimal.NewFromInt(1), Method: domain.MethodSurvey,
			Levels: []domain.Level{{Points: decimal.NewFromInt(1), Label: "có; đủ"}, {Points: decimal.Zero, Label: "không"}},
		}}}
		err := excel.WriteFrameworkSheet(io.Discard, f)
		mustError(t, err, domain.EINVALID)
	})
}

// ones is an endless reader of '1' bytes, for oversize inputs.
type ones struct{}

func (ones) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '1'
	}
	return len(p), nil
}
