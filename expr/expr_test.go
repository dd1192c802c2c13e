package expr

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// flow is the members of a flow used across tests, in order.
var flowMembers = []string{"classify", "classify-intent", "quick-answer", "generate-content", "generate-content-fallback", "a", "b", "a-b", "step-1", "json"}

func flowVars() *Vars {
	return &Vars{
		Input: map[string]any{"requestId": 7.0, "text": "Hello", "user": map[string]any{"id": "u1"}},
		Env:   testEnv,
		Members: []any{
			map[string]any{"output": "simple", "success": true},
			map[string]any{"output": map[string]any{"intent": "complex"}, "success": true},
			map[string]any{"output": "short", "success": true, "scoring": map[string]any{"score": 0.55}},
			map[string]any{"success": false, "error": "503"},
			nil, // generate-content-fallback has not run
			map[string]any{"output": 10.0},
			map[string]any{"output": 3.0},
			map[string]any{"output": "ab"},
			map[string]any{"output": "one"},
			map[string]any{"output": "j"},
		},
	}
}

func evalStr(t *testing.T, src string, names *Names, before int, v *Vars) any {
	t.Helper()
	p, err := Compile(src, names, before)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	got, err := p.Eval(v)
	if err != nil {
		t.Fatalf("Eval(%q): %v", src, err)
	}
	return got
}

func TestMembers(t *testing.T) {
	names := NewNames(flowMembers)
	all := len(flowMembers)
	tests := []struct {
		src    string
		before int
		want   any
		refs   []int
	}{
		{"classify-intent.output.intent === 'complex'", 2, true, []int{1}},
		{"classify.output", 2, "simple", []int{0}},
		{"quick-answer.scoring.score < 0.7", 3, true, []int{2}},
		{"quick-answer.scoring.score", 3, 0.55, []int{2}},
		{"!generate-content.success", 4, true, []int{3}},
		{"generate-content.error", 4, "503", []int{3}},
		// A member that has not run is undefined; so is everything under it.
		{"generate-content-fallback", all, Undefined{}, []int{4}},
		{"generate-content-fallback.output ?? generate-content.error", all, "503", []int{3, 4}},
		{"!generate-content-fallback.success", all, true, []int{4}},
		// Longest member name wins; where none matches, - is subtraction.
		{"a-b.output", all, "ab", []int{7}},
		{"a.output-b.output", all, 7.0, []int{5, 6}},
		{"a.output - b.output", all, 7.0, []int{5, 6}},
		{"a -b.output", all, Undefined{}, []int{6}[:0:0]}, // replaced below
		{"step-1.output", all, "one", []int{8}},
		{"classify-intent.output.intent+classify.output", 2, "complexsimple", []int{0, 1}},
		// A member named like a function is the member unless called.
		{"json.output", all, "j", []int{9}},
		{"json(a.output)", all, "10", []int{5}},
		{"[classify.output, quick-answer.output]", 3, []any{"simple", "short"}, []int{0, 2}},
		{"input.requestId % 2 === 0 ? 'openai' : 'anthropic'", 0, "anthropic", nil},
		{"input.user.id", 0, "u1", nil},
		{"input.text.length", 0, 5.0, nil},
	}
	// "a -b.output": a minus b.output, an object minus a number: NaN.
	tests[12] = struct {
		src    string
		before int
		want   any
		refs   []int
	}{"a -b.output", all, math.NaN(), []int{5, 6}}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(tt.src, names, tt.before)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Eval(flowVars())
			if err != nil {
				t.Fatal(err)
			}
			if !sameResult(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if refs := p.Refs(); !reflect.DeepEqual(refs, tt.refs) && (len(refs) != 0 || len(tt.refs) != 0) {
				t.Errorf("Refs() = %v, want %v", refs, tt.refs)
			}
		})
	}
}

// sameResult is reflect.DeepEqual except that NaN equals NaN.
func sameResult(got, want any) bool {
	if g, ok := got.(float64); ok {
		if w, ok := want.(float64); ok && math.IsNaN(g) && math.IsNaN(w) {
			return true
		}
	}
	return reflect.DeepEqual(got, want)
}

