package routing

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// seen is one request as it reached a fake upstream.
type seen struct {
	Method string
	Path   string // escaped, as sent on the wire
	Header http.Header
	Body   map[string]any
}

// fake is an HTTP upstream answering every request with one documented
// payload from testdata, recording what it received.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newFake(t *testing.T, fixture string, header map[string]string) *fake {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Errorf("body is not JSON: %v: %s", err, raw)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: m})
		f.mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if strings.HasSuffix(fixture, ".sse") {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		if s := header["X-Status"]; s == "401" {
			w.WriteHeader(http.StatusUnauthorized)
		}
		w.Write(body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request reached the fake upstream")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func parseConfig(t *testing.T, doc string) *config.Config {
	t.Helper()
	c, err := config.Parse("conductor.toml", []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func request(provider, model string, stream bool) *conductor.ChatRequest {
	temp := 0.7
	return &conductor.ChatRequest{
		Provider: provider, Model: model, Stream: stream,
		Messages:    []conductor.Message{conductor.TextMessage("system", "Be brief."), conductor.TextMessage("user", "Hi")},
		Temperature: &temp, MaxTokens: 100,
	}
}

// call runs req whole or streamed and returns the text and the meta.
func call(t *testing.T, p conductor.Provider, req *conductor.ChatRequest) (string, conductor.ResponseMeta) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !req.Stream {
		resp, err := p.Chat(ctx, req)
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		return resp.Text(), resp.Meta
	}
	s, err := p.Stream(ctx, req)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	defer s.Close()
	var b strings.Builder
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		b.WriteString(c.Delta)
	}
	return b.String(), s.Meta()
}

const (
	llama  = "@cf/meta/llama-3.1-8b-instruct"
	acct   = "0123456789abcdef0123456789abcdef"
	hosted = "[[ai.gateway]]\nid = \"my-gateway\"\naccount_id = \"" + acct + "\"\ntoken_env = \"CF_AIG_TOKEN\"\ncache_ttl = 3600\n"
)

func keys() map[string]string {
	return map[string]string{
		"OPENAI_API_KEY":        "sk-test-openai",
		"ANTHROPIC_API_KEY":     "sk-ant-test",
		"GROQ_API_KEY":          "gsk_test",
		"CLOUDFLARE_API_TOKEN":  "cf-test-token",
		"CLOUDFLARE_ACCOUNT_ID": acct,
		"CF_AIG_TOKEN":          "aig-test-token",
	}
}

// For every provider and every routing mode: the exact method, path and
// headers that reach the upstream, the body the adapter sent, and the answer
// parsed back — upstreams selected only by the base-URL variables.
func TestRoutes(t *testing.T) {
	type tc struct {
		name              string
		conf              string
		env               func(url string) map[string]string // base-URL variables
		provider, routing string
		model             string
		stream            bool
		opts              conductor.CallOptions
		fixture           string
		respHeader        map[string]string
		wantPath          string
		wantHeader        map[string]string // exact values; every cf-aig-* header received must be listed
		wantNoHeader      []string
		wantModel         string // the model in the body, when it differs from model
		wantContent       string
		wantCached        bool
		wantCacheStatus   string
	}
	gwEnv := func(u string) map[string]string {
		return map[string]string{"CLOUDFLARE_AI_GATEWAY_BASE_URL": u + "/v1"}
	}
	tests := []tc{
		// direct: the provider's own URL and key, no gateway header.
		{name: "openai direct", provider: "openai", routing: "direct", model: "o1-preview",
			env: func(u string) map[string]string { return map[string]string{"OPENAI_BASE_URL": u + "/v1"} }, fixture: "openai_chat.json",
			wantPath: "/v1/chat/completions", wantHeader: map[string]string{"Authorization": "Bearer sk-test-openai"},
			wantContent: "Draft ready."},
		{name: "openai direct stream", provider: "openai", routing: "direct", model: "gpt-4o", stream: true,
			env: func(u string) map[string]string { return map[string]string{"OPENAI_BASE_URL": u + "/v1"} }, fixture: "openai_stream.sse",
			wantPath: "/v1/chat/completions", wantHeader: map[string]string{"Authorization": "Bearer sk-test-openai"},
			wantContent: "Draft ready."},
		{name: "groq direct", provider: "groq", routing: "direct", model: "llama-3.1-70b-versatile",
			env: func(u string) map[string]string { return map[string]string{"GROQ_BASE_URL": u} }, fixture: "groq_chat.json",
			wantPath: "/openai/v1/chat/completions", wantHeader: map[string]string{"Authorization": "Bearer gsk_test"},
			wantContent: "Entities: Paris."},
		{name: "anthropic direct", provider: "anthropic", routing: "direct", model: "claude-3-5-sonnet-20241022",
			env: func(u string) map[string]string { return map[string]string{"ANTHROPIC_BASE_URL": u} }, fixture: "anthropic_message.json",
			wantPath: "/v1/messages", wantHeader: map[string]string{"X-Api-Key": "sk-ant-test", "Anthropic-Version": "2023-06-01"},
			wantNoHeader: []string{"Authorization"}, wantContent: "Sentiment: positive."},
		{name: "workers-ai direct", provider: "workers-ai", routing: "direct", model: llama,
			env: func(u string) map[string]string {
				return map[string]string{"CLOUDFLARE_API_BASE_URL": u + "/client/v4"}
			}, fixture: "workersai_run.json",
			wantPath:   "/client/v4/accounts/" + acct + "/ai/run/@cf/meta/llama-3.1-8b-instruct",
			wantHeader: map[string]string{"Authorization": "Bearer cf-test-token"}, wantContent: "question"},
		{name: "local direct", provider: "local", routing: "direct", model: "llama3.1:8b",
			env: func(u string) map[string]string { return map[string]string{"LOCAL_BASE_URL": u + "/v1"} }, fixture: "local_chat.json",
			wantPath: "/v1/chat/completions", wantNoHeader: []string{"Authorization"}, wantContent: "question"},
		{name: "local direct from config", provider: "local", routing: "", model: "llama3.1:8b",
			conf: "[providers.local]\nbase_url = \"{{URL}}/v1\"\n", fixture: "local_chat.json",
			wantPath: "/v1/chat/completions", wantNoHeader: []string{"Authorization"}, wantContent: "question"},

		// cloudflare: Workers AI with the [ai] account, or the local server [ai] names.
		{name: "workers-ai cloudflare", provider: "workers-ai", routing: "cloudflare", model: llama,
			env: func(u string) map[string]string {
				return map[string]string{"CLOUDFLARE_API_BASE_URL": u + "/client/v4"}
			}, fixture: "workersai_run.json",
			wantPath:   "/client/v4/accounts/" + acct + "/ai/run/@cf/meta/llama-3.1-8b-instruct",
			wantHeader: map[string]string{"Authorization": "Bearer cf-test-token"}, wantContent: "question"},
		{name: "workers-ai cloudflare default routing, account from [ai]", provider: "workers-ai", routing: "", model: llama,
			conf: "[ai]\nbinding = \"AI\"\naccount_id = \"file-acct\"\n",
			env: func(u string) map[string]string {
				return map[string]string{"CLOUDFLARE_API_BASE_URL": u + "/client/v4"}
			}, fixture: "workersai_run.json",
			wantPath:   "/client/v4/accounts/file-acct/ai/run/@cf/meta/llama-3.1-8b-instruct",
			wantHeader: map[string]string{"Authorization": "Bearer cf-test-token"}, wantContent: "question"},
		{name: "workers-ai cloudflare stream", provider: "workers-ai", routing: "cloudflare", model: llama, stream: true,
			env: func(u string) map[string]string {
				return map[string]string{"CLOUDFLARE_API_BASE_URL": u + "/client/v4"}
			}, fixture: "workersai_stream.sse",
			wantPath:   "/client/v4/accounts/" + acct + "/ai/run/@cf/meta/llama-3.1-8b-instruct",
			wantHeader: map[string]string{"Authorization": "Bearer cf-test-token"}, wantContent: "question"},
		{name: "workers-ai cloudflare to a local server", provider: "workers-ai", routing: "cloudflare", model: llama,
			conf:    "[ai]\nbinding = \"AI\"\nurl = \"{{URL}}/v1\"\n[ai.model]\n\"@cf/meta/llama-3.1-8b-instruct\" = \"llama3.1:8b\"\n",
			fixture: "local_chat.json", wantPath: "/v1/chat/completions", wantNoHeader: []string{"Authorization"},
			wantModel: "llama3.1:8b", wantContent: "question"},

		// cloudflare-gateway with an account: Cloudflare's hosted gateway URLs
		// and cf-aig-* headers; provider keys as each provider expects them.
		{name: "openai hosted gateway", provider: "openai", routing: "cloudflare-gateway", model: "gpt-4o", conf: hosted, env: gwEnv,
			fixture: "openai_chat.json", respHeader: map[string]string{"cf-aig-cache-status": "HIT"},
			wantPath: "/v1/" + acct + "/my-gateway/openai/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer sk-test-openai", "Cf-Aig-Authorization": "Bearer aig-test-token",
				"Cf-Aig-Cache-Ttl": "3600"},
			wantContent: "Draft ready.", wantCached: true, wantCacheStatus: "HIT"},
		{name: "openai hosted gateway, member options", provider: "openai", routing: "cloudflare-gateway", model: "gpt-4o", conf: hosted, env: gwEnv,
			opts: conductor.CallOptions{CacheTTL: durationPtr(86400 * time.Second), MaxAttempts: 2, RetryDelay: time.Second, Backoff: "exponential",
				Timeout: 30 * time.Second, Metadata: map[string]string{"ensemble": "generate-article", "member": "write-draft"}, Environment: "production"},
			fixture: "openai_chat.json", respHeader: map[string]string{"cf-aig-cache-status": "MISS", "cf-aig-step": "0"},
			wantPath: "/v1/" + acct + "/my-gateway/openai/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer sk-test-openai", "Cf-Aig-Authorization": "Bearer aig-test-token",
				"Cf-Aig-Cache-Ttl": "86400", "Cf-Aig-Max-Attempts": "2", "Cf-Aig-Retry-Delay": "1000", "Cf-Aig-Backoff": "exponential",
				"Cf-Aig-Request-Timeout": "30000",
				"Cf-Aig-Metadata":        `{"ensemble":"generate-article","environment":"production","member":"write-draft"}`},
			wantContent: "Draft ready.", wantCacheStatus: "MISS"},
		{name: "openai hosted gateway stream", provider: "openai", routing: "cloudflare-gateway", model: "gpt-4o", stream: true, conf: hosted, env: gwEnv,
			fixture: "openai_stream.sse", respHeader: map[string]string{"cf-aig-cache-status": "MISS"},
			wantPath: "/v1/" + acct + "/my-gateway/openai/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer sk-test-openai", "Cf-Aig-Authorization": "Bearer aig-test-token",
				"Cf-Aig-Cache-Ttl": "3600"},
			wantContent: "Draft ready.", wantCacheStatus: "MISS"},
		{name: "anthropic hosted gateway", provider: "anthropic", routing: "cloudflare-gateway", model: "claude-3-5-sonnet-20241022", conf: hosted, env: gwEnv,
			opts:    conductor.CallOptions{SkipCache: true},
			fixture: "anthropic_message.json", respHeader: map[string]string{"cf-aig-cache-status": "MISS"},
			wantPath: "/v1/" + acct + "/my-gateway/anthropic/v1/messages",
			wantHeader: map[string]string{"X-Api-Key": "sk-ant-test", "Anthropic-Version": "2023-06-01",
				"Cf-Aig-Authorization": "Bearer aig-test-token", "Cf-Aig-Skip-Cache": "true"},
			wantNoHeader: []string{"Authorization"}, wantContent: "Sentiment: positive.", wantCacheStatus: "MISS"},
		{name: "anthropic hosted gateway stream", provider: "anthropic", routing: "cloudflare-gateway", model: "claude-3-5-sonnet-20241022", stream: true,
			conf: hosted, env: gwEnv, fixture: "anthropic_stream.sse", respHeader: map[string]string{"cf-aig-cache-status": "HIT"},
			wantPath: "/v1/" + acct + "/my-gateway/anthropic/v1/messages",
			wantHeader: map[string]string{"X-Api-Key": "sk-ant-test", "Anthropic-Version": "2023-06-01",
				"Cf-Aig-Authorization": "Bearer aig-test-token", "Cf-Aig-Cache-Ttl": "3600"},
			wantContent: "Sentiment: positive.", wantCached: true, wantCacheStatus: "HIT"},
		{name: "groq hosted gateway", provider: "groq", routing: "cloudflare-gateway", model: "llama-3.1-70b-versatile", conf: hosted, env: gwEnv,
			opts:    conductor.CallOptions{CacheTTL: durationPtr(0), CacheKey: "entities-v1"},
			fixture: "groq_chat.json", wantPath: "/v1/" + acct + "/my-gateway/groq/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer gsk_test", "Cf-Aig-Authorization": "Bearer aig-test-token",
				"Cf-Aig-Skip-Cache": "true", "Cf-Aig-Cache-Key": "entities-v1"},
			wantContent: "Entities: Paris."},
		{name: "workers-ai hosted gateway", provider: "workers-ai", routing: "cloudflare-gateway", model: llama, conf: hosted, env: gwEnv,
			fixture: "workersai_run.json", wantPath: "/v1/" + acct + "/my-gateway/workers-ai/@cf/meta/llama-3.1-8b-instruct",
			wantHeader: map[string]string{"Authorization": "Bearer cf-test-token", "Cf-Aig-Authorization": "Bearer aig-test-token",
				"Cf-Aig-Cache-Ttl": "3600"},
			wantContent: "question"},
		{name: "hosted gateway url from config, no token, gateway retry settings", provider: "openai", routing: "cloudflare-gateway", model: "gpt-4o",
			conf:    "[[ai.gateway]]\nid = \"g2\"\naccount_id = \"a2\"\nurl = \"{{URL}}/gw\"\nmax_attempts = 4\nretry_delay = \"10s\"\nbackoff = \"linear\"\n",
			opts:    conductor.CallOptions{MaxAttempts: 9},
			fixture: "openai_chat.json", wantPath: "/gw/a2/g2/openai/chat/completions",
			wantHeader:   map[string]string{"Authorization": "Bearer sk-test-openai", "Cf-Aig-Max-Attempts": "5", "Cf-Aig-Retry-Delay": "5000", "Cf-Aig-Backoff": "linear"},
			wantNoHeader: []string{"Cf-Aig-Authorization"}, wantContent: "Draft ready."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.fixture, tt.respHeader)
			env := keys()
			if tt.env != nil {
				maps.Copy(env, tt.env(f.URL))
			}
			r, err := New(parseConfig(t, strings.ReplaceAll(tt.conf, "{{URL}}", f.URL)), Options{Env: config.MapEnv(env)})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Check(tt.provider, tt.routing); err != nil {
				t.Fatalf("Check: %v", err)
			}
			p, err := r.Provider(context.Background(), tt.provider, tt.model, tt.routing)
			if err != nil {
				t.Fatalf("Provider: %v", err)
			}
			req := request(tt.provider, tt.model, tt.stream)
			req.Options = tt.opts
			content, meta := call(t, p, req)

			got := f.last(t)
			if got.Method != http.MethodPost || got.Path != tt.wantPath {
				t.Errorf("request = %s %s, want POST %s", got.Method, got.Path, tt.wantPath)
			}
			for k, v := range tt.wantHeader {
				if g := got.Header.Values(k); len(g) != 1 || g[0] != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			for k := range got.Header {
				if strings.HasPrefix(strings.ToLower(k), "cf-aig-") {
					if _, ok := tt.wantHeader[k]; !ok {
						t.Errorf("unexpected header %s: %q", k, got.Header.Get(k))
					}
				}
			}
			for _, k := range tt.wantNoHeader {
				if v := got.Header.Get(k); v != "" {
					t.Errorf("header %s = %q, want none", k, v)
				}
			}
			wantModel := or(tt.wantModel, tt.model)
			if tt.provider == "workers-ai" && tt.wantModel == "" {
				wantModel = "" // Workers AI names the model in the path, not the body
			}
			if m, _ := got.Body["model"].(string); m != wantModel {
				t.Errorf("body model = %q, want %q", m, wantModel)
			}
			if msgs, _ := got.Body["messages"].([]any); len(msgs) == 0 {
				t.Errorf("body has no messages: %v", got.Body)
			}
			if s, _ := got.Body["stream"].(bool); s != tt.stream {
				t.Errorf("body stream = %v, want %v", got.Body["stream"], tt.stream)
			}

			if content != tt.wantContent {
				t.Errorf("content = %q, want %q", content, tt.wantContent)
			}
			wantRouting := or(tt.routing, conductor.DefaultRouting(tt.provider))
			if meta.Provider != tt.provider || meta.Routing != wantRouting || meta.Cached != tt.wantCached || meta.CacheStatus != tt.wantCacheStatus {
				t.Errorf("meta = %+v, want provider %s routing %s cached %v status %q", meta, tt.provider, wantRouting, tt.wantCached, tt.wantCacheStatus)
			}
		})
	}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

