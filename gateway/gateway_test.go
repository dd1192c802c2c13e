package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	var c Config
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	if c.ID != DefaultID || c.Retry.MaxAttempts != 3 || c.Retry.Backoff != BackoffExponential || c.RateLimit.Window != time.Minute ||
		c.RateLimit.Kind != conductor.WindowFixed || c.CacheTTL != 0 || c.Route != conductor.RoutingGateway || c.DefaultMaxOutputTokens != DefaultMaxOutputTokens {
		t.Fatalf("defaults %+v", c)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Retry: RetryConfig{MaxAttempts: 6}}, "retry max attempts 6 (expected 1 to 5)"},
		{Config{Retry: RetryConfig{Backoff: "fibonacci"}}, `retry backoff "fibonacci"`},
		{Config{RateLimit: RateLimitConfig{Kind: "leaky"}}, `rate limit window "leaky" (expected fixed or sliding)`},
		{Config{RateLimit: RateLimitConfig{Requests: -1}}, "negative rate limit"},
		{Config{CacheTTL: -time.Second}, "cache_ttl -1s is negative"},
		{Config{Budgets: []Budget{{Scope: "teams", Period: PeriodDay, LimitUSD: 1}}}, `budget 1: scope "teams"`},
		{Config{Budgets: []Budget{{Scope: ScopeUser, Period: "week", LimitUSD: 1}}}, `budget 1: period "week" (expected day or month)`},
		{Config{Budgets: []Budget{{Scope: ScopeUser, Period: PeriodDay, LimitUSD: -1}}}, "budget 1: limit $-1"},
		{Config{AlertThresholds: []float64{0.5, 80}}, "alert threshold 80 (expected a fraction in (0, 1])"},
		{Config{AlertWebhook: "hooks.example/alert?token=s3cret"}, "alert webhook is not an http(s) URL"},
		{Config{AlertWebhook: "http://[::1/alert?token=s3cret"}, "alert webhook is not an http(s) URL"},
	}
	for _, tt := range tests {
		err := tt.cfg.fill()
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%+v: %v, want %q (and no secret)", tt.cfg, err, tt.want)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without a store")
	}
}

// The routing hook serves each gateway id from one shared Gateway; an id
// with no config gets the template.
func TestSetHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, tempDB(t))
		defer st.Close()
		s, err := NewSet(st, []Config{{ID: "my-gateway", CacheTTL: time.Hour, Prices: testPrices{}}}, Config{Prices: testPrices{}})
		if err != nil {
			t.Fatal(err)
		}
		up := &double{}
		ctx := t.Context()
		for i := range 2 {
			resp, err := s.Hook("", up, "openai", "gpt-4o-mini").Chat(ctx, chatReq("q"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Meta.Cached != (i == 1) {
				t.Fatalf("call %d: meta %+v", i, resp.Meta)
			}
			synctest.Wait()
		}
		if up.calls.Load() != 1 {
			t.Fatalf("%d upstream calls, want 1: both hooks share one cache", up.calls.Load())
		}
		other, err := s.Gateway("other")
		if err != nil || other.Config().ID != "other" || other.Config().CacheTTL != 0 {
			t.Fatalf("template gateway %+v %v", other, err)
		}
		mine, _ := s.Gateway("my-gateway")
		if g, _ := s.Gateway(""); g != mine {
			t.Fatal("an empty id does not name the only configured gateway")
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Hook("my-gateway", up, "openai", "gpt-4o").Chat(ctx, chatReq("q")); class(err) != conductor.ClassConfig {
			t.Fatalf("after close: %v", err)
		}
		if _, err := NewSet(st, []Config{{ID: "a"}, {ID: "a"}}, Config{}); err == nil {
			t.Fatal("a gateway configured twice")
		}
	})
}

// Retention pruning deletes old rows and expired cache entries.
func TestPrune(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, st, stop := start(t, Config{CacheTTL: time.Minute, LogRetention: 24 * time.Hour})
		p := g.Wrap(&double{})
		if _, err := p.Chat(t.Context(), chatReq("old")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(2 * time.Hour) // the hourly pruning ran: the entry expired
		synctest.Wait()
		stats, err := st.CacheStats(t.Context(), time.Now())
		if err != nil || stats.Entries != 0 {
			t.Fatalf("cache after pruning %+v %v", stats, err)
		}
		time.Sleep(24 * time.Hour)
		if _, err := p.Chat(t.Context(), chatReq("new")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Hour)
		stop()
		rows := logs(t, st)
		if len(rows) != 1 || rows[0].MissReason != MissNewKey {
			t.Fatalf("rows after pruning %+v", rows)
		}
	})
}

