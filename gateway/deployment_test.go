package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/redis"
)

var errConnRefused = &conductor.Error{Provider: "openai", Class: conductor.ClassNetwork, Retryable: true, Message: "dial tcp: connection refused"}

func server500() error {
	return &conductor.Error{Provider: "openai", Class: conductor.ClassServer, Status: 500, Retryable: true, Message: "The server had an error"}
}

// pool builds a pool over doubles named a, b, c…
func testPool(t testing.TB, cfg PoolConfig, ds ...Deployment) *Pool {
	t.Helper()
	for i := range ds {
		if ds[i].Name == "" {
			ds[i].Name = string(rune('a' + i))
		}
		ds[i].Provider, ds[i].Model = "openai", "gpt-4o-mini"
	}
	if cfg.Name == "" {
		cfg.Name = "fast-chat"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := NewPool(cfg, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestPoolWeights(t *testing.T) {
	a, b, c := &double{}, &double{}, &double{}
	rng := rand.New(rand.NewPCG(1, 2))
	pool := testPool(t, PoolConfig{RandN: rng.IntN},
		Deployment{P: a, Weight: 1}, Deployment{P: b, Weight: 2}, Deployment{P: c, Weight: 7})
	g, _, _ := start(t, Config{})
	p := g.WrapPool(pool)
	for i := range 1000 {
		if _, err := p.Chat(context.Background(), chatReq(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		d    *double
		want int64
	}{{a, 100}, {b, 200}, {c, 700}} {
		// Four standard deviations of a binomial over 1,000 calls.
		if got := tc.d.calls.Load(); got < tc.want-60 || got > tc.want+60 {
			t.Errorf("calls %d, want %d ± 60 (a %d, b %d, c %d)", got, tc.want, a.calls.Load(), b.calls.Load(), c.calls.Load())
		}
	}
}

// least-busy sends a call to the deployment with the fewest in flight.
func TestPoolLeastBusy(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	busy := &double{reply: func(ctx context.Context, _ *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
		entered <- struct{}{}
		<-release
		return answer("slow", 1, 1), nil
	}}
	idle := &double{}
	pool := testPool(t, PoolConfig{Strategy: StrategyLeastBusy}, Deployment{P: busy}, Deployment{P: idle})
	g, _, _ := start(t, Config{})
	p := g.WrapPool(pool)
	var wg sync.WaitGroup
	wg.Go(func() { p.Chat(context.Background(), chatReq("first")) }) // both idle: the first written
	<-entered
	for i := range 20 {
		if _, err := p.Chat(context.Background(), chatReq(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	wg.Wait()
	if busy.calls.Load() != 1 || idle.calls.Load() != 20 {
		t.Errorf("busy %d, idle %d; want 1 and 20", busy.calls.Load(), idle.calls.Load())
	}
}

// latency prefers the faster deployment once both are measured.
func TestPoolLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			time.Sleep(400 * time.Millisecond)
			return answer("slow", 1, 1), nil
		}}
		fast := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			time.Sleep(20 * time.Millisecond)
			return answer("fast", 1, 1), nil
		}}
		rng := rand.New(rand.NewPCG(3, 4))
		pool := testPool(t, PoolConfig{Strategy: StrategyLatency, RandN: rng.IntN}, Deployment{P: slow}, Deployment{P: fast})
		g, _, _ := start(t, Config{})
		p := g.WrapPool(pool)
		for i := range 200 {
			if _, err := p.Chat(context.Background(), chatReq(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		// An unmeasured deployment scores 0 and is tried once; after that
		// the two choices always compare both.
		if slow.calls.Load() > 2 || fast.calls.Load() < 198 {
			t.Errorf("slow %d, fast %d", slow.calls.Load(), fast.calls.Load())
		}
		g.Close(context.Background())
	})
}

// The dead-primary reproduction in the gateway, on the fake clock: the
// dead deployment costs its threshold of failures (5) and then no attempt
// and no backoff wait at all: 100 calls take no time.
func TestPoolDeadPrimaryNoAttemptsNoDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dead := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			return nil, errConnRefused
		}}
		live := &double{}
		pool := testPool(t, PoolConfig{}, Deployment{P: dead, Tier: 1}, Deployment{P: live, Tier: 2})
		g, _, _ := start(t, Config{})
		p := g.WrapPool(pool)
		for i := range 8 {
			resp, err := p.Chat(context.Background(), chatReq(fmt.Sprint(i)))
			if err != nil || resp.Meta.Step != 1 {
				t.Fatalf("call %d: %+v %v", i, resp, err)
			}
		}
		if n := dead.calls.Load(); n != DefaultBreakerFailures {
			t.Fatalf("the dead deployment got %d calls, want its threshold %d", n, DefaultBreakerFailures)
		}
		start := time.Now()
		for i := range 100 {
			resp, err := p.Chat(context.Background(), chatReq(fmt.Sprint("after", i)))
			if err != nil || resp.Meta.Attempts != 1 {
				t.Fatalf("call %d: %+v %v", i, resp, err)
			}
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("100 calls after the breaker opened waited %v on the fake clock, want 0 (no backoff)", waited)
		}
		if n := dead.calls.Load(); n != DefaultBreakerFailures {
			t.Errorf("the dead deployment got %d more calls while open", n-DefaultBreakerFailures)
		}
		g.Close(context.Background())
	})
}