func TestCompileErrors(t *testing.T) {
	names := NewNames(flowMembers)
	tests := []struct {
		src    string
		before int
		offset int
		msg    string // substring of Error.Msg
	}{
		{"", 0, 0, "empty expression"},
		{"   ", 0, 0, "empty expression"},
		{"quick-answer.output", 2, 0, "member quick-answer cannot refer to its own result"},
		{"1 + quick-answer.output", 1, 4, "member quick-answer runs later than this one"},
		{"classify-intent.output", 0, 0, "member classify-intent runs later than this one"},
		{"input.x && generate-content-fallback.success", 4, 11, "cannot refer to its own result"},
		{"foo", 3, 0, "unknown name foo; known: input, env, and members classify, classify-intent"},
		{"quik-answer.output", 3, 0, "unknown name quik-answer; known: input, env, and members classify, classify-intent, quick-answer, generate-content, generate-content-fallback, a, b, a-b, step-1, json (did you mean quick-answer?)"},
		{"inptu.x", 3, 0, "(did you mean input?)"},
		{"input.x === 'a' || clasify.output", 3, 19, "did you mean classify?"},
		{"input.", 0, 6, "unexpected end of expression (expected a property name)"},
		{"1 +", 0, 3, "expected a value"},
		{"(1", 0, 2, `expected ")"`},
		{"1 2", 0, 2, "unexpected number 2"},
		{"input.a = 1", 0, 8, "assignment is not allowed"},
		{"input & b", 0, 6, "operator & is not supported"},
		{"input ?? 1 || 2", 0, 11, "cannot mix ?? with && or ||"},
		{"input && 1 ?? 2", 0, 11, "cannot mix ?? with && or ||"},
		{"input || 1 ?? 2", 0, 11, "cannot mix ?? with && or ||"},
		{"'abc", 0, 0, "unterminated string"},
		{"'a\nb'", 0, 0, "unterminated string"},
		{`'\u12'`, 0, 1, `malformed \u escape`},
		{`'\x4'`, 0, 1, `malformed \x escape`},
		{`'\1'`, 0, 1, "octal escapes are not allowed"},
		{"012", 0, 0, "numbers cannot start with 0"},
		{"1e", 0, 1, "malformed exponent"},
		{"3in", 0, 1, `unexpected 'i' after number`},
		{"0x", 0, 0, "malformed number 0x"},
		{"input(1)", 0, 5, "only built-in functions can be called"},
		{"input.x(1)", 0, 6, "unknown method x (methods: includes,"},
		{"input.x.foo()", 0, 8, "unknown method foo"},
		{"lower()", 0, 5, "lower takes 1 argument(s), got 0"},
		{"includes('a')", 0, 8, "includes takes 2 argument(s), got 1"},
		{"json(1, 2, 3)", 0, 4, "json takes 1 to 2 argument(s), got 3"},
		{"env", 0, 0, "env is read one variable at a time"},
		{"env + 1", 0, 0, "env is read one variable at a time"},
		{"JSON.parse('1')", 0, 5, "JSON is only usable as JSON.stringify(value)"},
		{"JSON.stringify(1, input)", 0, 18, "JSON.stringify replacer must be null"},
		{"x => 1", 0, 0, "unknown name x"},
		{"`a`", 0, 0, "template literals are not supported"},
		{"[1,,2]", 0, 3, "array holes are not supported"},
		{"{a 1}", 0, 3, `":" after the property name`},
		{"1 ? 2", 0, 5, `":" of the ?: operator`},
		{"a.output; 1", 9, 8, "operator ; is not supported"},
		{"#", 0, 0, "operator # is not supported"},
		{"input.a ** 2", 0, 8, "operator ** is not supported"},
		{"* 2", 0, 0, `unexpected "*" (expected a value)`},
		{"1 + > 2", 0, 4, `unexpected ">" (expected a value)`},
		{"input..a", 0, 6, `unexpected "." (expected a property name)`},
		{"1 £ 2", 0, 2, "unexpected character '£'"},
		{strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), 0, 100, "nested too deeply"},
		{strings.Repeat("!", 500) + "1", 0, 199, "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(tt.src, names, tt.before)
			if err == nil {
				t.Fatalf("Compile succeeded: %v", p.Source())
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if e.Offset != tt.offset || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got offset %d %q, want offset %d containing %q", e.Offset, e.Msg, tt.offset, tt.msg)
			}
		})
	}
}

