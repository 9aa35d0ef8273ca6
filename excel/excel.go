package excel

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/parledger/parledger/domain"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

// MaxUnpackedSize caps the summed unpacked size of a workbook's parts, so
// that a small compressed file cannot expand into gigabytes.
const MaxUnpackedSize = 64 << 20

// Sheet names ReadFrameworkSheet prefers over the first sheet, compared
// without regard to case.
var sheetNames = []string{"Khung", "Framework"}

// header is the header row WriteFrameworkSheet writes.
var header = []string{"STT", "Lĩnh vực/Tiêu chí/Tiêu chí thành phần", "Điểm tối đa", "Phương pháp", "Cơ quan thẩm định", "Mức điểm"}

// methodLabels are the Vietnamese method names WriteFrameworkSheet writes;
// domain.ParseFrameworkRows reads them back.
var methodLabels = map[domain.Method]string{
	domain.MethodSelf:        "Tự chấm",
	domain.MethodSurvey:      "ĐTXHH",
	domain.MethodHigherLevel: "Cấp trên chấm",
	domain.MethodBonus:       "Điểm thưởng",
	domain.MethodPenalty:     "Điểm trừ",
}

// ReadFrameworkSheet reads a framework from an XLSX workbook: the sheet
// named "Khung" or "Framework" if there is one, else the first sheet. It
// hands the sheet's rows to domain.ParseFrameworkRows with meta and returns
// its result. Errors are *domain.Error: ETOOLARGE for a file over
// domain.MaxFrameworkSize or unpacking beyond MaxUnpackedSize, EINVALID
// "not an XLSX file: ..." for anything excelize cannot open, and the
// line-numbered EINVALID of ParseFrameworkRows for a bad framework.
func ReadFrameworkSheet(meta domain.FrameworkMeta, r io.Reader) (*domain.Framework, error) {
	data, err := io.ReadAll(io.LimitReader(r, domain.MaxFrameworkSize+1))
	if err != nil {
		return nil, fmt.Errorf("read framework workbook: %w", err)
	}
	if len(data) > domain.MaxFrameworkSize {
		return nil, domain.Errorf(domain.ETOOLARGE, "the framework workbook is larger than %d MiB", domain.MaxFrameworkSize>>20)
	}
	if err := checkUnpackedSize(data); err != nil {
		return nil, err
	}
	x, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit:    MaxUnpackedSize,
		UnzipXMLSizeLimit: MaxUnpackedSize, // keep every part in memory: no temporary files
	})
	if err != nil {
		return nil, notXLSX(err)
	}
	defer x.Close()

	sheet, err := pickSheet(x)
	if err != nil {
		return nil, err
	}
	rows, err := readRows(x, sheet)
	if err != nil {
		return nil, err
	}
	return domain.ParseFrameworkRows(meta, rows)
}

func notXLSX(err error) error {
	return domain.Errorf(domain.EINVALID, "not an XLSX file: %v", err)
}

// checkUnpackedSize refuses a workbook whose parts declare more than
// MaxUnpackedSize in total, before excelize unpacks any of them.
func checkUnpackedSize(data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return notXLSX(err)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > MaxUnpackedSize {
			return domain.Errorf(domain.ETOOLARGE, "the framework workbook unpacks to more than %d MiB", MaxUnpackedSize>>20)
		}
	}
	return nil
}

// pickSheet returns the name of the sheet to read.
func pickSheet(x *excelize.File) (string, error) {
	list := x.GetSheetList()
	if len(list) == 0 {
		return "", domain.Errorf(domain.EINVALID, "not an XLSX file: the workbook has no sheets")
	}
	for _, want := range sheetNames {
		for _, name := range list {
			if strings.EqualFold(strings.TrimSpace(name), want) {
				return name, nil
			}
		}
	}
	return list[0], nil
}

// readRows returns the rows of sheet as text, row i of the result being
// spreadsheet row i+1, empty rows included, so line numbers in errors match
// what the official sees.
func readRows(x *excelize.File, sheet string) ([][]string, error) {
	it, err := x.Rows(sheet)
	if err != nil {
		return nil, notXLSX(err)
	}
	defer it.Close()
	var rows [][]string
	for n := 1; it.Next(); n++ {
		// Raw values: a number formatted "#,##0.00" must reach the
		// parser as 1234.5, not as "1,234.50".
		cells, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, notXLSX(err)
		}
		if n > domain.MaxFrameworkRows {
			// Formatted empty rows far down are common and harmless;
			// only content beyond the cap is too much.
			if isBlank(cells) {
				continue
			}
			return nil, domain.Errorf(domain.ETOOLARGE, "the framework sheet has more than %d rows", domain.MaxFrameworkRows)
		}
		for i, c := range cells {
			cells[i] = cleanNumber(c)
		}
		rows = append(rows, cells)
	}
	if err := it.Error(); err != nil {
		return nil, notXLSX(err)
	}
	// Drop trailing blank rows: a sheet formatted down to row 1000 has
	// nothing there to read.
	for len(rows) > 0 && isBlank(rows[len(rows)-1]) {
		rows = rows[:len(rows)-1]
	}
	return rows, nil
}

