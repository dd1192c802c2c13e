package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
)

// SpendKey is the spend counter key, without its window, under which
// gateway gatewayID keeps a budget of scope ("gateway", "environment",
// "user", "provider", "model") for one value ("" for the gateway scope).
func SpendKey(gatewayID, scope, value string) string {
	k := "spend/" + gatewayID + "/" + scope
	if value != "" && scope != gateway.ScopeGateway {
		k += ":" + value
	}
	return k
}

// BudgetsFor turns a gateway's budgets into the ones the page shows. A
// budget with no Match outside the gateway scope gives every user (or
// environment…) a budget of its own: there is no one figure to show, so it
// is left out.
func BudgetsFor(gatewayID string, budgets []gateway.Budget) []Budget {
	var out []Budget
	for _, b := range budgets {
		value := b.Match
		switch {
		case b.Scope == gateway.ScopeGateway:
			value = ""
		case value == "":
			continue
		case b.Scope == gateway.ScopeModel:
			// "openai/gpt-4o" counts under the model's own name, as the
			// gateway matches it against provider/model.
			if p, m, ok := strings.Cut(value, "/"); ok && slices.Contains(conductor.Providers(), p) {
				value = m
			}
		}
		name := gatewayID
		if b.Scope != gateway.ScopeGateway {
			name = b.Scope + " " + b.Match
		}
		window := WindowDay
		if b.Period == gateway.PeriodMonth {
			window = WindowMonth
		}
		out = append(out, Budget{
			Name:     fmt.Sprintf("%s, per %s", name, window),
			LimitUSD: b.LimitUSD,
			Window:   window,
			Key:      SpendKey(gatewayID, b.Scope, value),
		})
	}
	return out
}

// windowOf names the UTC window holding now and says when it resets.
func windowOf(window string, now time.Time) (name string, start, resets time.Time) {
	now = now.UTC()
	y, m, d := now.Date()
	if window == WindowMonth {
		return now.Format("2006-01"), time.Date(y, m, 1, 0, 0, 0, 0, time.UTC), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	}
	return now.Format("2006-01-02"), time.Date(y, m, d, 0, 0, 0, 0, time.UTC), time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// BudgetStatus is one budget in its current window.
type BudgetStatus struct {
	Name     string    `json:"name"`
	Window   string    `json:"window"`
	Period   string    `json:"period"` // the window's name: 2026-11-25, 2026-11
	LimitUSD float64   `json:"limitUsd"`
	SpentUSD float64   `json:"spentUsd"` // spent and reserved
	Fraction *float64  `json:"fraction"` // spent / limit; null for a zero limit
	Resets   time.Time `json:"resets"`
}

// BudgetStatuses reads every budget's spend in its current window.
func BudgetStatuses(ctx context.Context, st conductor.CounterStore, budgets []Budget, now time.Time) ([]BudgetStatus, error) {
	out := make([]BudgetStatus, 0, len(budgets))
	for _, b := range budgets {
		name, _, resets := windowOf(b.Window, now)
		nano, err := st.Spent(ctx, b.Key+"/"+b.Window+":"+name)
		if err != nil {
			return nil, fmt.Errorf("budget %s: %w", b.Name, err)
		}
		s := BudgetStatus{
			Name: b.Name, Window: b.Window, Period: name, LimitUSD: b.LimitUSD,
			SpentUSD: usd(nano), Resets: resets,
		}
		if b.LimitUSD > 0 {
			f := s.SpentUSD / b.LimitUSD
			s.Fraction = &f
		}
		out = append(out, s)
	}
	return out, nil
}

func (h *Handler) budgets(w http.ResponseWriter, r *http.Request) {
	out, err := BudgetStatuses(r.Context(), h.st, h.opts.Budgets, h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, out)
}
