package demo

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"

	"github.com/parledger/parledger/domain"
)

// document is an evidence file of the demo: an official document of a
// unit, rendered as a one-page PDF.
type document struct {
	Kind   string // "Kế hoạch", "Báo cáo", ...
	Number string // "123/KH-UBND"
	Date   time.Time
	// Subject completes the title after "về".
	Subject string
	// Issuer is the unit that issued it.
	Issuer domain.Unit
	// Ref is the demo's filing reference, printed on the page; it makes
	// every file's content, hence its hash, unique.
	Ref string
}

// Title is the document's title as officials cite it, e.g. "Kế hoạch số
// 123/KH-UBND ngày 15/01/2017 về cải cách hành chính năm 2017".
func (d document) Title() string {
	return fmt.Sprintf("%s số %s ngày %s về %s", d.Kind, d.Number, d.Date.Format("02/01/2006"), d.Subject)
}

// docRule maps a phrase of an item's title to the kind of document that
// usually proves it and the document's subject.
type docRule struct {
	phrase  string
	kind    string
	subject string
}

// Kinds of documents and their abbreviations in document numbers.
const (
	kindPlan     = "Kế hoạch"
	kindReport   = "Báo cáo"
	kindDecision = "Quyết định"
	kindGuide    = "Hướng dẫn"
)

var kindAbbr = map[string]string{kindPlan: "KH", kindReport: "BC", kindDecision: "QĐ", kindGuide: "HD"}

