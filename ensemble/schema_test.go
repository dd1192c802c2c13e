package ensemble

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("ensemble.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("ensemble.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// asJSON reads a YAML file the way the loader does (the page's unquoted
// ternaries included) and returns it as a JSON value for the validator.
func asJSON(t *testing.T, path string, data []byte) any {
	t.Helper()
	c := &collector{file: path}
	v := parseYAML(data, c)
	if err := c.err(); err != nil || v == nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := json.Marshal(plain(v))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Every example the product ships (examples/, once written) and every page
// flow validates against the schema.
func TestSchemaAcceptsExamples(t *testing.T) {
	s := compileSchema(t)
	files := pageFiles(t)
	more, _ := filepath.Glob("../examples/*.yaml")
	files = append(files, more...)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data := readFile(t, f)
			if err := s.Validate(asJSON(t, f, data)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		})
	}
}

// The schema refuses what the loader refuses for shape reasons.
func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	for _, tc := range []struct{ name, src string }{
		{"unknown key", head + "- member: a\n  config: {provider: mock, tempreature: 1}\n"},
		{"unknown provider", head + "- member: a\n  config: {provider: azure}\n"},
		{"unknown routing", head + "- member: a\n  config: {provider: mock, routing: gateway}\n"},
		{"string maxTokens", head + "- member: a\n  config: {provider: mock, maxTokens: lots}\n"},
		{"missing name", "flow:\n- member: a\n  config: {provider: mock}\n"},
		{"empty flow", "name: x\nflow: []\n"},
		{"missing config", head + "- member: a\n"},
		{"bad backoff", head + "- member: a\n  config: {provider: mock}\n  retry: {backoff: quadratic}\n"},
		{"bad onFailure", head + "- member: a\n  config: {provider: mock}\n  scoring: {onFailure: explode}\n"},
		{"threshold above 1", head + "- member: a\n  config: {provider: mock}\n  scoring: {thresholds: {minimum: 1.5}}\n"},
		{"two checks in one rule", head + "- member: a\n  config: {provider: mock}\n  scoring: {rules: [{minLength: 1, json: true}]}\n"},
		{"bad duration", head + "- member: a\n  config: {provider: mock}\n  cache: {ttl: soon}\n"},
		{"type", head + "- member: a\n  type: think\n  config: {provider: mock}\n"},
		{"tool without name", head + "- member: a\n  config: {provider: mock, tools: [{description: x}]}\n"},
		{"tool key", head + "- member: a\n  config: {provider: mock, tools: [{name: f, params: {}}]}\n"},
		{"tool choice", head + "- member: a\n  config: {provider: mock, tools: [{name: f}], toolChoice: any}\n"},
		{"tool choice key", head + "- member: a\n  config: {provider: mock, tools: [{name: f}], toolChoice: {tool: f}}\n"},
		{"response format type", head + "- member: a\n  config: {provider: mock, responseFormat: {type: json}}\n"},
		{"response format key", head + "- member: a\n  config: {provider: mock, responseFormat: {type: json_schema, schema: {}}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Validate(asJSON(t, tc.name, []byte(tc.src))); err == nil {
				t.Error("schema accepts it")
			}
			if _, err := Parse("x.yaml", []byte(tc.src)); err == nil {
				t.Error("loader accepts it")
			}
		})
	}
	// Templates are accepted where the loader accepts them.
	ok := head + "- member: a\n  condition: ${input.go}\n  config: {provider: \"${input.p}\", model: m, temperature: \"${input.t}\", maxTokens: \"${input.n}\"}\n"
	criteria := head + "- member: a\n  config: {provider: mock}\n  scoring: {criteria: be brief, judge: {provider: mock}}\n"
	tools := head + "- member: a\n  config:\n    provider: mock\n    tools: [{name: f, description: d, parameters: {type: object, properties: {x: {type: string}}}, strict: true}]\n" +
		"    toolChoice: {name: f}\n    responseFormat: {type: json_schema, json_schema: {name: r, schema: {type: object}, strict: true}}\n" +
		"- member: b\n  config: {provider: mock, tools: [{name: g}], toolChoice: \"${input.force ? 'required' : 'auto'}\", responseFormat: \"${input.rf}\"}\n"
	for _, src := range []string{ok, criteria, tools} {
		if err := s.Validate(asJSON(t, "ok", []byte(src))); err != nil {
			t.Errorf("schema refuses %q: %v", src, err)
		}
		if _, err := Parse("ok.yaml", []byte(src)); err != nil {
			t.Errorf("loader refuses %q: %v", src, err)
		}
	}
}

