package provider

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// The OpenAI Chat Completions wire format, spoken by OpenAI, Groq, Workers
// AI's OpenAI-compatible endpoint and local servers (Ollama, llama.cpp
// server, vLLM): POST {BaseURL}/chat/completions with a bearer key.

type openAI struct {
	caller
	maxField string // max_completion_tokens for OpenAI itself, max_tokens elsewhere
}

// NewOpenAI returns the adapter for an OpenAI-style upstream. ep.Name says
// which ("openai", "groq", "local", …): OpenAI gets max_completion_tokens
// (its o-series reject the deprecated max_tokens), every other server
// max_tokens, which all of them accept.
func NewOpenAI(ep Endpoint) conductor.Provider {
	if ep.Name == "" {
		ep.Name = conductor.ProviderOpenAI
	}
	return &openAI{
		caller:   newCaller(ep, "x-request-id"),
		maxField: openAIMaxField(ep.Name),
	}
}

func openAIMaxField(provider string) string {
	if provider == conductor.ProviderOpenAI {
		return "max_completion_tokens"
	}
	return "max_tokens"
}

func (o *openAI) header() http.Header {
	h := make(http.Header, 6)
	if o.ep.APIKey != "" {
		h.Set("Authorization", "Bearer "+o.ep.APIKey)
	}
	return h
}

func (o *openAI) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	body, err := o.body(req, false)
	if err != nil {
		return nil, err
	}
	c, err := o.send(ctx, req, o.ep.BaseURL+"/chat/completions", body, o.header(), false)
	if err != nil {
		return nil, err
	}
	defer c.release()
	raw, err := o.readAll(c, maxAnswerBytes)
	if err != nil {
		return nil, err
	}
	rid := o.requestID(c.resp.Header)
	resp, hasUsage, err := decodeOpenAIResponse(o.ep.Name, raw)
	if err != nil {
		return nil, completeError(err, c.resp.StatusCode, rid)
	}
	if !hasUsage {
		resp.Usage = estimatedUsage(req, answerTokens(resp.Content))
	}
	if rid != "" {
		resp.RequestID = rid
	}
	resp.Meta = c.meta
	return resp, nil
}

func (o *openAI) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	body, err := o.body(req, true)
	if err != nil {
		return nil, err
	}
	c, err := o.send(ctx, req, o.ep.BaseURL+"/chat/completions", body, o.header(), true)
	if err != nil {
		return nil, err
	}
	d := &OpenAIStreamDecoder{provider: o.ep.Name}
	return o.newSSEStream(c, req, d.Decode)
}

// body is the caller's own OpenAI body, or one encoded from req's fields.
func (o *openAI) body(req *conductor.ChatRequest, stream bool) ([]byte, error) {
	if b := passThrough(req, FormatOpenAI, stream); b != nil {
		return b, nil
	}
	b, err := appendOpenAIRequest(make([]byte, 0, requestSize(req)+48), req, o.maxField, stream)
	return b, withProvider(err, o.ep.Name)
}

// completeError adds the answer's status and request id to a decode error.
func completeError(err error, status int, requestID string) error {
	if e, ok := conductor.AsError(err); ok {
		if e.Status == 0 {
			e.Status = status
		}
		if e.RequestID == "" {
			e.RequestID = requestID
		}
	}
	return err
}

// EncodeOpenAIRequest returns the Chat Completions body for req: model,
// messages, temperature (omitted when nil, sent when 0), top_p,
// max_completion_tokens for provider "openai" or max_tokens for any other,
// stop, seed, response_format, stream with stream_options.include_usage when
// req.Stream, then req.Extra in key order. Extra never overrides a field
// written from req's own fields.
func EncodeOpenAIRequest(req *conductor.ChatRequest) ([]byte, error) {
	return appendOpenAIRequest(make([]byte, 0, requestSize(req)), req, openAIMaxField(req.Provider), req.Stream)
}

