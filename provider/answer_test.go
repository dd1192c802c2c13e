package provider_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// The answer side beyond text: tool calls, refusals, thinking and usage
// details, decoded from the providers' documented answers and encoded for
// a caller of another format.

func toolCall(id, name, args string) conductor.Block { return wire.ToolCallBlock(id, name, args) }

func opaque(format, kind, raw string) conductor.Block {
	return conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: kind, Raw: json.RawMessage(raw)}}
}

func TestDecodeAnswerBlocks(t *testing.T) {
	tests := []struct {
		name    string
		decode  func([]byte) (*conductor.ChatResponse, error)
		body    string // or file
		file    string
		content []conductor.Block
		finish  string
		usage   conductor.Usage
	}{
		{
			name: "openai tool call, content null", decode: openai.DecodeResponse, file: "openai/chat_completion_tool_calls.json",
			content: []conductor.Block{toolCall("call_abc123", "get_current_weather", "{\n\"location\": \"Boston, MA\"\n}")},
			finish:  "tool_calls", usage: conductor.Usage{InputTokens: 82, OutputTokens: 17},
		},
		{
			name: "openai text and two calls, usage details", decode: openai.DecodeResponse,
			body: `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":"On it.","tool_calls":[` +
				`{"id":"call_A","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}},` +
				`{"id":"call_B","type":"function","function":{"name":"b","arguments":""}}]},"finish_reason":"tool_calls"}],` +
				`"usage":{"prompt_tokens":100,"completion_tokens":40,"prompt_tokens_details":{"cached_tokens":60,"cache_write_tokens":30},"completion_tokens_details":{"reasoning_tokens":25}}}`,
			content: []conductor.Block{conductor.TextBlock("On it."), toolCall("call_A", "a", `{"x":1}`), toolCall("call_B", "b", "")},
			finish:  "tool_calls",
			usage:   conductor.Usage{InputTokens: 100, OutputTokens: 40, CachedInputTokens: 60, CacheWriteInputTokens: 30, ReasoningTokens: 25},
		},
		{
			// Workers AI's /v1 for legacy models may send objects and no ids
			// (undocumented): repaired, the id stable.
			name: "compatible server: object arguments, no id, no finish", decode: openai.DecodeResponse,
			body:    `{"choices":[{"message":{"content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a": [1, 2]}}}]}}]}`,
			content: []conductor.Block{toolCall(wire.SynthToolID(0, "f", `{"a":[1,2]}`), "f", `{"a":[1,2]}`)},
			finish:  "tool_calls",
		},
		{
			name: "openai custom tool call: opaque", decode: openai.DecodeResponse,
			body:    `{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"custom","custom":{"name":"sh","input":"ls"}}]},"finish_reason":"tool_calls"}]}`,
			content: []conductor.Block{opaque("openai", "custom", `{"id":"c1","type":"custom","custom":{"name":"sh","input":"ls"}}`)},
			finish:  "tool_calls",
		},
		{
			name: "openai refusal: text, content_filter", decode: openai.DecodeResponse,
			body:    `{"choices":[{"message":{"content":null,"refusal":"I can't."},"finish_reason":"stop"}]}`,
			content: []conductor.Block{conductor.TextBlock("I can't.")}, finish: "content_filter",
		},
		{
			name: "anthropic text and tool_use", decode: anthropic.DecodeResponse, file: "anthropic/message_cache_tool.json",
			content: []conductor.Block{conductor.TextBlock("I'll check the weather."),
				toolCall("toolu_01A09q90qw90lq917835lq9", "get_weather", `{"location":"San Francisco, CA"}`)},
			finish: "tool_calls",
			usage:  conductor.Usage{InputTokens: 21 + 188086 + 1000, OutputTokens: 393, CachedInputTokens: 1000, CacheWriteInputTokens: 188086},
		},
		{
			name: "anthropic thinking: opaque, in order; input compact", decode: anthropic.DecodeResponse, file: "anthropic/message_thinking.json",
			content: []conductor.Block{
				opaque("anthropic", "thinking", `{"type":"thinking","thinking":"27 * 453 = 12231","signature":"EqQBCgIYAhIM"}`),
				opaque("anthropic", "redacted_thinking", `{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}`),
				conductor.TextBlock("12231"),
				toolCall("functions.Bash:0", "record", `{"value":12231,"note":"é\n"}`),
			},
			finish: "tool_calls",
			usage:  conductor.Usage{InputTokens: 46, OutputTokens: 285, ReasoningTokens: 270},
		},
		{
			name: "workers ai legacy tool_calls: stable id", decode: workersai.DecodeResponse, file: "workersai/run_tool_calls.json",
			content: []conductor.Block{toolCall(wire.SynthToolID(0, "getWeather", `{"lat":"51.5","lon":"-0.12"}`), "getWeather", `{"lat":"51.5","lon":"-0.12"}`)},
			finish:  "tool_calls", usage: conductor.Usage{InputTokens: 310, OutputTokens: 28},
		},
		{
			name: "workers ai chat.completion result", decode: workersai.DecodeResponse, file: "workersai/run_chat_completion.json",
			content: []conductor.Block{toolCall("call_1", "getWeather", `{"lat":"51.5"}`)},
			finish:  "tool_calls", usage: conductor.Usage{InputTokens: 300, OutputTokens: 30, CachedInputTokens: 100},
		},
		{
			name: "workers ai text with an empty tool_calls", decode: workersai.DecodeResponse,
			body:    `{"result":{"response":"Hi","tool_calls":[],"usage":{"prompt_tokens":1,"completion_tokens":1}},"success":true}`,
			content: []conductor.Block{conductor.TextBlock("Hi")}, usage: conductor.Usage{InputTokens: 1, OutputTokens: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.file != "" {
				body = readTestdata(t, tt.file)
			}
			got, err := tt.decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Content, tt.content) {
				t.Errorf("content\n got %s\nwant %s", blocksString(got.Content), blocksString(tt.content))
			}
			if got.FinishReason != tt.finish || got.Usage != tt.usage {
				t.Errorf("finish %q usage %+v, want %q %+v", got.FinishReason, got.Usage, tt.finish, tt.usage)
			}
		})
	}
}

