// Package conductor holds the domain types every other package depends on:
// a chat request and its answer, the Provider interface that every adapter
// and every gateway feature implements, the typed provider error, and the
// small store interfaces behind the cache, the counters and the request log.
//
// The flow of a call: an ensemble member (package engine) or an HTTP client
// (package server) builds a ChatRequest, package routing picks the Provider
// chain for its routing mode, each gateway wrapper (package gateway) does its
// part and calls the next, and an adapter (package provider) speaks the
// provider's wire format.
package conductor

import (
	"context"
	"encoding/json"
	"time"
)

// Routing modes, as the product page defines them.
const (
	RoutingCloudflare = "cloudflare"
	RoutingGateway    = "cloudflare-gateway"
	RoutingDirect     = "direct"
)

// RoutingModes lists every routing mode an ensemble may use.
func RoutingModes() []string {
	return []string{RoutingCloudflare, RoutingGateway, RoutingDirect}
}

// Message is one turn of a chat: a role (system, developer, user,
// assistant; a tool's answer is a tool_result block in a user message) and
// its content blocks in order.
type Message struct {
	Role    string  `json:"role"`
	Content []Block `json:"content"`
}

// Text is the message's text blocks joined.
func (m Message) Text() string { return BlocksText(m.Content, "") }

// Finish reasons, in the domain's (OpenAI's) words.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// ChatRequest is one call to a model, independent of any wire format.
//
// Optional numbers are pointers so that 0 (a real temperature) and "unset"
// stay apart.
type ChatRequest struct {
	Provider    string    `json:"provider"`
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	TopP        *float64  `json:"topP,omitempty"`
	MaxTokens   int       `json:"maxTokens,omitempty"` // 0: the provider's default
	Stop        []string  `json:"stop,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
	// N is the number of answers asked for; 0 and 1 mean one.
	N int `json:"n,omitempty"`
	// Tools the model may call, and whether and which it must.
	Tools      []Tool      `json:"tools,omitempty"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
	// ParallelToolCalls false allows at most one tool call per turn.
	ParallelToolCalls *bool `json:"parallelToolCalls,omitempty"`
	// ResponseFormat asks for structured output.
	ResponseFormat *ResponseFormat `json:"responseFormat,omitempty"`
	// ReasoningEffort is OpenAI's reasoning_effort (none … max);
	// ThinkingBudget is Anthropic's thinking budget_tokens (0: off).
	ReasoningEffort string `json:"reasoningEffort,omitempty"`
	ThinkingBudget  int    `json:"thinkingBudget,omitempty"`
	// Extra holds further wire fields of the caller's format (logprobs,
	// metadata, top_k, …), keyed by wire name. An adapter of another format
	// refuses each one it cannot carry, by name (provider.Portable says which
	// travel).
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
	// ExtraFormat is the wire format of Extra's fields ("openai",
	// "anthropic", "workers-ai"); "" for fields every format shares.
	ExtraFormat string `json:"-"`
	// Stream asks for a streamed answer (Provider.Stream).
	Stream bool `json:"stream,omitempty"`

	// Body, when set, is the caller's own request body in wire format
	// BodyFormat ("openai", "anthropic", "workers-ai"). An adapter of that
	// format sends it as it is instead of encoding the fields above, which
	// the server still fills for the gateway's features: bodies pass through
	// as bytes and are never re-encoded when nothing changed them.
	Body       []byte `json:"-"`
	BodyFormat string `json:"-"`

	// Options are the per-call gateway options (the cf-aig-* headers, or a
	// member's cache and retry settings). They never reach the provider's body.
	Options CallOptions `json:"-"`
}

// CallOptions carry what a caller asks of the gateway for one call.
type CallOptions struct {
	CacheTTL    *time.Duration // nil: the gateway's default; 0: do not cache
	SkipCache   bool           // read nothing from the cache, write nothing
	CacheKey    string         // a caller-chosen cache key (cf-aig-cache-key)
	MaxAttempts int            // 0: the gateway's default
	RetryDelay  time.Duration  // first backoff delay; 0: default
	Backoff     string         // constant | linear | exponential
	Timeout     time.Duration  // per attempt, to the first byte (cf-aig-request-timeout); 0: the route's or gateway's
	IdleTimeout time.Duration  // between stream chunks (conductor-idle-timeout); 0: the route's or gateway's
	// TotalTimeout bounds the whole call, retries and fallbacks included
	// (conductor-total-timeout); 0: the gateway's.
	TotalTimeout time.Duration
	Metadata     map[string]string // cf-aig-metadata: ensemble, member, environment, user…
	User         string            // who the call is for (rate limits, budgets, splits)
	Environment  string            // dev, staging, production…
	// Key names the virtual key the call came with (`conductor serve`),
	// never the key itself, and Team the key's team: limits scoped by key
	// or team hold the call, and the request log names both.
	Key  string
	Team string
	// Variant names the A/B split variant serving the call ("split/variant"),
	// set by the split; the gateway logs it so variants can be compared.
	Variant string
	// CallerKey is the caller's own provider key (`conductor serve` with
	// allow_caller_keys): the route sends it instead of its own key and
	// redacts it like every configured secret. Zero: the route's own key.
	CallerKey CallerKey
	// ProviderHeader holds provider headers the caller chose
	// (anthropic-version, anthropic-beta, OpenAI-Organization,
	// OpenAI-Project), canonical names as in an http.Header; a route
	// forwards those of its wire format. Nil for every other call.
	ProviderHeader map[string][]string
}

