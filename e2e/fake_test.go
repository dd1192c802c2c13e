package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

// The fakes are what every other test trusts, so they are tested too.

type fakeReq struct {
	path   string
	body   string
	header []string // name, value pairs
}

func post(t *testing.T, url string, r fakeReq) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(r.header); i += 2 {
		req.Header.Set(r.header[i], r.header[i+1])
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
	return resp.StatusCode, resp.Header, string(b)
}

func TestFakeGatewayCache(t *testing.T) {
	g := NewGateway(t, "acct", "gw", "tok", map[string]string{openai: "sk", anth: "sk-ant", wai: "cf"})
	g.Respond(anth, Sequence(Fail(http.StatusInternalServerError), Text("")))
	auth := []string{"cf-aig-authorization", "Bearer tok", "Authorization", "Bearer sk"}
	ttl := append([]string{"cf-aig-cache-ttl", "3600"}, auth...)
	openaiPath := "/v1/acct/gw/openai/chat/completions"
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name     string
		req      fakeReq
		status   int
		cache    string // cf-aig-cache-status answered
		upstream int
		contains string // in the body
	}{
		{"no ttl: no cache", fakeReq{openaiPath, body, auth}, 200, "", 1, "Hello!"},
		{"first with ttl: miss", fakeReq{openaiPath, body, ttl}, 200, "MISS", 1, `"model":"gpt-4o"`},
		{"same again: hit", fakeReq{openaiPath, body, ttl}, 200, "HIT", 0, "Hello!"},
		{"metadata is not in the key", fakeReq{openaiPath, body, append([]string{"cf-aig-metadata", `{"member":"x"}`}, ttl...)}, 200, "HIT", 0, ""},
		{"another body: miss", fakeReq{openaiPath, strings.Replace(body, "hi", "hey", 1), ttl}, 200, "MISS", 1, ""},
		{"skip-cache: not read", fakeReq{openaiPath, body, append([]string{"cf-aig-skip-cache", "true"}, ttl...)}, 200, "", 1, ""},
		{"another key: refused, not served from the cache", fakeReq{openaiPath, body, []string{"cf-aig-cache-ttl", "3600", "cf-aig-authorization", "Bearer tok", "Authorization", "Bearer wrong"}}, 401, "", 1, "Incorrect API key"},
		{"gateway token missing", fakeReq{openaiPath, body, []string{"Authorization", "Bearer sk"}}, 401, "", 0, `"code":2009`},
		{"unknown provider path", fakeReq{"/v1/acct/gw/openai/completions", body, auth}, 404, "", 0, "no route"},
		{"other gateway", fakeReq{"/v1/acct/other/openai/chat/completions", body, auth}, 404, "", 0, ""},
		{"retried 500 then served", fakeReq{"/v1/acct/gw/anthropic/v1/messages", `{"model":"m"}`,
			[]string{"cf-aig-authorization", "Bearer tok", "x-api-key", "sk-ant", "anthropic-version", AnthropicVersion, "cf-aig-max-attempts", "2"}}, 200, "", 2, "Claude"},
		{"workers-ai model in the path", fakeReq{"/v1/acct/gw/workers-ai/@cf/meta/llama-3.1-8b-instruct", `{"messages":[]}`,
			[]string{"cf-aig-authorization", "Bearer tok", "Authorization", "Bearer cf"}}, 200, "", 1, `"success":true`},
	}
	for i, tc := range tests {
		status, h, b := post(t, g.srv.URL, tc.req)
		if status != tc.status || h.Get("cf-aig-cache-status") != tc.cache || !strings.Contains(b, tc.contains) {
			t.Errorf("%s: %d cache %q body %s; want %d cache %q containing %q", tc.name, status, h.Get("cf-aig-cache-status"), b, tc.status, tc.cache, tc.contains)
		}
		reqs := g.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("%s: %d exchanges recorded, want %d", tc.name, len(reqs), i+1)
		}
		if ex := reqs[i]; ex.Upstream != tc.upstream || ex.Status != tc.status || ex.CacheStatus != tc.cache {
			t.Errorf("%s: recorded %+v, want upstream %d", tc.name, ex, tc.upstream)
		}
	}
	if ex := g.Requests()[len(tests)-1]; ex.Provider != wai || ex.Model != "@cf/meta/llama-3.1-8b-instruct" {
		t.Errorf("workers-ai exchange %s %s", ex.Provider, ex.Model)
	}
}

func TestFakeUpstreams(t *testing.T) {
	tests := []struct {
		provider, key, account string
		path                   string
		auth                   []string
		status                 int
		text                   string
	}{
		{openai, "sk", "", "/v1/chat/completions", []string{"Authorization", "Bearer sk"}, 200, FixtureText(openai)},
		{openai, "sk", "", "/v1/chat/completions", []string{"Authorization", "Bearer no"}, 401, "Incorrect API key"},
		{openai, "sk", "", "/chat/completions", []string{"Authorization", "Bearer sk"}, 404, "no route"},
		{groq, "gsk", "", "/openai/v1/chat/completions", []string{"Authorization", "Bearer gsk"}, 200, FixtureText(groq)},
		{anth, "ka", "", "/v1/messages", []string{"x-api-key", "ka", "anthropic-version", AnthropicVersion}, 200, FixtureText(anth)},
		{anth, "ka", "", "/v1/messages", []string{"x-api-key", "ka"}, 400, "anthropic-version"},
		{anth, "ka", "", "/v1/messages", []string{"Authorization", "Bearer ka", "anthropic-version", AnthropicVersion}, 401, "invalid x-api-key"},
		{wai, "cf", "acct", "/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct", []string{"Authorization", "Bearer cf"}, 200, "nice to meet you"},
		{wai, "cf", "acct", "/client/v4/accounts/other/ai/run/@cf/meta/llama-3.1-8b-instruct", []string{"Authorization", "Bearer cf"}, 404, ""},
		{wai, "cf", "acct", "/client/v4/accounts/acct/ai/run/@cf/x", []string{"Authorization", "Bearer no"}, 401, "Authentication error"},
	}
	for _, tc := range tests {
		u := NewUpstream(t, tc.provider, tc.key, tc.account)
		status, _, b := post(t, u.srv.URL, fakeReq{tc.path, `{"model":"m","messages":[]}`, tc.auth})
		if status != tc.status || !strings.Contains(b, tc.text) {
			t.Errorf("%s %s: %d %s; want %d containing %q", tc.provider, tc.path, status, b, tc.status, tc.text)
		}
		if reqs := u.Requests(); len(reqs) != 1 || reqs[0].Status != status {
			t.Errorf("%s: recorded %+v", tc.provider, reqs)
		}
	}
}

