package ensemble

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/expr"
)

// problems parses src and returns its problems without the file name; nil
// when it loads.
func problems(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse("f.yaml", []byte(src))
	if err == nil {
		return nil
	}
	var l List
	if !errors.As(err, &l) {
		t.Fatalf("%T: %v", err, err)
	}
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = strings.TrimPrefix(p.String(), "f.yaml:")
	}
	return out
}

const weatherTool = `
    tools:
      - name: get_weather
        description: Weather for a city
        parameters:
          type: object
          properties:
            city: {type: string}
          required: [city]
`

func TestToolsProblems(t *testing.T) {
	cfg := head + "- member: a\n  config:\n    provider: mock\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"tools and a named choice", cfg + weatherTool + "    toolChoice: {name: get_weather}\n", nil},
		{"choice words", cfg + weatherTool + "    toolChoice: required\n", nil},
		{"choice expression", cfg + weatherTool + "    toolChoice: ${input.force ? 'required' : 'auto'}\n", nil},
		{"tools not a list", cfg + "    tools: {name: f}\n",
			[]string{`6:12: tools: expected a list of tools ({name, description, parameters}), got a map`}},
		{"tool without name", cfg + "    tools:\n      - description: x\n",
			[]string{`7:9: tools[0]: missing required key "name" (the function's name)`}},
		{"unknown tool key", cfg + "    tools:\n      - name: f\n        params: {type: object}\n",
			[]string{`8:9: unknown key "params" in tools[0] (expected one of: name, description, parameters, strict)`}},
		{"bad tool name", cfg + "    tools:\n      - name: get weather\n",
			[]string{`7:15: name: invalid tool name "get weather" (expected 1 to 64 letters, digits, _ and -)`}},
		{"duplicate tool", cfg + "    tools:\n      - name: f\n      - name: f\n",
			[]string{`8:15: duplicate tool name "f" (first at 7:15)`}},
		{"expressions in tools", cfg + "    tools:\n      - name: f\n        description: ${input.d}\n",
			[]string{`7:7: tools: expressions are not allowed in tools (they are sent as written)`}},
		{"parameters not an object schema", cfg + "    tools:\n      - name: f\n        parameters: {type: string}\n",
			[]string{`8:21: parameters: expected type object (a tool's arguments are an object), got a string ("string")`}},
		{"parameters without type", cfg + "    tools:\n      - name: f\n        parameters: {properties: {}}\n",
			[]string{`8:21: parameters: missing "type: object" (a tool's arguments are an object)`}},
		{"parameters not a schema", cfg + "    tools:\n      - name: f\n        parameters: {type: object, properties: {x: {type: strng}}}\n",
			[]string{`8:21: parameters: invalid schema: at '/properties/x/type': value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'; at '/properties/x/type': got string, want array`}},
		{"strict not a boolean", cfg + "    tools:\n      - name: f\n        strict: yes please\n",
			[]string{`8:17: strict: expected true or false, got a string ("yes please")`}},
		{"choice without tools", cfg + "    toolChoice: auto\n",
			[]string{`6:17: toolChoice: a tool choice needs tools (declare them under tools)`}},
		{"unknown choice", cfg + weatherTool + "    toolChoice: any\n",
			[]string{`15:17: toolChoice: unknown tool choice "any" (expected one of: auto, none, required) (or {name: <tool>})`}},
		{"unknown named tool", cfg + weatherTool + "    toolChoice: {name: get_wether}\n",
			[]string{`15:24: toolChoice.name: unknown tool "get_wether" (did you mean "get_weather"?)`}},
		{"choice key", cfg + weatherTool + "    toolChoice: {tool: get_weather}\n",
			[]string{`15:18: unknown key "tool" in toolChoice (expected one of: name)`}},
		{"choice not a word or a map", cfg + weatherTool + "    toolChoice: [auto]\n",
			[]string{`15:17: toolChoice: expected auto, none, required or {name: <tool>}, got a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problems(t, tc.src); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestResponseFormatProblems(t *testing.T) {
	cfg := head + "- member: a\n  config:\n    provider: mock\n    responseFormat:\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"json object", cfg + "      type: json_object\n", nil},
		{"json schema", cfg + "      type: json_schema\n      json_schema:\n        name: answer\n        strict: true\n        schema: {type: object, properties: {a: {type: string}}}\n", nil},
		{"expression inside", cfg + "      type: ${input.t}\n", nil},
		{"missing type", cfg + "      json_schema: {schema: {}}\n",
			[]string{`7:7: responseFormat: missing required key "type" (one of: text, json_object, json_schema)`}},
		{"unknown type", cfg + "      type: json\n",
			[]string{`7:13: responseFormat.type: unknown response format type "json" (expected one of: text, json_object, json_schema)`}},
		{"unknown key", cfg + "      type: json_schema\n      schema: {type: object}\n",
			[]string{`8:7: unknown key "schema" in responseFormat (expected one of: type, json_schema)`}},
		{"json_schema missing", cfg + "      type: json_schema\n",
			[]string{`7:7: responseFormat: type json_schema needs "json_schema: {name, schema}"`}},
		{"json_schema with another type", cfg + "      type: json_object\n      json_schema: {schema: {type: object}}\n",
			[]string{`8:20: responseFormat.json_schema: only with type json_schema (type is json_object)`}},
		{"schema missing", cfg + "      type: json_schema\n      json_schema: {name: a}\n",
			[]string{`8:20: responseFormat.json_schema: missing required key "schema" (the JSON Schema the answer must match)`}},
		{"json_schema key", cfg + "      type: json_schema\n      json_schema: {name: a, schema: {}, strikt: true}\n",
			[]string{`8:42: unknown key "strikt" in responseFormat.json_schema (did you mean "strict"?)`}},
		{"bad name", cfg + "      type: json_schema\n      json_schema: {name: my answer, schema: {}}\n",
			[]string{`8:27: responseFormat.json_schema.name: expected 1 to 64 letters, digits, _ and -, got a string ("my answer")`}},
		{"bad schema", cfg + "      type: json_schema\n      json_schema: {schema: {type: 3}}\n",
			[]string{`8:29: responseFormat.json_schema.schema: invalid schema: at '/type': value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'; at '/type': got number, want array`}},
		{"strict not a boolean", cfg + "      type: json_schema\n      json_schema: {schema: {}, strict: 1}\n",
			[]string{`8:41: responseFormat.json_schema.strict: expected true or false, got an integer (1)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problems(t, tc.src); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Literal values a model's rules refuse are reported at their keys.
func TestModelRuleProblems(t *testing.T) {
	member := func(cfg string) string { return head + "- member: a\n  config:\n" + cfg }
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"claude after opus 4.6", member("    provider: anthropic\n    model: claude-opus-4-7\n    temperature: 0.2\n    topP: 0.5\n"), []string{
			`7:18: temperature: 0.2 is not accepted by anthropic model claude-opus-4-7 (allowed: 1 only, or unset; models released after Claude Opus 4.6 fix sampling)`,
			`8:11: topP: 0.5 is not accepted by anthropic model claude-opus-4-7 (allowed: 0.99 to 1, or unset; models released after Claude Opus 4.6 fix sampling)`,
		}},
		{"anthropic temperature range", member("    provider: anthropic\n    model: claude-3-5-sonnet-20241022\n    temperature: 1.5\n"), []string{
			`7:18: temperature: 1.5 is not accepted by anthropic model claude-3-5-sonnet-20241022 (allowed: 0 to 1)`,
		}},
		{"the generic range speaks once", member("    provider: anthropic\n    model: claude-opus-4-7\n    temperature: 3\n"), []string{
			`7:18: temperature: expected a number between 0 and 2, got 3`,
		}},
		{"o3", member("    provider: openai\n    model: o3\n    temperature: 0\n    stop: END\n    systemPrompt: Be brief.\n"), []string{
			`7:18: temperature: 0 is not accepted by openai model o3 (allowed: 1 only, or unset; OpenAI reasoning models (o1, o3, o4, gpt-5) sample at the default only)`,
			`8:11: stop: ["END"] is not accepted by openai model o3 (allowed: none; o3 and o4-mini take no stop sequences)`,
		}},
		{"empty prompt", member("    provider: mock\n    prompt: \"  \"\n"), []string{
			`6:13: prompt: an empty user message is not accepted by mock model mock (allowed: text that is not only whitespace, an image or a tool result)`,
		}},
		{"judge config", head + "- member: a\n  config: {provider: mock}\n  scoring:\n    judge: {provider: openai, model: gpt-5, temperature: 0.5}\n", []string{
			`6:58: temperature: 0.5 is not accepted by openai model gpt-5 (allowed: 1 only, or unset; OpenAI reasoning models (o1, o3, o4, gpt-5) sample at the default only)`,
		}},
		{"expressions are checked when they run", member("    provider: anthropic\n    model: claude-opus-4-7\n    temperature: ${input.t}\n    prompt: ${input.q}\n"), nil},
		{"a model expression is checked when it runs", member("    provider: anthropic\n    model: ${input.m}\n    temperature: 0.2\n"), nil},
		{"allowed values", member("    provider: anthropic\n    model: claude-opus-4-7\n    temperature: 1\n    topP: 0.99\n    maxTokens: 100\n"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problems(t, tc.src); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestToolValues(t *testing.T) {
	src := head + "- member: a\n  config:\n    provider: mock\n" + weatherTool + `      - name: now
        strict: true
    toolChoice: ${input.choice}
    responseFormat: {type: json_schema, json_schema: {name: w, schema: {type: object}, strict: false}}
`
	e, err := Parse("v.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := e.Flow[0].Config
	yes := true
	want := []conductor.Tool{
		{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}`)},
		{Name: "now", Strict: &yes},
	}
	if !reflect.DeepEqual(c.Tools, want) {
		t.Errorf("tools = %+v", c.Tools)
	}
	if c.ToolsPos != (Pos{Line: 8, Col: 7}) {
		t.Errorf("tools pos = %+v", c.ToolsPos)
	}
	for _, tc := range []struct {
		in   any
		want *conductor.ToolChoice
		err  string
	}{
		{"required", &conductor.ToolChoice{Mode: conductor.ToolChoiceRequired}, ""},
		{map[string]any{"name": "now"}, &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: "now"}, ""},
		{nil, nil, ""},
		{"tool", nil, `unknown tool choice "tool"`},
		{map[string]any{"name": "later"}, nil, `name: unknown tool "later"`},
	} {
		v, err := c.ToolChoice.Eval(&expr.Vars{Input: map[string]any{"choice": tc.in}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ToolChoiceOf(v, c.Tools)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: choice = %+v, %v", tc.in, got, err)
		}
	}
	rv, _ := c.ResponseFormat.Eval(nil)
	rf, err := ResponseFormatOf(rv)
	no := false
	if err != nil || !reflect.DeepEqual(rf, &conductor.ResponseFormat{Type: "json_schema", Name: "w", Schema: json.RawMessage(`{"type":"object"}`), Strict: &no}) {
		t.Errorf("responseFormat = %+v, %v", rf, err)
	}
	if rf, err := ResponseFormatOf("json_object"); err != nil || rf.Type != "json_object" {
		t.Errorf("shorthand = %+v, %v", rf, err)
	}
}
