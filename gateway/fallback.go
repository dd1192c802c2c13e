package gateway

import (
	"context"
	"errors"

	conductor "github.com/conductor-go/conductor"
)

// fallbackProvider tries its routes in order, each after the previous one
// failed with all its retries spent; the answer's Meta.Step (cf-aig-step)
// says which route served it, from 0.
//
// A failure falls back when another provider or model may succeed: server
// errors, 429s and quota, timeouts, network errors, cut streams, unknown
// models (404), refused keys (401/403: that provider's key), too-large
// prompts (another model may have a larger window), answers we could not
// parse, and a route's own spend limit. It does not fall back on a bad
// request (400: the same request is wrong everywhere), on the caller going
// away, or on the gateway's own rate limit.
type fallbackProvider struct {
	g      *Gateway
	routes []Route
}

func (g *Gateway) fallback(routes []Route) conductor.Provider {
	return &fallbackProvider{g: g, routes: routes}
}

var errNoRoute = &conductor.Error{Class: conductor.ClassConfig, Message: "gateway: no route to call"}

func fallsBack(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	e, ok := conductor.AsError(err)
	if !ok {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch e.Class {
	case conductor.ClassBadRequest, conductor.ClassCanceled, conductor.ClassLimited:
		return false
	}
	return true
}

// routeRequest is the request as route r must see it: its provider and
// model when it names them.
func routeRequest(req *conductor.ChatRequest, r Route) *conductor.ChatRequest {
	if (r.Provider == "" || r.Provider == req.Provider) && (r.Model == "" || r.Model == req.Model) {
		return req
	}
	c := copyRequest(req)
	if r.Provider != "" {
		c.Provider = r.Provider
	}
	if r.Model != "" {
		c.Model = r.Model
	}
	return c
}

// step prepares route i: the context carries what record must know when it
// fails.
func (f *fallbackProvider) step(ctx context.Context, req *conductor.ChatRequest, i int) (context.Context, *conductor.ChatRequest, *callInfo) {
	ci := infoFrom(ctx)
	if ci == nil {
		ci = &callInfo{}
		ctx = withInfo(ctx, ci)
	}
	rreq := routeRequest(req, f.routes[i])
	ci.step, ci.provider, ci.model = i, rreq.Provider, rreq.Model
	return ctx, rreq, ci
}

func (f *fallbackProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	for i := range f.routes {
		rctx, rreq, ci := f.step(ctx, req, i)
		resp, err := f.routes[i].P.Chat(rctx, rreq)
		if err == nil {
			resp.Meta.Step = i
			resp.Meta.Attempts = ci.attempts
			return resp, nil
		}
		if i == len(f.routes)-1 || !fallsBack(ctx, err) {
			return nil, err
		}
		f.g.log.Info("gateway falling back", "from", rreq.Provider+"/"+rreq.Model, "step", i+1, "err", err)
	}
	return nil, errNoRoute
}

func (f *fallbackProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	for i := range f.routes {
		rctx, rreq, ci := f.step(ctx, req, i)
		s, err := f.routes[i].P.Stream(rctx, rreq)
		if err == nil {
			m := s.Meta()
			m.Step = i
			m.Attempts = ci.attempts
			return &metaStream{Stream: s, meta: m}, nil
		}
		if i == len(f.routes)-1 || !fallsBack(ctx, err) {
			return nil, err
		}
		f.g.log.Info("gateway falling back", "from", rreq.Provider+"/"+rreq.Model, "step", i+1, "err", err)
	}
	return nil, errNoRoute
}
