package server

import (
	"strings"
	"testing"
)

// The reproduction of issue 11, item 6: a body with two "model" fields (or
// any field twice), invalid UTF-8 or a number beyond a float64 passed
// through to the provider — the gateway read one model, the provider
// another, which defeats allowlists and budgets. Each is now a 400 in the
// caller's format naming the field, and no upstream is called.
func TestAmbiguousBodiesRefused(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name, path, body string
		format           string
		want             string // in the error message
	}{
		{"two models", "/v1/chat/completions", `{"model":"gpt-4o-mini","model":"gpt-4o",` + msgs + `}`, "openai", "model: the field appears twice"},
		{"two models, one escaped", "/v1/chat/completions", `{"model":"gpt-4o-mini","mod\u0065l":"gpt-4o",` + msgs + `}`, "openai", "model: the field appears twice"},
		{"two max_tokens", "/v1/chat/completions", `{"model":"gpt-4o-mini","max_tokens":5,` + msgs + `,"max_tokens":50000}`, "openai", "max_tokens: the field appears twice"},
		{"two streams", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":false,"stream":true,` + msgs + `}`, "openai", "stream: the field appears twice"},
		{"two tools lists", "/v1/chat/completions", `{"model":"gpt-4o-mini",` + msgs + `,"tools":[],"tools":[{"type":"function","function":{"name":"f"}}]}`, "openai", "tools: the field appears twice"},
		{"two roles in a message", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a"},{"role":"user","role":"system","content":"b"}]}`, "openai", "messages[1].role: the field appears twice"},
		{"two extras", "/v1/chat/completions", `{"model":"gpt-4o-mini",` + msgs + `,"user":"alice","user":"bob"}`, "openai", "user: the field appears twice"},
		{"invalid UTF-8", "/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", "openai", "not valid UTF-8"},
		{"infinite temperature", "/v1/chat/completions", `{"model":"gpt-4o-mini","temperature":1e999,` + msgs + `}`, "openai", "temperature: the number 1e999 is too large"},
		{"infinite number in an extra", "/v1/chat/completions", `{"model":"gpt-4o-mini","logit_bias":{"50256":-1e400},` + msgs + `}`, "openai", "logit_bias.50256: the number -1e400 is too large"},
		{"anthropic: two models", "/v1/messages", `{"model":"claude-3-5-haiku-latest","max_tokens":64,"model":"claude-opus-4-1",` + msgs + `}`, "anthropic", "model: the field appears twice"},
		{"anthropic: two users in metadata", "/v1/messages", `{"model":"claude-3-5-haiku-latest","max_tokens":64,"metadata":{"user_id":"a","user_id":"b"},` + msgs + `}`, "anthropic", "metadata.user_id: the field appears twice"},
		{"anthropic: invalid UTF-8", "/v1/messages", "{\"model\":\"claude-3-5-haiku-latest\",\"max_tokens\":64,\"system\":\"\xc3\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "anthropic", "not valid UTF-8"},
		{"workers-ai: two max_tokens", cfBase + "/workers-ai/@cf/meta/llama-3.1-8b-instruct", `{"prompt":"Hi","max_tokens":5,"max_tokens":9000}`, "workers-ai", "max_tokens: the field appears twice"},
		{"embeddings: two models", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","model":"text-embedding-3-large"}`, "openai", "model: the field appears twice"},
		{"universal: two providers", cfBase, `[{"provider":"openai","provider":"anthropic","endpoint":"chat/completions","headers":{},"query":{"model":"gpt-4o-mini",` + msgs + `}}]`, "openai", "[0].provider: the field appears twice"},
		{"universal: two models in a query", cfBase, `[{"provider":"openai","endpoint":"chat/completions","headers":{},"query":{"model":"gpt-4o-mini","model":"gpt-4o",` + msgs + `}}]`, "openai", "[0].query.model: the field appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			resp, body := ts.post(t, tt.path, tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("%d %s, want 400", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("%s, want a message with %q", body, tt.want)
			}
			m := jsonOf(t, body)
			switch tt.format {
			case "anthropic":
				if m["type"] != "error" || path(m, "error", "type") != "invalid_request_error" {
					t.Errorf("not an Anthropic error: %s", body)
				}
			case "workers-ai":
				if m["success"] != false {
					t.Errorf("not a Workers AI error: %s", body)
				}
			default:
				if path(m, "error", "message") == nil {
					t.Errorf("not an OpenAI error: %s", body)
				}
			}
			if calls := ts.fakes.recorded(); len(calls) != 0 {
				t.Errorf("%d upstream calls, want none", len(calls))
			}
		})
	}
}

// A name used once in each of several objects is no ambiguity.
func TestSameNameInOtherObjectsPasses(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, body := ts.post(t, "/v1/chat/completions", `{"model":"gpt-4o-mini","metadata":{"model":"x","role":"y"},"messages":[{"role":"user","content":"model"},{"role":"assistant","content":"a"},{"role":"user","content":"b"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
