package ensemble

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and its answer is always one of a
// complete ensemble or a List of placed problems.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/page", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			f.Add(readFile(f, p))
		}
	}
	for _, s := range []string{
		"", "name: x", "name: x\nflow:\n- member: a\n  config: {provider: mock}\n",
		"a: &a [*a]", "{", "- ${", "x: ${a ? '#' : \"}\"}", "name: ${", "\xff",
		"name: t\nflow:\n- member: a\n  config:\n    provider: mock\n    prompt: |\n      ${input.x +}\n",
		"name: t\nflow:\n- member: a\n  config:\n    provider: anthropic\n    model: claude-opus-4-7\n    temperature: 0.2\n    tools: [{name: f, parameters: {type: object, properties: {a: {type: string}}, required: [a]}}]\n" +
			"    toolChoice: {name: f}\n    responseFormat: {type: json_schema, json_schema: {name: r, schema: {type: object}}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse("fuzz.yaml", data)
		if err == nil {
			if e == nil || e.Name == "" || len(e.Flow) == 0 || len(e.Names.Members) != len(e.Flow) {
				t.Fatalf("incomplete ensemble without error: %+v", e)
			}
			for i, s := range e.Flow {
				if s.Index != i || s.Config == nil || s.Config.Provider == nil {
					t.Fatalf("step %d incomplete: %+v", i, s)
				}
			}
			return
		}
		if e != nil {
			t.Fatal("ensemble and error both returned")
		}
		var l List
		if !errors.As(err, &l) || len(l) == 0 {
			t.Fatalf("error is not a List: %T %v", err, err)
		}
		for _, p := range l {
			if p.File != "fuzz.yaml" || p.Msg == "" || p.Pos.Line < 0 || p.Pos.Col < 0 || strings.Contains(p.Msg, "\n") {
				t.Fatalf("bad problem %+v", p)
			}
		}
	})
}
