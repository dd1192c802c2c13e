package expr

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tNum
	tStr
	tIdent
	tPunct
)

type token struct {
	k   tokKind
	pos int     // byte offset of the first byte
	end int     // byte offset just past the token
	s   string  // identifier, decoded string, or punctuator text
	n   float64 // tNum
}

func (t token) String() string {
	switch t.k {
	case tEOF:
		return "end of expression"
	case tNum:
		return "number " + numToString(t.n)
	case tStr:
		return "string " + strconv.Quote(t.s)
	case tIdent:
		return "name " + t.s
	}
	return strconv.Quote(t.s)
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }

// punct returns the punctuator at the start of s, longest match first, so
// that "===" wins over "==" and "=".
func punct(s string) string {
	if len(s) >= 3 {
		switch s[:3] {
		case "===", "!==", "...":
			return s[:3]
		}
	}
	if len(s) >= 2 {
		switch s[:2] {
		case "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "=>", "**":
			// "?." followed by a digit is "?" then a number: a?.5:1.
			if s[:2] != "?." || len(s) < 3 || !isDigit(s[2]) {
				return s[:2]
			}
		}
	}
	if strings.IndexByte("()[]{},:?.!<>+-*/%=&|^~;`#@", s[0]) >= 0 {
		return s[:1]
	}
	return ""
}

// lex reads the token at pos (after skipping white space).
func lex(src string, pos int) (token, *Error) {
	for pos < len(src) {
		c := src[pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			pos++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(src[pos:])
			if isJSSpace(r) {
				pos += size
				continue
			}
		}
		break
	}
	if pos >= len(src) {
		return token{k: tEOF, pos: pos, end: pos}, nil
	}
	c := src[pos]
	switch {
	case isIdentStart(c):
		end := pos + 1
		for end < len(src) && isIdentPart(src[end]) {
			end++
		}
		return token{k: tIdent, pos: pos, end: end, s: src[pos:end]}, nil
	case isDigit(c) || c == '.' && pos+1 < len(src) && isDigit(src[pos+1]):
		return lexNumber(src, pos)
	case c == '"' || c == '\'':
		return lexString(src, pos)
	}
	if p := punct(src[pos:]); p != "" {
		return token{k: tPunct, pos: pos, end: pos + len(p), s: p}, nil
	}
	r, _ := utf8.DecodeRuneInString(src[pos:])
	return token{}, errAt(pos, "unexpected character %q", r)
}

func lexNumber(src string, pos int) (token, *Error) {
	end := pos
	if src[pos] == '0' && pos+1 < len(src) && radix(src[pos+1]) != 0 {
		base := radix(src[pos+1])
		end = pos + 2
		for end < len(src) && digitVal(src[end]) < base {
			end++
		}
		f, ok := parseRadix(src[pos+2:end], base)
		if !ok {
			return token{}, errAt(pos, "malformed number %s", src[pos:end])
		}
		if end < len(src) && isIdentPart(src[end]) {
			return token{}, errAt(end, "unexpected %q after number", src[end])
		}
		return token{k: tNum, pos: pos, end: end, n: f}, nil
	}
	for end < len(src) && isDigit(src[end]) {
		end++
	}
	if end-pos > 1 && src[pos] == '0' {
		return token{}, errAt(pos, "numbers cannot start with 0 (octal literals are not supported)")
	}
	if end < len(src) && src[end] == '.' {
		end++
		for end < len(src) && isDigit(src[end]) {
			end++
		}
	}
	if end < len(src) && (src[end] == 'e' || src[end] == 'E') {
		e := end + 1
		if e < len(src) && (src[e] == '+' || src[e] == '-') {
			e++
		}
		if e >= len(src) || !isDigit(src[e]) {
			return token{}, errAt(end, "malformed exponent in number")
		}
		for e < len(src) && isDigit(src[e]) {
			e++
		}
		end = e
	}
	if end < len(src) && isIdentPart(src[end]) {
		return token{}, errAt(end, "unexpected %q after number", src[end])
	}
	f, err := strconv.ParseFloat(src[pos:end], 64)
	if err != nil && !isRangeErr(err) {
		return token{}, errAt(pos, "malformed number %s", src[pos:end])
	}
	return token{k: tNum, pos: pos, end: end, n: f}, nil
}

