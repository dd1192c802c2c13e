package gateway

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// A deployment's circuit breaker. Closed, it lets every call through and
// counts outcomes; it opens after BreakerConfig.Failures consecutive
// failures, or when at least MinRequests calls of the last Window failed
// at ErrorRate or more. Open, it lets nothing through: the balancer goes
// to the next deployment at once and the retry layer stops retrying it.
// After Cooldown it is half-open: one probe call goes through, and its
// success closes the breaker, its failure opens it for another Cooldown.
// A 429 with Retry-After takes the deployment out until then, whatever
// the counts say.
//
// Failures are what says the deployment is unwell: 5xx, timeouts,
// connection errors, cut streams, unparsable answers and 429s. A caller's
// mistake (400, 404, 413: another request would succeed) and a caller who
// went away count for nothing.
//
// The state is this process's own (docs/server.md): each instance finds a
// dead deployment out by its own threshold of failures.
//
// Written here rather than with sony/gobreaker: gobreaker's open state
// lasts one fixed Timeout, where a 429's Retry-After must set its end;
// its Allow/Execute claim a call, where picking a deployment and stopping
// a retry need to ask "would a call pass now?" without taking the probe
// (its State does not say whether the half-open probe is taken); and the
// closed path here costs one atomic load.

// BreakerConfig sets a deployment's breaker; zero values take the
// defaults, a negative Failures or ErrorRate turns that trigger off.
type BreakerConfig struct {
	Failures    int           // consecutive failures that open it (default 5)
	ErrorRate   float64       // failed fraction over Window that opens it (default 0.5)
	Window      time.Duration // default 1 minute
	MinRequests int           // calls in Window before ErrorRate applies (default 20)
	Cooldown    time.Duration // open before a probe (default 30 s)
}

// Breaker defaults.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerErrorRate   = 0.5
	DefaultBreakerWindow      = time.Minute
	DefaultBreakerMinRequests = 20
	DefaultBreakerCooldown    = 30 * time.Second
)

func (c *BreakerConfig) fill() {
	if c.Failures == 0 {
		c.Failures = DefaultBreakerFailures
	}
	if c.ErrorRate == 0 {
		c.ErrorRate = DefaultBreakerErrorRate
	}
	if c.Window <= 0 {
		c.Window = DefaultBreakerWindow
	}
	if c.MinRequests <= 0 {
		c.MinRequests = DefaultBreakerMinRequests
	}
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultBreakerCooldown
	}
}

// Breaker states, as /metrics reports them (conductor_deployment_breaker_state).
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

const (
	stateClosed int32 = iota
	stateOpen
	stateHalfOpen
)

func stateName(s int32) string {
	switch s {
	case stateOpen:
		return BreakerOpen
	case stateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// windowBuckets divide the error-rate window: the rate is over the last
// Window give or take one bucket.
const windowBuckets = 10

type bucket struct {
	epoch           int64 // the bucket's index since the Unix epoch
	calls, failures int64
}

type breaker struct {
	cfg BreakerConfig
	now func() time.Time
	// change is told every change of state (the pool logs it).
	change func(from, to int32, reason string)

	// state is read without the lock on every pick: closed costs one load.
	state atomic.Int32
	mu    sync.Mutex
	// until is when an open breaker lets a probe through.
	until       time.Time
	probing     bool
	consecutive int
	buckets     [windowBuckets]bucket
}

func newBreaker(cfg BreakerConfig, now func() time.Time, change func(from, to int32, reason string)) *breaker {
	cfg.fill()
	return &breaker{cfg: cfg, now: now, change: change}
}

// available reports whether a call would be let through now, claiming
// nothing: closed, or open with its cool-down over and no probe out.
func (b *breaker) available() bool {
	if b.state.Load() == stateClosed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case stateClosed:
		return true
	case stateOpen:
		return !b.probing && !b.now().Before(b.until)
	}
	return !b.probing
}

// allow claims a call: true when closed, or as the one probe of a breaker
// whose cool-down is over.
func (b *breaker) allow() bool {
	if b.state.Load() == stateClosed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case stateClosed:
		return true
	case stateOpen:
		if b.probing || b.now().Before(b.until) {
			return false
		}
		b.setLocked(stateHalfOpen, "cool-down over: one probe call")
	}
	if b.probing {
		return false
	}
	b.probing = true
	return true
}

