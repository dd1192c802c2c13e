package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

func TestScoring(t *testing.T) {
	tests := []struct {
		name     string
		member   string // the scored member's YAML (under "- member: m")
		runOK    bool
		success  bool
		score    any // float64, or nil for no score
		passed   bool
		attempts int
		output   any
	}{
		{"judge by default, passing", `
    config: {provider: mock, mock: {reply: good, score: 0.9}}
    scoring: {thresholds: {minimum: 0.7}}`, true, true, 0.9, true, 1, "good"},
		{"judge under minimum, continue", `
    config: {provider: mock, mock: {reply: meh, score: 0.5}}
    scoring: {thresholds: {minimum: 0.7}, onFailure: continue}`, true, true, 0.5, false, 1, "meh"},
		{"judge under minimum, abort by default", `
    config: {provider: mock, mock: {reply: meh, score: 0.5}}
    scoring: {thresholds: {minimum: 0.7}}`, false, false, 0.5, false, 1, "meh"},
		{"judge under minimum, retry keeps going then continues", `
    config: {provider: mock, mock: {reply: meh, score: 0.5}}
    scoring: {thresholds: {minimum: 0.7}, onFailure: retry, retryLimit: 2}`, true, true, 0.5, false, 3, "meh"},
		{"no minimum always passes", `
    config: {provider: mock, mock: {reply: x, score: 0.1}}
    scoring: {thresholds: {target: 0.9}}`, true, true, 0.1, true, 1, "x"},
		{"judge with its own config", `
    config: {provider: mock, mock: {reply: x, score: 1}}
    scoring:
      thresholds: {minimum: 0.5}
      onFailure: continue
      judge: {provider: mock, mock: {score: 0.25}}`, true, true, 0.25, false, 1, "x"},
		{"member's injected failures are not repeated on its own judge", `
    config: {provider: mock, mock: {reply: x, score: 0.8, fail: {status: 503, times: 1}}}
    retry: {maxAttempts: 2, initialDelay: 1ms}
    scoring: {thresholds: {minimum: 0.5}}`, true, true, 0.8, true, 2, "x"},
		{"judge call fails, continue: no score", `
    config: {provider: mock, mock: {reply: x}}
    scoring:
      onFailure: continue
      judge: {provider: mock, mock: {fail: {status: 500, times: -1}}}`, true, true, nil, false, 1, "x"},
		{"judge call fails, abort", `
    config: {provider: mock, mock: {reply: x}}
    scoring:
      judge: {provider: mock, mock: {fail: {status: 401, times: -1}}}`, false, false, nil, false, 1, "x"},
		{"judge answers no score", `
    config: {provider: mock, mock: {reply: x}}
    scoring:
      onFailure: continue
      judge: {provider: openai, model: gpt-4o-mini}`, true, true, nil, false, 1, "x"},
		{"rules", `
    config: {provider: mock, mock: {reply: "a short answer"}}
    scoring:
      evaluator: rules
      rules: [{minLength: 5}, {contains: short}, {notContains: short}, {json: true}]
      thresholds: {minimum: 0.5}`, true, true, 0.5, true, 1, "a short answer"},
		{"rules under minimum, continue", `
    config: {provider: mock, mock: {reply: "not json"}}
    scoring:
      evaluator: rules
      rules: [{json: true}]
      thresholds: {minimum: 1}
      onFailure: continue`, true, true, 0.0, false, 1, "not json"},
		{"rules gate the judge: a failed rule scores 0", `
    config: {provider: mock, mock: {reply: "tiny", score: 1}}
    scoring:
      rules: [{minLength: 100}]
      thresholds: {minimum: 0.1}
      onFailure: continue`, true, true, 0.0, false, 1, "tiny"},
		{"rules gate the judge: passing rules let it grade", `
    config: {provider: mock, mock: {reply: "long enough", score: 0.6}}
    scoring:
      rules: [{minLength: 4}]`, true, true, 0.6, true, 1, "long enough"},
		{"an earlier member's output is the score", `
    config: {provider: mock, mock: {reply: x}}
    scoring: {evaluator: grader, thresholds: {minimum: 0.5}}`, true, true, 0.8, true, 1, "x"},
		{"an earlier member's failure is no score", `
    config: {provider: mock, mock: {reply: x}}
    scoring: {evaluator: broken, onFailure: continue}`, true, true, nil, false, 1, "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ens := parse(t, `
name: score
flow:
  - member: grader
    config: {provider: mock, mock: {reply: '{"score": 0.8, "reason": "fine"}'}}
  - member: broken
    config: {provider: mock, mock: {fail: {status: 500, times: -1}}}
    retry: {maxAttempts: 1, onFailure: continue}
  - member: m`+tc.member+`
  - member: after
    condition: ${m.scoring.score === null || m.scoring.score < 0.7}
    config: {provider: mock, mock: {reply: escalated}}
`)
			// A judge on a real provider that answers without a score.
			chatty := &scripted{name: "openai", replies: []string{"I cannot grade this."}}
			res, err := New(Options{Resolver: newResolver(chatty), Logger: quiet()}).Run(context.Background(), ens, "task")
			if tc.runOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.runOK)
			}
			m := member(t, res, "m")
			if m.Success != tc.success || m.Scoring.Passed != tc.passed || m.Attempts != tc.attempts || m.Output != tc.output {
				t.Errorf("member = success %v passed %v attempts %d output %v; want %v %v %d %v",
					m.Success, m.Scoring.Passed, m.Attempts, m.Output, tc.success, tc.passed, tc.attempts, tc.output)
			}
			switch want := tc.score.(type) {
			case nil:
				if m.Scoring.Score != nil {
					t.Errorf("score = %v, want none", *m.Scoring.Score)
				}
			case float64:
				if m.Scoring.Score == nil || *m.Scoring.Score != want {
					t.Errorf("score = %v, want %v", m.Scoring.Score, want)
				}
			}
			if !tc.runOK {
				var fe *FlowError
				if !errors.As(err, &fe) || fe.Member != "m" || m.Status != StatusFailed {
					t.Errorf("err = %v, status %s", err, m.Status)
				}
				if tc.score != nil && !errors.Is(err, ErrScoreTooLow) {
					t.Errorf("err = %v, want ErrScoreTooLow", err)
				}
				return
			}
			// A member that answered but did not pass says so in its status.
			wantStatus := StatusSucceeded
			if !tc.passed {
				wantStatus = StatusBelowMinimum
			}
			if m.Status != wantStatus {
				t.Errorf("status = %s, want %s", m.Status, wantStatus)
			}
			// The page's cascade: a low score (or none) escalates.
			escalate := tc.score == nil || tc.score.(float64) < 0.7
			if after := member(t, res, "after"); after.Skipped == escalate {
				t.Errorf("after skipped = %v, want escalation %v", after.Skipped, escalate)
			}
		})
	}
}

// TestScoringRetryKeepsBest scores three answers from a provider whose
// answers get better, then worse, and checks that the best one is kept.
func TestScoringRetryKeepsBest(t *testing.T) {
	ens := parse(t, `
name: best
flow:
  - member: m
    config: {provider: openai, model: gpt-4o}
    scoring:
      evaluator: rules
      rules: [{contains: a}, {contains: b}, {contains: c}]
      thresholds: {minimum: 1}
      onFailure: retry
      retryLimit: 2
`)
	p := &scripted{name: "openai", replies: []string{"a", "a b", "c"}}
	res, err := New(Options{Resolver: newResolver(p)}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	m := member(t, res, "m")
	if m.Output != "a b" || m.Attempts != 3 || m.Scoring.Passed || *m.Scoring.Score != 2.0/3 || !m.Success {
		t.Errorf("member = %+v score %v", m, *m.Scoring.Score)
	}
}

func TestScoringRetryStopsWhenPassing(t *testing.T) {
	ens := parse(t, `
name: pass
flow:
  - member: m
    config: {provider: openai, model: gpt-4o}
    scoring:
      evaluator: rules
      rules: [{json: true}]
      thresholds: {minimum: 1}
      onFailure: retry
      retryLimit: 5
`)
	p := &scripted{name: "openai", replies: []string{"oops", `{"ok": true}`, "never asked"}}
	res, err := New(Options{Resolver: newResolver(p)}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	m := member(t, res, "m")
	if m.Attempts != 2 || !m.Scoring.Passed || len(p.requests()) != 2 {
		t.Errorf("member = %+v, %d calls", m, len(p.requests()))
	}
	if out, ok := m.Output.(map[string]any); !ok || out["ok"] != true {
		t.Errorf("output = %#v", m.Output)
	}
}

func TestJudgeRequest(t *testing.T) {
	ens := parse(t, `
name: judge
flow:
  - member: m
    config: {provider: openai, model: gpt-4o, systemPrompt: "Be kind.", prompt: "Write to ${input.who}", temperature: 0.9}
    scoring:
      criteria: ["Is polite", "Names the customer"]
      judge: {provider: anthropic, model: claude-3-5-haiku-20241022, routing: direct}
`)
	writer := &scripted{name: "openai", replies: []string{"Dear Ann"}, usage: conductor.Usage{InputTokens: 10, OutputTokens: 2}}
	judge := &scripted{name: "anthropic", replies: []string{`{"score": 0.9, "reason": "polite"}`}, usage: conductor.Usage{InputTokens: 100, OutputTokens: 10}}
	r := newResolver(writer, judge)
	res, err := New(Options{Resolver: r, Pricing: fixedPrices{}}).Run(context.Background(), ens, map[string]any{"who": "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.routes) != 2 || r.routes[1] != (route{"anthropic", "claude-3-5-haiku-20241022", "direct"}) {
		t.Errorf("routes = %+v", r.routes)
	}
	jr := judge.requests()[0]
	if jr.Temperature == nil || *jr.Temperature != 0 || jr.Options.Metadata[provider.MetaRole] != provider.RoleJudge || jr.Options.Metadata["member"] != "m" {
		t.Errorf("judge request = %+v", jr)
	}
	body := jr.Messages[len(jr.Messages)-1].Text()
	for _, want := range []string{"- Is polite", "- Names the customer", "(instructions) Be kind.", "Write to Ann", "ANSWER:\nDear Ann"} {
		if !strings.Contains(body, want) {
			t.Errorf("judge prompt lacks %q:\n%s", want, body)
		}
	}
	m := member(t, res, "m")
	// Usage and cost include the judge; attempts do not.
	if m.Attempts != 1 || m.Usage.InputTokens != 110 || m.Usage.OutputTokens != 12 || m.CostNanoUSD != 110+24 {
		t.Errorf("member = %+v", m)
	}
	if m.ScoreReason != "polite" {
		t.Errorf("reason = %q", m.ScoreReason)
	}
}

// The reproduction: onFailure retry whose every try stays under
// minimum. The flow goes on with the best answer, and the result says the
// member did not pass: status below_minimum, success true (its answer is
// there to use), scoring.passed false; the run succeeds.
func TestScoringRetryExhausted(t *testing.T) {
	ens := parse(t, `
name: exhausted
flow:
  - member: m
    config: {provider: mock, mock: {reply: meh, score: 0.4}}
    scoring:
      thresholds: {minimum: 0.8}
      onFailure: retry
      retryLimit: 2
  - member: next
    condition: ${!m.scoring.passed}
    config: {provider: mock, mock: {reply: escalated}}
`)
	res, err := New(Options{Logger: quiet()}).Run(context.Background(), ens, "task")
	if err != nil || !res.Success {
		t.Fatalf("err = %v, success %v", err, res.Success)
	}
	m := member(t, res, "m")
	if m.Status != StatusBelowMinimum || !m.Success || m.Scoring.Passed || m.Attempts != 3 || *m.Scoring.Score != 0.4 {
		t.Errorf("m = status %s success %v passed %v attempts %d score %v", m.Status, m.Success, m.Scoring.Passed, m.Attempts, *m.Scoring.Score)
	}
	if n := member(t, res, "next"); n.Status != StatusSucceeded {
		t.Errorf("next = %s, want it to run on m's failed grade", n.Status)
	}
	if got := res.BelowMinimum(); len(got) != 1 || got[0] != "m" {
		t.Errorf("BelowMinimum = %v", got)
	}
}

// The reproduction: scoring.evaluator names a member that grades
// the answer. It runs right after each answer (every onFailure retry
// round), reading the answer as ${answer} and the graded member's input as
// ${input}, wherever it stands in the flow; its output is the score.
func TestEvaluatorMember(t *testing.T) {
	grader := `
  - member: grader
    config:
      provider: openai
      model: gpt-4o-mini
      prompt: "Question: ${input}. Answer: ${answer}. Score it."
`
	draft := `
  - member: draft
    config: {provider: mock, prompt: "${input} is not known"}
    input: "${input.q}"
    scoring:
      evaluator: grader
      thresholds: {minimum: 0.5}
      onFailure: retry
      retryLimit: 1
`
	tests := []struct {
		name string
		flow string
	}{
		{"evaluator after the member", draft + grader},
		{"evaluator before the member", grader + draft},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ens := parse(t, "name: graded\nflow:"+tc.flow+`
  - member: after
    condition: ${draft.scoring.passed && grader.success}
    config: {provider: mock, mock: {reply: "ran"}}
`)
			judge := &scripted{name: "openai", replies: []string{`{"score": 0.2}`, `{"score": 0.8, "reason": "better"}`}, usage: conductor.Usage{InputTokens: 10, OutputTokens: 5}}
			res, err := New(Options{Resolver: newResolver(judge), Pricing: fixedPrices{}, Logger: quiet()}).Run(context.Background(), ens, map[string]any{"q": "why"})
			if err != nil {
				t.Fatal(err)
			}
			reqs := judge.requests()
			if len(reqs) != 2 {
				t.Fatalf("grader ran %d times, want 2 (one per answer)", len(reqs))
			}
			if got := reqs[0].Messages[len(reqs[0].Messages)-1].Text(); got != "Question: why. Answer: why is not known. Score it." {
				t.Errorf("grader prompt = %q", got)
			}
			d := member(t, res, "draft")
			if d.Scoring.Score == nil || *d.Scoring.Score != 0.8 || !d.Scoring.Passed || d.Status != StatusSucceeded || d.Attempts != 2 || d.ScoreReason != "better" {
				t.Errorf("draft = %+v", d)
			}
			g := member(t, res, "grader")
			if g.Status != StatusSucceeded || g.Attempts != 2 || g.Usage.InputTokens != 20 || g.CostNanoUSD != 2*(10+10) {
				t.Errorf("grader = %+v", g)
			}
			if out, ok := g.Output.(map[string]any); !ok || out["score"] != 0.8 {
				t.Errorf("grader output = %#v, want its last answer", g.Output)
			}
			if res.CostNanoUSD != g.CostNanoUSD {
				t.Errorf("run cost %d, want the grader's %d", res.CostNanoUSD, g.CostNanoUSD)
			}
			if a := member(t, res, "after"); a.Status != StatusSucceeded {
				t.Errorf("after = %s", a.Status)
			}
			if i := slices.IndexFunc(res.Members, func(m MemberResult) bool { return m.Member == "grader" }); res.Members[i].Member != ens.Flow[i].Member {
				t.Errorf("results out of flow order")
			}
		})
	}
}

// An evaluator member with nothing to grade (the graded member was
// skipped) is skipped too; one that fails leaves the member without a
// score, and the member's onFailure decides.
func TestEvaluatorMemberEdges(t *testing.T) {
	ens := parse(t, `
name: edges
flow:
  - member: unused
    condition: false
    config: {provider: mock}
    scoring: {evaluator: idle}
  - member: idle
    config: {provider: mock, mock: {reply: "1"}}
  - member: m
    config: {provider: mock, mock: {reply: x}}
    scoring: {evaluator: broken, onFailure: continue}
  - member: broken
    config: {provider: mock, mock: {fail: {status: 500, times: -1}}}
`)
	res, err := New(Options{Logger: quiet()}).Run(context.Background(), ens, "task")
	if err != nil {
		t.Fatal(err)
	}
	if s := member(t, res, "idle").Status; s != StatusSkipped {
		t.Errorf("idle = %s, want skipped", s)
	}
	m := member(t, res, "m")
	if m.Status != StatusBelowMinimum || m.Scoring.Score != nil || m.Scoring.Passed {
		t.Errorf("m = %+v", m)
	}
	if b := member(t, res, "broken"); b.Status != StatusFailed || b.Error == nil {
		t.Errorf("broken = %+v", b)
	}
}
