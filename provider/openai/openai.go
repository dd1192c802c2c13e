// Package openai is the OpenAI Chat Completions wire format (OpenAI, Groq,
// local servers, Workers AI's OpenAI-compatible endpoint): the client
// adapter, the request, answer and embedding codecs, and the encoders the
// server's /v1/chat/completions and /v1/embeddings answers use. Package
// workersai reuses its dialect, decoders and usage.
package openai

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// The OpenAI Chat Completions wire format, spoken by OpenAI, Groq, Workers
// AI's OpenAI-compatible endpoint and local servers (Ollama, llama.cpp
// server, vLLM): POST {BaseURL}/chat/completions with a bearer key.

type openAI struct {
	provider.Caller
	maxField string // max_completion_tokens for OpenAI itself, max_tokens elsewhere
}

// New returns the adapter for an OpenAI-style upstream. ep.Name says
// which ("openai", "groq", "local", …): OpenAI gets max_completion_tokens
// (its o-series reject the deprecated max_tokens), every other server
// max_tokens, which all of them accept.
func New(ep provider.Endpoint) conductor.Provider {
	if ep.Name == "" {
		ep.Name = conductor.ProviderOpenAI
	}
	return &openAI{
		Caller:   provider.NewCaller(ep, "x-request-id"),
		maxField: openAIMaxField(ep.Name),
	}
}

func openAIMaxField(prov string) string { return provider.OpenAIMaxField(prov) }

func (o *openAI) header() http.Header {
	h := make(http.Header, 6)
	if o.Endpoint.APIKey != "" {
		h.Set("Authorization", "Bearer "+o.Endpoint.APIKey)
	}
	return h
}

func (o *openAI) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	body, err := o.body(req, false)
	if err != nil {
		return nil, err
	}
	c, err := o.Send(ctx, req, o.Endpoint.BaseURL+"/chat/completions", body, o.header(), false)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	raw, err := o.ReadAnswer(c)
	if err != nil {
		return nil, err
	}
	rid := o.RequestID(c.Response.Header)
	resp, hasUsage, err := DecodeProviderResponse(o.Endpoint.Name, raw)
	if err != nil {
		return nil, provider.CompleteError(err, c.Response.StatusCode, rid)
	}
	if !hasUsage {
		resp.Usage = wire.EstimatedUsage(req, wire.AnswerTokens(resp.Content))
	}
	if rid != "" {
		resp.RequestID = rid
	}
	resp.Meta = c.Meta
	return resp, nil
}

func (o *openAI) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	body, err := o.body(req, true)
	if err != nil {
		return nil, err
	}
	c, err := o.Send(ctx, req, o.Endpoint.BaseURL+"/chat/completions", body, o.header(), true)
	if err != nil {
		return nil, err
	}
	d := &StreamDecoder{provider: o.Endpoint.Name}
	return o.NewSSEStream(c, req, d.Decode)
}

// body is the caller's own OpenAI body, or one encoded from req's fields.
func (o *openAI) body(req *conductor.ChatRequest, stream bool) ([]byte, error) {
	if b := provider.PassThrough(req, provider.FormatOpenAI, stream); b != nil {
		return b, nil
	}
	b, err := appendOpenAIRequest(make([]byte, 0, wire.RequestSize(req)+48), req, o.Endpoint.Name, o.maxField, stream)
	return b, provider.WithProvider(err, o.Endpoint.Name)
}

// Usage is the usage object of answers and of the last stream chunk
// (Groq repeats it as x_groq.usage; Workers AI sends the same names).
// prompt_tokens includes the cached tokens, completion_tokens the reasoning
// ones.
type Usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// Domain is the usage in the domain's terms.
func (u *Usage) Domain() conductor.Usage {
	n := conductor.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		n.CachedInputTokens = u.PromptTokensDetails.CachedTokens
		n.CacheWriteInputTokens = u.PromptTokensDetails.CacheWriteTokens
	}
	if u.CompletionTokensDetails != nil {
		n.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return n
}

// TextContent is a message content: a string, null (a tool call), or, from
// some compatible servers, an array of {"type":"text","text":…} parts.
type TextContent string

