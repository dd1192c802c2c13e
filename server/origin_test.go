package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/gateway"
)

// send posts (or sends method) body to the test server with the given
// Host (empty: the server's address) and headers.
func (ts *testServer) send(t *testing.T, method, path, host, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const originBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// errorCode is the code of an answer's error in the OpenAI or Anthropic
// shape (Anthropic's has none: its type).
func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Code string `json:"code"`
			Type string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not JSON: %s", b)
	}
	if e.Type == "error" {
		return "anthropic:" + e.Error.Type
	}
	return e.Error.Code
}

// Bodies a browser sends cross-origin without a preflight (text/plain,
// forms, multipart, no type) never reach an upstream: 415 in the caller's
// format. A JSON body does, and JSON types with parameters or a +json
// suffix are JSON.
func TestNonJSONBodyRefused(t *testing.T) {
	ts := newTestServer(t, serverSetup{gateways: []gateway.Config{{ID: "gw"}}})
	tests := []struct {
		path, contentType string
		status            int
		code              string
	}{
		{"/v1/chat/completions", "text/plain;charset=UTF-8", 415, "unsupported_media_type"},
		{"/v1/chat/completions", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"/v1/chat/completions", "multipart/form-data; boundary=x", 415, "unsupported_media_type"},
		{"/v1/chat/completions", "", 415, "unsupported_media_type"},
		{"/v1/messages", "text/plain", 415, "anthropic:invalid_request_error"},
		{"/v1/" + testAccount + "/gw/openai/chat/completions", "text/plain", 415, "unsupported_media_type"},
		{"/v1/ensembles/greet/run", "text/plain", 415, "unsupported_media_type"},
		{"/v1/embeddings", "text/plain", 415, "unsupported_media_type"},
		{"/v1/chat/completions", "application/json; charset=utf-8", 200, ""},
		{"/v1/chat/completions", "application/vnd.conductor+json", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.contentType, func(t *testing.T) {
			before := len(ts.fakes.recorded())
			var h []string
			if tt.contentType != "" {
				h = []string{"Content-Type", tt.contentType}
			}
			resp, b := ts.send(t, "POST", tt.path, "", originBody, h...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 200 {
				return
			}
			if got := errorCode(t, b); got != tt.code {
				t.Errorf("error %q, want %q: %s", got, tt.code, b)
			}
			if n := len(ts.fakes.recorded()) - before; n != 0 {
				t.Errorf("%d upstream calls for a refused body", n)
			}
		})
	}
}

// With no token, the Host must name the server: a page that points its own
// domain at the loopback address (DNS rebinding) is refused; addresses,
// localhost and the configured names are served. With a token, any Host is.
func TestHostCheckedWithoutToken(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) {
		o.AllowedHosts = []string{"gateway.internal"}
		o.Addr = "conductor.lan:8787"
	}})
	tests := []struct {
		host   string
		status int
	}{
		{"evil.example:8787", 403},
		{"evil.example", 403},
		{"localhost.evil.example:8787", 403},
		{"127.0.0.1:8787", 200},
		{"[::1]:8787", 200},
		{"192.168.1.20:8787", 200},
		{"localhost:8787", 200},
		{"LOCALHOST.:8787", 200},
		{"app.localhost:8787", 200},
		{"gateway.internal", 200},
		{"Gateway.Internal:443", 200},
		{"conductor.lan:8787", 200},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			before := len(ts.fakes.recorded())
			resp, b := ts.send(t, "POST", "/v1/chat/completions", tt.host, originBody, "Content-Type", "application/json")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 403 {
				if got := errorCode(t, b); got != "host_not_allowed" {
					t.Errorf("error %q: %s", got, b)
				}
				if n := len(ts.fakes.recorded()) - before; n != 0 {
					t.Errorf("%d upstream calls", n)
				}
			}
		})
	}
	// The dashboard and the health checks are behind the same check.
	if resp, b := ts.send(t, "GET", "/v1/models", "evil.example", ""); resp.StatusCode != 403 {
		t.Errorf("GET /v1/models with a foreign Host: %d %s", resp.StatusCode, b)
	}

	tok := newTestServer(t, serverSetup{opts: func(o *Options) { o.Tokens = []Token{{Name: "ci", Value: "tok-1"}} }})
	resp, b := tok.send(t, "POST", "/v1/chat/completions", "gateway.example.com", originBody,
		"Content-Type", "application/json", "Authorization", "Bearer tok-1")
	if resp.StatusCode != 200 {
		t.Errorf("with a token, a named Host: %d %s", resp.StatusCode, b)
	}
}

// CORS as configured: preflights from [server] cors_origins are answered,
// their answers readable; any other Origin is refused before any upstream
// call, a preflight included; the server's own origin is served.
func TestCORSOnlyAsConfigured(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.CORSOrigins = []string{"https://app.example"} }})
	// A preflight from the configured origin.
	resp, b := ts.send(t, "OPTIONS", "/v1/chat/completions", "", "",
		"Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type, x-stainless-os")
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		h.Get("Access-Control-Allow-Headers") != "authorization, content-type, x-stainless-os" || h.Get("Vary") != "Origin" {
		t.Fatalf("preflight: %d %v %s", resp.StatusCode, h, b)
	}
	// Its request: answered, readable.
	resp, b = ts.send(t, "POST", "/v1/chat/completions", "", originBody, "Content-Type", "application/json", "Origin", "https://app.example")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")), "cf-aig-log-id") {
		t.Fatalf("configured origin: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// Another origin: refused, simple request, JSON request and preflight alike.
	before := len(ts.fakes.recorded())
	for _, tt := range []struct{ method, contentType string }{
		{"POST", "text/plain"}, {"POST", "application/json"}, {"OPTIONS", ""},
	} {
		h := []string{"Origin", "http://evil.example", "Access-Control-Request-Method", "POST"}
		if tt.contentType != "" {
			h = append(h, "Content-Type", tt.contentType)
		}
		resp, b := ts.send(t, tt.method, "/v1/chat/completions", "", originBody, h...)
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" || errorCode(t, b) != "origin_not_allowed" {
			t.Errorf("%s %s from evil.example: %d %v %s", tt.method, tt.contentType, resp.StatusCode, resp.Header, b)
		}
	}
	resp, b = ts.send(t, "POST", "/v1/messages", "", originBody, "Content-Type", "application/json", "Origin", "null")
	if resp.StatusCode != 403 || errorCode(t, b) != "anthropic:permission_error" {
		t.Errorf("Origin null: %d %s", resp.StatusCode, b)
	}
	if n := len(ts.fakes.recorded()) - before; n != 0 {
		t.Errorf("%d upstream calls from a foreign origin", n)
	}
	// The server's own origin (the dashboard's page) is served.
	own := "http://" + strings.TrimPrefix(ts.url, "http://")
	resp, b = ts.send(t, "POST", "/v1/chat/completions", "", originBody, "Content-Type", "application/json", "Origin", own)
	if resp.StatusCode != 200 {
		t.Errorf("same origin: %d %s", resp.StatusCode, b)
	}
}

func TestOriginsConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		origins, hosts []string
		want           string
	}{
		{[]string{"app.example"}, nil, `cors origin "app.example"`},
		{[]string{"https://app.example/path"}, nil, `cors origin "https://app.example/path"`},
		{nil, []string{"gw:8787"}, `allowed host "gw:8787"`},
	} {
		_, err := newOrigins(tt.origins, tt.hosts, 0, DefaultAddr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: %v, want %q", tt.origins, tt.hosts, err, tt.want)
		}
	}
}
