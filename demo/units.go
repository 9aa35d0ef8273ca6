package demo

import "github.com/parledger/parledger/domain"

// departments are the 22 departments and equivalent agencies of khối Sở
// (the 2019-2020 list in shared/data/hanoi-units.json; whether all 22 were
// scored in 2017 is not confirmed). Codes are short uppercase forms; they
// match the appraising agency codes of the frameworks where the department
// is also an appraiser (SNV, STP, STC, SKHDT, SKHCN, STTTT, VPUBND).
var departments = []domain.Unit{
	{Code: "VPUBND", Name: "Văn phòng UBND Thành phố", Block: domain.BlockDepartments},
	{Code: "SNV", Name: "Sở Nội vụ", Block: domain.BlockDepartments},
	{Code: "STP", Name: "Sở Tư pháp", Block: domain.BlockDepartments},
	{Code: "SKHDT", Name: "Sở Kế hoạch và Đầu tư", Block: domain.BlockDepartments},
	{Code: "STC", Name: "Sở Tài chính", Block: domain.BlockDepartments},
	{Code: "SCT", Name: "Sở Công Thương", Block: domain.BlockDepartments},
	{Code: "SNNPTNT", Name: "Sở Nông nghiệp và Phát triển nông thôn", Block: domain.BlockDepartments},
	{Code: "SGTVT", Name: "Sở Giao thông vận tải", Block: domain.BlockDepartments},
	{Code: "SXD", Name: "Sở Xây dựng", Block: domain.BlockDepartments},
	{Code: "STNMT", Name: "Sở Tài nguyên và Môi trường", Block: domain.BlockDepartments},
	{Code: "STTTT", Name: "Sở Thông tin và Truyền thông", Block: domain.BlockDepartments},
	{Code: "SLDTBXH", Name: "Sở Lao động - Thương binh và Xã hội", Block: domain.BlockDepartments},
	{Code: "SVHTT", Name: "Sở Văn hóa và Thể thao", Block: domain.BlockDepartments},
	{Code: "SDL", Name: "Sở Du lịch", Block: domain.BlockDepartments},
	{Code: "SKHCN", Name: "Sở Khoa học và Công nghệ", Block: domain.BlockDepartments},
	{Code: "SGDDT", Name: "Sở Giáo dục và Đào tạo", Block: domain.BlockDepartments},
	{Code: "SYT", Name: "Sở Y tế", Block: domain.BlockDepartments},
	{Code: "TTTP", Name: "Thanh tra Thành phố", Block: domain.BlockDepartments},
	{Code: "SQHKT", Name: "Sở Quy hoạch - Kiến trúc", Block: domain.BlockDepartments},
	{Code: "SNGV", Name: "Sở Ngoại vụ", Block: domain.BlockDepartments},
	{Code: "BDT", Name: "Ban Dân tộc", Block: domain.BlockDepartments},
	{Code: "BQLKCN", Name: "Ban Quản lý các khu công nghiệp và chế xuất Hà Nội", Block: domain.BlockDepartments},
}

// districts are the 30 district-level People's Committees of khối quận,
// huyện (12 quận, 17 huyện, 1 thị xã), coded by their GSO code.
var districts = []domain.Unit{
	{Code: "001", Name: "UBND quận Ba Đình", Block: domain.BlockDistricts},
	{Code: "002", Name: "UBND quận Hoàn Kiếm", Block: domain.BlockDistricts},
	{Code: "003", Name: "UBND quận Tây Hồ", Block: domain.BlockDistricts},
	{Code: "004", Name: "UBND quận Long Biên", Block: domain.BlockDistricts},
	{Code: "005", Name: "UBND quận Cầu Giấy", Block: domain.BlockDistricts},
	{Code: "006", Name: "UBND quận Đống Đa", Block: domain.BlockDistricts},
	{Code: "007", Name: "UBND quận Hai Bà Trưng", Block: domain.BlockDistricts},
	{Code: "008", Name: "UBND quận Hoàng Mai", Block: domain.BlockDistricts},
	{Code: "009", Name: "UBND quận Thanh Xuân", Block: domain.BlockDistricts},
	{Code: "016", Name: "UBND huyện Sóc Sơn", Block: domain.BlockDistricts},
	{Code: "017", Name: "UBND huyện Đông Anh", Block: domain.BlockDistricts},
	{Code: "018", Name: "UBND huyện Gia Lâm", Block: domain.BlockDistricts},
	{Code: "019", Name: "UBND quận Nam Từ Liêm", Block: domain.BlockDistricts},
	{Code: "020", Name: "UBND huyện Thanh Trì", Block: domain.BlockDistricts},
	{Code: "021", Name: "UBND quận Bắc Từ Liêm", Block: domain.BlockDistricts},
	{Code: "250", Name: "UBND huyện Mê Linh", Block: domain.BlockDistricts},
	{Code: "268", Name: "UBND quận Hà Đông", Block: domain.BlockDistricts},
	{Code: "269", Name: "UBND thị xã Sơn Tây", Block: domain.BlockDistricts},
	{Code: "271", Name: "UBND huyện Ba Vì", Block: domain.BlockDistricts},
	{Code: "272", Name: "UBND huyện Phúc Thọ", Block: domain.BlockDistricts},
	{Code: "273", Name: "UBND huyện Đan Phượng", Block: domain.BlockDistricts},
	{Code: "274", Name: "UBND huyện Hoài Đức", Block: domain.BlockDistricts},
	{Code: "275", Name: "UBND huyện Quốc Oai", Block: domain.BlockDistricts},
	{Code: "276", Name: "UBND huyện Thạch Thất", Block: domain.BlockDistricts},
	{Code: "277", Name: "UBND huyện Chương Mỹ", Block: domain.BlockDistricts},
	{Code: "278", Name: "UBND huyện Thanh Oai", Block: domain.BlockDistricts},
	{Code: "279", Name: "UBND huyện Thường Tín", Block: domain.BlockDistricts},
	{Code: "280", Name: "UBND huyện Phú Xuyên", Block: domain.BlockDistricts},
	{Code: "281", Name: "UBND huyện Ứng Hòa", Block: domain.BlockDistricts},
	{Code: "282", Name: "UBND huyện Mỹ Đức", Block: domain.BlockDistricts},
}

// Units returns the 52 units of the demo campaign: the 22 departments
// (block so) first, then the 30 districts (block huyen) in GSO code order.
// Names are NFC with their Vietnamese diacritics. Each call returns a new
// slice the caller may change.
func Units() []domain.Unit {
	out := make([]domain.Unit, 0, len(departments)+len(districts))
	out = append(out, departments...)
	return append(out, districts...)
}
