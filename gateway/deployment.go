package gateway

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// A Pool is the deployments of one model name: several keys, servers or
// regions of a model (or of several models), each with its own adapter,
// share of traffic, rate limits, priority tier and circuit breaker
// (breaker.go). Gateway.WrapPool puts a gateway in front of it; the
// pool's state (breakers, calls in flight, latencies) is shared by every
// gateway that wraps it, since a dead deployment is dead for all of them,
// and belongs to this process.
//
// A call goes to the lowest tier that has a deployment to take it: one
// whose breaker lets calls through and that is below its own rate limits.
// Within a tier the strategy picks the order; a failure that may succeed
// elsewhere (fallsBack) goes to the next deployment, of the same tier
// first, and a deployment whose breaker is open costs no attempt at all.
// When no deployment can take the call it fails at once: a 503 with
// Retry-After (the earliest breaker's probe) when breakers are open, a
// 429 when every deployment is at its rate limit.
type Pool struct {
	name     string
	strategy string
	deps     []*deployment
	// tiers holds the deployments' indices, by tier ascending, each in
	// the order written.
	tiers [][]int
	log   *slog.Logger
	now   func() time.Time
	randN func(n int) int
	// health is the interval of active checks (health.go); 0 none.
	health time.Duration
	// deadlines are each deployment's retries' (PoolConfig.Deadlines).
	deadlines Deadlines
	stop      context.CancelFunc
	done      chan struct{}
}

// Deployment is one member of a Pool.
type Deployment struct {
	// Name is how the log, stats, metrics and dashboard name it: unique in
	// its pool, never a key.
	Name     string
	Provider string
	Model    string
	// P is the deployment's adapter: its own base URL and key.
	P      conductor.Provider
	Weight int // share of its tier's calls under StrategyWeighted (default 1)
	Tier   int // 1 first (default); tier n+1 only when no tier-n deployment can take a call
	// RPM and TPM are the provider's limits for this deployment's key, per
	// minute: counted in the gateway's store (shared by every instance
	// when the store is), and a deployment at its limit is skipped.
	RPM, TPM int64
}

// Strategies (PoolConfig.Strategy).
const (
	StrategyWeighted  = "weighted"
	StrategyLeastBusy = "least-busy"
	StrategyLatency   = "latency"
	StrategyCost      = "cost"
)

// PoolConfig sets a Pool.
type PoolConfig struct {
	Name     string // the model name callers use
	Strategy string // default StrategyWeighted
	Breaker  BreakerConfig
	// HealthInterval, when positive, checks every deployment that often
	// with a one-token request (health.go).
	HealthInterval time.Duration
	// Deadlines are the model's own ([[model]] request_timeout,
	// idle_timeout, total_timeout) for every deployment's calls; past
	// Total a deployment's call goes to the next one.
	Deadlines Deadlines
	Logger    *slog.Logger
	// Now is the breakers' and latencies' clock (default time.Now);
	// RandN a source of random numbers in [0, n) (default math/rand/v2).
	Now   func() time.Time
	RandN func(n int) int
}

// deployment is a Deployment with its live state.
type deployment struct {
	Deployment
	br       *breaker
	inflight atomic.Int64
	// ewma is the peak-EWMA latency in nanoseconds (float64 bits): it
	// jumps to a slower observation at once and decays toward faster ones
	// with latencyDecay, so a deployment that turns slow loses traffic
	// within one call.
	ewma   atomic.Uint64
	seen   atomic.Int64 // when ewma was last updated, Unix ns
	calls  atomic.Int64 // attempts made, for /metrics
	errors atomic.Int64 // attempts that counted as failures
	// Rate counter keys of RPM and TPM.
	rpmKey, tpmKey string
}

// latencyDecay is the time constant of the latency average.
const latencyDecay = 10 * time.Second

