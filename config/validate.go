package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"

	conductor "github.com/conductor-go/conductor"
)

type validator struct {
	file string
	ix   *docIndex
	errs Errors
}

func (v *validator) at(path []string, format string, args ...any) {
	line, col := v.ix.at(path...)
	msg := fmt.Sprintf(format, args...)
	if name := dotted(path); name != "" {
		msg = name + ": " + msg
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Column: col, Msg: msg})
}

func kp(parts ...any) []string {
	out := make([]string, len(parts))
	for i, x := range parts {
		switch x := x.(type) {
		case string:
			out[i] = x
		case int:
			out[i] = strconv.Itoa(x)
		}
	}
	return out
}

// validate checks what the types cannot: names, ranges, URLs, and that no
// secret was written where only its variable's name belongs. Messages never
// repeat a value that could be a secret.
func (c *Config) validate(ix *docIndex) Errors {
	v := &validator{file: c.File, ix: ix}
	v.secrets(c.Wrangler)

	v.envName(kp("ai", "api_token_env"), c.AI.APITokenEnv)
	v.url(kp("ai", "url"), c.AI.URL)
	v.id(kp("ai", "account_id"), c.AI.AccountID, "a Cloudflare account id")
	for k, m := range c.AI.Model {
		if k == "" || m == "" {
			v.at(kp("ai", "model", k), "model names cannot be empty")
		}
	}
	seen := map[string]bool{}
	for i, g := range c.AI.Gateways {
		at := func(k string) []string { return kp("ai", "gateway", i, k) }
		if g.ID == "" {
			v.at(kp("ai", "gateway", i), `every [[ai.gateway]] needs an id (id = "my-gateway")`)
		} else {
			v.id(at("id"), g.ID, "a gateway id")
			if seen[g.ID] {
				v.at(at("id"), "gateway id %q is used twice", g.ID)
			}
			seen[g.ID] = true
		}
		v.id(at("account_id"), g.AccountID, "a Cloudflare account id")
		v.envName(at("token_env"), g.TokenEnv)
		v.url(at("url"), g.URL)
		if g.RateLimitingRequestsPerMinute < 0 {
			v.at(at("rate_limiting_requests_per_minute"), "cannot be negative")
		}
		if g.RateLimitingLimit < 0 {
			v.at(at("rate_limiting_limit"), "cannot be negative")
		}
		if g.RateLimitingTokensPerMinute < 0 {
			v.at(at("rate_limiting_tokens_per_minute"), "cannot be negative")
		}
		if g.RateLimitingRequestsPerMinute > 0 && (g.RateLimitingLimit > 0 || g.RateLimitingInterval.Duration > 0) {
			v.at(at("rate_limiting_limit"), "set either rate_limiting_requests_per_minute or rate_limiting_limit with rate_limiting_interval, not both")
		}
		if g.RateLimitingTechnique != conductor.WindowFixed && g.RateLimitingTechnique != conductor.WindowSliding {
			v.at(at("rate_limiting_technique"), `expected "fixed" or "sliding"`)
		}
		if g.MaxAttempts < 0 || g.MaxAttempts > 5 {
			v.at(at("max_attempts"), "expected 1 to 5 attempts (0: the default)")
		}
		v.backoff(at("backoff"), g.Backoff)
		switch g.CacheScope {
		case "", "gateway", "team", "key", "user":
		default:
			v.at(at("cache_scope"), `expected "gateway", "team", "key" or "user"`)
		}
	}
	if c.Gateway.Default != "" {
		if _, ok := c.GatewayByID(c.Gateway.Default); !ok {
			v.at(kp("gateway", "default"), "no [[ai.gateway]] has id %q", c.Gateway.Default)
		}
	}
	if c.Gateway.CacheMaxBytes < 0 {
		v.at(kp("gateway", "cache_max_bytes"), "cannot be negative")
	}
	if c.Gateway.MaxAnswerBytes < 0 {
		v.at(kp("gateway", "max_answer_bytes"), "cannot be negative (0 takes the default, 32 MiB)")
	}
	switch c.Store.Backend {
	case "", StoreSQLite, StoreRedisPostgres:
	default:
		v.at(kp("store", "backend"), "unknown backend %q (expected %q or %q)", c.Store.Backend, StoreSQLite, StoreRedisPostgres)
	}
	if u := c.Store.RedisURL; u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") && !strings.HasPrefix(u, "unix://") {
		v.at(kp("store", "redis_url"), "expected a redis:// or rediss:// URL")
	}
	if u := c.Store.PostgresURL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		v.at(kp("store", "postgres_url"), "expected a postgres:// URL")
	}
	switch c.Log.Durability {
	case "", DurabilityAsync, DurabilitySync:
	default:
		v.at(kp("log", "durability"), "unknown durability %q (expected %q or %q)", c.Log.Durability, DurabilityAsync, DurabilitySync)
	}
	if h := c.Gateway.UserHeader; h != "" && !isToken(h) {
		v.at(kp("gateway", "user_header"), "expected an HTTP header name such as X-User")
	}

	for name := range c.Providers {
		if !hasSettings(name) {
			// A map takes any name: say what the struct of old would have.
			line, col := v.ix.at("providers", name)
			v.errs = append(v.errs, &Error{File: v.file, Line: line, Column: col,
				Msg: fmt.Sprintf("unknown key %q in [providers] (expected one of: %s)", name, strings.Join(settingsNames(), ", "))})
		}
	}
	for _, name := range settingsNames() {
		ps, _ := c.Providers.Get(name)
		v.url(kp("providers", name, "base_url"), ps.BaseURL)
		v.envName(kp("providers", name, "api_key_env"), ps.APIKeyEnv)
		if ps.FirstByteTimeout.Duration > ps.Timeout.Duration {
			v.at(kp("providers", name, "first_byte_timeout"), "is longer than timeout (%s)", ps.Timeout)
		}
	}

	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		v.at(kp("server", "addr"), `expected host:port such as "127.0.0.1:8787" or ":8787"`)
	}
	v.envName(kp("server", "tokens_env"), c.Server.TokensEnv)
	for i, o := range c.Server.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.at(kp("server", "cors_origins", i), "expected an origin such as \"https://app.example.com\" (scheme://host[:port], no path), or \"*\"")
		}
	}
	for i, h := range c.Server.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			v.at(kp("server", "allowed_hosts", i), "expected a host name such as \"gateway.internal\" (no scheme, no port), or \"*\"")
		}
	}
	if c.Server.MaxBodyBytes < 0 {
		v.at(kp("server", "max_body_bytes"), "cannot be negative")
	}
	if p := c.Server.DefaultProvider; p != "" && !slices.Contains(conductor.Providers(), p) {
		v.at(kp("server", "default_provider"), "unknown provider (expected one of: %s)", strings.Join(conductor.Providers(), ", "))
	}

	names := map[string]bool{}
	for i, b := range c.Budgets {
		at := func(k string) []string { return kp("budget", i, k) }
		if b.Name == "" {
			v.at(kp("budget", i), `every [[budget]] needs a name (name = "daily-production")`)
		} else if names[b.Name] {
			v.at(at("name"), "budget name %q is used twice", b.Name)
		}
		names[b.Name] = true
		switch b.Scope {
		case ScopeEnvironment, ScopeUser, ScopeKey, ScopeModel:
		case ScopeGateway:
			v.knownGateway(c, at("match"), b.Match)
		case ScopeTeam:
			v.knownTeam(c, at("match"), b.Match)
		case ScopeProvider:
			if b.Match != "" && !slices.Contains(conductor.Providers(), b.Match) {
				v.at(at("match"), "unknown provider (expected one of: %s)", strings.Join(conductor.Providers(), ", "))
			}
		default:
			v.at(at("scope"), "expected one of: gateway, environment, user, key, team, provider, model")
		}
		if !finite(b.DailyUSD) || b.DailyUSD < 0 {
			v.at(at("daily_usd"), "expected a positive amount of USD")
		}
		if !finite(b.MonthlyUSD) || b.MonthlyUSD < 0 {
			v.at(at("monthly_usd"), "expected a positive amount of USD")
		}
		if b.DailyUSD == 0 && b.MonthlyUSD == 0 {
			v.at(kp("budget", i), "a budget needs daily_usd or monthly_usd")
		}
		for j, a := range b.Alerts {
			if !finite(a) || a <= 0 || a > 10 {
				v.at(kp("budget", i, "alerts", j), "expected a fraction of the limit such as 0.8")
			}
		}
		v.webhook(at("webhook"), b.Webhook)
		v.envName(at("webhook_env"), b.WebhookEnv)
	}

	v.teams(c)
	v.rateLimits(c)
	v.envName(kp("server", "admin_token_env"), c.Server.AdminTokenEnv)
	for name, ids := range c.Server.TokenGateways {
		if name == "" || strings.ContainsAny(name, " \t=") {
			v.at(kp("server", "token_gateways", name), "expected a token's name (the name of a name=token entry)")
		}
		if len(ids) == 0 {
			v.at(kp("server", "token_gateways", name), "names no gateway (a token bound to none could use nothing)")
		}
		for _, id := range ids {
			v.knownGateway(c, kp("server", "token_gateways", name), id)
		}
	}

	v.splits(c)
	v.models(c)

	v.price(kp("pricing", "default_input"), c.Pricing.DefaultInput)
	v.price(kp("pricing", "default_output"), c.Pricing.DefaultOutput)
	for i, m := range c.Pricing.Models {
		at := func(k string) []string { return kp("pricing", "model", i, k) }
		if !slices.Contains(conductor.Providers(), m.Provider) {
			v.at(at("provider"), "unknown provider (expected one of: %s)", strings.Join(conductor.Providers(), ", "))
		}
		if m.Model == "" {
			v.at(at("model"), "every [[pricing.model]] needs a model")
		}
		v.price(at("input"), &m.Input)
		v.price(at("output"), &m.Output)
		v.price(at("cached_input"), m.CachedInput)
	}
	return v.errs
}

