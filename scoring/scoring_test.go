package scoring

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/conductor-go/conductor/ensemble"
)

func ptr[T any](v T) *T { return &v }

func compileSchema(t *testing.T, src string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRules(t *testing.T) {
	schema := compileSchema(t, `{"type":"object","required":["intent"],"properties":{"intent":{"enum":["question","request","complaint"]}}}`)
	tests := []struct {
		name   string
		rules  []ensemble.Rule
		text   string
		score  float64
		passed []bool
	}{
		{"no rules", nil, "x", 1, nil},
		{"minLength pass", []ensemble.Rule{{MinLength: ptr(3)}}, "abc", 1, []bool{true}},
		{"minLength counts runes", []ensemble.Rule{{MinLength: ptr(3)}}, "éé", 0, []bool{false}},
		{"maxLength", []ensemble.Rule{{MaxLength: ptr(3)}}, "abcd", 0, []bool{false}},
		{"maxLength pass", []ensemble.Rule{{MaxLength: ptr(3)}}, "ééé", 1, []bool{true}},
		{"contains", []ensemble.Rule{{Contains: "refund"}}, "a refund please", 1, []bool{true}},
		{"notContains", []ensemble.Rule{{NotContains: "sorry"}}, "sorry!", 0, []bool{false}},
		{"regex", []ensemble.Rule{{Regex: regexp.MustCompile(`^\d+$`)}}, "123", 1, []bool{true}},
		{"json object", []ensemble.Rule{{JSON: true}}, `{"a":1}`, 1, []bool{true}},
		{"json fenced", []ensemble.Rule{{JSON: true}}, "```json\n{\"a\":1}\n```", 1, []bool{true}},
		{"json invalid", []ensemble.Rule{{JSON: true}}, `{"a":`, 0, []bool{false}},
		{"json trailing garbage", []ensemble.Rule{{JSON: true}}, `{"a":1} and more`, 0, []bool{false}},
		{"jsonSchema valid", []ensemble.Rule{{JSONSchema: schema}}, `{"intent":"question"}`, 1, []bool{true}},
		{"jsonSchema wrong enum", []ensemble.Rule{{JSONSchema: schema}}, `{"intent":"other"}`, 0, []bool{false}},
		{"jsonSchema not json", []ensemble.Rule{{JSONSchema: schema}}, `intent: question`, 0, []bool{false}},
		{"fraction", []ensemble.Rule{{MinLength: ptr(1)}, {Contains: "x"}, {Contains: "y"}, {NotContains: "z"}}, "xx", 0.75, []bool{true, true, false, true}},
		{"empty rule fails", []ensemble.Rule{{}}, "x", 0, []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, results := Rules(tc.rules, tc.text)
			if v.Score != tc.score {
				t.Errorf("score = %v, want %v (%s)", v.Score, tc.score, v.Reason)
			}
			if len(results) != len(tc.passed) {
				t.Fatalf("results = %+v", results)
			}
			for i, r := range results {
				if r.Passed != tc.passed[i] {
					t.Errorf("rule %d (%s) passed = %v, want %v", i, r.Rule, r.Passed, tc.passed[i])
				}
			}
		})
	}
}

func TestParseJudge(t *testing.T) {
	tests := []struct {
		text   string
		score  float64
		reason string
		bad    bool
	}{
		{`{"score": 0.8, "reason": "good"}`, 0.8, "good", false},
		{`{"score":1}`, 1, "", false},
		{`{"score":0}`, 0, "", false},
		{"```json\n{\"score\": 0.25, \"reason\": \"weak\"}\n```", 0.25, "weak", false},
		{`Here is my grade: {"score": 0.9, "reason": "fine"} Thanks!`, 0.9, "fine", false},
		{`{"note": "x"} then {"score": 0.4}`, 0.4, "", false},
		{`{"score": "0.7"}`, 0.7, "", false},
		// The reproduction: 1.5 is out of range, not 0.15; a scale
		// other than 0..1 must be written out (8/10, 85%).
		{`{"score": 1.5}`, 0, "", true},
		{`1.5`, 0, "", true},
		{`Score: 1.5`, 0, "", true},
		{`{"score": 8}`, 0, "", true},
		{`{"score": 85}`, 0, "", true},
		{`{"score": "8/10"}`, 0.8, "", false},
		{`{"score": 1000}`, 0, "", true},
		{`{"score": -0.5}`, 0, "", true},
		{`{"score": "high"}`, 0, "", true},
		{`0.6`, 0.6, "", false},
		{`Score: 0.75`, 0.75, "", false},
		{`1. Relevance is fine. Overall score: 0.5`, 0.5, "", false},
		{`I'd give it 8/10.`, 0.8, "", false},
		{`I'd give it 8 / 10.`, 0.8, "", false},
		{`About 85%`, 0.85, "", false},
		{`92/100`, 0.92, "", false},
		{`.5`, 0.5, "", false},
		{`Score: none given, but 0.3 overall`, 0.3, "", false},
		{`no number here`, 0, "", true},
		{``, 0, "", true},
		{`{"score": 0.5`, 0.5, "", false}, // a broken object still has a number
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			v, err := ParseJudge(tc.text)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseJudge = %+v, want an error", v)
				}
				if !errors.Is(err, ErrNoScore) {
					t.Errorf("err = %v, want ErrNoScore", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(v.Score-tc.score) > 1e-9 {
				t.Errorf("score = %v, want %v", v.Score, tc.score)
			}
			if tc.reason != "" && v.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", v.Reason, tc.reason)
			}
		})
	}
}