func appendOpenAIRequest(dst []byte, req *conductor.ChatRequest, maxField string, stream bool) ([]byte, error) {
	var w keyWriter
	w.init(append(dst, '{'))
	w.str("model", req.Model)
	w.key("messages")
	w.buf = append(w.buf, '[')
	for i, m := range req.Messages {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, `{"role":`...)
		w.buf = appendString(w.buf, m.Role)
		w.buf = append(w.buf, `,"content":`...)
		w.buf = appendString(w.buf, m.Text())
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ']')
	if req.Temperature != nil {
		if err := w.float("temperature", *req.Temperature); err != nil {
			return nil, err
		}
	}
	if req.TopP != nil {
		if err := w.float("top_p", *req.TopP); err != nil {
			return nil, err
		}
	}
	if req.MaxTokens > 0 {
		w.int(maxField, int64(req.MaxTokens))
		// Never both: OpenAI rejects a request carrying the two.
		w.mark("max_tokens")
		w.mark("max_completion_tokens")
	}
	if len(req.Stop) > 0 {
		w.strings("stop", req.Stop)
	}
	if req.Seed != nil {
		w.int("seed", *req.Seed)
	}
	if req.ResponseFormat != nil {
		w.key("response_format")
		w.buf = appendOpenAIResponseFormat(w.buf, req.ResponseFormat)
	}
	if stream {
		w.key("stream")
		w.buf = append(w.buf, "true"...)
		w.key("stream_options")
		w.buf = append(w.buf, `{"include_usage":true}`...)
	}
	err := w.extras(req.Extra, func(k string) bool {
		// We decide whether the call streams; stream_options is only valid
		// with stream.
		return k == "stream" || k == "stream_options"
	})
	if err != nil {
		return nil, err
	}
	return append(w.buf, '}'), nil
}

// openAIUsage is the usage object of answers and of the last stream chunk
// (Groq repeats it as x_groq.usage; Workers AI sends the same names).
// prompt_tokens includes the cached tokens, completion_tokens the reasoning
// ones.
type openAIUsage struct {
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

func (u *openAIUsage) usage() conductor.Usage {
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

// textContent is a message content: a string, null (a tool call), or, from
// some compatible servers, an array of {"type":"text","text":…} parts.
type textContent string

func (t *textContent) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		// No escapes: the text is the bytes between the quotes (the decoder
		// calling us has validated the JSON). Saves a nested decode.
		*t = textContent(b[1 : len(b)-1])
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, (*string)(t))
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var s []byte
		for _, p := range parts {
			if p.Type == "text" || p.Type == "" {
				s = append(s, p.Text...)
			}
		}
		*t = textContent(s)
	case string(b) == "null":
		// A tool call, or a chunk without text.
	default:
		return fmt.Errorf("message content is neither a string nor text parts: %.20s", b)
	}
	return nil
}

type openAIAnswer struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message      openAIMessageWire `json:"message"`
		FinishReason string            `json:"finish_reason"`
	} `json:"choices"`
	Usage *openAIUsage `json:"usage"`
	XGroq *struct {
		ID string `json:"id"`
	} `json:"x_groq"`
	Error json.RawMessage `json:"error"`
}

// DecodeOpenAIResponse parses a whole Chat Completions answer: the first
// choice's content blocks (text, refusal, tool calls: see
// openai_answer.go), finish_reason, usage with cached, cache-write and
// reasoning tokens, id and model. An answer without usage gives a zero
// Usage; an answer that is an error body gives a *conductor.Error.
func DecodeOpenAIResponse(body []byte) (*conductor.ChatResponse, error) {
	resp, _, err := decodeOpenAIResponse(conductor.ProviderOpenAI, body)
	return resp, err
}

func decodeOpenAIResponse(provider string, body []byte) (*conductor.ChatResponse, bool, error) {
	if resp, hasUsage, ok := scanOpenAIAnswer(body); ok {
		return resp, hasUsage, nil
	}
	return decodeOpenAIResponseJSON(provider, body)
}

// decodeOpenAIResponseJSON is decodeOpenAIResponse through encoding/json,
// for every answer the fast path does not take.
func decodeOpenAIResponseJSON(provider string, body []byte) (*conductor.ChatResponse, bool, error) {
	var a openAIAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, false, malformed(provider, 0, "", "unreadable answer", err)
	}
	if len(bytes.TrimSpace(a.Error)) > 0 && !bytes.Equal(bytes.TrimSpace(a.Error), []byte("null")) {
		return nil, false, answerError(provider, body)
	}
	if len(a.Choices) == 0 {
		return nil, false, malformed(provider, 0, "", "answer has no choices", nil)
	}
	ch := &a.Choices[0]
	resp := &conductor.ChatResponse{
		ID:           a.ID,
		Model:        a.Model,
		Content:      ch.Message.blocks(),
		FinishReason: openAIFinish(ch.FinishReason, &ch.Message),
		Raw:          body,
	}
	if a.XGroq != nil {
		resp.RequestID = a.XGroq.ID
	}
	if a.Usage == nil {
		return resp, false, nil
	}
	resp.Usage = a.Usage.usage()
	return resp, true, nil
}

