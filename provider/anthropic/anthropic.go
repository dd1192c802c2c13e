// Package anthropic is the Anthropic Messages wire format: the client
// adapter (a conductor.Provider over a provider.Endpoint), the request and
// answer codecs, and the encoders the server's /v1/messages answers use.
package anthropic

import (
	"context"
	"encoding/json"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// The Anthropic Messages wire format: POST {BaseURL}/v1/messages with
// x-api-key and anthropic-version.

// Version is the API version every request names.
const Version = "2023-06-01"

type anthropic struct{ provider.Caller }

// New returns the adapter for the Anthropic Messages API (or
// Cloudflare AI Gateway's /anthropic route to it).
func New(ep provider.Endpoint) conductor.Provider {
	if ep.Name == "" {
		ep.Name = conductor.ProviderAnthropic
	}
	return &anthropic{provider.NewCaller(ep, "request-id", "x-request-id")}
}

func (a *anthropic) header() http.Header {
	h := make(http.Header, 7)
	if a.Endpoint.APIKey != "" {
		h.Set("x-api-key", a.Endpoint.APIKey)
	}
	h.Set("anthropic-version", Version)
	return h
}

func (a *anthropic) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	body, err := a.body(req, false)
	if err != nil {
		return nil, err
	}
	c, err := a.Send(ctx, req, a.Endpoint.BaseURL+"/v1/messages", body, a.header(), false)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	raw, err := a.ReadAnswer(c)
	if err != nil {
		return nil, err
	}
	rid := a.RequestID(c.Response.Header)
	resp, hasUsage, err := DecodeProviderResponse(a.Endpoint.Name, raw)
	if err != nil {
		return nil, provider.CompleteError(err, c.Response.StatusCode, rid)
	}
	if !hasUsage {
		resp.Usage = wire.EstimatedUsage(req, wire.AnswerTokens(resp.Content))
	}
	resp.RequestID = rid
	resp.Meta = c.Meta
	return resp, nil
}

func (a *anthropic) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	body, err := a.body(req, true)
	if err != nil {
		return nil, err
	}
	c, err := a.Send(ctx, req, a.Endpoint.BaseURL+"/v1/messages", body, a.header(), true)
	if err != nil {
		return nil, err
	}
	d := &StreamDecoder{provider: a.Endpoint.Name}
	return a.NewSSEStream(c, req, d.Decode)
}

// body is the caller's own Anthropic body, or one encoded from req's fields.
func (a *anthropic) body(req *conductor.ChatRequest, stream bool) ([]byte, error) {
	if b := provider.PassThrough(req, provider.FormatAnthropic, stream); b != nil {
		return b, nil
	}
	b, err := AppendRequest(make([]byte, 0, wire.RequestSize(req)+16), req, a.Endpoint.Name, stream)
	return b, provider.WithProvider(err, a.Endpoint.Name)
}

