package engine

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/provider"
)

// BenchmarkRunStep measures the engine's overhead per member on the mock
// provider at zero latency: a flow of 10 members with a prompt template and
// a condition over the member before, divided per member (ns/step).
func BenchmarkRunStep(b *testing.B) {
	var src strings.Builder
	src.WriteString("name: bench\nflow:\n")
	for i := range 10 {
		src.WriteString("  - member: m" + strconv.Itoa(i) + "\n")
		if i > 0 {
			src.WriteString("    condition: ${m" + strconv.Itoa(i-1) + ".success}\n")
		}
		src.WriteString("    config:\n      provider: mock\n      temperature: 0.2\n      mock: {reply: '{\"ok\": true}'}\n")
		src.WriteString("      prompt: \"Question ${input.n}: ${input.text}\"\n")
	}
	ens := parse(b, src.String())
	eng := New(Options{Logger: quiet()})
	input := map[string]any{"n": 1, "text": "Why is the sky blue?"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := eng.Run(ctx, ens, input); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10, "ns/step")
}

// BenchmarkRunSingleStep is the smallest run: one mock member.
func BenchmarkRunSingleStep(b *testing.B) {
	ens := parse(b, "name: one\nflow:\n  - member: m\n    config: {provider: mock, prompt: \"${input.q}\"}\n")
	eng := New(Options{Logger: quiet()})
	input := map[string]any{"q": "hi"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := eng.Run(context.Background(), ens, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCascade runs the page's cascade (judge call included, the
// escalation taken) with every provider swapped for the mock.
func BenchmarkCascade(b *testing.B) {
	ens, err := ensemble.Load("../examples/cascade.yaml")
	if err != nil {
		b.Fatal(err)
	}
	low := 0.5
	eng := New(Options{Resolver: resolverOf(provider.NewMock(provider.MockConfig{Reply: "answer", Score: &low})), Logger: quiet()})
	input := map[string]any{"question": "Why is the sky blue?"}
	b.ReportAllocs()
	for b.Loop() {
		res, err := eng.Run(context.Background(), ens, input)
		if err != nil || res.Members[1].Skipped {
			b.Fatal(err, res.Members[1])
		}
	}
}

// BenchmarkStepCacheHit measures a member answered from the SQLite step
// cache.
func BenchmarkStepCacheHit(b *testing.B) {
	store := openStore(b, filepath.Join(b.TempDir(), "c.db"))
	defer store.Close()
	ens := parse(b, "name: hit\nflow:\n  - member: m\n    config: {provider: mock, prompt: \"${input.q}\"}\n    cache: {ttl: 3600}\n")
	eng := New(Options{Cache: store, Logger: quiet()})
	input := map[string]any{"q": "hi"}
	if _, err := eng.Run(context.Background(), ens, input); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := eng.Run(context.Background(), ens, input)
		if err != nil || !res.Members[0].Cached {
			b.Fatal("not a hit", err)
		}
	}
}
