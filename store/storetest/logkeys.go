package storetest

import (
	"context"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// runLogByKey is the log's part for virtual keys: rows keep the key's
// name, its team and what a cache hit saved, and Stats groups by user,
// key and team and sums the savings. (A part of its own, so that a log
// store meets the rest of the contract before it stores these.)
func runLogByKey(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	row := func(id, user, key, team string, cached bool) conductor.LogRow {
		r := logRow(id, time.Minute, "openai", "gpt-4o", "production", time.Second)
		r.User, r.Key, r.Team, r.Cached = user, key, team, cached
		if cached {
			r.CostNanoUSD, r.SavedNanoUSD = 0, 1500
		}
		return r
	}
	mustAppend(t, s, []conductor.LogRow{
		row("a1", "alice", "ci", "research", false),
		row("a2", "alice", "ci", "research", true),
		row("a3", "alice", "app", "research", true),
		row("b1", "bob", "app", "research", false),
		row("c1", "carol", "", "", false),
	})
	got, err := s.RecentLogs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range got {
		if r.ID == "a2" {
			found = r.Key == "ci" && r.Team == "research" && r.SavedNanoUSD == 1500 && r.CostNanoUSD == 0
		}
	}
	if !found {
		t.Fatalf("the row's key, team and saving were not kept: %+v", got)
	}
	window := conductor.StatsQuery{Since: base, Until: base.Add(time.Hour)}
	for _, tt := range []struct {
		by   string
		want map[string][2]int64 // requests, saved
	}{
		{"key", map[string][2]int64{"ci": {2, 1500}, "app": {2, 1500}, "": {1, 0}}},
		{"team", map[string][2]int64{"research": {4, 3000}, "": {1, 0}}},
		{"user", map[string][2]int64{"alice": {3, 3000}, "bob": {1, 0}, "carol": {1, 0}}},
		{"", map[string][2]int64{"": {5, 3000}}},
	} {
		q := window
		q.By = tt.by
		rows, err := s.Stats(ctx, q)
		if err != nil {
			t.Fatalf("by %q: %v", tt.by, err)
		}
		g := byGroup(rows)
		if len(g) != len(tt.want) {
			t.Errorf("by %q: groups %+v", tt.by, rows)
		}
		for name, w := range tt.want {
			if g[name].Requests != w[0] || g[name].SavedNanoUSD != w[1] {
				t.Errorf("by %q, group %q: %d requests, %d saved; want %v", tt.by, name, g[name].Requests, g[name].SavedNanoUSD, w)
			}
		}
	}
}

// runLogByDeployment: rows keep the [[model]] deployment that served the
// call, and Stats groups by it.
func runLogByDeployment(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	row := func(id, deployment string, ok bool) conductor.LogRow {
		r := logRow(id, time.Minute, "openai", "gpt-4o-mini", "production", time.Second)
		r.Deployment, r.Success = deployment, ok
		return r
	}
	mustAppend(t, s, []conductor.LogRow{
		row("d1", "openai/gpt-4o-mini@OPENAI_API_KEY", true),
		row("d2", "openai/gpt-4o-mini@OPENAI_API_KEY_2", true),
		row("d3", "openai/gpt-4o-mini@OPENAI_API_KEY_2", false),
		row("d4", "", true),
	})
	got, err := s.RecentLogs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range got {
		if r.ID == "d2" {
			found = r.Deployment == "openai/gpt-4o-mini@OPENAI_API_KEY_2"
		}
	}
	if !found {
		t.Fatalf("the row's deployment was not kept: %+v", got)
	}
	rows, err := s.Stats(ctx, conductor.StatsQuery{Since: base, Until: base.Add(time.Hour), By: "deployment"})
	if err != nil {
		t.Fatal(err)
	}
	g := byGroup(rows)
	want := map[string][2]int64{ // requests, errors
		"openai/gpt-4o-mini@OPENAI_API_KEY":   {1, 0},
		"openai/gpt-4o-mini@OPENAI_API_KEY_2": {2, 1},
		"":                                    {1, 0},
	}
	if len(g) != len(want) {
		t.Errorf("groups %+v", rows)
	}
	for name, w := range want {
		if g[name].Requests != w[0] || g[name].Errors != w[1] {
			t.Errorf("group %q: %d requests, %d errors; want %v", name, g[name].Requests, g[name].Errors, w)
		}
	}
}
