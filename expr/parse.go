package expr

import (
	"fmt"
	"slices"
)

// Error is a compile or evaluation error; Offset is a byte offset into the
// source text given to Compile/ParseTemplate (so callers can turn it into
// line:col).
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg) }

func errAt(pos int, format string, args ...any) *Error {
	return &Error{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

type op uint8

const (
	opLit op = iota
	opInput
	opMember // idx
	opLocal  // idx: Vars.Locals[idx]
	opEnv    // env.NAME: name
	opEnvDyn // env[a]
	opProp   // a.name
	opIndex  // a[b]
	opCall   // name(args...)
	opMethod // args[0].name(args[1:]...)
	opArray
	opObject // keys[i]: args[i]
	opNot
	opNeg
	opPos
	opTypeof
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opStrictEq
	opStrictNe
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opAnd
	opOr
	opCoalesce
	opCond // a ? b : c
)

type node struct {
	op      op
	pos     int // offset of the token that names the operation, for errors
	a, b, c *node
	args    []*node
	keys    []string
	name    string
	idx     int
	lit     val
	paren   bool // written in parentheses (allows mixing ?? with && and ||)
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	src    string
	names  *Names
	before int
	tok    token
	err    *Error
	depth  int
	refs   []int
}

func newParser(src string, pos int, names *Names, before int) *parser {
	p := &parser{src: src, names: names, before: before}
	p.lexAt(pos)
	return p
}

// fail records the first error and stops the parse: the current token
// becomes end of input so every loop ends.
func (p *parser) fail(e *Error) {
	if p.err == nil {
		p.err = e
	}
	p.tok = token{k: tEOF, pos: len(p.src), end: len(p.src)}
}

func (p *parser) lexAt(pos int) {
	if p.err != nil {
		return
	}
	t, err := lex(p.src, pos)
	if err != nil {
		p.fail(err)
		return
	}
	p.tok = t
}

func (p *parser) next() { p.lexAt(p.tok.end) }

func (p *parser) is(s string) bool { return p.tok.k == tPunct && p.tok.s == s }

func (p *parser) expect(s, what string) {
	if !p.is(s) {
		p.unexpected(what)
		return
	}
	p.next()
}

func (p *parser) unexpected(want string) {
	if p.err != nil {
		return
	}
	t := p.tok
	// JavaScript tokens the subset leaves out, named as such. (A substring
	// test would misname the supported "*", "." and ">" as unsupported.)
	unsupported := []string{"&", "|", "^", "~", "**", "=>", ";", "...", "#", "@"}
	switch {
	case t.k == tPunct && t.s == "=":
		p.fail(errAt(t.pos, "assignment is not allowed (use === to compare)"))
	case t.k == tPunct && t.s == "`":
		p.fail(errAt(t.pos, "template literals are not supported (use + or a ${...} template)"))
	case t.k == tPunct && slices.Contains(unsupported, t.s):
		p.fail(errAt(t.pos, "operator %s is not supported", t.s))
	default:
		p.fail(errAt(t.pos, "unexpected %s (expected %s)", t, want))
	}
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		p.fail(errAt(p.tok.pos, "expression is nested too deeply"))
		return false
	}
	return true
}

func (p *parser) leave() { p.depth-- }

// expression := short [ "?" expression ":" expression ]
func (p *parser) expression() *node {
	if !p.enter() {
		return &node{}
	}
	defer p.leave()
	n := p.short()
	if p.is("?") {
		pos := p.tok.pos
		p.next()
		yes := p.expression()
		p.expect(":", `":" of the ?: operator`)
		no := p.expression()
		n = &node{op: opCond, pos: pos, a: n, b: yes, c: no}
	}
	return n
}

// short parses || and ??, which JavaScript forbids mixing with && and ||
// without parentheses.
func (p *parser) short() *node {
	left := p.and()
	if p.is("??") {
		if left.op == opAnd && !left.paren {
			p.fail(errAt(p.tok.pos, "cannot mix ?? with && or || without parentheses"))
			return left
		}
		for p.is("??") {
			pos := p.tok.pos
			p.next()
			left = &node{op: opCoalesce, pos: pos, a: left, b: p.equality()}
		}
		if p.is("&&") || p.is("||") {
			p.fail(errAt(p.tok.pos, "cannot mix ?? with && or || without parentheses"))
		}
		return left
	}
	for p.is("||") {
		pos := p.tok.pos
		p.next()
		left = &node{op: opOr, pos: pos, a: left, b: p.and()}
	}
	if p.is("??") {
		p.fail(errAt(p.tok.pos, "cannot mix ?? with && or || without parentheses"))
	}
	return left
}

func (p *parser) and() *node {
	left := p.equality()
	for p.is("&&") {
		pos := p.tok.pos
		p.next()
		left = &node{op: opAnd, pos: pos, a: left, b: p.equality()}
	}
	return left
}

func (p *parser) binary(next func() *node, ops func(string) (op, bool)) *node {
	left := next()
	for p.tok.k == tPunct {
		o, ok := ops(p.tok.s)
		if !ok {
			break
		}
		pos := p.tok.pos
		p.next()
		left = &node{op: o, pos: pos, a: left, b: next()}
	}
	return left
}

func (p *parser) equality() *node {
	return p.binary(p.relational, func(s string) (op, bool) {
		switch s {
		case "===":
			return opStrictEq, true
		case "!==":
			return opStrictNe, true
		case "==":
			return opEq, true
		case "!=":
			return opNe, true
		}
		return 0, false
	})
}

func (p *parser) relational() *node {
	return p.binary(p.additive, func(s string) (op, bool) {
		switch s {
		case "<":
			return opLt, true
		case "<=":
			return opLe, true
		case ">":
			return opGt, true
		case ">=":
			return opGe, true
		}
		return 0, false
	})
}

func (p *parser) additive() *node {
	return p.binary(p.multiplicative, func(s string) (op, bool) {
		switch s {
		case "+":
			return opAdd, true
		case "-":
			return opSub, true
		}
		return 0, false
	})
}

func (p *parser) multiplicative() *node {
	return p.binary(p.unary, func(s string) (op, bool) {
		switch s {
		case "*":
			return opMul, true
		case "/":
			return opDiv, true
		case "%":
			return opMod, true
		}
		return 0, false
	})
}

func (p *parser) unary() *node {
	if !p.enter() {
		return &node{}
	}
	defer p.leave()
	var o op
	switch {
	case p.is("!"):
		o = opNot
	case p.is("-"):
		o = opNeg
	case p.is("+"):
		o = opPos
	case p.tok.k == tIdent && p.tok.s == "typeof" && !p.longerMember():
		o = opTypeof
	default:
		return p.postfix()
	}
	pos := p.tok.pos
	p.next()
	return &node{op: o, pos: pos, a: p.unary()}
}

// postfix := primary { "." name [args] | "?." name [args] | "?." "[" e "]" | "[" e "]" }
// Optional chaining needs no node of its own: reading a property of null or
// undefined already gives undefined.
func (p *parser) postfix() *node {
	n := p.primary()
	for p.err == nil {
		switch {
		case p.is(".") || p.is("?."):
			optional := p.is("?.")
			p.next()
			if optional && p.is("[") {
				n = p.indexSuffix(n)
				continue
			}
			n = p.member(n)
		case p.is("["):
			n = p.indexSuffix(n)
		case p.is("("):
			p.fail(errAt(p.tok.pos, "only built-in functions can be called (%s)", builtinList()))
		default:
			return n
		}
	}
	return n
}

func (p *parser) indexSuffix(n *node) *node {
	pos := p.tok.pos
	p.next()
	key := p.expression()
	p.expect("]", `"]"`)
	return &node{op: opIndex, pos: pos, a: n, b: key}
}

// member parses the name after "." and, when a "(" follows, a method call.
func (p *parser) member(n *node) *node {
	if p.tok.k != tIdent {
		p.unexpected("a property name")
		return n
	}
	name, pos := p.tok.s, p.tok.pos
	p.next()
	if !p.is("(") {
		return &node{op: opProp, pos: pos, a: n, name: name}
	}
	b, ok := lookupMethod(name)
	if !ok {
		p.fail(errAt(pos, "unknown method %s (methods: %s)", name, methodList()))
		return n
	}
	args := p.arguments(name, b)
	return &node{op: opMethod, pos: pos, name: name, args: append([]*node{n}, args...)}
}

// arguments parses "(" args ")" and checks their count.
func (p *parser) arguments(name string, b builtin) []*node {
	open := p.tok.pos
	p.next()
	var args []*node
	for !p.is(")") && p.err == nil {
		args = append(args, p.expression())
		if !p.is(",") {
			break
		}
		p.next()
	}
	p.expect(")", `"," or ")" in the argument list`)
	if p.err == nil && (len(args) < b.min || len(args) > b.max) {
		want := fmt.Sprint(b.min)
		if b.max > b.min {
			want = fmt.Sprintf("%d to %d", b.min, b.max)
		}
		p.fail(errAt(open, "%s takes %s argument(s), got %d", name, want, len(args)))
	}
	return args
}

func (p *parser) primary() *node {
	t := p.tok
	switch t.k {
	case tNum:
		p.next()
		return &node{op: opLit, pos: t.pos, lit: val{k: kNum, n: t.n, x: t.n}}
	case tStr:
		p.next()
		return &node{op: opLit, pos: t.pos, lit: val{k: kStr, s: t.s, x: t.s}}
	case tIdent:
		return p.name()
	case tPunct:
		switch t.s {
		case "(":
			p.next()
			n := p.expression()
			p.expect(")", `")"`)
			n.paren = true
			return n
		case "[":
			return p.arrayLit()
		case "{":
			return p.objectLit()
		}
	}
	p.unexpected("a value")
	return &node{}
}

func (p *parser) arrayLit() *node {
	pos := p.tok.pos
	p.next()
	n := &node{op: opArray, pos: pos}
	for !p.is("]") && p.err == nil {
		if p.is(",") {
			p.fail(errAt(p.tok.pos, "array holes are not supported"))
			break
		}
		n.args = append(n.args, p.expression())
		if !p.is(",") {
			break
		}
		p.next()
	}
	p.expect("]", `"," or "]" in the array`)
	return n
}

func (p *parser) objectLit() *node {
	pos := p.tok.pos
	p.next()
	n := &node{op: opObject, pos: pos}
	for !p.is("}") && p.err == nil {
		var key string
		switch p.tok.k {
		case tIdent, tStr:
			key = p.tok.s
		case tNum:
			key = numToString(p.tok.n)
		default:
			p.unexpected("a property name")
			return n
		}
		p.next()
		p.expect(":", `":" after the property name`)
		n.keys = append(n.keys, key)
		n.args = append(n.args, p.expression())
		if !p.is(",") {
			break
		}
		p.next()
	}
	p.expect("}", `"," or "}" in the object`)
	return n
}

// name resolves a bare name: the longest member name written here, then
// the language's own names, then built-in functions, then an exact member.
func (p *parser) name() *node {
	t := p.tok
	if idx, l := p.names.longestAt(p.src, t.pos); l > len(t.s) {
		// A hyphenated member name: continue lexing after it.
		return p.memberRef(idx, t.pos, t.pos+l)
	}
	if b, ok := lookupFunc(t.s); ok {
		if nt, err := lex(p.src, t.end); err == nil && nt.k == tPunct && nt.s == "(" {
			p.next()
			return &node{op: opCall, pos: t.pos, name: t.s, args: p.arguments(t.s, b)}
		}
	}
	switch t.s {
	case "true", "false":
		p.next()
		return &node{op: opLit, pos: t.pos, lit: boolVal(t.s == "true")}
	case "null":
		p.next()
		return &node{op: opLit, pos: t.pos, lit: val{k: kNull}}
	case "undefined":
		p.next()
		return &node{op: opLit, pos: t.pos}
	case "NaN", "Infinity":
		p.next()
		return &node{op: opLit, pos: t.pos, lit: numVal(strToNum(t.s))}
	case "input":
		p.next()
		return &node{op: opInput, pos: t.pos}
	case "env":
		return p.env()
	case "JSON":
		return p.jsonStringify()
	}
	if idx := p.names.local(t.s); idx >= 0 {
		p.next()
		return &node{op: opLocal, pos: t.pos, idx: idx}
	}
	if idx := p.names.lookup(t.s); idx >= 0 {
		return p.memberRef(idx, t.pos, t.end)
	}
	p.fail(errAt(t.pos, "%s", p.names.unknownName(hyphenated(p.src, t.pos))))
	return &node{}
}

// longerMember reports whether a hyphenated member name starts at the
// current identifier, so typeof-check is that member, not typeof -check.
func (p *parser) longerMember() bool {
	_, l := p.names.longestAt(p.src, p.tok.pos)
	return l > len(p.tok.s)
}

// hyphenated returns the a-b-c run of identifier parts at pos, which is how
// a user most likely spelled the member name that was not found.
func hyphenated(src string, pos int) string {
	end := pos
	for end < len(src) {
		if isIdentPart(src[end]) {
			end++
			continue
		}
		if src[end] == '-' && end+1 < len(src) && isIdentStart(src[end+1]) {
			end++
			continue
		}
		break
	}
	return src[pos:end]
}

func (p *parser) memberRef(idx, pos, end int) *node {
	name := p.names.Members[idx]
	switch {
	case idx == p.before:
		p.fail(errAt(pos, "member %s cannot refer to its own result (only earlier members)", name))
	case idx > p.before:
		p.fail(errAt(pos, "member %s runs later than this one", name))
	}
	if !slices.Contains(p.refs, idx) {
		p.refs = append(p.refs, idx)
	}
	p.lexAt(end)
	return &node{op: opMember, pos: pos, idx: idx}
}

// env allows env.NAME and env[expr] only: the whole environment is never a
// value, so it cannot be printed into a prompt by accident.
func (p *parser) env() *node {
	pos := p.tok.pos
	p.next()
	optional := p.is("?.")
	switch {
	case p.is(".") || optional:
		p.next()
		if p.tok.k == tIdent {
			name := p.tok.s
			p.next()
			return &node{op: opEnv, pos: pos, name: name}
		}
		if optional && p.is("[") {
			return p.envIndex(pos)
		}
	case p.is("["):
		return p.envIndex(pos)
	}
	p.fail(errAt(pos, "env is read one variable at a time: env.NAME or env['NAME']"))
	return &node{}
}

func (p *parser) envIndex(pos int) *node {
	p.next()
	key := p.expression()
	p.expect("]", `"]"`)
	return &node{op: opEnvDyn, pos: pos, a: key}
}

func (p *parser) jsonStringify() *node {
	pos := p.tok.pos
	p.next()
	if !p.is(".") {
		p.fail(errAt(pos, "JSON is only usable as JSON.stringify(value)"))
		return &node{}
	}
	p.next()
	if p.tok.k != tIdent || p.tok.s != "stringify" {
		p.fail(errAt(p.tok.pos, "JSON is only usable as JSON.stringify(value)"))
		return &node{}
	}
	p.next()
	if !p.is("(") {
		p.fail(errAt(p.tok.pos, "JSON is only usable as JSON.stringify(value)"))
		return &node{}
	}
	b, _ := lookupFunc("json")
	args := p.arguments("JSON.stringify", builtin{min: 1, max: 3, fn: b.fn})
	if len(args) >= 2 {
		// JSON.stringify(value, replacer, space): replacers are not
		// supported, only null or undefined in that place.
		if r := args[1]; r.op != opLit || r.lit.k > kNull {
			p.fail(errAt(r.pos, "JSON.stringify replacer must be null"))
		}
		args = append(args[:1], args[2:]...)
	}
	return &node{op: opCall, pos: pos, name: "json", args: args}
}
