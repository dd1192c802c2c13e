package conductor

import (
	"encoding/json"
	"testing"
)

func TestEmbedKey(t *testing.T) {
	base := func() *EmbedRequest {
		return &EmbedRequest{
			Provider: "openai", Model: "text-embedding-3-small",
			Input: []string{"hello", "world"},
			Extra: map[string]json.RawMessage{"user": json.RawMessage(`"u-1"`), "x": json.RawMessage(`{"a":1,"b":2}`)},
		}
	}
	tests := []struct {
		name   string
		change func(r *EmbedRequest)
		same   bool
	}{
		{"identical", func(r *EmbedRequest) {}, true},
		{"extra JSON key order", func(r *EmbedRequest) { r.Extra["x"] = json.RawMessage(`{ "b":2, "a":1 }`) }, true},
		{"wire user", func(r *EmbedRequest) { r.Extra["user"] = json.RawMessage(`"someone else"`) }, true},
		{"gateway options", func(r *EmbedRequest) { r.Options = CallOptions{User: "alice", MaxAttempts: 2} }, true},
		{"provider", func(r *EmbedRequest) { r.Provider = "local" }, false},
		{"model", func(r *EmbedRequest) { r.Model = "text-embedding-3-large" }, false},
		{"input order", func(r *EmbedRequest) { r.Input = []string{"world", "hello"} }, false},
		{"inputs joined", func(r *EmbedRequest) { r.Input = []string{"helloworld"} }, false},
		{"input split", func(r *EmbedRequest) { r.Input = []string{"hello", "wor", "ld"} }, false},
		{"tokens instead", func(r *EmbedRequest) { r.Input, r.Tokens = nil, [][]int{{1, 2}} }, false},
		{"dimensions", func(r *EmbedRequest) { r.Dimensions = 256 }, false},
		{"extra value", func(r *EmbedRequest) { r.Extra["x"] = json.RawMessage(`{"a":1,"b":3}`) }, false},
		{"custom key", func(r *EmbedRequest) { r.Options.CacheKey = "k" }, false},
	}
	want := EmbedKey(base(), "gw")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(r)
			if got := EmbedKey(r, "gw"); (got == want) != tt.same {
				t.Errorf("same key = %v, want %v", got == want, tt.same)
			}
		})
	}
	if EmbedKey(base(), "other") == want {
		t.Error("the scope does not change the key")
	}
	tok := func(ts ...[]int) string { return EmbedKey(&EmbedRequest{Provider: "openai", Model: "m", Tokens: ts}) }
	if tok([]int{1, 23}) == tok([]int{12, 3}) || tok([]int{1}, []int{2}) == tok([]int{1, 2}) {
		t.Error("different token arrays share a key")
	}
	// A chat request never shares a key with an embedding request.
	if RequestKey(&ChatRequest{Provider: "openai", Model: "text-embedding-3-small"}, "gw") ==
		EmbedKey(&EmbedRequest{Provider: "openai", Model: "text-embedding-3-small"}, "gw") {
		t.Error("chat and embedding keys collide")
	}
}
