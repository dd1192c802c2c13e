// Package gateway is the built-in AI gateway: a chain of conductor.Provider
// wrappers, one file per feature, standing between a caller and the
// providers the way net/http middleware stands around a Handler.
//
// The chain's order is written once, in Gateway.Wrap. Every piece of state
// (cached answers, rate and spend counters, the request log) lives in a
// conductor.Store, so several processes sharing one store share one gateway.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/pricing"
)

// Defaults for the zero values of Config.
const (
	DefaultID                  = "default"
	DefaultMaxAttempts         = 3
	MaxAttemptsLimit           = 5 // as Cloudflare's cf-aig-max-attempts
	DefaultRetryDelay          = 500 * time.Millisecond
	MaxRetryDelay              = 5 * time.Second // as Cloudflare's cf-aig-retry-delay
	DefaultMaxBackoff          = 8 * time.Second
	DefaultRetryDeadline       = 2 * time.Minute
	DefaultFirstByteTimeout    = 60 * time.Second
	DefaultIdleTimeout         = 30 * time.Second
	DefaultTotalTimeout        = 10 * time.Minute
	DefaultRateWindow          = time.Minute
	DefaultMaxOutputTokens     = 4096
	DefaultMaxEntryBytes       = 4 << 20
	DefaultCustomKeyTTL        = 5 * time.Minute // cf-aig-cache-key without any TTL
	DefaultLogBuffer           = 8192
	DefaultLogBatch            = 256
	DefaultLogLinger           = 10 * time.Millisecond
	DefaultCacheWriteBuffer    = 1024
	DefaultAfterBuffer         = 4096
	DefaultAlertBuffer         = 64
	DefaultAlertTimeout        = 5 * time.Second
	DefaultRetentionCheckEvery = time.Hour
	// DefaultFirstPruneAfter is how long after start the first pruning
	// runs: its write transactions (and the counters' checkpoint) would
	// otherwise meet the first requests.
	DefaultFirstPruneAfter = 30 * time.Second
	DefaultLogRetention    = 30 * 24 * time.Hour
	// KeepLogs as Config.LogRetention keeps every log row.
	KeepLogs time.Duration = -1
)

// Backoff shapes, as cf-aig-backoff spells them.
const (
	BackoffConstant    = "constant"
	BackoffLinear      = "linear"
	BackoffExponential = "exponential"
)

// Config is one gateway's settings. The zero value is a working gateway
// with caching off (as Cloudflare's default), three attempts per route, no
// limits, and log rows kept 30 days.
type Config struct {
	// ID names the gateway: it scopes cache keys, counters and log rows.
	ID string
	// Environment is the environment of calls that name none (budgets and
	// log rows): dev, staging, production…
	Environment string
	// Route is written in log rows whose answer names no routing mode;
	// default conductor.RoutingGateway.
	Route string

	// CacheTTL is how long answers are kept when a call sets no TTL of its
	// own; 0 disables caching for such calls.
	CacheTTL time.Duration
	// MaxEntryBytes bounds one cached answer; a larger one is served but not
	// stored. The store's own size bound evicts whole entries.
	MaxEntryBytes int
	// CacheScope says who shares a cached answer: CacheScopeGateway (the
	// default: every caller of the gateway), CacheScopeTeam, CacheScopeKey
	// or CacheScopeUser. The scope is part of the cache key.
	CacheScope string
	// CacheWriteBuffer bounds the queue of cache writes waiting for the
	// store; when full, writes are dropped (the answer is still served).
	CacheWriteBuffer int

	Retry     RetryConfig
	RateLimit RateLimitConfig

	// Budgets are hard spend limits; each call reserves its maximum cost in
	// every budget it matches before going upstream.
	Budgets []Budget
	// DefaultMaxOutputTokens caps calls that set no MaxTokens while a budget
	// applies, so that the reservation bounds what the call can cost.
	DefaultMaxOutputTokens int
	// AlertThresholds are fractions of a budget (0.5, 0.8, 1.0) that fire
	// an alert once per budget window.
	AlertThresholds []float64
	// AlertWebhook receives a JSON POST per alert; empty: log only.
	AlertWebhook string
	// AlertTimeout bounds one webhook POST.
	AlertTimeout time.Duration

	// Prices prices calls for budgets and log rows; nil uses the embedded
	// table.
	Prices Prices

	// LogRetention prunes log rows older than this, 30 s after start
	// (DefaultFirstPruneAfter) and hourly:
	// default 30 days (DefaultLogRetention); KeepLogs (any negative
	// value) keeps every row.
	LogRetention time.Duration
	// LogBuffer bounds the rows waiting to be written; when full, async
	// rows are dropped and counted, never waited for (sync rows wait).
	LogBuffer int
	// LogBatch bounds the rows of one log transaction. Rows are written as
	// soon as the writer is free (group commit; async rows after
	// LogLinger): every row that arrived during one transaction goes into
	// the next.
	LogBatch int
	// LogLinger is how long the writer, once free and holding only async
	// rows, waits for more to join the transaction (at most LogBatch):
	// default DefaultLogLinger; negative, none (every free moment a
	// commit). A commit of one row costs ≈ 90 µs of CPU, of 32 ≈ 17 µs a
	// row, so at moderate rates this is most of a request's log cost. A
	// sync row ends the wait at once.
	LogLinger time.Duration
	// LogDurability is DurabilityAsync (default: the call is answered
	// without waiting for its row) or DurabilitySync (answered only after
	// its row is committed; a row that cannot be committed fails the call
	// with a 503). docs/reliability.md has what each loses to a crash.
	LogDurability string
}

