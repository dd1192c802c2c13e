package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Under 1,000 concurrent requests, spend never exceeds the limit: every
// call reserves its maximum before going upstream, and what was spent is
// exactly the admitted calls' real cost once they settled.
func TestBudgetNeverOverspends(t *testing.T) {
	const n = 1000
	// Each call: input bound 4+6+4+8 = 22 tokens, 100 output tokens:
	// reserves 22·1000 + 100·2000 = 222,000 nano-USD; really costs
	// 10·1000 + 50·2000 = 110,000.
	const limit = 10_000_000 // $0.01
	up := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
		return answer("x", 10, 50), nil
	}}
	g, st, stop := start(t, Config{Budgets: []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 0.01}}})
	p := g.Wrap(up)
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := chatReq(fmt.Sprintf("q-%04d", i))
			req.MaxTokens = 100
			_, err := p.Chat(t.Context(), req)
			if err == nil {
				admitted.Add(1)
				return
			}
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBudget || e.Code != "budget_exceeded" || e.Status != 429 {
				t.Errorf("refusal %#v", err)
			}
			refused.Add(1)
		})
	}
	wg.Wait()
	stop() // settles everything queued
	key := g.matching(chatReq("x"), nowUTC())[0].Key
	spent, err := st.Spent(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if spent > limit {
		t.Fatalf("spent %d > limit %d", spent, limit)
	}
	if want := admitted.Load() * 110_000; spent != want {
		t.Fatalf("spent %d, want %d for %d admitted calls", spent, want, admitted.Load())
	}
	if admitted.Load() < limit/222_000 || admitted.Load()+refused.Load() != n {
		t.Fatalf("admitted %d refused %d", admitted.Load(), refused.Load())
	}
	t.Logf("%d admitted, %d refused, spent %d of %d nano-USD", admitted.Load(), refused.Load(), spent, limit)
}

func TestBudgetRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(10 * time.Hour) // 2000-01-01T10:00:00Z
		g, _, _ := start(t, Config{Environment: "production", Budgets: []Budget{{Scope: ScopeEnvironment, Period: PeriodMonth, LimitUSD: 0.00001}}})
		req := chatReq("hello")
		req.MaxTokens = 100
		_, err := g.Wrap(&double{}).Chat(t.Context(), req)
		e, ok := conductor.AsError(err)
		if !ok {
			t.Fatalf("err %v", err)
		}
		want := "spend limit $0.00001/month for environment production exceeded: $0.00 spent, this call needs up to $0.000221; resets 2000-02-01T00:00:00Z"
		if e.Class != conductor.ClassBudget || e.Status != 429 || e.Code != "budget_exceeded" || e.Message != want || e.Retryable {
			t.Fatalf("refusal %#v\nmessage %q", e, e.Message)
		}
		if e.RetryAfter != 31*24*time.Hour-10*time.Hour {
			t.Fatalf("Retry-After %v, want until the month resets", e.RetryAfter)
		}
	})
}

