package openai

import (
	"cmp"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// StreamWriter writes a translated stream to an OpenAI caller as Chat
// Completions chunks ending with data: [DONE]: each chunk's text becomes
// delta.content and its tool-call pieces delta.tool_calls (a call's first
// piece with index, id, type and name, later ones with index and an
// arguments fragment), then come the finish reason and, when asked, the
// usage. Chunks of nothing an OpenAI caller can hold (Anthropic thinking,
// pings) write nothing.
type StreamWriter struct {
	w            provider.EventWriter
	includeUsage bool
	id           string
	model        string
	created      int64
	finish       string
	usage        *conductor.Usage
	delta        []byte // scratch for one chunk's delta
	out          []byte // scratch for one chunk (Event copies it)
}

// doneData ends a stream. A package variable: the event data passed to
// an EventWriter escapes, and a literal would be allocated per stream.
var doneData = []byte("[DONE]")

// NewStreamWriter returns the writer of one stream: id is the chunks' id
// ("chatcmpl-…"), model and created their model and Unix time;
// includeUsage adds the usage chunk (stream_options.include_usage).
func NewStreamWriter(w provider.EventWriter, id, model string, created int64, includeUsage bool) *StreamWriter {
	return &StreamWriter{w: w, id: id, model: model, created: created, includeUsage: includeUsage}
}

// Begin writes the first chunk: the assistant role.
func (o *StreamWriter) Begin(conductor.ResponseMeta) {
	o.w.Event("", o.chunkJSON([]byte(`{"role":"assistant","content":""}`), ""))
}

// Chunk writes one upstream chunk's text and tool-call pieces, and keeps its
// finish reason and usage for End.
func (o *StreamWriter) Chunk(ch conductor.Chunk) {
	if ch.Delta != "" || len(ch.ToolCalls) > 0 {
		d := append(o.delta[:0], '{')
		if ch.Delta != "" {
			d = append(d, `"content":`...)
			d = wire.AppendString(d, ch.Delta)
		}
		if len(ch.ToolCalls) > 0 {
			if ch.Delta != "" {
				d = append(d, ',')
			}
			d = append(d, `"tool_calls":`...)
			d = AppendToolCallDeltas(d, ch.ToolCalls)
		}
		o.delta = append(d, '}')
		o.w.Event("", o.chunkJSON(o.delta, ""))
	}
	if ch.FinishReason != "" {
		o.finish = ch.FinishReason
	}
	if ch.Usage != nil {
		u := *ch.Usage
		o.usage = &u
	}
}

// End writes the finish reason, the usage when asked, and [DONE].
func (o *StreamWriter) End() {
	o.w.Event("", o.chunkJSON([]byte("{}"), cmp.Or(o.finish, "stop")))
	if o.includeUsage && o.usage != nil {
		b := o.head(o.out[:0])
		b = append(b, `"choices":[],"usage":`...)
		b = AppendUsage(b, *o.usage)
		o.out = append(b, '}')
		o.w.Event("", o.out)
	}
	o.w.Event("", doneData)
}

// Fail writes a failure after the stream began: an error event.
func (o *StreamWriter) Fail(e *conductor.Error) {
	o.w.Event("", EncodeError(e))
}

// head starts a chunk object: id, object, created, model.
func (o *StreamWriter) head(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = wire.AppendString(b, o.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, o.created, 10)
	b = append(b, `,"model":`...)
	b = wire.AppendString(b, o.model)
	return append(b, ',')
}

func (o *StreamWriter) chunkJSON(delta []byte, finish string) []byte {
	b := o.head(o.out[:0])
	b = append(b, `"choices":[{"index":0,"delta":`...)
	b = append(b, delta...)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = wire.AppendString(b, finish)
	}
	b = append(b, "}]"...)
	if o.includeUsage {
		b = append(b, `,"usage":null`...)
	}
	o.out = append(b, '}')
	return o.out
}