// RetryConfig sets a gateway's retries; calls may ask for others within the
// bounds (CallOptions.MaxAttempts, RetryDelay, Backoff).
type RetryConfig struct {
	// MaxAttempts per route, the first call included: default 3, at most 5.
	MaxAttempts int
	// Delay is the first backoff delay: default 500ms, at most 5s.
	Delay time.Duration
	// MaxDelay caps one exponential backoff wait (Retry-After excepted).
	MaxDelay time.Duration
	// Backoff is constant, linear or exponential (default; full jitter).
	Backoff string
	// Deadline bounds the retrying of one route: no attempt starts and no
	// wait begins that would end past it.
	Deadline time.Duration
	// The three deadlines of a call; 0 takes the default, a negative value
	// turns the deadline off. A deadline that passes is a timeout (504):
	// retried and fallen back from like a 5xx, except a stream that stalls
	// after it began, which fails (the caller has its first chunks).
	//
	// Timeout bounds each attempt's wait for the upstream's first byte
	// (Cloudflare's cf-aig-request-timeout, which replaces it per call;
	// [[ai.gateway]] request_timeout): default 60 s.
	Timeout time.Duration
	// IdleTimeout bounds the wait for each chunk of a stream: default 30 s.
	IdleTimeout time.Duration
	// TotalTimeout bounds the whole call, retries, fallbacks and a
	// stream's last chunk included: default 10 minutes.
	TotalTimeout time.Duration
}

// RateLimitConfig sets request and token limits per window, for the whole
// gateway and for each user. Zero limits are off.
type RateLimitConfig struct {
	Requests     int64 // per gateway
	Tokens       int64 // per gateway, input+output tokens of upstream answers
	UserRequests int64 // per user (CallOptions.User)
	UserTokens   int64 // per user
	// Window is the period the limits count over: default one minute.
	Window time.Duration
	// Kind is conductor.WindowFixed (default) or conductor.WindowSliding.
	Kind string
	// UserSource says where the HTTP server finds a call's user: "token"
	// (the gateway token), "metadata:KEY" (a cf-aig-metadata entry) or
	// "header:NAME". The gateway itself reads CallOptions.User.
	UserSource string
}

// Prices is what the gateway needs from a price table (package pricing).
type Prices interface {
	// Cost prices a finished call in nano-USD; known=false when the model
	// was priced by the table's default.
	Cost(provider, model string, u conductor.Usage) (nanoUSD int64, known bool)
	// MaxCost is the most a call with this input and output bound can cost.
	MaxCost(provider, model string, inputTokens, maxOutputTokens int) int64
}

// Route is one step of a fallback chain: a provider adapter and the model
// to ask it for.
type Route struct {
	Provider string // provider name; "" keeps the request's
	Model    string // "" keeps the request's
	P        conductor.Provider
	// Deadlines are the route's own ([[model]] request_timeout,
	// idle_timeout, total_timeout); zero ones keep the gateway's.
	Deadlines Deadlines
}

// Deadlines are a route's own deadlines. Each non-zero one replaces the
// gateway's (RetryConfig) for calls on the route, a negative one turns it
// off; a call's own (CallOptions.Timeout, IdleTimeout) replace both.
type Deadlines struct {
	FirstByte time.Duration // each attempt's wait for the first byte
	Idle      time.Duration // the wait for each stream chunk
	// Total bounds the route's part of a call: its attempts, and its
	// stream to the last chunk. Past it the call falls back (a stream
	// that began fails: the caller has its first chunks).
	Total time.Duration
}

// Option adjusts a Gateway beyond its Config.
type Option func(*Gateway)

