package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/expr"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/scoring"
)

// grade scores the member's answer and applies scoring.onFailure:
//   - retry calls the member again (past the step cache) up to RetryLimit
//     times and keeps the best-scored answer; when none reaches the
//     minimum the flow goes on with scoring.passed false, as with continue;
//   - continue keeps the answer, success true, scoring.passed false;
//   - abort (the default) returns an error that stops the flow.
//
// A failed evaluation (the judge call failed, an evaluator member's output
// is not a score) counts as a failed grade with no score.
func (e *Engine) grade(ctx context.Context, r *run, st *ensemble.Step, v *expr.Vars, c *call, pol retryPolicy, mr *MemberResult, ans answer) (answer, error) {
	sc := st.Scoring
	limit := 0
	if sc.OnFailure == ensemble.OnFailureRetry {
		limit = sc.RetryLimit
		if limit <= 0 {
			limit = ensemble.DefaultRetryLimit
		}
	}
	var (
		best      answer
		bestScore *float64
		bestWhy   string
		lastErr   error
	)
	for round := 0; ; round++ {
		verdict, err := e.evaluate(ctx, r, st, v, c, pol, mr, ans)
		if err != nil {
			lastErr = err
			e.log.LogAttrs(ctx, slog.LevelWarn, "scoring failed", slog.String("member", st.Member), slog.String("error", err.Error()))
			if ctx.Err() != nil {
				return ans, err
			}
		} else {
			e.report(ctx, st, ans, verdict.Score)
		}
		if round == 0 || (err == nil && (bestScore == nil || verdict.Score > *bestScore)) {
			best, bestWhy = ans, verdict.Reason
			bestScore = nil
			if err == nil {
				s := verdict.Score
				bestScore = &s
			}
		}
		if bestScore != nil && scoring.Passed(sc.Thresholds, *bestScore) {
			break
		}
		if round >= limit {
			break
		}
		// A fresh answer: the cache would only give the same one back.
		next, err := e.answer(ctx, r, c, st, pol, mr, true)
		if err != nil {
			e.log.LogAttrs(ctx, slog.LevelWarn, "scoring retry call failed", slog.String("member", st.Member), slog.String("error", err.Error()))
			if ctx.Err() != nil {
				return best, err
			}
			break
		}
		ans = next
	}

	mr.Scoring.Score = bestScore
	mr.ScoreReason = bestWhy
	mr.Scoring.Passed = bestScore != nil && scoring.Passed(sc.Thresholds, *bestScore)
	if mr.Scoring.Passed {
		return best, nil
	}
	switch sc.OnFailure {
	case ensemble.OnFailureContinue, ensemble.OnFailureRetry:
		return best, nil
	}
	if bestScore == nil {
		return best, fmt.Errorf("scoring: %w", lastErr)
	}
	return best, fmt.Errorf("%w: score %.3g under %.3g", ErrScoreTooLow, *bestScore, *sc.Thresholds.Minimum)
}

// report gives a graded answer's score to the Scorer, for the gateway row
// that logged the answer. Every graded answer is reported, the retried
// ones too: each was a request of its own. A failure to record a score
// does not fail the member; it is logged.
func (e *Engine) report(ctx context.Context, st *ensemble.Step, ans answer, score float64) {
	if e.scorer == nil || ans.logID == "" {
		return
	}
	if err := e.scorer.Score(ctx, ans.logID, score); err != nil {
		e.log.LogAttrs(ctx, slog.LevelWarn, "recording the score failed", slog.String("member", st.Member),
			slog.String("logId", ans.logID), slog.String("error", err.Error()))
	}
}

