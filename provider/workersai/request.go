package workersai

import (
	"encoding/json"
	"errors"
	"fmt"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
)

// The request side of the Workers AI native run format.

// EncodeRequest returns the native run body for req (the model goes
// in the URL): messages, max_tokens, temperature, top_p, seed, stream when
// req.Stream, response_format (an OpenAI json_schema wrapper
// {"name","schema"} is unwrapped to the bare schema Workers AI wants),
// tools, tool_choice and parallel_tool_calls in the OpenAI shape its
// function-calling models take, reasoning_effort, then req.Extra in key
// order (those of another wire format only where Portable says they
// travel).
//
// Messages take OpenAI's shapes: an assistant's tool calls as tool_calls,
// each tool result a tool message with its tool_call_id (then the rest of
// the user message), text content as one string, developer messages as
// system ones. Images go as image_url parts of data: URLs — the models
// take no other, so an image by http(s) URL is refused. Refused with a 400
// naming the field: n > 1 and stop, which the native API does not have,
// and another format's blocks other than reasoning.
func EncodeRequest(req *conductor.ChatRequest) ([]byte, error) {
	prov := req.Provider
	if prov == "" {
		prov = conductor.ProviderWorkersAI
	}
	return appendWorkersAIRequest(make([]byte, 0, wire.RequestSize(req)), req, prov, req.Stream)
}

func appendWorkersAIRequest(dst []byte, req *conductor.ChatRequest, prov string, stream bool) ([]byte, error) {
	if req.N > 1 {
		return nil, provider.Unsupported("n", prov, provider.FormatWorkersAI)
	}
	if len(req.Stop) > 0 {
		return nil, provider.Unsupported("stop", prov, provider.FormatWorkersAI)
	}
	extra, err := provider.ExtrasFor(req, provider.FormatWorkersAI, prov)
	if err != nil {
		return nil, err
	}
	var w wire.KeyWriter
	w.Init(append(dst, '{'))
	w.Key("messages")
	d := openai.Dialect{Format: provider.FormatWorkersAI, Provider: prov, WorkersAI: true}
	if w.Buf, err = d.AppendMessages(w.Buf, req.Messages); err != nil {
		return nil, err
	}
	if req.MaxTokens > 0 {
		w.Int("max_tokens", int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		if err := w.Float("temperature", *req.Temperature); err != nil {
			return nil, err
		}
	}
	if req.TopP != nil {
		if err := w.Float("top_p", *req.TopP); err != nil {
			return nil, err
		}
	}
	if req.Seed != nil {
		w.Int("seed", *req.Seed)
	}
	if stream {
		w.Key("stream")
		w.Buf = append(w.Buf, "true"...)
	}
	if rf := req.ResponseFormat; rf != nil {
		if err := w.Raw("response_format", workersAIResponseFormat(rf)); err != nil {
			return nil, err
		}
	}
	if err := d.Tools(&w, req); err != nil {
		return nil, err
	}
	if effort := wire.ReasoningEffort(req); effort != "" {
		w.Str("reasoning_effort", effort)
	}
	if err := w.Extras(extra, func(k string) bool { return k == "model" || k == "stream" }); err != nil {
		return nil, err
	}
	return append(w.Buf, '}'), nil
}

// DecodeRequest reads a native Workers AI run body (the model is
// in the URL): prompt (a user message) or messages in the OpenAI shapes
// (tool_calls with a JSON string or, from the older models, an object as
// arguments; tool messages with tool_call_id; image_url parts), max_tokens,
// temperature, top_p, seed, response_format, tools (flat
// {name, description, parameters} or OpenAI's), tool_choice,
// parallel_tool_calls, n, reasoning_effort and stream; every other field
// (top_k, raw, lora, penalties…) goes to Extra as sent. A body that is not
// a request gives a ClassBadRequest *conductor.Error naming the field.
func DecodeRequest(body []byte) (*conductor.ChatRequest, error) {
	if e := wire.CheckText(body); e != nil {
		// Ambiguous: fields twice, invalid UTF-8, an infinite number.
		return nil, e
	}
	var fields map[string]json.RawMessage
	if err := wire.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, wire.BadRequest("the request body is not a JSON object")
	}
	req := &conductor.ChatRequest{}
	var (
		prompt *string
		n      *int
	)
	keep := func(k string, v json.RawMessage) {
		if req.Extra == nil {
			req.Extra = make(map[string]json.RawMessage)
			req.ExtraFormat = provider.FormatWorkersAI
		}
		req.Extra[k] = v
	}
	for k, v := range fields {
		var err error
		switch k {
		case "prompt":
			err = wire.Unmarshal(v, &prompt)
		case "messages":
			req.Messages, err = openai.DecodeMessages(v, provider.FormatWorkersAI)
		case "max_tokens":
			err = wire.Unmarshal(v, &req.MaxTokens)
		case "temperature":
			err = wire.Unmarshal(v, &req.Temperature)
		case "top_p":
			err = wire.Unmarshal(v, &req.TopP)
		case "seed":
			err = wire.Unmarshal(v, &req.Seed)
		case "n":
			err = wire.Unmarshal(v, &n)
		case "response_format":
			var rf *conductor.ResponseFormat
			if rf, err = DecodeResponseFormat(v); err != nil {
				keep(k, v) // a form the domain does not know: Workers AI judges it
				err = nil
			}
			req.ResponseFormat = rf
		case "tools":
			var typed bool
			if req.Tools, typed, err = openai.DecodeTools(v, true); err == nil && !typed {
				keep(k, v)
			}
		case "tool_choice":
			if req.ToolChoice = openai.DecodeToolChoice(v); req.ToolChoice == nil && !wire.IsNull(v) {
				keep(k, v)
			}
		case "parallel_tool_calls":
			err = wire.Unmarshal(v, &req.ParallelToolCalls)
		case "reasoning_effort":
			req.ReasoningEffort, err = wire.OptString(v)
		case "stream":
			req.Stream, err = wire.Flag(v)
		default:
			keep(k, v)
		}
		if err != nil {
			return nil, wire.BadRequest("%s: %s", k, wire.ShortJSONError(err))
		}
	}
	if n != nil {
		req.N = *n
	}
	switch {
	case req.MaxTokens < 0:
		return nil, wire.BadRequest("max_tokens: must not be negative")
	case prompt != nil && len(req.Messages) > 0:
		return nil, wire.BadRequest("send prompt or messages, not both")
	case prompt != nil:
		req.Messages = []conductor.Message{conductor.TextMessage("user", *prompt)}
	case len(req.Messages) == 0:
		return nil, wire.BadRequest("prompt or messages: required")
	}
	return req, nil
}

