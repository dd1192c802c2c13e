// Package workersai is the Workers AI native run format: the client
// adapter (chat and embeddings) and its request and answer codecs, on the
// OpenAI dialect of package openai.
package workersai

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
)

// The Workers AI native run format: POST {BaseURL}/{model} with a bearer
// Cloudflare API token, where BaseURL is
// {api}/accounts/{account_id}/ai/run (or Cloudflare AI Gateway's
// …/workers-ai route). Answers come in the Cloudflare API envelope.

type workersAI struct{ provider.Caller }

// BaseURL returns the run base URL for an account on the
// Cloudflare API at api ("" for CloudflareAPIBaseURL).
func BaseURL(api, accountID string) string {
	if api == "" {
		api = provider.CloudflareAPIBaseURL
	}
	return strings.TrimRight(api, "/") + "/accounts/" + url.PathEscape(accountID) + "/ai/run"
}

// New returns the adapter for Workers AI's native run endpoint.
func New(ep provider.Endpoint) conductor.Provider {
	if ep.Name == "" {
		ep.Name = conductor.ProviderWorkersAI
	}
	return &workersAI{provider.NewCaller(ep, "cf-ray")}
}

func (w *workersAI) header() http.Header {
	h := make(http.Header, 6)
	if w.Endpoint.APIKey != "" {
		h.Set("Authorization", "Bearer "+w.Endpoint.APIKey)
	}
	return h
}

// modelURL appends the model to the base URL literally, slashes included
// (…/ai/run/@cf/meta/llama-3.1-8b-instruct), escaping each segment.
func (w *workersAI) modelURL(model string) (string, error) {
	if model == "" {
		return "", wire.BadRequest("a Workers AI model is required")
	}
	var b strings.Builder
	b.Grow(len(w.Endpoint.BaseURL) + len(model) + 1)
	b.WriteString(w.Endpoint.BaseURL)
	for seg := range strings.SplitSeq(model, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", wire.BadRequest("invalid Workers AI model %q", model)
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	return b.String(), nil
}

func (w *workersAI) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	u, err := w.modelURL(req.Model)
	if err != nil {
		return nil, provider.WithProvider(err, w.Endpoint.Name)
	}
	body, err := w.body(req, false)
	if err != nil {
		return nil, err
	}
	c, err := w.Send(ctx, req, u, body, w.header(), false)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	raw, err := w.ReadAnswer(c)
	if err != nil {
		return nil, err
	}
	rid := w.RequestID(c.Response.Header)
	resp, hasUsage, err := decodeWorkersAIResponse(w.Endpoint.Name, raw)
	if err != nil {
		return nil, provider.CompleteError(err, c.Response.StatusCode, rid)
	}
	if !hasUsage {
		resp.Usage = wire.EstimatedUsage(req, wire.AnswerTokens(resp.Content))
	}
	resp.Model = req.Model // the envelope does not name it
	resp.RequestID = rid
	resp.Meta = c.Meta
	return resp, nil
}

func (w *workersAI) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	u, err := w.modelURL(req.Model)
	if err != nil {
		return nil, provider.WithProvider(err, w.Endpoint.Name)
	}
	body, err := w.body(req, true)
	if err != nil {
		return nil, err
	}
	c, err := w.Send(ctx, req, u, body, w.header(), true)
	if err != nil {
		return nil, err
	}
	d := &StreamDecoder{provider: w.Endpoint.Name}
	return w.NewSSEStream(c, req, d.Decode)
}

// body is the caller's own Workers AI body, or one encoded from req's
// fields.
func (w *workersAI) body(req *conductor.ChatRequest, stream bool) ([]byte, error) {
	if b := provider.PassThrough(req, provider.FormatWorkersAI, stream); b != nil {
		return b, nil
	}
	b, err := appendWorkersAIRequest(make([]byte, 0, wire.RequestSize(req)+16), req, w.Endpoint.Name, stream)
	return b, provider.WithProvider(err, w.Endpoint.Name)
}

type Envelope struct {
	Result  *workersAIResult     `json:"result"`
	Success *bool                `json:"success"`
	Errors  []provider.CFMessage `json:"errors"`
}