func TestBudgetMatching(t *testing.T) {
	g := bare(Config{ID: "gw", Environment: "dev", Budgets: []Budget{
		{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 10},
		{Scope: ScopeEnvironment, Match: "production", Period: PeriodMonth, LimitUSD: 100},
		{Scope: ScopeEnvironment, Period: PeriodDay, LimitUSD: 1},
		{Scope: ScopeUser, Period: PeriodDay, LimitUSD: 0.5},
		{Scope: ScopeUser, Match: "alice", Period: PeriodMonth, LimitUSD: 5},
		{Scope: ScopeProvider, Match: "anthropic", Period: PeriodDay, LimitUSD: 3},
		{Scope: ScopeModel, Match: "openai/gpt-4o", Period: PeriodDay, LimitUSD: 2},
		{Scope: ScopeModel, Period: PeriodMonth, LimitUSD: 20},
	}})
	now := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		req  conductor.ChatRequest
		keys []string
	}{
		{"plain call in the default environment", conductor.ChatRequest{Provider: "openai", Model: "gpt-4o-mini"}, []string{
			"spend/gateway:gw/day:2026-11-25",
			"spend/environment:dev/day:2026-11-25",
			"spend/model:gpt-4o-mini/month:2026-11",
		}},
		{"alice in production on gpt-4o", conductor.ChatRequest{Provider: "openai", Model: "gpt-4o", Options: conductor.CallOptions{User: "alice", Environment: "production"}}, []string{
			"spend/gateway:gw/day:2026-11-25",
			"spend/environment:production/month:2026-11",
			"spend/environment:production/day:2026-11-25",
			"spend/user:alice/day:2026-11-25",
			"spend/user:alice/month:2026-11",
			"spend/model:gpt-4o/day:2026-11-25",
			"spend/model:gpt-4o/month:2026-11",
		}},
		{"bob on anthropic", conductor.ChatRequest{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Options: conductor.CallOptions{User: "bob"}}, []string{
			"spend/gateway:gw/day:2026-11-25",
			"spend/environment:dev/day:2026-11-25",
			"spend/user:bob/day:2026-11-25",
			"spend/provider:anthropic/day:2026-11-25",
			"spend/model:claude-3-5-sonnet-20241022/month:2026-11",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			for _, b := range g.matching(&tt.req, now) {
				keys = append(keys, b.Key)
				if b.cfg.Period == PeriodDay && !b.Resets.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) ||
					b.cfg.Period == PeriodMonth && !b.Resets.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("%s resets %v", b.Key, b.Resets)
				}
			}
			if !slices.Equal(keys, tt.keys) {
				t.Fatalf("keys\n%q\nwant\n%q", keys, tt.keys)
			}
		})
	}
}

// While a budget applies, a call without MaxTokens is capped, so that its
// reservation bounds it; without budgets the request passes unchanged.
func TestBudgetCapsOutput(t *testing.T) {
	for _, budgets := range [][]Budget{nil, {{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 1}}} {
		up := &double{}
		g, _, _ := start(t, Config{Budgets: budgets, DefaultMaxOutputTokens: 512})
		req := chatReq("q")
		if _, err := g.Wrap(up).Chat(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		want := 0
		if budgets != nil {
			want = 512
		}
		if got := up.requests()[0].MaxTokens; got != want || req.MaxTokens != 0 {
			t.Fatalf("upstream MaxTokens %d (caller's %d), want %d", got, req.MaxTokens, want)
		}
	}
}

// Cache hits reserve nothing; failures settle at 0; streams settle their
// reported usage. With token limits, settlements go to the store with the
// token counts (one batch per call), with the same result.
func TestBudgetSettlement(t *testing.T) {
	for _, tokenLimit := range []int64{0, 1 << 40} {
		t.Run(fmt.Sprintf("token limit %d", tokenLimit), func(t *testing.T) { testBudgetSettlement(t, tokenLimit) })
	}
}

func testBudgetSettlement(t *testing.T, tokenLimit int64) {
	synctest.Test(t, func(t *testing.T) {
		// "hi" reserves (4+2+4+8)·1000 + 10·2000 = 38,000.
		g, st, _ := start(t, Config{CacheTTL: time.Hour, RateLimit: RateLimitConfig{Tokens: tokenLimit},
			Budgets: []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 0.000038}}})
		tokens := func() int64 {
			synctest.Wait()
			d, err := st.TakeRate(t.Context(), rateKey(ScopeGateway, g.id, DefaultRateWindow, conductor.WindowFixed, "tokens"), 0, 1<<50, DefaultRateWindow, conductor.WindowFixed, nowUTC())
			if err != nil {
				t.Fatal(err)
			}
			return d.Count
		}
		fail := false
		up := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			if fail {
				return nil, &conductor.Error{Class: conductor.ClassBadRequest, Status: 400}
			}
			return answer("x", 3, 1), nil // 5,000
		}}
		p := g.Wrap(up)
		req := func(s string) *conductor.ChatRequest {
			r := chatReq(s)
			r.MaxTokens = 10
			return r
		}
		key := g.matching(req("hi"), nowUTC())[0].Key
		spent := func() int64 {
			synctest.Wait()
			n, err := st.Spent(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if _, err := p.Chat(t.Context(), req("hi")); err != nil {
			t.Fatal(err)
		}
		if s := spent(); s != 5000 {
			t.Fatalf("spent %d after one call, want 5000", s)
		}
		// The budget has 33,000 left: a miss would need 38,000, a hit none.
		resp, err := p.Chat(t.Context(), req("hi"))
		if err != nil || !resp.Meta.Cached {
			t.Fatalf("hit: %+v %v", resp, err)
		}
		if _, err := p.Chat(t.Context(), req("ho")); class(err) != conductor.ClassBudget {
			t.Fatalf("miss over budget: %v", err)
		}
		if s := spent(); s != 5000 {
			t.Fatalf("spent %d, want 5000", s)
		}
		time.Sleep(24 * time.Hour)
		key = g.matching(req("hi"), nowUTC())[0].Key
		fail = true
		if _, err := p.Chat(t.Context(), req("fa")); class(err) != conductor.ClassBadRequest {
			t.Fatal(err)
		}
		if s := spent(); s != 0 {
			t.Fatalf("a failure spent %d", s)
		}
		s, err := p.Stream(t.Context(), req("st"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, s) // 7 in, 2 out: 11,000
		if s := spent(); s != 11000 {
			t.Fatalf("stream spent %d, want 11000", s)
		}
		want := int64(0)
		if tokenLimit > 0 {
			want = 9
		}
		if n := tokens(); n != want {
			t.Errorf("tokens counted %d in this window, want %d", n, want)
		}
	})
}

