package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/routing"
	"github.com/conductor-go/conductor/store/sqlite"
)

// dbName is the SQLite file in the data directory.
const dbName = "conductor.db"

type runFlags struct {
	input  string
	json   bool
	trace  bool
	data   string
	config string
}

// newRunCmd is "conductor run FILE": it runs an ensemble and prints its
// output.
func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run an ensemble and print its output",
		Long: `Run loads an ensemble file, runs its members in order and prints the ensemble's
output: a string as it is, anything else as indented JSON.

--input gives the ensemble's input as JSON, or @FILE to read it from a file
(@- for standard input). --json prints the whole result instead: every
member's status, output, score, route, cache, attempts, tokens, cost and
latency. --trace prints a per-member table on stderr.

Members with a cache block keep their answers in DATA/conductor.db, so a
second run with the same request is answered from the cache.

Exit status: 0 when the flow succeeded, 1 when it failed, 2 for a bad
ensemble file, input, configuration or command line (also when found as
the flow runs), 130 when Ctrl-C stopped it.`,
		Example: `  conductor run examples/quickstart.yaml --trace
  conductor run flow.yaml --input '{"question": "Why is the sky blue?"}'
  conductor run flow.yaml --input @input.json --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnsemble(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f)
		},
	}
	cmd.Flags().StringVarP(&f.input, "input", "i", "", "the ensemble's input: JSON, or @FILE (@- for stdin)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the whole result as JSON")
	cmd.Flags().BoolVar(&f.trace, "trace", false, "print a per-member table on stderr")
	cmd.Flags().StringVar(&f.data, "data", "", "directory for the step cache (default: the config's data_dir, ./.conductor)")
	cmd.Flags().StringVar(&f.config, "config", "", "config file (default: ./conductor.toml, else ./wrangler.toml, else built-in defaults)")
	return cmd
}

func runEnsemble(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, file string, f runFlags) error {
	ens, err := ensemble.Load(file)
	if err != nil {
		var list ensemble.List
		if errors.As(err, &list) {
			for _, p := range list {
				fmt.Fprintln(stderr, p.String())
			}
			return &exitError{code: exitInvalid, quiet: true, err: err}
		}
		// "FILE: cannot read the ensemble file: …", as validate says it.
		fmt.Fprintln(stderr, err)
		return &exitError{code: exitInvalid, quiet: true, err: err}
	}
	input, err := readInput(f.input, stdin)
	if err != nil {
		return fmt.Errorf("%w: --input: %v", errInvalid, err)
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		return configProblem(stderr, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
	prices, err := pricing.FromConfig(cfg.Pricing)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errInvalid, cfg.File, err)
	}
	opts := engine.Options{Pricing: prices, Logger: log}
	routeOpts := routing.Options{Logger: log}
	if usesCache(ens) || usesBuiltinGateway(ens, cfg) {
		data := f.data
		if data == "" {
			data = cfg.DataPath()
		}
		// Opened only when a member caches or goes through the built-in
		// gateway: the file and its directory appear where they are
		// needed, not on every run.
		var storeOpts []sqlite.Option
		storeOpts = append(storeOpts, sqlite.WithLogger(log))
		if cfg.Gateway.CacheMaxBytes > 0 {
			storeOpts = append(storeOpts, sqlite.WithMaxCacheBytes(cfg.Gateway.CacheMaxBytes))
		}
		store, err := sqlite.Open(ctx, filepath.Join(data, dbName), storeOpts...)
		if err != nil {
			return fmt.Errorf("open the store: %w", err)
		}
		defer store.Close()
		opts.Cache = store
		// cloudflare-gateway without a Cloudflare account: the built-in
		// gateway, with the same settings `conductor serve` gives it.
		set, err := gateway.SetFromConfig(store, cfg, os.LookupEnv, prices, gateway.WithLogger(log))
		if err != nil {
			return fmt.Errorf("%w: %v", errInvalid, err)
		}
		defer func() {
			// The gateway's log rows are written in batches: flush them
			// before the store closes.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := set.Close(cctx); err != nil {
				log.Warn("flushing the gateway log", "err", err)
			}
		}()
		routeOpts.Gateway = set.Hook
		// Scores of graded members reach the gateway log, per variant.
		opts.Scorer = set
	}
	router, err := routing.New(cfg, routeOpts)
	if err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	if list := checkRoutes(ens, router); len(list) > 0 {
		for _, p := range list {
			fmt.Fprintln(stderr, p.String())
		}
		return &exitError{code: exitInvalid, quiet: true, err: list}
	}
	opts.Resolver = router
	res, runErr := engine.New(opts).Run(ctx, ens, input)
	if f.trace {
		writeTrace(stderr, res)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write the result: %w", err)
		}
	} else if runErr == nil {
		if err := writeOutput(stdout, res.Output); err != nil {
			return err
		}
	}
	if runErr != nil {
		code := exitFailure
		// A route that cannot be built (a missing key, account id or
		// gateway), or a provider, routing or parameter an expression
		// chose that cannot be used, is the user's configuration to fix,
		// not a failed flow: 2, as when found before the run.
		if engine.IsConfig(runErr) {
			code = exitInvalid
		}
		return &exitError{code: code, err: runErr}
	}
	return nil
}

// loadConfig reads the file --config names, else finds one in the working
// directory, else uses the built-in defaults.
func loadConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	return config.Find(".")
}

// readInput parses --input: JSON text, or @FILE holding JSON (@- reads
// stdin). No --input means a null input.
func readInput(arg string, stdin io.Reader) (any, error) {
	if arg == "" {
		return nil, nil
	}
	data, where := []byte(arg), ""
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		where = name + ":"
		if name == "-" {
			where = "<stdin>:"
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no file %s", name)
			}
			return nil, err
		}
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		hint := "not valid JSON"
		if t := strings.TrimSpace(arg); where == "" && t != "" && !strings.ContainsRune(`{["`, rune(t[0])) {
			hint += `; a plain string needs JSON quotes: --input '"text"'`
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := jsonPos(data, se)
			return nil, fmt.Errorf("%s%d:%d: %v (%s)", where, line, col, err, hint)
		}
		return nil, fmt.Errorf("%s%v (%s)", strings.Replace(where, ":", ": ", 1), err, hint)
	}
	return v, nil
}

