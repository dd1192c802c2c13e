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
	return e.evaluatorMember(ctx, r, st, v, ans)
}

// evaluatorMember grades ans with the member scoring.evaluator names: it
// runs now, right after the answer, over the graded member's input (v's)
// with the answer as ${answer}, and its output is the score. Its result
// (runs added up) shows at its own place in the flow; its failure is a
// failed grade, which the graded member's onFailure handles.
func (e *Engine) evaluatorMember(ctx context.Context, r *run, st *ensemble.Step, v *expr.Vars, ans answer) (scoring.Verdict, error) {
	sc := st.Scoring
	idx := sc.EvaluatorIndex
	if idx < 0 || idx >= len(r.ens.Flow) || r.ens.Flow[idx].Member != sc.Evaluator {
		idx = slices.IndexFunc(r.ens.Flow, func(s *ensemble.Step) bool { return s.Member == sc.Evaluator })
	}
	if idx < 0 || idx == st.Index {
		return scoring.Verdict{}, fmt.Errorf("evaluator %q is not another member of the flow", sc.Evaluator)
	}
	ev := r.ens.Flow[idx]
	vars := expr.Vars{Input: v.Input, Env: v.Env, Members: r.vars.Members, Locals: []any{ans.output}}
	mr, _ := e.runStep(ctx, r, ev, vars)
	r.recordEval(idx, mr)
	switch mr.Status {
	case StatusSkipped:
		return scoring.Verdict{}, fmt.Errorf("evaluator member %s was skipped (its condition is false): no score", sc.Evaluator)
	case StatusSucceeded, StatusBelowMinimum:
	default:
		msg := "failed"
		if mr.Error != nil {
			msg = "failed: " + mr.Error.Message
		}
		return scoring.Verdict{}, fmt.Errorf("evaluator member %s %s", sc.Evaluator, msg)
	}
	verdict, err := scoring.FromValue(mr.Output)
	if err != nil {
		return verdict, fmt.Errorf("evaluator member %s: %w", sc.Evaluator, err)
	}
	return verdict, nil
}

// recordEval adds one run of evaluator member idx to its result: the
// last run's answer and status, every run's attempts, usage, cost and
// latency; the run's cost too. Later members see it by name.
func (r *run) recordEval(idx int, mr MemberResult) {
	if r.evals == nil {
		r.evals = map[int]*MemberResult{}
	}
	r.res.CostNanoUSD += mr.CostNanoUSD
	if prev, ok := r.evals[idx]; ok {
		mr.Attempts += prev.Attempts
		mr.Usage.InputTokens += prev.Usage.InputTokens
		mr.Usage.OutputTokens += prev.Usage.OutputTokens
		mr.Usage.Estimated = mr.Usage.Estimated || prev.Usage.Estimated
		mr.CostNanoUSD += prev.CostNanoUSD
		mr.Cost = float64(mr.CostNanoUSD) / 1e9
		mr.PriceUnknown = mr.PriceUnknown || prev.PriceUnknown
		mr.LatencyMs += prev.LatencyMs
	}
	r.evals[idx] = &mr
	r.vars.Members[idx] = mr.View()
	if idx < len(r.res.Members) {
		// Placed before the member it grades: its row is already there.
		r.res.Members[idx] = mr
	}
}

// evalResult is evaluator member idx's result at its place in the flow:
// its runs so far, or skipped when it had nothing to grade yet.
func (r *run) evalResult(idx int) MemberResult {
	if mr, ok := r.evals[idx]; ok {
		return *mr
	}
	return MemberResult{Member: r.ens.Flow[idx].Member, Status: StatusSkipped, Skipped: true}
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
