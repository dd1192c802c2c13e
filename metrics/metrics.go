// Package metrics exports the gateway's request log as Prometheus metrics:
// requests, cache hits and misses, tokens, cost and what the cache saved,
// latency and time to first byte, errors by class — by gateway, provider
// and model — and each budget's spend and limit.
//
// A Collector is fed one conductor.LogRow per request, the same rows the
// gateway writes to its log: call Observe for each, or let ObserveStore
// wrap the store the gateway writes its log to, so that every appended row
// is observed on its way in. Handler serves the text exposition format
// from the collector's own registry (no package-level state, so tests and
// several servers in one process never share counters).
//
// Every label value comes from a bounded set. Gateway ids and providers
// are the configured ones (a few more are admitted as first seen, up to a
// cap); models are those of the price table and the configuration, and any
// other name is reported as "other". User ids, metadata and anything a
// caller chose freely never become label values.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/pricing"
)

// Other is the label value of anything outside a label's bounded set.
const Other = "other"

// Namespace prefixes every metric name.
const Namespace = "conductor_gateway"

// Caps on the label values admitted as first seen when none were
// configured, and on the memo of resolved (provider, model) names: a flood
// of distinct names must not grow memory or series without bound.
const (
	maxDynamicGateways = 32
	maxMemo            = 4096
)

// latencyBuckets are the histogram buckets in seconds for total latency
// and time to first byte: cache hits take milliseconds, model answers up
// to minutes.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120}

// missReasons are the cache miss reasons the gateway records (gateway/cache.go);
// any other value is counted as Other.
var missReasons = [...]string{"new_key", "expired", "ttl_0", "bypass", "stream_error", "cache_error"}

// errorClasses are the classes a log row's ErrorClass may hold: every
// conductor.ErrorClass, and "internal" for failures that were not an
// *conductor.Error.
var errorClasses = [...]string{
	string(conductor.ClassBadRequest), string(conductor.ClassAuth), string(conductor.ClassNotFound),
	string(conductor.ClassTimeout), string(conductor.ClassTooLarge), string(conductor.ClassRateLimited),
	string(conductor.ClassQuota), string(conductor.ClassServer), string(conductor.ClassNetwork),
	string(conductor.ClassMalformed), string(conductor.ClassStreamCut), string(conductor.ClassLimited),
	string(conductor.ClassBudget), string(conductor.ClassConfig), string(conductor.ClassCanceled),
	string(conductor.ClassProviderFail), "internal",
}

// Option configures New.
type Option func(*options)

type options struct {
	gateways  []string
	providers []string
	models    []string
	prices    *pricing.Table
	runtime   bool
}

// WithGateways names the gateway ids to report. Without it the first 32
// ids seen are reported and later ones count as "other".
func WithGateways(ids ...string) Option {
	return func(o *options) { o.gateways = append(o.gateways, ids...) }
}

// WithProviders adds provider names to the built-in ones
// (conductor.Providers()).
func WithProviders(names ...string) Option {
	return func(o *options) { o.providers = append(o.providers, names...) }
}

// WithModels adds model names to report as they are, beyond the price
// table's: "model" for any provider, or "provider/model".
func WithModels(names ...string) Option {
	return func(o *options) { o.models = append(o.models, names...) }
}

// WithPrices sets the price table whose models are reported under their
// table names ("gpt-4o-2024-08-06" is reported as "gpt-4o"); default: the
// embedded table.
func WithPrices(t *pricing.Table) Option {
	return func(o *options) { o.prices = t }
}

// WithoutRuntime leaves the Go runtime and process collectors out of the
// registry.
func WithoutRuntime() Option {
	return func(o *options) { o.runtime = false }
}

// Collector holds the gateway's metrics on its own registry.
type Collector struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec
	hits      *prometheus.CounterVec
	misses    *prometheus.CounterVec
	errors    *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	saved     *prometheus.CounterVec
	unpriced  *prometheus.CounterVec
	retries   *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	ttfb      *prometheus.HistogramVec

	prices    *pricing.Table
	providers map[string]bool
	models    map[string]bool // "model" and "provider/model"

	gwMu      sync.RWMutex
	gateways  map[string]bool
	gwDynamic bool // admit unconfigured ids up to maxDynamicGateways

	memoMu sync.RWMutex
	memo   map[modelKey]string // (provider, raw model) -> model label

	seriesMu sync.RWMutex
	series   map[seriesKey]*series
}

