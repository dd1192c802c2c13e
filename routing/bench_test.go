package routing

import (
	"context"
	"testing"

	"github.com/conductor-go/conductor/config"
)

// The route lookup every member call makes: a cached provider under a lock.
func BenchmarkProvider(b *testing.B) {
	r, _ := New(nil, Options{Env: config.MapEnv(keys())})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Provider(ctx, "openai", "gpt-4o", "direct"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// What the outermost wrapper adds to a call.
func BenchmarkRouted(b *testing.B) {
	p := &routed{next: stubProvider{content: "x"}, provider: "openai", routing: "direct"}
	req := request("openai", "gpt-4o", false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Chat(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
