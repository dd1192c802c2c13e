package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/gateway"
)

func TestChatCompletionsPassThrough(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	// Key order, spacing and fields ChatRequest has no place for (n,
	// logit_bias, a vendor extension) must reach the upstream untouched.
	body := `{"messages": [{"role":"user","content":"Hi"}],  "model" : "openai/gpt-4o-mini", "n":1, "logit_bias":{"50256":-100}, "x_vendor":{"a":[1,2]}}`
	resp, got := ts.post(t, "/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	want := fixture(t, "openai/chat_completion.json")
	if !bytes.Equal(got, want) {
		t.Errorf("answer was re-encoded:\n got %s\nwant %s", got, want)
	}
	up := ts.fakes.last("openai")
	wantBody := `{"messages": [{"role":"user","content":"Hi"}],  "model" : "gpt-4o-mini", "n":1, "logit_bias":{"50256":-100}, "x_vendor":{"a":[1,2]}}`
	if string(up.Body) != wantBody {
		t.Errorf("upstream body:\n got %s\nwant %s", up.Body, wantBody)
	}
	if a := up.Header.Get("Authorization"); a != "Bearer "+serverOpenAIKey {
		t.Errorf("upstream Authorization %q, want the server's key", a)
	}
	if s := resp.Header.Get("cf-aig-step"); s != "0" {
		t.Errorf("cf-aig-step %q", s)
	}
}

func TestChatCompletionsStreamPassThrough(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		wantUsage    bool
		wantUpstream string
	}{
		{
			name:      "without include_usage the usage chunk stays ours",
			body:      `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			wantUsage: false,
		},
		{
			name:      "with include_usage it passes",
			body:      `{"model":"openai/gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`,
			wantUsage: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			resp, got := ts.post(t, "/v1/chat/completions", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type %q", ct)
			}
			events := parseSSE(t, got)
			upstream := parseSSE(t, fixture(t, "openai/stream.sse"))
			var want []string
			for _, e := range upstream {
				if !tt.wantUsage && strings.Contains(e.Data, `"choices":[]`) {
					continue
				}
				want = append(want, e.Data)
			}
			var gotData []string
			for _, e := range events {
				gotData = append(gotData, e.Data)
			}
			if strings.Join(gotData, "\n") != strings.Join(want, "\n") {
				t.Errorf("stream not passed through unchanged:\n got %q\nwant %q", gotData, want)
			}
			// The caller's bytes, model rewritten, the usage always asked for.
			wantUp := strings.Replace(tt.body, `"openai/gpt-4o-mini"`, `"gpt-4o-mini"`, 1)
			if !tt.wantUsage {
				wantUp = strings.TrimSuffix(wantUp, "}") + `,"stream_options":{"include_usage":true}}`
			}
			if up := ts.fakes.last("openai"); string(up.Body) != wantUp {
				t.Errorf("upstream body\n got %s\nwant %s", up.Body, wantUp)
			}
			// Priced from the upstream's own count, not an estimate.
			if rows := ts.flushLogs(t); len(rows) != 1 || rows[0].InputTokens != 9 || rows[0].OutputTokens != 3 {
				t.Errorf("log rows %+v", rows)
			}
		})
	}
}