// When the log keeps every row, expired cache entries are still pruned.
func TestPruneWithoutRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, st, stop := start(t, Config{CacheTTL: time.Minute, LogRetention: KeepLogs})
		if _, err := g.Wrap(&double{}).Chat(t.Context(), chatReq("q")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if stats, err := st.CacheStats(t.Context(), time.Now()); err != nil || stats.Entries != 1 {
			t.Fatalf("cache before pruning %+v %v", stats, err)
		}
		time.Sleep(DefaultFirstPruneAfter + DefaultRetentionCheckEvery + time.Second)
		synctest.Wait()
		if stats, err := st.CacheStats(t.Context(), time.Now()); err != nil || stats.Entries != 0 {
			t.Fatalf("cache after pruning %+v %v", stats, err)
		}
		stop()
		if rows := logs(t, st); len(rows) != 1 {
			t.Fatalf("rows %+v, want the one kept", rows)
		}
	})
}

// A gateway configured with no retention keeps 30 days of log: rows
// older are pruned at start, and the hourly pruning takes those that age
// past it; KeepLogs keeps them all.
func TestDefaultLogRetention(t *testing.T) {
	for _, tt := range []struct {
		retention time.Duration
		atStart   int // rows left after the pruning at start, of 3
		anHour    int // and an hour later
	}{
		{0, 2, 1},
		{KeepLogs, 3, 3},
	} {
		t.Run(fmt.Sprint(tt.retention), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := openStore(t, tempDB(t))
				defer st.Close()
				now := time.Now()
				var rows []conductor.LogRow
				for i, age := range []time.Duration{31 * 24 * time.Hour, 30*24*time.Hour - 30*time.Minute, time.Hour} {
					rows = append(rows, conductor.LogRow{ID: fmt.Sprint("row-", i), Time: now.Add(-age).UTC(), Gateway: "gw", Status: 200, Success: true})
				}
				if err := st.AppendLogs(t.Context(), rows); err != nil {
					t.Fatal(err)
				}
				g, err := New(Config{ID: "gw", Prices: testPrices{}, LogRetention: tt.retention}, st, WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close(context.Background())
				synctest.Wait()
				if n := len(logs(t, st)); n != 3 {
					t.Errorf("%d rows before the first pruning, want 3: it must not meet the first requests", n)
				}
				time.Sleep(DefaultFirstPruneAfter)
				synctest.Wait()
				if n := len(logs(t, st)); n != tt.atStart {
					t.Errorf("%d rows after the pruning at start, want %d", n, tt.atStart)
				}
				time.Sleep(DefaultRetentionCheckEvery)
				synctest.Wait()
				if n := len(logs(t, st)); n != tt.anHour {
					t.Errorf("%d rows an hour later, want %d", n, tt.anHour)
				}
			})
		})
	}
}

// When the store fails: the cache is skipped (MISS cache_error), rate
// and spend limits refuse.
func TestStoreUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		ok     bool
		reason string
	}{
		{"cache", Config{CacheTTL: time.Hour}, true, MissCacheError},
		{"rate limit", Config{RateLimit: RateLimitConfig{Requests: 1, Tokens: 10}}, false, "rate_limit_unavailable"},
		{"budget", Config{Budgets: []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 1}}}, false, "budget_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, tempDB(t))
			tt.cfg.Prices = testPrices{}
			g, err := New(tt.cfg, st, WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			up := &double{}
			resp, err := g.Wrap(up).Chat(t.Context(), chatReq("q"))
			if tt.ok {
				if err != nil || resp.Meta.MissReason != tt.reason || up.calls.Load() != 1 {
					t.Fatalf("resp %+v err %v", resp, err)
				}
			} else if e, ok := conductor.AsError(err); !ok || e.Status != 503 || e.Code != tt.reason || up.calls.Load() != 0 {
				t.Fatalf("err %#v, want the call refused", err)
			}
			g.Close(t.Context())
			if g.DroppedLogRows() != 1 {
				t.Fatalf("dropped %d rows, want the one the closed store refused", g.DroppedLogRows())
			}
		})
	}
}
