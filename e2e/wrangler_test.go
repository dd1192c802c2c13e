package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// The reproduction: the wrangler.toml users deploy with, as
// Cloudflare writes it. Its top-level account_id serves Workers AI (no
// CLOUDFLARE_ACCOUNT_ID exported), and its [vars] — [env.production.vars]
// with --env production — reach ${env.*}, so the page's
// environment-specific routing picks its route from the same file.
func TestWranglerEnvironments(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		provider string
		fake     string
	}{
		{"top-level vars", nil, wai, wai},
		{"--env production", []string{"--env", "production"}, anth, anth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configBuiltin)
			cfg := filepath.Join(w.dir, "wrangler.toml")
			if err := os.WriteFile(cfg, []byte(`name = "my-worker"
main = "src/index.ts"
compatibility_date = "2024-09-23"
account_id = "`+workersAccount+`"

[vars]
ENVIRONMENT = "development"

[env.production]
name = "my-worker-production"

[env.production.vars]
ENVIRONMENT = "production"

[ai]
binding = "AI"

[[ai.gateway]]
id = "`+gatewayID+`"
`), 0o600); err != nil {
				t.Fatal(err)
			}
			env := withEnv(w.env, "CLOUDFLARE_ACCOUNT_ID=", "ENVIRONMENT=")
			abs, _ := filepath.Abs(example("environment-routing"))
			args := append([]string{"run", abs, "--json", "--config", cfg, "--data", w.data, "--input", `"hi"`}, tc.args...)
			res := runConductor(t, w.dir, env, args...).mustSucceed(t)
			if m := res.member(t, "generate-text"); m.Provider != tc.provider {
				t.Errorf("provider %s, want %s", m.Provider, tc.provider)
			}
			if n := len(w.fake(tc.fake).Requests()); n != 1 {
				t.Errorf("%s got %d requests, want 1 (%s)", tc.fake, n, w.requestCounts())
			}
		})
	}
}
