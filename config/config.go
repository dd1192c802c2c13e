// Package config reads Conductor's configuration: conductor.toml in the
// working directory (or a file named with --config), else the [ai] part of a
// wrangler.toml, else embedded defaults that need no file at all.
//
// The file holds no secrets. Keys, tokens and gateway tokens come from the
// environment (or from a file the config names); the config only says which
// variable holds which. Values that depend on the environment are resolved
// by the methods in env.go, which take the environment as a LookupEnv so
// tests never touch the process environment.
//
// Every problem in a file is reported as "file:line:col: message" (an
// *Error, several in Errors); callers exit with status 2.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	conductor "github.com/conductor-go/conductor"
)

// File names looked up by Find, in order.
const (
	FileName        = "conductor.toml"
	WranglerName    = "wrangler.toml"
	DefaultDataDir  = "./.conductor"
	DefaultBinding  = "AI"
	DefaultAddr     = "127.0.0.1:8787"
	DefaultBodySize = 32 << 20 // Anthropic's own request limit
)

// Config is the whole configuration. The zero value is not useful: use
// Default, Load, Find or Parse, which fill in the defaults.
type Config struct {
	// File is the file the config was read from, "" for the embedded
	// defaults; Dir is the directory relative paths are resolved against.
	File string `toml:"-"`
	Dir  string `toml:"-"`
	// Wrangler is true when the config came from a wrangler.toml, whose keys
	// outside [ai] belong to wrangler and are ignored — except its
	// top-level account_id and its [vars] (see WranglerEnv).
	Wrangler bool `toml:"-"`
	// WranglerEnv is what a wrangler.toml says for the environment in use:
	// the top level, or [env.NAME] after UseEnvironment(NAME).
	WranglerEnv WranglerEnv `toml:"-"`
	// wranglerEnvs are the file's [env.NAME] tables, for UseEnvironment.
	wranglerEnvs map[string]WranglerEnv

	// DataDir holds the SQLite store (cache, counters, request log).
	DataDir string `toml:"data_dir"`
	// Environment names the deployment (dev, staging, production): budgets
	// per environment and the cf-aig-metadata of every call use it.
	Environment string `toml:"environment"`

	AI        AI              `toml:"ai"`
	Providers Providers       `toml:"providers"`
	Server    Server          `toml:"server"`
	Gateway   GatewayDefaults `toml:"gateway"`
	Store     Store           `toml:"store"`
	Log       Log             `toml:"log"`
	Budgets   []Budget        `toml:"budget"`
	Teams     []Team          `toml:"team"`
	// RateLimits are the [[rate_limit]] entries: rate limits on any scope,
	// besides each [[ai.gateway]]'s own.
	RateLimits []RateLimit `toml:"rate_limit"`
	Pricing    Pricing     `toml:"pricing"`
	Splits     []Split     `toml:"split"`
	Models     []Model     `toml:"model"`
}

// WranglerEnv is what Conductor reads of a wrangler.toml besides [ai], for
// its top level or one [env.NAME]: the Cloudflare account Workers AI runs
// in, and the variables a Worker sees as env.NAME, which reach ${env.NAME}
// in ensembles (Vars; non-string values as JSON, e.g. 3 or {"a":1}).
type WranglerEnv struct {
	AccountID string
	Vars      map[string]string
}

// wranglerTable is a wrangler.toml table Conductor reads: the top level,
// or an [env.NAME]. Every other key is wrangler's.
type wranglerTable struct {
	AccountID string         `toml:"account_id"`
	Vars      map[string]any `toml:"vars"`
}

func (t wranglerTable) env() WranglerEnv {
	w := WranglerEnv{AccountID: t.AccountID}
	if len(t.Vars) > 0 {
		w.Vars = make(map[string]string, len(t.Vars))
		for k, v := range t.Vars {
			if s, ok := v.(string); ok {
				w.Vars[k] = s
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				b = []byte(fmt.Sprint(v))
			}
			w.Vars[k] = string(b)
		}
	}
	return w
}

