package server

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/conductor-go/conductor/config"
)

// get sends a GET with headers and returns the answer, its body read.
func (ts *testServer) get(t *testing.T, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.url+path, nil)
	if err != nil {
		t.Fatal(err)
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

type modelList struct {
	Object string `json:"object"`
	Data   []struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created *int64 `json:"created"`
		OwnedBy string `json:"owned_by"`
	} `json:"data"`
}

func (l modelList) owner(id string) string {
	for _, m := range l.Data {
		if m.ID == id {
			return m.OwnedBy
		}
	}
	return ""
}

func TestModelsList(t *testing.T) {
	ts := newTestServer(t, serverSetup{
		// Anthropic has no key: its models are not listed.
		env: map[string]string{"ANTHROPIC_API_KEY": ""},
		opts: func(o *Options) {
			o.Models = map[string][]string{"fast": {"groq/llama-3.1-8b-instant"}, "smart": {"openai/gpt-4o", "anthropic/claude-3-5-sonnet-20241022"}}
			o.Config.Splits = []config.Split{{Name: "ab"}}
			o.Tokens = []Token{{Name: "alice", Value: "tok-alice-123"}}
		}})
	if r, b := ts.get(t, "/v1/models"); r.StatusCode != 401 || path(jsonOf(t, b), "error", "code") != "invalid_gateway_token" {
		t.Errorf("no token: %d %s", r.StatusCode, b)
	}
	r, b := ts.get(t, "/v1/models", "Authorization", "Bearer tok-alice-123")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	var l modelList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if l.Object != "list" || len(l.Data) < 8 {
		t.Fatalf("list %s", b)
	}
	for _, m := range l.Data {
		if m.Object != "model" || m.Created == nil || m.ID == "" || m.OwnedBy == "" {
			t.Errorf("entry %+v", m)
		}
	}
	// Aliases first, by name; then each reachable provider's known models.
	if got := []string{l.Data[0].ID, l.Data[1].ID, l.Data[2].ID}; !slices.Equal(got, []string{"ab", "fast", "smart"}) {
		t.Errorf("aliases %v", got)
	}
	for id, owner := range map[string]string{
		"fast": "conductor", "ab": "conductor",
		"openai/gpt-4o-mini": "openai", "openai/text-embedding-3-small": "openai",
		"groq/llama-3.3-70b-versatile":              "groq",
		"workers-ai/@cf/meta/llama-3.1-8b-instruct": "workers-ai",
		"workers-ai/@cf/baai/bge-small-en-v1.5":     "workers-ai",
		"anthropic/claude-3-5-sonnet-20241022":      "",
		"mock/anything":                             "",
	} {
		if got := l.owner(id); got != owner {
			t.Errorf("%s owned by %q, want %q", id, got, owner)
		}
	}
}

func TestModelsListCallerKeys(t *testing.T) {
	// No server keys at all, but callers bring their own: every provider
	// is reachable, except Workers AI without an account.
	ts := newTestServer(t, serverSetup{
		env:  map[string]string{"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "GROQ_API_KEY": "", "CLOUDFLARE_API_TOKEN": "", "CLOUDFLARE_ACCOUNT_ID": ""},
		opts: func(o *Options) { o.AllowCallerKeys = true }})
	_, b := ts.get(t, "/v1/models")
	var l modelList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if l.owner("anthropic/claude-3-5-sonnet-20241022") != "anthropic" || l.owner("openai/gpt-4o") != "openai" ||
		l.owner("workers-ai/@cf/meta/llama-3.1-8b-instruct") != "" {
		t.Errorf("list %s", b)
	}
}

func TestModelsAnthropicFormat(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	r, b := ts.get(t, "/v1/models", "anthropic-version", "2023-06-01")
	var l struct {
		Data []struct {
			Type, ID, DisplayName, CreatedAt string
		} `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}
	if err := json.Unmarshal(b, &l); err != nil || r.StatusCode != 200 {
		t.Fatalf("%d %s %v", r.StatusCode, b, err)
	}
	if len(l.Data) == 0 || l.HasMore || l.FirstID == nil || *l.FirstID != l.Data[0].ID || l.LastID == nil || *l.LastID != l.Data[len(l.Data)-1].ID {
		t.Fatalf("list %s", b)
	}
	if d := l.Data[0]; d.Type != "model" {
		t.Errorf("entry %+v", d)
	}
	r, b = ts.get(t, "/v1/models/claude-3-5-sonnet-20241022", "anthropic-version", "2023-06-01")
	if m := jsonOf(t, b); r.StatusCode != 200 || m["type"] != "model" || m["id"] != "claude-3-5-sonnet-20241022" || m["created_at"] == nil {
		t.Errorf("retrieve: %d %s", r.StatusCode, b)
	}
	r, b = ts.get(t, "/v1/models/nope", "anthropic-version", "2023-06-01")
	if e := jsonOf(t, b); r.StatusCode != 404 || e["type"] != "error" || path(e, "error", "type") != "not_found_error" {
		t.Errorf("unknown: %d %s", r.StatusCode, b)
	}
}

func TestModelsRetrieve(t *testing.T) {
	ts := newTestServer(t, serverSetup{opts: func(o *Options) { o.Models = map[string][]string{"fast": {"groq/llama-3.1-8b-instant"}} }})
	tests := []struct {
		path, id, owner string
		status          int
	}{
		{"/v1/models/openai/gpt-4o-mini", "openai/gpt-4o-mini", "openai", 200},
		{"/v1/models/openai%2Fgpt-4o-mini", "openai/gpt-4o-mini", "openai", 200}, // as openai-node escapes it
		{"/v1/models/workers-ai/@cf/baai/bge-small-en-v1.5", "workers-ai/@cf/baai/bge-small-en-v1.5", "workers-ai", 200},
		{"/v1/models/gpt-4o-mini", "gpt-4o-mini", "openai", 200}, // a bare id, by the prefix rule
		{"/v1/models/fast", "fast", "conductor", 200},
		{"/v1/models/gpt-9", "", "", 404},
		{"/v1/models/groq/nope", "", "", 404},
	}
	for _, tt := range tests {
		r, b := ts.get(t, tt.path)
		if r.StatusCode != tt.status {
			t.Errorf("%s: %d %s", tt.path, r.StatusCode, b)
			continue
		}
		m := jsonOf(t, b)
		if tt.status == 404 {
			if path(m, "error", "code") != "model_not_found" {
				t.Errorf("%s: %s", tt.path, b)
			}
			continue
		}
		if m["id"] != tt.id || m["owned_by"] != tt.owner || m["object"] != "model" {
			t.Errorf("%s: %s", tt.path, b)
		}
	}
}
