package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// The Anthropic Messages wire format, as callers speak it: POST
// /v1/messages, whole and streamed answers (the event sequence
// message_start … message_stop), errors.

// messages is POST /v1/messages. model names provider/model, a declared
// name or a bare id (a Claude id, as Anthropic's SDKs send it, goes to
// Anthropic: names.go).
func (s *Server) messages(w http.ResponseWriter, r *http.Request, c *caller) {
	body, err := readBody(r)
	if err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	x, err := anthropicExchange(body, "")
	if err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	x.routes, x.p, err = s.resolve(x.requested)
	if err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	if err := s.prepare(x, c, r.Header.Get); err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	noteCall(r, x)
	s.serve(w, r, x)
}

func anthropicExchange(body []byte, gw string) (*exchange, error) {
	req, err := provider.DecodeAnthropicRequest(body)
	if err != nil {
		return nil, err
	}
	x := &exchange{in: fmtAnthropic, gateway: gw, body: body, req: req, requested: req.Model}
	if md := req.Extra["metadata"]; len(md) > 0 {
		var m struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal(md, &m)
		x.bodyUser = m.UserID
	}
	return x, nil
}

func encodeAnthropicAnswer(resp *conductor.ChatResponse) []byte {
	return provider.EncodeAnthropicResponse(resp)
}

// anthropicStream writes a stream as Anthropic's event sequence.
// Passing through, each upstream event goes out as received, named by its
// type; translating, one text block carries the deltas and message_delta
// the stop reason and usage.
type anthropicStream struct {
	*sse
	passthrough bool
	model       string
	finish      string
	usage       conductor.Usage
}

func (a *anthropicStream) begin(conductor.ResponseMeta) {
	if a.passthrough {
		return
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"message_start","message":{"id":`...)
	b = appendJSONString(b, newID("msg_"))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendJSONString(b, a.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`...)
	a.event("message_start", b)
	a.event("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
}

func (a *anthropicStream) chunk(ch conductor.Chunk) {
	if a.passthrough {
		if len(ch.Raw) == 0 {
			return // an estimated usage: it has no wire form
		}
		a.event(eventType(ch.Raw), ch.Raw)
		return
	}
	if ch.Delta != "" {
		b := make([]byte, 0, len(ch.Delta)+96)
		b = append(b, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`...)
		b = appendJSONString(b, ch.Delta)
		a.event("content_block_delta", append(b, "}}"...))
	}
	if ch.FinishReason != "" {
		a.finish = ch.FinishReason
	}
	if ch.Usage != nil {
		a.usage = *ch.Usage
	}
}

func (a *anthropicStream) end() {
	if a.passthrough {
		return // message_stop went through
	}
	a.event("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
	u := a.usage
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":`...)
	b = appendJSONString(b, provider.AnthropicStopReason(a.finish))
	b = append(b, `,"stop_sequence":null},"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(max(0, u.InputTokens-u.CachedInputTokens-u.CacheWriteInputTokens)), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CacheWriteInputTokens), 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CachedInputTokens), 10)
	a.event("message_delta", append(b, "}}"...))
	a.event("message_stop", []byte(`{"type":"message_stop"}`))
}

func (a *anthropicStream) fail(e *conductor.Error) {
	a.event("error", provider.EncodeAnthropicError(e))
}

// eventType reads the "type" an Anthropic event's data repeats, which names
// the event.
func eventType(raw []byte) string {
	spans, err := topLevelValues(raw, "type")
	if err != nil || len(spans) == 0 {
		return ""
	}
	var t string
	if json.Unmarshal(raw[spans[0][0]:spans[0][1]], &t) != nil {
		return ""
	}
	return t
}
