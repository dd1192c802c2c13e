package provider

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Event is one server-sent event.
type Event struct {
	// Name is the event's "event:" field; "" when it had none (the SSE
	// default type "message"; OpenAI, Groq and Workers AI send none).
	Name string
	// Data is the event's data lines joined with "\n". Each event gets its
	// own slice: callers may keep it.
	Data []byte
}

// ErrEventTooLarge is returned by SSEReader.Next for an event over the
// reader's size bound.
var ErrEventTooLarge = errors.New("sse: event too large")

// maxEventBytes bounds one event, so a hostile or broken upstream cannot
// make us buffer without end.
const maxEventBytes = 16 << 20

// SSEReader reads server-sent events (the text/event-stream format of the
// WHATWG HTML standard): lines ended by LF, CRLF or CR; "data:" lines joined
// with LF; "event:" naming the event; ":" comments (keep-alives) skipped;
// "id:" and "retry:" ignored (we never reconnect); one leading space after
// the colon removed; a leading byte-order mark skipped.
//
// One departure from the standard, on purpose: an event whose last line
// ended but whose closing blank line never came (the server closed right
// after "data: [DONE]\n") is still delivered at end of input. A line cut
// short by end of input is not: Next returns io.ErrUnexpectedEOF.
type SSEReader struct {
	r       *bufio.Reader
	line    []byte // scratch for a line that spans buffer refills
	skipLF  bool   // the last line ended in CR: a following LF belongs to it
	started bool
	max     int
	// arena holds the data of the events handed out, each its own capped
	// slice of it, and the one being read at arena[evStart:]: one
	// allocation for many events instead of one an event. It is never
	// written below its length, so callers may keep an event's data.
	arena   []byte
	evStart int
}

// arenaSize is the size of an arena block: a dozen chunks of a typical
// stream.
const arenaSize = 4 << 10

// dataGrow makes room for n more bytes of the event being read, moving
// what it has to a new block when the current one is full.
func (s *SSEReader) dataGrow(n int) {
	if cap(s.arena)-len(s.arena) >= n {
		return
	}
	cur := s.arena[s.evStart:]
	a := make([]byte, 0, max(arenaSize, 2*(len(cur)+n)))
	s.arena, s.evStart = append(a, cur...), 0
}

// NewSSEReader returns a reader of the events in r. Its buffer is 4 KiB,
// as net/http's: chunks are a few hundred bytes, a longer line is gathered
// across refills, and a bigger buffer cost a 16 KiB allocation per stream.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, 4<<10), max: maxEventBytes}
}

// Next returns the next event with data. It returns io.EOF at the end of
// input between events, io.ErrUnexpectedEOF when input ends inside a line,
// ErrEventTooLarge for an oversize event, or the underlying read error.
func (s *SSEReader) Next() (Event, error) {
	if !s.started {
		s.started = true
		if b, err := s.r.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
			_, _ = s.r.Discard(3)
		}
	}
	var (
		ev      Event
		hasData bool
		size    int
	)
	s.arena = s.arena[:s.evStart] // drop a partial event a failure left
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && hasData {
				return s.dispatch(ev), nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if hasData {
				return s.dispatch(ev), nil
			}
			ev.Name = "" // an event without data is not dispatched
			continue
		}
		if line[0] == ':' {
			continue
		}
		size += len(line)
		if size > s.max {
			return Event{}, fmt.Errorf("%w: over %d bytes", ErrEventTooLarge, s.max)
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				s.dataGrow(1 + len(value))
				s.arena = append(append(s.arena, '\n'), value...)
			} else {
				s.dataGrow(len(value))
				s.arena = append(s.arena, value...)
				hasData = true
			}
		case "event":
			ev.Name = eventName(value)
		}
	}
}

// EventBuffered reports whether the reader's buffer holds a whole event
// with data, so that Next returns it without reading from its source. It
// is false when unsure: before the first event (a byte-order mark), for an
// event longer than the buffer, or one only the end of input would close.
func (s *SSEReader) EventBuffered() bool {
	n := s.r.Buffered()
	if !s.started || n == 0 {
		return false
	}
	buf, _ := s.r.Peek(n)
	if s.skipLF && buf[0] == '\n' {
		buf = buf[1:]
	}
	hasData := false
	for {
		i := bytes.IndexByte(buf, '\n')
		head := buf
		if i >= 0 {
			head = buf[:i]
		}
		if j := bytes.IndexByte(head, '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			return false
		}
		line := buf[:i]
		if buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n' {
			i++
		}
		buf = buf[i+1:]
		switch {
		case len(line) == 0:
			if hasData {
				return true
			}
		case line[0] == ':':
		default:
			field := line
			if j := bytes.IndexByte(line, ':'); j >= 0 {
				field = line[:j]
			}
			if string(field) == "data" {
				hasData = true
			}
		}
	}
}

// dispatch completes ev with its data, the arena's tail, capped so that an
// append by the caller cannot reach the next event's.
func (s *SSEReader) dispatch(ev Event) Event {
	n := len(s.arena)
	ev.Data = s.arena[s.evStart:n:n]
	s.evStart = n
	return ev
}

// eventName returns the name as a string, without allocating for the names
// our providers send on every event.
func eventName(b []byte) string {
	switch string(b) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	case "message":
		return "message"
	}
	return string(b)
}

// readLine returns the next line without its terminator. The slice is valid
// until the next call. io.EOF means input ended cleanly after the last line;
// io.ErrUnexpectedEOF that it ended inside one.
func (s *SSEReader) readLine() ([]byte, error) {
	if s.skipLF {
		s.skipLF = false
		if b, err := s.r.Peek(1); err == nil && b[0] == '\n' {
			_, _ = s.r.Discard(1)
		}
	}
	s.line = s.line[:0]
	for {
		n := s.r.Buffered()
		if n == 0 {
			if _, err := s.r.Peek(1); err != nil {
				if err == io.EOF && len(s.line) > 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
			n = s.r.Buffered()
		}
		buf, _ := s.r.Peek(n)
		// Two vectorised searches beat IndexAny's byte loop; CR is rare.
		i := bytes.IndexByte(buf, '\n')
		head := buf
		if i >= 0 {
			head = buf[:i]
		}
		if j := bytes.IndexByte(head, '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			if len(s.line)+n > s.max {
				return nil, fmt.Errorf("%w: line over %d bytes", ErrEventTooLarge, s.max)
			}
			s.line = append(s.line, buf...)
			_, _ = s.r.Discard(n)
			continue
		}
		s.skipLF = buf[i] == '\r'
		var line []byte
		if len(s.line) == 0 {
			// The whole line is in the buffer: hand it out without a copy;
			// the buffer is not refilled before the caller is done with it.
			line = buf[:i]
		} else {
			s.line = append(s.line, buf[:i]...)
			line = s.line
		}
		_, _ = s.r.Discard(i + 1)
		return line, nil
	}
}

// EventWriter takes the server-sent events of a stream a format writes for
// its callers, one at a time: name "" for a data-only event. data may be
// reused once Event returns. The server's SSE writer implements it.
type EventWriter interface {
	Event(name string, data []byte)
}
