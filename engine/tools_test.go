package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

const toolFlow = `
name: tools
flow:
  - member: extract
    config:
      provider: mock
      systemPrompt: Extract the city.
      prompt: "Weather in ${input.city ?? 'Paris'}?"
      tools:
        - name: get_weather
          description: Weather for a city
          parameters:
            type: object
            properties:
              city: {type: string}
              unit: {type: string, enum: [celsius, fahrenheit]}
            required: [city, unit]
      toolChoice: {name: get_weather}
      mock:
        reply: '{"city": "Paris"}'
    cache: {ttl: 60}
  - member: report
    config:
      provider: mock
      prompt: "${extract.toolCalls[0].name}: ${extract.toolCalls[0].arguments.city} in ${extract.toolCalls[0].arguments.unit}"
      mock: {echo: true}
output:
  city: ${extract.toolCalls[0].arguments.city}
  calls: ${extract.toolCalls.length}
  reportCalls: ${report.toolCalls.length}
  said: ${report.output}
`

func TestToolCallsReachExpressions(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	for run, wantCached := range []bool{false, true} {
		res, err := New(Options{Cache: store, Logger: quiet()}).Run(context.Background(), parse(t, toolFlow), nil)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		want := map[string]any{"city": "Paris", "calls": 1.0, "reportCalls": 0.0, "said": "get_weather: Paris in celsius"}
		if !reflect.DeepEqual(res.Output, want) {
			t.Errorf("run %d: output = %#v, want %#v", run, res.Output, want)
		}
		ex := member(t, res, "extract")
		// The step cache keeps the answer's blocks: a hit has the calls too.
		if ex.Cached != wantCached {
			t.Errorf("run %d: cached = %v, want %v", run, ex.Cached, wantCached)
		}
		wantCalls := []ToolCall{{ID: "call_mock_get_weather", Name: "get_weather", Arguments: map[string]any{"city": "Paris", "unit": "celsius"}}}
		if !reflect.DeepEqual(ex.ToolCalls, wantCalls) || ex.Output != "" || !ex.Success {
			t.Errorf("run %d: extract = %+v", run, ex)
		}
		// --json prints them.
		b, err := json.Marshal(res.Members)
		if err != nil {
			t.Fatal(err)
		}
		var members []map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			t.Fatal(err)
		}
		if got := string(members[0]["toolCalls"]); got != `[{"id":"call_mock_get_weather","name":"get_weather","arguments":{"city":"Paris","unit":"celsius"}}]` {
			t.Errorf("run %d: toolCalls JSON = %s", run, got)
		}
		if _, ok := members[1]["toolCalls"]; ok {
			t.Errorf("run %d: a member without calls prints toolCalls", run)
		}
	}
}

func TestToolCallArguments(t *testing.T) {
	content := []conductor.Block{
		conductor.TextBlock("Calling."),
		{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: "a", Name: "f", Arguments: `{"x": [1, "y"]}`}},
		{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: "b", Name: "g", Arguments: ""}},
		{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: "c", Name: "h", Arguments: `{"broken": `}},
	}
	want := []ToolCall{
		{ID: "a", Name: "f", Arguments: map[string]any{"x": []any{1.0, "y"}}},
		{ID: "b", Name: "g", Arguments: map[string]any{}},
		{ID: "c", Name: "h", Arguments: `{"broken": `},
	}
	if got := toolCalls(content); !reflect.DeepEqual(got, want) {
		t.Errorf("toolCalls = %#v", got)
	}
	if a := answerOf(content); a.text != "Calling." || a.output != "Calling." {
		t.Errorf("answer = %+v", a)
	}
}

