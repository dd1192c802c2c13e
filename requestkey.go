package conductor

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// keyVersion changes whenever the canonical form does, so that old entries
// simply stop matching instead of being misread.
const keyVersion = "conductor-cache-v3"

// Field tags of the canonical request; each field is written as tag, length,
// bytes, so no two requests can encode alike.
const (
	tagScope byte = iota + 1
	tagCustom
	tagProvider
	tagModel
	tagRole
	tagContent
	tagTemperature
	tagTopP
	tagMaxTokens
	tagStop
	tagSeed
	tagResponseFormat
	tagExtraKey
	tagExtraValue
	tagImage
	tagToolCall
	tagToolResult
	tagOpaque
	tagTool
	tagToolChoice
	tagParallel
	tagN
	tagReasoning
	tagBlockEnd
)

// RequestKey is the hex SHA-256 of the canonical request under scope: the
// key of the gateway's cache (scoped per gateway and kind of answer) and of
// the ensemble step cache (scoped per routing and test-provider setup). The
// request's fields are written tagged and length-prefixed, its JSON values
// (response_format, extras) in canonical form, so neither JSON key order
// nor whitespace changes the key. A caller's cf-aig-cache-key replaces the
// request's fields but is hashed too, so no key is ever stored in clear.
//
// Fields that do not change the answer stay out: metadata, user,
// environment, and the gateway options (TTL, retries).
func RequestKey(req *ChatRequest, scope ...string) string {
	var b keyBuilder
	b.buf = make([]byte, 0, 256+messagesLen(req.Messages))
	b.buf = append(b.buf, keyVersion...)
	for _, sc := range scope {
		b.field(tagScope, sc)
	}
	if req.Options.CacheKey != "" {
		b.field(tagCustom, req.Options.CacheKey)
		return b.sum()
	}
	b.field(tagProvider, req.Provider)
	b.field(tagModel, req.Model)
	for _, m := range req.Messages {
		b.field(tagRole, m.Role)
		b.blocks(m.Content)
	}
	for _, t := range req.Tools {
		b.field(tagTool, t.Name)
		b.field(tagTool, t.Description)
		b.json(tagTool, t.Parameters)
		b.optBool(tagTool, t.Strict)
	}
	if tc := req.ToolChoice; tc != nil {
		b.field(tagToolChoice, tc.Mode)
		b.field(tagToolChoice, tc.Name)
	}
	b.optBool(tagParallel, req.ParallelToolCalls)
	if req.N > 1 {
		b.field(tagN, strconv.Itoa(req.N))
	}
	if req.ReasoningEffort != "" || req.ThinkingBudget != 0 {
		b.field(tagReasoning, req.ReasoningEffort)
		b.field(tagReasoning, strconv.Itoa(req.ThinkingBudget))
	}
	if req.Temperature != nil {
		b.field(tagTemperature, formatFloat(*req.Temperature))
	}
	if req.TopP != nil {
		b.field(tagTopP, formatFloat(*req.TopP))
	}
	if req.MaxTokens != 0 {
		var n [20]byte
		b.field(tagMaxTokens, string(strconv.AppendInt(n[:0], int64(req.MaxTokens), 10)))
	}
	for _, s := range req.Stop {
		b.field(tagStop, s)
	}
	if req.Seed != nil {
		b.field(tagSeed, strconv.FormatInt(*req.Seed, 10))
	}
	if rf := req.ResponseFormat; rf != nil {
		b.field(tagResponseFormat, rf.Type)
		b.field(tagResponseFormat, rf.Name)
		b.field(tagResponseFormat, rf.Description)
		b.json(tagResponseFormat, rf.Schema)
		b.optBool(tagResponseFormat, rf.Strict)
	}
	if len(req.Extra) > 0 {
		keys := make([]string, 0, len(req.Extra))
		for k := range req.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.field(tagExtraKey, k)
			b.json(tagExtraValue, req.Extra[k])
		}
	}
	return b.sum()
}

