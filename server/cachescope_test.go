package server

import (
	"testing"
	"time"

	"github.com/conductor-go/conductor/gateway"
)

// Bob got a HIT on Alice's answer: within a gateway that is the default
// ("first user pays, everyone else benefits"), and a gateway with
// cache_scope = "user" keeps each user's answers to that user.
func TestCacheScopeThroughServe(t *testing.T) {
	const path = cfBase + "/openai/chat/completions"
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`
	for _, tt := range []struct {
		scope     string
		bobHits   bool
		upstreams int // calls after Alice, Bob, Alice
	}{
		{gateway.CacheScopeGateway, true, 1},
		{gateway.CacheScopeUser, false, 2},
	} {
		t.Run(tt.scope, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{
				gateways: []gateway.Config{{ID: "my-gateway", CacheTTL: time.Hour, CacheScope: tt.scope}},
				opts:     func(o *Options) { o.Tokens = tokens },
			})
			as := func(tok string) string {
				t.Helper()
				r, b := ts.post(t, path, body, "cf-aig-authorization", "Bearer "+tok)
				if r.StatusCode != 200 {
					t.Fatalf("status %d: %s", r.StatusCode, b)
				}
				return r.Header.Get("cf-aig-cache-status")
			}
			if got := as("tok-alice-secret"); got != "MISS" {
				t.Fatalf("Alice first: %s", got)
			}
			if got, want := as("tok-ci-secret"), map[bool]string{true: "HIT", false: "MISS"}[tt.bobHits]; got != want {
				t.Errorf("another user: %s, want %s", got, want)
			}
			if got := as("tok-alice-secret"); got != "HIT" {
				t.Errorf("Alice again: %s, want HIT", got)
			}
			if n := ts.fakes.count("openai"); n != tt.upstreams {
				t.Errorf("%d upstream calls, want %d", n, tt.upstreams)
			}
		})
	}
}
