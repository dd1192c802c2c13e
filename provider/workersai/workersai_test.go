package workersai_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/workersai"

	conductor "github.com/conductor-go/conductor"
)

func TestWorkersAIRequestWire(t *testing.T) {
	tests := []struct {
		name    string
		base    string // appended to the fake's URL
		req     conductor.ChatRequest
		stream  bool
		golden  string
		uri     string
		headers map[string]string
	}{
		{
			name: "page: classify-intent, platform-native",
			base: "/client/v4/accounts/acct123/ai/run",
			req: conductor.ChatRequest{Provider: "workers-ai", Model: "@cf/meta/llama-3.1-8b-instruct", Temperature: ptr(0.7),
				Messages: []conductor.Message{
					conductor.TextMessage("system", "Classify user intent into: question, request, or complaint."),
					conductor.TextMessage("user", "Where is my order?"),
				}},
			golden:  "workersai/request_page.golden.json",
			uri:     "/client/v4/accounts/acct123/ai/run/@cf/meta/llama-3.1-8b-instruct",
			headers: map[string]string{"Authorization": "Bearer cf-token", "Content-Type": "application/json"},
		},
		{
			name: "every field; json_schema unwrapped; Workers AI extras kept",
			base: "/client/v4/accounts/acct123/ai/run",
			req: conductor.ChatRequest{Provider: "workers-ai", Model: "@cf/meta/llama-3.1-8b-instruct", MaxTokens: 256,
				Temperature: ptr(0.0), TopP: ptr(0.9), Seed: ptr(int64(12345)),
				ResponseFormat: &conductor.ResponseFormat{Type: "json_schema", Name: "intent", Strict: ptr(true), Schema: json.RawMessage(`{"type":"object","properties":{"intent":{"type":"string"}}}`)},
				Messages:       []conductor.Message{conductor.TextMessage("user", "Where is my order?")},
				Extra: map[string]json.RawMessage{
					"top_k":              json.RawMessage(`10`),
					"repetition_penalty": json.RawMessage(`1.1`),
					"model":              json.RawMessage(`"x"`), // in the URL: dropped
				},
				ExtraFormat: provider.FormatWorkersAI},
			golden:  "workersai/request_full.golden.json",
			uri:     "/client/v4/accounts/acct123/ai/run/@cf/meta/llama-3.1-8b-instruct",
			headers: map[string]string{"Authorization": "Bearer cf-token"},
		},
		{
			name: "stream through the Cloudflare gateway",
			base: "/v1/acct123/my-gateway/workers-ai",
			req: conductor.ChatRequest{Provider: "workers-ai", Model: "@cf/meta/llama-3.1-8b-instruct",
				Messages: []conductor.Message{conductor.TextMessage("user", "Tell me about New York")}},
			stream:  true,
			golden:  "workersai/request_stream.golden.json",
			uri:     "/v1/acct123/my-gateway/workers-ai/@cf/meta/llama-3.1-8b-instruct",
			headers: map[string]string{"Accept": "text/event-stream"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reply{File: "workersai/run.json", Header: map[string]string{"Content-Type": "application/json"}}
			if tt.stream {
				r = reply{File: "workersai/stream.sse", Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}}
			}
			f := newFake(t, r)
			p := workersai.New(provider.Endpoint{BaseURL: f.URL + tt.base, APIKey: "cf-token"})
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
			if got.Method != http.MethodPost || got.RequestURI != tt.uri {
				t.Errorf("sent %s %s, want POST %s", got.Method, got.RequestURI, tt.uri)
			}
			wantHeaders(t, got.Header, tt.headers)
			checkGolden(t, tt.golden, got.Body)
		})
	}
}

func TestWorkersAIBaseURL(t *testing.T) {
	if got := workersai.BaseURL("", "acct123"); got != "https://api.cloudflare.com/client/v4/accounts/acct123/ai/run" {
		t.Error(got)
	}
	if got := workersai.BaseURL("http://127.0.0.1:8787/client/v4/", "a/b"); got != "http://127.0.0.1:8787/client/v4/accounts/a%2Fb/ai/run" {
		t.Error(got)
	}
}

