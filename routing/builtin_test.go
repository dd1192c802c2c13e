package routing

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/store/sqlite"
)

// The built-in gateway plugged in with one line (Options.Gateway = set.Hook)
// over the real SQLite store: the page's cache_ttl makes the second
// identical call a HIT that never reaches the provider.
func TestBuiltinGatewayPlugsIn(t *testing.T) {
	f := newFake(t, "openai_chat.json", nil)
	env := keys()
	env["OPENAI_BASE_URL"] = f.URL + "/v1"
	cfg := parseConfig(t, "[[ai.gateway]]\nid = \"my-gateway\"\ncache_ttl = 3600\n")

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gw, _ := cfg.DefaultGateway()
	set, err := gateway.NewSet(st, []gateway.Config{{ID: gw.ID, CacheTTL: gw.CacheTTL.Std()}}, gateway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close(ctx)

	r, err := New(cfg, Options{Env: config.MapEnv(env), Gateway: set.Hook})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Provider(ctx, "openai", "gpt-4o", "cloudflare-gateway")
	if err != nil {
		t.Fatal(err)
	}
	_, first := call(t, p, request("openai", "gpt-4o", false))
	// Cache writes are asynchronous: wait for the entry, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stats, err := st.CacheStats(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if stats.Entries > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	content, second := call(t, p, request("openai", "gpt-4o", false))
	if first.Cached || first.CacheStatus != "MISS" || !second.Cached || second.CacheStatus != "HIT" {
		t.Errorf("first %+v\nsecond %+v", first, second)
	}
	if content != "Draft ready." || second.Provider != "openai" || second.Routing != "cloudflare-gateway" {
		t.Errorf("content %q meta %+v", content, second)
	}
	if n := f.count(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}
