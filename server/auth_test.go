package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/config"
)

var tokens = []Token{{Name: "alice", Value: "tok-alice-secret"}, {Name: "ci", Value: "tok-ci-secret"}}

const chatBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`
const messagesBody = `{"model":"claude-3-5-haiku-latest","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`

func TestAuthTokens(t *testing.T) {
	tests := []struct {
		name       string
		path, body string
		headers    []string
		wantStatus int
		// check looks at a 401's body, in the caller's format
		check func(t *testing.T, m map[string]any)
	}{
		{"bearer token", "/v1/chat/completions", chatBody, []string{"Authorization", "Bearer tok-alice-secret"}, 200, nil},
		{"cf-aig-authorization", "/v1/chat/completions", chatBody, []string{"cf-aig-authorization", "Bearer tok-ci-secret"}, 200, nil},
		{"x-api-key (Anthropic clients)", "/v1/messages", messagesBody, []string{"x-api-key", "tok-alice-secret"}, 200, nil},
		{"missing, OpenAI format", "/v1/chat/completions", chatBody, nil, 401, func(t *testing.T, m map[string]any) {
			if path(m, "error", "type") != "authentication_error" {
				t.Errorf("%v", m)
			}
		}},
		{"wrong, Anthropic format", "/v1/messages", messagesBody, []string{"x-api-key", "tok-alice-secreT"}, 401, func(t *testing.T, m map[string]any) {
			if m["type"] != "error" || path(m, "error", "type") != "authentication_error" {
				t.Errorf("%v", m)
			}
		}},
		{"wrong cf-aig-authorization beats a right Authorization", "/v1/chat/completions", chatBody,
			[]string{"cf-aig-authorization", "Bearer nope", "Authorization", "Bearer tok-alice-secret"}, 401, nil},
		{"missing, Cloudflare path", cfBase + "/openai/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`, nil, 401,
			func(t *testing.T, m map[string]any) {
				if m["success"] != false || path(m, "error", 0, "code") != 2009.0 {
					t.Errorf("%v", m)
				}
			}},
		{"a prefix of a token", "/v1/chat/completions", chatBody, []string{"Authorization", "Bearer tok-alice"}, 401, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.Tokens = tokens }})
			resp, got := ts.post(t, tt.path, tt.body, tt.headers...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, got)
			}
			if tt.wantStatus == 401 {
				if n := len(ts.fakes.recorded()); n != 0 {
					t.Errorf("%d calls went upstream", n)
				}
				if tt.check != nil {
					tt.check(t, jsonOf(t, got))
				}
				return
			}
			// The gateway token never travels upstream.
			for _, c := range ts.fakes.recorded() {
				for _, vs := range c.Header {
					for _, v := range vs {
						if strings.Contains(v, "tok-") {
							t.Errorf("a gateway token reached the upstream: %v", c.Header)
						}
					}
				}
			}
		})
	}
}

func TestCallerKeys(t *testing.T) {
	tests := []struct {
		name    string
		allow   bool
		tokens  []Token
		path    string
		body    string
		headers []string
		kind    string
		header  string
		want    string
	}{
		{"not allowed: the server's key", false, nil, "/v1/chat/completions", chatBody,
			[]string{"Authorization", "Bearer sk-caller"}, "openai", "Authorization", "Bearer " + serverOpenAIKey},
		{"allowed: the caller's key", true, nil, "/v1/chat/completions", chatBody,
			[]string{"Authorization", "Bearer sk-caller"}, "openai", "Authorization", "Bearer sk-caller"},
		{"allowed with a token in cf-aig-authorization", true, tokens, cfBase + "/openai/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`,
			[]string{"cf-aig-authorization", "Bearer tok-ci-secret", "Authorization", "Bearer sk-caller"}, "openai", "Authorization", "Bearer sk-caller"},
		{"Anthropic x-api-key", true, nil, "/v1/messages", messagesBody,
			[]string{"x-api-key", "sk-ant-caller"}, "anthropic", "x-api-key", "sk-ant-caller"},
		{"token in Authorization, key in x-api-key", true, tokens, "/v1/messages", messagesBody,
			[]string{"Authorization", "Bearer tok-alice-secret", "x-api-key", "sk-ant-caller"}, "anthropic", "x-api-key", "sk-ant-caller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.AllowCallerKeys, o.Tokens = tt.allow, tt.tokens }})
			resp, got := ts.post(t, tt.path, tt.body, tt.headers...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			if v := ts.fakes.last(tt.kind).Header.Get(tt.header); v != tt.want {
				t.Errorf("%s upstream: %q, want %q", tt.header, v, tt.want)
			}
		})
	}
}

