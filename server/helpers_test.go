package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/store/sqlite"
)

// Keys the server holds for its upstreams in tests; a test checks which
// key reached an upstream.
const (
	serverOpenAIKey    = "sk-server-openai"
	serverAnthropicKey = "sk-ant-server"
	serverGroqKey      = "gsk_server"
	serverCFToken      = "cf-server-token"
	testAccount        = "acct0123"
)

// upstreamCall is one request a fake upstream received.
type upstreamCall struct {
	Kind   string // openai, anthropic, groq, workers-ai
	Path   string
	Header http.Header
	Body   []byte
}

// canned is one answer a fake gives instead of its default.
type canned struct {
	status int
	header map[string]string
	file   string // under testdata/upstream
	body   string
	// block, when set, makes the fake wait until the request's context
	// ends (or block is closed), signalling on entered first.
	block   chan struct{}
	entered chan struct{}
	// canceled, when set, is closed when the request's context ends while
	// the fake blocks: the server gave up the upstream call.
	canceled chan struct{}
	// streamThenBlock writes file's events, then blocks like block.
	streamThenBlock bool
}

// fakes are the upstream providers: httptest servers speaking each wire
// format with documented payloads from testdata/upstream.
type fakes struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	calls []upstreamCall
	queue map[string][]canned // by kind: answers given before the defaults
}

func newFakes(t testing.TB) *fakes {
	f := &fakes{t: t, queue: map[string][]canned{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// env points every provider of the server at the fakes.
func (f *fakes) env() map[string]string {
	return map[string]string{
		"OPENAI_BASE_URL":         f.srv.URL + "/openai/v1",
		"OPENAI_API_KEY":          serverOpenAIKey,
		"ANTHROPIC_BASE_URL":      f.srv.URL + "/anthropic",
		"ANTHROPIC_API_KEY":       serverAnthropicKey,
		"GROQ_BASE_URL":           f.srv.URL + "/groq",
		"GROQ_API_KEY":            serverGroqKey,
		"CLOUDFLARE_API_BASE_URL": f.srv.URL + "/cf",
		"CLOUDFLARE_API_TOKEN":    serverCFToken,
		"CLOUDFLARE_ACCOUNT_ID":   testAccount,
		"LOCAL_BASE_URL":          f.srv.URL + "/local/v1",
	}
}

// push queues answers for the next calls of kind.
func (f *fakes) push(kind string, cs ...canned) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue[kind] = append(f.queue[kind], cs...)
}

func (f *fakes) recorded() []upstreamCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstreamCall(nil), f.calls...)
}

