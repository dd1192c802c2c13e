package ensemble

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/expr"
)

func pageFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/page/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no page examples: %v", err)
	}
	return files
}

// Every flow of the product page loads as written.
func TestPageExamplesLoad(t *testing.T) {
	for _, f := range pageFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			e, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if e.Name == "" || len(e.Flow) == 0 || e.File != f {
				t.Fatalf("incomplete ensemble: %+v", e)
			}
			for i, s := range e.Flow {
				if s.Index != i || e.Names.Members[i] != s.Member || s.Type != TypeThink {
					t.Errorf("step %d: index %d name %q type %q", i, s.Index, s.Member, s.Type)
				}
				if s.Config == nil || s.Config.Provider == nil {
					t.Errorf("step %d: no provider after load", i)
				}
			}
		})
	}
}

func mustLoad(t *testing.T, path string) *Ensemble {
	t.Helper()
	e, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func lit(t *testing.T, n *Node) any {
	t.Helper()
	if n == nil {
		t.Fatal("nil node")
	}
	if n.Tmpl != nil {
		t.Fatalf("%d:%d: expected a literal, got template %q", n.Pos.Line, n.Pos.Col, n.Tmpl.Source())
	}
	return n.Lit
}

// The page's values decode with the types and defaults the engine relies
// on.
func TestPageExampleValues(t *testing.T) {
	e := mustLoad(t, "testdata/page/generate-article.yaml")
	c := e.Flow[0].Config
	if got := lit(t, c.MaxTokens); got != int64(2000) {
		t.Errorf("maxTokens = %#v", got)
	}
	if got := lit(t, c.Temperature); got != 0.7 {
		t.Errorf("temperature = %#v", got)
	}
	if got := lit(t, c.Routing); got != "cloudflare-gateway" {
		t.Errorf("routing = %#v", got)
	}

	e = mustLoad(t, "testdata/page/routing-direct.yaml")
	if got := lit(t, e.Flow[0].Config.Temperature); got != 1.0 {
		t.Errorf("temperature 1.0 = %#v", got)
	}

	e = mustLoad(t, "testdata/page/cascade.yaml")
	sc := e.Flow[0].Scoring
	if sc == nil || sc.Thresholds.Minimum == nil || *sc.Thresholds.Minimum != 0.7 || sc.OnFailure != OnFailureContinue ||
		sc.Evaluator != EvaluatorJudge || sc.EvaluatorIndex != -1 || sc.RetryLimit != DefaultRetryLimit {
		t.Errorf("cascade scoring = %+v", sc)
	}
	cond := e.Flow[1].Condition
	if cond == nil || cond.Tmpl == nil || !reflect.DeepEqual(cond.Refs(), []int{0}) {
		t.Fatalf("cascade condition = %+v", cond)
	}
	for _, tc := range []struct {
		score float64
		want  bool
	}{{0.5, true}, {0.7, false}, {0.9, false}} {
		v := &expr.Vars{Members: []any{map[string]any{"scoring": map[string]any{"score": tc.score}}, nil}}
		got, err := cond.EvalBool(v)
		if err != nil || got != tc.want {
			t.Errorf("score %v: condition = %v, %v; want %v", tc.score, got, err, tc.want)
		}
	}

	e = mustLoad(t, "testdata/page/fallback.yaml")
	r := e.Flow[0].Retry
	want := &Retry{Pos: r.Pos, MaxAttempts: 2, Backoff: BackoffExponential, InitialDelay: DefaultInitialDelay, MaxDelay: DefaultMaxDelay, OnFailure: OnFailureContinue}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("fallback retry = %+v, want %+v", r, want)
	}
	if e.Flow[1].Retry != nil || e.Flow[1].Cache != nil || e.Flow[1].Scoring != nil {
		t.Errorf("absent blocks must stay nil")
	}
	for _, tc := range []struct {
		success any
		want    bool
	}{{true, false}, {false, true}} {
		v := &expr.Vars{Members: []any{map[string]any{"success": tc.success}, nil}}
		if got, err := e.Flow[1].Condition.EvalBool(v); err != nil || got != tc.want {
			t.Errorf("success %v: %v, %v", tc.success, got, err)
		}
	}

	e = mustLoad(t, "testdata/page/cache-ttl.yaml")
	if e.Flow[0].Cache.TTL != 24*time.Hour || e.Flow[1].Cache.TTL != time.Minute {
		t.Errorf("ttl = %v, %v", e.Flow[0].Cache.TTL, e.Flow[1].Cache.TTL)
	}
	// No provider and no model: Workers AI and its default model.
	if got := lit(t, e.Flow[0].Config.Provider); got != DefaultProvider {
		t.Errorf("default provider = %#v", got)
	}
	if got := lit(t, e.Flow[0].Config.Model); got != DefaultModel(DefaultProvider) {
		t.Errorf("default model = %#v", got)
	}

	e = mustLoad(t, "testdata/page/edge-classification.yaml")
	if got := lit(t, e.Flow[0].Config.SystemPrompt); got != "Classify user intent into: question, request, or complaint." {
		t.Errorf("systemPrompt = %q", got)
	}
	if e.Flow[0].Config.Routing == nil || e.Flow[0].Config.Prompt != nil {
		t.Errorf("routing/prompt = %+v", e.Flow[0].Config)
	}
}

