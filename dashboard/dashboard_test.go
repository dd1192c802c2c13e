package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"
)

func newServer(t *testing.T, st conductor.Store, opts Options) *httptest.Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	srv := httptest.NewServer(New(st, opts))
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path and decodes its JSON into v, failing on any status but
// 200.
func get(t *testing.T, srv *httptest.Server, path string, v any) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: content type %q", path, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func nearPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return near(*a, *b)
}

func checkFigures(t *testing.T, what string, got, want Figures) {
	t.Helper()
	if got.Requests != want.Requests || got.CacheHits != want.CacheHits || got.Errors != want.Errors ||
		got.InputTokens != want.InputTokens || got.OutputTokens != want.OutputTokens ||
		!near(got.CostUSD, want.CostUSD) || !near(got.P50Ms, want.P50Ms) || !near(got.P95Ms, want.P95Ms) ||
		!near(got.P99Ms, want.P99Ms) || !nearPtr(got.HitRate, want.HitRate) || !nearPtr(got.ErrorRate, want.ErrorRate) ||
		!nearPtr(got.MeanScore, want.MeanScore) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestSummary(t *testing.T) {
	rows := fixtureRows(testNow)
	srv := newServer(t, openFixture(t, rows), Options{})
	tests := []struct {
		since string
		d     time.Duration
	}{
		{"", 24 * time.Hour},
		{"24h", 24 * time.Hour},
		{"1h", time.Hour},
		{"6h", 6 * time.Hour},
		{"2d", 48 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.since, func(t *testing.T) {
			var s Summary
			get(t, srv, "/api/summary?since="+tt.since, &s)
			want := expected(rows, testNow.Add(-tt.d), testNow, nil)
			checkFigures(t, "summary", s.Figures, want)
			if !s.Until.Equal(testNow) || !s.Since.Equal(testNow.Add(-tt.d)) {
				t.Errorf("window %v..%v", s.Since, s.Until)
			}
		})
	}
}

func TestSummaryTargets(t *testing.T) {
	rows := fixtureRows(testNow)
	tests := []struct {
		name    string
		targets Targets
		want    map[string]*bool // nil: no data
		rows    []conductor.LogRow
	}{
		// 25 requests: 9 hits (36%), 3 errors (12%), p95 3600ms.
		{"page targets", Targets{}, map[string]*bool{"hitRate": okIf(false), "errorRate": okIf(false), "p95": okIf(false)}, rows},
		{"lenient targets", Targets{HitRate: 0.3, ErrorRate: 0.15, P95: 4 * time.Second},
			map[string]*bool{"hitRate": okIf(true), "errorRate": okIf(true), "p95": okIf(true)}, rows},
		{"no requests", Targets{}, map[string]*bool{"hitRate": nil, "errorRate": nil, "p95": nil}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, openFixture(t, tt.rows), Options{Targets: tt.targets})
			var s Summary
			get(t, srv, "/api/summary?since=24h", &s)
			if len(s.Targets) != 3 {
				t.Fatalf("targets %+v", s.Targets)
			}
			for _, tg := range s.Targets {
				want, ok := tt.want[tg.Name]
				if !ok {
					t.Fatalf("unexpected target %q", tg.Name)
				}
				if (want == nil) != (tg.OK == nil) || (want != nil && *want != *tg.OK) {
					t.Errorf("%s: ok=%v, want %v (value %v)", tg.Name, deref(tg.OK), deref(want), deref(tg.Value))
				}
			}
			if tt.rows == nil && (s.HitRate != nil || s.ErrorRate != nil) {
				t.Errorf("rates of no requests: %v %v", s.HitRate, s.ErrorRate)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestBy(t *testing.T) {
	rows := fixtureRows(testNow)
	srv := newServer(t, openFixture(t, rows), Options{})
	field := map[string]func(conductor.LogRow) string{
		"model":       func(r conductor.LogRow) string { return r.Model },
		"provider":    func(r conductor.LogRow) string { return r.Provider },
		"environment": func(r conductor.LogRow) string { return r.Environment },
		"variant":     func(r conductor.LogRow) string { return r.Variant },
		"gateway":     func(r conductor.LogRow) string { return r.Gateway },
	}
	for by, f := range field {
		t.Run(by, func(t *testing.T) {
			var groups []Group
			get(t, srv, "/api/by?since=24h&by="+by, &groups)
			seen := map[string]bool{}
			for _, r := range rows {
				if !r.Time.Before(testNow.Add(-24 * time.Hour)) {
					seen[f(r)] = true
				}
			}
			if len(groups) != len(seen) {
				t.Fatalf("%d groups, want %d: %+v", len(groups), len(seen), groups)
			}
			for i, g := range groups {
				want := expected(rows, testNow.Add(-24*time.Hour), testNow, func(r conductor.LogRow) bool { return f(r) == g.Group })
				checkFigures(t, by+" "+g.Group, g.Figures, want)
				if !near(g.CostPerRequestUSD, want.CostUSD/float64(want.Requests)) {
					t.Errorf("%s: cost per request %v", g.Group, g.CostPerRequestUSD)
				}
				if i > 0 && groups[i-1].Requests < g.Requests {
					t.Errorf("not ordered by requests: %+v", groups)
				}
			}
		})
	}
}

func TestSeries(t *testing.T) {
	rows := fixtureRows(testNow)
	srv := newServer(t, openFixture(t, rows), Options{})
	tests := []struct {
		query   string
		step    time.Duration
		buckets int
	}{
		{"since=24h&step=1h", time.Hour, 24},      // testNow is on the hour: 24 whole buckets
		{"since=24h", 30 * time.Minute, 48},       // the default step: about 48 buckets
		{"since=90m&step=1h", time.Hour, 2},       // 10:30 truncates to 10:00
		{"since=7d", 6 * time.Hour, 28},           // 168h / 6h
		{"since=24h&step=7m", 7 * time.Minute, 0}, // counted below
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var s Series
			get(t, srv, "/api/series?"+tt.query, &s)
			if s.StepSeconds != tt.step.Seconds() {
				t.Fatalf("step %vs, want %v", s.StepSeconds, tt.step)
			}
			if tt.buckets > 0 && len(s.Buckets) != tt.buckets {
				t.Fatalf("%d buckets, want %d", len(s.Buckets), tt.buckets)
			}
			var total int64
			for i, b := range s.Buckets {
				if b.Start.UnixNano()%int64(tt.step) != 0 {
					t.Errorf("bucket %d starts at %v: not aligned to %v", i, b.Start, tt.step)
				}
				end := b.Start.Add(tt.step)
				if end.After(testNow) {
					end = testNow
				}
				checkFigures(t, fmt.Sprintf("bucket %v", b.Start), b.Figures, expected(rows, b.Start, end, nil))
				total += b.Requests
			}
			if want := expected(rows, s.Buckets[0].Start, testNow, nil).Requests; total != want {
				t.Errorf("buckets add up to %d requests, want %d", total, want)
			}
		})
	}
}

func TestRecent(t *testing.T) {
	rows := fixtureRows(testNow)
	srv := newServer(t, openFixture(t, rows), Options{})
	var recent []Recent
	get(t, srv, "/api/recent?limit=5", &recent)
	if len(recent) != 5 {
		t.Fatalf("%d rows", len(recent))
	}
	for i := 1; i < len(recent); i++ {
		if recent[i].Time.After(recent[i-1].Time) {
			t.Fatalf("not newest first: %v after %v", recent[i].Time, recent[i-1].Time)
		}
	}
	// The newest fixture row is gpt-4o's first, a cache hit 7 minutes ago.
	if r := recent[0]; r.Model != "gpt-4o" || r.Deployment != "openai/gpt-4o@OPENAI_API_KEY" || !r.Cached || !r.Time.Equal(testNow.Add(-7*time.Minute)) || r.LatencyMs != 3 {
		t.Errorf("newest row %+v", r)
	}
	get(t, srv, "/api/recent", &recent)
	if len(recent) != len(rows) { // fewer than the default 50
		t.Fatalf("%d rows, want %d", len(recent), len(rows))
	}
	resp, err := srv.Client().Get(srv.URL + "/api/recent?limit=500")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "user-4242") {
		t.Fatal("recent requests carry user ids")
	}
}

func TestBadRequests(t *testing.T) {
	srv := newServer(t, openFixture(t, nil), Options{})
	tests := []struct{ path, want string }{
		{"/api/summary?since=abc", "expected a duration"},
		{"/api/summary?since=-1h", "must be positive"},
		{"/api/summary?since=0s", "must be positive"},
		{"/api/summary?since=1000d", "longer than 400 days"},
		{"/api/summary?since=NaNd", "expected a duration"},
		{"/api/by?by=colour", "expected model, provider"},
		{"/api/recent?limit=0", "expected 1 to 500"},
		{"/api/recent?limit=501", "expected 1 to 500"},
		{"/api/recent?limit=x", "expected 1 to 500"},
		{"/api/series?since=30d&step=1m", "at most 500"},
		{"/api/series?step=banana", "step"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := srv.Client().Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 400 || !strings.Contains(e.Error.Message, tt.want) {
				t.Fatalf("%d %q, want 400 with %q", resp.StatusCode, e.Error.Message, tt.want)
			}
		})
	}
}

