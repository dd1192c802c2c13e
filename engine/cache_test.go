package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/store/sqlite"
)

func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const twinFlow = `
name: twins
flow:
  - member: first
    config: {provider: mock, mock: {reply: "the answer"}, prompt: "Q: ${input.q}"}
    cache: {ttl: 60}
  - member: second
    config: {provider: mock, mock: {reply: "the answer"}, prompt: "Q: ${input.q}"}
    cache: {ttl: 60}
`

func TestCacheHitWithinOneRun(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	res, err := New(Options{Cache: store}).Run(context.Background(), parse(t, twinFlow), map[string]any{"q": "why"})
	if err != nil {
		t.Fatal(err)
	}
	first, second := member(t, res, "first"), member(t, res, "second")
	if first.Cached || first.Attempts != 1 {
		t.Errorf("first = %+v, want a miss", first)
	}
	if !second.Cached || second.Attempts != 0 || second.Usage != (Usage{}) || second.CostNanoUSD != 0 || second.Output != "the answer" || !second.Success {
		t.Errorf("second = %+v, want a hit", second)
	}
	stats, err := store.CacheStats(context.Background(), time.Now())
	if err != nil || stats.ByScope[CacheScope] != 1 {
		t.Errorf("stats = %+v, %v; want one step entry", stats, err)
	}
}

// TestCachePersists runs one engine, closes its store, and runs a second
// engine on a new store over the same file: the answer is still there.
func TestCachePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conductor.db")
	ens := parse(t, `
name: persist
flow:
  - member: a
    config: {provider: openai, model: gpt-4o, routing: direct}
    cache: {ttl: 3600}
`)
	p := &scripted{name: "openai", replies: []string{`{"n": 1}`}, usage: conductor.Usage{InputTokens: 5, OutputTokens: 5}}
	s1 := openStore(t, path)
	res, err := New(Options{Cache: s1, Resolver: newResolver(p), Pricing: fixedPrices{}}).Run(context.Background(), ens, "q")
	if err != nil {
		t.Fatal(err)
	}
	if member(t, res, "a").Cached || res.CostNanoUSD == 0 {
		t.Fatalf("first run = %+v", res.Members[0])
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	// The second engine has no route to OpenAI at all (offline, no key):
	// the warm cache answers without one.
	s2 := openStore(t, path)
	defer s2.Close()
	res, err = New(Options{Cache: s2, Pricing: fixedPrices{}}).Run(context.Background(), ens, "q")
	if err != nil {
		t.Fatal(err)
	}
	a := member(t, res, "a")
	if !a.Cached || a.Attempts != 0 || res.CostNanoUSD != 0 || a.Provider != "openai" || a.Routing != "direct" {
		t.Errorf("second run = %+v", a)
	}
	if out, ok := a.Output.(map[string]any); !ok || out["n"] != 1.0 {
		t.Errorf("cached output = %#v, want the decoded JSON", a.Output)
	}
}

func TestCacheMisses(t *testing.T) {
	tests := []struct {
		name    string
		second  string // the second member's config and cache
		input2  any    // the second run's input; nil: same as the first
		advance time.Duration
		hit     bool
	}{
		{"identical", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 0, true},
		{"other input", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, "other", 0, false},
		{"other temperature", `config: {provider: mock, mock: {reply: r}, temperature: 0.7}
    cache: {ttl: 60}`, nil, 0, false},
		{"other model", `config: {provider: mock, model: mock-2, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 0, false},
		{"other routing", `config: {provider: mock, routing: cloudflare-gateway, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 0, false},
		{"other mock reply", `config: {provider: mock, mock: {reply: s}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 0, false},
		{"mock latency does not matter", `config: {provider: mock, mock: {reply: r, latency: 1ms}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 0, true},
		{"expired", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 61 * time.Second, false},
		{"not expired", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 59 * time.Second, true},
		// The reproduction: the reader's TTL bounds the age of
		// what it is served, whatever the writer's TTL.
		{"older than the reader's ttl", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 2}`, nil, 3 * time.Second, false},
		{"younger than the reader's ttl", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 2}`, nil, time.Second, true},
		{"the writer's ttl still bounds a longer reader", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 86400}`, nil, 61 * time.Second, false},
		// Scoped as documented: by the ensemble's name.
		{"other ensemble, same request", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60}`, nil, 0, false},
		{"bypass", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 60, bypass: true}`, nil, 0, false},
		{"no cache block", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}`, nil, 0, false},
		{"ttl 0", `config: {provider: mock, mock: {reply: r}, temperature: 0.5}
    cache: {ttl: 0}`, nil, 0, false},
	}
	// One store for every case (opening one costs more than the test),
	// emptied before each.
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := store.PurgeCache(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			eng := New(Options{Cache: store, Now: func() time.Time { return now }})
			one := parse(t, "name: one\nflow:\n  - member: a\n    config: {provider: mock, mock: {reply: r}, temperature: 0.5}\n    cache: {ttl: 60}\n")
			if _, err := eng.Run(context.Background(), one, "in"); err != nil {
				t.Fatal(err)
			}
			now = now.Add(tc.advance)
			name := "one" // the same ensemble, another member
			if strings.HasPrefix(tc.name, "other ensemble") {
				name = "two"
			}
			two := parse(t, "name: "+name+"\nflow:\n  - member: b\n    "+tc.second+"\n")
			in := any("in")
			if tc.input2 != nil {
				in = tc.input2
			}
			res, err := eng.Run(context.Background(), two, in)
			if err != nil {
				t.Fatal(err)
			}
			if b := member(t, res, "b"); b.Cached != tc.hit {
				t.Errorf("cached = %v, want %v", b.Cached, tc.hit)
			}
		})
	}
}

