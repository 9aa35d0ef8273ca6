package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// errNotUTF8 is compactJSON's error for JSON whose strings hold bytes that
// are not UTF-8.
var errNotUTF8 = errors.New("not valid UTF-8")

// compactJSON returns b without insignificant whitespace, or json.Compact's
// error when b is not one valid JSON value, or errNotUTF8 when it is but
// is not UTF-8 (encoding/json lets other bytes through inside strings; JSON
// is UTF-8 by RFC 8259, and readers would see U+FFFD where the content
// hash saw them). The result is a copy of b,
// except that b itself is returned when it is compact already and
// copyCompact is false. Payloads almost always arrive compact (encoding/
// json's Marshal writes them so); isCompactJSON recognises those in one
// pass without the general scanner, and everything else goes through
// json.Compact.
func compactJSON(b []byte, copyCompact bool) ([]byte, error) {
	if isCompactJSON(b) {
		if !copyCompact {
			return b, nil
		}
		return bytes.Clone(b), nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	if !utf8.Valid(buf.Bytes()) {
		return nil, errNotUTF8
	}
	return buf.Bytes(), nil
}

// maxFastDepth is the deepest nesting isCompactJSON follows; deeper
// values take the general path (json.Compact allows 10000 levels).
const maxFastDepth = 64

// isCompactJSON reports whether b is exactly one JSON value (RFC 8259, as
// encoding/json reads it) in UTF-8 with no whitespace outside strings, so
// that json.Compact would accept it and return it unchanged. False means
// "not known to be": b may be invalid, or not UTF-8, or hold whitespace,
// or nest deeper than maxFastDepth. It checks UTF-8 as it reads strings
// (outside them only ASCII passes), which saves a second pass.
func isCompactJSON(b []byte) bool {
	var objects uint64 // bit d is set when the container at depth d is an object
	depth := 0
	i := 0
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxFastDepth {
				return false
			}
			i++
			if c == '{' {
				objects |= 1 << depth
			} else {
				objects &^= 1 << depth
			}
			depth++
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				i++
				depth--
				break // an empty container is a complete value
			}
			if c == '{' {
				if i = scanKey(b, i); i < 0 {
					return false
				}
			}
			continue // its first element is a value
		case c == '"':
			if i = scanString(b, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = scanNumber(b, i); i < 0 {
				return false
			}
		case c == 't':
			if !bytes.HasPrefix(b[i:], []byte("true")) {
				return false
			}
			i += 4
		case c == 'f':
			if !bytes.HasPrefix(b[i:], []byte("false")) {
				return false
			}
			i += 5
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return false
			}
			i += 4
		default:
			return false
		}
		// A value ended at b[i]: close containers, or go on to the next
		// element.
		for {
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			inObject := objects&(1<<(depth-1)) != 0
			if c := b[i]; c == ',' {
				i++
				if inObject {
					if i = scanKey(b, i); i < 0 {
						return false
					}
				}
				break
			} else if inObject && c == '}' || !inObject && c == ']' {
				i++
				depth--
				continue
			}
			return false
		}
	}
}

// scanKey reads an object key and its colon at b[i:] and returns the index
// after the colon, or -1.
func scanKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanString(b, i); i < 0 || i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// scanString reads the string starting with the quote at b[i] and returns
// the index after its closing quote, or -1 (also when the string is not
// UTF-8).
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		// Two- and three-byte characters whose continuation bytes may be
		// any of 0x80–0xBF are checked in place (Vietnamese letters are
		// nearly all such); the rest is decoded.
		case c >= 0xC2 && c <= 0xDF:
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return -1
			}
			i++
		case c >= 0xE1 && c <= 0xEF && c != 0xED:
			if i+2 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
				return -1
			}
			i += 2
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1
			}
			i += size - 1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// plainStringByte marks the ASCII bytes that stand for themselves inside
// a string: everything from 0x20 up but the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanNumber reads the number starting at b[i] and returns the index after
// it, or -1: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
