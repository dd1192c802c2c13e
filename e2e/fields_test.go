package e2e

import "testing"

// Each provider's max-tokens field (max_completion_tokens for OpenAI,
// max_tokens for Anthropic, Groq and Workers AI), a temperature of 0 sent
// as 0, and the system prompt where each API takes it, on every routing
// mode.
func TestRequestFields(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	res := w.run(ensembleFile("request-fields"), "--input", `"hello"`).mustSucceed(t)
	checkMembers(t, res, []wantMember{
		{member: "openai-direct", provider: openai, model: "gpt-4o-mini", routing: rDirect},
		{member: "anthropic-gateway", provider: anth, model: claude, routing: rGateway},
		{member: "groq-gateway", provider: groq, model: "llama-3.1-70b-versatile", routing: rGateway},
		{member: "workers-ai-native", provider: wai, model: llama, routing: rCF},
		{member: "workers-ai-gateway", provider: wai, model: llama, routing: rGateway},
	})
	const sys = "Answer in one line."
	checkCalls(t, w, "request-fields", []wantCall{
		{fake: openai, provider: openai, model: "gpt-4o-mini", member: "openai-direct", system: sys, user: "hello", temperature: temp(0), maxTokens: 300},
		{fake: gw, provider: anth, model: claude, member: "anthropic-gateway", system: sys, user: "hello", temperature: temp(0), maxTokens: 1024, cacheTTL: "3600"},
		{fake: gw, provider: groq, model: "llama-3.1-70b-versatile", member: "groq-gateway", user: "hello", temperature: temp(0.2), maxTokens: 512, cacheTTL: "3600"},
		{fake: wai, provider: wai, model: llama, member: "workers-ai-native", system: sys, user: "hello", temperature: temp(0), maxTokens: 256},
		{fake: gw, provider: wai, model: llama, member: "workers-ai-gateway", user: "Say: hello", maxTokens: 128, cacheTTL: "3600"},
	})
}
