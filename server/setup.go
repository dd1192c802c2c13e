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
)

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
	configs, template := gateway.Configs(cfg, env, prices)
	set, err := gateway.NewSet(st, configs, template, gateway.WithLogger(log))
	if err != nil {
		return Options{}, nil, err
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
	for _, m := range cfg.Models {
		models[m.Name] = m.Routes
	}
	return Options{
		Models: models,
		Resolve: func(name string) (conductor.Provider, bool) {
			p, ok := splits[name]
			return p, ok
		},
		Addr:            cfg.Server.Addr,
		Store:           st,
		Gateways:        set,
		Config:          cfg,
		Env:             env,
		Router:          router,
		Client:          client,
		Tokens:          TokensFromSecrets(secrets),
		AllowCallerKeys: cfg.Server.AllowCallerKeys,
		CORSOrigins:     cfg.Server.CORSOrigins,
		AllowedHosts:    cfg.Server.AllowedHosts,
		UserHeader:      cfg.Gateway.UserHeader,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		RequestTimeout:  cfg.Server.RequestTimeout.Duration,
		Engine:          engine.Options{Resolver: router, Pricing: prices, Logger: log, Scorer: set},
		Logger:          log,
	}, set, nil
}
