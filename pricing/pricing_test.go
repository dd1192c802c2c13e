package pricing

import (
	"math"
	"slices"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

func TestCost(t *testing.T) {
	tab := Default()
	tests := []struct {
		name            string
		provider, model string
		u               conductor.Usage
		want            int64
		known           bool
	}{
		{"gpt-4o", "openai", "gpt-4o", conductor.Usage{InputTokens: 1000, OutputTokens: 500}, 1000*2500 + 500*10000, true},
		// OpenAI's prompt_tokens include the cached ones.
		{"gpt-4o cached", "openai", "gpt-4o", conductor.Usage{InputTokens: 1000, CachedInputTokens: 400, OutputTokens: 500},
			600*2500 + 400*1250 + 500*10000, true},
		{"gpt-4o-mini", "openai", "gpt-4o-mini", conductor.Usage{InputTokens: 1_000_000, CachedInputTokens: 1_000_000},
			75_000_000, true},
		// Anthropic: 100 plain input tokens, 1000 read from the cache, 500 written.
		{"claude cache read and write", "anthropic", "claude-3-5-sonnet-20241022",
			conductor.Usage{InputTokens: 1600, CachedInputTokens: 1000, CacheWriteInputTokens: 500, OutputTokens: 200},
			100*3000 + 1000*300 + 500*3750 + 200*15000, true},
		{"claude opus 4", "anthropic", "claude-opus-4-20250514", conductor.Usage{InputTokens: 10, OutputTokens: 10},
			10*15000 + 10*75000, true},
		{"workers ai per million", "workers-ai", "@cf/meta/llama-3.1-8b-instruct",
			conductor.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 1_109_000_000, true},
		{"groq 70b", "groq", "llama-3.1-70b-versatile", conductor.Usage{InputTokens: 1000, OutputTokens: 1000}, 1_380_000, true},
		{"groq 8b", "groq", "llama-3.1-8b-instant", conductor.Usage{InputTokens: 3, OutputTokens: 7}, 3*50 + 7*80, true},
		{"o1-preview", "openai", "o1-preview", conductor.Usage{InputTokens: 1, OutputTokens: 1}, 15000 + 60000, true},
		{"mock is free", "mock", "anything", conductor.Usage{InputTokens: 1e6, OutputTokens: 1e6}, 0, true},
		{"local is free", "local", "llama3.2", conductor.Usage{InputTokens: 1e6, OutputTokens: 1e6}, 0, true},
		{"unknown model", "openai", "gpt-9", conductor.Usage{InputTokens: 1000, OutputTokens: 100}, 1000*15000 + 100*75000, false},
		{"no usage", "openai", "gpt-4o", conductor.Usage{}, 0, true},
		{"negative counts", "openai", "gpt-4o", conductor.Usage{InputTokens: -5, OutputTokens: -1}, 0, true},
		// More cached than prompt tokens: bill the cache counts, never negative.
		{"contradicting counts", "openai", "gpt-4o", conductor.Usage{InputTokens: 10, CachedInputTokens: 20}, 20 * 1250, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := tab.Cost(tt.provider, tt.model, tt.u)
			if got != tt.want || known != tt.known {
				t.Errorf("Cost(%s, %s, %+v) = %d, %v; want %d, %v", tt.provider, tt.model, tt.u, got, known, tt.want, tt.known)
			}
		})
	}
}

func TestCostRounding(t *testing.T) {
	tab := New()
	// 0.1234 nano-USD per token.
	if err := tab.Override(Price{Provider: "openai", Model: "tiny", Input: 0.0001234, Output: 0.000499}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, out int
		cost    int64 // nearest
		max     int64 // rounded up
	}{
		{1, 0, 0, 1},
		{4, 0, 0, 1},       // 0.4936
		{5, 0, 1, 1},       // 0.617
		{0, 1, 0, 1},       // 0.4999
		{0, 2, 1, 1},       // 0.9998
		{100, 100, 62, 63}, // 12.34 + 49.9
	}
	for _, tt := range tests {
		u := conductor.Usage{InputTokens: tt.in, OutputTokens: tt.out}
		if got, _ := tab.Cost("openai", "tiny", u); got != tt.cost {
			t.Errorf("Cost(%d in, %d out) = %d, want %d", tt.in, tt.out, got, tt.cost)
		}
		if got := tab.MaxCost("openai", "tiny", tt.in, tt.out); got != tt.max {
			t.Errorf("MaxCost(%d in, %d out) = %d, want %d", tt.in, tt.out, got, tt.max)
		}
	}
}

