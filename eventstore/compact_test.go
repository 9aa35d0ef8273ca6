package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// compactCases are payloads for the fast path's tests and the fuzzer's
// seed corpus.
var compactCases = []string{
	`{}`, `[]`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `"x"`, `true`, `false`, `null`,
	`{"p":"0.5"}`, `{"a":[1,2,{"b":null}],"c":"\"\\\/\b\f\n\r\t\u00e9\uD83D"}`,
	`{"note":"Đúng hạn","n":[true,false,null,-1,0.25]}`, `[[[[[]]]]]`, `"\u00"`,
	// Not valid, or not compact:
	``, ` `, `{} `, ` {}`, `{"a": 1}`, "[1,\n2]", `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`,
	`{1:2}`, `01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`, `tru`, `nul`, `falsey`, `"a`, `"\x"`, `"\u12G4"`,
	"\"a\tb\"", "\"a\x00\"", `[1 2]`, `{}{}`, `1 2`, `[}`, `{]`, `"\`, `NaN`, "\"\xff\xfe\"",
	// Not UTF-8 inside strings (a lone continuation byte, a truncated
	// sequence, an encoded surrogate, an overlong form), or outside them:
	"{\"a\":\"x\x80\"}", "\"\xc4\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "[1,\xc4\x90]", "\"\xef\xbf\xbd\"",
	// Longer strings with control bytes (0x1f refused, 0x20 and 0x7f
	// not), backslashes, and bad UTF-8 after good Vietnamese, at
	// different places.
	"\"abcdefgh\tijkl\"", "\"abcdefghij\x1fk\"", "\"abcdefghij\x20k\"", "\"abcdefghij\x7fk\"",
	`"abcdefghijklmn\u00e9op"`, `"abcdefghijklmno\"pq"`, `["abcdefgh\\","x"]`, "\"\x01bcdefghijklmnop\"",
	"\"Đã ban hành kế hoạch\xff\"", "\"Đã ban hành kế hoạch đúng thời hạn\"",
	// Two- and three-byte characters at the edges of the ranges checked
	// in place (C2–DF, E1–EC, EE–EF), next to those decoded (E0, ED, four
	// bytes), complete, cut short by the quote or by the end, or with a
	// byte that does not continue them.
	"\"\xc2\x80\"", "\"\xdf\xbf\"", "\"\xc4\x41\"", "\"\xc4", "\"\xe1\x80\x80\"", "\"\xec\xbf\xbf\"",
	"\"\xee\x80\x80\"", "\"\xef\xbf\xbf\"", "\"\xe1\x80\"", "\"\xe1\"", "\"\xe1\x80", "\"\xe1\x41\x80\"",
	"\"\xe1\x80\x41\"", "\"\xe0\x80\x80\"", "\"\xe0\xa0\x80\"", "\"\xed\x9f\xbf\"", "\"\xf0\x9f\x98\x80\"",
	"\"\xf4\x90\x80\x80\"",
}

func TestIsCompactJSON(t *testing.T) {
	for _, c := range compactCases {
		checkCompactFastPath(t, []byte(c))
	}
	t.Run("Deep", func(t *testing.T) {
		deep := strings.Repeat("[", maxFastDepth) + strings.Repeat("]", maxFastDepth)
		if !isCompactJSON([]byte(deep)) {
			t.Errorf("%d levels not recognised", maxFastDepth)
		}
		deeper := "[" + deep + "]"
		if isCompactJSON([]byte(deeper)) {
			t.Errorf("%d levels taken by the fast path", maxFastDepth+1)
		}
		if got, err := compactJSON([]byte(deeper), true); err != nil || string(got) != deeper {
			t.Errorf("compactJSON(%d levels) = %q, %v", maxFastDepth+1, got, err)
		}
	})
}

// checkCompactFastPath checks isCompactJSON against encoding/json and
// unicode/utf8: it may only say yes when json.Compact returns b unchanged
// and b is UTF-8, and it must say yes then (within its depth limit), and
// compactJSON must agree with json.Compact and utf8.Valid either way.
func checkCompactFastPath(t *testing.T, b []byte) {
	t.Helper()
	var want bytes.Buffer
	werr := json.Compact(&want, b)
	unchanged := werr == nil && bytes.Equal(want.Bytes(), b) && utf8.Valid(b)
	if fast := isCompactJSON(b); fast != unchanged && !(unchanged && depthOver(b, maxFastDepth)) {
		t.Errorf("isCompactJSON(%q) = %v, but json.Compact gives %q, %v", b, fast, want.Bytes(), werr)
	}
	got, err := compactJSON(b, true)
	notUTF8 := werr == nil && !utf8.Valid(want.Bytes())
	if (err == nil) != (werr == nil && !notUTF8) || err == nil && !bytes.Equal(got, want.Bytes()) || notUTF8 && !errors.Is(err, errNotUTF8) {
		t.Errorf("compactJSON(%q) = %q, %v; json.Compact gives %q, %v (UTF-8: %v)", b, got, err, want.Bytes(), werr, !notUTF8)
	}
	if err == nil && len(b) > 0 && &got[0] == &b[0] {
		t.Errorf("compactJSON(%q) returned the caller's slice, want a copy", b)
	}
}

// depthOver reports whether b nests containers deeper than max (counting
// brackets outside strings).
func depthOver(b []byte, max int) bool {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			if depth++; depth > max {
				return true
			}
		case !inString && (c == ']' || c == '}'):
			depth--
		}
	}
	return false
}

func FuzzCompactJSON(f *testing.F) {
	for _, c := range compactCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCompactFastPath(t, b) })
}

// scorePayload is a realistic score event payload, about 300 bytes, with
// Vietnamese text.
var scorePayload = []byte(`{"campaign":"hanoi-2017","unit":"001","item":"3.2.4","points":"1.25","previous":"0.75",` +
	`"note":"Đã ban hành kế hoạch kiểm soát thủ tục hành chính năm 2017 đúng thời hạn, có tài liệu kiểm chứng kèm theo",` +
	`"evidence":["9f2c4e1a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"]}`)

func BenchmarkCompactJSON(b *testing.B) {
	payload := scorePayload
	b.Run("FastPath", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := compactJSON(payload, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("JSONCompact", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			var buf bytes.Buffer
			buf.Grow(len(payload))
			if err := json.Compact(&buf, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPrepareAppend checks one event of scorePayload as a store's
// Append does.
func BenchmarkPrepareAppend(b *testing.B) {
	events := []EventData{{
		ID: NewID(), Type: "SelfScoreRecorded", SchemaVersion: 1,
		Actor:   Actor{ID: "unit-001-officer", Role: "unit", Scope: "001"},
		Reason:  "Tự chấm theo tài liệu kiểm chứng",
		Payload: scorePayload,
	}}
	dst := make([]EventData, 0, 1)
	b.SetBytes(int64(len(scorePayload)))
	for b.Loop() {
		if _, err := PrepareAppendTo(dst, "assessment-1", events); err != nil {
			b.Fatal(err)
		}
	}
}
