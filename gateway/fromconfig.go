package gateway

import (
	"slices"
	"time"

	"github.com/conductor-go/conductor/config"
)

// Configs translates every [[ai.gateway]] into the built-in
// gateway's settings, adds "default" when no entry declares it, and
// returns the template of gateways a caller names that no entry declares.
func Configs(cfg *config.Config, env config.LookupEnv, prices Prices) ([]Config, Config) {
	environment := cfg.EnvironmentName(env)
	base := Config{
		Environment: environment,
		Prices:      prices,
		// The names are the same in both packages.
		LogDurability: cfg.Log.Durability,
	}
	// Unset: the gateway's default; 0 keeps every row.
	if r := cfg.Gateway.LogRetention; r != nil {
		base.LogRetention = r.Duration
		if r.Duration == 0 {
			base.LogRetention = KeepLogs
		}
	}
	budgets := func(id string) Config {
		c := base
		c.ID = id
		for _, b := range cfg.Budgets {
			if b.Scope == config.ScopeGateway && b.Match != "" && b.Match != id {
				continue
			}
			if b.DailyUSD > 0 {
				c.Budgets = append(c.Budgets, Budget{Scope: b.Scope, Match: b.Match, Period: PeriodDay, LimitUSD: b.DailyUSD})
			}
			if b.MonthlyUSD > 0 {
				c.Budgets = append(c.Budgets, Budget{Scope: b.Scope, Match: b.Match, Period: PeriodMonth, LimitUSD: b.MonthlyUSD})
			}
			for _, a := range b.Alerts {
				if !slices.Contains(c.AlertThresholds, a) {
					c.AlertThresholds = append(c.AlertThresholds, a)
				}
			}
			if c.AlertWebhook == "" {
				c.AlertWebhook = b.WebhookURL(env)
			}
		}
		return c
	}
	// Gateways no entry declares: "default" (configured, so that a budget
	// may name it) and ids callers name (from the template).
	template := budgets("")
	out := make([]Config, 0, len(cfg.AI.Gateways)+1)
	if _, ok := cfg.GatewayByID(DefaultID); !ok {
		out = append(out, budgets(DefaultID))
	}
	for _, g := range cfg.AI.Gateways {
		c := budgets(g.ID)
		c.CacheTTL = g.CacheTTL.Duration
		c.CacheScope = g.CacheScope
		c.Retry = RetryConfig{MaxAttempts: g.MaxAttempts, Delay: g.RetryDelay.Duration, Backoff: g.Backoff,
			Timeout: g.RequestTimeout.Duration, IdleTimeout: g.IdleTimeout.Duration, TotalTimeout: g.TotalTimeout.Duration}
		limit, window, technique := g.RateLimit()
		w := window.Duration
		if w <= 0 {
			w = time.Minute
		}
		// Tokens are configured per minute; the gateway counts them over
		// the same window as requests.
		tokens := g.RateLimitingTokensPerMinute * int64(w) / int64(time.Minute)
		if g.RateLimitingTokensPerMinute > 0 && tokens == 0 {
			tokens = 1
		}
		c.RateLimit = RateLimitConfig{Window: w, Kind: technique}
		if g.RateLimitingPerUser {
			c.RateLimit.UserRequests, c.RateLimit.UserTokens = limit, tokens
		} else {
			c.RateLimit.Requests, c.RateLimit.Tokens = limit, tokens
		}
		out = append(out, c)
	}
	return out, template
}
