package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

const gatewayConfig = `
[[ai.gateway]]
id = "my-gateway"
cache_ttl = 3600
`

const limitedConfig = `
[[ai.gateway]]
id = "my-gateway"
cache_ttl = 3600
rate_limiting_requests_per_minute = 60

[[budget]]
name = "daily"
scope = "gateway"
daily_usd = 10
`

// rowsOf makes n copies of r, a minute apart, ending a minute ago.
func rowsOf(now time.Time, n int, r conductor.LogRow) []conductor.LogRow {
	out := make([]conductor.LogRow, n)
	for i := range out {
		out[i] = r
		out[i].Time = now.Add(-time.Duration(i+1) * time.Minute)
		if out[i].Gateway == "" {
			out[i].Gateway = "my-gateway"
		}
		if out[i].Status == 0 {
			out[i].Status = 200
		}
	}
	return out
}

func join(parts ...[]conductor.LogRow) []conductor.LogRow {
	var out []conductor.LogRow
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDoctor(t *testing.T) {
	now := time.Now()
	upstream := conductor.LogRow{Provider: "openai", Model: "gpt-4o", Success: true, Attempts: 1, InputTokens: 300,
		OutputTokens: 400, CostNanoUSD: 4_750_000, Latency: 1200 * time.Millisecond, TTFB: 300 * time.Millisecond}
	with := func(r conductor.LogRow, f func(*conductor.LogRow)) conductor.LogRow { f(&r); return r }
	hit := with(upstream, func(r *conductor.LogRow) {
		r.Cached, r.CostNanoUSD, r.Latency, r.TTFB = true, 0, 4*time.Millisecond, 4*time.Millisecond
	})
	miss := func(reason string) conductor.LogRow {
		return with(upstream, func(r *conductor.LogRow) { r.MissReason = reason })
	}
	tests := []struct {
		name   string
		config string
		rows   []conductor.LogRow
		want   []string // phrases of the text report
		not    []string
	}{
		{
			name: "no gateway configured: TTL 0", config: "",
			rows: rowsOf(now, 10, with(miss("ttl_0"), func(r *conductor.LogRow) { r.Gateway = "default" })),
			want: []string{"No [[ai.gateway]] is configured", "10 requests (100%) had caching off: TTL 0 (cause 2)",
				"Gateway default has no cache_ttl", "gateway default: built in, not in the config, cache_ttl 0s",
				"No request was answered from the cache", "went on requests a cache could have answered",
				"No spending limits are configured"},
			not: []string{"were new keys"},
		},
		{
			name: "the calls ask for TTL 0 themselves", config: gatewayConfig,
			rows: rowsOf(now, 4, miss("ttl_0")),
			want: []string{"The gateway has a TTL, so these calls asked for 0 themselves", "gateway my-gateway: built in, configured, cache_ttl 1h0m0s"},
			not:  []string{"No [[ai.gateway]] is configured"},
		},
		{
			name: "new keys, bypass, expired, failed streams", config: gatewayConfig,
			rows: join(rowsOf(now, 6, miss("new_key")), rowsOf(now, 2, miss("bypass")), rowsOf(now, 3, miss("expired")),
				rowsOf(now, 1, with(miss("stream_error"), func(r *conductor.LogRow) { r.Success, r.ErrorClass = false, "stream_cut" })),
				rowsOf(now, 2, hit)),
			want: []string{"2 hits, 6 new_key, 3 expired, 2 bypass, 1 stream_error", "6 requests (43%) were new keys",
				"something in them varies", "2 requests (14%) skipped the cache on purpose", "3 requests (21%) found their entry expired",
				"1 streamed answers failed mid-way", "The cache saved about $0.009500: 2 hits"},
		},
		{
			name: "caching works", config: limitedConfig,
			rows: join(rowsOf(now, 9, hit), rowsOf(now, 1, miss("new_key"))),
			want: []string{"The cache answers 90% of lookups: above the 80% target", "No request was refused with 429",
				"p95 is 1.20s: within the 3 s target", "Cache hits answer in 4ms on average against 1.20s upstream"},
			not: []string{"No spending limits", "were new keys", "could have answered"},
		},
		{
			name: "whose 429s: ours and the provider's, no gateway limit", config: gatewayConfig,
			rows: join(rowsOf(now, 5, miss("new_key")),
				rowsOf(now, 3, conductor.LogRow{Provider: "openai", Model: "gpt-4o", Status: 429, ErrorClass: "limited", User: "secret-user-1"}),
				rowsOf(now, 1, conductor.LogRow{Provider: "openai", Model: "gpt-4o", Status: 429, ErrorClass: "budget"}),
				rowsOf(now, 4, conductor.LogRow{Provider: "groq", Model: "llama-3.1-70b-versatile", Status: 429, ErrorClass: "rate_limited", Attempts: 3}),
				rowsOf(now, 1, conductor.LogRow{Provider: "openai", Model: "gpt-4o", Status: 429, ErrorClass: "quota"})),
			want: []string{"ours: 3 rate limit, 1 spend limit; the provider's: 4 rate_limited, 1 quota",
				"3 of the 429s are ours: the gateway's own rate limit refused them, for 1 users",
				"1 of the 429s are ours: a spend limit", "5 of the 429s are the provider's (groq 4, openai 1)",
				"cause 2: no rate limiting in the gateway", "1 are the provider's insufficient_quota",
				"9 requests never reached the cache"},
			not: []string{"secret-user-1"},
		},
		{
			name: "provider 429s with a gateway limit set", config: limitedConfig,
			rows: rowsOf(now, 2, conductor.LogRow{Provider: "groq", Model: "llama-3.1-70b-versatile", Status: 429, ErrorClass: "rate_limited"}),
			want: []string{"The gateway's limit is above what the provider allows"},
			not:  []string{"no rate limiting in the gateway"},
		},
		{
			name: "latency: slow first bytes, retries, fallbacks", config: gatewayConfig,
			rows: join(
				rowsOf(now, 4, conductor.LogRow{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Success: true, Attempts: 1,
					MissReason: "new_key", Latency: 6 * time.Second, TTFB: 5 * time.Second, OutputTokens: 300, CostNanoUSD: 5_000_000}),
				rowsOf(now, 2, conductor.LogRow{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Success: true, Attempts: 3, Step: 1,
					MissReason: "new_key", Latency: 9 * time.Second, TTFB: 8 * time.Second, OutputTokens: 300, CostNanoUSD: 5_000_000}),
				rowsOf(now, 4, conductor.LogRow{Provider: "workers-ai", Model: "@cf/meta/llama-3.1-8b-instruct", Success: true, Attempts: 1,
					MissReason: "new_key", Latency: 200 * time.Millisecond, TTFB: 20 * time.Millisecond, OutputTokens: 300})),
			want: []string{"p95 is 9.00s: over the 3 s target", "6 requests took over 5 s",
				"The slowest upstream is anthropic (p95 9.00s, 6 answers): 86% of its time goes to the first byte",
				"waiting for the first byte", "2 requests needed retries (4 extra attempts) and took 9.00s on average against 3.10s",
				"2 requests were answered by a fallback", "claude-3-5-sonnet-20241022 is 100% of the cost"},
		},
		{
			name: "latency in the generation", config: gatewayConfig,
			rows: rowsOf(now, 3, miss("new_key")),
			want: []string{"25% of its time goes to the first byte, so most of it is generating the answer"},
		},
		{
			name: "cost: a flagship model on short answers, unpriced models", config: limitedConfig,
			rows: join(rowsOf(now, 6, with(miss("new_key"), func(r *conductor.LogRow) { r.OutputTokens = 5 })),
				rowsOf(now, 2, conductor.LogRow{Provider: "openai", Model: "my-finetune", Success: true, MissReason: "new_key", CostFlagged: true, CostNanoUSD: 1000})),
			want: []string{"gpt-4o (6 answers of 5 output tokens on average): short answers from a flagship model",
				"2 requests were priced by the default price", "gpt-4o is 100% of the cost: $0.028500 over 6 requests"},
			not: []string{"my-finetune (", "No spending limits"},
		},
		{
			name: "nothing recorded", config: gatewayConfig,
			rows: rowsOf(now.Add(-48*time.Hour), 3, hit),
			want: []string{"No requests recorded in this window: nothing to diagnose"},
			not:  []string{"Gateway not caching?"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, cfg := dataDir(t, tt.rows, nil, tt.config)
			out, code, err := runCmd(t, newDoctorCmd, "--data", data, "--config", cfg)
			if code != 0 {
				t.Fatalf("exit %d: %v\n%s", code, err, out)
			}
			flat := strings.Join(strings.Fields(out), " ")
			for _, w := range tt.want {
				if !strings.Contains(flat, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(flat, w) {
					t.Errorf("report has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDoctorJSON(t *testing.T) {
	now := time.Now()
	rows := trafficRows(now)
	data, cfg := dataDir(t, rows, nil, gatewayConfig)
	out, code, err := runCmd(t, newDoctorCmd, "--data", data, "--config", cfg, "--json", "--since", "1d")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Summary.Requests != 14 || rep.Examined != 14 || rep.Truncated {
		t.Fatalf("summary %+v examined %d", rep.Summary.Figures, rep.Examined)
	}
	c := rep.Caching
	if c.Hits != 6 || c.Misses["new_key"] != 2 || c.Misses["ttl_0"] != 4 || c.NoCache != 2 {
		t.Errorf("caching %+v", c)
	}
	if l := rep.Limits; l.Ours["limited"] != 1 || l.Provider["rate_limited"] != 1 || l.ByProvider["groq"] != 1 || l.UsersLimited != 1 {
		t.Errorf("limits %+v", l)
	}
	if l := rep.Latency; len(l.ByProvider) != 2 || l.ByProvider[0].Provider != "anthropic" || l.Slow != 2 {
		t.Errorf("latency %+v", l)
	}
	if c := rep.Cost; len(c.ByModel) != 3 || c.ByModel[0].Model != "claude-3-5-sonnet-20241022" || !near(c.CacheableUSD, 0.042) {
		t.Errorf("cost %+v", c)
	}
	if strings.Contains(out, "alice") {
		t.Error("the report names a user")
	}
}

func TestDoctorUsage(t *testing.T) {
	data, cfg := dataDir(t, nil, nil, "")
	for _, args := range [][]string{{"--since", "soon"}, {"--since", "0s"}} {
		_, code, err := runCmd(t, newDoctorCmd, append([]string{"--data", data, "--config", cfg}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
	}
	_, code, _ := runCmd(t, newDoctorCmd, "--data", t.TempDir(), "--config", cfg)
	if code != 1 {
		t.Errorf("missing store: exit %d, want 1", code)
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }
