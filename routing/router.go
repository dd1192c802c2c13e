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
//     gateway has an account_id (package provider/aig holds its URLs and cf-aig-* headers), else the
//     built-in gateway around the direct adapter.
//
// Every provider returned reports its provider and routing in ResponseMeta.
//
// Upstream serves a gateway that stands in front of the router itself —
// `conductor serve`, whose built-in gateway chains wrap one upstream per
// provider: the direct route, plus the account a Cloudflare path names and
// Workers AI's OpenAI-compatible endpoint. Every route, for ensembles and
// serve alike, redacts every configured secret in its errors (redact.go)
// and sends a call's own key and provider headers when the call carries
// them (caller.go).
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
	secrets secretSet

	// account is the Cloudflare account of the config ([ai] account_id,
	// else CLOUDFLARE_ACCOUNT_ID), read once; accountErr its problem.
	account    string
	accountErr error

	mu    sync.RWMutex
	built map[routeKey]built
}

// routeKey names a built route: a routing mode's (Provider), or an
// upstream of a gateway the caller builds (Upstream).
type routeKey struct {
	provider, routing string
	upstream          bool
	account           string // Upstream: the Workers AI account it runs in
	compat            bool   // Upstream: Workers AI's OpenAI-compatible endpoint
	// Upstream of a deployment: its own base URL and key source.
	baseURL, keyEnv, keyFile string
}

// built is a route ready to serve.
type built struct {
	p conductor.Provider
	// keyless is the missing-key error of an upstream built for calls that
	// bring their caller's own key: any other call gets it instead.
	keyless error
}

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
	r := &Router{
		cfg:         cfg,
		opts:        opts,
		environment: cfg.EnvironmentName(opts.Env),
		secrets:     configuredSecrets(cfg, opts.Env),
		built:       map[routeKey]built{},
	}
	r.account, r.accountErr = cfg.AccountID(opts.Env)
	return r, nil
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
	return r.route(routeKey{provider: providerName, routing: routing}, false, func() (route, error) {
		return r.plan(providerName, routing)
	})
}

// Upstream is what a gateway that stands in front of the router's routes
// asks of it — `conductor serve`, whose built-in gateway chains (with
// [[model]] fallbacks) wrap one upstream per provider.
type Upstream struct {
	Provider string
	// Account is the Workers AI account a Cloudflare path names, used when
	// the config names none.
	Account string
	// Compat reaches Workers AI through its OpenAI-compatible endpoint
	// (…/ai/v1/chat/completions) instead of its native one.
	Compat bool
	// CallerKey says the calls bring the caller's own key
	// (CallOptions.CallerKey): a provider key missing from the config is
	// then no error.
	CallerKey bool
	// Deployment, when set, is a [[model.deployment]]'s own base URL and
	// key in place of the provider's (config.ModelDeployment); Model is
	// the [[model]] it belongs to, for errors.
	Deployment *config.ModelDeployment
	Model      string
}

// Upstream returns the provider for u: the provider's own API as routing
// direct reaches it (URL, key, timeouts, redaction of every secret, the
// caller's own key and headers of each call), with no gateway of its own
// and no routing mode in its answers, so that the gateway in front logs
// its own. Provider mock is Options.Mock. Failures are *conductor.Error of
// class ClassConfig naming what to set.
func (r *Router) Upstream(u Upstream) (conductor.Provider, error) {
	spec, ok := conductor.LookupProvider(u.Provider)
	if !ok {
		return nil, errUnknownProvider(u.Provider)
	}
	key := routeKey{provider: u.Provider, upstream: true}
	if spec.Account {
		if r.accountErr != nil {
			return nil, configErr(u.Provider, "%v", r.accountErr)
		}
		// The config's account first: a caller's path may not pick another
		// account for the server's token.
		if key.account = or(r.account, u.Account); key.account == "" {
			return nil, needVar(u.Provider, "", config.EnvCloudflareAccountID, "")
		}
		key.compat = u.Compat
	} else if u.Compat {
		return nil, configErr(u.Provider, "%s has no OpenAI-compatible endpoint besides its own API", u.Provider)
	}
	o := upstreamOpts{account: key.account, compat: key.compat, callerKey: u.CallerKey}
	if d := u.Deployment; d != nil {
		key.baseURL, key.keyEnv, key.keyFile = d.BaseURL, d.KeyEnv, d.KeyFile
		o.deployment, o.model = d, u.Model
	}
	return r.route(key, u.CallerKey, func() (route, error) {
		rt, err := r.directRoute(u.Provider, "", o)
		rt.via, rt.upstream = "upstream", true
		return rt, err
	})
}

