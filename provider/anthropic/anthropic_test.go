package anthropic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"

	conductor "github.com/conductor-go/conductor"
)

func TestAnthropicRequestWire(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		req     conductor.ChatRequest
		stream  bool
		golden  string
		path    string
		headers map[string]string
	}{
		{
			name: "page: analyze-sentiment, default max_tokens",
			req: conductor.ChatRequest{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Temperature: ptr(0.3),
				Messages: []conductor.Message{conductor.TextMessage("user", "I love this product!")}},
			golden: "anthropic/request_page.golden.json",
			path:   "/v1/messages",
			headers: map[string]string{"X-Api-Key": "sk-ant-test", "Anthropic-Version": "2023-06-01",
				"Content-Type": "application/json", "Authorization": ""},
		},
		{
			name: "systems lifted, same roles merged, Anthropic extras kept, json_object as output_config",
			req: conductor.ChatRequest{Provider: "anthropic", Model: "claude-sonnet-4-20250514", MaxTokens: 1024, TopP: ptr(0.5),
				Stop: []string{"###", " \n"}, ResponseFormat: &conductor.ResponseFormat{Type: "json_object"},
				Messages: []conductor.Message{
					conductor.TextMessage("system", "You are a critic."),
					conductor.TextMessage("user", "Rate this:"),
					conductor.TextMessage("user", "\"A tale\""),
					conductor.TextMessage("developer", "Answer in one word."),
					conductor.TextMessage("assistant", "Fine."),
					conductor.TextMessage("tool", "{\"ok\":true}"),
				},
				Extra: map[string]json.RawMessage{
					"top_k":    json.RawMessage(`40`),
					"metadata": json.RawMessage(`{"user_id":"u-1"}`),
				},
				ExtraFormat: provider.FormatAnthropic},
			golden:  "anthropic/request_full.golden.json",
			path:    "/v1/messages",
			headers: map[string]string{"X-Api-Key": "sk-ant-test"},
		},
		{
			name: "stream through the Cloudflare gateway",
			base: "/v1/acct123/my-gateway/anthropic",
			req: conductor.ChatRequest{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Temperature: ptr(0.7), MaxTokens: 512,
				Messages: []conductor.Message{conductor.TextMessage("system", "Be kind."), conductor.TextMessage("user", "Hello")}},
			stream:  true,
			golden:  "anthropic/request_stream.golden.json",
			path:    "/v1/acct123/my-gateway/anthropic/v1/messages",
			headers: map[string]string{"Accept": "text/event-stream", "Anthropic-Version": "2023-06-01"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reply{File: "anthropic/message.json", Header: map[string]string{"Content-Type": "application/json"}}
			if tt.stream {
				r = reply{File: "anthropic/stream.sse", Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}}
			}
			f := newFake(t, r)
			p := anthropic.New(provider.Endpoint{BaseURL: f.URL + tt.base, APIKey: "sk-ant-test"})
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
			if got.Method != http.MethodPost || got.RequestURI != tt.path {
				t.Errorf("sent %s %s, want POST %s", got.Method, got.RequestURI, tt.path)
			}
			wantHeaders(t, got.Header, tt.headers)
			checkGolden(t, tt.golden, got.Body)
		})
	}
}

