package routing

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// A route that cannot be served is a ClassConfig error naming what to set,
// the same from Check (validation time) and Provider (run time), and never
// showing a secret.
func TestRouteErrors(t *testing.T) {
	without := func(names ...string) map[string]string {
		env := keys()
		for _, n := range names {
			delete(env, n)
		}
		return env
	}
	dir := t.TempDir()
	tests := []struct {
		name              string
		conf              string
		env               map[string]string
		gateway           bool // an Options.Gateway is configured
		provider, routing string
		want              string // the whole error
		checkOK           bool   // Check passes (the problem shows only when building)
	}{
		{name: "openai direct without key", env: without("OPENAI_API_KEY"), provider: "openai", routing: "direct",
			want: "openai: config: routing direct needs OPENAI_API_KEY: export OPENAI_API_KEY=sk-..."},
		{name: "anthropic gateway without key", env: without("ANTHROPIC_API_KEY"), gateway: true, provider: "anthropic", routing: "cloudflare-gateway",
			want: "anthropic: config: routing cloudflare-gateway needs ANTHROPIC_API_KEY: export ANTHROPIC_API_KEY=sk-ant-..."},
		{name: "groq hosted gateway without key", conf: hosted, env: without("GROQ_API_KEY"), provider: "groq", routing: "cloudflare-gateway",
			want: "groq: config: routing cloudflare-gateway needs GROQ_API_KEY: export GROQ_API_KEY=gsk_..."},
		{name: "openai via gateway with a key named in the config", conf: "[providers.openai]\napi_key_env = \"TEAM_OPENAI_KEY\"\n", env: keys(), gateway: true,
			provider: "openai", routing: "cloudflare-gateway",
			want: "openai: config: routing cloudflare-gateway needs TEAM_OPENAI_KEY: export TEAM_OPENAI_KEY=..."},
		{name: "hosted gateway token missing", conf: hosted, env: without("CF_AIG_TOKEN"), provider: "openai", routing: "cloudflare-gateway",
			want: "openai: config: routing cloudflare-gateway needs CF_AIG_TOKEN: export CF_AIG_TOKEN=<AI Gateway token> (named by token_env of gateway my-gateway)"},
		// The reproduction: say what to wire, not "not available yet".
		{name: "router without a built-in gateway", env: keys(), provider: "openai", routing: "cloudflare-gateway",
			want: "openai: config: routing cloudflare-gateway needs a gateway, and this router was built without the built-in one: " +
				"set routing.Options.Gateway (a gateway.Set's Hook, as conductor run does; runner.Open wires it for you), " +
				"or set account_id in [[ai.gateway]] of conductor.toml to use Cloudflare's hosted AI Gateway, or use routing: direct"},
		{name: "workers-ai without account", env: without("CLOUDFLARE_ACCOUNT_ID"), provider: "workers-ai", routing: "cloudflare",
			want: "workers-ai: config: routing cloudflare needs CLOUDFLARE_ACCOUNT_ID: export CLOUDFLARE_ACCOUNT_ID=<account id> (or set account_id in [ai] of conductor.toml)"},
		// The reproduction: both unset, both named.
		{name: "workers-ai without account and token", env: without("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"), provider: "workers-ai", routing: "cloudflare",
			want: "workers-ai: config: routing cloudflare needs CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN: export CLOUDFLARE_ACCOUNT_ID=<account id> (or set account_id in [ai] of conductor.toml) " +
				"and CLOUDFLARE_API_TOKEN=<API token with Workers AI permission>"},
		{name: "workers-ai without token", env: without("CLOUDFLARE_API_TOKEN"), provider: "workers-ai", routing: "cloudflare",
			want: "workers-ai: config: routing cloudflare needs CLOUDFLARE_API_TOKEN: export CLOUDFLARE_API_TOKEN=<API token with Workers AI permission>"},
		{name: "workers-ai token named in [ai]", conf: "[ai]\napi_token_env = \"EDGE_TOKEN\"\n", env: keys(), provider: "workers-ai", routing: "",
			want: "workers-ai: config: routing cloudflare needs EDGE_TOKEN: export EDGE_TOKEN=..."},
		{name: "workers-ai direct without account", env: without("CLOUDFLARE_ACCOUNT_ID"), provider: "workers-ai", routing: "direct",
			want: "workers-ai: config: routing direct needs CLOUDFLARE_ACCOUNT_ID: export CLOUDFLARE_ACCOUNT_ID=<account id> (or set account_id in [ai] of conductor.toml)"},
		{name: "account id that is not one", env: func() map[string]string { e := keys(); e["CLOUDFLARE_ACCOUNT_ID"] = "../x"; return e }(),
			provider: "workers-ai", routing: "cloudflare",
			want: "workers-ai: config: routing cloudflare: CLOUDFLARE_ACCOUNT_ID: expected a Cloudflare account id (letters, digits, - and _)"},
		{name: "cloudflare serves only workers-ai", env: keys(), provider: "openai", routing: "cloudflare",
			want: "openai: config: routing cloudflare serves only workers-ai models; use routing: cloudflare-gateway or direct for openai"},
		{name: "local without a server", env: keys(), provider: "local", routing: "direct",
			want: "local: config: routing direct needs LOCAL_BASE_URL: export LOCAL_BASE_URL=http://localhost:11434/v1 (or set base_url in [providers.local] of conductor.toml)"},
		{name: "local has no hosted route", conf: hosted, env: keys(), provider: "local", routing: "cloudflare-gateway",
			want: "local: config: Cloudflare's hosted AI Gateway has no route to local; use routing: direct"},
		{name: "unknown provider", env: keys(), provider: "mistral", routing: "direct",
			want: `mistral: config: unknown provider "mistral" (expected one of: workers-ai, openai, anthropic, groq, local, mock)`},
		{name: "unknown routing", env: keys(), provider: "openai", routing: "edge",
			want: `openai: config: unknown routing "edge" (expected one of: cloudflare, cloudflare-gateway, direct)`},
		{name: "key file missing", conf: "[providers.anthropic]\napi_key_file = \"" + filepath.Join(dir, "nope") + "\"\n", env: keys(),
			provider: "anthropic", routing: "direct",
			want: "anthropic: config: routing direct: reading the key file " + filepath.Join(dir, "nope") + " named in [providers.anthropic]: no such file or directory"},
		{name: "mock without a mock provider", env: keys(), provider: "mock", routing: "direct", checkOK: true,
			want: "mock: config: provider mock is served by the engine's test provider, not by a route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Env: config.MapEnv(tt.env)}
			if tt.gateway {
				opts.Gateway = (&builtinGateway{}).fn
			}
			r, err := New(parseConfig(t, tt.conf), opts)
			if err != nil {
				t.Fatal(err)
			}
			check := r.Check(tt.provider, tt.routing)
			_, err = r.Provider(context.Background(), tt.provider, "m", tt.routing)
			for what, err := range map[string]error{"Check": check, "Provider": err} {
				if what == "Check" && tt.checkOK {
					if err != nil {
						t.Errorf("Check: %v", err)
					}
					continue
				}
				e, ok := conductor.AsError(err)
				if !ok || e.Class != conductor.ClassConfig || e.Retryable {
					t.Fatalf("%s: err = %#v, want a ClassConfig *conductor.Error", what, err)
				}
				if err.Error() != tt.want {
					t.Errorf("%s:\n got %s\nwant %s", what, err, tt.want)
				}
				for _, secret := range keys() {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s error shows a secret: %v", what, err)
					}
				}
			}
		})
	}
}

