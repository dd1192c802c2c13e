package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
)

func TestBackoff(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		shape    string
		n        int
		initial  time.Duration
		maxDelay time.Duration
		want     time.Duration
	}{
		{ensemble.BackoffExponential, 1, 100 * ms, time.Second, 100 * ms},
		{ensemble.BackoffExponential, 2, 100 * ms, time.Second, 200 * ms},
		{ensemble.BackoffExponential, 4, 100 * ms, time.Second, 800 * ms},
		{ensemble.BackoffExponential, 5, 100 * ms, time.Second, time.Second},
		{ensemble.BackoffExponential, 80, 100 * ms, time.Second, time.Second}, // no overflow
		{"", 3, 100 * ms, time.Second, 400 * ms},                              // exponential by default
		{ensemble.BackoffLinear, 1, 100 * ms, time.Second, 100 * ms},
		{ensemble.BackoffLinear, 3, 100 * ms, time.Second, 300 * ms},
		{ensemble.BackoffLinear, 30, 100 * ms, time.Second, time.Second},
		{ensemble.BackoffLinear, 1 << 40, time.Hour, 2 * time.Hour, 2 * time.Hour}, // no overflow
		{ensemble.BackoffFixed, 1, 100 * ms, time.Second, 100 * ms},
		{ensemble.BackoffFixed, 9, 100 * ms, time.Second, 100 * ms},
		{ensemble.BackoffFixed, 0, 100 * ms, time.Second, 100 * ms},
	}
	for _, tc := range tests {
		if got := conductor.Backoff(tc.shape, tc.n, tc.initial, tc.maxDelay); got != tc.want {
			t.Errorf("Backoff(%q, %d, %v, %v) = %v, want %v", tc.shape, tc.n, tc.initial, tc.maxDelay, got, tc.want)
		}
	}
}

