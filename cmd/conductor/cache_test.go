package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/sqlite"
)

func cacheEntries(now time.Time) []conductor.CacheEntry {
	e := func(key, scope string, expires time.Time) conductor.CacheEntry {
		return conductor.CacheEntry{Key: key, Scope: scope, Provider: "openai", Model: "gpt-4o",
			Value: []byte(`{"content":"hello"}`), CreatedAt: now.Add(-time.Hour), ExpiresAt: expires}
	}
	return []conductor.CacheEntry{
		e("k1", "my-gateway", now.Add(time.Hour)),
		e("k2", "my-gateway", time.Time{}),
		e("k3", "my-gateway", now.Add(-time.Minute)), // expired
		e("k4", "other", now.Add(time.Hour)),
		e("k5", "step", now.Add(-time.Second)), // expired
	}
}

func cacheStatsOf(t *testing.T, data string) conductor.CacheStats {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, dbName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.CacheStats(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestCacheStats(t *testing.T) {
	data, cfg := dataDir(t, nil, cacheEntries(time.Now()), "")
	out, code, err := runCmd(t, newCacheCmd, "stats", "--data", data, "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	for _, want := range []string{"entries  5 (2 expired", "my-gateway  3", "other       1", "step        1", "of 256.0 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The bound shown is the configured one.
	data2, cfg2 := dataDir(t, nil, cacheEntries(time.Now()), "[gateway]\ncache_max_bytes = 1_048_576\n")
	if out, code, err := runCmd(t, newCacheCmd, "stats", "--data", data2, "--config", cfg2); code != 0 || !strings.Contains(out, "of 1.0 MiB") {
		t.Errorf("with cache_max_bytes: exit %d %v:\n%s", code, err, out)
	}
	out, code, err = runCmd(t, newCacheCmd, "stats", "--json", "--data", data, "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	var cs conductor.CacheStats
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if cs.Entries != 5 || cs.Expired != 2 || cs.ByScope["my-gateway"] != 3 || cs.Bytes <= 0 {
		t.Fatalf("%+v", cs)
	}
}

func TestCachePurge(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		said      string
		remaining int64
		byScope   map[string]int64
	}{
		{"expired", []string{"--expired"}, "Deleted 2 expired entries.", 3, map[string]int64{"my-gateway": 2, "other": 1}},
		{"one scope", []string{"--scope", "my-gateway"}, `Deleted 3 entries of scope "my-gateway".`, 2, map[string]int64{"other": 1, "step": 1}},
		{"unknown scope", []string{"--scope", "nobody"}, `Deleted 0 entries of scope "nobody".`, 5, nil},
		{"everything", nil, "Deleted 5 entries.", 0, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, cfg := dataDir(t, nil, cacheEntries(time.Now()), "")
			out, code, err := runCmd(t, newCacheCmd, append([]string{"purge", "--data", data, "--config", cfg}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %v", code, err)
			}
			if strings.TrimSpace(out) != tt.said {
				t.Errorf("said %q, want %q", out, tt.said)
			}
			cs := cacheStatsOf(t, data)
			if cs.Entries != tt.remaining {
				t.Fatalf("%d entries left, want %d", cs.Entries, tt.remaining)
			}
			for s, n := range tt.byScope {
				if cs.ByScope[s] != n {
					t.Errorf("scope %s: %d, want %d", s, cs.ByScope[s], n)
				}
			}
		})
	}
}

func TestCacheUsageErrors(t *testing.T) {
	data, cfg := dataDir(t, nil, cacheEntries(time.Now()), "")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", nil, 2, "stats or purge"},
		{"empty scope", []string{"purge", "--scope", ""}, 2, "--scope needs a gateway id"},
		{"scope and expired", []string{"purge", "--scope", "g", "--expired"}, 2, "cannot be combined"},
		{"missing store", []string{"stats", "--data", filepath.Join(t.TempDir(), "x")}, 1, "no store at"},
		{"missing store, purge", []string{"purge", "--data", filepath.Join(t.TempDir(), "x")}, 1, "no store at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) > 0 {
				args = append([]string{args[0], "--data", data, "--config", cfg}, args[1:]...)
			}
			_, code, err := runCmd(t, newCacheCmd, args...)
			if code != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit %d, %v; want %d with %q", code, err, tt.code, tt.want)
			}
		})
	}
	// Nothing was deleted by the refused commands.
	if cs := cacheStatsOf(t, data); cs.Entries != 5 {
		t.Fatalf("%d entries left", cs.Entries)
	}
}

func TestBytesText(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 256 << 20: "256.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
