package domain

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// Limits of framework files. Real frameworks are ~100 items and a few
// dozen KiB; the caps stop a hostile upload from taking the server's
// memory.
const (
	// MaxFrameworkSize caps a framework file (JSON, CSV or XLSX), in bytes.
	MaxFrameworkSize = 10 << 20
	// MaxFrameworkRows caps the rows of a framework sheet.
	MaxFrameworkRows = 5000
)

// FrameworkMeta holds what a framework sheet does not carry: everything of
// a Framework but its tree.
type FrameworkMeta struct {
	ID           string
	Version      int
	Title        string
	Block        Block
	Decision     string
	Illustrative bool
	Notes        string
}

// Meta returns the fields of f that a sheet does not carry, so that a
// framework written as a sheet can be read back whole.
func (f *Framework) Meta() FrameworkMeta {
	return FrameworkMeta{
		ID: f.ID, Version: f.Version, Title: f.Title, Block: f.Block,
		Decision: f.Decision, Illustrative: f.Illustrative, Notes: f.Notes,
	}
}

// readFramework reads all of r, failing with ETOOLARGE beyond
// MaxFrameworkSize rather than truncating.
func readFramework(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFrameworkSize+1))
	if err != nil {
		return nil, fmt.Errorf("read framework %s: %w", what, err)
	}
	if len(data) > MaxFrameworkSize {
		return nil, Errorf(ETOOLARGE, "the framework %s is larger than %d MiB", what, MaxFrameworkSize>>20)
	}
	return data, nil
}

// ParseFrameworkJSON reads one framework as JSON, normalises its text to
// NFC and validates it. Decoding is strict: unknown or repeated fields,
// values of the wrong type, null and anything after the framework object
// are errors. Points are JSON numbers or decimal strings ("1.25") and never
// pass through float64. Every error is an *Error: ETOOLARGE beyond
// MaxFrameworkSize, otherwise EINVALID with the path of each bad field
// ("areas[2].children[0].maxPoints") and its byte offset.
func ParseFrameworkJSON(r io.Reader) (*Framework, error) {
	data, err := readFramework(r, "JSON")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers arrive as their literal text; see jsonDecoder.decimal.
	dec.UseNumber()
	d := &jsonDecoder{dec: dec}
	f, err := d.framework()
	if err != nil {
		return nil, err
	}
	if len(d.errs) > 0 {
		return nil, Invalid(countProblems("the framework JSON", len(d.errs)+d.dropped), d.fields()...)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Invalid("the framework JSON has data after the framework object",
			FieldError{Field: fmt.Sprintf("offset %d", dec.InputOffset()), Detail: "send exactly one JSON object"})
	}
	f.Normalize()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// jsonDecoder walks the tokens of a framework document, so that it knows
// the path and offset of every value. Errors in values are collected;
// syntax errors stop the walk.
type jsonDecoder struct {
	dec     *json.Decoder
	errs    []FieldError
	dropped int // problems beyond maxProblems
}

func (d *jsonDecoder) fail(path, detail string) {
	if len(d.errs) >= maxProblems {
		d.dropped++
		return
	}
	d.errs = append(d.errs, FieldError{Field: path, Detail: fmt.Sprintf("%s (at offset %d)", detail, d.dec.InputOffset())})
}

func (d *jsonDecoder) fields() []FieldError {
	if d.dropped == 0 {
		return d.errs
	}
	return append(d.errs, FieldError{Detail: fmt.Sprintf("and %d more problems", d.dropped)})
}

// token returns the next token, turning a syntax error or an early end
// into a final EINVALID error.
func (d *jsonDecoder) token() (json.Token, error) {
	t, err := d.dec.Token()
	if err == nil {
		return t, nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, Invalid("the framework is not valid JSON", FieldError{Field: fmt.Sprintf("offset %d", se.Offset), Detail: se.Error()})
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, Invalid("the framework is not valid JSON", FieldError{Field: fmt.Sprintf("offset %d", d.dec.InputOffset()), Detail: "unexpected end of input"})
	default:
		return nil, Invalid("the framework is not valid JSON", FieldError{Field: fmt.Sprintf("offset %d", d.dec.InputOffset()), Detail: err.Error()})
	}
}

// skipRest consumes the rest of a value whose first token was t, without
// recursion.
func (d *jsonDecoder) skipRest(t json.Token) error {
	depth := 0
	for {
		if delim, ok := t.(json.Delim); ok {
			switch delim {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
		var err error
		if t, err = d.token(); err != nil {
			return err
		}
	}
}

// wrongType records that the value at path, starting with t, is not of the
// wanted kind, and skips it.
func (d *jsonDecoder) wrongType(path, want string, t json.Token) error {
	d.fail(path, fmt.Sprintf("must be %s, got %s", want, describeToken(t)))
	return d.skipRest(t)
}

func describeToken(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "the number " + v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", v)
	}
}

// object reads an object at path, calling field for each key; a repeated
// key is an error and its value is skipped.
func (d *jsonDecoder) object(path string, field func(key, path string) error) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return d.wrongType(path, "an object", t)
	}
	seen := make(map[string]bool)
	for d.dec.More() {
		kt, err := d.token()
		if err != nil {
			return err
		}
		key, _ := kt.(string) // the decoder guarantees a string key
		kp := key
		if path != "" {
			kp = path + "." + key
		}
		if seen[key] {
			d.fail(kp, "the field appears twice")
			if err := d.skip(); err != nil {
				return err
			}
			continue
		}
		seen[key] = true
		if err := field(key, kp); err != nil {
			return err
		}
	}
	_, err = d.token() // '}'
	return err
}

