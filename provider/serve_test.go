package provider

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

func TestDecodeOpenAIRequest(t *testing.T) {
	got, err := DecodeOpenAIRequest(readTestdata(t, "openai/client_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &conductor.ChatRequest{
		Model: "gpt-4o",
		Messages: []conductor.Message{
			conductor.TextMessage("developer", "You are a helpful assistant."),
			// One block per part: the domain keeps the caller's parts.
			{Role: "user", Content: []conductor.Block{conductor.TextBlock("Hello, "), conductor.TextBlock("who are you?")}},
			conductor.TextMessage("assistant", "I am an assistant."),
			conductor.TextMessage("user", "Tell me a joke."),
		},
		Temperature:    ptr(0.0),
		MaxTokens:      200,
		Stop:           []string{"\n\n"},
		Seed:           ptr(int64(7)),
		ResponseFormat: &conductor.ResponseFormat{Type: "json_object"},
		Stream:         true,
		Extra: map[string]json.RawMessage{
			"stream_options": json.RawMessage(`{"include_usage": true}`),
			"logprobs":       json.RawMessage(`true`),
			"top_logprobs":   json.RawMessage(`2`),
			"user":           json.RawMessage(`"user-1234"`),
		},
		ExtraFormat: FormatOpenAI,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeAnthropicRequest(t *testing.T) {
	got, err := DecodeAnthropicRequest(readTestdata(t, "anthropic/client_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &conductor.ChatRequest{
		Model:     "claude-3-5-sonnet-20241022",
		MaxTokens: 1024,
		Messages: []conductor.Message{
			conductor.TextMessage("system", "You are a pirate."),
			conductor.TextMessage("user", "Hello, Claude"),
			conductor.TextMessage("assistant", "Ahoy!"),
			{Role: "user", Content: []conductor.Block{conductor.TextBlock("Where is the treasure?"), conductor.TextBlock("Be brief.")}},
		},
		Temperature: ptr(0.5),
		Stop:        []string{"Arr"},
		Extra: map[string]json.RawMessage{
			"top_k":    json.RawMessage(`5`),
			"metadata": json.RawMessage(`{"user_id": "u-9"}`),
		},
		ExtraFormat: FormatAnthropic,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeRequestRefusals(t *testing.T) {
	tests := []struct {
		format string
		body   string
		msg    string
	}{
		{"openai", `[]`, "the request body is not a JSON object"},
		{"openai", `{"messages":[{"role":"user","content":"x"}]}`, "model: required"},
		{"openai", `{"model":"m"}`, "messages: at least one"},
		{"openai", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, `messages: message 0: unknown role "robot"`},
		{"openai", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature: expected a value of another type, got string"},
		{"openai", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}`, "max_tokens: must not be negative"},
		{"openai", `{"model":"m","messages":[{"role":"user","content":7}]}`, "messages: message 0: content must be"},
		{"openai", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":"3"}`, "n: expected a value of another type"},
		{"openai", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{}"}}],"content":[5]}]}`, "messages: message 0: content[0]: not a content part"},
		{"anthropic", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: required"},
		{"anthropic", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens: must be at least 1"},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[{"role":"tool","content":"x"}]}`, `messages: message 0: role must be user or assistant, not "tool"`},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":7}]}]}`, `messages: message 0: content[0]: tool_use_id: expected a value of another type`},
		{"anthropic", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "model: required"},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[]}`, "messages: at least one"},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.body, func(t *testing.T) {
			dec := DecodeOpenAIRequest
			if tt.format == "anthropic" {
				dec = DecodeAnthropicRequest
			}
			_, err := dec([]byte(tt.body))
			e, ok := conductor.AsError(err)
			if !ok || e.Class != conductor.ClassBadRequest || !strings.HasPrefix(e.Message, tt.msg) {
				t.Fatalf("err = %v, want bad_request %q…", err, tt.msg)
			}
		})
	}
}

func TestEncodeResponsesRoundTrip(t *testing.T) {
	resp := &conductor.ChatResponse{ID: "chatcmpl-9", Model: "gpt-4o", Content: conductor.Texts("Hi \"there\"\n"), FinishReason: "length",
		Usage: conductor.Usage{InputTokens: 120, OutputTokens: 7, CachedInputTokens: 100}}
	body := EncodeOpenAIResponse(resp, 1700000000)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["object"] != "chat.completion" || m["created"] != 1.7e9 {
		t.Fatalf("%s: %v", body, err)
	}
	back, err := DecodeOpenAIResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	checkResponse(t, back, resp)

	resp = &conductor.ChatResponse{ID: "msg_1", Model: "claude-sonnet-4-20250514", Content: conductor.Texts("Ahoy"), FinishReason: "tool_calls",
		Usage: conductor.Usage{InputTokens: 1300, OutputTokens: 9, CachedInputTokens: 1000, CacheWriteInputTokens: 200}}
	body = EncodeAnthropicResponse(resp)
	if !strings.Contains(string(body), `"input_tokens":100,`) || !strings.Contains(string(body), `"stop_reason":"tool_use"`) {
		t.Errorf("body %s", body)
	}
	back, err = DecodeAnthropicResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	checkResponse(t, back, resp)
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		err       conductor.Error
		status    int
		openai    string
		anthropic string
	}{
		{conductor.Error{Provider: "openai", Class: conductor.ClassBadRequest, Status: 400, Code: "context_length_exceeded", Message: "too long"}, 400, "invalid_request_error", "invalid_request_error"},
		{conductor.Error{Provider: "openai", Class: conductor.ClassAuth, Status: 401, Message: "bad key"}, 401, "authentication_error", "authentication_error"},
		{conductor.Error{Provider: "anthropic", Class: conductor.ClassAuth, Status: 403, Message: "no"}, 403, "authentication_error", "permission_error"},
		{conductor.Error{Class: conductor.ClassNotFound, Status: 404}, 404, "invalid_request_error", "not_found_error"},
		{conductor.Error{Class: conductor.ClassTooLarge, Status: 413}, 413, "invalid_request_error", "request_too_large"},
		{conductor.Error{Class: conductor.ClassLimited, Message: "rate limit 60 requests/minute exceeded"}, 429, "rate_limit_error", "rate_limit_error"},
		{conductor.Error{Class: conductor.ClassBudget, Code: "budget_exceeded"}, 429, "insufficient_quota", "billing_error"},
		{conductor.Error{Class: conductor.ClassTimeout}, 504, "timeout_error", "timeout_error"},
		{conductor.Error{Provider: "anthropic", Class: conductor.ClassServer, Status: 529, Code: "overloaded_error", Message: "Overloaded"}, 502, "server_error", "overloaded_error"},
		{conductor.Error{Class: conductor.ClassStreamCut}, 502, "server_error", "api_error"},
		{conductor.Error{Class: conductor.ClassNetwork}, 502, "server_error", "api_error"},
		{conductor.Error{Class: conductor.ClassConfig}, 500, "invalid_request_error", "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(string(tt.err.Class), func(t *testing.T) {
			if got := HTTPStatus(&tt.err); got != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tt.status)
			}
			for _, c := range []struct {
				body []byte
				typ  string
			}{{EncodeOpenAIError(&tt.err), tt.openai}, {EncodeAnthropicError(&tt.err), tt.anthropic}} {
				eb := parseErrorBody(c.body)
				if eb.typ != c.typ || eb.message != tt.err.Error() {
					t.Errorf("%s: read back type %q message %q", c.body, eb.typ, eb.message)
				}
			}
			// What an OpenAI SDK would read back through our own adapter.
			back := errorFromStatus("gw", HTTPStatus(&tt.err), http.Header{}, EncodeOpenAIError(&tt.err), testNow)
			if want := tt.err.Code; want != "" && back.Code != want {
				t.Errorf("code read back %q, want %q", back.Code, want)
			}
		})
	}
}