// evaluate scores one answer with the member's evaluator.
func (e *Engine) evaluate(ctx context.Context, r *run, st *ensemble.Step, v *expr.Vars, c *call, pol retryPolicy, mr *MemberResult, ans answer) (scoring.Verdict, error) {
	sc := st.Scoring
	switch sc.Evaluator {
	case ensemble.EvaluatorRules:
		verdict, _ := scoring.Rules(sc.Rules, ans.text)
		return verdict, nil
	case ensemble.EvaluatorJudge, "":
		if len(sc.Rules) > 0 {
			// Rules before a judge are a gate: one failed rule scores 0
			// and spares the judge call.
			if verdict, _ := scoring.Rules(sc.Rules, ans.text); verdict.Score < 1 {
				verdict.Score = 0
				return verdict, nil
			}
		}
		return e.judge(ctx, r, st, v, c, pol, mr, ans)
	}
	idx := sc.EvaluatorIndex
	if idx < 0 || idx >= len(r.ens.Flow) || r.ens.Flow[idx].Member != sc.Evaluator {
		idx = -1
		for i, s := range r.ens.Flow {
			if s.Member == sc.Evaluator {
				idx = i
			}
		}
	}
	if idx < 0 || idx >= st.Index {
		return scoring.Verdict{}, fmt.Errorf("evaluator %q is not an earlier member", sc.Evaluator)
	}
	view, _ := r.vars.Members[idx].(map[string]any)
	if view == nil || view["success"] != true {
		return scoring.Verdict{}, fmt.Errorf("evaluator member %s did not succeed", sc.Evaluator)
	}
	verdict, err := scoring.FromValue(view["output"])
	if err != nil {
		return verdict, fmt.Errorf("evaluator member %s: %w", sc.Evaluator, err)
	}
	return verdict, nil
}

// judge asks a model to grade the answer. The judge's own config
// (scoring.judge) picks its provider, model and routing; without one it is
// the member's own.
func (e *Engine) judge(ctx context.Context, r *run, st *ensemble.Step, v *expr.Vars, c *call, pol retryPolicy, mr *MemberResult, ans answer) (scoring.Verdict, error) {
	cfg := st.Scoring.Judge
	own := cfg == nil
	if own {
		cfg = st.Config
	}
	jc, err := e.resolve(r, cfg, v, true, own)
	if err == nil {
		err = e.connect(ctx, jc)
	}
	if err != nil {
		return scoring.Verdict{}, fmt.Errorf("judge: %w", err)
	}
	jc.req.Messages = scoring.JudgeMessages(st.Scoring.Criteria, task(c.req.Messages), ans.text)
	jc.req.Options.Metadata = map[string]string{"ensemble": r.ens.Name, "member": st.Member, provider.MetaRole: provider.RoleJudge}
	// Grading should not be creative: temperature 0, where the judge's
	// model takes it (reasoning models and the newest Claude models sample
	// at their default only).
	zero := 0.0
	jc.req.Temperature = &zero
	if v := provider.Violations(jc.req.Provider, jc.req); slices.ContainsFunc(v, func(r *provider.RuleError) bool { return r.Param == provider.ParamTemperature }) {
		jc.req.Temperature = nil
	}
	provider.Normalize(jc.req.Provider, jc.req)
	if err := checkRules(jc.req, nil); err != nil {
		return scoring.Verdict{}, fmt.Errorf("judge %s/%s: %w", jc.req.Provider, jc.req.Model, err)
	}
	out := e.callWithRetry(ctx, jc.p, jc.req, pol, st.Member+" (judge)")
	e.addUsage(mr, jc.req.Provider, jc.req.Model, out.usage, out.resp != nil && out.resp.Meta.Cached)
	if out.err != nil {
		return scoring.Verdict{}, fmt.Errorf("judge %s/%s: %w", jc.req.Provider, jc.req.Model, out.err)
	}
	verdict, err := scoring.ParseJudge(out.resp.Text())
	if err != nil {
		return verdict, fmt.Errorf("judge %s/%s: %w", jc.req.Provider, jc.req.Model, err)
	}
	return verdict, nil
}

// task writes the member's chat for the judge: the system prompt marked as
// instructions, then the turns, each with its role unless the chat is a
// single question.
func task(msgs []conductor.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		switch m.Role {
		case "system", "developer": // developer: a reasoning model's system prompt
			b.WriteString("(instructions) ")
		case "user":
			if len(msgs) <= 2 {
				b.WriteString(m.Text())
				continue
			}
			b.WriteString("user: ")
		default:
			b.WriteString(m.Role)
			b.WriteString(": ")
		}
		b.WriteString(m.Text())
	}
	return b.String()
}