// anthropicUsage is the usage object of answers and of message_start and
// message_delta events. input_tokens excludes cache reads and writes.
type anthropicUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens *int `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// merge takes the counts u carries into n. usage() normalises them as
// OpenAI counts: InputTokens includes the cache reads and writes,
// CachedInputTokens holds the reads, CacheWriteInputTokens the writes,
// ReasoningTokens the thinking tokens (part of OutputTokens).
func (u *anthropicUsage) merge(n *anthropicCounts) {
	if u.InputTokens != nil {
		n.input = *u.InputTokens
	}
	if u.OutputTokens != nil {
		n.output = *u.OutputTokens
	}
	if u.CacheCreationInputTokens != nil {
		n.cacheWrite = *u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens != nil {
		n.cacheRead = *u.CacheReadInputTokens
	}
	if u.OutputTokensDetails != nil && u.OutputTokensDetails.ThinkingTokens != nil {
		n.thinking = *u.OutputTokensDetails.ThinkingTokens
	}
}

type anthropicCounts struct{ input, output, cacheWrite, cacheRead, thinking int }

func (n anthropicCounts) usage() conductor.Usage {
	return conductor.Usage{
		InputTokens:           n.input + n.cacheWrite + n.cacheRead,
		OutputTokens:          n.output,
		CachedInputTokens:     n.cacheRead,
		CacheWriteInputTokens: n.cacheWrite,
		ReasoningTokens:       n.thinking,
	}
}

// FinishReason maps stop_reason to the OpenAI-style finish reason that
// ChatResponse carries for every provider; unknown reasons pass as they are.
func FinishReason(reason string) string {
	switch reason {
	case "end_turn", "stop_sequence", "pause_turn":
		return "stop"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return reason
}

// StopReason maps a finish reason back to Anthropic's stop_reason,
// for a server answering in the Anthropic format.
func StopReason(finish string) string {
	switch finish {
	case "stop", "":
		return "end_turn"
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return finish
}

type Answer struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Model      string            `json:"model"`
	Content    []json.RawMessage `json:"content"`
	StopReason string            `json:"stop_reason"`
	Usage      *anthropicUsage   `json:"usage"`
}

// DecodeResponse parses a whole Messages answer: its content
// blocks in order (text, tool_use as tool calls, the rest opaque: see
// answer.go), stop_reason as an OpenAI-style finish reason
// (end_turn → stop, max_tokens → length, tool_use → tool_calls, refusal →
// content_filter), usage (InputTokens including cache reads and writes,
// CachedInputTokens the reads, ReasoningTokens the thinking tokens), id and
// model. An error body gives a *conductor.Error.
func DecodeResponse(body []byte) (*conductor.ChatResponse, error) {
	resp, _, err := DecodeProviderResponse(conductor.ProviderAnthropic, body)
	return resp, err
}

func DecodeProviderResponse(prov string, body []byte) (*conductor.ChatResponse, bool, error) {
	var a Answer
	if err := wire.Unmarshal(body, &a); err != nil {
		return nil, false, provider.Malformed(prov, 0, "", "unreadable answer", err)
	}
	if a.Type == "error" {
		return nil, false, provider.AnswerError(prov, body)
	}
	if a.Type != "message" && a.Content == nil {
		return nil, false, provider.Malformed(prov, 0, "", "answer is not a message", nil)
	}
	content, err := anthropicBlocks(a.Content)
	if err != nil {
		return nil, false, provider.Malformed(prov, 0, "", "unreadable content block", err)
	}
	resp := &conductor.ChatResponse{ID: a.ID, Model: a.Model, Content: content, FinishReason: FinishReason(a.StopReason), Raw: body}
	if a.Usage == nil || a.Usage.InputTokens == nil && a.Usage.OutputTokens == nil {
		return resp, false, nil
	}
	var n anthropicCounts
	a.Usage.merge(&n)
	resp.Usage = n.usage()
	return resp, true, nil
}

// StreamDecoder decodes the events of one Messages stream. It keeps
// the input usage of message_start to report it with the output usage of
// message_delta, and which blocks are tool_use blocks. The zero value is
// ready to use.
type StreamDecoder struct {
	provider string
	counts   anthropicCounts
	tools    int   // tool_use blocks started so far
	toolOf   []int // by Anthropic block index: its tool index, or -1
}

type StreamEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		Usage *anthropicUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *struct {
		Type string `json:"type"`
		Text string `json:"text"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthropicUsage `json:"usage"`
}

