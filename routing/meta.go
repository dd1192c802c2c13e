package routing

import (
	"context"

	conductor "github.com/conductor-go/conductor"
)

// routed is the outermost wrapper of every route: whatever stands inside,
// the answer says which provider and routing mode served it.
type routed struct {
	next              conductor.Provider
	provider, routing string
}

func (p *routed) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	resp, err := p.next.Chat(ctx, p.request(req))
	if resp != nil {
		resp.Meta.Provider, resp.Meta.Routing = p.provider, p.routing
	}
	return resp, err
}

func (p *routed) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	s, err := p.next.Stream(ctx, p.request(req))
	if err != nil {
		return nil, err
	}
	return &routedStream{Stream: s, provider: p.provider, routing: p.routing}, nil
}

// request fills in the provider name when the caller left it empty, since
// gateway features (cache keys, prices) read it; the caller's request is
// not modified.
func (p *routed) request(req *conductor.ChatRequest) *conductor.ChatRequest {
	if req.Provider != "" {
		return req
	}
	r := *req
	r.Provider = p.provider
	return &r
}

type routedStream struct {
	conductor.Stream
	provider, routing string
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *routedStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *routedStream) Meta() conductor.ResponseMeta {
	m := s.Stream.Meta()
	m.Provider, m.Routing = s.provider, s.routing
	return m
}

// modelMap renames models for a local server that calls them differently
// ("@cf/meta/llama-3.1-8b-instruct" → "llama3.1:8b").
type modelMap struct {
	next   conductor.Provider
	models map[string]string
}

func (m *modelMap) request(req *conductor.ChatRequest) *conductor.ChatRequest {
	to, ok := m.models[req.Model]
	if !ok {
		return req
	}
	r := *req
	r.Model = to
	// A caller's raw body names the old model: let the adapter encode the
	// fields instead.
	r.Body, r.BodyFormat = nil, ""
	return &r
}

func (m *modelMap) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return m.next.Chat(ctx, m.request(req))
}

func (m *modelMap) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	return m.next.Stream(ctx, m.request(req))
}