// NewPool returns the pool of deps. It starts the active health checks
// when cfg asks for them: Close stops them.
func NewPool(cfg PoolConfig, deps []Deployment) (*Pool, error) {
	if len(deps) == 0 {
		return nil, fmt.Errorf("model %s: no deployment", cfg.Name)
	}
	switch cfg.Strategy {
	case "":
		cfg.Strategy = StrategyWeighted
	case StrategyWeighted, StrategyLeastBusy, StrategyLatency, StrategyCost:
	default:
		return nil, fmt.Errorf("model %s: unknown strategy %q (expected weighted, least-busy, latency or cost)", cfg.Name, cfg.Strategy)
	}
	p := &Pool{name: cfg.Name, strategy: cfg.Strategy, log: cfg.Logger, now: cfg.Now, randN: cfg.RandN, health: cfg.HealthInterval, deadlines: cfg.Deadlines}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.randN == nil {
		p.randN = rand.IntN
	}
	names := map[string]bool{}
	tiers := map[int][]int{}
	for i, d := range deps {
		if d.P == nil {
			return nil, fmt.Errorf("model %s: deployment %s has no adapter", cfg.Name, d.Name)
		}
		if names[d.Name] {
			return nil, fmt.Errorf("model %s: deployment name %q is used twice", cfg.Name, d.Name)
		}
		names[d.Name] = true
		d.Weight = cmp.Or(max(d.Weight, 0), 1)
		d.Tier = cmp.Or(max(d.Tier, 0), 1)
		dep := &deployment{Deployment: d}
		prefix := "deployment/" + cfg.Name + "/" + d.Name + "/1m/"
		dep.rpmKey, dep.tpmKey = prefix+"requests", prefix+"tokens"
		name := d.Name
		dep.br = newBreaker(cfg.Breaker, p.now, func(from, to int32, reason string) {
			lvl := slog.LevelWarn
			if to == stateClosed {
				lvl = slog.LevelInfo
			}
			p.log.Log(context.Background(), lvl, "deployment breaker "+stateName(to), "model", cfg.Name, "deployment", name,
				"from", stateName(from), "reason", reason)
		})
		p.deps = append(p.deps, dep)
		tiers[d.Tier] = append(tiers[d.Tier], i)
	}
	for _, t := range slices.Sorted(func(yield func(int) bool) {
		for t := range tiers {
			if !yield(t) {
				return
			}
		}
	}) {
		p.tiers = append(p.tiers, tiers[t])
	}
	p.startHealth()
	return p, nil
}

// Name is the model name the pool serves.
func (p *Pool) Name() string { return p.name }

// Close stops the pool's health checks.
func (p *Pool) Close() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
}

// DeploymentStatus is one deployment's state, for /metrics and the
// dashboard.
type DeploymentStatus struct {
	Model      string        `json:"model"`
	Deployment string        `json:"deployment"`
	Provider   string        `json:"provider"`
	Tier       int           `json:"tier"`
	Breaker    string        `json:"breaker"` // BreakerClosed, BreakerOpen or BreakerHalfOpen
	InFlight   int64         `json:"inFlight"`
	Latency    time.Duration `json:"latency"` // peak-EWMA of the time to the answer's first byte
	// ErrorRate is the failed fraction of the breaker's window.
	ErrorRate float64 `json:"errorRate"`
	Calls     int64   `json:"calls"`  // attempts since start
	Errors    int64   `json:"errors"` // failed attempts since start
	// RetryAt is when an open breaker lets a probe through.
	RetryAt time.Time `json:"retryAt,omitzero"`
}

// Status reports every deployment's state, in the pool's order.
func (p *Pool) Status() []DeploymentStatus {
	out := make([]DeploymentStatus, len(p.deps))
	for i, d := range p.deps {
		b := d.br.status()
		s := DeploymentStatus{Model: p.name, Deployment: d.Name, Provider: d.Provider, Tier: d.Tier, Breaker: b.state,
			InFlight: d.inflight.Load(), Latency: time.Duration(math.Float64frombits(d.ewma.Load())),
			Calls: d.calls.Load(), Errors: d.errors.Load()}
		if b.calls > 0 {
			s.ErrorRate = float64(b.failures) / float64(b.calls)
		}
		if b.state != BreakerClosed {
			s.RetryAt = b.until
		}
		out[i] = s
	}
	return out
}

