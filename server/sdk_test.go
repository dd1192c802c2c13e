package server

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/gateway"
)

// TestOfficialSDKs runs the official openai and @anthropic-ai/sdk npm
// packages, installed from the npm registry by `npm ci` with the committed
// lock file, unmodified, against the server with fake upstreams behind it:
// chat, streaming, translation, typed errors, Cloudflare's paths.
//
// Without node it is skipped, unless CI is set: then it fails, so that CI
// never passes without having run it.
func TestOfficialSDKs(t *testing.T) {
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("-short: the SDK test installs npm packages")
	}
	node, npm := tool(t, "node"), tool(t, "npm")
	dir := filepath.Join("testdata", "sdk")
	installSDKs(t, npm, dir)

	ts := newTestServer(t, serverSetup{
		gateways: []gateway.Config{{ID: "my-gateway"}},
		opts: func(o *Options) {
			o.Tokens = []Token{{Name: "sdk", Value: "tok-sdk-secret"}}
			o.Models = map[string][]string{"fast-chat": {"openai/gpt-4o-mini"}}
		},
	})
	// sent reports whether some call to the upstream of kind carried all of
	// parts: what a translated request must have become.
	sent := func(kind string, parts ...string) bool {
		for _, c := range ts.fakes.recorded() {
			if c.Kind != kind {
				continue
			}
			all := true
			for _, p := range parts {
				all = all && strings.Contains(string(c.Body), p)
			}
			if all {
				return true
			}
		}
		return false
	}
	run := func(script string) map[string]map[string]any {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CONDUCTOR_URL="+ts.url, "CONDUCTOR_TOKEN=tok-sdk-secret")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("node %s: %v\n%s\n%s", script, err, out, stderr)
		}
		var res map[string]map[string]any
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("node %s printed %s: %v", script, out, err)
		}
		return res
	}

	t.Run("openai", func(t *testing.T) {
		r := run("openai.mjs")
		expect(t, r, "chat", map[string]any{"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "content": "Hello! How can I assist you today?", "finish": "stop", "total": 29.0})
		expect(t, r, "translated", map[string]any{"content": "Hi! My name is Claude.", "finish": "stop", "total": 2598.0})
		expect(t, r, "stream", map[string]any{"text": "Hello there!", "finish": "stop", "usage": 12.0})
		expect(t, r, "translatedStream", map[string]any{"text": "Hello!", "finish": "stop", "usage": 40.0})
		expect(t, r, "error429", map[string]any{"thrown": true, "rateLimit": true, "status": 429.0})
		expect(t, r, "error400", map[string]any{"thrown": true, "badRequest": true, "status": 400.0})
		expect(t, r, "streamError", map[string]any{"thrown": true, "apiError": true})
		expect(t, r, "unauthorized", map[string]any{"thrown": true, "name": "AuthenticationError", "status": 401.0})
		expect(t, r, "cloudflare", map[string]any{"content": "Hello! How can I assist you today?"})

		turns := map[string]any{"calls": 1.0, "name": "get_weather", "city": "Paris", "idOk": true,
			"finish1": "tool_calls", "answer": "It is 18°C and clear in Paris.", "finish2": "stop"}
		for _, name := range []string{"tools", "toolsStream", "translatedTools", "translatedToolsStream"} {
			expect(t, r, name, turns)
		}
		// The second turn reached Anthropic as a tool_use / tool_result pair.
		if !sent("anthropic", `"type":"tool_result"`, `"tool_use_id":"toolu_01B"`, `"type":"tool_use"`, `"input_schema"`) {
			t.Error("no translated tool_result turn reached Anthropic")
		}
		expect(t, r, "image", map[string]any{"content": "Hello! How can I assist you today?", "finish": "stop"})
		expect(t, r, "translatedImage", map[string]any{"content": "Hi! My name is Claude.", "finish": "stop"})
		if !sent("anthropic", `"media_type":"image/png"`, `"data":"iVBORw0KGgo="`, `"url":"https://example.com/cat.png"`) {
			t.Error("the images did not reach Anthropic as image blocks")
		}
		expect(t, r, "structured", map[string]any{"temp": 18.0, "finish": "stop"})
		expect(t, r, "translatedStructured", map[string]any{"temp": 18.0, "finish": "stop"})
		if !sent("anthropic", `"output_config"`, `"json_schema"`, `"temp_c"`) {
			t.Error("response_format did not reach Anthropic as output_config.format")
		}
		expect(t, r, "refusedField", map[string]any{"thrown": true, "badRequest": true, "status": 400.0})
		if msg, _ := r["refusedField"]["message"].(string); !strings.Contains(msg, "n") || !strings.Contains(msg, "anthropic") {
			t.Errorf("refusal %q does not name the field and the target", msg)
		}
		expect(t, r, "models", map[string]any{"hasAlias": true, "hasOpenAI": true, "object": "model"})
		expect(t, r, "embeddings", map[string]any{"count": 2.0, "dimsOk": true, "same": true, "tokensOk": true})
	})
	t.Run("anthropic", func(t *testing.T) {
		r := run("anthropic.mjs")
		expect(t, r, "message", map[string]any{"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "text": "Hi! My name is Claude.", "stop": "end_turn", "input": 2095.0, "output": 503.0})
		expect(t, r, "translated", map[string]any{"text": "Hello! How can I assist you today?", "stop": "end_turn", "input": 19.0, "output": 10.0})
		expect(t, r, "stream", map[string]any{"deltas": "Hello!", "text": "Hello!", "stop": "end_turn", "output": 15.0})
		expect(t, r, "translatedStream", map[string]any{"deltas": "Hello there!", "text": "Hello there!", "stop": "end_turn", "output": 3.0})
		expect(t, r, "error429", map[string]any{"thrown": true, "rateLimit": true, "status": 429.0})
		expect(t, r, "error400", map[string]any{"thrown": true, "badRequest": true, "status": 400.0})
		expect(t, r, "streamError", map[string]any{"thrown": true, "apiError": true})
		expect(t, r, "cloudflare", map[string]any{"text": "Hi! My name is Claude."})

		turns := map[string]any{"uses": 1.0, "name": "get_weather", "city": "Paris", "idOk": true,
			"stop1": "tool_use", "answer": "It is 18°C and clear in Paris.", "stop2": "end_turn"}
		for _, name := range []string{"tools", "toolsStream", "translatedTools", "translatedToolsStream"} {
			expect(t, r, name, turns)
		}
		if !sent("openai", `"role":"tool"`, `"tool_call_id":"call_A"`, `"tool_calls"`, `"parameters"`) {
			t.Error("no translated tool turn reached OpenAI")
		}
		expect(t, r, "image", map[string]any{"text": "Hi! My name is Claude.", "stop": "end_turn"})
		expect(t, r, "translatedImage", map[string]any{"text": "Hello! How can I assist you today?", "stop": "end_turn"})
		if !sent("openai", `"url":"data:image/png;base64,iVBORw0KGgo="`, `"url":"https://example.com/cat.png"`) {
			t.Error("the images did not reach OpenAI as image_url parts")
		}
		expect(t, r, "structured", map[string]any{"temp": 18.0, "stop": "end_turn"})
		expect(t, r, "translatedStructured", map[string]any{"temp": 18.0, "stop": "end_turn"})
		if !sent("openai", `"response_format"`, `"json_schema"`, `"temp_c"`) {
			t.Error("output_config.format did not reach OpenAI as response_format")
		}
		expect(t, r, "refusedField", map[string]any{"thrown": true, "badRequest": true, "status": 400.0})
		if msg, _ := r["refusedField"]["message"].(string); !strings.Contains(msg, "top_k") {
			t.Errorf("refusal %q does not name the field", msg)
		}
	})
}

// expect checks the fields want of result case name.
func expect(t *testing.T, r map[string]map[string]any, name string, want map[string]any) {
	t.Helper()
	got, ok := r[name]
	if !ok {
		t.Errorf("%s: no result", name)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s.%s = %v, want %v (all: %v)", name, k, got[k], v, got)
		}
	}
}

// tool finds a program the SDK test needs: skipped without it, failed
// without it in CI.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %s is not installed: the official SDK test cannot run (install Node.js 20+)", name)
		}
		t.Skipf("%s not installed; the official SDK test needs Node.js (it fails instead when CI is set)", name)
	}
	return p
}

// installSDKs installs the pinned packages from the npm registry when they
// are not there yet (npm ci replaces node_modules, so it runs only then).
func installSDKs(t *testing.T, npm, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefix", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
		t.Skipf("npm ci in %s failed (no registry access?): %v\n%s", dir, err, out)
	}
}
