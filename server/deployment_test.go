package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
)

// deployFake is one OpenAI-compatible deployment: it counts calls and
// answers with the documented chat completion, or with answer's status
// and body when answer returns one.
type deployFake struct {
	url    string
	calls  atomic.Int64
	keys   chan string
	answer func(n int64) (status int, header map[string]string, body []byte)
}

func newDeployFake(t *testing.T, answer func(n int64) (int, map[string]string, []byte)) *deployFake {
	t.Helper()
	ok := fixture(t, "openai/chat_completion.json")
	d := &deployFake{answer: answer, keys: make(chan string, 2000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := d.calls.Add(1)
		select {
		case d.keys <- r.Header.Get("Authorization"):
		default:
		}
		status, header, body := http.StatusOK, map[string]string(nil), ok
		if d.answer != nil {
			if s, h, b := d.answer(n); s != 0 {
				status, header, body = s, h, b
			}
		}
		w.Header().Set("Content-Type", "application/json")
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	d.url = srv.URL + "/v1"
	return d
}

// deadFake accepts connections and drops them: a provider that is down
// (a connection error on every attempt), counting the attempts.
func deadFake(t *testing.T) (*deployFake, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return &deployFake{url: srv.URL + "/v1"}, &n
}

// servePools starts serve from a conductor.toml, as `conductor serve`
// builds it (FromConfig).
func servePools(t *testing.T, toml string, env map[string]string) (*testServer, conductor.Store, *gateway.Set) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st := nilStore(t)
	opts, set, err := FromConfig(cfg, config.MapEnv(env), st, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		set.Close(context.Background())
		gateway.ClosePools(opts.Pools)
	})
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &testServer{Server: s, url: hs.URL}, st, set
}

const poolChatBody = `{"model":"%s","messages":[{"role":"user","content":"hi"}]}`

func chatOf(model string) string { return strings.Replace(poolChatBody, "%s", model, 1) }

// The reproduction: a [[model]] chain whose first route is a dead
// provider made three failed attempts (and their backoff) on every
// request, forever (8 requests, 24 upstream calls). Now the dead route's
// breaker opens after its threshold of failures (5 by default), and the
// next 100 requests make no call to it and no retry: each is answered by
// the second route at its first attempt.
func TestDeadPrimaryOpensItsBreaker(t *testing.T) {
	dead, deadCalls := deadFake(t)
	live := newDeployFake(t, nil)
	ts, st, set := servePools(t, `
[[model]]
name = "reliable"
routes = ["openai/gpt-4o-mini", "local/llama"]
`, map[string]string{"OPENAI_BASE_URL": dead.url, "OPENAI_API_KEY": "sk-test-openai-key", "LOCAL_BASE_URL": live.url})

	for i := range 8 {
		resp, body := ts.post(t, "/v1/chat/completions", chatOf("reliable"))
		if resp.StatusCode != 200 || resp.Header.Get("cf-aig-step") != "1" {
			t.Fatalf("request %d: %d %s (step %q)", i, resp.StatusCode, body, resp.Header.Get("cf-aig-step"))
		}
	}
	opened := deadCalls.Load()
	if opened > gateway.DefaultBreakerFailures {
		t.Fatalf("8 requests made %d calls to the dead route; its breaker should open after %d", opened, gateway.DefaultBreakerFailures)
	}
	for i := range 100 {
		resp, body := ts.post(t, "/v1/chat/completions", chatOf("reliable"))
		if resp.StatusCode != 200 {
			t.Fatalf("request %d after the breaker opened: %d %s", i, resp.StatusCode, body)
		}
	}
	if got := deadCalls.Load() - opened; got != 0 {
		t.Errorf("100 requests after the breaker opened made %d calls to the dead route, want 0", got)
	}
	if err := set.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := st.RecentLogs(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		// One attempt: no retry of the dead route, so no backoff wait.
		if r.Attempts != 1 || r.Step != 1 || r.Deployment != "local/llama" {
			t.Fatalf("row after the breaker opened: attempts %d, step %d, deployment %q; want 1, 1, local/llama", r.Attempts, r.Step, r.Deployment)
		}
	}
}