func TestWorkersAIModelPath(t *testing.T) {
	// The URLs themselves are checked in package workersai (modelURL);
	// here, that a model the URL refuses is a bad request before any call.
	w := workersai.New(provider.Endpoint{BaseURL: "https://x.test/run"})
	for _, model := range []string{"", "@cf/../secrets", "@cf//x", "/abs"} {
		_, err := w.Chat(context.Background(), &conductor.ChatRequest{Model: model})
		checkClass(t, err, "workers-ai", conductor.ClassBadRequest, false)
	}
}

func TestWorkersAIAnswers(t *testing.T) {
	tests := []struct {
		file string
		want conductor.ChatResponse
	}{
		{"workersai/run.json", conductor.ChatResponse{Model: "@cf/meta/llama-3.1-8b-instruct", RequestID: "8f1e2d3c4b5a6978-SJC",
			Content: conductor.Texts("Hello! It's nice to meet you. Is there something I can help you with?"),
			Usage:   conductor.Usage{InputTokens: 12, OutputTokens: 18}}},
		// 2×4+3 + "system"(1) + "Classify user intent into: question,
		// request, or complaint."(8 words, 4 marks: 12) + "user"(1) +
		// "Where is my order?"(5) = 30; "Question" = 1.
		{"workersai/run_no_usage.json", conductor.ChatResponse{Model: "@cf/meta/llama-3.1-8b-instruct", RequestID: "8f1e2d3c4b5a6978-SJC",
			Content: conductor.Texts("Question"), Usage: conductor.Usage{InputTokens: 30, OutputTokens: 1, Estimated: true}}},
		{"workersai/run_json_mode.json", conductor.ChatResponse{Model: "@cf/meta/llama-3.1-8b-instruct", RequestID: "8f1e2d3c4b5a6978-SJC",
			Content: conductor.Texts(`{"intent":"question","confidence":0.92}`), Usage: conductor.Usage{InputTokens: 48, OutputTokens: 14}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFake(t, reply{File: tt.file, Header: map[string]string{"Content-Type": "application/json", "cf-ray": "8f1e2d3c4b5a6978-SJC"}})
			got, err := workersai.New(provider.Endpoint{BaseURL: f.URL}).Chat(context.Background(), &conductor.ChatRequest{
				Model: "@cf/meta/llama-3.1-8b-instruct", Messages: []conductor.Message{
					conductor.TextMessage("system", "Classify user intent into: question, request, or complaint."),
					conductor.TextMessage("user", "Where is my order?")}})
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, got, &tt.want)
		})
	}
}

func TestWorkersAISuccessFalse(t *testing.T) {
	f := newFake(t, reply{File: "workersai/run_success_false.json", Header: map[string]string{"Content-Type": "application/json", "cf-ray": "ray1"}})
	_, err := workersai.New(provider.Endpoint{BaseURL: f.URL}).Chat(context.Background(), &conductor.ChatRequest{Model: "@cf/meta/llama-3.1-8b-instruct"})
	e := checkClass(t, err, "workers-ai", conductor.ClassProviderFail, false)
	if e.Message != "AiError: JSON Mode couldn't be met (code 5006)" || e.Code != "5006" || e.Status != 200 || e.RequestID != "ray1" {
		t.Errorf("got %+v", *e)
	}
}

func TestWorkersAIStreams(t *testing.T) {
	tests := []struct {
		file  string
		text  string
		usage conductor.Usage
	}{
		// Estimated: input 4+3 + user(1) + "Hi"(1); output New York City = 3.
		{"workersai/stream.sse", "New York City", conductor.Usage{InputTokens: 9, OutputTokens: 3, Estimated: true}},
		{"workersai/stream_usage.sse", "Hello world", conductor.Usage{InputTokens: 17, OutputTokens: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFake(t, reply{File: tt.file, Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}})
			s, err := workersai.New(provider.Endpoint{BaseURL: f.URL}).Stream(context.Background(), &conductor.ChatRequest{
				Model: "@cf/meta/llama-3.1-8b-instruct", Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}})
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, s)
			if got.Text != tt.text || got.Usage == nil || *got.Usage != tt.usage {
				t.Errorf("got %q usage %+v", got.Text, got.Usage)
			}
		})
	}
}

func TestWorkersAIOpenAIShapedChunks(t *testing.T) {
	ch, emit, done, err := workersai.DecodeStreamEvent(provider.Event{Data: []byte(`{"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}]}`)})
	if err != nil || !emit || done || ch.Delta != "Hi" || ch.FinishReason != "stop" {
		t.Errorf("got %+v %v %v %v", ch, emit, done, err)
	}
}