// retryAt is when an open breaker lets its probe through (zero when it
// is not open).
func (b *breaker) retryAt() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Load() == stateClosed {
		return time.Time{}
	}
	return b.until
}

// outcome is how a call's result counts.
type outcome int

const (
	outcomeIgnored outcome = iota // the caller's mistake, or the caller left
	outcomeSuccess
	outcomeFailure
)

// classify says how err counts against the deployment. ownKey says the
// call used the deployment's own key: a 401/403 then says that key is
// refused (revoked, out of credit), which every later call would meet too;
// with a caller's own key it is the caller's.
func classify(err error, ownKey bool) outcome {
	if err == nil {
		return outcomeSuccess
	}
	e, ok := conductor.AsError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			return outcomeIgnored
		}
		return outcomeFailure // a connection error without a class
	}
	switch e.Class {
	case conductor.ClassServer, conductor.ClassTimeout, conductor.ClassNetwork, conductor.ClassRateLimited,
		conductor.ClassQuota, conductor.ClassStreamCut, conductor.ClassMalformed, conductor.ClassProviderFail:
		return outcomeFailure
	case conductor.ClassCanceled:
		return outcomeIgnored
	case conductor.ClassAuth:
		if ownKey {
			return outcomeFailure
		}
	}
	// 400, 401/403 with a caller's key, 404, 413, our own limits and config: not the
	// deployment's health. A probe that got such an answer reached a
	// server that answers.
	return outcomeIgnored
}

// record counts the outcome of a call let through by allow.
func (b *breaker) record(err error, ownKey bool) {
	o := classify(err, ownKey)
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	wasProbe := b.probing
	b.probing = false
	switch o {
	case outcomeIgnored:
		if wasProbe && b.state.Load() == stateHalfOpen && err != nil && !isCanceled(err) {
			b.closeLocked("the probe call was answered")
		}
		return
	case outcomeSuccess:
		b.count(now, false)
		b.consecutive = 0
		if b.state.Load() != stateClosed {
			b.closeLocked("the probe call succeeded")
		}
		return
	}
	b.count(now, true)
	b.consecutive++
	var ra time.Duration
	if e, ok := conductor.AsError(err); ok && e.RetryAfter > 0 && (e.Class == conductor.ClassRateLimited || e.Status == 429) {
		ra = e.RetryAfter
	}
	switch {
	case b.state.Load() == stateHalfOpen:
		b.openLocked(now, max(ra, b.cfg.Cooldown), "the probe call failed")
	case ra > 0:
		// The provider said when to come back: not before.
		if until := now.Add(ra); until.After(b.until) || b.state.Load() == stateClosed {
			b.until = until
		}
		if b.state.Load() == stateClosed {
			b.setLocked(stateOpen, "the provider asked to retry after "+ra.String())
		}
	case b.cfg.Failures > 0 && b.consecutive >= b.cfg.Failures:
		b.openLocked(now, b.cfg.Cooldown, strconv.Itoa(b.consecutive)+" consecutive failures")
	default:
		if calls, fails := b.window(now); b.cfg.ErrorRate > 0 && calls >= int64(b.cfg.MinRequests) &&
			float64(fails) >= b.cfg.ErrorRate*float64(calls) {
			b.openLocked(now, b.cfg.Cooldown, "error rate "+strconv.Itoa(int(math.Round(100*float64(fails)/float64(calls))))+"% over "+b.cfg.Window.String())
		}
	}
}

// release gives back a probe claimed by allow whose call was never made.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

