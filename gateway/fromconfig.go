package gateway

import (
	"log/slog"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// Configs translates every [[ai.gateway]] into the built-in gateway's own
// settings (cache, retries, its rate limits), adds "default" when no entry
// declares it, and returns the template of gateways no entry declares
// (`[server] auto_gateways`): the default gateway's settings. Budgets,
// [[team]]s and [[rate_limit]]s are not any one gateway's: they are
// LimitsFromConfig's, which every gateway of a Set shares.
func Configs(cfg *config.Config, env config.LookupEnv, prices Prices) ([]Config, Config) {
	base := Config{
		Environment: cfg.EnvironmentName(env),
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
	out := make([]Config, 0, len(cfg.AI.Gateways)+1)
	if _, ok := cfg.GatewayByID(DefaultID); !ok {
		c := base
		c.ID = DefaultID
		out = append(out, c)
	}
	for _, g := range cfg.AI.Gateways {
		out = append(out, gatewayConfig(base, g))
	}
	template := base
	if g, ok := cfg.DefaultGateway(); ok {
		template = gatewayConfig(base, g)
	}
	template.ID = ""
	return out, template
}

// gatewayConfig is one [[ai.gateway]]'s settings over base.
func gatewayConfig(base Config, g config.Gateway) Config {
	c := base
	c.ID = g.ID
	c.CacheTTL = g.CacheTTL.Duration
	c.CacheScope = g.CacheScope
	c.Retry = RetryConfig{MaxAttempts: g.MaxAttempts, Delay: g.RetryDelay.Duration, Backoff: g.Backoff,
		Timeout: g.RequestTimeout.Duration, IdleTimeout: g.IdleTimeout.Duration, TotalTimeout: g.TotalTimeout.Duration}
	limit, window, technique := g.RateLimit()
	w := window.Duration
	if w <= 0 {
		w = time.Minute
	}
	// Tokens are configured per minute; the gateway counts them over the
	// same window as requests.
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
	return c
}

// LimitsFromConfig translates [[budget]], [[team]] and [[rate_limit]]
// into the limits every gateway of a Set holds its calls to
// (Set.SetLimits).
func LimitsFromConfig(cfg *config.Config, env config.LookupEnv) Limits {
	var l Limits
	budgets := func(name, scope, match string, daily, monthly float64, alerts []float64, webhook string) {
		for _, p := range [...]struct {
			period string
			usd    float64
		}{{PeriodDay, daily}, {PeriodMonth, monthly}} {
			if p.usd > 0 {
				l.Budgets = append(l.Budgets, Budget{Name: name, Scope: scope, Match: match, Period: p.period, LimitUSD: p.usd,
					Alerts: alerts, Webhook: webhook})
			}
		}
	}
	for _, b := range cfg.Budgets {
		budgets(b.Name, b.Scope, b.Match, b.DailyUSD, b.MonthlyUSD, b.Alerts, b.WebhookURL(env))
	}
	for _, t := range cfg.Teams {
		budgets("team "+t.Name, ScopeTeam, t.Name, t.DailyUSD, t.MonthlyUSD, t.Alerts, t.WebhookURL(env))
		if t.RequestsPerMinute > 0 || t.TokensPerMinute > 0 {
			l.Rates = append(l.Rates, RateRule{Name: "team " + t.Name, Scope: ScopeTeam, Match: t.Name,
				Requests: t.RequestsPerMinute, Tokens: t.TokensPerMinute, Window: time.Minute})
		}
	}
	for _, r := range cfg.RateLimits {
		l.Rates = append(l.Rates, RateRule{Name: r.Name, Scope: r.Scope, Match: r.Match, Gateway: r.Gateway,
			Requests: r.Requests, Tokens: r.Tokens, Window: r.Window.Duration, Kind: r.Technique})
	}
	return l
}

// SetFromConfig is the Set of every gateway cfg declares ("default"
// included), holding every call to the config's budgets, teams and rate
// limits: Configs, NewSet and SetLimits in one, as `conductor run` and
// `conductor serve` build it.
func SetFromConfig(st conductor.Store, cfg *config.Config, env config.LookupEnv, prices Prices, opts ...Option) (*Set, error) {
	configs, template := Configs(cfg, env, prices)
	set, err := NewSet(st, configs, template, opts...)
	if err != nil {
		return nil, err
	}
	if err := set.SetLimits(LimitsFromConfig(cfg, env)); err != nil {
		return nil, err
	}
	return set, nil
}

// PoolsFromConfig builds one Pool per [[model]]: its routes and
// [[model.deployment]]s (config.Model.Expand), each deployment's adapter
// from upstream (the router's, with the deployment's base URL and key).
// A deployment whose adapter cannot be built (a missing key) answers
// each call with that error, which falls back to the next deployment.
// The caller closes the pools (their health checks) with ClosePools.
func PoolsFromConfig(cfg *config.Config, upstream func(model string, d config.ModelDeployment) (conductor.Provider, error), log *slog.Logger) (map[string]*Pool, error) {
	pools := make(map[string]*Pool, len(cfg.Models))
	for _, m := range cfg.Models {
		exp := m.Expand()
		deps := make([]Deployment, len(exp))
		for i, d := range exp {
			p, err := upstream(m.Name, d)
			if err != nil {
				// Said now, not only at the first call it fails.
				if log != nil {
					log.Warn("deployment cannot serve; its calls fall back to the others", "model", m.Name, "deployment", d.Name, "err", err)
				}
				p = failing{err}
			}
			deps[i] = Deployment{Name: d.Name, Provider: d.Provider, Model: d.Model, P: p,
				Weight: d.Weight, Tier: d.Tier, RPM: d.RPM, TPM: d.TPM}
		}
		b := m.Breaker
		pool, err := NewPool(PoolConfig{Name: m.Name, Strategy: m.Strategy, Logger: log,
			Breaker: BreakerConfig{Failures: b.Failures, ErrorRate: b.ErrorRate, Window: b.Window.Duration,
				MinRequests: b.MinRequests, Cooldown: b.Cooldown.Duration},
			HealthInterval: m.HealthCheckInterval.Duration,
			Deadlines:      Deadlines{FirstByte: m.RequestTimeout.Duration, Idle: m.IdleTimeout.Duration, Total: m.TotalTimeout.Duration}}, deps)
		if err != nil {
			ClosePools(pools)
			return nil, err
		}
		pools[m.Name] = pool
	}
	return pools, nil
}

// ClosePools stops every pool's health checks.
func ClosePools(pools map[string]*Pool) {
	for _, p := range pools {
		p.Close()
	}
}
