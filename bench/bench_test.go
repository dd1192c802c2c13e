package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// The fake answers each format and shape with the documented payload.
func TestFakeAnswers(t *testing.T) {
	f := newFake()
	f.setConfig(fakeConfig{Chunks: 5})
	srv := httptest.NewServer(f)
	defer srv.Close()
	tests := []struct {
		name, path, body string
		wantType         string
		want             []string
		events           int // SSE events (data lines); 0: a JSON answer
	}{
		{name: "openai whole", path: "/v1/chat/completions", body: `{"model":"m","messages":[]}`, wantType: "application/json", want: []string{`"chat.completion"`, `"usage"`}},
		{name: "openai tools", path: "/v1/chat/completions", body: `{"model":"m","tools":[],"messages":[]}`, wantType: "application/json", want: []string{`"tool_calls"`, `"finish_reason":"tool_calls"`}},
		{name: "openai stream", path: "/v1/chat/completions", body: `{"model":"m","stream":true}`, wantType: "text/event-stream", want: []string{"tok4 ", "data: [DONE]"}, events: 1 + 5 + 1 + 1},
		{name: "openai stream with usage", path: "/v1/chat/completions", body: `{"stream":true,"stream_options":{"include_usage":true}}`, wantType: "text/event-stream", want: []string{`"completion_tokens":5`}, events: 1 + 5 + 1 + 1 + 1},
		{name: "anthropic whole", path: "/v1/messages", body: `{"model":"m"}`, wantType: "application/json", want: []string{`"type":"message"`, `"end_turn"`}},
		{name: "anthropic tools", path: "/v1/messages", body: `{"model":"m","tools":[]}`, wantType: "application/json", want: []string{`"tool_use"`}},
		{name: "anthropic stream", path: "/v1/messages", body: `{"stream": true}`, wantType: "text/event-stream", want: []string{"message_stop", `"output_tokens":5`}, events: 2 + 5 + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := post(t, srv.URL+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.wantType {
				t.Fatalf("status %d, type %q; want 200 %q", resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantType)
			}
			for _, w := range tt.want {
				if !bytes.Contains(body, []byte(w)) {
					t.Errorf("answer without %s:\n%s", w, body)
				}
			}
			if tt.events == 0 {
				if !json.Valid(body) {
					t.Errorf("not JSON: %s", body)
				}
				return
			}
			var n int
			for _, line := range strings.Split(string(body), "\n") {
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					n++
					if d != "[DONE]" && !json.Valid([]byte(d)) {
						t.Errorf("event not JSON: %s", d)
					}
				}
			}
			if n != tt.events {
				t.Errorf("%d events, want %d", n, tt.events)
			}
		})
	}
	if got := f.counts().Requests; got != int64(len(tests)) {
		t.Errorf("count %d, want %d", got, len(tests))
	}
}

// Faults come at exactly the configured rate, each kind in turn, and each
// is one a gateway must not pass off as a good answer.
func TestFakeFaults(t *testing.T) {
	f := newFake()
	f.setConfig(fakeConfig{FaultRate: 0.05})
	srv := httptest.NewServer(f)
	defer srv.Close()
	const n = 240 // 12 faults: each of the 6 kinds twice
	good, bad := 0, 0
	for range n {
		resp, body, err := post(t, srv.URL+"/v1/chat/completions", `{"model":"m"}`)
		switch {
		case err != nil: // the reset
			bad++
		case resp.StatusCode != 200 || !json.Valid(body):
			bad++
		default:
			good++
		}
	}
	c := f.counts()
	if c.Requests != n || c.Faults != 12 || bad != 12 || good != n-12 {
		t.Fatalf("requests %d, faults %d, bad answers %d, good %d; want %d, 12, 12, %d", c.Requests, c.Faults, bad, good, n, n-12)
	}
	for _, k := range faultKinds {
		if c.ByFault[k] != 2 {
			t.Errorf("fault %s injected %d times, want 2 (%v)", k, c.ByFault[k], c.ByFault)
		}
	}
}

func TestFakeLatency(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := `{"latency":20000000,"chunks":3}` // 20 ms
	if resp, _, err := post(t, srv.URL+"/_bench/config", cfg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("config: %v %v", resp, err)
	}
	if got := f.cfg.Load(); got.Latency != 20*time.Millisecond || got.Chunks != 3 {
		t.Fatalf("config %+v", got)
	}
	// The wait itself is not asserted (no timed assertions); the stream
	// is rebuilt for the new chunk count.
	if got := len(f.streams.Load().openAI); got != 1+3+1+1 {
		t.Fatalf("%d prepared events, want 6", got)
	}
}

