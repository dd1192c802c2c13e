package metrics

import "github.com/prometheus/client_golang/prometheus"

// Drop kinds: what a gateway dropped rather than let a request wait.
const (
	DropCacheWrite = "cache_write" // an answer served but not cached
	DropLogRow     = "log_row"     // a request-log row lost
	DropAlert      = "alert"       // a budget alert webhook not sent
)

// DropReading is how many of one kind a gateway dropped since it started.
type DropReading struct {
	Gateway string
	Kind    string // DropCacheWrite, DropLogRow or DropAlert
	N       int64
}

// WatchDrops exports what read reports, at every scrape, as the counter
// conductor_gateway_dropped_total labelled by gateway and kind: the work a
// full queue made the gateway drop, which otherwise only a warning line a
// minute would tell.
func (c *Collector) WatchDrops(read func() []DropReading) {
	c.reg.MustRegister(&dropCollector{c: c, read: read,
		desc: prometheus.NewDesc(Namespace+"_dropped_total",
			"Work dropped rather than make a request wait, by kind: cache_write (an answer served but not cached), log_row (a request-log row lost), alert (a budget webhook not sent).",
			[]string{"gateway", "kind"}, nil),
	})
}

type dropCollector struct {
	c    *Collector
	read func() []DropReading
	desc *prometheus.Desc
}

func (d *dropCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *dropCollector) Collect(ch chan<- prometheus.Metric) {
	// Gateways beyond the label cap are summed under "other".
	sums := map[[2]string]int64{}
	var order [][2]string
	for _, r := range d.read() {
		switch r.Kind {
		case DropCacheWrite, DropLogRow, DropAlert:
		default:
			continue
		}
		k := [2]string{d.c.gatewayLabel(r.Gateway), r.Kind}
		if _, ok := sums[k]; !ok {
			order = append(order, k)
		}
		sums[k] += r.N
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(sums[k]), k[0], k[1])
	}
}