type modelKey struct{ provider, model string }

// seriesKey is one combination of the common labels.
type seriesKey struct {
	gateway, provider, model string
	cached                   bool
}

// series holds the metrics of one seriesKey, resolved once: looking a
// label combination up in a vector hashes every label on every call.
type series struct {
	requests, hits, cost, saved, unpriced, retries, fallbacks prometheus.Counter
	in, out                                                   prometheus.Counter
	latency, ttfb                                             prometheus.Observer

	// Miss and error counters by index into missReasons and errorClasses
	// (the last slot for Other, or "unknown"), resolved on first use so
	// that only combinations that happened are exported.
	misses [len(missReasons) + 1]atomic.Pointer[prometheus.Counter]
	errors [len(errorClasses) + 2]atomic.Pointer[prometheus.Counter]
}

// counter returns the counter in slot i, resolving it from vec with the
// series' labels plus extra on first use.
func (s *series) counter(slot *atomic.Pointer[prometheus.Counter], vec *prometheus.CounterVec, k seriesKey, extra string) prometheus.Counter {
	if p := slot.Load(); p != nil {
		return *p
	}
	ctr := vec.WithLabelValues(k.gateway, k.provider, k.model, extra)
	slot.Store(&ctr) // a racing store resolves the same child: harmless
	return ctr
}

// New returns a Collector with every metric registered on a fresh registry.
func New(opts ...Option) *Collector {
	o := options{runtime: true}
	for _, f := range opts {
		f(&o)
	}
	if o.prices == nil {
		o.prices = pricing.Default()
	}
	c := &Collector{
		reg:       prometheus.NewRegistry(),
		prices:    o.prices,
		providers: map[string]bool{},
		models:    map[string]bool{},
		gateways:  map[string]bool{},
		gwDynamic: len(o.gateways) == 0,
		memo:      map[modelKey]string{},
		series:    map[seriesKey]*series{},
	}
	for _, p := range append(conductor.Providers(), o.providers...) {
		c.providers[p] = true
	}
	for _, m := range o.models {
		if m != "" {
			c.models[m] = true
		}
	}
	for _, g := range o.gateways {
		c.gateways[g] = true
	}

	common := []string{"gateway", "provider", "model"}
	with := func(extra ...string) []string { return append(append([]string(nil), common...), extra...) }
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		c.reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string, labels []string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: name, Help: help, Buckets: latencyBuckets,
		}, labels)
		c.reg.MustRegister(v)
		return v
	}
	c.requests = counter("requests_total", "Requests through the gateway.", common)
	c.hits = counter("cache_hits_total", "Requests answered from the gateway cache.", common)
	c.misses = counter("cache_misses_total",
		"Requests the cache could not answer, by reason (new_key, expired, ttl_0, bypass, stream_error, cache_error).",
		with("reason"))
	c.errors = counter("errors_total", "Failed requests, by error class (ours: limited, budget; the provider's: rate_limited, server, …).", with("class"))
	c.tokens = counter("tokens_total", "Tokens of answers, by type (input or output); cache hits count their answer's tokens.", with("type"))
	c.cost = counter("cost_usd_total", "Cost of upstream calls in USD at list prices; cache hits cost nothing.", common)
	c.saved = counter("cache_saved_usd_total", "What cache hits would have cost at list prices, in USD: what the cache saved.", common)
	c.unpriced = counter("unpriced_requests_total", "Requests priced by the default price because the price table does not know the model.", common)
	c.retries = counter("retries_total", "Attempts beyond the first, summed over requests.", common)
	c.fallbacks = counter("fallbacks_total", "Requests answered by a fallback step rather than the first route.", common)
	c.latency = histogram("request_duration_seconds", "Total request latency in seconds, by whether the cache answered.", with("cached"))
	c.ttfb = histogram("ttfb_seconds", "Time to the first byte of the answer in seconds, by whether the cache answered.", with("cached"))
	if o.runtime {
		c.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return c
}

