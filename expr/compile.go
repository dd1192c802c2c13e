package expr

import (
	"math"
	"slices"
)

// Vars are what an evaluation sees. Members[i] is member i's result (map[string]any built by the engine), nil when it has not run.
type Vars struct {
	Input   any
	Env     func(name string) (string, bool) // nil: empty environment
	Members []any
	// Locals are the values of Names.Locals, in order; a missing one is
	// undefined.
	Locals []any
}

// evalFn is a compiled expression. Values travel unboxed (val) so that
// arithmetic and comparisons do not allocate.
type evalFn func(v *Vars) (val, error)

// Program is a compiled expression, safe for concurrent use.
type Program struct {
	src  string
	fn   evalFn
	refs []int
}

// Compile compiles one expression (the text inside ${...}). before is the
// index of the member whose config holds the expression: only members with
// index < before may be referenced; pass len(names.Members) for the ensemble
// output (every member visible).
func Compile(src string, names *Names, before int) (*Program, error) {
	p := newParser(src, 0, names, before)
	if p.tok.k == tEOF && p.err == nil {
		return nil, errAt(0, "empty expression")
	}
	n := p.expression()
	if p.err == nil && p.tok.k != tEOF {
		p.unexpected("an operator or the end of the expression")
	}
	if p.err != nil {
		return nil, p.err
	}
	return newProgram(src, n, p.refs), nil
}

func newProgram(src string, n *node, refs []int) *Program {
	refs = slices.Clone(refs)
	slices.Sort(refs)
	return &Program{src: src, fn: compile(n), refs: refs}
}

// Eval evaluates the program. The result is nil (null), Undefined, bool,
// float64, string, or an array or object: the caller's own value when the
// expression returns one unchanged, []any or map[string]any when it builds
// one.
func (p *Program) Eval(v *Vars) (any, error) {
	r, err := p.fn(v)
	if err != nil {
		return nil, err
	}
	return toAny(r), nil
}

// Refs returns the indexes of the members the program references, ascending.
func (p *Program) Refs() []int { return slices.Clone(p.refs) }

// Source returns the expression text as given to Compile.
func (p *Program) Source() string { return p.src }

func compile(n *node) evalFn {
	switch n.op {
	case opLit:
		l := n.lit
		return func(*Vars) (val, error) { return l, nil }
	case opInput, opMember, opLocal, opProp:
		if f := compilePath(n); f != nil {
			return f
		}
		a := compile(n.a)
		name := n.name
		return func(v *Vars) (val, error) {
			x, err := a(v)
			if err != nil {
				return val{}, err
			}
			return getProp(x, name), nil
		}
	case opEnv:
		name := n.name
		return func(v *Vars) (val, error) { return envLookup(v, name), nil }
	case opEnvDyn:
		a := compile(n.a)
		return func(v *Vars) (val, error) {
			k, err := a(v)
			if err != nil {
				return val{}, err
			}
			return envLookup(v, toString(k)), nil
		}
	case opIndex:
		if f := compilePath(n); f != nil {
			return f
		}
		a, b := compile(n.a), compile(n.b)
		return func(v *Vars) (val, error) {
			x, err := a(v)
			if err != nil {
				return val{}, err
			}
			k, err := b(v)
			if err != nil {
				return val{}, err
			}
			return index(x, k), nil
		}
	case opCall, opMethod:
		return compileCall(n)
	case opArray:
		elems := compileAll(n.args)
		return func(v *Vars) (val, error) {
			out := make([]any, len(elems))
			for i, e := range elems {
				x, err := e(v)
				if err != nil {
					return val{}, err
				}
				// JSON has no undefined: an array slot holds null.
				if x.k == kUndef {
					out[i] = nil
					continue
				}
				out[i] = toAny(x)
			}
			return val{k: kArr, x: out}, nil
		}
	case opObject:
		vals := compileAll(n.args)
		keys := n.keys
		return func(v *Vars) (val, error) {
			out := make(map[string]any, len(vals))
			for i, e := range vals {
				x, err := e(v)
				if err != nil {
					return val{}, err
				}
				out[keys[i]] = toAny(x)
			}
			return val{k: kObj, x: out}, nil
		}
	case opNot, opNeg, opPos, opTypeof:
		return compileUnary(n.op, compile(n.a))
	case opAnd, opOr, opCoalesce:
		return compileLogical(n.op, compile(n.a), compile(n.b))
	case opCond:
		c, yes, no := compile(n.a), compile(n.b), compile(n.c)
		return func(v *Vars) (val, error) {
			x, err := c(v)
			if err != nil {
				return val{}, err
			}
			if truthy(x) {
				return yes(v)
			}
			return no(v)
		}
	}
	return compileBinary(n.op, compile(n.a), compile(n.b))
}

func compileAll(ns []*node) []evalFn {
	fs := make([]evalFn, len(ns))
	for i, n := range ns {
		fs[i] = compile(n)
	}
	return fs
}

func envLookup(v *Vars, name string) val {
	if v == nil || v.Env == nil {
		return val{}
	}
	s, ok := v.Env(name)
	if !ok {
		return val{}
	}
	return strVal(s)
}

