// Package server is `conductor serve`: the built-in gateway over HTTP, so
// that any client speaking the OpenAI, Anthropic or Cloudflare AI Gateway
// wire format uses Conductor by changing nothing but its base URL.
//
// One file per concern: server.go (options, lifecycle, routes), auth.go
// (gateway tokens, caller keys, users), callopts.go (the cf-aig-* headers),
// exchange.go (one model call from request to answer), openai.go,
// anthropic.go and workersai.go (each caller wire format: requests,
// answers, streams, errors), cloudflare.go (Cloudflare's gateway paths and
// the universal endpoint), upstream.go (the gateway chains around the
// upstreams package routing's Router builds), names.go (what a model name
// means), embeddings.go (POST /v1/embeddings), models.go (GET /v1/models),
// paths.go (paths no endpoint takes), ensembles.go (running ensembles),
// log.go (access log), setup.go (options from conductor.toml).
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/control"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/routing"
)

// Defaults for the zero values of Options.
const (
	DefaultAddr            = "127.0.0.1:8787"
	DefaultMaxBodyBytes    = 10 << 20
	DefaultRequestTimeout  = 10 * time.Minute // the official SDKs wait 10 minutes
	DefaultShutdownTimeout = 30 * time.Second
	DefaultEnsemblesDir    = "ensembles"
)

// Options configure a Server. Only Store is required: with nothing else the
// server serves every provider whose key is in the environment through a
// built-in gateway named "default" with no cache and no limits.
type Options struct {
	// Addr is the listen address of Run (default 127.0.0.1:8787); Listener,
	// when set, is used instead (tests pass one on a random port).
	Addr     string
	Listener net.Listener

	// Store keeps the gateway's cache, counters and request log; /readyz
	// reports whether it answers.
	Store conductor.Store
	// Gateways are the built-in gateways, by id; nil: a set over Store
	// whose every gateway has the zero gateway.Config (no cache, no
	// limits). Run and Shutdown close a set the server created, never one
	// it was given (its owner flushes it).
	Gateways *gateway.Set

	// Config and Env locate the upstreams: base URLs, keys, timeouts and the
	// Workers AI account. nil Config: config.Default(); nil Env: the
	// process environment.
	Config *config.Config
	Env    config.LookupEnv
	// Router builds every upstream the server calls (routing.Upstream),
	// the one router of serve and ensembles: FromConfig passes the same
	// one as Engine.Resolver. nil: a router over Config, Env, Client and
	// Mock.
	Router *routing.Router
	// Client sends every upstream request of the router the server builds;
	// nil: one tuned client shared by all adapters.
	Client *http.Client
	// Mock serves models named mock/… through the router the server
	// builds; nil: an echoing provider.Mock.
	Mock conductor.Provider

	// Models declares names a caller may use as `model`: one entry
	// "provider/model" is an alias, several are a fallback chain tried in
	// order (the answer's cf-aig-step says which served).
	Models map[string][]string
	// Pools serve the Models of the same name as pools of deployments
	// (gateway.WrapPool: strategies, tiers, breakers, rpm/tpm); FromConfig
	// builds one for every [[model]]. A name in Models without a pool is
	// a plain fallback chain. The server does not close them.
	Pools map[string]*gateway.Pool
	// Resolve, when set, is asked first about a model name that is not
	// provider/model: it returns the provider serving the name (an A/B
	// split, say) or ok=false. The provider gets the request with Model set
	// to the name and answers in any wire format: the server translates.
	Resolve func(name string) (p conductor.Provider, ok bool)

	// Tokens are the gateway tokens callers must present (Authorization:
	// Bearer, cf-aig-authorization or x-api-key). None: every caller that
	// reaches the address is served.
	Tokens []Token
	// AllowCallerKeys forwards a caller's own Authorization or x-api-key
	// that is not a gateway token to the provider instead of the server's
	// key.
	AllowCallerKeys bool
	// GatewaysFromConfig says Gateways was built from Config
	// (gateway.SetFromConfig, as FromConfig does): then the store's gateway
	// settings and Reload update it. Prices are its prices.
	GatewaysFromConfig bool
	Prices             gateway.Prices
	// Control holds what operators change at run time (package control):
	// virtual keys, teams, budgets, rate limits, cache TTLs. The server
	// polls it every ControlPoll (default control.DefaultPoll) until
	// Shutdown, so that a change by any process sharing the store is in
	// force within that; nil: no keys and no run-time changes.
	Control     conductor.ControlStore
	ControlPoll time.Duration
	// AdminToken, when set, opens the admin API under /admin/: it wants
	// this token (and nothing else: not a gateway token, not a key).
	AdminToken string

	// AutoGateways serves a gateway id that no config declares with the
	// default gateway's settings (the gateway set's template); false: such
	// an id is a 404 in the caller's format.
	AutoGateways bool
	// CORSOrigins are the origins ("https://app.example.com", or "*") whose
	// browser scripts may call the server; a request with another Origin
	// is refused (403). AllowedHosts are the names besides its address and
	// localhost by which the server is reached; with no Tokens, a request
	// whose Host names none of them is refused (403): DNS rebinding.
	CORSOrigins  []string
	AllowedHosts []string
	// UserHeader names a request header holding the caller's user, for
	// per-user rate limits and budgets, when no token name, cf-aig-metadata
	// user or body user names one.
	UserHeader string

	// MaxBodyBytes bounds a request body (413 beyond); default 10 MiB.
	MaxBodyBytes int64
	// RequestTimeout bounds a model call from request to last byte (504
	// beyond); default 10 minutes.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the drain of Run's graceful shutdown.
	ShutdownTimeout time.Duration

	// EnsemblesDir holds the ensembles POST /v1/ensembles/{name}/run runs
	// ({name}.yaml or .yml); default "ensembles".
	EnsemblesDir string
	// Engine configures the engine that runs them: its Resolver gives
	// members their provider chains (package routing's Router; nil: members
	// may only use the mock provider); a nil Cache is Store, a nil Logger
	// the server's. OnMember is the server's own.
	Engine engine.Options

	// Metrics is mounted at GET /metrics behind the gateway token, and
	// Dashboard at GET / (and below) as it is: package dashboard checks the
	// tokens itself. nil leaves them out.
	Metrics   http.Handler
	Dashboard http.Handler

	// Logger receives one JSON line per request and the server's own
	// events; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock of answers' created times; nil: time.Now.
	Now func() time.Time
}

