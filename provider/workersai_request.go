package provider

import (
	"encoding/json"
	"errors"
	"fmt"

	conductor "github.com/conductor-go/conductor"
)

// The request side of the Workers AI native run format.

// EncodeWorkersAIRequest returns the native run body for req (the model goes
// in the URL): messages, max_tokens, temperature, top_p, seed, stream when
// req.Stream, response_format (an OpenAI json_schema wrapper
// {"name","schema"} is unwrapped to the bare schema Workers AI wants), then
// req.Extra in key order without fields Workers AI does not take (stop,
// logprobs, n, stream_options…).
func EncodeWorkersAIRequest(req *conductor.ChatRequest) ([]byte, error) {
	return appendWorkersAIRequest(make([]byte, 0, requestSize(req)), req, req.Stream)
}

func appendWorkersAIRequest(dst []byte, req *conductor.ChatRequest, stream bool) ([]byte, error) {
	var w keyWriter
	w.init(append(dst, '{'))
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
	if req.MaxTokens > 0 {
		w.int("max_tokens", int64(req.MaxTokens))
	}
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
	if req.Seed != nil {
		w.int("seed", *req.Seed)
	}
	if stream {
		w.key("stream")
		w.buf = append(w.buf, "true"...)
	}
	if rf := req.ResponseFormat; rf != nil {
		if err := w.raw("response_format", workersAIResponseFormat(rf)); err != nil {
			return nil, err
		}
	}
	if err := w.extras(req.Extra, workersAISkips); err != nil {
		return nil, err
	}
	return append(w.buf, '}'), nil
}

func workersAISkips(k string) bool {
	switch k {
	case "model", "stream", "stop", "logprobs", "top_logprobs", "n", "stream_options", "logit_bias",
		"user", "max_completion_tokens", "parallel_tool_calls":
		return true
	}
	return false
}

// workersAIResponseFormat is Workers AI's response_format:
// {"type":"json_schema","json_schema":S} with the schema itself, or
// {"type":"json_object"}.
func workersAIResponseFormat(rf *conductor.ResponseFormat) json.RawMessage {
	if rf.Type != conductor.FormatJSONSchema || len(rf.Schema) == 0 {
		return appendOpenAIResponseFormat(nil, rf)
	}
	out := make([]byte, 0, len(rf.Schema)+40)
	out = append(out, `{"type":"json_schema","json_schema":`...)
	out = append(out, rf.Schema...)
	return append(out, '}')
}

// DecodeWorkersAIResponseFormat reads Workers AI's response_format:
// {"type":"json_schema","json_schema":S} with the schema itself, or
// {"type":"json_object"}; null is none.
func DecodeWorkersAIResponseFormat(v json.RawMessage) (*conductor.ResponseFormat, error) {
	if isNull(v) {
		return nil, nil
	}
	var f struct {
		Type       string          `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if err := json.Unmarshal(v, &f); err != nil {
		return nil, err
	}
	switch f.Type {
	case conductor.FormatText, conductor.FormatJSONObject:
		return &conductor.ResponseFormat{Type: f.Type}, nil
	case conductor.FormatJSONSchema:
		if isNull(f.JSONSchema) {
			return nil, errors.New("json_schema: required with type json_schema")
		}
		return &conductor.ResponseFormat{Type: f.Type, Schema: f.JSONSchema}, nil
	}
	return nil, fmt.Errorf("type must be json_object or json_schema, not %q", f.Type)
}
