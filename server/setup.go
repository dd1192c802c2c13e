package server

import (
	"context"
	"log/slog"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/routing"
	"github.com/conductor-go/conductor/runner"
)

// ControlOf is the part of st that keeps control items (ControlStore),
// looking through wrappers that Unwrap (the metrics' store) and into a
// store made of parts (store.Combined: its log's); nil when none does.
func ControlOf(st conductor.Store) conductor.ControlStore {
	for st != nil {
		if cs, ok := st.(conductor.ControlStore); ok {
			return cs
		}
		if p, ok := st.(interface {
			Control() (conductor.ControlStore, bool)
		}); ok {
			cs, ok := p.Control()
			if !ok {
				return nil
			}
			return cs
		}
		u, ok := st.(interface{ Unwrap() conductor.Store })
		if !ok {
			return nil
		}
		st = u.Unwrap()
	}
	return nil
}

// FromConfig returns the options of `conductor serve` for cfg over store
// st: the gateway tokens, caller keys, body bound and user header of
// [server] and [gateway], a gateway set with every [[ai.gateway]] (served
// by the built-in gateway: the server is the gateway, even for an entry
// that names a Cloudflare account) plus "default", the price table with
// [pricing]'s overrides, and one router for the server's upstreams and
// ensemble members. The caller
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
	prices, err := pricing.FromConfig(cfg.Pricing)
	if err != nil {
		return Options{}, nil, err
	}
	// Budgets, teams and [[rate_limit]]s hold every gateway's calls.
	set, err := gateway.SetFromConfig(st, cfg, env, prices, gateway.WithLogger(log))
	if err != nil {
		return Options{}, nil, err
	}
	admin, err := cfg.AdminToken(env)
	if err != nil {
		return Options{}, nil, err
	}
	tokens := TokensFromSecrets(secrets)
	for i := range tokens {
		tokens[i].Gateways = cfg.Server.TokenGateways[tokens[i].Name]
	}
	client := provider.DefaultClient()
	// One router for everything: the server's upstreams (Options.Router),
	// ensemble members (Engine.Resolver) and the splits' variants.
	router, err := routing.New(cfg, routing.Options{Env: env, Client: client, Gateway: set.Hook,
		Mock: provider.NewMock(provider.MockConfig{}), Logger: log})
	if err != nil {
		return Options{}, nil, err
	}
	// [[split]]: each variant is the gateway chain around the adapter for
	// its provider, reached directly (the split is the gateway's part).
	direct := func(ctx context.Context, prov, model string) (conductor.Provider, error) {
		return router.Provider(ctx, prov, model, conductor.RoutingDirect)
	}
	splits, err := gateway.SplitsFromConfig(cfg, set, direct)
	if err != nil {
		return Options{}, nil, err
	}
	// [[model]]: aliases (one route) and fallback chains (several).
	models := make(map[string][]string, len(cfg.Models))
	deadlines := map[string]gateway.Deadlines{}
	for _, m := range cfg.Models {
		models[m.Name] = m.Routes
		if dl := (gateway.Deadlines{FirstByte: m.RequestTimeout.Duration, Idle: m.IdleTimeout.Duration, Total: m.TotalTimeout.Duration}); dl != (gateway.Deadlines{}) {
			deadlines[m.Name] = dl
		}
	}
	return Options{
		Models:         models,
		ModelDeadlines: deadlines,
		Resolve: func(name string) (conductor.Provider, bool) {
			p, ok := splits[name]
			return p, ok
		},
		Addr:               cfg.Server.Addr,
		Store:              st,
		Gateways:           set,
		Config:             cfg,
		Env:                env,
		Router:             router,
		Client:             client,
		GatewaysFromConfig: true,
		Prices:             prices,
		Control:            ControlOf(st), // keys and run-time changes, when the store keeps them
		AdminToken:         admin.Value(),
		Tokens:             tokens,
		AllowCallerKeys:    cfg.Server.AllowCallerKeys,
		AutoGateways:       cfg.Server.AutoGateways,
		CORSOrigins:        cfg.Server.CORSOrigins,
		AllowedHosts:       cfg.Server.AllowedHosts,
		UserHeader:         cfg.Gateway.UserHeader,
		MaxBodyBytes:       cfg.Server.MaxBodyBytes,
		RequestTimeout:     cfg.Server.RequestTimeout.Duration,
		Engine: engine.Options{Resolver: runner.Resolver{Config: cfg, Router: router, Split: func(_ context.Context, name string) (conductor.Provider, error) {
			return splits[name], nil // Provider asks only for the config's splits, all built here
		}}, Pricing: prices, Logger: log, Scorer: set},
		Logger: log,
	}, set, nil
}
