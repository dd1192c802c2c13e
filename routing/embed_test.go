package routing

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// Embedding routes are planned as chat routes are: the same URLs, keys and
// cf-aig-* headers, Cloudflare's hosted gateway included.
func TestEmbedderRoutes(t *testing.T) {
	const bge = "@cf/baai/bge-small-en-v1.5"
	tests := []struct {
		name, provider, routing, conf, fixture, model string
		baseVar, basePath                             string // the variable pointing at the fake, and its path
		path                                          string
		header                                        map[string]string
		respHeader                                    map[string]string
		cached                                        bool
	}{
		{name: "workers-ai direct", provider: "workers-ai", routing: "direct", fixture: "workersai_embed.json", model: bge,
			baseVar: "CLOUDFLARE_API_BASE_URL", basePath: "/client/v4",
			path:   "/client/v4/accounts/" + acct + "/ai/run/@cf/baai/bge-small-en-v1.5",
			header: map[string]string{"Authorization": "Bearer cf-test-token", "Cf-Aig-Authorization": ""}},
		{name: "workers-ai cloudflare", provider: "workers-ai", routing: "cloudflare", fixture: "workersai_embed.json", model: bge,
			baseVar: "CLOUDFLARE_API_BASE_URL", basePath: "/client/v4",
			path: "/client/v4/accounts/" + acct + "/ai/run/@cf/baai/bge-small-en-v1.5"},
		{name: "workers-ai hosted gateway", provider: "workers-ai", routing: "cloudflare-gateway", conf: hosted, fixture: "workersai_embed.json", model: bge,
			baseVar: "CLOUDFLARE_AI_GATEWAY_BASE_URL", basePath: "/v1",
			path: "/v1/" + acct + "/my-gateway/workers-ai/@cf/baai/bge-small-en-v1.5",
			header: map[string]string{"Authorization": "Bearer cf-test-token", "Cf-Aig-Authorization": "Bearer aig-test-token",
				"Cf-Aig-Cache-Ttl": "3600", "Cf-Aig-Metadata": `{"user":"alice"}`},
			respHeader: map[string]string{"cf-aig-cache-status": "HIT"}, cached: true},
		{name: "openai hosted gateway", provider: "openai", routing: "cloudflare-gateway", conf: hosted, fixture: "openai_embeddings.json", model: "text-embedding-3-small",
			baseVar: "CLOUDFLARE_AI_GATEWAY_BASE_URL", basePath: "/v1",
			path:   "/v1/" + acct + "/my-gateway/openai/embeddings",
			header: map[string]string{"Authorization": "Bearer sk-test-openai", "Cf-Aig-Authorization": "Bearer aig-test-token"}},
		{name: "openai direct", provider: "openai", routing: "direct", fixture: "openai_embeddings.json", model: "text-embedding-3-small",
			baseVar: "OPENAI_BASE_URL", basePath: "/v1", path: "/v1/embeddings",
			header: map[string]string{"Authorization": "Bearer sk-test-openai"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.fixture, tt.respHeader)
			env := keys()
			env[tt.baseVar] = f.URL + tt.basePath
			r, err := New(parseConfig(t, tt.conf), Options{Env: config.MapEnv(env)})
			if err != nil {
				t.Fatal(err)
			}
			e, builtin, err := r.Embedder(context.Background(), tt.provider, tt.routing)
			if err != nil || builtin != "" {
				t.Fatalf("Embedder: %v (builtin %q)", err, builtin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := e.Embed(ctx, &conductor.EmbedRequest{Model: tt.model, Input: []string{"hello", "world"},
				Options: conductor.CallOptions{User: "alice"}})
			if err != nil {
				t.Fatal(err)
			}
			got := f.last(t)
			if got.Method != "POST" || got.Path != tt.path {
				t.Errorf("%s %s, want POST %s", got.Method, got.Path, tt.path)
			}
			for k, v := range tt.header {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if len(resp.Vectors) != 2 || resp.Meta.Provider != tt.provider || resp.Meta.Routing != tt.routing || resp.Meta.Cached != tt.cached {
				t.Errorf("answer %+v", resp)
			}
		})
	}
}

func TestEmbedderBuiltinAndRefusals(t *testing.T) {
	r, err := New(parseConfig(t, ""), Options{Env: config.MapEnv(keys())})
	if err != nil {
		t.Fatal(err)
	}
	// Without an account_id, cloudflare-gateway is the built-in gateway's:
	// the upstream is the direct one, and the caller wraps it.
	e, builtin, err := r.Embedder(context.Background(), "openai", "cloudflare-gateway")
	if err != nil || e == nil || builtin != "default" {
		t.Errorf("built-in: %v %q", err, builtin)
	}
	for _, p := range []string{"anthropic", "mock", "acme"} {
		_, _, err := r.Embedder(context.Background(), p, "direct")
		if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassConfig {
			t.Errorf("%s: err = %v", p, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Embedder(ctx, "openai", "direct"); err == nil {
		t.Error("a canceled context built a route")
	}
}

// A key the upstream quotes in its error never leaves the route.
func TestEmbedderRedacts(t *testing.T) {
	f := newFake(t, "openai_401_echo.json", map[string]string{"X-Status": "401"})
	env := keys()
	env["OPENAI_BASE_URL"] = f.URL + "/v1"
	r, err := New(parseConfig(t, ""), Options{Env: config.MapEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := r.Embedder(context.Background(), "openai", "direct")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Embed(context.Background(), &conductor.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"a"}})
	ce, ok := conductor.AsError(err)
	if !ok || ce.Class != conductor.ClassAuth || ce.Status != 401 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "sk-test-openai") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q", err)
	}
	// The local server's model names apply to embeddings too.
	local := parseConfig(t, "[ai]\nurl = \""+f.URL+"/v1\"\n[ai.model]\n\"@cf/baai/bge-small-en-v1.5\" = \"nomic-embed-text\"\n")
	r, err = New(local, Options{Env: config.MapEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	e, _, err = r.Embedder(context.Background(), "workers-ai", "cloudflare")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.Embed(context.Background(), &conductor.EmbedRequest{Model: "@cf/baai/bge-small-en-v1.5", Input: []string{"a"}})
	if got := f.last(t); got.Path != "/v1/embeddings" || !reflect.DeepEqual(got.Body["model"], "nomic-embed-text") {
		t.Errorf("local server saw %s %v", got.Path, got.Body)
	}
}
