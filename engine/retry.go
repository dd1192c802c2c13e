package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
)

// Jitter modes for retry backoff.
const (
	// JitterEqual waits half the backoff delay plus a random part of the
	// other half: never less than half, so a struggling provider still gets
	// room (the default).
	JitterEqual = "equal"
	// JitterFull waits a random part of the whole delay: the best spread
	// when many callers retry at once.
	JitterFull = "full"
	// JitterNone waits the delay exactly.
	JitterNone = "none"
)

// retryPolicy is a member's Retry with defaults applied.
type retryPolicy struct {
	maxAttempts  int
	backoff      string
	initialDelay time.Duration
	maxDelay     time.Duration
	onFailure    string
}

// policyOf returns r with defaults; nil means one attempt and abort.
func policyOf(r *ensemble.Retry) retryPolicy {
	if r == nil {
		return retryPolicy{maxAttempts: 1, backoff: ensemble.BackoffExponential,
			initialDelay: ensemble.DefaultInitialDelay, maxDelay: ensemble.DefaultMaxDelay,
			onFailure: ensemble.OnFailureAbort}
	}
	p := retryPolicy{maxAttempts: r.MaxAttempts, backoff: r.Backoff,
		initialDelay: r.InitialDelay, maxDelay: r.MaxDelay, onFailure: r.OnFailure}
	// The loader fills these; hand-built ensembles may not.
	if p.maxAttempts < 1 {
		p.maxAttempts = ensemble.DefaultMaxAttempts
	}
	if p.backoff == "" {
		p.backoff = ensemble.BackoffExponential
	}
	if p.initialDelay <= 0 {
		p.initialDelay = ensemble.DefaultInitialDelay
	}
	if p.maxDelay <= 0 {
		p.maxDelay = ensemble.DefaultMaxDelay
	}
	if p.maxDelay < p.initialDelay {
		p.maxDelay = p.initialDelay
	}
	if p.onFailure == "" {
		p.onFailure = ensemble.OnFailureAbort
	}
	return p
}

// jitter applies mode to d with r, a random number in [0, 1).
func jitter(mode string, d time.Duration, r float64) time.Duration {
	switch mode {
	case JitterNone:
		return d
	case JitterFull:
		return time.Duration(float64(d) * r)
	}
	half := d / 2
	return half + time.Duration(float64(d-half)*r)
}

// retryDelay is the wait before retry n after err: the backoff (jittered,
// except fixed, which is initialDelay each time as documented), but never
// less than the provider's Retry-After. A wait the member does not allow
// is refused with an error that wraps err and says why, so the attempt
// fails at once: a Retry-After beyond the member's maxDelay, or any wait
// that would end past the run's deadline.
func (e *Engine) retryDelay(ctx context.Context, p retryPolicy, n int, err error) (time.Duration, error) {
	d := conductor.Backoff(p.backoff, n, p.initialDelay, p.maxDelay)
	if p.backoff != ensemble.BackoffFixed {
		d = jitter(e.jitter, d, e.rand())
	}
	if ce, ok := conductor.AsError(err); ok && ce.RetryAfter > d {
		if ce.RetryAfter > p.maxDelay {
			return 0, fmt.Errorf("%w (not retried: the provider asked to wait %v, more than this member's retry.maxDelay (%v))", err, ce.RetryAfter, p.maxDelay)
		}
		d = ce.RetryAfter
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(e.now()); d >= left {
			return 0, fmt.Errorf("%w (not retried: the wait (%v) would outlast the run's deadline (%v left))", err, d, left.Round(time.Millisecond))
		}
	}
	return d, nil
}

// sleepCtx waits d or until ctx ends. A timer, not time.Sleep, so
// cancellation ends the wait and testing/synctest can fake the clock.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// callOutcome is what one round of calls (with retries) produced.
type callOutcome struct {
	resp     *conductor.ChatResponse
	attempts int
	usage    conductor.Usage
	err      error
}

// callWithRetry calls p until it answers, a failure is not retryable, or
// the attempts run out. Every attempt's usage is added up: a failed attempt
// that reported none adds nothing.
func (e *Engine) callWithRetry(ctx context.Context, p conductor.Provider, req *conductor.ChatRequest, pol retryPolicy, member string) callOutcome {
	var out callOutcome
	for n := 1; ; n++ {
		resp, err := p.Chat(ctx, req)
		if err == nil {
			out.resp = resp
			// A gateway on the route may have retried on its own.
			out.attempts += max(1, resp.Meta.Attempts)
			out.usage.InputTokens += resp.Usage.InputTokens
			out.usage.OutputTokens += resp.Usage.OutputTokens
			out.usage.Estimated = out.usage.Estimated || resp.Usage.Estimated
			out.err = nil
			return out
		}
		// A gateway on the route may have tried several times.
		out.attempts += conductor.AttemptsOf(err)
		out.err = err
		if ctx.Err() != nil || n >= pol.maxAttempts || !conductor.IsRetryable(err) {
			return out
		}
		d, refused := e.retryDelay(ctx, pol, n, err)
		if refused != nil {
			out.err = refused
			return out
		}
		// Info, not a warning: a retry that then succeeds is the policy
		// working; a final failure is reported in the result.
		e.log.LogAttrs(ctx, slog.LevelInfo, "retrying member call",
			slog.String("member", member), slog.Int("attempt", n), slog.Duration("wait", d), slog.String("error", err.Error()))
		if err := e.sleep(ctx, d); err != nil {
			out.err = err
			return out
		}
	}
}