// WithLogger sets the logger for warnings and alerts (default slog.Default).
func WithLogger(l *slog.Logger) Option { return func(g *Gateway) { g.log = l } }

// WithHTTPClient sets the client for alert webhooks.
func WithHTTPClient(c *http.Client) Option { return func(g *Gateway) { g.http = c } }

// WithJitter replaces the random source of backoff jitter: it returns a
// number in [0, n). Tests use it for exact waits.
func WithJitter(f func(n int64) int64) Option { return func(g *Gateway) { g.jitter = f } }

// Gateway holds one gateway's shared state: the store, its config, and the
// background writers. Wrap builds the chain around an upstream; every chain
// built from one Gateway shares its counters, cache and log.
type Gateway struct {
	id     string // cfg.ID, which Update keeps
	live   atomic.Pointer[settings]
	shared *atomic.Pointer[limitIndex] // the Set's limits; nil outside a Set
	st     conductor.Store
	prices Prices
	log    *slog.Logger
	http   *http.Client
	jitter func(n int64) int64

	logs   *logWriter
	writes *queue // cache writes: dropped when full
	after  *queue // settles, token counts, alert checks: run inline when full
	alerts *queue // webhook POSTs: dropped when full
	// Drops of cache writes and webhooks (the log writer counts its own).
	cacheDrops, alertDrops dropCounter
	over                   overspendCounter
	flights                flights

	stop      context.CancelFunc
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, fills its defaults and starts the background writers.
// Close stops them.
func New(cfg Config, st conductor.Store, opts ...Option) (*Gateway, error) {
	if st == nil {
		return nil, errors.New("gateway: no store")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	own, err := compileLimits(ownLimits(&cfg), cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", cfg.ID, err)
	}
	g := &Gateway{
		id:     cfg.ID,
		st:     st,
		prices: cfg.Prices,
		log:    slog.Default(),
		http:   &http.Client{},
		jitter: rand.Int64N,
	}
	g.live.Store(&settings{cfg: cfg, own: own})
	for _, o := range opts {
		o(g)
	}
	if g.prices == nil {
		g.prices = defaultPrices()
	}
	g.log = g.log.With("gateway", cfg.ID)
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	g.logs = newLogWriter(st, cfg.LogBuffer, cfg.LogBatch, g.log)
	g.logs.linger = cfg.LogLinger
	g.writes = newQueue(cfg.CacheWriteBuffer)
	g.after = newQueue(DefaultAfterBuffer)
	g.alerts = newQueue(DefaultAlertBuffer)
	g.flights.m = make(map[string]*flight)
	g.bg.Go(g.logs.run)
	g.bg.Go(g.writes.run)
	g.bg.Go(g.after.run)
	g.bg.Go(g.alerts.run)
	// Always: expired cache entries and dead counters are pruned even when
	// the log keeps every row.
	g.bg.Go(func() { g.pruneLoop(ctx, DefaultFirstPruneAfter, DefaultRetentionCheckEvery) })
	return g, nil
}

func (c *Config) fill() error {
	if c.ID == "" {
		c.ID = DefaultID
	}
	if c.Route == "" {
		c.Route = conductor.RoutingGateway
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("gateway %s: cache_ttl %v is negative", c.ID, c.CacheTTL)
	}
	switch c.CacheScope {
	case "":
		c.CacheScope = CacheScopeGateway
	case CacheScopeGateway, CacheScopeTeam, CacheScopeKey, CacheScopeUser:
	default:
		return fmt.Errorf("gateway %s: cache scope %q (expected gateway, team, key or user)", c.ID, c.CacheScope)
	}
	if c.MaxEntryBytes <= 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if c.CacheWriteBuffer <= 0 {
		c.CacheWriteBuffer = DefaultCacheWriteBuffer
	}
	r := &c.Retry
	switch {
	case r.MaxAttempts == 0:
		r.MaxAttempts = DefaultMaxAttempts
	case r.MaxAttempts < 0 || r.MaxAttempts > MaxAttemptsLimit:
		return fmt.Errorf("gateway %s: retry max attempts %d (expected 1 to %d)", c.ID, r.MaxAttempts, MaxAttemptsLimit)
	}
	if r.Delay <= 0 {
		r.Delay = DefaultRetryDelay
	}
	r.Delay = min(r.Delay, MaxRetryDelay)
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultMaxBackoff
	}
	if r.Deadline <= 0 {
		r.Deadline = DefaultRetryDeadline
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&r.Timeout, DefaultFirstByteTimeout}, {&r.IdleTimeout, DefaultIdleTimeout}, {&r.TotalTimeout, DefaultTotalTimeout}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			*d.v = -1 // off, and stays off when filled again
		}
	}
	switch r.Backoff {
	case "":
		r.Backoff = BackoffExponential
	case BackoffConstant, BackoffLinear, BackoffExponential:
	default:
		return fmt.Errorf("gateway %s: retry backoff %q (expected constant, linear or exponential)", c.ID, r.Backoff)
	}
	rl := &c.RateLimit
	if rl.Window <= 0 {
		rl.Window = DefaultRateWindow
	}
	switch rl.Kind {
	case "":
		rl.Kind = conductor.WindowFixed
	case conductor.WindowFixed, conductor.WindowSliding:
	default:
		return fmt.Errorf("gateway %s: rate limit window %q (expected fixed or sliding)", c.ID, rl.Kind)
	}
	if rl.Requests < 0 || rl.Tokens < 0 || rl.UserRequests < 0 || rl.UserTokens < 0 {
		return fmt.Errorf("gateway %s: negative rate limit", c.ID)
	}
	for i := range c.Budgets {
		if err := c.Budgets[i].check(); err != nil {
			return fmt.Errorf("gateway %s: budget %d: %w", c.ID, i+1, err)
		}
	}
	if c.DefaultMaxOutputTokens <= 0 {
		c.DefaultMaxOutputTokens = DefaultMaxOutputTokens
	}
	for _, t := range c.AlertThresholds {
		if t <= 0 || t > 1 {
			return fmt.Errorf("gateway %s: alert threshold %v (expected a fraction in (0, 1])", c.ID, t)
		}
	}
	if c.AlertTimeout <= 0 {
		c.AlertTimeout = DefaultAlertTimeout
	}
	if err := checkWebhook(c.AlertWebhook); err != nil {
		return fmt.Errorf("gateway %s: %w", c.ID, err)
	}
	switch {
	case c.LogRetention == 0:
		c.LogRetention = DefaultLogRetention
	case c.LogRetention < 0:
		c.LogRetention = KeepLogs
	}
	if c.LogBuffer <= 0 {
		c.LogBuffer = DefaultLogBuffer
	}
	if c.LogBatch <= 0 {
		c.LogBatch = DefaultLogBatch
	}
	switch {
	case c.LogLinger == 0:
		c.LogLinger = DefaultLogLinger
	case c.LogLinger < 0:
		c.LogLinger = 0
	}
	switch c.LogDurability {
	case "":
		c.LogDurability = DurabilityAsync
	case DurabilityAsync, DurabilitySync:
	default:
		return fmt.Errorf("gateway %s: log durability %q (expected async or sync)", c.ID, c.LogDurability)
	}
	return nil
}