// array reads an array at path, calling elem for each element.
func (d *jsonDecoder) array(path string, elem func(i int, path string) error) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	if t != json.Delim('[') {
		return d.wrongType(path, "an array", t)
	}
	for i := 0; d.dec.More(); i++ {
		if err := elem(i, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	_, err = d.token() // ']'
	return err
}

// skip consumes the next value.
func (d *jsonDecoder) skip() error {
	t, err := d.token()
	if err != nil {
		return err
	}
	return d.skipRest(t)
}

func (d *jsonDecoder) unknown(path string) error {
	d.fail(path, "unknown field")
	return d.skip()
}

func (d *jsonDecoder) str(path string, dst *string) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	s, ok := t.(string)
	if !ok {
		return d.wrongType(path, "a string", t)
	}
	*dst = s
	return nil
}

func (d *jsonDecoder) boolean(path string, dst *bool) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	b, ok := t.(bool)
	if !ok {
		return d.wrongType(path, "true or false", t)
	}
	*dst = b
	return nil
}

func (d *jsonDecoder) integer(path string, dst *int) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	n, ok := t.(json.Number)
	if !ok {
		return d.wrongType(path, "a whole number", t)
	}
	i, err := strconv.Atoi(n.String())
	if err != nil {
		d.fail(path, fmt.Sprintf("must be a whole number, got %s", n))
		return nil
	}
	*dst = i
	return nil
}

// plainDecimal is the only syntax points may take: no exponent, no sign
// but '-', and few enough digits that no arithmetic on it can be costly.
var plainDecimal = regexp.MustCompile(`^-?[0-9]{1,12}(\.[0-9]{1,12})?$`)

// decimal reads points given as a JSON number or a decimal string. The
// literal text goes straight to decimal.NewFromString: never through
// float64, so 0.1 stays 0.1.
func (d *jsonDecoder) decimal(path string, dst *decimal.Decimal) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	var s string
	switch v := t.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return d.wrongType(path, "a decimal number", t)
	}
	if !plainDecimal.MatchString(s) {
		d.fail(path, fmt.Sprintf("must be a plain decimal number like 1.25 or \"1.25\", got %q", s))
		return nil
	}
	p, err := decimal.NewFromString(s)
	if err != nil {
		d.fail(path, fmt.Sprintf("must be a plain decimal number like 1.25, got %q", s))
		return nil
	}
	*dst = p
	return nil
}

func (d *jsonDecoder) framework() (*Framework, error) {
	f := &Framework{}
	err := d.object("", func(key, p string) error {
		switch key {
		case "id":
			return d.str(p, &f.ID)
		case "version":
			return d.integer(p, &f.Version)
		case "title":
			return d.str(p, &f.Title)
		case "block":
			var s string
			err := d.str(p, &s)
			f.Block = Block(s)
			return err
		case "decision":
			return d.str(p, &f.Decision)
		case "illustrative":
			return d.boolean(p, &f.Illustrative)
		case "notes":
			return d.str(p, &f.Notes)
		case "areas":
			return d.array(p, func(_ int, p string) error {
				n, err := d.node(p, 1)
				if n != nil {
					f.Areas = append(f.Areas, n)
				}
				return err
			})
		default:
			return d.unknown(p)
		}
	})
	return f, err
}

