package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// retryProvider retries one route's retryable failures (conductor.IsRetryable:
// timeouts, 429, 5xx, network errors) with backoff. Errors the caller must
// fix are never retried.
//
// The route's Deadline bounds the retrying, not the answer: no attempt starts
// and no wait is begun that would end past it, but an attempt in progress is
// bounded only by its first-byte deadline, a stream's idle deadline and the
// call's total deadline (record.go), so a long answer is never cut by the
// retry budget.
//
// A stream is retried while it opens (until the upstream answered with its
// headers); once chunks flow, a failure is the caller's to see.
type retryProvider struct {
	g    *Gateway
	next conductor.Provider
	// usable, when set, is asked after each failure: false (the
	// deployment's breaker opened, or a Retry-After took it out) ends the
	// retrying at once, with no wait, so the call falls back.
	usable func() bool
	dl     Deadlines // the route's own
}

// retryRoute retries a route with deadlines dl of its own.
func (g *Gateway) retryRoute(next conductor.Provider, dl Deadlines) conductor.Provider {
	return &retryProvider{g: g, next: next, dl: dl}
}

// retryWhile is retry for a deployment of a pool, with the pool's
// deadlines dl: no retry, and no backoff, once usable says the deployment
// takes no more calls.
func (g *Gateway) retryWhile(next conductor.Provider, dl Deadlines, usable func() bool) conductor.Provider {
	return &retryProvider{g: g, next: next, dl: dl, usable: usable}
}

// retryPolicy is the retry plan for one call.
type retryPolicy struct {
	attempts int
	delay    time.Duration
	maxDelay time.Duration
	backoff  string
	deadline time.Duration
	timeout  time.Duration // per attempt: to the upstream's first byte
	idle     time.Duration // per stream chunk
}

func (g *Gateway) retryPolicy(o conductor.CallOptions) retryPolicy {
	return g.routePolicy(o, Deadlines{})
}

// routePolicy is the retry plan of a call on a route with deadlines dl:
// each deadline the call's own, else the route's, else the gateway's.
func (g *Gateway) routePolicy(o conductor.CallOptions, dl Deadlines) retryPolicy {
	r := g.conf().Retry
	p := retryPolicy{attempts: r.MaxAttempts, delay: r.Delay, maxDelay: r.MaxDelay, backoff: r.Backoff, deadline: r.Deadline,
		timeout: pickDeadline(r.Timeout, dl.FirstByte, o.Timeout), idle: pickDeadline(r.IdleTimeout, dl.Idle, o.IdleTimeout)}
	if o.MaxAttempts > 0 {
		p.attempts = min(o.MaxAttempts, MaxAttemptsLimit)
	}
	if o.RetryDelay > 0 {
		p.delay = min(o.RetryDelay, MaxRetryDelay)
	}
	switch o.Backoff {
	case BackoffConstant, BackoffLinear, BackoffExponential:
		p.backoff = o.Backoff
	}
	return p
}

// pickDeadline is the call's deadline when it set one, else the route's
// (negative: off), else the gateway's.
func pickDeadline(gateway, route, call time.Duration) time.Duration {
	switch {
	case call > 0:
		return call
	case route != 0:
		return route
	}
	return gateway
}

// wait is how long to wait before attempt n+1 after attempt n failed with
// err: the backoff shape's delay (exponential with full jitter: uniform in
// [0, min(cap, delay·2^(n-1))]), and at least the upstream's Retry-After.
func (g *Gateway) wait(p retryPolicy, n int, err error) time.Duration {
	d := conductor.Backoff(p.backoff, n, p.delay, p.maxDelay)
	if p.backoff != BackoffConstant && p.backoff != BackoffLinear {
		d = time.Duration(g.jitter(int64(d) + 1)) // full jitter
	}
	if e, ok := conductor.AsError(err); ok && e.RetryAfter > d {
		d = e.RetryAfter
	}
	return d
}

// run makes attempts until one succeeds, a failure is not retryable, the
// attempts are spent or the next would start past the deadline.
func (r *retryProvider) run(ctx context.Context, req *conductor.ChatRequest, attempt func(context.Context) error) error {
	return r.g.retryRun(ctx, req.Options, req.Provider, req.Model, r.usable, attempt)
}

