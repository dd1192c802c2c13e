package wire

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// The request decoders run on every call the server takes, and the text
// request is the commonest body. scanner reads such a body once, validating
// every value it skips exactly as encoding/json's grammar does, and reads
// the few fields a decoder needs, without the reflection and the
// per-field allocations of a library decode: a pass-through request costs
// 2-4 µs of server CPU less than through jsonlib.go's library alone
// (BENCHMARKS.md, "Wire decoders: one library, one decoder per shape").
// Only the two request scanners (scanOpenAIRequest, scanAnthropicRequest)
// use it; answers and streams gained nothing measurable and have none.
//
// It takes only the common shapes. Anything unusual — a syntax error, a
// field of an unexpected type, a key repeated or matching a field only
// case-insensitively (encoding/json's rules there are subtle), a string
// with surrogate escapes or invalid UTF-8 — makes it give up (failed), and
// the caller decodes the body again with the library (the JSON path). So
// the result is the JSON path's in every case; the fuzz tests check it
// differentially, and FuzzJSONLibrary checks the library against
// encoding/json.

// mentionsTools reports whether body may hold tools, tool calls or tool
// results ("tools", "tool_choice", "tool_calls", a "tool" role,
// "tool_use", "tool_result"…), which the request scanners do not read: such
// a body goes straight to the JSON path instead of being scanned up to the
// first of them and then decoded again. A text that merely quotes the word
// costs only the scan it skips.
func MentionsTools(body []byte) bool {
	return bytes.Contains(body, []byte(`"tool`))
}

// maxScanDepth bounds the nesting the scanner follows; deeper bodies go to
// the JSON path, which has its own limit and error.
const maxScanDepth = 200

type Scanner struct {
	B      []byte
	i      int
	Failed bool
	depth  int
}

// fail gives up: every later call finds the end of input and stops.
func (s *Scanner) Fail() {
	s.Failed = true
	s.i = len(s.B)
}

func (s *Scanner) ws() {
	b, i := s.B, s.i
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// peek returns the next byte after white space, 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i < len(s.B) {
		return s.B[s.i]
	}
	return 0
}

// end checks that only white space follows the top-level value.
func (s *Scanner) End() bool {
	s.ws()
	if s.i != len(s.B) {
		s.Fail()
	}
	return !s.Failed
}

// null consumes a null if one is next.
func (s *Scanner) Null() bool {
	if s.Peek() == 'n' && s.Literal("null") {
		return true
	}
	return false
}

func (s *Scanner) Literal(lit string) bool {
	if len(s.B)-s.i >= len(lit) && string(s.B[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	s.Fail()
	return false
}

// open consumes the opening bracket c ('{' or '['). It returns false, having
// consumed it, for a null, and fails for anything else.
func (s *Scanner) Open(c byte) bool {
	switch s.Peek() {
	case c:
		s.depth++
		if s.depth > maxScanDepth {
			s.Fail()
			return false
		}
		s.i++
		return true
	case 'n':
		s.Literal("null")
		return false
	}
	s.Fail()
	return false
}

// more reports whether the object or array opened with open has another
// member, consuming the comma before it; n counts the members so far. At
// the closing bracket it consumes it and returns false.
func (s *Scanner) More(n *int, closer byte) bool {
	c := s.Peek()
	if c == closer {
		s.i++
		s.depth--
		return false
	}
	if *n > 0 {
		if c != ',' {
			s.Fail()
			return false
		}
		s.i++
		s.ws()
	}
	if s.i >= len(s.B) {
		s.Fail()
		return false
	}
	*n++
	return true
}

// key reads an object key and its colon. It returns the key's raw bytes,
// and fails for a key with escapes: matching it needs unescaping, which
// encoding/json does with its own folding rules.
func (s *Scanner) Key() []byte {
	raw, esc := s.RawString()
	if esc {
		s.Fail()
	}
	if s.Peek() != ':' {
		s.Fail()
		return nil
	}
	s.i++
	return raw
}

// rawString reads a string, validated, returning the bytes between the
// quotes and whether they contain escapes.
func (s *Scanner) RawString() (raw []byte, escaped bool) {
	if s.Peek() != '"' {
		s.Fail()
		return nil, false
	}
	// Locals, not s.i: the loop runs per byte and keeps them in registers.
	b, i := s.B, s.i+1
	start := i
	for {
		i = PlainRun(b, i)
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], escaped
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.Fail()
				return nil, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					s.Fail()
					return nil, false
				}
				for _, h := range b[i+2 : i+6] {
					if unhex(h) < 0 {
						s.Fail()
						return nil, false
					}
				}
				i += 6
			default:
				s.Fail()
				return nil, false
			}
		default: // a control character
			s.Fail()
			return nil, false
		}
	}
	s.Fail()
	return nil, false
}

