package storetest

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

func score(v float64) *float64 { return &v }

func logRow(id string, at time.Duration, provider, model, env string, latency time.Duration) conductor.LogRow {
	return conductor.LogRow{
		ID: id, Time: base.Add(at), Gateway: "gw", Environment: env, Provider: provider, Model: model,
		Route: conductor.RoutingGateway, Status: 200, Success: true, Attempts: 1,
		InputTokens: 10, OutputTokens: 20, CostNanoUSD: 1000, Latency: latency,
	}
}

func mustAppend(t *testing.T, s conductor.LogStore, rows []conductor.LogRow) {
	t.Helper()
	if err := s.AppendLogs(context.Background(), rows); err != nil {
		t.Fatalf("AppendLogs: %v", err)
	}
}

func byGroup(rows []conductor.StatsRow) map[string]conductor.StatsRow {
	m := make(map[string]conductor.StatsRow, len(rows))
	for _, r := range rows {
		m[r.Group] = r
	}
	return m
}

func runLog(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		full := conductor.LogRow{
			ID: "req-1", Time: base, Gateway: "my-gateway", Environment: "production", User: "alice",
			Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Route: conductor.RoutingGateway,
			Variant: "b", Status: 200, Success: true, Cached: true, MissReason: "", Attempts: 2, Step: 1,
			InputTokens: 1200, OutputTokens: 345, CostNanoUSD: 8_775_000, CostFlagged: true,
			Latency: 1234567 * time.Microsecond, TTFB: 250 * time.Millisecond, ErrorClass: "",
			Score: score(0.875), Metadata: map[string]string{"ensemble": "analyze", "member": "detect-sentiment"},
		}
		failed := conductor.LogRow{
			ID: "req-2", Time: base.Add(time.Second), Gateway: "my-gateway", Provider: "openai", Model: "gpt-4o",
			Route: conductor.RoutingGateway, Status: 429, MissReason: "new key", Attempts: 3,
			ErrorClass: string(conductor.ClassRateLimited), Latency: time.Second,
		}
		mustAppend(t, s, []conductor.LogRow{full, failed})
		got, err := s.RecentLogs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("RecentLogs returned %d rows, want 2", len(got))
		}
		// Newest first.
		for i, want := range []conductor.LogRow{failed, full} {
			g := got[i]
			if !g.Time.Equal(want.Time) {
				t.Errorf("row %d time %v, want %v", i, g.Time, want.Time)
			}
			g.Time = want.Time
			if !reflect.DeepEqual(g, want) {
				t.Errorf("row %d:\n got %+v\nwant %+v", i, g, want)
			}
		}
	})

	t.Run("RecentLimit", func(t *testing.T) {
		s := open(t)
		var rows []conductor.LogRow
		for i := range 20 {
			rows = append(rows, logRow(fmt.Sprintf("r%02d", i), time.Duration(i)*time.Second, "openai", "gpt-4o", "", time.Millisecond))
		}
		mustAppend(t, s, rows[:10])
		mustAppend(t, s, rows[10:])
		tests := []struct {
			limit int
			ids   []string
		}{
			{3, []string{"r19", "r18", "r17"}},
			{1, []string{"r19"}},
			{0, nil},
		}
		for _, tt := range tests {
			got, err := s.RecentLogs(ctx, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.ids) {
				t.Errorf("RecentLogs(%d) = %v, want %v", tt.limit, ids, tt.ids)
			}
		}
		if got, _ := s.RecentLogs(ctx, 100); len(got) != 20 {
			t.Errorf("RecentLogs(100) = %d rows, want 20", len(got))
		}
	})

	t.Run("AppendIsIdempotentByID", func(t *testing.T) {
		s := open(t)
		r := logRow("dup", 0, "openai", "gpt-4o", "", time.Millisecond)
		mustAppend(t, s, []conductor.LogRow{r})
		mustAppend(t, s, []conductor.LogRow{r, logRow("other", time.Second, "openai", "gpt-4o", "", time.Millisecond)})
		st, err := s.Stats(ctx, conductor.StatsQuery{Since: base.Add(-time.Hour), Until: base.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].Requests != 2 {
			t.Errorf("Stats after a repeated row = %+v, want 2 requests", st)
		}
	})

	t.Run("Stats", func(t *testing.T) {
		s := open(t)
		var rows []conductor.LogRow
		// gpt-4o in production: latencies 1..100 ms, every 10th a cache hit,
		// every 25th a failure, scores on the first 4.
		for i := 1; i <= 100; i++ {
			r := logRow(fmt.Sprintf("a%d", i), time.Duration(i)*time.Second, "openai", "gpt-4o", "production", time.Duration(101-i)*time.Millisecond)
			r.Cached = i%10 == 0
			r.Success = i%25 != 0
			if i <= 4 {
				r.Score = score(float64(i) / 4) // mean 0.625
			}
			rows = append(rows, r)
		}
		// claude in staging: ten latencies 10..100 ms.
		for i := 1; i <= 10; i++ {
			r := logRow(fmt.Sprintf("b%d", i), time.Duration(i)*time.Second, "anthropic", "claude-3-5-sonnet-20241022", "staging", time.Duration(i*10)*time.Millisecond)
			r.InputTokens, r.OutputTokens, r.CostNanoUSD = 100, 200, 5000
			rows = append(rows, r)
		}
		// One gpt-4o-mini call in staging, and rows outside the window.
		rows = append(rows, logRow("c1", 5*time.Second, "openai", "gpt-4o-mini", "staging", 7*time.Millisecond))
		rows = append(rows, logRow("old", -time.Hour, "openai", "gpt-4o", "production", time.Hour))
		rows = append(rows, logRow("late", 2*time.Hour, "openai", "gpt-4o", "production", time.Hour))
		mustAppend(t, s, rows)

		window := conductor.StatsQuery{Since: base, Until: base.Add(time.Hour)}
		ms := time.Millisecond
		tests := []struct {
			by   string
			want map[string]conductor.StatsRow
		}{
			{"", map[string]conductor.StatsRow{
				"": {Group: "", Requests: 111, CacheHits: 10, Errors: 4, InputTokens: 100*10 + 10*100 + 10,
					OutputTokens: 100*20 + 10*200 + 20, CostNanoUSD: 100*1000 + 10*5000 + 1000,
					// 111 latencies: 1..100 ms, 10..100 step 10, and 7 ms.
					// Rank ceil(.5*111)=56 (50 ms: 50+5+1 at or below it), ceil(.95*111)=106, ceil(.99*111)=110.
					P50: 50 * ms, P95: 96 * ms, P99: 100 * ms, MeanScore: score(0.625)},
			}},
			{"model", map[string]conductor.StatsRow{
				"gpt-4o": {Group: "gpt-4o", Requests: 100, CacheHits: 10, Errors: 4, InputTokens: 1000, OutputTokens: 2000,
					CostNanoUSD: 100_000, P50: 50 * ms, P95: 95 * ms, P99: 99 * ms, MeanScore: score(0.625)},
				"claude-3-5-sonnet-20241022": {Group: "claude-3-5-sonnet-20241022", Requests: 10, InputTokens: 1000, OutputTokens: 2000,
					CostNanoUSD: 50_000, P50: 50 * ms, P95: 100 * ms, P99: 100 * ms},
				"gpt-4o-mini": {Group: "gpt-4o-mini", Requests: 1, InputTokens: 10, OutputTokens: 20,
					CostNanoUSD: 1000, P50: 7 * ms, P95: 7 * ms, P99: 7 * ms},
			}},
			{"provider", map[string]conductor.StatsRow{
				"openai": {Group: "openai", Requests: 101, CacheHits: 10, Errors: 4, InputTokens: 1010, OutputTokens: 2020,
					// 101 latencies: 1..100 and 7; ranks 51, 96, 100.
					CostNanoUSD: 101_000, P50: 50 * ms, P95: 95 * ms, P99: 99 * ms, MeanScore: score(0.625)},
				"anthropic": {Group: "anthropic", Requests: 10, InputTokens: 1000, OutputTokens: 2000,
					CostNanoUSD: 50_000, P50: 50 * ms, P95: 100 * ms, P99: 100 * ms},
			}},
			{"environment", map[string]conductor.StatsRow{
				"production": {Group: "production", Requests: 100, CacheHits: 10, Errors: 4, InputTokens: 1000, OutputTokens: 2000,
					CostNanoUSD: 100_000, P50: 50 * ms, P95: 95 * ms, P99: 99 * ms, MeanScore: score(0.625)},
				// 11 latencies: 7, 10..100; ranks 6, 11, 11.
				"staging": {Group: "staging", Requests: 11, InputTokens: 1010, OutputTokens: 2020,
					CostNanoUSD: 51_000, P50: 50 * ms, P95: 100 * ms, P99: 100 * ms},
			}},
			{"gateway", map[string]conductor.StatsRow{
				"gw": {Group: "gw", Requests: 111, CacheHits: 10, Errors: 4, InputTokens: 2010, OutputTokens: 4020,
					CostNanoUSD: 151_000, P50: 50 * ms, P95: 96 * ms, P99: 100 * ms, MeanScore: score(0.625)},
			}},
		}
		for _, tt := range tests {
			t.Run("by="+tt.by, func(t *testing.T) {
				q := window
				q.By = tt.by
				got, err := s.Stats(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Errorf("Stats returned %d groups, want %d: %+v", len(got), len(tt.want), got)
				}
				for g, r := range byGroup(got) {
					w, ok := tt.want[g]
					if !ok {
						t.Errorf("unexpected group %q", g)
						continue
					}
					if !reflect.DeepEqual(r, w) {
						t.Errorf("group %q:\n got %s\nwant %s", g, fmtStats(r), fmtStats(w))
					}
				}
			})
		}

		t.Run("window bounds", func(t *testing.T) {
			// Since is inclusive, Until exclusive.
			got, err := s.Stats(ctx, conductor.StatsQuery{Since: base.Add(time.Second), Until: base.Add(5 * time.Second), By: "model"})
			if err != nil {
				t.Fatal(err)
			}
			m := byGroup(got)
			if m["gpt-4o"].Requests != 4 || m["claude-3-5-sonnet-20241022"].Requests != 4 || m["gpt-4o-mini"].Requests != 0 {
				t.Errorf("Stats over [+1s, +5s) = %+v, want 4 gpt-4o, 4 claude and no gpt-4o-mini", got)
			}
		})

		t.Run("zero Until is now", func(t *testing.T) {
			// The one place the wall clock matters: rows a minute ago count,
			// rows an hour ahead do not yet.
			s := open(t)
			now := time.Now()
			past := logRow("past", 0, "openai", "gpt-4o", "", time.Millisecond)
			past.Time = now.Add(-time.Minute)
			future := logRow("future", 0, "openai", "gpt-4o", "", time.Millisecond)
			future.Time = now.Add(time.Hour)
			mustAppend(t, s, []conductor.LogRow{past, future})
			got, err := s.Stats(ctx, conductor.StatsQuery{Since: now.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Requests != 1 {
				t.Errorf("Stats up to now = %+v, want the one past row", got)
			}
		})

		t.Run("unknown grouping", func(t *testing.T) {
			if _, err := s.Stats(ctx, conductor.StatsQuery{By: "provider; DROP TABLE logs"}); err == nil {
				t.Error("Stats accepted an unknown grouping")
			}
		})
	})

	t.Run("Scores", func(t *testing.T) {
		s := open(t)
		window := conductor.StatsQuery{Since: base, Until: base.Add(time.Hour), By: "variant"}
		row := func(id, variant string, at time.Duration) conductor.LogRow {
			r := logRow(id, at, "openai", "gpt-4o", "", time.Millisecond)
			r.Variant = variant
			return r
		}
		// A row stored first, then scored, then scored again: the last
		// score counts.
		mustAppend(t, s, []conductor.LogRow{row("a1", "A", 0), row("a2", "A", time.Second)})
		for _, sc := range []struct {
			id string
			v  float64
		}{{"a1", 0.2}, {"a1", 0.9}, {"a2", 0.5}} {
			if err := s.ScoreLog(ctx, sc.id, sc.v); err != nil {
				t.Fatalf("ScoreLog(%s): %v", sc.id, err)
			}
		}
		// Scores given before their rows arrive (the gateway's writer has
		// not flushed yet) are applied when the rows come, even to a row
		// that carried a score of its own.
		for id, v := range map[string]float64{"b1": 0.25, "b2": 0.75, "b3": 1} {
			if err := s.ScoreLog(ctx, id, v); err != nil {
				t.Fatalf("ScoreLog(%s) before its row: %v", id, err)
			}
		}
		b3 := row("b3", "B", 4*time.Second)
		b3.Score = score(0)
		mustAppend(t, s, []conductor.LogRow{row("b1", "B", 2*time.Second), row("b2", "B", 3*time.Second), b3, row("b4", "B", 5*time.Second)})
		// Appending again applies nothing twice.
		mustAppend(t, s, []conductor.LogRow{row("c1", "", 6*time.Second)})

		got, err := s.Stats(ctx, window)
		if err != nil {
			t.Fatal(err)
		}
		m := byGroup(got)
		want := map[string]*float64{"A": score(0.7), "B": score(2.0 / 3), "": nil}
		for g, w := range want {
			r, ok := m[g]
			if !ok {
				t.Errorf("no group %q in %+v", g, got)
				continue
			}
			switch {
			case w == nil && r.MeanScore != nil:
				t.Errorf("group %q mean score %v, want none", g, *r.MeanScore)
			case w != nil && (r.MeanScore == nil || math.Abs(*r.MeanScore-*w) > 1e-9):
				t.Errorf("group %q mean score %s, want %v", g, fmtStats(r), *w)
			}
		}
		recent, err := s.RecentLogs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		scores := map[string]string{}
		for _, r := range recent {
			scores[r.ID] = "-"
			if r.Score != nil {
				scores[r.ID] = fmt.Sprint(*r.Score)
			}
		}
		wantScores := map[string]string{"a1": "0.9", "a2": "0.5", "b1": "0.25", "b2": "0.75", "b3": "1", "b4": "-", "c1": "-"}
		if !reflect.DeepEqual(scores, wantScores) {
			t.Errorf("row scores %v, want %v", scores, wantScores)
		}

		for _, bad := range []struct {
			id string
			v  float64
		}{{"", 1}, {"a1", math.NaN()}, {"a1", math.Inf(1)}} {
			if err := s.ScoreLog(ctx, bad.id, bad.v); err == nil {
				t.Errorf("ScoreLog(%q, %v) accepted", bad.id, bad.v)
			}
		}
	})

	t.Run("Prune", func(t *testing.T) {
		s := open(t)
		var rows []conductor.LogRow
		for i := range 10 {
			rows = append(rows, logRow(fmt.Sprintf("p%d", i), time.Duration(i)*time.Hour, "openai", "gpt-4o", "", time.Millisecond))
		}
		mustAppend(t, s, rows)
		n, err := s.PruneLogs(ctx, base.Add(4*time.Hour))
		if err != nil || n != 4 {
			t.Fatalf("PruneLogs = %d, %v; want 4", n, err)
		}
		got, err := s.RecentLogs(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 6 || got[len(got)-1].ID != "p4" {
			t.Errorf("after prune %d rows, oldest %q; want 6, oldest p4", len(got), got[len(got)-1].ID)
		}
		if n, err := s.PruneLogs(ctx, base); err != nil || n != 0 {
			t.Errorf("PruneLogs again = %d, %v; want 0", n, err)
		}
	})
}

func fmtStats(r conductor.StatsRow) string {
	s := fmt.Sprintf("%+v", r)
	if r.MeanScore != nil {
		s += fmt.Sprintf(" meanScore=%v", *r.MeanScore)
	}
	return s
}
