package server

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
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

// streamUpstream is an OpenAI fake that streams n content chunks (as the
// load harness's fake does: a write and a flush per event), then the
// usage chunk include_usage asks for and [DONE].
func streamUpstream(b *testing.B, n int) *httptest.Server {
	chunk := func(delta, finish string) string {
		return `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":` +
			delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}` + "\n\n"
	}
	events := []string{chunk(`{"role":"assistant","content":""}`, "null")}
	for i := range n {
		events = append(events, chunk(`{"content":"tok`+strconv.Itoa(i)+` "}`, "null"))
	}
	events = append(events, chunk(`{}`, `"stop"`),
		`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":`+strconv.Itoa(n)+`,"total_tokens":`+strconv.Itoa(n+9)+`}}`+"\n\n",
		"data: [DONE]\n\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, e := range events {
			_, _ = io.WriteString(w, e)
			fl.Flush()
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

// countingListener counts the writes of the connections it accepts: the
// write system calls a server makes.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// BenchmarkStreamHTTP is a streamed OpenAI answer of 20 (and 40) chunks,
// read whole by a client: "direct" straight from the fake upstream,
// "conductor" through a real listening server (request log on, no cache)
// to it. writes/op counts the server's writes to the caller (the
// upstream's own, a write per event, are not counted). The allocations a
// chunk costs are the difference between 40 and 20 chunks, over 20.
func BenchmarkStreamHTTP(b *testing.B) {
	for _, n := range []int{20, 40} {
		up := streamUpstream(b, n)
		body := []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"stream":true}`)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		last := []byte("tok" + strconv.Itoa(n-1) + " ")
		run := func(b *testing.B, url string, body []byte, writes *atomic.Int64) {
			b.ReportAllocs()
			ru := rusage()
			writes.Store(0)
			for b.Loop() {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.Contains(got, last) || !bytes.HasSuffix(got, []byte("data: [DONE]\n\n")) {
					b.Fatalf("status %d: %s", resp.StatusCode, got)
				}
			}
			reportCPU(b, ru)
			b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/op")
		}
		b.Run("direct/"+strconv.Itoa(n), func(b *testing.B) {
			run(b, up.URL+"/v1/chat/completions", bytes.Replace(body, []byte("openai/"), nil, 1), new(atomic.Int64))
		})
		b.Run("conductor/"+strconv.Itoa(n), func(b *testing.B) {
			var writes atomic.Int64
			srv := httptest.NewUnstartedServer(benchServer(b, up).Handler())
			srv.Listener = countingListener{srv.Listener, &writes}
			srv.Start()
			defer srv.Close()
			run(b, srv.URL+"/v1/chat/completions", body, &writes)
		})
	}
}
