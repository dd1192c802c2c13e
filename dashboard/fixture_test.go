package dashboard

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/sqlite"
)

// testNow is the dashboard's clock in the tests.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func score(f float64) *float64 { return &f }

// fixtureRows is a day of gateway traffic with known figures: gpt-4o
// mostly from the cache (variant A), Claude uncached and slower (variant
// B, scored higher, one server error), Groq throttled by the provider and
// by our own limit, Workers AI fast and cheap; and one row older than a
// day that no 24h figure may include.
func fixtureRows(now time.Time) []conductor.LogRow {
	var rows []conductor.LogRow
	add := func(ago time.Duration, r conductor.LogRow) {
		r.Time = now.Add(-ago)
		r.Gateway = "prod-gw"
		if r.Environment == "" {
			r.Environment = "production"
		}
		r.Route = conductor.RoutingGateway
		if r.Status == 0 {
			r.Status = 200
		}
		if r.TTFB == 0 {
			r.TTFB = r.Latency / 3
		}
		rows = append(rows, r)
	}
	for i := range 12 {
		r := conductor.LogRow{Provider: "openai", Model: "gpt-4o", Variant: "A", Deployment: "openai/gpt-4o@OPENAI_API_KEY", Success: true, Attempts: 1,
			InputTokens: 400, OutputTokens: 120, User: "user-4242", Score: score(0.7)}
		if i < 9 {
			r.Cached, r.Latency = true, time.Duration(3+i)*time.Millisecond
		} else {
			r.MissReason, r.Latency, r.CostNanoUSD = "new_key", time.Duration(900+100*i)*time.Millisecond, 2_200_000
		}
		add(time.Duration(i)*90*time.Minute+7*time.Minute, r)
	}
	for i := range 6 {
		r := conductor.LogRow{Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Variant: "B", Success: true,
			Attempts: 1, MissReason: "ttl_0", InputTokens: 500, OutputTokens: 300, CostNanoUSD: 6_000_000,
			Latency: time.Duration(2000+400*i) * time.Millisecond, Score: score(0.9)}
		if i == 5 {
			r.Success, r.Status, r.ErrorClass, r.Attempts, r.InputTokens, r.OutputTokens, r.CostNanoUSD, r.Score =
				false, 529, "server", 3, 0, 0, 0, nil
		}
		add(time.Duration(i)*3*time.Hour+20*time.Minute, r)
	}
	for i := range 4 {
		r := conductor.LogRow{Provider: "groq", Model: "llama-3.1-70b-versatile", Success: true, Attempts: 1,
			MissReason: "bypass", InputTokens: 200, OutputTokens: 80, CostNanoUSD: 180_000,
			Latency: 350 * time.Millisecond, Environment: "staging"}
		switch i {
		case 0:
			r.Success, r.Status, r.ErrorClass, r.Attempts, r.CostNanoUSD, r.InputTokens, r.OutputTokens =
				false, 429, "rate_limited", 3, 0, 0, 0
		case 1:
			r.Success, r.Status, r.ErrorClass, r.Attempts, r.CostNanoUSD, r.InputTokens, r.OutputTokens, r.MissReason =
				false, 429, "limited", 0, 0, 0, 0, ""
			r.Latency = time.Millisecond
		}
		add(time.Duration(i)*5*time.Hour+45*time.Minute, r)
	}
	for i := range 3 {
		add(time.Duration(i)*2*time.Hour+10*time.Minute, conductor.LogRow{
			Provider: "workers-ai", Model: "@cf/meta/llama-3.1-8b-instruct", Success: true, Attempts: 1,
			MissReason: "new_key", InputTokens: 50, OutputTokens: 20, CostNanoUSD: 3_000,
			Latency: time.Duration(80+10*i) * time.Millisecond, Route: conductor.RoutingCloudflare})
	}
	// Outside every 24h window.
	add(30*time.Hour, conductor.LogRow{Provider: "openai", Model: "gpt-4o", Success: false, Status: 500,
		ErrorClass: "server", Latency: 9 * time.Second, CostNanoUSD: 99_000_000_000})
	return rows
}

// expected computes the figures of the rows in [since, until) the slow,
// obvious way, to check the store and the API against.
func expected(rows []conductor.LogRow, since, until time.Time, keep func(conductor.LogRow) bool) Figures {
	var f Figures
	var lat []time.Duration
	var scoreSum float64
	var scored int
	var cost int64
	for _, r := range rows {
		if r.Time.Before(since) || !r.Time.Before(until) || (keep != nil && !keep(r)) {
			continue
		}
		f.Requests++
		if r.Cached {
			f.CacheHits++
		}
		if !r.Success {
			f.Errors++
		}
		f.InputTokens += int64(r.InputTokens)
		f.OutputTokens += int64(r.OutputTokens)
		cost += r.CostNanoUSD
		lat = append(lat, r.Latency)
		if r.Score != nil {
			scoreSum += *r.Score
			scored++
		}
	}
	f.CostUSD = float64(cost) / 1e9
	if f.Requests == 0 {
		return f
	}
	hit, errs := float64(f.CacheHits)/float64(f.Requests), float64(f.Errors)/float64(f.Requests)
	f.HitRate, f.ErrorRate = &hit, &errs
	slices.Sort(lat)
	rank := func(p int) float64 { return ms(lat[(p*len(lat)+99)/100-1]) } // nearest rank
	f.P50Ms, f.P95Ms, f.P99Ms = rank(50), rank(95), rank(99)
	if scored > 0 {
		m := scoreSum / float64(scored)
		f.MeanScore = &m
	}
	return f
}

// openFixture opens a real SQLite store in a temporary directory, filled
// with rows.
func openFixture(t testing.TB, rows []conductor.LogRow) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "conductor.db"),
		sqlite.WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AppendLogs(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	return st
}
