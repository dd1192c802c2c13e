package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/engine"
)

// cli runs the command line in-process and returns its exit status and
// output.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const quickstart = "../../examples/quickstart.yaml"

func TestRunQuickstart(t *testing.T) {
	data := t.TempDir()
	code, out, errs := cli(t, "", "run", quickstart, "--data", data, "--trace")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if got["escalated"] != true || got["usedFallback"] != true || got["auditFromCache"] != true || got["intent"] != "question" {
		t.Errorf("output = %v", got)
	}
	for _, want := range []string{"MEMBER", "STATUS", "ROUTE", "PROVIDER/MODEL", "CACHE", "ATTEMPTS", "TOKENS", "COST", "MS",
		"mock/mock-small (test provider)", "hit", "0.55 low", "quickstart succeeded"} {
		if !strings.Contains(errs, want) {
			t.Errorf("trace lacks %q:\n%s", want, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(data, dbName)); err != nil {
		t.Errorf("no step cache file: %v", err)
	}
}

func TestRunJSON(t *testing.T) {
	code, out, errs := cli(t, "", "run", quickstart, "--data", t.TempDir(), "--json", "--input", `{"question": "Why is the sea salty?"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Ensemble string `json:"ensemble"`
		Success  bool   `json:"success"`
		Output   map[string]any
		Members  []struct {
			Member   string `json:"member"`
			Status   string `json:"status"`
			Cached   bool   `json:"cached"`
			Attempts int    `json:"attempts"`
			Scoring  struct {
				Score  *float64 `json:"score"`
				Passed bool     `json:"passed"`
			} `json:"scoring"`
			Error *struct {
				Message  string `json:"message"`
				Status   int    `json:"status"`
				Provider string `json:"provider"`
			} `json:"error"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Ensemble != "quickstart" || !res.Success || len(res.Members) != 6 {
		t.Fatalf("result = %+v", res)
	}
	s := res.Members[3]
	if s.Member != "summarize" || s.Status != "failed" || s.Attempts != 2 || s.Error == nil || s.Error.Status != 503 || s.Error.Provider != "mock" {
		t.Errorf("summarize = %+v", s)
	}
	if q := res.Members[1]; q.Scoring.Score == nil || *q.Scoring.Score != 0.55 || q.Scoring.Passed {
		t.Errorf("quick-answer scoring = %+v", q.Scoring)
	}
}

func TestRunInput(t *testing.T) {
	flow := writeFile(t, "echo.yaml", `
name: echo
flow:
  - member: say
    config:
      provider: mock
      prompt: "${input.who ?? input}"
`)
	inFile := writeFile(t, "in.json", `{"who": "file"}`)
	badFile := writeFile(t, "bad.json", "{\n  \"who\": \"file\",\n  \"age\": ,\n}\n")
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string
		err   string
	}{
		{"json object", "", []string{"--input", `{"who": "Ann"}`}, 0, "Ann\n", ""},
		{"json string", "", []string{"--input", `"plain"`}, 0, "plain\n", ""},
		{"from a file", "", []string{"--input", "@" + inFile}, 0, "file\n", ""},
		{"from stdin", `{"who": "stdin"}`, []string{"--input", "@-"}, 0, "stdin\n", ""},
		{"not json", "", []string{"--input", "hello"}, 2, "", "not valid JSON"},
		{"missing file", "", []string{"--input", "@/nonexistent/in.json"}, 2, "", "no file"},
		// The reproduction: where the JSON is broken, as line:col.
		{"bad json in a file", "", []string{"--input", "@" + badFile}, 2, "", badFile + ":3:10: invalid character ','"},
		{"bad json inline", "", []string{"--input", `{"who": }`}, 2, "", "--input: 1:9: invalid character '}'"},
		{"bad json on stdin", "{\n\"who\"\n", []string{"--input", "@-"}, 2, "", "--input: <stdin>:3:1: unexpected end of JSON input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, tc.stdin, append([]string{"run", flow, "--data", t.TempDir()}, tc.args...)...)
			if code != tc.code || out != tc.out || !strings.Contains(errs, tc.err) {
				t.Errorf("exit %d out %q err %q; want %d %q %q", code, out, errs, tc.code, tc.out, tc.err)
			}
		})
	}
}

func TestRunFailures(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "name: bad\nflow:\n  - member: a\n    config:\n      provider: mock\n      temprature: 1\n")
	aborts := writeFile(t, "aborts.yaml", `
name: aborts
flow:
  - member: first
    config: {provider: mock, prompt: hi, mock: {fail: {status: 401, times: -1, message: "invalid key"}}}
  - member: second
    config: {provider: mock, prompt: hi}
`)
	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  []string
	}{
		{"invalid ensemble", []string{"run", bad}, 2, "", []string{bad + ":6:7:", "temprature", "temperature"}},
		// The reproduction: the file and what is wrong, as validate
		// says it, not "invalid input: load ensemble: open …".
		{"missing file", []string{"run", "/nonexistent/flow.yaml"}, 2, "", []string{"/nonexistent/flow.yaml: cannot read the ensemble file: no such file or directory\n"}},
		{"flow aborts", []string{"run", aborts}, 1, "", []string{"member first", "invalid key"}},
		{"flow aborts, json still printed", []string{"run", aborts, "--json"}, 1, `"status": "not_run"`, []string{"member first"}},
		{"flow aborts, trace still printed", []string{"run", aborts, "--trace"}, 1, "", []string{"first", "failed", "aborts failed"}},
		{"no file", []string{"run"}, 2, "", []string{"accepts 1 arg"}},
		{"two files", []string{"run", "a", "b"}, 2, "", []string{"accepts 1 arg"}},
		{"unknown flag", []string{"run", aborts, "--nope"}, 2, "", []string{"unknown flag: --nope"}},
		{"unknown command", []string{"launch"}, 2, "", []string{`unknown command "launch"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", append(tc.args, "--data", t.TempDir())...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, errs)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout %q lacks %q", out, tc.out)
			}
			for _, w := range tc.err {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
				t.Errorf("stderr has a stack trace:\n%s", errs)
			}
		})
	}
}

func TestRunPrintsOutput(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  string
	}{
		{"string as is", "hello world", "hello world\n"},
		{"json indented", `{"b": 1, "a": [true]}`, "{\n  \"a\": [\n    true\n  ],\n  \"b\": 1\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flow := writeFile(t, "f.yaml", "name: f\nflow:\n  - member: m\n    config:\n      provider: mock\n      prompt: hi\n      mock:\n        reply: '"+tc.reply+"'\n")
			code, out, errs := cli(t, "", "run", flow)
			if code != 0 || out != tc.want {
				t.Errorf("exit %d out %q (err %s), want %q", code, out, errs, tc.want)
			}
		})
	}
}

func TestRunNoCacheNoDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	flow := writeFile(t, "f.yaml", "name: f\nflow:\n  - member: m\n    config: {provider: mock, prompt: hi}\n")
	if code, _, errs := cli(t, "", "run", flow, "--data", data); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data directory created for a flow without cache: %v", err)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "conductor ") || !strings.Contains(out, "go1.") {
		t.Errorf("exit %d out %q", code, out)
	}
	if code, _, _ := cli(t, "", "version", "extra"); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := cli(t, "", "--help")
	for _, want := range []string{"run", "validate", "schema", "version"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestRunAgainstProviderFake runs a page flow through the real router and
// OpenAI adapter against an HTTP fake answering OpenAI's documented
// payload, with prices from the config's [pricing] table.
func TestRunAgainstProviderFake(t *testing.T) {
	body, err := os.ReadFile("testdata/openai_chat_completion.json")
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, `{"error":{"message":"unexpected request","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer fake.Close()
	t.Setenv("OPENAI_API_KEY", "sk-test")
	cfgFile := writeFile(t, "conductor.toml", `
[providers.openai]
base_url = "`+fake.URL+`/v1"

[[pricing.model]]
provider = "openai"
model = "o1-preview"
input = 1000
output = 2000
`)
	code, out, errs := cli(t, "", "run", "../../examples/test-new-model.yaml", "--config", cfgFile, "--json", "--input", `"Hello"`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Output  string  `json:"output"`
		Cost    float64 `json:"cost"`
		Members []struct {
			Routing string `json:"routing"`
			Usage   struct {
				InputTokens  int `json:"inputTokens"`
				OutputTokens int `json:"outputTokens"`
			} `json:"usage"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Output != "Hello! How can I assist you today?" || res.Members[0].Routing != "direct" || calls != 1 {
		t.Errorf("result = %+v, %d calls", res, calls)
	}
	if u := res.Members[0].Usage; u.InputTokens != 19 || u.OutputTokens != 10 {
		t.Errorf("usage = %+v", u)
	}
	// 19 tokens at $1000/1M plus 10 at $2000/1M.
	if want := 19*1000e-6 + 10*2000e-6; res.Cost < want*0.999 || res.Cost > want*1.001 {
		t.Errorf("cost = %v, want %v", res.Cost, want)
	}
}

func TestRunMissingKeyIsAConfigError(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "")
	os.Unsetenv("OPENAI_API_KEY")
	code, _, errs := cli(t, "", "run", "../../examples/test-new-model.yaml")
	if code != 2 || !strings.Contains(errs, "OPENAI_API_KEY") || !strings.Contains(errs, "member try-o1") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestRunBadConfig(t *testing.T) {
	cfgFile := writeFile(t, "conductor.toml", "[providers.openai]\nbase_ur = 1\n")
	code, _, errs := cli(t, "", "run", quickstart, "--config", cfgFile)
	// file:line:col first on the line, as editors want it.
	if want := cfgFile + `:2:1: unknown key "base_ur" in [providers.openai]`; code != 2 || !strings.HasPrefix(errs, want) {
		t.Errorf("exit %d: %s\nwant prefix %s", code, errs, want)
	}
	if code, _, errs := cli(t, "", "run", quickstart, "--config", "/nonexistent/conductor.toml"); code != 2 {
		t.Errorf("missing config: exit %d: %s", code, errs)
	}
}

// A static route that cannot be served stops the run before any member
// runs, with the position of the member's routing (or provider) and the
// variable to set (a failure at run time would print "conductor: ensemble
// x: member b: ..." without a position, so the prefix proves the order).
func TestRunChecksStaticRoutesFirst(t *testing.T) {
	for _, v := range []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	data := t.TempDir()
	tests := []struct {
		name, yaml string
		want       []string // stderr lines, in order
	}{
		{"later member's key", "name: x\nflow:\n  - member: a\n    config:\n      provider: mock\n    cache: {ttl: 60}\n" +
			"  - member: b\n    config:\n      provider: anthropic\n      model: claude-3-5-sonnet-20241022\n      routing: direct\n",
			[]string{":11:16: member b: anthropic: config: routing direct needs ANTHROPIC_API_KEY"}},
		{"default routing at the provider", "name: x\nflow:\n  - member: a\n    config:\n      provider: workers-ai\n",
			[]string{":5:17: member a: workers-ai: config: routing cloudflare needs CLOUDFLARE_ACCOUNT_ID"}},
		{"judge's own route", "name: x\nflow:\n  - member: a\n    config:\n      provider: mock\n    scoring:\n      judge:\n        provider: openai\n        model: gpt-4o\n        routing: direct\n",
			[]string{":10:18: member a (judge): openai: config: routing direct needs OPENAI_API_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "flow.yaml", tt.yaml)
			code, out, errs := cli(t, "", "run", file, "--data", data)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("stderr:\n%s", errs)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], file+w) {
					t.Errorf("line %d = %q, want prefix %q", i, lines[i], file+w)
				}
			}
		})
	}
}

// --trace marks token counts the adapter estimated locally with "~".
func TestTraceMarksEstimatedTokens(t *testing.T) {
	res := &engine.Result{Ensemble: "est", Success: true, Members: []engine.MemberResult{
		{Member: "exact", Status: engine.StatusSucceeded, Provider: "openai", Model: "gpt-4o", Routing: "direct", Attempts: 1,
			Usage: engine.Usage{InputTokens: 10, OutputTokens: 3}},
		{Member: "counted", Status: engine.StatusSucceeded, Provider: "local", Model: "llama3", Routing: "direct", Attempts: 1,
			Usage: engine.Usage{InputTokens: 7, OutputTokens: 2, Estimated: true}},
	}}
	var b bytes.Buffer
	writeTrace(&b, res)
	lines := strings.Split(b.String(), "\n")
	if len(lines) < 3 || !strings.Contains(lines[1], " 10/3 ") || !strings.Contains(lines[2], " ~7/2 ") {
		t.Errorf("trace:\n%s", b.String())
	}
}

// The reproduction: arithmetic on a model's "n/a" is NaN, which
// the output writes as null (JSON.stringify's rule), exit 0, and --json
// keeps every member's result.
func TestRunNaNOutput(t *testing.T) {
	flow := writeFile(t, "nan.yaml", `name: nan
flow:
  - member: a
    config:
      provider: mock
      mock:
        reply: '{"price": "n/a"}'
      prompt: price?
output:
  total: ${a.output.price * 2}
`)
	code, out, errs := cli(t, "", "run", flow)
	if code != 0 || strings.TrimSpace(out) != "{\n  \"total\": null\n}" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errs)
	}
	code, out, errs = cli(t, "", "run", flow, "--json")
	var res engine.Result
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errs)
	}
	if len(res.Members) != 1 || res.Members[0].Status != engine.StatusSucceeded || !res.Success {
		t.Errorf("result = %+v", res)
	}
}

// onFailure retry whose every try stays under minimum: the run goes on
// and exits 0, as documented, and --trace and --json say the member did
// not pass.
func TestRunRetryBelowMinimum(t *testing.T) {
	flow := writeFile(t, "retry.yaml", `name: retry-low
flow:
  - member: draft
    config:
      provider: mock
      prompt: Write a haiku.
      mock:
        reply: meh
        score: 0.4
    scoring:
      thresholds:
        minimum: 0.8
      onFailure: retry
      retryLimit: 2
`)
	code, out, errs := cli(t, "", "run", flow, "--json", "--trace")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res engine.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	m := res.Members[0]
	if m.Status != "below_minimum" || !m.Success || m.Scoring.Passed || m.Attempts != 3 {
		t.Errorf("member = %+v", m)
	}
	for _, want := range []string{"below_minimum", "0.40 low", "retry-low succeeded (below minimum score: draft)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("trace lacks %q:\n%s", want, errs)
		}
	}
}

// The reproduction: a provider or routing an expression chose that
// cannot be served exits 2, like every configuration error, found before
// the run or during it.
func TestRunTimeConfigErrorsExit2(t *testing.T) {
	flow := writeFile(t, "chosen.yaml", `name: chosen
flow:
  - member: m
    config:
      provider: ${input.p}
      model: ${input.m}
      routing: ${input.r}
      maxTokens: ${input.n}
      prompt: hi
`)
	tests := []struct {
		name, input, want string
	}{
		{"unknown provider", `{"p": "opneai", "m": "x", "r": "direct"}`, `unknown provider "opneai"`},
		{"invalid routing", `{"p": "mock", "m": "x", "r": "edge"}`, `unknown routing "edge"`},
		{"bad parameter", `{"p": "mock", "m": "x", "r": "direct", "n": 0}`, "maxTokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := cli(t, "", "run", flow, "--input", tc.input)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, want 2: %s", code, errs)
			}
		})
	}
}
