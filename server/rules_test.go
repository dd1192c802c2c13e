package server

import (
	"net/http"
	"strings"
	"testing"
)

// A request its model refuses is a 400 in the caller's format before any
// upstream call: the parameter rules of provider/rules.go, on every route.
func TestParameterRulesBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantIn           []string
	}{
		{
			name:   "temperature to an OpenAI reasoning model",
			path:   "/v1/chat/completions",
			body:   `{"model":"openai/o3-mini","temperature":0.3,"messages":[{"role":"user","content":"Hi"}]}`,
			wantIn: []string{"temperature", "o3-mini"},
		},
		{
			name:   "Anthropic temperature above 1, translated from OpenAI",
			path:   "/v1/chat/completions",
			body:   `{"model":"anthropic/claude-3-5-sonnet-20241022","temperature":1.5,"messages":[{"role":"user","content":"Hi"}]}`,
			wantIn: []string{"temperature", "claude-3-5-sonnet-20241022"},
		},
		{
			name:   "Anthropic temperature above 1, passed through",
			path:   "/v1/messages",
			body:   `{"model":"claude-3-5-sonnet-20241022","max_tokens":64,"temperature":1.5,"messages":[{"role":"user","content":"Hi"}]}`,
			wantIn: []string{"temperature"},
		},
		{
			name:   "an empty user message",
			path:   "/v1/messages",
			body:   `{"model":"openai/gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"  "}]}`,
			wantIn: []string{"empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			resp, got := ts.post(t, tt.path, tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, got)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(string(got), w) {
					t.Errorf("error %s does not name %q", got, w)
				}
			}
			if strings.HasPrefix(tt.path, "/v1/messages") != strings.Contains(string(got), `"type":"error"`) {
				t.Errorf("error not in the caller's format: %s", got)
			}
			if n := len(ts.fakes.recorded()); n != 0 {
				t.Errorf("%d upstream calls, want none", n)
			}
		})
	}
}

// An OpenAI reasoning model gets the system prompt as a developer message
// when the request is encoded for it (here, from an Anthropic caller).
func TestReasoningModelGetsDeveloperMessage(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, "/v1/messages", `{"model":"openai/o3-mini","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	body := string(ts.fakes.last("openai").Body)
	if !strings.Contains(body, `"role":"developer"`) || strings.Contains(body, `"role":"system"`) {
		t.Errorf("upstream body %s: want the system prompt as a developer message", body)
	}
}