func memberVal(v *Vars, i int) val {
	if v == nil || i >= len(v.Members) || v.Members[i] == nil {
		return val{} // a member that has not run is undefined
	}
	return fromAny(v.Members[i])
}

// compilePath turns input.a.b or member.a[0].b, the commonest expressions,
// into one closure that walks the keys in a loop.
func compilePath(n *node) evalFn {
	var keys []val
	for n.op == opProp || n.op == opIndex && n.b.op == opLit {
		if n.op == opProp {
			keys = append(keys, val{k: kStr, s: n.name})
		} else {
			keys = append(keys, n.b.lit)
		}
		n = n.a
	}
	slices.Reverse(keys)
	switch n.op {
	case opInput:
		return func(v *Vars) (val, error) {
			if v == nil {
				return val{}, nil
			}
			return walk(fromAny(v.Input), keys), nil
		}
	case opMember:
		idx := n.idx
		return func(v *Vars) (val, error) { return walk(memberVal(v, idx), keys), nil }
	case opLocal:
		idx := n.idx
		return func(v *Vars) (val, error) {
			if v == nil || idx >= len(v.Locals) {
				return val{}, nil
			}
			return walk(fromAny(v.Locals[idx]), keys), nil
		}
	}
	return nil
}

func walk(x val, keys []val) val {
	for _, k := range keys {
		if x.k < kStr {
			return val{} // property of null, undefined, a number or a boolean
		}
		if k.k == kStr {
			x = getProp(x, k.s)
		} else {
			x = index(x, k)
		}
	}
	return x
}

func compileCall(n *node) evalFn {
	var b builtin
	if n.op == opCall {
		b, _ = lookupFunc(n.name)
	} else {
		b, _ = lookupMethod(n.name)
	}
	args := compileAll(n.args)
	fn, pos, name := b.fn, n.pos, n.name
	return func(v *Vars) (val, error) {
		a := argv{n: len(args)}
		for i, f := range args {
			x, err := f(v)
			if err != nil {
				return val{}, err
			}
			a.a[i] = x
		}
		r, err := fn(a)
		if err != nil {
			return val{}, errAt(pos, "%s: %v", name, err)
		}
		return r, nil
	}
}

func compileUnary(o op, a evalFn) evalFn {
	switch o {
	case opNot:
		return func(v *Vars) (val, error) {
			x, err := a(v)
			return boolVal(!truthy(x)), err
		}
	case opNeg:
		return func(v *Vars) (val, error) {
			x, err := a(v)
			return numVal(-toNumber(x)), err
		}
	case opPos:
		return func(v *Vars) (val, error) {
			x, err := a(v)
			return numVal(toNumber(x)), err
		}
	}
	return func(v *Vars) (val, error) {
		x, err := a(v)
		return strVal(typeOf(x)), err
	}
}

// compileLogical builds && || ??, which return one of their operands and
// evaluate the right one only when needed.
func compileLogical(o op, a, b evalFn) evalFn {
	return func(v *Vars) (val, error) {
		x, err := a(v)
		if err != nil {
			return val{}, err
		}
		switch o {
		case opAnd:
			if !truthy(x) {
				return x, nil
			}
		case opOr:
			if truthy(x) {
				return x, nil
			}
		default:
			if x.k > kNull {
				return x, nil
			}
		}
		return b(v)
	}
}

func compileBinary(o op, a, b evalFn) evalFn {
	f := binaryOp(o)
	return func(v *Vars) (val, error) {
		x, err := a(v)
		if err != nil {
			return val{}, err
		}
		y, err := b(v)
		if err != nil {
			return val{}, err
		}
		return f(x, y), nil
	}
}

func binaryOp(o op) func(x, y val) val {
	switch o {
	case opAdd:
		return add
	case opSub:
		return func(x, y val) val { return numVal(toNumber(x) - toNumber(y)) }
	case opMul:
		return func(x, y val) val { return numVal(toNumber(x) * toNumber(y)) }
	case opDiv:
		return func(x, y val) val { return numVal(toNumber(x) / toNumber(y)) }
	case opMod:
		return func(x, y val) val { return numVal(math.Mod(toNumber(x), toNumber(y))) }
	case opStrictEq:
		return func(x, y val) val { return boolVal(strictEq(x, y)) }
	case opStrictNe:
		return func(x, y val) val { return boolVal(!strictEq(x, y)) }
	case opEq:
		return func(x, y val) val { return boolVal(looseEq(x, y)) }
	case opNe:
		return func(x, y val) val { return boolVal(!looseEq(x, y)) }
	case opLt:
		return func(x, y val) val { lt, _ := lessThan(x, y); return boolVal(lt) }
	case opGt:
		return func(x, y val) val { lt, _ := lessThan(y, x); return boolVal(lt) }
	case opLe:
		return func(x, y val) val { gt, ok := lessThan(y, x); return boolVal(ok && !gt) }
	case opGe:
		return func(x, y val) val { lt, ok := lessThan(x, y); return boolVal(ok && !lt) }
	}
	panic("expr: unknown binary operator") // unreachable: the parser makes only the ops above
}
