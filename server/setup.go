package server

import (
	"log/slog"
	"slices"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/routing"
)

// FromConfig returns the options of `conductor serve` for cfg over store
// st: the gateway tokens, caller keys, body bound and user header of
// [server] and [gateway], a gateway set with every [[ai.gateway]] (served
// by the built-in gateway: the server is the gateway, even for an entry
// that names a Cloudflare account) plus "default", the price table with
// [pricing]'s overrides, and a router for ensemble members. The caller
// closes the returned set after the server stopped (Run does not close a
// set it was given), then the store.
func FromConfig(cfg *config.Config, env config.LookupEnv, st conductor.Store, log *slog.Logger) (Options, *gateway.Set, error) {
	if log == nil {
		log = slog.Default()
	}
	secrets, err := cfg.ServerTokens(env)
	if err != nil {
		return Options{}, nil, err
	}
	prices, err := Prices(cfg)
	if err != nil {
		return Options{}, nil, err
	}
	configs, template := GatewayConfigs(cfg, env, prices)
	set, err := gateway.NewSet(st, configs, template, gateway.WithLogger(log))
	if err != nil {
		return Options{}, nil, err
	}
	client := provider.DefaultClient()
	router, err := routing.New(cfg, routing.Options{Env: env, Client: client, Gateway: set.Hook, Logger: log})
	if err != nil {
		return Options{}, nil, err
	}
	return Options{
		Addr:            cfg.Server.Addr,
		Store:           st,
		Gateways:        set,
		Config:          cfg,
		Env:             env,
		Client:          client,
		Tokens:          TokensFromSecrets(secrets),
		AllowCallerKeys: cfg.Server.AllowCallerKeys,
		UserHeader:      cfg.Gateway.UserHeader,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		Engine:          engine.Options{Resolver: router, Pricing: prices, Logger: log},
		Logger:          log,
	}, set, nil
}

// Prices is the embedded price table with cfg's [pricing] overrides.
func Prices(cfg *config.Config) (*pricing.Table, error) {
	t := pricing.Default()
	p := cfg.Pricing
	if p.DefaultInput != nil || p.DefaultOutput != nil {
		in, out := pricing.DefaultUnknownInput, pricing.DefaultUnknownOutput
		if p.DefaultInput != nil {
			in = *p.DefaultInput
		}
		if p.DefaultOutput != nil {
			out = *p.DefaultOutput
		}
		if err := t.WithDefault(in, out); err != nil {
			return nil, err
		}
	}
	for _, m := range p.Models {
		price := pricing.Price{Provider: m.Provider, Model: m.Model, Input: m.Input, Output: m.Output}
		if m.CachedInput != nil {
			price.CachedInput = *m.CachedInput
		}
		if err := t.Override(price); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// GatewayConfigs translates every [[ai.gateway]] into the built-in
// gateway's settings, adds "default" when no entry declares it, and
// returns the template of gateways a caller names that no entry declares.
func GatewayConfigs(cfg *config.Config, env config.LookupEnv, prices gateway.Prices) ([]gateway.Config, gateway.Config) {
	environment := cfg.EnvironmentName(env)
	base := gateway.Config{
		Environment:  environment,
		Prices:       prices,
		LogRetention: cfg.Gateway.LogRetention.Duration,
	}
	budgets := func(id string) gateway.Config {
		c := base
		c.ID = id
		for _, b := range cfg.Budgets {
			if b.Scope == config.ScopeGateway && b.Match != "" && b.Match != id {
				continue
			}
			if b.DailyUSD > 0 {
				c.Budgets = append(c.Budgets, gateway.Budget{Scope: b.Scope, Match: b.Match, Period: gateway.PeriodDay, LimitUSD: b.DailyUSD})
			}
			if b.MonthlyUSD > 0 {
				c.Budgets = append(c.Budgets, gateway.Budget{Scope: b.Scope, Match: b.Match, Period: gateway.PeriodMonth, LimitUSD: b.MonthlyUSD})
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
	out := make([]gateway.Config, 0, len(cfg.AI.Gateways)+1)
	if _, ok := cfg.GatewayByID(gateway.DefaultID); !ok {
		out = append(out, budgets(gateway.DefaultID))
	}
	for _, g := range cfg.AI.Gateways {
		c := budgets(g.ID)
		c.CacheTTL = g.CacheTTL.Duration
		c.Retry = gateway.RetryConfig{MaxAttempts: g.MaxAttempts, Delay: g.RetryDelay.Duration, Backoff: g.Backoff}
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
		c.RateLimit = gateway.RateLimitConfig{Window: w, Kind: technique}
		if g.RateLimitingPerUser {
			c.RateLimit.UserRequests, c.RateLimit.UserTokens = limit, tokens
		} else {
			c.RateLimit.Requests, c.RateLimit.Tokens = limit, tokens
		}
		out = append(out, c)
	}
	return out, template
}
