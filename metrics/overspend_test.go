package metrics

import "testing"

// Overspend is two counters by gateway; gateways beyond the configured
// ones count as other.
func TestWatchOverspend(t *testing.T) {
	c := New(WithGateways("gw"), WithoutRuntime())
	c.WatchOverspend(func() []OverspendReading {
		return []OverspendReading{{Gateway: "gw", Calls: 3, USD: 0.25}, {Gateway: "x", Calls: 1, USD: 0.5}, {Gateway: "y", Calls: 2, USD: 0.25}}
	})
	fams := scrape(t, c)
	for _, tt := range []struct {
		name, gateway string
		want          float64
	}{
		{Namespace + "_overspend_total", "gw", 3},
		{Namespace + "_overspend_usd_total", "gw", 0.25},
		{Namespace + "_overspend_total", Other, 3},
		{Namespace + "_overspend_usd_total", Other, 0.75},
	} {
		if v, ok := value(fams, tt.name, map[string]string{"gateway": tt.gateway}); !ok || v != tt.want {
			t.Errorf("%s %s: %v (found %v), want %v", tt.name, tt.gateway, v, ok, tt.want)
		}
	}
}