// jsonPos is the line and column (from 1, columns in characters) of a JSON
// syntax error in data: the character it was found at, or the end of the
// data when the JSON stops short.
func jsonPos(data []byte, se *json.SyntaxError) (line, col int) {
	at := int(se.Offset) - 1 // Offset counts the offending byte
	if at < 0 || strings.HasPrefix(se.Error(), "unexpected end") {
		at = int(se.Offset)
	}
	at = min(max(at, 0), len(data))
	before := data[:at]
	start := bytes.LastIndexByte(before, '\n') + 1
	return bytes.Count(before, []byte{'\n'}) + 1, utf8.RuneCount(before[start:]) + 1
}

// dropTime leaves the time out of log lines: on a terminal it is noise.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// checkRoutes checks, before any member runs, every route the file names
// literally (a member's, or its judge's), so a missing key or account id
// is reported with its position up front instead of failing the flow
// half-way after earlier members were paid for. Routes chosen by an
// expression are checked when their member runs.
func checkRoutes(ens *ensemble.Ensemble, router *routing.Router) ensemble.List {
	var list ensemble.List
	check := func(member, what string, c *ensemble.ThinkConfig) {
		if c == nil {
			return
		}
		prov, ok := literalString(c.Provider)
		if !ok {
			return
		}
		route, pos := "", c.Provider.Pos
		if c.Routing != nil {
			if route, ok = literalString(c.Routing); !ok {
				return
			}
			pos = c.Routing.Pos
		}
		if pos.Line == 0 { // a provider filled in by default
			pos = c.Pos
		}
		if err := router.Check(prov, route); err != nil {
			list = append(list, ensemble.Problem{File: ens.File, Pos: pos,
				Msg: fmt.Sprintf("member %s%s: %v", member, what, err)})
		}
	}
	for _, st := range ens.Flow {
		check(st.Member, "", st.Config)
		if st.Scoring != nil && st.Scoring.EvaluatorIndex < 0 && st.Scoring.Evaluator != ensemble.EvaluatorRules {
			check(st.Member, " (judge)", st.Scoring.Judge)
		}
	}
	return list
}

