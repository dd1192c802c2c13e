package ensemble

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// yval is a YAML value decoded from goccy's AST with positions kept:
// anchors, aliases, merge keys and tags resolved, scalars typed. The loader
// walks it; it never sees goccy's types.
type yval struct {
	kind NodeKind
	pos  Pos
	// Scalars.
	val    any    // string, int64, float64, bool or nil
	text   string // a string scalar's value
	isStr  bool   // the scalar is a string (quoted, plain text, or a block)
	bigInt bool   // an integer beyond int64: val is its float64, text as written
	broken bool   // the value had a problem already reported
	at     func(off int) Pos
	// Maps and lists.
	entries []yentry
	items   []*yval
	// size counts the values in v, v included: what an alias to it
	// expands to.
	size int
}

type yentry struct {
	key    string
	keyPos Pos
	val    *yval
	merged bool // came from a "<<" merge key: an explicit key overrides it
}

// placeholder stands in for an unquoted "${...}" scalar that YAML cannot
// read as written (the page writes `provider: ${a ? 'x' : 'y'}`, where
// " : " is a mapping indicator to YAML). It keeps the scalar's start and
// rune length, so every position in the file stays right.
type placeholder struct {
	text string // the original scalar, as written
	fill string // what the parser saw instead
}

// dupKey matches the parser's duplicate key message, reworded in ours.
var dupKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):(\d+)\]$`)

// bigIntText is a decimal integer literal.
var bigIntText = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// maxDepth bounds nesting (and alias expansion) so hostile input cannot
// exhaust the stack.
const maxDepth = 100

// maxExpand bounds the values produced by alias expansion (the "billion
// laughs" document); values written out in the file do not count.
const maxExpand = 100000

// parseYAML parses data into a yval, or reports why it cannot.
func parseYAML(data []byte, c *collector) *yval {
	if !utf8.Valid(data) {
		c.add(Pos{1, 1}, "the file is not valid UTF-8")
		return nil
	}
	src := string(data)
	f, src, holes, err := safeParse(src)
	if err != nil {
		c.addYAMLError(err, src, holes)
		return nil
	}
	var body ast.Node
	docs := 0
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		docs++
		if docs == 1 {
			body = d.Body
		} else {
			c.add(nodePos(d.Body), "a file holds one ensemble: remove the second YAML document")
		}
	}
	if body == nil {
		c.add(Pos{1, 1}, "the file is empty (expected an ensemble: name, flow)")
		return nil
	}
	d := &decoder{c: c, holes: holes, src: src, anchors: map[string]*yval{}}
	return d.node(body, 0)
}

// safeParse quotes templates and runs the YAML parser, turning a panic of
// the third-party lexer or parser on hostile input into an error: Parse
// must never panic.
func safeParse(src string) (f *ast.File, out string, holes map[Pos]placeholder, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this input: %v", r)
		}
	}()
	out, holes, tokens := quoteTemplates(src)
	if tokens == nil {
		tokens = lexer.Tokenize(out)
	}
	f, err = parser.Parse(tokens, 0)
	return f, out, holes, err
}

// quoteTemplates finds plain scalars that start with "${" and that YAML
// would cut short (at " : " or " #" inside the expression), and replaces
// each with a same-length plain placeholder; holes maps the scalar's
// position to its original text. When it changes nothing it also returns
// the tokens it read, which the parser can reuse (tokenizing is most of a
// load's time).
func quoteTemplates(src string) (string, map[Pos]placeholder, token.Tokens) {
	if !strings.Contains(src, "${") {
		return src, nil, nil
	}
	tokens := lexer.Tokenize(src)
	lines := strings.SplitAfter(src, "\n")
	var holes map[Pos]placeholder
	flow := 0
	for i, tk := range tokens {
		switch tk.Type {
		case token.MappingStartType, token.SequenceStartType:
			flow++
		case token.MappingEndType, token.SequenceEndType:
			if flow > 0 {
				flow--
			}
		}
		if tk.Type != token.StringType || flow > 0 || !strings.HasPrefix(tk.Value, "${") {
			continue
		}
		if i > 0 && (tokens[i-1].Type == token.LiteralType || tokens[i-1].Type == token.FoldedType) {
			continue // a block scalar's text, not a plain scalar
		}
		ln, col := tk.Position.Line, tk.Position.Column
		if ln < 1 || ln > len(lines) {
			continue
		}
		line := []rune(strings.TrimRight(lines[ln-1], "\r\n"))
		if col < 1 || col > len(line) {
			continue
		}
		end := plainTemplateEnd(line, col-1)
		seg := string(line[col-1 : end])
		if seg == tk.Value || !strings.HasPrefix(seg, tk.Value) {
			continue // YAML reads it whole, or it spans lines: leave it to YAML
		}
		fill := "$" + strings.Repeat("_", end-col)
		if holes == nil {
			holes = map[Pos]placeholder{}
		}
		holes[Pos{ln, col}] = placeholder{text: seg, fill: fill}
		lines[ln-1] = string(line[:col-1]) + fill + string(line[end:]) + lines[ln-1][len(strings.TrimRight(lines[ln-1], "\r\n")):]
	}
	if holes == nil {
		return src, nil, tokens
	}
	return strings.Join(lines, ""), holes, nil
}

// plainTemplateEnd returns where the plain scalar starting at line[start]
// ends: at a comment (" #") or a mapping indicator (": ") outside any
// ${...}, or at the end of the line, trailing blanks dropped. Quotes and
// braces inside ${...} are skipped, so ${a ? 'x' : 'y'} stays whole.
func plainTemplateEnd(line []rune, start int) int {
	i, depth := start, 0
	var quote rune
scan:
	for i < len(line) {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '\'' {
				i++
			} else if c == quote {
				quote = 0
			}
		case depth > 0:
			switch c {
			case '\'', '"', '`':
				quote = c
			case '{':
				depth++
			case '}':
				depth--
			}
		case c == '$' && i+1 < len(line) && line[i+1] == '{':
			depth = 1
			i++
		case c == '#' && i > start && (line[i-1] == ' ' || line[i-1] == '\t'):
			break scan
		case c == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t'):
			break scan
		}
		i++
	}
	if i > len(line) {
		i = len(line)
	}
	for i > start && (line[i-1] == ' ' || line[i-1] == '\t') {
		i--
	}
	return i
}

