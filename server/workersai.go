package server

import (
	"cmp"
	"encoding/json"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/workersai"
)

// Workers AI's native wire format, as callers speak it on the Cloudflare
// path /v1/{account}/{gateway}/workers-ai/{model}: {"prompt"} or
// {"messages"} in, the Cloudflare API envelope out, streams of
// {"response"} chunks ending with [DONE].

// decodeWorkersAIRequest reads a native Workers AI run body for model
// (workersai.DecodeRequest says what it reads).
func decodeWorkersAIRequest(body []byte, model string) (*conductor.ChatRequest, error) {
	req, err := workersai.DecodeRequest(body)
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
func encodeWorkersAIAnswer(resp *conductor.ChatResponse) ([]byte, error) {
	return workersai.EncodeResponse(resp)
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
		if b, ok = workersai.AppendToolCalls(b, s.calls); !ok {
			s.fail(&conductor.Error{Class: conductor.ClassProviderFail, Code: "invalid_tool_arguments",
				Message: "a streamed tool call's arguments are not a JSON object; Workers AI tool_calls carry them only as an object"})
			return
		}
		if s.usage != nil {
			b = append(b, `,"usage":`...)
			b = workersai.AppendUsage(b, *s.usage)
		}
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