func TestFromValue(t *testing.T) {
	tests := []struct {
		name  string
		v     any
		score float64
		bad   bool
	}{
		{"float", 0.5, 0.5, false},
		{"int64", int64(1), 1, false},
		{"above 1", 7.0, 0, true},
		{"1.5", 1.5, 0, true},
		{"explicit scale", "7/10", 0.7, false},
		{"object", map[string]any{"score": 0.9, "reason": "r"}, 0.9, false},
		{"object without score", map[string]any{"grade": 0.9}, 0, true},
		{"object with bad score", map[string]any{"score": "x"}, 0, true},
		{"json number", json.Number("0.2"), 0.2, false},
		{"text answer", "Score: 0.4", 0.4, false},
		{"nil (skipped member)", nil, 0, true},
		{"bool", true, 0, true},
		{"list", []any{0.5}, 0, true},
		{"negative", -1.0, 0, true},
		{"NaN", math.NaN(), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := FromValue(tc.v)
			if tc.bad {
				if err == nil {
					t.Fatalf("FromValue = %+v, want an error", v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(v.Score-tc.score) > 1e-9 {
				t.Errorf("score = %v, want %v", v.Score, tc.score)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	th := ensemble.Thresholds{Minimum: ptr(0.5), Target: ptr(0.7), Excellent: ptr(0.9)}
	tests := []struct {
		th     ensemble.Thresholds
		score  float64
		passed bool
		level  string
	}{
		{th, 0.95, true, "excellent"},
		{th, 0.9, true, "excellent"},
		{th, 0.8, true, "target"},
		{th, 0.5, true, "minimum"},
		{th, 0.49, false, "below-minimum"},
		{ensemble.Thresholds{}, 0, true, ""},
		{ensemble.Thresholds{Target: ptr(0.7)}, 0.1, true, ""},
	}
	for _, tc := range tests {
		if got := Passed(tc.th, tc.score); got != tc.passed {
			t.Errorf("Passed(%v) = %v, want %v", tc.score, got, tc.passed)
		}
		if got := Level(tc.th, tc.score); got != tc.level {
			t.Errorf("Level(%v) = %q, want %q", tc.score, got, tc.level)
		}
	}
}

func TestStripFence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"  spaced \n", "spaced"},
		{"```json\n{\"a\":1}\n```", `{"a":1}`},
		{"```\n[1,2]\n```", "[1,2]"},
		{"```{\"a\":1}```", `{"a":1}`},
		{"```", "```"},
		{"``````", ""},
		{"```json\n```", ""},
		{"```not an info string!\nx\n```", "not an info string!\nx"},
	}
	for _, tc := range tests {
		if got := StripFence(tc.in); got != tc.want {
			t.Errorf("StripFence(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJudgeMessages(t *testing.T) {
	msgs := JudgeMessages([]string{"Is polite", "Mentions the refund"}, "Write a reply", "Dear customer")
	if len(msgs) != 2 || msgs[0].Role != "system" || msgs[1].Role != "user" {
		t.Fatalf("messages = %+v", msgs)
	}
	for _, want := range []string{"- Is polite\n", "- Mentions the refund\n", "TASK:\nWrite a reply", "ANSWER:\nDear customer"} {
		if !strings.Contains(msgs[1].Text(), want) {
			t.Errorf("judge prompt lacks %q:\n%s", want, msgs[1].Text())
		}
	}
	if !strings.Contains(msgs[0].Text(), `{"score"`) {
		t.Errorf("rubric does not ask for the JSON answer: %s", msgs[0].Text())
	}
	if def := JudgeMessages(nil, "t", "a"); !strings.Contains(def[1].Text(), defaultCriterion) {
		t.Errorf("no criteria: prompt lacks the default criterion: %s", def[1].Text())
	}
}

func FuzzParseJudge(f *testing.F) {
	for _, s := range []string{`{"score":0.5}`, "Score: 8/10", "```json\n{\"score\":1}\n```", "{{{", "85%", "-.5", `{"score":"1e400"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseJudge(s)
		if err == nil && (v.Score < 0 || v.Score > 1 || math.IsNaN(v.Score)) {
			t.Fatalf("ParseJudge(%q) = %v, out of 0..1", s, v.Score)
		}
	})
}