// checkWebhook checks an alert webhook now, not at the first alert; the
// URL is not quoted, since it may embed a token.
func checkWebhook(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("alert webhook is not an http(s) URL")
	}
	return nil
}

// settings are what Update replaces while the gateway runs: its config
// and the limits it makes.
type settings struct {
	cfg Config
	own *limitIndex
}

// conf is the gateway's config as it stands: read it once per use, since
// Update may replace it at any time.
func (g *Gateway) conf() *Config { return &g.live.Load().cfg }

// Config returns the gateway's settings with their defaults filled in.
func (g *Gateway) Config() Config { return *g.conf() }

// Update replaces the gateway's settings while it runs: calls that start
// after it returns use cfg (cache TTL, retries, rate limits, budgets,
// alerts, environment); calls in flight finish with the settings they
// began with, and counts carry over. The id and the sizes of the
// background queues stay as New set them.
func (g *Gateway) Update(cfg Config) error {
	cfg.ID = cmp.Or(cfg.ID, g.id)
	if cfg.ID != g.id {
		return fmt.Errorf("gateway %s: cannot become gateway %s", g.id, cfg.ID)
	}
	if err := cfg.fill(); err != nil {
		return err
	}
	own, err := compileLimits(ownLimits(&cfg), cfg.ID)
	if err != nil {
		return fmt.Errorf("gateway %s: %w", cfg.ID, err)
	}
	old := g.conf()
	cfg.MaxEntryBytes, cfg.CacheWriteBuffer = old.MaxEntryBytes, old.CacheWriteBuffer
	cfg.LogBuffer, cfg.LogBatch, cfg.LogDurability = old.LogBuffer, old.LogBatch, old.LogDurability
	g.live.Store(&settings{cfg: cfg, own: own})
	return nil
}

