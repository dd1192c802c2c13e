package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/control"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/server"
	"github.com/conductor-go/conductor/store/sqlite"
)

// newKeysCmd is "conductor keys": virtual keys, on the store `conductor
// serve` uses, while it runs.
func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, revoke and rotate the virtual keys callers of 'conductor serve' present",
		Long: `A virtual key is what you hand a caller instead of a provider key: "ck-" and 43
random characters, accepted wherever a gateway token is (Authorization: Bearer,
x-api-key, cf-aig-authorization), with its own user, team, spend and rate
limits, models and gateways. Only its SHA-256 is stored; "keys create" and
"keys rotate" print the key once.

The keys commands take the --config and --data of 'conductor serve' and work
on its store while it runs: every server sharing the store sees a new, changed
or revoked key within a second. Once a key exists, the server wants a key or
a gateway token from every caller.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("%w: name a subcommand: create, list, revoke or rotate", errInvalid)
		},
	}
	cmd.AddCommand(newKeysCreateCmd(), newKeysListCmd(), newKeysRevokeCmd(), newKeysRotateCmd())
	return cmd
}

type keyFlags struct {
	storeFlags
	user, team         string
	dailyUSD, monthUSD float64
	rpm, tpm           int64
	models, gateways   []string
	expires            string
}

func newKeysCreateCmd() *cobra.Command {
	var f keyFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a key and print it (once)",
		Example: `  conductor keys create ci --user ci-bot --daily-usd 5 --rpm 60 --models 'gpt-4o*,anthropic/*'
  conductor keys create intern --team research --monthly-usd 20 --expires 30d --gateways staging`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeysCreate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args[0], time.Now())
		},
	}
	f.storeFlags.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "the user its calls are for (per-user limits, the request log); unset: the caller says")
	fl.StringVar(&f.team, "team", "", "its team: the [[team]] budget and limits its calls also fit")
	fl.Float64Var(&f.dailyUSD, "daily-usd", 0, "spend limit per UTC day, USD")
	fl.Float64Var(&f.monthUSD, "monthly-usd", 0, "spend limit per UTC month, USD")
	fl.Int64Var(&f.rpm, "rpm", 0, "requests per minute")
	fl.Int64Var(&f.tpm, "tpm", 0, "tokens (input + output) per minute")
	fl.StringSliceVar(&f.models, "models", nil, "model patterns it may call: gpt-4o*, anthropic/* (a bare one matches with or without the provider)")
	fl.StringSliceVar(&f.gateways, "gateways", nil, "gateway ids it may be used through (default: every one)")
	fl.StringVar(&f.expires, "expires", "", "lifetime: 90m, 12h, 30d (default: none)")
	return cmd
}

func runKeysCreate(ctx context.Context, stdout, stderr io.Writer, f keyFlags, name string, now time.Time) error {
	k := control.Key{Name: name, User: f.user, Team: f.team, DailyUSD: f.dailyUSD, MonthlyUSD: f.monthUSD,
		RPM: f.rpm, TPM: f.tpm, Models: f.models, Gateways: f.gateways}
	if f.expires != "" {
		d, err := control.ParseLifetime(f.expires)
		if err != nil {
			return fmt.Errorf("%w: --expires: %v", errInvalid, err)
		}
		k.Expires = now.Add(d).UTC()
	}
	if err := k.Check(); err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	st, cfg, err := f.openKeys(ctx, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, ok := cfg.TeamByName(k.Team); k.Team != "" && !ok && !hasItem(ctx, st.control, control.KindTeam, k.Team) {
		fmt.Fprintf(stderr, "note: team %q has no [[team]] in %s nor in the store: no team limit holds its calls yet\n",
			k.Team, cmpOr(cfg.File, "the config"))
	}
	secret, err := (&control.Admin{Store: st.control}).CreateKey(ctx, k, who())
	if err != nil {
		if errors.Is(err, control.ErrExists) {
			return fmt.Errorf("%w: %v (rotate it with 'conductor keys rotate %s', or pick another name)", errInvalid, err, name)
		}
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created key %q in %s: copy it now, it is not shown again\n", name, st.where)
	return nil
}

func hasItem(ctx context.Context, cs conductor.ControlStore, kind, name string) bool {
	items, err := cs.ControlItems(ctx, kind)
	if err != nil {
		return false
	}
	for _, it := range items {
		if it.Name == name {
			return true
		}
	}
	return false
}

func newKeysListCmd() *cobra.Command {
	var f storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the keys: name, user, team, limits, spend today, last use (never a key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeysList(cmd.Context(), cmd.OutOrStdout(), keyFlags{storeFlags: f}, asJSON, time.Now())
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// keyListing is one key as `keys list --json` prints it.
type keyListing struct {
	control.Key
	Status        string    `json:"status"` // active, revoked, expired
	SpentTodayUSD float64   `json:"spentTodayUsd"`
	LastUsed      time.Time `json:"lastUsed,omitzero"`
}

func runKeysList(ctx context.Context, w io.Writer, f keyFlags, asJSON bool, now time.Time) error {
	st, _, err := f.openKeys(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := (&control.Admin{Store: st.control}).Keys(ctx)
	if err != nil {
		return fmt.Errorf("read the keys: %w", err)
	}
	used, err := st.control.KeysUsed(ctx)
	if err != nil {
		return fmt.Errorf("read the keys: %w", err)
	}
	out := make([]keyListing, 0, len(keys))
	day := now.UTC().Format("2006-01-02")
	for _, k := range keys {
		spent, err := st.Spent(ctx, gateway.SpendKey(gateway.ScopeKey, k.Name)+"/day:"+day)
		if err != nil {
			return fmt.Errorf("read key %s's spend: %w", k.Name, err)
		}
		l := keyListing{Key: k.Public(), Status: cmpOr(k.Status(now), "active"), SpentTodayUSD: float64(spent) / 1e9, LastUsed: used[k.Name]}
		out = append(out, l)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintf(w, "No keys in %s. Create one with: conductor keys create NAME\n", st.where)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUSER\tTEAM\tLIMITS\tSPENT TODAY\tLAST USED\tSTATUS")
	for _, l := range out {
		last := "never"
		if !l.LastUsed.IsZero() {
			last = l.LastUsed.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t$%s\t%s\t%s\n", l.Name, cmpOr(l.User, "-"), cmpOr(l.Team, "-"), limitsText(l.Key), usdText(l.SpentTodayUSD), last, l.Status)
	}
	return tw.Flush()
}

// limitsText is a key's limits in one cell.
func limitsText(k control.Key) string {
	var parts []string
	if k.DailyUSD > 0 {
		parts = append(parts, "$"+usdText(k.DailyUSD)+"/day")
	}
	if k.MonthlyUSD > 0 {
		parts = append(parts, "$"+usdText(k.MonthlyUSD)+"/month")
	}
	if k.RPM > 0 {
		parts = append(parts, strconv.FormatInt(k.RPM, 10)+" rpm")
	}
	if k.TPM > 0 {
		parts = append(parts, strconv.FormatInt(k.TPM, 10)+" tpm")
	}
	if len(k.Models) > 0 {
		parts = append(parts, "models "+strings.Join(k.Models, ","))
	}
	if len(k.Gateways) > 0 {
		parts = append(parts, "gateways "+strings.Join(k.Gateways, ","))
	}
	if !k.Expires.IsZero() {
		parts = append(parts, "expires "+k.Expires.Local().Format("2006-01-02 15:04"))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func usdText(v float64) string {
	if v != 0 && v < 0.01 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func newKeysRevokeCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a key: refused (401) everywhere within a second",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := keyFlags{storeFlags: f}.openKeys(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := (&control.Admin{Store: st.control}).RevokeKey(cmd.Context(), args[0], who()); err != nil {
				return keyError(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "revoked key %q\n", args[0])
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newKeysRotateCmd() *cobra.Command {
	var f storeFlags
	var grace string
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Give a key a new secret and print it (once); the old one stays valid for --grace",
		Example: `  conductor keys rotate ci --grace 24h   # both work for a day, then only the new one
  conductor keys rotate ci --grace 0     # the old one stops at once`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := control.ParseLifetime(grace)
			if err != nil && grace != "0" {
				return fmt.Errorf("%w: --grace: %v", errInvalid, err)
			}
			st, _, err := keyFlags{storeFlags: f}.openKeys(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer st.Close()
			secret, err := (&control.Admin{Store: st.control}).RotateKey(cmd.Context(), args[0], d, who())
			if err != nil {
				return keyError(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "rotated key %q: copy the new one now, it is not shown again; the old one works for %s more\n", args[0], d)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&grace, "grace", "1h", "how long the old secret stays valid: 0, 90m, 24h, 7d")
	return cmd
}

