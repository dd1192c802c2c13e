package routing

import (
	"context"

	conductor "github.com/conductor-go/conductor"
)

// Embedder returns the embedding upstream of providerName through routing,
// planned exactly as Provider plans a chat route (plan): the provider's own
// API (direct), Workers AI's REST API or the [ai] local server
// (cloudflare), or, for cloudflare-gateway with an account_id, Cloudflare's
// hosted AI Gateway — {gateway}/{account_id}/{gateway_id}/{segment}/… with
// the route's key, token and per-call cf-aig-* headers, the answer's
// cf-aig-cache-status read back. The route's secrets are scrubbed from its
// errors, and its answers name the provider and routing.
//
// The built-in gateway stands around an embedding upstream through
// gateway.WrapEmbed, which the caller applies: builtin names the gateway
// for cloudflare-gateway without an account_id, "" on every other route.
func (r *Router) Embedder(ctx context.Context, providerName, routing string) (e conductor.Embedder, builtin string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, "", &conductor.Error{Provider: providerName, Class: conductor.ClassCanceled, Message: "resolving the route", Err: err}
	}
	if routing == "" {
		routing = conductor.DefaultRouting(providerName)
	}
	rt, err := r.plan(providerName, routing)
	if err != nil {
		return nil, "", err
	}
	if rt.mock {
		return nil, "", configErr(providerName, "provider mock serves no embeddings")
	}
	rt.ep.Client = r.opts.Client
	p := rt.adapter(rt.ep)
	if _, ok := p.(conductor.Embedder); !ok {
		return nil, "", configErr(providerName, "%s serves no embeddings", providerName)
	}
	e = withRedaction(p, rt.ep, r.secrets).(*redacting)
	if len(rt.models) > 0 {
		e = &embedModelMap{next: e, models: rt.models}
	}
	if rt.builtin != nil {
		builtin = rt.builtin.ID
	}
	return &routedEmbedder{next: e, provider: rt.provider, routing: rt.routing}, builtin, nil
}

// embedModelMap renames models for a local server, as modelMap does.
type embedModelMap struct {
	next   conductor.Embedder
	models map[string]string
}

func (m *embedModelMap) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	if to, ok := m.models[req.Model]; ok {
		r := *req
		r.Model = to
		req = &r
	}
	return m.next.Embed(ctx, req)
}

// routedEmbedder names the provider and routing in every answer, and fills
// in a request's empty provider, as routed does.
type routedEmbedder struct {
	next              conductor.Embedder
	provider, routing string
}

func (p *routedEmbedder) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	if req.Provider == "" {
		r := *req
		r.Provider = p.provider
		req = &r
	}
	resp, err := p.next.Embed(ctx, req)
	if resp != nil {
		resp.Meta.Provider, resp.Meta.Routing = p.provider, p.routing
	}
	return resp, err
}
