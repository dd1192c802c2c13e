package server

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/gateway"
)

// TestStreamFlushesWhileUpstreamWaits: the server gathers chunks that
// arrived together into one write, but what it has is at the caller while
// the upstream waits before its next event. The fake writes every event but
// the terminator (or only the first one), then holds the stream until the
// caller has read them all; a server holding a chunk back would hang here.
func TestStreamFlushesWhileUpstreamWaits(t *testing.T) {
	firstOnly := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"First"},"finish_reason":null}]}` +
		"\n\ndata: [DONE]\n\n"
	for _, tt := range []struct {
		name     string
		template gateway.Config
		upstream string
		c        canned
		path     string
		body     string
		before   string // the last thing the caller reads while the upstream waits
		end      string
	}{
		{name: "openai passed through", upstream: "openai", c: canned{file: "openai/stream.sse"},
			path: "/v1/chat/completions", body: `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			before: `"finish_reason":"stop"`, end: "data: [DONE]"},
		{name: "the first chunk alone", upstream: "openai", c: canned{body: firstOnly, header: map[string]string{"Content-Type": "text/event-stream"}},
			path: "/v1/chat/completions", body: `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			before: `"content":"First"`, end: "data: [DONE]"},
		{name: "anthropic passed through", upstream: "anthropic", c: canned{file: "anthropic/stream.sse"},
			path: "/v1/messages", body: `{"model":"anthropic/claude-3-5-sonnet-20241022","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			before: "event: message_delta", end: "event: message_stop"},
		{name: "anthropic translated for an openai caller", upstream: "anthropic", c: canned{file: "anthropic/stream.sse"},
			path: "/v1/chat/completions", body: `{"model":"anthropic/claude-3-5-sonnet-20241022","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			before: `"content":"!"`, end: "data: [DONE]"},
		{name: "through the cache", template: gateway.Config{CacheTTL: time.Hour}, upstream: "openai", c: canned{file: "openai/stream.sse"},
			path: "/v1/chat/completions", body: `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			before: `"finish_reason":"stop"`, end: "data: [DONE]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{template: tt.template})
			release := make(chan struct{})
			c := tt.c
			c.block, c.streamThenBlock = release, true
			ts.fakes.push(tt.upstream, c)
			// A guard against a hang, not a timing: the test fails only if
			// the server never sends what it has.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			readUntil := func(want string) string {
				t.Helper()
				var got strings.Builder
				for !strings.Contains(got.String(), want) {
					line, err := r.ReadString('\n')
					got.WriteString(line)
					if err != nil {
						t.Fatalf("before %q: %v (read %q)", want, err, got.String())
					}
				}
				return got.String()
			}
			if got := readUntil(tt.before); strings.Contains(got, tt.end) {
				t.Fatalf("the stream ended before the upstream did: %q", got)
			}
			close(release) // only now does the upstream send its terminator
			readUntil(tt.end)
		})
	}
}
