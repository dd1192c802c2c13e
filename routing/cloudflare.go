package routing

import (
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"
)

// planCloudflare is routing "cloudflare", the platform-native route: no key
// in the ensemble, Workers AI reached with the account and token of the [ai]
// settings (or the environment). When [ai] names a url, a local
// OpenAI-compatible model server answers instead, under the name
// workers-ai, with [ai.model] translating model ids. No gateway stands on
// the route: the member's step cache is its only cache.
func (r *Router) planCloudflare(name string) (route, error) {
	if spec, _ := conductor.LookupProvider(name); !spec.Native {
		return route{}, configErr(name, "routing cloudflare serves only %s models; use routing: cloudflare-gateway or direct for %s", strings.Join(nativeProviders(), ", "), name)
	}
	if u := r.cfg.AI.URL; u != "" {
		fb, total := r.cfg.Timeouts(conductor.ProviderLocal)
		return route{
			provider: name, routing: conductor.RoutingCloudflare, via: "local server " + u,
			ep: provider.Endpoint{
				Name: conductor.ProviderWorkersAI, BaseURL: strings.TrimRight(u, "/"),
				FirstByteTimeout: fb, Timeout: total, MaxAnswerBytes: r.cfg.MaxAnswerBytes(),
			},
			adapter: openai.New,
			format:  conductor.FormatOpenAI,
			models:  r.cfg.AI.Model,
		}, nil
	}
	rt, err := r.directRoute(name, conductor.RoutingCloudflare, upstreamOpts{})
	rt.via = "workers-ai"
	return rt, err
}

// nativeProviders are the providers routing cloudflare serves.
func nativeProviders() []string {
	var out []string
	for _, s := range conductor.ProviderSpecs() {
		if s.Native {
			out = append(out, s.Name)
		}
	}
	return out
}