// knownGateway checks that id ("" passes) names a gateway requests can
// reach: an [[ai.gateway]], "default", or any valid id with
// auto_gateways.
func (v *validator) knownGateway(c *Config, path []string, id string) {
	if id == "" {
		return
	}
	v.id(path, id, "a gateway id")
	if _, ok := c.GatewayByID(id); !ok && id != "default" && !c.Server.AutoGateways {
		v.at(path, "no [[ai.gateway]] has id %q (declare it, or set [server] auto_gateways = true)", id)
	}
}

// knownTeam checks that name ("" passes) is a [[team]].
func (v *validator) knownTeam(c *Config, path []string, name string) {
	if name == "" {
		return
	}
	if _, ok := c.TeamByName(name); !ok {
		v.at(path, "no [[team]] has name %q", name)
	}
}

// teams checks the [[team]] entries: a name used once, limits that are
// amounts, alerts that are fractions.
func (v *validator) teams(c *Config) {
	names := map[string]bool{}
	for i, t := range c.Teams {
		at := func(k string) []string { return kp("team", i, k) }
		if t.Name == "" {
			v.at(kp("team", i), `every [[team]] needs a name (name = "research")`)
		} else {
			v.id(at("name"), t.Name, "a team name")
			if names[t.Name] {
				v.at(at("name"), "team name %q is used twice", t.Name)
			}
			names[t.Name] = true
		}
		if !finite(t.DailyUSD) || t.DailyUSD < 0 {
			v.at(at("daily_usd"), "expected a positive amount of USD")
		}
		if !finite(t.MonthlyUSD) || t.MonthlyUSD < 0 {
			v.at(at("monthly_usd"), "expected a positive amount of USD")
		}
		if t.RequestsPerMinute < 0 {
			v.at(at("requests_per_minute"), "cannot be negative")
		}
		if t.TokensPerMinute < 0 {
			v.at(at("tokens_per_minute"), "cannot be negative")
		}
		for j, a := range t.Alerts {
			if !finite(a) || a <= 0 || a > 10 {
				v.at(kp("team", i, "alerts", j), "expected a fraction of the limit such as 0.8")
			}
		}
		v.webhook(at("webhook"), t.Webhook)
		v.envName(at("webhook_env"), t.WebhookEnv)
	}
}