func TestCacheBypassWritesFresh(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	p := &scripted{name: "openai", replies: []string{"old", "new", "unused"}}
	eng := New(Options{Cache: store, Resolver: newResolver(p)})
	mk := func(bypass bool) *ensemble.Ensemble {
		b := "false"
		if bypass {
			b = "true"
		}
		return parse(t, "name: b\nflow:\n  - member: m\n    config: {provider: openai, model: gpt-4o}\n    cache: {ttl: 60, bypass: "+b+"}\n")
	}
	for i, tc := range []struct {
		bypass bool
		want   string
		cached bool
	}{{false, "old", false}, {true, "new", false}, {false, "new", true}} {
		res, err := eng.Run(context.Background(), mk(tc.bypass), "q")
		if err != nil {
			t.Fatal(err)
		}
		if m := member(t, res, "m"); m.Output != tc.want || m.Cached != tc.cached {
			t.Errorf("run %d: output %v cached %v, want %v %v", i+1, m.Output, m.Cached, tc.want, tc.cached)
		}
	}
}

func TestCacheSkipsFailuresAndLowScores(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	ens := parse(t, `
name: nocache
flow:
  - member: low
    config: {provider: mock, mock: {reply: meh, score: 0.2}}
    scoring: {thresholds: {minimum: 0.5}, onFailure: continue}
    cache: {ttl: 60}
  - member: failing
    config: {provider: mock, mock: {reply: x, fail: {times: -1}}}
    retry: {maxAttempts: 1, onFailure: continue}
    cache: {ttl: 60}
`)
	if _, err := New(Options{Cache: store, Logger: quiet()}).Run(context.Background(), ens, "hi"); err != nil {
		t.Fatal(err)
	}
	stats, err := store.CacheStats(context.Background(), time.Now())
	if err != nil || stats.Entries != 0 {
		t.Errorf("stats = %+v, %v; want nothing cached", stats, err)
	}
}

