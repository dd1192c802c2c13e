package provider_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"

	conductor "github.com/conductor-go/conductor"
)

// adapterKind builds one of the three adapters at a base URL, with the path
// and fixtures its wire format uses.
type adapterKind struct {
	name   string
	new    func(provider.Endpoint) conductor.Provider
	model  string
	answer string // a whole answer fixture
	stream string // a complete stream fixture
	cut    string // a stream fixture without its terminator
	midErr string // a stream fixture with an error event
	midCls conductor.ErrorClass
}

var kinds = []adapterKind{
	{name: "openai", new: openai.New, model: "gpt-4o", answer: "openai/chat_completion.json", stream: "openai/stream.sse",
		cut: "openai/stream_cut.sse", midErr: "openai/stream_error.sse", midCls: conductor.ClassServer},
	{name: "anthropic", new: anthropic.New, model: "claude-3-5-sonnet-20241022", answer: "anthropic/message.json", stream: "anthropic/stream.sse",
		cut: "anthropic/stream_cut.sse", midErr: "anthropic/stream_error.sse", midCls: conductor.ClassServer},
	{name: "workers-ai", new: workersai.New, model: "@cf/meta/llama-3.1-8b-instruct", answer: "workersai/run.json", stream: "workersai/stream.sse",
		cut: "workersai/stream_cut.sse", midErr: "workersai/stream_error.sse", midCls: conductor.ClassRateLimited},
}

