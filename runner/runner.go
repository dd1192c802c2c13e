// Package runner runs ensembles from another Go program with the wiring of
// `conductor run`: the config file (conductor.toml, else wrangler.toml,
// else the built-in defaults, a wrangler environment's account and vars
// included), the price table with its [pricing] overrides, the router of
// every routing mode, the built-in gateway with the settings `conductor
// serve` gives it, the step cache in the data directory's SQLite store, the
// check of every route written literally before any member runs, and the
// scores of graded answers in the gateway's log.
//
//	c, err := runner.Open(ctx, runner.Options{Config: "conductor.toml", Data: ".conductor"})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	res, err := c.Run(ctx, "flow.yaml", map[string]any{"question": "Why is the sky blue?"})
//
// The store (and with it the built-in gateway) is opened on the first run
// that needs it — a member with a cache block, or a route through the
// built-in gateway — so a mock-only flow leaves no file behind.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/routing"
)

// DBName is the SQLite file in the data directory.
const DBName = "conductor.db"

// closeTimeout bounds the flush of the gateway's batched log rows on Close.
const closeTimeout = 30 * time.Second

// Options configure Open. The zero value reads ./conductor.toml (else
// ./wrangler.toml, else the defaults) and the process environment.
type Options struct {
	// Config is the config file to read; "" finds conductor.toml, else
	// wrangler.toml, in Dir, else uses the built-in defaults. A file named
	// here must exist.
	Config string
	// Dir is where a config is looked for when Config is ""; "": the
	// working directory.
	Dir string
	// Data is the directory of the SQLite store (step cache, the built-in
	// gateway's cache, counters and log); "": the config's data_dir.
	Data string
	// Environment selects a wrangler.toml's [env.NAME] (its account_id and
	// vars), as `conductor run --env NAME`; "": the top level.
	Environment string
	// Env reads the environment; nil: os.LookupEnv. A wrangler.toml's
	// vars come before it.
	Env config.LookupEnv
	// Logger receives warnings (retries, failed cache writes); nil:
	// slog.Default().
	Logger *slog.Logger
	// OnMember is told of each run's progress (engine.Options.OnMember).
	OnMember func(index int, member string, result *engine.MemberResult)
}

// Conductor runs ensembles with one configuration. It is safe for
// concurrent use; Close it when done, so the gateway's log is written.
type Conductor struct {
	cfg      *config.Config
	env      config.LookupEnv
	log      *slog.Logger
	prices   *pricing.Table
	data     string
	router   *routing.Router
	onMember func(int, string, *engine.MemberResult)

	mu     sync.Mutex
	store  *Store
	set    *gateway.Set
	splits map[string]*gateway.Split // the [[split]]s, built on first use
	pools  map[string]*gateway.Pool  // the [[model]]s' deployments, built on first use
	chains map[string]conductor.Provider
	opened error // why the store could not be opened, once it was tried
	closed bool
}

// Open reads the configuration and builds the routes' router. Problems
// in the config file are a *config.Error or config.Errors, each
// "file:line:col: message".
func Open(ctx context.Context, opts Options) (*Conductor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cfg *config.Config
	var err error
	if opts.Config != "" {
		cfg, err = config.Load(opts.Config)
	} else {
		cfg, err = config.Find(cmpOr(opts.Dir, "."))
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.UseEnvironment(opts.Environment); err != nil {
		return nil, err
	}
	return New(cfg, opts)
}

// New is Open for a configuration already read (opts.Config, Dir and
// Environment are not used).
func New(cfg *config.Config, opts Options) (*Conductor, error) {
	if cfg == nil {
		cfg = config.Default()
	}
	base := opts.Env
	if base == nil {
		base = os.LookupEnv
	}
	c := &Conductor{
		cfg: cfg,
		// A wrangler.toml's vars before the process environment, for every
		// reader: ${env.*}, the routes, the gateway's environment name.
		env:      cfg.Env(base),
		log:      cmpOr(opts.Logger, slog.Default()),
		data:     cmpOr(opts.Data, cfg.DataPath()),
		onMember: opts.OnMember,
	}
	prices, err := pricing.FromConfig(cfg.Pricing)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmpOr(cfg.File, "config"), err)
	}
	c.prices = prices
	// The built-in gateway starts with the store, on first use.
	c.router, err = routing.New(cfg, routing.Options{Env: c.env, Logger: c.log, Gateway: c.gatewayHook})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Config returns the configuration in use.
