// Package scoring grades a member's output with a score from 0 to 1: by a
// judge model (an LLM call with a rubric and the member's criteria), by
// rules (checks on the text; the score is the fraction that pass), or by the
// output of an earlier member. The engine decides what a low score does;
// this package only measures.
package scoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/conductor-go/conductor/ensemble"
)

// Verdict is one grading.
type Verdict struct {
	Score  float64
	Reason string
}

// Passed reports whether score meets th.Minimum; with no minimum every
// score passes.
func Passed(th ensemble.Thresholds, score float64) bool {
	return th.Minimum == nil || score >= *th.Minimum
}

// Level names the highest threshold score reaches: "excellent", "target",
// "minimum", "below-minimum", or "" when no threshold is set.
func Level(th ensemble.Thresholds, score float64) string {
	switch {
	case th.Excellent != nil && score >= *th.Excellent:
		return "excellent"
	case th.Target != nil && score >= *th.Target:
		return "target"
	case th.Minimum != nil && score >= *th.Minimum:
		return "minimum"
	case th.Minimum != nil:
		return "below-minimum"
	}
	return ""
}

// RuleResult is the outcome of one rule.
type RuleResult struct {
	Rule   string // what the rule checks, e.g. "minLength 20"
	Passed bool
}

// Rules checks text against rules; the score is the fraction that pass (1
// when there are none). text is the model's answer as written; the json and
// jsonSchema rules look past a ```json fence around it.
func Rules(rules []ensemble.Rule, text string) (Verdict, []RuleResult) {
	if len(rules) == 0 {
		return Verdict{Score: 1, Reason: "no rules"}, nil
	}
	results := make([]RuleResult, 0, len(rules))
	passed := 0
	var failed []string
	for i := range rules {
		r := checkRule(&rules[i], text)
		results = append(results, r)
		if r.Passed {
			passed++
		} else {
			failed = append(failed, r.Rule)
		}
	}
	v := Verdict{Score: float64(passed) / float64(len(rules))}
	if len(failed) == 0 {
		v.Reason = fmt.Sprintf("all %d rules passed", len(rules))
	} else {
		v.Reason = fmt.Sprintf("%d of %d rules passed; failed: %s", passed, len(rules), strings.Join(failed, ", "))
	}
	return v, results
}

func checkRule(r *ensemble.Rule, text string) RuleResult {
	switch {
	case r.MinLength != nil:
		return RuleResult{"minLength " + strconv.Itoa(*r.MinLength), utf8.RuneCountInString(text) >= *r.MinLength}
	case r.MaxLength != nil:
		return RuleResult{"maxLength " + strconv.Itoa(*r.MaxLength), utf8.RuneCountInString(text) <= *r.MaxLength}
	case r.Contains != "":
		return RuleResult{"contains " + strconv.Quote(r.Contains), strings.Contains(text, r.Contains)}
	case r.NotContains != "":
		return RuleResult{"notContains " + strconv.Quote(r.NotContains), !strings.Contains(text, r.NotContains)}
	case r.Regex != nil:
		return RuleResult{"regex " + r.Regex.String(), r.Regex.MatchString(text)}
	case r.JSONSchema != nil:
		v, ok := decodeJSON(text)
		return RuleResult{"jsonSchema", ok && r.JSONSchema.Validate(v) == nil}
	case r.JSON:
		_, ok := decodeJSON(text)
		return RuleResult{"json", ok}
	}
	// A rule with nothing set cannot be met; the loader rejects it, so this
	// only guards hand-built ensembles.
	return RuleResult{"empty rule", false}
}

// decodeJSON parses text as one JSON value, after stripping a code fence.
func decodeJSON(text string) (any, bool) {
	var v any
	dec := json.NewDecoder(strings.NewReader(StripFence(text)))
	dec.UseNumber() // jsonschema wants json.Number for exact integers
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return v, true
}

// StripFence returns the inside of a Markdown code fence (```json … ``` or
// ``` … ```) around text, or text trimmed of spaces when it has none.
func StripFence(text string) string {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return t
	}
	inner := t[3 : len(t)-3]
	// Drop the info string ("json") on the opening line.
	if nl := strings.IndexByte(inner, '\n'); nl >= 0 {
		first := strings.TrimSpace(inner[:nl])
		if first == "" || isInfoString(first) {
			inner = inner[nl+1:]
		}
	}
	return strings.TrimSpace(inner)
}

func isInfoString(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '+') {
			return false
		}
	}
	return true
}

// ErrNoScore says an answer or a value held no usable score.
var ErrNoScore = errors.New("no score")

// FromValue reads a score from an evaluator member's output: a number, a
// numeric string, or an object with a numeric "score" (and optional
// "reason"). Scores out of 10 or 100 are scaled as Normalize says.
func FromValue(v any) (Verdict, error) {
	switch x := v.(type) {
	case map[string]any:
		s, ok := x["score"]
		if !ok {
			return Verdict{}, fmt.Errorf("%w: the object has no \"score\"", ErrNoScore)
		}
		verdict, err := FromValue(s)
		if err != nil {
			return Verdict{}, err
		}
		if r, ok := x["reason"].(string); ok {
			verdict.Reason = r
		}
		return verdict, nil
	case string:
		return ParseJudge(x)
	}
	f, ok := number(v)
	if !ok {
		return Verdict{}, fmt.Errorf("%w: got %T, want a number or an object with a score", ErrNoScore, v)
	}
	s, err := Normalize(f)
	return Verdict{Score: s}, err
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// Normalize checks that a score is in 0..1. Nothing is guessed: 1.5 is
// not read as 0.15, nor 8 as 0.8; a judge that grades on another scale
// must say so in its text ("8/10", "85%", "85/100"), which ParseJudge
// reads. Anything outside 0..1, NaN included, is an error (ErrNoScore):
// the grade fails and the member's onFailure applies.
func Normalize(f float64) (float64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1 {
		return 0, fmt.Errorf("%w: score %v is out of range (expected 0 to 1; write another scale out, as 8/10 or 85%%)", ErrNoScore, f)
	}
	return f, nil
}