// TestNamesLiteral checks that a Names built as a struct literal (no
// NewNames) resolves like an indexed one.
func TestNamesLiteral(t *testing.T) {
	names := &Names{Members: flowMembers}
	got := evalStr(t, "classify-intent.output.intent + a-b.output", names, len(flowMembers), flowVars())
	if got != "complexab" {
		t.Errorf("got %#v", got)
	}
	if _, err := Compile("classify", nil, 0); err == nil || !strings.Contains(err.Error(), "unknown name classify; known: input, env") {
		t.Errorf("nil Names: %v", err)
	}
}

func TestReserved(t *testing.T) {
	for _, name := range []string{"input", "env", "true", "undefined", "typeof", "JSON"} {
		if !Reserved(name) {
			t.Errorf("Reserved(%q) = false", name)
		}
	}
	for _, name := range []string{"quick-answer", "json", "lower", "inputs"} {
		if Reserved(name) {
			t.Errorf("Reserved(%q) = true", name)
		}
	}
	// A member named input stays shadowed; input-parser, typeof-check,
	// env-reader and true-or-false are reachable.
	names := NewNames([]string{"input", "input-parser", "typeof-check", "env-reader", "true-or-false"})
	v := &Vars{Input: "in", Members: []any{"member", map[string]any{"output": "parsed"}, map[string]any{"output": 1.0}, map[string]any{"output": 2.0}, map[string]any{"output": 3.0}}}
	if got := evalStr(t, "typeof-check.output + env-reader.output * true-or-false.output", names, 5, v); got != 7.0 {
		t.Errorf("hyphenated members after reserved words = %#v", got)
	}
	if got := evalStr(t, "typeof typeof-check.output", names, 5, v); got != "number" {
		t.Errorf("typeof typeof-check.output = %#v", got)
	}
	if got := evalStr(t, "input", names, 2, v); got != "in" {
		t.Errorf("input = %#v", got)
	}
	if got := evalStr(t, "input-parser.output", names, 2, v); got != "parsed" {
		t.Errorf("input-parser.output = %#v", got)
	}
}