// docRules are tried in order against the lowercased title of an item;
// the first match decides. Items no rule matches get a report on the
// item's own wording.
var docRules = []docRule{
	{"xã, phường, thị trấn ban hành kế hoạch", kindReport, "việc ban hành kế hoạch cải cách hành chính năm 2017 của UBND các xã, phường, thị trấn"},
	{"kế hoạch cchc năm", kindPlan, "cải cách hành chính năm 2017"},
	{"nhiệm vụ cchc trên các lĩnh vực", kindPlan, "triển khai nhiệm vụ cải cách hành chính năm 2017 trên các lĩnh vực"},
	{"báo cáo cchc định kỳ", kindReport, "công tác cải cách hành chính quý III năm 2017"},
	{"nội dung báo cáo", kindReport, "công tác cải cách hành chính 6 tháng đầu năm 2017"},
	{"tuyên truyền", kindPlan, "tuyên truyền cải cách hành chính năm 2017"},
	{"phát hiện qua kiểm tra", kindReport, "kết quả khắc phục tồn tại, hạn chế sau kiểm tra cải cách hành chính"},
	{"kiểm tra cchc", kindPlan, "kiểm tra công tác cải cách hành chính năm 2017"},
	{"sáng kiến", kindDecision, "công nhận sáng kiến, giải pháp mới trong cải cách hành chính năm 2017"},
	{"đăng ký danh mục", kindReport, "đăng ký danh mục văn bản quy phạm pháp luật năm 2017"},
	{"tự kiểm tra văn bản", kindReport, "kết quả tự kiểm tra văn bản quy phạm pháp luật năm 2017"},
	{"sau rà soát", kindReport, "kết quả xử lý văn bản quy phạm pháp luật sau rà soát năm 2017"},
	{"rà soát, hệ thống hóa", kindReport, "kết quả rà soát, hệ thống hóa văn bản quy phạm pháp luật năm 2017"},
	{"thi hành pháp luật", kindPlan, "theo dõi tình hình thi hành pháp luật năm 2017"},
	{"phổ biến, giáo dục pháp luật", kindPlan, "phổ biến, giáo dục pháp luật và hòa giải ở cơ sở năm 2017"},
	{"qppl", kindReport, "công tác xây dựng, kiểm tra văn bản quy phạm pháp luật năm 2017"},
	{"rà soát, đánh giá tthc", kindPlan, "rà soát, đánh giá thủ tục hành chính năm 2017"},
	{"đơn giản hóa tthc", kindReport, "phương án đơn giản hóa thủ tục hành chính năm 2017"},
	{"công bố kịp thời", kindReport, "việc công bố thủ tục hành chính thuộc thẩm quyền giải quyết năm 2017"},
	{"công khai tthc", kindReport, "việc công khai thủ tục hành chính tại Bộ phận một cửa và trên Cổng thông tin điện tử"},
	{"xin lỗi", kindReport, "việc xin lỗi người dân, tổ chức khi giải quyết hồ sơ quá hạn năm 2017"},
	{"phản ánh, kiến nghị", kindReport, "kết quả tiếp nhận, xử lý phản ánh, kiến nghị về quy định hành chính năm 2017"},
	{"liên thông các tthc", kindReport, "kết quả thực hiện liên thông thủ tục hành chính đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế"},
	{"trực tuyến", kindReport, "kết quả cung cấp dịch vụ công trực tuyến mức độ 3, 4 năm 2017"},
	{"bưu chính", kindReport, "kết quả tiếp nhận hồ sơ, trả kết quả qua dịch vụ bưu chính công ích"},
	{"công bố hệ thống quản lý chất lượng", kindDecision, "công bố hệ thống quản lý chất lượng phù hợp tiêu chuẩn TCVN ISO 9001:2008"},
	{"quản lý chất lượng", kindReport, "kết quả xây dựng, áp dụng và duy trì hệ thống quản lý chất lượng theo TCVN ISO 9001:2008"},
	{"bộ phận", kindDecision, "kiện toàn Bộ phận tiếp nhận và trả kết quả"},
	{"một cửa", kindReport, "kết quả giải quyết thủ tục hành chính theo cơ chế một cửa, một cửa liên thông 9 tháng đầu năm 2017"},
	{"tthc", kindReport, "kết quả giải quyết thủ tục hành chính 9 tháng đầu năm 2017"},
	{"chức năng, nhiệm vụ", kindDecision, "quy định chức năng, nhiệm vụ, quyền hạn và cơ cấu tổ chức"},
	{"cấp phó", kindReport, "số lượng cấp phó của người đứng đầu các phòng, đơn vị trực thuộc"},
	{"sắp xếp, kiện toàn", kindDecision, "sắp xếp, kiện toàn các đơn vị trực thuộc"},
	{"tinh giản biên chế", kindReport, "kết quả thực hiện tinh giản biên chế năm 2017"},
	{"biên chế", kindReport, "tình hình quản lý, sử dụng biên chế năm 2017"},
	{"phân cấp", kindReport, "kết quả thực hiện nhiệm vụ được phân cấp, ủy quyền năm 2017"},
	{"vị trí việc làm", kindDecision, "phê duyệt đề án vị trí việc làm và cơ cấu ngạch công chức"},
	{"tuyển dụng", kindReport, "kết quả tuyển dụng công chức, viên chức năm 2017"},
	{"bổ nhiệm", kindReport, "công tác bổ nhiệm, bổ nhiệm lại cán bộ lãnh đạo năm 2017"},
	{"chuyển đổi vị trí", kindPlan, "chuyển đổi vị trí công tác năm 2017"},
	{"phân loại", kindReport, "kết quả đánh giá, phân loại cán bộ, công chức, viên chức năm 2016"},
	{"hoàn thành xuất sắc", kindReport, "kết quả đánh giá, phân loại cán bộ, công chức, viên chức năm 2016"},
	{"tập huấn", kindReport, "kết quả tập huấn, bồi dưỡng nghiệp vụ cho công chức cấp huyện, cấp xã năm 2017"},
	{"kế hoạch đào tạo", kindPlan, "đào tạo, bồi dưỡng cán bộ, công chức, viên chức năm 2017"},
	{"bồi dưỡng", kindReport, "kết quả đào tạo, bồi dưỡng cán bộ, công chức, viên chức 9 tháng đầu năm 2017"},
	{"đạt chuẩn", kindReport, "trình độ chuyên môn của cán bộ, công chức cấp xã"},
	{"văn hóa công sở", kindDecision, "ban hành quy chế văn hóa công sở"},
	{"kỷ luật", kindReport, "tình hình chấp hành kỷ luật, kỷ cương hành chính năm 2017"},
	{"chức danh", kindReport, "số lượng, chức danh cán bộ, công chức xã, phường, thị trấn"},
	{"chi tiêu nội bộ", kindDecision, "ban hành quy chế chi tiêu nội bộ năm 2017"},
	{"tiết kiệm", kindReport, "kết quả tiết kiệm kinh phí, chi tăng thu nhập năm 2016"},
	{"công khai", kindDecision, "công bố công khai dự toán ngân sách năm 2017"},
	{"được giao tự chủ", kindDecision, "giao quyền tự chủ cho các đơn vị sự nghiệp công lập trực thuộc"},
	{"tự chủ", kindReport, "kết quả kiểm tra việc thực hiện tự chủ tại các đơn vị sự nghiệp công lập trực thuộc"},
	{"thanh tra, kiểm toán", kindReport, "kết quả thực hiện kiến nghị của thanh tra, kiểm toán về tài chính, ngân sách"},
	{"cntt", kindPlan, "ứng dụng công nghệ thông tin năm 2017"},
	{"quản lý văn", kindReport, "tình hình gửi, nhận văn bản điện tử năm 2017"},
	{"văn bản đi", kindReport, "tình hình gửi, nhận văn bản điện tử năm 2017"},
	{"thông tin điện tử", kindReport, "hoạt động của Cổng/Trang thông tin điện tử năm 2017"},
	{"cơ sở dữ liệu", kindReport, "xây dựng, cập nhật cơ sở dữ liệu chuyên ngành năm 2017"},
	{"chữ ký số", kindReport, "sử dụng chữ ký số trong gửi, nhận văn bản điện tử"},
	{"hướng dẫn chuyên môn", kindGuide, "chuyên môn, nghiệp vụ thuộc ngành, lĩnh vực cho cấp huyện, cấp xã"},
	{"thanh tra, kiểm tra chuyên ngành", kindPlan, "thanh tra, kiểm tra chuyên ngành năm 2017"},
	{"tiếp công dân", kindReport, "công tác tiếp công dân năm 2017"},
	{"khiếu nại", kindReport, "kết quả giải quyết khiếu nại, tố cáo năm 2017"},
	{"quyền sử dụng đất", kindReport, "kết quả cấp giấy chứng nhận quyền sử dụng đất lần đầu năm 2017"},
	{"trật tự xây dựng", kindReport, "kết quả kiểm tra, xử lý vi phạm trật tự xây dựng năm 2017"},
	{"chính sách", kindReport, "kết quả chi trả chế độ chính sách cho người có công và đối tượng bảo trợ xã hội năm 2017"},
}

