package provider_test

import (
	"bytes"
	"errors"
	"github.com/conductor-go/conductor/provider"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readEvents(r *provider.SSEReader) ([]provider.Event, error) {
	var evs []provider.Event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []provider.Event
		err  error
	}{
		{"empty", "", nil, io.EOF},
		{"one event", "data: {\"a\":1}\n\n", []provider.Event{{Data: []byte(`{"a":1}`)}}, io.EOF},
		{"CRLF", "event: ping\r\ndata: x\r\n\r\ndata: y\r\n\r\n", []provider.Event{{"ping", []byte("x")}, {"", []byte("y")}}, io.EOF},
		{"CR only", "data: x\r\rdata: y\r\r", []provider.Event{{Data: []byte("x")}, {Data: []byte("y")}}, io.EOF},
		{"data lines joined", "data: a\ndata:b\ndata:  c\n\n", []provider.Event{{Data: []byte("a\nb\n c")}}, io.EOF},
		{"comments and unknown fields skipped", ": keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n", []provider.Event{{Data: []byte("x")}}, io.EOF},
		{"event without data is not dispatched, its name does not leak", "event: a\n\ndata: x\n\n", []provider.Event{{Data: []byte("x")}}, io.EOF},
		{"field without colon", "data\n\n", []provider.Event{{Data: []byte("")}}, io.EOF},
		{"colon in value kept", "data: {\"t\":\"a: b\"}\n\n", []provider.Event{{Data: []byte(`{"t":"a: b"}`)}}, io.EOF},
		{"byte order mark", "\xEF\xBB\xBFdata: x\n\n", []provider.Event{{Data: []byte("x")}}, io.EOF},
		{"blank lines between events", "\n\n\ndata: x\n\n\n\n", []provider.Event{{Data: []byte("x")}}, io.EOF},
		{"last event without closing blank line", "data: x\n\ndata: [DONE]\n", []provider.Event{{Data: []byte("x")}, {Data: []byte("[DONE]")}}, io.EOF},
		{"cut inside a line", "data: x\n\ndata: {\"cho", []provider.Event{{Data: []byte("x")}}, io.ErrUnexpectedEOF},
		{"anthropic framing", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", []provider.Event{{"message_stop", []byte(`{"type":"message_stop"}`)}}, io.EOF},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+err": iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rn, wrap := range readers {
			t.Run(tt.name+"/"+rn, func(t *testing.T) {
				got, err := readEvents(provider.NewSSEReader(wrap(strings.NewReader(tt.in))))
				if err != tt.err {
					t.Errorf("err = %v, want %v", err, tt.err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events %q, want %d", len(got), got, len(tt.want))
				}
				for i := range got {
					if got[i].Name != tt.want[i].Name || !bytes.Equal(got[i].Data, tt.want[i].Data) {
						t.Errorf("event %d = %q %q, want %q %q", i, got[i].Name, got[i].Data, tt.want[i].Name, tt.want[i].Data)
					}
				}
			})
		}
	}
}

func TestSSEReaderDataIsOwned(t *testing.T) {
	r := provider.NewSSEReader(strings.NewReader("data: first\n\ndata: second\n\n"))
	a, _ := r.Next()
	b, _ := r.Next()
	if string(a.Data) != "first" || string(b.Data) != "second" {
		t.Errorf("a=%q b=%q: an event's data changed after the next read", a.Data, b.Data)
	}
}

func TestSSEReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // spans many buffer fills
	got, err := readEvents(provider.NewSSEReader(strings.NewReader("data: " + long + "\r\n\r\n")))
	if err != io.EOF || len(got) != 1 || string(got[0].Data) != long {
		t.Fatalf("err %v, %d events", err, len(got))
	}
	r := provider.NewSSEReader(strings.NewReader("data: " + long + "\n\n"))
	provider.SetMax(r, 1<<10)
	if _, err := r.Next(); !errors.Is(err, provider.ErrEventTooLarge) {
		t.Errorf("err = %v, want ErrEventTooLarge", err)
	}
	r = provider.NewSSEReader(strings.NewReader(strings.Repeat("data: 0123456789\n", 200) + "\n"))
	provider.SetMax(r, 1<<10)
	if _, err := r.Next(); !errors.Is(err, provider.ErrEventTooLarge) {
		t.Errorf("many lines: err = %v, want ErrEventTooLarge", err)
	}
}

func TestSSEReaderReadError(t *testing.T) {
	boom := errors.New("connection reset by peer")
	r := provider.NewSSEReader(io.MultiReader(strings.NewReader("data: x\n\ndata: y"), iotest.ErrReader(boom)))
	got, err := readEvents(r)
	if err != boom || len(got) != 1 {
		t.Errorf("got %d events, err %v", len(got), err)
	}
}

// referenceSSE parses input the plain way, line by line after splitting on
// every terminator, to check SSEReader against.
func referenceSSE(in string) ([]provider.Event, error) {
	in = strings.TrimPrefix(in, "\xEF\xBB\xBF")
	var lines []string
	complete := true
	for len(in) > 0 {
		i := strings.IndexAny(in, "\r\n")
		if i < 0 {
			lines, complete = append(lines, in), false
			break
		}
		lines = append(lines, in[:i])
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
	}
	var evs []provider.Event
	var name string
	var data []string
	has := false
	for i, l := range lines {
		if !complete && i == len(lines)-1 {
			return evs, io.ErrUnexpectedEOF
		}
		if l == "" {
			if has {
				evs = append(evs, provider.Event{Name: name, Data: []byte(strings.Join(data, "\n"))})
			}
			name, data, has = "", nil, false
			continue
		}
		if l[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data, has = append(data, value), true
		case "event":
			name = value
		}
	}
	if has {
		evs = append(evs, provider.Event{Name: name, Data: []byte(strings.Join(data, "\n"))})
	}
	return evs, io.EOF
}

func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: x\n\n", "event: a\r\ndata: b\r\n\r\n", "data: x\r\rdata:y\n", ": c\n\ndata\n\n", "\xEF\xBB\xBFdata: x",
		"data: a\ndata: b\n\n", "event: e\n\n", "data: x\r", "\r\n\r\n",
	} {
		f.Add(s)
	}
	for _, file := range []string{"openai/stream.sse", "anthropic/stream.sse", "workersai/stream_usage.sse"} {
		f.Add(string(readTestdata(f, file)))
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, wantErr := referenceSSE(in)
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			got, err := readEvents(provider.NewSSEReader(r))
			if err != wantErr || len(got) != len(want) {
				t.Fatalf("got %d events, %v; reference %d, %v", len(got), err, len(want), wantErr)
			}
			for i := range got {
				if got[i].Name != want[i].Name || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Fatalf("event %d = %q %q, reference %q %q", i, got[i].Name, got[i].Data, want[i].Name, want[i].Data)
				}
			}
		}
	})
}

