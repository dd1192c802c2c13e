package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/sqlite"
)

// dataDir makes a data directory whose conductor.db (the real SQLite
// store) holds rows and cache entries, and an empty conductor.toml beside
// it unless config is given.
func dataDir(t *testing.T, rows []conductor.LogRow, entries []conductor.CacheEntry, config string) (data, configPath string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(data, dbName))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendLogs(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := st.PutCache(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	configPath = filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return data, configPath
}

// runCmd runs a command built by newCmd with args and returns its output
// and exit status as the conductor binary would map it.
func runCmd(t *testing.T, newCmd func() *cobra.Command, args ...string) (string, int, error) {
	t.Helper()
	cmd := newCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), exitCode(err), err
}

func f64(v float64) *float64 { return &v }

// trafficRows is a known day of traffic, relative to now.
func trafficRows(now time.Time) []conductor.LogRow {
	var rows []conductor.LogRow
	add := func(ago time.Duration, r conductor.LogRow) {
		r.Time, r.Gateway, r.Route = now.Add(-ago), "my-gateway", conductor.RoutingGateway
		if r.Status == 0 {
			r.Status = 200
		}
		rows = append(rows, r)
	}
	for i := range 8 {
		r := conductor.LogRow{Provider: "openai", Model: "gpt-4o", Variant: "A", Environment: "production", Success: true,
			Attempts: 1, InputTokens: 100, OutputTokens: 10, Latency: 5 * time.Millisecond, TTFB: 5 * time.Millisecond, Score: f64(0.6)}
		if i < 6 {
			r.Cached = true
		} else {
			r.MissReason, r.CostNanoUSD, r.Latency, r.TTFB = "new_key", 350_000, 1500*time.Millisecond, 400*time.Millisecond
		}
		add(time.Duration(i+1)*time.Hour, r)
	}
	for i := range 4 {
		add(time.Duration(i+1)*2*time.Hour, conductor.LogRow{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022",
			Variant: "B", Environment: "staging", Success: true, Attempts: 1, MissReason: "ttl_0", InputTokens: 1000,
			OutputTokens: 500, CostNanoUSD: 10_500_000, Latency: time.Duration(4+i) * time.Second, TTFB: 3 * time.Second, Score: f64(0.9)})
	}
	add(30*time.Minute, conductor.LogRow{Provider: "groq", Model: "llama-3.1-70b-versatile", Environment: "production",
		Status: 429, ErrorClass: "rate_limited", Attempts: 3, Latency: 2 * time.Second, TTFB: 2 * time.Second})
	add(40*time.Minute, conductor.LogRow{Provider: "openai", Model: "gpt-4o", Environment: "production", User: "alice",
		Status: 429, ErrorClass: "limited", Latency: time.Millisecond, TTFB: time.Millisecond})
	add(50*time.Hour, conductor.LogRow{Provider: "openai", Model: "gpt-4o", Success: true, CostNanoUSD: 1e12, Latency: time.Second})
	return rows
}

func TestStatsTable(t *testing.T) {
	now := time.Now()
	data, cfg := dataDir(t, trafficRows(now), nil, "")
	tests := []struct {
		name string
		args []string
		want []string // lines that must appear, fields separated by whitespace
	}{
		{"total", nil, []string{
			"total 14 42.9% 14.3% 4800 2080 $0.042700 $0 5ms 7.00s 7.00s",
			"MISS Cache hit rate > 80%", "MISS Error rate < 1%", "MISS Latency p95 < 3 s",
		}},
		{"by model", []string{"--by", "model"}, []string{
			"MODEL REQUESTS HIT RATE ERRORS TOKENS IN TOKENS OUT COST SAVED P50 P95 P99 SCORE",
			"gpt-4o 9 66.7% 11.1% 800 80 $0.000700 $0 5ms 1.50s 1.50s 0.60",
			"claude-3-5-sonnet-20241022 4 0.0% 0.0% 4000 2000 $0.042000 $0 5.00s 7.00s 7.00s 0.90",
			"llama-3.1-70b-versatile 1 0.0% 100.0% 0 0 $0 $0 2.00s 2.00s 2.00s -",
		}},
		{"by variant", []string{"--by", "variant", "--since", "1d"}, []string{
			"A 8 75.0% 0.0%", "B 4 0.0% 0.0%", "(none) 2 0.0% 100.0%",
		}},
		{"by environment, 3h", []string{"--by", "environment", "--since", "3h"}, []string{
			"production 4 50.0% 50.0%", "staging 1 0.0% 0.0%", "total 5",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, err := runCmd(t, newStatsCmd, append([]string{"--data", data, "--config", cfg}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %v\n%s", code, err, out)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				lines[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, w := range tt.want {
				found := false
				for l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("no line starting %q in:\n%s", w, out)
				}
			}
		})
	}
}