// plainRun returns the index of the first byte from i that ends a run of
// plain string bytes (see strStop), or len(b). Eight bytes at a time: the
// answers' texts are long.
func PlainRun(b []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		bs := x ^ (ones * '\\')
		// A byte is flagged when zero (q, bs: a quote or a backslash) or
		// below 0x20. Borrows can flag bytes above a real match, never
		// below one, so the lowest flag is exact.
		t := ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x) & highs
		if t != 0 {
			return i + bits.TrailingZeros64(t)/8
		}
	}
	for i < len(b) && !StrStop[b[i]] {
		i++
	}
	return i
}

// strStop marks the bytes that end a run of plain string bytes: the quote,
// the backslash and the control characters JSON forbids unescaped.
var StrStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// str reads a string value; null leaves *dst as it is (encoding/json's
// rule). Anything else fails.
func (s *Scanner) Str(dst *string) {
	if s.Null() {
		return
	}
	raw, esc := s.RawString()
	if s.Failed {
		return
	}
	v, ok := unquote(raw, esc)
	if !ok {
		s.Fail()
		return
	}
	*dst = v
}

// word reads a string or null without allocating, for values only
// compared; escapes fail.
func (s *Scanner) Word() []byte {
	if s.Null() {
		return nil
	}
	raw, esc := s.RawString()
	if esc {
		s.Fail()
	}
	return raw
}

// unquote returns a string's text, or false for what encoding/json would
// turn into U+FFFD (invalid UTF-8, lone or paired surrogate escapes), which
// the caller leaves to it.
func unquote(raw []byte, escaped bool) (string, bool) {
	if !escaped {
		if !utf8.Valid(raw) {
			return "", false
		}
		return string(raw), true
	}
	// A Builder hands its bytes over as the string: one allocation.
	var out strings.Builder
	out.Grow(len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				j = len(raw)
			} else {
				j += i
			}
			if !utf8.Valid(raw[i:j]) {
				return "", false
			}
			out.Write(raw[i:j])
			i = j
			continue
		}
		// rawString validated the escape.
		switch raw[i+1] {
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r := rune(unhex(raw[i+2])<<12 | unhex(raw[i+3])<<8 | unhex(raw[i+4])<<4 | unhex(raw[i+5]))
			if 0xD800 <= r && r < 0xE000 {
				return "", false
			}
			out.WriteRune(r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out.WriteByte(raw[i+1])
		}
		i += 2
	}
	return out.String(), true
}

// int reads an integer into *dst; null leaves it. Fractions, exponents and
// numbers of more than 18 digits fail (encoding/json refuses the first two
// for an int and may overflow on the last).
func (s *Scanner) Int(dst *int) {
	if s.Null() {
		return
	}
	start := s.i
	if !s.number() {
		return
	}
	num := s.B[start:s.i]
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	if len(num) > 18 {
		s.Fail()
		return
	}
	v := 0
	for _, c := range num {
		if c < '0' || c > '9' {
			s.Fail()
			return
		}
		v = v*10 + int(c-'0')
	}
	if neg {
		v = -v
	}
	*dst = v
}

// optInt reads an integer or null into a *int, as encoding/json fills a
// *int field.
func (s *Scanner) OptInt(dst **int) {
	if s.Null() {
		*dst = nil
		return
	}
	var v int
	s.Int(&v)
	*dst = &v
}

