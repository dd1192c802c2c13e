package runner

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/store/sqlite"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The reproduction: a program runs an ensemble with the CLI's
// wiring in a few lines — config, step cache in the data directory.
func TestOpenRunQuickstart(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	c, err := Open(ctx, Options{Dir: t.TempDir(), Data: data, Env: config.MapEnv(nil)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, "../examples/quickstart.yaml", map[string]any{"question": "Why is the sea salty?"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := res.Output.(map[string]any)
	if out["escalated"] != true || out["usedFallback"] != true || out["auditFromCache"] != true {
		t.Errorf("output = %v", res.Output)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, DBName)); err != nil {
		t.Errorf("no step cache: %v", err)
	}
	// A second Conductor over the same data answers from the cache.
	c2, err := Open(ctx, Options{Dir: t.TempDir(), Data: data, Env: config.MapEnv(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	res, err = c2.Run(ctx, "../examples/quickstart.yaml", map[string]any{"question": "Why is the sea salty?"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Members {
		if m.Member == "classify-intent" && !m.Cached {
			t.Errorf("classify-intent not from the step cache: %+v", m)
		}
	}
}

// A mock-only flow without a cache block leaves no store behind.
func TestNoStoreUnlessNeeded(t *testing.T) {
	ctx := context.Background()
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "data")
	flow := write(t, dir, "f.yaml", "name: f\nflow:\n  - member: a\n    config: {provider: mock, prompt: hi}\n")
	c, err := Open(ctx, Options{Dir: dir, Data: data, Env: config.MapEnv(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Run(ctx, flow, nil); err != nil || res.Output != "hi" {
		t.Fatalf("run: %v, %+v", err, res)
	}
	c.Close()
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory created: %v", err)
	}
}

// Routes written literally are checked before any member runs, as the CLI
// does: a missing key is an ensemble.List at the member's position.
func TestRunChecksRoutes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	flow := write(t, dir, "f.yaml", "name: f\nflow:\n  - member: a\n    config: {provider: mock, prompt: hi}\n  - member: b\n    config:\n      provider: openai\n      model: gpt-4o\n      routing: direct\n")
	c, err := Open(ctx, Options{Dir: dir, Env: config.MapEnv(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Run(ctx, flow, nil)
	var list ensemble.List
	if res != nil || !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].String(), "f.yaml:9:16: member b: openai: config: routing direct needs OPENAI_API_KEY") {
		t.Fatalf("res %v err %v", res, err)
	}
	if _, err := c.Run(ctx, filepath.Join(dir, "none.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// cloudflare-gateway without an account goes through the built-in gateway:
// its cache answers the second call and the call is in its log, with the
// settings of the config file (a wrangler.toml's vars in the environment).
func TestBuiltinGateway(t *testing.T) {
	body, err := os.ReadFile("testdata/openai_chat_completion.json")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer fake.Close()
	ctx := context.Background()
	dir, data := t.TempDir(), t.TempDir()
	write(t, dir, "wrangler.toml", "name = \"w\"\n[vars]\nOPENAI_BASE_URL = \""+fake.URL+"/v1\"\n[ai]\nbinding = \"AI\"\n[[ai.gateway]]\nid = \"gw\"\ncache_ttl = 60\n")
	flow := write(t, dir, "f.yaml", "name: f\nflow:\n  - member: a\n    config: {provider: openai, model: gpt-4o, routing: cloudflare-gateway, prompt: hi}\n")
	c, err := Open(ctx, Options{Dir: dir, Data: data, Env: config.MapEnv(map[string]string{"OPENAI_API_KEY": "sk-test"})})
	if err != nil {
		t.Fatal(err)
	}
	var results []engine.MemberResult
	for range 2 {
		res, err := c.Run(ctx, flow, nil)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res.Members[0])
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || results[0].Cached || !results[1].Cached {
		t.Errorf("%d upstream calls, cached %v then %v; want one call, then the gateway's cache", calls.Load(), results[0].Cached, results[1].Cached)
	}
	if g := results[0].Gateway; g == nil || g.Kind != "built-in" || g.ID != "gw" {
		t.Errorf("gateway = %+v", g)
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, DBName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.RecentLogs(ctx, 10)
	if err != nil || len(rows) != 2 || rows[0].Gateway != "gw" {
		t.Errorf("log rows %+v, %v; want both calls logged by gateway gw", rows, err)
	}
}

func TestOpenConfigErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bad := write(t, dir, "conductor.toml", "[providers.openai]\nbase_ur = 1\n")
	var ce *config.Error
	var ces config.Errors
	if _, err := Open(ctx, Options{Config: bad}); err == nil || !(errors.As(err, &ce) || errors.As(err, &ces)) || !strings.Contains(err.Error(), bad+":2:1:") {
		t.Errorf("bad config: %v", err)
	}
	if _, err := Open(ctx, Options{Config: filepath.Join(dir, "none.toml")}); err == nil {
		t.Error("a missing named config is accepted")
	}
	w := write(t, t.TempDir(), "wrangler.toml", "name = \"w\"\n")
	if _, err := Open(ctx, Options{Config: w, Environment: "production"}); err == nil || !strings.Contains(err.Error(), "no [env.production]") {
		t.Errorf("unknown environment: %v", err)
	}
}
