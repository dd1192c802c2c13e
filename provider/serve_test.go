package provider_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"

	conductor "github.com/conductor-go/conductor"
)

func TestDecodeOpenAIRequest(t *testing.T) {
	got, err := openai.DecodeRequest(readTestdata(t, "openai/client_request.json"))
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
		ExtraFormat: provider.FormatOpenAI,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeAnthropicRequest(t *testing.T) {
	got, err := anthropic.DecodeRequest(readTestdata(t, "anthropic/client_request.json"))
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
		ExtraFormat: provider.FormatAnthropic,
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
		{"openai", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{}"}}],"content":[5]}]}`, "messages: message 0: content: expected a value of another type, got number"},
		{"anthropic", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: required"},
		{"anthropic", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens: must be at least 1"},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[{"role":"tool","content":"x"}]}`, `messages: message 0: role must be user or assistant, not "tool"`},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":7}]}]}`, `messages: message 0: content[0]: tool_use_id: expected a value of another type`},
		{"anthropic", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "model: required"},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[]}`, "messages: at least one"},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.body, func(t *testing.T) {
			dec := openai.DecodeRequest
			if tt.format == "anthropic" {
				dec = anthropic.DecodeRequest
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
	body := openai.EncodeResponse(resp, 1700000000)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["object"] != "chat.completion" || m["created"] != 1.7e9 {
		t.Fatalf("%s: %v", body, err)
	}
	back, err := openai.DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	checkResponse(t, back, resp)

	resp = &conductor.ChatResponse{ID: "msg_1", Model: "claude-sonnet-4-20250514", Content: conductor.Texts("Ahoy"), FinishReason: "tool_calls",
		Usage: conductor.Usage{InputTokens: 1300, OutputTokens: 9, CachedInputTokens: 1000, CacheWriteInputTokens: 200}}
	body, err = anthropic.EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"input_tokens":100,`) || !strings.Contains(string(body), `"stop_reason":"tool_use"`) {
		t.Errorf("body %s", body)
	}
	back, err = anthropic.DecodeResponse(body)
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
			if got := provider.HTTPStatus(&tt.err); got != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tt.status)
			}
			for _, c := range []struct {
				body []byte
				typ  string
			}{{openai.EncodeError(&tt.err), tt.openai}, {anthropic.EncodeError(&tt.err), tt.anthropic}} {
				typ, message := provider.ParseErrorBody(c.body)
				if typ != c.typ || message != tt.err.CallerMessage() {
					t.Errorf("%s: read back type %q message %q", c.body, typ, message)
				}
			}
			// What an OpenAI SDK would read back through our own adapter.
			back := provider.ErrorFromStatus("gw", provider.HTTPStatus(&tt.err), http.Header{}, openai.EncodeError(&tt.err), testNow)
			if want := tt.err.Code; want != "" && back.Code != want {
				t.Errorf("code read back %q, want %q", back.Code, want)
			}
		})
	}
}

func FuzzDecodeOpenAIRequest(f *testing.F) {
	addFiles(f, "openai/client_request.json", "openai/request_full.golden.json")
	f.Add([]byte(`{"model":"a","model":"b","messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"a","messages":[{"role":"user","role":"system","content":"x"}],"tools":[]}`))
	f.Add([]byte("{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := openai.DecodeRequest(body)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		// A body taken is unambiguous: UTF-8, each key once.
		if why := ambiguous(body); why != "" {
			t.Fatalf("decoded a body with %s: %q", why, body)
		}
		// What we decoded encodes, and decodes back to the same request.
		req.Provider = "openai"
		out, err := openai.EncodeRequest(req)
		if err != nil {
			return // an extra that is not JSON on its own cannot occur; NaN cannot parse
		}
		again, err := openai.DecodeRequest(out)
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
	f.Add([]byte(`{"model":"a","max_tokens":5,"max_tokens":6,"messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"a","max_tokens":5,"metadata":{"user_id":"a","user_id":"b"},"messages":[{"role":"user","content":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := anthropic.DecodeRequest(body)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		// A body taken is unambiguous: UTF-8, each key once.
		if why := ambiguous(body); why != "" {
			t.Fatalf("decoded a body with %s: %q", why, body)
		}
		out, err := anthropic.EncodeRequest(req)
		if err != nil {
			return
		}
		again, err := anthropic.DecodeRequest(out)
		if err != nil {
			t.Fatalf("re-encoded %s: %v", out, err)
		}
		if again.Model != req.Model || again.MaxTokens != req.MaxTokens {
			t.Fatalf("round trip changed the request: %+v vs %+v", again, req)
		}
	})
}

// The decoders read every block-shaped request into the domain, and keep
// what it cannot model in Extra rather than refusing it.
func TestDecodeRequestBlocks(t *testing.T) {
	text := conductor.TextBlock
	opaque := func(format, kind, raw string) conductor.Block {
		return conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: kind, Raw: json.RawMessage(raw)}}
	}
	call := func(id, name, args string) conductor.Block {
		return conductor.Block{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: id, Name: name, Arguments: args}}
	}
	result := func(id string, isErr bool, content ...conductor.Block) conductor.Block {
		return conductor.Block{Type: conductor.BlockToolResult, ToolResult: &conductor.ToolResult{CallID: id, Content: content, IsError: isErr}}
	}
	image := func(img conductor.Image) conductor.Block {
		return conductor.Block{Type: conductor.BlockImage, Image: &img}
	}
	const user = `{"role":"user","content":"x"}`
	tests := []struct {
		name   string
		format string
		body   string
		want   conductor.ChatRequest // the fields compared; Model and MaxTokens aside
		extra  []string              // the keys Extra must hold
	}{
		{name: "OpenAI tool conversation", format: provider.FormatOpenAI,
			body: `{"model":"m","messages":[{"role":"developer","content":"d"},{"role":"user","content":"q"},
				{"role":"assistant","content":"a","refusal":"r","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},{"id":"c2","type":"custom","custom":{"name":"g","input":"i"}}]},
				{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"r1"}]},{"role":"tool","tool_call_id":"c2","content":"r2"},
				{"role":"user","content":"u"},{"role":"tool","tool_call_id":"c3","content":""}],
				"tools":[{"type":"function","function":{"name":"f","description":"F","parameters":{"type":"object"},"strict":true}}],
				"tool_choice":"required","parallel_tool_calls":false,"n":2,"reasoning_effort":"low"}`,
			want: conductor.ChatRequest{Messages: []conductor.Message{
				{Role: "developer", Content: []conductor.Block{text("d")}},
				{Role: "user", Content: []conductor.Block{text("q")}},
				{Role: "assistant", Content: []conductor.Block{text("a"), text("r"), call("c1", "f", `{"x":1}`),
					opaque(provider.FormatOpenAI, "tool_call:custom", `{"id":"c2","type":"custom","custom":{"name":"g","input":"i"}}`)}},
				{Role: "user", Content: []conductor.Block{result("c1", false, text("r1")), result("c2", false, text("r2"))}},
				{Role: "user", Content: []conductor.Block{text("u")}},
				{Role: "user", Content: []conductor.Block{result("c3", false)}},
			},
				Tools:      []conductor.Tool{{Name: "f", Description: "F", Parameters: json.RawMessage(`{"type":"object"}`), Strict: ptr(true)}},
				ToolChoice: &conductor.ToolChoice{Mode: "required"}, ParallelToolCalls: ptr(false), N: 2, ReasoningEffort: "low"}},
		{name: "OpenAI parts", format: provider.FormatOpenAI,
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml,%3Csvg%2F%3E","detail":"low"}},
				{"type":"image_url","image_url":"https://x.test/a.png"},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}},{"type":"text","text":""}]},
				{"role":"assistant","content":[{"type":"refusal","refusal":"no"}],"audio":{"id":"audio_1"}},{"role":"function","name":"f","content":"r"}],
				"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			want: conductor.ChatRequest{Messages: []conductor.Message{
				{Role: "user", Content: []conductor.Block{image(conductor.Image{MediaType: "image/svg+xml", Data: "PHN2Zy8+", Detail: "low"}),
					image(conductor.Image{URL: "https://x.test/a.png"}), opaque(provider.FormatOpenAI, "input_audio", `{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}`)}},
				{Role: "assistant", Content: []conductor.Block{text("no"), opaque(provider.FormatOpenAI, "message:audio", `{"id":"audio_1"}`)}},
				{Role: "user", Content: []conductor.Block{opaque(provider.FormatOpenAI, "message:function", `{"role":"function","name":"f","content":"r"}`)}},
			}, ToolChoice: &conductor.ToolChoice{Mode: "tool", Name: "f"}}},
		{name: "OpenAI forms kept whole", format: provider.FormatOpenAI,
			body: `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","function":{"name":"f"}},{"type":"custom","custom":{"name":"g"}}],
				"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},"response_format":{"type":"regex"}}`,
			want:  conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "x")}},
			extra: []string{"response_format", "tool_choice", "tools"}},
		{name: "OpenAI function tool with fields the domain lacks", format: provider.FormatOpenAI,
			body:  `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","function":{"name":"f","examples":[]}}]}`,
			want:  conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "x")}},
			extra: []string{"tools"}},
		{name: "Anthropic tool conversation", format: provider.FormatAnthropic,
			body: `{"model":"m","max_tokens":9,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[
				{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"file","file_id":"f1"}},{"type":"document","source":{"type":"text","data":"d"}}]},
				{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"t1","name":"f","input":{ "a" : [1, 2] }}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"},{"type":"image","source":{"type":"url","url":"https://x.test/i.png"}}],"is_error":true},{"type":"text","text":"go on"}]},
				{"role":"system","content":"late"}],
				"tools":[{"name":"f","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}},{"type":"custom","name":"g","input_schema":{"type":"object"}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true},"thinking":{"type":"enabled","budget_tokens":2048},
				"output_format":{"type":"json_schema","schema":{"type":"object"}}}`,
			want: conductor.ChatRequest{Messages: []conductor.Message{
				{Role: "system", Content: []conductor.Block{text("s")}},
				{Role: "user", Content: []conductor.Block{image(conductor.Image{MediaType: "image/png", Data: "AAAA"}),
					opaque(provider.FormatAnthropic, "image", `{"type":"image","source":{"type":"file","file_id":"f1"}}`),
					opaque(provider.FormatAnthropic, "document", `{"type":"document","source":{"type":"text","data":"d"}}`)}},
				{Role: "assistant", Content: []conductor.Block{opaque(provider.FormatAnthropic, "thinking", `{"type":"thinking","thinking":"t","signature":"s"}`), call("t1", "f", `{"a":[1,2]}`)}},
				{Role: "user", Content: []conductor.Block{result("t1", true, text("r"), image(conductor.Image{URL: "https://x.test/i.png"})), text("go on")}},
				{Role: "system", Content: []conductor.Block{text("late")}},
			},
				Tools:      []conductor.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}, {Name: "g", Parameters: json.RawMessage(`{"type":"object"}`)}},
				ToolChoice: &conductor.ToolChoice{Mode: "required"}, ParallelToolCalls: ptr(false), ThinkingBudget: 2048,
				ResponseFormat: &conductor.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`)}}},
		{name: "Anthropic adaptive thinking: the API's default effort", format: provider.FormatAnthropic,
			body: `{"model":"m","max_tokens":9,"messages":[` + user + `],"thinking":{"type":"adaptive","display":"omitted"}}`,
			want: conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "x")}, ReasoningEffort: "high"}},
		{name: "Anthropic effort", format: provider.FormatAnthropic,
			body: `{"model":"m","max_tokens":9,"messages":[` + user + `],"thinking":{"type":"adaptive"},"output_config":{"effort":"low","format":{"type":"json_schema","schema":{}}},"output_format":{"type":"json_schema","schema":{"old":1}}}`,
			want: conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "x")}, ReasoningEffort: "low",
				ResponseFormat: &conductor.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{}`)}}},
		{name: "Anthropic forms kept whole", format: provider.FormatAnthropic,
			body: `{"model":"m","max_tokens":9,"messages":[` + user + `],"tools":[{"name":"f","input_schema":{}},{"type":"web_search_20250305","name":"web_search"}],
				"thinking":{"type":"sometimes"},"output_config":{"effort":"low","task_budget":5},"tool_choice":{"type":"auto","extra":1}}`,
			want:  conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "x")}},
			extra: []string{"output_config", "thinking", "tool_choice", "tools"}},
		{name: "Anthropic adaptive thinking beside an output_config kept whole", format: provider.FormatAnthropic,
			body:  `{"model":"m","max_tokens":9,"messages":[` + user + `],"thinking":{"type":"adaptive"},"output_config":{"effort":"low","task_budget":5}}`,
			want:  conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "x")}},
			extra: []string{"output_config", "thinking"}},
		{name: "Workers AI legacy tool calls", format: provider.FormatWorkersAI,
			body: `{"messages":[{"role":"user","content":"w"},{"role":"assistant","content":"","tool_calls":[{"name":"getWeather","arguments":{"lat":"51.5"}}]},
				{"role":"tool","content":"{\"t\":18}"}],"tools":[{"name":"getWeather","description":"W","parameters":{"type":"object"}}],"top_k":3}`,
			want: conductor.ChatRequest{Messages: []conductor.Message{
				conductor.TextMessage("user", "w"),
				{Role: "assistant", Content: []conductor.Block{call("", "getWeather", `{"lat":"51.5"}`)}},
				{Role: "user", Content: []conductor.Block{result("", false, text(`{"t":18}`))}},
			}, Tools: []conductor.Tool{{Name: "getWeather", Description: "W", Parameters: json.RawMessage(`{"type":"object"}`)}}},
			extra: []string{"top_k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := requestCodecs[tt.format].decode([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(got.Extra))
			for k := range got.Extra {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.extra) && (len(keys) > 0 || len(tt.extra) > 0) {
				t.Errorf("Extra holds %v, want %v", keys, tt.extra)
			}
			if len(keys) > 0 && got.ExtraFormat != tt.format {
				t.Errorf("ExtraFormat %q", got.ExtraFormat)
			}
			// Schemas and raw blocks are compared as JSON values.
			norm := func(r *conductor.ChatRequest) string {
				c := *r
				c.Model, c.MaxTokens, c.Extra, c.ExtraFormat = "", 0, nil, ""
				b, _ := json.Marshal(c)
				var v any
				_ = json.Unmarshal(b, &v)
				b, _ = json.Marshal(v)
				return string(b)
			}
			if g, w := norm(got), norm(&tt.want); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

// ambiguous says why body is ambiguous JSON ("" when it is not): invalid
// UTF-8, or a key twice in an object (encoding/json's tokenizer as the
// oracle).
func ambiguous(body []byte) string {
	if !utf8.Valid(body) {
		return "invalid UTF-8"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false
				}
				ks, _ := k.(string)
				if seen[ks] || walk() {
					return true
				}
				seen[ks] = true
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			_, _ = dec.Token()
		}
		return false
	}
	if walk() {
		return "a key twice"
	}
	return ""
}
