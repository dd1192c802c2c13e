package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
)

// SpendKey is the spend counter key, without its window, under which the
// gateway keeps a budget of scope ("gateway", "environment", "user",
// "key", "team", "provider", "model") for one value (the gateway's id for
// the gateway scope): every gateway counts under the same key.
func SpendKey(scope, value string) string { return gateway.SpendKey(scope, value) }

// BudgetsFor turns budgets into the ones the page shows. gatewayID is the
// gateway whose own budgets (gateway.Config.Budgets) they are, "" for the
// limits every gateway shares (gateway.Limits), whose gateway-scoped
// budgets name their gateway in Match. A budget with no Match gives every
// user (or environment, key, gateway…) a budget of its own: there is no
// one figure to show, so it is left out; so are spend counts without a
// limit.
func BudgetsFor(gatewayID string, budgets []gateway.Budget) []Budget {
	var out []Budget
	for _, b := range budgets {
		value := b.Match
		switch {
		case b.Unlimited:
			continue
		case b.Scope == gateway.ScopeGateway && gatewayID != "":
			value = gatewayID
		case value == "":
			continue
		case b.Scope == gateway.ScopeModel:
			// "openai/gpt-4o" counts under the model's own name, as the
			// gateway matches it against provider/model.
			if p, m, ok := strings.Cut(value, "/"); ok && slices.Contains(conductor.Providers(), p) {
				value = m
			}
		}
		name := b.Name
		if name == "" {
			name = b.Scope + " " + cmp.Or(b.Match, value)
			if b.Scope == gateway.ScopeGateway {
				name = value
			}
		}
		window := WindowDay
		if b.Period == gateway.PeriodMonth {
			window = WindowMonth
		}
		out = append(out, Budget{
			Name:     fmt.Sprintf("%s, per %s", name, window),
			LimitUSD: b.LimitUSD,
			Window:   window,
			Key:      SpendKey(b.Scope, value),
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
	out, err := BudgetStatuses(r.Context(), h.st, h.budgetList(), h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, out)
}
