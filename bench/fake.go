package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fakeConfig is what the fake upstream does; the harness sets it per
// scenario through POST /_bench/config.
type fakeConfig struct {
	// Chunks is the number of content chunks of a streamed answer.
	Chunks int `json:"chunks"`
	// Latency is waited before each answer; Jitter adds up to that much,
	// uniformly at random.
	Latency time.Duration `json:"latency"`
	Jitter  time.Duration `json:"jitter"`
	// FaultRate is the share of requests answered with a fault (soak): the
	// n-th request faults when floor(n·rate) steps, so a run of N requests
	// holds exactly floor(N·rate) faults.
	FaultRate float64 `json:"fault_rate"`
}

// fakeCounts is what GET /_bench/count answers.
type fakeCounts struct {
	Requests int64            `json:"requests"`
	Faults   int64            `json:"faults"`
	ByFault  map[string]int64 `json:"by_fault,omitempty"`
}

// fake is an upstream speaking OpenAI's Chat Completions and Anthropic's
// Messages, whole and streamed, with the documented payload shapes. It is
// built to cost little per request, so that what the harness measures is
// the target in front of it: answers are prepared bytes, bodies are read
// into pooled buffers.
type fake struct {
	cfg      atomic.Pointer[fakeConfig]
	requests atomic.Int64
	faults   atomic.Int64
	byFault  [len(faultKinds)]atomic.Int64
	bufs     sync.Pool

	openAIWhole, openAITools, anthropicWhole, anthropicTools []byte
	// Prepared stream events, built for the configured chunk count.
	streams atomic.Pointer[fakeStreams]
}

type fakeStreams struct {
	chunks              int
	openAI, openAIUsage [][]byte
	anthropic           [][]byte
}

// faultKinds are the faults the soak injects, in turn: server errors, a
// rate limit, a 200 whose body is not JSON, and a connection reset before
// any answer. A gateway must turn each into an error the caller sees.
var faultKinds = [...]string{"500", "502", "503", "429", "malformed-200", "reset"}

// The answers: the shapes of server/testdata/upstream, one line each.
const (
	openAIWholeJSON    = `{"id":"chatcmpl-bench","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today?","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench"}`
	openAIToolsJSON    = `{"id":"chatcmpl-benchtool","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_bench","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99},"system_fingerprint":"fp_bench"}`
	anthropicWholeJSON = `{"id":"msg_bench","type":"message","role":"assistant","model":"claude-3-5-sonnet-20241022","content":[{"type":"text","text":"Hello! How can I assist you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":19,"output_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`
	anthropicToolsJSON = `{"id":"msg_benchtool","type":"message","role":"assistant","model":"claude-3-5-sonnet-20241022","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_bench","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":380,"output_tokens":52,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`
)

func newFake() *fake {
	f := &fake{
		openAIWhole:    []byte(openAIWholeJSON),
		openAITools:    []byte(openAIToolsJSON),
		anthropicWhole: []byte(anthropicWholeJSON),
		anthropicTools: []byte(anthropicToolsJSON),
	}
	f.bufs.New = func() any { return new(bytes.Buffer) }
	f.setConfig(fakeConfig{Chunks: 8})
	return f
}

func (f *fake) setConfig(c fakeConfig) {
	if c.Chunks <= 0 {
		c.Chunks = 8
	}
	f.cfg.Store(&c)
	if s := f.streams.Load(); s == nil || s.chunks != c.Chunks {
		f.streams.Store(buildStreams(c.Chunks))
	}
}

func buildStreams(n int) *fakeStreams {
	s := &fakeStreams{chunks: n}
	oa := func(delta, finish, usage string) []byte {
		return fmt.Appendf(nil, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}],"usage":%s}`+"\n\n", delta, finish, usage)
	}
	s.openAI = append(s.openAI, oa(`{"role":"assistant","content":"","refusal":null}`, "null", "null"))
	for i := range n {
		s.openAI = append(s.openAI, oa(fmt.Sprintf(`{"content":"tok%d "}`, i), "null", "null"))
	}
	s.openAI = append(s.openAI, oa(`{}`, `"stop"`, "null"))
	usage := []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":` + strconv.Itoa(n) + `,"total_tokens":` + strconv.Itoa(n+9) + `}}` + "\n\n")
	s.openAIUsage = append(append(append([][]byte(nil), s.openAI...), usage), []byte("data: [DONE]\n\n"))
	s.openAI = append(s.openAI, []byte("data: [DONE]\n\n"))

	ev := func(name, data string) []byte { return []byte("event: " + name + "\ndata: " + data + "\n\n") }
	s.anthropic = append(s.anthropic,
		ev("message_start", `{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","content":[],"model":"claude-3-5-sonnet-20241022","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
	for i := range n {
		s.anthropic = append(s.anthropic, ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tok%d "}}`, i)))
	}
	s.anthropic = append(s.anthropic,
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(n)+`}}`),
		ev("message_stop", `{"type":"message_stop"}`))
	return s
}

