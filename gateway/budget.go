package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// Budget periods.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Budget is a hard spend limit in USD per day or per month (UTC windows).
type Budget struct {
	// Name names the budget in refusals, alerts and the dashboard (the
	// config's [[budget]] name); its counts do not depend on it.
	Name string
	// Scope is what the budget is for: gateway, environment, user, key,
	// team, provider or model.
	Scope string
	// Match restricts the budget to one value of its scope ("production",
	// "alice", a key's name, "openai", "gpt-4o" or "openai/gpt-4o", a
	// gateway id); empty gives every value its own budget of the same size
	// (each user, each environment, each gateway…). In a gateway's own
	// Config.Budgets, a gateway-scoped budget is that gateway's whatever
	// its Match.
	Match    string
	Period   string
	LimitUSD float64
	// Unlimited counts the spend without refusing anything (the spend of
	// every virtual key, shown by `conductor keys list`); LimitUSD is
	// ignored.
	Unlimited bool
	// Alerts are fractions of the limit (0.5, 0.8, 1.0) that fire once per
	// window when settled spend reaches them; nil: the gateway's
	// Config.AlertThresholds. Webhook receives them ("": the gateway's
	// Config.AlertWebhook).
	Alerts  []float64
	Webhook string
}

func (b *Budget) check() error {
	switch b.Scope {
	case ScopeGateway, ScopeEnvironment, ScopeUser, ScopeKey, ScopeTeam, ScopeProvider, ScopeModel:
	default:
		return fmt.Errorf("scope %q (expected gateway, environment, user, key, team, provider or model)", b.Scope)
	}
	switch b.Period {
	case PeriodDay, PeriodMonth:
	default:
		return fmt.Errorf("period %q (expected day or month)", b.Period)
	}
	if !(b.LimitUSD >= 0) || math.IsInf(b.LimitUSD, 0) || b.LimitUSD > 1e9 {
		return fmt.Errorf("limit $%v (expected 0 to 1e9 USD)", b.LimitUSD)
	}
	for _, t := range b.Alerts {
		if !(t > 0 && t <= 10) {
			return fmt.Errorf("alert threshold %v (expected a fraction of the limit such as 0.8)", t)
		}
	}
	return checkWebhook(b.Webhook)
}

// limit is the budget's limit in nano-USD.
func (b *Budget) limit() int64 {
	if b.Unlimited {
		return math.MaxInt64 / 4 // no sum of real spend reaches it
	}
	return int64(math.Round(b.LimitUSD * 1e9))
}

// SpendKey is the counter key, without its window, of a budget of scope
// for one value of it: "spend/environment:production". The window follows
// as "/day:2026-11-25" or "/month:2026-11".
func SpendKey(scope, value string) string { return "spend/" + scope + ":" + value }

