package wire

import (
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   ", 0},
		{"Hi", 1},
		// cl100k gives 10 for this pangram.
		{"The quick brown fox jumps over the lazy dog.", 10},
		{"internationalization", 1 + (20-6)/4},
		{"1234567", 3},
		{"abc123", 2},
		{"Hello, world!", 4},
		{"日本語", 3},
		{"line one\n\n\nline two", 5},
		{"café", 1},
		{"e\u0301", 1}, // e + combining acute: one letter
		{"\u0301", 1},  // a lone mark is a symbol
		{"🎉🎉", 2},
	}
	for _, tt := range tests {
		if got := EstimateTokens(tt.in); got != tt.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// On ordinary English prose the estimate stays near OpenAI's rule of thumb
// of about 4 characters per token.
func TestEstimateTokensProse(t *testing.T) {
	prose := "Routing determines how Conductor connects to AI providers. The right routing mode can " +
		"dramatically improve performance, reduce costs, and increase reliability. Cache survives deployments: " +
		"the first user pays, everyone else benefits, which can reduce costs by ninety percent for repeated queries."
	got := EstimateTokens(prose)
	rule := len(prose) / 4
	if got < rule*3/4 || got > rule*5/4 {
		t.Errorf("estimate %d for %d chars; rule of thumb %d", got, len(prose), rule)
	}
}

func TestEstimateInputTokens(t *testing.T) {
	req := &conductor.ChatRequest{Messages: []conductor.Message{
		conductor.TextMessage("system", "Be brief."),
		conductor.TextMessage("user", "Why is the sky blue?"),
	}}
	// 3 priming + 2×4 per message + system(1) + 3 + user(1) + 6.
	if got := EstimateInputTokens(req); got != 22 {
		t.Errorf("EstimateInputTokens = %d, want 22", got)
	}
	if got := EstimateInputTokens(&conductor.ChatRequest{}); got != 3 {
		t.Errorf("empty request: %d", got)
	}
}

func TestTokenCounterAcrossDeltas(t *testing.T) {
	whole := "Streaming splits internationalization 123456 across deltas."
	var c TokenCounter
	for _, piece := range strings.SplitAfter(whole, "a") {
		c.Add(piece)
	}
	if got, want := c.Total(), EstimateTokens(whole); got != want {
		t.Errorf("fed in deltas: %d, whole: %d", got, want)
	}
}
