package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

// MaxFrameworkDepth is the deepest nesting a framework may have, counting an
// area as depth 1. Real frameworks use 3 (area, criterion, sub-criterion);
// the cap keeps recursion over hostile input shallow.
const MaxFrameworkDepth = 6

// maxProblems caps the problems one error lists, so a garbage file cannot
// produce an error of unbounded size.
const maxProblems = 100

var (
	frameworkIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	// codePart is one number of a dotted code: no leading zero, so that
	// "1.01" and "1.1" cannot both exist.
	codePart = regexp.MustCompile(`^[1-9][0-9]{0,3}$`)
)

// knownMethods lists the scoring methods in the order error messages name
// them.
var knownMethods = []Method{MethodSelf, MethodSurvey, MethodHigherLevel, MethodBonus, MethodPenalty}

// ValidFrameworkID reports whether id is a well-formed framework id.
func ValidFrameworkID(id string) bool { return frameworkIDPattern.MatchString(id) }

// Valid reports whether m is one of the known scoring methods.
func (m Method) Valid() bool { return slices.Contains(knownMethods, m) }

// Kinds of problem, so that the sheet loader can drop the consequences of a
// cell it already reported as unreadable.
const (
	kindFramework = "framework"
	kindCode      = "code"
	kindTitle     = "title"
	kindMax       = "max"
	kindSum       = "sum"
	kindMethod    = "method"
	kindAgency    = "agency"
	kindLevels    = "levels"
	kindPlacement = "placement"
)

// problem is one thing wrong with a framework before it becomes a
// FieldError: path is the JSON path of the field, code the code of the node
// it concerns ("" for the framework's own fields).
type problem struct {
	path   string
	code   string
	kind   string
	detail string
}

// Validate checks f and returns nil or an EINVALID *Error listing every
// problem with the path of the field concerned, e.g.
// "areas[2].children[0].maxPoints". It checks the id, version, title and
// block; that codes are dotted numbers, unique, and nest (a child of "1.2"
// is "1.2.n"); that maxima are positive with at most 2 decimal places and
// that a node's children sum exactly to its maximum; that methods are set
// on leaves only and are known; that every self-scored or higher-level leaf
// has an appraising agency, its own or an ancestor's; that levels sit on
// leaves only, are distinct, lie within 0..max and reach max; that titles
// are not empty; and that bonus and penalty leaves sit in areas holding
// nothing else.
func (f *Framework) Validate() error {
	ps := f.problems()
	if len(ps) == 0 {
		return nil
	}
	fields := make([]FieldError, len(ps))
	for i, p := range ps {
		fields[i] = FieldError{Field: p.path, Detail: p.detail}
	}
	return Invalid(countProblems("the framework", len(fields)), capFields(fields)...)
}

// countProblems says how many problems something has, for an error message.
func countProblems(what string, n int) string {
	if n == 1 {
		return what + " has 1 problem"
	}
	return fmt.Sprintf("%s has %d problems", what, n)
}

// capFields keeps the first maxProblems fields and says how many it left
// out.
func capFields(fields []FieldError) []FieldError {
	if len(fields) <= maxProblems {
		return fields
	}
	more := len(fields) - maxProblems
	return append(fields[:maxProblems:maxProblems], FieldError{Detail: fmt.Sprintf("and %d more problems", more)})
}

// problems lists everything wrong with f, in tree order.
func (f *Framework) problems() []problem {
	if f == nil {
		return []problem{{kind: kindFramework, detail: "no framework"}}
	}
	v := &validator{seen: make(map[string]string)}
	if !frameworkIDPattern.MatchString(f.ID) {
		v.add("id", "", kindFramework, fmt.Sprintf("id must be 1 to 64 lowercase ASCII letters, digits or '-', got %q", f.ID))
	}
	if f.Version < 1 {
		v.add("version", "", kindFramework, fmt.Sprintf("version must be 1 or more, got %d", f.Version))
	}
	if isBlank(f.Title) {
		v.add("title", "", kindFramework, "title is empty")
	}
	if !f.Block.Valid() {
		v.add("block", "", kindFramework, fmt.Sprintf("block must be %q or %q, got %q", BlockDepartments, BlockDistricts, f.Block))
	}
	if len(f.Areas) == 0 {
		v.add("areas", "", kindFramework, "a framework needs at least one area")
	}
	scored := 0
	for i, a := range f.Areas {
		// An area mixing bonus or penalty leaves with scored ones would
		// count the bonus in the maximum; every such leaf is reported.
		bonus, other := countLeafKinds(a)
		mixed := ""
		if bonus > 0 && other > 0 {
			mixed = a.Code
		}
		if other > 0 {
			scored++
		}
		v.node(a, fmt.Sprintf("areas[%d]", i), "", true, "", 1, mixed)
	}
	if len(f.Areas) > 0 && scored == 0 {
		v.add("areas", "", kindFramework, "a framework needs at least one area of scored items (not only bonus and penalty)")
	}
	return v.ps
}