// keyError makes a missing key a usage error.
func keyError(err error) error {
	if errors.Is(err, conductor.ErrNotFound) {
		return fmt.Errorf("%w: %v (see 'conductor keys list')", errInvalid, err)
	}
	return err
}

// keyStore is the store keys are kept in: its counters (a key's spend),
// its ControlStore, and where it is, for messages.
type keyStore struct {
	conductor.Store
	control conductor.ControlStore
	where   string
}

// openKeys opens the store of serve's --config and --data; create makes
// the SQLite file when there is none yet (the first key comes before the
// first call). The shared back end keeps keys in PostgreSQL.
func (f keyFlags) openKeys(ctx context.Context, create bool) (*keyStore, *config.Config, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errInvalid, err)
	}
	if !create || cfg.StoreBackend() != config.StoreSQLite {
		rs, cfg, err := f.open(ctx)
		if err != nil {
			return nil, nil, err
		}
		cs := server.ControlOf(rs.Store)
		if cs == nil {
			rs.Close()
			return nil, nil, errKeysBackend(cfg)
		}
		return &keyStore{Store: rs.Store, control: cs, where: rs.Where}, cfg, nil
	}
	data := f.data
	if data == "" {
		data = cfg.DataPath()
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, dbName))
	if err != nil {
		return nil, nil, fmt.Errorf("open the store: %w", err)
	}
	return &keyStore{Store: st, control: st, where: st.Path()}, cfg, nil
}

// errKeysBackend says the configured store keeps no keys.
func errKeysBackend(cfg *config.Config) error {
	return fmt.Errorf("%w: [store] backend = %q keeps no virtual keys (the embedded SQLite store and PostgreSQL do)", errInvalid, cfg.StoreBackend())
}

// who names the person making a change, for the audit log.
func who() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:" + cmpOr(os.Getenv("USER"), "unknown")
}