func TestStatsJSON(t *testing.T) {
	now := time.Now()
	rows := trafficRows(now)
	data, cfg := dataDir(t, rows, nil, "")
	var out bytes.Buffer
	if err := runStats(context.Background(), &out, statsFlags{storeFlags: storeFlags{data: data, config: cfg}, since: "24h", by: "provider", json: true}, now); err != nil {
		t.Fatal(err)
	}
	var rep statsReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.Total.Requests != 14 || rep.Total.CacheHits != 6 || rep.Total.Errors != 2 || rep.By != "provider" {
		t.Fatalf("total %+v", rep.Total)
	}
	got := map[string]int64{}
	for _, g := range rep.Groups {
		got[g.Group] = g.Requests
	}
	if got["openai"] != 9 || got["anthropic"] != 4 || got["groq"] != 1 || len(got) != 3 {
		t.Fatalf("groups %v", got)
	}
	if len(rep.Target) != 3 || *rep.Target[0].OK {
		t.Fatalf("targets %+v", rep.Target)
	}
}

func TestStatsEmptyWindow(t *testing.T) {
	data, cfg := dataDir(t, trafficRows(time.Now().Add(-72*time.Hour)), nil, "")
	out, code, _ := runCmd(t, newStatsCmd, "--data", data, "--config", cfg)
	if code != 0 || !strings.Contains(out, "No requests recorded in this window.") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestStatsErrors(t *testing.T) {
	data, cfg := dataDir(t, nil, nil, "")
	badCfg := filepath.Join(t.TempDir(), "conductor.toml")
	if err := os.WriteFile(badCfg, []byte("[ai\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad grouping", []string{"--by", "colour"}, 2, `--by "colour"`},
		{"bad window", []string{"--since", "yesterday"}, 2, "--since"},
		{"negative window", []string{"--since", "-1h"}, 2, "positive"},
		{"missing store", []string{"--data", filepath.Join(t.TempDir(), "nope")}, 1, "no store at"},
		{"bad config", []string{"--config", badCfg}, 2, "conductor.toml"},
		{"missing config", []string{"--config", filepath.Join(t.TempDir(), "none.toml")}, 2, "none.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--data", data, "--config", cfg}, tt.args...)
			_, code, err := runCmd(t, newStatsCmd, args...)
			if code != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit %d, %v; want %d with %q", code, err, tt.code, tt.want)
			}
		})
	}
	// A missing store is not created by looking at it.
	missing := filepath.Join(t.TempDir(), "nope")
	runCmd(t, newStatsCmd, "--data", missing, "--config", cfg)
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("stats created %s", missing)
	}
}

