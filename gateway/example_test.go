package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/store/sqlite"
)

// A gateway over the embedded store, in front of a provider: the first
// call goes upstream after one retry, the second is served from the cache.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "conductor")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "conductor.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()

	g, err := gateway.New(gateway.Config{
		ID:        "my-gateway",
		CacheTTL:  time.Hour,
		Retry:     gateway.RetryConfig{Delay: time.Millisecond},
		RateLimit: gateway.RateLimitConfig{UserRequests: 60},
		Budgets:   []gateway.Budget{{Scope: gateway.ScopeEnvironment, Match: "production", Period: gateway.PeriodDay, LimitUSD: 25}},
	}, st)
	if err != nil {
		panic(err)
	}
	defer g.Close(ctx) // writes the queued log rows

	upstream := provider.NewMock(provider.MockConfig{Reply: "Paris.", FailTimes: 1, FailStatus: 503})
	p := g.Wrap(upstream)

	for range 2 {
		resp, err := p.Chat(ctx, &conductor.ChatRequest{
			Provider: conductor.ProviderMock, Model: "mock",
			Messages: []conductor.Message{conductor.TextMessage("user", "Capital of France?")},
			Options:  conductor.CallOptions{User: "alice", Environment: "production"},
		})
		if err != nil {
			panic(err)
		}
		fmt.Println(resp.Text(), resp.Meta.CacheStatus, resp.Meta.MissReason, "attempts:", resp.Meta.Attempts)
	}
	// Output:
	// Paris. MISS new_key attempts: 2
	// Paris. HIT  attempts: 0
}
