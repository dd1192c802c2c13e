package engine

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/expr"
)

// Member statuses, as `conductor run --json` prints them.
const (
	// StatusSucceeded: the member answered (and passed its scoring, if any).
	StatusSucceeded = "succeeded"
	// StatusBelowMinimum: the member answered, but its score stayed under
	// scoring.thresholds.minimum (or the evaluator gave none) and the flow
	// went on: onFailure continue, or retry once its retryLimit extra
	// calls were spent. Success is true (the best answer is kept) and
	// scoring.passed false.
	StatusBelowMinimum = "below_minimum"
	// StatusFailed: the member has no answer (its call, input or
	// configuration failed), or, with scoring onFailure abort, its score
	// stopped the run.
	StatusFailed = "failed"
	// StatusSkipped: the member's condition was false.
	StatusSkipped = "skipped"
	// StatusNotRun: the run stopped (a member aborted it, or it was
	// cancelled) before reaching the member.
	StatusNotRun = "not_run"
)

// Result is one run of an ensemble. Its JSON form is what
// `conductor run --json` prints.
type Result struct {
	Ensemble string `json:"ensemble"`
	// Success is false when the run stopped early: a member failed (or
	// scored too low) with onFailure abort, or the context was cancelled.
	// A member that failed with onFailure continue does not fail the run.
	Success bool `json:"success"`
	// Output is the ensemble's output mapping evaluated after the last
	// member, or, without one, the output of the last member that was not
	// skipped.
	Output  any            `json:"output"`
	Members []MemberResult `json:"members"`
	// Cost is the USD spent by every member (judge calls included).
	Cost      float64 `json:"cost"`
	LatencyMs int64   `json:"latencyMs"`
	// CostNanoUSD is Cost in the unit the price table and budgets use.
	CostNanoUSD int64 `json:"-"`
}

// BelowMinimum names the members whose status is StatusBelowMinimum, in
// flow order: a run can succeed with answers that did not pass.
func (r *Result) BelowMinimum() []string {
	var out []string
	for _, m := range r.Members {
		if m.Status == StatusBelowMinimum {
			out = append(out, m.Member)
		}
	}
	return out
}

// MemberResult is what one member did. Later members' expressions see it as
// a map with the same keys plus "skipped" (see View).
type MemberResult struct {
	Member  string `json:"member"`
	Status  string `json:"status"`
	Success bool   `json:"success"`
	// Skipped is true when the member's condition was false (status
	// skipped); a member the run never reached (not_run) is not skipped.
	Skipped bool `json:"-"`
	// Output is the answer: decoded JSON when the model answered a JSON
	// object or array (a ```json fence is looked past), else the text; nil
	// when the member did not answer.
	Output any `json:"output"`
	// ToolCalls are the tools the model called, in order (only with the
	// config's tools); absent from the JSON when there are none.
	ToolCalls []ToolCall   `json:"toolCalls,omitempty"`
	Error     *MemberError `json:"error"`
	// Scoring is the grade; without a scoring block the score is nil and
	// passed is true.
	Scoring  ScoreResult `json:"scoring"`
	Provider string      `json:"provider"`
	Model    string      `json:"model"`
	Routing  string      `json:"routing"`
	// Gateway is the gateway a cloudflare-gateway route goes through, when
	// the Resolver can say (GatewayNamer); absent otherwise.
	Gateway *GatewayRef `json:"gateway,omitempty"`
	// Variant is the A/B split variant ("split/name") that gave the
	// answer kept, when the member's model names a [[split]]; Provider and
	// Model are then the variant's. Absent otherwise.
	Variant string `json:"variant,omitempty"`
	// Cached is true when the answer came from a cache (the step cache or
	// the gateway's) rather than the model.
	Cached bool `json:"cached"`
	// Attempts counts calls to the member's model (retries and scoring
	// re-runs included, judge calls not); 0 on a step-cache hit.
	Attempts int `json:"attempts"`
	// Usage and Cost add up every call made for the member, judge calls
	// included; both are 0 on a step-cache hit, which spends nothing.
	Usage     Usage   `json:"usage"`
	Cost      float64 `json:"cost"`
	LatencyMs int64   `json:"latencyMs"`

	// Text is the model's answer as written.
	Text string `json:"-"`
	// CostNanoUSD is Cost in nano-USD; PriceUnknown is true when a call's
	// model had no price (its cost counts as 0).
	CostNanoUSD  int64 `json:"-"`
	PriceUnknown bool  `json:"-"`
	// TestProvider marks an answer from the mock provider.
	TestProvider bool `json:"-"`
	// ScoreReason is the evaluator's explanation, when it gave one.
	ScoreReason string `json:"-"`
	// Err is the member's failure, unflattened.
	Err error `json:"-"`
}

// Usage is a member's token count.
type Usage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	// Estimated is true when a call's provider sent no usage and the
	// counts were made locally (conductor.Usage.Estimated). Not in the
	// JSON result, whose shape is fixed; --trace marks such counts "~".
	Estimated bool `json:"-"`
}

// ToolCall is one tool call of a member's answer.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments are the call's arguments decoded from the JSON the model
	// wrote: an object ({} when it wrote none), or the text as written when
	// it is not JSON.
	Arguments any `json:"arguments"`
}

// GatewayRef names a gateway: Kind "hosted" (Cloudflare's AI Gateway) or
// "built-in", and its [[ai.gateway]] id.
type GatewayRef struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