func FuzzDecodeOpenAIRequest(f *testing.F) {
	addFiles(f, "openai/client_request.json", "openai/request_full.golden.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeOpenAIRequest(body)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		// What we decoded encodes, and decodes back to the same request.
		req.Provider = "openai"
		out, err := EncodeOpenAIRequest(req)
		if err != nil {
			return // an extra that is not JSON on its own cannot occur; NaN cannot parse
		}
		again, err := DecodeOpenAIRequest(out)
		if err != nil {
			t.Fatalf("re-encoded %s: %v", out, err)
		}
		// (The messages may regroup: a tool result's images move to a user
		// message of their own.)
		if again.Model != req.Model || again.MaxTokens != req.MaxTokens {
			t.Fatalf("round trip changed the request: %+v vs %+v", again, req)
		}
	})
}

func FuzzDecodeAnthropicRequest(f *testing.F) {
	addFiles(f, "anthropic/client_request.json", "anthropic/request_full.golden.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeAnthropicRequest(body)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		out, err := EncodeAnthropicRequest(req)
		if err != nil {
			return
		}
		again, err := DecodeAnthropicRequest(out)
		if err != nil {
			t.Fatalf("re-encoded %s: %v", out, err)
		}
		if again.Model != req.Model || again.MaxTokens != req.MaxTokens {
			t.Fatalf("round trip changed the request: %+v vs %+v", again, req)
		}
	})
}
