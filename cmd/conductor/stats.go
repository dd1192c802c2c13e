package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/dashboard"
	"github.com/conductor-go/conductor/runner"
)

// storeFlags locate the store: --data, else the config's data_dir.
type storeFlags struct {
	data   string
	config string
}

func (f *storeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", "", "data directory holding conductor.db (default: the config's data_dir, ./.conductor)")
	cmd.Flags().StringVar(&f.config, "config", "", "config file (default: ./conductor.toml, else ./wrangler.toml, else built-in defaults)")
}

// openData opens the store the gateway recorded into. A missing file is an
// error rather than a new empty store: a mistyped --data must not look like
// a gateway that saw no traffic.
func (f *storeFlags) open(ctx context.Context) (*runner.Store, *config.Config, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errInvalid, err)
	}
	data := f.data
	if data == "" {
		data = cfg.DataPath()
	}
	if cfg.StoreBackend() == config.StoreSQLite {
		path := filepath.Join(data, dbName)
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("no store at %s: nothing has been recorded there yet (pass --data DIR, or set data_dir)", path)
			}
			return nil, nil, fmt.Errorf("open the store: %w", err)
		}
	}
	// The configured bound, so that `cache stats` shows the one serve and
	// run evict by.
	st, err := openStore(ctx, cfg, data, nil)
	if err != nil {
		return nil, nil, err
	}
	return st, cfg, nil
}

type statsFlags struct {
	storeFlags
	since string
	by    string
	json  bool
}

// newStatsCmd is "conductor stats": the request log's aggregates.
func newStatsCmd() *cobra.Command {
	var f statsFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print the gateway's analytics: requests, hit rate, errors, tokens, cost, latency",
		Long: `Stats reads the gateway's request log (DATA/conductor.db) and prints, for the
window --since (default 24h; Go durations or days: 90m, 24h, 7d), the request
volume, cache hit rate, error rate, tokens, cost, what the cache saved (hits
at list price) and latency percentiles p50/p95/p99, in total or --by model,
provider, environment, variant (A/B splits, with their mean score), gateway,
user, key (virtual keys, by name), team or deployment (the [[model]]
deployment that served each call).

--json prints the same figures as the dashboard's API.

Exit status: 0, 1 when the store cannot be read, 2 for a bad command line or
config.`,
		Example: `  conductor stats
  conductor stats --since 7d --by model
  conductor stats --by variant --json
  conductor stats --by key --since 7d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStats(cmd.Context(), cmd.OutOrStdout(), f, time.Now())
		},
	}
	f.storeFlags.add(cmd)
	cmd.Flags().StringVar(&f.since, "since", "24h", "window to aggregate: 90m, 24h, 7d…")
	cmd.Flags().StringVar(&f.by, "by", "", "group by model, provider, environment, variant, gateway, user, key, team or deployment")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	return cmd
}

// statsReport is stats' JSON.
type statsReport struct {
	Since  time.Time          `json:"since"`
	Until  time.Time          `json:"until"`
	By     string             `json:"by,omitempty"`
	Total  dashboard.Figures  `json:"total"`
	Groups []dashboard.Group  `json:"groups,omitempty"`
	Target []dashboard.Target `json:"targets"`
}

func runStats(ctx context.Context, w io.Writer, f statsFlags, now time.Time) error {
	d, err := dashboard.ParseSince(f.since)
	if err != nil {
		return fmt.Errorf("%w: --since: %v", errInvalid, err)
	}
	switch f.by {
	case "", "model", "provider", "environment", "variant", "gateway", "user", "key", "team", "deployment":
	default:
		return fmt.Errorf("%w: --by %q (expected model, provider, environment, variant, gateway, user, key, team or deployment)", errInvalid, f.by)
	}
	st, _, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	until := now.UTC()
	since := until.Add(-d)
	sum, err := dashboard.Summarize(ctx, st, since, until, dashboard.Targets{HitRate: 0.8, ErrorRate: 0.01, P95: 3 * time.Second})
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	rep := statsReport{Since: since, Until: until, By: f.by, Total: sum.Figures, Target: sum.Targets}
	if f.by != "" {
		if rep.Groups, err = dashboard.GroupBy(ctx, st, f.by, since, until); err != nil {
			return fmt.Errorf("read the request log: %w", err)
		}
	}
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeStats(w, rep, f.since)
	return nil
}

func writeStats(w io.Writer, rep statsReport, window string) {
	fmt.Fprintf(w, "Requests in the last %s (since %s)", window, rep.Since.Format("2006-01-02 15:04 MST"))
	if rep.By != "" {
		fmt.Fprintf(w, ", by %s", rep.By)
	}
	fmt.Fprintln(w)
	if rep.Total.Requests == 0 {
		fmt.Fprintln(w, "\nNo requests recorded in this window.")
		return
	}
	fmt.Fprintln(w)
	scored := rep.Total.MeanScore != nil
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{strings.ToUpper(cmpOr(rep.By, "group")), "REQUESTS", "HIT RATE", "ERRORS", "TOKENS IN", "TOKENS OUT", "COST", "SAVED", "P50", "P95", "P99"}
	if scored {
		head = append(head, "SCORE")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	line := func(name string, f dashboard.Figures) {
		cells := []string{name, strconv.FormatInt(f.Requests, 10), percent(f.HitRate), percent(f.ErrorRate),
			strconv.FormatInt(f.InputTokens, 10), strconv.FormatInt(f.OutputTokens, 10), dollars(f.CostUSD), dollars(f.SavedUSD),
			millis(f.P50Ms), millis(f.P95Ms), millis(f.P99Ms)}
		if scored {
			s := "-"
			if f.MeanScore != nil {
				s = strconv.FormatFloat(*f.MeanScore, 'f', 2, 64)
			}
			cells = append(cells, s)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for _, g := range rep.Groups {
		line(cmpOr(g.Group, "(none)"), g.Figures)
	}
	line("total", rep.Total)
	tw.Flush()

	fmt.Fprintln(w, "\nTargets:")
	for _, t := range rep.Target {
		mark := "ok  "
		if t.OK != nil && !*t.OK {
			mark = "MISS"
		}
		fmt.Fprintf(w, "  %s %s\n", mark, t.Label)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func percent(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r*100, 'f', 1, 64) + "%"
}

// dollars prints enough digits for one cheap call, and no more for big sums.
func dollars(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v >= 100:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	case v >= 1:
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	}
	return "$" + strconv.FormatFloat(v, 'f', 6, 64)
}

func millis(v float64) string {
	if v < 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(v/1000, 'f', 2, 64) + "s"
}