// node reads a node at path, depth levels down from the framework.
func (d *jsonDecoder) node(path string, depth int) (*Node, error) {
	if depth > MaxFrameworkDepth {
		d.fail(path, fmt.Sprintf("items nest deeper than %d levels", MaxFrameworkDepth))
		return nil, d.skip()
	}
	n := &Node{}
	err := d.object(path, func(key, p string) error {
		switch key {
		case "code":
			return d.str(p, &n.Code)
		case "title":
			return d.str(p, &n.Title)
		case "maxPoints":
			return d.decimal(p, &n.MaxPoints)
		case "method":
			var s string
			err := d.str(p, &s)
			n.Method = Method(s)
			return err
		case "agency":
			return d.str(p, &n.Agency)
		case "levels":
			return d.array(p, func(_ int, p string) error {
				var l Level
				err := d.object(p, func(key, p string) error {
					switch key {
					case "points":
						return d.decimal(p, &l.Points)
					case "label":
						return d.str(p, &l.Label)
					default:
						return d.unknown(p)
					}
				})
				n.Levels = append(n.Levels, l)
				return err
			})
		case "children":
			return d.array(p, func(_ int, p string) error {
				c, err := d.node(p, depth+1)
				if c != nil {
					n.Children = append(n.Children, c)
				}
				return err
			})
		default:
			return d.unknown(p)
		}
	})
	return n, err
}

// ParseFrameworkCSV reads a framework sheet saved as CSV (UTF-8, with or
// without a byte order mark; fields separated by ',' or ';', whichever
// follows "STT" in the header line) and parses it with ParseFrameworkRows.
// Line numbers in errors are those of the file.
func ParseFrameworkCSV(meta FrameworkMeta, r io.Reader) (*Framework, error) {
	data, err := readFramework(r, "CSV file")
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		return nil, Invalid("the framework CSV is not UTF-8 text", FieldError{Detail: "save the sheet as \"CSV UTF-8\""})
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = sniffSeparator(data)
	cr.FieldsPerRecord = -1
	var rows [][]string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, Invalid("the framework CSV is malformed", FieldError{Field: fmt.Sprintf("line %d", pe.StartLine), Detail: pe.Err.Error()})
		}
		if err != nil {
			return nil, fmt.Errorf("read framework CSV: %w", err)
		}
		// Place each record at the index of its first line, so that
		// ParseFrameworkRows reports file line numbers even where the CSV
		// reader skipped blank lines or a quoted cell spans lines.
		line, _ := cr.FieldPos(0)
		if line > MaxFrameworkRows {
			// Spreadsheets export formatted empty rows as ",,,"; only
			// content beyond the cap is too much.
			if isBlankRow(rec) {
				continue
			}
			return nil, Errorf(ETOOLARGE, "the framework sheet has more than %d rows", MaxFrameworkRows)
		}
		for len(rows) < line-1 {
			rows = append(rows, nil)
		}
		rows = append(rows, rec)
	}
	return ParseFrameworkRows(meta, rows)
}

// sniffSeparator returns the character after "STT" on the header line: ','
// or ';' (the latter is what Excel writes where the decimal mark is a
// comma). It defaults to ','.
func sniffSeparator(data []byte) rune {
	for line := range bytes.Lines(data) {
		i := bytes.IndexAny(line, ",;")
		if i < 0 {
			continue
		}
		if foldKey(strings.Trim(string(line[:i]), " \t\"")) == "stt" {
			return rune(line[i])
		}
	}
	return ','
}

// Columns of a framework sheet.
const (
	colCode = iota
	colTitle
	colMax
	colMethod
	colAgency
	colLevels
	numCols
)

// columnNames are the header texts each column answers to, as foldKey
// gives them: lowercase ASCII letters and digits only, so that case,
// diacritics, spaces and punctuation do not matter.
var columnNames = [numCols][]string{
	colCode:   {"stt", "sothutu", "code", "ma"},
	colTitle:  {"linhvuctieuchitieuchithanhphan", "noidung", "content", "title", "tieuchi", "linhvuctieuchi"},
	colMax:    {"diemtoida", "maxpoints", "max", "maximum"},
	colMethod: {"phuongphap", "method", "phuongphapcham", "phuongphapdanhgia", "cachcham"},
	colAgency: {"coquanthamdinh", "agency", "donvithamdinh", "coquan"},
	colLevels: {"mucdiem", "levels", "level", "thangdiem"},
}