// After the cool-down one probe goes through; its success closes the
// breaker, its failure opens it again; while the probe is out other calls
// go elsewhere without an attempt.
func TestBreakerProbeAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		healthy := false
		probing := make(chan struct{})
		hold := make(chan struct{})
		flaky := &double{reply: func(_ context.Context, _ *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			mu.Lock()
			ok := healthy
			mu.Unlock()
			if !ok {
				return nil, server500()
			}
			if n == 4 { // the successful probe: held until the test saw others pass it by
				close(probing)
				<-hold
			}
			return answer("ok", 1, 1), nil
		}}
		backup := &double{}
		pool := testPool(t, PoolConfig{Breaker: BreakerConfig{Failures: 2, Cooldown: 30 * time.Second}},
			Deployment{P: flaky, Tier: 1}, Deployment{P: backup, Tier: 2})
		g, _, _ := start(t, Config{Retry: RetryConfig{MaxAttempts: 1}})
		p := g.WrapPool(pool)
		call := func() *conductor.ChatResponse {
			t.Helper()
			resp, err := p.Chat(context.Background(), chatReq(fmt.Sprint(time.Now().UnixNano())))
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		call()
		call()
		if s := pool.Status()[0]; s.Breaker != BreakerOpen || flaky.calls.Load() != 2 {
			t.Fatalf("after 2 failures: %+v, %d calls", s, flaky.calls.Load())
		}
		time.Sleep(29 * time.Second)
		call()
		if flaky.calls.Load() != 2 {
			t.Fatalf("a call reached the open deployment before its cool-down")
		}
		time.Sleep(time.Second)
		call() // the probe fails: open for another cool-down
		if s := pool.Status()[0]; s.Breaker != BreakerOpen || flaky.calls.Load() != 3 {
			t.Fatalf("after a failed probe: %+v, %d calls", s, flaky.calls.Load())
		}
		mu.Lock()
		healthy = true
		mu.Unlock()
		time.Sleep(30 * time.Second)
		var wg sync.WaitGroup
		wg.Go(func() { call() })
		<-probing
		before := backup.calls.Load()
		for range 5 {
			if resp := call(); resp.Meta.Step != 1 {
				t.Fatalf("a call while the probe is out went to step %d", resp.Meta.Step)
			}
		}
		if backup.calls.Load() != before+5 || flaky.calls.Load() != 4 {
			t.Fatalf("while probing: backup %d, flaky %d", backup.calls.Load()-before, flaky.calls.Load())
		}
		close(hold)
		wg.Wait()
		if s := pool.Status()[0]; s.Breaker != BreakerClosed {
			t.Fatalf("after a successful probe: %+v", s)
		}
		if resp := call(); resp.Meta.Step != 0 {
			t.Errorf("after recovery the call went to step %d", resp.Meta.Step)
		}
		g.Close(context.Background())
	})
}

