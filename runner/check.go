package runner

import (
	"fmt"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
)

// Check checks, before any member runs, every route the ensemble names
// literally (a member's, or its judge's), so a missing key or account id
// is reported with its position up front instead of failing the flow
// half-way after earlier members were paid for. It returns nil or an
// ensemble.List, one Problem per route. Routes chosen by an expression
// are checked when their member runs.
func (c *Conductor) Check(ens *ensemble.Ensemble) error {
	var list ensemble.List
	check := func(member, what string, tc *ensemble.ThinkConfig) {
		if tc == nil {
			return
		}
		prov, ok := literalString(tc.Provider)
		if !ok {
			return
		}
		route, pos := "", tc.Provider.Pos
		if tc.Routing != nil {
			if route, ok = literalString(tc.Routing); !ok {
				return
			}
			pos = tc.Routing.Pos
		}
		if pos.Line == 0 { // a provider filled in by default
			pos = tc.Pos
		}
		// A model the config declares ([[split]], [[model]]) is checked
		// as the routes it stands for.
		if model, ok := literalString(tc.Model); ok {
			if err, handled := c.checkModel(model, route); handled {
				if err != nil {
					list = append(list, ensemble.Problem{File: ens.File, Pos: tc.Model.Pos,
						Msg: fmt.Sprintf("member %s%s: %v", member, what, err)})
				}
				return
			}
		}
		if err := c.router.Check(prov, route); err != nil {
			list = append(list, ensemble.Problem{File: ens.File, Pos: pos,
				Msg: fmt.Sprintf("member %s%s: %v", member, what, err)})
		}
	}
	for _, st := range ens.Flow {
		check(st.Member, "", st.Config)
		if st.Scoring != nil && st.Scoring.EvaluatorIndex < 0 && st.Scoring.Evaluator != ensemble.EvaluatorRules {
			check(st.Member, " (judge)", st.Scoring.Judge)
		}
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// usesBuiltinGateway reports whether a member may route through the
// built-in gateway: cloudflare-gateway (named, or the default for its
// provider, or decided by an expression) with no Cloudflare account
// configured for the gateway.
func (c *Conductor) usesBuiltinGateway(ens *ensemble.Ensemble) bool {
	if g, ok := c.cfg.DefaultGateway(); ok && g.Hosted() {
		return false
	}
	viaGateway := func(tc *ensemble.ThinkConfig) bool {
		if tc == nil {
			return false
		}
		if tc.Routing != nil {
			r, lit := literalString(tc.Routing)
			return !lit || r == conductor.RoutingGateway
		}
		p, lit := literalString(tc.Provider)
		return !lit || conductor.DefaultRouting(p) == conductor.RoutingGateway
	}
	for _, st := range ens.Flow {
		// A judge with its own config routes on its own.
		if viaGateway(st.Config) || (st.Scoring != nil && viaGateway(st.Scoring.Judge)) {
			return true
		}
	}
	return false
}

// literalString is n's value when the file wrote it as plain text.
func literalString(n *ensemble.Node) (string, bool) {
	if n == nil || !n.IsLiteral() {
		return "", false
	}
	s, ok := n.Lit.(string)
	return s, ok
}

func usesCache(ens *ensemble.Ensemble) bool {
	for _, st := range ens.Flow {
		if st.Cache != nil && st.Cache.TTL > 0 {
			return true
		}
	}
	return false
}