// columnLabels name the columns in error messages.
var columnLabels = [numCols]string{
	colCode:   "STT",
	colTitle:  "Nội dung",
	colMax:    "Điểm tối đa",
	colMethod: "Phương pháp",
	colAgency: "Cơ quan thẩm định",
	colLevels: "Mức điểm",
}

// sheetMethods maps a method cell, as foldKey gives it, to a method.
var sheetMethods = map[string]Method{
	"self": MethodSelf, "tucham": MethodSelf, "tudanhgia": MethodSelf, "tuchamthamdinh": MethodSelf,
	"survey": MethodSurvey, "dtxhh": MethodSurvey, "dieutraxahoihoc": MethodSurvey,
	"higherlevel": MethodHigherLevel, "captrencham": MethodHigherLevel, "thamdinh": MethodHigherLevel,
	"bonus": MethodBonus, "diemthuong": MethodBonus,
	"penalty": MethodPenalty, "diemtru": MethodPenalty,
}

var romanAreas = map[string]int{
	"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10,
	"XI": 11, "XII": 12, "XIII": 13, "XIV": 14, "XV": 15, "XVI": 16, "XVII": 17, "XVIII": 18, "XIX": 19, "XX": 20,
}

var (
	sheetCode    = regexp.MustCompile(`^[1-9][0-9]{0,3}(\.[1-9][0-9]{0,3})*$`)
	sheetDecimal = regexp.MustCompile(`^-?[0-9]{1,12}([.,][0-9]{1,12})?$`)
)

// foldKey reduces s to lowercase ASCII letters and digits, dropping
// diacritics ("Điểm tối đa" → "diemtoida"), for matching header and method
// cells however they are typed.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case r == 'đ' || r == 'Đ':
			b.WriteByte('d')
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func trimCell(s string) string { return strings.TrimFunc(s, unicode.IsSpace) }

// lineError is a problem on one line of a sheet (0 for the sheet as a
// whole).
type lineError struct {
	line int
	fe   FieldError
}

// sheetRow is a row of the sheet that became a node.
type sheetRow struct {
	line        int
	node        *Node
	methodEmpty bool
}

