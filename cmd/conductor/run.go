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
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/runner"
)

// dbName is the SQLite file in the data directory.
const dbName = runner.DBName

type runFlags struct {
	input  string
	json   bool
	trace  bool
	data   string
	config string
	env    string
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
	cmd.Flags().StringVarP(&f.env, "env", "e", "", "the wrangler.toml environment: its [env.NAME] account_id and vars, as wrangler --env NAME")
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
	// The wiring is the embedding API's (package runner): one for the CLI
	// and for programs that run ensembles themselves.
	cfg, err := loadConfig(f.config)
	if err == nil {
		err = cfg.UseEnvironment(f.env)
	}
	if err != nil {
		return configProblem(stderr, err)
	}
	c, err := runner.New(cfg, runner.Options{Data: f.data, Logger: log})
	if err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			log.Warn("closing", "err", err)
		}
	}()
	if err := c.Check(ens); err != nil {
		var list ensemble.List
		errors.As(err, &list)
		for _, p := range list {
			fmt.Fprintln(stderr, p.String())
		}
		return &exitError{code: exitInvalid, quiet: true, err: err}
	}
	res, runErr := c.RunEnsemble(ctx, ens, input)
	if res == nil && runErr != nil {
		// The store or the gateway could not start: nothing ran.
		if engine.IsConfig(runErr) {
			return fmt.Errorf("%w: %v", errInvalid, runErr)
		}
		return runErr
	}
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
			if m.Variant != "" {
				model += " (variant " + m.Variant + ")"
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
