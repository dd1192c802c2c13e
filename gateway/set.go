package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	conductor "github.com/conductor-go/conductor"
)

// Set keeps one process's gateways by id over one store, each built on
// first use. Its Hook method is what package routing plugs in front of an
// upstream adapter for `routing: cloudflare-gateway` when no Cloudflare
// account is configured.
type Set struct {
	st       conductor.Store
	configs  map[string]Config
	only     string // the one configured id, for calls that name none
	template Config
	opts     []Option

	mu     sync.Mutex
	m      map[string]*Gateway
	closed bool
}

// NewSet checks configs (one per gateway id) and returns a Set serving
// them. An id with no config gets template with that id.
func NewSet(st conductor.Store, configs []Config, template Config, opts ...Option) (*Set, error) {
	if st == nil {
		return nil, errors.New("gateway set: no store")
	}
	s := &Set{st: st, configs: make(map[string]Config, len(configs)), template: template, opts: opts, m: make(map[string]*Gateway)}
	for _, c := range configs {
		id := c.ID
		if id == "" {
			id = DefaultID
		}
		if _, dup := s.configs[id]; dup {
			return nil, fmt.Errorf("gateway %s: configured twice", id)
		}
		check := c
		if err := check.fill(); err != nil {
			return nil, err
		}
		s.configs[id] = c
	}
	t := template
	if err := t.fill(); err != nil {
		return nil, fmt.Errorf("gateway defaults: %w", err)
	}
	if len(configs) == 1 {
		s.only = configs[0].ID
		if s.only == "" {
			s.only = DefaultID
		}
	}
	return s, nil
}

// Gateway returns the gateway with id, starting it on first use. An empty
// id names the only configured gateway, or "default".
func (s *Set) Gateway(id string) (*Gateway, error) {
	if id == "" {
		id = s.only
		if id == "" {
			id = DefaultID
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("gateway %s: the gateway set is closed", id)
	}
	if g := s.m[id]; g != nil {
		return g, nil
	}
	cfg, ok := s.configs[id]
	if !ok {
		cfg = s.template
		cfg.ID = id
	}
	g, err := New(cfg, s.st, s.opts...)
	if err != nil {
		return nil, err
	}
	s.m[id] = g
	return g, nil
}

// Hook puts gateway gatewayID in front of upstream. providerName and model
// name the upstream for errors; each call's own provider and model are the
// ones the gateway keys and prices.
func (s *Set) Hook(gatewayID string, upstream conductor.Provider, providerName, model string) conductor.Provider {
	g, err := s.Gateway(gatewayID)
	if err != nil {
		return failing{&conductor.Error{Provider: providerName, Class: conductor.ClassConfig, Message: "model " + model + ": " + err.Error(), Err: err}}
	}
	return g.Wrap(upstream)
}

// Close closes every gateway started, writing what they queued.
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	gs := make([]*Gateway, 0, len(s.m))
	for _, g := range s.m {
		gs = append(gs, g)
	}
	s.mu.Unlock()
	var errs []error
	for _, g := range gs {
		errs = append(errs, g.Close(ctx))
	}
	return errors.Join(errs...)
}

// failing answers every call with one error.
type failing struct{ err error }

func (f failing) Chat(context.Context, *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return nil, f.err
}

func (f failing) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, f.err
}