// DecodeResponse parses a native run answer: the envelope's
// result.response (a JSON answer in JSON mode, returned as its JSON text),
// result.tool_calls as tool-call blocks (or a chat.completion result: see
// answer.go) and result.usage (the OpenAI names). success:false
// or a non-empty errors[] gives a *conductor.Error carrying every error's
// message and code. Model and request id are not in the body: the adapter
// fills them.
func DecodeResponse(body []byte) (*conductor.ChatResponse, error) {
	resp, _, err := decodeWorkersAIResponse(conductor.ProviderWorkersAI, body)
	return resp, err
}

func decodeWorkersAIResponse(prov string, body []byte) (*conductor.ChatResponse, bool, error) {
	var env Envelope
	if err := wire.Unmarshal(body, &env); err != nil {
		return nil, false, provider.Malformed(prov, 0, "", "unreadable answer", err)
	}
	if (env.Success != nil && !*env.Success) || len(env.Errors) > 0 {
		msg, code := provider.JoinCFMessages(env.Errors)
		if msg == "" {
			msg = "the request did not succeed"
		}
		return nil, false, &conductor.Error{Provider: prov, Class: conductor.ClassProviderFail, Code: code, Message: msg}
	}
	if env.Result == nil {
		return nil, false, provider.Malformed(prov, 0, "", "answer has no result", nil)
	}
	resp := &conductor.ChatResponse{Raw: body}
	if err := env.Result.answer(resp); err != nil {
		return nil, false, provider.Malformed(prov, 0, "", "unreadable result", err)
	}
	if env.Result.Usage == nil {
		return resp, false, nil
	}
	resp.Usage = env.Result.Usage.Domain()
	return resp, true, nil
}

// responseText reads Workers AI's response: usually a string; in JSON mode
// some models answer with the JSON value itself; null when the model only
// called tools.
func responseText(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return "", nil
	case v[0] == '"':
		var s string
		err := wire.Unmarshal(v, &s)
		return s, err
	}
	return string(v), nil
}

type Chunk struct {
	Response  json.RawMessage         `json:"response"`
	ToolCalls []workersAIToolCallWire `json:"tool_calls"`
	Usage     *openai.Usage           `json:"usage"`
	// Some newer models stream OpenAI-style chunks from the native route.
	Choices []struct {
		Delta        openai.MessageWire `json:"delta"`
		FinishReason *string            `json:"finish_reason"`
	} `json:"choices"`
	Errors []provider.CFMessage `json:"errors"`
	Error  json.RawMessage      `json:"error"`
}

// DecodeStreamEvent decodes one event of a native run stream:
// {"response":"…"} chunks, OpenAI-shaped chunks (their delta.tool_calls as
// ToolCalls), the optional last chunk carrying usage, the [DONE]
// terminator (done=true, nothing to emit), or an error event (errors[] or
// error), returned as a *conductor.Error. It reads each event alone; a
// stream is read by a StreamDecoder.
func DecodeStreamEvent(ev provider.Event) (ch conductor.Chunk, emit, done bool, err error) {
	var d StreamDecoder
	return d.Decode(ev)
}

// decodeWorkersAIChunk reads one chunk (data is raw trimmed) and returns
// it with its wire form: legacy tool calls are left to the stream decoder,
// which numbers them.
func decodeWorkersAIChunk(prov, name string, data, raw []byte) (conductor.Chunk, *Chunk, error) {
	var c Chunk
	if err := wire.Unmarshal(data, &c); err != nil {
		return conductor.Chunk{}, nil, provider.Malformed(prov, 0, "", "unreadable stream chunk", err)
	}
	if name == "error" || len(c.Errors) > 0 || (len(c.Error) > 0 && !bytes.Equal(c.Error, []byte("null"))) {
		return conductor.Chunk{}, nil, provider.AnswerError(prov, data)
	}
	ch := conductor.Chunk{Raw: raw}
	text, err := responseText(c.Response)
	if err != nil {
		return conductor.Chunk{}, nil, provider.Malformed(prov, 0, "", "unreadable stream chunk", err)
	}
	ch.Delta = text
	if len(c.Choices) > 0 {
		d := &c.Choices[0].Delta
		ch.Delta += string(d.Content) + string(d.Refusal)
		ch.ToolCalls = d.ToolDeltas()
		if fr := c.Choices[0].FinishReason; fr != nil {
			ch.FinishReason = *fr
		}
	}
	if c.Usage != nil {
		u := c.Usage.Domain()
		ch.Usage = &u
	}
	return ch, &c, nil
}