func (g *GatewayRef) String() string {
	if g == nil {
		return ""
	}
	return g.Kind + " gateway " + g.ID
}

// MemberError is a failed member's error as results show it.
type MemberError struct {
	Message  string `json:"message"`
	Status   int    `json:"status"` // the provider's HTTP status; 0 when none
	Provider string `json:"provider"`
}

// ScoreResult is a member's grade.
type ScoreResult struct {
	Score  *float64 `json:"score"`
	Passed bool     `json:"passed"`
}

// View is the member result as expressions see it:
// status, output, toolCalls [{id, name, arguments}], success, skipped,
// error {message, status, provider},
// scoring {score, passed}, cached, attempts, provider, model, routing,
// variant, usage {inputTokens, outputTokens}, cost, latencyMs.
func (m *MemberResult) View() map[string]any {
	var errv any
	if m.Error != nil {
		errv = map[string]any{
			"message":  m.Error.Message,
			"status":   int64(m.Error.Status),
			"provider": m.Error.Provider,
		}
	}
	var score any
	if m.Scoring.Score != nil {
		score = *m.Scoring.Score
	}
	calls := make([]any, len(m.ToolCalls))
	for i, c := range m.ToolCalls {
		calls[i] = map[string]any{"id": c.ID, "name": c.Name, "arguments": c.Arguments}
	}
	return map[string]any{
		"status":    m.Status,
		"output":    m.Output,
		"toolCalls": calls,
		"success":   m.Success,
		"skipped":   m.Skipped,
		"error":     errv,
		"scoring": map[string]any{
			"score":  score,
			"passed": m.Scoring.Passed,
		},
		"cached":   m.Cached,
		"attempts": int64(m.Attempts),
		"provider": m.Provider,
		"model":    m.Model,
		"routing":  m.Routing,
		"variant":  m.Variant,
		"usage": map[string]any{
			"inputTokens":  int64(m.Usage.InputTokens),
			"outputTokens": int64(m.Usage.OutputTokens),
		},
		"cost":      m.Cost,
		"latencyMs": m.LatencyMs,
	}
}

func (m *MemberResult) fail(err error) {
	m.Status = StatusFailed
	m.Success = false
	// A member without an answer passed nothing: ${!x.scoring.passed}
	// escalates when x failed, as it does when x scored low.
	m.Scoring.Passed = false
	m.Err = err
	me := &MemberError{Message: err.Error(), Provider: m.Provider}
	if e, ok := conductor.AsError(err); ok {
		me.Status = e.Status
		if e.Provider != "" {
			me.Provider = e.Provider
		}
	}
	m.Error = me
}

// FlowError is what Run returns when a member stops the flow.
type FlowError struct {
	Ensemble string
	Member   string
	Err      error
}

func (e *FlowError) Error() string {
	return fmt.Sprintf("ensemble %s: member %s: %v", e.Ensemble, e.Member, e.Err)
}

func (e *FlowError) Unwrap() error { return e.Err }

// ErrMemberConfig is wrapped by the error of a member that failed before
// any call because of what its own file computed: its condition or input,
// or a provider, model, routing or parameter an expression chose that
// cannot be used (an unknown provider, a temperature its model refuses).
// Like what `conductor validate` reports, the ensemble (or its input) is
// what to fix: `conductor run` exits 2 for it, as for a route the
// configuration cannot serve (conductor.ClassConfig).
var ErrMemberConfig = errors.New("the member's configuration")

// configError marks err as ErrMemberConfig; it reads as err.
type configError struct{ err error }

func (e *configError) Error() string   { return e.err.Error() }
func (e *configError) Unwrap() []error { return []error{e.err, ErrMemberConfig} }

// IsConfig reports whether err (a Run's) is a configuration problem
// rather than a failed call: ErrMemberConfig, or a conductor.Error of
// class ClassConfig (a route that cannot be built).
func IsConfig(err error) bool {
	if errors.Is(err, ErrMemberConfig) {
		return true
	}
	ce, ok := conductor.AsError(err)
	return ok && ce.Class == conductor.ClassConfig
}

// ErrScoreTooLow is wrapped by the error of a member whose score stayed
// under its minimum with onFailure abort.
var ErrScoreTooLow = errors.New("score below minimum")

// clean makes a value produced by expressions writable as JSON, the way
// JavaScript's JSON.stringify writes it: expr.Undefined, and the NaN and
// ±Infinity of arithmetic on model output, become nil (null). It copies
// only the maps and lists it changes, so members' outputs and the caller's
// input shared into the value are never written to.
func clean(v any) any {
	c, _ := cleaned(v)
	return c
}

// cleaned is clean, reporting whether anything changed.
func cleaned(v any) (any, bool) {
	switch x := v.(type) {
	case expr.Undefined:
		return nil, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, true
		}
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			c, changed := cleaned(e)
			if !changed {
				continue
			}
			if out == nil {
				out = maps.Clone(x)
			}
			out[k] = c
		}
		if out != nil {
			return out, true
		}
	case []any:
		var out []any
		for i, e := range x {
			c, changed := cleaned(e)
			if !changed {
				continue
			}
			if out == nil {
				out = slices.Clone(x)
			}
			out[i] = c
		}
		if out != nil {
			return out, true
		}
	}
	return v, false
}