// ParseFrameworkRows builds a framework from the rows of a sheet in the
// layout Vietnamese officials use, completes it with meta, normalises its
// text and validates it.
//
// The header is the first row whose first cell reads "STT". Columns are
// found by header text, Vietnamese or English, ignoring case and
// diacritics: STT (code), "Lĩnh vực/Tiêu chí/Tiêu chí thành phần",
// "Nội dung" or "Content" (title), "Điểm tối đa" or "Max points", and
// optionally "Phương pháp"/"Method", "Cơ quan thẩm định"/"Agency" and
// "Mức điểm"/"Levels"; other columns are ignored. Rows above the header and
// blank rows are skipped; a row without code whose title starts with
// "Tổng" is a total row, and its max points must equal the framework's
// MaxTotal.
//
// Codes are dotted numbers ("1", "1.2", "1.2.3"; a trailing '.' is
// allowed); an area may be coded by a Roman numeral I to XX. A node's parent
// is the row coded as its code without the last ".n". Points use ',' or '.'
// as decimal mark, without thousands separators. Methods are English codes
// or Vietnamese ("Tự chấm", "ĐTXHH", "Cấp trên chấm", "Thẩm định",
// "Điểm thưởng", "Điểm trừ"); an empty method on a leaf means self. Levels
// read "1: Ban hành đúng hạn; 0,5: Ban hành chậm; 0: Không ban hành",
// separated by ';' or line breaks.
//
// Every problem is reported at once in an EINVALID *Error whose fields name
// the 1-based line, e.g. "line 14", as a spreadsheet shows it; ETOOLARGE
// beyond MaxFrameworkRows rows.
func ParseFrameworkRows(meta FrameworkMeta, rows [][]string) (*Framework, error) {
	if len(rows) > MaxFrameworkRows {
		return nil, Errorf(ETOOLARGE, "the framework sheet has more than %d rows", MaxFrameworkRows)
	}
	header := -1
	for i, row := range rows {
		if len(row) > 0 && foldKey(row[0]) == "stt" {
			header = i
			break
		}
	}
	if header < 0 {
		return nil, Invalid("the framework sheet has no header row", FieldError{
			Field:  "sheet",
			Detail: "no row starts with \"STT\"; the header needs the columns STT, Nội dung (or Lĩnh vực/Tiêu chí/Tiêu chí thành phần) and Điểm tối đa",
		})
	}
	cols, errs := sheetColumns(rows[header], header+1)
	if len(errs) > 0 {
		return nil, sheetError(errs)
	}

	f := &Framework{
		ID: meta.ID, Version: meta.Version, Title: meta.Title, Block: meta.Block,
		Decision: meta.Decision, Illustrative: meta.Illustrative, Notes: meta.Notes,
	}
	var (
		parsed  []*sheetRow
		lines   = make(map[string]int)      // code → line
		byCode  = make(map[string]*Node)    // code → node
		broken  = make(map[string][]string) // code → kinds of cells already reported
		total   decimal.Decimal
		totalAt int
	)
	bad := func(line int, detail string) {
		errs = append(errs, lineError{line, FieldError{Field: fmt.Sprintf("line %d", line), Detail: detail}})
	}
	for i := header + 1; i < len(rows); i++ {
		row, line := rows[i], i+1
		cell := func(col int) string {
			if c := cols[col]; c >= 0 && c < len(row) {
				return trimCell(row[c])
			}
			return ""
		}
		if isBlankRow(row) {
			continue
		}
		raw, title := cell(colCode), cell(colTitle)
		if raw == "" {
			if strings.HasPrefix(foldKey(title), "tong") {
				// A total row: check it once the tree is built.
				if s := cell(colMax); s != "" {
					if d, ok := parseSheetDecimal(s); ok {
						total, totalAt = d, line
					} else {
						bad(line, fmt.Sprintf("total %q is not a plain decimal number like 100 or 99,5", s))
					}
				}
				continue
			}
			bad(line, "the STT column has no code")
			continue
		}
		code, ok := parseSheetCode(raw)
		if !ok {
			bad(line, fmt.Sprintf("code %q is not a dotted number like 1, 1.2 or 1.2.3, nor a Roman numeral I to XX for an area", raw))
			continue
		}
		if first, dup := lines[code]; dup {
			bad(line, fmt.Sprintf("duplicate code %s (first on line %d)", code, first))
			continue
		}
		lines[code] = line
		n := &Node{Code: code, Title: title, Agency: cell(colAgency)}
		byCode[code] = n
		r := &sheetRow{line: line, node: n}
		parsed = append(parsed, r)

		switch s := cell(colMax); {
		case s == "":
			bad(line, code+": no max points in the "+columnLabels[colMax]+" column")
			broken[code] = append(broken[code], kindMax)
		default:
			d, ok := parseSheetDecimal(s)
			if !ok {
				bad(line, fmt.Sprintf("%s: max points %q is not a plain decimal number like 20, 0,5 or 20.5 (no thousands separators)", code, s))
				broken[code] = append(broken[code], kindMax)
			}
			n.MaxPoints = d
		}

		s := cell(colMethod)
		if m, ok := sheetMethods[foldKey(s)]; ok {
			n.Method = m
		} else if s == "" {
			r.methodEmpty = true
		} else {
			bad(line, fmt.Sprintf("%s: unknown method %q; use one of %s (or Tự chấm, ĐTXHH, Cấp trên chấm, Điểm thưởng, Điểm trừ)", code, s, methodList()))
			broken[code] = append(broken[code], kindMethod)
		}

		levels, problems := parseLevels(cell(colLevels))
		n.Levels = levels
		for _, p := range problems {
			bad(line, code+": "+p)
		}
		if len(problems) > 0 {
			broken[code] = append(broken[code], kindLevels)
		}
	}

	for _, r := range parsed {
		code := r.node.Code
		i := strings.LastIndexByte(code, '.')
		if i < 0 {
			f.Areas = append(f.Areas, r.node)
			continue
		}
		parent := byCode[code[:i]]
		if parent == nil {
			bad(r.line, fmt.Sprintf("%s has no parent: no row is coded %s", code, code[:i]))
			continue
		}
		parent.Children = append(parent.Children, r.node)
	}
	for _, r := range parsed {
		if r.methodEmpty && r.node.IsLeaf() {
			r.node.Method = MethodSelf
		}
	}

	f.Normalize()
	for _, p := range f.problems() {
		line, ok := lines[p.code]
		if !ok || p.code == "" {
			errs = append(errs, lineError{0, FieldError{Field: p.path, Detail: p.detail}})
			continue
		}
		if consequence(p, byCode[p.code], broken) {
			continue
		}
		errs = append(errs, lineError{line, FieldError{Field: fmt.Sprintf("line %d", line), Detail: p.code + ": " + p.detail}})
	}
	if totalAt > 0 && len(broken) == 0 {
		if sum := f.MaxTotal(); !sum.Equal(total) {
			bad(totalAt, fmt.Sprintf("the total row says %s, but the maxima of the scored areas sum to %s", total, sum))
		}
	}
	if len(errs) > 0 {
		return nil, sheetError(errs)
	}
	return f, nil
}