// addYAMLError reports a syntax error from the parser at its position,
// explaining the classic mistake of an unquoted ${...} that YAML reads as
// a flow mapping or cuts short.
func (c *collector) addYAMLError(err error, src string, holes map[Pos]placeholder) {
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	pos, msg := Pos{1, 1}, err.Error()
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			pos = Pos{tk.Position.Line, tk.Position.Column}
		}
	}
	if m := dupKey.FindStringSubmatch(msg); m != nil {
		c.add(pos, fmt.Sprintf("duplicate key %q (first at %s:%s)", m[1], m[2], m[3]))
		return
	}
	if key, at, ok := unquotedTemplateOnLine(src, pos.Line); ok {
		c.add(Pos{pos.Line, at}, fmt.Sprintf(`a value starting with ${ must be quoted in YAML: %s"${...}"`, key))
		return
	}
	c.add(pos, "invalid YAML: "+msg)
}

// unquotedTemplateOnLine finds an unquoted "${" value on line ln (1-based)
// and returns the text before it ("provider: ") and its column.
func unquotedTemplateOnLine(src string, ln int) (string, int, bool) {
	lines := strings.Split(src, "\n")
	if ln < 1 || ln > len(lines) {
		return "", 0, false
	}
	line := []rune(lines[ln-1])
	for i := 0; i+1 < len(line); i++ {
		if line[i] != '$' || line[i+1] != '{' {
			continue
		}
		j := i - 1
		for j >= 0 && line[j] == ' ' {
			j--
		}
		if j < 0 || (line[j] != ':' && line[j] != '-' && line[j] != '[' && line[j] != ',' && line[j] != '{') {
			continue
		}
		head := strings.TrimLeft(string(line[:i]), " -")
		if k := strings.LastIndexAny(head, "{[,"); k >= 0 {
			head = strings.TrimLeft(head[k+1:], " ")
		}
		return head, i + 1, true
	}
	return "", 0, false
}

