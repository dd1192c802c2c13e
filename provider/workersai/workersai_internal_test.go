package workersai

import (
	"testing"

	"github.com/conductor-go/conductor/provider"
)

func TestModelURL(t *testing.T) {
	w := New(provider.Endpoint{BaseURL: "https://x.test/run"}).(*workersAI)
	for model, want := range map[string]string{
		"@cf/meta/llama-3.1-8b-instruct": "https://x.test/run/@cf/meta/llama-3.1-8b-instruct",
		"@hf/thebloke/model?x=1":         "https://x.test/run/@hf/thebloke/model%3Fx=1",
		"a b":                            "https://x.test/run/a%20b",
	} {
		if got, err := w.modelURL(model); err != nil || got != want {
			t.Errorf("modelURL(%q) = %q, %v", model, got, err)
		}
	}
	for _, model := range []string{"", "@cf/../secrets", "@cf//x", "/abs"} {
		if _, err := w.modelURL(model); err == nil {
			t.Errorf("modelURL(%q) accepted", model)
		}
	}
}
