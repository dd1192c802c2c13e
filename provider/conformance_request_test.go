package provider_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"

	conductor "github.com/conductor-go/conductor"
)

// The request conformance suite: testdata/conformance/requests holds
// request bodies of the documented shapes, <case>.<format>.json, that are
// exact translations of one another in the directions cases.json names.
// Each direction decodes the source body, points it at the target (its
// provider and the target body's model), encodes it for the target and
// compares the JSON with the target body, key order aside.

const conformanceDir = "testdata/conformance/requests"

type conformanceCase struct {
	Case       string   `json:"case"`
	Directions []string `json:"directions"`
}

func requestConformanceCases(t testing.TB) []conformanceCase {
	t.Helper()
	var cases []conformanceCase
	if err := json.Unmarshal(readTestdata(t, "conformance/requests/cases.json"), &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// conformanceBodies are the bodies of one format (suffix ".openai.json"…).
func conformanceBodies(t testing.TB, suffix string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(conformanceDir, "*"+suffix))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance bodies %s: %v", suffix, err)
	}
	out := make([][]byte, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// The codecs of each format: the decoder of a caller's body, and the
// encoder of a body for an upstream of that format.
var requestCodecs = map[string]struct {
	provider string
	decode   func([]byte) (*conductor.ChatRequest, error)
	encode   func(*conductor.ChatRequest) ([]byte, error)
}{
	provider.FormatOpenAI:    {conductor.ProviderOpenAI, openai.DecodeRequest, openai.EncodeRequest},
	provider.FormatAnthropic: {conductor.ProviderAnthropic, anthropic.DecodeRequest, anthropic.EncodeRequest},
	provider.FormatWorkersAI: {conductor.ProviderWorkersAI, workersai.DecodeRequest, workersai.EncodeRequest},
}

func TestRequestConformance(t *testing.T) {
	cases := requestConformanceCases(t)
	if len(cases) < 13 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		for _, dir := range c.Directions {
			from, to, ok := strings.Cut(dir, "->")
			src, okSrc := requestCodecs[from]
			dst, okDst := requestCodecs[to]
			if !ok || !okSrc || !okDst {
				t.Fatalf("%s: unknown direction %q", c.Case, dir)
			}
			t.Run(c.Case+"/"+dir, func(t *testing.T) {
				source := readTestdata(t, "conformance/requests/"+c.Case+"."+from+".json")
				want := readTestdata(t, "conformance/requests/"+c.Case+"."+to+".json")
				req, err := src.decode(source)
				if err != nil {
					t.Fatalf("decode %s: %v", from, err)
				}
				req.Provider = dst.provider
				var target struct {
					Model string `json:"model"`
				}
				if err := json.Unmarshal(want, &target); err != nil {
					t.Fatal(err)
				}
				req.Model = target.Model
				got, err := dst.encode(req)
				if err != nil {
					t.Fatalf("encode %s: %v", to, err)
				}
				if !sameJSON(t, got, want) {
					t.Errorf("%s → %s\n got: %s\nwant: %s", from, to, got, compactBody(want))
				}
			})
		}
	}
}

// Every body of the suite is read by the decoder of its format, and every
// case has a body for each format its directions name.
func TestRequestConformanceFiles(t *testing.T) {
	named := map[string]bool{}
	for _, c := range requestConformanceCases(t) {
		for _, dir := range c.Directions {
			from, to, _ := strings.Cut(dir, "->")
			named[c.Case+"."+from+".json"], named[c.Case+"."+to+".json"] = true, true
		}
	}
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "*.*.json"))
	for _, f := range files {
		name := filepath.Base(f)
		if !named[name] {
			t.Errorf("%s is in no direction of cases.json", name)
		}
		format := strings.TrimSuffix(name[strings.Index(name, ".")+1:], ".json")
		codec, ok := requestCodecs[format]
		if !ok {
			t.Errorf("%s: unknown format %q", name, format)
			continue
		}
		if _, err := codec.decode(readTestdata(t, "conformance/requests/"+name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// What a target cannot carry is a 400 naming the field and the target,
// before any call.
func TestRequestRefusals(t *testing.T) {
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	tests := []struct {
		name, from, to string
		body           string
		field          string // what the message must name
	}{
		{"n > 1 to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o","n":3,"messages":[{"role":"user","content":"Hi"}]}`, "n: "},
		{"logprobs to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o","logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"Hi"}]}`, "logprobs: "},
		{"seed to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o","seed":7,"messages":[{"role":"user","content":"Hi"}]}`, "seed: "},
		{"custom tools to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o","tools":[{"type":"custom","custom":{"name":"grep"}}],"messages":[{"role":"user","content":"Hi"}]}`, "tools: "},
		{"allowed_tools to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o",` + tools + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},"messages":[{"role":"user","content":"Hi"}]}`, "tool_choice: "},
		{"invalid tool arguments to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o",` + tools + `,"messages":[{"role":"user","content":"Hi"},{"role":"tool","tool_call_id":"x","content":"?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}]}`,
			"messages[2].tool_calls[0].function.arguments: not a JSON object"},
		{"arguments not an object to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o","messages":[{"role":"assistant","content":"a","tool_calls":[{"id":"c0","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"c1","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[0].tool_calls[1].function.arguments: not a JSON object"},
		{"an input_audio part to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o-audio-preview","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}}]}]}`, "messages[0].content[0]: an input_audio block"},
		{"a BMP image to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]}`, "messages[0].content[0]: an image of type \"image/bmp\""},
		{"top_k to OpenAI", provider.FormatAnthropic, provider.FormatOpenAI,
			`{"model":"claude-sonnet-4-5","max_tokens":10,"top_k":5,"messages":[{"role":"user","content":"Hi"}]}`, "top_k: "},
		{"a document block to OpenAI", provider.FormatAnthropic, provider.FormatOpenAI,
			`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"text","text":"Summarise."}]}]}`,
			"messages[0].content[0]: a document block"},
		{"server tools to OpenAI", provider.FormatAnthropic, provider.FormatOpenAI,
			`{"model":"claude-sonnet-4-5","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"Hi"}]}`, "tools: "},
		{"an http image to Workers AI", provider.FormatOpenAI, provider.FormatWorkersAI,
			`{"model":"@cf/meta/llama-4-scout-17b-16e-instruct","messages":[{"role":"user","content":[{"type":"text","text":"What is it?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`,
			"messages[0].content[1]: an image by URL"},
		{"an http image to Workers AI, from Anthropic", provider.FormatAnthropic, provider.FormatWorkersAI,
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}]}]}`,
			"messages[0].content[0]: an image by URL"},
		{"n > 1 to Workers AI", provider.FormatOpenAI, provider.FormatWorkersAI,
			`{"model":"m","n":2,"messages":[{"role":"user","content":"Hi"}]}`, "n: "},
		{"stop to Workers AI", provider.FormatOpenAI, provider.FormatWorkersAI,
			`{"model":"m","stop":"END","messages":[{"role":"user","content":"Hi"}]}`, "stop: "},
		{"logprobs to Workers AI", provider.FormatOpenAI, provider.FormatWorkersAI,
			`{"model":"m","logprobs":true,"messages":[{"role":"user","content":"Hi"}]}`, "logprobs: "},
		{"reasoning with too small a limit to Anthropic", provider.FormatOpenAI, provider.FormatAnthropic,
			`{"model":"o3","reasoning_effort":"high","max_completion_tokens":1000,"messages":[{"role":"user","content":"Hi"}]}`, "reasoning_effort: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := requestCodecs[tt.from].decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("the decoder refused what the caller may send: %v", err)
			}
			dst := requestCodecs[tt.to]
			req.Provider = dst.provider
			body, err := dst.encode(req)
			e, ok := conductor.AsError(err)
			if !ok {
				t.Fatalf("encoded %s, want a refusal", body)
			}
			if e.Class != conductor.ClassBadRequest || provider.HTTPStatus(e) != http.StatusBadRequest || e.Provider != dst.provider {
				t.Errorf("error %+v: want a 400 from %s", e, dst.provider)
			}
			if !strings.HasPrefix(e.Message, tt.field) || !strings.Contains(e.Message, dst.provider) {
				t.Errorf("message %q does not name %q and %s", e.Message, tt.field, dst.provider)
			}
		})
	}
}

// sameJSON compares two JSON texts as values: key order and spacing aside.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func compactBody(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// textOnly reports whether req holds nothing but text: what the decoders'
// fast paths may take.
func textOnly(req *conductor.ChatRequest) bool {
	if len(req.Tools) > 0 || req.ToolChoice != nil || req.ParallelToolCalls != nil || req.N != 0 ||
		req.ReasoningEffort != "" || req.ThinkingBudget != 0 {
		return false
	}
	for _, m := range req.Messages {
		if !conductor.OnlyText(m.Content) {
			return false
		}
	}
	return true
}

// The JSON request decoders on block-shaped bodies: no panic, every failure
// a bad request, and what they read encodes again — to the same format as
// valid JSON that reads back, to the others as valid JSON or a refusal by
// name.
func FuzzOpenAIRequestBlocks(f *testing.F) {
	fuzzRequestBlocks(f, provider.FormatOpenAI, openai.DecodeRequestJSON)
}

func FuzzAnthropicRequestBlocks(f *testing.F) {
	fuzzRequestBlocks(f, provider.FormatAnthropic, anthropic.DecodeRequestJSON)
}

func fuzzRequestBlocks(f *testing.F, format string, decode func([]byte) (*conductor.ChatRequest, error)) {
	for _, b := range conformanceBodies(f, "."+format+".json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if provider.CheckText(body) != nil {
			// Every entry point refuses an ambiguous body (a key twice)
			// before decoding it; kept as sent, its opaque blocks would
			// not read back.
			return
		}
		req, err := decode(body)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		for to, codec := range requestCodecs {
			r := *req
			r.Provider = codec.provider
			out, err := codec.encode(&r)
			if err != nil {
				if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
					t.Fatalf("encode %s: err %v", to, err)
				}
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("encode %s: invalid JSON %q from %q", to, out, body)
			}
			if to != format {
				continue
			}
			again, err := codec.decode(out)
			if err != nil {
				t.Fatalf("re-encoded %s does not read back: %v", out, err)
			}
			if again.Model != req.Model || len(again.Tools) != len(req.Tools) || (again.ToolChoice == nil) != (req.ToolChoice == nil) {
				t.Fatalf("round trip changed the request: %+v vs %+v", again, req)
			}
		}
	})
}