// rateLimits checks the [[rate_limit]] entries.
func (v *validator) rateLimits(c *Config) {
	names := map[string]bool{}
	for i, r := range c.RateLimits {
		at := func(k string) []string { return kp("rate_limit", i, k) }
		if r.Name == "" {
			v.at(kp("rate_limit", i), `every [[rate_limit]] needs a name (name = "per-user")`)
		} else if names[r.Name] {
			v.at(at("name"), "rate limit name %q is used twice", r.Name)
		}
		names[r.Name] = true
		switch r.Scope {
		case ScopeEnvironment, ScopeUser, ScopeKey:
		case ScopeGateway:
			v.knownGateway(c, at("match"), r.Match)
		case ScopeTeam:
			v.knownTeam(c, at("match"), r.Match)
		default:
			v.at(at("scope"), "expected one of: gateway, environment, user, key, team")
		}
		v.knownGateway(c, at("gateway"), r.Gateway)
		if r.Requests < 0 {
			v.at(at("requests"), "cannot be negative")
		}
		if r.Tokens < 0 {
			v.at(at("tokens"), "cannot be negative")
		}
		if r.Requests == 0 && r.Tokens == 0 {
			v.at(kp("rate_limit", i), "a rate limit needs requests or tokens")
		}
		if r.Window.Duration < 0 {
			v.at(at("window"), "cannot be negative")
		}
		if r.Technique != conductor.WindowFixed && r.Technique != conductor.WindowSliding {
			v.at(at("technique"), `expected "fixed" or "sliding"`)
		}
	}
}