type decoder struct {
	c        *collector
	holes    map[Pos]placeholder
	src      string
	anchors  map[string]*yval
	expand   int  // values alias expansions produced so far
	exploded bool // the expansion limit was reported
}

func nodePos(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && !m.IsFlowStyle {
		return nodePos(m.Values[0].Key)
	}
	if s, ok := n.(*ast.SequenceNode); ok && s.Start != nil && s.Start.Position != nil {
		return Pos{s.Start.Position.Line, s.Start.Position.Column}
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		return nodePos(mv.Key)
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return Pos{tk.Position.Line, tk.Position.Column}
	}
	return Pos{}
}

func (d *decoder) node(n ast.Node, depth int) *yval {
	if n == nil {
		return &yval{kind: KindScalar}
	}
	pos := nodePos(n)
	if depth > maxDepth {
		d.c.add(pos, "the document nests too deeply")
		return nil
	}
	v := d.value(n, pos, depth)
	if v == nil {
		return nil
	}
	if v.size == 0 {
		v.size = 1
		for _, e := range v.entries {
			v.size += e.val.size
		}
		for _, it := range v.items {
			v.size += it.size
		}
	}
	// Only what aliases expand to counts: a document without aliases is
	// bounded by its own size, however many members it holds.
	if _, alias := n.(*ast.AliasNode); alias {
		d.expand += v.size
	}
	if d.expand > maxExpand {
		if !d.exploded {
			d.exploded = true
			d.c.add(pos, "the document expands to too many values (aliases)")
		}
		return nil
	}
	return v
}

func (d *decoder) value(n ast.Node, pos Pos, depth int) *yval {
	switch n := n.(type) {
	case *ast.MappingNode:
		v := &yval{kind: KindMap, pos: pos}
		for _, mv := range n.Values {
			d.entry(v, mv, depth)
		}
		return v
	case *ast.MappingValueNode:
		v := &yval{kind: KindMap, pos: pos}
		d.entry(v, n, depth)
		return v
	case *ast.SequenceNode:
		v := &yval{kind: KindList, pos: pos}
		for _, it := range n.Values {
			if x := d.node(it, depth+1); x != nil {
				v.items = append(v.items, x)
			}
		}
		return v
	case *ast.AnchorNode:
		x := d.node(n.Value, depth+1)
		if n.Name != nil && x != nil {
			d.anchors[n.Name.GetToken().Value] = x
		}
		return x
	case *ast.AliasNode:
		name := ""
		if n.Value != nil {
			name = n.Value.GetToken().Value
		}
		x, ok := d.anchors[name]
		if !ok {
			d.c.add(pos, fmt.Sprintf("unknown alias *%s (no anchor &%s before it)", name, name))
			return nil
		}
		return x
	case *ast.TagNode:
		return d.tagged(n, depth)
	case *ast.LiteralNode:
		if n.Value == nil {
			return &yval{kind: KindScalar, pos: pos, val: "", isStr: true}
		}
		return d.blockScalar(n.Value.Value, pos)
	case *ast.StringNode:
		return d.stringNode(n, pos)
	case *ast.IntegerNode:
		text := n.GetToken().Value
		switch x := n.Value.(type) {
		case int64:
			return &yval{kind: KindScalar, pos: pos, val: x}
		case uint64:
			if x <= math.MaxInt64 {
				return &yval{kind: KindScalar, pos: pos, val: int64(x)}
			}
			return &yval{kind: KindScalar, pos: pos, val: float64(x), text: text, bigInt: true}
		}
		// Digits the parser could not hold in 64 bits: still an integer,
		// too large for one (reported as such, not as a string).
		if f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64); err == nil && bigIntText.MatchString(text) {
			return &yval{kind: KindScalar, pos: pos, val: f, text: text, bigInt: true}
		}
		return &yval{kind: KindScalar, pos: pos, val: text, text: text, isStr: true}
	case *ast.FloatNode:
		return &yval{kind: KindScalar, pos: pos, val: n.Value}
	case *ast.InfinityNode:
		return &yval{kind: KindScalar, pos: pos, val: n.Value}
	case *ast.NanNode:
		return &yval{kind: KindScalar, pos: pos, val: math.NaN()}
	case *ast.BoolNode:
		return &yval{kind: KindScalar, pos: pos, val: n.Value}
	case *ast.NullNode:
		return &yval{kind: KindScalar, pos: pos, val: nil}
	case *ast.CommentGroupNode, *ast.CommentNode:
		return &yval{kind: KindScalar, pos: pos}
	}
	d.c.add(pos, fmt.Sprintf("unsupported YAML construct (%s)", n.Type()))
	return nil
}

