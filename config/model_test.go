package config

import (
	"strings"
	"testing"
)

func TestModels(t *testing.T) {
	c, err := Parse("f.toml", []byte(`
[[model]]
name = "fast"
routes = ["groq/llama-3.1-8b-instant"]

[[model]]
name = "reliable"
routes = ["openai/gpt-4o", "anthropic/claude-3-5-sonnet-20241022"]
`), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Models) != 2 || c.Models[1].Name != "reliable" || len(c.Models[1].Routes) != 2 || c.Models[1].Routes[1] != "anthropic/claude-3-5-sonnet-20241022" {
		t.Errorf("models %+v", c.Models)
	}
}

func TestModelErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"no name", "[[model]]\nroutes = [\"openai/gpt-4o\"]\n", "needs a name"},
		{"no routes", "[[model]]\nname = \"a\"\n", "needs at least one route"},
		{"bad route", "[[model]]\nname = \"a\"\nroutes = [\"gpt-4o\"]\n", `f.toml:3:1: model[0].routes: route "gpt-4o": expected "provider/model"`},
		{"unknown provider", "[[model]]\nname = \"a\"\nroutes = [\"acme/x\"]\n", `route "acme/x"`},
		{"twice", "[[model]]\nname = \"a\"\nroutes = [\"openai/x\"]\n[[model]]\nname = \"a\"\nroutes = [\"openai/y\"]\n", `model name "a" is used twice`},
		{"unknown key", "[[model]]\nname = \"a\"\nroute = [\"openai/x\"]\n", `unknown key "route" in [[model]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.doc), false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
