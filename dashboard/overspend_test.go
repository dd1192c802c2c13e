package dashboard

import (
	"reflect"
	"testing"

	"github.com/conductor-go/conductor/gateway"
)

// GET /api/overspend sums what the source reports per gateway, sorted by
// gateway, and answers zeros (not an error, not null) without a source.
func TestAPIOverspend(t *testing.T) {
	st := openFixture(t, nil)
	for _, tc := range []struct {
		name string
		src  func() map[string]gateway.Overspend
		want OverspendStatus
	}{
		{"no source", nil, OverspendStatus{Gateways: []GatewayOverspend{}}},
		{"none over", func() map[string]gateway.Overspend { return map[string]gateway.Overspend{"default": {}} },
			OverspendStatus{Gateways: []GatewayOverspend{{Gateway: "default"}}}},
		{"two gateways", func() map[string]gateway.Overspend {
			return map[string]gateway.Overspend{
				"prod-gw": {Calls: 3, NanoUSD: 1_250_000_000},
				"default": {},
				"batch":   {Calls: 1, NanoUSD: 100_000_000},
			}
		}, OverspendStatus{Calls: 4, USD: 1.35, Gateways: []GatewayOverspend{
			{Gateway: "batch", Calls: 1, USD: 0.1}, {Gateway: "default"}, {Gateway: "prod-gw", Calls: 3, USD: 1.25},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got OverspendStatus
			get(t, newServer(t, st, Options{OverspendSource: tc.src}), "/api/overspend", &got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