// UseEnvironment selects wrangler's [env.NAME] ("" for the top level), as
// `wrangler deploy --env NAME` does: its account_id when it has one (else
// the top level's), and its [env.NAME.vars] in place of [vars] — vars are
// not inherited, as in wrangler. A name the file does not declare, or a
// config that is not a wrangler.toml, is an error.
func (c *Config) UseEnvironment(name string) error {
	if name == "" {
		return nil
	}
	if !c.Wrangler {
		return &Error{File: c.File, Msg: fmt.Sprintf("--env %s: environments are read from a wrangler.toml ([env.%s]); this config is not one", name, name)}
	}
	e, ok := c.wranglerEnvs[name]
	if !ok {
		names := make([]string, 0, len(c.wranglerEnvs))
		for n := range c.wranglerEnvs {
			names = append(names, n)
		}
		slices.Sort(names)
		known := "none"
		if len(names) > 0 {
			known = strings.Join(names, ", ")
		}
		return &Error{File: c.File, Msg: fmt.Sprintf("--env %s: no [env.%s] in this wrangler.toml (environments: %s)", name, name, known)}
	}
	if e.AccountID == "" {
		e.AccountID = c.WranglerEnv.AccountID
	}
	c.WranglerEnv = e
	return nil
}

// Env returns base with the config's variables in front: a wrangler.toml's
// [vars] (or [env.NAME.vars]) are what a Worker sees, so they win over the
// process environment, which fills in the rest (keys above all: vars hold
// no secrets). Give it to everything that reads the environment — the
// router, the gateway's settings, the engine's ${env.*}.
func (c *Config) Env(base LookupEnv) LookupEnv {
	vars := c.WranglerEnv.Vars
	if len(vars) == 0 {
		return base
	}
	return func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		if base == nil {
			return "", false
		}
		return base(k)
	}
}

// Store backends ([store] backend).
const (
	StoreSQLite        = "sqlite"         // one file in data_dir: zero setup, one machine
	StoreRedisPostgres = "redis+postgres" // shared by many instances
)

// Store is the [store] table: where the gateway keeps its state.
type Store struct {
	// Backend is "sqlite" (default) or "redis+postgres": the cache and
	// counters in Redis, the request log in PostgreSQL.
	Backend string `toml:"backend"`
	// RedisURL (redis://[user:password@]host:port/db) and PostgresURL
	// (postgres://user:password@host:port/db); REDIS_URL and DATABASE_URL
	// override them (StoreURLs).
	RedisURL    string `toml:"redis_url"`
	PostgresURL string `toml:"postgres_url"`
	// RedisPrefix is the prefix of every Redis key (default "conductor"):
	// deployments sharing a server keep apart by it.
	RedisPrefix string `toml:"redis_prefix"`
}

// Log durabilities ([log] durability).
const (
	DurabilityAsync = "async" // answer first, the row follows within one transaction
	DurabilitySync  = "sync"  // answer only after the row is committed
)

// Log is the [log] table: how the request log is written.
type Log struct {
	// Durability is "async" (default) or "sync"; docs/reliability.md says
	// what each keeps through a crash.
	Durability string `toml:"durability"`
}

// Model is one [[model]]: a name `conductor serve` answers for
// `"model": "<name>"`. One route makes it an alias; several make it a
// fallback chain, tried in order (the answer's cf-aig-step says which
// served).
type Model struct {
	Name string `toml:"name"`
	// Routes are "provider/model" strings, e.g. "openai/gpt-4o-mini".
	Routes []string `toml:"routes"`

	// Deployments (deployment.go): several keys and servers behind one
	// name, balanced by Strategy, each behind a circuit breaker.
	//
	// Strategy picks among the healthy deployments of one tier: weighted
	// (default), least-busy, latency or cost.
	Strategy string `toml:"strategy"`
	// Deployments are the [[model.deployment]] tables, after the routes.
	Deployments []Deployment `toml:"deployment"`
	// Breaker is [model.breaker]: when a deployment stops getting calls.
	Breaker Breaker `toml:"breaker"`
	// HealthCheckInterval, when set, sends each deployment a one-token
	// request that often; a failure counts against its breaker.
	HealthCheckInterval Duration `toml:"health_check_interval"`
	// Deadlines of this model's routes, each replacing the gateway's
	// ([[ai.gateway]]) for calls to them; unset keeps the gateway's.
	// RequestTimeout bounds each
	// attempt's wait for the first byte, IdleTimeout the wait for each
	// stream chunk, TotalTimeout the time spent on one route (its retries
	// and its stream to the last chunk): past it the chain falls back.
	RequestTimeout Duration `toml:"request_timeout"`
	IdleTimeout    Duration `toml:"idle_timeout"`
	TotalTimeout   Duration `toml:"total_timeout"`
}