// The schema-only structs name exactly the keys the loader accepts.
func TestSchemaKeysMatchLoader(t *testing.T) {
	for _, tc := range []struct {
		typ  any
		keys []string
	}{
		{schemaEnsemble{}, ensembleKeys},
		{schemaStep{}, stepKeys},
		{schemaConfig{}, configKeys},
		{schemaMock{}, mockKeys},
		{schemaMockFail{}, mockFailKeys},
		{schemaScoring{}, scoringKeys},
		{schemaThresholds{}, thresholdKeys},
		{schemaRule{}, ruleKeys},
		{schemaRetry{}, retryKeys},
		{schemaCache{}, cacheKeys},
		{schemaTool{}, toolKeys},
	} {
		rt := reflect.TypeOf(tc.typ)
		var got []string
		for f := range rt.Fields() {
			got = append(got, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		if !slices.Equal(got, tc.keys) {
			t.Errorf("%s: schema keys %v, loader keys %v", rt.Name(), got, tc.keys)
		}
	}
}

func TestSchemaShape(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", m["$schema"])
	}
	for _, want := range []string{`"workers-ai"`, `"cloudflare-gateway"`, `"exponential"`, `"additionalProperties": false`, `"description"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("schema lacks %s", want)
		}
	}
}

// The schema accepts what validate accepts: a key written with no value
// (`retry:`, `scoring:`, `description:`) is valid to both.
func TestSchemaAcceptsEmptyKeys(t *testing.T) {
	s := compileSchema(t)
	for _, src := range []string{
		head + "- member: a\n  config: {provider: mock}\n  retry:\n  scoring:\n  cache:\n",
		head + "- member: a\n  config:\n    provider: mock\n    mock:\n",
		"name: x\ndescription:\noutput:\nflow:\n- member: a\n  condition:\n  input:\n  config:\n    provider: mock\n    prompt:\n    temperature:\n    mock: {reply:, fail: {message:}}\n" +
			"  scoring: {thresholds: {minimum:}, judge:, criteria:}\n  retry: {maxDelay:}\n  cache: {ttl:}\n",
		head + "- member: a\n  config:\n    provider: mock\n    tools:\n    - name: f\n      description:\n",
	} {
		if _, err := Parse("ok.yaml", []byte(src)); err != nil {
			t.Errorf("loader refuses %q: %v", src, err)
			continue
		}
		if err := s.Validate(asJSON(t, "ok", []byte(src))); err != nil {
			t.Errorf("schema refuses what validate accepts, %q: %v", src, err)
		}
	}
}

// The schema carries the numeric ranges validate enforces on literal
// values; an expression stays accepted.
func TestSchemaRanges(t *testing.T) {
	s := compileSchema(t)
	member := func(cfg string) string { return head + "- member: a\n  config: {provider: mock, " + cfg + "}\n" }
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{member("temperature: 2"), true},
		{member("temperature: 2.5"), false},
		{member("temperature: -0.1"), false},
		{member(`temperature: "${input.t}"`), true},
		{member("topP: 1"), true},
		{member("topP: 1.5"), false},
		{member("maxTokens: 1"), true},
		{member("maxTokens: 0"), false},
		{member("maxTokens: 3000000000"), false},
		{member(`maxTokens: "${input.n}"`), true},
		{head + "- member: a\n  config: {provider: mock}\n  scoring: {thresholds: {minimum: 0.5, target: 1}}\n", true},
		{head + "- member: a\n  config: {provider: mock}\n  scoring: {thresholds: {target: -1}}\n", false},
		{head + "- member: a\n  config: {provider: mock}\n  scoring: {retryLimit: 101}\n", false},
		{head + "- member: a\n  config: {provider: mock}\n  retry: {maxAttempts: 0}\n", false},
	} {
		_, perr := Parse("r.yaml", []byte(tc.src))
		serr := s.Validate(asJSON(t, "r", []byte(tc.src)))
		if (perr == nil) != tc.ok || (serr == nil) != tc.ok {
			t.Errorf("%q: loader %v, schema %v; want ok=%v", tc.src, perr, serr, tc.ok)
		}
	}
}
