package expr

import (
	"slices"
	"strings"
)

// Template is a string that may hold ${...} parts.
type Template struct {
	src    string
	parts  []part
	single bool // exactly one ${...} and no text: the value keeps its type
	refs   []int
	size   int // a guess at the output length, to size the buffer once
}

// part is literal text or an expression.
type part struct {
	text string
	fn   evalFn
}

// ParseTemplate returns (nil, nil) when s holds no "${". A template that is
// exactly one ${...} keeps the expression's type (number, bool, object);
// otherwise the parts are interpolated as text (JS String() formatting;
// objects as JSON). "$${" stands for a literal "${". Error offsets count
// from the start of s.
func ParseTemplate(s string, names *Names, before int) (*Template, error) {
	if !strings.Contains(s, "${") {
		return nil, nil
	}
	t := &Template{src: s}
	var text strings.Builder
	var refs []int
	exprs := 0
	i := 0
	for {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			text.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '$' {
			// "$${" is the escape: keep "${" as text.
			text.WriteString(s[i : j-1])
			text.WriteString("${")
			i = j + 2
			continue
		}
		text.WriteString(s[i:j])
		if text.Len() > 0 {
			t.parts = append(t.parts, part{text: text.String()})
			text.Reset()
		}
		fn, end, r, err := parseEmbedded(s, j, names, before)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, part{fn: fn})
		refs = append(refs, r...)
		exprs++
		i = end
	}
	if text.Len() > 0 {
		t.parts = append(t.parts, part{text: text.String()})
	}
	t.single = exprs == 1 && len(t.parts) == 1
	for _, p := range t.parts {
		t.size += len(p.text) + 16
	}
	slices.Sort(refs)
	t.refs = slices.Compact(refs)
	return t, nil
}

// parseEmbedded compiles the expression of the "${" at offset start and
// returns the offset just past its closing "}".
func parseEmbedded(s string, start int, names *Names, before int) (evalFn, int, []int, error) {
	p := newParser(s, start+2, names, before)
	if p.err == nil && p.is("}") {
		return nil, 0, nil, errAt(start, "empty ${}")
	}
	if p.err == nil && p.tok.k == tEOF {
		return nil, 0, nil, errAt(start, "unterminated ${ (missing })")
	}
	n := p.expression()
	if p.err != nil {
		if p.err.Offset >= len(s) {
			// The text ran out mid-expression: the missing "}" is the
			// likelier mistake, and its "${" the useful place to point at.
			return nil, 0, nil, errAt(start, "unterminated ${ (missing })")
		}
		return nil, 0, nil, p.err
	}
	switch {
	case p.is("}"):
	case p.tok.k == tEOF:
		return nil, 0, nil, errAt(start, "unterminated ${ (missing })")
	default:
		p.unexpected(`an operator or "}" to close ${`)
		return nil, 0, nil, p.err
	}
	return compile(n), p.tok.end, p.refs, nil
}

// Eval evaluates the template: the expression's own value for a template
// that is exactly one ${...}, otherwise a string.
func (t *Template) Eval(v *Vars) (any, error) {
	if t.single {
		r, err := t.parts[0].fn(v)
		if err != nil {
			return nil, err
		}
		return toAny(r), nil
	}
	var b strings.Builder
	b.Grow(t.size)
	for _, p := range t.parts {
		if p.fn == nil {
			b.WriteString(p.text)
			continue
		}
		r, err := p.fn(v)
		if err != nil {
			return nil, err
		}
		b.WriteString(toString(r))
	}
	return b.String(), nil
}

// Refs returns the indexes of the members the template references, ascending.
func (t *Template) Refs() []int { return slices.Clone(t.refs) }

// Source returns the template text as given to ParseTemplate.
func (t *Template) Source() string { return t.src }
