package http

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/projections"
)

// The rankings are the most read resource, by the public and dashboards
// alike. A row names each area's and criterion's points; the nodes'
// codes, titles and maxima, the same for every row of a block, are sent
// once, in the block (areas, criteria), and a row's score has only the
// points achieved and the index of each node, in the block's order:
//
//	{"block":"so","framework":"f@1",
//	 "areas":[{"code":"1","title":"…","max":"11"},…],"criteria":[…],
//	 "rows":[{"unitCode":"STC",…,"score":{"self":"56.75",…,"provisional":false,
//	   "areas":{"achieved":["9.96",…],"index":["90.55",…]},"criteria":{…}}}]}
//
// The rankings are encoded here rather than by encoding/json (several
// times faster), and the current rankings' responses once per version of
// the rankings (projections.Rankings.Memo) and, for clients that accept
// it, gzipped once too. The tests compare the bytes with encoding/json's
// of the same document.

// rankingsBody is an encoded rankings response.
type rankingsBody struct {
	plain, gzipped []byte
	// length and gzippedLength are the bodies' Content-Length.
	length, gzippedLength []string
	err                   error
}

// rankingsKey names a response of the current rankings: the block asked
// for ("" for all), and the page (limit 0 for none).
type rankingsKey struct {
	block         domain.Block
	limit, offset int
}

