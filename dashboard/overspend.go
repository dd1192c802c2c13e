package dashboard

import (
	"net/http"
	"slices"
	"strings"

	"github.com/conductor-go/conductor/gateway"
)

// OverspendStatus is GET /api/overspend: the calls whose settled cost
// exceeded their budget reservation, and by how much, since this process
// started (gateway.Gateway.Overspend). Such a call is what the promise
// "spend ≤ limit + one reservation" does not cover, so the page shows it
// next to the budgets.
type OverspendStatus struct {
	Calls int64   `json:"calls"`
	USD   float64 `json:"usd"` // above the reservations, in sum
	// Gateways has one entry per gateway the source reports, those without
	// overspend included, sorted by id; [] without a source.
	Gateways []GatewayOverspend `json:"gateways"`
}

// GatewayOverspend is one gateway's share of OverspendStatus.
type GatewayOverspend struct {
	Gateway string  `json:"gateway"`
	Calls   int64   `json:"calls"`
	USD     float64 `json:"usd"`
}

// OverspendOf sums per-gateway counts (gateway.Set.Overspend) into what
// the page shows.
func OverspendOf(byGateway map[string]gateway.Overspend) OverspendStatus {
	out := OverspendStatus{Gateways: make([]GatewayOverspend, 0, len(byGateway))}
	var nano int64
	for id, o := range byGateway {
		out.Gateways = append(out.Gateways, GatewayOverspend{Gateway: id, Calls: o.Calls, USD: usd(o.NanoUSD)})
		out.Calls += o.Calls
		nano += o.NanoUSD
	}
	// Summed in nano-USD, converted once: the total is exactly the parts'.
	out.USD = usd(nano)
	slices.SortFunc(out.Gateways, func(a, b GatewayOverspend) int { return strings.Compare(a.Gateway, b.Gateway) })
	return out
}

func (h *Handler) overspend(w http.ResponseWriter, r *http.Request) {
	var src map[string]gateway.Overspend
	if h.opts.OverspendSource != nil {
		src = h.opts.OverspendSource()
	}
	writeJSON(w, OverspendOf(src))
}
