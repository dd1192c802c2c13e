package metrics

import "testing"

// Each deployment's breaker state, in flight, latency, error rate and
// counts are series by model and deployment.
func TestWatchDeployments(t *testing.T) {
	c := New(WithoutRuntime())
	c.WatchDeployments(func() []DeploymentReading {
		return []DeploymentReading{
			{Model: "fast-chat", Deployment: "openai/gpt-4o-mini@OPENAI_API_KEY", Breaker: "open", InFlight: 0, LatencyS: 0.25, ErrorRate: 1, Calls: 5, Errors: 5},
			{Model: "fast-chat", Deployment: "vllm", Breaker: "closed", InFlight: 3, LatencyS: 0.05, Calls: 40},
		}
	})
	fams := scrape(t, c)
	key := "openai/gpt-4o-mini@OPENAI_API_KEY"
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"_deployment_breaker_state", map[string]string{"model": "fast-chat", "deployment": key, "state": "open"}, 1},
		{"_deployment_breaker_state", map[string]string{"model": "fast-chat", "deployment": key, "state": "closed"}, 0},
		{"_deployment_breaker_state", map[string]string{"model": "fast-chat", "deployment": "vllm", "state": "closed"}, 1},
		{"_deployment_in_flight", map[string]string{"model": "fast-chat", "deployment": "vllm"}, 3},
		{"_deployment_latency_seconds", map[string]string{"model": "fast-chat", "deployment": key}, 0.25},
		{"_deployment_error_rate", map[string]string{"model": "fast-chat", "deployment": key}, 1},
		{"_deployment_calls_total", map[string]string{"model": "fast-chat", "deployment": "vllm"}, 40},
		{"_deployment_errors_total", map[string]string{"model": "fast-chat", "deployment": key}, 5},
	} {
		if v, ok := value(fams, Namespace+tt.name, tt.labels); !ok || v != tt.want {
			t.Errorf("%s %v: %v (found %v), want %v", tt.name, tt.labels, v, ok, tt.want)
		}
	}
}