func TestToolsReachTheRequest(t *testing.T) {
	ens := parse(t, `
name: req
flow:
  - member: m
    config:
      provider: openai
      model: gpt-4o
      prompt: hi
      tools:
        - {name: f, description: does f, parameters: {type: object, properties: {a: {type: integer}}}, strict: true}
        - {name: g}
      toolChoice: ${input.choice}
      responseFormat:
        type: json_schema
        json_schema: {name: out, schema: {type: object, required: [a]}, strict: true}
`)
	yes := true
	for _, tc := range []struct {
		choice any
		want   *conductor.ToolChoice
	}{
		{"required", &conductor.ToolChoice{Mode: conductor.ToolChoiceRequired}},
		{map[string]any{"name": "g"}, &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: "g"}},
		{nil, nil},
	} {
		p := &scripted{name: "openai"}
		if _, err := New(Options{Resolver: newResolver(p)}).Run(context.Background(), ens, map[string]any{"choice": tc.choice}); err != nil {
			t.Fatal(err)
		}
		r := p.requests()[0]
		wantTools := []conductor.Tool{
			{Name: "f", Description: "does f", Parameters: json.RawMessage(`{"properties":{"a":{"type":"integer"}},"type":"object"}`), Strict: &yes},
			{Name: "g"},
		}
		if !reflect.DeepEqual(r.Tools, wantTools) || !reflect.DeepEqual(r.ToolChoice, tc.want) {
			t.Errorf("choice %v: tools %+v choice %+v", tc.choice, r.Tools, r.ToolChoice)
		}
		wantRF := &conductor.ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"required":["a"],"type":"object"}`), Strict: &yes}
		if !reflect.DeepEqual(r.ResponseFormat, wantRF) {
			t.Errorf("responseFormat = %+v", r.ResponseFormat)
		}
	}
}

// Values computed by ${...} are checked when the member runs: a run error
// naming the config key, and no call.
func TestComputedValuesAreChecked(t *testing.T) {
	tests := []struct {
		name, config string
		input        any
		want         string
	}{
		{"temperature on a newer claude", `{provider: anthropic, model: claude-opus-4-7, prompt: hi, temperature: "${input.t}"}`, map[string]any{"t": 0.2},
			"bad_request: temperature: 0.2 is not accepted by anthropic model claude-opus-4-7 (allowed: 1 only, or unset; models released after Claude Opus 4.6 fix sampling)"},
		{"model from input", `{provider: openai, model: "${input.m}", prompt: hi, temperature: 0.5, stop: END}`, map[string]any{"m": "o4-mini"},
			"bad_request: temperature: 0.5 is not accepted by openai model o4-mini"},
		{"topP of o3", `{provider: openai, model: o3, prompt: hi, topP: "${input.p}"}`, map[string]any{"p": 0.5},
			"bad_request: topP: 0.5 is not accepted by openai model o3"},
		{"empty prompt", `{provider: openai, model: gpt-4o, prompt: "${input.q}"}`, map[string]any{"q": " "},
			"bad_request: prompt: an empty user message is not accepted by openai model gpt-4o (allowed: text that is not only whitespace, an image or a tool result)"},
		{"empty input", `{provider: anthropic, model: claude-sonnet-4-5}`, nil,
			"bad_request: input: an empty user message is not accepted by anthropic model claude-sonnet-4-5"},
		{"empty input message", `{provider: openai, model: gpt-4o}`, map[string]any{"messages": []any{map[string]any{"role": "user", "content": ""}}},
			"bad_request: input: an empty user message is not accepted by openai model gpt-4o"},
		{"tool choice", `{provider: openai, model: gpt-4o, prompt: hi, tools: [{name: f}], toolChoice: "${input.c}"}`, map[string]any{"c": "any"},
			`toolChoice: unknown tool choice "any" (expected one of: auto, none, required) (or {name: <tool>})`},
		{"named tool", `{provider: openai, model: gpt-4o, prompt: hi, tools: [{name: f}], toolChoice: {name: "${input.c}"}}`, map[string]any{"c": "g"},
			`toolChoice.name: unknown tool "g" (did you mean "f"?)`},
		{"response format", `{provider: openai, model: gpt-4o, prompt: hi, responseFormat: "${input.rf}"}`, map[string]any{"rf": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x"}}},
			`responseFormat.json_schema: missing required key "schema" (the JSON Schema the answer must match)`},
		{"response format key", `{provider: openai, model: gpt-4o, prompt: hi, responseFormat: "${input.rf}"}`, map[string]any{"rf": map[string]any{"type": "text", "strict": true}},
			`unknown key "strict" in responseFormat (expected one of: type, json_schema)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: computed\nflow:\n  - member: m\n    config: " + tc.config + "\n    retry: {maxAttempts: 3, onFailure: continue}\n"
			p, a := &scripted{name: "openai"}, &scripted{name: "anthropic"}
			res, err := New(Options{Resolver: newResolver(p, a), Logger: quiet()}).Run(context.Background(), parse(t, src), tc.input)
			if err != nil {
				t.Fatal(err)
			}
			m := member(t, res, "m")
			if m.Success || m.Error == nil || !strings.Contains(m.Error.Message, tc.want) {
				t.Fatalf("member = %+v, want an error holding %q", m.Error, tc.want)
			}
			if n := len(p.requests()) + len(a.requests()); n != 0 || m.Attempts != 0 {
				t.Errorf("%d requests sent, %d attempts", n, m.Attempts)
			}
		})
	}
	// The refusal keeps its class for whoever reads the error.
	src := "name: c\nflow:\n  - member: m\n    config: {provider: anthropic, model: claude-opus-4-7, prompt: hi, topP: \"${input.p}\"}\n"
	_, err := New(Options{Resolver: newResolver(&scripted{name: "anthropic"})}).Run(context.Background(), parse(t, src), map[string]any{"p": 0.5})
	var ce *conductor.Error
	if !errors.As(err, &ce) || ce.Class != conductor.ClassBadRequest || ce.Code != "unsupported_value" {
		t.Errorf("err = %#v", err)
	}
}