func (f *fake) counts() fakeCounts {
	c := fakeCounts{Requests: f.requests.Load(), Faults: f.faults.Load(), ByFault: map[string]int64{}}
	for i, k := range faultKinds {
		if n := f.byFault[i].Load(); n > 0 {
			c.ByFault[k] = n
		}
	}
	return c
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_bench/count":
		writeJSONValue(w, f.counts())
		return
	case "/_bench/config":
		var c fakeConfig
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.setConfig(c)
		writeJSONValue(w, c)
		return
	case "/_bench/reset":
		f.requests.Store(0)
		f.faults.Store(0)
		for i := range f.byFault {
			f.byFault[i].Store(0)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	anthropic := false
	switch r.URL.Path {
	case "/v1/chat/completions", "/chat/completions":
	case "/v1/messages":
		anthropic = true
	default:
		http.Error(w, `{"error":{"message":"the bench fake serves /v1/chat/completions and /v1/messages","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	buf := f.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer f.bufs.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	n := f.requests.Add(1)
	cfg := f.cfg.Load()
	if d := cfg.Latency; d > 0 || cfg.Jitter > 0 {
		if cfg.Jitter > 0 {
			d += rand.N(cfg.Jitter)
		}
		time.Sleep(d)
	}
	if cfg.FaultRate > 0 && int64(float64(n)*cfg.FaultRate) > int64(float64(n-1)*cfg.FaultRate) {
		k := f.faults.Add(1)
		kind := int((k - 1) % int64(len(faultKinds)))
		f.byFault[kind].Add(1)
		f.fault(w, faultKinds[kind], anthropic)
		return
	}
	stream := bytes.Contains(body, []byte(`"stream":true`)) || bytes.Contains(body, []byte(`"stream": true`))
	tools := bytes.Contains(body, []byte(`"tools"`))
	h := w.Header()
	if !stream {
		h["Content-Type"] = contentJSON
		switch {
		case anthropic && tools:
			_, _ = w.Write(f.anthropicTools)
		case anthropic:
			_, _ = w.Write(f.anthropicWhole)
		case tools:
			_, _ = w.Write(f.openAITools)
		default:
			_, _ = w.Write(f.openAIWhole)
		}
		return
	}
	s := f.streams.Load()
	events := s.openAI
	switch {
	case anthropic:
		events = s.anthropic
	case bytes.Contains(body, []byte(`"include_usage":true`)):
		events = s.openAIUsage
	}
	h["Content-Type"] = contentSSE
	h["Cache-Control"] = noCache
	fl, _ := w.(http.Flusher)
	for _, e := range events {
		if _, err := w.Write(e); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

var (
	contentJSON = []string{"application/json"}
	contentSSE  = []string{"text/event-stream"}
	noCache     = []string{"no-cache"}
)

func (f *fake) fault(w http.ResponseWriter, kind string, anthropic bool) {
	errBody := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if anthropic {
			fmt.Fprintf(w, `{"type":"error","error":{"type":"api_error","message":%q}}`, msg)
			return
		}
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error","param":null,"code":null}}`, msg)
	}
	switch kind {
	case "500":
		errBody(500, "injected fault: internal error")
	case "502":
		errBody(502, "injected fault: bad gateway")
	case "503":
		errBody(503, "injected fault: overloaded")
	case "429":
		errBody(429, "injected fault: rate limited")
	case "malformed-200":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-bench","choices":[{"index":0,"message":{"role":"assistant","content":"trunc`)
	case "reset":
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST, not FIN
				}
				_ = c.Close()
				return
			}
		}
		errBody(500, "injected fault: reset (not hijackable)")
	}
}

func writeJSONValue(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