func (t *TextContent) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		// No escapes: the text is the bytes between the quotes (the decoder
		// calling us has validated the JSON). Saves a nested decode.
		*t = TextContent(b[1 : len(b)-1])
	case len(b) > 0 && b[0] == '"':
		return wire.Unmarshal(b, (*string)(t))
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := wire.Unmarshal(b, &parts); err != nil {
			return err
		}
		var s []byte
		for _, p := range parts {
			if p.Type == "text" || p.Type == "" {
				s = append(s, p.Text...)
			}
		}
		*t = TextContent(s)
	case string(b) == "null":
		// A tool call, or a chunk without text.
	default:
		return fmt.Errorf("message content is neither a string nor text parts: %.20s", b)
	}
	return nil
}

type Answer struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message      MessageWire `json:"message"`
		FinishReason string      `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
	XGroq *struct {
		ID string `json:"id"`
	} `json:"x_groq"`
	Error json.RawMessage `json:"error"`
}

// DecodeResponse parses a whole Chat Completions answer: the first
// choice's content blocks (text, refusal, tool calls: see
// answer.go), finish_reason, usage with cached, cache-write and
// reasoning tokens, id and model. An answer without usage gives a zero
// Usage; an answer that is an error body gives a *conductor.Error.
func DecodeResponse(body []byte) (*conductor.ChatResponse, error) {
	resp, _, err := DecodeProviderResponse(conductor.ProviderOpenAI, body)
	return resp, err
}

func DecodeProviderResponse(prov string, body []byte) (*conductor.ChatResponse, bool, error) {
	var a Answer
	if err := wire.Unmarshal(body, &a); err != nil {
		return nil, false, provider.Malformed(prov, 0, "", "unreadable answer", err)
	}
	if len(bytes.TrimSpace(a.Error)) > 0 && !bytes.Equal(bytes.TrimSpace(a.Error), []byte("null")) {
		return nil, false, provider.AnswerError(prov, body)
	}
	if len(a.Choices) == 0 {
		return nil, false, provider.Malformed(prov, 0, "", "answer has no choices", nil)
	}
	ch := &a.Choices[0]
	resp := &conductor.ChatResponse{
		ID:           a.ID,
		Model:        a.Model,
		Content:      ch.Message.Blocks(),
		FinishReason: FinishReason(ch.FinishReason, &ch.Message),
		Raw:          body,
	}
	if a.XGroq != nil {
		resp.RequestID = a.XGroq.ID
	}
	if a.Usage == nil {
		return resp, false, nil
	}
	resp.Usage = a.Usage.Domain()
	return resp, true, nil
}

type Chunk struct {
	Choices []struct {
		Delta        MessageWire `json:"delta"`
		FinishReason *string     `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
	XGroq *struct {
		Usage *Usage `json:"usage"`
		Error string `json:"error"`
	} `json:"x_groq"`
	Error json.RawMessage `json:"error"`
}

var doneMarker = []byte("[DONE]")

// DecodeStreamEvent decodes one event of a Chat Completions stream:
// a chunk (delta content and refusal as Delta, delta.tool_calls as
// ToolCalls, finish_reason, usage from the final chunk whose choices are
// empty, or Groq's x_groq.usage), the [DONE] terminator (done=true,
// nothing to emit), or a mid-stream error event, returned as a
// *conductor.Error. ch.Raw is ev.Data. It reads each event alone; a stream
// is read by an StreamDecoder, which also carries a refusal over to
// the finish reason.
func DecodeStreamEvent(ev provider.Event) (ch conductor.Chunk, emit, done bool, err error) {
	var d StreamDecoder
	return d.Decode(ev)
}

// DataEvent decodes one event of a data-only stream (OpenAI-style and
// Workers AI): the [DONE] terminator (done, nothing to emit), or anything
// else — error events included — through decode, the format's chunk
// decoder.
func DataEvent(prov string, ev provider.Event,
	decode func(prov, name string, data, raw []byte) (conductor.Chunk, bool, bool, error)) (conductor.Chunk, bool, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if bytes.Equal(data, doneMarker) {
		return conductor.Chunk{}, false, true, nil
	}
	return decode(prov, ev.Name, data, ev.Data)
}

