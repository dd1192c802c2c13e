// Package engine runs an ensemble: its members in order, each a model call
// with its condition, retries, scoring and step cache, every ${...} value
// evaluated just before its member runs over the input, the environment and
// the results of the members before it.
//
// Embedding it: package runner wires it as `conductor run` does (config,
// router, built-in gateway, step cache, prices, route checks) in one call;
// the engine alone is
//
//	ens, err := ensemble.Load("flow.yaml")
//	eng := engine.New(engine.Options{Resolver: router, Cache: store})
//	res, err := eng.Run(ctx, ens, map[string]any{"question": "…"})
//
// Provider "mock" is answered by the engine itself (package provider's
// Mock, set up by the member's mock block); every other provider comes from
// the Resolver, which picks the route for the routing mode.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/expr"
	"github.com/conductor-go/conductor/provider"
)

// Resolver gives the provider chain for a provider, model and routing mode
// (package routing's Router satisfies it).
type Resolver interface {
	Provider(ctx context.Context, provider, model, routing string) (conductor.Provider, error)
}

// GatewayNamer is what a Resolver may also tell: which gateway serves a
// route (kind "hosted" or "built-in", and its id), ok false for a route
// without one. Package routing's Router satisfies it; results and
// --trace show the answer.
type GatewayNamer interface {
	GatewayOf(provider, model, routing string) (kind, id string, ok bool)
}

// ModelNamer is what a Resolver may also tell of model names a
// configuration declares (package runner's does): the provider and model
// a [[model]] alias stands for (variant ""), or that served an A/B split's
// answer (variant: the answer's ResponseMeta.Variant, "split/name"); ok
// false for any other name. An alias is resolved before the call, so the
// member's parameter rules, step cache, price and result are the real
// model's; a split picks its variant per call, and the engine prices and
// reports the answer as the variant that gave it.
type ModelNamer interface {
	ServedBy(model, variant string) (provider, servedModel string, ok bool)
}

// Pricer prices a call's usage in nano-USD; known is false for a model it
// has no price for (package pricing's Table satisfies it).
type Pricer interface {
	Cost(provider, model string, u conductor.Usage) (nanoUSD int64, known bool)
}

// Scorer records a member's score against the gateway log row of the
// answer it graded (conductor.ResponseMeta.LogID), so that the request
// log's mean score compares models and A/B variants. (*gateway.Set).Score
// and (*gateway.Gateway).Score satisfy it.
type Scorer interface {
	Score(ctx context.Context, logID string, score float64) error
}

// Options configure an Engine. The zero value runs mock-only ensembles
// with no step cache and no prices.
type Options struct {
	// Resolver gives providers other than mock; nil: such a member fails
	// with an error naming its provider and routing.
	Resolver Resolver
	// Cache keeps step-cache entries (scope "step"); nil: members' cache
	// blocks are ignored by the engine (a gateway on the route may still
	// cache).
	Cache conductor.CacheStore
	// MaxEntryBytes bounds one step-cache entry, as the gateway's
	// Config.MaxEntryBytes bounds its entries: a larger answer is used but
	// not stored. 0: DefaultMaxEntryBytes (4 MiB).
	MaxEntryBytes int
	// Pricing prices usage; nil: costs are 0.
	Pricing Pricer
	// Env looks up environment variables for ${env.X}; nil: os.LookupEnv.
	Env func(string) (string, bool)
	// Now is the clock for latencies and cache expiry; nil: time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil: a timer that ctx cancels.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for backoff jitter; nil: math/rand/v2.
	Rand func() float64
	// Jitter is JitterEqual (default), JitterFull or JitterNone.
	Jitter string
	// Logger receives warnings (retries, failed cache writes) and per-member
	// debug lines; nil: slog.Default().
	Logger *slog.Logger
	// OnMember, when set, is told of the run's progress on the goroutine
	// running it: as each member starts (result nil) and when it is done
	// (its result, skipped ones included). `conductor serve` streams it.
	OnMember func(index int, member string, result *MemberResult)
	// Scorer, when set, is given the score of every graded answer that a
	// built-in gateway logged; nil: scores stay in the run's result.
	Scorer Scorer
}

// Engine runs ensembles. It is safe for concurrent use; each Run has its own
// state.
type Engine struct {
	resolver Resolver
	cache    conductor.CacheStore
	maxEntry int
	pricing  Pricer
	env      func(string) (string, bool)
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	rand     func() float64
	jitter   string
	log      *slog.Logger
	onMember func(int, string, *MemberResult)
	scorer   Scorer
}

