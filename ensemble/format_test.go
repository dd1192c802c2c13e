package ensemble

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"
)

// strictYAML decodes data with a standard YAML parser (no leniency for
// unquoted ${...}), as editors and CI tools read a file, into JSON values.
func strictYAML(t *testing.T, name string, data []byte) (any, error) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ternary",
			"flow:\n  - member: a\n    config:\n      provider: ${input.n % 2 === 0 ? 'openai' : 'anthropic'}  # alternate\n",
			"flow:\n  - member: a\n    config:\n      provider: \"${input.n % 2 === 0 ? 'openai' : 'anthropic'}\"  # alternate\n"},
		{"two on one line and a double quote",
			"- {a: 1}\n- k: ${x ? \"y\" : 'z'}\n",
			"- {a: 1}\n- k: \"${x ? \\\"y\\\" : 'z'}\"\n"},
		{"list item", "cond:\n  - ${a.output.x ? 1 : 2}\n", "cond:\n  - \"${a.output.x ? 1 : 2}\"\n"},
		{"standard already", "provider: \"${a ? 'x' : 'y'}\"\ncondition: ${!a.success}\n# comment: ${a ? b : c}\n",
			"provider: \"${a ? 'x' : 'y'}\"\ncondition: ${!a.success}\n# comment: ${a ? b : c}\n"},
		{"crlf and unicode", "answer: ${a ? 'é' : 'ü'}\r\nnext: 1\r\n", "answer: \"${a ? 'é' : 'ü'}\"\r\nnext: 1\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Format("f.yaml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Format =\n%q\nwant\n%q", got, tc.want)
			}
			if _, err := strictYAML(t, tc.name, got); err != nil {
				t.Errorf("not standard YAML: %v", err)
			}
			again, err := Format("f.yaml", got)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("Format is not idempotent: %q, %v", again, err)
			}
		})
	}
	if _, err := Format("bad.yaml", []byte("a: [1, 2\n")); err == nil || !strings.Contains(err.Error(), "bad.yaml:") {
		t.Errorf("a broken file: %v", err)
	}
}

// Every page flow, formatted, is standard YAML that means what the loader
// reads from the page's own text; and every shipped example already is.
func TestFormatPageFlows(t *testing.T) {
	for _, f := range pageFiles(t) {
		data := readFile(t, f)
		out, err := Format(f, data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		strict, err := strictYAML(t, f, out)
		if err != nil {
			t.Errorf("%s formatted is not standard YAML: %v", f, err)
			continue
		}
		c := &collector{file: f}
		lenient := asJSONValue(t, plain(parseYAML(data, c)))
		if !reflect.DeepEqual(strict, lenient) {
			t.Errorf("%s: standard YAML reads\n%v\nthe loader read\n%v", f, strict, lenient)
		}
	}
}

// The project's own examples are standard YAML (editors accept them as
// they are), already formatted, and valid against the JSON Schema when
// read by a standard parser — not only by the loader.
func TestExamplesAreStandardYAML(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		data := readFile(t, f)
		v, err := strictYAML(t, f, data)
		if err != nil {
			t.Errorf("%s is not standard YAML: %v", f, err)
			continue
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s: the schema refuses it: %v", f, err)
		}
		if out, err := Format(f, data); err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s is not formatted (conductor fmt %s): %v", f, f, err)
		}
	}
}

func asJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
