package ensemble

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/conductor-go/conductor/expr"
)

// IsLiteral reports whether n holds no template anywhere, so Eval needs no
// variables. A nil Node is literal.
func (n *Node) IsLiteral() bool {
	if n == nil {
		return true
	}
	if n.Tmpl != nil {
		return false
	}
	for _, e := range n.Entries {
		if !e.Value.IsLiteral() {
			return false
		}
	}
	for _, it := range n.Items {
		if !it.IsLiteral() {
			return false
		}
	}
	return true
}

// Get returns the value of key in a map Node, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil {
		return nil
	}
	for _, e := range n.Entries {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// Refs returns the flow indexes of the members n's templates refer to,
// sorted, without duplicates.
func (n *Node) Refs() []int {
	var out []int
	n.refs(&out)
	slices.Sort(out)
	return slices.Compact(out)
}

func (n *Node) refs(out *[]int) {
	if n == nil {
		return
	}
	if n.Tmpl != nil {
		*out = append(*out, n.Tmpl.Refs()...)
	}
	for _, e := range n.Entries {
		e.Value.refs(out)
	}
	for _, it := range n.Items {
		it.refs(out)
	}
}

// Eval evaluates n into a plain JSON-like value: map[string]any, []any,
// string, int64, float64, bool or nil (templates may also yield whatever
// expr yields, e.g. a member's decoded output). A nil Node yields nil.
// v may be nil when n.IsLiteral().
func (n *Node) Eval(v *expr.Vars) (any, error) {
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case KindMap:
		m := make(map[string]any, len(n.Entries))
		for _, e := range n.Entries {
			x, err := e.Value.Eval(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Key, err)
			}
			m[e.Key] = x
		}
		return m, nil
	case KindList:
		l := make([]any, len(n.Items))
		for i, it := range n.Items {
			x, err := it.Eval(v)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = x
		}
		return l, nil
	}
	if n.Tmpl != nil {
		if v == nil {
			return nil, fmt.Errorf("template %q evaluated without variables", n.Tmpl.Source())
		}
		return n.Tmpl.Eval(v)
	}
	return n.Lit, nil
}

// EvalString evaluates n and requires a string; numbers and booleans are
// formatted (a template like "${input.id}" may yield a number). A nil Node,
// null or undefined yields "", false.
func (n *Node) EvalString(v *expr.Vars) (s string, ok bool, err error) {
	if n == nil {
		return "", false, nil
	}
	x, err := n.Eval(v)
	if err != nil || expr.IsUndefined(x) {
		return "", false, err
	}
	switch x := x.(type) {
	case string:
		return x, true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case int:
		return strconv.Itoa(x), true, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	case nil:
		return "", false, nil
	}
	return "", false, fmt.Errorf("%d:%d: expected a string, got %s", n.Pos.Line, n.Pos.Col, typeName(x))
}

// EvalFloat evaluates n and requires a number (a numeric string from a
// template is accepted). A nil Node, null or undefined yields ok=false.
func (n *Node) EvalFloat(v *expr.Vars) (f float64, ok bool, err error) {
	if n == nil {
		return 0, false, nil
	}
	x, err := n.Eval(v)
	if err != nil || x == nil || expr.IsUndefined(x) {
		return 0, false, err
	}
	f, ok = toFloat(x)
	if !ok {
		return 0, false, fmt.Errorf("%d:%d: expected a number, got %s", n.Pos.Line, n.Pos.Col, typeName(x))
	}
	return f, true, nil
}

// EvalInt evaluates n and requires an integer (a whole float or numeric
// string from a template is accepted). A nil Node, null or undefined
// yields ok=false.
func (n *Node) EvalInt(v *expr.Vars) (i int64, ok bool, err error) {
	if n == nil {
		return 0, false, nil
	}
	x, err := n.Eval(v)
	if err != nil || x == nil || expr.IsUndefined(x) {
		return 0, false, err
	}
	if i, ok := x.(int64); ok {
		return i, true, nil
	}
	f, ok := toFloat(x)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, fmt.Errorf("%d:%d: expected an integer, got %s", n.Pos.Line, n.Pos.Col, typeName(x))
	}
	return int64(f), true, nil
}

// EvalStrings evaluates n and requires a string or a list of strings (stop
// sequences). A nil Node, null or undefined yields nil.
func (n *Node) EvalStrings(v *expr.Vars) ([]string, error) {
	if n == nil {
		return nil, nil
	}
	x, err := n.Eval(v)
	if err != nil || expr.IsUndefined(x) {
		return nil, err
	}
	switch x := x.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("%d:%d: expected a list of strings, got an item of type %s", n.Pos.Line, n.Pos.Col, typeName(it))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%d:%d: expected a string or a list of strings, got %s", n.Pos.Line, n.Pos.Col, typeName(x))
}

// EvalBool evaluates n with JavaScript truthiness (Truthy): what a
// condition means. A nil Node yields true (no condition: the member runs).
func (n *Node) EvalBool(v *expr.Vars) (bool, error) {
	if n == nil {
		return true, nil
	}
	x, err := n.Eval(v)
	if err != nil {
		return false, err
	}
	return Truthy(x), nil
}

// Truthy is JavaScript truthiness, the rule the page's conditions are
// written in: false, null, undefined, 0, NaN and "" are false; everything
// else, empty lists and maps included, is true. It is expr's own rule.
func Truthy(x any) bool {
	switch x := x.(type) {
	case int64:
		return x != 0
	case int:
		return x != 0
	}
	return expr.Truthy(x)
}

func toFloat(x any) (float64, bool) {
	switch x := x.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func typeName(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case expr.Undefined:
		return "undefined"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, int, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", x)
}