// validator collects problems during one walk of a framework.
type validator struct {
	ps   []problem
	seen map[string]string // code → path of its first node
}

func (v *validator) add(path, code, kind, detail string) {
	v.ps = append(v.ps, problem{path: path, code: code, kind: kind, detail: detail})
}

// node checks n, found at path under the node coded parent (whose code was
// well formed if parentOK), with agency the nearest agency above it.
// mixedArea is the code of n's area if that area mixes bonus or penalty
// leaves with scored ones.
func (v *validator) node(n *Node, path, parent string, parentOK bool, agency string, depth int, mixedArea string) {
	if n == nil {
		v.add(path, "", kindCode, "the item is missing (null)")
		return
	}
	code := n.Code
	codeOK := validChildCode(code, parent, parentOK)
	switch {
	case codeOK:
	case parent == "":
		v.add(path+".code", code, kindCode, fmt.Sprintf("an area's code must be a number like \"3\", got %q", code))
	case parentOK:
		v.add(path+".code", code, kindCode, fmt.Sprintf("code must be %q followed by a number, got %q", parent+".", code))
	default:
		v.add(path+".code", code, kindCode, fmt.Sprintf("code must be a dotted number like \"1.2.3\", got %q", code))
	}
	if depth > MaxFrameworkDepth {
		v.add(path, code, kindCode, fmt.Sprintf("items nest deeper than %d levels", MaxFrameworkDepth))
		return
	}
	if first, dup := v.seen[code]; dup && code != "" {
		v.add(path+".code", code, kindCode, fmt.Sprintf("duplicate code %s (also at %s)", code, first))
	} else {
		v.seen[code] = path
	}
	if isBlank(n.Title) {
		v.add(path+".title", code, kindTitle, "title is empty")
	}
	maxOK := false
	switch {
	case !n.MaxPoints.IsPositive():
		v.add(path+".maxPoints", code, kindMax, fmt.Sprintf("max points must be greater than 0, got %s", n.MaxPoints))
	case !twoPlaces(n.MaxPoints):
		v.add(path+".maxPoints", code, kindMax, fmt.Sprintf("max points may have at most 2 decimal places, got %s", n.MaxPoints))
	default:
		maxOK = true
	}
	if n.Agency != "" {
		agency = n.Agency
	}

	if len(n.Children) > 0 {
		if n.Method != "" {
			v.add(path+".method", code, kindMethod, "a method is set only on leaves; this item has sub-items")
		}
		if len(n.Levels) > 0 {
			v.add(path+".levels", code, kindLevels, "levels are set only on leaves; this item has sub-items")
		}
		sum, sumOK := decimal.Zero, true
		for i, c := range n.Children {
			v.node(c, fmt.Sprintf("%s.children[%d]", path, i), code, codeOK, agency, depth+1, mixedArea)
			// A missing child or a bad child maximum is reported on
			// its own; the parent's sum would only repeat it.
			if c == nil || !c.MaxPoints.IsPositive() || !twoPlaces(c.MaxPoints) {
				sumOK = false
				continue
			}
			sum = sum.Add(c.MaxPoints)
		}
		if maxOK && sumOK {
			switch sum.Cmp(n.MaxPoints) {
			case 1:
				v.add(path+".maxPoints", code, kindSum, fmt.Sprintf("children's maxima sum to %s, more than the parent's %s", sum, n.MaxPoints))
			case -1:
				v.add(path+".maxPoints", code, kindSum, fmt.Sprintf("children's maxima sum to %s, less than the parent's %s", sum, n.MaxPoints))
			}
		}
		return
	}

	switch {
	case n.Method == "":
		v.add(path+".method", code, kindMethod, "method is missing; use one of "+methodList())
	case !n.Method.Valid():
		v.add(path+".method", code, kindMethod, fmt.Sprintf("unknown method %q; use one of %s", n.Method, methodList()))
	}
	if (n.Method == MethodSelf || n.Method == MethodHigherLevel) && agency == "" {
		v.add(path+".agency", code, kindAgency, fmt.Sprintf("no appraising agency for a %s item: set one on it or on an enclosing area", n.Method))
	}
	if (n.Method == MethodBonus || n.Method == MethodPenalty) && mixedArea != "" {
		v.add(path+".method", code, kindPlacement, fmt.Sprintf("%s items belong in a separate area holding only bonus and penalty items (Điểm thưởng, điểm trừ), but area %s also has scored items", n.Method, mixedArea))
	}
	v.levels(n, path, maxOK)
}