// A 429 with Retry-After takes the deployment out until then, without
// a retry waiting for it.
func TestBreakerRetryAfterHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limited := &double{reply: func(_ context.Context, _ *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			if n == 1 {
				return nil, &conductor.Error{Provider: "openai", Class: conductor.ClassRateLimited, Status: 429, Retryable: true, RetryAfter: 20 * time.Second}
			}
			return answer("ok", 1, 1), nil
		}}
		other := &double{}
		pool := testPool(t, PoolConfig{}, Deployment{P: limited}, Deployment{P: other, Tier: 2})
		g, _, _ := start(t, Config{})
		p := g.WrapPool(pool)
		start := time.Now()
		resp, err := p.Chat(context.Background(), chatReq("1"))
		if err != nil || resp.Meta.Step != 1 || time.Since(start) != 0 {
			t.Fatalf("%+v %v after %v: want step 1 at once", resp, err, time.Since(start))
		}
		time.Sleep(19 * time.Second)
		p.Chat(context.Background(), chatReq("2"))
		if limited.calls.Load() != 1 {
			t.Fatalf("a call reached the deployment before its Retry-After")
		}
		time.Sleep(time.Second)
		if resp, _ := p.Chat(context.Background(), chatReq("3")); resp.Meta.Step != 0 {
			t.Errorf("after Retry-After: step %d", resp.Meta.Step)
		}
		g.Close(context.Background())
	})
}

// What counts: 5xx, timeouts, connection errors and 429s; a caller's 400
// does not. The error rate over the window opens the breaker too.
func TestBreakerCounts(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name string
		cfg  BreakerConfig
		errs []error
		open bool
		// callerKey: the calls brought the caller's own key.
		callerKey bool
	}{
		{"caller errors", BreakerConfig{Failures: 3}, []error{
			&conductor.Error{Class: conductor.ClassBadRequest, Status: 400}, &conductor.Error{Class: conductor.ClassNotFound, Status: 404},
			&conductor.Error{Class: conductor.ClassTooLarge, Status: 413}, &conductor.Error{Class: conductor.ClassCanceled}}, false, false},
		{"the deployment's key refused", BreakerConfig{Failures: 2}, []error{
			&conductor.Error{Class: conductor.ClassAuth, Status: 401}, &conductor.Error{Class: conductor.ClassAuth, Status: 403}}, true, false},
		{"a caller's key refused", BreakerConfig{Failures: 2}, []error{
			&conductor.Error{Class: conductor.ClassAuth, Status: 401}, &conductor.Error{Class: conductor.ClassAuth, Status: 401}}, false, true},
		{"5xx", BreakerConfig{Failures: 3}, []error{server500(), server500(), server500()}, true, false},
		{"timeouts and connections", BreakerConfig{Failures: 3}, []error{
			&conductor.Error{Class: conductor.ClassTimeout}, errConnRefused, fmt.Errorf("read: connection reset")}, true, false},
		{"429s", BreakerConfig{Failures: 2}, []error{&conductor.Error{Class: conductor.ClassRateLimited, Status: 429}, &conductor.Error{Class: conductor.ClassRateLimited, Status: 429}}, true, false},
		{"a success resets the count", BreakerConfig{Failures: 2, ErrorRate: -1}, []error{server500(), nil, server500(), nil}, false, false},
		{"error rate", BreakerConfig{Failures: -1, ErrorRate: 0.5, MinRequests: 4}, []error{nil, server500(), nil, server500()}, true, false},
		{"error rate below min requests", BreakerConfig{Failures: -1, ErrorRate: 0.5, MinRequests: 5}, []error{nil, server500(), nil, server500()}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBreaker(tc.cfg, clock, nil)
			for _, err := range tc.errs {
				if !b.allow() {
					t.Fatal("refused before the end")
				}
				b.record(err, !tc.callerKey)
			}
			if got := b.state.Load() == stateOpen; got != tc.open {
				t.Errorf("open = %v, want %v", got, tc.open)
			}
		})
	}
	// The window forgets: failures older than it do not count.
	b := newBreaker(BreakerConfig{Failures: -1, ErrorRate: 0.5, MinRequests: 4, Window: time.Minute}, clock, nil)
	b.record(server500(), true)
	b.record(server500(), true)
	now = now.Add(2 * time.Minute)
	b.record(server500(), true)
	b.record(nil, true)
	b.record(nil, true)
	if b.state.Load() != stateClosed {
		t.Errorf("failures from outside the window opened the breaker")
	}
}

