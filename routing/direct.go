package routing

import (
	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// planDirect is routing "direct": the provider's own API, its key from the
// environment. No gateway stands on the route, so no cache, no analytics and
// no automatic retries (the member's own retry still applies).
func (r *Router) planDirect(name string) (route, error) {
	rt, err := r.directRoute(name, conductor.RoutingDirect)
	rt.via = "direct"
	return rt, err
}

// directRoute plans the adapter at the provider's own URL; routing is only
// named in errors (the built-in gateway uses the same upstream).
func (r *Router) directRoute(name, routing string) (route, error) {
	rt := route{provider: name, routing: routing}
	if name == conductor.ProviderMock {
		rt.mock = true
		return rt, nil
	}
	fb, total := r.cfg.Timeouts(name)
	rt.ep = provider.Endpoint{Name: name, FirstByteTimeout: fb, Timeout: total}
	base := r.cfg.BaseURL(name, r.opts.Env)
	switch name {
	case conductor.ProviderOpenAI:
		rt.ep.BaseURL, rt.adapter = or(base, provider.OpenAIBaseURL), provider.NewOpenAI
	case conductor.ProviderGroq:
		rt.ep.BaseURL, rt.adapter = or(base, provider.GroqBaseURL), provider.NewOpenAI
	case conductor.ProviderAnthropic:
		rt.ep.BaseURL, rt.adapter = or(base, provider.AnthropicBaseURL), provider.NewAnthropic
	case conductor.ProviderWorkersAI:
		acct, err := r.accountID(name, routing)
		if err != nil {
			return rt, err
		}
		rt.ep.BaseURL, rt.adapter = provider.WorkersAIBaseURL(base, acct), provider.NewWorkersAI
	case conductor.ProviderLocal:
		if base == "" {
			return rt, needVar(name, routing, "LOCAL_BASE_URL", "")
		}
		rt.ep.BaseURL, rt.adapter = base, provider.NewOpenAI
	}
	key, err := r.cfg.APIKey(name, r.opts.Env)
	if err != nil {
		return rt, configErr(name, "routing %s: %v", routing, err)
	}
	// Var is empty only for a local server nobody gave a key variable.
	if !key.IsSet() && key.Var != "" {
		return rt, needVar(name, routing, key.Var, "")
	}
	rt.ep.APIKey = key.Value()
	return rt, nil
}

// accountID returns the Cloudflare account Workers AI runs in.
func (r *Router) accountID(name, routing string) (string, error) {
	acct, err := r.cfg.AccountID(r.opts.Env)
	if err != nil {
		return "", configErr(name, "routing %s: %v", routing, err)
	}
	if acct == "" {
		return "", needVar(name, routing, "CLOUDFLARE_ACCOUNT_ID", "")
	}
	return acct, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
