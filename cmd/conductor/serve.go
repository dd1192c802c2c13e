package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/conductor-go/conductor/dashboard"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/metrics"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/server"
)

type serveFlags struct {
	addr      string
	config    string
	data      string
	ensembles string
	logLevel  string
	// listener, when set, is served instead of --addr (tests).
	listener net.Listener
}

// newServeCmd is "conductor serve": the built-in gateway over HTTP.
func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the AI gateway over HTTP for OpenAI, Anthropic and Cloudflare AI Gateway clients",
		Long: `Serve runs the built-in AI gateway as an HTTP server. Clients of the OpenAI,
Anthropic and Cloudflare AI Gateway APIs only change their base URL:

  POST /v1/chat/completions                 OpenAI Chat Completions; model is provider/model
  POST /v1/messages                         Anthropic Messages
  POST /v1/{account}/{gateway}/{provider}/… Cloudflare AI Gateway's provider paths
  POST /v1/{account}/{gateway}              Cloudflare's universal endpoint (fallback steps)
  POST /v1/ensembles/{name}/run             run an ensemble from --ensembles
  GET  /healthz, /readyz

Every call goes through the gateway: persistent cache, retries, fallbacks, rate
and spend limits, and the request log, all in DATA/conductor.db. With no
config file at all it starts on that embedded store and serves every provider
whose key is in the environment. Gateway tokens come from [server] tokens_env
(default CONDUCTOR_TOKENS); with none, anyone who reaches the address is
served, hence the loopback default: an address beyond loopback is refused
(exit 2) until a gateway token or a key (conductor keys create) is
configured. The config is read again on SIGHUP and when the file changes:
gateway settings, budgets, teams, rate limits and tokens take effect without a
restart (a file that does not parse changes nothing; the error is logged).
With [server] admin_token_env set, /admin/ serves the admin API. Logs are
JSON lines on stderr.`,
		Example: `  conductor serve
  CONDUCTOR_TOKENS=alice=tok-123 conductor serve --addr 0.0.0.0:8787 --config conductor.toml
  curl localhost:8787/v1/chat/completions -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cmd.ErrOrStderr(), f)
		},
	}
	cmd.Flags().StringVar(&f.addr, "addr", "", "listen address (default [server] addr, else "+server.DefaultAddr+")")
	cmd.Flags().StringVar(&f.config, "config", "", "config file (default ./conductor.toml, else ./wrangler.toml, else built-in defaults)")
	cmd.Flags().StringVar(&f.data, "data", "", "data directory for the store (default the config's data_dir, ./.conductor)")
	cmd.Flags().StringVar(&f.ensembles, "ensembles", "", "directory of the ensembles /v1/ensembles/{name}/run runs (default ./ensembles, else ./examples)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runServe(ctx context.Context, stderr io.Writer, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level %q: expected debug, info, warn or error", errInvalid, f.logLevel)
	}
	// One log line a request: batched, so a request pays no write of its own.
	lines := newLogBuffer(stderr, 64<<10, 50*time.Millisecond)
	defer lines.Close()
	log := slog.New(slog.NewJSONHandler(lines, &slog.HandlerOptions{Level: level}))
	cfg, err := loadConfig(f.config)
	if err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	data := f.data
	if data == "" {
		data = cfg.DataPath()
	}
	st, err := openStore(ctx, cfg, data, log)
	if err != nil {
		return err
	}
	defer st.Close()
	prices, err := pricing.FromConfig(cfg.Pricing)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errInvalid, cfg.File, err)
	}
	// Metrics count every log row the gateways write, as it is written.
	configs, _ := gateway.Configs(cfg, os.LookupEnv, prices)
	ids := make([]string, 0, len(configs))
	for _, c := range configs {
		ids = append(ids, c.ID)
	}
	col := metrics.New(metrics.WithGateways(ids...), metrics.WithPrices(prices))
	opts, set, err := server.FromConfig(cfg, os.LookupEnv, col.ObserveStore(st), log)
	if err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	opts.Metrics = col.Handler()
	defer gateway.ClosePools(opts.Pools)
	col.WatchDrops(func() []metrics.DropReading { return dropReadings(set.Drops()) })
	col.WatchDeployments(func() []metrics.DeploymentReading { return deploymentReadings(opts.Pools) })
	col.WatchOverspend(func() []metrics.OverspendReading {
		var out []metrics.OverspendReading
		for id, o := range set.Overspend() {
			out = append(out, metrics.OverspendReading{Gateway: id, Calls: o.Calls, USD: float64(o.NanoUSD) / 1e9})
		}
		return out
	})
	// The budgets in force, the ones changed at run time and the keys'
	// included: the dashboard's and the metrics' gauges.
	budgets := func() []dashboard.Budget { return dashboardBudgets(configs, set.Limits()) }
	col.WatchBudgets(func(ctx context.Context) ([]metrics.BudgetReading, error) {
		ss, err := dashboard.BudgetStatuses(ctx, st, budgets(), time.Now())
		out := make([]metrics.BudgetReading, len(ss))
		for i, b := range ss {
			out[i] = metrics.BudgetReading{Name: strings.TrimSuffix(b.Name, ", per "+b.Window), Period: b.Window, SpentUSD: b.SpentUSD, LimitUSD: b.LimitUSD}
		}
		return out, err
	})
	dash := dashboard.Options{Tokens: tokenValues(opts.Tokens), BudgetSource: budgets, Logger: log,
		DeploymentSource: func() []dashboard.Deployment { return dashboardDeployments(opts.Pools) },
		OverspendSource:  set.Overspend}
	if opts.AdminToken != "" && opts.Control != nil {
		// The page's forms use the admin API; the admin token opens the
		// page too.
		dash.AdminURL = "/admin/"
		if len(dash.Tokens) > 0 {
			dash.Tokens = append(dash.Tokens, opts.AdminToken)
		}
	}
	opts.Dashboard = dashboard.New(st, dash)
	defer func() {
		// The server flushed nothing it was given: write the gateways'
		// queued log rows before the store closes.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := set.Close(cctx); err != nil {
			log.Warn("flushing the gateway log", "err", err)
		}
	}()
	if f.addr != "" {
		opts.Addr = f.addr
	}
	opts.Listener = f.listener
	opts.EnsemblesDir = ensemblesDir(f.ensembles)
	s, err := server.New(opts)
	if err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	// Edited limits without a restart: on SIGHUP, and when the file
	// changes on disk.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = s.Reload(ctx) // a failure is logged and changes nothing
			case <-ctx.Done():
				return
			}
		}
	}()
	go s.WatchConfig(ctx, time.Second)
	if err := s.Run(ctx); err != nil {
		var opErr *net.OpError
		if errors.Is(err, server.ErrUnguarded) || errors.As(err, &opErr) && opErr.Op == "listen" {
			return fmt.Errorf("%w: %v", errInvalid, err)
		}
		return err
	}
	return nil
}

// dropReadings are the gateways' drops as the metrics count them.
func dropReadings(drops map[string]gateway.Drops) []metrics.DropReading {
	out := make([]metrics.DropReading, 0, 3*len(drops))
	for id, d := range drops {
		out = append(out,
			metrics.DropReading{Gateway: id, Kind: metrics.DropCacheWrite, N: d.CacheWrites},
			metrics.DropReading{Gateway: id, Kind: metrics.DropLogRow, N: d.LogRows},
			metrics.DropReading{Gateway: id, Kind: metrics.DropAlert, N: d.Alerts})
	}
	return out
}

func tokenValues(ts []server.Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Value
	}
	return out
}

// dashboardBudgets are the budgets every gateway shares and those of
// each configured gateway ("default" included), as the dashboard shows
// them.
func dashboardBudgets(configs []gateway.Config, shared gateway.Limits) []dashboard.Budget {
	out := dashboard.BudgetsFor("", shared.Budgets)
	for _, c := range configs {
		out = append(out, dashboard.BudgetsFor(c.ID, c.Budgets)...)
	}
	return out
}

// ensemblesDir is --ensembles, else ./ensembles when it exists, else
// ./examples (the repository's page flows).
func ensemblesDir(flag string) string {
	if flag != "" {
		return flag
	}
	for _, d := range []string{"ensembles", "examples"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return server.DefaultEnsemblesDir
}

// deploymentReadings is every [[model]] deployment's state for /metrics.
func deploymentReadings(pools map[string]*gateway.Pool) []metrics.DeploymentReading {
	var out []metrics.DeploymentReading
	for _, name := range slices.Sorted(maps.Keys(pools)) {
		for _, d := range pools[name].Status() {
			out = append(out, metrics.DeploymentReading{Model: d.Model, Deployment: d.Deployment, Breaker: d.Breaker,
				InFlight: d.InFlight, LatencyS: d.Latency.Seconds(), ErrorRate: d.ErrorRate, Calls: d.Calls, Errors: d.Errors})
		}
	}
	return out
}

// dashboardDeployments is every [[model]] deployment's state for the
// dashboard.
func dashboardDeployments(pools map[string]*gateway.Pool) []dashboard.Deployment {
	var out []dashboard.Deployment
	for _, name := range slices.Sorted(maps.Keys(pools)) {
		for _, d := range pools[name].Status() {
			dd := dashboard.Deployment{Model: d.Model, Deployment: d.Deployment, Provider: d.Provider, Tier: d.Tier, Breaker: d.Breaker,
				InFlight: d.InFlight, LatencyMs: float64(d.Latency) / float64(time.Millisecond), ErrorRate: d.ErrorRate, Calls: d.Calls, Errors: d.Errors}
			if !d.RetryAt.IsZero() {
				at := d.RetryAt.UTC()
				dd.RetryAt = &at
			}
			out = append(out, dd)
		}
	}
	return out
}