// blocks writes a message's content, each block tagged by its kind; a
// text-only message writes what a plain text field would.
func (b *keyBuilder) blocks(content []Block) {
	for _, c := range content {
		switch c.Type {
		case BlockText:
			b.field(tagContent, c.Text)
		case BlockImage:
			if im := c.Image; im != nil {
				b.field(tagImage, im.URL)
				b.field(tagImage, im.MediaType)
				b.field(tagImage, im.Data)
				b.field(tagImage, im.Detail)
			}
		case BlockToolCall:
			if tc := c.ToolCall; tc != nil {
				b.field(tagToolCall, tc.ID)
				b.field(tagToolCall, tc.Name)
				b.json(tagToolCall, []byte(tc.Arguments))
			}
		case BlockToolResult:
			if tr := c.ToolResult; tr != nil {
				b.field(tagToolResult, tr.CallID)
				b.optBool(tagToolResult, &tr.IsError)
				b.blocks(tr.Content)
				b.field(tagBlockEnd, "")
			}
		default:
			if o := c.Opaque; o != nil {
				b.field(tagOpaque, o.Format)
				b.field(tagOpaque, o.Kind)
				b.json(tagOpaque, o.Raw)
			} else {
				b.field(tagOpaque, c.Type)
			}
		}
	}
	b.field(tagBlockEnd, "")
}

func (b *keyBuilder) optBool(tag byte, v *bool) {
	switch {
	case v == nil:
		b.field(tag, "")
	case *v:
		b.field(tag, "true")
	default:
		b.field(tag, "false")
	}
}

func messagesLen(ms []Message) int {
	n := 0
	for _, m := range ms {
		n += len(m.Role) + 4*binary.MaxVarintLen64
		for _, c := range m.Content {
			n += len(c.Text) + 8
			if c.Image != nil {
				n += len(c.Image.URL) + len(c.Image.Data) + 32
			}
			if c.ToolCall != nil {
				n += len(c.ToolCall.ID) + len(c.ToolCall.Name) + len(c.ToolCall.Arguments) + 32
			}
		}
	}
	return n
}

type keyBuilder struct{ buf []byte }

func (b *keyBuilder) field(tag byte, s string) {
	b.buf = append(b.buf, tag)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
}

// json writes raw JSON in canonical form; a value that is not JSON is
// written as given (the provider will refuse it; the key stays stable).
func (b *keyBuilder) json(tag byte, raw []byte) {
	canon, err := canonicalJSON(raw)
	if err != nil {
		canon = append([]byte("raw:"), raw...)
	}
	b.field(tag, string(canon))
}

func (b *keyBuilder) sum() string {
	h := sha256.Sum256(b.buf)
	return hex.EncodeToString(h[:])
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxJSONDepth = 200

// canonicalJSON re-encodes one JSON value with object keys sorted (stably:
// a repeated key keeps its order), no whitespace, strings escaped one way
// and numbers written one way (1, 1.0 and 1e0 alike), so that two
// encodings of the same value hash the same. It is a small hand-written
// parser: encoding/json's generic decoding cost ten times more on the
// request path.
func canonicalJSON(raw []byte) ([]byte, error) {
	p := canonParser{in: raw}
	p.ws()
	out, err := p.value(make([]byte, 0, len(raw)), 0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.in) {
		return nil, p.fail("data after the value")
	}
	return out, nil
}

type canonParser struct {
	in  []byte
	pos int
}

type canonMember struct {
	key        []byte
	start, end int // the value, in the object's buffer
}

func (p *canonParser) fail(what string) error {
	return fmt.Errorf("json: %s at offset %d", what, p.pos)
}

func (p *canonParser) ws() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *canonParser) value(out []byte, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return nil, p.fail("nested too deep")
	}
	if p.pos >= len(p.in) {
		return nil, p.fail("unexpected end")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendJSONString(out, s), nil
	case c == 't':
		return p.literal(out, "true")
	case c == 'f':
		return p.literal(out, "false")
	case c == 'n':
		return p.literal(out, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(out)
	}
	return nil, p.fail("unexpected character")
}

