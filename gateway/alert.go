package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Alert is the JSON body POSTed to a budget's webhook (Budget.Webhook,
// else Config.AlertWebhook) when the budget's settled spend reaches one of
// its thresholds. Each threshold fires once per budget window, whichever
// gateway or process settles the call that crosses it.
type Alert struct {
	Type      string    `json:"type"`    // "budget_threshold", or "over_reservation" (overspend.go)
	Gateway   string    `json:"gateway"` // the gateway that settled the crossing call
	Budget    string    `json:"budget"`  // the budget's name, else its key
	Key       string    `json:"key"`     // the budget's counter: scope, value, period and window
	Scope     string    `json:"scope"`
	Value     string    `json:"value,omitempty"`
	Period    string    `json:"period"`
	Threshold float64   `json:"threshold"` // 0.8 for 80%
	Fraction  float64   `json:"fraction"`  // spent / limit when it fired
	SpentUSD  float64   `json:"spentUsd"`  // settled when it fired
	LimitUSD  float64   `json:"limitUsd"`
	Resets    time.Time `json:"resets"`
	Time      time.Time `json:"time"`
	Message   string    `json:"message"`
	// Of an over_reservation alert: the calls that cost more than their
	// reservation since the last such alert, and by how much in all.
	Calls   int64   `json:"calls,omitempty"`
	OverUSD float64 `json:"overUsd,omitempty"`
}

// thresholds are a budget's alert thresholds, its own or the gateway's.
func (g *Gateway) thresholds(b *budgetFor) []float64 {
	if b.cfg.Alerts != nil {
		return b.cfg.Alerts
	}
	return g.conf().AlertThresholds
}

// checkAlerts fires the thresholds the budgets' spend has reached. It runs
// after a settlement, so a threshold fires when settled spend crosses it,
// not when a call is refused.
func (g *Gateway) checkAlerts(ctx context.Context, budgets []budgetFor) {
	for i := range budgets {
		b := &budgets[i]
		ts := g.thresholds(b)
		if b.Limit <= 0 || b.cfg.Unlimited || len(ts) == 0 {
			continue
		}
		spent, err := g.settledSpent(ctx, b.Key)
		if err != nil {
			g.log.Warn("gateway budget alert check failed", "budget", b.Key, "err", err)
			continue
		}
		for _, t := range ts {
			if float64(spent) >= t*float64(b.Limit) {
				g.fire(ctx, b, t, spent)
			}
		}
	}
}

// settledSpent is what a budget spent, without the reservations of calls
// in flight when the store can tell them apart.
func (g *Gateway) settledSpent(ctx context.Context, key string) (int64, error) {
	if ss, ok := g.st.(conductor.SettledSpender); ok {
		return ss.SettledSpent(ctx, key)
	}
	return g.st.Spent(ctx, key)
}

// fire raises one threshold's alert unless it already fired in this window,
// in this process or any other sharing the store.
func (g *Gateway) fire(ctx context.Context, b *budgetFor, threshold float64, spent int64) {
	key := "alert/" + b.Key + "/" + strconv.FormatFloat(threshold, 'g', -1, 64)
	first, err := g.st.Once(ctx, key, b.Resets)
	if err != nil {
		g.log.Warn("gateway budget alert not raised: store failed", "budget", b.Key, "err", err)
		return
	}
	if !first {
		return
	}
	fraction := float64(spent) / float64(b.Limit)
	a := Alert{
		Type: "budget_threshold", Gateway: g.id, Budget: cmp.Or(b.cfg.Name, b.Key), Key: b.Key,
		Scope: b.cfg.Scope, Value: b.value, Period: b.cfg.Period, Threshold: threshold, Fraction: fraction,
		SpentUSD: float64(spent) / 1e9, LimitUSD: float64(b.Limit) / 1e9,
		Resets: b.Resets, Time: nowUTC(),
		Message: fmt.Sprintf("%s reached %g%% (threshold %g%%): %s spent", b.describe(), math.Floor(fraction*1000)/10, threshold*100, usd(spent)),
	}
	g.log.Warn("gateway budget alert", "budget", a.Budget, "key", b.Key, "threshold", threshold, "fraction", fraction,
		"spent_usd", a.SpentUSD, "limit_usd", a.LimitUSD, "resets", a.Resets)
	hook := cmp.Or(b.cfg.Webhook, g.conf().AlertWebhook)
	if hook == "" {
		return
	}
	if !g.alerts.tryPut(func(ctx context.Context) { g.post(ctx, hook, a) }) {
		g.alertDrops.add(1, g.log, "gateway budget alert webhooks dropped: their queue was full (the alerts were logged)", "budget", a.Budget, "threshold", threshold)
	}
}

// post sends one alert to the webhook: one attempt, bounded by AlertTimeout.
func (g *Gateway) post(ctx context.Context, hook string, a Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		g.log.Warn("gateway budget alert not encodable", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, g.conf().AlertTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		g.log.Warn("gateway budget alert webhook unusable", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "conductor-gateway")
	resp, err := g.http.Do(req)
	if err != nil {
		// The URL may hold a token: log the cause without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		g.log.Warn("gateway budget alert webhook failed", "budget", a.Budget, "err", err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		g.log.Warn("gateway budget alert webhook refused", "budget", a.Budget, "status", resp.StatusCode)
	}
}