// decodeOpenAIChunkInto reads one chunk (data is raw trimmed) into c, which
// must be zero but for its choices' capacity, saying also whether it
// carried a refusal.
func decodeOpenAIChunkInto(c *Chunk, prov, name string, data, raw []byte) (ch conductor.Chunk, refused, emit bool, err error) {
	if err := wire.Unmarshal(data, c); err != nil {
		return conductor.Chunk{}, false, false, provider.Malformed(prov, 0, "", "unreadable stream chunk", err)
	}
	if name == "error" || (len(c.Error) > 0 && !bytes.Equal(c.Error, []byte("null"))) {
		return conductor.Chunk{}, false, false, provider.AnswerError(prov, data)
	}
	ch = conductor.Chunk{Raw: raw}
	if len(c.Choices) > 0 {
		d := &c.Choices[0].Delta
		ch.Delta = string(d.Content) + string(d.Refusal)
		refused = d.Refusal != ""
		ch.ToolCalls = d.ToolDeltas()
		if fr := c.Choices[0].FinishReason; fr != nil {
			ch.FinishReason = *fr
		}
	}
	switch {
	case c.XGroq != nil && c.XGroq.Error != "":
		return conductor.Chunk{}, false, false, &conductor.Error{Provider: prov,
			Class: conductor.ClassProviderFail, Message: c.XGroq.Error}
	case c.XGroq != nil && c.XGroq.Usage != nil:
		u := c.XGroq.Usage.Domain()
		ch.Usage = &u
	case c.Usage != nil:
		u := c.Usage.Domain()
		ch.Usage = &u
	}
	return ch, refused, true, nil
}

// Serving the format: what a server speaking the OpenAI wire format to its
// callers needs to read their requests and answer them.

// EncodeResponse writes resp as a Chat Completions answer
// (object chat.completion) created at the given Unix time: one choice with
// the message (text, tool calls: see answer.go) and finish reason
// ("stop" when none, "tool_calls" for tool calls alone), and usage with
// its details (AppendUsage).
func EncodeResponse(resp *conductor.ChatResponse, created int64) []byte {
	var w wire.KeyWriter
	w.Init(append(make([]byte, 0, wire.AnswerSize(resp.Content)+360), '{'))
	w.Str("id", resp.ID)
	w.Str("object", "chat.completion")
	w.Int("created", created)
	w.Str("model", resp.Model)
	w.Key("choices")
	w.Buf = append(w.Buf, `[{"index":0,"message":`...)
	w.Buf = appendOpenAIAnswerMessage(w.Buf, resp.Content)
	w.Buf = append(w.Buf, `,"logprobs":null,"finish_reason":`...)
	finish := resp.FinishReason
	if finish == "" && conductor.BlocksText(resp.Content, "") == "" && len(conductor.ToolCalls(resp.Content)) > 0 {
		finish = conductor.FinishToolCalls
	}
	w.Buf = wire.AppendString(w.Buf, cmp.Or(finish, conductor.FinishStop))
	w.Buf = append(w.Buf, "}]"...)
	w.Key("usage")
	w.Buf = AppendUsage(w.Buf, resp.Usage)
	return append(w.Buf, '}')
}

// EncodeError writes e as an OpenAI error body:
// {"error":{"message","type","param":null,"code"}}, the type following the
// error's class and the code the provider's own (else the class).
func EncodeError(e *conductor.Error) []byte {
	typ := "server_error"
	switch e.Class {
	case conductor.ClassBadRequest, conductor.ClassNotFound, conductor.ClassTooLarge, conductor.ClassConfig:
		typ = "invalid_request_error"
	case conductor.ClassAuth:
		typ = "authentication_error"
	case conductor.ClassRateLimited, conductor.ClassLimited:
		typ = "rate_limit_error"
	case conductor.ClassQuota, conductor.ClassBudget:
		typ = "insufficient_quota"
	case conductor.ClassTimeout:
		typ = "timeout_error"
	}
	var w wire.KeyWriter
	w.Init(append(make([]byte, 0, len(e.Message)+160), `{"error":{`...))
	w.Str("message", e.CallerMessage())
	w.Str("type", typ)
	w.Key("param")
	w.Buf = append(w.Buf, "null"...)
	w.Str("code", cmp.Or(e.Code, string(e.Class)))
	return append(w.Buf, "}}"...)
}
