package gateway

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	conductor "github.com/conductor-go/conductor"
)

// An alert fires when settled spend crosses its threshold: not for what a
// call in flight holds reserved, and not when a call is refused. It names
// the budget and the fraction spent.
func TestAlertsFollowSettledSpend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		// "hi" with MaxTokens 10 reserves 38,000; the slow call 2,018,000
		// (MaxTokens 1000). The limit: 2,100,000.
		g, _, _ := start(t, Config{
			Budgets:         []Budget{{Name: "daily", Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 0.0021, Alerts: []float64{0.5}}},
			AlertThresholds: []float64{0.9}, // the budget's own thresholds win
		}, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
		release := make(chan struct{})
		up := &double{reply: func(_ context.Context, req *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
			if req.MaxTokens == 1000 {
				<-release
				return answer("x", 10, 640), nil // 1,290,000: settled spend then crosses half
			}
			return answer("x", 5, 5), nil // 15,000
		}}
		p := g.Wrap(up)
		slow := make(chan error, 1)
		go func() {
			req := chatReq("hi")
			req.MaxTokens = 1000
			_, err := p.Chat(context.Background(), req)
			slow <- err
		}()
		synctest.Wait() // the slow call holds its reservation
		req := chatReq("hi")
		req.MaxTokens = 10
		if _, err := p.Chat(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		// Over budget with the reservation: refused, and no alert for it.
		big := chatReq("hi")
		big.MaxTokens = 100
		if _, err := p.Chat(t.Context(), big); class(err) != conductor.ClassBudget {
			t.Fatalf("over budget: %v", err)
		}
		synctest.Wait()
		if strings.Contains(logs.String(), "gateway budget alert") {
			t.Fatalf("an alert fired before settled spend crossed half:\n%s", logs.String())
		}
		close(release)
		if err := <-slow; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		out := logs.String()
		if strings.Count(out, `"msg":"gateway budget alert"`) != 1 || !strings.Contains(out, `"budget":"daily"`) ||
			!strings.Contains(out, `"threshold":0.5`) || !strings.Contains(out, `"fraction":0.6214`) {
			t.Fatalf("alerts:\n%s", out)
		}
	})
}
