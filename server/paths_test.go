package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Paths no endpoint takes answer JSON in the caller's format, even with a
// dashboard mounted at GET /; a known path under the wrong method is a
// 405 naming the method it takes.
func TestUnknownPaths(t *testing.T) {
	dashboard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r) // the dashboard's own text/plain 404
			return
		}
		_, _ = io.WriteString(w, "<html>dashboard</html>")
	})
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.Dashboard = dashboard }})
	tests := []struct {
		method, path string
		headers      []string
		status       int
		anthropic    bool
		allow        string
	}{
		{method: "GET", path: "/v1/nothing", status: 404},
		{method: "GET", path: "/v1/files", status: 404},
		{method: "DELETE", path: "/v1/nothing", status: 404},
		{method: "POST", path: "/v1/responses", status: 404},
		{method: "GET", path: "/v1/messages/batches", status: 404, anthropic: true},
		{method: "POST", path: "/v1/messages/count_tokens", status: 404, anthropic: true},
		{method: "GET", path: "/v1/nothing", headers: []string{"anthropic-version", "2023-06-01"}, status: 404, anthropic: true},
		{method: "GET", path: "/v1/chat/completions", status: 405, allow: "POST"},
		{method: "GET", path: "/v1/embeddings", status: 405, allow: "POST"},
		{method: "GET", path: "/v1/messages", status: 405, anthropic: true, allow: "POST"},
		{method: "PUT", path: "/v1/messages", headers: []string{"anthropic-version", "2023-06-01"}, status: 405, anthropic: true, allow: "POST"},
		{method: "POST", path: "/v1/models", status: 405, allow: "GET"},
		{method: "DELETE", path: "/v1/models/gpt-4o", status: 405, allow: "GET"},
		{method: "GET", path: "/healthz", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.url+tt.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if tt.status == 200 {
				return
			}
			e := jsonOf(t, b)
			msg := path(e, "error", "message")
			if tt.anthropic && (e["type"] != "error" || msg == nil) || !tt.anthropic && (e["type"] != nil || msg == nil) {
				t.Errorf("not the %s error format: %s", map[bool]string{true: "Anthropic", false: "OpenAI"}[tt.anthropic], b)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
	// Outside /v1/ the dashboard keeps its own pages.
	resp, err := http.Get(ts.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "<html>dashboard</html>" {
		t.Errorf("dashboard: %s", b)
	}
}