// BudgetReading is one budget in its current window, for the budget
// gauges.
type BudgetReading struct {
	Name     string // the configured name: a bounded set
	Period   string // day or month
	SpentUSD float64
	LimitUSD float64
}

// WatchBudgets exports each budget read reports, at every scrape, as
// conductor_gateway_budget_spent_usd and conductor_gateway_budget_limit_usd
// labelled by budget and period. read is given the scrape's context;
// budgets it cannot read are left out of that scrape.
func (c *Collector) WatchBudgets(read func(ctx context.Context) ([]BudgetReading, error)) {
	c.reg.MustRegister(&budgetCollector{read: read,
		spent: prometheus.NewDesc(Namespace+"_budget_spent_usd", "A budget's spend in its current window, in USD (settled and reserved).", []string{"budget", "period"}, nil),
		limit: prometheus.NewDesc(Namespace+"_budget_limit_usd", "A budget's limit per window, in USD.", []string{"budget", "period"}, nil),
	})
}

type budgetCollector struct {
	read         func(ctx context.Context) ([]BudgetReading, error)
	spent, limit *prometheus.Desc
}

func (b *budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- b.spent; ch <- b.limit }

func (b *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	rs, err := b.read(context.Background())
	if err != nil {
		return
	}
	seen := map[[2]string]bool{}
	for _, r := range rs {
		k := [2]string{r.Name, r.Period}
		if seen[k] {
			continue // one series per name and period
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(b.spent, prometheus.GaugeValue, r.SpentUSD, r.Name, r.Period)
		ch <- prometheus.MustNewConstMetric(b.limit, prometheus.GaugeValue, r.LimitUSD, r.Name, r.Period)
	}
}

// Registry returns the collector's registry, for adding further collectors.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

// Handler serves the metrics in the Prometheus text format (or OpenMetrics
// when the scraper asks for it).
func (c *Collector) Handler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg, EnableOpenMetrics: true})
}

// Observe counts one request of the log.
func (c *Collector) Observe(row conductor.LogRow) {
	gw := c.gatewayLabel(row.Gateway)
	prov := c.providerLabel(row.Provider)
	model := c.modelLabel(row.Provider, row.Model)
	k := seriesKey{gateway: gw, provider: prov, model: model, cached: row.Cached}
	s := c.seriesFor(k)

	s.requests.Inc()
	if row.Cached {
		s.hits.Inc()
	} else if row.MissReason != "" {
		i := index(row.MissReason, missReasons[:])
		s.counter(&s.misses[i], c.misses, k, label(i, missReasons[:])).Inc()
	}
	if !row.Success {
		i, class := len(errorClasses)+1, "unknown"
		if row.ErrorClass != "" {
			i = index(row.ErrorClass, errorClasses[:])
			class = label(i, errorClasses[:])
		}
		s.counter(&s.errors[i], c.errors, k, class).Inc()
	}
	if row.InputTokens > 0 {
		s.in.Add(float64(row.InputTokens))
	}
	if row.OutputTokens > 0 {
		s.out.Add(float64(row.OutputTokens))
	}
	if row.CostNanoUSD > 0 {
		s.cost.Add(float64(row.CostNanoUSD) / 1e9)
	}
	if row.SavedNanoUSD > 0 {
		s.saved.Add(float64(row.SavedNanoUSD) / 1e9)
	}
	if row.CostFlagged {
		s.unpriced.Inc()
	}
	if row.Attempts > 1 {
		s.retries.Add(float64(row.Attempts - 1))
	}
	if row.Step > 0 {
		s.fallbacks.Inc()
	}
	if row.Latency >= 0 {
		s.latency.Observe(row.Latency.Seconds())
	}
	if row.TTFB > 0 {
		s.ttfb.Observe(row.TTFB.Seconds())
	}
}

