package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"

	conductor "github.com/conductor-go/conductor"
)

func TestOpenAIRequestWire(t *testing.T) {
	tests := []struct {
		name    string
		ep      provider.Endpoint // BaseURL is the fake's URL + ep.BaseURL
		req     conductor.ChatRequest
		stream  bool
		golden  string
		path    string
		headers map[string]string
	}{
		{
			name: "openai every field",
			ep:   provider.Endpoint{Name: "openai", BaseURL: "/v1", APIKey: "sk-test", Header: http.Header{"Openai-Project": {"proj_1"}}},
			req: conductor.ChatRequest{
				Provider: "openai", Model: "gpt-4o",
				Messages: []conductor.Message{
					conductor.TextMessage("system", "You are terse.\tReply in <b>JSON</b> & nothing else."),
					conductor.TextMessage("user", "Say \"hi\" to José\n\u2028bye \x01"),
				},
				Temperature:    ptr(0.7),
				TopP:           ptr(0.9),
				MaxTokens:      2000,
				Stop:           []string{"END", "\n\n"},
				Seed:           ptr(int64(42)),
				ResponseFormat: &conductor.ResponseFormat{Type: "json_object"},
				Tools: []conductor.Tool{{Name: "get_weather",
					Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
				ToolChoice: &conductor.ToolChoice{Mode: "auto"},
				Extra: map[string]json.RawMessage{
					"logprobs":   json.RawMessage(`true`),
					"stream":     json.RawMessage(`true`), // ours to decide: dropped
					"max_tokens": json.RawMessage(`5`),    // MaxTokens wins: dropped
					"model":      json.RawMessage(`"x"`),  // written already: dropped
				},
				ExtraFormat: provider.FormatOpenAI,
			},
			golden: "openai/request_full.golden.json",
			path:   "/v1/chat/completions",
			headers: map[string]string{
				"Authorization":  "Bearer sk-test",
				"Content-Type":   "application/json",
				"Accept":         "application/json",
				"Openai-Project": "proj_1",
				"X-Api-Key":      "",
			},
		},
		{
			name: "page: o1-preview direct, temperature 1.0",
			ep:   provider.Endpoint{Name: "openai", BaseURL: "/v1", APIKey: "sk-test"},
			req: conductor.ChatRequest{Provider: "openai", Model: "o1-preview", Temperature: ptr(1.0),
				Messages: []conductor.Message{conductor.TextMessage("user", "Write a haiku about Go.")}},
			golden:  "openai/request_o1.golden.json",
			path:    "/v1/chat/completions",
			headers: map[string]string{"Authorization": "Bearer sk-test"},
		},
		{
			name: "groq: max_tokens, temperature 0 is sent",
			ep:   provider.Endpoint{Name: "groq", BaseURL: "/openai/v1", APIKey: "gsk_test"},
			req: conductor.ChatRequest{Provider: "groq", Model: "llama-3.1-70b-versatile", Temperature: ptr(0.0), MaxTokens: 100,
				Messages: []conductor.Message{conductor.TextMessage("user", "Extract the entities.")}},
			golden:  "openai/request_groq.golden.json",
			path:    "/openai/v1/chat/completions",
			headers: map[string]string{"Authorization": "Bearer gsk_test"},
		},
		{
			name: "local server: no key, no auth header",
			ep:   provider.Endpoint{Name: "local", BaseURL: "/v1/"},
			req: conductor.ChatRequest{Provider: "local", Model: "llama3.2",
				Messages: []conductor.Message{conductor.TextMessage("user", "Why is the sky blue?")}},
			golden:  "openai/request_local.golden.json",
			path:    "/v1/chat/completions",
			headers: map[string]string{"Authorization": ""},
		},
		{
			name: "stream asks for usage",
			ep:   provider.Endpoint{Name: "openai", BaseURL: "/v1", APIKey: "sk-test"},
			req: conductor.ChatRequest{Provider: "openai", Model: "gpt-4o-mini", MaxTokens: 50,
				Messages: []conductor.Message{conductor.TextMessage("user", "Hi")},
				Extra:    map[string]json.RawMessage{"stream_options": json.RawMessage(`{"include_usage":false}`)}},
			stream:  true,
			golden:  "openai/request_stream.golden.json",
			path:    "/v1/chat/completions",
			headers: map[string]string{"Accept": "text/event-stream"},
		},
		{
			name: "cloudflare gateway base URL",
			ep:   provider.Endpoint{Name: "openai", BaseURL: "/v1/acct123/my-gateway/openai", APIKey: "sk-test"},
			req: conductor.ChatRequest{Provider: "openai", Model: "gpt-4o", Temperature: ptr(0.7), MaxTokens: 2000,
				Messages: []conductor.Message{conductor.TextMessage("user", "Write a draft.")}},
			golden:  "openai/request_gateway.golden.json",
			path:    "/v1/acct123/my-gateway/openai/chat/completions",
			headers: map[string]string{"Authorization": "Bearer sk-test"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reply{File: "openai/chat_completion.json", Header: map[string]string{"Content-Type": "application/json"}}
			if tt.stream {
				r = reply{File: "openai/stream.sse", Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}}
			}
			f := newFake(t, r)
			ep := tt.ep
			ep.BaseURL = f.URL + ep.BaseURL
			p := openai.New(ep)
			if tt.stream {
				s, err := p.Stream(context.Background(), &tt.req)
				if err != nil {
					t.Fatal(err)
				}
				drain(t, s)
			} else if _, err := p.Chat(context.Background(), &tt.req); err != nil {
				t.Fatal(err)
			}
			got := f.Last(t)
			if got.Method != http.MethodPost || got.Path != tt.path || got.RequestURI != tt.path {
				t.Errorf("sent %s %s (path %s), want POST %s", got.Method, got.RequestURI, got.Path, tt.path)
			}
			wantHeaders(t, got.Header, tt.headers)
			checkGolden(t, tt.golden, got.Body)
			if !json.Valid(got.Body) {
				t.Errorf("body is not valid JSON: %s", got.Body)
			}
		})
	}
}

// The golden bodies must mean what the request says, read back with
// encoding/json, independent of our encoder.
func TestOpenAIRequestGoldenMeaning(t *testing.T) {
	var body map[string]any
	if err := json.Unmarshal(readTestdata(t, "openai/request_full.golden.json"), &body); err != nil {
		t.Fatal(err)
	}
	msgs := body["messages"].([]any)
	if got := msgs[1].(map[string]any)["content"]; got != "Say \"hi\" to José\n\u2028bye \x01" {
		t.Errorf("content read back as %q", got)
	}
	for k, want := range map[string]any{"model": "gpt-4o", "temperature": 0.7, "top_p": 0.9,
		"max_completion_tokens": 2000.0, "seed": 42.0, "tool_choice": "auto", "logprobs": true} {
		if body[k] != want {
			t.Errorf("%s = %v, want %v", k, body[k], want)
		}
	}
	for _, k := range []string{"max_tokens", "stream", "stream_options"} {
		if _, ok := body[k]; ok {
			t.Errorf("%s must not be sent", k)
		}
	}
}

func TestOpenAIChatAnswers(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		file     string
		header   map[string]string
		want     conductor.ChatResponse
	}{
		{
			name: "openai", provider: "openai", file: "openai/chat_completion.json",
			header: map[string]string{"x-request-id": "req_8a1c"},
			want: conductor.ChatResponse{ID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Model: "gpt-4o-2024-08-06",
				Content: conductor.Texts("Hello! How can I assist you today?"), FinishReason: "stop", RequestID: "req_8a1c",
				Usage: conductor.Usage{InputTokens: 19, OutputTokens: 10}},
		},
		{
			name: "cached tokens and logprobs", provider: "openai", file: "openai/chat_completion_cached.json",
			want: conductor.ChatResponse{ID: "chatcmpl-abc123", Model: "gpt-4o-mini-2024-07-18",
				Content: conductor.Texts("The capital of France is Paris."), FinishReason: "length",
				Usage: conductor.Usage{InputTokens: 2006, OutputTokens: 300, CachedInputTokens: 1920}},
		},
		{
			name: "tool call: content null", provider: "openai", file: "openai/chat_completion_tool_calls.json",
			want: conductor.ChatResponse{ID: "chatcmpl-abc123", Model: "gpt-4o-mini", FinishReason: "tool_calls",
				Usage: conductor.Usage{InputTokens: 82, OutputTokens: 17}},
		},
		{
			name: "groq: x_groq id", provider: "groq", file: "openai/chat_completion_groq.json",
			want: conductor.ChatResponse{ID: "chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22", Model: "llama-3.1-70b-versatile",
				Content: conductor.Texts("Fast language models have gained significant attention in recent years."), FinishReason: "stop",
				RequestID: "req_01jbd6g2qdfw2adyrt2az8hz4w", Usage: conductor.Usage{InputTokens: 18, OutputTokens: 556}},
		},
		{
			name: "local server without usage: estimated", provider: "local", file: "openai/chat_completion_local_no_usage.json",
			want: conductor.ChatResponse{ID: "chatcmpl-611", Model: "llama3.2",
				Content: conductor.Texts("The sky is blue because of Rayleigh scattering."), FinishReason: "stop",
				// 2 messages×4 + 3 priming + "user"(1) + "Why is the sky blue?"(6) +
				// "system"(1) + "Be brief."(3) = 22; the answer: 8 words, one of
				// them over 9 letters ("scattering": 2), and "." = 10.
				Usage: conductor.Usage{InputTokens: 22, OutputTokens: 10, Estimated: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range tt.header {
				h[k] = v
			}
			f := newFake(t, reply{File: tt.file, Header: h})
			p := openai.New(provider.Endpoint{Name: tt.provider, BaseURL: f.URL, APIKey: "k"})
			req := &conductor.ChatRequest{Provider: tt.provider, Model: "m", Messages: []conductor.Message{
				conductor.TextMessage("system", "Be brief."), conductor.TextMessage("user", "Why is the sky blue?")}}
			got, err := p.Chat(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, got, &tt.want)
			if string(got.Raw) != string(readTestdata(t, tt.file)) {
				t.Error("Raw is not the body as received")
			}
			if got.Meta.Provider != tt.provider || got.Meta.Attempts != 1 {
				t.Errorf("meta = %+v", got.Meta)
			}
		})
	}
}

func TestOpenAIStreams(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		file     string
		text     string
		finish   string
		usage    conductor.Usage
		raw      int // events passed through
	}{
		{name: "openai with include_usage", provider: "openai", file: "openai/stream.sse", text: "Hello there!", finish: "stop",
			usage: conductor.Usage{InputTokens: 9, OutputTokens: 3}, raw: 5},
		{name: "groq x_groq.usage", provider: "groq", file: "openai/stream_groq.sse", text: "Fast models", finish: "stop",
			usage: conductor.Usage{InputTokens: 18, OutputTokens: 2}, raw: 4},
		{name: "local without usage: estimated", provider: "local", file: "openai/stream_no_usage.sse", text: "The sky is blue.", finish: "stop",
			// input: 4+3 + "user"(1) + "Hi"(1) = 9; output: The sky is blue . = 5
			usage: conductor.Usage{InputTokens: 9, OutputTokens: 5, Estimated: true}, raw: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{File: tt.file, Stream: true, Header: map[string]string{"Content-Type": "text/event-stream; charset=utf-8"}})
			p := openai.New(provider.Endpoint{Name: tt.provider, BaseURL: f.URL})
			s, err := p.Stream(context.Background(), &conductor.ChatRequest{Model: "m", Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}})
			if err != nil {
				t.Fatal(err)
			}
			if m := s.Meta(); m.Provider != tt.provider {
				t.Errorf("meta provider = %q", m.Provider)
			}
			got := drain(t, s)
			if got.Text != tt.text || got.Finish != tt.finish || got.Usage == nil || *got.Usage != tt.usage || len(got.Raw) != tt.raw {
				t.Errorf("got text=%q finish=%q usage=%+v raw=%d; want %q %q %+v %d", got.Text, got.Finish, got.Usage, len(got.Raw), tt.text, tt.finish, tt.usage, tt.raw)
			}
			// Next after the end keeps saying io.EOF.
			if _, err := s.Next(); err != io.EOF {
				t.Errorf("Next after end = %v", err)
			}
		})
	}
}