// The pick and the breaker check on the common path: one deployment,
// closed.
func BenchmarkPoolPick(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprint(n, "deployments"), func(b *testing.B) {
			ds := make([]Deployment, n)
			for i := range ds {
				ds[i].P = &double{}
			}
			pool := testPool(b, PoolConfig{}, ds...)
			b.ReportAllocs()
			for b.Loop() {
				var buf [maxOrder]int
				for _, i := range pool.order(buf[:0], nil) {
					if pool.deps[i].br.available() && pool.deps[i].br.allow() {
						break
					}
				}
			}
		})
	}
}

// Active health checks open a dead deployment's breaker with no caller's
// call, and close it again once a check succeeds after the cool-down.
func TestPoolHealthChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		up := false
		d := &double{reply: func(_ context.Context, req *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
			if req.MaxTokens != 1 {
				t.Errorf("a health check asked for %d tokens, want 1", req.MaxTokens)
			}
			mu.Lock()
			defer mu.Unlock()
			if !up {
				return nil, server500()
			}
			return answer("pong", 1, 1), nil
		}}
		pool := testPool(t, PoolConfig{HealthInterval: 10 * time.Second, Breaker: BreakerConfig{Failures: 3, Cooldown: 30 * time.Second}},
			Deployment{P: d})
		time.Sleep(35 * time.Second)
		synctest.Wait()
		if s := pool.Status()[0]; s.Breaker != BreakerOpen || d.calls.Load() != 3 {
			t.Fatalf("after 3 failed checks: %+v, %d checks", s, d.calls.Load())
		}
		mu.Lock()
		up = true
		mu.Unlock()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if s := pool.Status()[0]; s.Breaker != BreakerClosed {
			t.Fatalf("after a successful check past the cool-down: %+v", s)
		}
		pool.Close()
	})
}

