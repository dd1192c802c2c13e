package server

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
)

const cfBase = "/v1/" + testAccount + "/my-gateway"

func TestCloudflareProviderPaths(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		body     string
		kind     string
		upPath   string
		answer   string // fixture the answer must equal byte for byte
		wantBody string // the upstream body; "" means the request body
	}{
		{name: "openai", path: "/openai/chat/completions", kind: "openai", answer: "openai/chat_completion.json",
			body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`},
		{name: "groq", path: "/groq/chat/completions", kind: "groq", answer: "openai/chat_completion_groq.json",
			body: `{"model":"llama-3.1-70b-versatile","messages":[{"role":"user","content":"Hi"}]}`},
		{name: "groq sdk path", path: "/groq/openai/v1/chat/completions", kind: "groq", answer: "openai/chat_completion_groq.json",
			body: `{"model":"llama-3.1-70b-versatile","messages":[{"role":"user","content":"Hi"}]}`},
		{name: "anthropic", path: "/anthropic/v1/messages", kind: "anthropic", answer: "anthropic/message.json",
			body: `{"model":"claude-3-5-sonnet-20241022","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`},
		{name: "workers-ai native", path: "/workers-ai/@cf/meta/llama-3.1-8b-instruct", kind: "workers-ai", answer: "workersai/run.json",
			upPath: "/cf/accounts/" + testAccount + "/ai/run/@cf/meta/llama-3.1-8b-instruct",
			body:   `{"prompt":"Hi","max_tokens":64,"top_k":5}`},
		{name: "compat (model provider/model)", path: "/compat/chat/completions", kind: "anthropic",
			body:     `{"model":"anthropic/claude-3-5-sonnet-20241022","messages":[{"role":"user","content":"Hi"}]}`,
			wantBody: "anthropic"},
		{name: "workers-ai openai-compatible", path: "/workers-ai/v1/chat/completions", kind: "workers-ai-v1", answer: "openai/chat_completion.json",
			body: `{"model":"@cf/meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"Hi"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{gateways: []gateway.Config{{ID: "my-gateway"}}})
			resp, got := ts.post(t, cfBase+tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			up := ts.fakes.last(tt.kind)
			if tt.wantBody == "anthropic" {
				// Translated: an OpenAI answer from an Anthropic call.
				if path(jsonOf(t, got), "choices", 0, "message", "content") != "Hi! My name is Claude." || jsonOf(t, up.Body)["max_tokens"] == nil {
					t.Errorf("answer %s from upstream body %s", got, up.Body)
				}
			} else {
				if want := fixture(t, tt.answer); !bytes.Equal(got, want) {
					t.Errorf("answer:\n got %s\nwant %s", got, want)
				}
				if string(up.Body) != tt.body {
					t.Errorf("upstream body:\n got %s\nwant %s", up.Body, tt.body)
				}
			}
			if tt.upPath != "" && up.Path != tt.upPath {
				t.Errorf("upstream path %s, want %s", up.Path, tt.upPath)
			}
			if resp.Header.Get("cf-aig-step") != "0" {
				t.Errorf("cf-aig-step %q", resp.Header.Get("cf-aig-step"))
			}
			rows := ts.flushLogs(t)
			if len(rows) != 1 || rows[0].Gateway != "my-gateway" {
				t.Errorf("log rows %+v", rows)
			}
		})
	}
}

func TestCloudflareWorkersAIStream(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, cfBase+"/workers-ai/@cf/meta/llama-3.1-8b-instruct", `{"messages":[{"role":"user","content":"Hi"}],"stream":true}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	want := parseSSE(t, fixture(t, "workersai/stream_usage.sse"))
	if got := parseSSE(t, got); !slices.Equal(got, want) {
		t.Errorf("stream:\n got %+v\nwant %+v", got, want)
	}
}

func TestCloudflareErrorsInProviderFormat(t *testing.T) {
	tests := []struct {
		name, path, body string
		push             canned
		kind             string
		wantStatus       int
		check            func(t *testing.T, m map[string]any)
	}{
		{"workers-ai envelope", "/workers-ai/@cf/meta/llama-9", `{"prompt":"x"}`,
			canned{status: 400, file: "workersai/error_400.json"}, "workers-ai", 400,
			func(t *testing.T, m map[string]any) {
				if m["success"] != false || path(m, "errors", 0, "code") != 5007.0 ||
					!strings.Contains(path(m, "errors", 0, "message").(string), "No such model") {
					t.Errorf("envelope %v", m)
				}
			}},
		{"anthropic", "/anthropic/v1/messages", `{"model":"claude-3-5-sonnet-20241022","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
			canned{status: 400, file: "anthropic/error_400.json"}, "anthropic", 400,
			func(t *testing.T, m map[string]any) {
				if m["type"] != "error" || path(m, "error", "type") != "invalid_request_error" {
					t.Errorf("error %v", m)
				}
			}},
		{"unknown provider path", "/mistral/v1/chat/completions", `{}`, canned{}, "", 404,
			func(t *testing.T, m map[string]any) {
				if path(m, "error", "type") != "invalid_request_error" {
					t.Errorf("error %v", m)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			if tt.kind != "" {
				ts.fakes.push(tt.kind, tt.push)
			}
			resp, got := ts.post(t, cfBase+tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, got)
			}
			tt.check(t, jsonOf(t, got))
		})
	}
}

// TestCfAigHeaders covers each cf-aig-* request header end to end.
func TestCfAigHeaders(t *testing.T) {
	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`
	chatPath := cfBase + "/openai/chat/completions"

	t.Run("cf-aig-cache-ttl caches and answers HIT", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		r1, b1 := ts.post(t, chatPath, chat, "cf-aig-cache-ttl", "3600")
		r2, b2 := ts.post(t, chatPath, chat, "cf-aig-cache-ttl", "3600")
		if r1.Header.Get("cf-aig-cache-status") != "MISS" || r2.Header.Get("cf-aig-cache-status") != "HIT" {
			t.Errorf("cache status %q then %q", r1.Header.Get("cf-aig-cache-status"), r2.Header.Get("cf-aig-cache-status"))
		}
		if !bytes.Equal(b1, b2) || ts.fakes.count("openai") != 1 {
			t.Errorf("%d upstream calls; answers equal: %v", ts.fakes.count("openai"), bytes.Equal(b1, b2))
		}
	})
	t.Run("a cached stream replays as the same stream", func(t *testing.T) {
		// A translated stream's id is made per answer (the upstream's is not
		// carried over); everything else replays byte for byte.
		translatedID := regexp.MustCompile(`"id":"chatcmpl-[0-9a-f]{24}"`)
		for _, tt := range []struct {
			path, body, kind string
			translated       bool
		}{
			{chatPath, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`, "openai", false},
			{"/v1/chat/completions", `{"model":"openai/gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`, "openai", false},
			{"/v1/messages", `{"model":"anthropic/claude-3-5-sonnet-20241022","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`, "anthropic", false},
			{"/v1/chat/completions", `{"model":"anthropic/claude-3-5-sonnet-20241022","stream":true,"messages":[{"role":"user","content":"Hi"}]}`, "anthropic", true},
		} {
			ts := newTestServer(t, serverSetup{})
			r1, b1 := ts.post(t, tt.path, tt.body, "cf-aig-cache-ttl", "3600")
			r2, b2 := ts.post(t, tt.path, tt.body, "cf-aig-cache-ttl", "3600")
			s1, s2 := r1.Header.Get("cf-aig-cache-status"), r2.Header.Get("cf-aig-cache-status")
			if r1.StatusCode != 200 || r2.StatusCode != 200 || s1 != "MISS" || s2 != "HIT" || ts.fakes.count(tt.kind) != 1 {
				t.Errorf("%s %s: %d %s then %d %s, %d upstream calls", tt.path, tt.body, r1.StatusCode, s1, r2.StatusCode, s2, ts.fakes.count(tt.kind))
			}
			if tt.translated {
				b1, b2 = translatedID.ReplaceAll(b1, []byte(`"id":"X"`)), translatedID.ReplaceAll(b2, []byte(`"id":"X"`))
			}
			if !bytes.Equal(b1, b2) || len(parseSSE(t, b2)) < 2 {
				t.Errorf("%s %s: the replay differs:\n%s\n---\n%s", tt.path, tt.body, b1, b2)
			}
		}
	})
	t.Run("cf-aig-cache-ttl 0 disables the gateway's cache", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{gateways: []gateway.Config{{ID: "my-gateway", CacheTTL: time.Hour}}})
		ts.post(t, chatPath, chat, "cf-aig-cache-ttl", "0")
		r, _ := ts.post(t, chatPath, chat, "cf-aig-cache-ttl", "0")
		// No cache on the call: no cache status either.
		if _, ok := r.Header["Cf-Aig-Cache-Status"]; ok || ts.fakes.count("openai") != 2 {
			t.Errorf("status %q, %d calls", r.Header.Get("cf-aig-cache-status"), ts.fakes.count("openai"))
		}
	})
	t.Run("cf-aig-skip-cache bypasses", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{gateways: []gateway.Config{{ID: "my-gateway", CacheTTL: time.Hour}}})
		ts.post(t, chatPath, chat)
		r, _ := ts.post(t, chatPath, chat, "cf-aig-skip-cache", "true")
		if r.Header.Get("cf-aig-cache-status") != "MISS" || ts.fakes.count("openai") != 2 {
			t.Errorf("status %q, %d calls", r.Header.Get("cf-aig-cache-status"), ts.fakes.count("openai"))
		}
		rows := ts.flushLogs(t)
		if rows[0].MissReason != gateway.MissBypass {
			t.Errorf("miss reason %q", rows[0].MissReason)
		}
	})
	t.Run("cf-aig-cache-key makes different bodies one entry", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.post(t, chatPath, chat, "cf-aig-cache-key", "greeting")
		r, _ := ts.post(t, chatPath, strings.Replace(chat, "Hi", "Hello", 1), "cf-aig-cache-key", "greeting")
		if r.Header.Get("cf-aig-cache-status") != "HIT" || ts.fakes.count("openai") != 1 {
			t.Errorf("status %q, %d calls", r.Header.Get("cf-aig-cache-status"), ts.fakes.count("openai"))
		}
	})
	t.Run("cf-aig-metadata reaches the log, its user the limits", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.post(t, chatPath, chat, "cf-aig-metadata", `{"team":"search","user":"alice","n":3,"beta":true}`)
		rows := ts.flushLogs(t)
		if len(rows) != 1 {
			t.Fatalf("%d rows", len(rows))
		}
		want := map[string]string{"team": "search", "user": "alice", "n": "3", "beta": "true"}
		for k, v := range want {
			if rows[0].Metadata[k] != v {
				t.Errorf("metadata %v, want %v", rows[0].Metadata, want)
			}
		}
		if rows[0].User != "alice" {
			t.Errorf("user %q", rows[0].User)
		}
	})
	t.Run("cf-aig-max-attempts bounds the retries", func(t *testing.T) {
		for _, tt := range []struct {
			attempts   string
			wantStatus int
			wantCalls  int
		}{{"1", 502, 1}, {"3", 200, 3}} {
			ts := newTestServer(t, serverSetup{})
			fail := canned{status: 500, file: "openai/error_500.json"}
			ts.fakes.push("openai", fail, fail)
			r, b := ts.post(t, chatPath, chat, "cf-aig-max-attempts", tt.attempts, "cf-aig-retry-delay", "1", "cf-aig-backoff", "constant")
			if r.StatusCode != tt.wantStatus || ts.fakes.count("openai") != tt.wantCalls {
				t.Errorf("max-attempts %s: status %d, %d calls: %s", tt.attempts, r.StatusCode, ts.fakes.count("openai"), b)
			}
		}
	})
	t.Run("cf-aig-request-timeout gives 504", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.fakes.push("openai", canned{block: make(chan struct{})})
		r, b := ts.post(t, chatPath, chat, "cf-aig-request-timeout", "50", "cf-aig-max-attempts", "1")
		if r.StatusCode != http.StatusGatewayTimeout || path(jsonOf(t, b), "error", "type") != "timeout_error" {
			t.Errorf("status %d: %s", r.StatusCode, b)
		}
	})
	t.Run("cf-aig-log-id names the log row, whole and streamed", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		r1, b1 := ts.post(t, chatPath, chat)
		r2, b2 := ts.post(t, chatPath, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
		if r1.StatusCode != 200 || r2.StatusCode != 200 {
			t.Fatalf("status %d %s, %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
		}
		rows := ts.flushLogs(t)
		ids := map[string]bool{}
		for _, row := range rows {
			ids[row.ID] = true
		}
		id1, id2 := r1.Header.Get("cf-aig-log-id"), r2.Header.Get("cf-aig-log-id")
		if len(rows) != 2 || id1 == "" || id1 == id2 || !ids[id1] || !ids[id2] {
			t.Errorf("log ids %q and %q, rows %v", id1, id2, ids)
		}
	})
	t.Run("invalid values are 400s naming the header", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		for _, h := range [][2]string{
			{"cf-aig-cache-ttl", "soon"}, {"cf-aig-skip-cache", "maybe"}, {"cf-aig-metadata", "[1]"},
			{"cf-aig-metadata", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":{}}`}, {"cf-aig-max-attempts", "two"},
			{"cf-aig-max-attempts", "1.5"}, {"cf-aig-retry-delay", "1s"}, {"cf-aig-backoff", "random"},
			{"cf-aig-request-timeout", "0"}, {"conductor-idle-timeout", "-1"}, {"conductor-total-timeout", "10s"},
		} {
			r, b := ts.post(t, chatPath, chat, h[0], h[1])
			if r.StatusCode != 400 || !strings.Contains(string(b), h[0]) {
				t.Errorf("%s: %s → %d %s", h[0], h[1], r.StatusCode, b)
			}
		}
		if n := ts.fakes.count("openai"); n != 0 {
			t.Errorf("%d calls went upstream", n)
		}
	})
}

