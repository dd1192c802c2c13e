package provider

import (
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// OpenAIMaxField is the output-limit field an OpenAI-style upstream reads:
// max_completion_tokens for OpenAI itself (every chat model takes it, and
// the reasoning models take no other), max_tokens for the compatible
// servers (Groq, Workers AI's /v1, Ollama, llama.cpp, vLLM).
func OpenAIMaxField(providerName string) string {
	if providerName == conductor.ProviderOpenAI {
		return "max_completion_tokens"
	}
	return "max_tokens"
}

// LimitOutput sets req's output limit to n tokens, in MaxTokens and, when
// the caller's body passes through, in that body's own field of its
// format (OpenAIMaxField for OpenAI-style bodies, max_tokens for
// Anthropic and Workers AI): added to the body, every other byte kept, so
// that the upstream is bound by the limit the gateway assumed. req must
// be the caller's copy to change. A body that cannot be edited is dropped,
// and the adapter encodes req's fields instead.
func LimitOutput(req *conductor.ChatRequest, n int) {
	req.MaxTokens = n
	if len(req.Body) == 0 {
		return
	}
	var field string
	switch req.BodyFormat {
	case FormatOpenAI:
		field = OpenAIMaxField(req.Provider)
	case FormatAnthropic, FormatWorkersAI:
		field = "max_tokens"
	default:
		req.Body, req.BodyFormat = nil, ""
		return
	}
	body, err := wire.SetMember(req.Body, field, strconv.AppendInt(nil, int64(n), 10))
	if err != nil {
		req.Body, req.BodyFormat = nil, ""
		return
	}
	req.Body = body
}