func (k adapterKind) request() *conductor.ChatRequest {
	return &conductor.ChatRequest{Provider: k.name, Model: k.model, Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		kind       string
		status     int
		file       string
		body       string
		header     map[string]string
		class      conductor.ErrorClass
		retryable  bool
		code       string
		message    string // a prefix of the message
		requestID  string
		retryAfter time.Duration
	}{
		// OpenAI, documented bodies.
		{kind: "openai", status: 400, file: "openai/error_400.json", class: conductor.ClassBadRequest, code: "context_length_exceeded",
			message: "This model's maximum context length is 128000 tokens", header: map[string]string{"x-request-id": "req_400"}, requestID: "req_400"},
		{kind: "openai", status: 401, file: "openai/error_401.json", class: conductor.ClassAuth, code: "invalid_api_key", message: "Incorrect API key provided"},
		{kind: "openai", status: 403, file: "openai/error_403.json", class: conductor.ClassAuth, code: "unsupported_country_region_territory", message: "Country, region"},
		{kind: "openai", status: 404, file: "openai/error_404.json", class: conductor.ClassNotFound, code: "model_not_found", message: "The model `gpt-9` does not exist"},
		{kind: "openai", status: 408, body: "", class: conductor.ClassTimeout, retryable: true, message: "Request Timeout"},
		{kind: "openai", status: 413, file: "openai/error_413.html", class: conductor.ClassTooLarge, message: "<html> <head><title>413 Request Entity Too Large"},
		{kind: "openai", status: 429, file: "openai/error_429.json", class: conductor.ClassRateLimited, retryable: true, code: "rate_limit_exceeded",
			message: "Rate limit reached", header: map[string]string{"retry-after": "2", "retry-after-ms": "1770"}, retryAfter: 1770 * time.Millisecond},
		{kind: "openai", status: 429, file: "openai/error_429_quota.json", class: conductor.ClassQuota, code: "insufficient_quota",
			message: "You exceeded your current quota", header: map[string]string{"retry-after": "20"}, retryAfter: 20 * time.Second},
		{kind: "openai", status: 500, file: "openai/error_500.json", class: conductor.ClassServer, retryable: true, code: "server_error", message: "The server had an error"},
		{kind: "openai", status: 502, body: "<html>Bad gateway</html>", class: conductor.ClassServer, retryable: true, message: "<html>Bad gateway</html>"},
		{kind: "openai", status: 503, file: "openai/error_503.json", class: conductor.ClassServer, retryable: true, code: "server_error", message: "The engine is currently overloaded",
			header: map[string]string{"retry-after": "1.5"}, retryAfter: 1500 * time.Millisecond},
		{kind: "openai", status: 504, body: "", class: conductor.ClassTimeout, retryable: true, message: "Gateway Timeout"},
		{kind: "openai", status: 500, file: "openai/error_500.json", header: map[string]string{"x-should-retry": "false"}, class: conductor.ClassServer,
			retryable: false, code: "server_error", message: "The server had an error"},
		{kind: "groq", status: 498, file: "openai/error_groq_498.json", class: conductor.ClassRateLimited, retryable: true, code: "capacity_exceeded", message: "Flex tier capacity exceeded"},
		{kind: "local", status: 404, file: "openai/error_local_404.json", class: conductor.ClassNotFound, message: `model "llama9" not found`},
		// Anthropic.
		{kind: "anthropic", status: 400, file: "anthropic/error_400.json", class: conductor.ClassBadRequest, code: "invalid_request_error",
			message: "messages: roles must alternate", requestID: "req_011CSHoEeqs5C35K2UUqR7Fy"},
		{kind: "anthropic", status: 401, file: "anthropic/error_401.json", class: conductor.ClassAuth, code: "authentication_error", message: "invalid x-api-key",
			requestID: "req_011CSHoEeqs5C35K2UUqR7Fz"},
		{kind: "anthropic", status: 403, file: "anthropic/error_403.json", class: conductor.ClassAuth, code: "permission_error", message: "Your API key does not have permission",
			requestID: "req_011CSHoEeqs5C35K2UUqR7G0"},
		{kind: "anthropic", status: 404, file: "anthropic/error_404.json", class: conductor.ClassNotFound, code: "not_found_error", message: "model: claude-9",
			requestID: "req_011CSHoEeqs5C35K2UUqR7G1"},
		{kind: "anthropic", status: 413, file: "anthropic/error_413.json", class: conductor.ClassTooLarge, code: "request_too_large", message: "Request exceeds",
			header: map[string]string{"request-id": "req_hdr"}, requestID: "req_hdr"},
		{kind: "anthropic", status: 429, file: "anthropic/error_429.json", class: conductor.ClassRateLimited, retryable: true, code: "rate_limit_error",
			message: "This request would exceed the rate limit", header: map[string]string{"retry-after": "30"}, retryAfter: 30 * time.Second,
			requestID: "req_011CSHoEeqs5C35K2UUqR7G2"},
		{kind: "anthropic", status: 500, file: "anthropic/error_500.json", class: conductor.ClassServer, retryable: true, code: "api_error", message: "Internal server error",
			requestID: "req_011CSHoEeqs5C35K2UUqR7G3"},
		{kind: "anthropic", status: 504, file: "anthropic/error_504.json", class: conductor.ClassTimeout, retryable: true, code: "timeout_error", message: "Request timed out",
			requestID: "req_011CSHoEeqs5C35K2UUqR7G4"},
		{kind: "anthropic", status: 529, file: "anthropic/error_529.json", class: conductor.ClassServer, retryable: true, code: "overloaded_error", message: "Overloaded",
			requestID: "req_011CSHoEeqs5C35K2UUqR7G5"},
		// Workers AI: the Cloudflare envelope's errors[] surfaced.
		{kind: "workers-ai", status: 400, file: "workersai/error_400.json", class: conductor.ClassBadRequest, code: "5007",
			message: "No such model @cf/meta/llama-9 or task (code 5007)", header: map[string]string{"cf-ray": "8f1e2d3c4b5a6978-SJC"}, requestID: "8f1e2d3c4b5a6978-SJC"},
		{kind: "workers-ai", status: 401, file: "workersai/error_401.json", class: conductor.ClassAuth, code: "10000", message: "Authentication error (code 10000)"},
		{kind: "workers-ai", status: 401, file: "workersai/error_gateway_401.json", class: conductor.ClassAuth, code: "2009", message: "Unauthorized (code 2009)"},
		{kind: "workers-ai", status: 403, file: "workersai/error_403.json", class: conductor.ClassAuth, code: "5016", message: "AiError: Prior to using this model"},
		{kind: "workers-ai", status: 404, file: "workersai/error_404.json", class: conductor.ClassNotFound, code: "3042", message: "AiError: Invalid model ID"},
		{kind: "workers-ai", status: 408, file: "workersai/error_408.json", class: conductor.ClassTimeout, retryable: true, code: "3007", message: "AiError: Request timeout"},
		{kind: "workers-ai", status: 413, file: "workersai/error_413.json", class: conductor.ClassTooLarge, code: "3006", message: "AiError: Request is too large"},
		{kind: "workers-ai", status: 429, file: "workersai/error_429.json", class: conductor.ClassQuota, code: "3036",
			message: "AiError: You have used up your daily free allocation of 10,000 neurons, please upgrade to Cloudflare's Workers Paid plan if you would like to continue usage. (code 3036); Capacity temporarily exceeded"},
		{kind: "workers-ai", status: 500, file: "workersai/error_500.json", class: conductor.ClassServer, retryable: true, code: "3043", message: "AiError: Internal server error"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.file+tt.body, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range tt.header {
				h[k] = v
			}
			f := newFake(t, reply{Status: tt.status, File: tt.file, Body: tt.body, Header: h})
			p, req := adapterFor(t, tt.kind, f.URL)
			for _, mode := range []string{"chat", "stream"} {
				var err error
				if mode == "chat" {
					_, err = p.Chat(context.Background(), req)
				} else {
					_, err = p.Stream(context.Background(), req)
				}
				e, ok := conductor.AsError(err)
				if !ok {
					t.Fatalf("%s: err = %v, want *conductor.Error", mode, err)
				}
				if e.Provider != tt.kind || e.Status != tt.status || e.Class != tt.class || e.Retryable != tt.retryable ||
					e.Code != tt.code || !strings.HasPrefix(e.Message, tt.message) || e.RequestID != tt.requestID || e.RetryAfter != tt.retryAfter {
					t.Errorf("%s: got %+v\nwant provider=%s status=%d class=%s retryable=%v code=%q message=%q… rid=%q retryAfter=%s",
						mode, *e, tt.kind, tt.status, tt.class, tt.retryable, tt.code, tt.message, tt.requestID, tt.retryAfter)
				}
				if conductor.IsRetryable(err) != tt.retryable {
					t.Errorf("IsRetryable = %v", !tt.retryable)
				}
			}
		})
	}
}