// retryRun is run for a call of any kind to provider's model with options o.
// usable, when not nil, ends the retrying when it turns false.
func (g *Gateway) retryRun(ctx context.Context, o conductor.CallOptions, provider, model string, usable func() bool, attempt func(context.Context) error) error {
	p := g.retryPolicy(o)
	ci := infoFrom(ctx)
	deadline := time.Now().Add(p.deadline)
	for n := 1; ; n++ {
		if ci != nil {
			ci.attempts++
			ci.lastAttempt = time.Now()
		}
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if n >= p.attempts || !conductor.IsRetryable(err) || ctx.Err() != nil || (usable != nil && !usable()) {
			return err
		}
		d := g.wait(p, n, err)
		if time.Now().Add(d).After(deadline) {
			g.log.Debug("gateway retry skipped: past the retry deadline", "wait", d, "deadline", p.deadline, "err", err)
			return err
		}
		g.log.Debug("gateway retrying", "provider", provider, "model", model, "attempt", n+1, "wait", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return canceled(ctx, err)
		}
	}
}

func (r *retryProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	p := r.g.routePolicy(req.Options, r.dl)
	total := totalDeadline{d: r.dl.Total, cause: errRouteTotal}
	outer := ctx
	ctx, cancel := total.within(ctx)
	defer cancel()
	var resp *conductor.ChatResponse
	attempts := 0
	err := r.run(ctx, req, func(ctx context.Context) error {
		attempts++
		var err error
		resp, err = attemptWhole(ctx, p.timeout, p.idle, req.Provider, func(ctx context.Context) (*conductor.ChatResponse, error) {
			return r.next.Chat(ctx, req)
		})
		return err
	})
	if err != nil {
		err = total.past(outer, ctx, req.Provider, err)
		// The caller counts every upstream call, the failed ones too.
		return nil, conductor.WithAttempts(err, attempts)
	}
	resp.Meta.Attempts = attempts
	return resp, nil
}

func (r *retryProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	p := r.g.routePolicy(req.Options, r.dl)
	// The route's total deadline holds its stream to the last chunk.
	total := totalDeadline{d: r.dl.Total, cause: errRouteTotal}
	outer := ctx
	ctx, cancel := total.within(ctx)
	var s conductor.Stream
	attempts := 0
	err := r.run(ctx, req, func(ctx context.Context) error {
		attempts++
		// The first-byte deadline bounds the opening; the stream lives on
		// under actx until closed, each chunk within the idle deadline.
		actx, a := firstByte(ctx, p.timeout, 0)
		var err error
		s, err = r.next.Stream(actx, req)
		timedOut := a.arrived()
		switch {
		case err != nil:
			a.cancel()
			if timedOut && ctx.Err() == nil {
				return timeoutError(req.Provider, p.timeout, err)
			}
			return err
		case s == nil:
			a.cancel()
			return errNoAnswer(req.Provider)
		case timedOut:
			// Opened just as the timer fired: its context is gone.
			s.Close()
			a.cancel()
			return timeoutError(req.Provider, p.timeout, context.DeadlineExceeded)
		}
		s = &idleStream{Stream: s, cancel: a.cancel, idle: p.idle, provider: req.Provider}
		return nil
	})
	if err != nil {
		cancel()
		return nil, conductor.WithAttempts(total.past(outer, ctx, req.Provider, err), attempts)
	}
	if total.d > 0 {
		s = &totalStream{Stream: s, t: total, ctx: outer, tctx: ctx, cancel: cancel, provider: req.Provider}
	} else {
		cancel()
	}
	m := s.Meta()
	m.Attempts = attempts
	return &metaStream{Stream: s, meta: m}, nil
}

// attemptWhole makes one attempt at a whole answer (a chat answer, an
// embedding) within the first-byte deadline (0: none): the answer's
// headers must come in time, then each read of its body within the idle
// deadline (0: none); the body as a whole may take what the call's total
// deadline leaves.
func attemptWhole[T any](ctx context.Context, timeout, idle time.Duration, provider string, call func(context.Context) (*T, error)) (*T, error) {
	actx, a := firstByte(ctx, timeout, idle)
	defer a.cancel()
	resp, err := call(actx)
	timedOut := a.arrived()
	if err != nil && ctx.Err() == nil {
		if timedOut {
			return nil, timeoutError(provider, timeout, err)
		}
		if a.stalled.Load() {
			return nil, &conductor.Error{
				Provider: provider, Class: conductor.ClassTimeout, Retryable: true,
				Message: fmt.Sprintf("the answer stalled: no byte of its body within %v", idle), Err: err,
			}
		}
	}
	if err == nil && resp == nil {
		return nil, errNoAnswer(provider)
	}
	return resp, err
}

