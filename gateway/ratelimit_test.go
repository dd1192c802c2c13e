package gateway

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Under 500 concurrent requests, a limit of N admits exactly N per window,
// with both window kinds.
func TestRateLimitExactUnderConcurrency(t *testing.T) {
	for _, kind := range []string{conductor.WindowFixed, conductor.WindowSliding} {
		t.Run(kind, func(t *testing.T) {
			const limit, n = 37, 500
			up := &double{}
			g, _, _ := start(t, Config{RateLimit: RateLimitConfig{Requests: limit, Kind: kind}})
			p := g.Wrap(up)
			var admitted, refused atomic.Int64
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					_, err := p.Chat(t.Context(), chatReq("q"))
					if err == nil {
						admitted.Add(1)
						return
					}
					e, ok := conductor.AsError(err)
					if !ok || e.Class != conductor.ClassLimited || e.Status != 429 || e.RetryAfter <= 0 ||
						e.Message != "rate limit 37 requests/minute for gateway gw exceeded" {
						t.Errorf("refusal: %#v", err)
					}
					refused.Add(1)
				})
			}
			wg.Wait()
			if admitted.Load() != limit || refused.Load() != n-limit || up.calls.Load() != limit {
				t.Fatalf("admitted %d refused %d upstream %d, want %d, %d, %d", admitted.Load(), refused.Load(), up.calls.Load(), limit, n-limit, limit)
			}
		})
	}
}

// Fixed windows reset at each minute; sliding ones count the last minute.
func TestRateLimitWindows(t *testing.T) {
	tests := []struct {
		kind string
		// times (from the start) of calls, and whether each is admitted
		at    []time.Duration
		ok    []bool
		after []time.Duration // Retry-After of the refusals, in order
	}{
		{conductor.WindowFixed,
			[]time.Duration{0, 10 * time.Second, 20 * time.Second, 60 * time.Second, 61 * time.Second, 62 * time.Second},
			[]bool{true, true, false, true, true, false},
			[]time.Duration{40 * time.Second, 58 * time.Second}},
		{conductor.WindowSliding,
			[]time.Duration{0, 10 * time.Second, 20 * time.Second, 60 * time.Second, 61 * time.Second, 70 * time.Second},
			[]bool{true, true, false, true, false, true},
			[]time.Duration{40 * time.Second, 9 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g, _, _ := start(t, Config{RateLimit: RateLimitConfig{Requests: 2, Kind: tt.kind}})
				p := g.Wrap(&double{})
				begin := time.Now()
				var afters []time.Duration
				for i, at := range tt.at {
					time.Sleep(begin.Add(at).Sub(time.Now()))
					_, err := p.Chat(t.Context(), chatReq("q"))
					if (err == nil) != tt.ok[i] {
						t.Fatalf("call %d at %v: err %v, want admitted=%v", i, at, err, tt.ok[i])
					}
					if e, ok := conductor.AsError(err); ok {
						afters = append(afters, e.RetryAfter)
					}
				}
				if len(afters) != len(tt.after) || afters[0] != tt.after[0] || afters[1] != tt.after[1] {
					t.Fatalf("Retry-After %v, want %v", afters, tt.after)
				}
			})
		})
	}
}

// Each user has their own limit; the gateway's covers everyone; cache hits
// count as requests.
func TestRateLimitPerUser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, _, _ := start(t, Config{CacheTTL: time.Hour, RateLimit: RateLimitConfig{UserRequests: 2, Requests: 5}})
		up := &double{}
		p := g.Wrap(up)
		call := func(user string) error {
			req := chatReq("same")
			req.Options.User = user
			_, err := p.Chat(t.Context(), req)
			synctest.Wait()
			return err
		}
		for i, c := range []struct {
			user string
			ok   bool
			msg  string
		}{
			{"alice", true, ""},
			{"alice", true, ""}, // a cache hit, still a request
			{"alice", false, "rate limit 2 requests/minute for user alice exceeded"},
			{"bob", true, ""},
			{"bob", true, ""},
			{"", true, ""}, // no user: the gateway's limit only
			{"carol", false, "rate limit 5 requests/minute for gateway gw exceeded"},
		} {
			err := call(c.user)
			if (err == nil) != c.ok {
				t.Fatalf("call %d (%s): %v", i, c.user, err)
			}
			if err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("call %d: message %q, want %q", i, err, c.msg)
			}
		}
		if up.calls.Load() != 1 {
			t.Fatalf("upstream called %d times, want 1 (the rest were hits)", up.calls.Load())
		}
	})
}

// Token limits count what upstreams used; a call is admitted while the
// window's count is below the limit.
func TestRateLimitTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, _, _ := start(t, Config{RateLimit: RateLimitConfig{Tokens: 100}})
		up := &double{reply: func(_ context.Context, _ *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
			return answer("x", 40, 20), nil // 60 tokens
		}}
		p := g.Wrap(up)
		for i, ok := range []bool{true, true, false} {
			_, err := p.Chat(t.Context(), chatReq("q"))
			synctest.Wait() // the count is written off the request path
			if (err == nil) != ok {
				t.Fatalf("call %d: %v", i, err)
			}
			if err != nil && !strings.Contains(err.Error(), "rate limit 100 tokens/minute for gateway gw exceeded") {
				t.Fatalf("message %q", err)
			}
		}
		time.Sleep(time.Minute)
		if _, err := p.Chat(t.Context(), chatReq("q")); err != nil {
			t.Fatalf("next window: %v", err)
		}
		// Streams count their usage when they end.
		time.Sleep(time.Minute)
		for range 20 {
			s, err := p.Stream(t.Context(), chatReq("q"))
			if err != nil {
				if class(err) != conductor.ClassLimited {
					t.Fatal(err)
				}
				return
			}
			readAll(t, s) // 9 tokens each
			synctest.Wait()
		}
		t.Fatal("streams never reached the token limit")
	})
}
