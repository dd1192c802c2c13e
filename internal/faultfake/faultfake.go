// Package faultfake is a fault-injecting upstream for tests: one HTTP
// server speaking the OpenAI (/v1/chat/completions, and Groq's
// /openai/v1/chat/completions), Anthropic (/v1/messages) and Workers AI
// (/client/v4/accounts/{account}/ai/run/{model}) wire formats with the
// documented payloads of testdata/, which answers a request well or with
// one of the faults a real provider (or the network in front of it)
// produces: 5xx, 429 with and without Retry-After, hangs before the
// headers, mid-body and between stream chunks, connection resets, malformed
// JSON, a wrong content type, a cut stream, a slow stream, a huge answer.
//
// A test picks the fault per request: Plan registers a fault and returns a
// marker; a request whose body carries the marker (in its prompt, say) gets
// the fault, the first Times such requests or every one, and the documented
// answer after. Requests without a marker are answered well. So one
// upstream serves many cases at once, and Count tells how many requests of
// each case reached it — a retry shows as two, a cached failure as none.
//
// Nothing here is product code; it is imported only by tests.
package faultfake

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed testdata/*.json testdata/*.sse
var payloads embed.FS

// Fault is one way an upstream answer goes wrong.
type Fault string

// The faults. Each applies to a whole answer and to a stream; where the two
// differ the comment says how.
const (
	// OK answers with the documented payload.
	OK Fault = "ok"
	// Status500, Status502 and Status503 answer the status with the
	// format's documented error body.
	Status500 Fault = "500"
	Status502 Fault = "502"
	Status503 Fault = "503"
	// RateLimited answers 429 with Retry-After: 1; RateLimitedBare without
	// Retry-After.
	RateLimited     Fault = "429-retry-after"
	RateLimitedBare Fault = "429"
	// HangBeforeHeaders reads the request and answers nothing until the
	// caller gives up.
	HangBeforeHeaders Fault = "hang-before-headers"
	// HangMidBody sends the headers and half of the body (for a stream,
	// half of its first event, cut inside a line), then nothing.
	HangMidBody Fault = "hang-mid-body"
	// HangBetweenChunks sends the headers and the first events of a stream
	// whole, then nothing (a whole answer: the headers and half the body).
	HangBetweenChunks Fault = "hang-between-chunks"
	// ResetBeforeBody reads the request and resets the connection (TCP
	// RST) without answering.
	ResetBeforeBody Fault = "reset-before-body"
	// ResetMidBody sends the headers and half of the body, then resets the
	// connection.
	ResetMidBody Fault = "reset-mid-body"
	// MalformedJSON answers 200 application/json (or a stream event) whose
	// JSON is cut short.
	MalformedJSON Fault = "malformed-json"
	// WrongContentType answers 200 text/html: the error page of a proxy in
	// front of the provider.
	WrongContentType Fault = "wrong-content-type"
	// CutStream ends a stream cleanly but without its terminator ([DONE],
	// message_stop); a whole answer ends (connection closed) before its
	// Content-Length.
	CutStream Fault = "cut-stream"
	// SlowStream sends the answer in pieces, Options.SlowGap apart: every
	// event of a stream, or a whole body in eight pieces. It completes.
	SlowStream Fault = "slow-stream"
	// HugeAnswer answers Options.HugeBytes of text: a whole answer whose
	// text is that long, or a stream of that many bytes of events; the
	// answer is otherwise well formed and complete.
	HugeAnswer Fault = "huge-answer"
)

// All returns every fault but OK, in a fixed order.
func All() []Fault {
	return []Fault{
		Status500, Status502, Status503, RateLimited, RateLimitedBare,
		HangBeforeHeaders, HangMidBody, HangBetweenChunks,
		ResetBeforeBody, ResetMidBody, MalformedJSON, WrongContentType,
		CutStream, SlowStream, HugeAnswer,
	}
}

// Streams reports whether the fault is one of a stream, so a test asks
// for a stream to see it: a hang between chunks, a cut stream, a slow
// stream.
func (f Fault) Streams() bool {
	return f == HangBetweenChunks || f == CutStream || f == SlowStream
}

// Options tune an Upstream; the zero value is usable.
type Options struct {
	// SlowGap is the pause between the pieces of SlowStream (default
	// 50 ms).
	SlowGap time.Duration
	// HugeBytes is the size of HugeAnswer (default 65 MiB, past the
	// gateway's 64 MiB bound on a whole answer).
	HugeBytes int
}

// Plan is one case: which fault, for how many requests, at which provider.
type Plan struct {
	Fault Fault
	// Times is how many matching requests get the fault before the
	// documented answer; 0 means every one.
	Times int
	// Provider limits the fault to requests in that provider's format
	// (openai, groq, anthropic, workers-ai); "" means any.
	Provider string
}

// Exchange is one request the upstream received.
type Exchange struct {
	Provider string // openai, groq, anthropic, workers-ai
	Path     string
	Header   http.Header
	Body     []byte
	Stream   bool
	// Marker is the plan marker the body carried ("" for none) and Fault
	// what the request got (OK when answered well).
	Marker string
	Fault  Fault
}

// Upstream is the fault-injecting server.
type Upstream struct {
	// URL is the server's root. The base URLs a user exports are
	// OpenAIURL, AnthropicURL, GroqURL and WorkersAIURL.
	URL string

	opts Options
	srv  *httptest.Server
	stop chan struct{}

	mu    sync.Mutex
	plans []planState
	log   []Exchange
}

type planState struct {
	Plan
	served int // faulted requests so far
}

// New starts an upstream that stops when tb ends. Hanging answers end when
// their caller gives up or tb ends.
func New(tb testing.TB, opts Options) *Upstream {
	if opts.SlowGap <= 0 {
		opts.SlowGap = 50 * time.Millisecond
	}
	if opts.HugeBytes <= 0 {
		opts.HugeBytes = 65 << 20
	}
	u := &Upstream{opts: opts, stop: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL
	// Cleanups run last first: release the hangs, then close the server
	// (which waits for its handlers).
	tb.Cleanup(u.srv.Close)
	tb.Cleanup(func() { close(u.stop) })
	return u
}

// OpenAIURL is OPENAI_BASE_URL (with /v1).
func (u *Upstream) OpenAIURL() string { return u.URL + "/v1" }

// AnthropicURL is ANTHROPIC_BASE_URL (the host).
func (u *Upstream) AnthropicURL() string { return u.URL }

// GroqURL is GROQ_BASE_URL (the host).
func (u *Upstream) GroqURL() string { return u.URL }

// WorkersAIURL is CLOUDFLARE_API_BASE_URL (…/client/v4).
func (u *Upstream) WorkersAIURL() string { return u.URL + "/client/v4" }

// Plan registers a case and returns its marker: put it in a request's
// body (its prompt) for the request to get the plan's fault.
func (u *Upstream) Plan(p Plan) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.plans = append(u.plans, planState{Plan: p})
	return "[fault " + strconv.Itoa(len(u.plans)-1) + "]"
}

// Count is how many requests carrying marker reached provider's format
// ("" for any).
func (u *Upstream) Count(marker, provider string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, ex := range u.log {
		if ex.Marker == marker && (provider == "" || ex.Provider == provider) {
			n++
		}
	}
	return n
}

// Requests returns a copy of every exchange so far, in arrival order.
func (u *Upstream) Requests() []Exchange {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Exchange(nil), u.log...)
}

var markerRE = regexp.MustCompile(`\[fault [0-9]+\]`)

// format reports the wire format of a request path.
func format(path string) (provider string, ok bool) {
	switch {
	case path == "/v1/chat/completions":
		return "openai", true
	case path == "/openai/v1/chat/completions":
		return "groq", true
	case path == "/v1/messages":
		return "anthropic", true
	case strings.HasPrefix(path, "/client/v4/accounts/") && strings.Contains(path, "/ai/run/"):
		return "workers-ai", true
	}
	return "", false
}

// payloadFormat is the testdata prefix of a provider: Groq answers in
// OpenAI's shape.
func payloadFormat(provider string) string {
	if provider == "groq" {
		return "openai"
	}
	return provider
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		http.Error(w, "faultfake: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	provider, ok := format(r.URL.Path)
	if !ok || r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"faultfake: no route for %s %s","type":"invalid_request_error"}}`, r.Method, strconv.Quote(r.URL.Path))
		return
	}
	var s struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(body, &s)
	ex := Exchange{Provider: provider, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Stream: s.Stream, Fault: OK}
	ex.Marker = markerRE.FindString(string(body))
	u.mu.Lock()
	if ex.Marker != "" {
		i, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(ex.Marker, "[fault "), "]"))
		if i < len(u.plans) {
			p := &u.plans[i]
			if (p.Provider == "" || p.Provider == provider) && (p.Times == 0 || p.served < p.Times) {
				p.served++
				ex.Fault = p.Fault
			}
		}
	}
	u.log = append(u.log, ex)
	u.mu.Unlock()
	u.answer(w, r, ex)
}

// answer writes the exchange's answer: the documented payload, or its fault.
func (u *Upstream) answer(w http.ResponseWriter, r *http.Request, ex Exchange) {
	pf := payloadFormat(ex.Provider)
	good, ctype := u.payload(pf, ex.Stream)
	h := w.Header()
	switch ex.Fault {
	case OK:
		h.Set("Content-Type", ctype)
		if ex.Stream {
			u.writeEvents(w, r, good, 0)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(good)))
		w.Write(good)
	case Status500, Status502, Status503, RateLimited, RateLimitedBare:
		status := http.StatusTooManyRequests
		if n, err := strconv.Atoi(string(ex.Fault)); err == nil {
			status = n
		}
		if ex.Fault == RateLimited {
			h.Set("Retry-After", "1")
		}
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(errorBody(pf, status))
	case HangBeforeHeaders:
		u.hang(r)
	case HangMidBody:
		h.Set("Content-Type", ctype)
		if !ex.Stream {
			h.Set("Content-Length", strconv.Itoa(len(good)))
		}
		w.WriteHeader(http.StatusOK)
		cut := len(good) / 2
		if ex.Stream {
			// Inside the first event's data line.
			cut = bytes.IndexByte(good, '\n') / 2
		}
		w.Write(good[:cut])
		http.NewResponseController(w).Flush()
		u.hang(r)
	case HangBetweenChunks:
		h.Set("Content-Type", ctype)
		if !ex.Stream {
			h.Set("Content-Length", strconv.Itoa(len(good)))
			w.WriteHeader(http.StatusOK)
			w.Write(good[:len(good)/2])
			http.NewResponseController(w).Flush()
			u.hang(r)
			return
		}
		events := splitEvents(good)
		w.WriteHeader(http.StatusOK)
		for _, e := range events[:len(events)/2] {
			w.Write(e)
		}
		http.NewResponseController(w).Flush()
		u.hang(r)
	case ResetBeforeBody:
		reset(w)
	case ResetMidBody:
		h.Set("Content-Type", ctype)
		if !ex.Stream {
			h.Set("Content-Length", strconv.Itoa(len(good)))
		}
		w.WriteHeader(http.StatusOK)
		w.Write(good[:len(good)/2])
		http.NewResponseController(w).Flush()
		reset(w)
	case MalformedJSON:
		h.Set("Content-Type", ctype)
		if ex.Stream {
			events := splitEvents(good)
			w.WriteHeader(http.StatusOK)
			w.Write(events[0])
			w.Write([]byte("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hel\n\n"))
			for _, e := range events[1:] {
				w.Write(e)
			}
			return
		}
		bad := good[:len(good)/2]
		h.Set("Content-Length", strconv.Itoa(len(bad)))
		w.Write(bad)
	case WrongContentType:
		page := []byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")
		h.Set("Content-Type", "text/html")
		h.Set("Content-Length", strconv.Itoa(len(page)))
		w.WriteHeader(http.StatusOK)
		w.Write(page)
	case CutStream:
		h.Set("Content-Type", ctype)
		if ex.Stream {
			events := splitEvents(good)
			w.WriteHeader(http.StatusOK)
			for _, e := range events {
				if isTerminator(e) {
					break
				}
				w.Write(e)
			}
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(good)))
		w.WriteHeader(http.StatusOK)
		w.Write(good[:len(good)/2])
		http.NewResponseController(w).Flush()
		closeConn(w)
	case SlowStream:
		h.Set("Content-Type", ctype)
		if ex.Stream {
			u.writeEvents(w, r, good, u.opts.SlowGap)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(good)))
		w.WriteHeader(http.StatusOK)
		step := (len(good) + 7) / 8
		for i := 0; i < len(good); i += step {
			if i > 0 && !u.pause(r, u.opts.SlowGap) {
				return
			}
			w.Write(good[i:min(i+step, len(good))])
			http.NewResponseController(w).Flush()
		}
	case HugeAnswer:
		h.Set("Content-Type", ctype)
		if ex.Stream {
			w.WriteHeader(http.StatusOK)
			u.writeHugeStream(w, pf)
			return
		}
		u.writeHugeWhole(w, pf)
	default:
		http.Error(w, "faultfake: unknown fault "+string(ex.Fault), http.StatusTeapot)
	}
}

// payload is the format's documented answer and its content type.
func (u *Upstream) payload(pf string, stream bool) ([]byte, string) {
	if stream {
		b, err := payloads.ReadFile("testdata/" + pf + "_stream.sse")
		if err != nil {
			panic(err) // an embedded file: cannot be missing
		}
		return b, "text/event-stream"
	}
	b, err := payloads.ReadFile("testdata/" + pf + "_200.json")
	if err != nil {
		panic(err)
	}
	return b, "application/json"
}

// errorBody is the format's documented error body for status.
func errorBody(pf string, status int) []byte {
	b, err := payloads.ReadFile("testdata/" + pf + "_" + strconv.Itoa(status) + ".json")
	if err != nil {
		b, err = payloads.ReadFile("testdata/" + pf + "_500.json")
	}
	if err != nil {
		panic(err)
	}
	return b
}

// writeEvents writes a stream event by event, gap apart, flushing each.
func (u *Upstream) writeEvents(w http.ResponseWriter, r *http.Request, stream []byte, gap time.Duration) {
	w.WriteHeader(http.StatusOK)
	for i, e := range splitEvents(stream) {
		if i > 0 && gap > 0 && !u.pause(r, gap) {
			return
		}
		w.Write(e)
		http.NewResponseController(w).Flush()
	}
}

// splitEvents splits an SSE body into its events, each with its blank
// line.
func splitEvents(stream []byte) [][]byte {
	var out [][]byte
	for len(stream) > 0 {
		i := bytes.Index(stream, []byte("\n\n"))
		if i < 0 {
			out = append(out, stream)
			break
		}
		out = append(out, stream[:i+2])
		stream = stream[i+2:]
	}
	return out
}

func isTerminator(event []byte) bool {
	return bytes.Contains(event, []byte("data: [DONE]")) || bytes.Contains(event, []byte("event: message_stop"))
}

// hang waits until the caller gives up or the test ends.
func (u *Upstream) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-u.stop:
	}
}

// pause waits d, reporting false when the caller gave up first.
func (u *Upstream) pause(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-u.stop:
	}
	return false
}

// reset ends the connection with a TCP RST: what the caller reads is
// "connection reset by peer".
func reset(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// closeConn ends the connection cleanly (FIN) whatever was promised.
func closeConn(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	buf.Flush()
	conn.Close()
}

// writeHugeWhole writes the format's documented whole answer with its
// text HugeBytes long, piece by piece: building it first would take long
// enough to look like a slow first byte.
func (u *Upstream) writeHugeWhole(w http.ResponseWriter, pf string) {
	const mark = "HUGE-TEXT-GOES-HERE"
	var doc map[string]any
	raw, _ := payloads.ReadFile("testdata/" + pf + "_200.json")
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(err)
	}
	switch pf {
	case "openai":
		doc["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] = mark
	case "anthropic":
		doc["content"] = []any{map[string]any{"type": "text", "text": mark}}
	case "workers-ai":
		doc["result"].(map[string]any)["response"] = mark
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	prefix, suffix, _ := bytes.Cut(b, []byte(mark))
	piece := bytes.Repeat([]byte("All work and no play makes a huge answer. "), 1<<12)
	n := u.opts.HugeBytes
	w.Header().Set("Content-Length", strconv.Itoa(len(prefix)+n+len(suffix)))
	w.Write(prefix)
	for n > 0 {
		k := min(n, len(piece))
		if _, err := w.Write(piece[:k]); err != nil {
			return
		}
		n -= k
	}
	w.Write(suffix)
}

// writeHugeStream writes a complete stream of about HugeBytes: the
// documented stream with its text deltas repeated.
func (u *Upstream) writeHugeStream(w http.ResponseWriter, pf string) {
	var first, delta, rest []byte
	switch pf {
	case "openai":
		first = []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
		delta = []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"All work and no play makes a huge answer. "},"finish_reason":null}]}` + "\n\n")
		rest = []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n")
	case "anthropic":
		first = []byte(`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-3-5-sonnet-20241022","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}` + "\n\n" +
			`event: content_block_start` + "\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n")
		delta = []byte(`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"All work and no play makes a huge answer. "}}` + "\n\n")
		rest = []byte(`event: content_block_stop` + "\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
			`event: message_delta` + "\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}` + "\n\n" +
			`event: message_stop` + "\n" + `data: {"type":"message_stop"}` + "\n\n")
	default:
		delta = []byte(`data: {"response":"All work and no play makes a huge answer. "}` + "\n\n")
		rest = []byte("data: [DONE]\n\n")
	}
	w.Write(first)
	// Many deltas per write: the size is the point, not the chunking.
	batch := bytes.Repeat(delta, 256)
	for n := 0; n < u.opts.HugeBytes; n += len(batch) {
		if _, err := w.Write(batch); err != nil {
			return
		}
	}
	w.Write(rest)
}