func TestLookup(t *testing.T) {
	tab := Default()
	tests := []struct {
		provider, model string
		want            string // the table's model; "" when unknown
	}{
		{"openai", "gpt-4o", "gpt-4o"},
		{"openai", "gpt-4o-2024-08-06", "gpt-4o"},
		{"openai", "openai/gpt-4o", "gpt-4o"},
		{"OpenAI", "GPT-4o", "gpt-4o"},
		{"", "gpt-4o", "gpt-4o"},
		{"openai", "gpt-4o-mini", "gpt-4o-mini"},
		{"openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"openai", "o1-preview-2024-09-12", "o1-preview"},
		{"openai", "o1-2024-12-17", "o1"},
		{"openai", "o3-mini", "o3-mini"},
		{"openai", "gpt-4.1", "gpt-4.1"},
		{"openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"},
		{"anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"},
		{"anthropic", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022"},
		{"anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"},
		{"anthropic", "claude-3.5-sonnet", "claude-3-5-sonnet-20241022"},
		{"anthropic", "anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"},
		{"anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"},
		{"anthropic", "claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"},
		{"anthropic", "claude-sonnet-4-0", "claude-sonnet-4-20250514"},
		{"anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514"},
		{"anthropic", "claude-opus-4-0", "claude-opus-4-20250514"},
		{"groq", "llama-3.1-70b-versatile", "llama-3.1-70b-versatile"},
		{"groq", "groq/llama-3.3-70b-versatile", "llama-3.3-70b-versatile"},
		{"groq", "llama-3.1-8b-instant", "llama-3.1-8b-instant"},
		{"workers-ai", "@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.1-8b-instruct"},
		{"workers-ai", "llama-3.1-8b-instruct", "@cf/meta/llama-3.1-8b-instruct"},
		{"workers-ai", "@cf/meta/llama-3.1-8b-instruct-fp8", "@cf/meta/llama-3.1-8b-instruct-fp8"},
		{"workers-ai", "@cf/meta/llama-3.1-8b-instruct-awq", "@cf/meta/llama-3.1-8b-instruct-awq"},
		{"workers-ai", "@cf/meta/llama-3.1-8b-instruct-fp8-fast", "@cf/meta/llama-3.1-8b-instruct-fp8-fast"},
		{"", "cloudflare/@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.1-8b-instruct"},
		{"openai", "gpt-5", ""},
		{"openai", "gpt-4", ""},
		{"anthropic", "claude-2.1", ""},
		{"groq", "llama-3.1-8b", ""},
		{"openai", "", ""},
	}
	for _, tt := range tests {
		p, known := tab.Lookup(tt.provider, tt.model)
		if tt.want == "" {
			if known {
				t.Errorf("Lookup(%q, %q) found %s, want unknown", tt.provider, tt.model, p.Model)
			}
			continue
		}
		if !known || p.Model != tt.want {
			t.Errorf("Lookup(%q, %q) = %q known=%v, want %q", tt.provider, tt.model, p.Model, known, tt.want)
		}
	}
}

// The brief's and the product page's models are all in the embedded table,
// under their own provider.
func TestDefaultCoversModels(t *testing.T) {
	tab := Default()
	for _, m := range []struct{ provider, model string }{
		{"workers-ai", "@cf/meta/llama-3.1-8b-instruct"},
		{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"openai", "o1-preview"}, {"openai", "o1"},
		{"openai", "o3-mini"}, {"openai", "gpt-4.1"}, {"openai", "gpt-4.1-mini"},
		{"anthropic", "claude-3-5-sonnet-20241022"}, {"anthropic", "claude-3-5-haiku-20241022"},
		{"anthropic", "claude-3-7-sonnet-20250219"}, {"anthropic", "claude-sonnet-4-20250514"},
		{"anthropic", "claude-opus-4-20250514"},
		{"groq", "llama-3.1-70b-versatile"}, {"groq", "llama-3.1-8b-instant"}, {"groq", "llama-3.3-70b-versatile"},
	} {
		p, known := tab.Lookup(m.provider, m.model)
		if !known || p.Provider != m.provider || p.Input <= 0 || p.Output <= 0 {
			t.Errorf("%s %s: %+v known=%v", m.provider, m.model, p, known)
		}
	}
}

// The page's "Cost (per 1K tokens)" table is approximate; list prices for a
// 1K-token call split evenly between input and output must land within a
// factor of four of it, and the comparisons the page draws must hold.
func TestPageApproxCost(t *testing.T) {
	tab := Default()
	per1K := func(provider, model string) float64 {
		n, known := tab.Cost(provider, model, conductor.Usage{InputTokens: 500, OutputTokens: 500})
		if !known {
			t.Fatalf("%s %s unknown", provider, model)
		}
		return float64(n) / 1e9
	}
	page := []struct {
		provider, model string
		approx          float64
	}{
		{"workers-ai", "@cf/meta/llama-3.1-8b-instruct", 0.001},
		{"openai", "gpt-4o", 0.005},
		{"openai", "gpt-4o-mini", 0.0002},
		{"anthropic", "claude-3-5-sonnet-20241022", 0.003},
		{"groq", "llama-3.1-70b-versatile", 0.0008},
	}
	cost := map[string]float64{}
	for _, p := range page {
		c := per1K(p.provider, p.model)
		cost[p.model] = c
		if r := c / p.approx; r < 0.25 || r > 4 {
			t.Errorf("%s: $%.6f per 1K tokens, page says ~$%.4f", p.model, c, p.approx)
		}
	}
	cheaper := [][2]string{
		{"gpt-4o-mini", "gpt-4o"},
		{"gpt-4o-mini", "claude-3-5-sonnet-20241022"},
		{"@cf/meta/llama-3.1-8b-instruct", "gpt-4o"},
		{"@cf/meta/llama-3.1-8b-instruct", "claude-3-5-sonnet-20241022"},
		{"llama-3.1-70b-versatile", "gpt-4o"},
		{"llama-3.1-70b-versatile", "claude-3-5-sonnet-20241022"},
	}
	for _, c := range cheaper {
		if cost[c[0]] >= cost[c[1]] {
			t.Errorf("%s ($%.6f) not cheaper than %s ($%.6f)", c[0], cost[c[0]], c[1], cost[c[1]])
		}
	}
	// "With Gateway Cache (90% hit rate) … gpt-4o at $0.0005 per 1K tokens":
	// a tenth of the calls paying.
	if eff := cost["gpt-4o"] / 10; eff < 0.0005/4 || eff > 0.0005*4 {
		t.Errorf("gpt-4o at a 90%% hit rate: $%.6f per 1K, page says ~$0.0005", eff)
	}
}

func TestMaxCost(t *testing.T) {
	tab := Default()
	tests := []struct {
		name            string
		provider, model string
		in, out         int
		want            int64
	}{
		{"gpt-4o", "openai", "gpt-4o", 1000, 500, 1000*2500 + 500*10000},
		// A prompt may be written to Anthropic's cache at 1.25x input.
		{"claude reserves the write price", "anthropic", "claude-3-5-sonnet-20241022", 1000, 100, 1000*3750 + 100*15000},
		{"unknown uses the default", "openai", "gpt-9", 10, 10, 10*15000 + 10*75000},
		{"mock", "mock", "m", 1e6, 1e6, 0},
		{"negative", "openai", "gpt-4o", -1, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.MaxCost(tt.provider, tt.model, tt.in, tt.out); got != tt.want {
				t.Errorf("MaxCost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestOverride(t *testing.T) {
	tab := Default()
	if err := tab.Override(Price{Provider: "openai", Model: "gpt-4o", Input: 5, Output: 15}); err != nil {
		t.Fatal(err)
	}
	u := conductor.Usage{InputTokens: 1000, CachedInputTokens: 1000, OutputTokens: 1000}
	// Every name of the model follows; a cached price not given is the input price.
	for _, m := range []string{"gpt-4o", "gpt-4o-2024-08-06", "openai/gpt-4o"} {
		if got, known := tab.Cost("openai", m, u); got != 1000*5000+1000*15000 || !known {
			t.Errorf("after override Cost(%s) = %d, %v", m, got, known)
		}
	}
	// A fresh Default is untouched.
	if got, _ := Default().Cost("openai", "gpt-4o", u); got != 1000*1250+1000*10000 {
		t.Errorf("Default() shares state with an overridden table: %d", got)
	}
	// A new provider's model, and a model another provider also sells.
	if err := tab.Override(
		Price{Provider: "local", Model: "priced-local", Input: 1, Output: 1},
		Price{Provider: "openrouter", Model: "openai/gpt-4o-mini", Input: 1, Output: 2},
	); err != nil {
		t.Fatal(err)
	}
	if got, _ := tab.Cost("openrouter", "openai/gpt-4o-mini", conductor.Usage{InputTokens: 1, OutputTokens: 1}); got != 3000 {
		t.Errorf("openrouter gpt-4o-mini = %d, want 3000", got)
	}
	if got, _ := tab.Cost("openai", "gpt-4o-mini", conductor.Usage{InputTokens: 1, OutputTokens: 1}); got != 150+600 {
		t.Errorf("openai gpt-4o-mini changed by another provider's override: %d", got)
	}

	bad := []Price{
		{Provider: "openai", Input: 1, Output: 1},
		{Model: "x", Input: 1, Output: 1},
		{Provider: "openai", Model: "x", Input: -1, Output: 1},
		{Provider: "openai", Model: "x", Input: math.NaN(), Output: 1},
		{Provider: "openai", Model: "x", Input: 1, Output: math.Inf(1)},
		{Provider: "openai", Model: "x", Input: 1, Output: 1, CachedInput: -0.5},
	}
	for _, p := range bad {
		if err := tab.Override(p); err == nil {
			t.Errorf("Override(%+v) accepted", p)
		}
	}
}

func TestWithDefault(t *testing.T) {
	tab := Default()
	if err := tab.WithDefault(1, 2); err != nil {
		t.Fatal(err)
	}
	if got, known := tab.Cost("openai", "gpt-9", conductor.Usage{InputTokens: 1000, OutputTokens: 1000}); got != 3_000_000 || known {
		t.Errorf("Cost(unknown) = %d, %v; want 3000000, false", got, known)
	}
	for _, in := range []float64{-1, math.NaN(), math.Inf(1), 2e6} {
		if err := tab.WithDefault(in, 1); err == nil {
			t.Errorf("WithDefault(%v, 1) accepted", in)
		}
	}
}

func TestStripVersion(t *testing.T) {
	tests := map[string]string{
		"gpt-4o-2024-08-06":          "gpt-4o",
		"claude-3-5-sonnet-20241022": "claude-3-5-sonnet",
		"claude-3-5-sonnet-latest":   "claude-3-5-sonnet",
		"gpt-4-0613":                 "gpt-4-0613",
		"llama-3.1-8b-instruct":      "llama-3.1-8b-instruct",
		"model-12345678":             "model-12345678", // not a date
		"model-20241322":             "model-20241322", // no month 13
		"gpt-4o-2024-13-01":          "gpt-4o-2024-13-01",
		"2024-08-06":                 "2024-08-06",
		"":                           "",
	}
	for in, want := range tests {
		if got := stripVersion(in); got != want {
			t.Errorf("stripVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCost(f *testing.F) {
	f.Add("openai", "gpt-4o-2024-08-06", 1000, 100, 0, 500)
	f.Add("anthropic", "claude-3.5-sonnet", 1600, 1000, 500, 200)
	f.Add("", "cloudflare/@cf/meta/llama-3.1-8b-instruct", 5, 0, 0, 5)
	f.Add("groq", "/", 0, 0, 0, 0)
	f.Add("ÖPENAI", "-20240101", -1, 2, 3, 4)
	tab := Default()
	f.Fuzz(func(t *testing.T, provider, model string, in, reads, writes, out int) {
		// Token counts of real calls, not overflow bait.
		clamp := func(n int) int { return max(-1, min(n, 10_000_000)) }
		in, reads, writes, out = clamp(in), clamp(reads), clamp(writes), clamp(out)
		c, _ := tab.Cost(provider, model, conductor.Usage{InputTokens: in, CachedInputTokens: reads, CacheWriteInputTokens: writes, OutputTokens: out})
		if c < 0 {
			t.Fatalf("negative cost %d", c)
		}
		m := tab.MaxCost(provider, model, in, out)
		// Cost reads a negative count as 0: so must the precondition (a
		// negative write count once hid a cache read above the input).
		if max(reads, 0)+max(writes, 0) <= max(in, 0) && c > m {
			t.Fatalf("Cost %d above MaxCost %d for %d in, %d out", c, m, in, out)
		}
		tab.Lookup(provider, model)
	})
}

func BenchmarkCost(b *testing.B) {
	tab := Default()
	u := conductor.Usage{InputTokens: 1200, CachedInputTokens: 200, OutputTokens: 350}
	for _, bc := range []struct{ name, provider, model string }{
		{"exact", "openai", "gpt-4o-mini"},
		{"dated", "openai", "gpt-4o-2024-08-06"},
		{"prefixed", "workers-ai", "@cf/meta/llama-3.1-8b-instruct"},
		{"unknown", "openai", "gpt-9"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tab.Cost(bc.provider, bc.model, u)
			}
		})
	}
}

func TestEmbeddingPrices(t *testing.T) {
	tab := Default()
	for _, tt := range []struct {
		provider, model string
		perM            int64 // nano-USD per 1M input tokens
	}{
		{"openai", "text-embedding-3-small", 20_000_000},
		{"openai", "text-embedding-3-large", 130_000_000},
		{"openai", "text-embedding-ada-002", 100_000_000},
		{"workers-ai", "@cf/baai/bge-small-en-v1.5", 20_000_000},
		{"workers-ai", "@cf/baai/bge-base-en-v1.5", 67_000_000},
		{"workers-ai", "@cf/baai/bge-large-en-v1.5", 200_000_000},
		{"workers-ai", "@cf/baai/bge-m3", 11_800_000},
	} {
		got, known := tab.Cost(tt.provider, tt.model, conductor.Usage{InputTokens: 1_000_000})
		if got != tt.perM || !known {
			t.Errorf("%s %s: %d nano-USD per 1M tokens, known=%v; want %d", tt.provider, tt.model, got, known, tt.perM)
		}
		// No output: the reservation of an embedding call is its input alone.
		if m := tab.MaxCost(tt.provider, tt.model, 1_000_000, 4096); m != tt.perM {
			t.Errorf("%s %s: MaxCost %d, want %d", tt.provider, tt.model, m, tt.perM)
		}
	}
}

func TestModels(t *testing.T) {
	tab := Default()
	got := tab.Models("openai")
	for _, want := range []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} {
		if !slices.Contains(got, want) {
			t.Errorf("Models(openai) = %v: no %s", got, want)
		}
	}
	if !slices.IsSorted(got) || slices.Contains(got, "claude-3-5-sonnet-20241022") {
		t.Errorf("Models(openai) = %v: unsorted or another provider's", got)
	}
	// Aliases are names of a model, not models.
	if a := tab.Models("anthropic"); slices.Contains(a, "claude-3.5-sonnet") || !slices.Contains(a, "claude-3-5-sonnet-20241022") {
		t.Errorf("Models(anthropic) = %v", a)
	}
	if err := tab.Override(Price{Provider: "groq", Model: "qwen/qwen3-32b", Input: 0.29, Output: 0.59}); err != nil {
		t.Fatal(err)
	}
	if g := tab.Models("groq"); !slices.Contains(g, "qwen/qwen3-32b") {
		t.Errorf("an override is not listed: %v", g)
	}
	if m := tab.Models("local"); len(m) != 0 {
		t.Errorf("Models(local) = %v, want none", m)
	}
}
