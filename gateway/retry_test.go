package gateway

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"
)

func serverError() error {
	return &conductor.Error{Provider: "openai", Class: conductor.ClassServer, Status: 500, Retryable: true, Message: "boom"}
}

// The OpenAI fake answers 429 with Retry-After: 3, then 200: the gateway
// waits exactly the 3 seconds (fake time) before its second attempt.
func TestRetryHonoursRetryAfterOverHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limited, ok := testdata(t, "error_429.json"), testdata(t, "chat_completion.json")
		var calls []time.Time
		client, stopNet := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls = append(calls, time.Now())
			w.Header().Set("Content-Type", "application/json")
			if len(calls) == 1 {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write(limited)
				return
			}
			w.Write(ok)
		}))
		defer stopNet()
		up := openai.New(provider.Endpoint{Name: "openai", BaseURL: "http://fake/v1", APIKey: "sk-test", Client: client})
		// Jitter at its maximum: the backoff alone would wait 10ms.
		g, st, stop := start(t, Config{Retry: RetryConfig{Delay: 10 * time.Millisecond}}, WithJitter(func(n int64) int64 { return n - 1 }))
		defer stop()
		resp, err := g.Wrap(up).Chat(t.Context(), chatReq("Hello"))
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 {
			t.Fatalf("%d upstream calls, want 2", len(calls))
		}
		if wait := calls[1].Sub(calls[0]); wait != 3*time.Second {
			t.Fatalf("waited %v between attempts, want Retry-After's 3s", wait)
		}
		if resp.Meta.Attempts != 2 || resp.Text() != "Hello! How can I assist you today?" {
			t.Fatalf("resp %+v", resp)
		}
		stop()
		if rows := logs(t, st); len(rows) != 1 || rows[0].Attempts != 2 || !rows[0].Success || rows[0].InputTokens != 19 {
			t.Fatalf("rows %+v", rows)
		}
	})
}

// The waits between attempts follow the backoff shape; a Retry-After
// longer than the backoff wins.
func TestRetryBackoff(t *testing.T) {
	tests := []struct {
		name       string
		retry      RetryConfig
		opts       conductor.CallOptions
		retryAfter time.Duration
		jitter     func(int64) int64
		waits      []time.Duration
	}{
		{"exponential, full jitter at max", RetryConfig{MaxAttempts: 5, Delay: time.Second}, conductor.CallOptions{},
			0, func(n int64) int64 { return n - 1 }, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"exponential, full jitter at zero", RetryConfig{MaxAttempts: 3, Delay: time.Second}, conductor.CallOptions{},
			0, func(int64) int64 { return 0 }, []time.Duration{0, 0}},
		{"exponential, capped", RetryConfig{MaxAttempts: 5, Delay: time.Second, MaxDelay: 3 * time.Second}, conductor.CallOptions{},
			0, func(n int64) int64 { return n - 1 }, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"linear from the call", RetryConfig{}, conductor.CallOptions{Backoff: BackoffLinear, RetryDelay: time.Second, MaxAttempts: 4},
			0, nil, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}},
		{"constant from the call", RetryConfig{}, conductor.CallOptions{Backoff: BackoffConstant, RetryDelay: 2 * time.Second},
			0, nil, []time.Duration{2 * time.Second, 2 * time.Second}},
		{"retry delay capped at 5s", RetryConfig{}, conductor.CallOptions{Backoff: BackoffConstant, RetryDelay: time.Minute},
			0, nil, []time.Duration{5 * time.Second, 5 * time.Second}},
		{"retry-after over backoff", RetryConfig{Backoff: BackoffConstant, Delay: time.Second}, conductor.CallOptions{},
			7 * time.Second, nil, []time.Duration{7 * time.Second, 7 * time.Second}},
		{"attempts capped at 5", RetryConfig{Backoff: BackoffConstant, Delay: time.Second}, conductor.CallOptions{MaxAttempts: 9},
			0, nil, []time.Duration{time.Second, time.Second, time.Second, time.Second}},
		{"one attempt: no retry", RetryConfig{MaxAttempts: 1}, conductor.CallOptions{},
			0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var at []time.Time
				up := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
					at = append(at, time.Now())
					e := serverError().(*conductor.Error)
					e.RetryAfter = tt.retryAfter
					return nil, e
				}}
				var opts []Option
				if tt.jitter != nil {
					opts = append(opts, WithJitter(tt.jitter))
				}
				g, _, _ := start(t, Config{Retry: tt.retry}, opts...)
				req := chatReq("q")
				req.Options = tt.opts
				_, err := g.Wrap(up).Chat(t.Context(), req)
				if class(err) != conductor.ClassServer {
					t.Fatalf("err %v", err)
				}
				var waits []time.Duration
				for i := 1; i < len(at); i++ {
					waits = append(waits, at[i].Sub(at[i-1]))
				}
				if !slices.Equal(waits, tt.waits) {
					t.Fatalf("waits %v, want %v", waits, tt.waits)
				}
			})
		})
	}
}

func TestRetryJitterIsBounded(t *testing.T) {
	g := &Gateway{jitter: func(n int64) int64 { return n - 1 }}
	p := retryPolicy{delay: 100 * time.Millisecond, maxDelay: time.Second, backoff: BackoffExponential}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		if got := g.wait(p, n, serverError()); got != want {
			t.Errorf("attempt %d: max wait %v, want %v", n, got, want)
		}
	}
	g.jitter = func(int64) int64 { return 0 }
	if got := g.wait(p, 3, serverError()); got != 0 {
		t.Errorf("min wait %v, want 0", got)
	}
}