// TestStatsDataFromConfig: without --data the config's data_dir is read,
// relative to the config file.
func TestStatsDataFromConfig(t *testing.T) {
	now := time.Now()
	data, cfg := dataDir(t, trafficRows(now), nil, "")
	if err := os.WriteFile(cfg, []byte(`data_dir = "`+filepath.Base(data)+`"`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code, err := runCmd(t, newStatsCmd, "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	var rep statsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Total.Requests != 14 {
		t.Fatalf("%v %+v", err, rep.Total)
	}
}

// TestAnalyticsCommandsRegistered: the commands run from the conductor
// command line, and usage errors exit 2.
func TestAnalyticsCommandsRegistered(t *testing.T) {
	data, cfg := dataDir(t, trafficRows(time.Now()), cacheEntries(time.Now()), "")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stats", "--data", data, "--config", cfg}, 0, "total"},
		{[]string{"cache", "stats", "--data", data, "--config", cfg}, 0, "entries"},
		{[]string{"doctor", "--data", data, "--config", cfg}, 0, "Gateway not caching?"},
		{[]string{"stats", "--bogus"}, 2, "unknown flag"},
		{[]string{"stats", "extra"}, 2, "unknown command"},
		{[]string{"doctor", "--since"}, 2, "flag needs an argument"},
		{[]string{"cache", "purge", "--scope", "x", "--expired", "--data", data, "--config", cfg}, 2, "cannot be combined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:2], " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := execute(context.Background(), tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tt.code, tt.want, out.String(), errOut.String())
			}
		})
	}
}

// Stats by key and team, and what the cache saved.
func TestStatsByKey(t *testing.T) {
	now := time.Now()
	row := func(id, key, team string, saved int64) conductor.LogRow {
		return conductor.LogRow{ID: id, Time: now.Add(-time.Hour), Gateway: "default", Provider: "openai", Model: "gpt-4o",
			Route: conductor.RoutingGateway, Status: 200, Success: true, Key: key, Team: team, Cached: saved > 0, SavedNanoUSD: saved,
			CostNanoUSD: 1_000_000}
	}
	data, cfg := dataDir(t, []conductor.LogRow{row("1", "ci", "research", 0), row("2", "ci", "research", 2_500_000), row("3", "app", "ops", 0)}, nil, "")
	for _, tt := range []struct{ by, want string }{
		{"key", "ci 2 50.0% 0.0% 0 0 $0.002000 $0.002500"},
		{"team", "ops 1 0.0% 0.0% 0 0 $0.001000 $0"},
	} {
		out, code, err := runCmd(t, newStatsCmd, "--data", data, "--config", cfg, "--by", tt.by)
		norm := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			norm[strings.Join(strings.Fields(l), " ")] = true
		}
		found := false
		for l := range norm {
			found = found || strings.HasPrefix(l, tt.want)
		}
		if code != 0 || !found {
			t.Errorf("--by %s: exit %d %v, no line %q in:\n%s", tt.by, code, err, tt.want, out)
		}
	}
}

// --by deployment groups the calls by the [[model]] deployment that
// served them.
func TestStatsByDeployment(t *testing.T) {
	now := time.Now()
	row := func(id, deployment string) conductor.LogRow {
		return conductor.LogRow{ID: id, Time: now.Add(-time.Hour), Gateway: "default", Provider: "openai", Model: "gpt-4o-mini",
			Route: conductor.RoutingGateway, Status: 200, Success: true, Deployment: deployment, CostNanoUSD: 1_000_000}
	}
	data, cfg := dataDir(t, []conductor.LogRow{row("1", "openai/gpt-4o-mini@OPENAI_API_KEY"), row("2", "openai/gpt-4o-mini@OPENAI_API_KEY_2"),
		row("3", "openai/gpt-4o-mini@OPENAI_API_KEY_2")}, nil, "")
	out, code, err := runCmd(t, newStatsCmd, "--data", data, "--config", cfg, "--by", "deployment")
	want := "openai/gpt-4o-mini@OPENAI_API_KEY_2 2 "
	found := false
	for _, l := range strings.Split(out, "\n") {
		found = found || strings.HasPrefix(strings.Join(strings.Fields(l), " ")+" ", want)
	}
	if code != 0 || !found {
		t.Errorf("exit %d %v, no line %q in:\n%s", code, err, want, out)
	}
}
