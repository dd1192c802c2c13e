package provider_test

import (
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
)

// benchAnswer is a whole answer as the server encodes it for a caller
// whose format the upstream does not speak: text and a tool call.
func benchAnswer() *conductor.ChatResponse {
	return &conductor.ChatResponse{
		ID: "msg_01", Model: "claude-3-5-sonnet-20241022", FinishReason: "tool_calls",
		Content: []conductor.Block{
			{Type: conductor.BlockText, Text: "Checking the weather."},
			{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: "toolu_01", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
		},
		Usage: conductor.Usage{InputTokens: 380, OutputTokens: 52},
	}
}

// BenchmarkEncodeResponse is the encode step of the request path: the
// answer written in the caller's format when it was translated (a
// same-format answer passes through as bytes and costs nothing here).
//
//	go test ./provider -run '^$' -bench EncodeResponse -benchmem
func BenchmarkEncodeResponse(b *testing.B) {
	resp := benchAnswer()
	b.Run("openai", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if out := openai.EncodeResponse(resp, 1741569952); len(out) == 0 {
				b.Fatal("empty")
			}
		}
	})
	b.Run("anthropic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := anthropic.EncodeResponse(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
