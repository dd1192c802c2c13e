package metrics

import "github.com/prometheus/client_golang/prometheus"

// OverspendReading is what one gateway's calls cost above their budget
// reservations since it started.
type OverspendReading struct {
	Gateway string
	Calls   int64
	USD     float64
}

// WatchOverspend exports what read reports, at every scrape, as the
// counters conductor_gateway_overspend_total (calls that cost more than
// their budget reservation) and conductor_gateway_overspend_usd_total
// (by how much), labelled by gateway.
func (c *Collector) WatchOverspend(read func() []OverspendReading) {
	c.reg.MustRegister(&overspendCollector{c: c, read: read,
		calls: prometheus.NewDesc(Namespace+"_overspend_total",
			"Calls that cost more than the budget reservation made for them (the output limit was not honoured, or the bound missed something).",
			[]string{"gateway"}, nil),
		usd: prometheus.NewDesc(Namespace+"_overspend_usd_total",
			"What calls cost above their budget reservations, in USD.",
			[]string{"gateway"}, nil),
	})
}

type overspendCollector struct {
	c          *Collector
	read       func() []OverspendReading
	calls, usd *prometheus.Desc
}

func (o *overspendCollector) Describe(ch chan<- *prometheus.Desc) { ch <- o.calls; ch <- o.usd }

func (o *overspendCollector) Collect(ch chan<- prometheus.Metric) {
	// Gateways beyond the label cap are summed under "other".
	type sum struct {
		calls int64
		usd   float64
	}
	sums := map[string]*sum{}
	var order []string
	for _, r := range o.read() {
		g := o.c.gatewayLabel(r.Gateway)
		s, ok := sums[g]
		if !ok {
			s = &sum{}
			sums[g] = s
			order = append(order, g)
		}
		s.calls += r.Calls
		s.usd += r.USD
	}
	for _, g := range order {
		ch <- prometheus.MustNewConstMetric(o.calls, prometheus.CounterValue, float64(sums[g].calls), g)
		ch <- prometheus.MustNewConstMetric(o.usd, prometheus.CounterValue, sums[g].usd, g)
	}
}
