// Package routing turns a member's (provider, model, routing) into the
// conductor.Provider that serves it: which adapter, at which URL, with which
// key, behind which gateway. A routing mode is nothing more than that
// choice; one file per mode:
//
//   - direct.go: the adapter at the provider's own URL, key from the
//     environment; no cache, no analytics, no automatic retries.
//   - cloudflare.go: the platform-native, keyless route: Workers AI through
//     the [ai] binding settings, or a local OpenAI-compatible server.
//   - gateway.go: cloudflare-gateway: Cloudflare's hosted AI Gateway when the
//     gateway has an account_id (aig.go holds its cf-aig-* headers), else the
//     built-in gateway around the direct adapter.
//
// Every provider returned reports its provider and routing in ResponseMeta.
package routing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/provider"
)

// GatewayFunc puts the built-in gateway gatewayID (an [[ai.gateway]] id, or
// "default" when none is configured) in front of upstream, the direct
// adapter of providerName. model is "" since one provider serves every
// model of a route. (*gateway.Set).Hook has this signature:
//
//	routing.Options{Gateway: set.Hook}
//
// A gateway that cannot start answers each call with its error.
type GatewayFunc func(gatewayID string, upstream conductor.Provider, providerName, model string) conductor.Provider

// Options are what a Router needs besides the config.
type Options struct {
	// Env reads the environment; nil uses os.LookupEnv. Tests pass
	// config.MapEnv.
	Env config.LookupEnv
	// Client is shared by every adapter so connections to each upstream
	// are reused; nil uses one provider.DefaultClient for the router.
	Client *http.Client
	// Gateway builds the built-in gateway (routing cloudflare-gateway
	// without an account_id). Nil: such routes are a config error.
	Gateway GatewayFunc
	// Mock serves provider "mock" (direct, or through the built-in
	// gateway); nil: mock is the engine's own business and an error here.
	Mock conductor.Provider
	// Logger receives one line per route built; nil uses slog.Default().
	Logger *slog.Logger
}

// Router builds and caches one provider per (provider, routing). It is safe
// for concurrent use.
type Router struct {
	cfg  *config.Config
	opts Options
	// environment is the deployment name sent in cf-aig-metadata.
	environment string
	// secrets are every key and token of the config, hidden in every
	// route's errors (redact.go).
	secrets Secrets

	mu    sync.RWMutex
	built map[routeKey]conductor.Provider
}

type routeKey struct{ provider, routing string }