func TestRouteOK(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "anthropic.key")
	if err := os.WriteFile(keyFile, []byte("sk-ant-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, conf        string
		env               map[string]string
		provider, routing string
	}{
		{"hosted BYOK needs no provider key", "[[ai.gateway]]\nid = \"g\"\naccount_id = \"a\"\nbyok = true\n", map[string]string{}, "openai", "cloudflare-gateway"},
		{"key from a file", "[providers.anthropic]\napi_key_file = \"" + keyFile + "\"\n", map[string]string{}, "anthropic", "direct"},
		{"local server from [ai] needs no account", "[ai]\nurl = \"http://localhost:11434/v1\"\n", map[string]string{}, "workers-ai", "cloudflare"},
		{"mock needs nothing to check", "", map[string]string{}, "mock", "direct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := New(parseConfig(t, tt.conf), Options{Env: config.MapEnv(tt.env), Mock: stubProvider{}})
			if err := r.Check(tt.provider, tt.routing); err != nil {
				t.Errorf("Check: %v", err)
			}
			if _, err := r.Provider(context.Background(), tt.provider, "m", tt.routing); err != nil {
				t.Errorf("Provider: %v", err)
			}
		})
	}
}

func TestProviderCanceled(t *testing.T) {
	r, _ := New(nil, Options{Env: config.MapEnv(keys())})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Provider(ctx, "openai", "gpt-4o", "direct")
	if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassCanceled {
		t.Errorf("err = %v", err)
	}
}