// Server serves the gateway over HTTP. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	auth    *auth
	origins *origins
	router  *routing.Router
	account string // the config's Workers AI account, "" when none
	gws     *gateway.Set
	ownGWs  bool
	chains  sync.Map // chainKey → conductor.Provider
	handler http.Handler
	now     func() time.Time

	// cfg is the config in force; ctl the control items' watcher (nil
	// without Control). reconf serialises reconfigure; gwConfigs and
	// gwTemplate are the gateway settings last put in force.
	cfg         atomic.Pointer[config.Config]
	ctl         *control.Watcher
	stopControl context.CancelFunc
	ctlDone     chan struct{}
	reconf      sync.Mutex
	gwConfigs   []gateway.Config
	gwTemplate  gateway.Config
	cfgStamp    fileStamp // the config file as cfg was read from it (under mu)

	ready    atomic.Bool
	mu       sync.Mutex
	auto     map[string]bool // gateway ids callers named that no config declares
	srv      *http.Server
	shutOnce sync.Once
	shutErr  error
}

// New checks opts and returns a server ready to Run or to mount with
// Handler.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: no store")
	}
	opts.Addr = cmp.Or(opts.Addr, DefaultAddr)
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	opts.EnsemblesDir = cmp.Or(opts.EnsemblesDir, DefaultEnsemblesDir)
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	s := &Server{opts: opts, log: cmp.Or(opts.Logger, slog.Default()), now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.cfg.Store(opts.Config)
	if opts.Config.File != "" {
		s.cfgStamp = stampOf(opts.Config.File)
	}
	a, err := newAuth(opts.Tokens, opts.AllowCallerKeys, opts.UserHeader)
	if err != nil {
		return nil, err
	}
	a.keys, a.now = s.snapshot, time.Now
	s.auth = a
	addr := opts.Addr
	if opts.Listener != nil {
		addr = opts.Listener.Addr().String()
	}
	if s.origins, err = newOrigins(opts.CORSOrigins, opts.AllowedHosts, len(opts.Tokens), addr); err != nil {
		return nil, err
	}
	for name, routes := range opts.Models {
		if len(routes) == 0 {
			return nil, fmt.Errorf("server: model %q names no provider/model", name)
		}
		for _, r := range routes {
			if _, _, err := splitModel(r); err != nil {
				return nil, fmt.Errorf("server: model %q: %w", name, err)
			}
		}
	}
	s.router = opts.Router
	if s.router == nil {
		mock := opts.Mock
		if mock == nil {
			mock = provider.NewMock(provider.MockConfig{})
		}
		r, err := routing.New(opts.Config, routing.Options{Env: opts.Env, Client: opts.Client, Mock: mock, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.router = r
	}
	env := opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	s.account, _ = opts.Config.AccountID(env) // its problem is the router's to report
	s.gws = opts.Gateways
	if s.gws == nil {
		set, err := gateway.NewSet(opts.Store, nil, gateway.Config{}, gateway.WithLogger(s.log))
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.gws, s.ownGWs = set, true
	}
	if s.opts.Engine.Cache == nil {
		s.opts.Engine.Cache = opts.Store
	}
	if s.opts.Engine.Logger == nil {
		s.opts.Engine.Logger = s.log
	}
	s.opts.Engine.OnMember = nil
	if opts.GatewaysFromConfig {
		s.gwConfigs, s.gwTemplate = gateway.Configs(opts.Config, s.lookupEnv(), opts.Prices)
	}
	if err := s.startControl(); err != nil {
		return nil, err
	}
	if s.ctl != nil {
		a.used = s.ctl.Used
	}
	s.handler = s.routes()
	s.ready.Store(true)
	return s, nil
}

// routes is the server's one table of endpoints.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("POST /v1/chat/completions", s.model(fmtOpenAI, s.chatCompletions))
	mux.Handle("POST /v1/messages", s.model(fmtAnthropic, s.messages))
	mux.Handle("POST /v1/embeddings", s.model(fmtOpenAI, s.embeddings))
	mux.Handle("GET /v1/models", s.api(s.listModels))
	mux.Handle("GET /v1/models/{id...}", s.api(s.getModel))
	mux.Handle("POST /v1/ensembles/{name}/run", s.model(fmtOpenAI, s.runEnsemble))
	// Cloudflare AI Gateway paths: a provider's own paths after
	// /v1/{account_id}/{gateway_id}/{provider}/, and the universal endpoint.
	none := s.noEndpoint(mux)
	mux.Handle("POST /v1/{account}/{gateway}/{provider}/{rest...}", gatewayPath(s.model(fmtCloudflare, s.cloudflare), none))
	mux.Handle("POST /v1/{account}/{gateway}", gatewayPath(s.model(fmtCloudflare, s.universal), none))
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.protect(s.opts.Metrics))
	}
	s.debugPprof(mux)
	// The admin API has its own token (admin.go). By method: "GET /" (the
	// dashboard) would conflict with a pattern for every method.
	admin := s.admin()
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		mux.Handle(m+" /admin/", admin)
	}
	if s.opts.Dashboard != nil {
		// The dashboard checks tokens itself: a browser logs in once with
		// ?token= and keeps a cookie, which a bearer check here would refuse.
		mux.Handle("GET /", s.opts.Dashboard)
	}
	// What no endpoint takes is a JSON 404 or 405 in the caller's format;
	// under /v1/ even for GET, which the dashboard would otherwise take.
	mux.Handle("GET /v1/", none)
	mux.Handle("/", none)
	return s.accessLog(s.guard(mux))
}