// Through the hosted gateway, the provider receives the very body the direct
// route sends: the gateway only changes the URL and adds headers.
func TestHostedGatewayBodyUnchanged(t *testing.T) {
	for _, tc := range []struct{ provider, model, fixture, baseVar, suffix string }{
		{"openai", "gpt-4o", "openai_chat.json", "OPENAI_BASE_URL", "/v1"},
		{"anthropic", "claude-3-5-sonnet-20241022", "anthropic_message.json", "ANTHROPIC_BASE_URL", ""},
		{"groq", "llama-3.1-70b-versatile", "groq_chat.json", "GROQ_BASE_URL", ""},
		{"workers-ai", llama, "workersai_run.json", "CLOUDFLARE_API_BASE_URL", "/client/v4"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			f := newFake(t, tc.fixture, nil)
			env := keys()
			env[tc.baseVar] = f.URL + tc.suffix
			env["CLOUDFLARE_AI_GATEWAY_BASE_URL"] = f.URL + "/v1"
			r, err := New(parseConfig(t, hosted), Options{Env: config.MapEnv(env)})
			if err != nil {
				t.Fatal(err)
			}
			var bodies []map[string]any
			for _, routing := range []string{"direct", "cloudflare-gateway"} {
				p, err := r.Provider(context.Background(), tc.provider, tc.model, routing)
				if err != nil {
					t.Fatal(err)
				}
				call(t, p, request(tc.provider, tc.model, false))
				bodies = append(bodies, f.last(t).Body)
			}
			a, _ := json.Marshal(bodies[0])
			b, _ := json.Marshal(bodies[1])
			if string(a) != string(b) {
				t.Errorf("direct body %s\ngateway body %s", a, b)
			}
		})
	}
}

