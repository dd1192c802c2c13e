package routing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/conductor-go/conductor/config"
)

// The product page's members, each with the routing it names, against one
// fake standing for Cloudflare's gateway, the Workers AI API and OpenAI:
// selected only by the base-URL variables, configured by the page's
// wrangler.toml (plus the account id the hosted gateway needs).
func TestPageRoutes(t *testing.T) {
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	answers := map[string][]byte{
		"/gateway/v1/" + acct + "/my-gateway/anthropic/v1/messages":                  fixture("anthropic_message.json"),
		"/gateway/v1/" + acct + "/my-gateway/openai/chat/completions":                fixture("openai_chat.json"),
		"/gateway/v1/" + acct + "/my-gateway/groq/chat/completions":                  fixture("groq_chat.json"),
		"/api/client/v4/accounts/" + acct + "/ai/run/@cf/meta/llama-3.1-8b-instruct": fixture("workersai_run.json"),
		"/openai/v1/chat/completions":                                                fixture("openai_chat.json"),
	}
	var mu sync.Mutex
	hits := map[string]http.Header{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		body, ok := answers[r.URL.EscapedPath()]
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.EscapedPath())
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		hits[r.URL.EscapedPath()] = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/gateway/") {
			w.Header().Set("cf-aig-cache-status", "MISS")
		}
		w.Write(body)
	}))
	defer srv.Close()

	wrangler := "name = \"my-worker\"\n\n# wrangler.toml\n[ai]\nbinding = \"AI\"\n\n# wrangler.toml\n[[ai.gateway]]\nid = \"my-gateway\"\ncache_ttl = 3600\n" +
		"rate_limiting_requests_per_minute = 60\naccount_id = \"" + acct + "\"\n"
	cfg, err := config.Parse("wrangler.toml", []byte(wrangler), true)
	if err != nil {
		t.Fatal(err)
	}
	env := keys()
	delete(env, "CF_AIG_TOKEN")
	env["CLOUDFLARE_AI_GATEWAY_BASE_URL"] = srv.URL + "/gateway/v1"
	env["CLOUDFLARE_API_BASE_URL"] = srv.URL + "/api/client/v4"
	env["OPENAI_BASE_URL"] = srv.URL + "/openai/v1"
	r, err := New(cfg, Options{Env: config.MapEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	members := []struct {
		member, provider, model, routing, content, path string
	}{
		{"generate-summary", "workers-ai", llama, "cloudflare", "question", "/api/client/v4/accounts/" + acct + "/ai/run/@cf/meta/llama-3.1-8b-instruct"},
		{"generate-analysis", "anthropic", "claude-3-5-sonnet-20241022", "cloudflare-gateway", "Sentiment: positive.", "/gateway/v1/" + acct + "/my-gateway/anthropic/v1/messages"},
		{"write-draft", "openai", "gpt-4o", "cloudflare-gateway", "Draft ready.", "/gateway/v1/" + acct + "/my-gateway/openai/chat/completions"},
		{"extract-entities", "groq", "llama-3.1-70b-versatile", "cloudflare-gateway", "Entities: Paris.", "/gateway/v1/" + acct + "/my-gateway/groq/chat/completions"},
		{"try-o1", "openai", "o1-preview", "direct", "Draft ready.", "/openai/v1/chat/completions"},
	}
	for _, m := range members {
		t.Run(m.member, func(t *testing.T) {
			if err := r.Check(m.provider, m.routing); err != nil {
				t.Fatal(err)
			}
			p, err := r.Provider(context.Background(), m.provider, m.model, m.routing)
			if err != nil {
				t.Fatal(err)
			}
			content, meta := call(t, p, request(m.provider, m.model, false))
			if content != m.content || meta.Provider != m.provider || meta.Routing != m.routing {
				t.Errorf("content %q meta %+v", content, meta)
			}
			if m.routing == "cloudflare-gateway" && meta.CacheStatus != "MISS" {
				t.Errorf("cache status %q, want the gateway's MISS", meta.CacheStatus)
			}
			mu.Lock()
			h, ok := hits[m.path]
			mu.Unlock()
			if !ok {
				t.Fatalf("nothing reached %s", m.path)
			}
			if m.routing == "cloudflare-gateway" && h.Get("cf-aig-cache-ttl") != "3600" {
				t.Errorf("cf-aig-cache-ttl = %q, want the page's cache_ttl 3600", h.Get("cf-aig-cache-ttl"))
			}
		})
	}
}
