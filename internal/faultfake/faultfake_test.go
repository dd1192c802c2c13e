package faultfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seen is what a plain HTTP client makes of one answer.
type seen struct {
	status int
	ctype  string
	body   []byte
	err    error // from the request or the body
}

func get(t *testing.T, u *Upstream, path, body string, bound time.Duration) seen {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return seen{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return seen{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b, err: err}
}

// Each fault, in each format, is what its comment says, as a plain client
// sees it.
func TestFaults(t *testing.T) {
	u := New(t, Options{SlowGap: time.Millisecond, HugeBytes: 1 << 20})
	formats := []struct{ provider, path, done string }{
		{"openai", "/v1/chat/completions", "data: [DONE]"},
		{"anthropic", "/v1/messages", "event: message_stop"},
		{"workers-ai", "/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct", "data: [DONE]"},
	}
	const hang = 300 * time.Millisecond
	for _, f := range formats {
		for _, fault := range append(All(), OK) {
			for _, stream := range []bool{false, true} {
				name := f.provider + "/" + string(fault)
				if stream {
					name += "/stream"
				}
				t.Run(name, func(t *testing.T) {
					marker := u.Plan(Plan{Fault: fault, Times: 1, Provider: f.provider})
					body := `{"stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[{"role":"user","content":"` + marker + `"}]}`
					s := get(t, u, f.path, body, hang)
					whole := func() bool {
						if stream {
							return s.err == nil && bytes.Contains(s.body, []byte(f.done))
						}
						return s.err == nil && json.Valid(s.body)
					}
					switch fault {
					case OK, SlowStream, HugeAnswer:
						if s.status != 200 || !whole() {
							t.Errorf("got %d %v (%d bytes), want a whole 200", s.status, s.err, len(s.body))
						}
						if fault == HugeAnswer && len(s.body) < 1<<20 {
							t.Errorf("a huge answer of %d bytes", len(s.body))
						}
					case Status500, Status502, Status503, RateLimited, RateLimitedBare:
						if s.status != map[Fault]int{Status500: 500, Status502: 502, Status503: 503}[fault] && s.status != 429 || !json.Valid(s.body) {
							t.Errorf("got %d %q", s.status, s.body)
						}
					case HangBeforeHeaders:
						if !errors.Is(s.err, context.DeadlineExceeded) || s.status != 0 {
							t.Errorf("got %d %v, want no headers before the deadline", s.status, s.err)
						}
					case HangMidBody, HangBetweenChunks:
						if s.status != 200 || !errors.Is(s.err, context.DeadlineExceeded) {
							t.Errorf("got %d %v, want headers, then no end before the deadline", s.status, s.err)
						}
					case ResetBeforeBody:
						if !errors.Is(s.err, syscall.ECONNRESET) && !errors.Is(s.err, io.EOF) {
							t.Errorf("got %d %v, want a reset", s.status, s.err)
						}
					case ResetMidBody:
						if s.status != 200 || s.err == nil {
							t.Errorf("got %d %v, want headers, then a broken body", s.status, s.err)
						}
					case MalformedJSON:
						if s.status != 200 || (!stream && json.Valid(s.body)) {
							t.Errorf("got %d %q, want a 200 with broken JSON", s.status, s.body)
						}
					case WrongContentType:
						if s.status != 200 || !strings.HasPrefix(s.ctype, "text/html") {
							t.Errorf("got %d %q", s.status, s.ctype)
						}
					case CutStream:
						if s.status != 200 || whole() {
							t.Errorf("got %d %v, want a 200 that does not end whole", s.status, s.err)
						}
					}
					// Times: 1 — the next request with the marker is answered well.
					if s := get(t, u, f.path, body, 5*time.Second); s.status != 200 || s.err != nil {
						t.Errorf("the second request got %d %v, want the documented answer", s.status, s.err)
					}
					if n := u.Count(marker, f.provider); n != 2 {
						t.Errorf("Count = %d, want 2", n)
					}
				})
			}
		}
	}
}

// A plan for another provider leaves a request alone.
func TestPlanProvider(t *testing.T) {
	u := New(t, Options{})
	marker := u.Plan(Plan{Fault: Status500, Provider: "anthropic"})
	s := get(t, u, "/v1/chat/completions", `{"messages":[{"role":"user","content":"`+marker+`"}]}`, 5*time.Second)
	if s.status != 200 {
		t.Errorf("openai got %d, want 200", s.status)
	}
	s = get(t, u, "/v1/messages", `{"messages":[{"role":"user","content":"`+marker+`"}]}`, 5*time.Second)
	if s.status != 500 {
		t.Errorf("anthropic got %d, want 500", s.status)
	}
}