// adapterFor returns the adapter named kind at base, with a request for it.
func adapterFor(t *testing.T, kind, base string) (conductor.Provider, *conductor.ChatRequest) {
	t.Helper()
	ep := provider.Endpoint{Name: kind, BaseURL: base, APIKey: "k"}
	req := &conductor.ChatRequest{Provider: kind, Model: "m", Messages: []conductor.Message{conductor.TextMessage("user", "Hi")}}
	switch kind {
	case "openai", "groq", "local":
		return openai.New(ep), req
	case "anthropic":
		return anthropic.New(ep), req
	case "workers-ai":
		req.Model = "@cf/meta/llama-3.1-8b-instruct"
		return workersai.New(ep), req
	}
	t.Fatalf("no adapter %q", kind)
	return nil, nil
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		header map[string]string
		want   time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{map[string]string{"Retry-After": "0.25"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After": "Wed, 25 Nov 2026 08:00:30 GMT"}, 30 * time.Second},
		{map[string]string{"Retry-After": "Wed, 25 Nov 2026 07:59:00 GMT"}, 0}, // in the past
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": "-3"}, 0},
		{map[string]string{"Retry-After": "1e300"}, 0},
		{map[string]string{"retry-after-ms": "120", "Retry-After": "9"}, 120 * time.Millisecond},
		{map[string]string{"retry-after-ms": "junk", "Retry-After": "9"}, 9 * time.Second},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := provider.RetryAfter(h, now); got != tt.want {
			t.Errorf("retryAfter(%v) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestNetworkErrors(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	// A server that accepts the connection and drops it without answering.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN: a connection reset
			}
			c.Close()
		}
	}()
	resetURL := "http://" + ln.Addr().String()

	for _, k := range kinds {
		for _, tt := range []struct {
			name string
			url  string
		}{{"refused", refusedURL}, {"reset", resetURL}} {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: tt.url})
				_, err := p.Chat(context.Background(), k.request())
				checkClass(t, err, k.name, conductor.ClassNetwork, true)
				_, err = p.Stream(context.Background(), k.request())
				checkClass(t, err, k.name, conductor.ClassNetwork, true)
			})
		}
	}
}

