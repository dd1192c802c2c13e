package expr

import (
	"encoding/json"
	"os"
	"testing"
)

// show renders a result the way testdata/gen.js renders JavaScript's.
func show(v any) string {
	x := fromAny(v)
	switch x.k {
	case kUndef:
		return "undefined"
	case kNum:
		return "number " + numToString(x.n)
	case kStr:
		return "string " + string(appendJSONString(nil, x.s))
	case kBool:
		return "boolean " + toString(x)
	}
	b, err := appendJSON(nil, v, 0)
	if err != nil {
		return "error " + err.Error()
	}
	return "object " + string(b)
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func testEnv(name string) (string, bool) {
	if name == "ENVIRONMENT" {
		return "production", true
	}
	return "", false
}

// TestMatchesJavaScript evaluates every expression of testdata/js_cases.txt
// and compares with what node printed for it (testdata/gen.js).
func TestMatchesJavaScript(t *testing.T) {
	var input any
	loadJSON(t, "testdata/js_input.json", &input)
	var cases []struct{ Expr, Want string }
	loadJSON(t, "testdata/js_cases.json", &cases)
	if len(cases) < 300 {
		t.Fatalf("only %d cases in testdata/js_cases.json", len(cases))
	}
	vars := &Vars{Input: input, Env: testEnv}
	for _, c := range cases {
		p, err := Compile(c.Expr, NewNames(nil), 0)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.Expr, err)
			continue
		}
		got, err := p.Eval(vars)
		if err != nil {
			t.Errorf("Eval(%q): %v", c.Expr, err)
			continue
		}
		if s := show(got); s != c.Want {
			t.Errorf("%s\n got: %s\nwant: %s", c.Expr, s, c.Want)
		}
	}
}
