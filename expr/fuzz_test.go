package expr

import (
	"errors"
	"strings"
	"testing"
)

// fuzzVars gives fuzzed programs values of every kind to work on.
func fuzzVars() *Vars {
	v := flowVars()
	in := v.Input.(map[string]any)
	in["arr"] = []any{1.0, "two", nil, []any{true}, map[string]any{"k": -0.5}}
	in["emoji"] = "a😀b\x80"
	in["nul"] = nil
	return v
}

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		"quick-answer.scoring.score < 0.7",
		"input.requestId % 2 === 0 ? 'openai' : 'anthropic'",
		"!generate-content.success",
		"classify-intent.output.intent === 'complex'",
		"env.ENVIRONMENT === 'production' ? 'a' : 'b'",
		"a-b.output + a.output-b.output",
		"input.arr[3]?.[0] ?? {x: [1, 'y', null]}",
		"JSON.stringify(input, null, 2).length",
		`'\u{1F600}\x41\n' + input.emoji[2] + typeof input.nul`,
		"(1 && 0) ?? 5 || 6",
		"lower(upper(input.text)).includes('ell') && startsWith(json(input.arr), '[')",
		"0x1F * .5e1 / 0 % -3",
	} {
		f.Add(s)
	}
}

// checkError requires compile errors to be *Error with an offset inside src.
func checkError(t *testing.T, src string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%q: error %T is not *Error: %v", src, err, err)
	}
	if e.Offset < 0 || e.Offset > len(src) {
		t.Fatalf("%q: offset %d outside the source (%d bytes): %s", src, e.Offset, len(src), e.Msg)
	}
	if e.Msg == "" {
		t.Fatalf("%q: empty message", src)
	}
}

func FuzzCompile(f *testing.F) {
	fuzzSeeds(f)
	names := NewNames(flowMembers)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src, names, len(flowMembers))
		if err != nil {
			checkError(t, src, err)
			return
		}
		for _, r := range p.Refs() {
			if r < 0 || r >= len(flowMembers) {
				t.Fatalf("%q: ref %d out of range", src, r)
			}
		}
		if _, err := p.Eval(fuzzVars()); err != nil {
			checkError(t, src, err)
		}
		if _, err := p.Eval(nil); err != nil {
			checkError(t, src, err)
		}
		// What compiles with every member visible must compile inside a
		// template, or fail only on a later-member reference.
		if !strings.Contains(src, "}") {
			if _, err := ParseTemplate("${"+src+"}", names, len(flowMembers)); err != nil {
				t.Fatalf("%q compiles but not as a template: %v", src, err)
			}
		}
	})
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"Intent: ${classify-intent.output.intent}.",
		"${quick-answer.scoring.score}",
		"$${literal} and ${input.text}",
		"${ {a: '}'}.a } ${'${'}",
		"unterminated ${input.x",
		"${}",
	} {
		f.Add(s)
	}
	names := NewNames(flowMembers)
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTemplate(s, names, 3)
		if err != nil {
			checkError(t, s, err)
			return
		}
		if tp == nil {
			if strings.Contains(s, "${") {
				t.Fatalf("%q: nil template for text with ${", s)
			}
			return
		}
		for _, r := range tp.Refs() {
			if r >= 3 {
				t.Fatalf("%q: ref %d not before member 3", s, r)
			}
		}
		if _, err := tp.Eval(fuzzVars()); err != nil {
			checkError(t, s, err)
		}
	})
}