// observe counts one attempt's outcome and latency.
func (d *deployment) observe(now time.Time, rtt time.Duration, err error, ownKey bool) {
	d.calls.Add(1)
	if classify(err, ownKey) == outcomeFailure {
		d.errors.Add(1)
	}
	d.br.record(err, ownKey)
	if err != nil {
		return
	}
	// Peak EWMA (as Finagle and Linkerd balance): a slower observation
	// replaces the average at once, faster ones pull it down with a weight
	// that grows with the time since the last one.
	obs := float64(rtt)
	last := d.seen.Swap(now.UnixNano())
	old := math.Float64frombits(d.ewma.Load())
	v := obs
	if old != 0 && obs < old {
		w := math.Exp(-float64(now.UnixNano()-last) / float64(latencyDecay))
		v = old*w + obs*(1-w)
	}
	d.ewma.Store(math.Float64bits(v))
}

// score is the latency strategy's cost of sending one more call: the
// average latency times the calls that would be in flight. An unmeasured
// deployment scores 0, so it gets calls and a measure.
func (d *deployment) score() float64 {
	return math.Float64frombits(d.ewma.Load()) * float64(d.inflight.Load()+1)
}

// maxOrder is the pool size whose try order needs no allocation.
const maxOrder = 16

// order appends every deployment's index to out in the order a call
// tries them: tiers ascending, each ordered by the strategy. cost ranks
// deployments for StrategyCost.
func (p *Pool) order(out []int, cost []int64) []int {
	if len(p.deps) == 1 {
		return append(out, 0)
	}
	for _, tier := range p.tiers {
		start := len(out)
		out = append(out, tier...)
		t := out[start:]
		if len(t) == 1 {
			continue
		}
		switch p.strategy {
		case StrategyWeighted:
			p.weighted(t)
		case StrategyLeastBusy:
			// Ties in the order written: the first idle one.
			slices.SortStableFunc(t, func(a, b int) int { return cmp.Compare(p.deps[a].inflight.Load(), p.deps[b].inflight.Load()) })
		case StrategyLatency:
			p.twoChoices(t)
		case StrategyCost:
			slices.SortStableFunc(t, func(a, b int) int { return cmp.Compare(cost[a], cost[b]) })
		}
	}
	return out
}

// weighted orders t by weighted random choice without replacement: the
// first is picked with probability weight/total, the next among the rest.
func (p *Pool) weighted(t []int) {
	for i := 0; i < len(t)-1; i++ {
		total := 0
		for _, j := range t[i:] {
			total += p.deps[j].Weight
		}
		r := p.randN(total)
		for k := i; k < len(t); k++ {
			if r -= p.deps[t[k]].Weight; r < 0 {
				t[i], t[k] = t[k], t[i]
				break
			}
		}
	}
}

// twoChoices puts first the better of two deployments drawn at random
// (power of two choices: near the best choice's quality without herding
// every call onto one deployment), the rest by score.
func (p *Pool) twoChoices(t []int) {
	a := p.randN(len(t))
	b := p.randN(len(t) - 1)
	if b >= a {
		b++
	}
	if p.deps[t[b]].score() < p.deps[t[a]].score() {
		a = b
	}
	t[0], t[a] = t[a], t[0]
	rest := t[1:]
	slices.SortStableFunc(rest, func(x, y int) int { return cmp.Compare(p.deps[x].score(), p.deps[y].score()) })
}

// CodeDeploymentsUnavailable is the error code of a call no deployment
// could take because every breaker is open: a 503 with Retry-After.
const CodeDeploymentsUnavailable = "deployments_unavailable"

