package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse("conductor.toml", []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBaseURL(t *testing.T) {
	env := MapEnv(map[string]string{
		"OPENAI_BASE_URL":         "http://127.0.0.1:1/v1/",
		"ANTHROPIC_BASE_URL":      "http://127.0.0.1:2",
		"GROQ_BASE_URL":           "http://127.0.0.1:3",
		"CLOUDFLARE_API_BASE_URL": "http://127.0.0.1:4/client/v4",
		"LOCAL_BASE_URL":          "http://127.0.0.1:5/v1",
	})
	tests := []struct {
		provider string
		doc      string
		env      LookupEnv
		want     string
	}{
		{"openai", "", env, "http://127.0.0.1:1/v1"},
		{"anthropic", "", env, "http://127.0.0.1:2"},
		{"groq", "", env, "http://127.0.0.1:3/openai/v1"}, // the Groq SDK's variable names the host
		{"groq", "", MapEnv(map[string]string{"GROQ_BASE_URL": "http://h/openai/v1/"}), "http://h/openai/v1"},
		{"workers-ai", "", env, "http://127.0.0.1:4/client/v4"},
		{"local", "", env, "http://127.0.0.1:5/v1"},
		{"openai", "", nil, ""},
		{"openai", "", MapEnv(nil), ""},
		{"local", "", MapEnv(nil), ""},
		{"mock", "", env, ""},
		// The file wins over the environment.
		{"openai", "[providers.openai]\nbase_url = \"https://proxy.example.com/v1/\"\n", env, "https://proxy.example.com/v1"},
		{"groq", "[providers.groq]\nbase_url = \"https://g.example.com/openai/v1\"\n", env, "https://g.example.com/openai/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.provider+"/"+tt.want, func(t *testing.T) {
			if got := mustParse(t, tt.doc).BaseURL(tt.provider, tt.env); got != tt.want {
				t.Errorf("BaseURL(%s) = %q, want %q", tt.provider, got, tt.want)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := MapEnv(map[string]string{
		"OPENAI_API_KEY":       "sk-env",
		"MY_KEY":               "sk-mine",
		"CLOUDFLARE_API_TOKEN": "cf-token",
		"CF_TOKEN":             "cf-other",
		"GROQ_API_KEY":         "  ",
	})
	tests := []struct {
		name, provider, doc string
		wantValue, wantVar  string
		wantSource, wantErr string
	}{
		{"sdk variable", "openai", "", "sk-env", "OPENAI_API_KEY", "OPENAI_API_KEY", ""},
		{"named variable", "openai", "[providers.openai]\napi_key_env = \"MY_KEY\"\n", "sk-mine", "MY_KEY", "MY_KEY", ""},
		{"named variable unset", "anthropic", "[providers.anthropic]\napi_key_env = \"NOPE\"\n", "", "NOPE", "", ""},
		{"missing", "anthropic", "", "", "ANTHROPIC_API_KEY", "", ""},
		{"blank counts as missing", "groq", "", "", "GROQ_API_KEY", "", ""},
		{"file", "openai", "[providers.openai]\napi_key_file = \"key\"\n", "sk-from-file", "OPENAI_API_KEY", "file " + filepath.Join(dir, "key"), ""},
		{"file missing", "openai", "[providers.openai]\napi_key_file = \"nope\"\n", "", "OPENAI_API_KEY", "", "reading the key file " + filepath.Join(dir, "nope") + " named in [providers.openai]: no such file or directory"},
		{"file empty", "openai", "[providers.openai]\napi_key_file = \"empty\"\n", "", "OPENAI_API_KEY", "", "is empty"},
		{"workers-ai token", "workers-ai", "", "cf-token", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN", ""},
		{"workers-ai token from [ai]", "workers-ai", "[ai]\napi_token_env = \"CF_TOKEN\"\n[providers.workers-ai]\napi_key_env = \"MY_KEY\"\n", "cf-other", "CF_TOKEN", "CF_TOKEN", ""},
		{"workers-ai token from [providers]", "workers-ai", "[providers.workers-ai]\napi_key_env = \"MY_KEY\"\n", "sk-mine", "MY_KEY", "MY_KEY", ""},
		{"local needs none", "local", "", "", "", "", ""},
		{"local named", "local", "[providers.local]\napi_key_env = \"MY_KEY\"\n", "sk-mine", "MY_KEY", "MY_KEY", ""},
		{"unknown provider", "mock", "", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc)
			c.Dir = dir
			s, err := c.APIKey(tt.provider, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if s.Value() != tt.wantValue || s.Var != tt.wantVar || s.Source != tt.wantSource || s.IsSet() != (tt.wantValue != "") {
				t.Errorf("got value %q var %q source %q; want %q %q %q", s.Value(), s.Var, s.Source, tt.wantValue, tt.wantVar, tt.wantSource)
			}
		})
	}
}

// A Secret never prints its value, however it is formatted.
func TestSecretRedacted(t *testing.T) {
	s := NewSecret("sk-very-secret", "OPENAI_API_KEY")
	holder := struct{ Key Secret }{s}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{s, holder, &holder} {
			if out := fmt.Sprintf(f, v); strings.Contains(out, "very-secret") {
				t.Errorf("%s of %T printed the secret: %s", f, v, out)
			}
		}
	}
	if s.Value() != "sk-very-secret" || (Secret{}).String() != "[unset]" {
		t.Error("Value or String wrong")
	}
}

func TestCloudflareAndGateway(t *testing.T) {
	env := MapEnv(map[string]string{
		"CLOUDFLARE_ACCOUNT_ID":          "env-acct",
		"CLOUDFLARE_AI_GATEWAY_BASE_URL": "http://127.0.0.1:9/v1/",
		"CF_AIG_TOKEN":                   "gw-token",
		"ENVIRONMENT":                    "staging",
	})
	c := mustParse(t, "")
	if id, err := c.AccountID(env); err != nil || id != "env-acct" {
		t.Errorf("AccountID = %q, %v", id, err)
	}
	if id, err := c.AccountID(MapEnv(nil)); err != nil || id != "" {
		t.Errorf("AccountID without env = %q, %v", id, err)
	}
	if _, err := c.AccountID(MapEnv(map[string]string{"CLOUDFLARE_ACCOUNT_ID": "a/../b"})); err == nil || strings.Contains(err.Error(), "a/../b") {
		t.Errorf("AccountID with a path = %v", err)
	}
	if got := c.EnvironmentName(env); got != "staging" {
		t.Errorf("EnvironmentName = %q", got)
	}
	g, _ := c.DefaultGateway()
	if got := c.GatewayBaseURL(g, env); got != "http://127.0.0.1:9/v1" {
		t.Errorf("GatewayBaseURL = %q", got)
	}
	if tok, err := c.GatewayToken(g, env); err != nil || tok.IsSet() {
		t.Errorf("GatewayToken without token_env = %v, %v", tok, err)
	}

	c = mustParse(t, "environment = \"production\"\n[ai]\naccount_id = \"file-acct\"\n[[ai.gateway]]\nid = \"gw\"\naccount_id = \"a1\"\ntoken_env = \"CF_AIG_TOKEN\"\nurl = \"https://gw.example.com/v1\"\n")
	if id, _ := c.AccountID(env); id != "file-acct" {
		t.Errorf("AccountID = %q, want the file's", id)
	}
	if got := c.EnvironmentName(env); got != "production" {
		t.Errorf("EnvironmentName = %q", got)
	}
	g, ok := c.DefaultGateway()
	if !ok || !g.Hosted() {
		t.Fatalf("DefaultGateway = %+v", g)
	}
	if got := c.GatewayBaseURL(g, env); got != "https://gw.example.com/v1" {
		t.Errorf("GatewayBaseURL = %q", got)
	}
	if tok, err := c.GatewayToken(g, env); err != nil || tok.Value() != "gw-token" || tok.Var != "CF_AIG_TOKEN" {
		t.Errorf("GatewayToken = %v, %v", tok, err)
	}
	if tok, _ := c.GatewayToken(g, MapEnv(nil)); tok.IsSet() || tok.Var != "CF_AIG_TOKEN" {
		t.Errorf("GatewayToken unset = %+v", tok)
	}
}

func TestServerTokens(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte("# callers\nt1\n\n t2 \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, doc string
		env       map[string]string
		want      []string
		wantErr   bool
	}{
		{"default variable", "", map[string]string{"CONDUCTOR_TOKENS": "a, b,,c"}, []string{"a", "b", "c"}, false},
		{"named variable", "[server]\ntokens_env = \"T\"\n", map[string]string{"T": "x", "CONDUCTOR_TOKENS": "a"}, []string{"x"}, false},
		{"file", "[server]\ntokens_file = \"tokens\"\n", nil, []string{"t1", "t2"}, false},
		{"file missing", "[server]\ntokens_file = \"nope\"\n", nil, nil, true},
		{"none", "", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc)
			c.Dir = dir
			toks, err := c.ServerTokens(MapEnv(tt.env))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			var got []string
			for _, s := range toks {
				got = append(got, s.Value())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("tokens = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBudgetWebhook(t *testing.T) {
	env := MapEnv(map[string]string{"HOOK": "https://hooks.example.com/secret"})
	if got := (Budget{Webhook: "https://a"}).WebhookURL(env); got != "https://a" {
		t.Errorf("got %q", got)
	}
	if got := (Budget{WebhookEnv: "HOOK"}).WebhookURL(env); got != "https://hooks.example.com/secret" {
		t.Errorf("got %q", got)
	}
	if got := (Budget{}).WebhookURL(env); got != "" {
		t.Errorf("got %q", got)
	}
}
