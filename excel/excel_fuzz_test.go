package excel_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parledger/parledger/demo"
	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/excel"
)

// FuzzReadFrameworkSheet checks that no uploaded workbook makes the XLSX
// reader panic, that it refuses bad ones with EINVALID, and that whatever
// it accepts is a valid framework that writes and reads back unchanged.
// Seeds are the demo frameworks' sheets.
func FuzzReadFrameworkSheet(f *testing.F) {
	fws, err := demo.Frameworks()
	if err != nil {
		f.Fatal(err)
	}
	meta := fws[0].Meta()
	for _, fw := range fws {
		var b bytes.Buffer
		if err := excel.WriteFrameworkSheet(&b, fw); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, sheet []byte) {
		fw, err := excel.ReadFrameworkSheet(meta, bytes.NewReader(sheet))
		if err != nil {
			if code := domain.ErrorCode(err); code != domain.EINVALID && code != domain.ETOOLARGE {
				t.Fatalf("refused with %v (%s), want EINVALID", err, code)
			}
			return
		}
		if err := fw.Validate(); err != nil {
			t.Fatalf("accepted an invalid framework: %v", err)
		}
		var b bytes.Buffer
		if err := excel.WriteFrameworkSheet(&b, fw); err != nil {
			t.Fatalf("cannot write what it read: %v", err)
		}
		again, err := excel.ReadFrameworkSheet(meta, &b)
		if err != nil {
			t.Fatalf("cannot read what it wrote: %v", err)
		}
		x, _ := json.Marshal(fw)
		y, _ := json.Marshal(again)
		if !bytes.Equal(x, y) {
			t.Fatalf("round trip changed the framework:\n%s\n%s", x, y)
		}
	})
}
