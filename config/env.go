package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// LookupEnv reads one environment variable; os.LookupEnv is one, tests pass
// MapEnv. Nothing in this package reads the process environment itself.
type LookupEnv func(key string) (string, bool)

// MapEnv returns a LookupEnv over m.
func MapEnv(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// Environment variables read besides each provider's own (its key and
// base URL variables, which the registry declares:
// conductor.ProviderSpec.KeyVar and BaseURLVar).
const (
	EnvCloudflareAccountID = "CLOUDFLARE_ACCOUNT_ID"
	EnvGatewayBaseURL      = "CLOUDFLARE_AI_GATEWAY_BASE_URL" // default https://gateway.ai.cloudflare.com/v1
	EnvEnvironment         = "ENVIRONMENT"
)

// Secret is a key or token and where it came from. Its value is
// unexported and String redacts it, so printing a Secret, or a struct
// holding one, shows no secret.
type Secret struct {
	value string
	// Source says where the value was found ("OPENAI_API_KEY", "file
	// keys/openai"); empty when not found.
	Source string
	// Var is the environment variable to set when the secret is missing;
	// empty when none is needed (a local server).
	Var string
}

// NewSecret wraps a value obtained elsewhere (a caller's own key).
func NewSecret(value, source string) Secret { return Secret{value: value, Source: source} }

// Value returns the secret itself, for the header that carries it.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was found.
func (s Secret) IsSet() bool { return s.value != "" }

func (s Secret) String() string {
	if s.value == "" {
		return "[unset]"
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

func lookup(env LookupEnv, key string) string {
	if env == nil || key == "" {
		return ""
	}
	v, _ := env(key)
	return strings.TrimSpace(v)
}

// Precedence, everywhere below: a value written in the config file, else
// the environment variable, else the built-in default ("" here; package
// routing owns the providers' default URLs).

// BaseURL returns the base URL a provider's adapter appends its wire path
// to, or "" for the provider's default. For Workers AI it is the Cloudflare
// API base (…/client/v4); for local, "" means no server is configured.
func (c *Config) BaseURL(provider string, env LookupEnv) string {
	if ps, ok := c.Providers.Get(provider); ok && ps.BaseURL != "" {
		return strings.TrimRight(ps.BaseURL, "/")
	}
	spec, _ := conductor.LookupProvider(provider)
	return spec.BaseURLFrom(lookup(env, spec.BaseURLVar))
}

// APIKey returns a provider's key: from the file the config names, else the
// variable it names, else the SDK's variable. A missing key is not an error
// here (Secret.IsSet says); an unreadable key file is. For Workers AI this
// is the Cloudflare API token, [ai]'s settings first.
func (c *Config) APIKey(provider string, env LookupEnv) (Secret, error) {
	ps, ok := c.Providers.Get(provider)
	if !ok {
		return Secret{}, nil
	}
	file, name, where := ps.APIKeyFile, ps.APIKeyEnv, "[providers."+provider+"]"
	if provider == conductor.ProviderWorkersAI && (c.AI.APITokenFile != "" || c.AI.APITokenEnv != "") {
		file, name, where = c.AI.APITokenFile, c.AI.APITokenEnv, "[ai]"
	}
	if name == "" {
		spec, _ := conductor.LookupProvider(provider)
		name = spec.KeyVar
	}
	return c.secret(env, file, name, where)
}

func (c *Config) secret(env LookupEnv, file, name, where string) (Secret, error) {
	if file != "" {
		path := c.path(file)
		b, err := os.ReadFile(path)
		if err != nil {
			// The path is not a secret; the content is never shown.
			return Secret{Var: name}, fmt.Errorf("reading the key file %s named in %s: %w", path, where, unwrapPath(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{Var: name}, fmt.Errorf("the key file %s named in %s is empty", path, where)
		}
		return Secret{value: v, Source: "file " + path, Var: name}, nil
	}
	if v := lookup(env, name); v != "" {
		return Secret{value: v, Source: name, Var: name}, nil
	}
	return Secret{Var: name}, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Timeouts returns a provider's first-byte and overall deadlines.
// DefaultMaxAnswerBytes is [gateway] max_answer_bytes when unset.
const DefaultMaxAnswerBytes = 32 << 20

// MaxAnswerBytes is the bound on a whole answer read from an upstream.
func (c *Config) MaxAnswerBytes() int64 {
	if c.Gateway.MaxAnswerBytes > 0 {
		return c.Gateway.MaxAnswerBytes
	}
	return DefaultMaxAnswerBytes
}

func (c *Config) Timeouts(provider string) (firstByte, total time.Duration) {
	ps, ok := c.Providers.Get(provider)
	if !ok {
		return DefaultFirstByteTimeout, DefaultTimeout
	}
	return ps.FirstByteTimeout.Std(), ps.Timeout.Std()
}

// AccountID returns the Cloudflare account for Workers AI ([ai]
// account_id, else a wrangler.toml's account_id — its [env.NAME]'s in
// use — else CLOUDFLARE_ACCOUNT_ID), "" when none is set. A value that
// could not be a path segment is an error.
func (c *Config) AccountID(env LookupEnv) (string, error) {
	if c.AI.AccountID != "" {
		return c.AI.AccountID, nil
	}
	if id := c.WranglerEnv.AccountID; id != "" {
		if !isPathSegment(id) {
			return "", fmt.Errorf("%s: account_id: expected a Cloudflare account id (letters, digits, - and _)", c.File)
		}
		return id, nil
	}
	id := lookup(env, EnvCloudflareAccountID)
	if id != "" && !isPathSegment(id) {
		return "", fmt.Errorf("%s: expected a Cloudflare account id (letters, digits, - and _)", EnvCloudflareAccountID)
	}
	return id, nil
}

func isPathSegment(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}

// GatewayBaseURL returns the hosted AI Gateway base for g, "" for
// Cloudflare's default.
func (c *Config) GatewayBaseURL(g Gateway, env LookupEnv) string {
	if g.URL != "" {
		return strings.TrimRight(g.URL, "/")
	}
	return strings.TrimRight(lookup(env, EnvGatewayBaseURL), "/")
}

// GatewayToken returns the token sent as cf-aig-authorization, unset when
// g names no token (an unauthenticated gateway).
func (c *Config) GatewayToken(g Gateway, env LookupEnv) (Secret, error) {
	if g.TokenFile == "" && g.TokenEnv == "" {
		return Secret{}, nil
	}
	return c.secret(env, g.TokenFile, g.TokenEnv, "[[ai.gateway]] "+g.ID)
}

// EnvironmentName returns the deployment's name: the config's environment,
// else ENVIRONMENT, else "".
func (c *Config) EnvironmentName(env LookupEnv) string {
	if c.Environment != "" {
		return c.Environment
	}
	return lookup(env, EnvEnvironment)
}

// ServerTokens returns the gateway tokens `conductor serve` accepts: one per
// line of tokens_file, else comma-separated in the tokens_env variable
// (default CONDUCTOR_TOKENS). None: the server is open on its address.
func (c *Config) ServerTokens(env LookupEnv) ([]Secret, error) {
	name := c.Server.TokensEnv
	if name == "" {
		name = DefaultTokensEnv
	}
	var raw string
	var sep string
	source := name
	if c.Server.TokensFile != "" {
		path := c.path(c.Server.TokensFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the tokens file %s named in [server]: %w", path, unwrapPath(err))
		}
		raw, sep, source = string(b), "\n", "file "+path
	} else {
		raw, sep = lookup(env, name), ","
	}
	var out []Secret
	for t := range strings.SplitSeq(raw, sep) {
		if t = strings.TrimSpace(t); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, Secret{value: t, Source: source, Var: name})
		}
	}
	return out, nil
}

// AdminToken returns the token of the admin API (/admin/ and the
// dashboard's forms): from [server] admin_token_file, else the variable
// admin_token_env names (default CONDUCTOR_ADMIN_TOKEN). Unset: no admin
// API.
func (c *Config) AdminToken(env LookupEnv) (Secret, error) {
	name := c.Server.AdminTokenEnv
	if name == "" {
		name = DefaultAdminTokenEnv
	}
	return c.secret(env, c.Server.AdminTokenFile, name, "[server] admin token")
}

// WebhookURL returns the alert URL of a team's budget: webhook, else the
// variable webhook_env names; "" for none.
func (t Team) WebhookURL(env LookupEnv) string {
	if t.Webhook != "" {
		return t.Webhook
	}
	return lookup(env, t.WebhookEnv)
}

// WebhookURL returns the alert URL of a budget: webhook, else the variable
// webhook_env names; "" for none.
func (b Budget) WebhookURL(env LookupEnv) string {
	if b.Webhook != "" {
		return b.Webhook
	}
	return lookup(env, b.WebhookEnv)
}

// StoreURLs returns the shared back end's URLs: REDIS_URL and DATABASE_URL
// when set, else [store] redis_url and postgres_url.
func (c *Config) StoreURLs(env LookupEnv) (redisURL, postgresURL string) {
	redisURL, postgresURL = c.Store.RedisURL, c.Store.PostgresURL
	if v := lookup(env, "REDIS_URL"); v != "" {
		redisURL = v
	}
	if v := lookup(env, "DATABASE_URL"); v != "" {
		postgresURL = v
	}
	return redisURL, postgresURL
}

// StoreBackend is the configured backend, "sqlite" when none is named.
func (c *Config) StoreBackend() string {
	if c.Store.Backend == "" {
		return StoreSQLite
	}
	return c.Store.Backend
}
