package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

type take struct {
	at         time.Duration // after base
	n          int64
	allowed    bool
	count      int64
	retryAfter time.Duration // checked when refused
}

func runTakes(t *testing.T, s conductor.CounterStore, key, kind string, limit int64, window time.Duration, takes []take) {
	t.Helper()
	for i, tk := range takes {
		d, err := s.TakeRate(context.Background(), key, tk.n, limit, window, kind, base.Add(tk.at))
		if err != nil {
			t.Fatalf("take %d (+%v n=%d): %v", i, tk.at, tk.n, err)
		}
		if d.Allowed != tk.allowed || d.Count != tk.count {
			t.Errorf("take %d (+%v n=%d): allowed=%v count=%d, want allowed=%v count=%d", i, tk.at, tk.n, d.Allowed, d.Count, tk.allowed, tk.count)
		}
		if !tk.allowed && d.RetryAfter != tk.retryAfter {
			t.Errorf("take %d (+%v n=%d): RetryAfter %v, want %v", i, tk.at, tk.n, d.RetryAfter, tk.retryAfter)
		}
	}
}

func runCounters(t *testing.T, open Opener, c *config) {
	ctx := context.Background()
	// base is 10:30:17.25; the minute window containing it ends at 10:31:00.
	toMinute := 42*time.Second + 750*time.Millisecond

	t.Run("RateWindows", func(t *testing.T) {
		tests := []struct {
			name   string
			kind   string
			limit  int64
			window time.Duration
			takes  []take
		}{
			{"fixed resets at the window boundary", conductor.WindowFixed, 3, time.Minute, []take{
				{0, 1, true, 1, 0},
				{time.Second, 2, true, 3, 0},
				{2 * time.Second, 1, false, 3, toMinute - 2*time.Second},
				{toMinute - time.Nanosecond, 1, false, 3, time.Nanosecond},
				{toMinute, 1, true, 1, 0}, // a new window: the burst at the boundary is allowed
				{toMinute + time.Second, 2, true, 3, 0},
				{toMinute + 2*time.Second, 1, false, 3, time.Minute - 2*time.Second},
			}},
			{"fixed amounts", conductor.WindowFixed, 1000, time.Minute, []take{
				{0, 600, true, 600, 0},
				{time.Second, 500, false, 600, toMinute - time.Second},
				{2 * time.Second, 400, true, 1000, 0},
				{3 * time.Second, 0, true, 1000, 0}, // n=0 only reads
			}},
			{"fixed take larger than the limit", conductor.WindowFixed, 5, time.Minute, []take{
				{0, 6, false, 0, time.Minute},
				{time.Second, 5, true, 5, 0},
			}},
			{"sliding counts the last window", conductor.WindowSliding, 3, time.Minute, []take{
				{0, 1, true, 1, 0},
				{10 * time.Second, 1, true, 2, 0},
				{20 * time.Second, 1, true, 3, 0},
				{30 * time.Second, 1, false, 3, 30 * time.Second}, // until the take at +0 leaves
				{30 * time.Second, 2, false, 3, 40 * time.Second}, // until +0 and +10s leave
				{toMinute, 1, false, 3, time.Minute - toMinute},   // no reset at the boundary
				{time.Minute - time.Nanosecond, 1, false, 3, time.Nanosecond},
				{time.Minute, 1, true, 3, 0}, // (now-window, now] excludes the take at +0
				{time.Minute, 1, false, 3, 10 * time.Second},
				{90 * time.Second, 2, true, 3, 0}, // +10s and +20s left; +60s is in
				{3 * time.Minute, 3, true, 3, 0},
			}},
			{"sliding take larger than the limit", conductor.WindowSliding, 5, time.Minute, []take{
				{0, 6, false, 0, time.Minute},
				{time.Second, 5, true, 5, 0},
			}},
			{"second windows", conductor.WindowSliding, 2, time.Second, []take{
				{0, 1, true, 1, 0},
				{500 * time.Millisecond, 1, true, 2, 0},
				{999 * time.Millisecond, 1, false, 2, time.Millisecond},
				{time.Second, 1, true, 2, 0},
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				runTakes(t, s, "user:alice", tt.kind, tt.limit, tt.window, tt.takes)
			})
		}
	})

	t.Run("RateKeysIndependent", func(t *testing.T) {
		s := open(t)
		for _, kind := range []string{conductor.WindowFixed, conductor.WindowSliding} {
			for _, key := range []string{"a:" + kind, "b:" + kind} {
				d, err := s.TakeRate(ctx, key, 2, 2, time.Minute, kind, base)
				if err != nil || !d.Allowed {
					t.Fatalf("TakeRate(%s) = %+v, %v; want allowed", key, d, err)
				}
			}
		}
	})

	t.Run("RateBadInput", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			name   string
			n      int64
			window time.Duration
			kind   string
		}{
			{"unknown kind", 1, time.Minute, "leaky"},
			{"negative n", -1, time.Minute, conductor.WindowFixed},
			{"zero window", 1, 0, conductor.WindowSliding},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := s.TakeRate(ctx, "k", tt.n, 10, tt.window, tt.kind, base); err == nil {
					t.Errorf("TakeRate accepted %s", tt.name)
				}
			})
		}
	})

	t.Run("RateExactUnderConcurrency", func(t *testing.T) {
		for _, kind := range []string{conductor.WindowFixed, conductor.WindowSliding} {
			for _, shared := range []bool{false, true} {
				name := kind
				if shared {
					name += "/two handles"
				}
				t.Run(name, func(t *testing.T) {
					stores := handles(t, open, c, shared)
					const requests, limit = 500, 137
					var admitted atomic.Int64
					var wg sync.WaitGroup
					errs := make(chan error, requests)
					for i := range requests {
						wg.Add(1)
						go func() {
							defer wg.Done()
							// Spread over the window: every instant is inside the same
							// fixed window and the same sliding one.
							now := base.Add(time.Duration(i) * 10 * time.Millisecond)
							d, err := stores[i%len(stores)].TakeRate(ctx, "gw:user:bob", 1, limit, time.Minute, kind, now)
							if err != nil {
								errs <- err
								return
							}
							if d.Allowed {
								admitted.Add(1)
							}
						}()
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						t.Fatal(err)
					}
					if got := admitted.Load(); got != limit {
						t.Errorf("%d concurrent takes with limit %d admitted %d", requests, limit, got)
					}
				})
			}
		}
	})

	t.Run("TakeRatesAllOrNothing", func(t *testing.T) {
		for _, kind := range []string{conductor.WindowFixed, conductor.WindowSliding} {
			t.Run(kind, func(t *testing.T) {
				s := open(t)
				tk := func(key string, n, limit int64) conductor.RateTake {
					return conductor.RateTake{Key: key, N: n, Limit: limit, Window: time.Minute, Kind: kind}
				}
				type want struct {
					allowed bool
					count   int64
				}
				steps := []struct {
					name  string
					takes []conductor.RateTake
					want  []want
				}{
					{"all fit", []conductor.RateTake{tk("tokens", 0, 9), tk("user", 1, 2), tk("gw", 1, 3)},
						[]want{{true, 0}, {true, 1}, {true, 1}}},
					{"second fits", []conductor.RateTake{tk("user", 1, 2), tk("gw", 1, 3)},
						[]want{{true, 2}, {true, 2}}},
					// user is full: gw must not count this request.
					{"user refuses", []conductor.RateTake{tk("gw", 1, 3), tk("user", 1, 2), tk("tokens", 0, 9)},
						[]want{{true, 3}, {false, 2}, {false, 0}}},
					{"gw still has room", []conductor.RateTake{tk("gw", 1, 3)},
						[]want{{true, 3}}},
					{"tokens used", []conductor.RateTake{tk("tokens", 5, 100)},
						[]want{{true, 5}}},
					// Checking tokens takes none; refused, it stops the rest.
					{"token check refuses first", []conductor.RateTake{tk("tokens", 0, 4), tk("other", 1, 5)},
						[]want{{false, 5}, {false, 0}}},
					{"empty", nil, nil},
				}
				for _, st := range steps {
					ds, err := s.TakeRates(ctx, st.takes, base.Add(time.Second))
					if err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					if len(ds) != len(st.want) {
						t.Fatalf("%s: %d decisions, want %d", st.name, len(ds), len(st.want))
					}
					for i, w := range st.want {
						if ds[i].Allowed != w.allowed || ds[i].Count != w.count {
							t.Errorf("%s: take %d: allowed=%v count=%d, want allowed=%v count=%d", st.name, i, ds[i].Allowed, ds[i].Count, w.allowed, w.count)
						}
					}
				}
				// What was counted, seen through single takes of nothing.
				for key, wantCount := range map[string]int64{"user": 2, "gw": 3, "tokens": 5, "other": 0} {
					d, err := s.TakeRate(ctx, key, 0, 100, time.Minute, kind, base.Add(2*time.Second))
					if err != nil {
						t.Fatal(err)
					}
					if d.Count != wantCount {
						t.Errorf("%s counted %d, want %d", key, d.Count, wantCount)
					}
				}
				if ds, err := s.TakeRates(ctx, []conductor.RateTake{tk("gw", 1, 3), tk("bad", -1, 3)}, base); err == nil {
					t.Errorf("a negative take: %+v, want an error", ds)
				}
				if ds, err := s.TakeRates(ctx, []conductor.RateTake{{Key: "k", N: 1, Limit: 3, Window: time.Minute, Kind: "leaky"}}, base); err == nil {
					t.Errorf("an unknown kind: %+v, want an error", ds)
				}
			})
		}
	})

	t.Run("TakeRatesExactUnderConcurrency", func(t *testing.T) {
		for _, shared := range []bool{false, true} {
			name := "one handle"
			if shared {
				name = "two handles"
			}
			t.Run(name, func(t *testing.T) {
				stores := handles(t, open, c, shared)
				// Every request takes from its user's limit (10 users, 20
				// each) and the gateway's (137): exactly 137 are admitted,
				// and no user count includes a request the gateway refused.
				const requests, users, userLimit, limit = 500, 10, 20, 137
				var admitted atomic.Int64
				perUser := make([]atomic.Int64, users)
				var wg sync.WaitGroup
				errs := make(chan error, requests)
				for i := range requests {
					wg.Go(func() {
						now := base.Add(time.Duration(i) * 10 * time.Millisecond)
						u := i % users
						ds, err := stores[i%len(stores)].TakeRates(ctx, []conductor.RateTake{
							{Key: "gw/tokens", N: 0, Limit: 1000, Window: time.Minute, Kind: conductor.WindowFixed},
							{Key: "gw/user/" + string(rune('a'+u)), N: 1, Limit: userLimit, Window: time.Minute, Kind: conductor.WindowSliding},
							{Key: "gw/requests", N: 1, Limit: limit, Window: time.Minute, Kind: conductor.WindowFixed},
						}, now)
						if err != nil {
							errs <- err
							return
						}
						if ds[2].Allowed {
							admitted.Add(1)
							perUser[u].Add(1)
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if got := admitted.Load(); got != limit {
					t.Errorf("%d concurrent requests with limit %d admitted %d", requests, limit, got)
				}
				for u := range users {
					d, err := stores[0].TakeRate(ctx, "gw/user/"+string(rune('a'+u)), 0, 1000, time.Minute, conductor.WindowSliding, base.Add(5*time.Second))
					if err != nil {
						t.Fatal(err)
					}
					if d.Count != perUser[u].Load() {
						t.Errorf("user %d counted %d, admitted %d", u, d.Count, perUser[u].Load())
					}
				}
			})
		}
	})

	t.Run("ReserveAllOrNothing", func(t *testing.T) {
		s := open(t)
		day := conductor.Budget{Key: "gw:day:2026-11-25", Limit: 100, Resets: base.Add(14 * time.Hour)}
		env := conductor.Budget{Key: "env:production:day:2026-11-25", Limit: 50, Resets: base.Add(14 * time.Hour)}
		spent := func(want map[string]int64) {
			t.Helper()
			for k, w := range want {
				got, err := s.Spent(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if got != w {
					t.Errorf("Spent(%s) = %d, want %d", k, got, w)
				}
			}
		}

		id1, err := s.ReserveSpend(ctx, []conductor.Budget{day, env}, 40, base)
		if err != nil || id1 == "" {
			t.Fatalf("ReserveSpend 40: id=%q err=%v", id1, err)
		}
		spent(map[string]int64{day.Key: 40, env.Key: 40})

		// 40+20 fits the day but not the environment: nothing is reserved.
		_, err = s.ReserveSpend(ctx, []conductor.Budget{day, env}, 20, base)
		var be *conductor.BudgetError
		if !errors.As(err, &be) || !errors.Is(err, conductor.ErrBudgetExceeded) {
			t.Fatalf("ReserveSpend 20 = %v, want a *BudgetError wrapping ErrBudgetExceeded", err)
		}
		if be.Budget.Key != env.Key || be.Spent != 40 || be.Asked != 20 || be.Budget.Limit != 50 || !be.Budget.Resets.Equal(env.Resets) {
			t.Errorf("BudgetError = %+v, want budget %s spent 40 asked 20", be, env.Key)
		}
		spent(map[string]int64{day.Key: 40, env.Key: 40})

		// The first budget in the caller's order that overflows is named.
		full := conductor.Budget{Key: "user:carol:month:2026-11", Limit: 10}
		_, err = s.ReserveSpend(ctx, []conductor.Budget{day, full, env}, 20, base)
		if !errors.As(err, &be) || be.Budget.Key != full.Key {
			t.Errorf("ReserveSpend over two budgets = %v, want the first, %s, named", err, full.Key)
		}

		// Exactly at the limit fits.
		id2, err := s.ReserveSpend(ctx, []conductor.Budget{env}, 10, base)
		if err != nil {
			t.Fatalf("ReserveSpend to the limit: %v", err)
		}
		spent(map[string]int64{day.Key: 40, env.Key: 50})
		if _, err := s.ReserveSpend(ctx, []conductor.Budget{env}, 1, base); !errors.Is(err, conductor.ErrBudgetExceeded) {
			t.Errorf("ReserveSpend past the limit = %v, want ErrBudgetExceeded", err)
		}

		// Settling replaces the reservation by the actual cost, in every
		// budget it touched, once.
		if err := s.SettleSpend(ctx, id1, 25); err != nil {
			t.Fatal(err)
		}
		spent(map[string]int64{day.Key: 25, env.Key: 35})
		if err := s.SettleSpend(ctx, id1, 30); err != nil {
			t.Fatalf("second SettleSpend: %v", err)
		}
		spent(map[string]int64{day.Key: 25, env.Key: 35})
		// An actual cost above the estimate is counted in full.
		if err := s.SettleSpend(ctx, id2, 12); err != nil {
			t.Fatal(err)
		}
		spent(map[string]int64{day.Key: 25, env.Key: 37})

		if err := s.SettleSpend(ctx, "no-such-reservation", 1); err == nil {
			t.Error("SettleSpend of an unknown id succeeded")
		}
		spent(map[string]int64{"never-used": 0})
	})

	t.Run("SettleAndCount", func(t *testing.T) {
		s := open(t)
		day := conductor.Budget{Key: "gw:day:2026-11-25", Limit: 1000, Resets: base.Add(14 * time.Hour)}
		env := conductor.Budget{Key: "gw:env:production:month:2026-11", Limit: 1000}
		spent := func(step string, want map[string]int64) {
			t.Helper()
			for k, w := range want {
				got, err := s.Spent(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if got != w {
					t.Errorf("%s: Spent(%s) = %d, want %d", step, k, got, w)
				}
			}
		}
		counted := func(step string, key string, want int64) {
			t.Helper()
			d, err := s.TakeRate(ctx, key, 0, 1<<40, time.Minute, conductor.WindowFixed, base.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if d.Count != want {
				t.Errorf("%s: %s counted %d, want %d", step, key, d.Count, want)
			}
		}
		id1, err := s.ReserveSpend(ctx, []conductor.Budget{day, env}, 100, base)
		if err != nil {
			t.Fatal(err)
		}
		id2, err := s.ReserveSpend(ctx, []conductor.Budget{env}, 50, base)
		if err != nil {
			t.Fatal(err)
		}
		tokens := func(key string, n, limit int64) conductor.RateTake {
			return conductor.RateTake{Key: key, N: n, Limit: limit, Window: time.Minute, Kind: conductor.WindowFixed}
		}
		ds, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id1, Actual: 30}, {ID: id2, Actual: 0}},
			[]conductor.RateTake{tokens("user/tokens", 40, 1<<40), tokens("gw/tokens", 40, 10)}, base)
		if err != nil {
			t.Fatal(err)
		}
		// Each take on its own: the refused one does not undo the rest.
		if len(ds) != 2 || !ds[0].Allowed || ds[0].Count != 40 || ds[1].Allowed {
			t.Errorf("decisions %+v, want the first allowed (40) and the second refused", ds)
		}
		spent("settled", map[string]int64{day.Key: 30, env.Key: 30})
		counted("settled", "user/tokens", 40)
		counted("settled", "gw/tokens", 0)

		// Settling again is a no-op; the takes still count.
		if _, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id1, Actual: 999}}, []conductor.RateTake{tokens("user/tokens", 2, 1<<40)}, base); err != nil {
			t.Fatal(err)
		}
		spent("settled twice", map[string]int64{day.Key: 30, env.Key: 30})
		counted("settled twice", "user/tokens", 42)

		// An unknown id fails the whole step: nothing settled or counted.
		id3, err := s.ReserveSpend(ctx, []conductor.Budget{day}, 100, base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id3, Actual: 1}, {ID: "no-such-reservation", Actual: 1}}, []conductor.RateTake{tokens("user/tokens", 5, 1<<40)}, base); err == nil {
			t.Error("SettleAndCount with an unknown id succeeded")
		}
		spent("unknown id", map[string]int64{day.Key: 130})
		counted("unknown id", "user/tokens", 42)

		for name, call := range map[string]func() error{
			"negative actual": func() error {
				_, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id3, Actual: -1}}, nil, base)
				return err
			},
			"bad take": func() error {
				_, err := s.SettleAndCount(ctx, nil, []conductor.RateTake{tokens("k", 1, 1), {Key: "k", N: 1, Limit: 1, Window: 0, Kind: conductor.WindowFixed}}, base)
				return err
			},
		} {
			if err := call(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
		spent("bad input", map[string]int64{day.Key: 130})
		counted("bad input", "k", 0)
		if ds, err := s.SettleAndCount(ctx, nil, nil, base); err != nil || len(ds) != 0 {
			t.Errorf("nothing to do: %v, %v", ds, err)
		}
	})

	t.Run("ReserveEdgeCases", func(t *testing.T) {
		s := open(t)
		b := conductor.Budget{Key: "gw:month:2026-11", Limit: 100}
		// The same budget named twice is charged once.
		if _, err := s.ReserveSpend(ctx, []conductor.Budget{b, b}, 60, base); err != nil {
			t.Fatalf("ReserveSpend with a repeated budget: %v", err)
		}
		if got, _ := s.Spent(ctx, b.Key); got != 60 {
			t.Errorf("Spent = %d, want 60", got)
		}
		// No budgets: nothing to refuse, and the id still settles.
		id, err := s.ReserveSpend(ctx, nil, 1000, base)
		if err != nil {
			t.Fatalf("ReserveSpend with no budgets: %v", err)
		}
		if err := s.SettleSpend(ctx, id, 5); err != nil {
			t.Errorf("SettleSpend of a budget-less reservation: %v", err)
		}
		if _, err := s.ReserveSpend(ctx, []conductor.Budget{b}, -1, base); err == nil {
			t.Error("ReserveSpend accepted a negative amount")
		}
	})

	t.Run("ReserveNeverOverspends", func(t *testing.T) {
		for _, shared := range []bool{false, true} {
			name := "one handle"
			if shared {
				name = "two handles"
			}
			t.Run(name, func(t *testing.T) {
				stores := handles(t, open, c, shared)
				const requests, limit, amount = 1000, 10_000, 70
				budgets := []conductor.Budget{
					{Key: "gw:day:2026-11-25", Limit: limit},
					{Key: "gw:month:2026-11", Limit: 5 * limit},
				}
				var (
					admitted atomic.Int64
					wg       sync.WaitGroup
					ids      = make(chan string, requests)
					errs     = make(chan error, requests)
				)
				for i := range requests {
					wg.Add(1)
					go func() {
						defer wg.Done()
						id, err := stores[i%len(stores)].ReserveSpend(ctx, budgets, amount, base)
						switch {
						case err == nil:
							admitted.Add(1)
							ids <- id
						case !errors.Is(err, conductor.ErrBudgetExceeded):
							errs <- err
						}
					}()
				}
				wg.Wait()
				close(errs)
				close(ids)
				for err := range errs {
					t.Fatal(err)
				}
				want := int64(limit / amount)
				if got := admitted.Load(); got != want {
					t.Errorf("admitted %d reservations of %d in %d, want exactly %d", got, amount, limit, want)
				}
				for _, b := range budgets {
					spent, err := stores[0].Spent(ctx, b.Key)
					if err != nil {
						t.Fatal(err)
					}
					if spent != want*amount || spent > b.Limit {
						t.Errorf("Spent(%s) = %d, want %d (limit %d)", b.Key, spent, want*amount, b.Limit)
					}
				}
				// Settle concurrently at a lower actual cost: every budget ends at
				// the sum of actual costs.
				var settle sync.WaitGroup
				i := 0
				for id := range ids {
					settle.Add(1)
					go func(s conductor.CounterStore) {
						defer settle.Done()
						if err := s.SettleSpend(ctx, id, 3); err != nil {
							t.Error(err)
						}
					}(stores[i%len(stores)])
					i++
				}
				settle.Wait()
				for _, b := range budgets {
					if spent, _ := stores[0].Spent(ctx, b.Key); spent != want*3 {
						t.Errorf("after settling, Spent(%s) = %d, want %d", b.Key, spent, want*3)
					}
				}
			})
		}
	})

	t.Run("Once", func(t *testing.T) {
		s := open(t)
		// Once takes no current time, so its expiries are relative to the
		// wall clock, far enough away that the test cannot straddle them.
		future := time.Now().Add(time.Hour)
		past := time.Now().Add(-time.Hour)
		tests := []struct {
			key     string
			expires time.Time
			want    []bool
		}{
			{"alert:gw:day:2026-11-25:80", future, []bool{true, false, false}},
			{"alert:gw:day:2026-11-25:100", future, []bool{true, false}},
			{"alert:never-expires", time.Time{}, []bool{true, false}},
			{"alert:already-expired", past, []bool{true, true}},
		}
		for _, tt := range tests {
			for i, want := range tt.want {
				got, err := s.Once(ctx, tt.key, tt.expires)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("Once(%s) call %d = %v, want %v", tt.key, i+1, got, want)
				}
			}
		}
		// A key whose mark expired fires again.
		if first, _ := s.Once(ctx, "alert:renewed", past); !first {
			t.Fatal("first Once not true")
		}
		if again, _ := s.Once(ctx, "alert:renewed", future); !again {
			t.Error("Once after the mark expired = false, want true")
		}
		if again, _ := s.Once(ctx, "alert:renewed", future); again {
			t.Error("Once within the renewed mark = true, want false")
		}
	})

	t.Run("OnceUnderConcurrency", func(t *testing.T) {
		stores := handles(t, open, c, c.shared != nil)
		var fired atomic.Int64
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := stores[i%len(stores)].Once(ctx, "alert:budget:80", time.Now().Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				if ok {
					fired.Add(1)
				}
			}()
		}
		wg.Wait()
		if got := fired.Load(); got != 1 {
			t.Errorf("100 concurrent Once fired %d times, want 1", got)
		}
	})
}

// handles returns one store, or two handles on one store when shared is
// asked and the implementation provides them.
func handles(t *testing.T, open Opener, c *config, shared bool) []conductor.Store {
	t.Helper()
	if !shared {
		return []conductor.Store{open(t)}
	}
	if c.shared == nil {
		t.Skip("implementation declares no shared-store hook")
	}
	a, b := c.shared(t)
	return []conductor.Store{a, b}
}
