package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
)

// chromium finds a Chromium to drive: $CHROMIUM, else the usual names on
// PATH. Without one the test skips on a developer's machine and fails in
// CI (CI set), where the browser check is part of what must pass.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found (CI is set, so the browser test must run): apt-get install -y chromium, or set CHROMIUM")
	}
	t.Skip("no Chromium found: apt-get install -y chromium (or set CHROMIUM) to run the browser test")
	return ""
}

// artifactPath is where the screenshot goes: $ARTIFACTS_DIR when set, else
// testdata/out (git-ignored).
func artifactPath(t *testing.T, name string) string {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// pageFigures is what the page shows, read from its DOM.
type pageFigures struct {
	Loaded string            `json:"loaded"`
	KPI    map[string]kpi    `json:"kpi"`
	Tables map[string][]row  `json:"tables"`
	Charts map[string]chartT `json:"charts"`
	Error  string            `json:"error"`
	Title  string            `json:"title"`
	Over   overspendT        `json:"over"`
}

// overspendT is the budgets panel's over-reservation line.
type overspendT struct {
	Hidden bool   `json:"hidden"`
	Calls  string `json:"calls"` // the JSON figures, as data-calls and data-usd
	USD    string `json:"usd"`
	Text   string `json:"text"` // as shown
}

type kpi struct {
	Value string `json:"value"` // the JSON figure, as data-value
	Text  string `json:"text"`  // as shown
	OK    string `json:"ok"`    // "true", "false" or "" (no target or no data)
}

type row struct {
	Group string   `json:"group"`
	Cells []string `json:"cells"`
	Value string   `json:"value"`
	Best  bool     `json:"best"`
}

type chartT struct {
	Points string `json:"points"`
	Bars   int    `json:"bars"`
	Dots   int    `json:"dots"`
	Target bool   `json:"target"`
}

const readPage = `(() => {
  const kpi = (id) => {
    const e = document.getElementById(id);
    return { value: e.dataset.value || "", text: e.querySelector(".value").textContent, ok: e.dataset.ok || "" };
  };
  const table = (id) => [...document.querySelectorAll("#" + id + " tbody tr")].filter((tr) => !tr.querySelector(".empty")).map((tr) => ({
    group: tr.dataset.group || tr.dataset.id || "",
    cells: [...tr.cells].map((c) => c.textContent),
    value: (tr.querySelector("[data-value]") || { dataset: {} }).dataset.value || "",
    best: !!tr.querySelector(".best"),
  }));
  const chart = (id) => {
    const s = document.getElementById(id);
    return { points: s.dataset.points || "", bars: s.querySelectorAll("rect.bar").length,
      dots: s.querySelectorAll("circle").length, target: !!s.querySelector("line.target") };
  };
  const over = document.getElementById("overspend");
  return {
    over: { hidden: over.hidden, calls: over.dataset.calls || "", usd: over.dataset.usd || "", text: over.innerText.trim() },
    loaded: document.body.dataset.loaded || "",
    title: document.title,
    error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
    kpi: Object.fromEntries(["requests", "hitrate", "errors", "p95", "cost", "tokens"].map((k) => [k, kpi("kpi-" + k)])),
    tables: Object.fromEntries(["models", "latency", "providers", "budgets", "variants", "recent"].map((k) => [k, table("table-" + k)])),
    charts: Object.fromEntries(["requests", "hitrate", "p95", "errors", "cost"].map((k) => [k, chart("chart-" + k)])),
  };
})()`

// num renders a JSON number the way the page's data-value attributes do
// (JavaScript's String(n)), for exact comparison.
func num(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64) // JavaScript's exponent form differs; unused here
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// TestBrowser loads the dashboard in headless Chromium over a real SQLite
// store, checks that the figures it shows are the API's, watches it pick up
// a new request on its own, and saves a screenshot.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	rows := fixtureRows(testNow)
	st := openFixture(t, rows)
	ctx := context.Background()
	// Budgets with spend, so the page has bars to draw.
	day := Budget{Name: "prod-gw, per day", LimitUSD: 0.05, Window: WindowDay, Key: SpendKey("gateway", "prod-gw")}
	month := Budget{Name: "environment production, per month", LimitUSD: 1, Window: WindowMonth, Key: SpendKey("environment", "production")}
	for _, b := range []struct {
		b    Budget
		nano int64
	}{{day, 42_000_000}, {month, 450_000_000}} {
		name, _, resets := windowOf(b.b.Window, testNow)
		id, err := st.ReserveSpend(ctx, []conductor.Budget{{Key: b.b.Key + "/" + b.b.Window + ":" + name, Limit: 1e12, Resets: resets}}, b.nano, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SettleSpend(ctx, id, b.nano); err != nil {
			t.Fatal(err)
		}
	}
	// No call has cost more than its reservation yet; later two gateways'
	// have.
	var overMu sync.Mutex
	over := map[string]gateway.Overspend{"prod-gw": {}}
	const token = "browser-test-token"
	srv := httptest.NewServer(New(st, Options{
		Tokens: []string{token}, Budgets: []Budget{day, month}, Refresh: time.Second,
		Now: func() time.Time { return testNow }, Title: "Conductor gateway: prod-gw",
		OverspendSource: func() map[string]gateway.Overspend {
			overMu.Lock()
			defer overMu.Unlock()
			return maps.Clone(over)
		},
	}))
	defer srv.Close()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1100),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()

	// Start the browser, then listen to the console before the page loads:
	// a script error or a blocked resource is a failure.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	consoleCtx, stopConsole := context.WithCancel(bctx)
	defer stopConsole()
	go func() {
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()

	// Log in the way a person would: ?token= once, then the cookie.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/?token="+token+"#since=24h"),
		chromedp.WaitReady(chromedp.CSS(`body[data-loaded]`)),
	); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != srv.URL+"/#since=24h" {
		t.Errorf("after login the page is at %s: the token should be gone from the address", loc)
	}
	// Wait until the drawing is done: the page sets data-loaded after it.
	got, err := chromedp.Run(bctx, chromedp.Evaluate[pageFigures](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}

	// The API's figures, fetched as a script would, with the token.
	api := func(path string, v any) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var sum Summary
	api("/api/summary?since=24h", &sum)
	var models, providers, variants []Group
	api("/api/by?by=model&since=24h", &models)
	api("/api/by?by=provider&since=24h", &providers)
	api("/api/by?by=variant&since=24h", &variants)
	var series Series
	api("/api/series?since=24h", &series)
	var budgets []BudgetStatus
	api("/api/budgets", &budgets)
	var recent []Recent
	api("/api/recent?limit=50", &recent)

	if got.Error != "" {
		t.Errorf("the page shows an error: %s", got.Error)
	}
	if got.Title != "Conductor gateway: prod-gw" {
		t.Errorf("title %q", got.Title)
	}

	// Figures: the raw values match the API, the text is what a person
	// reads, and the targets are coloured by the API's verdict.
	want := map[string]kpi{
		"requests": {num(float64(sum.Requests)), strconv.FormatInt(sum.Requests, 10), ""},
		"hitrate":  {num(*sum.HitRate), fmt.Sprintf("%.1f%%", *sum.HitRate*100), strconv.FormatBool(*sum.Targets[0].OK)},
		"errors":   {num(*sum.ErrorRate), fmt.Sprintf("%.1f%%", *sum.ErrorRate*100), strconv.FormatBool(*sum.Targets[1].OK)},
		"p95":      {num(sum.P95Ms), fmt.Sprintf("%.2f s", sum.P95Ms/1000), strconv.FormatBool(*sum.Targets[2].OK)},
		"cost":     {num(sum.CostUSD), "", ""},
		"tokens":   {num(float64(sum.InputTokens + sum.OutputTokens)), "", ""},
	}
	for k, w := range want {
		g := got.KPI[k]
		if g.Value != w.Value || (w.Text != "" && g.Text != w.Text) || g.OK != w.OK {
			t.Errorf("figure %s: page %+v, API %+v", k, g, w)
		}
	}
	// The fixture's figures, as a person would check them on the page.
	if got.KPI["requests"].Text != "25" || got.KPI["hitrate"].Text != "36.0%" || got.KPI["errors"].Text != "12.0%" {
		t.Errorf("figures %+v", got.KPI)
	}

	// Tables: one row per group, the same groups and values as the API.
	if g := got.Tables["models"]; len(g) != len(models) {
		t.Errorf("cost per model: %d rows, API %d", len(g), len(models))
	} else {
		cost := map[string]float64{}
		for _, m := range models {
			cost[m.Group] = m.CostUSD
		}
		for i, r := range g {
			if c, ok := cost[r.Group]; !ok || r.Value != num(c) {
				t.Errorf("model row %q cost %s, API %v", r.Group, r.Value, c)
			}
			if i > 0 && cost[g[i-1].Group] < cost[r.Group] {
				t.Errorf("cost per model not sorted by cost")
			}
		}
	}
	if g := got.Tables["providers"]; len(g) != len(providers) {
		t.Errorf("providers: %d rows, API %d", len(g), len(providers))
	} else {
		for i, p := range providers {
			if g[i].Group != p.Group || g[i].Value != num(*p.ErrorRate) {
				t.Errorf("provider row %+v, API %s error rate %v", g[i], p.Group, *p.ErrorRate)
			}
		}
	}
	if g := got.Tables["latency"]; len(g) != len(models) {
		t.Errorf("latency: %d rows, API %d", len(g), len(models))
	}
	// Variants: A and B, not the requests without one; B scores higher.
	if g := got.Tables["variants"]; len(g) != 2 || g[0].Group != "A" || g[1].Group != "B" || g[0].Best || !g[1].Best {
		t.Errorf("variants %+v", g)
	}
	if g := got.Tables["budgets"]; len(g) != len(budgets) {
		t.Errorf("budgets: %d rows, API %d", len(g), len(budgets))
	} else {
		for i, b := range budgets {
			if g[i].Value != num(b.SpentUSD) {
				t.Errorf("budget %s: page %s, API %v", b.Name, g[i].Value, b.SpentUSD)
			}
		}
	}
	// Nothing over reservation: the line stays hidden, at 0.
	if o := got.Over; !o.Hidden || o.Calls != "0" || o.USD != "0" {
		t.Errorf("over reservation with none: %+v, want hidden at 0", o)
	}
	if g := got.Tables["recent"]; len(g) != len(recent) || g[0].Group != recent[0].ID {
		t.Errorf("recent: %d rows, API %d", len(g), len(recent))
	} else if len(g[0].Cells) < 5 || g[0].Cells[4] != recent[0].Deployment || recent[0].Deployment == "" {
		// The deployment that served each call, beside its variant.
		t.Errorf("recent: first row's cells %q, want deployment %q in the fifth", g[0].Cells, recent[0].Deployment)
	}

	// Charts: a bar per bucket with requests, a target line on the rate
	// and latency charts.
	buckets := 0
	for _, b := range series.Buckets {
		if b.Requests > 0 {
			buckets++
		}
	}
	if c := got.Charts["requests"]; c.Bars != buckets || c.Points != strconv.Itoa(buckets) {
		t.Errorf("requests chart %+v, API has %d buckets with requests", c, buckets)
	}
	if c := got.Charts["hitrate"]; c.Dots != buckets || !c.Target {
		t.Errorf("hit rate chart %+v", c)
	}
	if c := got.Charts["p95"]; c.Dots != buckets || !c.Target {
		t.Errorf("p95 chart %+v", c)
	}

	// Live refresh: a new request shows up without a reload.
	if err := st.AppendLogs(ctx, []conductor.LogRow{{Time: testNow.Add(-time.Minute), Gateway: "prod-gw",
		Provider: "openai", Model: "gpt-4o-mini", Success: true, Cached: true, Latency: 2 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
		`document.getElementById("kpi-requests").dataset.value === "26"`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page did not pick up the new request: %v", err)
	}

	// Calls over their reservation show up next to the budgets, without a
	// reload, with the API's figures.
	overMu.Lock()
	over = map[string]gateway.Overspend{"prod-gw": {Calls: 2, NanoUSD: 310_000_000}, "batch": {Calls: 1, NanoUSD: 5_000_000}, "idle": {}}
	overMu.Unlock()
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
		`!document.getElementById("overspend").hidden`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page did not show the calls over their reservation: %v", err)
	}
	var overAPI OverspendStatus
	api("/api/overspend", &overAPI)
	if overAPI.Calls != 3 || len(overAPI.Gateways) != 3 {
		t.Fatalf("/api/overspend %+v", overAPI)
	}
	got, err = chromedp.Run(bctx, chromedp.Evaluate[pageFigures](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	const wantOver = "Over reservation: 3 calls, $0.315 above what was reserved\nsince the server started · batch: 1 call, $0.005 · prod-gw: 2 calls, $0.31"
	if o := got.Over; o.Hidden || o.Calls != num(float64(overAPI.Calls)) || o.USD != num(overAPI.USD) || o.Text != wantOver {
		t.Errorf("over reservation on the page %+v, API %+v; want the text %q", o, overAPI, wantOver)
	}

	// Another window: the 1h button shows only the last hour.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#windows button[data-since="1h"]`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-since="1h"]`)),
	); err != nil {
		t.Fatal(err)
	}
	var hour Summary
	api("/api/summary?since=1h", &hour)
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("kpi-requests").dataset.value`)); err != nil || n != num(float64(hour.Requests)) {
		t.Errorf("1h requests on the page %q (%v), API %d", n, err, hour.Requests)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#windows button[data-since="24h"]`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-since="24h"]`)),
	); err != nil {
		t.Fatal(err)
	}

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := artifactPath(t, "dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser console: %s", p)
	}
}