func TestCallOptions(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    conductor.CallOptions
	}{
		{"none", nil, conductor.CallOptions{}},
		{"retries", map[string]string{"cf-aig-max-attempts": "9", "cf-aig-retry-delay": "9000", "cf-aig-backoff": "Linear"},
			conductor.CallOptions{MaxAttempts: gateway.MaxAttemptsLimit, RetryDelay: gateway.MaxRetryDelay, Backoff: "linear"}},
		// Cloudflare's bounds are a range both ways: below it is its low end.
		{"attempts 6 and 0 alike", map[string]string{"cf-aig-max-attempts": "6"}, conductor.CallOptions{MaxAttempts: 5}},
		{"attempts 0", map[string]string{"cf-aig-max-attempts": "0"}, conductor.CallOptions{MaxAttempts: 1}},
		{"attempts -3", map[string]string{"cf-aig-max-attempts": "-3"}, conductor.CallOptions{MaxAttempts: 1}},
		{"attempts beyond int64", map[string]string{"cf-aig-max-attempts": "99999999999999999999"}, conductor.CallOptions{MaxAttempts: 5}},
		{"negative delay", map[string]string{"cf-aig-retry-delay": "-1"}, conductor.CallOptions{}},
		{"timeout", map[string]string{"cf-aig-request-timeout": "1500"}, conductor.CallOptions{Timeout: 1500 * time.Millisecond}},
		{"idle and total", map[string]string{"conductor-idle-timeout": "2500", "conductor-total-timeout": "99999999999999999"},
			conductor.CallOptions{IdleTimeout: 2500 * time.Millisecond, TotalTimeout: (1 << 40) * time.Millisecond}},
		{"deprecated cache aliases", map[string]string{"cf-skip-cache": "true", "cf-aig-cache-key": "k"},
			conductor.CallOptions{SkipCache: true, CacheKey: "k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got, err := callOptions(h.Get)
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxAttempts != tt.want.MaxAttempts || got.RetryDelay != tt.want.RetryDelay || got.Backoff != tt.want.Backoff ||
				got.Timeout != tt.want.Timeout || got.IdleTimeout != tt.want.IdleTimeout || got.TotalTimeout != tt.want.TotalTimeout ||
				got.SkipCache != tt.want.SkipCache || got.CacheKey != tt.want.CacheKey {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	for v, want := range map[string]time.Duration{"120": 2 * time.Minute, "-5": 0, "99999999999": 30 * 24 * time.Hour} {
		h := http.Header{}
		h.Set("cf-cache-ttl", v)
		got, err := callOptions(h.Get)
		if err != nil || got.CacheTTL == nil || *got.CacheTTL != want {
			t.Errorf("cf-cache-ttl %s: %v %v, want %v", v, got.CacheTTL, err, want)
		}
	}
}

// cf-aig-metadata keeps the first five entries in the order written and
// ignores the rest, as Cloudflare documents; null entries are not entries.
func TestMetadataFirstFive(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]string
	}{
		{`{"z":"1","y":2,"x":true,"w":"4","v":"5","a":"6"}`, map[string]string{"z": "1", "y": "2", "x": "true", "w": "4", "v": "5"}},
		{`{"z":null,"y":"1","x":"2","w":"3","v":"4","u":"5","a":"6"}`, map[string]string{"y": "1", "x": "2", "w": "3", "v": "4", "u": "5"}},
		{`{"a":"1","a":"2","b":"3"}`, map[string]string{"a": "2", "b": "3"}},
		{`{}`, map[string]string{}},
	} {
		got, err := parseMetadata([]byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v %v, want %v", tt.in, got, err, tt.want)
		}
	}
	// Through serve: the row holds the first five, the sixth is ignored.
	ts := newTestServer(t, serverSetup{})
	r, b := ts.post(t, cfBase+"/openai/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`, "cf-aig-metadata", `{"f":"1","e":"2","d":"3","c":"4","b":"5","a":"6"}`)
	if r.StatusCode != 200 {
		t.Fatalf("six entries: %d %s", r.StatusCode, b)
	}
	rows := ts.flushLogs(t)
	if len(rows) != 1 || len(rows[0].Metadata) != 5 || rows[0].Metadata["a"] != "" || rows[0].Metadata["f"] != "1" {
		t.Errorf("logged metadata %v, want f…b", rows[0].Metadata)
	}
}

func TestUniversalEndpoint(t *testing.T) {
	steps := `[
	  {"provider":"workers-ai","endpoint":"@cf/meta/llama-3.1-8b-instruct","headers":{"Authorization":"Bearer step-cf"},
	   "config":{"maxAttempts":1},"query":{"messages":[{"role":"user","content":"Hi"}]}},
	  {"provider":"openai","endpoint":"chat/completions","headers":{"cf-aig-max-attempts":"1"},
	   "query":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}},
	  {"provider":"anthropic","endpoint":"v1/messages",
	   "query":{"model":"claude-3-5-sonnet-20241022","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}}
	]`
	t.Run("tries steps in order and answers the first that succeeds", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.fakes.push("workers-ai", canned{status: 500, body: `{"result":null,"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}],"messages":[]}`})
		ts.fakes.push("openai", canned{status: 503, file: "openai/error_500.json"})
		resp, got := ts.post(t, cfBase, steps)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, got)
		}
		if resp.Header.Get("cf-aig-step") != "2" {
			t.Errorf("cf-aig-step %q, want 2", resp.Header.Get("cf-aig-step"))
		}
		if !bytes.Equal(got, fixture(t, "anthropic/message.json")) {
			t.Errorf("answer %s", got)
		}
		var order []string
		for _, c := range ts.fakes.recorded() {
			order = append(order, c.Kind)
		}
		if strings.Join(order, ",") != "workers-ai,openai,anthropic" {
			t.Errorf("upstream order %v", order)
		}
	})
	t.Run("the first step answers when it can", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		resp, got := ts.post(t, cfBase, steps)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("cf-aig-step") != "0" || !bytes.Equal(got, fixture(t, "workersai/run.json")) {
			t.Errorf("status %d step %q: %s", resp.StatusCode, resp.Header.Get("cf-aig-step"), got)
		}
		if n := len(ts.fakes.recorded()); n != 1 {
			t.Errorf("%d upstream calls", n)
		}
	})
	t.Run("step headers beat request headers", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.AllowCallerKeys = true }})
		ts.post(t, cfBase, steps, "Authorization", "Bearer request-key")
		if a := ts.fakes.last("workers-ai").Header.Get("Authorization"); a != "Bearer step-cf" {
			t.Errorf("Authorization %q, want the step's", a)
		}
	})
	t.Run("every step failing answers the last failure", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.fakes.push("workers-ai", canned{status: 500, body: `{"success":false,"errors":[{"code":1,"message":"down"}]}`})
		ts.fakes.push("openai", canned{status: 503, file: "openai/error_500.json"})
		ts.fakes.push("anthropic", canned{status: 429, file: "anthropic/error_429.json"})
		resp, got := ts.post(t, cfBase, steps, "cf-aig-max-attempts", "1")
		if resp.StatusCode != 429 || path(jsonOf(t, got), "error", "type") != "rate_limit_error" || resp.Header.Get("cf-aig-step") != "2" {
			t.Errorf("status %d step %q: %s", resp.StatusCode, resp.Header.Get("cf-aig-step"), got)
		}
	})
	t.Run("streams from the answering step", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		ts.fakes.push("workers-ai", canned{status: 500, body: `{"success":false,"errors":[{"code":1,"message":"down"}]}`})
		stream := strings.ReplaceAll(steps, `"max_tokens":64`, `"max_tokens":64,"stream":true`)
		stream = strings.Replace(stream, `"model":"gpt-4o-mini"`, `"model":"gpt-4o-mini","stream":true`, 1)
		resp, got := ts.post(t, cfBase, stream)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("cf-aig-step") != "1" {
			t.Fatalf("status %d step %q: %s", resp.StatusCode, resp.Header.Get("cf-aig-step"), got)
		}
		if ev := parseSSE(t, got); ev[len(ev)-1].Data != "[DONE]" {
			t.Errorf("stream %s", got)
		}
	})
	t.Run("bad bodies are 400s", func(t *testing.T) {
		ts := newTestServer(t, serverSetup{})
		for _, b := range []string{`[]`, `"x"`, `[{"provider":"openai"}]`, `[` + strings.Repeat(`{"provider":"openai","endpoint":"chat/completions","query":{}},`, 16) + `{"provider":"openai","endpoint":"chat/completions","query":{}}]`} {
			if r, got := ts.post(t, cfBase, b); r.StatusCode != 400 {
				t.Errorf("%.40s: %d %s", b, r.StatusCode, got)
			}
		}
	})
}

