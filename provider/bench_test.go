package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/conductor-go/conductor/provider"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// benchRequest is a typical gateway call: a system prompt, a few turns, the
// usual parameters and one tool.
func benchRequest() *conductor.ChatRequest {
	return &conductor.ChatRequest{
		Provider: "openai", Model: "gpt-4o",
		Messages: []conductor.Message{
			conductor.TextMessage("system", "You are a helpful assistant that answers in one short paragraph. Cite sources when you can."),
			conductor.TextMessage("user", "What is the capital of France, and why did it become the capital?"),
			conductor.TextMessage("assistant", "Paris. It became the capital under Clovis I and kept that role through the Capetian kings."),
			conductor.TextMessage("user", "Tell me more about the \"Capetian\" kings.\nKeep it brief."),
		},
		Temperature: ptr(0.7),
		MaxTokens:   2000,
		Tools: []conductor.Tool{{Name: "search",
			Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}},
	}
}

// benchTextRequest is benchRequest without its tool: the body the decoders'
// one-pass fast path takes.
func benchTextRequest() *conductor.ChatRequest {
	req := benchRequest()
	req.Tools = nil
	return req
}

func BenchmarkOpenAIEncode(b *testing.B) {
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openai.EncodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

// The same body through encoding/json, for comparison.
func BenchmarkOpenAIEncodeStdlib(b *testing.B) {
	req := benchRequest()
	type body struct {
		Model       string                     `json:"model"`
		Messages    []conductor.Message        `json:"messages"`
		Temperature *float64                   `json:"temperature,omitempty"`
		MaxTokens   int                        `json:"max_completion_tokens,omitempty"`
		Tools       json.RawMessage            `json:"tools,omitempty"`
		Extra       map[string]json.RawMessage `json:"-"`
	}
	b.ReportAllocs()
	for b.Loop() {
		tools, _ := json.Marshal(req.Tools)
		if _, err := json.Marshal(body{req.Model, req.Messages, req.Temperature, req.MaxTokens, tools, nil}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenAIDecode(b *testing.B) {
	body := readTestdata(b, "openai/chat_completion.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := openai.DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAIRoundTrip is the adapter's own cost per call without the
// network: build the request body, parse the answer.
func BenchmarkOpenAIRoundTrip(b *testing.B) {
	req := benchRequest()
	body := readTestdata(b, "openai/chat_completion.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openai.EncodeRequest(req); err != nil {
			b.Fatal(err)
		}
		if _, err := openai.DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAIChatHTTP is a whole Chat call through the adapter against
// a local upstream over a kept-alive connection: the adapter's and
// net/http's cost together.
func BenchmarkOpenAIChatHTTP(b *testing.B) {
	answer := readTestdata(b, "openai/chat_completion.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-request-id", "req_1")
		_, _ = w.Write(answer)
	}))
	defer srv.Close()
	p := openai.New(provider.Endpoint{Name: "openai", BaseURL: srv.URL, APIKey: "sk-test"})
	req := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Chat(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAIStreamDecode reads and decodes a recorded stream: the SSE
// reader and the chunk decoder, per stream of 5 chunks.
func BenchmarkOpenAIStreamDecode(b *testing.B) {
	body := readTestdata(b, "openai/stream.sse")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := provider.NewSSEReader(bytes.NewReader(body))
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if _, _, _, err := openai.DecodeStreamEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSSEReader(b *testing.B) {
	body := bytes.Repeat(readTestdata(b, "anthropic/stream.sse"), 20)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := provider.NewSSEReader(bytes.NewReader(body))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkAnthropicEncode(b *testing.B) {
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anthropic.EncodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEstimateTokens(b *testing.B) {
	s := benchRequest().Messages[2].Text()
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		wire.EstimateTokens(s)
	}
}

// benchStream reads and decodes a recorded stream with decode.
func benchStream(b *testing.B, file string, decode func(provider.Event) (conductor.Chunk, bool, bool, error)) {
	body := readTestdata(b, file)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := provider.NewSSEReader(bytes.NewReader(body))
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if _, _, _, err := decode(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchDecode(b *testing.B, file string, decode func([]byte) (*conductor.ChatResponse, error)) {
	body := readTestdata(b, file)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnthropicDecode(b *testing.B) {
	benchDecode(b, "anthropic/message.json", anthropic.DecodeResponse)
}

func BenchmarkAnthropicStreamDecode(b *testing.B) {
	benchStream(b, "anthropic/stream.sse", new(anthropic.StreamDecoder).Decode)
}

func BenchmarkWorkersAIDecode(b *testing.B) {
	benchDecode(b, "workersai/run.json", workersai.DecodeResponse)
}

func BenchmarkWorkersAIStreamDecode(b *testing.B) {
	benchStream(b, "workersai/stream_usage.sse", workersai.DecodeStreamEvent)
}

// BenchmarkOpenAIRequestDecode is the server's per-request parse of a
// typical client body (the benchmark request as an SDK would send it).
func BenchmarkOpenAIRequestDecode(b *testing.B) {
	body, err := openai.EncodeRequest(benchRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := openai.DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnthropicRequestDecode(b *testing.B) {
	body, err := anthropic.EncodeRequest(benchRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := anthropic.DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// The answers and streams with tool calls take encoding/json's path (the
// fast scanners read text answers only): what that costs.

func BenchmarkOpenAIDecodeToolCalls(b *testing.B) {
	benchDecode(b, "conformance/answers/parallel-tool-calls.openai.json", openai.DecodeResponse)
}

func BenchmarkAnthropicDecodeToolUse(b *testing.B) {
	benchDecode(b, "conformance/answers/one-tool-call.anthropic.json", anthropic.DecodeResponse)
}

func BenchmarkOpenAIStreamDecodeToolCalls(b *testing.B) {
	benchStream(b, "conformance/streams/parallel-tool-calls.openai.sse", new(openai.StreamDecoder).Decode)
}

func BenchmarkAnthropicStreamDecodeToolUse(b *testing.B) {
	benchStream(b, "conformance/streams/one-tool-call.anthropic.sse", new(anthropic.StreamDecoder).Decode)
}

// The text-only body the fast path takes, decoded by it and by the
// encoding/json path alone: what the hand-written scanner is worth.
func BenchmarkOpenAIRequestDecodeText(b *testing.B) {
	benchRequestDecode(b, benchTextRequest(), openai.EncodeRequest, openai.DecodeRequest)
}

func BenchmarkOpenAIRequestDecodeTextJSON(b *testing.B) {
	benchRequestDecode(b, benchTextRequest(), openai.EncodeRequest, openai.DecodeRequestJSON)
}

func BenchmarkAnthropicRequestDecodeText(b *testing.B) {
	benchRequestDecode(b, benchTextRequest(), anthropic.EncodeRequest, anthropic.DecodeRequest)
}

func BenchmarkAnthropicRequestDecodeTextJSON(b *testing.B) {
	benchRequestDecode(b, benchTextRequest(), anthropic.EncodeRequest, anthropic.DecodeRequestJSON)
}

func benchRequestDecode(b *testing.B, req *conductor.ChatRequest, encode func(*conductor.ChatRequest) ([]byte, error),
	decode func([]byte) (*conductor.ChatRequest, error)) {
	body, err := encode(req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTranslatedToolRequest is the server's per-request cost of an
// OpenAI client's tool conversation sent to Anthropic: decode the body
// (two tools, an assistant turn with text and two tool calls, two tool
// results, a follow-up), encode the Messages body.
func BenchmarkTranslatedToolRequest(b *testing.B) {
	body := readTestdata(b, "conformance/requests/parallel-tool-results.openai.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := openai.DecodeRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		req.Provider, req.Model = conductor.ProviderAnthropic, "claude-sonnet-4-5"
		if _, err := anthropic.AppendRequest(make([]byte, 0, wire.RequestSize(req)+16), req, req.Provider, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTranslatedToolRequestEncode is the encoding half alone.
func BenchmarkTranslatedToolRequestEncode(b *testing.B) {
	req, err := openai.DecodeRequest(readTestdata(b, "conformance/requests/parallel-tool-results.openai.json"))
	if err != nil {
		b.Fatal(err)
	}
	req.Provider, req.Model = conductor.ProviderAnthropic, "claude-sonnet-4-5"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anthropic.EncodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}
