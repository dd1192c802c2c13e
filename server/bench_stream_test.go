package server

import (
	"bytes"
	"net/http"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
)

// discardWriter is a ResponseWriter that keeps nothing, for benchmarks of
// what the stream writers write.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// benchTranslatedStream is the server's per-stream work translating a
// streamed answer: each upstream event decoded by the adapter's stream
// decoder and written by the caller format's stream writer, flushed per
// chunk as pump does (no network, no gateway).
func benchTranslatedStream(b *testing.B, file string, decode func() func(provider.Event) (conductor.Chunk, bool, bool, error),
	out func(*sse) streamOut) {
	src := readConformance(b, file)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		s := newSSE(w)
		o := out(s)
		dec := decode()
		r := provider.NewSSEReader(bytes.NewReader(src))
		o.Begin(conductor.ResponseMeta{})
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			ch, emit, done, err := dec(ev)
			if err != nil {
				b.Fatal(err)
			}
			if emit {
				o.Chunk(ch)
				_ = s.flush()
			}
			if done {
				break
			}
		}
		o.End()
		_ = s.flush()
	}
}

// An Anthropic upstream's text and tool call, to an OpenAI caller.
func BenchmarkStreamToolCallAnthropicToOpenAI(b *testing.B) {
	benchTranslatedStream(b, "one-tool-call.anthropic.sse",
		func() func(provider.Event) (conductor.Chunk, bool, bool, error) {
			return new(anthropic.StreamDecoder).Decode
		},
		func(s *sse) streamOut {
			return openai.NewStreamWriter(s, newID("chatcmpl-"), "claude-sonnet-4-5", 1700000000, true)
		})
}

// An OpenAI upstream's two parallel calls, to an Anthropic caller.
func BenchmarkStreamToolCallsOpenAIToAnthropic(b *testing.B) {
	benchTranslatedStream(b, "parallel-tool-calls.openai.sse",
		func() func(provider.Event) (conductor.Chunk, bool, bool, error) {
			return new(openai.StreamDecoder).Decode
		},
		func(s *sse) streamOut { return anthropic.NewStreamWriter(s, newID("msg_"), "gpt-4o") })
}

// The same text stream translated, for comparison with the tool streams.
func BenchmarkStreamTextAnthropicToOpenAI(b *testing.B) {
	benchTranslatedStream(b, "text.anthropic.sse",
		func() func(provider.Event) (conductor.Chunk, bool, bool, error) {
			return new(anthropic.StreamDecoder).Decode
		},
		func(s *sse) streamOut {
			return openai.NewStreamWriter(s, newID("chatcmpl-"), "claude-sonnet-4-5", 1700000000, true)
		})
}
