package server

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"

	conductor "github.com/conductor-go/conductor"
)

// sse writes server-sent events, flushing each: streams pass through chunk
// by chunk.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error // the first write failure: the caller went away
}

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

// streamOut writes a stream in one caller wire format.
type streamOut interface {
	// begin writes what comes before the first chunk.
	begin(meta conductor.ResponseMeta)
	// chunk writes one upstream chunk.
	chunk(ch conductor.Chunk)
	// end writes the stream's proper end.
	end()
	// fail writes a failure after the stream began: an error event.
	fail(e *conductor.Error)
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
	out := s.streamOut(x, newSSE(w), x.answerFormat(meta) == x.in)
	out.begin(meta)
	if out.(flusher).flushSSE() != nil {
		return
	}
	for {
		ch, err := st.Next()
		switch {
		case errors.Is(err, io.EOF):
			out.end()
			_ = out.(flusher).flushSSE()
			return
		case err != nil:
			e := asError(ctx, err)
			if e.Class == conductor.ClassCanceled {
				return // nobody is reading
			}
			if r := requestInfoFrom(ctx); r != nil {
				r.errorClass = string(e.Class)
			}
			out.fail(e)
			_ = out.(flusher).flushSSE()
			return
		}
		out.chunk(ch)
		if out.(flusher).flushSSE() != nil {
			return
		}
	}
}

// flusher is implemented by every streamOut: they embed *sse.
type flusher interface{ flushSSE() error }

func (s *sse) flushSSE() error { return s.flush() }

func (s *Server) streamOut(x *exchange, w *sse, passthrough bool) streamOut {
	switch x.in {
	case fmtAnthropic:
		return &anthropicStream{sse: w, passthrough: passthrough, model: cmp.Or(x.req.Model, x.requested)}
	case fmtWorkersAI:
		return &workersAIStream{sse: w, passthrough: passthrough}
	}
	return &openAIStream{sse: w, passthrough: passthrough, includeUsage: x.includeUsage,
		model: cmp.Or(x.req.Model, x.requested), created: s.now().Unix()}
}
