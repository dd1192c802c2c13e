package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/workersai"
	"github.com/conductor-go/conductor/store/sqlite"
)

const setupTOML = `
environment = "production"

[[ai.gateway]]
id = "my-gateway"
cache_ttl = 3600
rate_limiting_requests_per_minute = 60
rate_limiting_technique = "sliding"
rate_limiting_tokens_per_minute = 100_000
rate_limiting_per_user = true
max_attempts = 4
retry_delay = "250ms"
backoff = "linear"

[[ai.gateway]]
id = "batch"
rate_limiting_limit = 100
rate_limiting_interval = "30s"
rate_limiting_tokens_per_minute = 1000

[gateway]
log_retention = "720h"
user_header = "X-User"

[server]
tokens_env = "MY_TOKENS"
allow_caller_keys = true
max_body_bytes = 2048
request_timeout = "45s"

[pricing]
default_input = 2.0
default_output = 4.0

[[pricing.model]]
provider = "openai"
model = "gpt-4o"
input = 1.0
output = 2.0

[[budget]]
name = "prod-daily"
scope = "environment"
match = "production"
daily_usd = 25.0
monthly_usd = 500
alerts = [0.5, 0.9]
webhook = "https://hooks.example.com/budget"

[[budget]]
name = "batch-only"
scope = "gateway"
match = "batch"
daily_usd = 5
alerts = [1.0]
`

func TestGatewayConfigsFromConfig(t *testing.T) {
	cfg, err := config.Parse("conductor.toml", []byte(setupTOML), false)
	if err != nil {
		t.Fatal(err)
	}
	prices, err := pricing.FromConfig(cfg.Pricing)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := prices.Lookup("openai", "gpt-4o"); !ok || p.Input != 1 || p.Output != 2 {
		t.Errorf("[[pricing.model]] override: %+v %v", p, ok)
	}
	if cost, known := prices.Cost("acme", "unknown", conductor.Usage{InputTokens: 1_000_000}); known || cost != 2_000_000_000 {
		t.Errorf("default price: %d %v", cost, known)
	}
	configs, template := gateway.Configs(cfg, config.MapEnv(nil), prices)
	if len(configs) != 3 || configs[0].ID != gateway.DefaultID {
		t.Fatalf("gateways %+v", configs)
	}
	def, mg, batch := configs[0], configs[1], configs[2]
	if mg.ID != "my-gateway" || mg.CacheTTL != time.Hour || mg.Environment != "production" || mg.LogRetention != 720*time.Hour {
		t.Errorf("my-gateway %+v", mg)
	}
	if mg.Retry.MaxAttempts != 4 || mg.Retry.Delay != 250*time.Millisecond || mg.Retry.Backoff != "linear" {
		t.Errorf("retry %+v", mg.Retry)
	}
	if rl := mg.RateLimit; rl.UserRequests != 60 || rl.UserTokens != 100_000 || rl.Requests != 0 || rl.Window != time.Minute || rl.Kind != conductor.WindowSliding {
		t.Errorf("per-user rate limit %+v", rl)
	}
	// 1000 tokens a minute over a 30 s window.
	if rl := batch.RateLimit; rl.Requests != 100 || rl.Tokens != 500 || rl.Window != 30*time.Second || rl.Kind != conductor.WindowFixed {
		t.Errorf("batch rate limit %+v", rl)
	}
	// No gateway holds budgets of its own: they are the shared limits,
	// the gateway-scoped one naming batch.
	if len(mg.Budgets)+len(batch.Budgets)+len(def.Budgets)+len(template.Budgets) != 0 {
		t.Errorf("budgets: my-gateway %+v, batch %+v, default %+v, template %+v", mg.Budgets, batch.Budgets, def.Budgets, template.Budgets)
	}
	// Gateways no entry declares get the default gateway's (the first
	// entry's) settings.
	if template.ID != "" || template.CacheTTL != time.Hour || template.RateLimit != mg.RateLimit || template.Retry != mg.Retry {
		t.Errorf("template %+v", template)
	}
	limits := gateway.LimitsFromConfig(cfg, config.MapEnv(nil))
	want := []gateway.Budget{
		{Name: "prod-daily", Scope: "environment", Match: "production", Period: "day", LimitUSD: 25, Alerts: []float64{0.5, 0.9}, Webhook: "https://hooks.example.com/budget"},
		{Name: "prod-daily", Scope: "environment", Match: "production", Period: "month", LimitUSD: 500, Alerts: []float64{0.5, 0.9}, Webhook: "https://hooks.example.com/budget"},
		{Name: "batch-only", Scope: "gateway", Match: "batch", Period: "day", LimitUSD: 5, Alerts: []float64{1.0}},
	}
	if fmt.Sprint(limits.Budgets) != fmt.Sprint(want) {
		t.Errorf("limits\n%+v\nwant\n%+v", limits.Budgets, want)
	}
	set, err := gateway.NewSet(nilStore(t), configs, template)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.SetLimits(limits); err != nil {
		t.Errorf("the gateway refuses the translated limits: %v", err)
	}
}

