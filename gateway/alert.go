package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Alert is the JSON body POSTed to Config.AlertWebhook when a budget
// reaches one of its thresholds. Each threshold fires once per budget window.
type Alert struct {
	Type      string    `json:"type"` // "budget_threshold"
	Gateway   string    `json:"gateway"`
	Budget    string    `json:"budget"` // the budget's key: scope, value, period and window
	Scope     string    `json:"scope"`
	Value     string    `json:"value,omitempty"`
	Period    string    `json:"period"`
	Threshold float64   `json:"threshold"` // 0.8 for 80%
	SpentUSD  float64   `json:"spentUsd"`  // spent and reserved
	LimitUSD  float64   `json:"limitUsd"`
	Resets    time.Time `json:"resets"`
	Time      time.Time `json:"time"`
	Message   string    `json:"message"`
}

// checkAlerts fires the thresholds the budgets' spend has reached.
func (g *Gateway) checkAlerts(ctx context.Context, budgets []budgetFor) {
	if len(g.cfg.AlertThresholds) == 0 {
		return
	}
	for _, b := range budgets {
		if b.Limit <= 0 {
			continue
		}
		spent, err := g.st.Spent(ctx, b.Key)
		if err != nil {
			g.log.Warn("gateway budget alert check failed", "budget", b.Key, "err", err)
			continue
		}
		for _, t := range g.cfg.AlertThresholds {
			if float64(spent) >= t*float64(b.Limit) {
				g.fire(ctx, b, t, spent)
			}
		}
	}
}

// alertAll fires every threshold of a budget that refused a call.
func (g *Gateway) alertAll(ctx context.Context, b budgetFor, spent int64) {
	for _, t := range g.cfg.AlertThresholds {
		g.fire(ctx, b, t, spent)
	}
}

// fire raises one threshold's alert unless it already fired in this window,
// in this process or any other sharing the store.
func (g *Gateway) fire(ctx context.Context, b budgetFor, threshold float64, spent int64) {
	key := "alert/" + b.Key + "/" + strconv.FormatFloat(threshold, 'g', -1, 64)
	first, err := g.st.Once(ctx, key, b.Resets)
	if err != nil {
		g.log.Warn("gateway budget alert not raised: store failed", "budget", b.Key, "err", err)
		return
	}
	if !first {
		return
	}
	a := Alert{
		Type: "budget_threshold", Gateway: g.cfg.ID, Budget: b.Key,
		Scope: b.cfg.Scope, Value: b.value, Period: b.cfg.Period, Threshold: threshold,
		SpentUSD: float64(spent) / 1e9, LimitUSD: float64(b.Limit) / 1e9,
		Resets: b.Resets, Time: nowUTC(),
		Message: fmt.Sprintf("%s reached %g%%: %s spent", b.describe(), threshold*100, usd(spent)),
	}
	g.log.Warn("gateway budget alert", "budget", b.Key, "threshold", threshold, "spent_usd", a.SpentUSD, "limit_usd", a.LimitUSD, "resets", a.Resets)
	if g.cfg.AlertWebhook == "" {
		return
	}
	if !g.alerts.tryPut(func(ctx context.Context) { g.post(ctx, a) }) {
		g.alertDrops.add(1, g.log, "gateway budget alert webhooks dropped: their queue was full (the alerts were logged)", "budget", b.Key, "threshold", threshold)
	}
}

// post sends one alert to the webhook: one attempt, bounded by AlertTimeout.
func (g *Gateway) post(ctx context.Context, a Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		g.log.Warn("gateway budget alert not encodable", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.AlertTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.AlertWebhook, bytes.NewReader(body))
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
