package provider

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// The request side of the OpenAI Chat Completions format: encoding a
// ChatRequest for an upstream, decoding a caller's body.

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
