package metrics

import "testing"

// Drops a gateway reports are counters by gateway and kind; unknown kinds
// are left out and gateways beyond the configured ones count as other.
func TestWatchDrops(t *testing.T) {
	c := New(WithGateways("gw"), WithoutRuntime())
	readings := []DropReading{
		{Gateway: "gw", Kind: DropCacheWrite, N: 7217},
		{Gateway: "gw", Kind: DropLogRow, N: 3},
		{Gateway: "unknown-1", Kind: DropCacheWrite, N: 1},
		{Gateway: "unknown-2", Kind: DropCacheWrite, N: 2},
		{Gateway: "gw", Kind: "made-up", N: 9},
	}
	c.WatchDrops(func() []DropReading { return readings })
	fams := scrape(t, c)
	for _, tt := range []struct {
		gateway, kind string
		want          float64
	}{
		{"gw", DropCacheWrite, 7217},
		{"gw", DropLogRow, 3},
		{Other, DropCacheWrite, 3},
	} {
		if v, ok := value(fams, Namespace+"_dropped_total", map[string]string{"gateway": tt.gateway, "kind": tt.kind}); !ok || v != tt.want {
			t.Errorf("%s %s: %v (found %v), want %v", tt.gateway, tt.kind, v, ok, tt.want)
		}
	}
	if n := len(fams[Namespace+"_dropped_total"].GetMetric()); n != 3 {
		t.Errorf("%d series, want 3", n)
	}
}
