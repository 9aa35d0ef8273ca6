package http

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/projections"
)

// The rankings are the most read resource, by the public and dashboards
// alike, and a campaign's rankings are a large document (a row carries
// every area's and criterion's points: 380 KB for Hanoi's 52 units, 7 KB a
// row). encoding/json takes about a quarter of a millisecond per row, so
// the current rankings' responses are encoded once per version of the
// rankings (projections.Rankings.Memo) and, for clients that accept it,
// gzipped once too (about 20 times smaller). The bytes are exactly those
// writeJSON would write; the tests compare them.

// rankingsBody is an encoded rankings response.
type rankingsBody struct {
	plain, gzipped []byte
	err            error
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
		b, err := encodeRankings(rk, key)
		if err != nil {
			return &rankingsBody{err: err}
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
		_, _ = zw.Write(b)
		if err := zw.Close(); err != nil {
			return &rankingsBody{err: err}
		}
		return &rankingsBody{plain: b, gzipped: z.Bytes()}
	}).(*rankingsBody)
}

// write answers with the body, gzipped when the client accepts it.
func (b *rankingsBody) write(w http.ResponseWriter, r *http.Request) {
	body := b.plain
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		body = b.gzipped
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// encodeRankings writes what writeJSON writes for the rankings view of key:
// a RankingsView, or a RankingsPage when key has a page.
func encodeRankings(rk *projections.Rankings, key rankingsKey) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// piece encodes a value as writeJSON's encoder does within the
	// document.
	piece := func(b []byte, v any) ([]byte, error) {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return b, err
		}
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
	}
	b := make([]byte, 0, 4096)
	var err error
	b = append(b, `{"campaign":`...)
	if b, err = piece(b, rk.Campaign); err != nil {
		return nil, err
	}
	b = append(b, `,"title":`...)
	if b, err = piece(b, rk.Title); err != nil {
		return nil, err
	}
	b = append(b, `,"position":`...)
	b = strconv.AppendUint(b, rk.Position, 10)
	if rk.Published != nil {
		b = append(b, `,"published":`...)
		if b, err = piece(b, rk.Published); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"blocks":[`...)
	first := true
	for _, br := range rk.Blocks {
		if key.block != "" && br.Block != key.block {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"block":`...)
		if b, err = piece(b, br.Block); err != nil {
			return nil, err
		}
		b = append(b, `,"framework":`...)
		if b, err = piece(b, br.Framework); err != nil {
			return nil, err
		}
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
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendStanding(b, &rows[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}\n"...)
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

// appendStanding appends s as its MarshalJSON writes it; rows are most of
// a rankings document, so the usual ones are written here directly.
func appendStanding(b []byte, s *domain.Standing) ([]byte, error) {
	start := len(b)
	ok := true
	str := func(v string) {
		if !appendPlainString(&b, v) {
			ok = false
		}
	}
	b = append(b, `{"unitCode":`...)
	str(s.Unit.Code)
	b = append(b, `,"unitName":`...)
	str(s.Unit.Name)
	b = append(b, `,"block":`...)
	str(string(s.Unit.Block))
	b = append(b, `,"rank":`...)
	b = strconv.AppendInt(b, int64(s.Rank), 10)
	if s.Grade != "" {
		b = append(b, `,"grade":`...)
		str(s.Grade)
	}
	b = append(b, `,"status":`...)
	str(s.Status)
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
		b = append(b, '[')
		for j := range list {
			n := &list[j]
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			str(n.Code)
			b = append(b, `,"title":`...)
			str(n.Title)
			b = append(b, `,"max":`...)
			b = appendDecimal(b, &n.Max)
			b = append(b, `,"achieved":`...)
			b = appendDecimal(b, &n.Achieved)
			b = append(b, `,"index":`...)
			b = appendDecimal(b, &n.Index)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, "}}"...)
	if ok {
		return b, nil
	}
	// A string that needs escaping: let encoding/json write the row.
	row, err := s.MarshalJSON()
	return append(b[:start], row...), err
}

var scoreFields = [...]string{"", `,"appraised":`, `,"survey":`, `,"bonus":`, `,"penalty":`, `,"final":`, `,"max":`, `,"index":`}

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
