package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The request side of tool conversations, images and structured output
// through the server: the caller's body goes upstream as bytes to its own
// format, and is translated exactly (the provider's conformance pairs) to
// the other.

// conformance reads a request pair body from the provider's suite.
func conformance(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "provider", "testdata", "conformance", "requests", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withModel is body with its model replaced.
func withModel(t *testing.T, body []byte, model string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["model"], _ = json.Marshal(model)
	out, _ := json.Marshal(m)
	return string(out)
}

func sameJSONValue(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestToolTurnsPassThrough(t *testing.T) {
	tests := []struct {
		name, path, file, kind, model string
	}{
		{"OpenAI tool results", "/v1/chat/completions", "parallel-tool-results.openai.json", "openai", "gpt-4o"},
		{"OpenAI image", "/v1/chat/completions", "image-base64.openai.json", "openai", "gpt-4o"},
		{"Anthropic tool results", "/v1/messages", "parallel-tool-results.anthropic.json", "anthropic", "claude-sonnet-4-5"},
		{"Anthropic own blocks", "/v1/messages", "anthropic-own-blocks.anthropic.json", "anthropic", "claude-sonnet-4-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			body := string(conformance(t, tt.file))
			// Named provider/model: only the model is rewritten.
			named := strings.Replace(body, `"model": "`+tt.model+`"`, `"model": "`+tt.kind+"/"+tt.model+`"`, 1)
			if named == body {
				t.Fatalf("%s names no model %s", tt.file, tt.model)
			}
			resp, got := ts.post(t, tt.path, named)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			if up := ts.fakes.last(tt.kind).Body; string(up) != body {
				t.Errorf("the body was not passed through:\n got %s\nwant %s", up, body)
			}
		})
	}
}

func TestToolTurnsTranslated(t *testing.T) {
	tests := []struct {
		name, path, from, to, kind, model string
	}{
		{"OpenAI client, Anthropic model", "/v1/chat/completions", "parallel-tool-results.openai.json", "parallel-tool-results.anthropic.json", "anthropic", "anthropic/claude-sonnet-4-5"},
		{"Anthropic client, OpenAI model", "/v1/messages", "parallel-tool-results.anthropic.json", "parallel-tool-results.openai.json", "openai", "openai/gpt-4o"},
		{"image to Anthropic", "/v1/chat/completions", "image-base64.openai.json", "image-base64.anthropic.json", "anthropic", "anthropic/claude-sonnet-4-5"},
		{"structured output to Anthropic", "/v1/chat/completions", "structured-output.openai.json", "structured-output.anthropic.json", "anthropic", "anthropic/claude-sonnet-4-5"},
		{"structured output to OpenAI", "/v1/messages", "structured-output.anthropic.json", "structured-output.openai.json", "openai", "openai/gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			resp, got := ts.post(t, tt.path, withModel(t, conformance(t, tt.from), tt.model))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			want := conformance(t, tt.to)
			if up := ts.fakes.last(tt.kind).Body; !sameJSONValue(t, up, want) {
				t.Errorf("upstream body\n got %s\nwant %s", up, want)
			}
		})
	}
}

// What the upstream cannot carry is a 400 in the caller's format naming
// the field and the upstream, and no call.
func TestUntranslatableRefused(t *testing.T) {
	tests := []struct {
		name, path, body, kind, field string
	}{
		{"n to Anthropic", "/v1/chat/completions", `{"model":"anthropic/claude-sonnet-4-5","n":3,"messages":[{"role":"user","content":"Hi"}]}`, "anthropic", "n: "},
		{"logprobs to Anthropic", "/v1/chat/completions", `{"model":"anthropic/claude-sonnet-4-5","logprobs":true,"messages":[{"role":"user","content":"Hi"}]}`, "anthropic", "logprobs: "},
		{"tools of Anthropic's own to OpenAI", "/v1/messages", `{"model":"openai/gpt-4o","max_tokens":9,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"Hi"}]}`, "openai", "tools: "},
		{"an http image to Workers AI", "/v1/chat/completions", `{"model":"workers-ai/@cf/meta/llama-4-scout-17b-16e-instruct","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`, "workers-ai", "messages[0].content[0]: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			resp, got := ts.post(t, tt.path, tt.body, oneAttempt()...)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			msg, _ := path(jsonOf(t, got), "error", "message").(string)
			if !strings.Contains(msg, tt.field) || !strings.Contains(msg, tt.kind) {
				t.Errorf("message %q does not name %q and %s", msg, tt.field, tt.kind)
			}
			if n := ts.fakes.count(tt.kind); n != 0 {
				t.Errorf("%d calls reached %s", n, tt.kind)
			}
		})
	}
}