func TestParseRun(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(runOptions) bool
	}{
		{args: nil, check: func(o runOptions) bool {
			return len(o.targets) == 2 && o.rate == 500 && o.conns == 32 && o.duration == 4*time.Second && o.quietWait > 0
		}},
		{args: []string{"--quick"}, check: func(o runOptions) bool {
			return o.quick && o.duration == 500*time.Millisecond && o.quietWait == 0 && o.redo == 0
		}},
		{args: []string{"--quick", "--duration", "3s"}, check: func(o runOptions) bool { return o.duration == 3*time.Second }},
		{args: []string{"--targets", "direct,nginx,http://127.0.0.1:4000"}, check: func(o runOptions) bool { return len(o.targets) == 3 }},
		{args: []string{"--targets", "envoy"}, wantErr: `unknown target "envoy"`},
		{args: []string{"--targets", "conductor,baseline"}, wantErr: "--baseline PATH"},
		{args: []string{"--targets", "conductor,baseline", "--baseline", "/tmp/conductor-old"}, check: func(o runOptions) bool { return o.baseline == "/tmp/conductor-old" }},
		{args: []string{"--scenario", "whole,nope"}, wantErr: `unknown scenario "nope"`},
		{args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseRun(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("parseRun(%q) = %+v, %v", tt.args, o, err)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := quantile(d, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}
}

// The harness reads its own process as it reads a target's.
func TestProcReadings(t *testing.T) {
	u, err := measure([]int{os.Getpid()})
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if u.cpu <= 0 || u.mem.rss <= 0 || u.mem.hwm < u.mem.rss {
		t.Fatalf("readings %+v", u)
	}
	if _, err := machineBusy(); err != nil {
		t.Fatal(err)
	}
}

func rowOf(scenario, target, load string, cpu time.Duration, p99 time.Duration, hwm int64) row {
	return row{scenario: scenario, target: target, load: load, cpuPerReq: cpu, mem: memory{rss: hwm, hwm: hwm},
		res: loadResult{latencies: []time.Duration{p99}, requests: 1}}
}

func TestGoals(t *testing.T) {
	rows := []row{
		rowOf("whole", "direct", "500/s", 40*time.Microsecond, 500*time.Microsecond, 0),
		rowOf("whole", "conductor", "500/s", 150*time.Microsecond, 700*time.Microsecond, 0),
		rowOf("whole", "nginx", "32 conns", 30*time.Microsecond, time.Millisecond, 0),
		rowOf("whole", "conductor", "32 conns", 100*time.Microsecond, time.Millisecond, 0),
		rowOf("cache-hit", "conductor", "32 conns", 20*time.Microsecond, time.Millisecond, 0),
		rowOf("limits", "conductor", "32 conns", 140*time.Microsecond, time.Millisecond, 45e6),
	}
	got := strings.Join(goals(rows, map[string]time.Duration{"whole": 2 * time.Millisecond}), "\n")
	for _, want := range []string{
		"| CPU per proxied request ≤ 2× nginx's | 100 / 30 µs = 3.33× | **no** |",
		"| added p99 at 500/s ≤ 0.3 ms over direct | 0.70 − 0.50 = 0.20 ms | yes |",
		"| a cache hit ≤ 0.3× a proxied request's CPU | 20 / 100 µs = 0.20× | yes |",
		"| RSS ≤ 40 MB under load with limits on (peak) | 45.0 MB | **no** |",
		"| limits on ≤ 1.3× limits off (CPU) | 140 / 100 µs = 1.40× | **no** |",
		"| no first-request penalty (first ≤ p99 at 500/s) | 2.00 vs 0.70 ms | **no** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("goals lack %q:\n%s", want, got)
		}
	}
}

// A ratio read from a disturbed row is shown and not judged.
func TestGoalsDisturbed(t *testing.T) {
	c := rowOf("whole", "conductor", "32 conns", 100*time.Microsecond, time.Millisecond, 0)
	n := rowOf("whole", "nginx", "32 conns", 30*time.Microsecond, time.Millisecond, 0)
	c.other = 1.2
	got := strings.Join(goals([]row{c, n}, nil), "\n")
	if want := "| CPU per proxied request ≤ 2× nginx's | 100 / 30 µs = 3.33× | not judged: disturbed |"; got != want {
		t.Fatalf("goals:\n%s\nwant\n%s", got, want)
	}
}
