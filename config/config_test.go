package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func sec(n int64) Duration { return Seconds(n) }

func ptrTo[T any](v T) *T { return &v }

// The page's wrangler.toml snippets, read as conductor.toml and as
// wrangler.toml: both give the same [ai] settings.
func TestPageSnippets(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want AI
	}{
		{"binding", "[ai]\nbinding = \"AI\"\n", AI{Binding: "AI"}},
		{"gateway cache", "[[ai.gateway]]\nid = \"my-gateway\"\ncache_ttl = 3600\n",
			AI{Binding: "AI", Gateways: []Gateway{{ID: "my-gateway", CacheTTL: sec(3600), RateLimitingTechnique: "fixed"}}}},
		{"gateway cache with comment", "# wrangler.toml\n[[ai.gateway]]\nid = \"my-gateway\"\ncache_ttl = 3600  # Enable caching\n",
			AI{Binding: "AI", Gateways: []Gateway{{ID: "my-gateway", CacheTTL: sec(3600), RateLimitingTechnique: "fixed"}}}},
		{"rate limit", "[[ai.gateway]]\nid = \"my-gateway\"\nrate_limiting_requests_per_minute = 60\n",
			AI{Binding: "AI", Gateways: []Gateway{{ID: "my-gateway", RateLimitingRequestsPerMinute: 60, RateLimitingTechnique: "fixed"}}}},
	}
	for _, tt := range tests {
		for _, file := range []string{"conductor.toml", "wrangler.toml"} {
			t.Run(tt.name+"/"+file, func(t *testing.T) {
				c, err := Parse(file, []byte(tt.doc), file == "wrangler.toml")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c.AI, tt.want) {
					t.Errorf("AI = %+v\nwant %+v", c.AI, tt.want)
				}
			})
		}
	}
	c, err := Parse("wrangler.toml", []byte("[[ai.gateway]]\nid = \"my-gateway\"\nrate_limiting_requests_per_minute = 60\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	limit, window, technique := c.AI.Gateways[0].RateLimit()
	if limit != 60 || window.Std() != time.Minute || technique != "fixed" {
		t.Errorf("RateLimit() = %d, %s, %s; want 60, 1m, fixed", limit, window, technique)
	}
}

func TestWranglerFile(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "wrangler.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Wrangler || c.AI.Binding != "AI" || len(c.AI.Gateways) != 1 || c.AI.Gateways[0].CacheTTL.Std() != time.Hour {
		t.Errorf("got %+v", c.AI)
	}
	// wrangler's [vars] ENVIRONMENT is wrangler's, not ours.
	if c.Environment != "" || c.DataDir != DefaultDataDir {
		t.Errorf("wrangler keys leaked into the config: environment %q data_dir %q", c.Environment, c.DataDir)
	}
	// The same file as conductor.toml: wrangler's keys are unknown there.
	data, _ := os.ReadFile(filepath.Join("testdata", "wrangler.toml"))
	_, err = Parse("conductor.toml", data, false)
	if err == nil || !strings.Contains(err.Error(), `conductor.toml:2:1: unknown key "name" at the top level`) {
		t.Errorf("err = %v", err)
	}
}