// workersAIResponseFormat is Workers AI's response_format:
// {"type":"json_schema","json_schema":S} with the schema itself, or
// {"type":"json_object"}.
func workersAIResponseFormat(rf *conductor.ResponseFormat) json.RawMessage {
	if rf.Type != conductor.FormatJSONSchema || len(rf.Schema) == 0 {
		return openai.AppendResponseFormat(nil, rf)
	}
	out := make([]byte, 0, len(rf.Schema)+40)
	out = append(out, `{"type":"json_schema","json_schema":`...)
	out = append(out, rf.Schema...)
	return append(out, '}')
}

// DecodeResponseFormat reads Workers AI's response_format:
// {"type":"json_schema","json_schema":S} with the schema itself, or
// {"type":"json_object"}; null is none.
func DecodeResponseFormat(v json.RawMessage) (*conductor.ResponseFormat, error) {
	if wire.IsNull(v) {
		return nil, nil
	}
	var f struct {
		Type       string          `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if err := wire.Unmarshal(v, &f); err != nil {
		return nil, err
	}
	switch f.Type {
	case conductor.FormatText, conductor.FormatJSONObject:
		return &conductor.ResponseFormat{Type: f.Type}, nil
	case conductor.FormatJSONSchema:
		if wire.IsNull(f.JSONSchema) {
			return nil, errors.New("json_schema: required with type json_schema")
		}
		return &conductor.ResponseFormat{Type: f.Type, Schema: f.JSONSchema}, nil
	}
	return nil, fmt.Errorf("type must be json_object or json_schema, not %q", f.Type)
}
