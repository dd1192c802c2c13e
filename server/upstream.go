package server

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/routing"
)

// route is one upstream a call may go to: a provider, the model to ask it
// for, and, for Workers AI, whether through its OpenAI-compatible endpoint.
type route struct {
	provider string
	model    string
	compat   bool
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

// upstreams builds the provider adapters the server calls, one per
// provider (and Workers AI account and endpoint), over one shared client:
// their URLs, keys and timeouts come from the config and environment, as
// for `routing: direct`.
type upstreams struct {
	cfg    *config.Config
	env    config.LookupEnv
	client *http.Client
	mock   conductor.Provider
	// secrets are hidden in every adapter's errors, with the caller's own
	// key of each call.
	secrets routing.Secrets

	mu sync.Mutex
	m  map[upKey]adapter
}

type upKey struct {
	provider string
	compat   bool
	account  string
}

// adapter is a built adapter and whether it holds the server's own key.
type adapter struct {
	p      conductor.Provider
	hasKey bool
	err    error // the configuration problem every call gets
}

func newUpstreams(cfg *config.Config, env config.LookupEnv, client *http.Client, mock conductor.Provider) *upstreams {
	if env == nil {
		env = os.LookupEnv
	}
	if client == nil {
		client = provider.DefaultClient()
	}
	if mock == nil {
		mock = provider.NewMock(provider.MockConfig{})
	}
	return &upstreams{cfg: cfg, env: env, client: client, mock: mock, secrets: routing.ConfiguredSecrets(cfg, env), m: map[upKey]adapter{}}
}

// get returns the adapter for r. account is the Workers AI account a
// Cloudflare path named, used when the server has none configured.
// callerKey says the caller brings its own key, so the server's may be
// missing.
func (u *upstreams) get(r route, account string, callerKey bool) (conductor.Provider, error) {
	if r.provider == conductor.ProviderMock {
		return u.mock, nil
	}
	k := upKey{provider: r.provider, compat: r.compat}
	if spec, _ := conductor.LookupProvider(r.provider); spec.Account {
		acct, err := u.cfg.AccountID(u.env)
		if err != nil {
			return nil, configError(r.provider, "%v", err)
		}
		k.account = cmpOr(acct, account)
		if k.account == "" {
			return nil, configError(r.provider, "Workers AI needs an account id: export CLOUDFLARE_ACCOUNT_ID=<account id> (or set account_id in [ai] of conductor.toml)")
		}
	}
	u.mu.Lock()
	a, ok := u.m[k]
	if !ok {
		a = u.build(k)
		u.m[k] = a
	}
	u.mu.Unlock()
	switch {
	case a.err != nil:
		return nil, a.err
	case !a.hasKey && !callerKey:
		name := keyVar(u.cfg, r.provider)
		if name == "" {
			return a.p, nil // a local server that takes no key
		}
		return nil, configError(r.provider, "the server has no key for %s: export %s", r.provider, name)
	}
	return a.p, nil
}

func (u *upstreams) build(k upKey) adapter {
	fb, total := u.cfg.Timeouts(k.provider)
	ep := provider.Endpoint{Name: k.provider, Client: u.client, FirstByteTimeout: fb, Timeout: total}
	spec, ok := conductor.LookupProvider(k.provider)
	if !ok {
		return adapter{err: configError(k.provider, "unknown provider %q", k.provider)}
	}
	ep.BaseURL = cmpOr(u.cfg.BaseURL(k.provider, u.env), spec.BaseURL)
	if ep.BaseURL == "" {
		return adapter{err: configError(k.provider, "provider %s needs a server: export %s=http://localhost:11434/v1 (or set base_url in [providers.%s])",
			k.provider, spec.BaseURLVar, k.provider)}
	}
	wire := spec.Format
	if spec.Account {
		ep.BaseURL = provider.WorkersAIBaseURL(ep.BaseURL, k.account)
		if k.compat {
			ep.BaseURL, wire = strings.TrimSuffix(ep.BaseURL, "/run")+"/v1", conductor.FormatOpenAI
		}
	}
	newAdapter, ok := provider.Adapter(wire)
	if !ok {
		return adapter{err: configError(k.provider, "no client adapter for the wire format %q of %s", wire, k.provider)}
	}
	key, err := u.cfg.APIKey(k.provider, u.env)
	if err != nil {
		return adapter{err: configError(k.provider, "%v", err)}
	}
	ep.APIKey = key.Value()
	f := route{provider: k.provider, compat: k.compat}.format()
	ep.Hook = &upstreamHook{format: f}
	return adapter{p: routing.Redact(newAdapter(ep), u.secrets), hasKey: key.IsSet()}
}

func keyVar(cfg *config.Config, providerName string) string {
	key, err := cfg.APIKey(providerName, func(string) (string, bool) { return "", false })
	if err != nil {
		return ""
	}
	return key.Var
}

func configError(providerName, format string, args ...any) *conductor.Error {
	return &conductor.Error{Provider: providerName, Class: conductor.ClassConfig, Message: fmt.Sprintf(format, args...)}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// upstreamHook adjusts each upstream request for the call it serves: the
// caller's own key when the server lets it through, and the provider
// headers a caller may choose (API version and betas, OpenAI organization
// and project), both explicit in the call's options. The caller's own body
// goes through the adapter (ChatRequest.Body).
type upstreamHook struct{ format format }

// Provider headers a caller's request forwards to an upstream of its kind.
var (
	anthropicHeaders = []string{"anthropic-version", "anthropic-beta"}
	openAIHeaders    = []string{"OpenAI-Organization", "OpenAI-Project"}
)

func (h *upstreamHook) Before(r *http.Request, req *conductor.ChatRequest) {
	o := &req.Options
	if len(o.ProviderHeader) > 0 {
		forward := openAIHeaders
		if h.format == fmtAnthropic {
			forward = anthropicHeaders
		}
		for _, name := range forward {
			if v := http.Header(o.ProviderHeader).Values(name); len(v) > 0 {
				r.Header[http.CanonicalHeaderKey(name)] = v
			}
		}
	}
	key := o.CallerKey
	if key.Value == "" {
		return
	}
	r.Header.Del("Authorization")
	r.Header.Del("x-api-key")
	switch {
	case h.format == fmtAnthropic && key.Header == "x-api-key":
		r.Header.Set("x-api-key", key.Value)
	default:
		// Anthropic takes a bearer token too (OAuth); everyone else only that.
		r.Header.Set("Authorization", "Bearer "+key.Value)
	}
}

func (h *upstreamHook) After(*http.Response, *conductor.ResponseMeta) {}

// gatewayID is the form of a gateway id in a Cloudflare path.
var gatewayID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// maxAdHocGateways bounds the gateways callers may create by naming an id
// that is not configured (as Cloudflare creates "default" on first use):
// each one holds background writers.
const maxAdHocGateways = 16

// chain returns the gateway chain for routes through gateway gw: the first
// route's adapter with the others as fallbacks, behind gw's cache, limits,
// retries and log. Chains are built once per gateway and routes.
func (s *Server) chain(gw string, routes []route, account string, callerKey bool) (conductor.Provider, error) {
	adapters := make([]conductor.Provider, len(routes))
	for i, r := range routes {
		p, err := s.up.get(r, account, callerKey)
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
	kb.WriteByte(0)
	kb.WriteString(account)
	key := kb.String()
	if p, ok := s.chains.Load(key); ok {
		return p.(conductor.Provider), nil
	}
	g, err := s.gateway(gw)
	if err != nil {
		return nil, err
	}
	fallbacks := make([]gateway.Route, 0, len(routes)-1)
	for i, r := range routes[1:] {
		fallbacks = append(fallbacks, gateway.Route{Provider: r.provider, Model: r.model, P: adapters[i+1]})
	}
	p, _ := s.chains.LoadOrStore(key, g.Wrap(adapters[0], fallbacks...))
	return p.(conductor.Provider), nil
}

// gateway returns the built-in gateway with id: a configured one, "default",
// or, up to a bound, one a caller names first.
func (s *Server) gateway(id string) (*gateway.Gateway, error) {
	if id == "" {
		id = s.defaultGateway()
	}
	if !gatewayID.MatchString(id) {
		return nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound,
			Message: fmt.Sprintf("gateway id %.70q is not valid (letters, digits, - and _)", id)}
	}
	if _, ok := s.opts.Config.GatewayByID(id); !ok && id != gateway.DefaultID {
		s.mu.Lock()
		if s.adHoc == nil {
			s.adHoc = map[string]bool{}
		}
		if !s.adHoc[id] && len(s.adHoc) >= maxAdHocGateways {
			s.mu.Unlock()
			return nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound,
				Message: fmt.Sprintf("no gateway %q: declare it in [[ai.gateway]] of conductor.toml", id)}
		}
		s.adHoc[id] = true
		s.mu.Unlock()
	}
	g, err := s.gws.Gateway(id)
	if err != nil {
		return nil, &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
	}
	return g, nil
}

// defaultGateway is the gateway of requests that name none: the config's
// default gateway.
func (s *Server) defaultGateway() string {
	g, _ := s.opts.Config.DefaultGateway()
	return cmpOr(g.ID, gateway.DefaultID)
}
