package gateway

import (
	"context"
	"io"
	"net/http/httptrace"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// hanging is an upstream that behaves as an HTTP one does in time: it
// waits `headers` before its first response byte (told to the attempt's
// httptrace hook, as net/http tells it), then `body` before the whole
// answer is read, a byte a second (told to conductor.ReadProgress, as the
// HTTP adapters tell it) unless the body stalls; a stream gives `chunks`
// chunks `gap` apart, then hangs. Every wait ends when the attempt's
// context does.
type hanging struct {
	headers, body, gap time.Duration
	stall              bool // the body's bytes do not come
	chunks             int
	calls              int
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &conductor.Error{Provider: "openai", Class: conductor.ClassNetwork, Message: "request canceled", Err: ctx.Err()}
	}
}

func (h *hanging) open(ctx context.Context) error {
	h.calls++
	if err := sleepCtx(ctx, h.headers); err != nil {
		return err
	}
	if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.GotFirstResponseByte != nil {
		tr.GotFirstResponseByte()
	}
	return nil
}

func (h *hanging) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	if err := h.open(ctx); err != nil {
		return nil, err
	}
	if h.stall {
		if err := sleepCtx(ctx, h.body); err != nil {
			return nil, err
		}
		return answer("slow but whole", 10, 5), nil
	}
	for left := h.body; left > 0; left -= time.Second {
		if err := sleepCtx(ctx, min(left, time.Second)); err != nil {
			return nil, err
		}
		if fn := conductor.ReadProgress(ctx); fn != nil {
			fn()
		}
	}
	return answer("slow but whole", 10, 5), nil
}

func (h *hanging) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	if err := h.open(ctx); err != nil {
		return nil, err
	}
	return &gapStream{ctx: ctx, h: h}, nil
}

type gapStream struct {
	ctx context.Context
	h   *hanging
	n   int
}

func (s *gapStream) Next() (conductor.Chunk, error) {
	if s.n > 0 || s.h.gap > 0 {
		wait := s.h.gap
		if s.n >= s.h.chunks {
			wait = 1000 * time.Hour // stalled
		}
		if err := sleepCtx(s.ctx, wait); err != nil {
			return conductor.Chunk{}, err
		}
	}
	s.n++
	return conductor.Chunk{Delta: "x", Raw: []byte(`{"choices":[{"delta":{"content":"x"}}]}`)}, nil
}

func (s *gapStream) Meta() conductor.ResponseMeta {
	return conductor.ResponseMeta{Provider: conductor.ProviderOpenAI}
}
func (s *gapStream) Close() error { return nil }

