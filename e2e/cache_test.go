package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// A second identical run is answered from the hosted gateway's cache:
// cf-aig-cache-status HIT is reported as the member's cached: true, and the
// provider behind is not called again. A different request misses.
func TestHostedGatewayCacheHit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	input := []string{"--input", `{"topic": "Go generics"}`}

	first := w.run(example("generate-article"), input...).mustSucceed(t)
	second := w.run(example("generate-article"), input...).mustSucceed(t)
	other := w.run(example("generate-article"), "--input", `{"topic": "Go iterators"}`).mustSucceed(t)

	tests := []struct {
		name        string
		res         *result
		cached      bool
		cacheStatus string
		upstream    int
	}{
		{"first run", first, false, "MISS", 1},
		{"second run", second, true, "HIT", 0},
		{"another input", other, false, "MISS", 1},
	}
	reqs := w.gw.Requests()
	if len(reqs) != len(tests) {
		t.Fatalf("gateway got %d requests, want %d", len(reqs), len(tests))
	}
	for i, tc := range tests {
		m := tc.res.member(t, "write-draft")
		if m.Cached != tc.cached || m.Provider != openai || m.Routing != rGateway || m.Output != FixtureText(openai) {
			t.Errorf("%s: %+v, want cached %v", tc.name, m, tc.cached)
		}
		if reqs[i].CacheStatus != tc.cacheStatus || reqs[i].Upstream != tc.upstream {
			t.Errorf("%s: gateway answered %s after %d upstream calls, want %s after %d", tc.name, reqs[i].CacheStatus, reqs[i].Upstream, tc.cacheStatus, tc.upstream)
		}
		if got := reqs[i].Header.Get("cf-aig-cache-ttl"); got != "3600" {
			t.Errorf("%s: cf-aig-cache-ttl %q, want the config's 3600", tc.name, got)
		}
	}
}

// The page's "First user pays, everyone else benefits": an answer from the
// gateway's cache costs nothing, as a step-cache hit does.
func TestHostedGatewayCacheHitCostsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	input := []string{"--input", `{"topic": "Go generics"}`}
	first := w.run(example("generate-article"), input...).mustSucceed(t)
	second := w.run(example("generate-article"), input...).mustSucceed(t)
	if first.Cost <= 0 {
		t.Fatalf("first run cost %v, want the model's price", first.Cost)
	}
	if m := second.member(t, "write-draft"); !m.Cached || m.Cost != 0 || second.Cost != 0 {
		t.Errorf("a gateway cache hit cost %v (member %v), want 0: the provider was not called", second.Cost, m.Cost)
	}
}

// A member with a step cache: a second run with the same data directory is
// answered by the step cache (no request at all); with a fresh data
// directory the call reaches the hosted gateway again, which answers from
// its own cache.
func TestStepCacheAndGatewayCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	input := []string{"--input", `"Status?"`}

	first := w.run(example("high-latency"), input...).mustSucceed(t)
	stepHit := w.run(example("high-latency"), input...).mustSucceed(t)
	w.data = filepath.Join(w.dir, "fresh-data")
	gatewayHit := w.run(example("high-latency"), input...).mustSucceed(t)

	tests := []struct {
		name     string
		res      *result
		cached   bool
		attempts int
	}{
		{"first run", first, false, 1},
		{"same data directory: step cache", stepHit, true, 0},
		{"fresh data directory: gateway cache", gatewayHit, true, 1},
	}
	for _, tc := range tests {
		m := tc.res.member(t, "answer")
		if m.Cached != tc.cached || m.Attempts != tc.attempts || m.Output != FixtureText(wai) {
			t.Errorf("%s: cached %v attempts %d output %v, want cached %v attempts %d", tc.name, m.Cached, m.Attempts, m.Output, tc.cached, tc.attempts)
		}
	}
	reqs := w.gw.Requests()
	if len(reqs) != 2 {
		t.Fatalf("gateway got %d requests, want 2 (the step-cache hit sends none)", len(reqs))
	}
	if reqs[0].CacheStatus != "MISS" || reqs[1].CacheStatus != "HIT" || reqs[1].Upstream != 0 {
		t.Errorf("gateway cache %s then %s (upstream %d), want MISS then HIT without an upstream call", reqs[0].CacheStatus, reqs[1].CacheStatus, reqs[1].Upstream)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "data", "conductor.db")); err != nil {
		t.Errorf("the step cache is not in --data: %v", err)
	}
}

// Cache headers from members: a short TTL, a bypass, and an explicit TTL
// winning over the gateway's cache_ttl.
func TestCacheHeaders(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	res := w.run(ensembleFile("cache-headers"), "--input", `"Ticker: NET"`).mustSucceed(t)
	checkMembers(t, res, []wantMember{
		{member: "analyze-live-feed", provider: wai, model: llama, routing: rGateway},
		{member: "fresh-quote", provider: wai, model: llama, routing: rGateway},
		{member: "default-ttl", provider: openai, model: "gpt-4o-mini", routing: rGateway},
	})
	checkCalls(t, w, "cache-headers", []wantCall{
		{fake: gw, provider: wai, model: llama, member: "analyze-live-feed", user: "Live: Ticker: NET", cacheTTL: "60"},
		{fake: gw, provider: wai, model: llama, member: "fresh-quote", user: "Quote: Ticker: NET", skipCache: true},
		{fake: gw, provider: openai, model: "gpt-4o-mini", member: "default-ttl", user: "Ticker: NET", cacheTTL: "3600"},
	})
	for _, ex := range w.gw.Requests() {
		want := "MISS"
		if ex.Header.Get("cf-aig-skip-cache") == "true" {
			want = ""
		}
		if ex.CacheStatus != want {
			t.Errorf("%s: cache status %q, want %q", ex.Path, ex.CacheStatus, want)
		}
	}
}

// The page's setup as written, in a wrangler.toml in the working directory
// (no --config), plus the account id and token of a hosted gateway.
func TestWranglerTomlInWorkingDirectory(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	wrangler := `name = "my-worker"
main = "src/index.ts"
compatibility_date = "2024-09-23"

# wrangler.toml
[ai]
binding = "AI"

# wrangler.toml
[[ai.gateway]]
id = "my-gateway"
cache_ttl = 3600  # Enable caching
account_id = "` + gatewayAccount + `"
token_env = "CF_AIG_TOKEN"
`
	if err := os.WriteFile(filepath.Join(w.dir, "wrangler.toml"), []byte(wrangler), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(w.config); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(example("fast-extraction"))
	if err != nil {
		t.Fatal(err)
	}
	o := runConductor(t, w.dir, w.env, "run", abs, "--json", "--input", `"Paris"`)
	res := o.mustSucceed(t)
	checkMembers(t, res, []wantMember{{member: "extract-entities", provider: groq, model: "llama-3.1-70b-versatile", routing: rGateway}})
	checkCalls(t, w, "fast-extraction", []wantCall{{fake: gw, provider: groq, model: "llama-3.1-70b-versatile", member: "extract-entities",
		user: "Paris", temperature: temp(0.2), cacheTTL: "3600"}})
}