// errWouldBlock stands for a source with nothing more yet.
var errWouldBlock = errors.New("would block")

// stalledReader returns its input, then errWouldBlock: a read past the
// input is a read that would have waited on the connection.
type stalledReader struct{ r io.Reader }

func (s stalledReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		err = errWouldBlock
	}
	return n, err
}

// TestSSEEventBuffered: after the first event, EventBuffered says whether
// the next one is whole in the buffer; true only when Next returns it
// without reading.
func TestSSEEventBuffered(t *testing.T) {
	for _, tt := range []struct {
		name, rest string
		want       bool
	}{
		{"a whole event", "data: b\n\n", true},
		{"a named event", "event: x\ndata: b\n\n", true},
		{"two data lines", "data: b\ndata: c\n\n", true},
		{"CRLF", "data: b\r\n\r\n", true},
		{"CR", "data: b\r\r", true},
		{"a keep-alive, then an event", ": ping\n\ndata: b\n\n", true},
		{"its blank line not yet here", "data: b\n", false},
		{"its line cut", "data: b", false},
		{"a keep-alive only", ": ping\n\n", false},
		{"an event without data", "event: x\n\n", false},
		{"nothing", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := provider.NewSSEReader(stalledReader{strings.NewReader("data: a\n\n" + tt.rest)})
			if r.EventBuffered() {
				t.Fatal("buffered before the first read")
			}
			if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
				t.Fatalf("first event %q, %v", ev.Data, err)
			}
			if got := r.EventBuffered(); got != tt.want {
				t.Fatalf("EventBuffered = %v, want %v", got, tt.want)
			}
			if _, err := r.Next(); tt.want && err != nil {
				t.Fatalf("Next after EventBuffered: %v", err)
			}
		})
	}
}

// FuzzSSEEventBuffered: whenever EventBuffered is true, Next returns an
// event without reading past what had arrived.
func FuzzSSEEventBuffered(f *testing.F) {
	for _, s := range []string{
		"data: x\n\ndata: y\n\n", "event: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", "data: x\r\rdata:y\r\r", ": c\n\ndata\n\n",
		"data: a\n\n: ping\n\n", "data: a\r\n\r\n\ndata: b\n\n",
	} {
		f.Add(s)
	}
	for _, file := range []string{"openai/stream.sse", "anthropic/stream.sse"} {
		f.Add(string(readTestdata(f, file)))
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := provider.NewSSEReader(stalledReader{strings.NewReader(in)})
		for range 1000 {
			buffered := r.EventBuffered()
			_, err := r.Next()
			if buffered && err != nil {
				t.Fatalf("EventBuffered promised an event; Next: %v", err)
			}
			if err != nil {
				return
			}
		}
	})
}
