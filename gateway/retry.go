package gateway

import (
	"context"
	"errors"
	"fmt"
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
// bounded only by the call's Timeout and context, so a long answer is never
// cut by the retry budget.
//
// A stream is retried while it opens (until the upstream answered with its
// headers); once chunks flow, a failure is the caller's to see.
type retryProvider struct {
	g    *Gateway
	next conductor.Provider
}

func (g *Gateway) retry(next conductor.Provider) conductor.Provider {
	return &retryProvider{g: g, next: next}
}

// retryPolicy is the retry plan for one call.
type retryPolicy struct {
	attempts int
	delay    time.Duration
	maxDelay time.Duration
	backoff  string
	deadline time.Duration
	timeout  time.Duration // per attempt: to the answer, or to a stream's headers
}

func (g *Gateway) retryPolicy(o conductor.CallOptions) retryPolicy {
	r := g.conf().Retry
	p := retryPolicy{attempts: r.MaxAttempts, delay: r.Delay, maxDelay: r.MaxDelay, backoff: r.Backoff, deadline: r.Deadline, timeout: r.Timeout}
	if o.Timeout > 0 {
		p.timeout = o.Timeout
	}
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
	return r.g.retryRun(ctx, req.Options, req.Provider, req.Model, attempt)
}

// retryRun is run for a call of any kind to provider's model with options o.
func (g *Gateway) retryRun(ctx context.Context, o conductor.CallOptions, provider, model string, attempt func(context.Context) error) error {
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
		if n >= p.attempts || !conductor.IsRetryable(err) || ctx.Err() != nil {
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
	p := r.g.retryPolicy(req.Options)
	var resp *conductor.ChatResponse
	attempts := 0
	err := r.run(ctx, req, func(ctx context.Context) error {
		attempts++
		var err error
		resp, err = attemptWhole(ctx, p.timeout, req.Provider, func(ctx context.Context) (*conductor.ChatResponse, error) {
			return r.next.Chat(ctx, req)
		})
		return err
	})
	if err != nil {
		// The caller counts every upstream call, the failed ones too.
		return nil, conductor.WithAttempts(err, attempts)
	}
	resp.Meta.Attempts = attempts
	return resp, nil
}

func (r *retryProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	p := r.g.retryPolicy(req.Options)
	var s conductor.Stream
	attempts := 0
	err := r.run(ctx, req, func(ctx context.Context) error {
		attempts++
		if p.timeout <= 0 {
			var err error
			s, err = r.next.Stream(ctx, req)
			if err == nil && s == nil {
				return errNoAnswer(req.Provider)
			}
			return err
		}
		// The timeout bounds the wait for the stream's headers only; the
		// stream itself lives on under actx until closed.
		actx, cancel := context.WithCancel(ctx)
		var timedOut atomic.Bool
		t := time.AfterFunc(p.timeout, func() { timedOut.Store(true); cancel() })
		var err error
		s, err = r.next.Stream(actx, req)
		t.Stop()
		if err != nil {
			cancel()
			if timedOut.Load() && ctx.Err() == nil {
				return timeoutError(req.Provider, p.timeout, err)
			}
			return err
		}
		if s == nil {
			cancel()
			return errNoAnswer(req.Provider)
		}
		if timedOut.Load() {
			// Opened just as the timer fired: its context is gone.
			s.Close()
			cancel()
			return timeoutError(req.Provider, p.timeout, context.DeadlineExceeded)
		}
		s = &cancelStream{Stream: s, cancel: cancel}
		return nil
	})
	if err != nil {
		return nil, conductor.WithAttempts(err, attempts)
	}
	m := s.Meta()
	m.Attempts = attempts
	return &metaStream{Stream: s, meta: m}, nil
}

// attemptWhole makes one attempt at a whole answer (a chat answer, an
// embedding) within the per-attempt timeout (0: none).
func attemptWhole[T any](ctx context.Context, timeout time.Duration, provider string, call func(context.Context) (*T, error)) (*T, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	resp, err := call(actx)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return nil, timeoutError(provider, timeout, err)
	}
	if err == nil && resp == nil {
		return nil, errNoAnswer(provider)
	}
	return resp, err
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

// cancelStream releases its attempt's context when closed.
type cancelStream struct {
	conductor.Stream
	cancel context.CancelFunc
}

func (c *cancelStream) Close() error {
	err := c.Stream.Close()
	c.cancel()
	return err
}