// window names a budget's current window and when it resets.
func window(period string, now time.Time) (name string, resets time.Time) {
	now = now.UTC()
	y, m, d := now.Date()
	if period == PeriodMonth {
		return now.Format("2006-01"), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	}
	return now.Format("2006-01-02"), time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// budgetFor is a configured budget as it applies to one call.
type budgetFor struct {
	conductor.Budget
	cfg     *Budget
	value   string
	gateway string
}

func (b *budgetFor) describe() string {
	what := b.cfg.Scope + " " + b.value
	if b.cfg.Unlimited {
		return "spend count for " + what
	}
	s := fmt.Sprintf("spend limit %s/%s for %s", usd(b.Limit), b.cfg.Period, what)
	if b.cfg.Name != "" {
		s = fmt.Sprintf("budget %q (%s)", b.cfg.Name, s)
	}
	return s
}

// usd shows cents, or every significant digit below a cent: a tiny
// budget must not read "$0.00".
func usd(nano int64) string {
	if v := float64(nano) / 1e9; nano != 0 && v < 0.01 && v > -0.01 {
		return "$" + strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprintf("$%.2f", float64(nano)/1e9)
}

// matching lists the budgets a chat call must fit in, in the current
// windows.
func (g *Gateway) matching(req *conductor.ChatRequest, now time.Time) []budgetFor {
	return g.budgetsFor(req.Provider, req.Model, &req.Options, now)
}

// budgetsFor lists the budgets a call to provider's model with options o
// must fit in, in the current windows: the gateway's own and the Set's.
// Budgets counting under one key are one budget, the smallest limit.
func (g *Gateway) budgetsFor(provider, model string, o *conductor.CallOptions, now time.Time) []budgetFor {
	w := g.whoFor(o)
	w.provider, w.model = provider, model
	var out []budgetFor
	add := func(b *Budget, v string) {
		name, resets := window(b.Period, now)
		key := SpendKey(b.Scope, v) + "/" + b.Period + ":" + name
		limit := b.limit()
		for i := range out {
			if out[i].Key == key {
				if limit < out[i].Limit {
					out[i].Limit, out[i].cfg = limit, b
				}
				return
			}
		}
		out = append(out, budgetFor{
			Budget: conductor.Budget{Key: key, Limit: limit, Resets: resets},
			cfg:    b, value: v, gateway: g.id,
		})
	}
	g.live.Load().own.eachBudget(&w, add)
	if g.shared != nil {
		g.shared.Load().eachBudget(&w, add)
	}
	return out
}

// promptBytes is the size of everything a call sends as input.
func promptBytes(req *conductor.ChatRequest) int {
	n := 0
	if rf := req.ResponseFormat; rf != nil {
		n += len(rf.Type) + len(rf.Name) + len(rf.Description) + len(rf.Schema)
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters) + 16
	}
	for _, m := range req.Messages {
		n += len(m.Role) + blocksBytes(m.Content)
	}
	for k, v := range req.Extra {
		n += len(k) + len(v)
	}
	return n
}

// imageTokenBound is what one image may cost in input tokens, counted as
// that many bytes: above Anthropic's largest (1568 px, about 1,600 tokens)
// and OpenAI's high-detail tiling of a 2048 px image (about 1,100).
const imageTokenBound = 2000

func blocksBytes(content []conductor.Block) int {
	n := 0
	for _, c := range content {
		n += len(c.Text)
		switch {
		case c.Image != nil:
			n += imageTokenBound
		case c.ToolCall != nil:
			n += len(c.ToolCall.ID) + len(c.ToolCall.Name) + len(c.ToolCall.Arguments)
		case c.ToolResult != nil:
			n += len(c.ToolResult.CallID) + blocksBytes(c.ToolResult.Content)
		case c.Opaque != nil:
			n += len(c.Opaque.Raw)
		}
	}
	return n
}

// inputTokenBound bounds a call's input tokens from above: a token covers
// at least one byte in every tokenizer the providers use, plus a few
// framing tokens per message. A true bound, not an estimate, so that the
// reservation covers whatever the provider counts.
func inputTokenBound(req *conductor.ChatRequest) int {
	return promptBytes(req) + 4*len(req.Messages) + 8
}

// budgetProvider enforces the spend limits for one route: it reserves the
// route's maximum cost in every matching budget, atomically, before the
// call, and settles the real cost after it (0 for a failed call). A call
// whose reservation does not fit is refused with 429 budget_exceeded.
//
// The maximum cost is priced from an upper bound of the input tokens and
// the call's MaxTokens; a call that sets none is capped at
// Config.DefaultMaxOutputTokens while a budget applies, so the reservation
// really bounds it.
//
// When the store cannot be reached, calls are refused: a spend limit that
// fails open is no limit.
type budgetProvider struct {
	g    *Gateway
	next conductor.Provider
}

// budget is always in the chain: budgets may be set while the gateway
// runs. A call no budget matches costs a few map lookups.
func (g *Gateway) budget(next conductor.Provider) conductor.Provider {
	return &budgetProvider{g: g, next: next}
}

// reservation is what a call holds in its budgets until it settles.
type reservation struct {
	id              string
	budgets         []budgetFor
	provider, model string // what the settlement prices
	amount          int64  // reserved, nano-USD
}

// reserve reserves a chat call's maximum cost: a call that sets no
// MaxTokens is capped at the default while a budget applies, and the
// returned request (a copy, then) says so.
func (b *budgetProvider) reserve(ctx context.Context, req *conductor.ChatRequest) (*reservation, *conductor.ChatRequest, error) {
	capped := req
	res, err := b.g.reserve(ctx, req.Provider, req.Model, &req.Options, func() int64 {
		if req.MaxTokens <= 0 {
			// The cap binds the upstream too: a caller's body that passes
			// through gets it in its own field (issue 11: answers of 20k
			// tokens overspent a budget by 40% when only the reservation
			// assumed the cap).
			capped = copyRequest(req)
			provider.LimitOutput(capped, b.g.conf().DefaultMaxOutputTokens)
		}
		return b.g.prices.MaxCost(req.Provider, req.Model, inputTokenBound(capped), capped.MaxTokens)
	})
	if err != nil {
		return nil, nil, err
	}
	return res, capped, nil
}

// reserve reserves amount() in every budget a call to provider's model
// with options o matches, atomically; amount is asked only when one does.
// No budget applies: a nil reservation. A refusal is a 429
// budget_exceeded; a store failure refuses the call too.
func (g *Gateway) reserve(ctx context.Context, provider, model string, o *conductor.CallOptions, amount func() int64) (*reservation, error) {
	now := nowUTC()
	budgets := g.budgetsFor(provider, model, o, now)
	if len(budgets) == 0 {
		return nil, nil
	}
	cb := make([]conductor.Budget, len(budgets))
	for i := range budgets {
		cb[i] = budgets[i].Budget
	}
	n := amount()
	id, err := g.st.ReserveSpend(ctx, cb, n, now)
	if err == nil {
		return &reservation{id: id, budgets: budgets, provider: provider, model: model, amount: n}, nil
	}
	var be *conductor.BudgetError
	if !errors.As(err, &be) {
		if ctx.Err() != nil {
			return nil, canceled(ctx, err)
		}
		return nil, &conductor.Error{
			Provider: provider, Class: conductor.ClassServer, Status: 503, Code: "budget_unavailable",
			Message: "spend limits cannot be checked: the gateway store failed", Err: err,
		}
	}
	refused := budgets[0]
	for _, bf := range budgets {
		if bf.Key == be.Budget.Key {
			refused = bf
		}
	}
	// No alert here: alerts follow settled spend (alert.go), and a refused
	// call spent nothing.
	return nil, &conductor.Error{
		Provider:   provider,
		Class:      conductor.ClassBudget,
		Status:     429,
		Code:       "budget_exceeded",
		Message:    fmt.Sprintf("%s exceeded: %s spent, this call needs up to %s; resets %s", refused.describe(), usd(be.Spent), usd(be.Asked), refused.Resets.Format(time.RFC3339)),
		RetryAfter: refused.Resets.Sub(now),
		Err:        err,
	}
}

// settle replaces the reservation with the real cost, off the request path,
// then checks the alert thresholds. When the rate limiter around the call
// collects its after-call work (ctx carries an afterBatch), the settlement
// joins it: one store transaction for the call's settlements and token
// counts.
func (g *Gateway) settle(ctx context.Context, res *reservation, u conductor.Usage, failed bool) {
	var actual int64
	if !failed {
		actual, _ = g.prices.Cost(res.provider, res.model, u)
	}
	if actual > res.amount {
		g.overspent(res, actual)
	}
	if batch, ok := ctx.Value(afterBatchKey{}).(*afterBatch); ok && batch.add(res, actual) {
		return
	}
	g.after.do(func(ctx context.Context) {
		if err := g.st.SettleSpend(ctx, res.id, actual); err != nil {
			g.log.Warn("gateway spend settlement failed; the reservation stays counted", "id", res.id, "err", err)
			return
		}
		g.checkAlerts(ctx, res.budgets)
	})
}

func (b *budgetProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	res, req, err := b.reserve(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := b.next.Chat(ctx, req)
	if res != nil {
		if err != nil {
			b.g.settle(ctx, res, conductor.Usage{}, true)
		} else {
			b.g.settle(ctx, res, resp.Usage, false)
		}
	}
	return resp, err
}

func (b *budgetProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	res, req, err := b.reserve(ctx, req)
	if err != nil {
		return nil, err
	}
	s, err := b.next.Stream(ctx, req)
	if res == nil {
		return s, err
	}
	if err != nil {
		// Not batched: a fallback may go on to stream for long, and this
		// reservation must not stay held meanwhile.
		b.g.settle(withoutBatch(ctx), res, conductor.Usage{}, true)
		return nil, err
	}
	// A stream cut or closed early was still generated, at least in part:
	// it is settled with what it reported, or an estimate from its text.
	return &usageStream{
		Stream: s, input: estimateTokens(promptBytes(req)),
		done: func(u conductor.Usage, _ error) { b.g.settle(ctx, res, u, false) },
	}, nil
}
