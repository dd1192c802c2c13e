package server

import (
	"strings"
	"testing"
)

// A cf-aig-request-timeout expiry moves on to the next route of a
// [[model]] chain, as Cloudflare's docs say ("504, or the next fallback"):
// the first route never answers, the second does, and the caller gets
// its answer with cf-aig-step 1. (A real 100 ms deadline: the fake
// upstream is an HTTP server; the gateway's own tests hold every deadline
// on a fake clock.)
func TestRequestTimeoutFallsBack(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) {
		o.Models = map[string][]string{"chain": {"openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022"}}
	}})
	block := make(chan struct{})
	defer close(block)
	ts.fakes.push("openai", canned{block: block, entered: make(chan struct{}, 1)})
	resp, b := ts.post(t, "/v1/chat/completions", `{"model":"chain","messages":[{"role":"user","content":"Hi"}]}`,
		"cf-aig-request-timeout", "100", "cf-aig-max-attempts", "1")
	if resp.StatusCode != 200 || resp.Header.Get("cf-aig-step") != "1" {
		t.Fatalf("status %d, step %q: %s", resp.StatusCode, resp.Header.Get("cf-aig-step"), b)
	}
	if n := ts.fakes.count("anthropic"); n != 1 {
		t.Errorf("%d calls reached the second route", n)
	}
}

// A [[model]]'s request_timeout holds its routes: the first never
// answers, its own 100 ms deadline (the gateway's is 60 s) moves the call
// on to the second. And conductor-total-timeout bounds the whole call.
func TestModelRequestTimeout(t *testing.T) {
	ts := configServer(t, `
[[ai.gateway]]
id = "default"
max_attempts = 1

[[model]]
name = "chain"
routes = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022"]
request_timeout = "100ms"
`, nil)
	block := make(chan struct{})
	defer close(block)
	ts.fakes.push("openai", canned{block: block})
	resp, b := ts.post(t, "/v1/chat/completions", `{"model":"chain","messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("cf-aig-step") != "1" {
		t.Fatalf("status %d, step %q: %s", resp.StatusCode, resp.Header.Get("cf-aig-step"), b)
	}
	ts.fakes.push("openai", canned{block: block})
	resp, b = ts.post(t, "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`,
		"conductor-total-timeout", "100")
	if resp.StatusCode != 504 || !strings.Contains(string(b), "total deadline of 100ms") {
		t.Errorf("conductor-total-timeout: %d %s, want 504", resp.StatusCode, b)
	}
}

// The universal endpoint's steps share one bound on upstream calls: 16
// failing steps of 5 attempts each make MaxUniversalAttempts calls, not 80,
// and the caller gets the last failure.
func TestUniversalAttemptsBounded(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	for range 80 {
		ts.fakes.push("openai", canned{status: 500, file: "openai/error_500.json"})
	}
	step := `{"provider":"openai","endpoint":"chat/completions","headers":{"cf-aig-max-attempts":"5"},` +
		`"query":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}}`
	body := "[" + step
	for range 15 {
		body += "," + step
	}
	body += "]"
	resp, b := ts.post(t, cfBase, body)
	if resp.StatusCode != 502 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if n := ts.fakes.count("openai"); n != MaxUniversalAttempts {
		t.Errorf("%d upstream calls for one request, want %d", n, MaxUniversalAttempts)
	}
}
