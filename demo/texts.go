package demo

import (
	"math/rand/v2"
	"strings"

	"github.com/shopspring/decimal"
)

// The Vietnamese texts of the demo: what units, appraisers, Home Affairs
// and the council write in the ledger.

// lowerReasons are appraisers' reasons for scoring an item below the self
// score.
var lowerReasons = []string{
	"Tài liệu kiểm chứng chưa thể hiện việc ban hành đúng thời hạn",
	"Tài liệu kiểm chứng chưa đầy đủ so với yêu cầu của tiêu chí",
	"Số liệu tự đánh giá chưa khớp với số liệu theo dõi của cơ quan thẩm định",
	"Văn bản được ban hành chậm so với thời hạn quy định",
	"Chưa có báo cáo kết quả thực hiện kèm theo tài liệu kiểm chứng",
	"Tỷ lệ thực hiện thực tế thấp hơn mức đơn vị tự đánh giá",
	"Tài liệu kiểm chứng được ban hành ngoài kỳ đánh giá",
}

// lowerReasonNoEvidence is the reason for lowering an item the unit scored
// with a note instead of evidence.
const lowerReasonNoEvidence = "Đơn vị không cung cấp tài liệu kiểm chứng; thuyết minh chưa đủ căn cứ để công nhận mức điểm tự đánh giá"

// raiseReason is the reason for scoring an item above the self score.
const raiseReason = "Đơn vị tự chấm thấp hơn kết quả thực tế; số liệu theo dõi của cơ quan thẩm định cho thấy đơn vị đã hoàn thành"

// round2Reason explains a round-2 appraisal.
const round2Reason = "Thẩm định vòng 2: đơn vị đã bổ sung tài liệu kiểm chứng theo đề nghị của cơ quan thẩm định; điều chỉnh điểm thẩm định vòng 1"

// evidenceNotes are units' notes on items scored above zero without
// evidence.
var evidenceNotes = []string{
	"Tài liệu kiểm chứng là hồ sơ lưu tại đơn vị; đề nghị cơ quan thẩm định kiểm tra trực tiếp khi cần.",
	"Điểm tự chấm căn cứ số liệu trên phần mềm một cửa điện tử của đơn vị đến hết ngày 30/9/2017.",
	"Văn bản đã gửi Sở Nội vụ kèm báo cáo cải cách hành chính quý III/2017.",
	"Số liệu theo báo cáo tổng hợp của Văn phòng; tài liệu gốc lưu tại bộ phận chuyên môn.",
}

// zeroNotes are units' notes on items they scored zero.
var zeroNotes = []string{
	"Năm 2017 đơn vị chưa thực hiện được nội dung này.",
	"Chưa đáp ứng yêu cầu của tiêu chí; đơn vị sẽ khắc phục trong năm 2018.",
}

// withdrawReason is why a unit withdraws a wrongly attached file.
const withdrawReason = "Đính kèm nhầm tệp; thay bằng văn bản đúng."

// surveyBatch names the survey import.
const surveyBatch = "ĐTXHH 2017"

// councilRef is the council's decision cited on every resolution.
const councilRef = "Biên bản họp Hội đồng thẩm định ngày 20/12/2017"

// Publication of the results.
const (
	decisionNumber = "1203/QĐ-UBND"
	decisionDate   = "2018-01-26"
)

// campaignTitle is the official title of the 2017 round.
const campaignTitle = "Chỉ số cải cách hành chính năm 2017 của các sở, cơ quan ngang sở và UBND các quận, huyện, thị xã"

// agencyNames names the appraising agencies in appraisers' notes.
var agencyNames = map[string]string{
	"SNV":    "Sở Nội vụ",
	"STP":    "Sở Tư pháp",
	"STC":    "Sở Tài chính",
	"SKHDT":  "Sở Kế hoạch và Đầu tư",
	"SKHCN":  "Sở Khoa học và Công nghệ",
	"STTTT":  "Sở Thông tin và Truyền thông",
	"VPUBND": "Văn phòng UBND Thành phố",
	"TTTP":   "Thanh tra Thành phố",
}

// agencyName returns an agency's name, or its code when unknown.
func agencyName(code string) string {
	if n, ok := agencyNames[code]; ok {
		return n
	}
	return code
}

// pick returns a random element of xs.
func pick(rng *rand.Rand, xs []string) string { return xs[rng.IntN(len(xs))] }

// vn writes points as officials do, with a decimal comma: 0,75.
func vn(d decimal.Decimal) string { return strings.Replace(d.String(), ".", ",", 1) }