// errOpen is the answer when every deployment's breaker is open.
func (p *Pool) errOpen(retryAt time.Time) error {
	ra := time.Second
	if d := retryAt.Sub(p.now()); d > ra {
		ra = d.Round(time.Second)
	}
	return &conductor.Error{Class: conductor.ClassServer, Status: 503, Code: CodeDeploymentsUnavailable, Retryable: true, RetryAfter: ra,
		Message: fmt.Sprintf("model %s: every deployment is unavailable (circuit breakers open after failures); retry after %s", p.name, ra)}
}

func (p *Pool) errLimited(ra time.Duration) error {
	return &conductor.Error{Class: conductor.ClassLimited, Status: 429, Code: "rate_limited", Retryable: true, RetryAfter: max(ra, time.Second),
		Message: fmt.Sprintf("model %s: every deployment is at its own rate limit (rpm/tpm)", p.name)}
}

// balance tries pool's deployments, each through its inner chain.
func (g *Gateway) balance(pool *Pool, inner []conductor.Provider) conductor.Provider {
	b := &balanceProvider{g: g, pool: pool, inner: inner}
	if pool.strategy == StrategyCost {
		b.cost = make([]int64, len(pool.deps))
		for i, d := range pool.deps {
			// A typical call: a thousand tokens each way.
			b.cost[i] = g.prices.MaxCost(d.Provider, d.Model, 1000, 1000)
		}
	}
	return b
}

// balanceProvider tries a pool's deployments in the pool's order.
type balanceProvider struct {
	g     *Gateway
	pool  *Pool
	inner []conductor.Provider
	cost  []int64
}

// skips are why deployments took no call.
type skips struct {
	open    int
	retryAt time.Time
	limited int
	limitRA time.Duration
}

// admit says whether deployment d can take a call now: its breaker lets
// calls through and it is below its rate limits (the request is counted
// when it is). A store that fails does not hold the deployment back: the
// provider enforces its own limits, these only spare it the 429.
func (b *balanceProvider) admit(ctx context.Context, d *deployment, sk *skips) bool {
	if !d.br.available() {
		sk.open++
		if at := d.br.retryAt(); sk.retryAt.IsZero() || at.Before(sk.retryAt) {
			sk.retryAt = at
		}
		return false
	}
	if d.RPM <= 0 && d.TPM <= 0 {
		return true
	}
	var takes [2]conductor.RateTake
	n := 0
	if d.TPM > 0 {
		// Admitted while the minute's tokens are below the limit.
		takes[n] = conductor.RateTake{Key: d.tpmKey, N: 0, Limit: d.TPM - 1, Window: time.Minute, Kind: conductor.WindowFixed}
		n++
	}
	if d.RPM > 0 {
		takes[n] = conductor.RateTake{Key: d.rpmKey, N: 1, Limit: d.RPM, Window: time.Minute, Kind: conductor.WindowFixed}
		n++
	}
	ds, err := b.g.st.TakeRates(ctx, takes[:n], nowUTC())
	if err != nil {
		b.g.log.Debug("deployment rate counters failed; not holding the deployment back", "model", b.pool.name, "deployment", d.Name, "err", err)
		return true
	}
	for _, dec := range ds {
		if !dec.Allowed {
			sk.limited++
			if sk.limitRA == 0 || dec.RetryAfter < sk.limitRA {
				sk.limitRA = dec.RetryAfter
			}
			b.g.log.Debug("deployment at its rate limit: skipped", "model", b.pool.name, "deployment", d.Name)
			return false
		}
	}
	return true
}