func TestFullFile(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File: filepath.Join("testdata", "full.toml"), Dir: "testdata",
		DataDir: "state", Environment: "production",
		AI: AI{
			Binding: "AI", AccountID: "0123456789abcdef0123456789abcdef", APITokenEnv: "CF_TOKEN",
			URL:   "http://localhost:11434/v1/",
			Model: map[string]string{"@cf/meta/llama-3.1-8b-instruct": "llama3.1:8b"},
			Gateways: []Gateway{
				{ID: "my-gateway", CacheTTL: sec(3600), RateLimitingRequestsPerMinute: 60, RateLimitingTechnique: "sliding",
					RateLimitingTokensPerMinute: 100000, RateLimitingPerUser: true, MaxAttempts: 3,
					RetryDelay: Duration{500 * time.Millisecond}, Backoff: "exponential", RequestTimeout: sec(30)},
				{ID: "hosted", AccountID: "acct-1", TokenEnv: "CF_AIG_TOKEN", URL: "https://gw.example.com/v1", BYOK: true,
					RateLimitingLimit: 100, RateLimitingInterval: sec(10), RateLimitingTechnique: "fixed"},
			},
		},
		Gateway: GatewayDefaults{Default: "hosted", CacheMaxBytes: 1000000, LogRetention: ptrTo(sec(720 * 3600)), UserHeader: "X-User"},
		Providers: Providers{
			"openai":     {BaseURL: "https://openai.example.com/v1", APIKeyEnv: "MY_OPENAI_KEY", FirstByteTimeout: sec(20), Timeout: sec(120)},
			"anthropic":  {APIKeyFile: "keys/anthropic", FirstByteTimeout: sec(300), Timeout: sec(600)},
			"groq":       {FirstByteTimeout: sec(60), Timeout: sec(60)},
			"workers-ai": {BaseURL: "https://cf.example.com/client/v4", FirstByteTimeout: sec(300), Timeout: sec(600)},
			"local":      {BaseURL: "http://127.0.0.1:8080/v1", FirstByteTimeout: sec(300), Timeout: sec(600)},
		},
		Server: Server{Addr: ":9000", TokensEnv: "MY_TOKENS", AllowCallerKeys: true, MaxBodyBytes: 1 << 20, RequestTimeout: Duration{2 * time.Minute}},
		Budgets: []Budget{
			{Name: "prod-daily", Scope: "environment", Match: "production", DailyUSD: 25, MonthlyUSD: 500,
				Alerts: []float64{0.5, 0.9}, Webhook: "https://hooks.example.com/budget"},
			{Name: "openai", Scope: "provider", Match: "openai", MonthlyUSD: 100, Alerts: []float64{0.5, 0.8, 1.0}, WebhookEnv: "BUDGET_WEBHOOK"},
		},
		Pricing: Pricing{DefaultInput: ptr(1.0), DefaultOutput: ptr(2.0),
			Models: []ModelPrice{{Provider: "openai", Model: "gpt-4o", Input: 2.5, Output: 10, CachedInput: ptr(1.25)}}},
		Splits: []Split{{Name: "summarize-ab", Gateway: "my-gateway", Variants: []SplitVariant{
			{Name: "gpt4o", Provider: "openai", Model: "gpt-4o", Weight: 50, Temperature: ptr(0.7), MaxTokens: 512,
				SystemPrompt: "Summarize in three bullet points."},
			{Name: "claude", Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Weight: 50},
		}}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if g, ok := c.DefaultGateway(); !ok || g.ID != "hosted" || !g.Hosted() {
		t.Errorf("DefaultGateway = %+v, %v", g, ok)
	}
	if got := c.DataPath(); got != filepath.Join("testdata", "state") {
		t.Errorf("DataPath = %q", got)
	}
	limit, window, technique := c.AI.Gateways[1].RateLimit()
	if limit != 100 || window.Std() != 10*time.Second || technique != "fixed" {
		t.Errorf("RateLimit = %d %s %s", limit, window, technique)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.DataDir != "./.conductor" || c.AI.Binding != "AI" || c.Server.Addr != DefaultAddr || c.Server.MaxBodyBytes != DefaultBodySize {
		t.Errorf("Default() = %+v", c)
	}
	g, ok := c.DefaultGateway()
	if ok || g.ID != "default" || g.Hosted() {
		t.Errorf("DefaultGateway() = %+v, %v; want the built-in default", g, ok)
	}
	fb, total := c.Timeouts("openai")
	if fb != 300*time.Second || total != 600*time.Second {
		t.Errorf("Timeouts = %s %s", fb, total)
	}
	// An empty file is the defaults too.
	e, err := Parse("conductor.toml", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	e.File = ""
	if !reflect.DeepEqual(e, c) {
		t.Errorf("empty file = %+v\nwant %+v", e, c)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		wrangler bool
		want     []string // each a whole line of the error
	}{
		{"unknown top-level key", "datadir = \"x\"\n", false,
			[]string{`f.toml:1:1: unknown key "datadir" at the top level (expected one of: data_dir, environment, ai, providers, server, gateway, store, log, budget, team, rate_limit, pricing, split, model)`}},
		{"unknown gateway key", "[ai]\nbinding = \"AI\"\n\n[[ai.gateway]]\nid = \"g\"\n  cache_tll = 60\n", false,
			[]string{`f.toml:6:3: unknown key "cache_tll" in [[ai.gateway]] (expected one of: id, account_id, token_env, token_file, url, byok, cache_ttl, cache_scope, rate_limiting_requests_per_minute, rate_limiting_limit, rate_limiting_interval, rate_limiting_technique, rate_limiting_tokens_per_minute, rate_limiting_per_user, max_attempts, retry_delay, backoff, request_timeout, idle_timeout, total_timeout)`}},
		{"unknown key in wrangler [ai]", "name = \"w\"\n[ai]\nbinding = \"AI\"\nbindings = \"X\"\n", true,
			[]string{`f.toml:4:1: unknown key "bindings" in [ai] (expected one of: binding, remote, account_id, api_token_env, api_token_file, url, model, gateway)`}},
		{"several unknown keys", "a = 1\n[server]\nport = 1\n", false,
			[]string{`f.toml:1:1: unknown key "a" at the top level (expected one of: data_dir, environment, ai, providers, server, gateway, store, log, budget, team, rate_limit, pricing, split, model)`,
				`f.toml:3:1: unknown key "port" in [server] (expected one of: addr, tokens_env, tokens_file, allow_caller_keys, max_body_bytes, request_timeout, default_provider, auto_gateways, token_gateways, admin_token_env, admin_token_file, cors_origins, allowed_hosts)`}},
		{"unknown provider", "[providers.mistral]\nbase_url = \"https://x\"\n", false,
			[]string{`f.toml:1:2: unknown key "mistral" in [providers] (expected one of: workers-ai, openai, anthropic, groq, local)`}},
		{"type: string", "[ai]\nbinding = 3\n", false, []string{`f.toml:2:11: ai.binding: expected a string, got an integer`}},
		{"type: integer", "[[ai.gateway]]\nid = \"g\"\nmax_attempts = \"3\"\n", false,
			[]string{`f.toml:3:16: ai.gateway.max_attempts: expected an integer, got a string`}},
		{"type: bool", "[server]\nallow_caller_keys = \"yes\"\n", false,
			[]string{`f.toml:2:21: server.allow_caller_keys: expected true or false, got a string`}},
		{"duration string", "[[ai.gateway]]\nid = \"g\"\ncache_ttl = \"an hour\"\n", false,
			[]string{`f.toml:3:13: ai.gateway.cache_ttl: expected a duration such as "30s" or "1h", or a number of seconds`}},
		{"duration bool", "[[ai.gateway]]\nid = \"g\"\ncache_ttl = true\n", false,
			[]string{`f.toml:3:1: ai.gateway[0].cache_ttl: expected a duration such as "30s" or "1h", or a number of seconds`}},
		{"duration negative", "[providers.openai]\ntimeout = -5\n", false,
			[]string{`f.toml:2:1: providers.openai.timeout: a duration cannot be negative`}},
		{"syntax", "[ai\nbinding = 1\n", false, []string{`f.toml:1:4: expected ']' to close table name`}},
		{"gateway without id", "[[ai.gateway]]\ncache_ttl = 60\n", false,
			[]string{`f.toml:1:3: ai.gateway[0]: every [[ai.gateway]] needs an id (id = "my-gateway")`}},
		{"bad values", "[[ai.gateway]]\nid = \"my gateway\"\nbackoff = \"fast\"\nrate_limiting_technique = \"leaky\"\nmax_attempts = 9\ncache_scope = \"tenant\"\n", false,
			[]string{`f.toml:2:1: ai.gateway[0].id: expected a gateway id: letters, digits, - and _ only, at most 64`,
				`f.toml:3:1: ai.gateway[0].backoff: expected "constant", "linear" or "exponential"`,
				`f.toml:4:1: ai.gateway[0].rate_limiting_technique: expected "fixed" or "sliding"`,
				`f.toml:5:1: ai.gateway[0].max_attempts: expected 1 to 5 attempts (0: the default)`,
				`f.toml:6:1: ai.gateway[0].cache_scope: expected "gateway", "team", "key" or "user"`}},
		{"both rate limits", "[[ai.gateway]]\nid = \"g\"\nrate_limiting_requests_per_minute = 60\nrate_limiting_limit = 10\n", false,
			[]string{`f.toml:4:1: ai.gateway[0].rate_limiting_limit: set either rate_limiting_requests_per_minute or rate_limiting_limit with rate_limiting_interval, not both`}},
		{"duplicate gateway", "[[ai.gateway]]\nid = \"g\"\n[[ai.gateway]]\nid = \"g\"\n", false,
			[]string{`f.toml:4:1: ai.gateway[1].id: gateway id "g" is used twice`}},
		{"default gateway unknown", "[gateway]\ndefault = \"nope\"\n", false,
			[]string{`f.toml:2:1: gateway.default: no [[ai.gateway]] has id "nope"`}},
		{"default provider unknown", "[server]\ndefault_provider = \"ollama\"\n", false,
			[]string{`f.toml:2:1: server.default_provider: unknown provider (expected one of: workers-ai, openai, anthropic, groq, local, mock)`}},
		{"bad url", "[providers.openai]\nbase_url = \"api.openai.com/v1\"\n", false,
			[]string{`f.toml:2:1: providers.openai.base_url: expected an http:// or https:// URL`}},
		{"bad env name", "[providers.groq]\napi_key_env = \"GROQ KEY\"\n", false,
			[]string{`f.toml:2:1: providers.groq.api_key_env: expected the name of an environment variable, such as OPENAI_API_KEY`}},
		{"log durability", "[log]\ndurability = \"fsync\"\n", false,
			[]string{`f.toml:2:1: log.durability: unknown durability "fsync" (expected "async" or "sync")`}},
		{"cors origins", "[server]\ncors_origins = [\"https://ok.example\", \"app.example\", \"https://x.example/path\"]\nallowed_hosts = [\"gw.internal:8787\"]\n", false,
			[]string{`f.toml:2:39: server.cors_origins[1]: expected an origin such as "https://app.example.com" (scheme://host[:port], no path), or "*"`,
				`f.toml:2:54: server.cors_origins[2]: expected an origin such as "https://app.example.com" (scheme://host[:port], no path), or "*"`,
				`f.toml:3:18: server.allowed_hosts[0]: expected a host name such as "gateway.internal" (no scheme, no port), or "*"`}},
		{"bad addr", "[server]\naddr = \"8787\"\n", false,
			[]string{`f.toml:2:1: server.addr: expected host:port such as "127.0.0.1:8787" or ":8787"`}},
		{"budget", "[[budget]]\nname = \"b\"\nscope = \"teams\"\ndaily_usd = -1\nalerts = [0.5, 0]\n", false,
			[]string{`f.toml:3:1: budget[0].scope: expected one of: gateway, environment, user, key, team, provider, model`,
				`f.toml:4:1: budget[0].daily_usd: expected a positive amount of USD`,
				`f.toml:5:16: budget[0].alerts[1]: expected a fraction of the limit such as 0.8`}},
		{"budget of an unknown gateway", "[[budget]]\nname = \"b\"\nscope = \"gateway\"\nmatch = \"g2\"\ndaily_usd = 1\n", false,
			[]string{`f.toml:4:1: budget[0].match: no [[ai.gateway]] has id "g2" (declare it, or set [server] auto_gateways = true)`}},
		{"budget of an unknown team", "[[budget]]\nname = \"b\"\nscope = \"team\"\nmatch = \"t\"\ndaily_usd = 1\n", false,
			[]string{`f.toml:4:1: budget[0].match: no [[team]] has name "t"`}},
		{"team", "[[team]]\nname = \"t\"\ndaily_usd = -1\nrequests_per_minute = -5\n[[team]]\nname = \"t\"\n", false,
			[]string{`f.toml:3:1: team[0].daily_usd: expected a positive amount of USD`,
				`f.toml:4:1: team[0].requests_per_minute: cannot be negative`,
				`f.toml:6:1: team[1].name: team name "t" is used twice`}},
		{"rate limit", "[[rate_limit]]\nname = \"r\"\nscope = \"model\"\ntechnique = \"leaky\"\n", false,
			[]string{`f.toml:1:3: rate_limit[0]: a rate limit needs requests or tokens`,
				`f.toml:3:1: rate_limit[0].scope: expected one of: gateway, environment, user, key, team`,
				`f.toml:4:1: rate_limit[0].technique: expected "fixed" or "sliding"`}},
		{"token bound to an unknown gateway", "[server.token_gateways]\nci = [\"nope\"]\n", false,
			[]string{`f.toml:2:1: server.token_gateways.ci: no [[ai.gateway]] has id "nope" (declare it, or set [server] auto_gateways = true)`}},
		{"budget without limit", "[[budget]]\nname = \"b\"\nscope = \"user\"\n", false,
			[]string{`f.toml:1:3: budget[0]: a budget needs daily_usd or monthly_usd`}},
		{"pricing", "[[pricing.model]]\nprovider = \"acme\"\nmodel = \"m\"\ninput = -1\noutput = 1\n", false,
			[]string{`f.toml:2:1: pricing.model[0].provider: unknown provider (expected one of: workers-ai, openai, anthropic, groq, local, mock)`,
				`f.toml:4:1: pricing.model[0].input: expected a price in USD per 1M tokens (0 or more)`}},
		{"inline tables", "ai = { gateway = [ { id = \"ok\" }, { id = \"a/b\" } ] }\n", false,
			[]string{`f.toml:1:37: ai.gateway[1].id: expected a gateway id: letters, digits, - and _ only, at most 64`}},
		{"dotted keys", "providers.local.base_url = \"ftp://x\"\n", false,
			[]string{`f.toml:1:1: providers.local.base_url: expected an http:// or https:// URL`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.doc), tt.wrangler)
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "f.toml" {
				t.Errorf("errors.As(*Error) = %v, %+v", ce != nil, ce)
			}
		})
	}
}

// A secret written in the file is refused, and no error message repeats it.
func TestSecretsRefused(t *testing.T) {
	const secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
	tests := []struct {
		name, doc, want string
	}{
		{"api_key in provider", "[providers.openai]\napi_key = \"" + secret + "\"\n",
			`f.toml:2:1: providers.openai.api_key: secrets are never read from the config file; export the key and name its variable: api_key_env = "OPENAI_API_KEY" (or api_key_file = "path")`},
		{"top-level key", "openai_api_key = 1\napi_key = \"" + secret + "\"\n",
			`f.toml:2:1: api_key: secrets are never read from the config file`},
		{"token in gateway", "[[ai.gateway]]\nid = \"g\"\ntoken = \"" + secret + "\"\n",
			`f.toml:3:1: ai.gateway.token: secrets are never read from the config file; export the gateway token and name its variable: token_env = "CF_AIG_TOKEN"`},
		{"token in ai", "[ai]\napi_token = \"" + secret + "\"\n",
			`api_token_env = "CLOUDFLARE_API_TOKEN"`},
		{"key in env name", "[providers.openai]\napi_key_env = \"" + secret + "\"\n",
			`f.toml:2:1: providers.openai.api_key_env: this value looks like an API key or token`},
		{"key as base url", "[providers.groq]\nbase_url = \"gsk_abcdefghijklmnopqrstuvwxyz\"\n",
			`f.toml:2:1: providers.groq.base_url: this value looks like an API key or token`},
		{"bearer in gateway url", "[[ai.gateway]]\nid = \"g\"\ntoken_env = \"Bearer " + secret + "\"\n",
			`this value looks like an API key or token`},
		{"credentials in url", "[ai]\nurl = \"http://user:" + secret + "@localhost:11434/v1\"\n",
			`f.toml:2:1: ai.url: a URL cannot carry credentials`},
		{"wrangler ai", "name = \"w\"\n[ai]\nbinding = \"AI\"\napi_key = \"" + secret + "\"\n",
			`f.toml:4:1: ai.api_key: secrets are never read from the config file`},
		{"type error on a secret", "[server]\naddr = \"" + secret + "\"\nmax_body_bytes = \"" + secret + "\"\n",
			`f.toml:3:18: server.max_body_bytes: expected an integer, got a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.doc), strings.HasPrefix(tt.name, "wrangler"))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, secret[8:20]) || strings.Contains(msg, "abcdefghijklmnop") {
				t.Errorf("error repeats the secret: %q", msg)
			}
		})
	}
}

func TestFind(t *testing.T) {
	write := func(t *testing.T, dir, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("conductor.toml wins", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "conductor.toml", "environment = \"a\"\n")
		write(t, dir, "wrangler.toml", "name = \"w\"\n[ai]\nbinding = \"B\"\n")
		c, err := Find(dir)
		if err != nil {
			t.Fatal(err)
		}
		if c.Environment != "a" || c.AI.Binding != "AI" || c.Wrangler || c.File != filepath.Join(dir, "conductor.toml") || c.Dir != dir {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("wrangler.toml", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "wrangler.toml", "name = \"w\"\n[ai]\nbinding = \"B\"\n")
		c, err := Find(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Wrangler || c.AI.Binding != "B" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("no file", func(t *testing.T) {
		dir := t.TempDir()
		c, err := Find(dir)
		if err != nil {
			t.Fatal(err)
		}
		if c.File != "" || c.Dir != dir || c.DataPath() != filepath.Join(dir, ".conductor") {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("bad file", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "conductor.toml", "x = 1\n")
		_, err := Find(dir)
		want := filepath.Join(dir, "conductor.toml") + `:1:1: unknown key "x"`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %v, want prefix %q", err, want)
		}
	})
	t.Run("named file missing", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "nope.toml: cannot read config: no such file or directory") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"30s", 30 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"3600", time.Hour, ""},
		{"3_600", time.Hour, ""},
		{"0x10", 16 * time.Second, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"0", 0, ""},
		{"", 0, "expected a duration"},
		{"soon", 0, "expected a duration"},
		{"-1", 0, "cannot be negative"},
		{"-1s", 0, "cannot be negative"},
		{"-0.5", 0, "cannot be negative"},
		{"99999999999999999", 0, "too large"},
		{"inf", 0, "too large"},
		{"nan", 0, "cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Std() != tt.want {
				t.Errorf("got %s, %v; want %s", d, err, tt.want)
			}
			b, _ := d.MarshalText()
			var back Duration
			if err := back.UnmarshalText(b); err != nil || back != d {
				t.Errorf("round trip %q: %s, %v", b, back, err)
			}
		})
	}
}

// docs/config.md documents every key the loader accepts.
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[Duration]() {
			return
		}
		for _, key := range tomlKeys(typ) {
			if !strings.Contains(string(doc), "`"+key+"`") && !strings.Contains(string(doc), "["+path+key+"]") &&
				!strings.Contains(string(doc), "[["+path+key+"]]") && !strings.Contains(string(doc), "`["+path+key) {
				t.Errorf("%s%s is not documented in docs/config.md", path, key)
			}
			f, _ := fieldByTag(typ, key)
			walk(f.Type, path+key+".")
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

// A wrangler.toml as Cloudflare writes it: the top-level account_id is the
// Workers AI account, and [vars] (or [env.NAME.vars] with --env NAME, not
// inherited, as in wrangler) are what ${env.*} reads, before the process
// environment.
func TestWranglerAccountAndVars(t *testing.T) {
	const doc = `name = "my-worker"
main = "src/index.ts"
account_id = "0123456789abcdef0123456789abcdef"

[vars]
ENVIRONMENT = "development"
MAX_ITEMS = 3
FLAGS = { beta = true }

[env.production]
name = "my-worker-production"
route = "example.com/*"
account_id = "fedcba9876543210fedcba9876543210"

[env.production.vars]
ENVIRONMENT = "production"

[env.staging]
[env.staging.vars]
ENVIRONMENT = "staging"

[ai]
binding = "AI"
`
	process := MapEnv(map[string]string{"ENVIRONMENT": "shell", "HOME": "/home/x", "CLOUDFLARE_ACCOUNT_ID": "not-this-one"})
	tests := []struct {
		env, account string
		vars         map[string]string
	}{
		{"", "0123456789abcdef0123456789abcdef", map[string]string{"ENVIRONMENT": "development", "MAX_ITEMS": "3", "FLAGS": `{"beta":true}`}},
		{"production", "fedcba9876543210fedcba9876543210", map[string]string{"ENVIRONMENT": "production"}},
		{"staging", "0123456789abcdef0123456789abcdef", map[string]string{"ENVIRONMENT": "staging"}},
	}
	for _, tc := range tests {
		t.Run("env "+tc.env, func(t *testing.T) {
			c, err := Parse("wrangler.toml", []byte(doc), true)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.UseEnvironment(tc.env); err != nil {
				t.Fatal(err)
			}
			env := c.Env(process)
			if acct, err := c.AccountID(env); err != nil || acct != tc.account {
				t.Errorf("account = %q, %v; want %q", acct, err, tc.account)
			}
			for k, want := range tc.vars {
				if got, ok := env(k); !ok || got != want {
					t.Errorf("%s = %q, %v; want %q", k, got, ok, want)
				}
			}
			if _, ok := env("MAX_ITEMS"); ok != (tc.env == "") {
				t.Errorf("MAX_ITEMS set = %v: [vars] are not inherited by [env.NAME]", ok)
			}
			if got, _ := env("HOME"); got != "/home/x" {
				t.Errorf("the process environment fills in the rest: HOME = %q", got)
			}
			if got := c.EnvironmentName(env); got != tc.vars["ENVIRONMENT"] {
				t.Errorf("environment name = %q", got)
			}
		})
	}
	c, _ := Parse("wrangler.toml", []byte(doc), true)
	if err := c.UseEnvironment("prod"); err == nil || !strings.Contains(err.Error(), "no [env.prod] in this wrangler.toml (environments: production, staging)") {
		t.Errorf("unknown env: %v", err)
	}
	cc, _ := Parse("conductor.toml", []byte("[ai]\nbinding = \"AI\"\n"), false)
	if err := cc.UseEnvironment("production"); err == nil || !strings.Contains(err.Error(), "not one") {
		t.Errorf("conductor.toml env: %v", err)
	}
	bad, _ := Parse("wrangler.toml", []byte("account_id = \"../x\"\n"), true)
	if _, err := bad.AccountID(nil); err == nil {
		t.Error("an account id that is no path segment is accepted")
	}
}
