package config

import (
	"reflect"
	"strings"
	"testing"
)

// The example of docs/config.md's [[split]] section.
const splitDoc = `[[ai.gateway]]
id = "my-gateway"

[[split]]
name = "summarize-ab"
gateway = "my-gateway"

[[split.variant]]
name = "gpt4o"
provider = "openai"
model = "gpt-4o"
weight = 50
temperature = 0.7

[[split.variant]]
name = "claude"
provider = "anthropic"
model = "claude-3-5-sonnet-20241022"
weight = 50
max_tokens = 512
system_prompt = "Summarize in three bullet points."

[[split]]
name = "temperature-test"

[[split.variant]]
name = "cold"
provider = "groq"
model = "llama-3.1-8b-instant"
weight = 0.9
temperature = 0

[[split.variant]]
name = "warm"
provider = "groq"
model = "llama-3.1-8b-instant"
weight = 0.1
temperature = 1.2
`

func TestSplits(t *testing.T) {
	c, err := Parse("conductor.toml", []byte(splitDoc), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Split{
		{Name: "summarize-ab", Gateway: "my-gateway", Variants: []SplitVariant{
			{Name: "gpt4o", Provider: "openai", Model: "gpt-4o", Weight: 50, Temperature: ptr(0.7)},
			{Name: "claude", Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Weight: 50, MaxTokens: 512,
				SystemPrompt: "Summarize in three bullet points."},
		}},
		{Name: "temperature-test", Variants: []SplitVariant{
			{Name: "cold", Provider: "groq", Model: "llama-3.1-8b-instant", Weight: 0.9, Temperature: ptr(0.0)},
			{Name: "warm", Provider: "groq", Model: "llama-3.1-8b-instant", Weight: 0.1, Temperature: ptr(1.2)},
		}},
	}
	if !reflect.DeepEqual(c.Splits, want) {
		t.Errorf("splits:\n got %+v\nwant %+v", c.Splits, want)
	}
	if s, ok := c.SplitByName("temperature-test"); !ok || s.Variants[1].Name != "warm" {
		t.Errorf("SplitByName = %+v, %v", s, ok)
	}
	if _, ok := c.SplitByName("nope"); ok {
		t.Error("SplitByName found a split that is not declared")
	}
	// The same in a wrangler.toml is not ours to read.
	w, err := Parse("wrangler.toml", []byte("name = \"w\"\n"+splitDoc[strings.Index(splitDoc, "[[split]]"):]), true)
	if err != nil || len(w.Splits) != 0 {
		t.Errorf("wrangler.toml: %v, %+v", err, w.Splits)
	}
}

func TestSplitErrors(t *testing.T) {
	const variant = "[[split.variant]]\nname = \"b\"\nprovider = \"openai\"\nmodel = \"gpt-4o\"\nweight = 1\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"no name", "[[split]]\n" + variant + strings.Replace(variant, `"b"`, `"c"`, 1),
			[]string{`f.toml:1:3: split[0]: every [[split]] needs a name (name = "summarize-ab"), the model name callers use`}},
		{"bad name", "[[split]]\nname = \"openai/gpt-4o\"\n" + variant + strings.Replace(variant, `"b"`, `"c"`, 1),
			[]string{`f.toml:2:1: split[0].name: expected a split name: letters, digits, - and _ only, at most 64`}},
		{"one variant", "[[split]]\nname = \"ab\"\n" + variant,
			[]string{`f.toml:1:3: split[0]: a split needs at least two [[split.variant]] entries, found 1`}},
		{"unknown gateway", "[[split]]\nname = \"ab\"\ngateway = \"nope\"\n" + variant + strings.Replace(variant, `"b"`, `"c"`, 1),
			[]string{`f.toml:3:1: split[0].gateway: no [[ai.gateway]] has id "nope"`}},
		{"split twice", "[[split]]\nname = \"ab\"\n" + variant + strings.Replace(variant, `"b"`, `"c"`, 1) +
			"[[split]]\nname = \"ab\"\n" + variant + strings.Replace(variant, `"b"`, `"c"`, 1),
			[]string{`f.toml:14:1: split[1].name: split name "ab" is used twice`}},
		{"bad variants", "[[split]]\nname = \"ab\"\n" +
			"[[split.variant]]\nname = \"a\"\nprovider = \"openaii\"\nweight = 0\n" +
			"[[split.variant]]\nname = \"a\"\nprovider = \"openai\"\nmodel = \"m\"\nweight = -1\ntemperature = 3\nmax_tokens = -5\n" +
			"[[split.variant]]\nprovider = \"groq\"\nmodel = \"m\"\nweight = 1\n",
			[]string{
				`f.toml:3:3: split[0].variant[0]: every [[split.variant]] needs a model`,
				`f.toml:5:1: split[0].variant[0].provider: unknown provider (expected one of: workers-ai, openai, anthropic, groq, local, mock)`,
				`f.toml:6:1: split[0].variant[0].weight: expected a weight above 0, the variant's share of the traffic (weight = 50)`,
				`f.toml:8:1: split[0].variant[1].name: variant name "a" is used twice in this split`,
				`f.toml:11:1: split[0].variant[1].weight: expected a weight above 0, the variant's share of the traffic (weight = 50)`,
				`f.toml:12:1: split[0].variant[1].temperature: expected a temperature from 0 to 2`,
				`f.toml:13:1: split[0].variant[1].max_tokens: cannot be negative`,
				`f.toml:14:3: split[0].variant[2]: every [[split.variant]] needs a name (name = "control")`,
			}},
		{"unknown key", "[[split]]\nname = \"ab\"\n[[split.variant]]\nname = \"a\"\nwieght = 50\n",
			[]string{`f.toml:5:1: unknown key "wieght" in [[split.variant]] (expected one of: name, provider, model, weight, temperature, max_tokens, system_prompt)`}},
		{"unknown split key", "[[split]]\nname = \"ab\"\nmodels = [\"a\"]\n",
			[]string{`f.toml:3:1: unknown key "models" in [[split]] (expected one of: name, gateway, variant)`}},
		{"weight type", "[[split]]\nname = \"ab\"\n[[split.variant]]\nname = \"a\"\nweight = \"50\"\n",
			[]string{`f.toml:5:10: split.variant.weight: expected a number, got a string`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.doc), false)
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}
