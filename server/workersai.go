package server

import (
	"cmp"
	"encoding/json"
	"fmt"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// Workers AI's native wire format, as callers speak it on the Cloudflare
// path /v1/{account}/{gateway}/workers-ai/{model}: {"prompt"} or
// {"messages"} in, the Cloudflare API envelope out, streams of
// {"response"} chunks ending with [DONE].

// decodeWorkersAIRequest reads a native Workers AI run body: prompt (a
// user message) or messages, max_tokens, temperature, top_p, seed,
// response_format and stream; every other field (top_k, raw, lora, tools,
// penalties…) goes to Extra as sent.
func decodeWorkersAIRequest(body []byte, model string) (*conductor.ChatRequest, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, badRequest("the request body is not a JSON object")
	}
	req := &conductor.ChatRequest{Provider: conductor.ProviderWorkersAI, Model: model}
	var prompt *string
	for k, v := range fields {
		var err error
		switch k {
		case "prompt":
			err = json.Unmarshal(v, &prompt)
		case "messages":
			req.Messages, err = workersAIMessages(v)
		case "max_tokens":
			err = json.Unmarshal(v, &req.MaxTokens)
		case "temperature":
			err = json.Unmarshal(v, &req.Temperature)
		case "top_p":
			err = json.Unmarshal(v, &req.TopP)
		case "seed":
			err = json.Unmarshal(v, &req.Seed)
		case "response_format":
			req.ResponseFormat, err = provider.DecodeWorkersAIResponseFormat(v)
		case "stream":
			var s *bool
			err = json.Unmarshal(v, &s)
			req.Stream = s != nil && *s
		default:
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage)
				req.ExtraFormat = provider.FormatWorkersAI
			}
			req.Extra[k] = v
		}
		if err != nil {
			return nil, badRequest("%s: %s", k, jsonProblem(err))
		}
	}
	switch {
	case prompt != nil && len(req.Messages) > 0:
		return nil, badRequest("send prompt or messages, not both")
	case prompt != nil:
		req.Messages = []conductor.Message{conductor.TextMessage("user", *prompt)}
	case len(req.Messages) == 0:
		return nil, badRequest("prompt or messages: required")
	case req.MaxTokens < 0:
		return nil, badRequest("max_tokens: must not be negative")
	}
	return req, nil
}

func workersAIMessages(v json.RawMessage) ([]conductor.Message, error) {
	var raw []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	msgs := make([]conductor.Message, len(raw))
	for i, m := range raw {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return nil, fmt.Errorf("message %d: role must be system, user or assistant, not %.20q", i, m.Role)
		}
		text, err := provider.TextContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		msgs[i] = conductor.TextMessage(m.Role, text)
	}
	return msgs, nil
}

func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return "expected a value of another type, got " + te.Value
	}
	return err.Error()
}

// encodeWorkersAIAnswer writes an answer in the Cloudflare API envelope.
func encodeWorkersAIAnswer(resp *conductor.ChatResponse) ([]byte, error) {
	return provider.EncodeWorkersAIResponse(resp)
}

// workersAIStream writes a stream as Workers AI's: {"response"} chunks, a
// last one with the tool calls (the legacy shape [{name, arguments}], whole:
// how Workers AI streams calls is undocumented, and its shape wants the
// arguments as an object) and the usage, then [DONE].
type workersAIStream struct {
	*sse
	passthrough bool
	usage       *conductor.Usage
	calls       []conductor.ToolCall // by index, their arguments gathered
}

func (s *workersAIStream) begin(conductor.ResponseMeta) {}

func (s *workersAIStream) chunk(ch conductor.Chunk) {
	if s.passthrough {
		if len(ch.Raw) > 0 {
			s.event("", ch.Raw)
		}
		return
	}
	if ch.Usage != nil {
		u := *ch.Usage
		s.usage = &u
	}
	if ch.Delta != "" {
		b := make([]byte, 0, len(ch.Delta)+16)
		b = append(b, `{"response":`...)
		b = appendJSONString(b, ch.Delta)
		s.event("", append(b, '}'))
	}
	for _, d := range ch.ToolCalls {
		if d.Index < 0 || d.Index > 1<<16 {
			continue
		}
		for len(s.calls) <= d.Index {
			s.calls = append(s.calls, conductor.ToolCall{})
		}
		c := &s.calls[d.Index]
		c.ID, c.Name = cmp.Or(c.ID, d.ID), cmp.Or(c.Name, d.Name)
		c.Arguments += d.Arguments
	}
}

func (s *workersAIStream) end() {
	if !s.passthrough && (s.usage != nil || len(s.calls) > 0) {
		b := append(make([]byte, 0, 128), `{"response":""`...)
		var ok bool
		if b, ok = provider.AppendWorkersAIToolCalls(b, s.calls); !ok {
			s.fail(&conductor.Error{Class: conductor.ClassProviderFail, Code: "invalid_tool_arguments",
				Message: "a streamed tool call's arguments are not a JSON object; Workers AI tool_calls carry them only as an object"})
			return
		}
		if s.usage != nil {
			b = append(b, `,"usage":`...)
			b = provider.AppendWorkersAIUsage(b, *s.usage)
		}
		s.event("", append(b, '}'))
	}
	s.event("", []byte("[DONE]"))
}

func (s *workersAIStream) fail(e *conductor.Error) {
	s.event("error", encodeCloudflareError(e))
}