// New returns an Engine with opts' defaults filled in.
func New(opts Options) *Engine {
	e := &Engine{
		resolver: opts.Resolver,
		cache:    opts.Cache,
		maxEntry: opts.MaxEntryBytes,
		pricing:  opts.Pricing,
		env:      opts.Env,
		now:      opts.Now,
		sleep:    opts.Sleep,
		rand:     opts.Rand,
		jitter:   opts.Jitter,
		log:      opts.Logger,
		onMember: opts.OnMember,
		scorer:   opts.Scorer,
	}
	if e.maxEntry <= 0 {
		e.maxEntry = DefaultMaxEntryBytes
	}
	if e.env == nil {
		e.env = os.LookupEnv
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.sleep == nil {
		e.sleep = sleepCtx
	}
	if e.rand == nil {
		e.rand = rand.Float64
	}
	if e.jitter == "" {
		e.jitter = JitterEqual
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	return e
}

// run is one Run's state.
type run struct {
	ens  *ensemble.Ensemble
	vars expr.Vars
	res  *Result
	// evals are the evaluator members' results so far (flow index →
	// result), their runs added up: they run when an answer needs grading,
	// not at their place in the flow.
	evals map[int]*MemberResult
	// mocks are the run's mock providers, one per mock block (and one more
	// per block used as a judge), so an injected failure count spans a
	// member's retries but not other runs.
	mocks map[mockKey]*provider.Mock
}

type mockKey struct {
	cfg   *ensemble.Mock
	judge bool
}

// Run runs ens with input (any JSON-like value: map[string]any, string,
// nil…). It returns the result so far together with an error when a member
// aborts the flow (a *FlowError naming it) or ctx ends (wrapping ctx.Err()).
func (e *Engine) Run(ctx context.Context, ens *ensemble.Ensemble, input any) (*Result, error) {
	if ens == nil {
		return nil, errors.New("engine: nil ensemble")
	}
	start := e.now()
	r := &run{
		ens:  ens,
		vars: expr.Vars{Input: input, Env: e.env, Members: make([]any, len(ens.Flow))},
	}
	res := &Result{Ensemble: ens.Name, Members: make([]MemberResult, 0, len(ens.Flow))}
	r.res = res
	var runErr error
	for i, st := range ens.Flow {
		if err := ctx.Err(); err != nil {
			runErr = &FlowError{Ensemble: ens.Name, Member: st.Member, Err: err}
			break
		}
		if len(st.Grades) > 0 {
			// An evaluator member ran (or not) with the answers it grades;
			// its place in the flow only shows its result.
			mr := r.evalResult(i)
			r.vars.Members[i] = mr.View()
			res.Members = append(res.Members, mr)
			if e.onMember != nil {
				e.onMember(i, st.Member, &res.Members[i])
			}
			continue
		}
		if e.onMember != nil {
			e.onMember(i, st.Member, nil)
		}
		mr, abort := e.runStep(ctx, r, st, r.vars)
		r.vars.Members[i] = mr.View()
		res.Members = append(res.Members, mr)
		if e.onMember != nil {
			e.onMember(i, st.Member, &res.Members[i])
		}
		res.CostNanoUSD += mr.CostNanoUSD
		if abort != nil {
			runErr = &FlowError{Ensemble: ens.Name, Member: st.Member, Err: abort}
			break
		}
	}
	// Members the run never reached: not run, which is not the same as
	// skipped by their condition.
	for _, st := range ens.Flow[len(res.Members):] {
		res.Members = append(res.Members, MemberResult{Member: st.Member, Status: StatusNotRun})
	}
	res.Cost = float64(res.CostNanoUSD) / 1e9
	if runErr == nil {
		out, err := e.output(r, res)
		if err != nil {
			runErr = fmt.Errorf("ensemble %s: output: %w", ens.Name, err)
		}
		res.Output = out
	}
	res.Success = runErr == nil
	res.LatencyMs = e.now().Sub(start).Milliseconds()
	return res, runErr
}

// output evaluates the ensemble's output mapping, or picks the output of
// the last member that was not skipped.
func (e *Engine) output(r *run, res *Result) (any, error) {
	if r.ens.Output != nil {
		v, err := r.ens.Output.Eval(&r.vars)
		if err != nil {
			return nil, err
		}
		return clean(v), nil
	}
	for i := len(res.Members) - 1; i >= 0; i-- {
		if !res.Members[i].Skipped {
			return res.Members[i].Output, nil
		}
	}
	return nil, nil
}