func TestAnthropicRequestGoldenMeaning(t *testing.T) {
	var body struct {
		System    string `json:"system"`
		MaxTokens int    `json:"max_tokens"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		StopSequences []string `json:"stop_sequences"`
		TopK          int      `json:"top_k"`
		OutputConfig  struct {
			Format struct {
				Type   string         `json:"type"`
				Schema map[string]any `json:"schema"`
			} `json:"format"`
		} `json:"output_config"`
	}
	raw := readTestdata(t, "anthropic/request_full.golden.json")
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.System != "You are a critic.\n\nAnswer in one word." || body.MaxTokens != 1024 || body.TopK != 40 ||
		len(body.StopSequences) != 1 || len(body.Messages) != 3 {
		t.Fatalf("read back %+v", body)
	}
	if f := body.OutputConfig.Format; f.Type != "json_schema" || f.Schema["type"] != "object" || len(f.Schema) != 1 {
		t.Errorf("output_config.format %+v", f)
	}
	want := []string{`user:[{"type":"text","text":"Rate this:"},{"type":"text","text":"\"A tale\""}]`, `assistant:"Fine."`, `user:"{\"ok\":true}"`}
	for i, m := range body.Messages {
		if m.Role+":"+string(m.Content) != want[i] {
			t.Errorf("message %d = %s:%s, want %s", i, m.Role, m.Content, want[i])
		}
	}
	var all map[string]any
	_ = json.Unmarshal(raw, &all)
	for _, k := range []string{"seed", "response_format", "logprobs", "n", "stop"} {
		if _, ok := all[k]; ok {
			t.Errorf("%s must not be sent to Anthropic", k)
		}
	}
}

// What Anthropic cannot carry is refused by name before any call, never
// dropped.
func TestAnthropicRequestRefusals(t *testing.T) {
	msgs := []conductor.Message{conductor.TextMessage("user", "Hi")}
	tests := []struct {
		name  string
		req   conductor.ChatRequest
		field string
	}{
		{"n", conductor.ChatRequest{Model: "m", Messages: msgs, N: 2}, "n"},
		{"seed", conductor.ChatRequest{Model: "m", Messages: msgs, Seed: ptr(int64(7))}, "seed"},
		{"OpenAI logprobs", conductor.ChatRequest{Model: "m", Messages: msgs, ExtraFormat: provider.FormatOpenAI,
			Extra: map[string]json.RawMessage{"logprobs": json.RawMessage(`true`), "user": json.RawMessage(`"u"`)}}, "logprobs"},
		{"OpenAI penalties", conductor.ChatRequest{Model: "m", Messages: msgs, ExtraFormat: provider.FormatOpenAI,
			Extra: map[string]json.RawMessage{"presence_penalty": json.RawMessage(`1`)}}, "presence_penalty"},
		{"OpenAI custom tools", conductor.ChatRequest{Model: "m", Messages: msgs, ExtraFormat: provider.FormatOpenAI,
			Extra: map[string]json.RawMessage{"tools": json.RawMessage(`[{"type":"custom","custom":{"name":"x"}}]`)}}, "tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{File: "anthropic/message.json"})
			_, err := anthropic.New(provider.Endpoint{BaseURL: f.URL, APIKey: "k"}).Chat(context.Background(), &tt.req)
			e, ok := conductor.AsError(err)
			if !ok || e.Class != conductor.ClassBadRequest || e.Code != "unsupported_parameter" || e.Provider != "anthropic" ||
				!strings.HasPrefix(e.Message, tt.field+": ") || !strings.Contains(e.Message, "anthropic") {
				t.Fatalf("err = %v, want a refusal naming %s and anthropic", err, tt.field)
			}
			if f.Count() != 0 {
				t.Error("the request was sent")
			}
		})
	}
}

func TestAnthropicAnswers(t *testing.T) {
	tests := []struct {
		file string
		want conductor.ChatResponse
	}{
		{"anthropic/message.json", conductor.ChatResponse{ID: "msg_013Zva2CMHLNnXjNJJKqJ2EF", Model: "claude-3-5-sonnet-20241022",
			Content: conductor.Texts("Hi! My name is Claude."), FinishReason: "stop", RequestID: "req_018EeWyXxfu5pfWkrYcMdjWG",
			Usage: conductor.Usage{InputTokens: 2095, OutputTokens: 503}}},
		// Cache reads and writes count as input, OpenAI-style, and are also
		// reported apart.
		{"anthropic/message_cache_tool.json", conductor.ChatResponse{ID: "msg_01Aq9w938a90dw8q", Model: "claude-sonnet-4-20250514",
			Content: conductor.Texts("I'll check the weather."), FinishReason: "tool_calls", RequestID: "req_018EeWyXxfu5pfWkrYcMdjWG",
			Usage: conductor.Usage{InputTokens: 21 + 188086 + 1000, OutputTokens: 393, CachedInputTokens: 1000, CacheWriteInputTokens: 188086}}},
		{"anthropic/message_max_tokens.json", conductor.ChatResponse{ID: "msg_01BqJ6Xy", Model: "claude-3-5-sonnet-20241022",
			Content: conductor.Texts("Once upon"), FinishReason: "length", RequestID: "req_018EeWyXxfu5pfWkrYcMdjWG",
			Usage: conductor.Usage{InputTokens: 12, OutputTokens: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFake(t, reply{File: tt.file, Header: map[string]string{"Content-Type": "application/json", "request-id": "req_018EeWyXxfu5pfWkrYcMdjWG"}})
			got, err := anthropic.New(provider.Endpoint{BaseURL: f.URL}).Chat(context.Background(), &conductor.ChatRequest{Model: "m",
				Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}})
			if err != nil {
				t.Fatal(err)
			}
			checkResponse(t, got, &tt.want)
		})
	}
}

func TestAnthropicStream(t *testing.T) {
	f := newFake(t, reply{File: "anthropic/stream.sse", Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}})
	s, err := anthropic.New(provider.Endpoint{BaseURL: f.URL}).Stream(context.Background(), &conductor.ChatRequest{Model: "m",
		Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	if got.Text != "Hello!" || got.Finish != "stop" || got.Usage == nil ||
		*got.Usage != (conductor.Usage{InputTokens: 25, OutputTokens: 15}) {
		t.Errorf("got %+v usage %+v", got, got.Usage)
	}
	// Every event passes through, message_stop included, so a server can
	// relay the stream as it came.
	if len(got.Raw) != 8 || got.Raw[7] != `{"type":"message_stop"}` || got.Raw[2] != `{"type": "ping"}` {
		t.Errorf("raw events: %q", got.Raw)
	}
}

func TestAnthropicStreamDecoderUsage(t *testing.T) {
	var d anthropic.StreamDecoder
	events := []provider.Event{
		{Name: "message_start", Data: []byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":1}}}`)},
		{Name: "message_delta", Data: []byte(`{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}`)},
		// The current API repeats input counts in the last delta: they win.
		{Name: "message_delta", Data: []byte(`{"type":"message_delta","delta":{},"usage":{"input_tokens":11,"cache_read_input_tokens":90,"output_tokens":7}}`)},
	}
	var last conductor.Chunk
	for _, ev := range events {
		ch, emit, done, err := d.Decode(ev)
		if err != nil || !emit || done {
			t.Fatalf("Decode(%s) = %v %v %v", ev.Data, emit, done, err)
		}
		if ch.FinishReason != "" && ch.FinishReason != "length" {
			t.Errorf("finish %q", ch.FinishReason)
		}
		last = ch
	}
	if last.Usage == nil || *last.Usage != (conductor.Usage{InputTokens: 101, OutputTokens: 7, CachedInputTokens: 90}) {
		t.Errorf("usage = %+v", last.Usage)
	}
	_, _, _, err := d.Decode(provider.Event{Name: "error", Data: []byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)})
	if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassRateLimited || !e.Retryable || e.Code != "rate_limit_error" || e.Message != "slow down" {
		t.Errorf("error event: %#v", err)
	}
}

func TestAnthropicStopReasons(t *testing.T) {
	for reason, finish := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
		"tool_use": "tool_calls", "refusal": "content_filter", "something_new": "something_new"} {
		if got := anthropic.FinishReason(reason); got != finish {
			t.Errorf("anthropicFinish(%s) = %s", reason, got)
		}
	}
	for finish, reason := range map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"} {
		if got := anthropic.StopReason(finish); got != reason {
			t.Errorf("AnthropicStopReason(%s) = %s", finish, got)
		}
	}
}

func TestDecodeAnthropicResponseErrors(t *testing.T) {
	for body, class := range map[string]conductor.ErrorClass{
		`nope`: conductor.ClassMalformed,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`: conductor.ClassServer,
		`{"type":"completion","completion":"hi"}`:                                     conductor.ClassMalformed,
	} {
		_, err := anthropic.DecodeResponse([]byte(body))
		if e, ok := conductor.AsError(err); !ok || e.Class != class {
			t.Errorf("%s: err = %v, want %s", body, err, class)
		}
	}
}
