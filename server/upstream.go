package server

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/routing"
)

// route is one upstream a call may go to: a provider, the model to ask it
// for, and, for Workers AI, whether through its OpenAI-compatible endpoint.
type route struct {
	provider string
	model    string
	compat   bool
	// pool, when set, serves the call instead of the routes in order: the
	// routes are its deployments' (Options.Pools).
	pool *gateway.Pool
}

func (r route) String() string { return r.provider + "/" + r.model }

// format is the wire format the route's upstream answers in.
func (r route) format() format {
	spec, ok := conductor.LookupProvider(r.provider)
	switch {
	case !ok:
		return fmtNone
	case r.compat:
		return fmtOpenAI // Workers AI's OpenAI-compatible /v1
	}
	return formatOf(spec.Format)
}

// splitModel reads "provider/model" (the model may hold more slashes:
// workers-ai/@cf/meta/llama-3.1-8b-instruct).
func splitModel(s string) (providerName, model string, err error) {
	p, m, ok := strings.Cut(s, "/")
	if !ok || p == "" || m == "" {
		return "", "", fmt.Errorf("%q is not provider/model", s)
	}
	if _, ok := conductor.LookupProvider(p); ok {
		return p, m, nil
	}
	return "", "", fmt.Errorf("unknown provider %q in %q (expected one of: %s)", p, s, strings.Join(conductor.Providers(), ", "))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// gatewayID is the form of a gateway id in a Cloudflare path.
var gatewayID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// maxAutoGateways bounds the gateways callers may create by naming an id
// that is not configured, with `[server] auto_gateways` (as Cloudflare
// creates "default" on first use): each one holds background writers.
const maxAutoGateways = 64

// chain returns the gateway chain for routes through gateway gw: the first
// route's upstream with the others as fallbacks, behind gw's cache, limits,
// retries and log. The router builds each upstream (the one router of
// ensembles and serve: keys, URLs, redaction, the caller's own key of each
// call); chains are built once per gateway and routes. account is the
// Workers AI account a Cloudflare path named; callerKey says the call
// brings its own key.
func (s *Server) chain(gw string, routes []route, account string, callerKey bool) (conductor.Provider, error) {
	if pool := routes[0].pool; pool != nil {
		return s.poolChain(gw, pool)
	}
	adapters := make([]conductor.Provider, len(routes))
	for i, r := range routes {
		p, err := s.router.Upstream(routing.Upstream{Provider: r.provider, Account: account, Compat: r.compat, CallerKey: callerKey})
		if err != nil {
			return nil, err
		}
		adapters[i] = p
	}
	var kb strings.Builder
	kb.WriteString(gw)
	for _, r := range routes {
		kb.WriteByte(0)
		kb.WriteString(r.provider)
		if r.compat {
			kb.WriteString("+v1")
		}
		if len(routes) > 1 {
			kb.WriteByte('/')
			kb.WriteString(r.model)
		}
	}
	if s.pathAccount(routes) {
		kb.WriteByte(0)
		kb.WriteString(account)
	}
	key := kb.String()
	if p, ok := s.chains.Load(key); ok {
		return p.(conductor.Provider), nil
	}
	g, err := s.gateway(gw)
	if err != nil {
		return nil, err
	}
	grs := make([]gateway.Route, len(routes))
	for i, r := range routes {
		grs[i] = gateway.Route{P: adapters[i]}
		if i > 0 {
			grs[i].Provider, grs[i].Model = r.provider, r.model
		}
	}
	p, _ := s.chains.LoadOrStore(key, g.WrapRoutes(grs...))
	return p.(conductor.Provider), nil
}

// poolChain is the chain of gateway gw around a [[model]]'s pool, built
// once per gateway and pool.
func (s *Server) poolChain(gw string, pool *gateway.Pool) (conductor.Provider, error) {
	key := gw + "\x00pool\x00" + pool.Name()
	if p, ok := s.chains.Load(key); ok {
		return p.(conductor.Provider), nil
	}
	g, err := s.gateway(gw)
	if err != nil {
		return nil, err
	}
	p, _ := s.chains.LoadOrStore(key, g.WrapPool(pool))
	return p.(conductor.Provider), nil
}

// pathAccount reports whether the account a Cloudflare path names picks
// the upstream of routes: only for Workers AI, and only when the config
// names no account. Elsewhere the chain does not depend on it, and a
// caller naming ever new accounts must not grow the chains.
func (s *Server) pathAccount(routes []route) bool {
	if s.account != "" {
		return false
	}
	for _, r := range routes {
		if spec, _ := conductor.LookupProvider(r.provider); spec.Account {
			return true
		}
	}
	return false
}

// gateway returns the built-in gateway with id: a configured one,
// "default", or, with AutoGateways and up to a bound, one a caller names
// first, with the default gateway's settings. Any other id is a 404.
func (s *Server) gateway(id string) (*gateway.Gateway, error) {
	if id == "" {
		id = s.defaultGateway()
	}
	if !gatewayID.MatchString(id) {
		return nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound, Code: "gateway_not_found",
			Message: fmt.Sprintf("gateway id %.70q is not valid (letters, digits, - and _)", id)}
	}
	if !s.configuredGateway(id) {
		if !s.opts.AutoGateways {
			return nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound, Code: "gateway_not_found",
				Message: fmt.Sprintf("no gateway %q: declare it in [[ai.gateway]] of conductor.toml, or set [server] auto_gateways = true", id)}
		}
		s.mu.Lock()
		if s.auto == nil {
			s.auto = map[string]bool{}
		}
		if !s.auto[id] && len(s.auto) >= maxAutoGateways {
			s.mu.Unlock()
			return nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound, Code: "gateway_not_found",
				Message: fmt.Sprintf("no gateway %q: %d gateways were created on first use already; declare it in [[ai.gateway]] of conductor.toml", id, maxAutoGateways)}
		}
		s.auto[id] = true
		s.mu.Unlock()
	}
	g, err := s.gws.Gateway(id)
	if err != nil {
		return nil, &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
	}
	return g, nil
}

// configuredGateway reports whether id is a gateway the config declares
// (or the gateway set was given a config for), or the default one.
func (s *Server) configuredGateway(id string) bool {
	if id == gateway.DefaultID || id == s.defaultGateway() {
		return true
	}
	if _, ok := s.config().GatewayByID(id); ok {
		return true
	}
	return s.gws.Configured(id)
}

// admitGateway refuses a call through gateway id ("" for the default) that
// the gateway set does not serve (404) or the caller may not use (403).
func (s *Server) admitGateway(c *caller, id string) error {
	if id == "" {
		id = s.defaultGateway()
	}
	if _, err := s.gateway(id); err != nil {
		return err
	}
	if !c.mayUse(id) {
		return &conductor.Error{Class: conductor.ClassAuth, Status: http.StatusForbidden, Code: "gateway_not_allowed",
			Message: fmt.Sprintf("%s may not use gateway %q", c.who(), id)}
	}
	return nil
}

// defaultGateway is the gateway of requests that name none: the config's
// default gateway.
func (s *Server) defaultGateway() string {
	g, _ := s.config().DefaultGateway()
	return cmpOr(g.ID, gateway.DefaultID)
}