func (d *decoder) entry(m *yval, mv *ast.MappingValueNode, depth int) {
	if mv == nil || mv.Key == nil {
		return
	}
	keyPos := nodePos(mv.Key)
	if mv.Key.IsMergeKey() {
		d.merge(m, d.node(mv.Value, depth+1), keyPos)
		return
	}
	k := d.node(mv.Key, depth+1)
	if k == nil {
		return
	}
	if k.kind != KindScalar || (k.val != nil && !isScalarKey(k.val)) {
		d.c.add(keyPos, "a key must be a plain name, not a map or a list")
		return
	}
	key := scalarText(k)
	v := d.node(mv.Value, depth+1)
	if v == nil {
		// Keep the key so the loader does not also call it missing.
		v = &yval{kind: KindScalar, pos: nodePos(mv.Value), broken: true, size: 1}
	}
	for i, e := range m.entries {
		if e.key != key {
			continue
		}
		if e.merged {
			m.entries[i] = yentry{key: key, keyPos: keyPos, val: v}
			return
		}
		d.c.add(keyPos, fmt.Sprintf("duplicate key %q (first at %d:%d)", key, e.keyPos.Line, e.keyPos.Col))
		return
	}
	m.entries = append(m.entries, yentry{key: key, keyPos: keyPos, val: v})
}

func isScalarKey(x any) bool {
	switch x.(type) {
	case string, int64, float64, bool:
		return true
	}
	return false
}

// merge applies a "<<" merge key: the entries of a map (or of each map in
// a list) that m does not set itself.
func (d *decoder) merge(m, src *yval, at Pos) {
	if src == nil {
		return
	}
	var maps []*yval
	switch src.kind {
	case KindMap:
		maps = []*yval{src}
	case KindList:
		maps = src.items
	}
	for _, s := range maps {
		if s.kind != KindMap {
			d.c.add(at, "a merge key (<<) takes a map or a list of maps")
			return
		}
	next:
		for _, e := range s.entries {
			for _, have := range m.entries {
				if have.key == e.key {
					continue next
				}
			}
			e.merged = true
			m.entries = append(m.entries, e)
		}
	}
}

func scalarText(v *yval) string {
	if v.isStr {
		return v.text
	}
	switch x := v.val.(type) {
	case nil:
		return "null"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v.val)
}