// models checks the [[model]] entries: names a caller can put in `model`,
// used once and not by a split, each with at least one "provider/model"
// route of a known provider.
func (v *validator) models(c *Config) {
	names := map[string]bool{}
	for i, m := range c.Models {
		at := func(k string) []string { return kp("model", i, k) }
		if m.Name == "" {
			v.at(kp("model", i), `every [[model]] needs a name (name = "fast"), the model name callers use`)
		} else {
			v.id(at("name"), m.Name, "a model name")
			if names[m.Name] {
				v.at(at("name"), "model name %q is used twice", m.Name)
			}
			if _, ok := c.SplitByName(m.Name); ok {
				v.at(at("name"), "model name %q is also a [[split]] name", m.Name)
			}
			names[m.Name] = true
		}
		if len(m.Routes) == 0 && len(m.Deployments) == 0 {
			v.at(kp("model", i), `a [[model]] needs at least one route (routes = ["openai/gpt-4o-mini"]) or [[model.deployment]]`)
		}
		for _, r := range m.Routes {
			prov, model, ok := strings.Cut(r, "/")
			if !ok || model == "" || !slices.Contains(conductor.Providers(), prov) {
				v.at(at("routes"), "route %q: expected \"provider/model\" with a provider among: %s", r, strings.Join(conductor.Providers(), ", "))
			}
		}
		v.deployments(i, m)
	}
}