// A deployment's rpm counts in the shared store: three instances (each
// its own pool and gateway, on its own Redis connection, as processes
// are) send the key 4 requests in a minute between them, then the other
// deployment serves.
func TestPoolRPMSharedAcrossInstances(t *testing.T) {
	url := testsvc.RedisURL(t)
	prefix := testsvc.Name("gwrpm")
	key, other := &double{}, &double{}
	var ps []conductor.Provider
	for range 3 {
		rs, err := redis.Open(context.Background(), url, redis.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		log := openStore(t, tempDB(t))
		st := store.Combine(rs, rs, log, rs, log)
		g, err := New(Config{ID: "gw", Prices: testPrices{}}, st, WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			g.Close(context.Background())
			rs.Client().Del(context.Background(), rs.Client().Keys(context.Background(), "{"+prefix+"}:*").Val()...)
			st.Close()
		})
		pool := testPool(t, PoolConfig{}, Deployment{Name: "key", P: key, RPM: 4}, Deployment{Name: "other", P: other, Tier: 2})
		ps = append(ps, g.WrapPool(pool))
	}
	// 12 calls take milliseconds: within one fixed minute, but for a
	// boundary crossed between them, which lets at most 4 more through.
	for i := range 12 {
		if _, err := ps[i%3].Chat(context.Background(), chatReq(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := key.calls.Load(); n < 4 || n > 8 {
		t.Errorf("the key got %d calls from 3 instances, want its rpm, 4 (up to 8 across a minute boundary)", n)
	}
	if key.calls.Load()+other.calls.Load() != 12 {
		t.Errorf("calls: key %d, other %d", key.calls.Load(), other.calls.Load())
	}
}

// tpm: once the minute's tokens reach the limit the deployment takes no
// call; a stream's tokens count too.
func TestPoolTPM(t *testing.T) {
	key, other := &double{}, &double{} // each answer: 10 in + 5 out
	pool := testPool(t, PoolConfig{}, Deployment{Name: "key", P: key, TPM: 30}, Deployment{Name: "other", P: other, Tier: 2})
	g, _, _ := start(t, Config{}, WithLogger(slog.New(slog.DiscardHandler)))
	p := g.WrapPool(pool)
	ctx := context.Background()
	if _, err := p.Chat(ctx, chatReq("1")); err != nil {
		t.Fatal(err)
	}
	s, err := p.Stream(ctx, chatReq("2"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.Next(); err != nil {
			break
		}
	}
	s.Close()
	// Counted off the request path: wait for the gateway's queue.
	waitAfter(t, g)
	for i := range 3 {
		if _, err := p.Chat(ctx, chatReq(fmt.Sprint("after", i))); err != nil {
			t.Fatal(err)
		}
		waitAfter(t, g)
	}
	// 15 (chat) + the stream's + 15 reach 30: the key takes one more call.
	if key.calls.Load() != 3 || other.calls.Load() != 2 {
		t.Errorf("key %d calls, other %d; want 3 and 2 (the key's tpm is 30)", key.calls.Load(), other.calls.Load())
	}
	if st := pool.Status()[0]; st.InFlight != 0 {
		t.Errorf("in flight after the stream closed: %d", st.InFlight)
	}
}

// waitAfter waits until the gateway's after-call queue has run what was
// queued so far.
func waitAfter(t *testing.T, g *Gateway) {
	t.Helper()
	done := make(chan struct{})
	g.after.do(func(context.Context) { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the after-call queue did not run")
	}
}

// Every change of a breaker's state is a log line naming the model, the
// deployment and why.
func TestBreakerStateChangesAreLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuf
		log := slog.New(slog.NewTextHandler(&buf, nil))
		fail := true
		d := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			if fail {
				return nil, server500()
			}
			return answer("ok", 1, 1), nil
		}}
		pool := testPool(t, PoolConfig{Logger: log, Breaker: BreakerConfig{Failures: 2, Cooldown: time.Second}}, Deployment{Name: "primary", P: d})
		g, _, _ := start(t, Config{Retry: RetryConfig{MaxAttempts: 1}}, WithLogger(slog.New(slog.DiscardHandler)))
		p := g.WrapPool(pool)
		p.Chat(context.Background(), chatReq("1"))
		p.Chat(context.Background(), chatReq("2"))
		time.Sleep(time.Second)
		fail = false
		p.Chat(context.Background(), chatReq("3"))
		out := buf.String()
		for _, want := range []string{
			`level=WARN msg="deployment breaker open" model=fast-chat deployment=primary from=closed reason="2 consecutive failures"`,
			`level=WARN msg="deployment breaker half-open" model=fast-chat deployment=primary from=open reason="cool-down over: one probe call"`,
			`level=INFO msg="deployment breaker closed" model=fast-chat deployment=primary from=half-open reason="the probe call succeeded"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("no line %s in:\n%s", want, out)
			}
		}
		g.Close(context.Background())
	})
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tieredPrices prices model "dear" ten times "cheap".
type tieredPrices struct{ testPrices }

func (tieredPrices) MaxCost(provider, model string, in, out int) int64 {
	c := testPrices{}.MaxCost(provider, model, in, out)
	if model == "dear" {
		return 10 * c
	}
	return c
}

// cost sends calls to the cheapest healthy deployment, the dearer one when
// the cheap one's breaker is open.
func TestPoolCost(t *testing.T) {
	cheap := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
		return nil, server500()
	}}
	dear := &double{}
	pool, err := NewPool(PoolConfig{Name: "m", Strategy: StrategyCost, Logger: slog.New(slog.DiscardHandler), Breaker: BreakerConfig{Failures: 1}},
		[]Deployment{{Name: "dear", Provider: "openai", Model: "dear", P: dear}, {Name: "cheap", Provider: "openai", Model: "cheap", P: cheap}})
	if err != nil {
		t.Fatal(err)
	}
	g, _, _ := start(t, Config{Prices: tieredPrices{}, Retry: RetryConfig{MaxAttempts: 1}}, WithLogger(slog.New(slog.DiscardHandler)))
	p := g.WrapPool(pool)
	resp, err := p.Chat(context.Background(), chatReq("1"))
	if err != nil || resp.Meta.Step != 1 || cheap.calls.Load() != 1 {
		t.Fatalf("first call: %+v %v; cheap %d calls (want tried first)", resp, err, cheap.calls.Load())
	}
	for i := range 5 {
		// Step 1: the cheapest is the first choice, skipped while open.
		if resp, err := p.Chat(context.Background(), chatReq(fmt.Sprint(i))); err != nil || resp.Meta.Step != 1 {
			t.Fatalf("call %d with the cheap one open: %+v %v", i, resp, err)
		}
	}
	if cheap.calls.Load() != 1 || dear.calls.Load() != 6 {
		t.Errorf("cheap %d, dear %d", cheap.calls.Load(), dear.calls.Load())
	}
}
