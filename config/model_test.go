package config

import (
	"strings"
	"testing"
	"time"
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

// [[model]] deadlines and [gateway] max_answer_bytes: read as written,
// refused with file:line:col when negative.
func TestModelDeadlinesAndAnswerBound(t *testing.T) {
	c, err := Parse("f.toml", []byte("[gateway]\nmax_answer_bytes = 1048576\n[[model]]\nname = \"m\"\nroutes = [\"openai/gpt-4o\"]\nrequest_timeout = \"5s\"\nidle_timeout = \"250ms\"\ntotal_timeout = 20\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Models[0]
	if m.RequestTimeout.Std() != 5*time.Second || m.IdleTimeout.Std() != 250*time.Millisecond || m.TotalTimeout.Std() != 20*time.Second || c.MaxAnswerBytes() != 1<<20 {
		t.Errorf("got %+v, max answer %d", m, c.MaxAnswerBytes())
	}
	if d := Default(); d.MaxAnswerBytes() != DefaultMaxAnswerBytes {
		t.Errorf("default max answer %d", d.MaxAnswerBytes())
	}
	for body, want := range map[string]string{
		"[[model]]\nname = \"m\"\nroutes = [\"openai/gpt-4o\"]\nidle_timeout = \"-1s\"\n": "f.toml:4:16: model.idle_timeout: a duration cannot be negative",
		"[gateway]\nmax_answer_bytes = -3\n":                                              "f.toml:2:1: gateway.max_answer_bytes: cannot be negative",
	} {
		if _, err := Parse("f.toml", []byte(body), false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