// deployments checks a [[model]]'s strategy, [[model.deployment]] tables
// and [model.breaker] (deployment.go).
func (v *validator) deployments(i int, m Model) {
	switch m.Strategy {
	case "", StrategyWeighted, StrategyLeastBusy, StrategyLatency, StrategyCost:
	default:
		v.at(kp("model", i, "strategy"), "unknown strategy %q (expected weighted, least-busy, latency or cost)", m.Strategy)
	}
	for j, d := range m.Deployments {
		at := func(k string) []string { return kp("model", i, "deployment", j, k) }
		prov, model, ok := strings.Cut(d.Route, "/")
		switch {
		case d.Route == "":
			v.at(kp("model", i, "deployment", j), `every [[model.deployment]] needs a route (route = "openai/gpt-4o-mini")`)
		case !ok || model == "" || !slices.Contains(conductor.Providers(), prov):
			v.at(at("route"), "route %q: expected \"provider/model\" with a provider among: %s", d.Route, strings.Join(conductor.Providers(), ", "))
		}
		v.url(at("base_url"), d.BaseURL)
		v.envName(at("key_env"), d.KeyEnv)
		for k, name := range d.KeysEnv {
			if name == "" {
				v.at(kp("model", i, "deployment", j, "keys_env", k), "expected the name of an environment variable, such as OPENAI_API_KEY_2")
			}
			v.envName(kp("model", i, "deployment", j, "keys_env", k), name)
		}
		n := 0
		for _, set := range []bool{d.KeyEnv != "", d.KeyFile != "", len(d.KeysEnv) > 0} {
			if set {
				n++
			}
		}
		if n > 1 {
			v.at(kp("model", i, "deployment", j), "key_env, key_file and keys_env name the key: set one of them")
		}
		if d.Weight < 0 {
			v.at(at("weight"), "weight %d is negative (expected a share of the tier's traffic, default 1)", d.Weight)
		}
		if d.Tier < 0 {
			v.at(at("tier"), "tier %d is negative (expected 1, 2, …: tier 2 serves when tier 1 cannot)", d.Tier)
		}
		if d.RPM < 0 {
			v.at(at("rpm"), "rpm %d is negative (expected the requests per minute this key may make, 0 for none)", d.RPM)
		}
		if d.TPM < 0 {
			v.at(at("tpm"), "tpm %d is negative (expected the tokens per minute this key may use, 0 for none)", d.TPM)
		}
		if d.Name != "" && (strings.ContainsAny(d.Name, "\x00\n") || len(d.Name) > 128) {
			v.at(at("name"), "expected a name of at most 128 characters on one line")
		}
	}
	b := m.Breaker
	at := func(k string) []string { return kp("model", i, "breaker", k) }
	if b.Failures < -1 {
		v.at(at("failures"), "failures %d (expected a count of consecutive failures, or -1 for off)", b.Failures)
	}
	if b.ErrorRate != -1 && (b.ErrorRate < 0 || b.ErrorRate > 1) {
		v.at(at("error_rate"), "error_rate %v (expected a fraction in (0, 1], or -1 for off)", b.ErrorRate)
	}
	if b.MinRequests < 0 {
		v.at(at("min_requests"), "min_requests %d is negative", b.MinRequests)
	}
	if m.HealthCheckInterval.Duration > 0 && m.HealthCheckInterval.Duration < time.Second {
		v.at(kp("model", i, "health_check_interval"), "health_check_interval %v (expected 1s or more, or none; durations are never negative)", m.HealthCheckInterval.Duration)
	}
}

