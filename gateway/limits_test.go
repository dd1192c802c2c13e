package gateway

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// newTestSet is a Set over a fresh store with the test's prices, closed
// (its gateways flushed) by the returned function and at the end.
func newTestSet(t *testing.T, configs []Config, template Config, l Limits) (*Set, func()) {
	t.Helper()
	st := openStore(t, tempDB(t))
	for i := range configs {
		configs[i].Prices = testPrices{}
	}
	template.Prices = testPrices{}
	s, err := NewSet(st, configs, template)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetLimits(l); err != nil {
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if !closed {
			closed = true
			if err := s.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { stop(); st.Close() })
	return s, stop
}

func callThrough(t *testing.T, s *Set, gw string, o conductor.CallOptions) error {
	t.Helper()
	g, err := s.Gateway(gw)
	if err != nil {
		t.Fatal(err)
	}
	req := chatReq("hi")
	req.MaxTokens = 10
	req.Options = o
	_, err = g.Wrap(&double{}).Chat(t.Context(), req)
	synctest.Wait() // the call's settlement
	return err
}

// Every limit not scoped by the gateway counts the calls of every gateway
// together: spend through one is refused through all the others, and so
// are a user's, a key's and a team's requests.
func TestLimitsHoldAcrossGateways(t *testing.T) {
	// One call: input bound 4+2+4+8 = 18 tokens, 10 output: reserves
	// 18·1000 + 10·2000 = 38,000 nano-USD; costs 10·1000 + 5·2000 = 20,000.
	tests := []holdCase{
		{"environment budget", Limits{Budgets: []Budget{{Name: "prod", Scope: ScopeEnvironment, Match: "production", Period: PeriodDay, LimitUSD: 0.000060}}},
			conductor.CallOptions{Environment: "production"}, 2, conductor.ClassBudget},
		{"per-user budget", Limits{Budgets: []Budget{{Scope: ScopeUser, Period: PeriodDay, LimitUSD: 0.000060}}},
			conductor.CallOptions{User: "alice"}, 2, conductor.ClassBudget},
		{"key budget", Limits{Budgets: []Budget{{Scope: ScopeKey, Match: "ci", Period: PeriodMonth, LimitUSD: 0.000060}}},
			conductor.CallOptions{Key: "ci"}, 2, conductor.ClassBudget},
		{"team budget", Limits{Budgets: []Budget{{Scope: ScopeTeam, Match: "research", Period: PeriodDay, LimitUSD: 0.000060}}},
			conductor.CallOptions{Key: "k1", Team: "research"}, 2, conductor.ClassBudget},
		{"per-user rate limit", Limits{Rates: []RateRule{{Scope: ScopeUser, Requests: 3, Window: time.Hour}}},
			conductor.CallOptions{User: "alice"}, 3, conductor.ClassLimited},
		{"key rate limit", Limits{Rates: []RateRule{{Name: "ci-rpm", Scope: ScopeKey, Match: "ci", Requests: 3, Window: time.Hour}}},
			conductor.CallOptions{Key: "ci"}, 3, conductor.ClassLimited},
		{"team rate limit", Limits{Rates: []RateRule{{Scope: ScopeTeam, Requests: 3, Window: time.Hour}}},
			conductor.CallOptions{Team: "research"}, 3, conductor.ClassLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testLimitsHold(t, tt) }) })
	}
}

type holdCase struct {
	name   string
	limits Limits
	opts   conductor.CallOptions
	admit  int // calls admitted before the limit holds
	class  conductor.ErrorClass
}

