package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

// BenchmarkAccept is the first step of the request path: a kept-alive
// caller's request read by net/http through the server's middleware
// (access log, origin guard, routing) and answered. "healthz" is that
// alone; "chat-instant" adds the rest of the server's own work (auth, body,
// options, answer) over loopback with an instant provider, so that
// chat-instant minus PassThrough/server-only is the HTTP hop. Step by
// step (BENCHMARKS.md, "The request path, step by step"):
//
//	go test ./server -run '^$' -bench 'Accept|PassThrough/server-only' -benchmem
func BenchmarkAccept(b *testing.B) {
	up := benchUpstream(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func(b *testing.B, url string) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("healthz", func(b *testing.B) {
		srv := httptest.NewServer(benchServer(b, up).Handler())
		defer srv.Close()
		b.ReportAllocs()
		ru := rusage()
		for b.Loop() {
			get(b, srv.URL+"/healthz")
		}
		reportCPU(b, ru)
	})
	b.Run("chat-instant", func(b *testing.B) {
		answer := &conductor.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o-mini", Content: conductor.Texts("Hello! How can I assist you today?"),
			FinishReason: "stop", Usage: conductor.Usage{InputTokens: 19, OutputTokens: 10}}
		s := benchServer(b, up)
		s.opts.Resolve = func(string) (conductor.Provider, bool) { return instant{answer}, true }
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		body := bytes.Replace(benchBody, []byte("openai/gpt-4o-mini"), []byte("instant"), 1)
		b.ReportAllocs()
		ru := rusage()
		for b.Loop() {
			post(b, client, srv.URL+"/v1/chat/completions", body)
		}
		reportCPU(b, ru)
	})
}

// BenchmarkReadBody is the first thing the server does with a chat: read
// the caller's body (1 KB and 64 KB prompts).
//
//	go test ./server -run '^$' -bench ReadBody -benchmem
func BenchmarkReadBody(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		body := bytes.Repeat([]byte("x"), n)
		b.Run(fmt.Sprintf("%dKB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
				got, err := readBody(req)
				if err != nil || len(got) != n {
					b.Fatalf("read %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkRewriteModel is the pass-through's one change to the caller's
// body: the model name, found by scanning the top level (1 KB and 64 KB
// prompts).
//
//	go test ./server -run '^$' -bench RewriteModel -benchmem
func BenchmarkRewriteModel(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		body := []byte(`{"model":"openai/gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"` +
			strings.Repeat(`the quick brown fox says \"hi\" `, n/32) + `"}]}`)
		b.Run(fmt.Sprintf("%dKB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := rewriteModel(body, "gpt-4o-mini"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