func (p *canonParser) literal(out []byte, lit string) ([]byte, error) {
	if !bytes.HasPrefix(p.in[p.pos:], []byte(lit)) {
		return nil, p.fail("bad literal")
	}
	p.pos += len(lit)
	return append(out, lit...), nil
}

func (p *canonParser) object(out []byte, depth int) ([]byte, error) {
	p.pos++ // {
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return append(out, "{}"...), nil
	}
	// Members are canonicalised into one buffer, then written in key order.
	var small [8]canonMember
	members := small[:0]
	var vals []byte
	for {
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return nil, p.fail("expected a key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.pos++
		p.ws()
		start := len(vals)
		if vals, err = p.value(vals, depth+1); err != nil {
			return nil, err
		}
		members = append(members, canonMember{key: key, start: start, end: len(vals)})
		p.ws()
		if p.pos >= len(p.in) {
			return nil, p.fail("unexpected end")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != '}' {
			return nil, p.fail("expected ',' or '}'")
		}
		p.pos++
		break
	}
	slices.SortStableFunc(members, func(a, b canonMember) int { return bytes.Compare(a.key, b.key) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, m.key)
		out = append(out, ':')
		out = append(out, vals[m.start:m.end]...)
	}
	return append(out, '}'), nil
}

func (p *canonParser) array(out []byte, depth int) ([]byte, error) {
	p.pos++ // [
	out = append(out, '[')
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			out = append(out, ',')
		}
		p.ws()
		var err error
		if out, err = p.value(out, depth+1); err != nil {
			return nil, err
		}
		p.ws()
		if p.pos >= len(p.in) {
			return nil, p.fail("unexpected end")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != ']' {
			return nil, p.fail("expected ',' or ']'")
		}
		p.pos++
		return append(out, ']'), nil
	}
}

// str reads a string, escapes decoded and invalid UTF-8 replaced by U+FFFD
// (as encoding/json does).
func (p *canonParser) str() ([]byte, error) {
	p.pos++ // "
	start := p.pos
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '"' {
			s := p.in[start:p.pos]
			p.pos++
			if utf8.Valid(s) {
				return s, nil // no copy: the input outlives the key
			}
			return appendValidUTF8(nil, s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	// Slow path: escapes.
	b := appendValidUTF8(nil, p.in[start:p.pos])
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b, nil
		case c < 0x20:
			return nil, p.fail("control character in string")
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return nil, p.fail("unexpected end")
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return nil, p.fail("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if p.pos+1 < len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
						save := p.pos
						p.pos += 2
						var ok2 bool
						if r2, ok2 = p.hex4(); !ok2 {
							return nil, p.fail("bad \\u escape")
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r = d
						} else {
							p.pos = save // not a pair: the second escape stands alone
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return nil, p.fail("bad escape")
			}
		default:
			// Copy a run of plain bytes, fixing invalid UTF-8.
			start := p.pos
			for p.pos < len(p.in) && p.in[p.pos] != '"' && p.in[p.pos] != '\\' && p.in[p.pos] >= 0x20 {
				p.pos++
			}
			b = appendValidUTF8(b, p.in[start:p.pos])
		}
	}
	return nil, p.fail("unterminated string")
}

// appendValidUTF8 appends s with each invalid byte replaced by U+FFFD, as
// encoding/json decodes it.
func appendValidUTF8(b, s []byte) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
	return b
}

func (p *canonParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.in) {
		return 0, false
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// number checks JSON's number grammar and writes the number canonically.
func (p *canonParser) number(out []byte) ([]byte, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.in[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.in) && p.in[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.fail("bad number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.fail("bad number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.fail("bad number")
		}
	}
	return append(out, canonicalNumber(string(p.in[start:p.pos]))...), nil
}

// appendJSONString quotes s the one JSON way: only the quote, the
// backslash and control characters escaped. The decoder has already
// replaced invalid UTF-8.
func appendJSONString[S string | []byte](out []byte, s S) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// canonicalNumber writes integers exactly (a seed may exceed 2^53) and
// every other number as the shortest float64 that reads back the same.
func canonicalNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatFloat(f)
}
