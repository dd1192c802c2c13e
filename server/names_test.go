package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestBareProvider(t *testing.T) {
	tests := []struct {
		name, def, want string
		ok              bool
	}{
		{"gpt-4o-mini", "", "openai", true},
		{"chatgpt-4o-latest", "", "openai", true},
		{"o1", "", "openai", true},
		{"o1-mini", "", "openai", true},
		{"o3-mini", "", "openai", true},
		{"o4-mini", "", "openai", true},
		{"text-embedding-3-small", "", "openai", true},
		{"claude-3-5-sonnet-20241022", "", "anthropic", true},
		{"@cf/baai/bge-small-en-v1.5", "", "workers-ai", true},
		{"@cf/meta/llama-3.1-8b-instruct", "groq", "workers-ai", true}, // a prefix beats the default
		{"llama3.2", "", "", false},
		{"llama3.2", "local", "local", true},
		{"qwen/qwen3-32b", "groq", "groq", true},
		{"GPT-4o", "", "", false}, // ids are case-sensitive, as the providers' are
	}
	for _, tt := range tests {
		got, ok := bareProvider(tt.name, tt.def)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bareProvider(%q, %q) = %q, %v; want %q, %v", tt.name, tt.def, got, ok, tt.want, tt.ok)
		}
	}
}

// A bare model name reaches the provider its prefix names, with the name
// as the model; declared names come first; the rest go to
// default_provider or are a 404 in the caller's format.
func TestBareNames(t *testing.T) {
	const chat = `{"model":%q,"messages":[{"role":"user","content":"Hi"}],"max_tokens":16}`
	tests := []struct {
		name, path, model, def string
		models                 map[string][]string
		kind, upstreamModel    string // the fake that must answer, and the model it must see
		status                 int
	}{
		{name: "gpt on chat completions", path: "/v1/chat/completions", model: "gpt-4o-mini", kind: "openai", upstreamModel: "gpt-4o-mini", status: 200},
		{name: "o3 on chat completions", path: "/v1/chat/completions", model: "o3-mini", kind: "openai", upstreamModel: "o3-mini", status: 200},
		{name: "claude on chat completions", path: "/v1/chat/completions", model: "claude-3-5-haiku-20241022", kind: "anthropic", upstreamModel: "claude-3-5-haiku-20241022", status: 200},
		{name: "workers ai on chat completions", path: "/v1/chat/completions", model: "@cf/meta/llama-3.1-8b-instruct", kind: "workers-ai", status: 200},
		{name: "claude on messages", path: "/v1/messages", model: "claude-3-5-sonnet-20241022", kind: "anthropic", upstreamModel: "claude-3-5-sonnet-20241022", status: 200},
		{name: "gpt on messages", path: "/v1/messages", model: "gpt-4o-mini", kind: "openai", upstreamModel: "gpt-4o-mini", status: 200},
		{name: "an alias before the prefix", path: "/v1/chat/completions", model: "gpt-4o-mini",
			models: map[string][]string{"gpt-4o-mini": {"groq/llama-3.1-8b-instant"}}, kind: "groq", upstreamModel: "llama-3.1-8b-instant", status: 200},
		{name: "default provider", path: "/v1/chat/completions", model: "llama3.2", def: "local", kind: "local", upstreamModel: "llama3.2", status: 200},
		{name: "unknown, openai format", path: "/v1/chat/completions", model: "llama3.2", status: 404},
		{name: "unknown, anthropic format", path: "/v1/messages", model: "mistral-large", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{opts: func(o *Options) {
				o.Models = tt.models
				o.Config.Server.DefaultProvider = tt.def
			}})
			resp, b := ts.post(t, tt.path, fmt.Sprintf(chat, tt.model), "anthropic-version", "2023-06-01")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tt.status == 404 {
				m := jsonOf(t, b)
				msg, _ := path(m, "error", "message").(string)
				if !strings.Contains(msg, `"`+tt.model+`"`) || !strings.Contains(msg, "provider/model") ||
					!strings.Contains(msg, "claude- → anthropic") || !strings.Contains(msg, "default_provider") {
					t.Errorf("message does not list the accepted forms: %s", msg)
				}
				if wantType := path(m, "type"); tt.path == "/v1/messages" && wantType != "error" {
					t.Errorf("not in Anthropic's format: %s", b)
				}
				if tt.path == "/v1/chat/completions" && path(m, "error", "code") != "model_not_found" {
					t.Errorf("not in OpenAI's format: %s", b)
				}
				if n := len(ts.fakes.recorded()); n != 0 {
					t.Errorf("%d upstream calls for an unknown name", n)
				}
				return
			}
			call := ts.fakes.last(tt.kind)
			if tt.upstreamModel != "" {
				var sent struct{ Model string }
				_ = json.Unmarshal(call.Body, &sent)
				if sent.Model != tt.upstreamModel {
					t.Errorf("upstream saw model %q, want %q", sent.Model, tt.upstreamModel)
				}
			} else if !strings.HasSuffix(call.Path, "/"+tt.model) {
				t.Errorf("upstream path %s does not name %s", call.Path, tt.model)
			}
		})
	}
}
