package excel

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/parledger/parledger/domain"
)

// Sheet is a table to export: a name, a header row and rows of values.
// A value is a string, an int, a decimal.Decimal (written as a number) or
// a time.Time (written in Hanoi time, dd/mm/yyyy hh:mm).
type Sheet struct {
	Name   string
	Header []string
	Rows   [][]any
}

// WriteWorkbook writes sheets as an XLSX workbook, one worksheet each,
// with a bold header row and numbers as numbers (so officials can add them
// up), Vietnamese text as it is.
func WriteWorkbook(w io.Writer, sheets []Sheet) error {
	x := excelize.NewFile()
	defer x.Close()
	bold, err := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Color: []string{"DDEBF7"}, Pattern: 1}})
	if err != nil {
		return err
	}
	for i, s := range sheets {
		name := sheetName(s.Name, i)
		if i == 0 {
			if err := x.SetSheetName("Sheet1", name); err != nil {
				return err
			}
		} else if _, err := x.NewSheet(name); err != nil {
			return err
		}
		sw, err := x.NewStreamWriter(name)
		if err != nil {
			return err
		}
		header := make([]any, len(s.Header))
		for j, h := range s.Header {
			header[j] = excelize.Cell{StyleID: bold, Value: h}
		}
		if err := sw.SetRow("A1", header); err != nil {
			return err
		}
		for r, row := range s.Rows {
			cells := make([]any, len(row))
			for j, v := range row {
				cells[j] = cellValue(v)
			}
			cell, _ := excelize.CoordinatesToCellName(1, r+2)
			if err := sw.SetRow(cell, cells); err != nil {
				return err
			}
		}
		if err := sw.Flush(); err != nil {
			return err
		}
	}
	_, err = x.WriteTo(w)
	return err
}

// sheetName makes a valid, unique worksheet name (at most 31 characters,
// none of : \ / ? * [ ]).
func sheetName(name string, i int) string {
	r := []rune(name)
	out := make([]rune, 0, len(r))
	for _, c := range r {
		switch c {
		case ':', '\\', '/', '?', '*', '[', ']':
			c = '-'
		}
		out = append(out, c)
	}
	if len(out) > 28 {
		out = out[:28]
	}
	if len(out) == 0 {
		return fmt.Sprintf("Sheet%d", i+1)
	}
	return string(out)
}

// cellTime writes a time as officials read it: Hanoi's day and minute,
// nothing for no time.
func cellTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(domain.Hanoi).Format("02/01/2006 15:04")
}

func cellValue(v any) any {
	switch v := v.(type) {
	case decimal.Decimal:
		f, _ := v.Float64() // a spreadsheet cell holds a double; the exact value is in the API
		return f
	case time.Time:
		return cellTime(v)
	case nil:
		return ""
	}
	return v
}

// WriteCSV writes sheets as one CSV file in UTF-8 with a byte order mark
// (so that Excel shows Vietnamese correctly). With several sheets, a first
// column names the sheet of each row. Decimals use a dot, the machine
// form; dates are dd/mm/yyyy hh:mm in Hanoi time.
func WriteCSV(w io.Writer, sheets []Sheet) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	multi := len(sheets) > 1
	for i, s := range sheets {
		if i == 0 {
			header := s.Header
			if multi {
				header = append([]string{"Bảng"}, header...)
			}
			if err := cw.Write(header); err != nil {
				return err
			}
		}
		for _, row := range s.Rows {
			rec := make([]string, 0, len(row)+1)
			if multi {
				rec = append(rec, s.Name)
			}
			for _, v := range row {
				rec = append(rec, csvValue(v))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(v any) string {
	switch v := v.(type) {
	case decimal.Decimal:
		return v.String()
	case int:
		return strconv.Itoa(v)
	case string:
		return v
	case time.Time:
		return cellTime(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
