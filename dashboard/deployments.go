package dashboard

import (
	"net/http"
	"time"
)

// Deployment is one [[model]] deployment's live state in this process
// (its breaker, calls in flight, recent latency and error rate), as
// GET /api/deployments serves it and the page's Deployments panel shows.
type Deployment struct {
	Model      string  `json:"model"`
	Deployment string  `json:"deployment"`
	Provider   string  `json:"provider"`
	Tier       int     `json:"tier"`
	Breaker    string  `json:"breaker"` // closed, open or half-open
	InFlight   int64   `json:"inFlight"`
	LatencyMs  float64 `json:"latencyMs"` // peak-EWMA latency to the first byte
	ErrorRate  float64 `json:"errorRate"` // failed fraction of the breaker's window
	Calls      int64   `json:"calls"`     // attempts since the server started
	Errors     int64   `json:"errors"`
	// RetryAt is when an open breaker lets its probe through.
	RetryAt *time.Time `json:"retryAt,omitempty"`
}

// deployments is GET /api/deployments: the deployments' state now, [] when
// the server has none (or was given no DeploymentSource).
func (h *Handler) deployments(w http.ResponseWriter, r *http.Request) {
	out := []Deployment{}
	if h.opts.DeploymentSource != nil {
		out = append(out, h.opts.DeploymentSource()...)
	}
	writeJSON(w, out)
}