func TestMalformedAnswers(t *testing.T) {
	for _, k := range kinds {
		for _, body := range []string{"not json", `{"id":"x","choices":[{"message":{"content":"cut`, "", `[]`} {
			t.Run(k.name+"/"+body, func(t *testing.T) {
				f := newFake(t, reply{Body: body, Header: map[string]string{"Content-Type": "application/json", "x-request-id": "r1", "request-id": "r1", "cf-ray": "r1"}})
				_, err := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL}).Chat(context.Background(), k.request())
				e := checkClass(t, err, k.name, conductor.ClassMalformed, false)
				if e.Status != 200 || e.RequestID != "r1" {
					t.Errorf("status %d request id %q", e.Status, e.RequestID)
				}
			})
		}
	}
}

func TestStreamCuts(t *testing.T) {
	for _, k := range kinds {
		for _, abrupt := range []bool{false, true} {
			name := k.name + "/clean end before terminator"
			if abrupt {
				name = k.name + "/connection dropped"
			}
			t.Run(name, func(t *testing.T) {
				f := newFake(t, reply{File: k.cut, Stream: !abrupt, Cut: abrupt, Header: map[string]string{"Content-Type": "text/event-stream"}})
				s, err := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL}).Stream(context.Background(), k.request())
				if err != nil {
					t.Fatal(err)
				}
				got := collect(s)
				if got.Chunks == 0 || got.Text == "" {
					t.Errorf("the chunks before the cut were not delivered: %+v", got)
				}
				if got.LastErr == io.EOF {
					t.Fatal("a cut stream ended with io.EOF: a short success")
				}
				e := checkClass(t, got.LastErr, k.name, conductor.ClassStreamCut, true)
				if e.Status != 200 {
					t.Errorf("status = %d", e.Status)
				}
				// The error sticks.
				if _, err := s.Next(); err != got.LastErr {
					t.Errorf("Next after the cut = %v", err)
				}
			})
		}
	}
}

func TestStreamErrorEvents(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			f := newFake(t, reply{File: k.midErr, Stream: true, Header: map[string]string{"Content-Type": "text/event-stream", "x-request-id": "rq", "request-id": "rq", "cf-ray": "rq"}})
			s, err := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL}).Stream(context.Background(), k.request())
			if err != nil {
				t.Fatal(err)
			}
			got := collect(s)
			e := checkClass(t, got.LastErr, k.name, k.midCls, true)
			if got.Text == "" || e.RequestID != "rq" || e.Message == "" {
				t.Errorf("text %q, error %+v", got.Text, e)
			}
		})
	}
}

// A streaming call answered with a JSON error body and status 200 (some
// proxies do this) is an error, not an empty stream.
func TestStreamAnsweredWithJSON(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			f := newFake(t, reply{Body: `{"error":{"message":"upstream unavailable","type":"server_error"}}`, Header: map[string]string{"Content-Type": "application/json"}})
			_, err := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL}).Stream(context.Background(), k.request())
			e := checkClass(t, err, k.name, conductor.ClassProviderFail, false)
			if e.Message != "upstream unavailable" {
				t.Errorf("message %q", e.Message)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// slowBody yields parts with a pause before each but the first, as a
// transport body does: a canceled request context ends the read.
type slowBody struct {
	ctx   context.Context
	parts []string
	gap   time.Duration
	i     int
	buf   string
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.buf == "" {
		if b.i >= len(b.parts) {
			return 0, io.EOF
		}
		if b.i > 0 {
			select {
			case <-time.After(b.gap):
			case <-b.ctx.Done():
				return 0, b.ctx.Err()
			}
		}
		b.buf = b.parts[b.i]
		b.i++
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *slowBody) Close() error { return nil }

func streamAnswer(r *http.Request, gap time.Duration, parts ...string) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: &slowBody{ctx: r.Context(), parts: parts, gap: gap}, Request: r}
}

