package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/gateway"
)

// FuzzCallOptions reads arbitrary cf-aig-* header values: each is read as
// Cloudflare reads it — into its documented range, or a 400 naming the
// header — never a panic, never a value outside the range.
func FuzzCallOptions(f *testing.F) {
	for _, s := range [][8]string{
		{"3600", "false", "k", `{"user":"a"}`, "3", "500", "exponential", "2000"},
		{"0", "true", "", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}`, "0", "99999", "LINEAR", "1"},
		{"-1", "yes", strings.Repeat("k", 300), `[]`, "6", "-5", "fast", "0"},
		{"99999999999999999999", "1", "", `{"a":{}}`, "1e3", "1.5", "", "-1"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
	}
	names := []string{hdrCacheTTL, hdrSkipCache, hdrCacheKey, hdrMetadata, hdrMaxAttempts, hdrRetryDelay, hdrBackoff, hdrRequestTimeout}
	f.Fuzz(func(t *testing.T, ttl, skip, key, meta, attempts, delay, backoff, timeout string) {
		h := http.Header{}
		for i, v := range []string{ttl, skip, key, meta, attempts, delay, backoff, timeout} {
			if v != "" {
				h.Set(names[i], v)
			}
		}
		o, err := callOptions(h.Get)
		if err != nil {
			if !strings.Contains(strings.ToLower(err.Error()), "cf-aig-") {
				t.Fatalf("an error that names no header: %v", err)
			}
			return
		}
		if o.CacheTTL != nil && (*o.CacheTTL < 0 || *o.CacheTTL > maxCacheTTL) {
			t.Fatalf("cache TTL %v outside 0..%v", *o.CacheTTL, maxCacheTTL)
		}
		if attempts != "" && (o.MaxAttempts < 1 || o.MaxAttempts > gateway.MaxAttemptsLimit) {
			t.Fatalf("max attempts %d outside 1..%d", o.MaxAttempts, gateway.MaxAttemptsLimit)
		}
		if o.RetryDelay < 0 || o.RetryDelay > gateway.MaxRetryDelay {
			t.Fatalf("retry delay %v outside 0..%v", o.RetryDelay, gateway.MaxRetryDelay)
		}
		if timeout != "" && o.Timeout <= 0 {
			t.Fatalf("request timeout %v accepted", o.Timeout)
		}
		if len(o.Metadata) > maxMetadata {
			t.Fatalf("%d metadata entries kept, at most %d", len(o.Metadata), maxMetadata)
		}
		if len(o.CacheKey) > maxCacheKey {
			t.Fatalf("a cache key of %d bytes", len(o.CacheKey))
		}
	})
}

// FuzzGuardHeaders sends arbitrary Origin, Host, Content-Type and
// credential headers to a server with a token and to one without: each is
// answered without a panic, a refused request never reaches an upstream,
// and a request without the token never reaches one on the guarded server.
func FuzzGuardHeaders(f *testing.F) {
	for _, s := range [][5]string{
		{"", "127.0.0.1:8787", "application/json", "", ""},
		{"http://evil.example", "evil.example", "text/plain", "Bearer tok-alice", ""},
		{"null", "localhost", "application/x-www-form-urlencoded", "", "tok-alice"},
		{"https://app.example.com", "[::1]:8787", "application/json; charset=utf-8", "Bearer ", "Bearer tok-alice"},
		{"http://127.0.0.1:8787", "", "multipart/form-data; boundary=x", "Basic YTpi", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	const toml = "[server]\ncors_origins = [\"https://app.example.com\"]\n"
	open := configServer(f, toml, nil)
	guarded := configServer(f, toml, map[string]string{"CONDUCTOR_TOKENS": "alice=tok-alice"})
	body := `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	f.Fuzz(func(t *testing.T, origin, host, ctype, authz, aig string) {
		for _, ts := range []*testServer{open, guarded} {
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
			req.Host = host
			for name, v := range map[string]string{"Origin": origin, "Content-Type": ctype, "Authorization": authz, "cf-aig-authorization": aig} {
				if v != "" && validHeaderValue(v) {
					req.Header.Set(name, v)
				}
			}
			before := ts.fakes.count("openai")
			rec := httptest.NewRecorder()
			ts.Handler().ServeHTTP(rec, req)
			reached := ts.fakes.count("openai") > before
			if rec.Code >= 500 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if rec.Code != http.StatusOK && reached {
				t.Fatalf("refused with %d after reaching the upstream", rec.Code)
			}
			if rec.Code != http.StatusOK && rec.Code != http.StatusNoContent && !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("status %d with a body that is not JSON: %s", rec.Code, rec.Body)
			}
			if ts == guarded && reached && !strings.Contains(authz+aig, "tok-alice") {
				t.Fatalf("reached the upstream without the token (Authorization %q, cf-aig-authorization %q)", authz, aig)
			}
		}
	})
}

// validHeaderValue reports whether net/http would send v as a header
// value: what a client cannot send is not the server's input.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzAdminAPI sends arbitrary bodies to every admin endpoint that reads
// one: each is answered in the admin API's JSON with a status that says
// what it is (2xx, or a 4xx for a body it refuses), never a panic or a 5xx.
func FuzzAdminAPI(f *testing.F) {
	endpoints := []struct{ method, path string }{
		{"POST", "/admin/keys"},
		{"PATCH", "/admin/keys/k1"},
		{"POST", "/admin/keys/k1/rotate"},
		{"POST", "/admin/budgets"},
		{"PUT", "/admin/budgets/b1"},
		{"POST", "/admin/teams"},
		{"PUT", "/admin/teams/t1"},
		{"POST", "/admin/rate-limits"},
		{"PUT", "/admin/rate-limits/r1"},
		{"PUT", "/admin/gateways/g1"},
		{"POST", "/admin/reload"},
	}
	for i := range endpoints {
		for _, s := range []string{
			`{"name":"k1","budget_usd":5,"models":["openai/*"],"expires_at":"2030-01-01T00:00:00Z"}`,
			`{"name":"b1","scope":"gateway","match":"default","daily_usd":10}`,
			`{"name":"t1","members":["alice"],"budget_usd":3}`,
			`{"name":"r1","scope":"user","requests_per_minute":60}`,
			`{"cache_ttl":"1h","max_attempts":9,"request_timeout":"-1s"}`,
			`{"action":"revoke"}`, `{}`, `[]`, `null`, `{"name":1}`, `{`, ``,
		} {
			f.Add(i, []byte(s))
		}
	}
	ts := adminServer(f, "")
	h := ts.Handler()
	f.Fuzz(func(t *testing.T, i int, body []byte) {
		if i < 0 {
			i = -i
		}
		ep := endpoints[i%len(endpoints)]
		req := httptest.NewRequest(ep.method, ep.path, bytes.NewReader(body))
		local(req)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("%s %s %q: status %d: %s", ep.method, ep.path, body, rec.Code, rec.Body)
		}
		if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: an answer that is not JSON: %s", ep.method, ep.path, rec.Body)
		}
	})
}