// New returns a Router over cfg. Routes are built on first use; Check
// validates one without building it.
func New(cfg *config.Config, opts Options) (*Router, error) {
	if cfg == nil {
		cfg = config.Default()
	}
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	if opts.Client == nil {
		opts.Client = provider.DefaultClient()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Router{
		cfg:         cfg,
		opts:        opts,
		environment: cfg.EnvironmentName(opts.Env),
		secrets:     ConfiguredSecrets(cfg, opts.Env),
		built:       map[routeKey]conductor.Provider{},
	}, nil
}

// Provider returns the provider serving provider/model through routing
// ("" for the provider's default routing). Failures are *conductor.Error of
// class ClassConfig naming what to set. The model does not change the
// route; it is accepted because the engine's Resolver passes it.
func (r *Router) Provider(ctx context.Context, providerName, model, routing string) (conductor.Provider, error) {
	if err := ctx.Err(); err != nil {
		return nil, &conductor.Error{Provider: providerName, Class: conductor.ClassCanceled, Message: "resolving the route", Err: err}
	}
	if routing == "" {
		routing = conductor.DefaultRouting(providerName)
	}
	key := routeKey{providerName, routing}
	r.mu.RLock()
	p, ok := r.built[key]
	r.mu.RUnlock()
	if ok {
		return p, nil
	}
	// Building is cheap and does no I/O beyond reading a key file, so it
	// runs under the lock: one provider per route, never two.
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.built[key]; ok {
		return p, nil
	}
	rt, err := r.plan(providerName, routing)
	if err != nil {
		return nil, err
	}
	p, err = r.build(rt)
	if err != nil {
		return nil, err
	}
	r.built[key] = p
	r.opts.Logger.Debug("route built", "provider", providerName, "routing", routing, "via", rt.via)
	return p, nil
}

// Check reports whether provider through routing can be served with the
// current config and environment, with the same error Provider would give:
// a missing key or account id names the variable to set. Validation calls
// it for every member whose provider and routing are static.
func (r *Router) Check(providerName, routing string) error {
	if routing == "" {
		routing = conductor.DefaultRouting(providerName)
	}
	rt, err := r.plan(providerName, routing)
	if err != nil {
		return err
	}
	if rt.builtin != nil && r.opts.Gateway == nil {
		return errNoBuiltinGateway(providerName)
	}
	return nil
}

// route is a planned route: everything needed to build it, nothing built.
type route struct {
	provider string
	routing  string
	via      string // for the log line: "direct", "workers-ai", "local server", "hosted gateway", "built-in gateway"
	ep       provider.Endpoint
	adapter  func(provider.Endpoint) conductor.Provider
	mock     bool              // Options.Mock is the upstream
	models   map[string]string // model names rewritten before the call (a local server's names)
	builtin  *config.Gateway   // the built-in gateway wraps the upstream (its settings reach package gateway through the integrator)
}

func (r *Router) plan(providerName, routing string) (route, error) {
	if _, ok := conductor.LookupProvider(providerName); !ok {
		return route{}, configErr(providerName, "unknown provider %q (expected one of: %s)", providerName, strings.Join(conductor.Providers(), ", "))
	}
	switch routing {
	case conductor.RoutingDirect:
		return r.planDirect(providerName)
	case conductor.RoutingCloudflare:
		return r.planCloudflare(providerName)
	case conductor.RoutingGateway:
		return r.planGateway(providerName)
	}
	return route{}, configErr(providerName, "unknown routing %q (expected one of: %s)", routing, strings.Join(conductor.RoutingModes(), ", "))
}

func (r *Router) build(rt route) (conductor.Provider, error) {
	var p conductor.Provider
	if rt.mock {
		if r.opts.Mock == nil {
			return nil, configErr(rt.provider, "provider mock is served by the engine's test provider, not by a route")
		}
		p = r.opts.Mock
	} else {
		rt.ep.Client = r.opts.Client
		p = withRedaction(rt.adapter(rt.ep), rt.ep, r.secrets)
	}
	if len(rt.models) > 0 {
		p = &modelMap{next: p, models: rt.models}
	}
	if rt.builtin != nil {
		if r.opts.Gateway == nil {
			return nil, errNoBuiltinGateway(rt.provider)
		}
		p = r.opts.Gateway(rt.builtin.ID, p, rt.provider, "")
	}
	return &routed{next: p, provider: rt.provider, routing: rt.routing}, nil
}

func configErr(providerName, format string, args ...any) *conductor.Error {
	return &conductor.Error{Provider: providerName, Class: conductor.ClassConfig, Message: fmt.Sprintf(format, args...)}
}

func errNoBuiltinGateway(providerName string) *conductor.Error {
	return configErr(providerName, "routing cloudflare-gateway needs a gateway: the built-in gateway is not available yet in this build; "+
		"set account_id in [[ai.gateway]] of conductor.toml to use Cloudflare's hosted AI Gateway, or use routing: direct")
}

// needVar is the error for a missing variable, with an example value that
// shows what kind of value it wants (never a real one).
func needVar(providerName, routing, name, hint string) *conductor.Error {
	if hint == "" {
		hint = example(name)
	}
	return configErr(providerName, "routing %s needs %s: export %s=%s", routing, name, name, hint)
}

func example(name string) string {
	if name == config.EnvCloudflareAccountID {
		return `<account id> (or set account_id in [ai] of conductor.toml)`
	}
	for _, s := range conductor.ProviderSpecs() {
		switch {
		case name == s.KeyVar && s.KeyHint != "":
			return s.KeyHint
		case name == s.BaseURLVar && s.BaseURL == "":
			// A provider with no default URL: a local server.
			return `http://localhost:11434/v1 (or set base_url in [providers.` + s.Name + `] of conductor.toml)`
		}
	}
	return "..."
}