func TestOpenAIStreamRawPassesThrough(t *testing.T) {
	f := newFake(t, reply{File: "openai/stream.sse", Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}})
	s, err := openai.New(provider.Endpoint{Name: "openai", BaseURL: f.URL}).Stream(context.Background(),
		&conductor.ChatRequest{Model: "m", Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	// Re-framing every Raw with "data: " and a blank line, then [DONE],
	// gives back the stream as the provider sent it.
	var b strings.Builder
	for _, r := range got.Raw {
		b.WriteString("data: " + r + "\n\n")
	}
	b.WriteString("data: [DONE]\n\n")
	if b.String() != string(readTestdata(t, "openai/stream.sse")) {
		t.Errorf("re-framed stream differs:\n%s", b.String())
	}
}

func TestDecodeOpenAIResponseErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		class conductor.ErrorClass
	}{
		{"not JSON", `<html>oops</html>`, conductor.ClassMalformed},
		{"truncated", `{"id":"chatcmpl-1","choices":[{"message":{"content":"Hel`, conductor.ClassMalformed},
		{"no choices", `{"id":"x","choices":[]}`, conductor.ClassMalformed},
		{"error body with 200", `{"error":{"message":"boom","type":"server_error","code":null}}`, conductor.ClassServer},
		{"content of the wrong type", `{"choices":[{"message":{"content":12}}]}`, conductor.ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openai.DecodeResponse([]byte(tt.body))
			e, ok := conductor.AsError(err)
			if !ok || e.Class != tt.class {
				t.Fatalf("err = %v, want class %s", err, tt.class)
			}
		})
	}
}