// AI is the [ai] table: the page's Workers AI binding, and the gateways.
type AI struct {
	// Binding is the page's binding name (wrangler's env.AI); Conductor
	// accepts it for compatibility, the REST API needs no binding.
	Binding string `toml:"binding"`
	// Remote is wrangler's own [ai] key, accepted and ignored.
	Remote bool `toml:"remote"`
	// AccountID is the Cloudflare account for Workers AI (else
	// CLOUDFLARE_ACCOUNT_ID).
	AccountID string `toml:"account_id"`
	// APITokenEnv names the variable holding the Cloudflare API token
	// (default CLOUDFLARE_API_TOKEN); APITokenFile names a file holding it.
	APITokenEnv  string `toml:"api_token_env"`
	APITokenFile string `toml:"api_token_file"`
	// URL, when set, serves routing "cloudflare" from a local
	// OpenAI-compatible model server (Ollama, llama.cpp, vLLM) instead of
	// Workers AI, e.g. "http://localhost:11434/v1".
	URL string `toml:"url"`
	// Model maps a Workers AI model id to the local server's name for it
	// ("@cf/meta/llama-3.1-8b-instruct" = "llama3.1:8b"); unmapped ids are
	// sent as they are.
	Model map[string]string `toml:"model"`
	// Gateways are the [[ai.gateway]] entries; routing cloudflare-gateway
	// uses the default one (see GatewayDefaults.Default).
	Gateways []Gateway `toml:"gateway"`
}

// Gateway is one [[ai.gateway]] entry. With AccountID set, calls go to
// Cloudflare's hosted AI Gateway; without, the built-in gateway serves them
// with these settings.
type Gateway struct {
	ID        string `toml:"id"`
	AccountID string `toml:"account_id"`
	// TokenEnv names the variable holding the gateway token sent as
	// cf-aig-authorization (authenticated gateways); TokenFile a file.
	TokenEnv  string `toml:"token_env"`
	TokenFile string `toml:"token_file"`
	// URL overrides the hosted gateway base (default
	// https://gateway.ai.cloudflare.com/v1, or CLOUDFLARE_AI_GATEWAY_BASE_URL).
	URL string `toml:"url"`
	// BYOK says the provider keys are stored in the hosted gateway, so a
	// missing provider key is not an error.
	BYOK bool `toml:"byok"`

	// CacheTTL caches answers for this long; 0 leaves caching off, as on
	// Cloudflare. A member's cache.ttl overrides it per call.
	CacheTTL Duration `toml:"cache_ttl"`
	// CacheScope says who shares a cached answer: "gateway" (default),
	// "team", "key" or "user"; it is part of the cache key.
	CacheScope string `toml:"cache_scope"`

	// Rate limiting, as Cloudflare writes it: either the page's
	// rate_limiting_requests_per_minute, or rate_limiting_limit requests per
	// rate_limiting_interval, counted in a fixed or sliding window.
	RateLimitingRequestsPerMinute int64    `toml:"rate_limiting_requests_per_minute"`
	RateLimitingLimit             int64    `toml:"rate_limiting_limit"`
	RateLimitingInterval          Duration `toml:"rate_limiting_interval"`
	RateLimitingTechnique         string   `toml:"rate_limiting_technique"`
	// RateLimitingTokensPerMinute bounds tokens (input+output) per window.
	RateLimitingTokensPerMinute int64 `toml:"rate_limiting_tokens_per_minute"`
	// RateLimitingPerUser counts each user (gateway token, metadata user)
	// separately instead of the whole gateway together.
	RateLimitingPerUser bool `toml:"rate_limiting_per_user"`

	// Retries: attempts per call (at most 5), first delay, and backoff
	// shape (constant, linear, exponential). The built-in gateway's three
	// deadlines: RequestTimeout bounds the wait for each attempt's first
	// byte (default 60 s), IdleTimeout the wait for each stream chunk
	// (30 s), TotalTimeout the whole call (10 minutes).
	MaxAttempts    int      `toml:"max_attempts"`
	RetryDelay     Duration `toml:"retry_delay"`
	Backoff        string   `toml:"backoff"`
	RequestTimeout Duration `toml:"request_timeout"`
	IdleTimeout    Duration `toml:"idle_timeout"`
	TotalTimeout   Duration `toml:"total_timeout"`
}

// Hosted reports whether calls through g go to Cloudflare's hosted gateway.
func (g Gateway) Hosted() bool { return g.AccountID != "" }

