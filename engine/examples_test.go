package engine

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/provider"
)

// TestPageExamples runs every flow of the product page (examples/) with
// every provider swapped for the mock through a Resolver, on every routing
// mode the examples name: each must run to completion.
func TestPageExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) < 15 {
		t.Fatalf("examples: %v, %d files", err, len(files))
	}
	half := 0.5
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	for _, file := range files {
		if filepath.Base(file) == "quickstart.yaml" {
			continue // runs on the mock itself: TestQuickstart
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			ens, err := ensemble.Load(file)
			if err != nil {
				t.Fatalf("load:\n%v", err)
			}
			var routes []route
			// A JSON answer the cost-optimization condition reads, and a
			// judge score under the cascade's minimum, so both escalate.
			mock := provider.NewMock(provider.MockConfig{Reply: `{"intent": "complex", "summary": "ok"}`, Score: &half})
			res := resolverFunc(func(_ context.Context, prov, model, routing string) (conductor.Provider, error) {
				routes = append(routes, route{prov, model, routing})
				return mock, nil
			})
			out, err := New(Options{Resolver: res, Cache: store}).Run(context.Background(), ens, map[string]any{"requestId": 2})
			if err != nil {
				t.Fatal(err)
			}
			if !out.Success || len(out.Members) != len(ens.Flow) {
				t.Fatalf("result = %+v", out)
			}
			for _, m := range out.Members {
				if !m.Success && !m.Skipped {
					t.Errorf("member %s failed: %+v", m.Member, m.Error)
				}
			}
			for _, r := range routes {
				if r.provider == "" || r.model == "" || r.routing == "" {
					t.Errorf("incomplete route %+v", r)
				}
			}
		})
	}
}

// TestPageCascadesEscalate checks the page's two conditional flows take the
// branch their inputs call for.
func TestPageCascadesEscalate(t *testing.T) {
	tests := []struct {
		file    string
		reply   string
		score   float64
		second  string
		escalte bool
	}{
		{"cascade.yaml", "answer", 0.5, "detailed-answer", true},
		{"cascade.yaml", "answer", 0.9, "detailed-answer", false},
		{"cost-optimization.yaml", `{"intent": "complex"}`, 1, "generate-strategy", true},
		{"cost-optimization.yaml", "```json\n{\"intent\": \"simple\"}\n```", 1, "generate-strategy", false},
		{"fallback.yaml", "fine", 1, "generate-content-fallback", false},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.reply, func(t *testing.T) {
			ens, err := ensemble.Load(filepath.Join("../examples", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			score := tc.score
			mock := provider.NewMock(provider.MockConfig{Reply: tc.reply, Score: &score})
			out, err := New(Options{Resolver: resolverOf(mock)}).Run(context.Background(), ens, "hi")
			if err != nil {
				t.Fatal(err)
			}
			if m := member(t, out, tc.second); m.Skipped == tc.escalte {
				t.Errorf("%s skipped = %v, want ran = %v", tc.second, m.Skipped, tc.escalte)
			}
		})
	}
}

// TestQuickstart runs examples/quickstart.yaml as a user would, offline:
// the cascade escalates, the fallback answers, and the repeated request is
// a step-cache hit within the one run.
func TestQuickstart(t *testing.T) {
	ens, err := ensemble.Load("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "conductor.db")
	store := openStore(t, path)
	defer store.Close()
	res, err := New(Options{Cache: store, Logger: quiet()}).Run(context.Background(), ens, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"intent":         "question",
		"answer":         member(t, res, "detailed-answer").Output,
		"quickScore":     0.55,
		"escalated":      true,
		"summary":        "Air scatters blue light most.",
		"usedFallback":   true,
		"auditFromCache": true,
	}
	if !reflect.DeepEqual(res.Output, want) {
		t.Errorf("output = %#v\nwant %#v", res.Output, want)
	}
	statuses := map[string]string{}
	for _, m := range res.Members {
		statuses[m.Member] = m.Status
	}
	wantStatus := map[string]string{
		"classify-intent": StatusSucceeded, "quick-answer": StatusBelowMinimum, "detailed-answer": StatusSucceeded,
		"summarize": StatusFailed, "summarize-fallback": StatusSucceeded, "audit-intent": StatusSucceeded,
	}
	if !reflect.DeepEqual(statuses, wantStatus) {
		t.Errorf("statuses = %v", statuses)
	}
	if s := member(t, res, "summarize"); s.Attempts != 2 {
		t.Errorf("summarize attempts = %d, want 2", s.Attempts)
	}
	// A second run is served from the cache for both classifiers.
	res, err = New(Options{Cache: store, Logger: quiet()}).Run(context.Background(), ens, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !member(t, res, "classify-intent").Cached || !member(t, res, "audit-intent").Cached {
		t.Errorf("second run: classify-intent/audit-intent not cached")
	}
}

// TestToolExtractExample runs examples/tool-extract.yaml on the mock, as
// its comment says: the tool call's arguments, from the reply the prompt
// matches, reach the output.
func TestToolExtractExample(t *testing.T) {
	ens, err := ensemble.Load("../examples/tool-extract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		input any
		city  string
	}{
		{nil, "Lisbon"},
		{map[string]any{"question": "Is it cold in Oslo?"}, "Oslo"},
	} {
		res, err := New(Options{}).Run(context.Background(), ens, tc.input)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"tool": "get_weather", "city": tc.city, "unit": "celsius", "forecast": "Sunny with a light breeze", "high": 24.0}
		if !reflect.DeepEqual(res.Output, want) {
			t.Errorf("input %v: output = %#v", tc.input, res.Output)
		}
		if ex := member(t, res, "extract"); len(ex.ToolCalls) != 1 || ex.ToolCalls[0].ID != "call_mock_get_weather" {
			t.Errorf("extract = %+v", ex)
		}
	}
}