// A hosted gateway's own 401 (code 2009) comes back as the auth error it
// is, with Cloudflare's message.
func TestHostedGatewayUnauthorized(t *testing.T) {
	f := newFake(t, "gateway_401.json", map[string]string{"X-Status": "401"})
	env := keys()
	env["CLOUDFLARE_AI_GATEWAY_BASE_URL"] = f.URL + "/v1"
	r, err := New(parseConfig(t, hosted), Options{Env: config.MapEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Provider(context.Background(), "openai", "gpt-4o", "cloudflare-gateway")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Chat(context.Background(), request("openai", "gpt-4o", false))
	e, ok := conductor.AsError(err)
	if !ok || e.Class != conductor.ClassAuth || e.Status != 401 || e.Retryable {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(err.Error(), "aig-test-token") || strings.Contains(err.Error(), "sk-test-openai") {
		t.Errorf("error shows a secret: %v", err)
	}
}

// builtinGateway stands for package gateway in these tests: it records what
// the router hands it and marks answers as the built-in gateway would.
type builtinGateway struct {
	mu    sync.Mutex
	calls []string
}

func (g *builtinGateway) fn(id string, up conductor.Provider, name, model string) conductor.Provider {
	g.mu.Lock()
	g.calls = append(g.calls, id+"/"+name+"/"+model)
	g.mu.Unlock()
	return markCached{up}
}

type markCached struct{ conductor.Provider }

func (m markCached) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	resp, err := m.Provider.Chat(ctx, req)
	if resp != nil {
		resp.Meta.CacheStatus = "MISS"
	}
	return resp, err
}

// Without an account id, cloudflare-gateway is the built-in gateway around
// the direct adapter: the provider's own URL, no cf-aig-* header.
func TestBuiltinGateway(t *testing.T) {
	for _, tc := range []struct{ provider, model, fixture, baseVar, suffix, path string }{
		{"openai", "gpt-4o", "openai_chat.json", "OPENAI_BASE_URL", "/v1", "/v1/chat/completions"},
		{"anthropic", "claude-3-5-sonnet-20241022", "anthropic_message.json", "ANTHROPIC_BASE_URL", "", "/v1/messages"},
		{"groq", "llama-3.1-70b-versatile", "groq_chat.json", "GROQ_BASE_URL", "", "/openai/v1/chat/completions"},
		{"workers-ai", llama, "workersai_run.json", "CLOUDFLARE_API_BASE_URL", "", "/accounts/" + acct + "/ai/run/@cf/meta/llama-3.1-8b-instruct"},
		{"local", "llama3.1:8b", "local_chat.json", "LOCAL_BASE_URL", "/v1", "/v1/chat/completions"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			f := newFake(t, tc.fixture, nil)
			env := keys()
			env[tc.baseVar] = f.URL + tc.suffix
			var gw builtinGateway
			r, err := New(parseConfig(t, "[[ai.gateway]]\nid = \"my-gateway\"\ncache_ttl = 3600\n"), Options{Env: config.MapEnv(env), Gateway: gw.fn})
			if err != nil {
				t.Fatal(err)
			}
			p, err := r.Provider(context.Background(), tc.provider, tc.model, "cloudflare-gateway")
			if err != nil {
				t.Fatal(err)
			}
			_, meta := call(t, p, request(tc.provider, tc.model, false))
			if got := f.last(t); got.Path != tc.path || got.Header.Get("Cf-Aig-Authorization") != "" || got.Header.Get("Cf-Aig-Cache-Ttl") != "" {
				t.Errorf("request %s with headers %v", got.Path, got.Header)
			}
			if meta.Provider != tc.provider || meta.Routing != "cloudflare-gateway" || meta.CacheStatus != "MISS" {
				t.Errorf("meta = %+v", meta)
			}
			if want := []string{"my-gateway/" + tc.provider + "/"}; !slices.Equal(gw.calls, want) {
				t.Errorf("gateway built with %v, want %v", gw.calls, want)
			}
		})
	}
	t.Run("no gateway configured", func(t *testing.T) {
		f := newFake(t, "openai_chat.json", nil)
		env := keys()
		env["OPENAI_BASE_URL"] = f.URL + "/v1"
		var gw builtinGateway
		r, _ := New(parseConfig(t, ""), Options{Env: config.MapEnv(env), Gateway: gw.fn})
		if _, err := r.Provider(context.Background(), "openai", "gpt-4o", "cloudflare-gateway"); err != nil {
			t.Fatal(err)
		}
		if want := []string{"default/openai/"}; !slices.Equal(gw.calls, want) {
			t.Errorf("gateway built with %v, want %v", gw.calls, want)
		}
	})
	t.Run("mock through the built-in gateway", func(t *testing.T) {
		var gw builtinGateway
		mock := stubProvider{content: "mocked"}
		r, _ := New(parseConfig(t, ""), Options{Env: config.MapEnv(nil), Gateway: gw.fn, Mock: mock})
		p, err := r.Provider(context.Background(), "mock", "mock", "cloudflare-gateway")
		if err != nil {
			t.Fatal(err)
		}
		content, meta := call(t, p, request("mock", "mock", false))
		if content != "mocked" || meta.Provider != "mock" || meta.Routing != "cloudflare-gateway" || meta.CacheStatus != "MISS" {
			t.Errorf("content %q meta %+v", content, meta)
		}
	})
}

// stubProvider answers every call with fixed content, for the mock route.
type stubProvider struct{ content string }

func (s stubProvider) Chat(context.Context, *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	return &conductor.ChatResponse{Content: conductor.Texts(s.content), Meta: conductor.ResponseMeta{Provider: "mock"}}, nil
}

func (s stubProvider) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, errors.New("not streamed")
}