func (c *Collector) seriesFor(k seriesKey) *series {
	c.seriesMu.RLock()
	s := c.series[k]
	c.seriesMu.RUnlock()
	if s != nil {
		return s
	}
	c.seriesMu.Lock()
	defer c.seriesMu.Unlock()
	if s = c.series[k]; s != nil {
		return s
	}
	cached := "false"
	if k.cached {
		cached = "true"
	}
	l := []string{k.gateway, k.provider, k.model}
	s = &series{
		requests:  c.requests.WithLabelValues(l...),
		hits:      c.hits.WithLabelValues(l...),
		cost:      c.cost.WithLabelValues(l...),
		saved:     c.saved.WithLabelValues(l...),
		unpriced:  c.unpriced.WithLabelValues(l...),
		retries:   c.retries.WithLabelValues(l...),
		fallbacks: c.fallbacks.WithLabelValues(l...),
		in:        c.tokens.WithLabelValues(k.gateway, k.provider, k.model, "input"),
		out:       c.tokens.WithLabelValues(k.gateway, k.provider, k.model, "output"),
		latency:   c.latency.WithLabelValues(k.gateway, k.provider, k.model, cached),
		ttfb:      c.ttfb.WithLabelValues(k.gateway, k.provider, k.model, cached),
	}
	// The series map is bounded by the label sets, which are bounded.
	c.series[k] = s
	return s
}

// index is v's position in set, or len(set) for Other.
func index(v string, set []string) int {
	for i, s := range set {
		if v == s {
			return i
		}
	}
	return len(set)
}

func label(i int, set []string) string {
	if i < len(set) {
		return set[i]
	}
	return Other
}

func (c *Collector) gatewayLabel(id string) string {
	if id == "" {
		return ""
	}
	c.gwMu.RLock()
	ok := c.gateways[id]
	n := len(c.gateways)
	c.gwMu.RUnlock()
	switch {
	case ok:
		return id
	case !c.gwDynamic || n >= maxDynamicGateways || !labelSafe(id):
		return Other
	}
	c.gwMu.Lock()
	defer c.gwMu.Unlock()
	if len(c.gateways) >= maxDynamicGateways && !c.gateways[id] {
		return Other
	}
	c.gateways[id] = true
	return id
}

func (c *Collector) providerLabel(p string) string {
	if c.providers[p] {
		return p
	}
	return Other
}

// modelLabel names a model by the price table when the table knows it,
// as configured when configured, else Other.
func (c *Collector) modelLabel(provider, model string) string {
	if model == "" {
		return ""
	}
	k := modelKey{provider, model}
	c.memoMu.RLock()
	l, ok := c.memo[k]
	c.memoMu.RUnlock()
	if ok {
		return l
	}
	l = c.resolveModel(provider, model)
	c.memoMu.Lock()
	if len(c.memo) < maxMemo {
		c.memo[k] = l
	}
	c.memoMu.Unlock()
	return l
}

func (c *Collector) resolveModel(provider, model string) string {
	if c.models[model] || c.models[provider+"/"+model] {
		return model
	}
	if p, known := c.prices.Lookup(provider, model); known && p.Model != "" {
		return p.Model
	}
	return Other
}

// labelSafe keeps ids that are plainly names: a gateway id is configured
// text, but an unconfigured one arrived with a request.
func labelSafe(s string) bool {
	if len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
}

// ObserveStore returns st with AppendLogs observing every row it is given
// before storing it, so a gateway built on the returned store feeds the
// collector without knowing about it. Rows are observed whether or not the
// store accepts them: they were requests all the same.
func (c *Collector) ObserveStore(st conductor.Store) conductor.Store {
	return &observedStore{Store: st, c: c}
}

type observedStore struct {
	conductor.Store
	c *Collector
}

func (s *observedStore) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	for i := range rows {
		s.c.Observe(rows[i])
	}
	return s.Store.AppendLogs(ctx, rows)
}

// Unwrap returns the wrapped store, for callers that need its concrete type.
func (s *observedStore) Unwrap() conductor.Store { return s.Store }
