package domain

import (
	"github.com/shopspring/decimal"
)

// Block is a ranking group: units are ranked only against units of the
// same block.
type Block string

// The two blocks of Hanoi's PAR Index.
const (
	// BlockDepartments is khối Sở: departments and equivalent agencies.
	BlockDepartments Block = "so"
	// BlockDistricts is khối quận, huyện: district-level People's Committees.
	BlockDistricts Block = "huyen"
)

// Valid reports whether b is one of the known blocks.
func (b Block) Valid() bool { return b == BlockDepartments || b == BlockDistricts }

// Method is how a leaf item of a framework is scored.
type Method string

// Scoring methods of a leaf item.
const (
	// MethodSelf: the unit scores itself with evidence, then an appraiser
	// of the owning agency appraises (Tự chấm + thẩm định).
	MethodSelf Method = "self"
	// MethodSurvey: scored only from the sociological survey (ĐTXHH); the
	// unit never self-scores it; the survey institute records it.
	MethodSurvey Method = "survey"
	// MethodHigherLevel: scored only by the appraising agency (cấp trên
	// chấm); the unit does not self-score it.
	MethodHigherLevel Method = "higher-level"
	// MethodBonus: bonus points (điểm thưởng), 0..max, added to the total.
	MethodBonus Method = "bonus"
	// MethodPenalty: penalty points (điểm trừ), 0..max, subtracted from the
	// total; max is the cap of the deduction.
	MethodPenalty Method = "penalty"
)

// Framework is a versioned PAR Index framework (bộ chỉ số) for one block:
// a tree of areas, criteria and sub-criteria. Once frozen into a campaign it
// never changes; a new version is a new Framework with another ID or
// Version.
type Framework struct {
	// ID names the framework, e.g. "hanoi-2017-so". Lowercase ASCII
	// letters, digits and '-'.
	ID string `json:"id"`
	// Version counts revisions of the framework with this ID, from 1.
	Version int `json:"version"`
	// Title is the official or descriptive Vietnamese title.
	Title string `json:"title"`
	// Block is the block of units it scores.
	Block Block `json:"block"`
	// Decision is the legal basis, e.g. "6677/QĐ-UBND ngày 25/9/2017".
	Decision string `json:"decision,omitempty"`
	// Illustrative is true for a framework that follows a published
	// structure but whose points are not the official table.
	Illustrative bool `json:"illustrative"`
	// Notes explains the source and any caveat.
	Notes string `json:"notes,omitempty"`
	// Areas are the top-level nodes (lĩnh vực), including any bonus and
	// penalty section.
	Areas []*Node `json:"areas"`
}

// Node is one area, criterion or sub-criterion of a framework.
type Node struct {
	// Code is the dotted code: "1", "1.2", "1.2.3". A child's code is its
	// parent's code, a dot, and a number.
	Code string `json:"code"`
	// Title is the Vietnamese content of the item.
	Title string `json:"title"`
	// MaxPoints is the maximum (điểm tối đa). For a node with children it
	// equals the sum of the children's maxima.
	MaxPoints decimal.Decimal `json:"maxPoints"`
	// Method is set on leaves only: how the leaf is scored.
	Method Method `json:"method,omitempty"`
	// Agency is the code of the agency that appraises this node's leaves
	// (e.g. "SNV" for Sở Nội vụ, "STP" for Sở Tư pháp). Set on areas; a
	// descendant may override it; leaves inherit the nearest one.
	Agency string `json:"agency,omitempty"`
	// Levels optionally restricts a leaf's score to discrete levels; the
	// highest level equals MaxPoints.
	Levels []Level `json:"levels,omitempty"`
	// Children are the nested criteria or sub-criteria.
	Children []*Node `json:"children,omitempty"`
}

// Level is one allowed score of a leaf with discrete levels, e.g.
// {1, "Ban hành đúng hạn"}.
type Level struct {
	Points decimal.Decimal `json:"points"`
	Label  string          `json:"label"`
}