// The three deadlines, on the fake clock: the first byte (then a retry,
// then the next route, as for a 5xx), the idle time between chunks, and
// the whole call. Each case says when the call ends and how.
func TestDeadlines(t *testing.T) {
	ok := &double{}
	tests := []struct {
		name     string
		retry    RetryConfig
		route    Deadlines // the hanging route's own ([[model]])
		opts     conductor.CallOptions
		up       *hanging
		stream   bool
		fallback bool // a second route that answers at once
		took     time.Duration
		class    conductor.ErrorClass // "" for an answer
		step     int
		calls    int // calls of the hanging route
	}{
		{name: "hang before headers: retried, then the next route",
			retry: RetryConfig{Timeout: 5 * time.Second, MaxAttempts: 2, Delay: time.Second, Backoff: BackoffConstant},
			up:    &hanging{headers: time.Hour}, fallback: true, took: 11 * time.Second, step: 1, calls: 2},
		{name: "hang before headers, stream: the next route",
			retry: RetryConfig{Timeout: 5 * time.Second, MaxAttempts: 1},
			up:    &hanging{headers: time.Hour}, stream: true, fallback: true, took: 5 * time.Second, step: 1, calls: 1},
		{name: "cf-aig-request-timeout over the gateway's",
			retry: RetryConfig{Timeout: time.Minute, MaxAttempts: 1}, opts: conductor.CallOptions{Timeout: 2 * time.Second},
			up: &hanging{headers: time.Hour}, fallback: true, took: 2 * time.Second, step: 1, calls: 1},
		{name: "hang before headers, last route: a timeout",
			retry: RetryConfig{Timeout: 5 * time.Second, MaxAttempts: 1},
			up:    &hanging{headers: time.Hour}, took: 5 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "default first byte: 60s",
			retry: RetryConfig{MaxAttempts: 1},
			up:    &hanging{headers: time.Hour}, took: DefaultFirstByteTimeout, class: conductor.ClassTimeout, calls: 1},
		{name: "headers in time, a long body: not cut by the first-byte deadline",
			retry: RetryConfig{Timeout: 5 * time.Second},
			up:    &hanging{headers: time.Second, body: 3 * time.Minute}, took: 3*time.Minute + time.Second, calls: 1},
		{name: "a whole answer's body stalls after its headers: idle deadline, retried, then the next route",
			retry: RetryConfig{IdleTimeout: 10 * time.Second, MaxAttempts: 2, Delay: time.Second, Backoff: BackoffConstant},
			up:    &hanging{headers: time.Second, body: time.Hour, stall: true}, fallback: true, took: 23 * time.Second, step: 1, calls: 2},
		{name: "a whole answer's body stalls, last route: a timeout",
			retry: RetryConfig{IdleTimeout: 10 * time.Second, MaxAttempts: 1},
			up:    &hanging{headers: time.Second, body: time.Hour, stall: true}, took: 11 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "stream stalls between chunks: idle deadline",
			retry: RetryConfig{IdleTimeout: 10 * time.Second},
			up:    &hanging{chunks: 3, gap: time.Second}, stream: true, took: 13 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "default idle: 30s",
			up: &hanging{chunks: 1}, stream: true, took: DefaultIdleTimeout, class: conductor.ClassTimeout, calls: 1},
		{name: "chunks that keep coming: the total deadline",
			retry: RetryConfig{IdleTimeout: time.Minute, TotalTimeout: 2 * time.Minute},
			up:    &hanging{chunks: 1 << 30, gap: 20 * time.Second}, stream: true, took: 2 * time.Minute, class: conductor.ClassTimeout, calls: 1},
		// Per route ([[model]] request_timeout, idle_timeout, total_timeout)
		// and per request (cf-aig-request-timeout, conductor-idle-timeout,
		// conductor-total-timeout): the call's over the route's over the
		// gateway's.
		{name: "route first byte over the gateway's",
			retry: RetryConfig{Timeout: time.Minute, MaxAttempts: 1}, route: Deadlines{FirstByte: 3 * time.Second},
			up: &hanging{headers: time.Hour}, fallback: true, took: 3 * time.Second, step: 1, calls: 1},
		{name: "cf-aig-request-timeout over the route's",
			retry: RetryConfig{MaxAttempts: 1}, route: Deadlines{FirstByte: 30 * time.Second}, opts: conductor.CallOptions{Timeout: 2 * time.Second},
			up: &hanging{headers: time.Hour}, fallback: true, took: 2 * time.Second, step: 1, calls: 1},
		{name: "route idle over the gateway's",
			retry: RetryConfig{IdleTimeout: time.Minute}, route: Deadlines{Idle: 5 * time.Second},
			up: &hanging{chunks: 3, gap: time.Second}, stream: true, took: 8 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "conductor-idle-timeout over the route's",
			route: Deadlines{Idle: 30 * time.Second}, opts: conductor.CallOptions{IdleTimeout: 4 * time.Second},
			up: &hanging{chunks: 3, gap: time.Second}, stream: true, took: 7 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "route idle off",
			retry: RetryConfig{IdleTimeout: 5 * time.Second, TotalTimeout: time.Minute}, route: Deadlines{Idle: -1},
			up: &hanging{chunks: 1}, stream: true, took: time.Minute, class: conductor.ClassTimeout, calls: 1},
		{name: "route total: its retries spent, the next route",
			retry: RetryConfig{Timeout: 10 * time.Second, MaxAttempts: 5, Delay: time.Second, Backoff: BackoffConstant}, route: Deadlines{Total: 15 * time.Second},
			up: &hanging{headers: time.Hour}, fallback: true, took: 15 * time.Second, step: 1, calls: 2},
		{name: "route total: a long whole answer, the next route",
			retry: RetryConfig{MaxAttempts: 1}, route: Deadlines{Total: 20 * time.Second},
			up: &hanging{headers: time.Second, body: time.Hour}, fallback: true, took: 20 * time.Second, step: 1, calls: 1},
		{name: "route total: a stream that began fails",
			retry: RetryConfig{IdleTimeout: time.Minute}, route: Deadlines{Total: 45 * time.Second},
			up: &hanging{chunks: 1 << 30, gap: 10 * time.Second}, stream: true, fallback: true, took: 45 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "conductor-total-timeout over the gateway's",
			retry: RetryConfig{MaxAttempts: 1}, opts: conductor.CallOptions{TotalTimeout: 30 * time.Second},
			up: &hanging{headers: time.Second, body: time.Hour}, fallback: true, took: 30 * time.Second, class: conductor.ClassTimeout, calls: 1},
		{name: "a whole answer past the total deadline",
			retry: RetryConfig{TotalTimeout: 90 * time.Second, MaxAttempts: 1},
			up:    &hanging{headers: time.Second, body: time.Hour}, fallback: true, took: 90 * time.Second, class: conductor.ClassTimeout, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g, _, stop := start(t, Config{Retry: tt.retry})
				defer stop()
				var fallbacks []Route
				if tt.fallback {
					fallbacks = []Route{{Provider: conductor.ProviderAnthropic, Model: "claude-3-5-haiku-latest", P: ok}}
				}
				p := g.WrapRoutes(append([]Route{{P: tt.up, Deadlines: tt.route}}, fallbacks...)...)
				req := chatReq("q")
				req.Options = tt.opts
				began := time.Now()
				var (
					err  error
					step int
				)
				if tt.stream {
					var s conductor.Stream
					if s, err = p.Stream(t.Context(), req); err == nil {
						step = s.Meta().Step
						for err == nil {
							_, err = s.Next()
						}
						if err == io.EOF {
							err = nil
						}
						s.Close()
					}
				} else {
					var resp *conductor.ChatResponse
					if resp, err = p.Chat(t.Context(), req); err == nil {
						step = resp.Meta.Step
					}
				}
				if took := time.Since(began); took != tt.took {
					t.Errorf("the call took %v, want %v", took, tt.took)
				}
				if class(err) != tt.class {
					t.Errorf("err %v (class %q), want class %q", err, class(err), tt.class)
				}
				if tt.class == "" && step != tt.step {
					t.Errorf("answered by step %d, want %d", step, tt.step)
				}
				if e, isErr := conductor.AsError(err); isErr && tt.class == conductor.ClassTimeout {
					if status, _ := errorStatus(e); status != 504 {
						t.Errorf("a timeout logged as %d, want 504", status)
					}
				}
				if tt.up.calls != tt.calls {
					t.Errorf("the hanging route was called %d times, want %d", tt.up.calls, tt.calls)
				}
			})
		})
	}
}