// Handler returns the server's HTTP handler, for mounting in another server
// or in tests.
func (s *Server) Handler() http.Handler { return s.handler }

// ErrUnguarded is the error of Run asked to listen beyond the loopback
// interface with no gateway token and no virtual key: anyone reaching the
// address would spend the server's provider keys.
var ErrUnguarded = errors.New("no gateway token or key is configured")

// loopback reports whether addr (host:port) only listens on the loopback
// interface: "" and 0.0.0.0 are every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkBind refuses to serve addr beyond loopback while no caller needs a
// token or key to get in.
func (s *Server) checkBind(addr string) error {
	if loopback(addr) || s.guarded() {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s: %w, so anyone who reaches it could spend this server's provider keys. "+
		"Configure a gateway token (CONDUCTOR_TOKENS=name=token, or [server] tokens_env / tokens_file in conductor.toml) "+
		"or create a key (conductor keys create NAME), or listen on 127.0.0.1", addr, ErrUnguarded)
}

// guarded reports whether callers need a gateway token or a virtual key.
func (s *Server) guarded() bool { return len(s.auth.toks()) > 0 || s.snapshot().Guarding() }

// Run listens on Addr (or Listener) and serves until ctx ends, then shuts
// down gracefully: it stops accepting, drains in-flight requests within
// ShutdownTimeout, and flushes the gateways' request logs. It refuses
// (ErrUnguarded) an address beyond loopback while no gateway token or key
// is configured.
func (s *Server) Run(ctx context.Context) error {
	ln := s.opts.Listener
	if ln == nil {
		if err := s.checkBind(s.opts.Addr); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		var err error
		if ln, err = net.Listen("tcp", s.opts.Addr); err != nil {
			return fmt.Errorf("server: listen on %s: %w", s.opts.Addr, err)
		}
	} else if err := s.checkBind(ln.Addr().String()); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests live under the server's base context: shutdown drains them,
		// a client that goes away cancels its own.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.log.Info("conductor serve listening", "addr", ln.Addr().String(), "tokens", len(s.auth.toks()),
		"allow_caller_keys", s.opts.AllowCallerKeys, "ensembles", s.opts.EnsemblesDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		// Serve failed on its own: nothing to drain, still flush the logs.
		_ = s.Shutdown(context.WithoutCancel(ctx))
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := s.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Shutdown stops accepting requests, waits for those in flight (until ctx
// ends), then flushes the gateway log of a gateway set the server created.
// It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		s.ready.Store(false)
		start := time.Now()
		s.mu.Lock()
		srv := s.srv
		s.mu.Unlock()
		var errs []error
		if srv != nil {
			if err := srv.Shutdown(ctx); err != nil {
				// Out of time: cut what is still running (closing its
				// connection cancels its context and its upstream call).
				_ = srv.Close()
				errs = append(errs, fmt.Errorf("server: drain: %w", err))
			}
		}
		if s.stopControl != nil {
			// Stops polling and writes the keys' last use.
			s.stopControl()
			<-s.ctlDone
		}
		if s.ownGWs {
			if err := s.gws.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("server: flush the gateway log: %w", err))
			}
		}
		s.shutErr = errors.Join(errs...)
		s.log.Info("conductor serve stopped", "drain", time.Since(start).Round(time.Millisecond).String(), "err", s.shutErr)
	})
	return s.shutErr
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// pinger is a store that can say cheaply whether it answers.
type pinger interface{ Ping(context.Context) error }

