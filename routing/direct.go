package routing

import (
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/workersai"
)

// planDirect is routing "direct": the provider's own API, its key from the
// environment. No gateway stands on the route, so no cache, no analytics and
// no automatic retries (the member's own retry still applies).
func (r *Router) planDirect(name string) (route, error) {
	rt, err := r.directRoute(name, conductor.RoutingDirect, upstreamOpts{})
	rt.via = "direct"
	return rt, err
}

// directRoute plans the adapter at the provider's own URL; routing is only
// named in errors ("" for an Upstream; the built-in gateway uses the same
// upstream).
func (r *Router) directRoute(name, routing string, o upstreamOpts) (route, error) {
	rt := route{provider: name, routing: routing}
	if name == conductor.ProviderMock {
		rt.mock = true
		return rt, nil
	}
	spec, _ := conductor.LookupProvider(name) // plan checked the name
	fb, total := r.cfg.Timeouts(name)
	rt.ep = provider.Endpoint{Name: name, FirstByteTimeout: fb, Timeout: total, MaxAnswerBytes: r.cfg.MaxAnswerBytes()}
	rt.ep.BaseURL = or(r.cfg.BaseURL(name, r.opts.Env), spec.BaseURL)
	if d := o.deployment; d != nil && d.BaseURL != "" {
		rt.ep.BaseURL = d.BaseURL
	}
	if rt.ep.BaseURL == "" {
		return rt, needVar(name, routing, spec.BaseURLVar, "")
	}
	rt.format = spec.Format
	// Every missing variable is named at once, not one per try.
	var missing []string
	if spec.Account {
		acct := o.account
		if acct == "" {
			if r.accountErr != nil {
				return rt, configErr(name, "routing %s: %v", routing, r.accountErr)
			}
			acct = r.account
		}
		if acct == "" {
			missing = append(missing, config.EnvCloudflareAccountID)
		}
		rt.ep.BaseURL = workersai.BaseURL(rt.ep.BaseURL, acct)
		if o.compat {
			// Workers AI's OpenAI-compatible endpoint: …/ai/v1, OpenAI's wire.
			rt.ep.BaseURL, rt.format = strings.TrimSuffix(rt.ep.BaseURL, "/run")+"/v1", conductor.FormatOpenAI
		}
	}
	var ok bool
	if rt.adapter, ok = adapterFor(rt.format); !ok {
		return rt, configErr(name, "no client adapter for the wire format %q of %s", spec.Format, name)
	}
	key, err := r.cfg.APIKey(name, r.opts.Env)
	if err != nil {
		return rt, configErr(name, "routing %s: %v", routing, err)
	}
	if d := o.deployment; d != nil && (d.KeyEnv != "" || d.KeyFile != "") {
		// The deployment's own key, never the provider's in its place.
		if key, err = r.cfg.DeploymentKey(o.model, *d, r.opts.Env); err != nil {
			return rt, configErr(name, "%v", err)
		}
	}
	// Var is empty only for a local server nobody gave a key variable.
	if !key.IsSet() && key.Var != "" {
		if !o.callerKey {
			missing = append(missing, key.Var)
		} else if len(missing) == 0 {
			rt.keyless = needVar(name, routing, key.Var, "") // for the calls without their own
		}
	}
	if len(missing) > 0 {
		return rt, needVars(name, routing, missing...)
	}
	rt.ep.APIKey = key.Value()
	return rt, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
