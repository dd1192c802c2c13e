package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/conductor-go/conductor/provider"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// Every decoder of outside input: no panic, and every failure is a
// *conductor.Error.

func addFiles(f *testing.F, files ...string) {
	for _, file := range files {
		f.Add(readTestdata(f, file))
	}
}

func addStrings(f *testing.F, bodies []string) {
	for _, s := range bodies {
		f.Add([]byte(s))
	}
}

func checkDecoded(t *testing.T, resp *conductor.ChatResponse, err error, body []byte) {
	t.Helper()
	if err != nil {
		if _, ok := conductor.AsError(err); !ok {
			t.Fatalf("error %v (%T) is not a *conductor.Error", err, err)
		}
		return
	}
	if !bytes.Equal(resp.Raw, body) {
		t.Fatal("Raw is not the body")
	}
}

func FuzzDecodeOpenAIResponse(f *testing.F) {
	addFiles(f, "openai/chat_completion.json", "openai/chat_completion_cached.json", "openai/chat_completion_tool_calls.json",
		"openai/chat_completion_groq.json", "openai/error_429_quota.json")
	f.Add([]byte(`{"choices":[{"message":{"content":[{"type":"text","text":"a"}]}}]}`))
	addStrings(f, trickyJSON)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := openai.DecodeResponse(body)
		checkDecoded(t, resp, err, body)
	})
}

func FuzzDecodeAnthropicResponse(f *testing.F) {
	addFiles(f, "anthropic/message.json", "anthropic/message_cache_tool.json", "anthropic/error_529.json",
		"anthropic/message_thinking.json", "conformance/answers/usage-cache-reasoning.anthropic.json")
	addStrings(f, trickyAnthropic)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := anthropic.DecodeResponse(body)
		checkDecoded(t, resp, err, body)
	})
}

func FuzzDecodeWorkersAIResponse(f *testing.F) {
	addFiles(f, "workersai/run.json", "workersai/run_json_mode.json", "workersai/run_success_false.json", "workersai/error_429.json",
		"workersai/run_tool_calls.json", "workersai/run_chat_completion.json")
	addStrings(f, trickyWorkersAI)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := workersai.DecodeResponse(body)
		checkDecoded(t, resp, err, body)
	})
}

func FuzzErrorBody(f *testing.F) {
	addFiles(f, "openai/error_400.json", "anthropic/error_529.json", "workersai/error_429.json",
		"workersai/error_gateway_401.json", "openai/error_local_404.json", "openai/error_413.html")
	f.Fuzz(func(t *testing.T, body []byte) {
		e := provider.ErrorFromStatus("p", 429, http.Header{}, body, testNow)
		if e.Class == "" || e.Message == "" || !utf8.ValidString(e.Message) {
			t.Fatalf("error %+v", e)
		}
	})
}

// FuzzStreams runs arbitrary bytes through each adapter's stream: it ends
// with io.EOF only when the wire format's terminator came, and with a
// *conductor.Error otherwise — never a short success.
func FuzzStreams(f *testing.F) {
	for _, k := range kinds {
		f.Add(readTestdata(f, k.stream))
		f.Add(readTestdata(f, k.cut))
		f.Add(readTestdata(f, k.midErr))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, k := range kinds {
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
					Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
			})}
			s, err := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: client}).Stream(context.Background(), k.request())
			if err != nil {
				t.Fatal(err)
			}
			got := collect(s)
			terminator := "[DONE]"
			if k.name == "anthropic" {
				terminator = "message_stop"
			}
			switch e, ok := conductor.AsError(got.LastErr); {
			case got.LastErr == io.EOF:
				if !bytes.Contains(body, []byte(terminator)) {
					t.Fatalf("%s: io.EOF without the terminator", k.name)
				}
				if got.Usage == nil {
					t.Fatalf("%s: a complete stream without usage", k.name)
				}
			case !ok || e.Provider != k.name:
				t.Fatalf("%s: ended with %v (%T)", k.name, got.LastErr, got.LastErr)
			}
		}
	})
}