func (f *fakes) count(kind string) int {
	n := 0
	for _, c := range f.recorded() {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

func (f *fakes) last(kind string) upstreamCall {
	f.t.Helper()
	calls := f.recorded()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Kind == kind {
			return calls[i]
		}
	}
	f.t.Fatalf("no call reached the %s upstream", kind)
	return upstreamCall{}
}

func kindOf(path string) (kind string, ok bool) {
	switch {
	case path == "/openai/v1/chat/completions":
		return "openai", true
	case path == "/anthropic/v1/messages":
		return "anthropic", true
	case path == "/groq/openai/v1/chat/completions":
		return "groq", true
	case path == "/local/v1/chat/completions":
		return "local", true
	case path == "/cf/accounts/"+testAccount+"/ai/v1/chat/completions":
		return "workers-ai-v1", true
	case strings.HasPrefix(path, "/cf/accounts/"+testAccount+"/ai/run/"):
		return "workers-ai", true
	}
	return "", false
}

func (f *fakes) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	kind, ok := kindOf(r.URL.Path)
	if file, emb := embedAnswer(r.URL.Path, body); emb {
		f.mu.Lock()
		f.calls = append(f.calls, upstreamCall{Kind: "embeddings", Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		f.answer(w, r, canned{file: file})
		return
	}
	if !ok {
		http.Error(w, `{"error":{"message":"fake: no such path","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, upstreamCall{Kind: kind, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	var c canned
	if q := f.queue[kind]; len(q) > 0 {
		c, f.queue[kind] = q[0], q[1:]
	} else {
		c = defaultAnswer(kind, isStream(body))
		c = markedAnswer(kind, body, c)
	}
	f.mu.Unlock()
	f.answer(w, r, c)
}

func isStream(body []byte) bool {
	var b struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(body, &b)
	return b.Stream
}

func defaultAnswer(kind string, stream bool) canned {
	switch kind {
	case "anthropic":
		if stream {
			return canned{file: "anthropic/stream.sse"}
		}
		return canned{file: "anthropic/message.json"}
	case "workers-ai":
		if stream {
			return canned{file: "workersai/stream_usage.sse"}
		}
		return canned{file: "workersai/run.json"}
	case "groq":
		if stream {
			return canned{file: "openai/stream_groq.sse"}
		}
		return canned{file: "openai/chat_completion_groq.json"}
	}
	if stream {
		return canned{file: "openai/stream.sse"}
	}
	return canned{file: "openai/chat_completion.json"}
}

// markedAnswer lets a client that cannot queue answers (the SDK tests)
// ask for a failure by writing a marker in its prompt.
func markedAnswer(kind string, body []byte, c canned) canned {
	dir := "openai"
	if kind == "anthropic" {
		dir = "anthropic"
	}
	switch {
	case bytes.Contains(body, []byte("__status_429__")):
		return canned{status: 429, header: map[string]string{"Retry-After": "1"}, file: dir + "/error_429.json"}
	case bytes.Contains(body, []byte("__status_400__")):
		return canned{status: 400, file: dir + "/error_400.json"}
	case bytes.Contains(body, []byte("__stream_error__")):
		return canned{file: dir + "/stream_error.sse"}
	}
	return conversationAnswer(kind, body, c)
}

// conversationAnswer answers as the real APIs would a tool conversation
// and a structured-output request: a tool call while the request offers
// tools and carries no result yet, a text answer once it carries one, a
// JSON text when it asks for structured output.
func conversationAnswer(kind string, body []byte, c canned) canned {
	stream := isStream(body)
	ext := ".json"
	if stream {
		ext = ".sse"
	}
	switch kind {
	case "openai":
		switch {
		case bytes.Contains(body, []byte(`"tool_call_id"`)):
			if !stream {
				return canned{file: "openai/after_tool.json"}
			}
		case bytes.Contains(body, []byte(`"tools"`)):
			return canned{file: "openai/tool_call" + ext}
		case bytes.Contains(body, []byte(`"response_format"`)) && !stream:
			return canned{file: "openai/structured.json"}
		}
	case "anthropic":
		switch {
		case bytes.Contains(body, []byte(`"tool_result"`)):
			if !stream {
				return canned{file: "anthropic/after_tool.json"}
			}
		case bytes.Contains(body, []byte(`"tools"`)):
			return canned{file: "anthropic/tool_use" + ext}
		case bytes.Contains(body, []byte(`"output_config"`)) && !stream:
			return canned{file: "anthropic/structured.json"}
		}
	}
	return c
}

func (f *fakes) answer(w http.ResponseWriter, r *http.Request, c canned) {
	if c.entered != nil {
		close(c.entered)
	}
	if c.block != nil && !c.streamThenBlock {
		select {
		case <-c.block:
		case <-r.Context().Done():
			if c.canceled != nil {
				close(c.canceled)
			}
			return
		}
	}
	body := []byte(c.body)
	if c.file != "" {
		// Not fixture(f.t, …): f.t may be a fuzz target's *testing.F, whose
		// methods may not be called once it fuzzes. A missing file shows as
		// a 500 the test sees.
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", "upstream", c.file)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	for k, v := range c.header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		if strings.HasSuffix(c.file, ".sse") {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
	}
	w.WriteHeader(max(c.status, http.StatusOK))
	if c.streamThenBlock {
		// Everything but the terminator, then hold the stream open.
		i := bytes.LastIndex(body, []byte("data: [DONE]"))
		if i < 0 {
			i = bytes.LastIndex(body, []byte("event: message_stop"))
		}
		_, _ = w.Write(body[:i])
		http.NewResponseController(w).Flush()
		select {
		case <-c.block:
			_, _ = w.Write(body[i:])
		case <-r.Context().Done():
			if c.canceled != nil {
				close(c.canceled)
			}
		}
		return
	}
	_, _ = w.Write(body)
}

// fixture reads testdata/upstream/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "upstream", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testServer is a Server on an httptest server, its store and fakes.
type testServer struct {
	*Server
	url   string
	store *sqlite.Store
	set   *gateway.Set
	fakes *fakes
	logs  *syncBuffer
}

type serverSetup struct {
	gateways []gateway.Config // besides "default", which has the zero config
	template gateway.Config
	env      map[string]string
	opts     func(*Options)
}

// newTestServer starts a server over a fresh SQLite store with every
// upstream on the fakes.
func newTestServer(t testing.TB, setup serverSetup) *testServer {
	t.Helper()
	f := newFakes(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	set, err := gateway.NewSet(st, setup.gateways, setup.template, gateway.WithLogger(log), gateway.WithJitter(func(int64) int64 { return 0 }))
	if err != nil {
		t.Fatal(err)
	}
	env := f.env()
	for k, v := range setup.env {
		env[k] = v
	}
	cfg := config.Default()
	for _, g := range setup.gateways {
		cfg.AI.Gateways = append(cfg.AI.Gateways, config.Gateway{ID: g.ID})
	}
	if _, ok := cfg.GatewayByID("my-gateway"); !ok {
		// The gateway of the tests' Cloudflare paths (cfBase), with the
		// template's settings when the test gives it none of its own;
		// "default" stays the default.
		if len(cfg.AI.Gateways) == 0 {
			cfg.AI.Gateways = append(cfg.AI.Gateways, config.Gateway{ID: gateway.DefaultID})
		}
		cfg.AI.Gateways = append(cfg.AI.Gateways, config.Gateway{ID: "my-gateway"})
	}
	opts := Options{
		Store:        st,
		Gateways:     set,
		Config:       cfg,
		Env:          config.MapEnv(env),
		Logger:       log,
		EnsemblesDir: filepath.Join("testdata", "ensembles"),
		Now:          func() time.Time { return time.Unix(1700000000, 0) },
	}
	if setup.opts != nil {
		setup.opts(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	ts := &testServer{Server: s, url: hs.URL, store: st, set: set, fakes: f, logs: logs}
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := set.Close(ctx); err != nil {
			t.Errorf("closing the gateways: %v", err)
		}
		st.Close()
	})
	return ts
}

// flushLogs writes the gateways' queued log rows and returns the newest.
func (ts *testServer) flushLogs(t *testing.T) []conductor.LogRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.set.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := ts.store.RecentLogs(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// post sends body to path with headers and returns the answer, its body
// read.
func (ts *testServer) post(t *testing.T, path, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return postTo(t, ts.url+path, body, headers...)
}

func postTo(t *testing.T, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// sseEvent is one event of an answer stream.
type sseEvent struct {
	Name string
	Data string
}

// parseSSE splits a text/event-stream body into events (one data line
// each, as the server writes them).
func parseSSE(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	var ev sseEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Data != "" || ev.Name != "" {
				out = append(out, ev)
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.Data = strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, ":"):
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if ev.Data != "" {
		t.Fatalf("stream ended inside an event: %+v", ev)
	}
	return out
}

// jsonOf decodes s into a generic value.
func jsonOf(t *testing.T, s []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

// path walks a decoded JSON value: keys for objects, indexes for arrays.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func oneAttempt() []string { return []string{"cf-aig-max-attempts", "1"} }

// local makes a handler-level request look like one a local client sends:
// Host names the loopback address (httptest.NewRequest says example.com,
// which a server without tokens refuses) and the body is declared JSON.
func local(req *http.Request) {
	req.Host = "127.0.0.1:8787"
	req.Header.Set("Content-Type", "application/json")
}