// RateLimit returns the request limit per window and the window kind
// (conductor.WindowFixed or WindowSliding); limit 0 means no limit.
func (g Gateway) RateLimit() (limit int64, window Duration, technique string) {
	technique = g.RateLimitingTechnique
	if technique == "" {
		technique = "fixed"
	}
	switch {
	case g.RateLimitingRequestsPerMinute > 0:
		return g.RateLimitingRequestsPerMinute, Seconds(60), technique
	case g.RateLimitingLimit > 0:
		w := g.RateLimitingInterval
		if w.Duration == 0 {
			w = Seconds(60)
		}
		return g.RateLimitingLimit, w, technique
	}
	return 0, Duration{}, technique
}

// GatewayDefaults is the [gateway] table: settings of the built-in gateway
// that are not per [[ai.gateway]] entry.
type GatewayDefaults struct {
	// Default is the id of the [[ai.gateway]] entry routing
	// cloudflare-gateway uses; empty: the first entry.
	Default string `toml:"default"`
	// CacheMaxBytes bounds the cache store; 0 means the store's default.
	CacheMaxBytes int64 `toml:"cache_max_bytes"`
	// MaxAnswerBytes bounds a whole (non-stream) answer read from any
	// upstream, in every routing mode: a larger one is refused (502
	// answer_too_large) and never cached; 0: DefaultMaxAnswerBytes (32 MiB).
	// Streams are not bounded by it: they pass through chunk by chunk.
	MaxAnswerBytes int64 `toml:"max_answer_bytes"`
	// LogRetention prunes request-log rows older than this; unset: 30
	// days (the gateway's default); 0 keeps every row.
	LogRetention *Duration `toml:"log_retention"`
	// UserHeader names the HTTP header `conductor serve` reads the caller's
	// user from, for per-user rate limits and budgets.
	UserHeader string `toml:"user_header"`
}

// Budget and rate limit scopes.
const (
	ScopeGateway     = "gateway"
	ScopeEnvironment = "environment"
	ScopeUser        = "user"
	ScopeKey         = "key"
	ScopeTeam        = "team"
	ScopeProvider    = "provider"
	ScopeModel       = "model"
)

// Budget is one [[budget]] spend limit of the built-in gateway. A budget
// not scoped by the gateway counts the calls of every gateway together.
type Budget struct {
	Name string `toml:"name" json:"name"`
	// Scope is what the budget counts: gateway, environment, user, key (a
	// virtual key, by name), team, provider or model; Match picks which one
	// ("production", "openai", "gpt-4o"); an empty Match gives every value
	// its own budget of that size (every user, every gateway…).
	Scope string `toml:"scope" json:"scope,omitempty"`
	Match string `toml:"match" json:"match,omitempty"`
	// DailyUSD and MonthlyUSD are hard limits per UTC day and month; 0: none.
	DailyUSD   float64 `toml:"daily_usd" json:"daily_usd,omitempty"`
	MonthlyUSD float64 `toml:"monthly_usd" json:"monthly_usd,omitempty"`
	// Alerts are fractions of a limit (0.5, 0.8, 1.0) that fire once per
	// window: a log line and a POST to Webhook (or the URL in WebhookEnv,
	// for webhook URLs that embed a secret).
	Alerts     []float64 `toml:"alerts" json:"alerts,omitempty"`
	Webhook    string    `toml:"webhook" json:"webhook,omitempty"`
	WebhookEnv string    `toml:"webhook_env" json:"webhook_env,omitempty"`
}

// Team is one [[team]]: the budget and rate limits the virtual keys of
// the team (`conductor keys create --team`) share, besides each key's own.
type Team struct {
	Name       string  `toml:"name" json:"name"`
	DailyUSD   float64 `toml:"daily_usd" json:"daily_usd,omitempty"`
	MonthlyUSD float64 `toml:"monthly_usd" json:"monthly_usd,omitempty"`
	// RequestsPerMinute and TokensPerMinute bound the team's keys together.
	RequestsPerMinute int64     `toml:"requests_per_minute" json:"requests_per_minute,omitempty"`
	TokensPerMinute   int64     `toml:"tokens_per_minute" json:"tokens_per_minute,omitempty"`
	Alerts            []float64 `toml:"alerts" json:"alerts,omitempty"`
	Webhook           string    `toml:"webhook" json:"webhook,omitempty"`
	WebhookEnv        string    `toml:"webhook_env" json:"webhook_env,omitempty"`
}