// findPinger finds a Ping through store wrappers (Unwrap): a shared store
// pings Redis and PostgreSQL both.
func findPinger(st conductor.Store) (pinger, bool) {
	for range 8 {
		if p, ok := st.(pinger); ok {
			return p, true
		}
		u, ok := st.(interface{ Unwrap() conductor.Store })
		if !ok {
			return nil, false
		}
		st = u.Unwrap()
	}
	return nil, false
}

// readyz says whether the server should get traffic: not while shutting
// down, and only while its store answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"status":"shutting down"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var err error
	if p, ok := findPinger(s.opts.Store); ok {
		err = p.Ping(ctx)
	} else {
		_, err = s.opts.Store.RecentLogs(ctx, 1)
	}
	if err != nil {
		s.log.Warn("readiness check: the store does not answer", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"status":"store unavailable"}`))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`))
}

// model wraps an endpoint that calls models: the gateway token is checked,
// the body bounded and required to be JSON, and the request given its
// deadline before h runs.
func (s *Server) model(f format, h func(http.ResponseWriter, *http.Request, *caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.auth.check(r)
		if err != nil {
			writeAuthError(w, f, err)
			return
		}
		// The gateway first: an id nobody configured is a 404 and a gateway
		// the caller may not use a 403, whatever the body says. The API
		// paths name none: the default gateway.
		if err := s.admitGateway(c, r.PathValue("gateway")); err != nil {
			e := asError(r.Context(), err)
			noteError(r, e)
			writeError(w, errFormat(f, r), e)
			return
		}
		if r.ContentLength > s.opts.MaxBodyBytes {
			writeError(w, errFormat(f, r), tooLarge(s.opts.MaxBodyBytes))
			return
		}
		if e := jsonBody(r); e != nil {
			writeError(w, errFormat(f, r), e)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		ctx, cancel := context.WithTimeoutCause(r.Context(), s.opts.RequestTimeout, errServerDeadline)
		defer cancel()
		h(w, r.WithContext(ctx), c)
	})
}

// protect puts a handler that is not a model endpoint (metrics, dashboard)
// behind the gateway token.
func (s *Server) protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.auth.check(r)
		if err == nil && c.vkey != nil {
			// A key is a caller's; the metrics are the operator's.
			err = errors.New("a virtual key does not open this endpoint: use a gateway token")
		}
		if err != nil {
			writeAuthError(w, fmtOpenAI, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