// issuerAbbr is the part of a document number naming its issuer: "UBND"
// for a district's People's Committee, the unit's code for a department.
func issuerAbbr(u domain.Unit) string {
	switch {
	case u.Block == domain.BlockDistricts:
		return "UBND"
	case u.Code == "VPUBND":
		return "VP"
	}
	return u.Code
}

// newDocument drafts the document a unit attaches as evidence for an item,
// dated in 2017 before before. It also returns a key naming the kind of
// document (from the docRule that matched), so that a unit can cite one
// document for several items; the key is "" for a document about the item
// alone.
func newDocument(rng *rand.Rand, u domain.Unit, item *domain.Node, before time.Time) (document, string) {
	title := strings.ToLower(item.Title)
	kind, subject, key := kindReport, "", ""
	for i, r := range docRules {
		if strings.Contains(title, r.phrase) {
			kind, subject, key = r.kind, r.subject, fmt.Sprint(i)
			break
		}
	}
	switch {
	case key == "" && strings.HasPrefix(title, "thực hiện "):
		subject = "kết quả " + lowerFirst(item.Title)
	case key == "":
		subject = "kết quả thực hiện " + lowerFirst(item.Title)
	case kind == kindPlan && (strings.HasPrefix(title, "mức độ thực hiện") || strings.HasPrefix(title, "thực hiện kế hoạch")):
		// The result of a plan is proved by the report on it.
		kind, subject, key = kindReport, "kết quả thực hiện kế hoạch "+subject, key+"r"
	}
	from, to := documentDates(kind, subject)
	if !to.Before(before) {
		to = before.AddDate(0, 0, -1)
	}
	days := max(int(to.Sub(from).Hours()/24), 0) + 1
	date := workdayOnOrAfter(from.AddDate(0, 0, rng.IntN(days)))
	number := fmt.Sprintf("%d/%s-%s", 1+rng.IntN(420), kindAbbr[kind], issuerAbbr(u))
	return document{Kind: kind, Number: number, Date: date, Subject: subject, Issuer: u}, key
}