// levels checks the discrete levels of leaf n.
func (v *validator) levels(n *Node, path string, maxOK bool) {
	if len(n.Levels) == 0 {
		return
	}
	seen := make(map[string]bool, len(n.Levels))
	highest := n.Levels[0].Points
	above := false
	for i, l := range n.Levels {
		lp := fmt.Sprintf("%s.levels[%d].points", path, i)
		switch {
		case l.Points.IsNegative():
			v.add(lp, n.Code, kindLevels, fmt.Sprintf("level %s is negative", l.Points))
		case maxOK && l.Points.GreaterThan(n.MaxPoints):
			v.add(lp, n.Code, kindLevels, fmt.Sprintf("level %s is higher than the max points %s", l.Points, n.MaxPoints))
			above = true
		case !twoPlaces(l.Points):
			v.add(lp, n.Code, kindLevels, fmt.Sprintf("level %s has more than 2 decimal places", l.Points))
		}
		key := l.Points.String()
		if seen[key] {
			v.add(lp, n.Code, kindLevels, fmt.Sprintf("level %s appears twice", key))
		}
		seen[key] = true
		if l.Points.GreaterThan(highest) {
			highest = l.Points
		}
	}
	if maxOK && !above && !highest.Equal(n.MaxPoints) {
		v.add(path+".levels", n.Code, kindLevels, fmt.Sprintf("the highest level is %s; it must equal the max points %s", highest, n.MaxPoints))
	}
}

// validChildCode reports whether code is well formed: a number for an area
// (parent ""), parent + "." + number below a well-formed parent, and a
// dotted number ending in a well-formed number otherwise.
func validChildCode(code, parent string, parentOK bool) bool {
	if parent == "" {
		return codePart.MatchString(code)
	}
	if !parentOK {
		i := strings.LastIndexByte(code, '.')
		return i > 0 && codePart.MatchString(code[i+1:])
	}
	rest, ok := strings.CutPrefix(code, parent+".")
	return ok && codePart.MatchString(rest)
}

// countLeafKinds counts the bonus or penalty leaves and the other leaves
// under n.
func countLeafKinds(n *Node) (bonus, other int) {
	for _, l := range appendLeaves(nil, n) {
		if l.Method == MethodBonus || l.Method == MethodPenalty {
			bonus++
		} else {
			other++
		}
	}
	return bonus, other
}