func TestDeclaredModels(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) {
		o.Models = map[string][]string{
			"fast":     {"groq/llama-3.1-8b-instant"},
			"reliable": {"openai/gpt-4o", "anthropic/claude-3-5-sonnet-20241022"},
		}
	}})
	resp, got := ts.post(t, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"Hi"}]}`)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, fixture(t, "openai/chat_completion_groq.json")) {
		t.Fatalf("alias: %d %s", resp.StatusCode, got)
	}
	if m := jsonOf(t, ts.fakes.last("groq").Body)["model"]; m != "llama-3.1-8b-instant" {
		t.Errorf("alias sent model %v", m)
	}

	ts.fakes.push("openai", canned{status: 500, file: "openai/error_500.json"})
	resp, got = ts.post(t, "/v1/chat/completions", `{"model":"reliable","messages":[{"role":"user","content":"Hi"}]}`, oneAttempt()...)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("cf-aig-step") != "1" {
		t.Fatalf("chain: %d step %q %s", resp.StatusCode, resp.Header.Get("cf-aig-step"), got)
	}
	if a := jsonOf(t, got); path(a, "choices", 0, "message", "content") != "Hi! My name is Claude." {
		t.Errorf("chain answer not translated from Anthropic: %s", got)
	}
}

// splitProvider is what an A/B split would be: a Provider the Resolve hook
// hands out for a name.
type splitProvider struct{ got *conductor.ChatRequest }

func (p *splitProvider) Chat(_ context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	p.got = req
	return &conductor.ChatResponse{Content: conductor.Texts("variant B"), Usage: conductor.Usage{InputTokens: 3, OutputTokens: 2},
		Meta: conductor.ResponseMeta{Provider: "mock"}}, nil
}

func (p *splitProvider) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, &conductor.Error{Class: conductor.ClassBadRequest, Message: "no streams in this test"}
}

func TestResolveHook(t *testing.T) {
	sp := &splitProvider{}
	ts := newTestServer(t, serverSetup{opts: func(o *Options) {
		o.Resolve = func(name string) (conductor.Provider, bool) { return sp, name == "summarizer" }
	}})
	resp, got := ts.post(t, "/v1/messages", `{"model":"summarizer","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`,
		"cf-aig-metadata", `{"user":"bob"}`)
	if resp.StatusCode != http.StatusOK || path(jsonOf(t, got), "content", 0, "text") != "variant B" {
		t.Fatalf("%d %s", resp.StatusCode, got)
	}
	if sp.got.Model != "summarizer" || sp.got.Options.User != "bob" || sp.got.Body != nil {
		t.Errorf("the split saw %+v", sp.got)
	}
}