// Decode decodes one event: every event is emitted (so a stream can pass
// through unchanged) with the text of text_delta and text blocks as Delta,
// tool_use blocks and their input_json_delta as ToolCalls (see
// answer.go), message_delta carries the finish reason and the
// usage so far, and message_stop is the terminator (emitted, done).
// Thinking blocks and their deltas carry only Raw. An error event is
// returned as a *conductor.Error classed by its error type.
func (d *StreamDecoder) Decode(ev provider.Event) (ch conductor.Chunk, emit, done bool, err error) {
	prov := d.provider
	if prov == "" {
		prov = conductor.ProviderAnthropic
	}
	var e StreamEvent
	if err := wire.Unmarshal(ev.Data, &e); err != nil {
		return conductor.Chunk{}, false, false, provider.Malformed(prov, 0, "", "unreadable stream event", err)
	}
	typ := e.Type
	if typ == "" {
		typ = ev.Name
	}
	ch = conductor.Chunk{Raw: ev.Data}
	switch typ {
	case "error":
		return conductor.Chunk{}, false, false, provider.AnswerError(prov, ev.Data)
	case "message_start":
		if e.Message != nil && e.Message.Usage != nil {
			e.Message.Usage.merge(&d.counts)
		}
	case "content_block_start":
		switch b := e.ContentBlock; {
		case b == nil:
		case b.Type == "text":
			ch.Delta = b.Text
		case b.Type == "tool_use":
			k := d.toolBlock(e.Index)
			ch.ToolCalls = []conductor.ToolCallDelta{{Index: k, ID: b.ID, Name: b.Name}}
		}
	case "content_block_delta":
		switch dl := e.Delta; {
		case dl == nil:
		case dl.Type == "text_delta":
			ch.Delta = dl.Text
		case dl.Type == "input_json_delta" && dl.PartialJSON != "":
			if k := d.toolAt(e.Index); k >= 0 {
				ch.ToolCalls = []conductor.ToolCallDelta{{Index: k, Arguments: dl.PartialJSON}}
			}
		}
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			ch.FinishReason = FinishReason(e.Delta.StopReason)
		}
		if e.Usage != nil {
			// Cumulative: the latest counts replace the earlier ones.
			e.Usage.merge(&d.counts)
			u := d.counts.usage()
			ch.Usage = &u
		}
	case "message_stop":
		return ch, true, true, nil
	}
	return ch, true, false, nil
}

// Serving the format: what a server speaking the Anthropic wire format to
// its callers needs to read their requests and answer them.

// EncodeResponse writes resp as a Messages answer: its blocks in
// order (see answer.go), the finish reason as stop_reason, and
// usage split back the Anthropic way (AppendUsage). A tool call
// whose arguments are not a JSON object fails with a ClassProviderFail
// *conductor.Error naming the call: Anthropic has no way to carry them.
func EncodeResponse(resp *conductor.ChatResponse) ([]byte, error) {
	var w wire.KeyWriter
	w.Init(append(make([]byte, 0, wire.AnswerSize(resp.Content)+360), '{'))
	w.Str("id", resp.ID)
	w.Str("type", "message")
	w.Str("role", "assistant")
	w.Str("model", resp.Model)
	w.Key("content")
	var err error
	if w.Buf, err = appendAnthropicContent(w.Buf, resp.Content); err != nil {
		return nil, err
	}
	finish := resp.FinishReason
	if finish == "" && len(conductor.ToolCalls(resp.Content)) > 0 {
		finish = conductor.FinishToolCalls
	}
	w.Str("stop_reason", StopReason(finish))
	w.Key("stop_sequence")
	w.Buf = append(w.Buf, "null"...)
	w.Key("usage")
	w.Buf = AppendUsage(w.Buf, resp.Usage)
	return append(w.Buf, '}'), nil
}

// EncodeError writes e as an Anthropic error body:
// {"type":"error","error":{"type","message"}}, the type following the
// error's class as the API names its errors.
func EncodeError(e *conductor.Error) []byte {
	typ := "api_error"
	switch e.Class {
	case conductor.ClassBadRequest, conductor.ClassConfig:
		typ = "invalid_request_error"
	case conductor.ClassAuth:
		typ = "authentication_error"
		if e.Status == http.StatusForbidden {
			typ = "permission_error"
		}
	case conductor.ClassNotFound:
		typ = "not_found_error"
	case conductor.ClassTooLarge:
		typ = "request_too_large"
	case conductor.ClassRateLimited, conductor.ClassLimited:
		typ = "rate_limit_error"
	case conductor.ClassQuota, conductor.ClassBudget:
		typ = "billing_error"
	case conductor.ClassTimeout:
		typ = "timeout_error"
	case conductor.ClassServer:
		if e.Code == "overloaded_error" {
			typ = "overloaded_error"
		}
	}
	var w wire.KeyWriter
	w.Init(append(make([]byte, 0, len(e.Message)+120), '{'))
	w.Str("type", "error")
	w.Key("error")
	w.Buf = append(w.Buf, `{"type":`...)
	w.Buf = wire.AppendString(w.Buf, typ)
	w.Buf = append(w.Buf, `,"message":`...)
	w.Buf = wire.AppendString(w.Buf, e.CallerMessage())
	w.Buf = append(w.Buf, '}')
	return append(w.Buf, '}')
}