// answerError builds the error for an error body the provider sent with a
// 2xx status (mid-stream, or from a lenient proxy).
func answerError(provider string, body []byte) *conductor.Error {
	eb := parseErrorBody(body)
	e := &conductor.Error{Provider: provider, Class: conductor.ClassProviderFail, Code: eb.code,
		Message: eb.message, RequestID: eb.requestID}
	if e.Message == "" {
		e.Message = "the provider reported an error"
	}
	// The kind of error says whether trying again may help.
	if class := errorTypeClass(eb.typ, eb.code); class != "" {
		e.Class = class
		e.Retryable = class == conductor.ClassServer || class == conductor.ClassRateLimited || class == conductor.ClassTimeout
	}
	return e
}

// errorTypeClass maps the error types and codes providers put in bodies
// (OpenAI and Anthropic names) to a class; "" when unknown.
func errorTypeClass(typ, code string) conductor.ErrorClass {
	for _, v := range []string{code, typ} {
		switch v {
		case "insufficient_quota", "billing_error":
			return conductor.ClassQuota
		case "rate_limit_exceeded", "rate_limit_error", "tokens", "requests":
			return conductor.ClassRateLimited
		case "server_error", "api_error", "overloaded_error", "service_unavailable":
			return conductor.ClassServer
		case "timeout_error", "3007":
			return conductor.ClassTimeout
		case "3040": // Workers AI: out of capacity, temporarily
			return conductor.ClassRateLimited
		case "3036": // Workers AI: the daily free allocation is used up
			return conductor.ClassQuota
		case "invalid_request_error", "context_length_exceeded":
			return conductor.ClassBadRequest
		case "authentication_error", "permission_error", "invalid_api_key":
			return conductor.ClassAuth
		case "not_found_error", "model_not_found":
			return conductor.ClassNotFound
		case "request_too_large":
			return conductor.ClassTooLarge
		}
	}
	return ""
}

type openAIChunk struct {
	Choices []struct {
		Delta        openAIMessageWire `json:"delta"`
		FinishReason *string           `json:"finish_reason"`
	} `json:"choices"`
	Usage *openAIUsage `json:"usage"`
	XGroq *struct {
		Usage *openAIUsage `json:"usage"`
		Error string       `json:"error"`
	} `json:"x_groq"`
	Error json.RawMessage `json:"error"`
}

var doneMarker = []byte("[DONE]")

// DecodeOpenAIStreamEvent decodes one event of a Chat Completions stream:
// a chunk (delta content and refusal as Delta, delta.tool_calls as
// ToolCalls, finish_reason, usage from the final chunk whose choices are
// empty, or Groq's x_groq.usage), the [DONE] terminator (done=true,
// nothing to emit), or a mid-stream error event, returned as a
// *conductor.Error. ch.Raw is ev.Data. It reads each event alone; a stream
// is read by an OpenAIStreamDecoder, which also carries a refusal over to
// the finish reason.
func DecodeOpenAIStreamEvent(ev Event) (ch conductor.Chunk, emit, done bool, err error) {
	var d OpenAIStreamDecoder
	return d.Decode(ev)
}

// dataEvent decodes one event of a data-only stream (OpenAI-style and
// Workers AI): the [DONE] terminator (done, nothing to emit), a chunk the
// fast scanner takes, or anything else — error events included — through
// slow, the format's encoding/json decoder.
func dataEvent(provider string, ev Event, scan func([]byte) (conductor.Chunk, bool),
	slow func(provider, name string, data, raw []byte) (conductor.Chunk, bool, bool, error)) (conductor.Chunk, bool, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if bytes.Equal(data, doneMarker) {
		return conductor.Chunk{}, false, true, nil
	}
	if ev.Name != "error" {
		if ch, ok := scan(data); ok {
			ch.Raw = ev.Data
			return ch, true, false, nil
		}
	}
	return slow(provider, ev.Name, data, ev.Data)
}

// decodeOpenAIEventJSON is decodeOpenAIEvent through encoding/json, for
// every event the fast path does not take; data is raw trimmed.
func decodeOpenAIEventJSON(provider, name string, data, raw []byte) (conductor.Chunk, bool, bool, error) {
	ch, _, emit, err := decodeOpenAIChunk(provider, name, data, raw)
	return ch, emit, false, err
}

