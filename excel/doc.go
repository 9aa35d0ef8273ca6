// Package excel reads and writes PAR Index frameworks as XLSX workbooks,
// the form in which Vietnamese officials keep them. It wraps
// github.com/xuri/excelize/v2 so that no other package has to.
//
// # Layout
//
// A framework sheet has a header row starting with "STT", then one row per
// area, criterion and sub-criterion:
//
//	STT   | Lĩnh vực/Tiêu chí/Tiêu chí thành phần | Điểm tối đa | Phương pháp | Cơ quan thẩm định | Mức điểm
//	I     | Công tác chỉ đạo, điều hành CCHC      | 11          |             | SNV               |
//	1.1   | Kế hoạch CCHC năm                     | 2,5         |             |                   |
//	1.1.1 | Ban hành kế hoạch CCHC năm            | 0,5         | Tự chấm     |                   | 0,5: Đúng hạn; 0,25: Chậm; 0: Không ban hành
//
// domain.ParseFrameworkRows documents what each column accepts; this
// package only turns a workbook into rows and back. ReadFrameworkSheet
// reads the sheet named "Khung" or "Framework", else the first sheet;
// WriteFrameworkSheet writes one sheet named "Khung".
//
// # Limits
//
// A workbook larger than domain.MaxFrameworkSize, or one that unpacks to
// more than MaxUnpackedSize, is refused with a domain.ETOOLARGE error; a
// file that is not a workbook gets domain.EINVALID. Nothing is truncated
// silently.
package excel
