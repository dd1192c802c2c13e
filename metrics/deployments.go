package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// DeploymentReading is one [[model]] deployment's state, read at each
// scrape (gateway.Pool.Status).
type DeploymentReading struct {
	Model, Deployment string
	// Breaker is "closed", "open" or "half-open".
	Breaker   string
	InFlight  int64
	LatencyS  float64 // peak-EWMA latency, seconds
	ErrorRate float64 // failed fraction of the breaker's window
	Calls     int64   // attempts since start
	Errors    int64   // failed attempts since start
}

// breakerStates are the values of the breaker state gauge, one series each.
var breakerStates = []string{"closed", "open", "half-open"}

// WatchDeployments exports what read reports, at every scrape, labelled by
// model and deployment (names from the config, never a key):
// conductor_gateway_deployment_breaker_state (1 for the current state, 0
// for the others), _in_flight, _latency_seconds, _error_rate, and the
// counters _calls_total and _errors_total.
func (c *Collector) WatchDeployments(read func() []DeploymentReading) {
	labels := []string{"model", "deployment"}
	d := &deploymentCollector{read: read,
		state:    prometheus.NewDesc(Namespace+"_deployment_breaker_state", "A deployment's circuit breaker: 1 for its current state (closed, open, half-open), 0 for the others.", append(labels, "state"), nil),
		inflight: prometheus.NewDesc(Namespace+"_deployment_in_flight", "Calls a deployment is serving now.", labels, nil),
		latency:  prometheus.NewDesc(Namespace+"_deployment_latency_seconds", "A deployment's recent latency to the first byte (peak EWMA), as the latency strategy sees it.", labels, nil),
		errRate:  prometheus.NewDesc(Namespace+"_deployment_error_rate", "The failed fraction of a deployment's calls in its breaker's window.", labels, nil),
		calls:    prometheus.NewDesc(Namespace+"_deployment_calls_total", "Attempts made to a deployment.", labels, nil),
		errors:   prometheus.NewDesc(Namespace+"_deployment_errors_total", "Attempts to a deployment that failed in a way its breaker counts (5xx, timeouts, connection errors, 429).", labels, nil),
	}
	c.reg.MustRegister(d)
}

type deploymentCollector struct {
	read                                             func() []DeploymentReading
	state, inflight, latency, errRate, calls, errors *prometheus.Desc
}

func (d *deploymentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{d.state, d.inflight, d.latency, d.errRate, d.calls, d.errors} {
		ch <- x
	}
}

func (d *deploymentCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[2]string]bool{}
	for _, r := range d.read() {
		k := [2]string{r.Model, r.Deployment}
		if seen[k] {
			continue
		}
		seen[k] = true
		for _, s := range breakerStates {
			v := 0.0
			if s == r.Breaker {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(d.state, prometheus.GaugeValue, v, r.Model, r.Deployment, s)
		}
		ch <- prometheus.MustNewConstMetric(d.inflight, prometheus.GaugeValue, float64(r.InFlight), r.Model, r.Deployment)
		ch <- prometheus.MustNewConstMetric(d.latency, prometheus.GaugeValue, r.LatencyS, r.Model, r.Deployment)
		ch <- prometheus.MustNewConstMetric(d.errRate, prometheus.GaugeValue, r.ErrorRate, r.Model, r.Deployment)
		ch <- prometheus.MustNewConstMetric(d.calls, prometheus.CounterValue, float64(r.Calls), r.Model, r.Deployment)
		ch <- prometheus.MustNewConstMetric(d.errors, prometheus.CounterValue, float64(r.Errors), r.Model, r.Deployment)
	}
}