func TestCallerKeyRequiredWithoutServerKey(t *testing.T) {
	ts := newTestServer(t, serverSetup{env: map[string]string{"OPENAI_API_KEY": ""}, opts: func(o *Options) { o.AllowCallerKeys = true }})
	resp, got := ts.post(t, "/v1/chat/completions", chatBody)
	if resp.StatusCode != 500 || !strings.Contains(string(got), "OPENAI_API_KEY") {
		t.Errorf("no key anywhere: %d %s", resp.StatusCode, got)
	}
	resp, got = ts.post(t, "/v1/chat/completions", chatBody, "Authorization", "Bearer sk-caller")
	if resp.StatusCode != 200 || ts.fakes.last("openai").Header.Get("Authorization") != "Bearer sk-caller" {
		t.Errorf("caller key: %d %s", resp.StatusCode, got)
	}
}

// A caller's own key buys answers for that key only: the cache is scoped
// by a hash of it.
func TestCallerKeysScopeTheCache(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.AllowCallerKeys = true }})
	h := func(key string) []string {
		return []string{"Authorization", "Bearer " + key, "cf-aig-cache-ttl", "600"}
	}
	r1, _ := ts.post(t, "/v1/chat/completions", chatBody, h("sk-one")...)
	r2, _ := ts.post(t, "/v1/chat/completions", chatBody, h("sk-two")...)
	r3, _ := ts.post(t, "/v1/chat/completions", chatBody, h("sk-one")...)
	got := r1.Header.Get("cf-aig-cache-status") + r2.Header.Get("cf-aig-cache-status") + r3.Header.Get("cf-aig-cache-status")
	if got != "MISSMISSHIT" || ts.fakes.count("openai") != 2 {
		t.Errorf("cache statuses %s, %d upstream calls", got, ts.fakes.count("openai"))
	}
	for _, row := range ts.flushLogs(t) {
		for _, v := range row.Metadata {
			if strings.Contains(v, "sk-") {
				t.Errorf("a key reached the log: %+v", row)
			}
		}
	}
}

func TestUsers(t *testing.T) {
	tests := []struct {
		name    string
		tokens  []Token
		headers []string
		body    string
		want    string
	}{
		{"token name", tokens, []string{"Authorization", "Bearer tok-alice-secret", "cf-aig-metadata", `{"user":"mallory"}`}, chatBody, "alice"},
		{"metadata user", nil, []string{"cf-aig-metadata", `{"user":"bob"}`, "X-User", "carol"}, `{"model":"mock/x","user":"dave","messages":[{"role":"user","content":"Hi"}]}`, "bob"},
		{"body user", nil, []string{"X-User", "carol"}, `{"model":"mock/x","user":"dave","messages":[{"role":"user","content":"Hi"}]}`, "dave"},
		{"configured header", nil, []string{"X-User", "carol"}, chatBody, "carol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.Tokens, o.UserHeader = tt.tokens, "X-User" }})
			if resp, got := ts.post(t, "/v1/chat/completions", tt.body, tt.headers...); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, got)
			}
			rows := ts.flushLogs(t)
			if len(rows) != 1 || rows[0].User != tt.want {
				t.Errorf("rows %+v, want user %s", rows, tt.want)
			}
		})
	}
}

func TestProtectedHandlers(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("conductor_requests_total 1\n")) })
	dash := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<!doctype html>")) })
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.Tokens, o.Metrics, o.Dashboard = tokens, metrics, dash }})
	resp, err := http.Get(ts.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the dashboard is mounted as it is (it checks tokens itself): %d", resp.StatusCode)
	}
	for _, p := range []string{"/metrics"} {
		resp, err := http.Get(ts.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s without a token: %d", p, resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", ts.url+p, nil)
		req.Header.Set("Authorization", "Bearer tok-ci-secret")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s with a token: %d", p, resp.StatusCode)
		}
	}
	// The probes stay open: orchestrators carry no token.
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(ts.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestTokensFromSecrets(t *testing.T) {
	got := TokensFromSecrets([]config.Secret{config.NewSecret("alice=s3cret", "env"), config.NewSecret("plain", "env"), config.NewSecret("=x", "env")})
	want := []Token{{Name: "alice", Value: "s3cret"}, {Name: "token-2", Value: "plain"}, {Name: "token-3", Value: "=x"}}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Value != want[i].Value {
			t.Errorf("token %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.Tokens, o.AllowCallerKeys = tokens, true }})
	ts.post(t, "/v1/chat/completions", chatBody, "cf-aig-authorization", "Bearer tok-alice-secret", "Authorization", "Bearer sk-caller-secret")
	ts.post(t, "/v1/chat/completions", chatBody, "Authorization", "Bearer tok-wrong-secret")
	ts.fakes.push("openai", canned{status: 401, body: `{"error":{"message":"Incorrect API key provided: sk-calle*****cret","type":"invalid_request_error","code":"invalid_api_key"}}`})
	ts.post(t, "/v1/chat/completions", chatBody, "cf-aig-authorization", "Bearer tok-alice-secret", "Authorization", "Bearer sk-caller-secret")
	ts.flushLogs(t)
	logs := ts.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("no access log lines:\n%s", logs)
	}
	for _, secret := range []string{"tok-alice-secret", "tok-wrong-secret", "sk-caller-secret", serverOpenAIKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("%s reached the log:\n%s", secret, logs)
		}
	}
}