func testLimitsHold(t *testing.T, tt holdCase) {
	s, stop := newTestSet(t, []Config{{ID: "a"}, {ID: "b"}}, Config{}, tt.limits)
	for i := range tt.admit {
		if err := callThrough(t, s, "a", tt.opts); err != nil {
			t.Fatalf("call %d through a: %v", i, err)
		}
	}
	// Every other gateway, configured or not, refuses.
	for _, gw := range []string{"a", "b", "default", "new-1", "new-2"} {
		if err := callThrough(t, s, gw, tt.opts); class(err) != tt.class {
			t.Errorf("through %s: %v, want %s", gw, err, tt.class)
		}
	}
	// Another value of the scope is not held by this one's count.
	other := tt.opts
	other.Environment, other.User, other.Key, other.Team = "staging", "bob", "k2", "ops"
	if err := callThrough(t, s, "b", other); err != nil {
		t.Errorf("another value: %v", err)
	}
	stop()
	if tt.class == conductor.ClassBudget {
		b := tt.limits.Budgets[0]
		name, _ := window(b.Period, nowUTC())
		v := (&who{environment: tt.opts.Environment, user: tt.opts.User, key: tt.opts.Key, team: tt.opts.Team}).value(b.Scope)
		spent, err := s.st.Spent(context.Background(), SpendKey(b.Scope, v)+"/"+b.Period+":"+name)
		if err != nil {
			t.Fatal(err)
		}
		if spent != 2*20_000 {
			t.Errorf("spent %d, want the two admitted calls' 40,000", spent)
		}
	}
}

// A gateway's own per-user limit counts the user's requests through every
// gateway, and a gateway made from the template (another id) holds them to
// the same limit.
func TestPerUserLimitSpansGateways(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rl := RateLimitConfig{UserRequests: 2, Window: time.Hour}
		s, _ := newTestSet(t, []Config{{ID: "a", RateLimit: rl}, {ID: "b"}}, Config{RateLimit: rl}, Limits{})
		alice := conductor.CallOptions{User: "alice"}
		for range 2 {
			if err := callThrough(t, s, "a", alice); err != nil {
				t.Fatal(err)
			}
		}
		for _, gw := range []string{"a", "auto-1"} {
			err := callThrough(t, s, gw, alice)
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassLimited || e.Message != "rate limit 2 requests/hour for user alice exceeded" {
				t.Errorf("through %s: %v", gw, err)
			}
		}
		// b holds no per-user limit; bob has his own count.
		if err := callThrough(t, s, "b", alice); err != nil {
			t.Errorf("through b: %v", err)
		}
		if err := callThrough(t, s, "auto-1", conductor.CallOptions{User: "bob"}); err != nil {
			t.Errorf("bob: %v", err)
		}
	})
}

// Limits set while the gateways run hold the next call; counts carry over.
// Set.Update changes a running gateway's own settings.
func TestLimitsChangeWhileRunning(t *testing.T) {
	synctest.Test(t, testLimitsChangeWhileRunning)
}