// Each threshold fires once per budget window: a log line and exactly one
// POST to the webhook, and again in the next window.
func TestBudgetAlertsFireOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var alerts []Alert
		var logBuf lockedBuffer
		client, stopNet := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var a Alert
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &a) != nil {
				t.Errorf("webhook got %s %s %q", r.Method, r.Header.Get("Content-Type"), body)
			}
			mu.Lock()
			alerts = append(alerts, a)
			mu.Unlock()
		}))
		defer stopNet()
		// Each call reserves and spends 38,000; ten fit in 380,000.
		g, _, _ := start(t, Config{
			Budgets:         []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 0.00038}},
			AlertThresholds: []float64{0.5, 0.8, 1.0},
			AlertWebhook:    "http://hooks.example/alert?token=t0ken",
		}, WithHTTPClient(client), WithLogger(slog.New(slog.NewJSONHandler(&logBuf, nil))))
		up := &double{reply: func(context.Context, *conductor.ChatRequest, int) (*conductor.ChatResponse, error) {
			return answer("x", 18, 10), nil
		}}
		p := g.Wrap(up)
		thresholds := func() []float64 {
			mu.Lock()
			defer mu.Unlock()
			var out []float64
			for _, a := range alerts {
				out = append(out, a.Threshold)
			}
			return out
		}
		for day := range 2 {
			var admitted int
			for range 15 {
				req := chatReq("hi")
				req.MaxTokens = 10
				if _, err := p.Chat(t.Context(), req); err == nil {
					admitted++
				}
				synctest.Wait()
			}
			if admitted != 10 {
				t.Fatalf("day %d: %d calls admitted, want 10", day, admitted)
			}
			want := []float64{0.5, 0.8, 1}
			if day == 1 {
				want = append(want, want...)
			}
			if got := thresholds(); !slices.Equal(got, want) {
				t.Fatalf("day %d: alerts %v, want %v", day, got, want)
			}
			time.Sleep(24 * time.Hour)
		}
		a := alerts[0]
		if a.Type != "budget_threshold" || a.Gateway != "gw" || a.Budget != "spend/gateway:gw/day:2000-01-01" || a.SpentUSD != 0.00019 || a.LimitUSD != 0.00038 ||
			!a.Resets.Equal(time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("alert %+v", a)
		}
		if alerts[3].Budget != "spend/gateway:gw/day:2000-01-02" {
			t.Fatalf("second day's alert %+v", alerts[3])
		}
		// The log line of each alert, once; the webhook's token never.
		logged := logBuf.String()
		if n := strings.Count(logged, `"msg":"gateway budget alert"`); n != 6 {
			t.Errorf("%d alert log lines, want 6:\n%s", n, logged)
		}
		if strings.Contains(logged, "t0ken") {
			t.Errorf("the webhook's token reached the log:\n%s", logged)
		}
	})
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
