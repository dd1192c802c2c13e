package server

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"

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

// openAIStream writes a stream as Chat Completions chunks ending with
// data: [DONE]. Passing through, the upstream's own chunks go out as
// received; translating, each chunk's text becomes delta.content and its
// tool-call pieces delta.tool_calls (a call's first piece with index, id,
// type and name, later ones with index and an arguments fragment), then
// come the finish reason and, when asked, the usage. Chunks of nothing an
// OpenAI caller can hold (Anthropic thinking, pings) write nothing.
type openAIStream struct {
	*sse
	passthrough  bool
	includeUsage bool
	id           string
	model        string
	created      int64
	finish       string
	usage        *conductor.Usage
	delta        []byte // scratch for one chunk's delta
	out          []byte // scratch for one chunk (event copies it)
}

func (o *openAIStream) begin(conductor.ResponseMeta) {
	if o.passthrough {
		return
	}
	o.id = newID("chatcmpl-")
	o.event("", o.chunkJSON([]byte(`{"role":"assistant","content":""}`), ""))
}

func (o *openAIStream) chunk(ch conductor.Chunk) {
	if o.passthrough {
		// An estimated usage has no wire form; a usage chunk the caller did
		// not ask for (the adapter always asks) stays ours.
		if len(ch.Raw) == 0 || (!o.includeUsage && ch.Usage != nil && ch.Delta == "" && ch.FinishReason == "" && isUsageOnly(ch.Raw)) {
			return
		}
		o.event("", ch.Raw)
		return
	}
	if ch.Delta != "" || len(ch.ToolCalls) > 0 {
		d := append(o.delta[:0], '{')
		if ch.Delta != "" {
			d = append(d, `"content":`...)
			d = appendJSONString(d, ch.Delta)
		}
		if len(ch.ToolCalls) > 0 {
			if ch.Delta != "" {
				d = append(d, ',')
			}
			d = append(d, `"tool_calls":`...)
			d = openai.AppendToolCallDeltas(d, ch.ToolCalls)
		}
		o.delta = append(d, '}')
		o.event("", o.chunkJSON(o.delta, ""))
	}
	if ch.FinishReason != "" {
		o.finish = ch.FinishReason
	}
	if ch.Usage != nil {
		u := *ch.Usage
		o.usage = &u
	}
}

func (o *openAIStream) end() {
	if !o.passthrough {
		o.event("", o.chunkJSON([]byte("{}"), cmp.Or(o.finish, "stop")))
		if o.includeUsage && o.usage != nil {
			b := o.head(make([]byte, 0, 256))
			b = append(b, `"choices":[],"usage":`...)
			b = openai.AppendUsage(b, *o.usage)
			o.event("", append(b, '}'))
		}
	}
	o.event("", []byte("[DONE]"))
}

func (o *openAIStream) fail(e *conductor.Error) {
	o.event("", openai.EncodeError(e))
}

// head starts a chunk object: id, object, created, model.
func (o *openAIStream) head(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, o.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, o.created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, o.model)
	return append(b, ',')
}

func (o *openAIStream) chunkJSON(delta []byte, finish string) []byte {
	b := o.head(o.out[:0])
	b = append(b, `"choices":[{"index":0,"delta":`...)
	b = append(b, delta...)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, finish)
	}
	b = append(b, "}]"...)
	if o.includeUsage {
		b = append(b, `,"usage":null`...)
	}
	o.out = append(b, '}')
	return o.out
}

// isUsageOnly reports whether a Chat Completions chunk is the usage chunk
// include_usage adds: "choices" empty.
func isUsageOnly(raw []byte) bool {
	spans, err := topLevelValues(raw, "choices")
	if err != nil || len(spans) == 0 {
		return false
	}
	v := raw[spans[0][0]:spans[0][1]]
	return bytes.Equal(bytes.Join(bytes.Fields(v), nil), []byte("[]"))
}