// TestCacheStoreFailure runs against a closed store: reads and writes
// fail, and the member still answers.
func TestCacheStoreFailure(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	store.Close()
	res, err := New(Options{Cache: store, Logger: quiet()}).Run(context.Background(), parse(t, twinFlow), map[string]any{"q": "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Members {
		if !m.Success || m.Cached {
			t.Errorf("%s = %+v", m.Member, m)
		}
	}
}

func TestCacheKey(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	base := func() *conductor.ChatRequest {
		return &conductor.ChatRequest{Provider: "openai", Model: "gpt-4o",
			Messages: []conductor.Message{conductor.TextMessage("user", "hi")}, Temperature: f(0.5)}
	}
	k := CacheKey("e", base(), "direct", nil)
	if len(k) != 64 {
		t.Fatalf("key %q is not sha256 hex", k)
	}
	if CacheKey("e", base(), "direct", nil) != k {
		t.Error("key is not stable")
	}
	changes := map[string]func(r *conductor.ChatRequest){
		"model":       func(r *conductor.ChatRequest) { r.Model = "gpt-4o-mini" },
		"message":     func(r *conductor.ChatRequest) { r.Messages[0].Content = conductor.Texts("hello") },
		"role":        func(r *conductor.ChatRequest) { r.Messages[0].Role = "system" },
		"temperature": func(r *conductor.ChatRequest) { r.Temperature = f(0) },
		"no temp":     func(r *conductor.ChatRequest) { r.Temperature = nil },
		"topP":        func(r *conductor.ChatRequest) { r.TopP = f(1) },
		"maxTokens":   func(r *conductor.ChatRequest) { r.MaxTokens = 10 },
		"stop":        func(r *conductor.ChatRequest) { r.Stop = []string{"x"} },
		"format":      func(r *conductor.ChatRequest) { r.ResponseFormat = &conductor.ResponseFormat{Type: "json_object"} },
	}
	for name, change := range changes {
		r := base()
		change(r)
		if CacheKey("e", r, "direct", nil) == k {
			t.Errorf("changing %s kept the key", name)
		}
	}
	if CacheKey("e", base(), "cloudflare-gateway", nil) == k {
		t.Error("routing is not in the key")
	}
	// Call options (metadata, the gateway's TTL) do not change the answer.
	r := base()
	r.Options.Metadata = map[string]string{"member": "other"}
	if CacheKey("e", r, "direct", nil) != k {
		t.Error("call options changed the key")
	}
}

// TestCachedFlag: a gateway's cache hit on the route marks the member
// cached; a step-cache hit replaced by a scoring retry's fresh answer does
// not.
func TestCachedFlag(t *testing.T) {
	t.Run("gateway hit", func(t *testing.T) {
		ens := parse(t, "name: g\nflow:\n  - member: m\n    config: {provider: openai, model: gpt-4o}\n")
		res, err := New(Options{Resolver: resolverOf(gatewayHit{})}).Run(context.Background(), ens, "hi")
		if err != nil {
			t.Fatal(err)
		}
		if m := member(t, res, "m"); !m.Cached || m.Attempts != 1 {
			t.Errorf("member = %+v", m)
		}
	})
	t.Run("scoring retry after a step-cache hit", func(t *testing.T) {
		store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
		defer store.Close()
		p := &scripted{name: "openai", replies: []string{"a", "a b"}}
		eng := New(Options{Cache: store, Resolver: newResolver(p)})
		plain := parse(t, "name: p\nflow:\n  - member: m\n    config: {provider: openai, model: gpt-4o}\n    cache: {ttl: 60}\n")
		if _, err := eng.Run(context.Background(), plain, "q"); err != nil {
			t.Fatal(err)
		}
		scored := parse(t, `
name: p
flow:
  - member: m
    config: {provider: openai, model: gpt-4o}
    cache: {ttl: 60}
    scoring: {evaluator: rules, rules: [{contains: b}], thresholds: {minimum: 1}, onFailure: retry, retryLimit: 1}
`)
		res, err := eng.Run(context.Background(), scored, "q")
		if err != nil {
			t.Fatal(err)
		}
		if m := member(t, res, "m"); m.Cached || m.Output != "a b" || m.Attempts != 1 || !m.Scoring.Passed {
			t.Errorf("member = %+v", m)
		}
		// The passing answer replaced the cached one.
		res, err = eng.Run(context.Background(), plain, "q")
		if err != nil {
			t.Fatal(err)
		}
		if m := member(t, res, "m"); !m.Cached || m.Output != "a b" {
			t.Errorf("third run = %+v", m)
		}
	})
}

type gatewayHit struct{}

func (gatewayHit) Chat(_ context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return &conductor.ChatResponse{Content: conductor.Texts("from the gateway cache"),
		Meta: conductor.ResponseMeta{Provider: req.Provider, Cached: true, CacheStatus: "HIT", Attempts: 1}}, nil
}

func (gatewayHit) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, errors.New("unused")
}

// Issue 11, item 7: the step cache stored a 52 MB row for a 50 MB answer.
// Its entries are bounded like the gateway's: a larger answer is used,
// not stored, and the next run calls the model again.
func TestStepCacheEntriesBounded(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	ens := parse(t, `
name: big
flow:
  - member: a
    config: {provider: openai, model: gpt-4o, routing: direct}
    cache: {ttl: 3600}
`)
	for _, tt := range []struct {
		name   string
		reply  string
		cached bool // on the second run
	}{
		{"small", "a short answer", true},
		{"above the bound", strings.Repeat("x", 64<<10), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &scripted{name: "openai", replies: []string{tt.reply}}
			e := New(Options{Cache: store, Resolver: newResolver(p), MaxEntryBytes: 32 << 10})
			for run := range 2 {
				res, err := e.Run(context.Background(), ens, tt.name)
				if err != nil {
					t.Fatal(err)
				}
				if m := member(t, res, "a"); m.Output != tt.reply || (run == 1 && m.Cached != tt.cached) {
					t.Errorf("run %d: cached %v, output %.20v; want cached %v on the second run", run, m.Cached, m.Output, tt.cached)
				}
			}
		})
	}
}