// cachedRankings returns the encoded response of rk (the current
// rankings, unfiltered) for key.
func cachedRankings(rk *projections.Rankings, key rankingsKey) *rankingsBody {
	return rk.Memo(key, func() any {
		b, err := encodeRankings(rk, key, nil)
		if err != nil {
			return &rankingsBody{err: err}
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
		_, _ = zw.Write(b)
		if err := zw.Close(); err != nil {
			return &rankingsBody{err: err}
		}
		return &rankingsBody{plain: b, gzipped: z.Bytes(),
			length: []string{strconv.Itoa(len(b))}, gzippedLength: []string{strconv.Itoa(z.Len())}}
	}).(*rankingsBody)
}

// Header values every rankings response shares, set without
// canonicalizing or allocating.
var (
	hdrJSON    = []string{"application/json; charset=utf-8"}
	hdrNoStore = []string{"no-store"}
	hdrVaryAE  = []string{"Accept-Encoding"}
	hdrGzip    = []string{"gzip"}
)

// write answers with the body, gzipped when the client accepts it.
func (b *rankingsBody) write(w http.ResponseWriter, r *http.Request) {
	body, length := b.plain, b.length
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["Vary"] = hdrVaryAE
	if acceptsGzip(r) {
		body, length = b.gzipped, b.gzippedLength
		h["Content-Encoding"] = hdrGzip
	}
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeRankings answers with rankings encoded by encodeRankings (not
// kept: as of a moment, or filtered for a unit).
func writeRankings(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// MarshalJSON writes the rankings as GET .../rankings answers them.
func (v RankingsView) MarshalJSON() ([]byte, error) {
	b, err := encodeRankings(v.Rankings, rankingsKey{}, v.AsOf)
	return bytes.TrimSuffix(b, []byte("\n")), err
}

// encodeRankings writes the rankings document of rk for key, and asOf
// when set, as writeJSON (encoding/json, no HTML escaping) would write
// it, newline included: each block, or key's, with its rows, or a page
// of them (then the block's total, offset and limit too).
func encodeRankings(rk *projections.Rankings, key rankingsKey, asOf *AsOf) ([]byte, error) {
	b := make([]byte, 0, 4096)
	var err error
	b = append(b, `{"campaign":`...)
	b = appendString(b, rk.Campaign)
	b = append(b, `,"title":`...)
	b = appendString(b, rk.Title)
	b = append(b, `,"position":`...)
	b = strconv.AppendUint(b, rk.Position, 10)
	if rk.Published != nil {
		b = append(b, `,"published":`...)
		if b, err = appendJSON(b, rk.Published); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"blocks":[`...)
	first := true
	for i := range rk.Blocks {
		br := &rk.Blocks[i]
		if key.block != "" && br.Block != key.block {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"block":`...)
		b = appendString(b, string(br.Block))
		b = append(b, `,"framework":`...)
		b = appendString(b, br.Framework)
		b = append(b, `,"areas":`...)
		b = appendNodes(b, br.Areas)
		b = append(b, `,"criteria":`...)
		b = appendNodes(b, br.Criteria)
		rows := br.Rows
		if key.limit > 0 {
			rows = pageOf(rows, key.limit, key.offset)
			b = append(b, `,"total":`...)
			b = strconv.AppendInt(b, int64(len(br.Rows)), 10)
			b = append(b, `,"offset":`...)
			b = strconv.AppendInt(b, int64(key.offset), 10)
			b = append(b, `,"limit":`...)
			b = strconv.AppendInt(b, int64(key.limit), 10)
		}
		if rows == nil {
			b = append(b, `,"rows":null}`...)
			continue
		}
		b = append(b, `,"rows":[`...)
		for j := range rows {
			if j > 0 {
				b = append(b, ',')
			}
			if b, err = appendRow(b, &rows[j], br); err != nil {
				return nil, fmt.Errorf("rankings of %s: %w", rk.Campaign, err)
			}
		}
		b = append(b, "]}"...)
	}
	b = append(b, ']')
	if asOf != nil {
		b = append(b, `,"asOf":`...)
		if b, err = appendJSON(b, asOf); err != nil {
			return nil, err
		}
	}
	b = append(b, "}\n"...)
	return b, nil
}

// pageOf returns rows[offset:offset+limit] within bounds (empty, not nil,
// past the end).
func pageOf(rows []domain.Standing, limit, offset int) []domain.Standing {
	if rows == nil {
		return nil
	}
	start := min(offset, len(rows))
	return rows[start:min(start+limit, len(rows))]
}

// appendNodes appends a block's breakdown nodes.
func appendNodes(b []byte, nodes []domain.NodeRef) []byte {
	if nodes == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range nodes {
		n := &nodes[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = appendString(b, n.Code)
		b = append(b, `,"title":`...)
		b = appendString(b, n.Title)
		b = append(b, `,"max":`...)
		b = appendDecimal(b, &n.Max)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendRow appends one row of block br: the unit, its rank, grade and
// status, and its score, each node's points in the block's order.
func appendRow(b []byte, s *domain.Standing, br *projections.BlockRanking) ([]byte, error) {
	b = append(b, `{"unitCode":`...)
	b = appendString(b, s.Unit.Code)
	b = append(b, `,"unitName":`...)
	b = appendString(b, s.Unit.Name)
	b = append(b, `,"block":`...)
	b = appendString(b, string(s.Unit.Block))
	b = append(b, `,"rank":`...)
	b = strconv.AppendInt(b, int64(s.Rank), 10)
	if s.Grade != "" {
		b = append(b, `,"grade":`...)
		b = appendString(b, s.Grade)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, s.Status)
	sc := &s.Score
	b = append(b, `,"score":{"self":`...)
	for i, d := range [...]*decimal.Decimal{&sc.Self, &sc.Appraised, &sc.Survey, &sc.Bonus, &sc.Penalty, &sc.Final, &sc.Max, &sc.Index} {
		if i > 0 {
			b = append(b, scoreFields[i]...)
		}
		b = appendDecimal(b, d)
	}
	b = append(b, `,"provisional":`...)
	b = strconv.AppendBool(b, sc.Provisional)
	for i, list := range [2][]domain.NodeScore{sc.Areas, sc.Criteria} {
		b = append(b, [2]string{`,"areas":`, `,"criteria":`}[i]...)
		if list == nil {
			b = append(b, "null"...)
			continue
		}
		if !sameNodes(list, [2][]domain.NodeRef{br.Areas, br.Criteria}[i]) {
			return b, fmt.Errorf("the breakdown of unit %s is not that of block %s's framework %s", s.Unit.Code, br.Block, br.Framework)
		}
		b = append(b, `{"achieved":[`...)
		for j := range list {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendDecimal(b, &list[j].Achieved)
		}
		b = append(b, `],"index":[`...)
		for j := range list {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendDecimal(b, &list[j].Index)
		}
		b = append(b, "]}"...)
	}
	return append(b, "}}"...), nil
}

// sameNodes reports whether a row's breakdown lines are the block's
// nodes, in order.
func sameNodes(lines []domain.NodeScore, nodes []domain.NodeRef) bool {
	if len(lines) != len(nodes) {
		return false
	}
	for i := range lines {
		if lines[i].Code != nodes[i].Code {
			return false
		}
	}
	return true
}

var scoreFields = [...]string{"", `,"appraised":`, `,"survey":`, `,"bonus":`, `,"penalty":`, `,"final":`, `,"max":`, `,"index":`}

// appendString appends s as writeJSON's encoder writes it.
func appendString(b []byte, s string) []byte {
	if appendPlainString(&b, s) {
		return b
	}
	b, _ = appendJSON(b, s) // a string always encodes
	return b
}

// appendJSON appends v as writeJSON's encoder writes it within a
// document.
func appendJSON(b []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// appendPlainString appends s quoted if it needs no escaping under
// json.Marshal's rules (which also escape <, > and &), and reports
// whether it did.
func appendPlainString(b *[]byte, s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			return false
		case c >= 0x80:
			ascii = false
			// U+2028 and U+2029 are escaped too.
			if c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
				return false
			}
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return false
	}
	*b = append(*b, '"')
	*b = append(*b, s...)
	*b = append(*b, '"')
	return true
}

// appendDecimal appends d as its MarshalJSON writes it.
func appendDecimal(b []byte, d *decimal.Decimal) []byte {
	quote := !decimal.MarshalJSONWithoutQuotes
	if quote {
		b = append(b, '"')
	}
	exp := d.Exponent()
	if exp > 0 || exp < -18 || d.NumDigits() > 18 {
		b = append(b, d.String()...)
	} else {
		// Decimal.String for a coefficient that fits an int64: the
		// digits, the point exp places from the right, trailing zeros
		// of the fraction dropped.
		c := d.CoefficientInt64()
		if c < 0 {
			b = append(b, '-')
			c = -c
		}
		var digits [20]byte
		str := strconv.AppendInt(digits[:0], c, 10)
		places := int(-exp)
		var intPart, frac []byte
		if len(str) > places {
			intPart, frac = str[:len(str)-places], str[len(str)-places:]
		} else {
			intPart = []byte("0")
			var zeros [20]byte
			for i := range places - len(str) {
				zeros[i] = '0'
			}
			frac = append(zeros[:places-len(str)], str...)
		}
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		b = append(b, intPart...)
		if len(frac) > 0 {
			b = append(b, '.')
			b = append(b, frac...)
		}
	}
	if quote {
		b = append(b, '"')
	}
	return b
}
