package provider

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	b, err := appendOpenAIRequest(make([]byte, 0, requestSize(req)+48), req, o.ep.Name, o.maxField, stream)
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
		return unmarshal(b, (*string)(t))
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := unmarshal(b, &parts); err != nil {
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
	if err := unmarshal(body, &a); err != nil {
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
	if err := unmarshal(data, &c); err != nil {
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