// countTokens adds a call's tokens to d's TPM counter, off the request
// path: calls admitted before the count lands may go over the limit, as
// with the gateway's own token limits.
func (b *balanceProvider) countTokens(d *deployment, u conductor.Usage) {
	n := int64(u.InputTokens + u.OutputTokens)
	if d.TPM <= 0 || n <= 0 {
		return
	}
	st := b.g.st
	b.g.after.do(func(ctx context.Context) {
		if _, err := st.TakeRate(ctx, d.tpmKey, n, math.MaxInt64, time.Minute, conductor.WindowFixed, nowUTC()); err != nil {
			b.g.log.Debug("deployment token count failed", "deployment", d.Name, "err", err)
		}
	})
}

// step prepares deployment i, the call's step-th choice (cf-aig-step:
// 0 is the strategy's first pick, a higher step a fallback; a chain of
// routes keeps its positions): the request as it must see it, and what
// record must know.
func (b *balanceProvider) step(ctx context.Context, req *conductor.ChatRequest, i, step int) (context.Context, *conductor.ChatRequest, *callInfo) {
	ci := infoFrom(ctx)
	if ci == nil {
		ci = &callInfo{}
		ctx = withInfo(ctx, ci)
	}
	d := b.pool.deps[i]
	rreq := routeRequest(req, Route{Provider: d.Provider, Model: d.Model})
	ci.step, ci.provider, ci.model, ci.deployment = step, rreq.Provider, rreq.Model, d.Name
	return ctx, rreq, ci
}

// none is the failure when no deployment took the call.
func (b *balanceProvider) none(sk skips) error {
	if sk.open == 0 && sk.limited > 0 {
		return b.pool.errLimited(sk.limitRA)
	}
	return b.pool.errOpen(sk.retryAt)
}

func (b *balanceProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return balance(b, ctx, req, conductor.Provider.Chat,
		func(d *deployment, step int, ci *callInfo, _ *conductor.ChatRequest, resp *conductor.ChatResponse) *conductor.ChatResponse {
			resp.Meta.Step = step
			resp.Meta.Attempts = ci.attempts
			b.countTokens(d, resp.Usage)
			return resp
		})
}

func (b *balanceProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	return balance(b, ctx, req, conductor.Provider.Stream,
		func(d *deployment, step int, ci *callInfo, rreq *conductor.ChatRequest, s conductor.Stream) conductor.Stream {
			m := s.Meta()
			m.Step = step
			m.Attempts = ci.attempts
			var st conductor.Stream = &metaStream{Stream: s, meta: m}
			if d.TPM > 0 {
				st = &usageStream{Stream: st, input: estimateTokens(promptBytes(rreq)), done: func(u conductor.Usage, _ error) { b.countTokens(d, u) }}
			}
			return st
		})
}

// balance tries the pool's deployments in the strategy's order with call
// (a whole answer or a stream) until one answers, which won stamps; a
// deployment refused by its breaker or limits costs no attempt.
func balance[T any](b *balanceProvider, ctx context.Context, req *conductor.ChatRequest,
	call func(conductor.Provider, context.Context, *conductor.ChatRequest) (T, error),
	won func(d *deployment, step int, ci *callInfo, rreq *conductor.ChatRequest, v T) T) (T, error) {
	var (
		buf  [maxOrder]int
		sk   skips
		last error
		zero T
	)
	for step, i := range b.pool.order(buf[:0], b.cost) {
		d := b.pool.deps[i]
		if !b.admit(ctx, d, &sk) {
			continue
		}
		rctx, rreq, ci := b.step(ctx, req, i, step)
		v, err := call(b.inner[i], rctx, rreq)
		if err == nil {
			return won(d, step, ci, rreq, v), nil
		}
		if refusedByBreaker(err) {
			// Another call took the probe between the pick and the attempt.
			sk.open++
			continue
		}
		if !fallsBack(ctx, err) {
			return zero, err
		}
		last = err
		b.g.log.Info("gateway falling back", "model", b.pool.name, "from", d.Name, "err", err)
	}
	if last != nil {
		return zero, last
	}
	return zero, b.none(sk)
}