// decodeOpenAIChunk is decodeOpenAIEventJSON saying also whether the
// chunk carried a refusal.
func decodeOpenAIChunk(provider, name string, data, raw []byte) (ch conductor.Chunk, refused, emit bool, err error) {
	var c openAIChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return conductor.Chunk{}, false, false, malformed(provider, 0, "", "unreadable stream chunk", err)
	}
	if name == "error" || (len(c.Error) > 0 && !bytes.Equal(c.Error, []byte("null"))) {
		return conductor.Chunk{}, false, false, answerError(provider, data)
	}
	ch = conductor.Chunk{Raw: raw}
	if len(c.Choices) > 0 {
		d := &c.Choices[0].Delta
		ch.Delta = string(d.Content) + string(d.Refusal)
		refused = d.Refusal != ""
		ch.ToolCalls = d.toolDeltas()
		if fr := c.Choices[0].FinishReason; fr != nil {
			ch.FinishReason = *fr
		}
	}
	switch {
	case c.XGroq != nil && c.XGroq.Error != "":
		return conductor.Chunk{}, false, false, &conductor.Error{Provider: provider,
			Class: conductor.ClassProviderFail, Message: c.XGroq.Error}
	case c.XGroq != nil && c.XGroq.Usage != nil:
		u := c.XGroq.Usage.usage()
		ch.Usage = &u
	case c.Usage != nil:
		u := c.Usage.usage()
		ch.Usage = &u
	}
	return ch, refused, true, nil
}

// Serving the format: what a server speaking the OpenAI wire format to its
// callers needs to read their requests and answer them.

// DecodeOpenAIRequest reads a Chat Completions request body: model,
// messages (string content, or text parts joined), temperature, top_p,
// max_completion_tokens or max_tokens (the former wins), stop (a string or
// a list), seed, response_format and stream; every other field goes to
// Extra as sent. A body that is not a request, a message with tool calls or
// non-text parts (which ChatRequest cannot carry), or an unknown role gives
// a ClassBadRequest *conductor.Error whose message names the field.
//
// ResponseFormat and the Extra values may be slices of body, which the
// caller keeps unchanged (the server sends it on as the request's Body).
func DecodeOpenAIRequest(body []byte) (*conductor.ChatRequest, error) {
	if req, ok := scanOpenAIRequest(body); ok {
		return req, nil
	}
	return decodeOpenAIRequestJSON(body)
}

// decodeOpenAIRequestJSON is DecodeOpenAIRequest through encoding/json, for
// every body the fast path does not take (every refused one among them).
func decodeOpenAIRequestJSON(body []byte) (*conductor.ChatRequest, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, badRequest("the request body is not a JSON object")
	}
	req := &conductor.ChatRequest{}
	var maxTokens, maxCompletion *int
	for k, v := range fields {
		var err error
		switch k {
		case "model":
			err = json.Unmarshal(v, &req.Model)
		case "messages":
			req.Messages, err = decodeOpenAIMessages(v)
		case "temperature":
			err = json.Unmarshal(v, &req.Temperature)
		case "top_p":
			err = json.Unmarshal(v, &req.TopP)
		case "max_tokens":
			err = json.Unmarshal(v, &maxTokens)
		case "max_completion_tokens":
			err = json.Unmarshal(v, &maxCompletion)
		case "stop":
			req.Stop, err = decodeStop(v)
		case "seed":
			err = json.Unmarshal(v, &req.Seed)
		case "response_format":
			req.ResponseFormat, err = DecodeOpenAIResponseFormat(v)
		case "stream":
			var s *bool
			err = json.Unmarshal(v, &s)
			req.Stream = s != nil && *s
		default:
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage)
				req.ExtraFormat = FormatOpenAI
			}
			req.Extra[k] = v
		}
		if err != nil {
			return nil, badRequest("%s: %s", k, shortJSONError(err))
		}
	}
	switch {
	case maxCompletion != nil:
		req.MaxTokens = *maxCompletion
	case maxTokens != nil:
		req.MaxTokens = *maxTokens
	}
	if req.MaxTokens < 0 {
		return nil, badRequest("max_tokens: must not be negative")
	}
	if req.Model == "" {
		return nil, badRequest("model: required")
	}
	if len(req.Messages) == 0 {
		return nil, badRequest("messages: at least one message is required")
	}
	return req, nil
}