// documentDates returns when a document of this kind and subject is
// issued: plans early in the year, reports after the period they cover.
func documentDates(kind, subject string) (from, to time.Time) {
	switch {
	case strings.Contains(subject, "quý III"), strings.Contains(subject, "9 tháng đầu năm"):
		return hanoiDate(2017, time.September, 11), hanoiDate(2017, time.September, 29)
	case strings.Contains(subject, "6 tháng đầu năm"):
		return hanoiDate(2017, time.June, 12), hanoiDate(2017, time.July, 10)
	case strings.Contains(subject, "năm 2016"):
		return hanoiDate(2017, time.January, 5), hanoiDate(2017, time.April, 28)
	case kind == kindPlan:
		return hanoiDate(2017, time.January, 4), hanoiDate(2017, time.February, 28)
	}
	return hanoiDate(2017, time.March, 1), hanoiDate(2017, time.September, 29)
}

// lowerFirst lowers the first letter of s unless its first word is an
// acronym (TTHC, CNTT, ...).
func lowerFirst(s string) string {
	word, _, _ := strings.Cut(s, " ")
	upper := 0
	for _, r := range word {
		if unicode.IsUpper(r) {
			upper++
		}
	}
	if upper > 1 {
		return s
	}
	for i, r := range s {
		return string(unicode.ToLower(r)) + s[i+len(string(r)):]
	}
	return s
}

// pdf renders the document as a small, valid one-page PDF. The page shows
// the title in ASCII (the standard fonts have no Vietnamese glyphs); the
// document information dictionary holds the exact Vietnamese title.
func (d document) pdf(note string) []byte {
	lines := []string{
		strings.ToUpper(fold(d.Issuer.Name)),
		"",
	}
	lines = append(lines, wrap(fold(d.Title()), 80)...)
	lines = append(lines, "", "So: "+fold(d.Number), "Ngay: "+d.Date.Format("02/01/2006"))
	if note != "" {
		lines = append(lines, "", fold(note))
	}
	lines = append(lines, "", "Tai lieu kiem chung - Chi so CCHC nam 2017 (du lieu minh hoa cua parledger)", "Ma luu tru: "+d.Ref)

	var content bytes.Buffer
	content.WriteString("BT\n/F1 11 Tf\n14 TL\n56 780 Td\n")
	for _, l := range lines {
		fmt.Fprintf(&content, "(%s) '\n", pdfEscape(l))
	}
	content.WriteString("ET\n")

	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		fmt.Sprintf("<< /Title <%s> /Author <%s> /Producer (parledger demo) /CreationDate (D:%s+07'00') >>",
			utf16Hex(d.Title()), utf16Hex(d.Issuer.Name), d.Date.Format("20060102")+"090000"),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, len(objects), xref)
	return b.Bytes()
}

// fold writes Vietnamese without diacritics, for the PDF's standard font.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == 'đ':
			b.WriteByte('d')
		case r == 'Đ':
			b.WriteByte('D')
		case r < 0x80:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// wrap splits s into lines of at most width bytes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	for len(s) > width {
		cut := strings.LastIndexByte(s[:width], ' ')
		if cut <= 0 {
			cut = width
		}
		lines = append(lines, s[:cut])
		s = strings.TrimLeft(s[cut:], " ")
	}
	return append(lines, s)
}

// pdfEscape escapes a PDF literal string.
func pdfEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

// utf16Hex encodes s as a PDF text string: UTF-16BE with a byte order mark,
// in hex.
func utf16Hex(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xfe, 0xff
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