// Two OpenAI keys and a local vLLM server behind one name (the example of
// docs/server.md): weights split tier 1 between the keys, each key is
// sent to its own deployment only, and the vLLM server (tier 2) serves
// only when neither key can; the log row names the deployment.
func TestTwoKeysAndALocalServer(t *testing.T) {
	a := newDeployFake(t, nil)
	vllm := newDeployFake(t, nil)
	ts, st, set := servePools(t, `
[[model]]
name = "fast-chat"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+a.url+`"
keys_env = ["OPENAI_API_KEY", "OPENAI_API_KEY_2"]

[[model.deployment]]
name = "vllm"
route = "local/meta-llama/Llama-3.1-8B-Instruct"
base_url = "`+vllm.url+`"
tier = 2
`, map[string]string{"OPENAI_API_KEY": "sk-first-key-0001", "OPENAI_API_KEY_2": "sk-second-key-0002"})
	for i := range 40 {
		resp, body := ts.post(t, "/v1/chat/completions", chatOf("fast-chat"))
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	keys := map[string]int{}
	for range a.calls.Load() {
		keys[<-a.keys]++
	}
	if keys["Bearer sk-first-key-0001"] == 0 || keys["Bearer sk-second-key-0002"] == 0 || len(keys) != 2 {
		t.Errorf("keys sent: %v; want both, and only them", keys)
	}
	if vllm.calls.Load() != 0 {
		t.Errorf("the tier-2 server got %d calls while tier 1 was healthy", vllm.calls.Load())
	}
	set.Close(context.Background())
	rows, err := st.RecentLogs(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, r := range rows {
		by[r.Deployment]++
	}
	if by["openai/gpt-4o-mini@OPENAI_API_KEY"]+by["openai/gpt-4o-mini@OPENAI_API_KEY_2"] != 40 {
		t.Errorf("rows by deployment: %v", by)
	}
}

// A key at its own rpm is skipped before the provider refuses it: the
// fake answers 429 from the third request of a minute, which it never
// sees; the other key serves.
func TestKeyAtItsRPMIsSkipped(t *testing.T) {
	limited := newDeployFake(t, func(n int64) (int, map[string]string, []byte) {
		if n > 2 {
			return 429, map[string]string{"Retry-After": "60"}, []byte(`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
		}
		return 0, nil, nil
	})
	other := newDeployFake(t, nil)
	ts, _, _ := servePools(t, `
[[model]]
name = "fast-chat"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+limited.url+`"
key_env = "KEY_A"
rpm = 2
weight = 1000

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+other.url+`"
key_env = "KEY_B"
`, map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"})
	for i := range 10 {
		resp, body := ts.post(t, "/v1/chat/completions", chatOf("fast-chat"))
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if limited.calls.Load() != 2 || other.calls.Load() != 8 {
		t.Errorf("calls: limited key %d (want its rpm, 2, and no 429), other %d (want 8)", limited.calls.Load(), other.calls.Load())
	}
}

// When every deployment's breaker is open the caller gets a 503 in its
// own wire format saying so, with Retry-After, and no upstream call.
func TestAllOpenIs503WithRetryAfter(t *testing.T) {
	bad := newDeployFake(t, func(int64) (int, map[string]string, []byte) {
		return 500, nil, []byte(`{"error":{"message":"The server had an error","type":"server_error"}}`)
	})
	ts, _, _ := servePools(t, `
[[ai.gateway]]
id = "default"
max_attempts = 1

[[model]]
name = "fast-chat"

[model.breaker]
failures = 2
cooldown = "45s"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+bad.url+`"
key_env = "KEY_A"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+bad.url+`"
key_env = "KEY_B"
`, map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"})
	for range 2 {
		ts.post(t, "/v1/chat/completions", chatOf("fast-chat"))
	}
	calls := bad.calls.Load()
	if calls != 4 {
		t.Fatalf("%d calls opened the breakers; want 2 per deployment", calls)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/chat/completions", chatOf("fast-chat"), `"code":"deployments_unavailable"`},
		{"/v1/messages", `{"model":"fast-chat","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, `"type":"error"`},
	} {
		resp, body := ts.post(t, tc.path, tc.body)
		ra := resp.Header.Get("Retry-After")
		if resp.StatusCode != 503 || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), "every deployment is unavailable") || ra == "" || ra == "0" {
			t.Errorf("%s: %d Retry-After %q %s", tc.path, resp.StatusCode, ra, body)
		}
	}
	if bad.calls.Load() != calls {
		t.Errorf("open breakers let %d calls through", bad.calls.Load()-calls)
	}
}

// An ensemble member names the alias as a caller of serve does.
func TestEnsembleMemberNamesDeploymentAlias(t *testing.T) {
	a := newDeployFake(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "conductor.toml")
	toml := `
[[model]]
name = "fast-chat"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "` + a.url + `"
keys_env = ["KEY_A", "KEY_B"]
`
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	opts, set, err := FromConfig(cfg, config.MapEnv(map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"}), nilStore(t), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close(context.Background())
	ens := "name: pick\nflow:\n  - member: a\n    config:\n      provider: openai\n      model: fast-chat\n      prompt: \"Hi\"\n"
	if err := os.WriteFile(filepath.Join(dir, "pick.yaml"), []byte(ens), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.EnsemblesDir = dir
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	resp, body := postTo(t, hs.URL+"/v1/ensembles/pick/run", `{}`)
	if resp.StatusCode != 200 || a.calls.Load() != 1 {
		t.Fatalf("status %d, %d deployment calls: %s", resp.StatusCode, a.calls.Load(), body)
	}
}

// Weights through serve: 1,000 requests split 1:3 between two OpenAI
// keys within four standard deviations.
func TestDeploymentWeightsThroughServe(t *testing.T) {
	a, b := newDeployFake(t, nil), newDeployFake(t, nil)
	ts, _, _ := servePools(t, `
[[model]]
name = "fast-chat"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+a.url+`"
key_env = "KEY_A"
weight = 1

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+b.url+`"
key_env = "KEY_B"
weight = 3
`, map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"})
	for i := range 1000 {
		if resp, body := ts.post(t, "/v1/chat/completions", chatOf("fast-chat")); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// Binomial(1000, 0.25): sd ≈ 13.7.
	if n := a.calls.Load(); n < 250-55 || n > 250+55 || a.calls.Load()+b.calls.Load() != 1000 {
		t.Errorf("weight 1 got %d, weight 3 got %d of 1,000; want 250 ± 55", n, b.calls.Load())
	}
}

// least-busy through serve: while one server holds a call, the others go
// to the idle one.
func TestDeploymentLeastBusyThroughServe(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	busy := newDeployFake(t, func(n int64) (int, map[string]string, []byte) {
		if n == 1 {
			close(entered)
			<-release
		}
		return 0, nil, nil
	})
	idle := newDeployFake(t, nil)
	ts, _, _ := servePools(t, `
[[model]]
name = "fast-chat"
strategy = "least-busy"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+busy.url+`"
key_env = "KEY_A"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+idle.url+`"
key_env = "KEY_B"
`, map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		postTo(t, ts.url+"/v1/chat/completions", chatOf("fast-chat"))
	}()
	<-entered // both idle: the first written took it
	for i := range 10 {
		if resp, body := ts.post(t, "/v1/chat/completions", chatOf("fast-chat")); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	close(release)
	<-done
	if busy.calls.Load() != 1 || idle.calls.Load() != 10 {
		t.Errorf("busy %d, idle %d; want 1 and 10", busy.calls.Load(), idle.calls.Load())
	}
}

// latency through serve: the slow server (it answers after 300 ms) gets a
// call or two to be measured, the fast one the rest.
func TestDeploymentLatencyThroughServe(t *testing.T) {
	slow := newDeployFake(t, func(int64) (int, map[string]string, []byte) {
		time.Sleep(300 * time.Millisecond)
		return 0, nil, nil
	})
	fast := newDeployFake(t, nil)
	ts, _, _ := servePools(t, `
[[model]]
name = "fast-chat"
strategy = "latency"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+slow.url+`"
key_env = "KEY_A"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+fast.url+`"
key_env = "KEY_B"
`, map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"})
	for i := range 40 {
		if resp, body := ts.post(t, "/v1/chat/completions", chatOf("fast-chat")); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if slow.calls.Load() > 2 {
		t.Errorf("slow %d, fast %d; want the slow one measured once or twice, then avoided", slow.calls.Load(), fast.calls.Load())
	}
}

// A deployment's own key, echoed by a misbehaving upstream, never
// reaches the caller; and a stream through a pool passes through.
func TestDeploymentKeyRedactedAndStreams(t *testing.T) {
	echo := newDeployFake(t, func(int64) (int, map[string]string, []byte) {
		return 400, nil, []byte(`{"error":{"message":"bad header Authorization: Bearer sk-deploy-secret-0042","type":"invalid_request_error"}}`)
	})
	ts, _, _ := servePools(t, `
[[model]]
name = "echoes"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+echo.url+`"
keys_env = ["DEPLOY_KEY"]
`, map[string]string{"DEPLOY_KEY": "sk-deploy-secret-0042"})
	resp, body := ts.post(t, "/v1/chat/completions", chatOf("echoes"))
	if resp.StatusCode != 400 || strings.Contains(string(body), "sk-deploy-secret-0042") || !strings.Contains(string(body), "[redacted]") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}

	sse := fixture(t, "openai/stream.sse")
	streamer := newDeployFake(t, func(int64) (int, map[string]string, []byte) {
		return 200, map[string]string{"Content-Type": "text/event-stream"}, sse
	})
	ts, _, _ = servePools(t, `
[[model]]
name = "streams"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+streamer.url+`"
keys_env = ["K1", "K2"]
`, map[string]string{"K1": "sk-stream-key-0001", "K2": "sk-stream-key-0002"})
	resp, body = ts.post(t, "/v1/chat/completions", `{"model":"streams","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "[DONE]") {
		t.Errorf("stream: %d %s", resp.StatusCode, body)
	}
}

// A deployment whose key is missing serves the callers who bring their
// own (allow_caller_keys), as a plain route does; the others get the
// missing variable's name.
func TestDeploymentWithoutKeyServesCallerKeys(t *testing.T) {
	a := newDeployFake(t, nil)
	ts, _, _ := servePools(t, `
[server]
allow_caller_keys = true

[[model]]
name = "fast-chat"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+a.url+`"
key_env = "UNSET_KEY"
`, map[string]string{})
	resp, body := ts.post(t, "/v1/chat/completions", chatOf("fast-chat"))
	if resp.StatusCode != 500 || !strings.Contains(string(body), "UNSET_KEY") || a.calls.Load() != 0 {
		t.Errorf("no key anywhere: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.post(t, "/v1/chat/completions", chatOf("fast-chat"), "Authorization", "Bearer sk-caller-own-key")
	if resp.StatusCode != 200 || <-a.keys != "Bearer sk-caller-own-key" {
		t.Errorf("caller key: %d %s", resp.StatusCode, body)
	}
}
