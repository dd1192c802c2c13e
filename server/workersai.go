package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// Workers AI's native wire format, as callers speak it on the Cloudflare
// path /v1/{account}/{gateway}/workers-ai/{model}: {"prompt"} or
// {"messages"} in, the Cloudflare API envelope out, streams of
// {"response"} chunks ending with [DONE].

// decodeWorkersAIRequest reads a native Workers AI run body for model
// (provider.DecodeWorkersAIRequest says what it reads).
func decodeWorkersAIRequest(body []byte, model string) (*conductor.ChatRequest, error) {
	req, err := provider.DecodeWorkersAIRequest(body)
	if err != nil {
		if e, ok := conductor.AsError(err); ok && e.Class == conductor.ClassBadRequest && e.Status == 0 {
			e.Status = http.StatusBadRequest
		}
		return nil, err
	}
	req.Provider, req.Model = conductor.ProviderWorkersAI, model
	return req, nil
}

// encodeWorkersAIAnswer writes an answer in the Cloudflare API envelope.
func encodeWorkersAIAnswer(resp *conductor.ChatResponse) []byte {
	text := resp.Text()
	b := make([]byte, 0, len(text)+200)
	b = append(b, `{"result":{"response":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"usage":`...)
	b = appendWorkersAIUsage(b, resp.Usage)
	return append(b, `},"success":true,"errors":[],"messages":[]}`...)
}

func appendWorkersAIUsage(b []byte, u conductor.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.InputTokens+u.OutputTokens), 10)
	return append(b, '}')
}

// workersAIStream writes a stream as Workers AI's: {"response"} chunks, a
// last one with the usage, then [DONE].
type workersAIStream struct {
	*sse
	passthrough bool
	usage       *conductor.Usage
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
}

func (s *workersAIStream) end() {
	if !s.passthrough && s.usage != nil {
		b := append(make([]byte, 0, 128), `{"response":"","usage":`...)
		b = appendWorkersAIUsage(b, *s.usage)
		s.event("", append(b, '}'))
	}
	s.event("", []byte("[DONE]"))
}

func (s *workersAIStream) fail(e *conductor.Error) {
	s.event("error", encodeCloudflareError(e))
}

func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return "expected a value of another type, got " + te.Value
	}
	return err.Error()
}