// CallerKey is a caller's own provider key and the header it came in. It
// prints as [redacted], so a logged request shows no key.
type CallerKey struct {
	Value string
	// Header is "x-api-key" when the caller sent it so: an Anthropic
	// upstream then gets it in that header; every other call sends it as
	// Authorization: Bearer.
	Header string
}

func (k CallerKey) String() string {
	if k.Value == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the key.
func (k CallerKey) GoString() string { return k.String() }

// Usage is the normalised token count of one answer.
type Usage struct {
	InputTokens       int  `json:"inputTokens"`
	OutputTokens      int  `json:"outputTokens"`
	CachedInputTokens int  `json:"cachedInputTokens,omitempty"`
	Estimated         bool `json:"estimated,omitempty"` // counted locally: the provider sent none
	// ReasoningTokens are the output tokens spent on reasoning or thinking;
	// like the visible ones they are part of OutputTokens.
	ReasoningTokens int `json:"reasoningTokens,omitempty"`

	// CacheWriteInputTokens are the input tokens written to the provider's
	// prompt cache (Anthropic cache_creation_input_tokens). Like
	// CachedInputTokens they are part of InputTokens; they are billed at
	// the cache-write price.
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

// ChatResponse is a whole answer.
type ChatResponse struct {
	ID    string `json:"id,omitempty"`
	Model string `json:"model,omitempty"`
	// Content is the answer's blocks: text, tool calls, opaque blocks.
	Content      []Block `json:"content"`
	FinishReason string  `json:"finishReason,omitempty"`
	Usage        Usage   `json:"usage"`
	RequestID    string  `json:"requestId,omitempty"` // the provider's request id, for support
	// Raw is the provider's answer body as received, in its wire format.
	Raw json.RawMessage `json:"-"`
	// Meta says how the answer was obtained; gateway wrappers fill it in.
	Meta ResponseMeta `json:"meta"`
}

// ResponseMeta records what the route did for one answer.
type ResponseMeta struct {
	Provider    string        `json:"provider"`
	Routing     string        `json:"routing,omitempty"`
	Cached      bool          `json:"cached"`
	CacheStatus string        `json:"cacheStatus,omitempty"` // HIT, MISS, or "" when no cache stood on the route
	MissReason  string        `json:"missReason,omitempty"`
	Attempts    int           `json:"attempts"`
	Step        int           `json:"step"` // fallback step that served the answer, from 0
	TTFB        time.Duration `json:"ttfb,omitempty"`
	// Variant is the A/B split variant that answered ("split/variant").
	Variant string `json:"variant,omitempty"`
	// LogID is the id of the gateway's log row for this call, the key to
	// score it later (LogStore.ScoreLog); "" when no gateway logged it.
	LogID string `json:"logId,omitempty"`
}

// Text is the answer's text blocks joined.
func (r *ChatResponse) Text() string { return BlocksText(r.Content, "") }

// Chunk is one piece of a streamed answer.
type Chunk struct {
	// Delta is the text this chunk adds.
	Delta string
	// ToolCalls are the pieces of tool calls this chunk adds (usually one).
	ToolCalls []ToolCallDelta
	// FinishReason is set on the chunk that ends the answer.
	FinishReason string
	// Usage is set on the chunk that carries the token count, when the
	// provider sends one.
	Usage *Usage
	// Raw is the SSE event as received (data payload), so a stream can pass
	// through to a caller of the same wire format unchanged.
	Raw []byte
}

// Stream is a streamed answer. Next returns io.EOF after the last chunk of
// a stream that ended properly; a stream cut before its terminator returns a
// *Error instead, never io.EOF.
type Stream interface {
	Next() (Chunk, error)
	// Meta says how the stream was obtained (filled before the first chunk).
	Meta() ResponseMeta
	Close() error
}

// BufferedStream is a Stream that can tell, without waiting, that its next
// chunk is at hand: a writer relaying the stream then writes that chunk
// without flushing after the one before, and flushes once the stream would
// wait (on the upstream, a store, anything), so a burst of chunks that
// arrived together leaves in one write and a chunk never waits in a buffer
// while its upstream is idle.
//
// Buffered may read ahead what has arrived, never wait for more. true
// promises that the next Next returns a chunk (not an end or an error)
// without blocking; false is always safe. A wrapper that passes chunks
// through one for one implements it by asking the stream it wraps
// (StreamBuffered); one that does not implement it counts as never
// buffered, and its writer flushes every chunk.
type BufferedStream interface {
	Stream
	Buffered() bool
}

// StreamBuffered reports whether s's next chunk is at hand
// (BufferedStream), false for a stream that cannot tell.
func StreamBuffered(s Stream) bool {
	b, ok := s.(BufferedStream)
	return ok && b.Buffered()
}

// Provider answers chat requests. Adapters implement it for a wire format;
// gateway features implement it by wrapping another Provider.
type Provider interface {
	Chat(ctx context.Context, req *ChatRequest) (*ChatResponse, error)
	Stream(ctx context.Context, req *ChatRequest) (Stream, error)
}

// readProgressKey carries the hook WithReadProgress sets.
type readProgressKey struct{}

// WithReadProgress returns ctx carrying fn, which an HTTP adapter calls
// each time a read of a whole answer's body returns bytes: the gateway's
// idle deadline restarts on it, so a body that stalls after its headers is
// cut instead of holding the call until its total deadline.
func WithReadProgress(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, readProgressKey{}, fn)
}

// ReadProgress returns the hook of WithReadProgress, nil when none.
func ReadProgress(ctx context.Context) func() {
	fn, _ := ctx.Value(readProgressKey{}).(func())
	return fn
}
