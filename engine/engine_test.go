package engine

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/expr"
)

func TestCondition(t *testing.T) {
	tests := []struct {
		cond string
		runs bool
	}{
		{"${true}", true},
		{"${false}", false},
		{"${0}", false},
		{"${1}", true},
		{"${''}", false},
		{"${'x'}", true},
		{"${null}", false},
		{"${input.missing}", false}, // undefined is falsy
		{"${input.flag}", true},
		{"${!input.flag}", false},
		{"${first.success}", true},
		{"${!first.success}", false},
		{"${first.output === 'hello'}", true},
		{"${first.usage.outputTokens > 0}", true},
		{"${[]}", true}, // JavaScript: an empty array is truthy
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			ens := parse(t, `
name: cond
flow:
  - member: first
    config: {provider: mock, mock: {reply: hello}}
  - member: second
    condition: "`+tc.cond+`"
    config: {provider: mock, mock: {reply: ran}}
`)
			res, err := New(Options{}).Run(context.Background(), ens, map[string]any{"flag": true})
			if err != nil {
				t.Fatal(err)
			}
			m := member(t, res, "second")
			if tc.runs {
				if m.Status != StatusSucceeded || m.Output != "ran" || m.Skipped {
					t.Errorf("member = %+v, want it to run", m)
				}
				if res.Output != "ran" {
					t.Errorf("output = %v, want ran", res.Output)
				}
				return
			}
			if m.Status != StatusSkipped || !m.Skipped || m.Success || m.Output != nil || m.Attempts != 0 {
				t.Errorf("member = %+v, want skipped", m)
			}
			// The output defaults to the last member that was not skipped.
			if res.Output != "hello" {
				t.Errorf("output = %v, want hello (from first)", res.Output)
			}
		})
	}
}