// TestForgiving covers the documented departures from JavaScript.
func TestForgiving(t *testing.T) {
	v := &Vars{Input: map[string]any{"n": 5.0, "s": "x", "nul": nil, "arr": []any{5.0}, "obj": map[string]any{"k": 1.0}}}
	tests := []struct {
		src  string
		want any
	}{
		{"input.nope.deeper.still", Undefined{}},
		{"input.nul.x", Undefined{}},
		{"input.n.x", Undefined{}},
		{"input.nope.toLowerCase()", Undefined{}},
		{"input.n.includes('5')", Undefined{}},
		{"input.n.startsWith('5')", Undefined{}},
		{"input.nope[0]", Undefined{}},
		{"'' + input.arr", "[5]"},
		{"'' + input.obj", `{"k":1}`},
		{"input.arr == '[5]'", true},
		{"input.arr == input.obj", false},
		{"input.arr === input.arr", true},
		{"input.obj === input.obj", true},
		{"[1] === [1]", false},
		{"+input.arr", math.NaN()},
		{"input.arr + 1", "[5]1"},
		{"input.arr < 6", false},
		{"{b: 2, a: [1, undefined]}", map[string]any{"b": 2.0, "a": []any{1.0, nil}}},
		{"{b: undefined}.b", Undefined{}},
		{"JSON.stringify({b: 2, a: 1})", `{"a":1,"b":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			if got := evalStr(t, tt.src, nil, 0, v); !sameResult(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFunctions(t *testing.T) {
	v := &Vars{Input: map[string]any{
		"s": "Hello World", "arr": []any{"a", 2.0, nil}, "obj": map[string]any{"k": "v", "n": 1.0},
		"emoji": "😀!", "num": 12.5,
	}}
	tests := []struct {
		src  string
		want any
	}{
		{"length(input.s)", 11.0},
		{"length(input.emoji)", 3.0},
		{"length(input.arr)", 3.0},
		{"length(input.obj)", 2.0},
		{"length(input.nope)", 0.0},
		{"length(null)", 0.0},
		{"length(12.5)", 4.0},
		{"length(true)", 4.0},
		{"lower(input.s)", "hello world"},
		{"upper(input.s)", "HELLO WORLD"},
		{"upper('straße')", "STRASSE"},
		{"lower(42)", "42"},
		{"lower(input.nope)", Undefined{}},
		{"upper(null)", nil},
		{"trim('  a b  ')", "a b"},
		{"includes(input.s, 'World')", true},
		{"includes(input.s, 'world')", false},
		{"includes(input.arr, 2)", true},
		{"includes(input.arr, '2')", false},
		{"includes(input.arr, null)", true},
		{"includes(input.obj, 'k')", true},
		{"includes(input.obj, 'v')", false},
		{"includes(input.nope, 'x')", false},
		{"includes(12.5, '.5')", true},
		{"startsWith(input.s, 'Hell')", true},
		{"startsWith(input.s, 'hell')", false},
		{"startsWith(input.nope, '')", false},
		{"startsWith(123, 12)", true},
		{"endsWith(input.s, 'World')", true},
		{"endsWith(input.s, 'x')", false},
		{"json(input.obj)", `{"k":"v","n":1}`},
		{"json(input.arr)", `["a",2,null]`},
		{"json(input.nope)", Undefined{}},
		{"json('x')", `"x"`},
		{"json([1], 1)", "[\n 1\n]"},
		{"JSON.stringify(input.obj, undefined, 1)", "{\n \"k\": \"v\",\n \"n\": 1\n}"},
		{"JSON.stringify(input.num, null)", "12.5"},
		{"String(input.arr)", `["a",2,null]`},
		{"Number('0x1f')", 31.0},
		{"Boolean(input.nope)", false},
		{"input.s.toLowerCase().includes('world')", true},
		{"input.arr.includes('a')", true},
		{"input.s.endsWith('d') && input.s.startsWith('H')", true},
		{"input.s.trim().toUpperCase()", "HELLO WORLD"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			if got := evalStr(t, tt.src, nil, 0, v); !sameResult(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

type scoring struct {
	Score  float64 `json:"score"`
	Passed bool    `json:"passed"`
	Hidden string  `json:"-"`
	Plain  int
	inner  int
}

type label string

func TestGoValues(t *testing.T) {
	score := &scoring{Score: 0.9, Passed: true, Hidden: "h", Plain: 3, inner: 4}
	in := map[string]any{
		"i": 42, "i64": int64(-3), "i32": int32(5), "u": uint64(7), "u8": uint8(8), "f32": float32(0.5),
		"num": json.Number("12.25"), "raw": json.RawMessage(`{"a":[1,2]}`), "badraw": json.RawMessage(`{`),
		"ms": map[string]string{"k": "v"}, "ss": []string{"x", "y"}, "ints": []int{1, 2, 3}, "arr": [2]string{"p", "q"},
		"mi": map[string]int{"one": 1}, "st": score, "stv": *score, "nilp": (*scoring)(nil), "nilmap": map[string]any(nil),
		"lbl": label("named"), "undef": Undefined{}, "fn": func() {}, "ch": make(chan int), "im": map[int]string{1: "x"},
		"nested": []map[string]any{{"k": 1}},
	}
	v := &Vars{Input: in}
	tests := []struct {
		src  string
		want any
	}{
		{"input.i", 42.0}, // ints come back as float64
		{"input.i + 1", 43.0},
		{"input.i === 42", true},
		{"input.i64 * 2", -6.0},
		{"input.i32", 5.0},
		{"input.u", 7.0},
		{"input.u8", 8.0},
		{"input.f32", 0.5},
		{"input.num", 12.25},
		{"input.num > 12", true},
		{"input.raw.a[1]", 2.0},
		{"input.raw.a.length", 2.0},
		{"input.badraw", Undefined{}},
		{"input.ms.k", "v"},
		{"input.ms.nope", Undefined{}},
		{"input.ss[1]", "y"},
		{"input.ss.length", 2.0},
		{"input.ss.includes('x')", true},
		{"input.ints[2]", 3.0},
		{"input.ints.includes(2)", true},
		{"input.ints.length", 3.0},
		{"input.arr[0]", "p"},
		{"input.mi.one", 1.0},
		{"input.st.score", 0.9},
		{"input.st.passed", true},
		{"input.st.Hidden", Undefined{}},
		{"input.st.Plain", 3.0},
		{"input.st.inner", Undefined{}},
		{"input.stv.score >= 0.9", true},
		{"input.nilp", nil},
		{"input.nilp.score", Undefined{}},
		{"input.nilmap", nil},
		{"input.lbl", "named"},
		{"input.lbl === 'named'", true},
		{"input.undef === undefined", true},
		{"typeof input.fn", "undefined"},
		{"input.ch", Undefined{}},
		{"input.im", Undefined{}},
		{"input.nested[0].k", 1.0},
		{"json(input.st)", `{"score":0.9,"passed":true,"Plain":3}`},
		{"json(input.ints)", "[1,2,3]"},
		{"json(input.raw)", `{"a":[1,2]}`},
		{"json(input.ms)", `{"k":"v"}`},
		{"json(input.num)", "12.25"},
		{"json(input.nested)", `[{"k":1}]`},
		{"length(input.st)", 3.0},
		{"length(input.mi)", 1.0},
		{"includes(input.st, 'score')", true},
		{"includes(input.ms, 'k')", true},
		{"input.ss === input.ss", true},
		{"input.st === input.st", true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			if got := evalStr(t, tt.src, nil, 0, v); !sameResult(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	// An unchanged value is the caller's own.
	if got := evalStr(t, "input.ms", nil, 0, v); !reflect.DeepEqual(got, in["ms"]) {
		t.Errorf("input.ms = %#v", got)
	}
	if got := evalStr(t, "input", nil, 0, &Vars{Input: 3}); got != 3.0 {
		t.Errorf("int input = %#v, want float64 3", got)
	}
}

func TestEnv(t *testing.T) {
	tests := []struct {
		src  string
		env  func(string) (string, bool)
		want any
	}{
		{"env.ENVIRONMENT === 'production' ? 'anthropic' : 'workers-ai'", testEnv, "anthropic"},
		{"env.ENVIRONMENT === 'production' ? 'anthropic' : 'workers-ai'", nil, "workers-ai"},
		{"env.ENVIRONMENT", nil, Undefined{}},
		{"env['ENVIRON' + 'MENT']", testEnv, "production"},
		{"env?.ENVIRONMENT", testEnv, "production"},
		{"env?.['ENVIRONMENT']", testEnv, "production"},
		{"env.ENVIRONMENT.toUpperCase()", testEnv, "PRODUCTION"},
		{"env.EMPTY ?? 'unset'", func(string) (string, bool) { return "", true }, ""},
		{"env.NOPE ?? 'unset'", testEnv, "unset"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			if got := evalStr(t, tt.src, nil, 0, &Vars{Env: tt.env}); got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestNilVars checks that evaluation with no Vars at all sees undefined.
func TestNilVars(t *testing.T) {
	names := NewNames([]string{"m"})
	for _, src := range []string{"input", "input.x", "m", "m.output", "env.X", "env['X']"} {
		if got := evalStr(t, src, names, 1, nil); got != (Undefined{}) {
			t.Errorf("%s = %#v", src, got)
		}
	}
	if got := evalStr(t, "m.output", names, 1, &Vars{}); got != (Undefined{}) {
		t.Errorf("member past len(Members) = %#v", got)
	}
}

func TestEvalError(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	p, err := Compile("input.x || json(input.c)", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(&Vars{Input: map[string]any{"c": cyclic}})
	var e *Error
	if !errors.As(err, &e) || e.Offset != 11 || !strings.Contains(e.Msg, "cyclic") {
		t.Fatalf("got %v, want *Error at offset 11 about a cyclic value", err)
	}
	// Short-circuit: the failing call is not evaluated.
	if got, err := p.Eval(&Vars{Input: map[string]any{"x": 1.0, "c": cyclic}}); err != nil || got != 1.0 {
		t.Errorf("got %#v, %v", got, err)
	}
	// Text conversion of a cyclic value does not fail.
	if got := evalStr(t, "'' + input.c", nil, 0, &Vars{Input: map[string]any{"c": cyclic}}); got != "[object Object]" {
		t.Errorf("got %#v", got)
	}
}

func TestTruthyAndString(t *testing.T) {
	tests := []struct {
		v      any
		truthy bool
		str    string
	}{
		{nil, false, "null"},
		{Undefined{}, false, "undefined"},
		{false, false, "false"},
		{true, true, "true"},
		{0.0, false, "0"},
		{math.Copysign(0, -1), false, "0"},
		{math.NaN(), false, "NaN"},
		{1, true, "1"},
		{0.5, true, "0.5"},
		{"", false, ""},
		{"0", true, "0"},
		{[]any{}, true, "[]"},
		{map[string]any{}, true, "{}"},
		{map[string]any{"a": []any{1.0, "x"}}, true, `{"a":[1,"x"]}`},
	}
	for _, tt := range tests {
		if got := Truthy(tt.v); got != tt.truthy {
			t.Errorf("Truthy(%#v) = %v", tt.v, got)
		}
		if got := String(tt.v); got != tt.str {
			t.Errorf("String(%#v) = %q, want %q", tt.v, got, tt.str)
		}
	}
}

func TestConcurrentEval(t *testing.T) {
	p, err := Compile("quick-answer.scoring.score < 0.7 ? 'escalate: ' + input.text : 'ok'", NewNames(flowMembers), 3)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				got, err := p.Eval(flowVars())
				if err != nil || got != "escalate: Hello" {
					t.Errorf("got %#v, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestErrorString(t *testing.T) {
	_, err := Compile("1 +", nil, 0)
	if got := err.Error(); got != "offset 3: unexpected end of expression (expected a value)" {
		t.Errorf("Error() = %q", got)
	}
}

// Locals are names a caller binds for some expressions (an evaluator
// member's answer): read like input, shadowing a member of the same name,
// undefined when unbound, and unknown to expressions compiled without them.
func TestLocals(t *testing.T) {
	names := NewNames([]string{"answer", "draft"}).WithLocals("answer")
	tests := []struct {
		src  string
		vars Vars
		want any
	}{
		{"answer", Vars{Locals: []any{"a text"}}, "a text"},
		{"answer.score + 1", Vars{Locals: []any{map[string]any{"score": 0.5}}}, 1.5},
		{"answer['score']", Vars{Locals: []any{map[string]any{"score": 0.5}}}, 0.5},
		{"answer", Vars{}, Undefined{}},
		{"typeof answer", Vars{Locals: []any{"x"}}, "string"},
		{"answer.length > 3 ? draft.output : input", Vars{Input: "in", Locals: []any{"long text"}, Members: []any{nil, map[string]any{"output": "d"}}}, "d"},
	}
	for _, tc := range tests {
		p, err := Compile(tc.src, names, 2)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		got, err := p.Eval(&tc.vars)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
	_, err := Compile("answer", NewNames([]string{"draft"}), 1)
	if err == nil || !strings.Contains(err.Error(), "unknown name answer") {
		t.Errorf("answer without locals: %v", err)
	}
	_, err = Compile("answr", NewNames(nil).WithLocals("answer"), 0)
	if err == nil || !strings.Contains(err.Error(), "known: input, env, answer") || !strings.Contains(err.Error(), "did you mean answer?") {
		t.Errorf("typo: %v", err)
	}
}
