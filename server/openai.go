package server

import (
	"encoding/json"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/openai"
)

// The OpenAI Chat Completions wire format, as callers speak it: POST
// /v1/chat/completions, whole and streamed answers, errors.

// chatCompletions is POST /v1/chat/completions. model names provider/model
// or a declared name.
func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request, c *caller) {
	x, err := s.openAIRequest(r, "")
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	if x.routes, x.p, err = s.resolve(x.requested); err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	if err := s.prepare(x, c, r.Header.Get); err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	noteCall(r, x)
	s.serve(w, r, x)
}

// openAIRequest reads a Chat Completions body into an exchange for gateway
// gw.
func (s *Server) openAIRequest(r *http.Request, gw string) (*exchange, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return openAIExchange(body, gw)
}

func openAIExchange(body []byte, gw string) (*exchange, error) {
	req, err := openai.DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 {
		return nil, badRequest("messages: at least one message is required")
	}
	x := &exchange{in: fmtOpenAI, gateway: gw, body: body, req: req, requested: req.Model}
	if so := req.Extra["stream_options"]; len(so) > 0 {
		var o struct {
			IncludeUsage bool `json:"include_usage"`
		}
		_ = json.Unmarshal(so, &o)
		x.includeUsage = o.IncludeUsage
	}
	if u := req.Extra["user"]; len(u) > 0 {
		_ = json.Unmarshal(u, &x.bodyUser)
	}
	return x, nil
}

// failEarly answers a request refused before any call: its body, its
// model, its headers.
func (s *Server) failEarly(w http.ResponseWriter, r *http.Request, f format, err error) {
	e := asError(r.Context(), err)
	if e.Class == conductor.ClassBadRequest && e.Status == 0 {
		e.Status = http.StatusBadRequest
	}
	noteError(r, e)
	writeError(w, f, e)
}

func encodeOpenAIAnswer(resp *conductor.ChatResponse, created int64) []byte {
	return openai.EncodeResponse(resp, created)
}
