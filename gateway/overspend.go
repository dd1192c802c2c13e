package gateway

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A call that costs more than its reservation spends beyond what the
// budget's atomic check admitted: a provider that ignores the output
// limit, a price that changed, usage counted in a way the bound did not
// foresee. The budget stays right (the settlement counts the real cost),
// but the promise "spend ≤ limit + one reservation" holds only while
// calls stay within their reservations, so each that does not is counted
// (Gateway.Overspend, conductor_gateway_overspend_total and
// conductor_gateway_overspend_usd_total in /metrics), logged and sent to
// the budget's webhook — at most once per OverspendAlertEvery, with the
// count since the last alert, so that a misbehaving upstream does not
// flood either.

// OverspendAlertEvery bounds the overspend warnings and webhooks.
const OverspendAlertEvery = time.Minute

// Overspend counts the calls that cost more than their reservation.
type Overspend struct {
	Calls   int64 // settled above their reservation
	NanoUSD int64 // what they cost above it, in sum
}

type overspendCounter struct {
	calls, nano atomic.Int64

	mu                    sync.Mutex
	alerted               time.Time
	sinceCalls, sinceNano int64
}

// Overspend reports the gateway's calls that cost more than their
// reservation, since it started.
func (g *Gateway) Overspend() Overspend {
	return Overspend{Calls: g.over.calls.Load(), NanoUSD: g.over.nano.Load()}
}

// Overspend reports Gateway.Overspend of every gateway the set started.
func (s *Set) Overspend() map[string]Overspend {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Overspend, len(s.m))
	for id, g := range s.m {
		out[id] = g.Overspend()
	}
	return out
}

// overspent counts a call that cost actual against a reservation of
// res.amount, and alerts when no alert was raised in the last
// OverspendAlertEvery.
func (g *Gateway) overspent(res *reservation, actual int64) {
	over := actual - res.amount
	o := &g.over
	o.calls.Add(1)
	o.nano.Add(over)
	o.mu.Lock()
	o.sinceCalls++
	o.sinceNano += over
	now := time.Now()
	if !o.alerted.IsZero() && now.Sub(o.alerted) < OverspendAlertEvery {
		o.mu.Unlock()
		return
	}
	calls, nano := o.sinceCalls, o.sinceNano
	o.sinceCalls, o.sinceNano, o.alerted = 0, 0, now
	o.mu.Unlock()

	msg := fmt.Sprintf("a call to %s/%s cost %s, its reservation %s: %d call(s) cost %s more than reserved since the last alert",
		res.provider, res.model, usd(actual), usd(res.amount), calls, usd(nano))
	g.log.Warn("gateway call cost more than its budget reservation", "provider", res.provider, "model", res.model,
		"cost_usd", float64(actual)/1e9, "reserved_usd", float64(res.amount)/1e9, "calls", calls, "over_usd", float64(nano)/1e9,
		"overspend_total", o.calls.Load())
	for i := range res.budgets {
		b := &res.budgets[i]
		hook := cmp.Or(b.cfg.Webhook, g.conf().AlertWebhook)
		if hook == "" {
			continue
		}
		a := Alert{
			Type: "over_reservation", Gateway: g.id, Budget: cmp.Or(b.cfg.Name, b.Key), Key: b.Key,
			Scope: b.cfg.Scope, Value: b.value, Period: b.cfg.Period, LimitUSD: float64(b.Limit) / 1e9,
			Resets: b.Resets, Time: nowUTC(), Calls: calls, OverUSD: float64(nano) / 1e9,
			Message: b.describe() + ": " + msg,
		}
		if !g.alerts.tryPut(func(ctx context.Context) { g.post(ctx, hook, a) }) {
			g.alertDrops.add(1, g.log, "gateway budget alert webhooks dropped: their queue was full (the alerts were logged)", "budget", a.Budget, "type", a.Type)
		}
	}
}