// route returns the built route of key, planning and building it on first
// use. callerKey says the call brings its own key.
func (r *Router) route(key routeKey, callerKey bool, plan func() (route, error)) (conductor.Provider, error) {
	r.mu.RLock()
	b, ok := r.built[key]
	r.mu.RUnlock()
	if !ok {
		// Building is cheap and does no I/O beyond reading a key file, so
		// it runs under the lock: one provider per route, never two.
		r.mu.Lock()
		defer r.mu.Unlock()
		if b, ok = r.built[key]; !ok {
			rt, err := plan()
			if err != nil {
				return nil, err
			}
			p, err := r.build(rt)
			if err != nil {
				return nil, err
			}
			b = built{p: p, keyless: rt.keyless}
			r.built[key] = b
			r.opts.Logger.Debug("route built", "provider", key.provider, "routing", rt.routing, "via", rt.via)
		}
	}
	if b.keyless != nil && !callerKey {
		return nil, b.keyless
	}
	return b.p, nil
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

// Gateway kinds, as GatewayOf names them.
const (
	GatewayHosted  = "hosted"   // Cloudflare's hosted AI Gateway (the gateway has an account_id)
	GatewayBuiltin = "built-in" // the built-in gateway, in this process
)

// GatewayOf says which gateway serves provider through routing (the model
// does not change the route; engine.GatewayNamer passes it): kind
// GatewayHosted or GatewayBuiltin and the [[ai.gateway]] id ("default"
// when none is configured); ok is false for a route without a gateway
// (direct, cloudflare). It plans nothing and builds nothing: --trace asks
// it for every member.
func (r *Router) GatewayOf(providerName, model, routing string) (kind, id string, ok bool) {
	if routing == "" {
		routing = conductor.DefaultRouting(providerName)
	}
	if routing != conductor.RoutingGateway {
		return "", "", false
	}
	gw, _ := r.cfg.DefaultGateway()
	if gw.Hosted() {
		return GatewayHosted, gw.ID, true
	}
	return GatewayBuiltin, gw.ID, true
}

// route is a planned route: everything needed to build it, nothing built.
type route struct {
	provider string
	routing  string
	via      string // for the log line: "direct", "workers-ai", "local server", "hosted gateway", "built-in gateway"
	ep       provider.Endpoint
	adapter  func(provider.Endpoint) conductor.Provider
	format   string            // the wire format the adapter speaks
	mock     bool              // Options.Mock is the upstream
	models   map[string]string // model names rewritten before the call (a local server's names)
	builtin  *config.Gateway   // the built-in gateway wraps the upstream (its settings reach package gateway through the integrator)
	// upstream: no routed wrapper, the gateway in front names the routing.
	upstream bool
	// keyless is set on an upstream built without the key it needs, for
	// calls that bring their own (Upstream.CallerKey).
	keyless error
}

// upstreamOpts are what Upstream adds to a direct route.
type upstreamOpts struct {
	account   string // the Workers AI account ("" : the config's)
	compat    bool   // Workers AI's OpenAI-compatible endpoint
	callerKey bool   // calls bring their own key
	// deployment's base URL and key replace the provider's when set.
	deployment *config.ModelDeployment
	model      string
}

func (r *Router) plan(providerName, routing string) (route, error) {
	if _, ok := conductor.LookupProvider(providerName); !ok {
		return route{}, errUnknownProvider(providerName)
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
		// Every route sends a call's own choices (the caller's key and
		// provider headers) after its own headers.
		ch := callerHook{format: rt.format}
		if rt.ep.Hook == nil {
			rt.ep.Hook = ch
		} else {
			rt.ep.Hook = hooks{rt.ep.Hook, ch}
		}
		p = withRedaction(rt.adapter(rt.ep), rt.ep, r.secrets)
	}
	if rt.upstream {
		return p, nil
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

func errUnknownProvider(name string) *conductor.Error {
	return configErr(name, "unknown provider %q (expected one of: %s)", name, strings.Join(conductor.Providers(), ", "))
}

func configErr(providerName, format string, args ...any) *conductor.Error {
	return &conductor.Error{Provider: providerName, Class: conductor.ClassConfig, Message: fmt.Sprintf(format, args...)}
}

func errNoBuiltinGateway(providerName string) *conductor.Error {
	return configErr(providerName, "routing cloudflare-gateway needs a gateway, and this router was built without the built-in one: "+
		"set routing.Options.Gateway (a gateway.Set's Hook, as conductor run does; runner.Open wires it for you), "+
		"or set account_id in [[ai.gateway]] of conductor.toml to use Cloudflare's hosted AI Gateway, or use routing: direct")
}

// needVars is needVar for several missing variables, every one named:
// "routing cloudflare needs A and B: export A=<…> and B=<…>".
func needVars(providerName, routing string, names ...string) *conductor.Error {
	if len(names) == 1 {
		return needVar(providerName, routing, names[0], "")
	}
	sets := make([]string, len(names))
	for i, n := range names {
		sets[i] = n + "=" + example(n)
	}
	need := "routing " + routing + " needs " + strings.Join(names, " and ")
	if routing == "" {
		need = "the gateway needs " + strings.Join(names, " and ") + " for " + providerName
	}
	return configErr(providerName, "%s: export %s", need, strings.Join(sets, " and "))
}

// needVar is the error for a missing variable, with an example value that
// shows what kind of value it wants (never a real one).
func needVar(providerName, routing, name, hint string) *conductor.Error {
	if hint == "" {
		hint = example(name)
	}
	if routing == "" {
		// An upstream of conductor serve: the gateway, not a routing mode.
		return configErr(providerName, "the gateway needs %s for %s: export %s=%s", name, providerName, name, hint)
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

// Deployment returns the upstream of one [[model]] deployment (package
// gateway's Pool): the provider's own API at the deployment's base URL,
// with its own key, redacted like every configured secret. A deployment
// whose key is missing still serves the calls that bring their caller's
// own key (Upstream.CallerKey); the others get the missing key's error.
func (r *Router) Deployment(model string, d config.ModelDeployment) (conductor.Provider, error) {
	u := Upstream{Provider: d.Provider, Deployment: &d, Model: model}
	p, err := r.Upstream(u)
	if err == nil {
		return p, nil
	}
	u.CallerKey = true
	withKey, err2 := r.Upstream(u)
	if err2 != nil {
		return nil, err
	}
	return &callerKeyOnly{next: withKey, missing: err}, nil
}

// callerKeyOnly serves only the calls that bring their own key.
type callerKeyOnly struct {
	next    conductor.Provider
	missing error
}

func (c *callerKeyOnly) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	if req.Options.CallerKey.Value == "" {
		return nil, c.missing
	}
	return c.next.Chat(ctx, req)
}

func (c *callerKeyOnly) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	if req.Options.CallerKey.Value == "" {
		return nil, c.missing
	}
	return c.next.Stream(ctx, req)
}