// splits checks the [[split]] entries: names a caller can put in `model`,
// a known gateway, and at least two variants that each name a provider, a
// model and a share of the traffic.
func (v *validator) splits(c *Config) {
	names := map[string]bool{}
	for i, sp := range c.Splits {
		at := func(k string) []string { return kp("split", i, k) }
		if sp.Name == "" {
			v.at(kp("split", i), `every [[split]] needs a name (name = "summarize-ab"), the model name callers use`)
		} else {
			v.id(at("name"), sp.Name, "a split name")
			if names[sp.Name] {
				v.at(at("name"), "split name %q is used twice", sp.Name)
			}
			names[sp.Name] = true
		}
		if sp.Gateway != "" {
			if _, ok := c.GatewayByID(sp.Gateway); !ok {
				v.at(at("gateway"), "no [[ai.gateway]] has id %q", sp.Gateway)
			}
		}
		if len(sp.Variants) < 2 {
			v.at(kp("split", i), "a split needs at least two [[split.variant]] entries, found %d", len(sp.Variants))
		}
		variants := map[string]bool{}
		for j, vr := range sp.Variants {
			at := func(k string) []string { return kp("split", i, "variant", j, k) }
			if vr.Name == "" {
				v.at(kp("split", i, "variant", j), `every [[split.variant]] needs a name (name = "control")`)
			} else {
				v.id(at("name"), vr.Name, "a variant name")
				if variants[vr.Name] {
					v.at(at("name"), "variant name %q is used twice in this split", vr.Name)
				}
				variants[vr.Name] = true
			}
			if !slices.Contains(conductor.Providers(), vr.Provider) {
				v.at(at("provider"), "unknown provider (expected one of: %s)", strings.Join(conductor.Providers(), ", "))
			}
			if vr.Model == "" {
				v.at(kp("split", i, "variant", j), "every [[split.variant]] needs a model")
			}
			if !finite(vr.Weight) || vr.Weight <= 0 {
				v.at(at("weight"), "expected a weight above 0, the variant's share of the traffic (weight = 50)")
			}
			if t := vr.Temperature; t != nil && (!finite(*t) || *t < 0 || *t > 2) {
				v.at(at("temperature"), "expected a temperature from 0 to 2")
			}
			if vr.MaxTokens < 0 {
				v.at(at("max_tokens"), "cannot be negative")
			}
		}
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func (v *validator) price(path []string, f *float64) {
	if f != nil && (!finite(*f) || *f < 0) {
		v.at(path, "expected a price in USD per 1M tokens (0 or more)")
	}
}

// secrets rejects strings that look like a provider key or token wherever
// they are written; the value is not repeated in the message.
func (v *validator) secrets(wrangler bool) {
	for _, e := range v.ix.entries {
		if e.kind != unstable.String || (wrangler && (len(e.path) == 0 || e.path[0] != "ai")) {
			continue
		}
		if looksLikeSecret(e.data) {
			v.errs = append(v.errs, &Error{File: v.file, Line: e.line, Column: e.col,
				Msg: dotted(e.path) + ": this value looks like an API key or token; secrets are never read from the config file: " + secretAdvice(e.path[:len(e.path)-1])})
		}
	}
}

// looksLikeSecret knows the prefixes of the keys Conductor's providers and
// their neighbours issue.
func looksLikeSecret(s string) bool {
	s = strings.TrimSpace(s)
	for _, prefix := range []string{"sk-", "sk_", "gsk_", "xai-", "AIza", "ghp_", "github_pat_", "hf_", "Bearer ", "bearer "} {
		if strings.HasPrefix(s, prefix) && len(s) > len(prefix)+8 {
			return true
		}
	}
	return false
}

// envName checks that a *_env key holds a variable name, not a secret.
func (v *validator) envName(path []string, name string) {
	if name == "" || isEnvName(name) {
		return
	}
	if looksLikeSecret(name) {
		return // already reported by secrets
	}
	v.at(path, "expected the name of an environment variable, such as OPENAI_API_KEY")
}

func isEnvName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// id checks names that become a URL path segment.
func (v *validator) id(path []string, s, what string) {
	if s == "" {
		return
	}
	ok := len(s) <= 64
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			ok = false
		}
	}
	if !ok {
		v.at(path, "expected %s: letters, digits, - and _ only, at most 64", what)
	}
}

func (v *validator) url(path []string, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.at(path, "expected an http:// or https:// URL")
	case u.User != nil:
		v.at(path, "a URL cannot carry credentials; they are secrets, which come from the environment")
	case u.RawQuery != "" || u.Fragment != "":
		v.at(path, "expected a base URL without ?query or #fragment")
	}
}

func (v *validator) webhook(path []string, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.at(path, "expected an http:// or https:// URL")
	case u.User != nil:
		v.at(path, "a URL cannot carry credentials; use webhook_env for a URL that holds a secret")
	}
}

func (v *validator) backoff(path []string, s string) {
	switch s {
	case "", "constant", "linear", "exponential":
	default:
		v.at(path, `expected "constant", "linear" or "exponential"`)
	}
}

// isToken reports an RFC 9110 token, the syntax of a header name.
func isToken(s string) bool {
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return s != ""
}