func isBlank(row []string) bool {
	for _, c := range row {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// longNumber matches a stored number with more digits than Excel keeps.
var longNumber = regexp.MustCompile(`^-?[0-9]+\.[0-9]+$`)

// cleanNumber undoes binary floating point in a number cell: Excel stores
// 20.05 as "20.050000000000001" and shows it rounded to 15 significant
// digits, so that is what the parser gets. The rounding is done on the
// decimal text, not through float64. Other text is returned unchanged.
func cleanNumber(s string) string {
	if len(s) > 40 || !longNumber.MatchString(s) {
		return s
	}
	digits := strings.TrimLeft(strings.Replace(strings.TrimPrefix(s, "-"), ".", "", 1), "0")
	if len(digits) <= 15 {
		return s
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return s
	}
	// Places after the point that keep 15 significant digits.
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	whole = strings.TrimLeft(whole, "0")
	places := 15 - len(whole)
	if whole == "" {
		places = 15 + len(frac) - len(strings.TrimLeft(frac, "0"))
	}
	if places < 0 {
		places = 0
	}
	return d.Round(int32(places)).String()
}

// WriteFrameworkSheet writes f to w as an XLSX workbook with one sheet,
// "Khung", in the layout ReadFrameworkSheet reads: the title, the decision
// and, for an illustrative framework, a warning above a Vietnamese header
// row; then one row per node in depth-first order, with maxima as numbers
// (exact decimal text, never via float64), methods in Vietnamese, each
// node's own agency and levels as "1: ...; 0,5: ..."; then a total row. It
// returns the EINVALID error of f.Validate for an invalid framework, and
// EINVALID if a level label holds ';' or a line break, which the layout
// uses to separate levels.
func WriteFrameworkSheet(w io.Writer, f *domain.Framework) error {
	if err := f.Validate(); err != nil {
		return err
	}
	x := excelize.NewFile()
	defer x.Close()
	const sheet = "Khung"
	if err := x.SetSheetName(x.GetSheetName(0), sheet); err != nil {
		return fmt.Errorf("write framework sheet: %w", err)
	}
	sw := &sheetWriter{x: x, sheet: sheet}
	if err := sw.styles(); err != nil {
		return err
	}

	sw.row(1, sw.bold, f.Title)
	if f.Decision != "" {
		sw.row(2, 0, "Quyết định "+f.Decision)
	}
	if f.Illustrative {
		sw.row(3, 0, "Khung minh họa: bảng điểm không phải bảng điểm chính thức.")
	}
	const headerRow = 4
	sw.row(headerRow, sw.head, header...)
	line := headerRow + 1
	var walk func(n *domain.Node, depth int)
	walk = func(n *domain.Node, depth int) {
		levels, err := formatLevels(n)
		if err != nil && sw.err == nil {
			sw.err = err
		}
		style := 0
		if depth == 1 {
			style = sw.bold
		}
		sw.row(line, style, n.Code, n.Title, "", methodLabels[n.Method], n.Agency, levels)
		sw.number(line, 3, n.MaxPoints)
		line++
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	for _, a := range f.Areas {
		walk(a, 1)
	}
	sw.row(line, sw.bold, "", "Tổng cộng (không kể điểm thưởng, điểm trừ)")
	sw.number(line, 3, f.MaxTotal())
	for col, width := range []float64{8, 80, 12, 16, 18, 50} {
		name, _ := excelize.ColumnNumberToName(col + 1)
		sw.check(x.SetColWidth(sheet, name, name, width))
	}
	if sw.err != nil {
		return sw.err
	}
	if err := x.Write(w); err != nil {
		return fmt.Errorf("write framework workbook: %w", err)
	}
	return nil
}

// sheetWriter writes cells and keeps the first error, so that the layout
// code reads as a list of rows.
type sheetWriter struct {
	x          *excelize.File
	sheet      string
	bold, head int
	err        error
}

func (sw *sheetWriter) check(err error) {
	if err != nil && sw.err == nil {
		sw.err = fmt.Errorf("write framework sheet: %w", err)
	}
}

func (sw *sheetWriter) styles() error {
	var err error
	sw.bold, err = sw.x.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Alignment: &excelize.Alignment{Vertical: "top", WrapText: true},
	})
	sw.check(err)
	sw.head, err = sw.x.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true},
	})
	sw.check(err)
	return sw.err
}

// row writes values as text from column A of row, with style if not 0.
// Text cells stay text: a code "1.1" must not become the number 1.1.
func (sw *sheetWriter) row(row, style int, values ...string) {
	for i, v := range values {
		cell, err := excelize.CoordinatesToCellName(i+1, row)
		sw.check(err)
		if err != nil {
			return
		}
		if v != "" {
			sw.check(sw.x.SetCellStr(sw.sheet, cell, v))
		}
		if style != 0 {
			sw.check(sw.x.SetCellStyle(sw.sheet, cell, cell, style))
		}
	}
}

// number writes d as a number cell. SetCellDefault stores numeric text as
// a number without converting it, so the decimal is exact.
func (sw *sheetWriter) number(row, col int, d decimal.Decimal) {
	cell, err := excelize.CoordinatesToCellName(col, row)
	sw.check(err)
	if err == nil {
		sw.check(sw.x.SetCellDefault(sw.sheet, cell, d.String()))
	}
}

// formatLevels writes the levels of n as "1: Ban hành đúng hạn; 0,5: Ban
// hành chậm", with the comma decimal mark officials use.
func formatLevels(n *domain.Node) (string, error) {
	parts := make([]string, len(n.Levels))
	for i, l := range n.Levels {
		if strings.ContainsAny(l.Label, ";\r\n") {
			return "", domain.Invalid("the framework cannot be written as a sheet", domain.FieldError{
				Field:  n.Code,
				Detail: fmt.Sprintf("level label %q holds ';' or a line break, which the sheet uses to separate levels", l.Label),
			})
		}
		p := strings.Replace(l.Points.String(), ".", ",", 1)
		if l.Label == "" {
			parts[i] = p
		} else {
			parts[i] = p + ": " + l.Label
		}
	}
	return strings.Join(parts, "; "), nil
}