// The page's unquoted ternaries, which plain YAML cannot read, load as one
// template each and evaluate as the page means.
func TestPageTernaries(t *testing.T) {
	e := mustLoad(t, "testdata/page/load-balancing.yaml")
	c := e.Flow[0].Config
	if c.Provider.Tmpl == nil || c.Provider.Tmpl.Source() != "${input.requestId % 2 === 0 ? 'openai' : 'anthropic'}" {
		t.Fatalf("provider = %+v", c.Provider)
	}
	if c.Provider.Pos != (Pos{6, 17}) {
		t.Errorf("provider pos = %v", c.Provider.Pos)
	}
	for _, tc := range []struct {
		id              float64
		provider, model string
	}{{2, "openai", "gpt-4o"}, {3, "anthropic", "claude-3-5-sonnet-20241022"}} {
		v := &expr.Vars{Input: map[string]any{"requestId": tc.id}}
		p, ok, err := c.Provider.EvalString(v)
		if err != nil || !ok || p != tc.provider {
			t.Errorf("id %v: provider %q %v %v", tc.id, p, ok, err)
		}
		m, _, err := c.Model.EvalString(v)
		if err != nil || m != tc.model {
			t.Errorf("id %v: model %q %v", tc.id, m, err)
		}
	}

	e = mustLoad(t, "testdata/page/environment-routing.yaml")
	c = e.Flow[0].Config
	for _, tc := range []struct {
		env, provider, model, routing string
	}{
		{"production", "anthropic", "claude-3-5-sonnet-20241022", "cloudflare-gateway"},
		{"development", "workers-ai", "@cf/meta/llama-3.1-8b-instruct", "cloudflare"},
	} {
		v := &expr.Vars{Env: func(k string) (string, bool) { return tc.env, k == "ENVIRONMENT" }}
		got := make([]string, 3)
		for i, n := range []*Node{c.Provider, c.Model, c.Routing} {
			s, _, err := n.EvalString(v)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = s
		}
		if want := []string{tc.provider, tc.model, tc.routing}; !reflect.DeepEqual(got, want) {
			t.Errorf("env %s: %v, want %v", tc.env, got, want)
		}
	}
}