// tagged applies the core schema tags; others are refused rather than
// silently ignored.
func (d *decoder) tagged(n *ast.TagNode, depth int) *yval {
	pos := nodePos(n)
	tag := ""
	if n.Start != nil {
		tag = n.Start.Value
	}
	v := d.node(n.Value, depth+1)
	if v == nil {
		return nil
	}
	switch tag {
	case "!!str":
		if v.kind == KindScalar && !v.isStr {
			s := n.Value.GetToken().Value
			return &yval{kind: KindScalar, pos: v.pos, val: s, text: s, isStr: true, at: plainAt(v.pos, s)}
		}
	case "!!int", "!!float":
		if v.kind == KindScalar && v.isStr {
			f, err := strconv.ParseFloat(v.text, 64)
			if err != nil {
				d.c.add(pos, fmt.Sprintf("%s: %q is not a number", tag, v.text))
				return nil
			}
			if tag == "!!int" && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return &yval{kind: KindScalar, pos: v.pos, val: int64(f)}
			}
			return &yval{kind: KindScalar, pos: v.pos, val: f}
		}
	case "!!map", "!!seq", "!!bool", "!!null", "!!binary", "!!timestamp":
	default:
		d.c.add(pos, fmt.Sprintf("unsupported YAML tag %s", tag))
		return nil
	}
	return v
}

func (d *decoder) stringNode(n *ast.StringNode, pos Pos) *yval {
	s := n.Value
	tk := n.GetToken()
	if h, ok := d.holes[pos]; ok && strings.HasPrefix(s, h.fill) {
		// A plain scalar continued on the next lines keeps its folded rest.
		t := h.text + s[len(h.fill):]
		return &yval{kind: KindScalar, pos: pos, val: t, text: t, isStr: true, at: plainAt(pos, t)}
	}
	quoted := tk != nil && (tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType)
	if !quoted && len(s) > 18 && bigIntText.MatchString(s) {
		// Plain digits the parser gave up on as an integer: too large for
		// one, not text.
		if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
			return &yval{kind: KindScalar, pos: pos, val: f, text: s, bigInt: true}
		}
	}
	v := &yval{kind: KindScalar, pos: pos, val: s, text: s, isStr: true, at: plainAt(pos, s)}
	if quoted {
		v.at = quotedAt(pos, s)
	}
	return v
}

// plainAt maps a byte offset in a plain scalar to its position: exact on
// the scalar's first line.
func plainAt(start Pos, s string) func(int) Pos {
	return func(off int) Pos { return advance(start, s, off) }
}

// quotedAt maps a byte offset in a quoted scalar's value to its position:
// exact on the first line when no escape comes before it.
func quotedAt(start Pos, s string) func(int) Pos {
	return func(off int) Pos { return advance(Pos{start.Line, start.Col + 1}, s, off) }
}

// blockScalar decodes a "|" or ">" scalar; offsets map line by line to the
// block's text, which starts on the line after the indicator.
func (d *decoder) blockScalar(s string, pos Pos) *yval {
	// The text starts on the line after the indicator, at the block's
	// indentation: that of its first non-blank line.
	start := Pos{pos.Line + 1, 1}
	lines := strings.Split(d.src, "\n")
	for ln := pos.Line; ln < len(lines); ln++ {
		if t := strings.TrimLeft(lines[ln], " "); t != "" && t != "\r" {
			start.Col = len(lines[ln]) - len(t) + 1
			break
		}
	}
	at := func(off int) Pos {
		if off > len(s) {
			off = len(s)
		}
		// Block lines share the first line's indent.
		last := strings.LastIndexByte(s[:off], '\n')
		return Pos{start.Line + strings.Count(s[:off], "\n"), start.Col + utf8.RuneCountInString(s[last+1:off])}
	}
	return &yval{kind: KindScalar, pos: pos, val: s, text: s, isStr: true, at: at}
}

// advance moves p over s[:off] on one line (runes, as columns count).
func advance(p Pos, s string, off int) Pos {
	if off > len(s) {
		off = len(s)
	}
	if off < 0 {
		off = 0
	}
	return Pos{p.Line, p.Col + utf8.RuneCountInString(s[:off])}
}