func TestEncodeOpenAIRequestRejects(t *testing.T) {
	nan := 0.0
	nan /= nan
	tests := []struct {
		name string
		req  conductor.ChatRequest
	}{
		{"NaN temperature", conductor.ChatRequest{Model: "m", Temperature: &nan}},
		{"invalid extra", conductor.ChatRequest{Model: "m", Extra: map[string]json.RawMessage{"tools": json.RawMessage(`[{`)}}},
		{"invalid tool schema", conductor.ChatRequest{Model: "m", Tools: []conductor.Tool{{Name: "f", Parameters: json.RawMessage(`{`)}}}},
		{"Anthropic top_k", conductor.ChatRequest{Model: "m", ExtraFormat: provider.FormatAnthropic, Extra: map[string]json.RawMessage{"top_k": json.RawMessage(`5`)}}},
		{"an Anthropic document", conductor.ChatRequest{Model: "m", Messages: []conductor.Message{{Role: "user", Content: []conductor.Block{
			{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: provider.FormatAnthropic, Kind: "document", Raw: json.RawMessage(`{"type":"document"}`)}}}}}}},
		{"unknown tool choice", conductor.ChatRequest{Model: "m", ToolChoice: &conductor.ToolChoice{Mode: "sometimes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openai.EncodeRequest(&tt.req)
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err = %v, want a bad_request error", err)
			}
			// The adapter refuses before any call, naming itself.
			_, err = openai.New(provider.Endpoint{Name: "groq", BaseURL: "http://127.0.0.1:1"}).Chat(context.Background(), &tt.req)
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest || e.Provider != "groq" {
				t.Fatalf("Chat err = %v", err)
			}
		})
	}
}