func TestJitter(t *testing.T) {
	const d = time.Second
	tests := []struct {
		mode string
		r    float64
		want time.Duration
	}{
		{JitterNone, 0.7, d},
		{JitterFull, 0, 0},
		{JitterFull, 0.5, d / 2},
		{JitterFull, 0.999, 999 * time.Millisecond},
		{JitterEqual, 0, d / 2},
		{JitterEqual, 0.5, 750 * time.Millisecond},
		{"", 0.5, 750 * time.Millisecond}, // equal by default
	}
	for _, tc := range tests {
		if got := jitter(tc.mode, d, tc.r); got != tc.want {
			t.Errorf("jitter(%q, %v) = %v, want %v", tc.mode, tc.r, got, tc.want)
		}
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		fail     string // the mock's fail block
		retry    string // the member's retry block ("" for none)
		jitter   string
		ok       bool
		attempts int
		waited   time.Duration
	}{
		{"no retry block: one attempt", "{status: 503, times: 1}", "", JitterNone, false, 1, 0},
		{"fixed", "{status: 503, times: 2}", "{maxAttempts: 3, backoff: fixed, initialDelay: 100ms}", JitterNone, true, 3, 200 * time.Millisecond},
		{"linear", "{status: 500, times: 3}", "{maxAttempts: 4, backoff: linear, initialDelay: 100ms}", JitterNone, true, 4, 600 * time.Millisecond},
		{"exponential", "{status: 502, times: 3}", "{maxAttempts: 4, backoff: exponential, initialDelay: 100ms}", JitterNone, true, 4, 700 * time.Millisecond},
		{"exponential capped", "{status: 502, times: 3}", "{maxAttempts: 4, initialDelay: 100ms, maxDelay: 250ms}", JitterNone, true, 4, 550 * time.Millisecond},
		{"equal jitter at r=0.5", "{status: 503, times: 1}", "{maxAttempts: 2, backoff: exponential, initialDelay: 100ms}", JitterEqual, true, 2, 75 * time.Millisecond},
		{"full jitter at r=0.5", "{status: 503, times: 1}", "{maxAttempts: 2, backoff: linear, initialDelay: 100ms}", JitterFull, true, 2, 50 * time.Millisecond},
		// The docs say "initialDelay each time": fixed is never jittered.
		{"fixed is exact under equal jitter", "{status: 503, times: 2}", "{maxAttempts: 3, backoff: fixed, initialDelay: 100ms}", JitterEqual, true, 3, 200 * time.Millisecond},
		{"fixed is exact under full jitter", "{status: 503, times: 1}", "{maxAttempts: 2, backoff: fixed, initialDelay: 100ms}", JitterFull, true, 2, 100 * time.Millisecond},
		{"retry-after beats a shorter backoff", "{status: 429, times: 2, retryAfter: 5}", "{maxAttempts: 3, backoff: fixed, initialDelay: 100ms}", JitterNone, true, 3, 10 * time.Second},
		{"backoff beats a shorter retry-after", "{status: 429, times: 1, retryAfter: 1}", "{maxAttempts: 2, backoff: fixed, initialDelay: 3s}", JitterNone, true, 2, 3 * time.Second},
		{"retry-after up to maxDelay is honoured", "{status: 429, times: 1, retryAfter: 1}", "{maxAttempts: 2, initialDelay: 100ms, maxDelay: 1s}", JitterNone, true, 2, time.Second},
		// The reproduction: Retry-After 30s on a maxDelay 1s member
		// fails the attempt at once instead of waiting 30s.
		{"retry-after beyond maxDelay fails at once", "{status: 429, times: 1, retryAfter: 30}", "{maxAttempts: 3, initialDelay: 100ms, maxDelay: 1s}", JitterNone, false, 1, 0},
		{"408 is retried", "{status: 408, times: 1}", "{maxAttempts: 2, initialDelay: 10ms}", JitterNone, true, 2, 10 * time.Millisecond},
		{"attempts run out", "{status: 503, times: 5}", "{maxAttempts: 3, backoff: fixed, initialDelay: 100ms}", JitterNone, false, 3, 200 * time.Millisecond},
		{"400 never retried", "{status: 400, times: 1}", "{maxAttempts: 5}", JitterNone, false, 1, 0},
		{"401 never retried", "{status: 401, times: 1}", "{maxAttempts: 5}", JitterNone, false, 1, 0},
		{"403 never retried", "{status: 403, times: 1}", "{maxAttempts: 5}", JitterNone, false, 1, 0},
		{"404 never retried", "{status: 404, times: 1}", "{maxAttempts: 5}", JitterNone, false, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := "name: retry\nflow:\n  - member: m\n    config: {provider: mock, mock: {reply: done, fail: " + tc.fail + "}}\n"
				if tc.retry != "" {
					src += "    retry: " + tc.retry + "\n"
				}
				eng := New(Options{Jitter: tc.jitter, Rand: func() float64 { return 0.5 }, Logger: quiet()})
				start := time.Now()
				res, err := eng.Run(context.Background(), parse(t, src), "hi")
				waited := time.Since(start)
				m := member(t, res, "m")
				if tc.ok != (err == nil) || m.Success != tc.ok {
					t.Fatalf("err = %v, member = %+v; want ok=%v", err, m, tc.ok)
				}
				if m.Attempts != tc.attempts {
					t.Errorf("attempts = %d, want %d", m.Attempts, tc.attempts)
				}
				if waited != tc.waited {
					t.Errorf("waited %v, want %v", waited, tc.waited)
				}
				if !tc.ok && !strings.Contains(err.Error(), "member m") {
					t.Errorf("err = %v, want it to name the member", err)
				}
			})
		})
	}
}

func TestRetryOnFailure(t *testing.T) {
	tests := []struct {
		name      string
		onFailure string
		runOK     bool
	}{
		{"abort by default", "", false},
		{"abort", "abort", false},
		{"continue", "continue", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			retry := "{maxAttempts: 2, initialDelay: 1ms"
			if tc.onFailure != "" {
				retry += ", onFailure: " + tc.onFailure
			}
			retry += "}"
			ens := parse(t, `
name: onfail
flow:
  - member: a
    config: {provider: mock, mock: {fail: {status: 503, times: -1}}}
    retry: `+retry+`
  - member: b
    config: {provider: mock, prompt: "a failed: ${!a.success}, status ${a.error.status}"}
`)
			res, err := New(Options{Logger: quiet()}).Run(context.Background(), ens, "hi")
			a, b := member(t, res, "a"), member(t, res, "b")
			if a.Success || a.Status != StatusFailed || a.Attempts != 2 || a.Error == nil || a.Error.Status != 503 {
				t.Errorf("a = %+v", a)
			}
			if !tc.runOK {
				var fe *FlowError
				if !errors.As(err, &fe) || fe.Member != "a" || res.Success || b.Status != StatusNotRun {
					t.Fatalf("err = %v, run success %v, b %s", err, res.Success, b.Status)
				}
				if !conductor.IsRetryable(err) {
					t.Errorf("the member's *conductor.Error should stay reachable through the FlowError: %v", err)
				}
				return
			}
			if err != nil || !res.Success {
				t.Fatalf("err = %v, success %v", err, res.Success)
			}
			if b.Output != "a failed: true, status 503" {
				t.Errorf("b output = %v", b.Output)
			}
		})
	}
}