func methodList() string {
	s := make([]string, len(knownMethods))
	for i, m := range knownMethods {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// twoPlaces reports whether d has at most 2 decimal places (trailing zeros
// aside: 1.50 has one).
func twoPlaces(d decimal.Decimal) bool {
	return d.Exponent() >= -2 || d.Equal(d.Truncate(2))
}

// Normalize rewrites every text of f (title, decision, notes, node titles,
// level labels) to Unicode NFC, so that names compare equal whatever form a
// client sent. The loaders call it before Validate.
func (f *Framework) Normalize() {
	if f == nil {
		return
	}
	f.Title = norm.NFC.String(f.Title)
	f.Decision = norm.NFC.String(f.Decision)
	f.Notes = norm.NFC.String(f.Notes)
	for _, a := range f.Areas {
		normalizeNode(a)
	}
}

func normalizeNode(n *Node) {
	if n == nil {
		return
	}
	n.Title = norm.NFC.String(n.Title)
	n.Agency = norm.NFC.String(n.Agency)
	for i := range n.Levels {
		n.Levels[i].Label = norm.NFC.String(n.Levels[i].Label)
	}
	for _, c := range n.Children {
		normalizeNode(c)
	}
}

// IsLeaf reports whether n is a scored item: one without children.
func (n *Node) IsLeaf() bool { return n != nil && len(n.Children) == 0 }

// IsBonusPenalty reports whether n holds only bonus and penalty leaves (or
// is one), as the "Điểm thưởng, điểm trừ" section does. Such an area does
// not count in MaxTotal.
func (n *Node) IsBonusPenalty() bool {
	bonus, other := countLeafKinds(n)
	return bonus > 0 && other == 0
}

// Leaves returns the leaves of f in depth-first order, the order of the
// official table.
func (f *Framework) Leaves() []*Node {
	if f == nil {
		return nil
	}
	var out []*Node
	for _, a := range f.Areas {
		out = appendLeaves(out, a)
	}
	return out
}

func appendLeaves(out []*Node, n *Node) []*Node {
	if n == nil {
		return out
	}
	if n.IsLeaf() {
		return append(out, n)
	}
	for _, c := range n.Children {
		out = appendLeaves(out, c)
	}
	return out
}

// chain returns the nodes from the area down to the node coded code, or
// nil if f has no such node.
func (f *Framework) chain(code string) []*Node {
	if f == nil {
		return nil
	}
	for _, a := range f.Areas {
		if c := chainIn(a, code, nil); c != nil {
			return c
		}
	}
	return nil
}

func chainIn(n *Node, code string, above []*Node) []*Node {
	if n == nil {
		return nil
	}
	path := append(above, n)
	if n.Code == code {
		return path
	}
	// Codes nest, so only a prefix can contain code; this keeps the walk
	// to one branch in a valid framework.
	if !strings.HasPrefix(code, n.Code+".") {
		return nil
	}
	for _, c := range n.Children {
		if found := chainIn(c, code, path); found != nil {
			return found
		}
	}
	return nil
}

// Find returns the node coded code, or nil if f has none.
func (f *Framework) Find(code string) *Node {
	c := f.chain(code)
	if c == nil {
		return nil
	}
	return c[len(c)-1]
}

// AreaOf returns the area that holds the node coded code (the node itself
// if it is an area), or nil if f has no such node.
func (f *Framework) AreaOf(code string) *Node {
	c := f.chain(code)
	if c == nil {
		return nil
	}
	return c[0]
}

// LeafAgency returns the agency that appraises the node coded code: its own
// or its nearest ancestor's; "" if none is set or f has no such node.
func (f *Framework) LeafAgency(code string) string {
	c := f.chain(code)
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].Agency != "" {
			return c[i].Agency
		}
	}
	return ""
}

// MaxTotal returns the maximum a unit can score: the sum of the area
// maxima, leaving out the areas made of bonus and penalty items. The index
// in % is points achieved ÷ MaxTotal × 100.
func (f *Framework) MaxTotal() decimal.Decimal {
	total := decimal.Zero
	if f == nil {
		return total
	}
	for _, a := range f.Areas {
		if a != nil && !a.IsBonusPenalty() {
			total = total.Add(a.MaxPoints)
		}
	}
	return total
}

// AllowsPoints returns nil if p is a score leaf n accepts, and otherwise an
// EINVALID *Error saying why: the score is negative or above the maximum
// ("1.2.3 allows 0 to 1.5 points, got 2"), has more than 2 decimal places,
// is not one of the leaf's levels ("1.2.3 allows only the levels 0, 0.5, 1,
// got 0.75"), or n is not a leaf. Bonus and penalty leaves take 0..max too:
// a penalty is recorded as a positive deduction.
func (n *Node) AllowsPoints(p decimal.Decimal) error {
	switch {
	case n == nil:
		return Errorf(EINVALID, "no such item")
	case !n.IsLeaf():
		return Errorf(EINVALID, "%s has sub-items; score them instead", n.Code)
	case p.IsNegative() || p.GreaterThan(n.MaxPoints):
		return Errorf(EINVALID, "%s allows 0 to %s points, got %s", n.Code, n.MaxPoints, p)
	case !twoPlaces(p):
		return Errorf(EINVALID, "%s takes points with at most 2 decimal places, got %s", n.Code, p)
	case len(n.Levels) == 0:
		return nil
	}
	levels := make([]decimal.Decimal, len(n.Levels))
	for i, l := range n.Levels {
		if l.Points.Equal(p) {
			return nil
		}
		levels[i] = l.Points
	}
	slices.SortFunc(levels, func(a, b decimal.Decimal) int { return a.Cmp(b) })
	s := make([]string, len(levels))
	for i, l := range levels {
		s[i] = l.String()
	}
	return Errorf(EINVALID, "%s allows only the levels %s, got %s", n.Code, strings.Join(s, ", "), p)
}
