package routing

import (
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/aig"
)

// planGateway is routing "cloudflare-gateway". With an account_id on the
// gateway, calls go to Cloudflare's hosted AI Gateway at
// {gw}/{account_id}/{gateway_id}/{provider}/…, each provider's own wire path
// and key unchanged, plus the cf-aig-* headers (package provider/aig). Without one, the
// built-in gateway (Options.Gateway) wraps the provider's direct adapter.
func (r *Router) planGateway(name string) (route, error) {
	gw, _ := r.cfg.DefaultGateway()
	if !gw.Hosted() {
		rt, err := r.directRoute(name, conductor.RoutingGateway, upstreamOpts{})
		if err != nil {
			return rt, err
		}
		rt.builtin = &gw
		rt.via = "built-in gateway " + gw.ID
		return rt, nil
	}

	rt := route{provider: name, routing: conductor.RoutingGateway, via: "hosted gateway " + gw.ID}
	spec, _ := conductor.LookupProvider(name) // plan checked the name
	segment := spec.GatewaySegment
	if segment == "" {
		return rt, configErr(name, "Cloudflare's hosted AI Gateway has no route to %s; use routing: direct", name)
	}
	rt.format = spec.Format
	var ok bool
	if rt.adapter, ok = adapterFor(spec.Format); !ok {
		return rt, configErr(name, "no client adapter for the wire format %q of %s", spec.Format, name)
	}
	base := or(r.cfg.GatewayBaseURL(gw, r.opts.Env), aig.DefaultBaseURL)
	fb, total := r.cfg.Timeouts(name)
	rt.ep = provider.Endpoint{
		Name:             name,
		BaseURL:          aig.ProviderURL(base, gw.AccountID, gw.ID, segment),
		FirstByteTimeout: fb,
		Timeout:          total,
		MaxAnswerBytes:   r.cfg.MaxAnswerBytes(),
		Hook:             &aig.Hook{Gateway: gw, Environment: r.environment},
	}

	// The provider's own key still travels with the call, as the provider
	// expects it, unless the gateway stores it (BYOK).
	key, err := r.cfg.APIKey(name, r.opts.Env)
	if err != nil {
		return rt, configErr(name, "routing cloudflare-gateway: %v", err)
	}
	if !key.IsSet() && !gw.BYOK {
		return rt, needVar(name, conductor.RoutingGateway, key.Var, "")
	}
	rt.ep.APIKey = key.Value()

	tok, err := r.cfg.GatewayToken(gw, r.opts.Env)
	if err != nil {
		return rt, configErr(name, "routing cloudflare-gateway: %v", err)
	}
	if !tok.IsSet() && tok.Var != "" {
		return rt, needVar(name, conductor.RoutingGateway, tok.Var, "<AI Gateway token> (named by token_env of gateway "+gw.ID+")")
	}
	if tok.IsSet() {
		rt.ep.Header = http.Header{aig.HeaderAuthorization: {"Bearer " + tok.Value()}}
	}
	return rt, nil
}