// A reasoning model gets its system prompt as a developer message, and a
// judge on one is not sent the temperature 0 it would refuse.
func TestReasoningModels(t *testing.T) {
	ens := parse(t, `
name: reason
flow:
  - member: m
    config: {provider: openai, model: o3, systemPrompt: Be brief., prompt: hi}
    scoring:
      criteria: [short]
      judge: {provider: openai, model: o4-mini}
  - member: n
    config: {provider: openai, model: gpt-4o, systemPrompt: Be brief., prompt: hi}
    scoring:
      criteria: [short]
`)
	p := &scripted{name: "openai", replies: []string{"ok", `{"score": 1}`}}
	if _, err := New(Options{Resolver: newResolver(p)}).Run(context.Background(), ens, nil); err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].Messages[0].Role != "developer" || reqs[2].Messages[0].Role != "system" {
		t.Errorf("roles = %s, %s", reqs[0].Messages[0].Role, reqs[2].Messages[0].Role)
	}
	if j := reqs[1]; j.Model != "o4-mini" || j.Temperature != nil {
		t.Errorf("o4-mini judge: temperature %v", j.Temperature)
	}
	// The judge reads the developer message as the member's instructions.
	var judged strings.Builder
	for _, m := range reqs[1].Messages {
		judged.WriteString(m.Text())
	}
	if !strings.Contains(judged.String(), "(instructions) Be brief.") {
		t.Errorf("judge messages = %q", judged.String())
	}
	if j := reqs[3]; j.Model != "gpt-4o" || j.Temperature == nil || *j.Temperature != 0 {
		t.Errorf("gpt-4o judge: temperature %v", j.Temperature)
	}
}

// Entries written before the cache held blocks (their text alone) still
// answer.
func TestCacheReadsTextEntries(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	defer store.Close()
	ens := parse(t, "name: old\nflow:\n  - member: m\n    config: {provider: openai, model: gpt-4o, routing: direct, prompt: hi}\n    cache: {ttl: 60}\n")
	p := &scripted{name: "openai", replies: []string{`{"fresh": true}`}}
	eng := New(Options{Resolver: newResolver(p), Cache: store})
	if _, err := eng.Run(context.Background(), ens, nil); err != nil {
		t.Fatal(err)
	}
	key := CacheKey("old", p.requests()[0], "direct", nil)
	now := time.Now()
	old := conductor.CacheEntry{Key: key, Scope: CacheScope, Provider: "openai", Model: "gpt-4o",
		Value:     []byte(`{"content":"{\"old\": 1}","model":"gpt-4o","finishReason":"stop","usage":{"inputTokens":3,"outputTokens":2}}`),
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := store.PutCache(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), ens, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := member(t, res, "m")
	if !m.Cached || !reflect.DeepEqual(m.Output, map[string]any{"old": 1.0}) || m.ToolCalls != nil || len(p.requests()) != 1 {
		t.Errorf("member = %+v", m)
	}
}