// Bad inputs: the exact messages, positions included (golden table).
func TestBadGolden(t *testing.T) {
	golden := map[string][]string{
		"condition.yaml": {`4:16: condition: expected an expression "${...}" or a boolean, got a string ("a.success")`},
		"duplicate.yaml": {`5:13: duplicate member name "a" (first at 3:13)`},
		"durations.yaml": {
			`7:18: latency: expected a duration ("500ms", "2s", "1h") or integer milliseconds, got a string ("soon")`,
			`8:9: mock: echo excludes reply and replies (set one or the other)`,
			`10:24: status: expected an HTTP error status (400-599), got 200`,
			`10:36: times: expected a count of failing calls (-1: every call), got -2`,
			`12:20: maxAttempts: expected an integer between 1 and 100 (the first call counts), got 0`,
			`14:7: retry: maxDelay (1s) must not be below initialDelay (5s)`,
			`16:12: ttl: expected a duration of 0 or more, got -5`,
			`17:15: bypass: expected true or false, got a string ("yes")`,
		},
		"empty-flow.yaml": {`2:7: flow: expected at least one member`},
		"evaluator.yaml": {
			`11:24: prompt: member a has no result yet when this evaluator member runs (right after each answer it grades): read the answer it grades as ${answer}`,
			`12:5: member b grades a (it is their scoring.evaluator), so it cannot have a scoring block of its own`,
			`13:18: evaluator: unknown evaluator "jugde" (did you mean "judge"?)`,
			`18:18: evaluator: member c cannot grade itself (name another member, judge or rules)`,
		},
		"expr.yaml": {
			`7:30: condition: unexpected "}" (expected a value)`,
			`10:22: prompt: unknown name nope; known: input, env, and members a, b`,
		},
		"flow-mapping.yaml": {`4:24: a value starting with ${ must be quoted in YAML: provider: "${...}"`},
		"forward-ref.yaml":  {`4:18: condition: member b runs later than this one`},
		"max-tokens.yaml": {
			`7:18: maxTokens: expected an integer, got a string ("lots")`,
			`8:20: temperature: expected a number, got a string ("hot")`,
			`9:13: topP: expected a number between 0 and 1, got 1.5`,
			// The reproduction: a number too large, not "a string".
			`15:18: maxTokens: expected an integer between 1 and 2147483647, got 99999999999999999999999`,
			`16:13: seed: expected an integer, got 18446744073709551615 (beyond the integer range)`,
			`21:18: maxTokens: expected an integer between 1 and 2147483647, got 3000000000`,
		},
		"missing.yaml": {
			`1:1: missing required key "name" (the ensemble's name)`,
			`3:5: flow[0]: missing required key "member" (the member's name)`,
		},
		"model.yaml": {
			`5:7: config: missing required key "model" (the anthropic model to call)`,
			`8:7: config: missing required key "model" (required when provider is an expression)`,
		},
		"names.yaml": {
			`3:13: member: "input" is a reserved word in expressions; choose another name`,
			`5:13: member: invalid name "has space" (expected letters, digits, - and _, starting with a letter)`,
		},
		"provider.yaml": {
			`5:17: provider: unknown provider "opneai" (did you mean "openai"?)`,
			`7:16: routing: unknown routing "gateway" (did you mean "cloudflare-gateway"?)`,
			`10:17: provider: unknown provider "azure" (expected one of: workers-ai, openai, anthropic, groq, local, mock)`,
		},
		"routing-cloudflare-openai.yaml": {`7:16: routing: "cloudflare" serves Workers AI and local models only (use cloudflare-gateway or direct for openai)`},
		"rules.yaml": {
			`9:22: minLength: expected a length of 0 or more, got -1`,
			"10:18: regex: invalid regular expression: missing closing ): `a(`",
			`11:23: jsonSchema: invalid schema: at '/type': value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'; at '/type': got string, want array`,
			`12:11: rules[3]: expected exactly one check per list item (one of: minLength, maxLength, contains, notContains, regex, json, jsonSchema), got 2`,
			`14:11: unknown key "lenght" in rule (expected one of: minLength, maxLength, contains, notContains, regex, json, jsonSchema)`,
		},
		"syntax.yaml": {`3:13: invalid YAML: mapping value is not allowed in this context`},
		"thresholds.yaml": {
			`8:18: minimum: expected a score between 0 and 1, got 1.5`,
			`10:9: thresholds: excellent (0.6) must not be below target (0.8)`,
			`11:18: onFailure: unknown value "retyr" (did you mean "retry"?)`,
			`13:16: backoff: unknown value "quadratic" (expected one of: exponential, linear, fixed)`,
			`14:18: onFailure: unknown value "retry" (expected one of: abort, continue)`,
		},
		"top.yaml":         {`1:1: the ensemble: expected a map (keys: name, description, flow, output), got a list`},
		"two-docs.yaml":    {`6:1: a file holds one ensemble: remove the second YAML document`},
		"type.yaml":        {`4:11: type: unknown member type "think" (did you mean "Think"?)`},
		"typo-key.yaml":    {`7:7: unknown key "tempreature" in config (did you mean "temperature"?)`},
		"unknown-key.yaml": {`7:5: unknown key "colour" in member (expected one of: member, type, condition, config, input, scoring, retry, cache)`},
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(golden) {
		t.Errorf("%d files in testdata/bad, %d in the golden table", len(files), len(golden))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := golden[name]
			if !ok {
				t.Fatalf("no golden entry for %s", name)
			}
			e, err := Load(f)
			if err == nil {
				t.Fatalf("loaded: %+v", e)
			}
			var l List
			if !errors.As(err, &l) {
				t.Fatalf("error %T is not a List: %v", err, err)
			}
			for i := range want {
				want[i] = f + ":" + want[i]
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

const head = "name: t\nflow:\n"

// Inline cases: positions inside quoted and block scalars, YAML features,
// defaults and edge cases, each with the exact problems expected.
func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // problems without the file name; nil: loads
	}{
		{"plain template error column", head + "- member: a\n  config: {provider: mock, prompt: ok}\n  input: ${nope}\n",
			[]string{"5:12: input: unknown name nope; known: input, env, and members a"}},
		{"double-quoted template error column", head + "- member: a\n  config:\n    provider: mock\n    prompt: \"Hi ${input.x +}\"\n",
			[]string{`6:28: prompt: unexpected "}" (expected a value)`}},
		{"single-quoted template error column", head + "- member: a\n  config:\n    provider: mock\n    prompt: 'Hi ${input.x +}'\n",
			[]string{`6:28: prompt: unexpected "}" (expected a value)`}},
		{"non-ASCII text before the error counts characters", head + "- member: a\n  config:\n    provider: mock\n    prompt: \"héllo ${input.x +}\"\n",
			[]string{`6:31: prompt: unexpected "}" (expected a value)`}},
		{"block scalar error line", head + "- member: a\n  config:\n    provider: mock\n    prompt: |\n      first line\n      then ${input.x +}\n",
			[]string{`8:23: prompt: unexpected "}" (expected a value)`}},
		{"unquoted ternary with comment", head + "- member: a\n  config:\n    provider: ${input.x ? 'mock' : 'openai'}  # pick\n    model: m\n", nil},
		{"unquoted ternary holding ' #'", head + "- member: a\n  config:\n    provider: mock\n    prompt: ${input.x ? ' #1' : 'y'}\n", nil},
		{"block scalar with template text is not touched", head + "- member: a\n  config:\n    provider: mock\n    prompt: |\n      ${input.a ? 'x' : 'y'}\n", nil},
		{"anchors, aliases and merge keys", "base: &b {provider: mock, temperature: 0.2}\n" + head + "- member: a\n  config:\n    <<: *b\n    temperature: 0.5\n",
			[]string{`1:1: unknown key "base" in the ensemble (expected one of: name, description, flow, output)`}},
		{"unknown alias", head + "- member: a\n  config: *nope\n",
			[]string{"4:11: unknown alias *nope (no anchor &nope before it)"}},
		{"empty file", "", []string{"1:1: the file is empty (expected an ensemble: name, flow)"}},
		{"comments only", "# nothing\n", []string{"1:1: the file is empty (expected an ensemble: name, flow)"}},
		{"not UTF-8", "name: \xff\n", []string{"1:1: the file is not valid UTF-8"}},
		{"no flow", "name: x\n", []string{`1:1: missing required key "flow" (the list of members)`}},
		{"flow not a list", "name: x\nflow: a\n", []string{`2:7: flow: expected a list of members, got a string ("a")`}},
		{"member not a map", head + "- just-a-name\n", []string{`3:3: flow[0]: expected a member (a map with member, type, config), got a string ("just-a-name")`}},
		{"missing config", head + "- member: a\n", []string{`3:3: member a: missing required key "config" (provider, model, routing)`}},
		{"snake case key suggestion", head + "- member: a\n  config: {provider: mock, max_tokens: 5}\n",
			[]string{`4:28: unknown key "max_tokens" in config (did you mean "maxTokens"?)`}},
		{"quoted number is not a number", head + "- member: a\n  config: {provider: mock, temperature: \"0.7\"}\n",
			[]string{`4:41: temperature: expected a number, got a string ("0.7")`}},
		{"template where only literals go", head + "- member: a\n  config: {provider: mock}\n  retry: {maxAttempts: \"${input.n}\"}\n",
			[]string{`5:24: maxAttempts: expressions are not allowed here (expected a literal value)`}},
		{"stop list item type", head + "- member: a\n  config: {provider: mock, stop: [a, 1]}\n",
			[]string{`4:38: stop[1]: expected a string, got an integer (1)`}},
		{"responseFormat must be a map", head + "- member: a\n  config: {provider: mock, responseFormat: json}\n",
			[]string{`4:44: responseFormat: expected a map (e.g. {type: json_object}), got a string ("json")`}},
		{"maxTokens must be positive", head + "- member: a\n  config: {provider: mock, maxTokens: 0}\n",
			[]string{`4:39: maxTokens: expected an integer between 1 and 2147483647, got 0`}},
		{"evaluator rules without rules", head + "- member: a\n  config: {provider: mock}\n  scoring: {evaluator: rules}\n",
			[]string{`5:13: scoring: evaluator "rules" needs a rules list`}},
		{"judge config is checked", head + "- member: a\n  config: {provider: mock}\n  scoring:\n    judge: {provider: openai}\n",
			[]string{`6:12: judge: missing required key "model" (the openai model to call)`}},
		{"duplicate key", head + "- member: a\n  member: b\n  config: {provider: mock}\n",
			[]string{`4:3: duplicate key "member" (first at 3:3)`}},
		{"reserved word member", head + "- member: env\n  config: {provider: mock}\n",
			[]string{`3:11: member: "env" is a reserved word in expressions; choose another name`}},
		{"condition literal true", head + "- member: a\n  condition: true\n  config: {provider: mock}\n", nil},
		{"output refers to every member", head + "- member: a\n  config: {provider: mock}\n- member: b\n  config: {provider: mock}\noutput:\n  first: ${a.output}\n  both: [\"${a.output}\", \"${b.output}\"]\n", nil},
		{"output cannot refer to unknown members", head + "- member: a\n  config: {provider: mock}\noutput: ${c.output}\n",
			[]string{"5:11: output: unknown name c; known: input, env, and members a (did you mean a?)"}},
		{"mock settings", head + "- member: a\n  config:\n    provider: mock\n    mock:\n      replies: {hello: hi, bye: ciao}\n      reply: default\n      latency: 50\n      fail: {status: 429, times: 2, retryAfter: 3}\n      score: 0.4\n", nil},
		{"non-string key", head + "- member: a\n  config: {provider: mock}\n  input: {[1]: x}\n",
			[]string{"5:14: invalid YAML: found an invalid key for this map"}},
		{"unsupported tag", head + "- member: a\n  config: !!foo {provider: mock}\n",
			[]string{"4:11: unsupported YAML tag !!foo"}},
		{"!!str makes a string", head + "- member: a\n  config: {provider: mock, temperature: !!str 1}\n",
			[]string{`4:46: temperature: expected a number, got a string ("1")`}},
		{"!!float makes a number", head + "- member: a\n  config: {provider: mock, temperature: !!float \"1\"}\n", nil},
		{"infinity is not a temperature", head + "- member: a\n  config: {provider: mock, temperature: .inf}\n",
			[]string{`4:41: temperature: expected a finite number, got a number (+Inf)`}},
		{"unquoted ternary as a list item", head + "- member: a\n  config:\n    provider: mock\n    stop:\n      - ${input.x ? 'a' : 'b'}\n      - END\n", nil},
		{"CRLF line ends", "name: t\r\nflow:\r\n- member: a\r\n  config:\r\n    provider: ${input.x ? 'mock' : 'openai'}\r\n    model: m\r\n    prompt: |\r\n      ${input.y +}\r\n",
			[]string{`8:18: prompt: unexpected "}" (expected a value)`}},
		{"unquoted template continued on the next line", head + "- member: a\n  config:\n    provider: mock\n    prompt: ${input.a ? 'x' : 'y'\n      } more @\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse("f.yaml", []byte(tc.src))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if e == nil || len(e.Flow) == 0 {
					t.Fatal("no ensemble")
				}
				return
			}
			if err == nil {
				t.Fatal("loaded, want problems")
			}
			var l List
			if !errors.As(err, &l) {
				t.Fatalf("%T: %v", err, err)
			}
			got := make([]string, len(l))
			for i, p := range l {
				got[i] = strings.TrimPrefix(p.String(), "f.yaml:")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Values of the typed blocks, defaults included.
func TestParseValues(t *testing.T) {
	src := head + `- member: check
  config: {provider: mock, mock: {echo: true}}
- member: a
  type: Think
  condition: ${check.success}
  input: {text: "${input.text}", n: 3}
  config:
    provider: mock
    temperature: 1
    stop: [END, "${input.stop}"]
    seed: 42
    responseFormat: {type: json_object}
    mock:
      replies: {hello: hi, bye: ciao}
      reply: default
      latency: 50
      fail: {status: 429, times: 2, retryAfter: 3}
      score: 0.4
  scoring:
    evaluator: check
    criteria: [clear, short]
    rules:
      - minLength: 2
      - maxLength: 10
      - contains: hi
      - notContains: bye
      - regex: "^h"
      - json: true
      - jsonSchema: {type: object, required: [a]}
    thresholds: {minimum: 0.5, target: 0.7, excellent: 0.9}
    onFailure: retry
    retryLimit: 4
    judge: {provider: mock, mock: {score: 0.8}}
  retry: {maxAttempts: 5, backoff: linear, initialDelay: 100, maxDelay: "2s", onFailure: continue}
  cache: {ttl: "90s", bypass: true}
`
	e, err := Parse("v.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := e.Flow[1]
	c := s.Config
	if lit(t, c.Temperature) != 1.0 || lit(t, c.Seed) != int64(42) {
		t.Errorf("temperature/seed: %#v %#v", c.Temperature.Lit, c.Seed.Lit)
	}
	if c.Model != nil {
		t.Errorf("mock model filled: %+v", c.Model)
	}
	stop, err := c.Stop.EvalStrings(&expr.Vars{Input: map[string]any{"stop": "STOP"}})
	if err != nil || !reflect.DeepEqual(stop, []string{"END", "STOP"}) {
		t.Errorf("stop = %v, %v", stop, err)
	}
	rf, err := c.ResponseFormat.Eval(nil)
	if err != nil || !reflect.DeepEqual(rf, map[string]any{"type": "json_object"}) {
		t.Errorf("responseFormat = %v, %v", rf, err)
	}
	in, err := s.Input.Eval(&expr.Vars{Input: map[string]any{"text": "hello"}})
	if err != nil || !reflect.DeepEqual(in, map[string]any{"text": "hello", "n": int64(3)}) {
		t.Errorf("input = %#v, %v", in, err)
	}
	if !reflect.DeepEqual(s.Condition.Refs(), []int{0}) || !reflect.DeepEqual(s.Input.Refs(), []int(nil)) {
		t.Errorf("refs = %v %v", s.Condition.Refs(), s.Input.Refs())
	}
	score := 0.4
	wantMock := &Mock{Pos: c.Mock.Pos, Reply: "default", Replies: []MockReply{{"hello", "hi"}, {"bye", "ciao"}},
		Latency: 50 * time.Millisecond, Fail: &MockFail{Status: 429, Times: 2, Message: "mock failure", RetryAfter: 3 * time.Second}, Score: &score}
	if !reflect.DeepEqual(c.Mock, wantMock) {
		t.Errorf("mock = %+v\nwant %+v", c.Mock, wantMock)
	}
	sc := s.Scoring
	if sc.Evaluator != "check" || sc.EvaluatorIndex != 0 || sc.OnFailure != OnFailureRetry || sc.RetryLimit != 4 ||
		!reflect.DeepEqual(sc.Criteria, []string{"clear", "short"}) || len(sc.Rules) != 7 ||
		*sc.Thresholds.Minimum != 0.5 || *sc.Thresholds.Target != 0.7 || *sc.Thresholds.Excellent != 0.9 {
		t.Errorf("scoring = %+v", sc)
	}
	r := sc.Rules
	if *r[0].MinLength != 2 || *r[1].MaxLength != 10 || r[2].Contains != "hi" || r[3].NotContains != "bye" ||
		!r[4].Regex.MatchString("hi") || !r[5].JSON || r[6].JSONSchema == nil {
		t.Errorf("rules = %+v", r)
	}
	if err := r[6].JSONSchema.Validate(map[string]any{"a": 1.0}); err != nil {
		t.Errorf("schema rejects a valid value: %v", err)
	}
	if err := r[6].JSONSchema.Validate(map[string]any{}); err == nil {
		t.Error("schema accepts a value without a")
	}
	if sc.Judge == nil || lit(t, sc.Judge.Provider) != "mock" || *sc.Judge.Mock.Score != 0.8 {
		t.Errorf("judge = %+v", sc.Judge)
	}
	wantRetry := &Retry{Pos: s.Retry.Pos, MaxAttempts: 5, Backoff: BackoffLinear, InitialDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, OnFailure: OnFailureContinue}
	if !reflect.DeepEqual(s.Retry, wantRetry) {
		t.Errorf("retry = %+v", s.Retry)
	}
	if *s.Cache != (Cache{Pos: s.Cache.Pos, TTL: 90 * time.Second, Bypass: true}) {
		t.Errorf("cache = %+v", s.Cache)
	}
	if m := e.Flow[0].Config.Mock; m == nil || !m.Echo {
		t.Errorf("echo mock = %+v", m)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	src := `name: t
flow:
  - member: a
    config: &cfg
      provider: mock
      temperature: 0.2
  - member: b
    config:
      <<: *cfg
      temperature: 0.5
  - member: c
    config: *cfg
`
	e, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0.2, 0.5, 0.2} {
		if got := lit(t, e.Flow[i].Config.Temperature); got != want {
			t.Errorf("member %d temperature = %v, want %v", i, got, want)
		}
	}
}

// A billion-laughs document is refused, not expanded.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	var l List
	if err == nil || errors.As(err, &l) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	if Validate("testdata/page/cascade.yaml") != nil {
		t.Error("Validate rejects a page example")
	}
}

func TestSuggest(t *testing.T) {
	keys := configKeys
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"tempreature", "temperature", true},
		{"temprature", "temperature", true},
		{"maxtokens", "maxTokens", true},
		{"max_tokens", "maxTokens", true},
		{"max-tokens", "maxTokens", true},
		{"modle", "model", true},
		{"colour", "", false},
		{"x", "", false},
		{"", "", false},
	} {
		got, ok := suggest(tc.in, keys)
		if got != tc.want || ok != tc.ok {
			t.Errorf("suggest(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// Enum values: one part of a hyphenated name, when only one fits.
	for _, tc := range []struct {
		in, want string
		ok       bool
		cands    []string
	}{
		{"gateway", "cloudflare-gateway", true, []string{"cloudflare", "cloudflare-gateway", "direct"}},
		{"workers", "workers-ai", true, []string{"workers-ai", "openai", "anthropic", "groq", "local", "mock"}},
		{"cloudflare", "", false, []string{"cloudflare-gateway", "cloudflare-workers"}}, // two fit: no guess
		{"ai", "", false, []string{"workers-ai", "openai"}},                             // too far, and not a part of openai
	} {
		got, ok := suggest(tc.in, tc.cands)
		if got != tc.want || ok != tc.ok {
			t.Errorf("suggest(%q, %v) = %q, %v; want %q, %v", tc.in, tc.cands, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"ab", "ba", 1}, {"kitten", "sitting", 3}, {"tempreature", "temperature", 1}, {"héllo", "hello", 1}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{"f.yaml", Pos{3, 4}, "bad"}, "f.yaml:3:4: bad"},
		{Problem{"f.yaml", Pos{}, "bad"}, "f.yaml: bad"},
		{Problem{"", Pos{1, 2}, "bad"}, "1:2: bad"},
		{Problem{"", Pos{}, "bad"}, "bad"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
	l := List{{"a", Pos{1, 1}, "x"}, {"a", Pos{2, 1}, "y"}}
	if l.Error() != "a:1:1: x\na:2:1: y" {
		t.Errorf("List.Error = %q", l.Error())
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkParse measures loading a page example with expressions (the
// cost of every "conductor run" and validate before any call).
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"generate-article", "environment-routing", "fallback"} {
		data := readFile(b, "testdata/page/"+name+".yaml")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(name, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The reproduction: a large flow with no aliases is not an alias
// bomb; only what aliases expand to counts against the bound.
func TestLargeFlowWithoutAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: big\nflow:\n")
	for i := range 9100 {
		fmt.Fprintf(&b, "  - member: m%d\n    config:\n      provider: mock\n      model: mock\n      routing: direct\n      temperature: 0.5\n      prompt: \"item %d\"\n", i, i)
	}
	e, err := Parse("big.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("err = %.300v", err)
	}
	if len(e.Flow) != 9100 {
		t.Errorf("%d members", len(e.Flow))
	}
}
