package provider

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// The request side of the Anthropic Messages format.

// EncodeAnthropicRequest returns the Messages body for req: model,
// max_tokens (4096 when unset: the API requires it), the system and
// developer messages joined as top-level system, the other messages with
// consecutive same-role turns merged (the API wants user and assistant to
// alternate; any role but assistant is sent as user), temperature, top_p,
// stop as stop_sequences, stream when req.Stream, then req.Extra in key
// order without the OpenAI-only fields the API rejects (seed,
// response_format, logprobs, n, penalties…).
func EncodeAnthropicRequest(req *conductor.ChatRequest) ([]byte, error) {
	return appendAnthropicRequest(make([]byte, 0, requestSize(req)), req, req.Stream)
}

func appendAnthropicRequest(dst []byte, req *conductor.ChatRequest, stream bool) ([]byte, error) {
	var w keyWriter
	w.init(append(dst, '{'))
	w.str("model", req.Model)
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = anthropicDefaultMaxTokens
	}
	w.int("max_tokens", int64(maxTokens))
	nsys := 0
	for _, m := range req.Messages {
		if !isSystemRole(m.Role) {
			continue
		}
		if nsys == 0 {
			w.key("system")
			w.buf = append(w.buf, '"')
		} else {
			w.buf = append(w.buf, `\n\n`...)
		}
		w.buf = appendStringBody(w.buf, m.Text())
		nsys++
	}
	if nsys > 0 {
		w.buf = append(w.buf, '"')
	}
	w.key("messages")
	w.buf = append(w.buf, '[')
	prev := ""
	for _, m := range req.Messages {
		if isSystemRole(m.Role) {
			continue
		}
		role := "user"
		if m.Role == "assistant" {
			role = "assistant"
		}
		switch {
		case role == prev:
			// Merge into the open turn: its content string is still open.
			w.buf = append(w.buf, `\n\n`...)
		case prev == "":
			w.buf = append(w.buf, `{"role":"`...)
			w.buf = append(w.buf, role...)
			w.buf = append(w.buf, `","content":"`...)
		default:
			w.buf = append(w.buf, `"},{"role":"`...)
			w.buf = append(w.buf, role...)
			w.buf = append(w.buf, `","content":"`...)
		}
		w.buf = appendStringBody(w.buf, m.Text())
		prev = role
	}
	if prev != "" {
		w.buf = append(w.buf, `"}`...)
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
	if len(req.Stop) > 0 {
		w.strings("stop_sequences", req.Stop)
	}
	if stream {
		w.key("stream")
		w.buf = append(w.buf, "true"...)
	}
	if err := w.extras(req.Extra, anthropicSkips); err != nil {
		return nil, err
	}
	return append(w.buf, '}'), nil
}

func isSystemRole(role string) bool { return role == "system" || role == "developer" }

// anthropicSkips lists the pass-through fields the Messages API does not
// know: OpenAI-only ones, which it rejects, so that one ChatRequest can fall
// back from OpenAI to Anthropic.
func anthropicSkips(k string) bool {
	switch k {
	case "stream", "stop", "seed", "response_format", "logprobs", "top_logprobs", "n",
		"frequency_penalty", "presence_penalty", "logit_bias", "stream_options",
		"parallel_tool_calls", "user", "max_completion_tokens", "reasoning_effort":
		return true
	}
	return false
}

// DecodeAnthropicRequest reads a Messages request body: model, max_tokens
// (required, as the API requires it), system (a string or text blocks) as a
// leading system message, messages (string content or text blocks),
// temperature, top_p, stop_sequences and stream; every other field goes to
// Extra as sent. Tool use, tool results and non-text blocks, which
// ChatRequest cannot carry, give a ClassBadRequest *conductor.Error naming
// the field, as does any malformed field.
//
// The Extra values may be slices of body, which the caller keeps unchanged
// (the server sends it on as the request's Body).
func DecodeAnthropicRequest(body []byte) (*conductor.ChatRequest, error) {
	if req, ok := scanAnthropicRequest(body); ok {
		return req, nil
	}
	return decodeAnthropicRequestJSON(body)
}

