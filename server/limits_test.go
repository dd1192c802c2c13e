package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/gateway"
)

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.MaxBodyBytes = 1024 }})
	big := `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`
	tests := []struct {
		name   string
		path   string
		chunks bool // no Content-Length: the limit trips while reading
		check  func(t *testing.T, m map[string]any)
	}{
		{"OpenAI with Content-Length", "/v1/chat/completions", false, func(t *testing.T, m map[string]any) {
			if path(m, "error", "code") != "too_large" {
				t.Errorf("%v", m)
			}
		}},
		{"OpenAI chunked", "/v1/chat/completions", true, nil},
		{"Anthropic", "/v1/messages", true, func(t *testing.T, m map[string]any) {
			if path(m, "error", "type") != "request_too_large" {
				t.Errorf("%v", m)
			}
		}},
		{"universal", cfBase, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if tt.chunks {
				body = io.MultiReader(strings.NewReader(big[:500]), strings.NewReader(big[500:]))
			}
			req, _ := http.NewRequest("POST", ts.url+tt.path, body)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tt.check != nil {
				tt.check(t, jsonOf(t, b))
			}
		})
	}
	if n := len(ts.fakes.recorded()); n != 0 {
		t.Errorf("%d calls went upstream", n)
	}
}

func TestRequestDeadline(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.RequestTimeout = 100 * time.Millisecond }})
	entered := make(chan struct{})
	ts.fakes.push("openai", canned{block: make(chan struct{}), entered: entered})
	resp, got := ts.post(t, "/v1/chat/completions", chatBody)
	<-entered
	if resp.StatusCode != http.StatusGatewayTimeout || path(jsonOf(t, got), "error", "type") != "timeout_error" {
		t.Errorf("status %d: %s", resp.StatusCode, got)
	}
}

// A caller that goes away cancels its upstream call, whole or streamed.
func TestDisconnectCancelsUpstream(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		c    canned
	}{
		{"whole", chatBody, canned{}},
		{"mid-stream", `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			canned{file: "openai/stream.sse", streamThenBlock: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			c := tt.c
			c.block, c.entered, c.canceled = make(chan struct{}), make(chan struct{}), make(chan struct{})
			ts.fakes.push("openai", c)
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.url+"/v1/chat/completions", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
			<-c.entered
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("client: %v", err)
			}
			// The fake notices when the server closes the upstream request.
			select {
			case <-c.canceled:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream call was not canceled")
			}
		})
	}
}

func TestOwnLimits(t *testing.T) {
	t.Run("rate limit", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{template: gateway.Config{RateLimit: gateway.RateLimitConfig{Requests: 1, Window: time.Hour}}})
		if r, b := ts.post(t, "/v1/chat/completions", chatBody); r.StatusCode != 200 {
			t.Fatalf("first: %d %s", r.StatusCode, b)
		}
		r, b := ts.post(t, "/v1/chat/completions", chatBody)
		if r.StatusCode != 429 || path(jsonOf(t, b), "error", "code") != "rate_limited" || r.Header.Get("Retry-After") == "" {
			t.Errorf("second: %d Retry-After %q %s", r.StatusCode, r.Header.Get("Retry-After"), b)
		}
		r, b = ts.post(t, "/v1/messages", messagesBody)
		if r.StatusCode != 429 || path(jsonOf(t, b), "error", "type") != "rate_limit_error" {
			t.Errorf("Anthropic format: %d %s", r.StatusCode, b)
		}
	})
	t.Run("budget", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{template: gateway.Config{Budgets: []gateway.Budget{{Scope: gateway.ScopeGateway, Period: gateway.PeriodDay, LimitUSD: 0.000001}}}})
		r, b := ts.post(t, "/v1/chat/completions", chatBody)
		if r.StatusCode != 429 || path(jsonOf(t, b), "error", "code") != "budget_exceeded" ||
			r.Header.Get("Retry-After") == "" || r.Header.Get("x-should-retry") != "false" {
			t.Errorf("%d %v %s", r.StatusCode, r.Header, b)
		}
		if n := ts.fakes.count("openai"); n != 0 {
			t.Errorf("%d calls went upstream over budget", n)
		}
	})
}
