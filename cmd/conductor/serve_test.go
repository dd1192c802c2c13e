package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/conductor-go/conductor/store/sqlite"
)

// metricRequests parses a /metrics answer with the Prometheus text parser
// and sums conductor_gateway_requests_total over its series.
func metricRequests(b []byte) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	var n float64
	for _, m := range fams["conductor_gateway_requests_total"].GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n, nil
}

// startServe runs `conductor serve` on a random loopback port with flags
// f and returns its URL, a stop function that waits for it to return, and
// its log.
func startServe(t testing.TB, f serveFlags) (url string, stop func() error, logs *lockedBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.listener = ln
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, logs, f) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop, logs
}

func TestServeWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// An explicitly named config must exist.
	err := runServe(context.Background(), io.Discard, serveFlags{config: filepath.Join(dir, "none.toml"), data: data, logLevel: "info"})
	if exitCode(err) != exitInvalid {
		t.Fatalf("missing --config file: %v (exit %d)", err, exitCode(err))
	}

	// No config anywhere: the defaults, on the embedded store.
	wd, _ := os.Getwd()
	t.Chdir(dir)
	url, stop, logs := startServe(t, serveFlags{data: data, logLevel: "info", ensembles: filepath.Join(wd, "..", "..", "examples")})
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	resp, err = http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"mock/echo","messages":[{"role":"user","content":"served"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"content":"served"`)) {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(url+"/v1/ensembles/quickstart/run", "application/json", strings.NewReader(`{"question":"Why?"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var res struct {
		Ensemble string `json:"ensemble"`
		Success  bool   `json:"success"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil || res.Ensemble != "quickstart" {
		t.Fatalf("ensemble: %d %s", resp.StatusCode, body)
	}
	// Metrics and the dashboard are mounted.
	for _, p := range []string{"/metrics", "/", "/api/summary"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, b)
		}
		if p == "/metrics" {
			if _, err := metricRequests(b); err != nil {
				t.Errorf("/metrics: %v\n%.400s", err, b)
			}
		}
	}
	// The chat call reaches /metrics once its log row is written: wait for
	// it, bounded.
	var scraped []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n, err := metricRequests(b)
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		if n >= 1 {
			scraped = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chat call never reached /metrics:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What the gateway dropped is counted there too (nothing, here).
	if !bytes.Contains(scraped, []byte(`conductor_gateway_dropped_total{gateway="default",kind="cache_write"} 0`)) {
		t.Errorf("/metrics has no dropped cache writes counter:\n%s", scraped)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, dbName)); err != nil {
		t.Errorf("no store in the data directory: %v", err)
	}
	// Shutdown flushed the request log: a new process sees the chat row.
	st, err := sqlite.Open(context.Background(), filepath.Join(data, dbName))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.RecentLogs(context.Background(), 100)
	st.Close()
	var chatRow bool
	for _, r := range rows {
		chatRow = chatRow || (r.Provider == "mock" && r.Model == "echo" && r.Success)
	}
	if err != nil || !chatRow {
		t.Errorf("log after shutdown: %v %+v", err, rows)
	}
	// JSON log lines, the request among them.
	var sawRequest bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "request" && m["path"] == "/v1/chat/completions" {
			// The line names the call's gateway log row.
			sawRequest = true
			if id, _ := m["log_id"].(string); id == "" {
				t.Errorf("request line without its log_id: %q", line)
			}
		}
	}
	if !sawRequest {
		t.Errorf("no request line in the log:\n%s", logs.String())
	}
}

func TestServeFlags(t *testing.T) {
	if err := runServe(context.Background(), io.Discard, serveFlags{logLevel: "loud"}); exitCode(err) != exitInvalid {
		t.Errorf("bad --log-level: %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfg, []byte("[server]\nmax_body_bytes = \"big\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runServe(context.Background(), io.Discard, serveFlags{logLevel: "info", config: cfg, data: dir})
	if exitCode(err) != exitInvalid || !strings.Contains(err.Error(), "conductor.toml") {
		t.Errorf("bad config: %v", err)
	}
	err = runServe(context.Background(), io.Discard, serveFlags{logLevel: "info", addr: "256.0.0.1:1", data: dir, config: filepath.Join("testdata", "none")})
	if exitCode(err) != exitInvalid {
		t.Errorf("bad address: %v", err)
	}
	// Every interface with no token: refused, saying how to add one.
	t.Setenv("CONDUCTOR_TOKENS", "")
	err = runServe(context.Background(), io.Discard, serveFlags{logLevel: "info", addr: "0.0.0.0:0", data: dir, ensembles: dir})
	if exitCode(err) != exitInvalid || !strings.Contains(err.Error(), "CONDUCTOR_TOKENS=name=token") {
		t.Errorf("unguarded address: %v", err)
	}
}

// BenchmarkServeReady measures how long `conductor serve` takes from start
// to its first ready answer on a fresh embedded store.
func BenchmarkServeReady(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		start := time.Now()
		url, stop, _ := startServe(b, serveFlags{config: "", data: dir, logLevel: "error", ensembles: dir})
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("readyz %d", resp.StatusCode)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-to-ready")
		if err := stop(); err != nil {
			b.Fatal(err)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// /metrics carries each budget's spend and limit, and the budgets changed
// while the server runs.
func TestServeBudgetGauges(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfg, []byte("[[budget]]\nname = \"prod\"\nscope = \"environment\"\nmatch = \"production\"\ndaily_usd = 25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONDUCTOR_TOKENS", "")
	url, _, _ := startServe(t, serveFlags{config: cfg, data: dir, logLevel: "error", ensembles: dir})
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`conductor_gateway_budget_limit_usd{budget="prod",period="day"} 25`, `conductor_gateway_budget_spent_usd{budget="prod",period="day"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// serve exports each [[model]] deployment's breaker and load in /metrics
// and the dashboard's /api/deployments.
func TestServeDeploymentMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfg, []byte("[[model]]\nname = \"echo-pool\"\nroutes = [\"mock/echo\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _, _ := startServe(t, serveFlags{config: cfg, data: filepath.Join(dir, "data"), logLevel: "info"})
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"echo-pool","messages":[{"role":"user","content":"served"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	get := func(p string) []byte {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, b)
		}
		return b
	}
	m := get("/metrics")
	for _, want := range []string{
		`conductor_gateway_deployment_breaker_state{deployment="mock/echo",model="echo-pool",state="closed"} 1`,
		`conductor_gateway_deployment_calls_total{deployment="mock/echo",model="echo-pool"} 1`,
		`conductor_gateway_deployment_in_flight{deployment="mock/echo",model="echo-pool"} 0`,
	} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	var deps []struct {
		Model, Deployment, Breaker string
		Calls                      int64
	}
	if err := json.Unmarshal(get("/api/deployments"), &deps); err != nil || len(deps) != 1 || deps[0].Breaker != "closed" || deps[0].Calls != 1 {
		t.Errorf("/api/deployments: %+v %v", deps, err)
	}
}