// consequence reports whether validation problem p only follows from a
// cell already reported as unreadable: a missing maximum makes the node's
// maximum 0 and its parent's sum wrong, an unknown method leaves the method
// empty, and so on.
func consequence(p problem, n *Node, broken map[string][]string) bool {
	if slices.Contains(broken[p.code], p.kind) {
		return true
	}
	if p.kind != kindSum || n == nil {
		return false
	}
	for _, c := range n.Children {
		if c != nil && slices.Contains(broken[c.Code], kindMax) {
			return true
		}
	}
	return false
}

// sheetError sorts line errors by line and wraps them in one EINVALID
// error.
func sheetError(errs []lineError) error {
	slices.SortStableFunc(errs, func(a, b lineError) int { return a.line - b.line })
	fields := make([]FieldError, len(errs))
	for i, e := range errs {
		fields[i] = e.fe
	}
	return Invalid(countProblems("the framework sheet", len(fields)), capFields(fields)...)
}

// sheetColumns finds the columns of the header row at line.
func sheetColumns(row []string, line int) ([numCols]int, []lineError) {
	var cols [numCols]int
	for i := range cols {
		cols[i] = -1
	}
	var errs []lineError
	for i, cell := range row {
		key := foldKey(cell)
		for c, names := range columnNames {
			if !slices.Contains(names, key) {
				continue
			}
			if cols[c] >= 0 {
				errs = append(errs, lineError{line, FieldError{
					Field:  fmt.Sprintf("line %d", line),
					Detail: fmt.Sprintf("the column %s appears twice (columns %s and %s)", columnLabels[c], columnLetter(cols[c]), columnLetter(i)),
				}})
				continue
			}
			cols[c] = i
		}
	}
	for _, c := range []int{colCode, colTitle, colMax} {
		if cols[c] < 0 {
			errs = append(errs, lineError{line, FieldError{
				Field:  fmt.Sprintf("line %d", line),
				Detail: fmt.Sprintf("the header has no %s column", columnLabels[c]),
			}})
		}
	}
	return cols, errs
}

// columnLetter returns the spreadsheet name of the 0-based column i: A, B,
// ..., Z, AA, ...
func columnLetter(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

func isBlankRow(row []string) bool {
	for _, c := range row {
		if trimCell(c) != "" {
			return false
		}
	}
	return true
}

// parseSheetCode reads an STT cell: a dotted number with an optional
// trailing '.', or a Roman numeral for an area.
func parseSheetCode(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	if n, ok := romanAreas[strings.ToUpper(s)]; ok {
		return strconv.Itoa(n), true
	}
	return s, sheetCode.MatchString(s)
}

// parseSheetDecimal reads points written with ',' or '.' as decimal mark.
// "1.234,5", "1,234.5", "1 234" and "1e3" are refused: a thousands
// separator cannot be told from a decimal mark.
func parseSheetDecimal(s string) (decimal.Decimal, bool) {
	if !sheetDecimal.MatchString(s) {
		return decimal.Zero, false
	}
	d, err := decimal.NewFromString(strings.Replace(s, ",", ".", 1))
	return d, err == nil
}

// parseLevels reads a levels cell such as "1: Ban hành đúng hạn; 0,5: Ban
// hành chậm; 0: Không ban hành" (parts separated by ';' or line breaks; a
// label is optional).
func parseLevels(s string) ([]Level, []string) {
	var (
		levels   []Level
		problems []string
	)
	for part := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ';' || r == '\n' || r == '\r' }) {
		part = trimCell(part)
		if part == "" {
			continue
		}
		points, label, _ := strings.Cut(part, ":")
		d, ok := parseSheetDecimal(trimCell(points))
		if !ok {
			problems = append(problems, fmt.Sprintf("level %q is not \"points: label\" with plain decimal points, e.g. \"0,5: Ban hành chậm\"", part))
			continue
		}
		levels = append(levels, Level{Points: d, Label: trimCell(label)})
	}
	return levels, problems
}