// The same (provider, routing) gives the same provider, built once, however
// many goroutines ask at once; different routings give different ones.
func TestProviderCached(t *testing.T) {
	r, err := New(parseConfig(t, ""), Options{Env: config.MapEnv(keys())})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]conductor.Provider, 64)
	for i := range got {
		wg.Go(func() {
			p, err := r.Provider(context.Background(), "openai", "gpt-4o", "direct")
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] {
			t.Fatal("Provider built more than one provider for one route")
		}
	}
	other, err := r.Provider(context.Background(), "openai", "gpt-4o-mini", "direct")
	if err != nil || other != got[0] {
		t.Errorf("another model on the same route should share the provider: %v", err)
	}
	gw, err := r.Provider(context.Background(), "workers-ai", llama, "cloudflare")
	if err != nil || gw == got[0] {
		t.Errorf("another route must not share the provider: %v", err)
	}
}

// The caller's request is never modified by the route.
func TestRequestNotModified(t *testing.T) {
	f := newFake(t, "local_chat.json", nil)
	r, _ := New(parseConfig(t, "[ai]\nurl = \""+f.URL+"/v1\"\n[ai.model]\n\"@cf/meta/llama-3.1-8b-instruct\" = \"llama3.1:8b\"\n"),
		Options{Env: config.MapEnv(nil)})
	p, err := r.Provider(context.Background(), "workers-ai", llama, "cloudflare")
	if err != nil {
		t.Fatal(err)
	}
	req := request("", llama, false)
	req.Body, req.BodyFormat = []byte(`{"model":"`+llama+`","messages":[{"role":"user","content":"Hi"}]}`), "openai"
	call(t, p, req)
	if req.Model != llama || req.Provider != "" || req.BodyFormat != "openai" {
		t.Errorf("request modified: model %q provider %q", req.Model, req.Provider)
	}
	if m := f.last(t).Body["model"]; m != "llama3.1:8b" {
		t.Errorf("body model = %v", m)
	}
}
