// Package provider holds what every wire format shares: the Endpoint an
// adapter reaches, the HTTP caller with its deadlines and error mapping,
// the SSE reader and stream, the portable-field table and the per-model
// parameter rules, and the mock. The formats themselves live in
// provider/openai (OpenAI-style, also Groq and local servers),
// provider/anthropic and provider/workersai; provider/internal/wire holds
// the JSON writers and helpers their codecs share.
package provider

import (
	"net/http"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Endpoint is where and how an adapter reaches its upstream. Routing modes
// differ only in the Endpoint they give an adapter: the provider's own URL
// (direct), Cloudflare's AI Gateway URL with cf-aig headers, or a local
// server.
type Endpoint struct {
	// Name is the provider name reported in errors and answers ("openai",
	// "groq", "local", …).
	Name string
	// BaseURL is the URL the wire format's path is appended to, without a
	// trailing slash: "https://api.openai.com/v1" for OpenAI,
	// "https://api.anthropic.com" for Anthropic,
	// "https://api.cloudflare.com/client/v4/accounts/ID/ai/run" for Workers AI.
	BaseURL string
	// APIKey is sent in the wire format's auth header; empty sends none.
	APIKey string
	// Header is added to every request (cf-aig-authorization, say).
	Header http.Header
	// Client sends the requests; nil uses a shared tuned client.
	Client *http.Client
	// FirstByteTimeout bounds the wait for the answer's headers; Timeout
	// bounds the whole call, stream included. Zero: no bound beyond ctx.
	FirstByteTimeout time.Duration
	Timeout          time.Duration
	// MaxAnswerBytes bounds a whole (non-stream) answer: a larger one is a
	// 502 answer_too_large. Zero: DefaultMaxAnswerBytes.
	MaxAnswerBytes int64
	// Hook, when set, sees every request before it is sent and every answer
	// when its headers arrive: the Cloudflare gateway route uses it for the
	// per-call cf-aig-* headers and cf-aig-cache-status.
	Hook Hook
}

// Hook adjusts one call's HTTP exchange.
type Hook interface {
	Before(r *http.Request, req *conductor.ChatRequest)
	After(r *http.Response, meta *conductor.ResponseMeta)
}