// TestRetryUsageAddsUp checks that usage sums over attempts that reported
// some, and that the gateway's own attempts count.
func TestRetryUsageAddsUp(t *testing.T) {
	ens := parse(t, "name: u\nflow:\n  - member: m\n    config: {provider: openai, model: gpt-4o}\n")
	p := &gatewayRetried{}
	res, err := New(Options{Resolver: resolverOf(p), Pricing: fixedPrices{}}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	m := member(t, res, "m")
	if m.Attempts != 3 || m.Usage.InputTokens != 7 || m.CostNanoUSD != 7+2*2 {
		t.Errorf("member = %+v", m)
	}
}

// gatewayRetried answers as a gateway that needed three attempts.
type gatewayRetried struct{}

func (gatewayRetried) Chat(_ context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return &conductor.ChatResponse{Content: conductor.Texts("x"), Usage: conductor.Usage{InputTokens: 7, OutputTokens: 2},
		Meta: conductor.ResponseMeta{Provider: req.Provider, Attempts: 3}}, nil
}

func (gatewayRetried) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, errors.New("unused")
}

type resolverFunc func(ctx context.Context, provider, model, routing string) (conductor.Provider, error)

func (f resolverFunc) Provider(ctx context.Context, provider, model, routing string) (conductor.Provider, error) {
	return f(ctx, provider, model, routing)
}

func resolverOf(p conductor.Provider) Resolver {
	return resolverFunc(func(context.Context, string, string, string) (conductor.Provider, error) { return p, nil })
}

func TestPolicyDefaults(t *testing.T) {
	p := policyOf(nil)
	if p.maxAttempts != 1 || p.onFailure != ensemble.OnFailureAbort {
		t.Errorf("nil retry = %+v", p)
	}
	// A hand-built Retry with zeros gets the loader's defaults.
	p = policyOf(&ensemble.Retry{MaxDelay: time.Millisecond, InitialDelay: time.Second})
	if p.maxAttempts != ensemble.DefaultMaxAttempts || p.backoff != ensemble.BackoffExponential || p.maxDelay != time.Second || p.onFailure != ensemble.OnFailureAbort {
		t.Errorf("zero retry = %+v", p)
	}
}

// A Retry-After the member does not allow, or a wait that would outlast
// the run's deadline, ends the retries at once, with an error that says
// so and keeps the provider's status.
func TestRetryWaitRefused(t *testing.T) {
	tests := []struct {
		name     string
		fail     string
		retry    string
		deadline time.Duration
		want     []string
	}{
		{"retry-after beyond maxDelay", "{status: 429, times: -1, retryAfter: 30}", "{maxAttempts: 3, maxDelay: 1s}", 0,
			[]string{"429", "not retried", "asked to wait 30s", "retry.maxDelay (1s)"}},
		{"backoff past the run's deadline", "{status: 503, times: -1}", "{maxAttempts: 3, backoff: fixed, initialDelay: 20s, maxDelay: 20s}", 5 * time.Second,
			[]string{"503", "not retried", "the wait (20s) would outlast the run's deadline (5s left)"}},
		{"retry-after past the run's deadline", "{status: 429, times: -1, retryAfter: 10}", "{maxAttempts: 3, initialDelay: 10ms}", 5 * time.Second,
			[]string{"429", "not retried", "the wait (10s) would outlast the run's deadline (5s left)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := "name: refuse\nflow:\n  - member: m\n    config: {provider: mock, mock: {reply: done, fail: " + tc.fail + "}}\n    retry: " + tc.retry + "\n"
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				start := time.Now()
				res, err := New(Options{Jitter: JitterNone, Logger: quiet()}).Run(ctx, parse(t, src), "hi")
				if waited := time.Since(start); waited != 0 {
					t.Errorf("waited %v, want no wait", waited)
				}
				m := member(t, res, "m")
				if err == nil || m.Attempts != 1 || m.Error == nil {
					t.Fatalf("err = %v, member %+v", err, m)
				}
				for _, w := range tc.want {
					if !strings.Contains(m.Error.Message, w) {
						t.Errorf("error %q lacks %q", m.Error.Message, w)
					}
				}
				if want := tc.want[0]; strings.Contains(want, "429") && m.Error.Status != 429 || strings.Contains(want, "503") && m.Error.Status != 503 {
					t.Errorf("status = %d, want the provider's", m.Error.Status)
				}
			})
		})
	}
}
