package domain

import (
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// A replay decodes millions of payloads, nearly all of a handful of types
// (scores, evidence, appraisals, survey scores). decodeFast reads those in
// the form EncodeEvent writes them, several times faster than
// encoding/json and with fewer allocations. It never decides anything
// encoding/json would decide differently: it accepts only payloads it can
// read completely and exactly (known keys spelt as tagged, strings without
// escapes, decimals as quoted plain numbers, integers as plain digits,
// nothing after the object), and reports false for anything else, which
// DecodeEvent then hands to encoding/json. So a payload decodes to the
// same value, and fails with the same error, whichever path reads it; the
// tests compare the two on generated and mutated payloads.
func decodeFast(typ string, payload []byte) (Event, bool) {
	d := fastDecoder{b: payload}
	var e Event
	switch typ {
	case TypeSelfScoreRecorded:
		v := &SelfScoreRecorded{}
		d.object(func(key []byte) bool {
			switch string(key) {
			case "item":
				return d.str(&v.Item)
			case "points":
				return d.decimal(&v.Points)
			case "note":
				return d.str(&v.Note)
			}
			return false
		})
		e = v
	case TypeEvidenceAttached:
		v := &EvidenceAttached{}
		d.object(func(key []byte) bool {
			switch string(key) {
			case "item":
				return d.str(&v.Item)
			case "evidence":
				return d.evidence(&v.Evidence)
			}
			return false
		})
		e = v
	case TypeEvidenceWithdrawn:
		v := &EvidenceWithdrawn{}
		d.object(func(key []byte) bool {
			switch string(key) {
			case "item":
				return d.str(&v.Item)
			case "sha256":
				return d.str(&v.SHA256)
			}
			return false
		})
		e = v
	case TypeAppraisalRecorded:
		v := &AppraisalRecorded{}
		d.object(func(key []byte) bool {
			switch string(key) {
			case "item":
				return d.str(&v.Item)
			case "round":
				return d.int(&v.Round)
			case "agency":
				return d.str(&v.Agency)
			case "points":
				return d.decimal(&v.Points)
			case "note":
				return d.str(&v.Note)
			}
			return false
		})
		e = v
	case TypeSurveyScoreRecorded:
		v := &SurveyScoreRecorded{}
		d.object(func(key []byte) bool {
			switch string(key) {
			case "item":
				return d.str(&v.Item)
			case "points":
				return d.decimal(&v.Points)
			case "batch":
				return d.str(&v.Batch)
			case "respondents":
				return d.int(&v.Respondents)
			}
			return false
		})
		e = v
	case TypeBonusPenaltyRecorded:
		v := &BonusPenaltyRecorded{}
		d.object(func(key []byte) bool {
			switch string(key) {
			case "item":
				return d.str(&v.Item)
			case "points":
				return d.decimal(&v.Points)
			}
			return false
		})
		e = v
	default:
		return nil, false
	}
	d.space()
	if d.bad || d.i != len(d.b) {
		return nil, false
	}
	return e, true
}

// fastDecoder reads b from i. Once anything is not as expected it sets bad
// and every later read fails.
type fastDecoder struct {
	b   []byte
	i   int
	bad bool
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// expect consumes c, after white space.
func (d *fastDecoder) expect(c byte) bool {
	d.space()
	if d.bad || d.i >= len(d.b) || d.b[d.i] != c {
		d.bad = true
		return false
	}
	d.i++
	return true
}

// object reads an object, calling field for each key with the decoder at
// its value; field reads the value or reports false.
func (d *fastDecoder) object(field func(key []byte) bool) {
	if !d.expect('{') {
		return
	}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return
	}
	for {
		key, ok := d.rawString()
		if !ok || !d.expect(':') {
			d.bad = true
			return
		}
		d.space()
		if !field(key) {
			d.bad = true
			return
		}
		d.space()
		if d.i >= len(d.b) {
			d.bad = true
			return
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			return
		default:
			d.bad = true
			return
		}
	}
}

// rawString reads a string without escapes and returns its contents
// (aliasing b). Escapes, control characters and invalid UTF-8 fail: those
// are encoding/json's to read or refuse.
func (d *fastDecoder) rawString() ([]byte, bool) {
	d.space()
	if d.bad || d.i >= len(d.b) || d.b[d.i] != '"' {
		d.bad = true
		return nil, false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			s := d.b[start:j]
			if !ascii && !utf8.Valid(s) {
				break
			}
			d.i = j + 1
			return s, true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	d.bad = true
	return nil, false
}

func (d *fastDecoder) str(dst *string) bool {
	s, ok := d.rawString()
	if ok {
		*dst = string(s)
	}
	return ok
}

// decimal reads a quoted plain decimal: an optional minus, digits, and
// optionally a point and more digits, 18 digits at most. It builds the
// same value decimal.NewFromString does (coefficient and exponent as
// written), which is what decimal.Decimal's UnmarshalJSON calls.
func (d *fastDecoder) decimal(dst *decimal.Decimal) bool {
	s, ok := d.rawString()
	if !ok {
		return false
	}
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var coef int64
	digits, frac, point := 0, 0, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			coef = coef*10 + int64(c-'0')
			digits++
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			d.bad = true
			return false
		}
	}
	if digits == 0 || digits > 18 || point && frac == 0 || s[0] == '.' {
		d.bad = true
		return false
	}
	if neg {
		coef = -coef
	}
	*dst = decimal.New(coef, int32(-frac))
	return true
}

// int reads an integer written as plain digits (JSON's grammar: no
// leading zero), at most 18 of them.
func (d *fastDecoder) int(dst *int) bool {
	if d.bad || d.i >= len(d.b) {
		d.bad = true
		return false
	}
	neg := d.b[d.i] == '-'
	if neg {
		d.i++
	}
	start := d.i
	var n int64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		n = n*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || digits > 18 || digits > 1 && d.b[start] == '0' {
		d.bad = true
		return false
	}
	// A fraction or exponent makes it a number encoding/json would not
	// put in an int.
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.bad = true
		return false
	}
	if neg {
		n = -n
	}
	*dst = int(n)
	return true
}

func (d *fastDecoder) evidence(ev *Evidence) bool {
	d.object(func(key []byte) bool {
		switch string(key) {
		case "sha256":
			return d.str(&ev.SHA256)
		case "size":
			var n int
			if !d.int(&n) {
				return false
			}
			ev.Size = int64(n)
			return true
		case "mediaType":
			return d.str(&ev.MediaType)
		case "documentNumber":
			return d.str(&ev.DocumentNumber)
		case "title":
			return d.str(&ev.Title)
		}
		return false
	})
	return !d.bad
}