func lexString(src string, pos int) (token, *Error) {
	q := src[pos]
	i := pos + 1
	// Fast path: no escapes, the text is a substring of src.
	for i < len(src) && src[i] != q && src[i] != '\\' && src[i] != '\n' && src[i] != '\r' {
		i++
	}
	if i < len(src) && src[i] == q {
		return token{k: tStr, pos: pos, end: i + 1, s: src[pos+1 : i]}, nil
	}
	var b strings.Builder
	b.WriteString(src[pos+1 : i])
	var high rune // a pending high surrogate from \uD8xx
	flush := func() {
		if high != 0 {
			b.WriteRune(utf8.RuneError)
			high = 0
		}
	}
	for {
		if i >= len(src) || src[i] == '\n' || src[i] == '\r' {
			return token{}, errAt(pos, "unterminated string")
		}
		c := src[i]
		if c == q {
			flush()
			return token{k: tStr, pos: pos, end: i + 1, s: b.String()}, nil
		}
		if c != '\\' {
			flush()
			b.WriteByte(c)
			i++
			continue
		}
		esc := i
		i++
		if i >= len(src) {
			return token{}, errAt(pos, "unterminated string")
		}
		c = src[i]
		i++
		var r rune = -1
		switch c {
		case 'n':
			r = '\n'
		case 't':
			r = '\t'
		case 'r':
			r = '\r'
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'v':
			r = '\v'
		case '0':
			if i < len(src) && isDigit(src[i]) {
				return token{}, errAt(esc, "octal escapes are not allowed")
			}
			r = 0
		case '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return token{}, errAt(esc, "octal escapes are not allowed")
		case 'x':
			if i+2 > len(src) || digitVal(src[i]) >= 16 || digitVal(src[i+1]) >= 16 {
				return token{}, errAt(esc, `malformed \x escape (want \xHH)`)
			}
			r = rune(digitVal(src[i])<<4 | digitVal(src[i+1]))
			i += 2
		case 'u':
			var ok bool
			r, i, ok = lexUnicodeEscape(src, i)
			if !ok {
				return token{}, errAt(esc, `malformed \u escape (want \uHHHH or \u{H...})`)
			}
		case '\n':
			continue // line continuation
		case '\r':
			if i < len(src) && src[i] == '\n' {
				i++
			}
			continue
		default:
			// Any other escaped character stands for itself (\' \" \\ \q);
			// U+2028 and U+2029 are line continuations.
			i-- // re-read the full rune
			rr, size := utf8.DecodeRuneInString(src[i:])
			i += size
			if rr == 0x2028 || rr == 0x2029 {
				continue
			}
			r = rr
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			flush()
			high = r
			continue
		case r >= 0xDC00 && r < 0xE000:
			if high != 0 {
				b.WriteRune(0x10000 + (high-0xD800)<<10 + (r - 0xDC00))
				high = 0
				continue
			}
			r = utf8.RuneError
		}
		flush()
		b.WriteRune(r)
	}
}

// lexUnicodeEscape reads the part of \u escape after the u.
func lexUnicodeEscape(src string, i int) (rune, int, bool) {
	if i < len(src) && src[i] == '{' {
		j := i + 1
		var r rune
		for j < len(src) && src[j] != '}' {
			d := digitVal(src[j])
			if d >= 16 || r > 0x10FFFF {
				return 0, i, false
			}
			r = r<<4 | rune(d)
			j++
		}
		if j >= len(src) || j == i+1 || r > 0x10FFFF {
			return 0, i, false
		}
		return r, j + 1, true
	}
	if i+4 > len(src) {
		return 0, i, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		d := digitVal(src[j])
		if d >= 16 {
			return 0, i, false
		}
		r = r<<4 | rune(d)
	}
	return r, i + 4, true
}