// float reads a number or null into a *float64.
func (s *Scanner) Float(dst **float64) {
	if s.Null() {
		*dst = nil
		return
	}
	start := s.i
	if !s.number() {
		return
	}
	f, err := strconv.ParseFloat(string(s.B[start:s.i]), 64)
	if err != nil { // out of range: encoding/json's error
		s.Fail()
		return
	}
	*dst = &f
}

// boolean reads true, false or null (false).
func (s *Scanner) Boolean(dst *bool) {
	switch s.Peek() {
	case 't':
		*dst = s.Literal("true")
	case 'f':
		s.Literal("false")
		*dst = false
	case 'n':
		s.Literal("null")
	default:
		s.Fail()
	}
}

// number validates and consumes a JSON number.
func (s *Scanner) number() bool {
	s.ws()
	b, i := s.B, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		s.Fail()
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			s.Fail()
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			s.Fail()
			return false
		}
	}
	s.i = i
	return true
}

// skip validates and consumes any value.
func (s *Scanner) skip() {
	switch s.Peek() {
	case '"':
		s.RawString()
	case '{':
		s.Open('{')
		for n := 0; s.More(&n, '}'); {
			s.Key()
			s.skip()
		}
	case '[':
		s.Open('[')
		for n := 0; s.More(&n, ']'); {
			s.skip()
		}
	case 't':
		s.Literal("true")
	case 'f':
		s.Literal("false")
	case 'n':
		s.Literal("null")
	default:
		s.number()
	}
}

// rawValue validates and consumes any value, returning its bytes.
func (s *Scanner) RawValue() []byte {
	s.ws()
	start := s.i
	s.skip()
	if s.Failed {
		return nil
	}
	return s.B[start:s.i]
}

// fieldSet tracks the known keys an object had, so that a repeated one is
// left to the JSON path.
type FieldSet uint32

// seen marks field bit and fails if it was already there.
func (s *Scanner) Seen(set *FieldSet, bit FieldSet) {
	if *set&bit != 0 {
		s.Fail()
	}
	*set |= bit
}

// unknown handles a key that matches no field: encoding/json would still
// take it for one of names if it matches case-insensitively (or through
// Unicode folding), so then give up; otherwise skip its value.
func (s *Scanner) Unknown(key []byte, names ...string) {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			s.Fail()
			return
		}
	}
	for _, n := range names {
		if len(n) == len(key) && equalFoldASCII(key, n) {
			s.Fail()
			return
		}
	}
	s.skip()
}

func equalFoldASCII(b []byte, s string) bool {
	for i, c := range b {
		d := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// textBlocks reads a content that is a string, null, or a list of text
// parts, one text block each (none for an empty text); a part of another
// type fails.
func (s *Scanner) TextBlocks() []conductor.Block {
	if s.Peek() != '[' {
		var text string
		s.Str(&text)
		return conductor.Texts(text)
	}
	s.Open('[')
	var blocks []conductor.Block
	for n := 0; s.More(&n, ']'); {
		if !s.Open('{') {
			s.Fail() // a null part has no type
			return nil
		}
		var (
			typ  []byte
			text string
			set  FieldSet
		)
		for k := 0; s.More(&k, '}'); {
			switch key := s.Key(); string(key) {
			case "type":
				s.Seen(&set, 1)
				typ = s.Word()
			case "text":
				s.Seen(&set, 2)
				s.Str(&text)
			default:
				s.Unknown(key, "type", "text")
			}
		}
		if string(typ) != "text" {
			s.Fail()
		}
		if text != "" {
			if blocks == nil {
				blocks = make([]conductor.Block, 0, 2)
			}
			blocks = append(blocks, conductor.TextBlock(text))
		}
	}
	return blocks
}

// stop reads a string or a list of strings.
func (s *Scanner) Stop() []string {
	if s.Peek() != '[' {
		if s.Null() {
			return nil
		}
		var v string
		s.Str(&v)
		return []string{v}
	}
	s.Open('[')
	list := make([]string, 0, 4)
	for n := 0; s.More(&n, ']'); {
		var v string
		s.Str(&v)
		list = append(list, v)
	}
	return list
}