// Only retryable failures are retried.
func TestRetryOnlyRetryable(t *testing.T) {
	tests := []struct {
		err      error
		attempts int
	}{
		{&conductor.Error{Class: conductor.ClassBadRequest, Status: 400}, 1},
		{&conductor.Error{Class: conductor.ClassAuth, Status: 401}, 1},
		{&conductor.Error{Class: conductor.ClassQuota, Status: 429}, 1},
		{&conductor.Error{Class: conductor.ClassRateLimited, Status: 429, Retryable: true}, 3},
		{&conductor.Error{Class: conductor.ClassNetwork, Retryable: true}, 3},
		{&conductor.Error{Class: conductor.ClassTimeout, Status: 504, Retryable: true}, 3},
		{context.Canceled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
					return nil, tt.err
				}}
				g, st, stop := start(t, Config{})
				_, err := g.Wrap(up).Chat(t.Context(), chatReq("q"))
				if err == nil || int(up.calls.Load()) != tt.attempts {
					t.Fatalf("err %v after %d attempts, want %d", err, up.calls.Load(), tt.attempts)
				}
				stop()
				if rows := logs(t, st); len(rows) != 1 || rows[0].Attempts != tt.attempts || rows[0].Success {
					t.Fatalf("rows %+v", rows)
				}
			})
		})
	}
}

// No retry starts past the deadline: a Retry-After beyond it ends the
// retrying at once.
func TestRetryDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			return nil, &conductor.Error{Class: conductor.ClassRateLimited, Status: 429, Retryable: true, RetryAfter: time.Minute}
		}}
		g, _, _ := start(t, Config{Retry: RetryConfig{Deadline: 30 * time.Second}})
		begin := time.Now()
		_, err := g.Wrap(up).Chat(t.Context(), chatReq("q"))
		if class(err) != conductor.ClassRateLimited || up.calls.Load() != 1 || time.Since(begin) != 0 {
			t.Fatalf("err %v, %d calls, %v", err, up.calls.Load(), time.Since(begin))
		}
	})
}

// The call's Timeout bounds each attempt; a timed-out attempt is retried.
func TestRetryAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{reply: func(ctx context.Context, _ *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			if n < 3 {
				<-ctx.Done()
				return nil, &conductor.Error{Class: conductor.ClassCanceled, Err: ctx.Err()}
			}
			return answer("late", 1, 1), nil
		}}
		// The gateway's request timeout, when the call sets none.
		g, _, _ := start(t, Config{Retry: RetryConfig{Timeout: 2 * time.Second}}, WithJitter(func(int64) int64 { return 0 }))
		req := chatReq("q")
		begin := time.Now()
		resp, err := g.Wrap(up).Chat(t.Context(), req)
		if err != nil || resp.Meta.Attempts != 3 {
			t.Fatalf("resp %+v err %v", resp, err)
		}
		if d := time.Since(begin); d != 4*time.Second {
			t.Fatalf("took %v, want two 2s timeouts", d)
		}
	})
}

// A stream is retried while it opens; its timeout bounds the wait for its
// headers, not the stream.
func TestRetryStreamOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opened atomic.Int64
		up := &double{stream: func(ctx context.Context, _ *conductor.ChatRequest, n int) (conductor.Stream, error) {
			if n == 1 {
				return nil, serverError()
			}
			opened.Add(1)
			c := newChunks(nil, testChunks()...)
			return &slowStream{Stream: c, ctx: ctx}, nil
		}}
		g, _, _ := start(t, Config{}, WithJitter(func(int64) int64 { return 0 }))
		req := chatReq("q")
		req.Options.Timeout = time.Second
		s, err := g.Wrap(up).Stream(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		if err != nil || len(got) != len(testChunks()) {
			t.Fatalf("chunks %d err %v (the timeout must not cut the stream)", len(got), err)
		}
		if s.Meta().Attempts != 2 {
			t.Fatalf("meta %+v", s.Meta())
		}
	})
}

// slowStream takes 5s per chunk, failing if its context ended.
type slowStream struct {
	conductor.Stream
	ctx context.Context
}

func (s *slowStream) Next() (conductor.Chunk, error) {
	select {
	case <-time.After(5 * time.Second):
	case <-s.ctx.Done():
		return conductor.Chunk{}, &conductor.Error{Class: conductor.ClassCanceled, Err: s.ctx.Err()}
	}
	return s.Stream.Next()
}

// A whole answer's TTFB counts from the request: the failed attempt and the
// backoff wait come before the provider's own time to first byte.
func TestRetryTTFBCountsFromTheRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{reply: func(_ context.Context, _ *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			if n == 1 {
				return nil, serverError()
			}
			time.Sleep(300 * time.Millisecond)
			a := answer("ok", 1, 1)
			a.Meta.TTFB = 100 * time.Millisecond
			return a, nil
		}}
		g, st, stop := start(t, Config{Retry: RetryConfig{MaxAttempts: 2, Backoff: BackoffConstant, Delay: time.Second}})
		if _, err := g.Wrap(up).Chat(t.Context(), chatReq("q")); err != nil {
			t.Fatal(err)
		}
		stop()
		rows := logs(t, st)
		if len(rows) != 1 || rows[0].TTFB != 1100*time.Millisecond || rows[0].Latency != 1300*time.Millisecond || rows[0].Attempts != 2 {
			t.Fatalf("rows %+v, want TTFB 1.1s of 1.3s over 2 attempts", rows)
		}
	})
}
