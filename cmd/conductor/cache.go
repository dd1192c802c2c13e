package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newCacheCmd is "conductor cache": the persistent cache's content.
func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect or empty the gateway's persistent cache",
		Long: `The gateway keeps answers in DATA/conductor.db so that a cached answer survives
restarts and deployments. "cache stats" shows what it holds; "cache purge"
deletes entries: every one, one gateway's (--scope GATEWAY; "step" holds the
ensemble step caches), or only the expired ones (--expired).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("%w: name a subcommand: stats or purge", errInvalid)
		},
	}
	cmd.AddCommand(newCacheStatsCmd(), newCachePurgeCmd())
	return cmd
}

func newCacheStatsCmd() *cobra.Command {
	var f storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the cache's entries, size and expired entries, by scope",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCacheStats(cmd.Context(), cmd.OutOrStdout(), f, asJSON, time.Now())
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runCacheStats(ctx context.Context, w io.Writer, f storeFlags, asJSON bool, now time.Time) error {
	st, _, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	cs, err := st.CacheStats(ctx, now)
	if err != nil {
		return fmt.Errorf("read the cache: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(cs)
	}
	fmt.Fprintf(w, "Cache in %s\n", st.Where)
	fmt.Fprintf(w, "  entries  %d", cs.Entries)
	if cs.Expired > 0 {
		fmt.Fprintf(w, " (%d expired, pruned hourly by a running gateway, or now by 'conductor cache purge --expired')", cs.Expired)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  size     %s", bytesText(cs.Bytes))
	if cs.MaxBytes > 0 {
		fmt.Fprintf(w, " of %s (least recently used entries are evicted beyond it)", bytesText(cs.MaxBytes))
	}
	fmt.Fprintln(w)
	if len(cs.ByScope) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		scopes := make([]string, 0, len(cs.ByScope))
		for s := range cs.ByScope {
			scopes = append(scopes, s)
		}
		slices.Sort(scopes)
		fmt.Fprintln(tw, "  SCOPE\tENTRIES")
		for _, s := range scopes {
			fmt.Fprintf(tw, "  %s\t%d\n", cmpOr(s, "(none)"), cs.ByScope[s])
		}
		tw.Flush()
	}
	return nil
}

func newCachePurgeCmd() *cobra.Command {
	var f storeFlags
	var scope string
	var expired bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete cache entries: all, one gateway's (--scope), or the expired ones (--expired)",
		Example: `  conductor cache purge                  # every entry
  conductor cache purge --scope my-gateway
  conductor cache purge --expired`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCachePurge(cmd.Context(), cmd.OutOrStdout(), f, scope, cmd.Flags().Changed("scope"), expired, time.Now())
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&scope, "scope", "", `delete only this gateway's entries ("step" for ensemble step caches)`)
	cmd.Flags().BoolVar(&expired, "expired", false, "delete only entries past their TTL")
	return cmd
}

func runCachePurge(ctx context.Context, w io.Writer, f storeFlags, scope string, scoped, expired bool, now time.Time) error {
	switch {
	case scoped && scope == "":
		return fmt.Errorf("%w: --scope needs a gateway id (omit it to purge every scope)", errInvalid)
	case scoped && expired:
		return fmt.Errorf("%w: --expired prunes every scope; it cannot be combined with --scope", errInvalid)
	}
	st, _, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var n int64
	what := "entries"
	switch {
	case expired:
		n, err = st.PruneCache(ctx, now)
		what = "expired entries"
	default:
		n, err = st.PurgeCache(ctx, scope)
		if scope != "" {
			what = "entries of scope " + strconv.Quote(scope)
		}
	}
	if err != nil {
		return fmt.Errorf("purge the cache: %w", err)
	}
	fmt.Fprintf(w, "Deleted %d %s.\n", n, what)
	return nil
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + string("KMGT"[i]) + "iB"
}
