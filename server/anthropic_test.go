package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestMessagesPassThrough(t *testing.T) {
	for _, model := range []string{"anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"} {
		t.Run(model, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			body := `{"model":"` + model + `","max_tokens":1024,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Hi"}],"top_k":5}`
			resp, got := ts.post(t, "/v1/messages", body, "anthropic-version", "2023-06-01", "anthropic-beta", "prompt-caching-2024-07-31")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			if want := fixture(t, "anthropic/message.json"); !bytes.Equal(got, want) {
				t.Errorf("answer re-encoded:\n got %s\nwant %s", got, want)
			}
			up := ts.fakes.last("anthropic")
			wantBody := strings.Replace(body, model, "claude-3-5-sonnet-20241022", 1)
			if string(up.Body) != wantBody {
				t.Errorf("upstream body:\n got %s\nwant %s", up.Body, wantBody)
			}
			if up.Header.Get("anthropic-beta") != "prompt-caching-2024-07-31" || up.Header.Get("anthropic-version") != "2023-06-01" {
				t.Errorf("caller's anthropic headers not forwarded: %v", up.Header)
			}
		})
	}
}

func TestMessagesStreamPassThrough(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, "/v1/messages", `{"model":"anthropic/claude-3-5-sonnet-20241022","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	want := parseSSE(t, fixture(t, "anthropic/stream.sse"))
	events := parseSSE(t, got)
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d:\n%s", len(events), len(want), got)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, events[i], want[i])
		}
	}
}

// anthropicSequence checks a translated stream: the event names in
// Anthropic's order, the text, the stop reason and the usage.
func anthropicSequence(t *testing.T, body []byte, wantText, wantStop string, wantIn, wantOut float64) {
	t.Helper()
	events := parseSSE(t, body)
	var names []string
	var text strings.Builder
	for _, e := range events {
		names = append(names, e.Name)
		d := jsonOf(t, []byte(e.Data))
		if d["type"] != e.Name {
			t.Errorf("event %s carries type %v", e.Name, d["type"])
		}
		switch e.Name {
		case "content_block_delta":
			text.WriteString(path(d, "delta", "text").(string))
		case "message_delta":
			if path(d, "delta", "stop_reason") != wantStop || path(d, "usage", "input_tokens") != wantIn || path(d, "usage", "output_tokens") != wantOut {
				t.Errorf("message_delta %s", e.Data)
			}
		case "message_start":
			if path(d, "message", "role") != "assistant" || path(d, "message", "type") != "message" {
				t.Errorf("message_start %s", e.Data)
			}
		}
	}
	seq := strings.Join(names, " ")
	wantSeq := "message_start content_block_start " + strings.Repeat("content_block_delta ", strings.Count(seq, "content_block_delta")) + "content_block_stop message_delta message_stop"
	if seq != wantSeq {
		t.Errorf("event sequence\n got %s\nwant %s", seq, wantSeq)
	}
	if text.String() != wantText {
		t.Errorf("text %q, want %q", text.String(), wantText)
	}
}

func TestMessagesToOpenAI(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	body := `{"model":"openai/gpt-4o","max_tokens":100,"system":"Be brief.","metadata":{"user_id":"u-1"},"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}`
	resp, got := ts.post(t, "/v1/messages", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	up := jsonOf(t, ts.fakes.last("openai").Body)
	if up["model"] != "gpt-4o" || path(up, "messages", 0, "role") != "system" || path(up, "messages", 1, "content") != "Hi" || up["max_completion_tokens"] != 100.0 {
		t.Errorf("upstream OpenAI body %v", up)
	}
	for _, k := range []string{"metadata", "top_k", "system"} {
		if _, ok := up[k]; ok {
			t.Errorf("Anthropic field %s reached OpenAI", k)
		}
	}
	if up["user"] != "u-1" {
		t.Errorf("metadata.user_id did not become OpenAI's user: %v", up)
	}
	a := jsonOf(t, got)
	if a["type"] != "message" || path(a, "content", 0, "text") != "Hello! How can I assist you today?" ||
		a["stop_reason"] != "end_turn" || path(a, "usage", "input_tokens") != 19.0 || path(a, "usage", "output_tokens") != 10.0 {
		t.Errorf("translated answer %s", got)
	}

	resp, got = ts.post(t, "/v1/messages", strings.Replace(body, `"max_tokens":100`, `"max_tokens":100,"stream":true`, 1))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d: %s", resp.StatusCode, got)
	}
	anthropicSequence(t, got, "Hello there!", "end_turn", 9, 3)
}

func TestMessagesToWorkersAIStream(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, "/v1/messages", `{"model":"workers-ai/@cf/meta/llama-3.1-8b-instruct","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	anthropicSequence(t, got, "Hello world", "end_turn", 17, 2)
}

func TestMessagesErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		push       *canned
		wantStatus int
		wantType   string
	}{
		{"no max_tokens", `{"model":"claude-3-5-haiku-latest","messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error"},
		{"top_k to OpenAI", `{"model":"openai/gpt-4o","max_tokens":5,"top_k":3,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error"},
		{"a document to OpenAI", `{"model":"openai/gpt-4o","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"}}]}]}`, nil, 400, "invalid_request_error"},
		{"unknown model", `{"model":"mistral-large","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil, 404, "not_found_error"},
		{"upstream 429", `{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
			&canned{status: 429, file: "anthropic/error_429.json"}, 429, "rate_limit_error"},
		{"OpenAI 400 in Anthropic's format", `{"model":"openai/gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
			&canned{status: 400, file: "openai/error_400.json"}, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			if tt.push != nil {
				ts.fakes.push("anthropic", *tt.push)
				ts.fakes.push("openai", *tt.push)
			}
			resp, got := ts.post(t, "/v1/messages", tt.body, oneAttempt()...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, got)
			}
			e := jsonOf(t, got)
			if e["type"] != "error" || path(e, "error", "type") != tt.wantType || path(e, "error", "message") == "" {
				t.Errorf("not the Anthropic error we want: %s", got)
			}
		})
	}
}

func TestMessagesStreamFailsMidway(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	ts.fakes.push("openai", canned{file: "openai/stream_error.sse"})
	resp, got := ts.post(t, "/v1/messages", `{"model":"openai/gpt-4o","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	events := parseSSE(t, got)
	last := events[len(events)-1]
	if last.Name != "error" || path(jsonOf(t, []byte(last.Data)), "error", "type") != "api_error" {
		t.Errorf("last event %+v", last)
	}
	for _, e := range events {
		if e.Name == "message_stop" {
			t.Error("a failed stream must not end with message_stop")
		}
	}
}