// RateLimit is one [[rate_limit]]: requests and tokens per window on one
// scope, counted through every gateway unless the scope is the gateway.
type RateLimit struct {
	Name string `toml:"name" json:"name"`
	// Scope is gateway, environment, user, key or team; Match picks one
	// value, empty gives each value its own count.
	Scope string `toml:"scope" json:"scope,omitempty"`
	Match string `toml:"match" json:"match,omitempty"`
	// Gateway, when set, holds only the calls through that gateway to
	// the limit.
	Gateway  string `toml:"gateway" json:"gateway,omitempty"`
	Requests int64  `toml:"requests" json:"requests,omitempty"`
	Tokens   int64  `toml:"tokens" json:"tokens,omitempty"`
	// Window is the period counted over (default "1m"); Technique is
	// "fixed" (default) or "sliding".
	Window    Duration `toml:"window" json:"window,omitempty"`
	Technique string   `toml:"technique" json:"technique,omitempty"`
}

// Split is one [[split]]: an A/B split that `conductor serve` answers for
// `"model": "<name>"`, dividing the traffic between its variants by weight
// (sticky per user) and logging each call with its variant, so that
// `conductor stats --by variant` compares them.
type Split struct {
	// Name is what callers put in `model`: letters, digits, - and _.
	Name string `toml:"name"`
	// Gateway is the [[ai.gateway]] id the variants' calls go through;
	// empty: the default gateway.
	Gateway  string         `toml:"gateway"`
	Variants []SplitVariant `toml:"variant"`
}

// SplitVariant is one [[split.variant]]: a route and what it changes in
// the request.
type SplitVariant struct {
	Name     string `toml:"name"`
	Provider string `toml:"provider"`
	Model    string `toml:"model"`
	// Weight is the variant's share of the traffic, relative to the other
	// variants' weights (50 and 50, or 9 and 1).
	Weight float64 `toml:"weight"`
	// Temperature, MaxTokens and SystemPrompt, when set, replace the
	// request's (SystemPrompt replaces its system messages).
	Temperature  *float64 `toml:"temperature"`
	MaxTokens    int      `toml:"max_tokens"`
	SystemPrompt string   `toml:"system_prompt"`
}

// SplitByName returns the [[split]] with that name.
func (c *Config) SplitByName(name string) (Split, bool) {
	for _, s := range c.Splits {
		if s.Name == name {
			return s, true
		}
	}
	return Split{}, false
}

// Pricing is the [pricing] table: overrides of the embedded price table.
type Pricing struct {
	// DefaultInput and DefaultOutput (USD per 1M tokens) price a model the
	// table does not know; such calls are flagged.
	DefaultInput  *float64     `toml:"default_input"`
	DefaultOutput *float64     `toml:"default_output"`
	Models        []ModelPrice `toml:"model"`
}

// ModelPrice is one [[pricing.model]] row, USD per 1M tokens.
type ModelPrice struct {
	Provider    string   `toml:"provider"`
	Model       string   `toml:"model"`
	Input       float64  `toml:"input"`
	Output      float64  `toml:"output"`
	CachedInput *float64 `toml:"cached_input"`
}

// Providers is the [providers.<name>] tables, by provider name: every
// provider of the registry (conductor.ProviderSpecs) that has a wire
// format may have one.
type Providers map[string]ProviderSettings

// Get returns the settings of a provider by its conductor name; ok is
// false for a name that has no settings (the mock, an unknown name).
func (p Providers) Get(name string) (ProviderSettings, bool) {
	if !hasSettings(name) {
		return ProviderSettings{}, false
	}
	return p[name], true
}

// hasSettings reports whether a provider may have a [providers.<name>]
// table: a registry provider with a wire to configure.
func hasSettings(name string) bool {
	spec, ok := conductor.LookupProvider(name)
	return ok && spec.Format != ""
}

