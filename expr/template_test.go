package expr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	names := NewNames(flowMembers)
	all := len(flowMembers)
	tests := []struct {
		s    string
		want any
		refs []int
	}{
		// Exactly one ${...}: the value keeps its type.
		{"${quick-answer.scoring.score}", 0.55, []int{2}},
		{"${quick-answer.scoring.score < 0.7}", true, []int{2}},
		{"${classify-intent.output}", map[string]any{"intent": "complex"}, []int{1}},
		{"${generate-content-fallback.output}", Undefined{}, []int{4}},
		{"${input.requestId % 2 === 0 ? 'openai' : 'anthropic'}", "anthropic", nil},
		{"${ {a: 1} }", map[string]any{"a": 1.0}, nil},
		{"${'}'}", "}", nil},
		// Anything else is text.
		{" ${input.requestId}", " 7", nil},
		{"${input.requestId}${input.requestId}", "77", nil},
		{"Intent: ${classify-intent.output.intent}.", "Intent: complex.", []int{1}},
		{"score=${quick-answer.scoring.score}, ok=${quick-answer.success}", "score=0.55, ok=true", []int{2}},
		{"${classify-intent.output} / ${input.user}", `{"intent":"complex"} / {"id":"u1"}`, []int{1}},
		{"[${generate-content-fallback.output}] [${null}]", "[undefined] [null]", []int{4}},
		{"${a.output}-${b.output}=${a.output - b.output}", "10-3=7", []int{5, 6}},
		{"${ '${' + 'x}' }", "${x}", nil},
		{"${ { k: '}' }.k }", "}", nil},
		{"${\"a}b\"}", "a}b", nil},
		// $${ is a literal ${.
		{"$${not.an.expression}", "${not.an.expression}", nil},
		{"cost: $${input.x} is ${input.text}", "cost: ${input.x} is Hello", nil},
		{"$$${input.text}", "$${input.text}", nil},
		{"$5 and ${input.text}", "$5 and Hello", nil},
		{"multi\nline ${input.text}\n", "multi\nline Hello\n", nil},
		{"é ${input.text} ü", "é Hello ü", nil},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			tp, err := ParseTemplate(tt.s, names, all)
			if err != nil {
				t.Fatal(err)
			}
			if tp == nil {
				t.Fatal("nil template")
			}
			got, err := tp.Eval(flowVars())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if refs := tp.Refs(); len(refs)+len(tt.refs) > 0 && !reflect.DeepEqual(refs, tt.refs) {
				t.Errorf("Refs() = %v, want %v", refs, tt.refs)
			}
			if tp.Source() != tt.s {
				t.Errorf("Source() = %q", tp.Source())
			}
		})
	}
}

func TestTemplateNone(t *testing.T) {
	for _, s := range []string{"", "plain text", "$ {x}", "$x", "{x}", "${", "$"} {
		tp, err := ParseTemplate(s, nil, 0)
		if s == "${" {
			if err == nil {
				t.Errorf("%q: no error", s)
			}
			continue
		}
		if tp != nil || err != nil {
			t.Errorf("ParseTemplate(%q) = %v, %v; want nil, nil", s, tp, err)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	names := NewNames(flowMembers)
	tests := []struct {
		s      string
		before int
		offset int
		msg    string
	}{
		{"${", 0, 0, "unterminated ${ (missing })"},
		{"abc ${input.x", 0, 4, "unterminated ${ (missing })"},
		{"abc ${input.", 0, 4, "unterminated ${ (missing })"},
		{"ok ${input.x} then ${input.y + ", 0, 19, "unterminated ${ (missing })"},
		{"x ${}", 0, 2, "empty ${}"},
		{"x ${ }", 0, 2, "empty ${}"},
		{"x ${'abc}", 0, 4, "unterminated string"},
		{"Intent: ${quick-answer.output}", 1, 10, "member quick-answer runs later than this one"},
		{"a ${input.x} b ${nope}", 0, 17, "unknown name nope"},
		{"${input.x input.y}", 0, 10, `unexpected name input (expected an operator or "}" to close ${)`},
		{"${input.x)", 0, 9, `unexpected ")"`},
		{"  ${1 +}", 0, 7, "unexpected \"}\" (expected a value)"},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			tp, err := ParseTemplate(tt.s, names, tt.before)
			if err == nil {
				t.Fatalf("no error; template %q", tp.Source())
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

func TestTemplateEvalError(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	for _, s := range []string{"${json(input)}", "x ${json(input)}"} {
		tp, err := ParseTemplate(s, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Eval(&Vars{Input: cyclic}); err == nil {
			t.Errorf("%s: no error for a cyclic value", s)
		}
	}
}
