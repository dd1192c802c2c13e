package provider

import (
	"errors"
	"io"
	"mime"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// drainTimeout bounds the wait for the end of a body after its terminator.
const drainTimeout = time.Second

var errDrained = errors.New("stream drained after its terminator")

// eventDecoder turns one SSE event of a wire format into a chunk. emit says
// the chunk goes to the caller (a [DONE] marker does not); done says the
// event is the stream's terminator. A mid-stream error event is returned as
// a *conductor.Error.
type eventDecoder func(ev Event) (ch conductor.Chunk, emit, done bool, err error)

// sseStream is a streamed answer over SSE, shared by every wire format: the
// format only decodes events. It turns a stream that ends before its
// terminator into a ClassStreamCut error, never io.EOF, and when the
// provider sent no usage it adds a last chunk with an estimate.
type sseStream struct {
	p      *Caller
	c      *Call
	req    *conductor.ChatRequest
	sse    *SSEReader
	decode eventDecoder
	out    wire.TokenCounter
	usage  bool // a chunk carried the provider's usage
	// ahead holds the chunks decoded before Next asked for them: by
	// Buffered, or the usage estimate after the last chunk.
	ahead  [2]conductor.Chunk
	nahead int
	drain  bool  // the terminator was read ahead: drain the body before the end
	err    error // sticky: returned by every Next after the end
	closed atomic.Bool
}

// NewSSEStream starts reading an answer whose headers arrived. An answer
// that is not an event stream (an error body sent with 200, say) is read
// whole and returned as an error.
func (p *Caller) NewSSEStream(c *Call, req *conductor.ChatRequest, decode eventDecoder) (*sseStream, error) {
	mt, _, _ := mime.ParseMediaType(c.Response.Header.Get("Content-Type"))
	if mt != "" && mt != "text/event-stream" {
		defer c.Release()
		body, err := p.ReadAll(c, maxErrorBytes)
		if err != nil {
			return nil, err
		}
		e := errorFromStatus(p.Endpoint.Name, c.Response.StatusCode, c.Response.Header, body, c.start)
		if e.RequestID == "" {
			e.RequestID = p.RequestID(c.Response.Header)
		}
		if eb := parseErrorBody(body); eb.message != "" {
			e.Class, e.Retryable = conductor.ClassProviderFail, false
		} else {
			e.Class, e.Retryable = conductor.ClassMalformed, false
			e.Message = "expected an event stream, got " + mt
		}
		return nil, e
	}
	return &sseStream{p: p, c: c, req: req, sse: NewSSEReader(c.Response.Body), decode: decode}, nil
}

func (s *sseStream) Meta() conductor.ResponseMeta { return s.c.Meta }

// Close ends the stream and frees its connection. It may be called at any
// time, also while Next waits, and more than once.
func (s *sseStream) Close() error {
	s.closed.Store(true)
	s.c.Release()
	return nil
}

func (s *sseStream) Next() (conductor.Chunk, error) {
	for {
		if s.nahead > 0 {
			ch := s.ahead[0]
			s.ahead[0], s.ahead[1] = s.ahead[1], conductor.Chunk{}
			s.nahead--
			return ch, nil
		}
		if s.drain {
			s.drain = false
			s.drainBody()
		}
		if s.err != nil {
			return conductor.Chunk{}, s.err
		}
		s.step(false)
	}
}

// Buffered decodes ahead the events already in the reader's buffer until
// one yields a chunk (conductor.BufferedStream). It never reads from the
// connection.
func (s *sseStream) Buffered() bool {
	for s.nahead == 0 && s.err == nil && s.sse.EventBuffered() {
		s.step(true)
	}
	return s.nahead > 0
}

func (s *sseStream) push(ch conductor.Chunk) {
	s.ahead[s.nahead] = ch
	s.nahead++
}

// step reads and decodes one event: a chunk goes ahead, a failure or the
// end is kept in err. lookahead says Buffered asked, which must not wait:
// the drain after the terminator is left to Next.
func (s *sseStream) step(lookahead bool) {
	ev, err := s.sse.Next()
	if err != nil {
		s.fail(s.readError(err))
		return
	}
	ch, emit, done, err := s.decode(ev)
	if err != nil {
		s.fail(s.eventError(err))
		return
	}
	if ch.Usage != nil {
		s.usage = true
	}
	s.out.Add(ch.Delta)
	for _, d := range ch.ToolCalls {
		s.out.Add(d.Name)
		s.out.Add(d.Arguments)
	}
	switch {
	case done:
		s.finish(ch, emit, lookahead)
	case emit:
		s.push(ch)
	}
}

// finish ends a stream that reached its terminator: the terminator's own
// chunk if it has one, then the estimated usage if the provider sent none,
// then io.EOF.
func (s *sseStream) finish(last conductor.Chunk, emit, lookahead bool) {
	s.err = io.EOF
	if lookahead {
		s.drain = true
	} else {
		s.drainBody()
	}
	if emit {
		s.push(last)
	}
	if !s.usage {
		u := wire.EstimatedUsage(s.req, s.out.Total())
		s.push(conductor.Chunk{Usage: &u}) // no Raw: it has no wire form
	}
}

// drainBody reads what follows the terminator (the end of the chunked
// body, usually) so an HTTP/1.1 connection can be reused, bounded in bytes
// and time, since a server may hold the connection open after it; then
// frees the connection.
func (s *sseStream) drainBody() {
	stop := time.AfterFunc(drainTimeout, func() { s.c.cancel(errDrained) })
	_, _ = io.CopyN(io.Discard, s.c.Response.Body, 4<<10)
	stop.Stop()
	s.c.Release()
}

func (s *sseStream) fail(e *conductor.Error) error {
	s.err = e
	s.c.Release()
	return e
}

// readError classifies a stream that stopped before its terminator: a cut
// (the connection closed or broke), one of our deadlines, the caller, or a
// closed stream.
func (s *sseStream) readError(err error) *conductor.Error {
	rid := s.p.RequestID(s.c.Response.Header)
	if s.closed.Load() {
		return &conductor.Error{Provider: s.p.Endpoint.Name, Class: conductor.ClassCanceled, Status: s.c.Response.StatusCode,
			Message: "stream closed", RequestID: rid, Err: err}
	}
	if s.c.ctx.Err() != nil {
		return s.p.transportError(s.c, err, "reading the stream")
	}
	e := &conductor.Error{Provider: s.p.Endpoint.Name, Class: conductor.ClassStreamCut, Status: s.c.Response.StatusCode,
		Retryable: true, RequestID: rid, Err: err}
	switch {
	case err == io.EOF:
		e.Message = "stream ended before its terminator"
		e.Err = io.ErrUnexpectedEOF
	case errors.Is(err, ErrEventTooLarge):
		e.Class, e.Retryable = conductor.ClassMalformed, false
		e.Message = err.Error()
	default:
		e.Message = "stream broken before its terminator: " + rootMessage(err)
	}
	return e
}

// eventError completes an error from a decoded event with what the stream
// knows.
func (s *sseStream) eventError(err error) *conductor.Error {
	e, ok := conductor.AsError(err)
	if !ok {
		e = Malformed(s.p.Endpoint.Name, s.c.Response.StatusCode, "", "unreadable stream event", err)
	}
	e.Provider = s.p.Endpoint.Name
	if e.RequestID == "" {
		e.RequestID = s.p.RequestID(s.c.Response.Header)
	}
	return e
}