// attemptDeadline is one attempt's first-byte deadline: a timer that
// cancels the attempt unless the upstream's first response byte (seen by
// an httptrace hook on the attempt's context, which every HTTP adapter
// passes to its request) or the adapter's return comes first. With an
// idle deadline, the first byte starts a second timer that each read of
// the body restarts (conductor.WithReadProgress): a body that stalls
// cancels the attempt too.
type attemptDeadline struct {
	mu       sync.Mutex
	t        *time.Timer
	idle     time.Duration
	inBody   bool
	done     bool
	timedOut atomic.Bool // the first byte did not come in time
	stalled  atomic.Bool // the body stopped for longer than idle
	cancel   context.CancelFunc
}

// firstByte starts an attempt's deadlines; idle is for a whole answer's
// body (a stream's chunks have idleStream).
func firstByte(ctx context.Context, d, idle time.Duration) (context.Context, *attemptDeadline) {
	actx, cancel := context.WithCancel(ctx)
	a := &attemptDeadline{cancel: cancel, idle: idle}
	if d <= 0 && idle <= 0 {
		return actx, a
	}
	if d > 0 {
		a.t = time.AfterFunc(d, func() { a.timedOut.Store(true); cancel() })
	}
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{GotFirstResponseByte: a.gotFirstByte})
	if idle > 0 {
		actx = conductor.WithReadProgress(actx, a.progress)
	}
	return actx, a
}

func (a *attemptDeadline) gotFirstByte() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.t != nil {
		a.t.Stop()
	}
	if a.idle > 0 && !a.done {
		a.inBody = true
		a.t = time.AfterFunc(a.idle, func() { a.stalled.Store(true); a.cancel() })
	}
}

func (a *attemptDeadline) progress() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inBody && !a.done {
		a.t.Reset(a.idle)
	}
}

// arrived stops the deadlines and reports whether the first byte's had
// passed.
func (a *attemptDeadline) arrived() bool {
	a.mu.Lock()
	a.done = true
	if a.t != nil {
		a.t.Stop()
	}
	a.mu.Unlock()
	return a.timedOut.Load()
}

// errNoAnswer stands for an adapter that returned neither an answer nor an
// error, so that no wrapper trips on a nil.
func errNoAnswer(provider string) error {
	return &conductor.Error{Provider: provider, Class: conductor.ClassMalformed, Message: "the provider adapter returned no answer and no error"}
}

func timeoutError(provider string, d time.Duration, err error) error {
	return &conductor.Error{
		Provider: provider, Class: conductor.ClassTimeout, Retryable: true,
		Message: fmt.Sprintf("no answer within %v", d), Err: err,
	}
}

// idleStream bounds the wait for each chunk of an opened stream by the
// idle deadline (0: none), and releases its attempt's context when closed.
// Only the wait inside Next counts: a caller that reads slowly never
// trips it. A stream idle for longer is cut (its attempt's context is
// canceled) and fails with a timeout: the caller sees an error, never a
// truncated answer passed off as whole.
type idleStream struct {
	conductor.Stream
	cancel   context.CancelFunc
	idle     time.Duration
	provider string
	timedOut atomic.Bool
	t        *time.Timer // the idle timer, made on the first Next and reset for each
}

// Buffered passes the wrapped stream's answer through
// (conductor.BufferedStream): a chunk at hand is no wait for the deadline.
func (s *idleStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *idleStream) Next() (conductor.Chunk, error) {
	if s.idle <= 0 {
		return s.Stream.Next()
	}
	// One timer for the stream, not one a chunk: it was two allocations
	// and a timer-heap insertion for every chunk.
	if s.t == nil {
		s.t = time.AfterFunc(s.idle, func() { s.timedOut.Store(true); s.cancel() })
	} else {
		s.t.Reset(s.idle)
	}
	ch, err := s.Stream.Next()
	s.t.Stop()
	if s.timedOut.Load() {
		if err == nil || err == io.EOF {
			err = context.DeadlineExceeded
		}
		return conductor.Chunk{}, &conductor.Error{Provider: s.provider, Class: conductor.ClassTimeout,
			Message: fmt.Sprintf("the stream stalled: no chunk within %v", s.idle), Err: err}
	}
	return ch, err
}

func (s *idleStream) Close() error {
	err := s.Stream.Close()
	s.cancel()
	return err
}
