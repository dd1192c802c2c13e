package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	conductor "github.com/conductor-go/conductor"
)

// Set keeps one process's gateways by id over one store, each built on
// first use. Its Hook method is what package routing plugs in front of an
// upstream adapter for `routing: cloudflare-gateway` when no Cloudflare
// account is configured.
type Set struct {
	st     conductor.Store
	opts   []Option
	shared atomic.Pointer[limitIndex] // Limits every gateway holds calls to

	mu       sync.Mutex
	configs  map[string]Config
	only     string // the one configured id, for calls that name none
	template Config
	limits   Limits
	m        map[string]*Gateway
	closed   bool
}

// NewSet checks configs (one per gateway id) and returns a Set serving
// them. An id with no config gets template with that id.
func NewSet(st conductor.Store, configs []Config, template Config, opts ...Option) (*Set, error) {
	if st == nil {
		return nil, errors.New("gateway set: no store")
	}
	s := &Set{st: st, m: make(map[string]*Gateway)}
	s.opts = append(opts[:len(opts):len(opts)], func(g *Gateway) { g.shared = &s.shared })
	m, only, err := checkConfigs(configs, template)
	if err != nil {
		return nil, err
	}
	s.configs, s.only, s.template = m, only, template
	s.shared.Store(&limitIndex{})
	return s, nil
}

// checkConfigs checks every config and the template, and indexes the
// configs by id.
func checkConfigs(configs []Config, template Config) (map[string]Config, string, error) {
	m := make(map[string]Config, len(configs))
	for _, c := range configs {
		id := cmp.Or(c.ID, DefaultID)
		c.ID = id
		if _, dup := m[id]; dup {
			return nil, "", fmt.Errorf("gateway %s: configured twice", id)
		}
		check := c
		if err := check.fill(); err != nil {
			return nil, "", err
		}
		if _, err := compileLimits(ownLimits(&check), id); err != nil {
			return nil, "", fmt.Errorf("gateway %s: %w", id, err)
		}
		m[id] = c
	}
	t := template
	if err := t.fill(); err != nil {
		return nil, "", fmt.Errorf("gateway defaults: %w", err)
	}
	only := ""
	if len(configs) == 1 {
		only = cmp.Or(configs[0].ID, DefaultID)
	}
	return m, only, nil
}

// SetLimits replaces the limits every gateway of the set holds its calls
// to, besides its own: calls that start after it returns must fit them.
// Counts carry over: a budget whose limit changes keeps what it spent.
func (s *Set) SetLimits(l Limits) error {
	ix, err := compileLimits(l, "")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.limits = l
	s.shared.Store(ix)
	s.mu.Unlock()
	return nil
}

// Limits returns the limits SetLimits last set.
func (s *Set) Limits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits
}

// Update replaces the gateways' configs while they run, as NewSet took
// them: a running gateway takes its new config (Gateway.Update), or the
// template's when it has none now. Nothing changes when one config is
// refused.
func (s *Set) Update(configs []Config, template Config) error {
	m, only, err := checkConfigs(configs, template)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs, s.only, s.template = m, only, template
	var errs []error
	for id, g := range s.m {
		cfg, ok := m[id]
		if !ok {
			cfg = template
			cfg.ID = id
		}
		errs = append(errs, g.Update(cfg))
	}
	return errors.Join(errs...)
}

// Configured reports whether id has a config of its own (NewSet's or
// Update's configs), rather than the template's.
func (s *Set) Configured(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.configs[id]
	return ok
}

// Gateway returns the gateway with id, starting it on first use. An empty
// id names the only configured gateway, or "default".
func (s *Set) Gateway(id string) (*Gateway, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = cmp.Or(s.only, DefaultID)
	}
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