// Wrap builds the gateway's chain around upstream, with fallbacks tried in
// order after it; WrapPool builds it around a [[model]]'s deployments
// (deployment.go). This is the one place the chain's order is written;
// outermost first:
//
//	record     every request is logged once: hits, refusals and failures too
//	ratelimit  every request counts, cache hits included (as Cloudflare
//	           counts them); tokens count what upstreams actually used
//	cache      a hit ends here: no budget is reserved and no upstream called;
//	           it sits above the retries, so a failure is never cached
//	fallback   the routes in order (Wrap), or
//	balance    the pool's deployments in the pool's order (WrapPool): tiers,
//	           strategy, each breaker, each deployment's rpm/tpm;
//	           each route or deployment:
//	  budget     reserves this route's maximum cost, settles the real one
//	  retry      retries this route's retryable failures (a deployment's
//	             while its breaker lets calls through: no wait once open)
//	  breaker    a deployment's: counts each attempt, refuses while open
//	  upstream   the provider adapter
func (g *Gateway) Wrap(upstream conductor.Provider, fallbacks ...Route) conductor.Provider {
	return g.WrapRoutes(append([]Route{{P: upstream}}, fallbacks...)...)
}

// WrapRoutes is Wrap for routes whose first one has a provider, model or
// deadlines of its own: the first is the upstream, the rest its
// fallbacks in order.
func (g *Gateway) WrapRoutes(in ...Route) conductor.Provider {
	if len(in) == 0 || in[0].P == nil {
		return failing{errNoRoute}
	}
	routes := make([]Route, 0, len(in))
	for _, r := range in {
		if r.P != nil {
			routes = append(routes, r)
		}
	}
	for i := range routes {
		routes[i].P = g.budget(g.retryRoute(routes[i].P, routes[i].Deadlines))
	}
	return g.front(g.fallback(routes))
}

// WrapPool builds the gateway's chain around pool (see Wrap).
func (g *Gateway) WrapPool(pool *Pool) conductor.Provider {
	inner := make([]conductor.Provider, len(pool.deps))
	for i, d := range pool.deps {
		inner[i] = g.budget(g.retryWhile(g.breaker(d, pool.now), pool.deadlines, d.br.available))
	}
	return g.front(g.balance(pool, inner))
}

// front is the part of the chain above the routes.
func (g *Gateway) front(p conductor.Provider) conductor.Provider {
	p = g.cache(p)
	p = g.ratelimit(p)
	p = g.record(p)
	return p
}

// Close stops the background work after writing everything queued: log
// rows, cache writes, spend settlements and alerts. ctx bounds the wait.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		g.stop()
		// Settlements first: they may queue alerts.
		g.after.close()
		g.writes.close()
		g.closeErr = waitDone(ctx, g.after.done, g.writes.done)
		g.alerts.close()
		g.logs.close()
		done := make(chan struct{})
		go func() { g.bg.Wait(); close(done) }()
		if err := waitDone(ctx, done); err != nil {
			g.closeErr = err
		}
		if g.closeErr != nil {
			g.closeErr = fmt.Errorf("gateway %s: close: %w", g.conf().ID, g.closeErr)
		}
		// What the last minute's warnings have not said yet.
		g.cacheDrops.flush(g.log, "gateway cache writes dropped")
		g.alertDrops.flush(g.log, "gateway budget alert webhooks dropped")
		g.logs.drops.flush(g.log, "gateway log rows dropped")
	})
	return g.closeErr
}

func waitDone(ctx context.Context, chs ...chan struct{}) error {
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// DroppedLogRows reports how many log rows were dropped because the writer
// queue was full.
func (g *Gateway) DroppedLogRows() int64 { return g.logs.drops.total.Load() }

// callInfo is what the inner wrappers tell the record wrapper about one
// call, failures included (an error carries no ResponseMeta). It travels in
// the context, so it is written by the goroutine serving the call only.
type callInfo struct {
	attempts    int
	step        int
	provider    string // the route last tried
	model       string
	deployment  string // the pool's deployment last tried (deployment.go)
	cached      bool
	cacheStatus string
	missReason  string
	// lastAttempt is when the last upstream attempt began: the provider's
	// TTFB counts from there, the row's from the request.
	lastAttempt time.Time
}

type infoKey struct{}

func withInfo(ctx context.Context, ci *callInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, ci)
}

func infoFrom(ctx context.Context) *callInfo {
	ci, _ := ctx.Value(infoKey{}).(*callInfo)
	return ci
}

// defaultPrices is the embedded price table.
func defaultPrices() Prices { return pricing.Default() }

// nowUTC is the gateway's clock; testing/synctest fakes it in tests.
func nowUTC() time.Time { return time.Now().UTC() }

// copyRequest returns a shallow copy a wrapper may change without touching
// the caller's request.
func copyRequest(req *conductor.ChatRequest) *conductor.ChatRequest {
	c := *req
	return &c
}
