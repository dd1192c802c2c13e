package routing

import (
	"context"
	"net/http"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
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

// The per-call cf-aig-* headers of the hosted gateway route.
func BenchmarkAIGBefore(b *testing.B) {
	h := &aigHook{gw: config.Gateway{CacheTTL: config.Seconds(3600), MaxAttempts: 3}, environment: "production"}
	ttl := time.Hour
	req := &conductor.ChatRequest{Options: conductor.CallOptions{
		CacheTTL: &ttl, RetryDelay: time.Second, Backoff: "exponential",
		Metadata: map[string]string{"ensemble": "generate-article", "member": "write-draft"},
	}}
	hr, _ := http.NewRequest(http.MethodPost, "http://gw/v1/a/g/openai/chat/completions", nil)
	b.ReportAllocs()
	for b.Loop() {
		hr.Header = make(http.Header, 8)
		h.Before(hr, req)
	}
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
