package gateway

import (
	"fmt"
	"slices"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Scopes of budgets and rate limits: what a limit counts.
const (
	ScopeGateway     = "gateway"
	ScopeEnvironment = "environment"
	ScopeUser        = "user"
	ScopeKey         = "key"  // a virtual key, by name (CallOptions.Key)
	ScopeTeam        = "team" // a virtual key's team (CallOptions.Team)
	ScopeProvider    = "provider"
	ScopeModel       = "model"
)

// Limits are budgets and rate limits that every gateway of a Set holds its
// calls to (Set.SetLimits), besides each gateway's own (Config.Budgets and
// Config.RateLimit).
//
// Every limit counts under a key naming its scope and the scope's value,
// and no gateway unless the scope is the gateway: a limit scoped by
// environment, user, key, team, provider or model counts the calls of
// every gateway together, so that a caller cannot escape it by going
// through another gateway (or naming a new one). Two limits that count
// under the same key share the count; the smaller limit holds.
type Limits struct {
	Budgets []Budget
	Rates   []RateRule
}

// RateRule is a request and token limit per window on one scope.
type RateRule struct {
	// Name identifies the rule (in the config, the admin API); its counts
	// do not depend on it.
	Name string
	// Scope is gateway, environment, user, key or team.
	Scope string
	// Match restricts the rule to one value of its scope ("alice", a key's
	// name, a gateway id); empty gives every value its own count (each
	// user, each key, each gateway).
	Match string
	// Gateway, when set, holds only the calls through that gateway to the
	// rule; the count is still the scope value's through every gateway.
	Gateway string
	// Requests per window, cache hits included; 0: no request limit.
	Requests int64
	// Tokens (input + output of upstream answers) per window; 0: none.
	Tokens int64
	// Window is the period counted over: default one minute.
	Window time.Duration
	// Kind is conductor.WindowFixed (default) or conductor.WindowSliding.
	Kind string
}

func (r *RateRule) fill() error {
	switch r.Scope {
	case ScopeGateway, ScopeEnvironment, ScopeUser, ScopeKey, ScopeTeam:
	default:
		return fmt.Errorf("scope %q (expected gateway, environment, user, key or team)", r.Scope)
	}
	if r.Requests < 0 || r.Tokens < 0 {
		return fmt.Errorf("negative limit")
	}
	switch {
	case r.Window == 0:
		r.Window = DefaultRateWindow
	case r.Window < 0:
		return fmt.Errorf("window %v is negative", r.Window)
	}
	switch r.Kind {
	case "":
		r.Kind = conductor.WindowFixed
	case conductor.WindowFixed, conductor.WindowSliding:
	default:
		return fmt.Errorf("window kind %q (expected fixed or sliding)", r.Kind)
	}
	return nil
}

// who are the values of a call's scopes. Provider and model are known per
// route only: budgets use them, rate limits (which count a request once,
// whatever route serves it) do not.
type who struct {
	gateway, environment, user, key, team, provider, model string
}

func (w *who) value(scope string) string {
	switch scope {
	case ScopeGateway:
		return w.gateway
	case ScopeEnvironment:
		return w.environment
	case ScopeUser:
		return w.user
	case ScopeKey:
		return w.key
	case ScopeTeam:
		return w.team
	case ScopeProvider:
		return w.provider
	case ScopeModel:
		return w.model
	}
	return ""
}

// whoFor are the scope values of a call through g with options o.
func (g *Gateway) whoFor(o *conductor.CallOptions) who {
	env := o.Environment
	if env == "" {
		env = g.conf().Environment
	}
	return who{gateway: g.id, environment: env, user: o.User, key: o.Key, team: o.Team}
}

// limitIndex finds the limits of a call without reading every rule:
// rules that match one value (a key's, a team's: there may be thousands)
// are found by that value; the others give each value its own count and
// are few.
type limitIndex struct {
	budgets   []Budget
	rates     []RateRule
	budgetBy  map[scoped][]int
	budgetAll []int
	rateBy    map[scoped][]int
	rateAll   []int
}

type scoped struct{ scope, match string }

// compileLimits checks l and indexes it. A gateway's own limits come
// with own set: its gateway-scoped budgets count for it, whatever their
// Match says.
func compileLimits(l Limits, own string) (*limitIndex, error) {
	ix := &limitIndex{
		budgets:  append([]Budget(nil), l.Budgets...),
		rates:    append([]RateRule(nil), l.Rates...),
		budgetBy: map[scoped][]int{},
		rateBy:   map[scoped][]int{},
	}
	for i := range ix.budgets {
		b := &ix.budgets[i]
		if err := b.check(); err != nil {
			return nil, fmt.Errorf("budget %s: %w", cmpName(b.Name, i), err)
		}
		if own != "" && b.Scope == ScopeGateway {
			b.Match = own
		}
		if b.Match == "" {
			ix.budgetAll = append(ix.budgetAll, i)
		} else {
			k := scoped{b.Scope, b.Match}
			ix.budgetBy[k] = append(ix.budgetBy[k], i)
		}
	}
	for i := range ix.rates {
		r := &ix.rates[i]
		if err := r.fill(); err != nil {
			return nil, fmt.Errorf("rate limit %s: %w", cmpName(r.Name, i), err)
		}
		if r.Match == "" {
			ix.rateAll = append(ix.rateAll, i)
		} else {
			k := scoped{r.Scope, r.Match}
			ix.rateBy[k] = append(ix.rateBy[k], i)
		}
	}
	return ix, nil
}

func cmpName(name string, i int) string {
	if name != "" {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprint(i + 1)
}

// eachBudget calls f with every budget of the index that a call of w
// matches, in the order they were given, and the value of the budget's
// scope it counts under.
func (ix *limitIndex) eachBudget(w *who, f func(b *Budget, value string)) {
	if ix == nil {
		return
	}
	var found [16]int
	hits := found[:0]
	for _, i := range ix.budgetAll {
		if w.value(ix.budgets[i].Scope) != "" {
			hits = append(hits, i)
		}
	}
	if len(ix.budgetBy) > 0 {
		for _, scope := range [...]string{ScopeGateway, ScopeEnvironment, ScopeUser, ScopeKey, ScopeTeam, ScopeProvider, ScopeModel} {
			v := w.value(scope)
			if v == "" {
				continue
			}
			hits = append(hits, ix.budgetBy[scoped{scope, v}]...)
			if scope == ScopeModel && w.provider != "" {
				// "openai/gpt-4o" counts under the model's name, as "gpt-4o" does.
				hits = append(hits, ix.budgetBy[scoped{scope, w.provider + "/" + v}]...)
			}
		}
	}
	slices.Sort(hits)
	for _, i := range hits {
		b := &ix.budgets[i]
		f(b, w.value(b.Scope))
	}
}

// eachRate calls f with every rate rule of the index a call of w matches.
func (ix *limitIndex) eachRate(w *who, f func(r *RateRule, value string)) {
	if ix == nil {
		return
	}
	for _, i := range ix.rateAll {
		r := &ix.rates[i]
		if r.Gateway != "" && r.Gateway != w.gateway {
			continue
		}
		if v := w.value(r.Scope); v != "" {
			f(r, v)
		}
	}
	if len(ix.rateBy) == 0 {
		return
	}
	for _, scope := range [...]string{ScopeGateway, ScopeEnvironment, ScopeUser, ScopeKey, ScopeTeam} {
		v := w.value(scope)
		if v == "" {
			continue
		}
		for _, i := range ix.rateBy[scoped{scope, v}] {
			if r := &ix.rates[i]; r.Gateway == "" || r.Gateway == w.gateway {
				f(r, v)
			}
		}
	}
}

// ownLimits are the limits of a gateway's own config: its budgets, its
// request and token limits, and its per-user ones (which count each user
// through every gateway, like any limit not scoped by the gateway).
func ownLimits(c *Config) Limits {
	l := Limits{Budgets: c.Budgets}
	rl := c.RateLimit
	if rl.Requests > 0 || rl.Tokens > 0 {
		l.Rates = append(l.Rates, RateRule{Scope: ScopeGateway, Match: c.ID, Requests: rl.Requests, Tokens: rl.Tokens, Window: rl.Window, Kind: rl.Kind})
	}
	if rl.UserRequests > 0 || rl.UserTokens > 0 {
		l.Rates = append(l.Rates, RateRule{Scope: ScopeUser, Requests: rl.UserRequests, Tokens: rl.UserTokens, Window: rl.Window, Kind: rl.Kind})
	}
	return l
}