// decodeAnthropicRequestJSON is DecodeAnthropicRequest through
// encoding/json, for every body the fast path does not take (every refused
// one among them).
func decodeAnthropicRequestJSON(body []byte) (*conductor.ChatRequest, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, badRequest("the request body is not a JSON object")
	}
	req := &conductor.ChatRequest{}
	var system string
	var msgs []conductor.Message
	hasMax := false
	for k, v := range fields {
		var err error
		switch k {
		case "model":
			err = json.Unmarshal(v, &req.Model)
		case "max_tokens":
			hasMax = true
			err = json.Unmarshal(v, &req.MaxTokens)
		case "system":
			system, err = anthropicText(v)
		case "messages":
			msgs, err = decodeAnthropicMessages(v)
		case "temperature":
			err = json.Unmarshal(v, &req.Temperature)
		case "top_p":
			err = json.Unmarshal(v, &req.TopP)
		case "stop_sequences":
			err = json.Unmarshal(v, &req.Stop)
		case "stream":
			var s *bool
			err = json.Unmarshal(v, &s)
			req.Stream = s != nil && *s
		default:
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage)
				req.ExtraFormat = FormatAnthropic
			}
			req.Extra[k] = v
		}
		if err != nil {
			return nil, badRequest("%s: %s", k, shortJSONError(err))
		}
	}
	switch {
	case req.Model == "":
		return nil, badRequest("model: required")
	case !hasMax:
		return nil, badRequest("max_tokens: required")
	case req.MaxTokens < 1:
		return nil, badRequest("max_tokens: must be at least 1")
	case len(msgs) == 0:
		return nil, badRequest("messages: at least one message is required")
	}
	if system != "" {
		req.Messages = make([]conductor.Message, 0, len(msgs)+1)
		req.Messages = append(req.Messages, conductor.TextMessage("system", system))
	}
	req.Messages = append(req.Messages, msgs...)
	return req, nil
}

func decodeAnthropicMessages(v json.RawMessage) ([]conductor.Message, error) {
	var raw []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	msgs := make([]conductor.Message, len(raw))
	for i, m := range raw {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, fmt.Errorf("message %d: role must be user or assistant, not %q", i, m.Role)
		}
		text, err := anthropicText(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		msgs[i] = conductor.TextMessage(m.Role, text)
	}
	return msgs, nil
}

// anthropicText reads a string or a list of text blocks, joined as
// paragraphs; other blocks (tool_use, tool_result, image…) are refused, not
// dropped.
func anthropicText(v json.RawMessage) (string, error) { return textItems(v, "content block", "\n\n") }

// scanAnthropicRequest is DecodeAnthropicRequest for a request it accepts,
// read in one pass: the top level like encoding/json's map, messages like
// its structs.
func scanAnthropicRequest(body []byte) (*conductor.ChatRequest, bool) {
	s := scanner{b: body}
	req := &conductor.ChatRequest{}
	var (
		system string
		msgs   []conductor.Message
		hasMax bool
		stream bool
		set    fieldSet
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
		case "max_tokens":
			s.seen(&set, 1<<1)
			hasMax = true
			s.int(&req.MaxTokens)
		case "system":
			s.seen(&set, 1<<2)
			system = s.textParts("\n\n")
		case "messages":
			s.seen(&set, 1<<3)
			msgs = s.anthropicMessages()
		case "temperature":
			s.seen(&set, 1<<4)
			s.float(&req.Temperature)
		case "top_p":
			s.seen(&set, 1<<5)
			s.float(&req.TopP)
		case "stop_sequences":
			s.seen(&set, 1<<6)
			switch s.peek() {
			case '[':
				req.Stop = s.stop()
			case 'n':
				s.literal("null")
			default:
				s.fail() // a lone string is not a list here
			}
		case "stream":
			s.seen(&set, 1<<7)
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
				req.ExtraFormat = FormatAnthropic
			}
			req.Extra[string(k)] = v
		}
	}
	if !s.end() || req.Model == "" || !hasMax || req.MaxTokens < 1 || len(msgs) == 0 {
		return nil, false // refused: encoding/json's path says why
	}
	req.Stream = stream
	if system != "" {
		req.Messages = make([]conductor.Message, 0, len(msgs)+1)
		req.Messages = append(req.Messages, conductor.TextMessage("system", system))
	}
	req.Messages = append(req.Messages, msgs...)
	return req, true
}

// anthropicMessages reads user and assistant messages of text content;
// anything else fails.
func (s *scanner) anthropicMessages() []conductor.Message {
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
				// The roles as constants: no string per message.
				switch raw := s.word(); string(raw) {
				case "user":
					m.Role = "user"
				case "assistant":
					m.Role = "assistant"
				default:
					s.fail()
				}
			case "content":
				s.seen(&set, 2)
				m.Content = conductor.Texts(s.textParts("\n\n"))
			default:
				s.unknown(key, "role", "content")
			}
		}
		if m.Role == "" {
			s.fail()
		}
		msgs = append(msgs, m)
	}
	return msgs
}