func TestSkippedMemberIsReferenceable(t *testing.T) {
	ens := parse(t, `
name: skip
flow:
  - member: never
    condition: ${false}
    config: {provider: mock, mock: {reply: x}}
  - member: after
    config:
      provider: mock
      prompt: "skipped=${never.skipped} success=${never.success} output=${never.output} score=${never.scoring.score} passed=${never.scoring.passed}"
`)
	res, err := New(Options{}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Output, "skipped=true success=false output=null score=null passed=false"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

// TestMemberFieldsReachable reads every member-result field from an
// expression and checks it against the Go result.
func TestMemberFieldsReachable(t *testing.T) {
	ens := parse(t, `
name: fields
flow:
  - member: a
    config:
      provider: openai
      model: gpt-4o
      temperature: 0
    scoring:
      evaluator: rules
      rules: [{contains: "four"}]
      thresholds: {minimum: 0.5}
  - member: broken
    config: {provider: mock, mock: {fail: {status: 429, times: -1}}}
    retry: {maxAttempts: 1, onFailure: continue}
output:
  output: ${a.output}
  success: ${a.success}
  skipped: ${a.skipped}
  error: ${a.error}
  score: ${a.scoring.score}
  passed: ${a.scoring.passed}
  cached: ${a.cached}
  attempts: ${a.attempts}
  provider: ${a.provider}
  model: ${a.model}
  routing: ${a.routing}
  inputTokens: ${a.usage.inputTokens}
  outputTokens: ${a.usage.outputTokens}
  cost: ${a.cost}
  latencyMs: ${a.latencyMs}
  errorMessage: ${broken.error.message}
  errorStatus: ${broken.error.status}
  errorProvider: ${broken.error.provider}
  brokenSuccess: ${broken.success}
  brokenPassed: ${broken.scoring.passed}
`)
	openai := &scripted{name: "openai", replies: []string{"four"}, usage: conductor.Usage{InputTokens: 10, OutputTokens: 3}}
	res, err := New(Options{Resolver: newResolver(openai), Pricing: fixedPrices{}, Logger: quiet()}).Run(context.Background(), ens, "What is 2+2?")
	if err != nil {
		t.Fatal(err)
	}
	a := member(t, res, "a")
	out, ok := res.Output.(map[string]any)
	if !ok {
		t.Fatalf("output = %#v", res.Output)
	}
	want := map[string]any{
		"output": "four", "success": true, "skipped": false, "error": nil,
		"score": 1.0, "passed": true, "cached": false, "attempts": 1.0,
		"provider": "openai", "model": "gpt-4o", "routing": "cloudflare-gateway",
		"inputTokens": 10.0, "outputTokens": 3.0, "cost": 16e-9, "latencyMs": 0.0,
		"errorStatus": 429.0, "errorProvider": "mock", "brokenSuccess": false, "brokenPassed": false,
	}
	for k, w := range want {
		if !reflect.DeepEqual(out[k], w) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", k, out[k], out[k], w, w)
		}
	}
	if msg, _ := out["errorMessage"].(string); !strings.Contains(msg, "mock failure") {
		t.Errorf("errorMessage = %q", msg)
	}
	if a.Cost != 16e-9 || a.CostNanoUSD != 16 || res.CostNanoUSD != 16 {
		t.Errorf("cost = %v / %d nano, run %d nano", a.Cost, a.CostNanoUSD, res.CostNanoUSD)
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name   string
		config string
		input  any
		step   string // extra step keys
		want   []conductor.Message
	}{
		{"prompt template", `prompt: "Summarize: ${input.text}"`, map[string]any{"text": "abc"}, "",
			[]conductor.Message{conductor.TextMessage("user", "Summarize: abc")}},
		{"system prompt then prompt", `{systemPrompt: "Be brief.", prompt: "Hi"}`, nil, "",
			[]conductor.Message{conductor.TextMessage("system", "Be brief."), conductor.TextMessage("user", "Hi")}},
		{"input rendered as sorted key: value lines", `{systemPrompt: "Classify."}`,
			map[string]any{"text": "I want a refund", "lang": "en", "n": 3.0, "tags": []any{"a"}}, "",
			[]conductor.Message{conductor.TextMessage("system", "Classify."), conductor.TextMessage("user", "lang: en\nn: 3\ntags: [\"a\"]\ntext: I want a refund")}},
		{"string input as is", `{}`, "just text", "",
			[]conductor.Message{conductor.TextMessage("user", "just text")}},
		{"input.messages win over prompt", `{systemPrompt: S, prompt: ignored}`,
			map[string]any{"messages": []any{
				map[string]any{"role": "user", "content": "q1"},
				map[string]any{"role": "assistant", "content": "a1"},
				map[string]any{"role": "user", "content": "q2"},
			}}, "",
			[]conductor.Message{conductor.TextMessage("system", "S"), conductor.TextMessage("user", "q1"), conductor.TextMessage("assistant", "a1"), conductor.TextMessage("user", "q2")}},
		{"member input mapping is the prompt's input", `prompt: "Q: ${input.question}"`,
			map[string]any{"q": "why?"}, `input: {question: "${input.q}"}`,
			[]conductor.Message{conductor.TextMessage("user", "Q: why?")}},
		{"member input rendered", `{}`, map[string]any{"q": "why?"}, `input: {question: "${input.q}", lang: fr}`,
			[]conductor.Message{conductor.TextMessage("user", "lang: fr\nquestion: why?")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.TrimSpace(tc.config)
			if !strings.HasPrefix(cfg, "{") {
				cfg = "{" + cfg + "}"
			}
			// Splice provider and model into the flow-style mapping.
			cfg = "{provider: openai, model: gpt-4o, " + strings.TrimPrefix(cfg, "{")
			cfg = strings.Replace(cfg, ", }", "}", 1)
			src := "name: msgs\nflow:\n  - member: m\n    config: " + cfg + "\n"
			if tc.step != "" {
				src += "    " + tc.step + "\n"
			}
			p := &scripted{name: "openai"}
			if _, err := New(Options{Resolver: newResolver(p)}).Run(context.Background(), parse(t, src), tc.input); err != nil {
				t.Fatal(err)
			}
			reqs := p.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			if !reflect.DeepEqual(reqs[0].Messages, tc.want) {
				t.Errorf("messages = %#v\nwant %#v", reqs[0].Messages, tc.want)
			}
		})
	}
}

func TestBadInputMessages(t *testing.T) {
	tests := []struct {
		name  string
		input any
		want  string
	}{
		{"not a list", map[string]any{"messages": "hi"}, "want a list"},
		{"item not a map", map[string]any{"messages": []any{"hi"}}, "input.messages[0]"},
		{"no role", map[string]any{"messages": []any{map[string]any{"content": "x"}}}, "role must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ens := parse(t, "name: bad\nflow:\n  - member: m\n    config: {provider: mock}\n")
			res, err := New(Options{}).Run(context.Background(), ens, tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "member m") {
				t.Fatalf("err = %v, want one naming member m and saying %q", err, tc.want)
			}
			if res.Success || member(t, res, "m").Status != StatusFailed {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestRequestParameters(t *testing.T) {
	ens := parse(t, `
name: params
flow:
  - member: m
    config:
      provider: openai
      model: gpt-4o
      temperature: 0
      topP: 0.9
      maxTokens: 2000
      stop: ["END", "STOP"]
      seed: 42
      responseFormat: {type: json_object}
    retry: {maxAttempts: 2}
    cache: {ttl: 60, bypass: true}
  - member: defaults
    config: {provider: openai, model: gpt-4o, maxTokens: "${input.max}", temperature: "${input.none}", responseFormat: "${'json_object'}"}
`)
	p := &scripted{name: "openai"}
	if _, err := New(Options{Resolver: newResolver(p)}).Run(context.Background(), ens, map[string]any{"max": 7}); err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()
	r := reqs[0]
	if r.Temperature == nil || *r.Temperature != 0 {
		t.Errorf("temperature = %v, want a set 0", r.Temperature)
	}
	if r.TopP == nil || *r.TopP != 0.9 || r.MaxTokens != 2000 || !slices.Equal(r.Stop, []string{"END", "STOP"}) || r.Seed == nil || *r.Seed != 42 {
		t.Errorf("request = %+v", r)
	}
	if r.ResponseFormat == nil || r.ResponseFormat.Type != "json_object" {
		t.Errorf("responseFormat = %+v", r.ResponseFormat)
	}
	if r.Options.MaxAttempts != 1 || r.Options.CacheTTL == nil || *r.Options.CacheTTL != time.Minute || !r.Options.SkipCache {
		t.Errorf("call options = %+v", r.Options)
	}
	if r.Options.Metadata["ensemble"] != "params" || r.Options.Metadata["member"] != "m" {
		t.Errorf("metadata = %v", r.Options.Metadata)
	}
	d := reqs[1]
	if d.Temperature != nil || d.TopP != nil || d.Seed != nil || d.Stop != nil || d.MaxTokens != 7 {
		t.Errorf("unset parameters were set: %+v", d)
	}
	if d.ResponseFormat == nil || d.ResponseFormat.Type != "json_object" || d.Options.MaxAttempts != 0 || d.Options.CacheTTL != nil {
		t.Errorf("defaults request = %+v (format %+v)", d, d.ResponseFormat)
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name   string
		config string
		input  any
		want   route
	}{
		{"workers-ai defaults to cloudflare", `{provider: workers-ai, model: "@cf/meta/llama-3.1-8b-instruct"}`, "hi",
			route{"workers-ai", "@cf/meta/llama-3.1-8b-instruct", "cloudflare"}},
		{"others default to the gateway", `{provider: anthropic, model: claude-3-5-sonnet-20241022}`, "hi",
			route{"anthropic", "claude-3-5-sonnet-20241022", "cloudflare-gateway"}},
		{"explicit direct", `{provider: openai, model: o1-preview, routing: direct}`, "hi",
			route{"openai", "o1-preview", "direct"}},
		{"load balancing even", `{provider: "${input.requestId % 2 === 0 ? 'openai' : 'anthropic'}", model: "${input.requestId % 2 === 0 ? 'gpt-4o' : 'claude-3-5-sonnet-20241022'}", routing: cloudflare-gateway}`,
			map[string]any{"requestId": 4}, route{"openai", "gpt-4o", "cloudflare-gateway"}},
		{"load balancing odd", `{provider: "${input.requestId % 2 === 0 ? 'openai' : 'anthropic'}", model: "${input.requestId % 2 === 0 ? 'gpt-4o' : 'claude-3-5-sonnet-20241022'}", routing: cloudflare-gateway}`,
			map[string]any{"requestId": 7}, route{"anthropic", "claude-3-5-sonnet-20241022", "cloudflare-gateway"}},
		{"routing from a template", `{provider: groq, model: llama-3.1-70b-versatile, routing: "${input.r}"}`,
			map[string]any{"r": "direct"}, route{"groq", "llama-3.1-70b-versatile", "direct"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ens := parse(t, "name: r\nflow:\n  - member: m\n    config: "+tc.config+"\n")
			res := newResolver(&scripted{name: "openai"}, &scripted{name: "anthropic"}, &scripted{name: "groq"}, &scripted{name: "workers-ai"})
			out, err := New(Options{Resolver: res}).Run(context.Background(), ens, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.routes) != 1 || res.routes[0] != tc.want {
				t.Errorf("routes = %+v, want %+v", res.routes, tc.want)
			}
			m := member(t, out, "m")
			if m.Provider != tc.want.provider || m.Model != tc.want.model || m.Routing != tc.want.routing {
				t.Errorf("member = %s %s %s", m.Provider, m.Model, m.Routing)
			}
		})
	}
}

func TestEnvironmentRouting(t *testing.T) {
	ens := parse(t, `
name: env
flow:
  - member: generate-text
    config:
      provider: "${env.ENVIRONMENT === 'production' ? 'anthropic' : 'workers-ai'}"
      model: "${env.ENVIRONMENT === 'production' ? 'claude-3-5-sonnet-20241022' : '@cf/meta/llama-3.1-8b-instruct'}"
      routing: "${env.ENVIRONMENT === 'production' ? 'cloudflare-gateway' : 'cloudflare'}"
`)
	for _, tc := range []struct {
		env  map[string]string
		want route
	}{
		{map[string]string{"ENVIRONMENT": "production"}, route{"anthropic", "claude-3-5-sonnet-20241022", "cloudflare-gateway"}},
		{map[string]string{"ENVIRONMENT": "dev"}, route{"workers-ai", "@cf/meta/llama-3.1-8b-instruct", "cloudflare"}},
		{nil, route{"workers-ai", "@cf/meta/llama-3.1-8b-instruct", "cloudflare"}},
	} {
		res := newResolver(&scripted{name: "anthropic"}, &scripted{name: "workers-ai"})
		env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		if _, err := New(Options{Resolver: res, Env: env}).Run(context.Background(), ens, "hi"); err != nil {
			t.Fatal(err)
		}
		if res.routes[0] != tc.want {
			t.Errorf("env %v: route = %+v, want %+v", tc.env, res.routes[0], tc.want)
		}
	}
}

func TestRunTimeConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		resolver Resolver
		want     []string
	}{
		{"unknown provider from a template", `{provider: "${input.p}", model: m}`, nil, []string{`unknown provider "foo"`, "member m"}},
		{"unknown routing from a template", `{provider: mock, routing: "${input.r}"}`, nil, []string{`unknown routing "edge"`}},
		{"no resolver", `{provider: openai, model: gpt-4o}`, nil, []string{"openai", "cloudflare-gateway", "provider mock"}},
		{"resolver error", `{provider: groq, model: llama-3.1-70b-versatile, routing: direct}`, &testResolver{err: errors.New("GROQ_API_KEY is not set")},
			[]string{"groq", "direct", "GROQ_API_KEY is not set"}},
		{"model from a template is empty", `{provider: openai, model: "${input.none}"}`, newResolver(&scripted{name: "openai"}), []string{"needs a model"}},
		{"bad temperature from a template", `{provider: mock, temperature: "${input.p}"}`, nil, []string{"temperature", "expected a number"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ens := parse(t, "name: bad\nflow:\n  - member: m\n    config: "+tc.config+"\n")
			res, err := New(Options{Resolver: tc.resolver}).Run(context.Background(), ens, map[string]any{"p": "foo", "r": "edge"})
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q", err, w)
				}
			}
			var fe *FlowError
			if !errors.As(err, &fe) || fe.Member != "m" {
				t.Errorf("err = %#v, want a *FlowError for m", err)
			}
			m := member(t, res, "m")
			if m.Status != StatusFailed || m.Error == nil || m.Error.Message == "" {
				t.Errorf("member = %+v", m)
			}
			// The ensemble's to fix, like what validate reports: every one
			// of these is a configuration error (the resolver's own plain
			// error excepted: a real router's are ClassConfig).
			ce, _ := conductor.AsError(err)
			isConfig := errors.Is(err, ErrMemberConfig) || (ce != nil && ce.Class == conductor.ClassConfig)
			if want := tc.name != "resolver error"; isConfig != want {
				t.Errorf("configuration error = %v, want %v (%v)", isConfig, want, err)
			}
		})
	}
}

func TestAbortSkipsTheRest(t *testing.T) {
	ens := parse(t, `
name: abort
flow:
  - member: a
    config: {provider: mock, mock: {fail: {status: 401, times: -1, message: bad key}}}
  - member: b
    config: {provider: mock}
`)
	res, err := New(Options{}).Run(context.Background(), ens, "hi")
	var fe *FlowError
	if !errors.As(err, &fe) || fe.Member != "a" || fe.Ensemble != "abort" {
		t.Fatalf("err = %v, want a FlowError for a", err)
	}
	if !strings.Contains(err.Error(), "bad key") {
		t.Errorf("err = %v, want the provider's message", err)
	}
	if res.Success || res.Output != nil {
		t.Errorf("result = %+v", res)
	}
	a, b := member(t, res, "a"), member(t, res, "b")
	if a.Status != StatusFailed || a.Error.Status != 401 || a.Error.Provider != "mock" || a.Attempts != 1 {
		t.Errorf("a = %+v (error %+v)", a, a.Error)
	}
	if b.Status != StatusNotRun || b.Skipped {
		t.Errorf("b = %+v, want not_run (never reached, not skipped by a condition)", b)
	}
}

func TestFallbackPattern(t *testing.T) {
	ens := parse(t, `
name: fallback
flow:
  - member: generate-content
    config: {provider: openai, model: gpt-4o, routing: cloudflare-gateway}
    retry: {maxAttempts: 2, onFailure: continue, initialDelay: 10ms}
  - member: generate-content-fallback
    condition: ${!generate-content.success}
    config: {provider: anthropic, model: claude-3-5-sonnet-20241022, routing: cloudflare-gateway}
`)
	down := &scripted{name: "openai", err: &conductor.Error{Provider: "openai", Class: conductor.ClassServer, Status: 503, Message: "overloaded", Retryable: true}}
	backup := &scripted{name: "anthropic", replies: []string{"from claude"}}
	res, err := New(Options{Resolver: newResolver(down, backup), Jitter: JitterNone, Logger: quiet()}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	first := member(t, res, "generate-content")
	if first.Success || first.Status != StatusFailed || first.Attempts != 2 || first.Error.Status != 503 || first.Error.Provider != "openai" {
		t.Errorf("primary = %+v (error %+v)", first, first.Error)
	}
	if !res.Success || res.Output != "from claude" {
		t.Errorf("run = success %v output %v, want the fallback's answer", res.Success, res.Output)
	}
}

func TestOutputMapping(t *testing.T) {
	ens := parse(t, `
name: out
flow:
  - member: a
    config: {provider: mock, mock: {reply: '{"intent": "question", "confidence": 0.9}'}}
output:
  intent: ${a.output.intent}
  sentence: "The intent is ${a.output.intent}."
  missing: ${a.output.nothing}
  input: ${input}
`)
	res, err := New(Options{}).Run(context.Background(), ens, "hello")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"intent": "question", "sentence": "The intent is question.", "missing": nil, "input": "hello"}
	if !reflect.DeepEqual(res.Output, want) {
		t.Errorf("output = %#v, want %#v", res.Output, want)
	}
	b, err := json.Marshal(res.Output)
	if err != nil || !strings.Contains(string(b), `"missing":null`) {
		t.Errorf("JSON = %s, %v", b, err)
	}
}

func TestDecodeOutput(t *testing.T) {
	tests := []struct {
		text string
		want any
	}{
		{`{"a":1}`, map[string]any{"a": 1.0}},
		{"```json\n[1, 2]\n```", []any{1.0, 2.0}},
		{"  {\"a\": true}\n", map[string]any{"a": true}},
		{`plain`, "plain"},
		{`42`, "42"}, // only objects and arrays count as JSON answers
		{`{broken`, "{broken"},
		{``, ""},
	}
	for _, tc := range tests {
		if got := decodeOutput(tc.text); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decodeOutput(%q) = %#v, want %#v", tc.text, got, tc.want)
		}
	}
}

