package dashboard

import (
	"testing"
	"time"
)

// GET /api/deployments serves what the source reports, [] without one.
func TestAPIDeployments(t *testing.T) {
	st := openFixture(t, nil)
	var got []Deployment
	get(t, newServer(t, st, Options{}), "/api/deployments", &got)
	if got == nil || len(got) != 0 {
		t.Errorf("without a source: %+v, want []", got)
	}
	at := time.Date(2026, 11, 25, 10, 31, 0, 0, time.UTC)
	src := []Deployment{
		{Model: "fast-chat", Deployment: "openai/gpt-4o-mini@OPENAI_API_KEY", Provider: "openai", Tier: 1, Breaker: "open", ErrorRate: 1, Calls: 5, Errors: 5, RetryAt: &at},
		{Model: "fast-chat", Deployment: "vllm", Provider: "local", Tier: 2, Breaker: "closed", InFlight: 2, LatencyMs: 42, Calls: 9},
	}
	get(t, newServer(t, st, Options{DeploymentSource: func() []Deployment { return src }}), "/api/deployments", &got)
	if len(got) != 2 || got[0].Breaker != "open" || got[0].RetryAt == nil || !got[0].RetryAt.Equal(at) || got[1].InFlight != 2 || got[1].LatencyMs != 42 {
		t.Errorf("got %+v", got)
	}
}