func FuzzEncodeOpenAIRequest(f *testing.F) {
	f.Add("gpt-4o", "system", "Say \"hi\"\n\t<b>", "END", 0.7)
	f.Add("m", "user", "\x00\x1f\u2028\u2029\xff\xfe é 日本", "\\", 0.0)
	f.Fuzz(func(t *testing.T, model, role, content, stop string, temp float64) {
		req := &conductor.ChatRequest{Provider: "openai", Model: model, Temperature: &temp, Stop: []string{stop},
			Messages: []conductor.Message{conductor.TextMessage(role, content)}}
		b, err := openai.EncodeRequest(req)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		var got struct {
			Model       string                           `json:"model"`
			Messages    []struct{ Role, Content string } `json:"messages"`
			Temperature float64                          `json:"temperature"`
			Stop        []string                         `json:"stop"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		// Same strings as encoding/json would carry (it too turns invalid
		// UTF-8 into U+FFFD).
		same := func(s string) string {
			var out string
			m, _ := json.Marshal(s)
			_ = json.Unmarshal(m, &out)
			return out
		}
		if got.Model != same(model) || got.Messages[0].Role != same(role) || got.Messages[0].Content != same(content) ||
			got.Stop[0] != same(stop) || got.Temperature != temp {
			t.Fatalf("read back %+v from %q", got, b)
		}
		// The other formats: valid JSON, or a refusal by name (Workers AI
		// has no stop).
		for _, enc := range []func(*conductor.ChatRequest) ([]byte, error){anthropic.EncodeRequest, workersai.EncodeRequest} {
			b, err := enc(req)
			if e, ok := conductor.AsError(err); err != nil && (!ok || e.Class != conductor.ClassBadRequest) || err == nil && !json.Valid(b) {
				t.Fatalf("invalid body %q: %v", b, err)
			}
		}
	})
}

func FuzzEstimateTokens(f *testing.F) {
	f.Add("The quick brown fox jumps over the lazy dog.", 10)
	f.Add("日本語のテキスト 12345 internationalization\n\n", 3)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		if !utf8.ValidString(s) {
			return
		}
		n := wire.EstimateTokens(s)
		if n < 0 || n > len(s) {
			t.Fatalf("EstimateTokens(%q) = %d", s, n)
		}
		// Fed in two deltas split at a rune boundary, the stream counter
		// gives the same count.
		if len(s) == 0 {
			return
		}
		i := (cut%len(s) + len(s)) % len(s)
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		var c wire.TokenCounter
		c.Add(s[:i])
		c.Add(s[i:])
		if got := c.Total(); got != n {
			t.Fatalf("split at %d: %d, whole: %d", i, got, n)
		}
		if strings.TrimSpace(s) != "" && n == 0 {
			t.Fatalf("%q counted as no tokens", s)
		}
	})
}

// The bodies below are answers and events on the edges of what a decoder
// reads; they seed the decoders' fuzz targets and FuzzJSONLibrary.

// trickyJSON are bodies on the edges of the fast path: keys differing in
// case or repeated, escapes, surrogates, invalid UTF-8, numbers an int
// cannot hold, nesting, trailing bytes.
var trickyJSON = []string{
	`{"choices":[{"message":{"content":"a\nb\u00e9\"\\\/"}}]}`,
	`{"choices":[{"message":{"content":"\ud83d\ude00 \ud800 x"}}]}`,
	"{\"choices\":[{\"message\":{\"content\":\"\xff\xfe\"}}]}",
	`{"Choices":[{"message":{"content":"a"}}],"choices":[{"message":{"content":"b"}}]}`,
	`{"choices":[{"message":{"content":"a"}}],"choices":[]}`,
	`{"choices":[{"MESSAGE":{"content":"a"},"message":{"Content":"b"}}],"model":"m","ID":"x"}`,
	`{"choices":[{"message":{"content":"a","refusal":"r"},"finish_reason":null}],"usage":{"prompt_tokens":1e2}}`,
	`{"choices":[{"message":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":12345678901234567890}}`,
	`{"choices":[{"message":{"content":null,"refusal":"no"}}],"usage":{"prompt_tokens":-3,"completion_tokens":0,"prompt_tokens_details":{"cached_tokens":2,"cached_tokens":5}}}`,
	`{"choices":[null,{"message":{"content":"b"}}],"usage":null,"x_groq":{"id":"req_1"}}`,
	`{"choices":[{"message":{"content":"a"}}]} x`,
	`{"choices":[{"message":{"content":"a"}}],"other":[1,2.5e-3,-0,true,false,null,{"k":"\u0041"}]}`,
	`{"choices":[{"message":{"content":"a"}}],"other":[01]}`,
	`{"choices":[{"message":{"content":"a"}}],"other":[1.]}`,
	`{"choices":[{"message":{"content":"a"}}],"other":"\x"}`,
	`{"choices":[{"message":{"content":"a"}}],"other":{"a":1,}}`,
	`{"choices":[{"message":{"content":"a"}}],"error":null,"id":5}`,
	`{"choices":[{"message":{"content":"a"}}],"error":{"message":"boom"}}`,
	`{"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3},"x_groq":{"usage":{"completion_tokens":4}}}`,
	`{"choices":[{"delta":{"content":[{"type":"text","text":"a"}]}}]}`,
	`{"choices":[],"x_groq":{"error":"over capacity"}}`,
	`{"choicſs":[{"message":{"content":"a"}}],"choices":[{"message":{"content":"b"}}]}`,
	` {"choices" : [ { "message" : { "content" : "a" } } ] } `,
	`{"choices":[{"message":{"content":"a","tool_calls":null,"refusal":""},"finish_reason":"stop"}],"usage":{"completion_tokens_details":{"reasoning_tokens":3,"reasoning_tokens":4},"prompt_tokens_details":{"cache_write_tokens":2}}}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
	`{"choices":[{"message":{"content":"a","Tool_calls":[]}}],"usage":{"Completion_tokens_details":null}}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a\""}}]}}]}`,
	`{"choices":[{"delta":{"refusal":"no"},"finish_reason":null}]}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1}}}]}}]}`,
}

var trickyAnthropic = []string{
	`{"type":"message","content":[{"type":"text","text":"a"},null,{"type":"tool_use","id":"t","input":{}},{"type":"text","text":"\u00e9"}],"stop_reason":"max_tokens","usage":{"input_tokens":3,"output_tokens":null,"cache_read_input_tokens":2}}`,
	`{"type":"message","content":[],"usage":{"output_tokens":1,"Output_tokens":2}}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
	`{"type":"other"}`,
	`{"content":[{"Type":"text","text":"a"}]}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi\n"}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"x"}}`,
	`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1,"cache_creation_input_tokens":4}}}`,
	`{"type":"message_stop"}`,
	`{"type":"ping"}`,
	`{"type":"message_delta","usage":null,"delta":null}`,
	`{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{\"a\""}}`,
	`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
	`{"type":"message_delta","delta":{"stop_reason":"refusal"},"usage":{"output_tokens":9,"output_tokens_details":{"thinking_tokens":4}}}`,
	`{"type":"message","content":[{"type":"thinking","thinking":"a","signature":"s"},{"type":"text","text":"b"},{"type":"text","text":""}],"usage":{"input_tokens":1,"output_tokens_details":{"thinking_tokens":null},"Output_tokens_details":{}}}`,
	`{"type":"message","content":[{"type":"text","text":"a","citations":[{"type":"char_location"}]},{"text":"x"}],"usage":{"output_tokens":2,"output_tokens_details":null}}`,
}

var trickyWorkersAI = []string{
	`{"result":{"response":"Hi","usage":{"prompt_tokens":1,"completion_tokens":2}},"success":true,"errors":[],"messages":[]}`,
	`{"result":{"response":{"a":[1,"b"]},"usage":null},"success":true,"errors":null}`,
	`{"result":{"response":null},"success":null}`,
	`{"result":{"response":"x"},"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}]}`,
	`{"result":{"response":"x"},"errors":[null]}`,
	`{"result":null,"success":true}`,
	`{"result":{"Response":"x","response":"y"}}`,
	`{"response":"Hello","p":"abc"}`,
	`{"response":"","usage":{"prompt_tokens":17,"completion_tokens":2,"total_tokens":19}}`,
	`{"response":"a","choices":[{"delta":{"content":"b"},"finish_reason":"stop"}]}`,
	`{"response":7,"errors":[],"error":null}`,
	`{"errors":[{"message":"boom","code":5}]}`,
	`{"error":"boom"}`,
	`{"result":{"response":"","tool_calls":[{"name":"f","arguments":{"a":1}}],"usage":{"prompt_tokens":1}},"success":true}`,
	`{"result":{"response":"x","tool_calls":[],"choices":null,"usage":{"prompt_tokens_details":{"cached_tokens":3}}},"success":true}`,
	`{"result":{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"id":"c"},"success":true}`,
	`{"response":"","tool_calls":[{"name":"f","arguments":{}}]}`,
	`{"response":"","tool_calls":[],"usage":{"completion_tokens_details":{"reasoning_tokens":2}}}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}`,
}

// testNow is the fixed "now" of the error tests.
var testNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
