package provider_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"

	conductor "github.com/conductor-go/conductor"
)

// The request scanners must give the JSON path's result whenever they take
// a body (ok), and must take the recorded requests (or the speed is not
// real). The answers and streams have no scanner: BENCHMARKS.md, "Wire
// decoders: one library, one decoder per shape", says why.

func fileEvents(t testing.TB, file string) []provider.Event {
	t.Helper()
	evs, _ := readEvents(provider.NewSSEReader(bytes.NewReader(readTestdata(t, file))))
	return evs
}

// trickyRequests are request bodies on the edges of the fast path.
var trickyRequests = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"model":"n"}`,
	`{"model":"m","messages":[{"Role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`,
	`{"model":"m","messages":[{"role":"tool","content":"x","tool_call_id":"c"}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":null}],"stop":"\n","seed":-7,"stream":true}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a",null],"temperature":0.7,"top_p":1e-1,"max_tokens":5,"max_completion_tokens":null}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1,"max_completion_tokens":3}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1e999}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"seed":1.5}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[],"tools":[{"type":"function"}],"user":"u","response_format":null}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"},"stream":null}`,
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"\xff\":1}",
	`{"model":"m","messages":[null]}`,
	`{"model":"","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","messages":[]}`,
	// Block-shaped: left to encoding/json, or read alike.
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":null},{"type":"text","text":"a","image_url":5}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","Text":"a"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"t\u0065xt","text":"a"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":null,"text":"a"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","refusal":null}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","Refusal":"no"}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","audio":{"id":"audio_1"}}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","name":"bot","tool_call_id":"c"}]}`,
	`{"model":"m","messages":[{"role":"function","name":"f","content":"r"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"n":1}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"N":2}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}}}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"regex"}}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"data:image/png;base64,AAAA"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"r"}]},{"role":"tool","tool_call_id":"d","content":"s"},{"role":"user","content":"u"}]}`,
}

func FuzzScanOpenAIRequest(f *testing.F) {
	addFiles(f, "openai/client_request.json", "openai/request_full.golden.json", "openai/request_stream.golden.json",
		"openai/request_groq.golden.json")
	for _, b := range conformanceBodies(f, ".openai.json") {
		f.Add(b)
	}
	for _, s := range trickyRequests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := openai.ScanRequest(body)
		if !ok {
			return
		}
		want, err := openai.DecodeRequestJSON(body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v\njson %+v", body, fast, want)
		}
	})
}

func TestScanTakesRequests(t *testing.T) {
	bench, err := openai.EncodeRequest(benchTextRequest())
	if err != nil {
		t.Fatal(err)
	}
	// Text-only requests take the fast path…
	bodies := [][]byte{bench, readTestdata(t, "openai/client_request.json"), readTestdata(t, "openai/request_stream.golden.json"),
		readTestdata(t, "openai/request_groq.golden.json")}
	for _, body := range bodies {
		if _, ok := openai.ScanRequest(body); !ok {
			t.Errorf("%s: not taken by the fast path", body)
		}
	}
	// …and anything it does not model is left to encoding/json.
	for _, body := range append(conformanceBodies(t, ".openai.json"), readTestdata(t, "openai/request_full.golden.json")) {
		if req, ok := openai.ScanRequest(body); ok && !textOnly(req) {
			t.Errorf("%s: taken by the fast path as %+v", body, req)
		}
	}
	for _, s := range trickyRequests {
		body := []byte(s)
		if fast, ok := openai.ScanRequest(body); ok {
			want, err := openai.DecodeRequestJSON(body)
			if err != nil || !reflect.DeepEqual(fast, want) {
				t.Errorf("%s: fast %+v, json %+v %v", s, fast, want, err)
			}
		}
	}
}

// BenchmarkOpenAIDecodeLong is an answer of a few paragraphs, as most are.
func BenchmarkOpenAIDecodeLong(b *testing.B) {
	text := strings.Repeat("Paris became the capital under Clovis I, and the Capetian kings kept it there. ", 40) +
		"\n\nIn short: \"Paris\"."
	body := openai.EncodeResponse(&conductor.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o", Content: conductor.Texts(text),
		FinishReason: "stop", Usage: conductor.Usage{InputTokens: 100, OutputTokens: 700}}, 1741569952)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := openai.DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

var trickyAnthropicRequests = []string{
	`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]},{"role":"assistant","content":"z"}]}`,
	`{"model":"m","max_tokens":10,"system":"s","messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}`,
	`{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"x"}]}`,
	`{"model":"m","max_tokens":null,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stop_sequences":"END"}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stop_sequences":null,"stream":true,"temperature":0,"top_p":null}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stop_sequences":["a",null],"metadata":{"user_id":"u"},"tools":[]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x","Content":"y"}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":null}],"system":null}`,
	`{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}`,
	// Block-shaped: left to encoding/json, or read alike.
	`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","citations":[]}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"a","is_error":"x","source":7}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}],"is_error":true}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":1024}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"adaptive"},"output_config":{"effort":"low"}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"output_format":{"type":"json_schema","schema":{}}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"Tools":[]}`,
}

func FuzzScanAnthropicRequest(f *testing.F) {
	addFiles(f, "anthropic/client_request.json", "anthropic/request_full.golden.json", "anthropic/request_stream.golden.json")
	for _, b := range conformanceBodies(f, ".anthropic.json") {
		f.Add(b)
	}
	for _, s := range trickyAnthropicRequests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := anthropic.ScanRequest(body)
		if !ok {
			return
		}
		want, err := anthropic.DecodeRequestJSON(body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v\njson %+v", body, fast, want)
		}
	})
}

func TestScanTakesAnthropicRequests(t *testing.T) {
	bench, err := anthropic.EncodeRequest(benchTextRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{bench, readTestdata(t, "anthropic/client_request.json"), readTestdata(t, "anthropic/request_stream.golden.json")} {
		if _, ok := anthropic.ScanRequest(body); !ok {
			t.Errorf("%s: not taken by the fast path", body)
		}
	}
	for _, body := range append(conformanceBodies(t, ".anthropic.json"), readTestdata(t, "anthropic/request_full.golden.json")) {
		if req, ok := anthropic.ScanRequest(body); ok && !textOnly(req) {
			t.Errorf("%s: taken by the fast path as %+v", body, req)
		}
	}
	for _, s := range trickyAnthropicRequests {
		body := []byte(s)
		if fast, ok := anthropic.ScanRequest(body); ok {
			want, err := anthropic.DecodeRequestJSON(body)
			if err != nil || !reflect.DeepEqual(fast, want) {
				t.Errorf("%s: fast %+v, json %+v %v", s, fast, want, err)
			}
		}
	}
}
