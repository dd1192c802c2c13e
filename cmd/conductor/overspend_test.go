package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conductor-go/conductor/dashboard"
)

// An answer that costs more than its budget reservation — here an
// upstream that ignores the output limit the gateway sent and reports
// 20,000 output tokens — is shown on serve's dashboard (issue 11 item 1:
// counted, alerted and shown), as /metrics counts it.
func TestServeShowsOverspend(t *testing.T) {
	answer, err := os.ReadFile(filepath.Join("testdata", "openai_chat_completion.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(answer, &doc); err != nil {
		t.Fatal(err)
	}
	doc["usage"].(map[string]any)["completion_tokens"] = 20_000
	doc["usage"].(map[string]any)["total_tokens"] = 20_019
	answer, _ = json.Marshal(doc)
	var capped atomic.Bool
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MaxTokens           *int `json:"max_tokens"`
			MaxCompletionTokens *int `json:"max_completion_tokens"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		capped.Store(req.MaxTokens != nil || req.MaxCompletionTokens != nil)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	t.Cleanup(fake.Close)
	t.Setenv("CONDUCTOR_TOKENS", "")
	t.Setenv("OPENAI_API_KEY", "sk-test-overspend")
	t.Setenv("OPENAI_BASE_URL", fake.URL+"/v1")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conductor.toml")
	// $1 per million tokens: the reservation (4,096 output tokens) is about
	// $0.0041, the answer $0.020019.
	if err := os.WriteFile(cfg, []byte(`
[[budget]]
name = "cap"
scope = "gateway"
daily_usd = 1.0

[[pricing.model]]
provider = "openai"
model = "gpt-4o-mini"
input = 1
output = 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _, _ := startServe(t, serveFlags{config: cfg, data: filepath.Join(dir, "data"), logLevel: "error", ensembles: dir})
	get := func(p string, v any) {
		t.Helper()
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", p, err, b)
		}
	}
	var over dashboard.OverspendStatus
	get("/api/overspend", &over)
	if over.Calls != 0 || over.USD != 0 {
		t.Fatalf("before any call: %+v", over)
	}

	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Write at length."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, b)
	}
	if !capped.Load() {
		t.Errorf("the upstream call carried no output limit")
	}
	// The settlement runs once the answer is read; wait for it, bounded.
	for deadline := time.Now().Add(10 * time.Second); ; {
		get("/api/overspend", &over)
		if over.Calls > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if over.Calls != 1 || len(over.Gateways) != 1 || over.Gateways[0].Gateway != "default" || over.Gateways[0].Calls != 1 {
		t.Fatalf("/api/overspend %+v, want one call of gateway default", over)
	}
	// Above the reservation: the answer's cost less a reservation of at
	// least 4,096 output tokens, and of less than $0.005.
	if lo, hi := 20_019e-6-0.005, (20_019-4_096)*1e-6; over.USD < lo || over.USD > hi || over.Gateways[0].USD != over.USD {
		t.Errorf("over reservation by $%v, want between $%v and $%v", over.USD, lo, hi)
	}
}