func isCanceled(err error) bool {
	if e, ok := conductor.AsError(err); ok {
		return e.Class == conductor.ClassCanceled
	}
	return errors.Is(err, context.Canceled)
}

func (b *breaker) openLocked(now time.Time, d time.Duration, reason string) {
	b.until = now.Add(d)
	b.setLocked(stateOpen, reason)
}

func (b *breaker) closeLocked(reason string) {
	b.consecutive = 0
	b.buckets = [windowBuckets]bucket{}
	b.until = time.Time{}
	b.setLocked(stateClosed, reason)
}

func (b *breaker) setLocked(to int32, reason string) {
	from := b.state.Swap(to)
	if from != to && b.change != nil {
		b.change(from, to, reason)
	}
}

func (b *breaker) bucketWidth() int64 {
	return max(int64(b.cfg.Window/windowBuckets), 1)
}

func (b *breaker) count(now time.Time, failed bool) {
	e := now.UnixNano() / b.bucketWidth()
	k := &b.buckets[e%windowBuckets]
	if k.epoch != e {
		*k = bucket{epoch: e}
	}
	k.calls++
	if failed {
		k.failures++
	}
}

// window sums the calls and failures of the last Window.
func (b *breaker) window(now time.Time) (calls, failures int64) {
	e := now.UnixNano() / b.bucketWidth()
	for _, k := range b.buckets {
		if k.epoch > e-windowBuckets && k.epoch <= e {
			calls += k.calls
			failures += k.failures
		}
	}
	return calls, failures
}

// breakerStatus is a breaker's state for /metrics and the dashboard.
type breakerStatus struct {
	state           string
	calls, failures int64 // in the window
	until           time.Time
}

func (b *breaker) status() breakerStatus {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, f := b.window(now)
	return breakerStatus{state: stateName(b.state.Load()), calls: c, failures: f, until: b.until}
}

// breakerProvider is one deployment's adapter behind its breaker: each
// attempt is claimed from the breaker, timed and counted.
type breakerProvider struct {
	d   *deployment
	now func() time.Time
}

func (g *Gateway) breaker(d *deployment, now func() time.Time) conductor.Provider {
	return &breakerProvider{d: d, now: now}
}

// errBreakerOpen is an attempt the breaker refused (it opened, or another
// call holds the probe): not retried, fallen back from at once.
func (p *breakerProvider) errOpen() error {
	return &conductor.Error{Provider: p.d.Provider, Class: conductor.ClassServer, Status: 503, Code: codeBreakerOpen,
		Message: "deployment " + p.d.Name + " is unavailable: its circuit breaker is open"}
}

func refusedByBreaker(err error) bool {
	e, ok := conductor.AsError(err)
	return ok && e.Code == codeBreakerOpen
}

const codeBreakerOpen = "deployment_unavailable"

func (p *breakerProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	if !p.d.br.allow() {
		return nil, p.errOpen()
	}
	p.d.inflight.Add(1)
	start := p.now()
	resp, err := p.d.P.Chat(ctx, req)
	p.d.inflight.Add(-1)
	now := p.now()
	p.d.observe(now, now.Sub(start), err, req.Options.CallerKey.Value == "")
	return resp, err
}

func (p *breakerProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	if !p.d.br.allow() {
		return nil, p.errOpen()
	}
	p.d.inflight.Add(1)
	start := p.now()
	s, err := p.d.P.Stream(ctx, req)
	now := p.now()
	// The stream's opening is the attempt; its latency is the time to its
	// first byte. In flight until closed.
	p.d.observe(now, now.Sub(start), err, req.Options.CallerKey.Value == "")
	if err != nil {
		p.d.inflight.Add(-1)
		return nil, err
	}
	return &inflightStream{Stream: s, d: p.d}, nil
}

// inflightStream counts an open stream as a call in flight until Close.
type inflightStream struct {
	conductor.Stream
	d      *deployment
	closed atomic.Bool
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *inflightStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *inflightStream) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.d.inflight.Add(-1)
	}
	return s.Stream.Close()
}