func decodeOpenAIMessages(v json.RawMessage) ([]conductor.Message, error) {
	var raw []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCalls  json.RawMessage `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
	}
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	msgs := make([]conductor.Message, len(raw))
	for i, m := range raw {
		switch m.Role {
		case "system", "developer", "user", "assistant":
		case "tool":
			return nil, fmt.Errorf("message %d: tool results are not supported through this gateway", i)
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
		if !isNull(m.ToolCalls) {
			return nil, fmt.Errorf("message %d: tool calls are not supported through this gateway", i)
		}
		text, err := textParts(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		msgs[i] = conductor.TextMessage(m.Role, text)
	}
	return msgs, nil
}

// TextContent reads a chat message content in the OpenAI style, which the
// Workers AI chat format shares: a string, null, or a list of text parts
// (joined); any other part is refused, never silently dropped.
func TextContent(v json.RawMessage) (string, error) { return textParts(v) }

// textParts reads an OpenAI message content: a string, null, or a list of
// text parts; any other part is refused, not dropped.
func textParts(v json.RawMessage) (string, error) { return textItems(v, "content part", "") }

// textItems reads a content that is a string, null, or a list of
// {"type":"text","text":…} items joined by sep; an item of another type is
// refused (what names it in the error), never silently dropped.
func textItems(v json.RawMessage, what, sep string) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case isNull(v):
		return "", nil
	case v[0] == '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case v[0] != '[':
		return "", fmt.Errorf("content must be a string or a list of %ss", what[len("content "):])
	}
	var items []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(v, &items); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, it := range items {
		if it.Type != "text" {
			return "", fmt.Errorf("%s of type %q is not supported through this gateway", what, it.Type)
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(it.Text)
	}
	return b.String(), nil
}

func decodeStop(v json.RawMessage) ([]string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		var s string
		err := json.Unmarshal(v, &s)
		return []string{s}, err
	}
	var list []string
	err := json.Unmarshal(v, &list)
	return list, err
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// shortJSONError says what was wrong with a field without echoing Go types.
func shortJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected a value of another type, got " + te.Value
	}
	return err.Error()
}

// EncodeOpenAIResponse writes resp as a Chat Completions answer
// (object chat.completion) created at the given Unix time: one choice with
// the message (text, tool calls: see openai_answer.go) and finish reason
// ("stop" when none, "tool_calls" for tool calls alone), and usage with
// its details (AppendOpenAIUsage).
func EncodeOpenAIResponse(resp *conductor.ChatResponse, created int64) []byte {
	var w keyWriter
	w.init(append(make([]byte, 0, answerSize(resp.Content)+360), '{'))
	w.str("id", resp.ID)
	w.str("object", "chat.completion")
	w.int("created", created)
	w.str("model", resp.Model)
	w.key("choices")
	w.buf = append(w.buf, `[{"index":0,"message":`...)
	w.buf = appendOpenAIAnswerMessage(w.buf, resp.Content)
	w.buf = append(w.buf, `,"logprobs":null,"finish_reason":`...)
	finish := resp.FinishReason
	if finish == "" && conductor.BlocksText(resp.Content, "") == "" && len(conductor.ToolCalls(resp.Content)) > 0 {
		finish = conductor.FinishToolCalls
	}
	w.buf = appendString(w.buf, cmp.Or(finish, conductor.FinishStop))
	w.buf = append(w.buf, "}]"...)
	w.key("usage")
	w.buf = AppendOpenAIUsage(w.buf, resp.Usage)
	return append(w.buf, '}')
}

// EncodeOpenAIError writes e as an OpenAI error body:
// {"error":{"message","type","param":null,"code"}}, the type following the
// error's class and the code the provider's own (else the class).
func EncodeOpenAIError(e *conductor.Error) []byte {
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
	var w keyWriter
	w.init(append(make([]byte, 0, len(e.Message)+160), `{"error":{`...))
	w.str("message", e.Error())
	w.str("type", typ)
	w.key("param")
	w.buf = append(w.buf, "null"...)
	w.str("code", cmp.Or(e.Code, string(e.Class)))
	return append(w.buf, "}}"...)
}

// The fast paths of the decoders above (see scanner): they take the
// ordinary successful answer and chunk, and say ok=false for anything else,
// which the encoding/json decoders then handle.

var (
	openAIAnswerKeys  = [...]string{"id", "model", "choices", "usage", "x_groq", "error"}
	openAIMessageKeys = [...]string{"content", "refusal", "tool_calls"}
	openAIUsageKeys   = [...]string{"prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"}
	openAIChunkKeys   = [...]string{"choices", "usage", "x_groq", "error"}
)

// scanOpenAIAnswer is decodeOpenAIResponse for a successful answer of text:
// tool calls and refusals go to encoding/json.
func scanOpenAIAnswer(body []byte) (resp *conductor.ChatResponse, hasUsage, ok bool) {
	s := scanner{b: body}
	var (
		id, model, content, refusal, finish, groqID string
		usage                                       conductor.Usage
		nChoices                                    int
		groq                                        bool
		set                                         fieldSet
	)
	if !s.open('{') {
		return nil, false, false
	}
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); string(k) {
		case "id":
			s.seen(&set, 1<<0)
			s.str(&id)
		case "model":
			s.seen(&set, 1<<1)
			s.str(&model)
		case "choices":
			s.seen(&set, 1<<2)
			if !s.open('[') {
				break
			}
			for m := 0; s.more(&m, ']'); nChoices++ {
				var c, r, f string
				s.openAIChoice("message", &c, &r, &f)
				if nChoices == 0 {
					content, refusal, finish = c, r, f
				}
			}
		case "usage":
			s.seen(&set, 1<<3)
			usage, hasUsage = s.openAIUsage()
		case "x_groq":
			s.seen(&set, 1<<4)
			groq = s.open('{')
			for m := 0; groq && s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "id":
					s.str(&groqID) // a repeat is the only key: the last wins, as in encoding/json
				default:
					s.unknown(k, "id")
				}
			}
		case "error":
			s.seen(&set, 1<<5)
			if !s.null() {
				s.fail() // an error body: encoding/json's path builds the error
			}
		default:
			s.unknown(k, openAIAnswerKeys[:]...)
		}
	}
	if !s.end() || nChoices == 0 {
		return nil, false, false
	}
	resp = &conductor.ChatResponse{ID: id, Model: model, Content: conductor.Texts(cmp.Or(content, refusal)), FinishReason: finish, Raw: body}
	if groq {
		resp.RequestID = groqID
	}
	if hasUsage {
		resp.Usage = usage
	}
	return resp, hasUsage, true
}

// openAIChoice reads one element of choices: the text of its message (an
// answer) or delta (a chunk), named by inner, and its finish_reason. Tool
// calls and a refusal fail: encoding/json's path reads them.
func (s *scanner) openAIChoice(inner string, content, refusal, finish *string) {
	if !s.open('{') {
		return
	}
	var set fieldSet
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); {
		case string(k) == inner:
			s.seen(&set, 1)
			if !s.open('{') {
				break
			}
			var mset fieldSet
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "content":
					s.seen(&mset, 1)
					s.text(content)
				case "refusal":
					s.seen(&mset, 2)
					if s.text(refusal); *refusal != "" {
						s.fail()
					}
				case "tool_calls":
					s.seen(&mset, 4)
					if !s.null() {
						s.fail()
					}
				default:
					s.unknown(k, openAIMessageKeys[:]...)
				}
			}
		case string(k) == "finish_reason":
			s.seen(&set, 2)
			s.oneOf(finish, "stop", "length", "tool_calls", "content_filter")
		default:
			s.unknown(k, inner, "finish_reason")
		}
	}
}

// text reads a textContent that is a string or null; the list-of-parts
// form is left to encoding/json.
func (s *scanner) text(dst *string) {
	if s.peek() == '[' {
		s.fail()
		return
	}
	s.str(dst)
}

// openAIUsage reads a usage object; present is false for null.
func (s *scanner) openAIUsage() (u conductor.Usage, present bool) {
	if !s.open('{') {
		return u, false
	}
	var set fieldSet
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); string(k) {
		case "prompt_tokens":
			s.seen(&set, 1)
			s.int(&u.InputTokens)
		case "completion_tokens":
			s.seen(&set, 2)
			s.int(&u.OutputTokens)
		case "prompt_tokens_details":
			s.seen(&set, 4)
			if !s.open('{') {
				break
			}
			for m := 0; s.more(&m, '}'); {
				// A repeat: the last wins, as in encoding/json.
				switch k := s.key(); string(k) {
				case "cached_tokens":
					s.int(&u.CachedInputTokens)
				case "cache_write_tokens":
					s.int(&u.CacheWriteInputTokens)
				default:
					s.unknown(k, "cached_tokens", "cache_write_tokens")
				}
			}
		case "completion_tokens_details":
			s.seen(&set, 8)
			if !s.open('{') {
				break
			}
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "reasoning_tokens":
					s.int(&u.ReasoningTokens)
				default:
					s.unknown(k, "reasoning_tokens")
				}
			}
		default:
			s.unknown(k, openAIUsageKeys[:]...)
		}
	}
	return u, true
}

// scanOpenAIChunk is decodeOpenAIEvent for an ordinary chunk (not [DONE],
// not an error); the caller sets Raw.
func scanOpenAIChunk(data []byte) (ch conductor.Chunk, ok bool) {
	s := scanner{b: data}
	var (
		usage, groqUsage       conductor.Usage
		hasUsage, hasGroqUsage bool
		set                    fieldSet
	)
	if !s.open('{') {
		return ch, false
	}
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); string(k) {
		case "choices":
			s.seen(&set, 1)
			if !s.open('[') {
				break
			}
			for m, i := 0, 0; s.more(&m, ']'); i++ {
				// finish_reason is a *string there: null gives "" too.
				var c, r, f string
				s.openAIChoice("delta", &c, &r, &f)
				if i == 0 {
					ch.Delta, ch.FinishReason = c, f
				}
			}
		case "usage":
			s.seen(&set, 2)
			usage, hasUsage = s.openAIUsage()
		case "x_groq":
			s.seen(&set, 4)
			if !s.open('{') {
				break
			}
			var gset fieldSet
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "usage":
					s.seen(&gset, 1)
					groqUsage, hasGroqUsage = s.openAIUsage()
				case "error":
					s.seen(&gset, 2)
					var e string
					if s.str(&e); e != "" {
						s.fail() // encoding/json's path builds the error
					}
				default:
					s.unknown(k, "usage", "error")
				}
			}
		case "error":
			s.seen(&set, 8)
			if !s.null() {
				s.fail()
			}
		default:
			s.unknown(k, openAIChunkKeys[:]...)
		}
	}
	if !s.end() {
		return ch, false
	}
	// Copies, so that the heap holds a usage only for the chunk that has one.
	switch {
	case hasGroqUsage:
		u := groqUsage
		ch.Usage = &u
	case hasUsage:
		u := usage
		ch.Usage = &u
	}
	return ch, true
}

// scanOpenAIRequest is DecodeOpenAIRequest for a request it accepts, read
// in one pass. The top level is read like encoding/json's map (exact keys,
// the last of repeated unknown keys wins); messages like its structs.
func scanOpenAIRequest(body []byte) (*conductor.ChatRequest, bool) {
	s := scanner{b: body}
	req := &conductor.ChatRequest{}
	var (
		maxTokens, maxCompletion *int
		stream                   bool
		set                      fieldSet
	)
	if !s.open('{') {
		return nil, false
	}
	for n := 0; s.more(&n, '}'); {
		k := s.key()
		switch string(k) {
		case "model":
			s.seen(&set, 1<<0)
			s.str(&req.Model)
		case "messages":
			s.seen(&set, 1<<1)
			req.Messages = s.openAIMessages()
		case "temperature":
			s.seen(&set, 1<<2)
			s.float(&req.Temperature)
		case "top_p":
			s.seen(&set, 1<<3)
			s.float(&req.TopP)
		case "max_tokens":
			s.seen(&set, 1<<4)
			s.optInt(&maxTokens)
		case "max_completion_tokens":
			s.seen(&set, 1<<5)
			s.optInt(&maxCompletion)
		case "stop":
			s.seen(&set, 1<<6)
			req.Stop = s.stop()
		case "seed":
			s.seen(&set, 1<<7)
			var seed *int
			if s.optInt(&seed); seed != nil {
				req.Seed = new(int64(*seed))
			}
		case "response_format":
			s.seen(&set, 1<<8)
			if v := s.rawValue(); string(v) != "null" {
				rf, err := DecodeOpenAIResponseFormat(v)
				if err != nil {
					s.fail() // encoding/json's path says why
				}
				req.ResponseFormat = rf
			}
		case "stream":
			s.seen(&set, 1<<9)
			s.boolean(&stream)
		default:
			if !utf8.Valid(k) {
				s.fail() // encoding/json would mend the key
			}
			v := s.rawValue()
			if s.failed {
				break
			}
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage, 4)
				req.ExtraFormat = FormatOpenAI
			}
			req.Extra[string(k)] = v
		}
	}
	if !s.end() {
		return nil, false
	}
	req.Stream = stream
	switch {
	case maxCompletion != nil:
		req.MaxTokens = *maxCompletion
	case maxTokens != nil:
		req.MaxTokens = *maxTokens
	}
	if req.MaxTokens < 0 || req.Model == "" || len(req.Messages) == 0 {
		return nil, false // refused: encoding/json's path says why
	}
	return req, true
}

var openAIRequestMessageKeys = [...]string{"role", "content", "tool_calls", "tool_call_id"}

// openAIMessages reads messages of the roles ChatRequest carries, with
// text content and no tool calls; anything else fails.
func (s *scanner) openAIMessages() []conductor.Message {
	if !s.open('[') {
		return nil
	}
	msgs := make([]conductor.Message, 0, 8)
	for n := 0; s.more(&n, ']'); {
		if !s.open('{') {
			s.fail() // a null message has no role
			return nil
		}
		var (
			m   conductor.Message
			set fieldSet
		)
		for k := 0; s.more(&k, '}'); {
			switch key := s.key(); string(key) {
			case "role":
				s.seen(&set, 1)
				raw, esc := s.rawString()
				// The roles as constants: no string per message.
				switch {
				case esc:
					s.fail()
				case string(raw) == "system":
					m.Role = "system"
				case string(raw) == "developer":
					m.Role = "developer"
				case string(raw) == "user":
					m.Role = "user"
				case string(raw) == "assistant":
					m.Role = "assistant"
				default:
					s.fail()
				}
			case "content":
				s.seen(&set, 2)
				m.Content = conductor.Texts(s.textParts(""))
			case "tool_calls":
				s.seen(&set, 4)
				if !s.null() {
					s.fail()
				}
			case "tool_call_id":
				s.seen(&set, 8)
				var id string
				s.str(&id)
			default:
				s.unknown(key, openAIRequestMessageKeys[:]...)
			}
		}
		if m.Role == "" {
			s.fail()
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// textParts reads a content that is a string, null, or a list of text
// parts, joined with sep.
func (s *scanner) textParts(sep string) string {
	if s.peek() != '[' {
		var text string
		s.str(&text)
		return text
	}
	s.open('[')
	var joined []byte
	for n := 0; s.more(&n, ']'); {
		if !s.open('{') {
			s.fail() // a null part has no type
			return ""
		}
		var (
			typ, text string
			set       fieldSet
		)
		for k := 0; s.more(&k, '}'); {
			switch key := s.key(); string(key) {
			case "type":
				s.seen(&set, 1)
				s.str(&typ)
			case "text":
				s.seen(&set, 2)
				s.str(&text)
			default:
				s.unknown(key, "type", "text")
			}
		}
		if typ != "text" {
			s.fail()
		}
		if n > 1 {
			joined = append(joined, sep...)
		}
		joined = append(joined, text...)
	}
	return string(joined)
}

// stop reads a string or a list of strings.
func (s *scanner) stop() []string {
	if s.peek() != '[' {
		if s.null() {
			return nil
		}
		var v string
		s.str(&v)
		return []string{v}
	}
	s.open('[')
	list := make([]string, 0, 4)
	for n := 0; s.more(&n, ']'); {
		var v string
		s.str(&v)
		list = append(list, v)
	}
	return list
}

// DecodeOpenAIResponseFormat reads OpenAI's response_format: {"type":"text"},
// {"type":"json_object"} or {"type":"json_schema","json_schema":{name,
// description, schema, strict}}; null is none.
func DecodeOpenAIResponseFormat(v json.RawMessage) (*conductor.ResponseFormat, error) {
	if isNull(v) {
		return nil, nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(v, &f); err != nil {
		return nil, err
	}
	rf := &conductor.ResponseFormat{Type: f.Type}
	switch f.Type {
	case conductor.FormatText, conductor.FormatJSONObject:
	case conductor.FormatJSONSchema:
		if f.JSONSchema == nil {
			return nil, errors.New("json_schema: required with type json_schema")
		}
		js := f.JSONSchema
		rf.Name, rf.Description, rf.Strict = js.Name, js.Description, js.Strict
		if !isNull(js.Schema) {
			rf.Schema = js.Schema
		}
	default:
		return nil, fmt.Errorf("type must be text, json_object or json_schema, not %q", f.Type)
	}
	return rf, nil
}

// appendOpenAIResponseFormat writes rf as OpenAI's response_format.
func appendOpenAIResponseFormat(dst []byte, rf *conductor.ResponseFormat) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, cmp.Or(rf.Type, conductor.FormatText))
	if rf.Type != conductor.FormatJSONSchema {
		return append(dst, '}')
	}
	dst = append(dst, `,"json_schema":{"name":`...)
	dst = appendString(dst, cmp.Or(rf.Name, "response"))
	if rf.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = appendString(dst, rf.Description)
	}
	if len(rf.Schema) > 0 {
		dst = append(dst, `,"schema":`...)
		dst = append(dst, rf.Schema...)
	}
	if rf.Strict != nil {
		dst = append(dst, `,"strict":`...)
		dst = strconv.AppendBool(dst, *rf.Strict)
	}
	return append(dst, "}}"...)
}