// usesBuiltinGateway reports whether a member may route through the
// built-in gateway: cloudflare-gateway (named, or the default for its
// provider, or decided by an expression) with no Cloudflare account
// configured for the gateway.
func usesBuiltinGateway(ens *ensemble.Ensemble, cfg *config.Config) bool {
	if g, ok := cfg.DefaultGateway(); ok && g.Hosted() {
		return false
	}
	viaGateway := func(c *ensemble.ThinkConfig) bool {
		if c == nil {
			return false
		}
		if c.Routing != nil {
			r, lit := literalString(c.Routing)
			return !lit || r == conductor.RoutingGateway
		}
		p, lit := literalString(c.Provider)
		return !lit || conductor.DefaultRouting(p) == conductor.RoutingGateway
	}
	for _, st := range ens.Flow {
		// A judge with its own config routes on its own.
		if viaGateway(st.Config) || (st.Scoring != nil && viaGateway(st.Scoring.Judge)) {
			return true
		}
	}
	return false
}

// literalString is n's value when the file wrote it as plain text.
func literalString(n *ensemble.Node) (string, bool) {
	if n == nil || !n.IsLiteral() {
		return "", false
	}
	s, ok := n.Lit.(string)
	return s, ok
}

func usesCache(ens *ensemble.Ensemble) bool {
	for _, st := range ens.Flow {
		if st.Cache != nil && st.Cache.TTL > 0 {
			return true
		}
	}
	return false
}

// writeOutput prints a string as it is and anything else as indented JSON.
func writeOutput(w io.Writer, out any) error {
	var err error
	if s, ok := out.(string); ok {
		_, err = fmt.Fprintln(w, s)
	} else {
		var b []byte
		if b, err = json.MarshalIndent(out, "", "  "); err == nil {
			_, err = fmt.Fprintf(w, "%s\n", b)
		}
	}
	if err != nil {
		return fmt.Errorf("write the output: %w", err)
	}
	return nil
}

// writeTrace prints one row per member: status, route, provider/model,
// cache, attempts, tokens, cost, score and latency, then the totals.
func writeTrace(w io.Writer, res *engine.Result) {
	if res == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSTATUS\tROUTE\tPROVIDER/MODEL\tCACHE\tATTEMPTS\tTOKENS IN/OUT\tCOST\tSCORE\tMS")
	var errs []string
	for _, m := range res.Members {
		if m.Status == engine.StatusSkipped || m.Status == engine.StatusNotRun {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\n", m.Member, m.Status)
			continue
		}
		model := "-"
		if m.Provider != "" {
			model = m.Provider + "/" + m.Model
			if m.TestProvider {
				model += " (test provider)"
			}
		}
		cache := "-"
		if m.Cached {
			cache = "hit"
		}
		tokens := fmt.Sprintf("%d/%d", m.Usage.InputTokens, m.Usage.OutputTokens)
		if m.Usage.Estimated {
			tokens = "~" + tokens // counted locally: the provider sent no usage
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\n",
			m.Member, m.Status, route(m), model, cache, m.Attempts,
			tokens, usd(m.CostNanoUSD, m.PriceUnknown), score(m.Scoring), m.LatencyMs)
		if m.Error != nil {
			errs = append(errs, fmt.Sprintf("  %s: %s", m.Member, m.Error.Message))
		}
	}
	tw.Flush()
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	status := "succeeded"
	if !res.Success {
		status = "failed"
	}
	// A run can succeed with answers that did not pass their scoring:
	// say so where the eye lands.
	if low := res.BelowMinimum(); len(low) > 0 {
		status += fmt.Sprintf(" (below minimum score: %s)", strings.Join(low, ", "))
	}
	fmt.Fprintf(w, "%s %s: cost %s, %d ms\n", res.Ensemble, status, usd(res.CostNanoUSD, false), res.LatencyMs)
}

// route is the trace's ROUTE column: the routing mode, and for a gateway
// route which gateway served it, hosted or built-in, and its id.
func route(m engine.MemberResult) string {
	if m.Gateway != nil {
		return m.Routing + " (" + m.Gateway.String() + ")"
	}
	return dash(m.Routing)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// usd formats nano-USD as dollars with enough digits for one cheap call.
func usd(nano int64, unknown bool) string {
	s := "$" + strconv.FormatFloat(float64(nano)/1e9, 'f', 6, 64)
	if unknown {
		s += " (no price)"
	}
	return s
}

func score(s engine.ScoreResult) string {
	if s.Score == nil {
		if !s.Passed {
			return "none (failed)"
		}
		return "-"
	}
	mark := "pass"
	if !s.Passed {
		mark = "low"
	}
	return strconv.FormatFloat(*s.Score, 'f', 2, 64) + " " + mark
}