func nilStore(t *testing.T) conductor.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestFromConfig(t *testing.T) {
	cfg, err := config.Parse("conductor.toml", []byte(setupTOML), false)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakes(t)
	env := f.env()
	env["MY_TOKENS"] = "alice=tok-a, tok-b"
	st := nilStore(t)
	opts, set, err := FromConfig(cfg, config.MapEnv(env), st, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close(context.Background())
	if !opts.AllowCallerKeys || opts.MaxBodyBytes != 2048 || opts.RequestTimeout != 45*time.Second || opts.UserHeader != "X-User" || opts.Engine.Resolver == nil {
		t.Errorf("options %+v", opts)
	}
	if want := []Token{{Name: "alice", Value: "tok-a"}, {Name: "token-2", Value: "tok-b"}}; len(opts.Tokens) != 2 ||
		opts.Tokens[0].Name != want[0].Name || opts.Tokens[0].Value != want[0].Value || opts.Tokens[1].Name != want[1].Name || opts.Tokens[1].Value != want[1].Value {
		t.Errorf("tokens %+v", opts.Tokens)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	// The configured gateway's cache, through the server.
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	ts := &testServer{Server: s, fakes: f, url: hs.URL}
	for range 2 {
		ts.post(t, "/v1/acct/my-gateway/openai/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`,
			"cf-aig-authorization", "Bearer tok-b")
	}
	if n := f.count("openai"); n != 1 {
		t.Errorf("my-gateway caches for an hour: %d upstream calls", n)
	}
	resp, _ := ts.post(t, "/v1/chat/completions", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"`+strings.Repeat("x", 3000)+`"}]}`,
		"Authorization", "Bearer tok-a")
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("max_body_bytes: %d", resp.StatusCode)
	}
}

// The Workers AI format's own encoders, for answers that carry no wire
// bytes of their own, read back by the provider's decoders.
func TestWorkersAIEncoders(t *testing.T) {
	resp := &conductor.ChatResponse{Content: conductor.Texts("line\n\"quoted\""), Usage: conductor.Usage{InputTokens: 4, OutputTokens: 2}}
	body, err := encodeWorkersAIAnswer(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := workersai.DecodeResponse(body)
	if err != nil || got.Text() != resp.Text() || got.Usage.InputTokens != 4 || got.Usage.OutputTokens != 2 {
		t.Errorf("answer %+v %v", got, err)
	}
	rec := httptest.NewRecorder()
	sw := newSSE(rec)
	out := workersai.NewStreamWriter(sw)
	out.Begin(conductor.ResponseMeta{})
	out.Chunk(conductor.Chunk{Delta: "Hel"})
	out.Chunk(conductor.Chunk{Delta: "lo", Usage: &conductor.Usage{InputTokens: 3, OutputTokens: 2}})
	out.End()
	_ = sw.flush()
	var text string
	var usage *conductor.Usage
	done := false
	for _, ev := range parseSSE(t, rec.Body.Bytes()) {
		ch, emit, end, err := workersai.DecodeStreamEvent(provider.Event{Name: ev.Name, Data: []byte(ev.Data)})
		if err != nil {
			t.Fatal(err)
		}
		if emit {
			text += ch.Delta
			if ch.Usage != nil {
				usage = ch.Usage
			}
		}
		done = done || end
	}
	if text != "Hello" || usage == nil || usage.OutputTokens != 2 || !done {
		t.Errorf("stream text %q usage %+v done %v", text, usage, done)
	}
}

func TestWorkersAIStreamFailsMidway(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	ts.fakes.push("workers-ai", canned{file: "workersai/stream_error.sse"})
	resp, got := ts.post(t, cfBase+"/workers-ai/@cf/meta/llama-3.1-8b-instruct", `{"prompt":"x","stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	events := parseSSE(t, got)
	last := events[len(events)-1]
	if last.Name != "error" || !strings.Contains(last.Data, "Capacity temporarily exceeded") || strings.Contains(string(got), "[DONE]") {
		t.Errorf("stream %s", got)
	}
}

// [[model]] aliases and fallback chains and [[split]] variants from the
// config answer as `model`, through the gateway, each logged once.
// modelsAndSplits declares an alias, a fallback chain and a split.
const modelsAndSplits = `
[[ai.gateway]]
id = "default"
max_attempts = 1

[[model]]
name = "fast"
routes = ["groq/llama-3.1-8b-instant"]

[[model]]
name = "reliable"
routes = ["openai/gpt-4o", "anthropic/claude-3-5-sonnet-20241022"]

[[split]]
name = "ab"

[[split.variant]]
name = "mini"
provider = "openai"
model = "gpt-4o-mini"
weight = 1

[[split.variant]]
name = "big"
provider = "openai"
model = "gpt-4o"
weight = 1
temperature = 0.1
`

func TestFromConfigModelsAndSplits(t *testing.T) {
	cfg, err := config.Parse("conductor.toml", []byte(modelsAndSplits), false)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakes(t)
	st := nilStore(t)
	opts, set, err := FromConfig(cfg, config.MapEnv(f.env()), st, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	ts := &testServer{Server: s, fakes: f, url: hs.URL}

	resp, body := ts.post(t, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"alias"}]}`)
	if resp.StatusCode != 200 || f.count("groq") != 1 || !strings.Contains(string(f.last("groq").Body), `"model":"llama-3.1-8b-instant"`) {
		t.Errorf("alias: %d %s; groq calls %d", resp.StatusCode, body, f.count("groq"))
	}

	f.push("openai", canned{status: 503, file: "openai/error_500.json"})
	resp, body = ts.post(t, "/v1/chat/completions", `{"model":"reliable","messages":[{"role":"user","content":"chain"}]}`)
	if resp.StatusCode != 200 || f.count("anthropic") != 1 || resp.Header.Get("cf-aig-step") != "1" {
		t.Errorf("fallback chain: %d %s step %q; anthropic calls %d", resp.StatusCode, body, resp.Header.Get("cf-aig-step"), f.count("anthropic"))
	}

	for i := range 6 {
		resp, body = ts.post(t, "/v1/chat/completions", `{"model":"ab","user":"u`+strconv.Itoa(i)+`","messages":[{"role":"user","content":"split"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("split: %d %s", resp.StatusCode, body)
		}
	}
	if err := set.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := st.RecentLogs(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]int{}
	for _, r := range rows {
		if r.Variant != "" {
			variants[r.Variant]++
		}
	}
	if variants["ab/mini"]+variants["ab/big"] != 6 || len(variants) > 2 {
		t.Errorf("split rows by variant: %v", variants)
	}
}

// An ensemble member run by serve may name a [[split]] or a [[model]]
// alias, as under `conductor run`: the split serves it and the result
// names the variant.
func TestServeEnsembleMemberNamesSplit(t *testing.T) {
	cfg, err := config.Parse("conductor.toml", []byte(modelsAndSplits), false)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakes(t)
	opts, _, err := FromConfig(cfg, config.MapEnv(f.env()), nilStore(t), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ens := "name: pick\nflow:\n  - member: a\n    config:\n      provider: openai\n      model: ab\n      prompt: \"Hi\"\n" +
		"  - member: b\n    config:\n      provider: groq\n      model: fast\n      prompt: \"Hi\"\n"
	if err := os.WriteFile(filepath.Join(dir, "pick.yaml"), []byte(ens), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.EnsemblesDir = dir
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	resp, body := postTo(t, hs.URL+"/v1/ensembles/pick/run", `{}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `"variant":"ab/mini"`) && !strings.Contains(string(body), `"variant":"ab/big"`) {
		t.Errorf("member a's result names no variant: %s", body)
	}
	if f.count("openai") != 1 || !strings.Contains(string(f.last("openai").Body), `"model":"gpt-4o`) {
		t.Errorf("the split did not serve member a: %d openai calls", f.count("openai"))
	}
	if f.count("groq") != 1 || !strings.Contains(string(f.last("groq").Body), `"model":"llama-3.1-8b-instant"`) {
		t.Errorf("the alias did not serve member b: %d groq calls", f.count("groq"))
	}
}
