package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/store/sqlite"
)

// benchUpstream is a bare OpenAI fake: it answers every request with the
// documented chat completion, reading the body and nothing more, so that
// what a benchmark measures is the caller's side.
func benchUpstream(b *testing.B) *httptest.Server {
	return benchUpstreamOf(b, "openai/chat_completion.json")
}

// benchUpstreamOf answers every request with the fixture file.
func benchUpstreamOf(b *testing.B, file string) *httptest.Server {
	answer := fixture(b, file)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchServer is a server over a real SQLite store whose openai upstream
// is up, with the built-in gateway (request log on, no cache) in front.
func benchServer(b *testing.B, up *httptest.Server) *Server {
	return benchServerEnv(b, map[string]string{"OPENAI_BASE_URL": up.URL + "/v1", "OPENAI_API_KEY": "sk-bench"})
}

// benchServerEnv is benchServer with the providers' environment env.
func benchServerEnv(b *testing.B, env map[string]string) *Server {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "conductor.db"))
	if err != nil {
		b.Fatal(err)
	}
	set, err := gateway.NewSet(st, nil, gateway.Config{}, gateway.WithLogger(discardLogger()))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{
		Store:    st,
		Gateways: set,
		Env:      config.MapEnv(env),
		Logger:   discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = set.Close(ctx)
		st.Close()
	})
	return s
}

var benchBody = []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark."}],"temperature":0.2}`)

// reportCPU reports the process's CPU time per operation (user + system,
// the fake upstream's included): on a shared machine wall time says more
// about the neighbours than about the code. Call it after b.Loop ends,
// with the usage taken before.
func reportCPU(b *testing.B, before syscall.Rusage) {
	var after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil || b.N == 0 {
		return
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

func rusage() syscall.Rusage {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r
}

func post(b *testing.B, c *http.Client, url string, body []byte) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkPassThrough compares a pass-through OpenAI request sent straight
// to the upstream with the same request through the server: "handler"
// calls the server's handler in process (the server's own work plus its
// upstream call), "http" adds the caller's loopback hop to the server.
// The server's overhead is handler minus direct.
func BenchmarkPassThrough(b *testing.B) {
	up := benchUpstream(b)
	direct := bytes.Replace(benchBody, []byte("openai/gpt-4o-mini"), []byte("gpt-4o-mini"), 1)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		ru := rusage()
		for b.Loop() {
			post(b, client, up.URL+"/v1/chat/completions", direct)
		}
		reportCPU(b, ru)
	})
	b.Run("handler", func(b *testing.B) {
		h := benchServer(b, up).Handler()
		benchHandler(b, h, "/v1/chat/completions", benchBody)
	})
	b.Run("handler-no-gateway", func(b *testing.B) {
		// The server's own work alone: a Resolve hook hands out the bare
		// adapter, so no gateway stands between (fields are re-encoded).
		bare := openai.New(provider.Endpoint{BaseURL: up.URL + "/v1", APIKey: "sk-bench"})
		s := benchServer(b, up)
		s.opts.Resolve = func(string) (conductor.Provider, bool) { return bare, true }
		h := s.Handler()
		body := bytes.Replace(benchBody, []byte("openai/gpt-4o-mini"), []byte("bare"), 1)
		benchHandler(b, h, "/v1/chat/completions", body)
	})
	b.Run("server-only", func(b *testing.B) {
		// No upstream at all: an instant provider, so what is left is the
		// server's own work (auth, body, options, answer, access log).
		answer := &conductor.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o-mini", Content: conductor.Texts("Hello! How can I assist you today?"),
			FinishReason: "stop", Usage: conductor.Usage{InputTokens: 19, OutputTokens: 10}}
		s := benchServer(b, up)
		s.opts.Resolve = func(string) (conductor.Provider, bool) { return instant{answer}, true }
		h := s.Handler()
		body := bytes.Replace(benchBody, []byte("openai/gpt-4o-mini"), []byte("instant"), 1)
		benchHandler(b, h, "/v1/chat/completions", body)
	})
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(benchServer(b, up).Handler())
		defer srv.Close()
		b.ReportAllocs()
		ru := rusage()
		for b.Loop() {
			post(b, client, srv.URL+"/v1/chat/completions", benchBody)
		}
		reportCPU(b, ru)
	})
}

// BenchmarkPassThroughAnthropic is BenchmarkPassThrough's server-only case
// for an Anthropic client: a Messages body on /v1/messages to an instant
// provider, so what is measured is the server's own work in that format.
func BenchmarkPassThroughAnthropic(b *testing.B) {
	answer := &conductor.ChatResponse{ID: "msg_1", Model: "claude-sonnet-4-5", Content: conductor.Texts("Hello! How can I assist you today?"),
		FinishReason: "stop", Usage: conductor.Usage{InputTokens: 19, OutputTokens: 10}}
	s := benchServer(b, benchUpstream(b))
	s.opts.Resolve = func(string) (conductor.Provider, bool) { return instant{answer}, true }
	h := s.Handler()
	body := []byte(`{"model":"instant","max_tokens":1024,"system":"You are terse.","messages":[{"role":"user","content":"Say hello to the benchmark."}],"temperature":0.2}`)
	b.Run("server-only", func(b *testing.B) {
		b.ReportAllocs()
		ru := rusage()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
			req.Header.Set("anthropic-version", "2023-06-01")
			local(req)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
			}
		}
		reportCPU(b, ru)
	})
}

// BenchmarkTranslatedTools is an OpenAI client's tool conversation (two
// tools, an assistant turn with text and two tool calls, their two results,
// a follow-up) served by Anthropic, answered with a tool_use: "direct" posts
// the translated Messages body straight to the fake Anthropic, "handler"
// sends the OpenAI body through the server, which translates the request,
// the gateway, the answer back. The server's overhead is handler minus
// direct.
func BenchmarkTranslatedTools(b *testing.B) {
	up := benchUpstreamOf(b, "anthropic/tool_use.json")
	body, err := os.ReadFile("../provider/testdata/conformance/requests/parallel-tool-results.openai.json")
	if err != nil {
		b.Fatal(err)
	}
	req, err := openai.DecodeRequest(body)
	if err != nil {
		b.Fatal(err)
	}
	body, err = rewriteModel(body, "anthropic/claude-sonnet-4-5")
	if err != nil {
		b.Fatal(err)
	}
	req.Provider, req.Model = conductor.ProviderAnthropic, "claude-sonnet-4-5"
	direct, err := anthropic.EncodeRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		ru := rusage()
		for b.Loop() {
			post(b, client, up.URL+"/v1/messages", direct)
		}
		reportCPU(b, ru)
	})
	b.Run("handler", func(b *testing.B) {
		h := benchServerEnv(b, map[string]string{"ANTHROPIC_BASE_URL": up.URL, "ANTHROPIC_API_KEY": "sk-ant-bench"}).Handler()
		benchHandler(b, h, "/v1/chat/completions", body, `"tool_calls"`)
	})
}

// benchHandler posts body to path through h for every b.Loop iteration and
// reports the CPU per request; each answer must be a 200 holding want.
func benchHandler(b *testing.B, h http.Handler, path string, body []byte, want ...string) {
	b.ReportAllocs()
	ru := rusage()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		local(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		for _, w := range want {
			if !bytes.Contains(rec.Body.Bytes(), []byte(w)) {
				b.Fatalf("answer without %s: %s", w, rec.Body.Bytes())
			}
		}
	}
	reportCPU(b, ru)
}

// instant answers at once, the same answer every time.
type instant struct{ resp *conductor.ChatResponse }

func (p instant) Chat(context.Context, *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	r := *p.resp
	return &r, nil
}

func (p instant) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, &conductor.Error{Class: conductor.ClassBadRequest, Message: "no streams"}
}

// BenchmarkLoad is the load harness: many concurrent callers on loopback
// against the server with a fake upstream, for as long as -benchtime says.
// It reports requests per second and latency percentiles.
//
//	go test ./server -run '^$' -bench BenchmarkLoad -benchtime 5s
func BenchmarkLoad(b *testing.B) {
	up := benchUpstream(b)
	srv := httptest.NewServer(benchServer(b, up).Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(16) // 16 callers per CPU
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			post(b, client, srv.URL+"/v1/chat/completions", benchBody)
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
