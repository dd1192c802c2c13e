package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/store/sqlite"
)

// gatewayResolver puts a real built-in gateway in front of each scripted
// provider, as routing cloudflare-gateway does.
type gatewayResolver struct {
	g *gateway.Gateway
	r *testResolver
}

func (gr gatewayResolver) Provider(ctx context.Context, provider, model, routing string) (conductor.Provider, error) {
	p, err := gr.r.Provider(ctx, provider, model, routing)
	if err != nil {
		return nil, err
	}
	if routing == conductor.RoutingDirect {
		return p, nil
	}
	return gr.g.Wrap(p), nil
}

// Every graded answer's score reaches the gateway's log row of that
// answer, retried answers included; the judge's own call and answers no
// gateway logged get none. Stats' mean score then compares the models.
func TestScorerRecordsScoresInTheLog(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := gateway.New(gateway.Config{ID: "gw"}, st)
	if err != nil {
		t.Fatal(err)
	}
	ens := parse(t, `
name: scored
flow:
  - member: retried
    config: {provider: openai, model: gpt-4o}
    scoring:
      evaluator: rules
      rules: [{contains: a}, {contains: b}, {contains: c}]
      thresholds: {minimum: 1}
      onFailure: retry
      retryLimit: 2
  - member: judged
    config: {provider: anthropic, model: claude-3-5-haiku-20241022, prompt: "Write a haiku"}
    scoring:
      criteria: ["Is a haiku"]
      judge: {provider: groq, model: llama-3.1-8b-instant}
  - member: direct
    config: {provider: openai, model: gpt-4o, routing: direct}
    scoring: {evaluator: rules, rules: [{contains: a}]}
`)
	writer := &scripted{name: "openai", replies: []string{"a", "a b", "c", "a"}}
	poet := &scripted{name: "anthropic", replies: []string{"old pond / frog jumps in / splash"}}
	judge := &scripted{name: "groq", replies: []string{`{"score": 0.6, "reason": "close"}`}}
	res, err := New(Options{Resolver: gatewayResolver{g: g, r: newResolver(writer, poet, judge)}, Scorer: g, Logger: quiet()}).Run(ctx, ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if m := member(t, res, "retried"); m.Attempts != 3 || *m.Scoring.Score != 2.0/3 {
		t.Fatalf("retried = %+v", m)
	}
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := st.RecentLogs(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(rows)
	// Three answers of "retried", the poem, then the judge's call; the
	// direct member's call went through no gateway.
	type got struct {
		provider string
		score    float64 // -1: none
	}
	var have []got
	for _, r := range rows {
		s := -1.0
		if r.Score != nil {
			s = math.Round(*r.Score*1000) / 1000
		}
		have = append(have, got{r.Provider, s})
	}
	want := []got{{"openai", 0.333}, {"openai", 0.667}, {"openai", 0.333}, {"anthropic", 0.6}, {"groq", -1}}
	if !slices.Equal(have, want) {
		t.Errorf("rows (provider, score) = %v, want %v", have, want)
	}
	stats, err := st.Stats(ctx, conductor.StatsQuery{By: "provider"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Group == "openai" && (s.MeanScore == nil || math.Abs(*s.MeanScore-4.0/9) > 1e-9) {
			t.Errorf("openai mean score %v, want 4/9", s.MeanScore)
		}
		if s.Group == "groq" && s.MeanScore != nil {
			t.Errorf("the judge's calls have a mean score %v", *s.MeanScore)
		}
	}
}

// failingScorer fails every report and counts them.
type failingScorer struct {
	mu  sync.Mutex
	ids []string
}

func (f *failingScorer) Score(_ context.Context, id string, _ float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
	return errors.New("store is read-only")
}

// A score that cannot be recorded does not fail the member: it is logged.
func TestScorerFailureIsOnlyLogged(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := gateway.New(gateway.Config{ID: "gw"}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(ctx)
	ens := parse(t, `
name: scored
flow:
  - member: m
    config: {provider: openai, model: gpt-4o}
    scoring: {evaluator: rules, rules: [{contains: ok}]}
`)
	var logged bytes.Buffer
	sc := &failingScorer{}
	res, err := New(Options{
		Resolver: gatewayResolver{g: g, r: newResolver(&scripted{name: "openai"})},
		Scorer:   sc,
		Logger:   slog.New(slog.NewTextHandler(&logged, nil)),
	}).Run(ctx, ens, "hi")
	if err != nil || !res.Success {
		t.Fatalf("run failed: %v", err)
	}
	if len(sc.ids) != 1 || len(sc.ids[0]) != 26 {
		t.Errorf("scorer got %v, want one log row id", sc.ids)
	}
	if !strings.Contains(logged.String(), "recording the score failed") || !strings.Contains(logged.String(), "store is read-only") {
		t.Errorf("log = %q", logged.String())
	}
}
