package ensemble

import (
	"math"
	"reflect"
	"testing"

	"github.com/conductor-go/conductor/expr"
)

// nodeOf loads src as a member's input and returns that Node.
func nodeOf(t *testing.T, src string) *Node {
	t.Helper()
	e, err := Parse("n.yaml", []byte(head+"- member: a\n  config: {provider: mock}\n  input: "+src+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return e.Flow[0].Input
}

func TestNodeEvalHelpers(t *testing.T) {
	v := &expr.Vars{Input: map[string]any{"n": 3.0, "s": "7", "f": 2.5, "list": []any{"a", "b"}, "bad": []any{"a", 1.0}, "obj": map[string]any{}}}
	for _, tc := range []struct {
		src     string
		str     string
		strOK   bool
		f       float64
		fOK     bool
		i       int64
		iErr    bool
		truthy  bool
		strsErr bool
	}{
		{src: `"${input.n}"`, str: "3", strOK: true, f: 3, fOK: true, i: 3, truthy: true, strsErr: true},
		{src: `"${input.s}"`, str: "7", strOK: true, f: 7, fOK: true, i: 7, truthy: true},
		{src: `"${input.f}"`, str: "2.5", strOK: true, f: 2.5, fOK: true, iErr: true, truthy: true, strsErr: true},
		{src: `"n=${input.n}"`, str: "n=3", strOK: true, iErr: true, truthy: true},
		{src: `"${input.missing}"`, iErr: false, truthy: false},
		{src: `"${input.list}"`, iErr: true, truthy: true},
		{src: `42`, str: "42", strOK: true, f: 42, fOK: true, i: 42, truthy: true, strsErr: true},
		{src: `""`, strOK: true, iErr: true, truthy: false},
	} {
		t.Run(tc.src, func(t *testing.T) {
			n := nodeOf(t, tc.src)
			s, ok, err := n.EvalString(v)
			if tc.src != `"${input.missing}"` && tc.src != `"${input.list}"` && (err != nil || s != tc.str || ok != tc.strOK) {
				t.Errorf("EvalString = %q, %v, %v", s, ok, err)
			}
			if tc.fOK {
				f, ok, err := n.EvalFloat(v)
				if err != nil || !ok || f != tc.f {
					t.Errorf("EvalFloat = %v, %v, %v", f, ok, err)
				}
			}
			i, _, err := n.EvalInt(v)
			if (err != nil) != tc.iErr || (!tc.iErr && tc.fOK && i != tc.i) {
				t.Errorf("EvalInt = %v, %v (want error %v)", i, err, tc.iErr)
			}
			b, err := n.EvalBool(v)
			if err != nil || b != tc.truthy {
				t.Errorf("EvalBool = %v, %v", b, err)
			}
			if _, err := n.EvalStrings(v); (err != nil) != tc.strsErr {
				t.Errorf("EvalStrings error = %v, want error %v", err, tc.strsErr)
			}
		})
	}
	if got, err := nodeOf(t, `"${input.list}"`).EvalStrings(v); err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("list EvalStrings = %v, %v", got, err)
	}
	if _, err := nodeOf(t, `"${input.bad}"`).EvalStrings(v); err == nil {
		t.Error("mixed list accepted as strings")
	}
	if _, _, err := nodeOf(t, `"${input.obj}"`).EvalString(v); err == nil {
		t.Error("a map accepted as a string")
	}
}

func TestNodeNilAndLiteral(t *testing.T) {
	var n *Node
	if !n.IsLiteral() || n.Get("x") != nil || n.Refs() != nil {
		t.Error("nil node")
	}
	if x, err := n.Eval(nil); x != nil || err != nil {
		t.Errorf("nil Eval = %v, %v", x, err)
	}
	if b, err := n.EvalBool(nil); !b || err != nil {
		t.Error("no condition must mean run")
	}
	if _, ok, _ := n.EvalString(nil); ok {
		t.Error("nil EvalString ok")
	}
	m := nodeOf(t, `{a: 1, b: [x, "${input.y}"], c: {d: true}}`)
	if m.IsLiteral() || m.Get("a").Lit != int64(1) || m.Get("zz") != nil || !m.Get("c").IsLiteral() {
		t.Errorf("map node = %+v", m)
	}
	if _, err := m.Eval(nil); err == nil {
		t.Error("template evaluated without variables")
	}
	got, err := m.Eval(&expr.Vars{Input: map[string]any{"y": "Y"}})
	want := map[string]any{"a": int64(1), "b": []any{"x", "Y"}, "c": map[string]any{"d": true}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Eval = %#v, %v", got, err)
	}
}

func TestTruthy(t *testing.T) {
	for _, tc := range []struct {
		x    any
		want bool
	}{
		{nil, false}, {expr.Undefined{}, false}, {false, false}, {true, true},
		{0.0, false}, {math.NaN(), false}, {1.5, true}, {int64(0), false}, {int64(2), true}, {0, false}, {3, true},
		{"", false}, {"0", true}, {[]any{}, true}, {map[string]any{}, true},
	} {
		if got := Truthy(tc.x); got != tc.want {
			t.Errorf("Truthy(%#v) = %v", tc.x, got)
		}
	}
}