func TestChatCompletionsToAnthropic(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	body := `{"model":"anthropic/claude-3-5-sonnet-20241022","max_tokens":300,"temperature":0.2,"user":"u-7",
		"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`
	resp, got := ts.post(t, "/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	up := ts.fakes.last("anthropic")
	ub := jsonOf(t, up.Body)
	if ub["model"] != "claude-3-5-sonnet-20241022" || ub["system"] != "Be brief." || ub["max_tokens"] != 300.0 || ub["temperature"] != 0.2 {
		t.Errorf("upstream Anthropic body %s", up.Body)
	}
	if _, ok := ub["user"]; ok {
		t.Errorf("OpenAI's user field reached Anthropic: %s", up.Body)
	}
	if k := up.Header.Get("x-api-key"); k != serverAnthropicKey {
		t.Errorf("x-api-key %q", k)
	}
	a := jsonOf(t, got)
	if a["object"] != "chat.completion" || path(a, "choices", 0, "message", "content") != "Hi! My name is Claude." ||
		path(a, "choices", 0, "finish_reason") != "stop" || path(a, "usage", "prompt_tokens") != 2095.0 ||
		path(a, "usage", "completion_tokens") != 503.0 || a["model"] != "claude-3-5-sonnet-20241022" {
		t.Errorf("translated answer %s", got)
	}
}

func TestChatCompletionsStreamToAnthropic(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	body := `{"model":"anthropic/claude-3-5-sonnet-20241022","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`
	resp, got := ts.post(t, "/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	events := parseSSE(t, got)
	var text strings.Builder
	var finish string
	var usage map[string]any
	for i, e := range events[:len(events)-1] {
		c := jsonOf(t, []byte(e.Data))
		if c["object"] != "chat.completion.chunk" || c["id"] != events0ID(t, events) {
			t.Errorf("chunk %d: %s", i, e.Data)
		}
		if i == 0 && path(c, "choices", 0, "delta", "role") != "assistant" {
			t.Errorf("first chunk has no role: %s", e.Data)
		}
		if s, ok := path(c, "choices", 0, "delta", "content").(string); ok {
			text.WriteString(s)
		}
		if f, ok := path(c, "choices", 0, "finish_reason").(string); ok {
			finish = f
		}
		if u, ok := c["usage"].(map[string]any); ok {
			usage = u
		}
	}
	if last := events[len(events)-1]; last.Data != "[DONE]" {
		t.Errorf("last event %q", last.Data)
	}
	if text.String() != "Hello!" || finish != "stop" {
		t.Errorf("text %q finish %q", text.String(), finish)
	}
	if usage == nil || usage["prompt_tokens"] != 25.0 || usage["completion_tokens"] != 15.0 {
		t.Errorf("usage %v", usage)
	}
	if !isStream(ts.fakes.last("anthropic").Body) {
		t.Error("the upstream call did not stream")
	}
}

func events0ID(t *testing.T, events []sseEvent) any {
	return jsonOf(t, []byte(events[0].Data))["id"]
}

func TestChatCompletionsToWorkersAI(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	body := `{"model":"workers-ai/@cf/meta/llama-3.1-8b-instruct","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`
	resp, got := ts.post(t, "/v1/chat/completions", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	up := ts.fakes.last("workers-ai")
	if up.Path != "/cf/accounts/"+testAccount+"/ai/run/@cf/meta/llama-3.1-8b-instruct" {
		t.Errorf("upstream path %s", up.Path)
	}
	if a := up.Header.Get("Authorization"); a != "Bearer "+serverCFToken {
		t.Errorf("Authorization %q", a)
	}
	a := jsonOf(t, got)
	if path(a, "choices", 0, "message", "content") != "Hello! It's nice to meet you. Is there something I can help you with?" ||
		path(a, "usage", "total_tokens") != 30.0 || a["model"] != "@cf/meta/llama-3.1-8b-instruct" {
		t.Errorf("answer %s", got)
	}

	resp, got = ts.post(t, "/v1/chat/completions", strings.Replace(body, `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d: %s", resp.StatusCode, got)
	}
	var text strings.Builder
	for _, e := range parseSSE(t, got) {
		if e.Data == "[DONE]" {
			continue
		}
		if s, ok := path(jsonOf(t, []byte(e.Data)), "choices", 0, "delta", "content").(string); ok {
			text.WriteString(s)
		}
	}
	if text.String() != "Hello world" {
		t.Errorf("streamed text %q", text.String())
	}
}

func TestChatCompletionsGroqAndLocal(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	for _, tt := range []struct{ model, kind, key string }{
		{"groq/llama-3.1-70b-versatile", "groq", "Bearer " + serverGroqKey},
		{"local/llama3.1:8b", "local", ""},
	} {
		resp, got := ts.post(t, "/v1/chat/completions", `{"model":"`+tt.model+`","messages":[{"role":"user","content":"Hi"}]}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tt.model, resp.StatusCode, got)
		}
		up := ts.fakes.last(tt.kind)
		if a := up.Header.Get("Authorization"); a != tt.key {
			t.Errorf("%s: Authorization %q", tt.model, a)
		}
		_, model, _ := strings.Cut(tt.model, "/")
		if jsonOf(t, up.Body)["model"] != model {
			t.Errorf("%s: upstream body %s", tt.model, up.Body)
		}
	}
}

func TestChatCompletionsErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		headers    []string
		push       []canned
		wantStatus int
		wantType   string
		wantCode   string
		wantInMsg  string
		retryAfter string
	}{
		{name: "not JSON", body: `{"model":`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "no messages", body: `{"model":"openai/gpt-4o"}`, wantStatus: 400, wantInMsg: "messages"},
		{name: "no model", body: `{"messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, wantInMsg: "model"},
		{name: "unknown provider", body: `{"model":"acme/x","messages":[{"role":"user","content":"x"}]}`, wantStatus: 404, wantCode: "model_not_found"},
		{name: "bare model no rule claims", body: `{"model":"llama3.2","messages":[{"role":"user","content":"x"}]}`, wantStatus: 404, wantCode: "model_not_found"},
		{name: "bad cf-aig header", body: `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}`,
			headers: []string{"cf-aig-backoff", "sideways"}, wantStatus: 400, wantInMsg: "cf-aig-backoff"},
		{
			name: "upstream 429 keeps its message and Retry-After", body: `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}`,
			headers: oneAttempt(), push: []canned{{status: 429, header: map[string]string{"Retry-After": "7"}, file: "openai/error_429.json"}},
			wantStatus: 429, wantCode: "rate_limit_exceeded", wantInMsg: "Rate limit reached for gpt-4o", retryAfter: "7",
		},
		{
			name: "upstream 400 stays 400", body: `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}`,
			push:       []canned{{status: 400, file: "openai/error_400.json"}},
			wantStatus: 400, wantCode: "context_length_exceeded", wantInMsg: "maximum context length",
		},
		{
			name: "upstream 500 is our 502", body: `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}`,
			headers: oneAttempt(), push: []canned{{status: 500, file: "openai/error_500.json"}},
			wantStatus: 502, wantType: "server_error",
		},
		{
			name: "Anthropic error through the OpenAI format", body: `{"model":"anthropic/claude-3-5-haiku-latest","messages":[{"role":"user","content":"x"}]}`,
			headers: oneAttempt(), push: []canned{{status: 429, file: "anthropic/error_429.json"}},
			wantStatus: 429, wantType: "rate_limit_error", wantInMsg: "exceed the rate limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			for _, c := range tt.push {
				ts.fakes.push("openai", c)
				ts.fakes.push("anthropic", c)
			}
			resp, got := ts.post(t, "/v1/chat/completions", tt.body, tt.headers...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, got)
			}
			e, ok := jsonOf(t, got)["error"].(map[string]any)
			if !ok {
				t.Fatalf("not an OpenAI error: %s", got)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := e[k]; !ok {
					t.Errorf("error has no %q: %s", k, got)
				}
			}
			if tt.wantType != "" && e["type"] != tt.wantType {
				t.Errorf("type %v, want %s", e["type"], tt.wantType)
			}
			if tt.wantCode != "" && e["code"] != tt.wantCode {
				t.Errorf("code %v, want %s", e["code"], tt.wantCode)
			}
			if msg, _ := e["message"].(string); !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not say %q", msg, tt.wantInMsg)
			}
			if tt.retryAfter != "" && resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("Retry-After %q, want %s", resp.Header.Get("Retry-After"), tt.retryAfter)
			}
		})
	}
}

func TestChatCompletionsStreamFailsMidway(t *testing.T) {
	tests := []struct {
		model, kind, file, wantText string
	}{
		{"openai/gpt-4o-mini", "openai", "openai/stream_error.sse", "Once upon"},
		{"anthropic/claude-3-5-sonnet-20241022", "anthropic", "anthropic/stream_error.sse", "Hello"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			ts.fakes.push(tt.kind, canned{file: tt.file})
			resp, got := ts.post(t, "/v1/chat/completions", `{"model":"`+tt.model+`","stream":true,"messages":[{"role":"user","content":"x"}]}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			events := parseSSE(t, got)
			last := events[len(events)-1]
			e, ok := jsonOf(t, []byte(last.Data))["error"].(map[string]any)
			if !ok || e["message"] == "" {
				t.Fatalf("the stream did not end with an error event: %q", events)
			}
			if strings.Contains(string(got), "[DONE]") {
				t.Error("a failed stream must not end with [DONE]")
			}
			if !strings.Contains(string(got), tt.wantText) {
				t.Errorf("the text before the failure is missing: %s", got)
			}
		})
	}
	// A failed stream is never cached: the next identical call goes
	// upstream, and the log says why the first was not stored.
	t.Run("never cached", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.fakes.push("openai", canned{file: "openai/stream_error.sse"})
		body := `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}`
		ts.post(t, "/v1/chat/completions", body, "cf-aig-cache-ttl", "3600")
		r, got := ts.post(t, "/v1/chat/completions", body, "cf-aig-cache-ttl", "3600")
		if r.Header.Get("cf-aig-cache-status") != "MISS" || ts.fakes.count("openai") != 2 || !strings.Contains(string(got), "[DONE]") {
			t.Errorf("after a failed stream: %s, %d upstream calls: %s", r.Header.Get("cf-aig-cache-status"), ts.fakes.count("openai"), got)
		}
		reasons := map[string]int{}
		for _, row := range ts.flushLogs(t) {
			reasons[row.MissReason]++
		}
		if reasons[gateway.MissStreamError] != 1 {
			t.Errorf("miss reasons %v, want one %s", reasons, gateway.MissStreamError)
		}
	})
}

func TestChatCompletionsMock(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"ping pong"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	a := jsonOf(t, got)
	if path(a, "choices", 0, "message", "content") != "ping pong" || a["id"] == "" {
		t.Errorf("answer %s", got)
	}
	var m struct {
		Created int64 `json:"created"`
	}
	_ = json.Unmarshal(got, &m)
	if m.Created != 1700000000 {
		t.Errorf("created %d", m.Created)
	}
}