func blocksString(bs []conductor.Block) string {
	b, _ := json.Marshal(bs)
	return string(b)
}

// The ids the Workers AI legacy shape lacks are the same for the same
// call, and differ between calls.
func TestSynthToolID(t *testing.T) {
	a, b := wire.SynthToolID(0, "f", "{}"), wire.SynthToolID(1, "f", "{}")
	if a == b || a != wire.SynthToolID(0, "f", "{}") || !strings.HasPrefix(a, "call_") || len(a) != 5+24 {
		t.Errorf("ids %q %q", a, b)
	}
}

func TestAnthropicToolID(t *testing.T) {
	for id, want := range map[string]string{
		"toolu_01A09q90qw90lq917835lq9": "toolu_01A09q90qw90lq917835lq9",
		"call_abc-123":                  "call_abc-123",
	} {
		if got := wire.AnthropicToolID(id); got != want {
			t.Errorf("%q: %q", id, got)
		}
	}
	seen := map[string]string{}
	for _, id := range []string{"functions.Bash:0", "functions.Bash_0", "functions_Bash:0", "", "日本"} {
		got := wire.AnthropicToolID(id)
		for _, c := range []byte(got) {
			if !wire.IsToolIDByte(c) {
				t.Errorf("%q → %q: byte %q", id, got, c)
			}
		}
		if got == "" || got != wire.AnthropicToolID(id) {
			t.Errorf("%q → %q", id, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both → %q", id, other, got)
		}
		seen[got] = id
	}
}

func TestEncodeAnswerBlocks(t *testing.T) {
	content := []conductor.Block{
		opaque("anthropic", "thinking", `{"type":"thinking","thinking":"hm","signature":"s"}`),
		conductor.TextBlock("Checking."),
		toolCall("functions.Bash:0", "bash", `{ "cmd": "ls" }`),
		toolCall("call_2", "noargs", ""),
		opaque("openai", "custom", `{"id":"c1","type":"custom","custom":{"name":"sh","input":"ls"}}`),
	}
	resp := &conductor.ChatResponse{ID: "x", Model: "m", Content: content, FinishReason: "tool_calls",
		Usage: conductor.Usage{InputTokens: 10, OutputTokens: 5, CachedInputTokens: 4, CacheWriteInputTokens: 2, ReasoningTokens: 3}}

	a, err := anthropic.EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"x","type":"message","role":"assistant","model":"m","content":[` +
		`{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Checking."},` +
		`{"type":"tool_use","id":"` + wire.AnthropicToolID("functions.Bash:0") + `","name":"bash","input":{"cmd":"ls"}},` +
		`{"type":"tool_use","id":"call_2","name":"noargs","input":{}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":4,"output_tokens":5,` +
		`"cache_creation_input_tokens":2,"cache_read_input_tokens":4,"output_tokens_details":{"thinking_tokens":3}}}`
	if string(a) != want {
		t.Errorf("anthropic\n got %s\nwant %s", a, want)
	}

	o := openai.EncodeResponse(resp, 1700000000)
	want = `{"id":"x","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant",` +
		`"content":"Checking.","refusal":null,"tool_calls":[` +
		`{"id":"functions.Bash:0","type":"function","function":{"name":"bash","arguments":"{ \"cmd\": \"ls\" }"}},` +
		`{"id":"call_2","type":"function","function":{"name":"noargs","arguments":""}},` +
		`{"id":"c1","type":"custom","custom":{"name":"sh","input":"ls"}}]},"logprobs":null,"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4,"cache_write_tokens":2},` +
		`"completion_tokens_details":{"reasoning_tokens":3}}}`
	if string(o) != want {
		t.Errorf("openai\n got %s\nwant %s", o, want)
	}
	back, err := openai.DecodeResponse(o)
	if err != nil || !reflect.DeepEqual(back.Content, content[1:]) || back.Usage != resp.Usage {
		t.Errorf("read back %s %+v %v", blocksString(back.Content), back.Usage, err)
	}

	w, err := workersai.EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"result":{"response":"Checking.","tool_calls":[{"name":"bash","arguments":{"cmd":"ls"}},{"name":"noargs","arguments":{}}],` +
		`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}},"success":true,"errors":[],"messages":[]}`
	if string(w) != want {
		t.Errorf("workers ai\n got %s\nwant %s", w, want)
	}

	// Tool calls alone: content null, finish tool_calls when none was named.
	o = openai.EncodeResponse(&conductor.ChatResponse{Content: []conductor.Block{toolCall("c", "f", "{}")}}, 0)
	if !strings.Contains(string(o), `"content":null,`) || !strings.Contains(string(o), `"finish_reason":"tool_calls"`) {
		t.Errorf("calls alone: %s", o)
	}
	a, _ = anthropic.EncodeResponse(&conductor.ChatResponse{Content: []conductor.Block{toolCall("c", "f", "{}")}})
	if !strings.Contains(string(a), `"stop_reason":"tool_use"`) {
		t.Errorf("calls alone: %s", a)
	}
	// Nothing Anthropic can hold: one empty text block.
	a, _ = anthropic.EncodeResponse(&conductor.ChatResponse{Content: []conductor.Block{opaque("openai", "custom", `{}`)}})
	if !strings.Contains(string(a), `"content":[{"type":"text","text":""}]`) {
		t.Errorf("empty: %s", a)
	}
}

// Arguments that are not a JSON object cannot become Anthropic's input or
// Workers AI's arguments: the answer fails, naming the call.
func TestEncodeRefusesNonObjectArguments(t *testing.T) {
	for _, args := range []string{`"a string"`, `[1,2]`, `{"a":`, `not json`, `null`} {
		resp := &conductor.ChatResponse{Content: []conductor.Block{toolCall("c0", "ok", "{}"), toolCall("c1", "get_weather", args)}}
		for name, enc := range map[string]func(*conductor.ChatResponse) ([]byte, error){
			"anthropic": anthropic.EncodeResponse, "workers-ai": workersai.EncodeResponse} {
			b, err := enc(resp)
			e, ok := conductor.AsError(err)
			if !ok || e.Class != conductor.ClassProviderFail || !strings.Contains(e.Message, "tool call 1 (get_weather)") {
				t.Errorf("%s %s: %s %v", name, args, b, err)
			}
		}
	}
}

// Streams: the adapters' stream decoders give the tool-call pieces with
// the tool index (not Anthropic's block index), and thinking only as Raw.
func TestStreamToolCalls(t *testing.T) {
	tests := []struct {
		name   string
		new    func(provider.Endpoint) conductor.Provider
		file   string
		want   []conductor.ToolCallDelta
		text   string
		finish string
		usage  conductor.Usage
	}{
		{name: "openai parallel", new: openai.New, file: "conformance/streams/parallel-tool-calls.openai.sse",
			want: []conductor.ToolCallDelta{{Index: 0, ID: "call_A", Name: "get_weather"}, {Index: 0, Arguments: `{"city":`},
				{Index: 0, Arguments: `"Paris"}`}, {Index: 1, ID: "call_B", Name: "get_time"}, {Index: 1, Arguments: `{"tz":"CET"}`}},
			finish: "tool_calls", usage: conductor.Usage{InputTokens: 149, OutputTokens: 60}},
		{name: "anthropic text then tool_use at block 1", new: anthropic.New, file: "conformance/streams/one-tool-call.anthropic.sse",
			want: []conductor.ToolCallDelta{{Index: 0, ID: "toolu_01B2xJ4hZpTR6pHz9mTz1Nqe", Name: "get_weather"},
				{Index: 0, Arguments: `{"city": "Pa`}, {Index: 0, Arguments: `ris"}`}},
			text: "Checking.", finish: "tool_calls", usage: conductor.Usage{InputTokens: 377, OutputTokens: 65}},
		{name: "anthropic thinking: Raw only", new: anthropic.New, file: "conformance/streams/thinking-then-text.anthropic.sse",
			text: "27 * 453 = 12231", finish: "stop", usage: conductor.Usage{InputTokens: 46, OutputTokens: 285, ReasoningTokens: 270}},
		{name: "anthropic parallel", new: anthropic.New, file: "conformance/streams/parallel-tool-calls.anthropic.sse",
			want: []conductor.ToolCallDelta{{Index: 0, ID: "call_A", Name: "get_weather"}, {Index: 0, Arguments: `{"city":`},
				{Index: 0, Arguments: `"Paris"}`}, {Index: 1, ID: "call_B", Name: "get_time"}, {Index: 1, Arguments: `{"tz":"CET"}`}},
			finish: "tool_calls", usage: conductor.Usage{InputTokens: 149, OutputTokens: 60}},
		{name: "openai refusal: content_filter", new: openai.New, file: "conformance/streams/refusal.openai.sse",
			text: "I'm sorry, I cannot assist with that request.", finish: "content_filter", usage: conductor.Usage{InputTokens: 25, OutputTokens: 11}},
		{name: "workers ai OpenAI-shaped chunks", new: workersai.New, file: "workersai/stream_tool_calls.sse",
			want:   []conductor.ToolCallDelta{{Index: 0, ID: "call_1", Name: "getWeather"}, {Index: 0, Arguments: `{"lat":"51.5"}`}},
			finish: "tool_calls", usage: conductor.Usage{InputTokens: 300, OutputTokens: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{File: tt.file, Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}})
			s, err := tt.new(provider.Endpoint{BaseURL: f.URL}).Stream(context.Background(), &conductor.ChatRequest{Model: "m",
				Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var (
				got    []conductor.ToolCallDelta
				text   strings.Builder
				finish string
				usage  *conductor.Usage
			)
			for {
				ch, err := s.Next()
				if err != nil {
					break
				}
				got = append(got, ch.ToolCalls...)
				text.WriteString(ch.Delta)
				finish = later(finish, ch.FinishReason)
				if ch.Usage != nil {
					usage = ch.Usage
				}
				if len(ch.ToolCalls) == 0 && ch.Delta == "" && len(ch.Raw) == 0 && ch.Usage == nil {
					t.Errorf("an empty chunk")
				}
			}
			if !reflect.DeepEqual(got, tt.want) || text.String() != tt.text || finish != tt.finish || usage == nil || *usage != tt.usage {
				t.Errorf("got %+v %q %q %+v\nwant %+v %q %q %+v", got, text.String(), finish, usage, tt.want, tt.text, tt.finish, tt.usage)
			}
		})
	}
}

func later(a, b string) string {
	if b != "" {
		return b
	}
	return a
}

// Legacy Workers AI chunks with whole tool calls (undocumented, but the
// shape of its answers) are numbered across the stream.
func TestWorkersAIStreamLegacyToolCalls(t *testing.T) {
	var d workersai.StreamDecoder
	var got []conductor.ToolCallDelta
	finish := ""
	for _, data := range []string{
		`{"response":"","tool_calls":[{"name":"a","arguments":{"x":1}}]}`,
		`{"response":"","tool_calls":[{"name":"b","arguments":{}}]}`,
		`{"response":"","usage":{"prompt_tokens":3,"completion_tokens":4}}`,
	} {
		ch, emit, done, err := d.Decode(provider.Event{Data: []byte(data)})
		if err != nil || !emit || done {
			t.Fatalf("%s: %v %v %v", data, emit, done, err)
		}
		got = append(got, ch.ToolCalls...)
		finish = later(finish, ch.FinishReason)
	}
	want := []conductor.ToolCallDelta{{Index: 0, ID: wire.SynthToolID(0, "a", `{"x":1}`), Name: "a", Arguments: `{"x":1}`},
		{Index: 1, ID: wire.SynthToolID(1, "b", `{}`), Name: "b", Arguments: `{}`}}
	if !reflect.DeepEqual(got, want) || finish != "tool_calls" {
		t.Errorf("got %+v %q", got, finish)
	}
}

// argumentsText reads the arguments as encoding/json would.
func FuzzArgumentsText(f *testing.F) {
	for _, s := range []string{`"{\"a\":1}"`, `"\ud83d\ude00 \ud800"`, "\"\xff\"", `{"a" : [1, 2]}`, `null`, ` "x" `, `7`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return
		}
		if got := wire.ArgumentsText(v); got != s {
			t.Fatalf("%q: %q, want %q", v, got, s)
		}
	})
}

// A streamed custom tool call is no function call: its pieces give no
// tool-call deltas (its first piece alone names its type).
func TestOpenAIStreamCustomToolCall(t *testing.T) {
	var d openai.StreamDecoder
	for _, data := range []string{
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"custom","custom":{"name":"sh","input":""}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"custom":{"input":"ls"}}]}}]}`,
	} {
		ch, _, _, err := d.Decode(provider.Event{Data: []byte(data)})
		if err != nil || len(ch.ToolCalls) != 0 || string(ch.Raw) != data {
			t.Errorf("%s: %+v %v", data, ch, err)
		}
	}
}
