package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// sse writes server-sent events. pump flushes them as soon as the stream
// would wait for its next chunk: chunks that arrived together leave in one
// write, and none is held while the upstream is idle.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error // the first write failure: the caller went away
}

// maxCoalesce bounds what pump gathers from chunks at hand before it
// flushes anyway (a stored stream replayed is all at hand).
const maxCoalesce = 16 << 10

func newSSE(w http.ResponseWriter) *sse {
	return &sse{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 4<<10)}
}

// event buffers one event: "event: name" when name is set, then data.
func (s *sse) event(name string, data []byte) {
	if name != "" {
		s.buf = append(s.buf, "event: "...)
		s.buf = append(s.buf, name...)
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, "data: "...)
	s.buf = append(s.buf, data...)
	s.buf = append(s.buf, '\n', '\n')
}

// Event buffers one event (provider.EventWriter, for the format packages'
// stream writers).
func (s *sse) Event(name string, data []byte) { s.event(name, data) }

// flush writes what is buffered and pushes it to the caller.
func (s *sse) flush() error {
	if s.err != nil {
		return s.err
	}
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			s.err = err
			return err
		}
		s.buf = s.buf[:0]
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = err
	}
	return s.err
}

// streamOut writes a stream in one caller wire format: a format package's
// translating writer, or passThroughOut.
type streamOut interface {
	// Begin writes what comes before the first chunk.
	Begin(meta conductor.ResponseMeta)
	// Chunk writes one upstream chunk.
	Chunk(ch conductor.Chunk)
	// End writes the stream's proper end.
	End()
	// Fail writes a failure after the stream began: an error event.
	Fail(e *conductor.Error)
}

// pump relays an opened stream to the caller until it ends, fails, or the
// caller goes away (which cancels ctx, and with it the upstream call).
func (s *Server) pump(ctx context.Context, w http.ResponseWriter, x *exchange, st conductor.Stream) {
	defer st.Close()
	meta := st.Meta()
	h := w.Header()
	metaHeaders(h, meta)
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not hold chunks back
	w.WriteHeader(http.StatusOK)
	sw := newSSE(w)
	out := s.streamOut(x, sw, x.answerFormat(meta) == x.in)
	out.Begin(meta)
	if !conductor.StreamBuffered(st) && sw.flush() != nil {
		return
	}
	for {
		ch, err := st.Next()
		switch {
		case errors.Is(err, io.EOF):
			out.End()
			_ = sw.flush()
			return
		case err != nil:
			e := asError(ctx, err)
			if e.Class == conductor.ClassCanceled {
				return // nobody is reading
			}
			if r := requestInfoFrom(ctx); r != nil {
				r.errorClass = string(e.Class)
			}
			out.Fail(e)
			_ = sw.flush()
			return
		}
		out.Chunk(ch)
		// Flush only when the next chunk is not at hand: Next would wait.
		if len(sw.buf) < maxCoalesce && conductor.StreamBuffered(st) {
			continue
		}
		if sw.flush() != nil {
			return
		}
	}
}

func (s *Server) streamOut(x *exchange, w *sse, passthrough bool) streamOut {
	if passthrough {
		return &passThroughOut{sse: w, in: x.in, includeUsage: x.includeUsage}
	}
	switch x.in {
	case fmtAnthropic:
		return anthropic.NewStreamWriter(w, newID("msg_"), cmp.Or(x.req.Model, x.requested))
	case fmtWorkersAI:
		return workersai.NewStreamWriter(w)
	}
	return openai.NewStreamWriter(w, newID("chatcmpl-"), cmp.Or(x.req.Model, x.requested), s.now().Unix(), x.includeUsage)
}

// passThroughOut relays a stream of the caller's own format: each upstream
// event goes out as received (Anthropic's named by the type its data
// repeats), then the format's end: [DONE] for OpenAI and Workers AI, while
// Anthropic's message_stop went through.
type passThroughOut struct {
	*sse
	in           format
	includeUsage bool
}

func (p *passThroughOut) Begin(conductor.ResponseMeta) {}

func (p *passThroughOut) Chunk(ch conductor.Chunk) {
	if len(ch.Raw) == 0 {
		return // an estimated usage: it has no wire form
	}
	switch p.in {
	case fmtAnthropic:
		p.event(eventType(ch.Raw), ch.Raw)
	case fmtWorkersAI:
		p.event("", ch.Raw)
	default:
		// A usage chunk the caller did not ask for (the adapter always
		// asks) stays ours.
		if !p.includeUsage && ch.Usage != nil && ch.Delta == "" && ch.FinishReason == "" && isUsageOnly(ch.Raw) {
			return
		}
		p.event("", ch.Raw)
	}
}

func (p *passThroughOut) End() {
	if p.in != fmtAnthropic {
		p.event("", []byte("[DONE]"))
	}
}

func (p *passThroughOut) Fail(e *conductor.Error) {
	switch p.in {
	case fmtAnthropic:
		p.event("error", anthropic.EncodeError(e))
	case fmtWorkersAI:
		p.event("error", workersai.EncodeError(e))
	default:
		p.event("", openai.EncodeError(e))
	}
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