func TestEncodeOpenAIRequestMaxField(t *testing.T) {
	for prov, want := range map[string]string{"openai": "max_completion_tokens", "groq": "max_tokens", "local": "max_tokens", "": "max_tokens"} {
		b, err := openai.EncodeRequest(&conductor.ChatRequest{Provider: prov, Model: "m", MaxTokens: 7})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m[want] != 7.0 || len(m) != 3 {
			t.Errorf("%s: %s", prov, b)
		}
	}
}

func TestOpenAIStreamEventErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ev    provider.Event
		class conductor.ErrorClass
		retry bool
	}{
		{"server_error", provider.Event{Data: []byte(`{"error":{"message":"x","type":"server_error","param":null,"code":null}}`)}, conductor.ClassServer, true},
		{"event: error", provider.Event{Name: "error", Data: []byte(`{"message":"bad"}`)}, conductor.ClassProviderFail, false},
		{"groq x_groq.error", provider.Event{Data: []byte(`{"choices":[],"x_groq":{"error":"stopped: capacity"}}`)}, conductor.ClassProviderFail, false},
		{"not JSON", provider.Event{Data: []byte(`{"choices":`)}, conductor.ClassMalformed, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := openai.DecodeStreamEvent(tt.ev)
			e, ok := conductor.AsError(err)
			if !ok || e.Class != tt.class || e.Retryable != tt.retry {
				t.Fatalf("err = %#v", err)
			}
			if !errors.As(err, new(*conductor.Error)) {
				t.Fatal("not a *conductor.Error")
			}
		})
	}
}
