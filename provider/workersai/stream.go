package workersai

import (
	"cmp"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// StreamWriter writes a translated stream to a Workers AI caller: {"response"} chunks, a
// last one with the tool calls (the legacy shape [{name, arguments}], whole:
// how Workers AI streams calls is undocumented, and its shape wants the
// arguments as an object) and the usage, then [DONE].
type StreamWriter struct {
	w     provider.EventWriter
	usage *conductor.Usage
	calls []conductor.ToolCall // by index, their arguments gathered
	buf   []byte               // scratch for one event (Event copies it)
}

// doneData ends a stream. A package variable: the event data passed to
// an EventWriter escapes, and a literal would be allocated per stream.
var doneData = []byte("[DONE]")

// NewStreamWriter returns the writer of one stream.
func NewStreamWriter(w provider.EventWriter) *StreamWriter { return &StreamWriter{w: w} }

// EncodeError writes e in the Cloudflare API envelope Workers AI answers
// with: {"result":null,"success":false,"errors":[{"code","message"}]}, the
// code e's when numeric, else its HTTP status.
func EncodeError(e *conductor.Error) []byte {
	code := 0
	if n, err := strconv.Atoi(e.Code); err == nil {
		code = n
	} else {
		code = provider.HTTPStatus(e)
	}
	b := make([]byte, 0, len(e.Message)+120)
	b = append(b, `{"result":null,"success":false,"errors":[{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = wire.AppendString(b, e.CallerMessage())
	return append(b, `}],"messages":[]}`...)
}

// Begin writes nothing: the chunks carry no header.
func (s *StreamWriter) Begin(conductor.ResponseMeta) {}

// Chunk writes one upstream chunk's text and gathers its tool-call
// pieces and usage for End.
func (s *StreamWriter) Chunk(ch conductor.Chunk) {
	if ch.Usage != nil {
		u := *ch.Usage
		s.usage = &u
	}
	if ch.Delta != "" {
		b := append(s.buf[:0], `{"response":`...)
		b = wire.AppendString(b, ch.Delta)
		s.buf = append(b, '}')
		s.w.Event("", s.buf)
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

// End writes the tool calls and usage, then [DONE].
func (s *StreamWriter) End() {
	if s.usage != nil || len(s.calls) > 0 {
		b := append(s.buf[:0], `{"response":""`...)
		var ok bool
		if b, ok = AppendToolCalls(b, s.calls); !ok {
			s.Fail(&conductor.Error{Class: conductor.ClassProviderFail, Code: "invalid_tool_arguments",
				Message: "a streamed tool call's arguments are not a JSON object; Workers AI tool_calls carry them only as an object"})
			return
		}
		if s.usage != nil {
			b = append(b, `,"usage":`...)
			b = AppendUsage(b, *s.usage)
		}
		s.w.Event("", append(b, '}'))
	}
	s.w.Event("", doneData)
}

// Fail writes a failure after the stream began: an error event in the
// Cloudflare API envelope.
func (s *StreamWriter) Fail(e *conductor.Error) {
	s.w.Event("error", EncodeError(e))
}
