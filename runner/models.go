package runner

import (
	"context"
	"fmt"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/routing"
)

// Resolver is the engine's Resolver for a config: the router, plus the
// model names the config declares — a [[split]] (the A/B split `conductor
// serve` answers for that name, built by gateway.SplitsFromConfig) and a
// [[model]] alias (the route it names). It also tells the engine which
// gateway serves a route and what a declared name stands for. `conductor
// run` (through Open) and `conductor serve`'s ensemble endpoint both use
// it, so a member naming a split or an alias means the same in both.
type Resolver struct {
	Config *config.Config
	Router *routing.Router
	// Split returns the built [[split]] of that name.
	Split func(ctx context.Context, name string) (conductor.Provider, error)
	// Pool returns the gateway chain around the [[model]] of that name
	// (its deployments, balanced, behind breakers): a member naming a
	// [[model]] with several deployments is served by it. Nil: such a
	// member is an error, as before deployments.
	Pool func(ctx context.Context, name string) (conductor.Provider, error)
}

// Provider serves a member's call.
func (r Resolver) Provider(ctx context.Context, prov, model, routingMode string) (conductor.Provider, error) {
	if _, ok := r.Config.SplitByName(model); ok {
		return r.Split(ctx, model)
	}
	if m, ok := r.Config.ModelByName(model); ok {
		if n := len(m.Expand()); n > 1 || len(m.Deployments) > 0 {
			if r.Pool == nil {
				return nil, errChain(prov, model, n)
			}
			return r.Pool(ctx, model)
		}
	}
	return r.Router.Provider(ctx, prov, model, routingMode)
}

// GatewayOf names the gateway of a route: a split's own (built-in), else
// the router's answer.
func (r Resolver) GatewayOf(prov, model, routingMode string) (kind, id string, ok bool) {
	if sc, ok := r.Config.SplitByName(model); ok {
		id := sc.Gateway
		if id == "" {
			g, _ := r.Config.DefaultGateway()
			id = g.ID
		}
		return routing.GatewayBuiltin, id, true
	}
	return r.Router.GatewayOf(prov, model, routingMode)
}

// ServedBy says what a declared model name stands for: a [[model]] alias's
// one route (variant ""), or a split's variant ("split/name").
func (r Resolver) ServedBy(model, variant string) (string, string, bool) {
	cfg := r.Config
	if variant == "" {
		if routes, ok := declared(cfg, model); ok && len(routes) == 1 {
			p, m, ok := strings.Cut(routes[0], "/")
			return p, m, ok
		}
		return "", "", false
	}
	sc, ok := cfg.SplitByName(model)
	if !ok {
		return "", "", false
	}
	for _, v := range sc.Variants {
		if sc.Name+"/"+v.Name == variant {
			return v.Provider, v.Model, true
		}
	}
	return "", "", false
}

