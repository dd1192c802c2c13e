package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzAPI sends arbitrary paths, queries, tokens and cookies: the handler
// answers every one without a panic or a 500, and never lets a request
// without the token through.
func FuzzAPI(f *testing.F) {
	st := openFixture(f, fixtureRows(testNow))
	h := New(st, Options{Tokens: []string{"tok"}, Now: func() time.Time { return testNow }, Logger: discardLogger()})
	for _, s := range []string{
		"/api/summary?since=24h", "/api/series?since=7d&step=1h", "/api/series?since=400d&step=1d",
		"/api/by?by=variant&since=90m", "/api/recent?limit=5", "/?token=tok", "/api/budgets", "/app.js",
		"/api/summary?since=1e308d", "/api/series?step=0.0001d", "/api/recent?limit=-1",
	} {
		f.Add(s, "Bearer tok", "")
		f.Add(s, "", CookieName+"=00")
	}
	f.Fuzz(func(t *testing.T, target, auth, cookie string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := &http.Request{Method: "GET", URL: u, Header: http.Header{}, Host: "example.test"}
		req = req.WithContext(t.Context())
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		authorized := auth == "Bearer tok" || auth == "Bearer  tok" || u.Query().Get("token") == "tok"
		if rec.Code == 200 && !authorized && req.Header.Get("Cookie") == "" {
			t.Fatalf("%s let in without a token (auth %q)", target, auth)
		}
	})
}
