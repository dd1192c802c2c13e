package server

import (
	"encoding/json"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
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
	req, err := anthropic.DecodeRequest(body)
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

func encodeAnthropicAnswer(resp *conductor.ChatResponse) ([]byte, error) {
	return anthropic.EncodeResponse(resp)
}