// split returns the [[split]] named name, its gateway chains built once
// (and with them the store).
func (c *Conductor) split(ctx context.Context, name string) (conductor.Provider, error) {
	if _, _, err := c.state(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.splits == nil {
		// The split is the gateway's part: each variant's chain wraps the
		// provider's direct route, as in `conductor serve`.
		direct := func(ctx context.Context, p, m string) (conductor.Provider, error) {
			return c.router.Provider(ctx, p, m, conductor.RoutingDirect)
		}
		splits, err := gateway.SplitsFromConfig(c.cfg, c.set, direct)
		if err != nil {
			return nil, &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
		}
		c.splits = splits
	}
	sp, ok := c.splits[name]
	if !ok {
		return nil, &conductor.Error{Class: conductor.ClassConfig, Message: "no [[split]] " + name}
	}
	return sp, nil
}

// pool returns the default gateway's chain around the [[model]] named
// name: its deployments balanced behind breakers, as conductor serve
// answers for that name. Pools are built once, with the store.
func (c *Conductor) pool(ctx context.Context, name string) (conductor.Provider, error) {
	_, set, err := c.state(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.chains[name]; ok {
		return p, nil
	}
	if c.pools == nil {
		pools, err := gateway.PoolsFromConfig(c.cfg, func(model string, d config.ModelDeployment) (conductor.Provider, error) {
			return c.router.Deployment(model, d)
		}, c.log)
		if err != nil {
			return nil, &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
		}
		c.pools, c.chains = pools, map[string]conductor.Provider{}
	}
	pl, ok := c.pools[name]
	if !ok {
		return nil, &conductor.Error{Class: conductor.ClassConfig, Message: "no [[model]] " + name}
	}
	g, err := set.Gateway("")
	if err != nil {
		return nil, &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
	}
	p := g.WrapPool(pl)
	c.chains[name] = p
	return p, nil
}

// declared returns the routes of the [[model]] named name.
func declared(cfg *config.Config, name string) ([]string, bool) {
	m, ok := cfg.ModelByName(name)
	if !ok {
		return nil, false
	}
	var routes []string
	for _, d := range m.Expand() {
		routes = append(routes, d.Provider+"/"+d.Model)
	}
	return routes, true
}

func errChain(prov, model string, n int) error {
	return &conductor.Error{Provider: prov, Class: conductor.ClassConfig, Message: fmt.Sprintf(
		"model %s is a fallback chain ([[model]] with %d routes), which conductor serve answers; a member names one model "+
			"(an alias: a [[model]] with one route, or a [[split]]): for a fallback, add a member that runs on ${!first.success}", model, n)}
}

// checkModel checks the routes a literal model name that the config
// declares stands for: each variant of a split (its direct route), an
// alias's provider through the member's routing. handled is false for a
// name the config does not declare.
func (c *Conductor) checkModel(model, route string) (err error, handled bool) {
	if sc, ok := c.cfg.SplitByName(model); ok {
		for _, v := range sc.Variants {
			if err := c.router.Check(v.Provider, conductor.RoutingDirect); err != nil {
				return fmt.Errorf("model %s (a [[split]]), variant %s: %w", model, v.Name, err), true
			}
		}
		return nil, true
	}
	routes, ok := declared(c.cfg, model)
	if !ok {
		return nil, false
	}
	if m, _ := c.cfg.ModelByName(model); len(routes) > 1 || len(m.Deployments) > 0 {
		// A pool: every deployment must be servable, its own key or its
		// provider's present.
		for _, d := range m.Expand() {
			if d.KeyEnv != "" || d.KeyFile != "" {
				k, err := c.cfg.DeploymentKey(model, d, c.env)
				if err == nil && !k.IsSet() {
					err = fmt.Errorf("needs %s: export %s=<key>", d.KeyEnv, d.KeyEnv)
				}
				if err != nil {
					return fmt.Errorf("model %s (a [[model]]), deployment %s: %w", model, d.Name, err), true
				}
				continue
			}
			if err := c.router.Check(d.Provider, conductor.RoutingDirect); err != nil {
				return fmt.Errorf("model %s (a [[model]]), deployment %s: %w", model, d.Name, err), true
			}
		}
		return nil, true
	}
	p, _, _ := strings.Cut(routes[0], "/")
	if err := c.router.Check(p, route); err != nil {
		return fmt.Errorf("model %s (a [[model]] alias of %s): %w", model, routes[0], err), true
	}
	return nil, true
}

// namesSplit reports whether a member may name a [[split]]: by its model
// written literally, or by a model expression when the config has splits.
func (c *Conductor) namesSplit(ens *ensemble.Ensemble) bool {
	if len(c.cfg.Splits) == 0 {
		return false
	}
	for _, st := range ens.Flow {
		for _, tc := range []*ensemble.ThinkConfig{st.Config, judgeOf(st)} {
			if tc == nil || tc.Model == nil {
				continue
			}
			m, lit := literalString(tc.Model)
			if !lit {
				return true
			}
			if _, ok := c.cfg.SplitByName(m); ok {
				return true
			}
		}
	}
	return false
}

func judgeOf(st *ensemble.Step) *ensemble.ThinkConfig {
	if st.Scoring == nil {
		return nil
	}
	return st.Scoring.Judge
}
