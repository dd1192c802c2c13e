package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conductor-go/conductor/gateway"
)

// embedFake answers embedding calls as the providers document them:
// OpenAI's /embeddings in the encoding the request asks for, Workers AI's
// native run of a bge model. Every request is recorded.
type embedFake struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	calls  []upstreamCall
	status int    // when set, the next answer's status
	file   string // and body
}

func newEmbedFake(t *testing.T) *embedFake {
	f := &embedFake{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, upstreamCall{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		status, file := f.status, f.file
		f.status, f.file = 0, ""
		f.mu.Unlock()
		if file == "" {
			var ok bool
			if file, ok = embedAnswer(r.URL.Path, body); !ok {
				http.Error(w, `{"error":{"message":"fake: no such path"}}`, http.StatusNotFound)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(max(status, http.StatusOK))
		_, _ = w.Write(fixture(t, file))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// embedAnswer is the documented answer of an embedding upstream's path:
// base64 vectors when the request asks for them.
func embedAnswer(path string, body []byte) (file string, ok bool) {
	switch {
	case path == "/openai/v1/embeddings" && strings.Contains(string(body), `"encoding_format":"base64"`):
		return "openai/embeddings_base64.json", true
	case path == "/openai/v1/embeddings" || path == "/local/v1/embeddings":
		return "openai/embeddings.json", true
	case strings.HasPrefix(path, "/cf/accounts/"+testAccount+"/ai/run/@cf/baai/"):
		return "workersai/embed.json", true
	}
	return "", false
}

func (f *embedFake) env() map[string]string {
	return map[string]string{
		"OPENAI_BASE_URL":         f.srv.URL + "/openai/v1",
		"CLOUDFLARE_API_BASE_URL": f.srv.URL + "/cf",
		"LOCAL_BASE_URL":          f.srv.URL + "/local/v1",
	}
}

func (f *embedFake) recorded() []upstreamCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstreamCall(nil), f.calls...)
}

// b64 is a vector as the official SDKs expect it for encoding_format
// base64: little-endian float32s.
func b64(v ...float32) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// The embedding list as the caller gets it: each vector as JSON decoded it
// (numbers, or a base64 string).
type embedList struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name, body   string
		upstreamPath string   // the one call the fake must see
		upstreamBody string   // exactly
		want         []string // each vector as its JSON
		model        string
		tokens       int
	}{
		{name: "openai, floats asked, base64 fetched", body: `{"model":"text-embedding-3-small","input":["hello","world"],"encoding_format":"float"}`,
			upstreamPath: "/openai/v1/embeddings", upstreamBody: `{"model":"text-embedding-3-small","input":["hello","world"],"encoding_format":"base64"}`,
			want: []string{`[1,-2]`, `[0.5,-0.25]`}, model: "text-embedding-3-small", tokens: 2},
		{name: "openai, base64 asked (the SDKs' default)", body: `{"model":"openai/text-embedding-3-small","input":["hello","world"],"encoding_format":"base64","dimensions":2,"user":"u-1"}`,
			upstreamPath: "/openai/v1/embeddings", upstreamBody: `{"model":"text-embedding-3-small","input":["hello","world"],"encoding_format":"base64","dimensions":2,"user":"u-1"}`,
			want: []string{`"` + b64(1, -2) + `"`, `"` + b64(0.5, -0.25) + `"`}, model: "text-embedding-3-small", tokens: 2},
		{name: "no encoding_format: floats", body: `{"model":"text-embedding-3-small","input":["hello","world"]}`,
			upstreamPath: "/openai/v1/embeddings", upstreamBody: `{"model":"text-embedding-3-small","input":["hello","world"],"encoding_format":"base64"}`,
			want: []string{`[1,-2]`, `[0.5,-0.25]`}, model: "text-embedding-3-small", tokens: 2},
		{name: "workers ai, base64", body: `{"model":"@cf/baai/bge-small-en-v1.5","input":["hello","world"],"encoding_format":"base64","user":"u-1"}`,
			upstreamPath: "/cf/accounts/" + testAccount + "/ai/run/@cf/baai/bge-small-en-v1.5", upstreamBody: `{"text":["hello","world"]}`,
			want:  []string{`"` + b64(0.0132, -0.0511, 0.0207) + `"`, `"` + b64(0.0402, 0.0117, -0.0098) + `"`},
			model: "@cf/baai/bge-small-en-v1.5", tokens: 2},
		{name: "workers ai, floats", body: `{"model":"workers-ai/@cf/baai/bge-small-en-v1.5","input":["hello","world"],"encoding_format":"float"}`,
			upstreamPath: "/cf/accounts/" + testAccount + "/ai/run/@cf/baai/bge-small-en-v1.5", upstreamBody: `{"text":["hello","world"]}`,
			want: []string{`[0.0132,-0.0511,0.0207]`, `[0.0402,0.0117,-0.0098]`}, model: "@cf/baai/bge-small-en-v1.5", tokens: 2},
		{name: "a local server", body: `{"model":"local/nomic-embed-text","input":["hello","world"]}`,
			upstreamPath: "/local/v1/embeddings", upstreamBody: `{"model":"nomic-embed-text","input":["hello","world"],"encoding_format":"float"}`,
			want: []string{`[0.0123,-0.0456]`, `[0.0781,0.0032]`}, model: "text-embedding-3-small", tokens: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEmbedFake(t)
			ts := newTestServer(t, serverSetup{env: f.env()})
			resp, b := ts.post(t, "/v1/embeddings", tt.body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			calls := f.recorded()
			if len(calls) != 1 || calls[0].Path != tt.upstreamPath || string(calls[0].Body) != tt.upstreamBody {
				t.Fatalf("upstream calls %+v", calls)
			}
			var l embedList
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			if l.Object != "list" || l.Model != tt.model || len(l.Data) != len(tt.want) || l.Usage.PromptTokens != tt.tokens || l.Usage.TotalTokens != tt.tokens {
				t.Fatalf("answer %s", b)
			}
			for i, d := range l.Data {
				if d.Object != "embedding" || d.Index != i || string(d.Embedding) != tt.want[i] {
					t.Errorf("data[%d] = %s, want %s", i, d.Embedding, tt.want[i])
				}
			}
			// The default gateway caches nothing: no cache status.
			if _, cached := resp.Header["Cf-Aig-Cache-Status"]; resp.Header.Get("cf-aig-log-id") == "" || cached {
				t.Errorf("headers %v", resp.Header)
			}
		})
	}
}

// The second identical call is a cache hit; both are logged, the first
// with the price table's cost, and counted.
func TestEmbeddingsCacheAndLog(t *testing.T) {
	f := newEmbedFake(t)
	ts := newTestServer(t, serverSetup{env: f.env(), template: gateway.Config{CacheTTL: time.Hour}})
	body := `{"model":"text-embedding-3-small","input":["hello","world"]}`
	r1, b1 := ts.post(t, "/v1/embeddings", body)
	r2, b2 := ts.post(t, "/v1/embeddings", body)
	if r1.StatusCode != 200 || r2.StatusCode != 200 {
		t.Fatalf("%d %s / %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
	}
	if r1.Header.Get("cf-aig-cache-status") != "MISS" || r2.Header.Get("cf-aig-cache-status") != "HIT" {
		t.Errorf("cache status %q then %q", r1.Header.Get("cf-aig-cache-status"), r2.Header.Get("cf-aig-cache-status"))
	}
	if string(b1) != string(b2) {
		t.Errorf("the hit differs:\n%s\n%s", b1, b2)
	}
	if n := len(f.recorded()); n != 1 {
		t.Errorf("%d upstream calls, want 1", n)
	}
	// Another encoding of the same vectors is the same cache entry.
	r3, b3 := ts.post(t, "/v1/embeddings", `{"model":"text-embedding-3-small","input":["hello","world"],"encoding_format":"base64"}`)
	if r3.Header.Get("cf-aig-cache-status") != "HIT" || !strings.Contains(string(b3), `"`+b64(1, -2)+`"`) {
		t.Errorf("base64 of the cached vectors: %s %s", r3.Header.Get("cf-aig-cache-status"), b3)
	}
	rows := ts.flushLogs(t)
	if len(rows) != 3 {
		t.Fatalf("%d log rows", len(rows))
	}
	var miss, hits int
	for _, row := range rows {
		if row.Provider != "openai" || row.Model != "text-embedding-3-small" || row.InputTokens != 2 || !row.Success || row.Gateway != "default" {
			t.Errorf("row %+v", row)
		}
		switch {
		case row.Cached && row.CostNanoUSD == 0:
			hits++
		case !row.Cached && row.CostNanoUSD == 40 && !row.CostFlagged: // 2 tokens at $0.02 per million
			miss++
		default:
			t.Errorf("row %+v", row)
		}
	}
	if miss != 1 || hits != 2 {
		t.Errorf("%d misses, %d hits", miss, hits)
	}
}

func TestEmbeddingsBudget(t *testing.T) {
	f := newEmbedFake(t)
	ts := newTestServer(t, serverSetup{env: f.env(),
		template: gateway.Config{Budgets: []gateway.Budget{{Scope: gateway.ScopeGateway, Period: gateway.PeriodDay, LimitUSD: 1e-7}}}})
	r, b := ts.post(t, "/v1/embeddings", `{"model":"text-embedding-3-small","input":["hello","world"]}`)
	if r.StatusCode != 429 || path(jsonOf(t, b), "error", "code") != "budget_exceeded" || r.Header.Get("x-should-retry") != "false" {
		t.Errorf("%d %v %s", r.StatusCode, r.Header, b)
	}
	if n := len(f.recorded()); n != 0 {
		t.Errorf("%d calls went upstream over budget", n)
	}
}

func TestEmbeddingsRateLimit(t *testing.T) {
	f := newEmbedFake(t)
	ts := newTestServer(t, serverSetup{env: f.env(), template: gateway.Config{RateLimit: gateway.RateLimitConfig{Requests: 1, Window: time.Hour}}})
	body := `{"model":"text-embedding-3-small","input":["hello","world"]}`
	if r, b := ts.post(t, "/v1/embeddings", body); r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	// Chat and embedding calls count against the same limit.
	r, b := ts.post(t, "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`)
	if r.StatusCode != 429 || path(jsonOf(t, b), "error", "code") != "rate_limited" {
		t.Errorf("%d %s", r.StatusCode, b)
	}
}

func TestEmbeddingsErrors(t *testing.T) {
	tests := []struct {
		name, body string
		opts       func(*Options)
		upstream   int // status the upstream answers with (0: not called)
		status     int
		code       string
		inMsg      string
	}{
		{name: "token arrays to workers ai", body: `{"model":"@cf/baai/bge-small-en-v1.5","input":[[1,2]]}`, status: 400, code: "unsupported_parameter", inMsg: "input: not supported by workers-ai"},
		{name: "dimensions to workers ai", body: `{"model":"@cf/baai/bge-small-en-v1.5","input":"a","dimensions":256}`, status: 400, code: "unsupported_parameter", inMsg: "dimensions"},
		{name: "an anthropic model", body: `{"model":"claude-3-5-haiku-20241022","input":"a"}`, status: 400, code: "unsupported_model", inMsg: "anthropic serves no embeddings"},
		{name: "unknown model", body: `{"model":"mxbai-embed-large","input":"a"}`, status: 404, code: "model_not_found", inMsg: "provider/model"},
		{name: "no model", body: `{"input":"a"}`, status: 400, inMsg: "model: required"},
		{name: "empty input", body: `{"model":"text-embedding-3-small","input":""}`, status: 400, inMsg: "input[0]: an empty string"},
		{name: "bad format", body: `{"model":"text-embedding-3-small","input":"a","encoding_format":"int8"}`, status: 400, inMsg: "encoding_format"},
		{name: "a fallback chain", body: `{"model":"emb","input":"a"}`, status: 400, inMsg: "fallback chain",
			opts: func(o *Options) {
				o.Models = map[string][]string{"emb": {"openai/text-embedding-3-small", "workers-ai/@cf/baai/bge-small-en-v1.5"}}
			}},
		{name: "an alias", body: `{"model":"emb","input":["hello","world"]}`, status: 200,
			opts: func(o *Options) { o.Models = map[string][]string{"emb": {"workers-ai/@cf/baai/bge-base-en-v1.5"}} }},
		{name: "upstream 401 keeps its status and message", body: `{"model":"text-embedding-3-small","input":["a","b"]}`, upstream: 401,
			status: 401, code: "invalid_api_key", inMsg: "Incorrect API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEmbedFake(t)
			if tt.upstream != 0 {
				f.status, f.file = tt.upstream, "openai/error_401.json"
			}
			ts := newTestServer(t, serverSetup{env: f.env(), opts: tt.opts})
			r, b := ts.post(t, "/v1/embeddings", tt.body, oneAttempt()...)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.status, b)
			}
			if tt.status == 200 {
				return
			}
			e := jsonOf(t, b)
			msg, _ := path(e, "error", "message").(string)
			if (tt.code != "" && path(e, "error", "code") != tt.code) || !strings.Contains(msg, tt.inMsg) {
				t.Errorf("error %s, want code %q and %q", b, tt.code, tt.inMsg)
			}
			if n := len(f.recorded()); tt.upstream == 0 && n != 0 {
				t.Errorf("%d upstream calls for a refused request", n)
			}
		})
	}
}