func testLimitsChangeWhileRunning(t *testing.T) {
	s, _ := newTestSet(t, []Config{{ID: "a"}}, Config{}, Limits{})
	o := conductor.CallOptions{User: "alice"}
	for range 3 {
		if err := callThrough(t, s, "a", o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLimits(Limits{Rates: []RateRule{{Name: "tight", Scope: ScopeUser, Match: "alice", Requests: 2, Window: time.Hour}}}); err != nil {
		t.Fatal(err)
	}
	// The rule is new: its count starts now.
	for i := range 3 {
		err := callThrough(t, s, "a", o)
		if (err == nil) != (i < 2) {
			t.Fatalf("call %d under the new limit: %v", i, err)
		}
		if i == 2 {
			if e, _ := conductor.AsError(err); e == nil || e.Message != `rate limit "tight" (2 requests/hour for user alice) exceeded` {
				t.Errorf("refusal %v", err)
			}
		}
	}
	if err := s.SetLimits(Limits{Rates: []RateRule{{Scope: ScopeUser, Match: "alice", Requests: 3, Window: time.Hour}}}); err != nil {
		t.Fatal(err)
	}
	if err := callThrough(t, s, "a", o); err != nil {
		t.Fatalf("raised to 3, the third call: %v", err)
	}
	if err := s.SetLimits(Limits{Rates: []RateRule{{Scope: "galaxy", Requests: 1}}}); err == nil {
		t.Fatal("a bad rule was accepted")
	}
	// The gateway's own limit, by Update.
	if err := s.Update([]Config{{ID: "a", Prices: testPrices{}, RateLimit: RateLimitConfig{Requests: 1, Window: time.Hour}}}, Config{}); err != nil {
		t.Fatal(err)
	}
	o = conductor.CallOptions{User: "bob"}
	if err := callThrough(t, s, "a", o); err != nil {
		t.Fatal(err)
	}
	if err := callThrough(t, s, "a", o); class(err) != conductor.ClassLimited {
		t.Fatalf("after Update: %v", err)
	}
	if !s.Configured("a") || s.Configured("zz") {
		t.Error("Configured")
	}
}

// Two limits counting under one key are one count, held to the smaller
// limit: a call is reserved once, not twice.
func TestSameKeyCountsOnce(t *testing.T) {
	synctest.Test(t, testSameKeyCountsOnce)
}

func testSameKeyCountsOnce(t *testing.T) {
	s, stop := newTestSet(t, []Config{{ID: "a", Budgets: []Budget{{Scope: ScopeEnvironment, Match: "dev", Period: PeriodDay, LimitUSD: 1}}}}, Config{},
		Limits{Budgets: []Budget{
			{Name: "big", Scope: ScopeEnvironment, Match: "dev", Period: PeriodDay, LimitUSD: 10},
			{Name: "small", Scope: ScopeEnvironment, Period: PeriodDay, LimitUSD: 0.00004},
		}})
	o := conductor.CallOptions{Environment: "dev"}
	if err := callThrough(t, s, "a", o); err != nil {
		t.Fatal(err)
	}
	err := callThrough(t, s, "a", o)
	if e, _ := conductor.AsError(err); e == nil || e.Class != conductor.ClassBudget ||
		e.Message != `budget "small" (spend limit $0.00004/day for environment dev) exceeded: $0.00002 spent, this call needs up to $0.000038; resets `+nextDay() {
		t.Fatalf("refusal %v", err)
	}
	stop()
	name, _ := window(PeriodDay, nowUTC())
	spent, _ := s.st.Spent(context.Background(), "spend/environment:dev/day:"+name)
	if spent != 20_000 {
		t.Fatalf("spent %d, want one call's 20,000", spent)
	}
}

func nextDay() string {
	_, resets := window(PeriodDay, nowUTC())
	return resets.Format(time.RFC3339)
}

// The limits of a call are found by its values, not by reading every
// rule: ten thousand keys' budgets cost a call what one does.
func BenchmarkLimitsFor(b *testing.B) {
	var l Limits
	for i := range 10_000 {
		k := fmt.Sprintf("key-%d", i)
		l.Budgets = append(l.Budgets, Budget{Scope: ScopeKey, Match: k, Period: PeriodDay, LimitUSD: 1})
		l.Rates = append(l.Rates, RateRule{Scope: ScopeKey, Match: k, Requests: 60})
	}
	l.Budgets = append(l.Budgets, Budget{Scope: ScopeUser, Period: PeriodDay, LimitUSD: 1})
	ix, err := compileLimits(l, "")
	if err != nil {
		b.Fatal(err)
	}
	g := bare(Config{ID: "gw"})
	g.shared = new(atomic.Pointer[limitIndex])
	g.shared.Store(ix)
	o := &conductor.CallOptions{User: "alice", Key: "key-5000"}
	now := nowUTC()
	r := &rateProvider{g: g}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(g.budgetsFor("openai", "gpt-4o", o, now)); n != 2 {
			b.Fatal(n)
		}
		if req, _ := r.limits(o); len(req) != 1 {
			b.Fatal(len(req))
		}
	}
}