// The base URLs the fakes hand out are the forms the variables take.
func TestFakeURLs(t *testing.T) {
	for _, tc := range []struct {
		provider, suffix string
	}{{openai, "/v1"}, {groq, ""}, {anth, ""}, {wai, "/client/v4"}} {
		u := NewUpstream(t, tc.provider, "k", "a")
		if u.URL != u.srv.URL+tc.suffix {
			t.Errorf("%s URL %s, want the server plus %q", tc.provider, u.URL, tc.suffix)
		}
	}
}

func TestSuccessKeepsTheDocumentedShape(t *testing.T) {
	for _, p := range []string{openai, groq, anth, wai} {
		r := Success(p, "some-model", "custom text")
		if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"custom text"`)) {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
		if r := Success(p, "m", ""); !bytes.Contains(r.Body, []byte(FixtureText(p))) {
			t.Errorf("%s: fixture text lost: %s", p, r.Body)
		}
	}
	if r := Failure(groq, 503); r.Status != 503 || !bytes.Contains(r.Body, []byte("overloaded")) {
		t.Errorf("groq 503 should fall back to OpenAI's shape: %d %s", r.Status, r.Body)
	}
	if r := Failure(anth, 418); r.Status != http.StatusTeapot || !bytes.Contains(r.Body, []byte("e2e fake")) {
		t.Errorf("a missing fixture must fail visibly: %d %s", r.Status, r.Body)
	}
}

func TestSplitGatewayPath(t *testing.T) {
	tests := []struct {
		path, provider, model string
		ok                    bool
	}{
		{"/v1/a/g/openai/chat/completions", conductor.ProviderOpenAI, "", true},
		{"/v1/a/g/groq/chat/completions", conductor.ProviderGroq, "", true},
		{"/v1/a/g/anthropic/v1/messages", conductor.ProviderAnthropic, "", true},
		{"/v1/a/g/workers-ai/@cf/meta/llama-3.1-8b-instruct", conductor.ProviderWorkersAI, "@cf/meta/llama-3.1-8b-instruct", true},
		{"/v1/a/g/workers-ai/", "", "", false},
		{"/v1/a/g/anthropic/messages", "", "", false},
		{"/v1/a/g/openai", "", "", false},
		{"/v1//g/openai/chat/completions", "", "", false},
		{"/v2/a/g/openai/chat/completions", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		_, _, p, m, ok := SplitGatewayPath(tc.path)
		if p != tc.provider || m != tc.model || ok != tc.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.path, p, m, ok, tc.provider, tc.model, tc.ok)
		}
	}
}

// FuzzSplitGatewayPath: any path either parses to a route whose documented
// path is the input again, or is refused; never a panic.
func FuzzSplitGatewayPath(f *testing.F) {
	for _, s := range []string{"/v1/a/g/openai/chat/completions", "/v1/a/g/workers-ai/@cf/x/y", "/v1/a/g/anthropic/v1/messages", "/v1/", "/v1/a/g/groq/chat/completions/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		acct, id, p, model, ok := SplitGatewayPath(path)
		if !ok {
			return
		}
		g := &Gateway{Account: acct, ID: id}
		if back := g.Path(p, model); back != path {
			t.Errorf("%q parsed as %s/%s/%s/%s, which is %q", path, acct, id, p, model, back)
		}
	})
}

// FuzzGatewayRequest: whatever a client sends, the fake gateway answers
// and records it; never a panic.
func FuzzGatewayRequest(f *testing.F) {
	f.Add("/v1/acct/gw/openai/chat/completions", `{"model":"gpt-4o"}`, "Bearer tok", "3600", "2")
	f.Add("/v1/acct/gw/workers-ai/@cf/a", `not json`, "", "-1", "x")
	g := NewGateway(f, "acct", "gw", "tok", map[string]string{openai: "sk", wai: "cf"})
	f.Fuzz(func(t *testing.T, path, body, token, ttl, attempts string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.Path = path
		for k, v := range map[string]string{"cf-aig-authorization": token, "cf-aig-cache-ttl": ttl, "cf-aig-max-attempts": attempts, "Authorization": "Bearer sk"} {
			req.Header.Set(k, v)
		}
		before := len(g.Requests())
		rec := httptest.NewRecorder()
		g.serve(rec, req)
		if rec.Code < 200 || rec.Code > 599 {
			t.Errorf("status %d", rec.Code)
		}
		if len(g.Requests()) != before+1 {
			t.Errorf("request not recorded")
		}
	})
}