// settingsNames are the providers that may have a [providers.<name>]
// table, in the registry's order.
func settingsNames() []string {
	var out []string
	for _, s := range conductor.ProviderSpecs() {
		if s.Format != "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// ProviderSettings is one [providers.<name>] table.
type ProviderSettings struct {
	// BaseURL is where the wire path is appended: with /v1 for OpenAI-style
	// providers, without for Anthropic, the Cloudflare API base for Workers
	// AI. Empty: the environment variable, else the provider's default.
	BaseURL string `toml:"base_url"`
	// APIKeyEnv names the variable holding the key (default: the official
	// SDK's, e.g. OPENAI_API_KEY); APIKeyFile names a file holding it.
	APIKeyEnv  string `toml:"api_key_env"`
	APIKeyFile string `toml:"api_key_file"`
	// FirstByteTimeout bounds the wait for an answer's headers, Timeout the
	// whole call, stream included.
	FirstByteTimeout Duration `toml:"first_byte_timeout"`
	Timeout          Duration `toml:"timeout"`
}

// Default timeouts: the official SDKs allow 10 minutes per call; a model
// that has not started answering in 5 is not going to.
const (
	DefaultTimeout          = 600 * time.Second
	DefaultFirstByteTimeout = 300 * time.Second
)

// Server is the [server] table of `conductor serve`.
type Server struct {
	Addr string `toml:"addr"`
	// TokensEnv names a variable holding the gateway tokens callers must
	// present, comma-separated (default CONDUCTOR_TOKENS); TokensFile a file
	// with one per line. No token configured: the server accepts any caller
	// on its address, which is why the default address is loopback.
	TokensEnv  string `toml:"tokens_env"`
	TokensFile string `toml:"tokens_file"`
	// AllowCallerKeys lets a caller's own provider key (Authorization or
	// x-api-key) pass through to the provider instead of the server's.
	AllowCallerKeys bool `toml:"allow_caller_keys"`
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// RequestTimeout bounds a model call from request to last byte (504
	// beyond); zero: the server's default. cf-aig-request-timeout shortens
	// it per call.
	RequestTimeout Duration `toml:"request_timeout"`
	// DefaultProvider serves bare model names no alias and no known prefix
	// claims ("llama3.2" → local); empty: such a name is a 404.
	DefaultProvider string `toml:"default_provider"`
	// AutoGateways serves a gateway id no [[ai.gateway]] declares, with
	// the default gateway's settings, as Cloudflare creates a gateway on
	// first use; false (the default): such an id is a 404.
	AutoGateways bool `toml:"auto_gateways"`
	// TokenGateways binds gateway tokens, by name ("alice" of
	// "alice=tok-…"), to the gateways they may use; elsewhere they get 403.
	// A token it does not name may use every gateway.
	TokenGateways map[string][]string `toml:"token_gateways"`
	// AdminTokenEnv names the variable holding the admin token of /admin/
	// and the dashboard's forms (default CONDUCTOR_ADMIN_TOKEN);
	// AdminTokenFile a file holding it. Unset: no admin API.
	AdminTokenEnv  string `toml:"admin_token_env"`
	AdminTokenFile string `toml:"admin_token_file"`
	// CORSOrigins are the origins ("https://app.example.com", or "*")
	// whose browser scripts may call the server; requests from other
	// origins are refused.
	CORSOrigins []string `toml:"cors_origins"`
	// AllowedHosts are the names, besides its address and localhost, the
	// server is reached by; with no token configured, a request whose Host
	// names none of them is refused (DNS rebinding).
	AllowedHosts []string `toml:"allowed_hosts"`
}

// DefaultAdminTokenEnv is the variable read for the admin token by default.
const DefaultAdminTokenEnv = "CONDUCTOR_ADMIN_TOKEN"

// DefaultTokensEnv is the variable read for server tokens by default.
const DefaultTokensEnv = "CONDUCTOR_TOKENS"

// Default returns the configuration used when no file exists: everything
// from the environment, data in ./.conductor, no gateway settings.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.AI.Binding == "" {
		c.AI.Binding = DefaultBinding
	}
	if c.Server.Addr == "" {
		c.Server.Addr = DefaultAddr
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = DefaultBodySize
	}
	if c.Providers == nil {
		c.Providers = Providers{}
	}
	for _, name := range settingsNames() {
		p := c.Providers[name]
		if p.Timeout.Duration == 0 {
			p.Timeout.Duration = DefaultTimeout
		}
		if p.FirstByteTimeout.Duration == 0 {
			p.FirstByteTimeout.Duration = min(DefaultFirstByteTimeout, p.Timeout.Duration)
		}
		c.Providers[name] = p
	}
	for i := range c.AI.Gateways {
		g := &c.AI.Gateways[i]
		if g.RateLimitingTechnique == "" {
			g.RateLimitingTechnique = "fixed"
		}
	}
	for i := range c.Budgets {
		if c.Budgets[i].Alerts == nil {
			c.Budgets[i].Alerts = []float64{0.5, 0.8, 1.0}
		}
	}
	for i := range c.Teams {
		if c.Teams[i].Alerts == nil {
			c.Teams[i].Alerts = []float64{0.5, 0.8, 1.0}
		}
	}
	for i := range c.RateLimits {
		r := &c.RateLimits[i]
		if r.Technique == "" {
			r.Technique = "fixed"
		}
		if r.Window.Duration == 0 {
			r.Window = Seconds(60)
		}
	}
}