func (c *Conductor) Config() *config.Config { return c.cfg }

// Router returns the router every member's route comes from.
func (c *Conductor) Router() *routing.Router { return c.router }

// Run loads the ensemble file, checks it and its literal routes, and runs
// it with input (any JSON-like value). A file with problems, or a route
// that cannot be served, is an ensemble.List (nothing ran); a file that
// cannot be read an *ensemble.FileError. Otherwise it returns what
// RunEnsemble returns.
func (c *Conductor) Run(ctx context.Context, file string, input any) (*engine.Result, error) {
	ens, err := ensemble.Load(file)
	if err != nil {
		return nil, err
	}
	if err := c.Check(ens); err != nil {
		return nil, err
	}
	return c.RunEnsemble(ctx, ens, input)
}

// RunEnsemble runs a loaded ensemble. Its result is there even when the
// run failed (every member's status, not_run for those never reached);
// the error is then a *engine.FlowError, engine.IsConfig when the
// configuration is at fault (a route chosen by an expression that cannot
// be served).
func (c *Conductor) RunEnsemble(ctx context.Context, ens *ensemble.Ensemble, input any) (*engine.Result, error) {
	opts := engine.Options{Resolver: Resolver{Config: c.cfg, Router: c.router, Split: c.split, Pool: c.pool}, Pricing: c.prices, Env: c.env, Logger: c.log, OnMember: c.onMember}
	if usesCache(ens) || c.usesBuiltinGateway(ens) || c.namesSplit(ens) {
		store, set, err := c.state(ctx)
		if err != nil {
			return nil, err
		}
		opts.Cache = store
		// Scores of graded members reach the gateway log, per variant.
		opts.Scorer = set
	}
	return engine.New(opts).Run(ctx, ens, input)
}

// Close writes the built-in gateway's queued log rows and closes the store.
func (c *Conductor) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	gateway.ClosePools(c.pools)
	var errs []error
	if c.set != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := c.set.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flushing the gateway log: %w", err))
		}
	}
	if c.store != nil {
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// state opens the store and the built-in gateway's set, once.
func (c *Conductor) state(ctx context.Context) (*Store, *gateway.Set, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, errors.New("runner: closed")
	}
	if c.store != nil || c.opened != nil {
		return c.store, c.set, c.opened
	}
	store, err := OpenStore(ctx, c.cfg, c.data, c.log)
	if err != nil {
		c.opened = err
		return nil, nil, c.opened
	}
	// cloudflare-gateway without a Cloudflare account: the built-in
	// gateway, with the same settings `conductor serve` gives it.
	set, err := gateway.SetFromConfig(store, c.cfg, c.env, c.prices, gateway.WithLogger(c.log))
	if err != nil {
		store.Close()
		c.opened = &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
		return nil, nil, c.opened
	}
	c.store, c.set = store, set
	return store, set, nil
}

// gatewayHook is the router's built-in gateway: the set's, opened on the
// first call that needs it.
func (c *Conductor) gatewayHook(id string, upstream conductor.Provider, providerName, model string) conductor.Provider {
	_, set, err := c.state(context.Background())
	if err != nil {
		return failing{err}
	}
	return set.Hook(id, upstream, providerName, model)
}

// failing answers every call with one error.
type failing struct{ err error }

func (f failing) Chat(context.Context, *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return nil, f.err
}

func (f failing) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, f.err
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v != zero {
		return v
	}
	return def
}