func TestResultJSONShape(t *testing.T) {
	ens := parse(t, `
name: shape
flow:
  - member: a
    config: {provider: mock, mock: {reply: hi}}
`)
	res, err := New(Options{}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(top), []string{"cost", "ensemble", "latencyMs", "members", "output", "success"}; !slices.Equal(got, want) {
		t.Errorf("top-level keys = %v, want %v", got, want)
	}
	var members []map[string]json.RawMessage
	if err := json.Unmarshal(top["members"], &members); err != nil {
		t.Fatal(err)
	}
	want := []string{"attempts", "cached", "cost", "error", "latencyMs", "member", "model", "output", "provider", "routing", "scoring", "status", "success", "usage"}
	if got := keys(members[0]); !slices.Equal(got, want) {
		t.Errorf("member keys = %v, want %v", got, want)
	}
	if string(members[0]["scoring"]) != `{"score":null,"passed":true}` || string(members[0]["usage"]) != `{"inputTokens":5,"outputTokens":1}` {
		t.Errorf("scoring %s usage %s", members[0]["scoring"], members[0]["usage"])
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name string
		flow string
	}{
		{"during a call", `
  - member: slow
    config: {provider: mock, mock: {latency: 1h}}`},
		{"during a backoff", `
  - member: flaky
    config: {provider: mock, mock: {fail: {status: 503, times: -1}}}
    retry: {maxAttempts: 5, initialDelay: 1h, maxDelay: 2h}`},
		{"during a retry-after wait", `
  - member: limited
    config: {provider: mock, mock: {fail: {status: 429, times: -1, retryAfter: 3600}}}
    retry: {maxAttempts: 5, initialDelay: 1ms, maxDelay: 2h}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ens := parse(t, "name: cancel\nflow:"+tc.flow+"\n  - member: never\n    config: {provider: mock}\n")
				// Cancelled, as Ctrl-C does, not timed out: a wait that
				// would outlast a deadline is refused before it starts.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				time.AfterFunc(time.Second, cancel)
				start := time.Now()
				res, err := New(Options{Logger: quiet()}).Run(ctx, ens, "hi")
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want the context's error", err)
				}
				if got := time.Since(start); got != time.Second {
					t.Errorf("Run returned after %v, want 1s", got)
				}
				if res.Success || member(t, res, "never").Status != StatusNotRun {
					t.Errorf("result = %+v", res)
				}
			})
		})
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	ens := parse(t, "name: c\nflow:\n  - member: a\n    config: {provider: mock}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := New(Options{}).Run(ctx, ens, "hi")
	if !errors.Is(err, context.Canceled) || res.Success || member(t, res, "a").Status != StatusNotRun {
		t.Fatalf("err = %v result = %+v", err, res)
	}
}

func TestLatencyFromClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ens := parse(t, "name: l\nflow:\n  - member: a\n    config: {provider: mock, mock: {latency: 120ms}}\n  - member: b\n    config: {provider: mock, mock: {latency: 30ms}}\n")
		res, err := New(Options{}).Run(context.Background(), ens, "hi")
		if err != nil {
			t.Fatal(err)
		}
		if a, b := member(t, res, "a").LatencyMs, member(t, res, "b").LatencyMs; a != 120 || b != 30 || res.LatencyMs != 150 {
			t.Errorf("latencies a=%d b=%d run=%d, want 120, 30, 150", a, b, res.LatencyMs)
		}
	})
}

func TestCleanUndefined(t *testing.T) {
	shared := map[string]any{"k": "v"}
	in := map[string]any{"u": expr.Undefined{}, "list": []any{expr.Undefined{}, 1.0}, "shared": shared}
	got := clean(in)
	want := map[string]any{"u": nil, "list": []any{nil, 1.0}, "shared": map[string]any{"k": "v"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clean = %#v", got)
	}
	if clean(expr.Undefined{}) != nil {
		t.Error("undefined not cleaned")
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""},
		{expr.Undefined{}, ""},
		{"s", "s"},
		{map[string]any{"b": "2", "a": 1.0, "c": nil}, "a: 1\nb: 2\nc: null"},
		{[]any{"x", 1.0}, `["x",1]`},
		{3.5, "3.5"},
	}
	for _, tc := range tests {
		if got := Render(tc.in); got != tc.want {
			t.Errorf("Render(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNilEnsemble(t *testing.T) {
	if _, err := New(Options{}).Run(context.Background(), nil, nil); err == nil {
		t.Fatal("nil ensemble ran")
	}
	// A hand-built step without config fails cleanly instead of panicking.
	ens := &ensemble.Ensemble{Name: "x", Flow: []*ensemble.Step{{Member: "m"}}}
	if _, err := New(Options{}).Run(context.Background(), ens, "hi"); err == nil || !strings.Contains(err.Error(), "no config") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzDecodeOutput feeds model answers (outside input) to the output
// decoder: it must never panic, and gives either the text or a JSON
// object/array.
func FuzzDecodeOutput(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "```json\n[1]\n```", "```", "``````", "plain", "{", " [ ] ", "```\n{\"x\":\n```"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		switch v := decodeOutput(s).(type) {
		case string:
			if v != s {
				t.Fatalf("text answer changed: %q -> %q", s, v)
			}
		case map[string]any, []any:
		default:
			t.Fatalf("decodeOutput(%q) = %T", s, v)
		}
	})
}

// A member's usage is marked estimated when any of its calls' was (the
// provider sent none and the adapter counted locally), and only then.
func TestUsageEstimated(t *testing.T) {
	ens := parse(t, "name: est\nflow:\n  - member: a\n    config: {provider: openai, model: gpt-4o}\n  - member: b\n    config: {provider: groq, model: llama-3.1-70b-versatile}\n")
	openai := &scripted{name: "openai", usage: conductor.Usage{InputTokens: 10, OutputTokens: 3}}
	groq := &scripted{name: "groq", usage: conductor.Usage{InputTokens: 7, OutputTokens: 2, Estimated: true}}
	res, err := New(Options{Resolver: newResolver(openai, groq), Logger: quiet()}).Run(context.Background(), ens, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if u := member(t, res, "a").Usage; u.Estimated || u.InputTokens != 10 {
		t.Errorf("a: %+v, want exact counts", u)
	}
	if u := member(t, res, "b").Usage; !u.Estimated || u.InputTokens != 7 || u.OutputTokens != 2 {
		t.Errorf("b: %+v, want estimated 7/2", u)
	}
}

// Arithmetic on model output is normal, and JavaScript's NaN and Infinity
// are its results: the output writes them as JSON.stringify does (null),
// so the result (every member's included) can always be written.
func TestOutputNonFinite(t *testing.T) {
	ens := parse(t, `
name: nan
flow:
  - member: a
    config: {provider: mock, mock: {reply: '{"price": "n/a", "n": 0}'}}
  - member: b
    input:
      doubled: ${a.output.price * 2}
    config: {provider: mock}
output:
  total: ${a.output.price * 2}
  ratio: ${1 / a.output.n}
  list: ${[a.output.price * 2, 1, -1 / a.output.n]}
  kept: ${input}
`)
	in := map[string]any{"x": 1.0}
	res, err := New(Options{}).Run(context.Background(), ens, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"total": nil, "ratio": nil, "list": []any{nil, 1.0, nil}, "kept": map[string]any{"x": 1.0}}
	if !reflect.DeepEqual(res.Output, want) {
		t.Errorf("output = %#v, want %#v", res.Output, want)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result cannot be written: %v", err)
	}
	if got := member(t, res, "b").Output; got != "doubled: null" {
		t.Errorf("b's prompt = %q, want the input as JSON.stringify writes it", got)
	}
}

// clean copies what it changes: a caller's input shared into the output
// is never written to.
func TestCleanCopies(t *testing.T) {
	shared := map[string]any{"u": math.NaN()}
	got := clean(map[string]any{"s": shared})
	if v := shared["u"].(float64); !math.IsNaN(v) {
		t.Errorf("the shared map was changed: %v", shared)
	}
	if want := map[string]any{"s": map[string]any{"u": nil}}; !reflect.DeepEqual(got, want) {
		t.Errorf("clean = %#v", got)
	}
}