// TeamByName returns the [[team]] with that name.
func (c *Config) TeamByName(name string) (Team, bool) {
	for _, t := range c.Teams {
		if t.Name == name {
			return t, true
		}
	}
	return Team{}, false
}

// Check fills the defaults of a config built in code (or changed after
// it was read) and validates it as Parse does, without positions: the
// admin API checks a budget, team or rate limit it is given by checking
// the config it would make.
func (c *Config) Check() error {
	c.applyDefaults()
	if errs := c.validate(&docIndex{byPath: map[string]int{}}); len(errs) > 0 {
		return errs
	}
	return nil
}

// DataPath returns DataDir, relative paths taken from the config's directory.
func (c *Config) DataPath() string {
	return c.path(c.DataDir)
}

func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// DefaultGateway returns the [[ai.gateway]] entry routing cloudflare-gateway
// uses: the one [gateway] default names, else the first. With none
// configured it returns a built-in gateway named "default" with no cache and
// no limits (ok=false), as Cloudflare auto-creates "default".
func (c *Config) DefaultGateway() (g Gateway, ok bool) {
	if len(c.AI.Gateways) == 0 {
		return Gateway{ID: "default", RateLimitingTechnique: "fixed"}, false
	}
	if c.Gateway.Default != "" {
		if g, ok := c.GatewayByID(c.Gateway.Default); ok {
			return g, true
		}
	}
	return c.AI.Gateways[0], true
}

// GatewayByID returns the [[ai.gateway]] entry with that id.
func (c *Config) GatewayByID(id string) (Gateway, bool) {
	for _, g := range c.AI.Gateways {
		if g.ID == id {
			return g, true
		}
	}
	return Gateway{}, false
}

// Find returns the configuration for dir: its conductor.toml, else its
// wrangler.toml, else Default (with Dir set to dir).
func Find(dir string) (*Config, error) {
	for _, name := range []string{FileName, WranglerName} {
		p := filepath.Join(dir, name)
		_, err := os.Stat(p)
		if err == nil {
			return Load(p)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	c := Default()
	c.Dir = dir
	return c, nil
}

// Load reads the file at path (as a wrangler.toml when it is named so). A
// missing file is an error: an explicitly named config must exist.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read config: %v", errors.Unwrap(err))}
	}
	c, err := Parse(path, data, filepath.Base(path) == WranglerName)
	if err != nil {
		return nil, err
	}
	c.Dir = filepath.Dir(path)
	return c, nil
}

// Parse reads a config from data; name is used in error messages and as
// File. With wrangler true only the [ai] table is read (strictly) and
// wrangler's other keys are ignored.
func Parse(name string, data []byte, wrangler bool) (*Config, error) {
	c := &Config{File: name, Wrangler: wrangler}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	var err error
	if wrangler {
		// Only [ai], account_id and [vars] (top level and per [env.NAME])
		// are ours in a wrangler.toml; decoding the rest into a struct
		// without those fields would make them unknown keys, which the
		// error mapping then drops.
		w := struct {
			AI *AI `toml:"ai"`
			wranglerTable
			Env map[string]wranglerTable `toml:"env"`
		}{AI: &c.AI}
		err = dec.Decode(&w)
		c.WranglerEnv = w.wranglerTable.env()
		c.wranglerEnvs = make(map[string]WranglerEnv, len(w.Env))
		for name, t := range w.Env {
			c.wranglerEnvs[name] = t.env()
		}
	} else {
		err = dec.Decode(c)
	}
	idx := indexDocument(data)
	var errs Errors
	if err != nil {
		errs = decodeErrors(name, data, idx, err, wrangler)
		if len(errs) > 0 {
			return nil, errs.sorted()
		}
	}
	c.applyDefaults()
	if errs := c.validate(idx); len(errs) > 0 {
		return nil, errs.sorted()
	}
	return c, nil
}