// TestStoreFailure: a store that cannot be read is a 500 that says so
// without the store's error text.
func TestStoreFailure(t *testing.T) {
	st := openFixture(t, fixtureRows(testNow))
	srv := newServer(t, st, Options{Logger: discardLogger()})
	st.Close()
	for _, p := range []string{"/api/summary", "/api/series", "/api/by?by=model", "/api/recent"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(body), "could not be read") || strings.Contains(string(body), "sql") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}

func TestPageAndAssets(t *testing.T) {
	srv := newServer(t, openFixture(t, nil), Options{})
	tests := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="app.js"`},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", "api/summary"},
		{"GET", "/style.css", 200, "text/css; charset=utf-8", ".kpi"},
		{"GET", "/api/config", 200, "application/json", `"refreshSeconds":5`},
		{"GET", "/index.html", 404, "", ""}, // the page is "/" only
		{"GET", "/nope", 404, "", ""},
		{"GET", "/assets/app.js", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"POST", "/api/summary", 405, "", ""},
	}
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("content type %q, want %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
}

// TestPageHasNoOutsideReferences: the page loads nothing from another
// origin; it must work offline from the binary alone.
func TestPageHasNoOutsideReferences(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
			if strings.Contains(s, bad) {
				t.Errorf("%s refers to %q", name, bad)
			}
		}
	}
}

func TestAuth(t *testing.T) {
	st := openFixture(t, fixtureRows(testNow))
	open := newServer(t, st, Options{})
	locked := newServer(t, st, Options{Tokens: []string{"", "tok-one", "tok-two"}})
	cookie := func(tok string) *http.Cookie {
		sum := tokenHash(tok)
		return &http.Cookie{Name: CookieName, Value: fmt.Sprintf("%x", sum[:])}
	}
	tests := []struct {
		name       string
		srv        *httptest.Server
		path       string
		bearer     string
		cookie     *http.Cookie
		status     int
		location   string // for redirects
		setsCookie bool
	}{
		{"no tokens configured", open, "/api/summary", "", nil, 200, "", false},
		{"no credentials: api", locked, "/api/summary", "", nil, 401, "", false},
		{"no credentials: overspend", locked, "/api/overspend", "", nil, 401, "", false},
		{"no credentials: page", locked, "/", "", nil, 401, "", false},
		{"empty bearer", locked, "/api/summary", " ", nil, 401, "", false},
		{"bearer", locked, "/api/summary", "tok-one", nil, 200, "", false},
		{"second bearer", locked, "/api/summary", "tok-two", nil, 200, "", false},
		{"wrong bearer", locked, "/api/summary", "tok-three", nil, 401, "", false},
		{"token query", locked, "/?token=tok-two", "", nil, 303, "./", true},
		{"token query keeps other parameters", locked, "/api/summary?since=1h&token=tok-one", "", nil, 303, "./summary?since=1h", true},
		{"wrong token query", locked, "/?token=nope", "", nil, 401, "", false},
		{"cookie", locked, "/api/summary", "", cookie("tok-one"), 200, "", false},
		{"cookie of another token", locked, "/api/summary", "", cookie("nope"), 401, "", false},
		{"cookie with the raw token", locked, "/api/summary", "", &http.Cookie{Name: CookieName, Value: "tok-one"}, 401, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.srv.URL+tt.path, nil)
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			client := *tt.srv.Client()
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(string(body), "tok-") {
				t.Error("the answer shows a token")
			}
			if tt.location != "" && resp.Header.Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), tt.location)
			}
			var set *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == CookieName {
					set = c
				}
			}
			if (set != nil) != tt.setsCookie {
				t.Fatalf("cookie set: %v", set)
			}
			if set != nil {
				if !set.HttpOnly || set.SameSite != http.SameSiteStrictMode || strings.Contains(set.Value, "tok-") {
					t.Errorf("cookie %+v", set)
				}
				// The cookie lets the browser in from now on.
				req, _ := http.NewRequest("GET", tt.srv.URL+"/api/summary", nil)
				req.AddCookie(set)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("with the cookie: %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{" 1h ", time.Hour, true},
		{"400d", MaxSince, true},
		{"401d", 0, false},
		{"9601h", 0, false},
		{"0", 0, false},
		{"-2d", 0, false},
		{"d", 0, false},
		{"", 0, false},
		{"1y", 0, false},
		{"Infd", 0, false},
		{"1e308d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSince(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSince(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"24h", "7d", "1.5d", "-1d", "1e9d", "NaNd", "0x10d", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSince(s)
		if err == nil && (d <= 0 || d > MaxSince) {
			t.Fatalf("ParseSince(%q) = %v outside (0, %v]", s, d, MaxSince)
		}
	})
}

func TestBudgetStatuses(t *testing.T) {
	ctx := context.Background()
	st := openFixture(t, nil)
	day := Budget{Name: "gateway, per day", LimitUSD: 10, Window: WindowDay, Key: SpendKey("gateway", "prod-gw")}
	month := Budget{Name: "production, per month", LimitUSD: 100, Window: WindowMonth, Key: SpendKey("environment", "production")}
	free := Budget{Name: "zero", LimitUSD: 0, Window: WindowDay, Key: SpendKey("user", "bob")}
	// Spend as the gateway records it: reserved, then settled.
	reserve := func(b Budget, when time.Time, nano int64) {
		name, _, resets := windowOf(b.Window, when)
		id, err := st.ReserveSpend(ctx, []conductor.Budget{{Key: b.Key + "/" + b.Window + ":" + name, Limit: 1e12, Resets: resets}}, nano, when)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SettleSpend(ctx, id, nano); err != nil {
			t.Fatal(err)
		}
	}
	reserve(day, testNow, 2_500_000_000)
	reserve(day, testNow.Add(-24*time.Hour), 7_000_000_000) // yesterday: another window
	reserve(month, testNow, 40_000_000_000)
	reserve(month, testNow.Add(-3*time.Hour), 10_000_000_000)

	srv := newServer(t, st, Options{Budgets: []Budget{day, month, free}})
	var got []BudgetStatus
	get(t, srv, "/api/budgets", &got)
	if len(got) != 3 {
		t.Fatalf("%+v", got)
	}
	want := []struct {
		spent, fraction float64
		period          string
		resets          time.Time
	}{
		{2.5, 0.25, "2026-11-25", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{50, 0.5, "2026-11", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{0, -1, "2026-11-25", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
	}
	for i, w := range want {
		g := got[i]
		if !near(g.SpentUSD, w.spent) || g.Period != w.period || !g.Resets.Equal(w.resets) {
			t.Errorf("budget %d: %+v", i, g)
		}
		if (w.fraction < 0) != (g.Fraction == nil) || (g.Fraction != nil && !near(*g.Fraction, w.fraction)) {
			t.Errorf("budget %d fraction %v, want %v", i, deref(g.Fraction), w.fraction)
		}
	}
}

// TestBudgetsFollowTheGateway: a real gateway with budgets spends through
// a fake OpenAI upstream, and the page reads what it spent under the keys
// BudgetsFor names.
func TestBudgetsFollowTheGateway(t *testing.T) {
	answer, err := os.ReadFile(filepath.Join("testdata", "chat_completion.json"))
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer upstream.Close()

	st := openFixture(t, nil)
	budgets := []gateway.Budget{
		{Scope: gateway.ScopeGateway, Period: gateway.PeriodDay, LimitUSD: 5},
		{Scope: gateway.ScopeEnvironment, Match: "production", Period: gateway.PeriodMonth, LimitUSD: 50},
		{Scope: gateway.ScopeModel, Match: "openai/gpt-4o", Period: gateway.PeriodDay, LimitUSD: 1},
		{Scope: gateway.ScopeUser, Period: gateway.PeriodDay, LimitUSD: 1}, // one per user: not shown
	}
	g, err := gateway.New(gateway.Config{ID: "gw1", Environment: "production", Budgets: budgets}, st)
	if err != nil {
		t.Fatal(err)
	}
	p := g.Wrap(openai.New(provider.Endpoint{Name: "openai", BaseURL: upstream.URL + "/v1", APIKey: "sk-test"}))
	for range 3 {
		_, err := p.Chat(context.Background(), &conductor.ChatRequest{
			Provider: "openai", Model: "gpt-4o", MaxTokens: 100,
			Messages: []conductor.Message{conductor.TextMessage("user", "Hello")},
			Options:  conductor.CallOptions{User: "alice"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	shown := BudgetsFor("gw1", budgets)
	if len(shown) != 3 {
		t.Fatalf("budgets shown: %+v", shown)
	}
	// The gateway spends in today's windows by the wall clock.
	srv := newServer(t, st, Options{Budgets: shown, Now: time.Now})
	var got []BudgetStatus
	get(t, srv, "/api/budgets", &got)
	// Three answers of 19 input and 10 output tokens at gpt-4o's list
	// price ($2.50 and $10 per million).
	want := 3 * (19*2.5 + 10*10.0) / 1e6
	for _, b := range got {
		if !near(b.SpentUSD, want) {
			t.Errorf("%s: spent $%v, want $%v", b.Name, b.SpentUSD, want)
		}
	}
}

func TestBudgetsFor(t *testing.T) {
	got := BudgetsFor("gw", []gateway.Budget{
		{Scope: "gateway", Match: "ignored", Period: "day", LimitUSD: 1},
		{Scope: "provider", Match: "openai", Period: "month", LimitUSD: 2},
		{Scope: "model", Match: "workers-ai/@cf/meta/llama-3.1-8b-instruct", Period: "day", LimitUSD: 3},
		{Scope: "model", Match: "@cf/meta/llama-3.1-8b-instruct", Period: "day", LimitUSD: 4},
		{Scope: "environment", Period: "day", LimitUSD: 5},
	})
	want := []Budget{
		{"gw, per day", 1, "day", "spend/gateway:gw"},
		{"provider openai, per month", 2, "month", "spend/provider:openai"},
		{"model workers-ai/@cf/meta/llama-3.1-8b-instruct, per day", 3, "day", "spend/model:@cf/meta/llama-3.1-8b-instruct"},
		{"model @cf/meta/llama-3.1-8b-instruct, per day", 4, "day", "spend/model:@cf/meta/llama-3.1-8b-instruct"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	// Shared limits: a gateway-scoped budget names its gateway; named
	// budgets are shown by name; spend counts are not budgets.
	got = BudgetsFor("", []gateway.Budget{
		{Scope: "gateway", Match: "batch", Period: "day", LimitUSD: 1},
		{Scope: "gateway", Period: "day", LimitUSD: 2},
		{Name: "prod", Scope: "environment", Match: "production", Period: "month", LimitUSD: 3},
		{Scope: "key", Match: "ci", Period: "day", Unlimited: true},
	})
	want = []Budget{
		{"batch, per day", 1, "day", "spend/gateway:batch"},
		{"prod, per month", 3, "month", "spend/environment:production"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRelativeURLsUnderAPrefix(t *testing.T) {
	// Mounted under a prefix, the page's relative URLs still reach the API,
	// and a ?token= login lands back on the page.
	st := openFixture(t, fixtureRows(testNow))
	mux := http.NewServeMux()
	mux.Handle("/dash/", http.StripPrefix("/dash", New(st, Options{Tokens: []string{"tok"}, Now: func() time.Time { return testNow }})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(srv.URL + "/dash/?token=tok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/dash/" || resp.Request.URL.RawQuery != "" ||
		!strings.Contains(string(body), "app.js") {
		t.Fatalf("login landed on %s: %d", resp.Request.URL, resp.StatusCode)
	}
	base := resp.Request.URL
	ref, _ := url.Parse("api/summary?since=24h")
	resp, err = client.Get(base.ResolveReference(ref).String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