func TestTimeouts(t *testing.T) {
	hang := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	for _, k := range kinds {
		t.Run(k.name+"/first byte", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: &http.Client{Transport: hang},
					FirstByteTimeout: 2 * time.Second, Timeout: time.Minute})
				start := time.Now()
				_, err := p.Chat(context.Background(), k.request())
				e := checkClass(t, err, k.name, conductor.ClassTimeout, true)
				if d := time.Since(start); d != 2*time.Second {
					t.Errorf("gave up after %s, want 2s", d)
				}
				if !strings.Contains(e.Message, "first-byte timeout of 2s") {
					t.Errorf("message %q", e.Message)
				}
			})
		})
		t.Run(k.name+"/overall, mid-stream", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				first := firstEvent(t, k.stream)
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					return streamAnswer(r, time.Hour, first, "never sent"), nil
				})}
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: client,
					FirstByteTimeout: time.Second, Timeout: 10 * time.Second})
				start := time.Now()
				s, err := p.Stream(context.Background(), k.request())
				if err != nil {
					t.Fatal(err)
				}
				got := collect(s)
				if got.Chunks != 1 {
					t.Errorf("chunks = %d, want the 1 sent before the stall", got.Chunks)
				}
				checkClass(t, got.LastErr, k.name, conductor.ClassTimeout, true)
				if d := time.Since(start); d != 10*time.Second {
					t.Errorf("gave up after %s, want 10s", d)
				}
			})
		})
		t.Run(k.name+"/first-byte bound does not cut a slow stream", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parts := strings.SplitAfter(string(readTestdata(t, k.stream)), "\n\n")
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					return streamAnswer(r, 5*time.Second, parts...), nil
				})}
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: client, FirstByteTimeout: time.Second})
				s, err := p.Stream(context.Background(), k.request())
				if err != nil {
					t.Fatal(err)
				}
				drain(t, s)
			})
		})
		t.Run(k.name+"/caller cancels", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(3*time.Second, cancel)
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: &http.Client{Transport: hang}})
				_, err := p.Chat(ctx, k.request())
				e := checkClass(t, err, k.name, conductor.ClassCanceled, false)
				if !errors.Is(e, context.Canceled) {
					t.Errorf("error does not wrap context.Canceled: %v", e.Err)
				}
			})
		})
		t.Run(k.name+"/caller deadline", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: &http.Client{Transport: hang}})
				_, err := p.Chat(ctx, k.request())
				checkClass(t, err, k.name, conductor.ClassTimeout, true)
			})
		})
	}
}

// firstEvent returns the first event of a stream fixture, blank line
// included.
func firstEvent(t *testing.T, file string) string {
	t.Helper()
	s := string(readTestdata(t, file))
	i := strings.Index(s, "\n\n")
	return s[:i+2]
}

func TestStreamCloseWhileWaiting(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				first := firstEvent(t, k.stream)
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					return streamAnswer(r, time.Hour, first, "never"), nil
				})}
				s, err := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: client}).Stream(context.Background(), k.request())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Next(); err != nil {
					t.Fatal(err)
				}
				time.AfterFunc(time.Second, func() { s.Close() })
				_, err = s.Next()
				checkClass(t, err, k.name, conductor.ClassCanceled, false)
			})
		})
	}
}

// A whole answer whose connection drops halfway is a network error, with
// the status and request id that did arrive.
func TestAnswerCutMidBody(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			half := string(readTestdata(t, k.answer))
			half = half[:len(half)/2]
			f := newFake(t, reply{Body: half, Cut: true, Header: map[string]string{"Content-Type": "application/json",
				"x-request-id": "r2", "request-id": "r2", "cf-ray": "r2"}})
			_, err := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL}).Chat(context.Background(), k.request())
			e := checkClass(t, err, k.name, conductor.ClassNetwork, true)
			if e.Status != 200 || e.RequestID != "r2" || !errors.Is(e, io.ErrUnexpectedEOF) {
				t.Errorf("got %+v", *e)
			}
		})
	}
}

// A server that keeps the connection open after the terminator does not
// hold the stream's end.
func TestStreamEndsAtTerminatorOnOpenConnection(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					return streamAnswer(r, time.Hour, string(readTestdata(t, k.stream)), "never"), nil
				})}
				s, err := k.new(provider.Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: client}).Stream(context.Background(), k.request())
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				drain(t, s)
				if d := time.Since(start); d > provider.DrainTimeout {
					t.Errorf("the end took %s", d)
				}
			})
		})
	}
}
