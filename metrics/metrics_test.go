package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/store/sqlite"
)

// scrape fetches the collector's handler over HTTP and parses the answer
// with Prometheus' own text parser.
func scrape(t *testing.T, c *Collector) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want the text format", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams
}

// value returns the counter value, or the histogram's sample count, of the
// series of family name with exactly these labels; ok=false when absent.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// rows is a small log: two gpt-4o misses and a hit, an Anthropic call with
// a dated name that retried and fell back, a refusal of ours, a provider
// 429, and a call to a model nobody configured.
func testRows() []conductor.LogRow {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return []conductor.LogRow{
		{Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true, MissReason: "new_key", Attempts: 1,
			InputTokens: 100, OutputTokens: 50, CostNanoUSD: 750_000, Latency: 800 * time.Millisecond, TTFB: 300 * time.Millisecond, Time: t0},
		{Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true, MissReason: "ttl_0", Attempts: 1,
			InputTokens: 10, OutputTokens: 5, CostNanoUSD: 75_000, Latency: 1500 * time.Millisecond, TTFB: 400 * time.Millisecond, Time: t0},
		{Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true, Cached: true, Attempts: 0,
			InputTokens: 100, OutputTokens: 50, Latency: 2 * time.Millisecond, TTFB: 2 * time.Millisecond, Time: t0},
		{Gateway: "gw", Provider: "anthropic", Model: "claude-3-5-sonnet-20241022", Success: true, MissReason: "expired",
			Attempts: 3, Step: 1, InputTokens: 1000, OutputTokens: 200, CostNanoUSD: 6_000_000,
			Latency: 4 * time.Second, TTFB: time.Second, Time: t0},
		{Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: false, ErrorClass: "limited", Status: 429,
			User: "alice@example.com", Latency: time.Millisecond, TTFB: time.Millisecond, Time: t0},
		{Gateway: "gw", Provider: "groq", Model: "llama-3.1-70b-versatile", Success: false, ErrorClass: "rate_limited",
			Status: 429, Attempts: 3, Latency: 2 * time.Second, TTFB: 2 * time.Second, Time: t0},
		{Gateway: "gw", Provider: "openai", Model: "my-finetune-ft:abc123", Success: true, MissReason: "bypass",
			Attempts: 1, CostFlagged: true, CostNanoUSD: 1_000, Latency: 100 * time.Millisecond, Time: t0,
			Metadata: map[string]string{"user": "bob"}},
	}
}

func TestObserve(t *testing.T) {
	c := New(WithoutRuntime())
	for _, r := range testRows() {
		c.Observe(r)
	}
	fams := scrape(t, c)

	gpt := []string{"gateway", "gw", "provider", "openai", "model", "gpt-4o"}
	claude := []string{"gateway", "gw", "provider", "anthropic", "model", "claude-3-5-sonnet-20241022"}
	groq := []string{"gateway", "gw", "provider", "groq", "model", "llama-3.1-70b-versatile"}
	other := []string{"gateway", "gw", "provider", "openai", "model", Other}
	with := func(base []string, kv ...string) map[string]string { return lbl(append(slices.Clone(base), kv...)...) }

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"conductor_gateway_requests_total", lbl(gpt...), 4},
		{"conductor_gateway_requests_total", lbl(claude...), 1},
		{"conductor_gateway_requests_total", lbl(groq...), 1},
		{"conductor_gateway_requests_total", lbl(other...), 1},
		{"conductor_gateway_cache_hits_total", lbl(gpt...), 1},
		{"conductor_gateway_cache_misses_total", with(gpt, "reason", "new_key"), 1},
		{"conductor_gateway_cache_misses_total", with(gpt, "reason", "ttl_0"), 1},
		{"conductor_gateway_cache_misses_total", with(claude, "reason", "expired"), 1},
		{"conductor_gateway_cache_misses_total", with(other, "reason", "bypass"), 1},
		{"conductor_gateway_errors_total", with(gpt, "class", "limited"), 1},
		{"conductor_gateway_errors_total", with(groq, "class", "rate_limited"), 1},
		{"conductor_gateway_tokens_total", with(gpt, "type", "input"), 210},
		{"conductor_gateway_tokens_total", with(gpt, "type", "output"), 105},
		{"conductor_gateway_tokens_total", with(claude, "type", "input"), 1000},
		{"conductor_gateway_cost_usd_total", lbl(gpt...), 0.000825},
		{"conductor_gateway_cost_usd_total", lbl(claude...), 0.006},
		{"conductor_gateway_unpriced_requests_total", lbl(other...), 1},
		{"conductor_gateway_retries_total", lbl(claude...), 2},
		{"conductor_gateway_retries_total", lbl(groq...), 2},
		{"conductor_gateway_fallbacks_total", lbl(claude...), 1},
		{"conductor_gateway_request_duration_seconds", with(gpt, "cached", "false"), 3},
		{"conductor_gateway_request_duration_seconds", with(gpt, "cached", "true"), 1},
		{"conductor_gateway_ttfb_seconds", with(gpt, "cached", "false"), 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			got, ok := value(fams, tt.name, tt.labels)
			if !ok {
				t.Fatalf("series missing; family: %v", fams[tt.name])
			}
			if diff := got - tt.want; diff > 1e-12 || diff < -1e-12 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	// The histogram's buckets are cumulative: 0.8s and 1.5s both fall
	// within 2s, only 0.8s within 1s.
	for _, m := range fams["conductor_gateway_request_duration_seconds"].GetMetric() {
		if !hasLabels(m, with(gpt, "cached", "false")) {
			continue
		}
		h := m.GetHistogram()
		if got, want := h.GetSampleSum(), 0.8+1.5+0.001; abs(got-want) > 1e-9 {
			t.Errorf("latency sum %v, want %v", got, want)
		}
		want := map[float64]uint64{0.005: 1, 1: 2, 2: 3, 120: 3}
		for _, b := range h.GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok {
				if b.GetCumulativeCount() != w {
					t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
				}
				delete(want, b.GetUpperBound())
			}
		}
		if len(want) > 0 {
			t.Errorf("buckets missing: %v", want)
		}
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, lp := range m.GetLabel() {
		if want[lp.GetName()] != lp.GetValue() {
			return false
		}
	}
	return true
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// TestLabelsBounded: no label value outside the bounded sets ever appears,
// whatever the rows hold.
func TestLabelsBounded(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		row   conductor.LogRow
		check map[string]string // label -> the value it must have
	}{
		{"unknown model", nil,
			conductor.LogRow{Gateway: "g", Provider: "openai", Model: "gpt-sk-live-123456", Success: true},
			lbl("model", Other)},
		{"dated model name reported under the table's name", nil,
			conductor.LogRow{Gateway: "g", Provider: "openai", Model: "gpt-4o-2024-08-06", Success: true},
			lbl("model", "gpt-4o")},
		{"workers ai model", nil,
			conductor.LogRow{Gateway: "g", Provider: "workers-ai", Model: "@cf/meta/llama-3.1-8b-instruct", Success: true},
			lbl("model", "@cf/meta/llama-3.1-8b-instruct")},
		{"configured model", []Option{WithModels("local/llama3.1:8b")},
			conductor.LogRow{Gateway: "g", Provider: "local", Model: "llama3.1:8b", Success: true},
			lbl("model", "llama3.1:8b")},
		{"configured model for another provider", []Option{WithModels("local/llama3.1:8b")},
			conductor.LogRow{Gateway: "g", Provider: "openai", Model: "llama3.1:8b", Success: true},
			lbl("model", Other)},
		{"unknown provider", nil,
			conductor.LogRow{Gateway: "g", Provider: "evil-corp", Model: "x", Success: true},
			lbl("provider", Other, "model", Other)},
		{"configured provider", []Option{WithProviders("mistral")},
			conductor.LogRow{Gateway: "g", Provider: "mistral", Model: "x", Success: true},
			lbl("provider", "mistral")},
		{"unconfigured gateway", []Option{WithGateways("prod")},
			conductor.LogRow{Gateway: "staging", Provider: "openai", Model: "gpt-4o", Success: true},
			lbl("gateway", Other)},
		{"gateway id that is not a plain name", nil,
			conductor.LogRow{Gateway: "a b\"c", Provider: "openai", Model: "gpt-4o", Success: true},
			lbl("gateway", Other)},
		{"unknown miss reason and error class", nil,
			conductor.LogRow{Gateway: "g", Provider: "openai", Model: "gpt-4o", MissReason: "weird", ErrorClass: "odd"},
			lbl("reason", Other, "class", Other)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(append(tt.opts, WithoutRuntime())...)
			tt.row.User = "user-secret-id"
			c.Observe(tt.row)
			fams := scrape(t, c)
			seen := map[string]bool{}
			for _, f := range fams {
				for _, m := range f.GetMetric() {
					for _, lp := range m.GetLabel() {
						if strings.Contains(lp.GetValue(), "user-secret-id") {
							t.Fatalf("%s carries the user id: %v", f.GetName(), m)
						}
						if want, ok := tt.check[lp.GetName()]; ok {
							seen[lp.GetName()] = true
							if lp.GetValue() != want {
								t.Errorf("%s: label %s=%q, want %q", f.GetName(), lp.GetName(), lp.GetValue(), want)
							}
						}
					}
				}
			}
			for k := range tt.check {
				if !seen[k] {
					t.Errorf("label %s never appeared", k)
				}
			}
		})
	}
}

// TestGatewayCap: without configured gateways, the first ids seen are
// reported and the rest count as other, so series stay bounded.
func TestGatewayCap(t *testing.T) {
	c := New(WithoutRuntime())
	for i := range maxDynamicGateways + 10 {
		c.Observe(conductor.LogRow{Gateway: fmt.Sprintf("gw%d", i), Provider: "openai", Model: "gpt-4o", Success: true})
	}
	fams := scrape(t, c)
	if n := len(fams["conductor_gateway_requests_total"].GetMetric()); n != maxDynamicGateways+1 {
		t.Fatalf("%d series, want %d", n, maxDynamicGateways+1)
	}
	if v, _ := value(fams, "conductor_gateway_requests_total", lbl("gateway", Other, "provider", "openai", "model", "gpt-4o")); v != 10 {
		t.Fatalf("other: %v, want 10", v)
	}
}

// TestObserveStore: a gateway writing its log through the wrapped store
// feeds the collector, and the rows land in the real store too.
func TestObserveStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := New(WithoutRuntime())
	wrapped := c.ObserveStore(st)
	rows := testRows()
	if err := wrapped.AppendLogs(ctx, rows); err != nil {
		t.Fatal(err)
	}
	stats, err := wrapped.Stats(ctx, conductor.StatsQuery{Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Requests != int64(len(rows)) {
		t.Fatalf("store stats %+v, want %d requests", stats, len(rows))
	}
	fams := scrape(t, c)
	var total float64
	for _, m := range fams["conductor_gateway_requests_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != float64(len(rows)) {
		t.Fatalf("requests_total sums to %v, want %d", total, len(rows))
	}
	if u, ok := wrapped.(interface{ Unwrap() conductor.Store }); !ok || u.Unwrap() != st {
		t.Fatal("Unwrap does not return the store")
	}
}

// TestRuntimeCollectors: by default the Go runtime metrics are served too.
func TestRuntimeCollectors(t *testing.T) {
	fams := scrape(t, New())
	if fams["go_goroutines"] == nil {
		t.Fatal("go_goroutines missing")
	}
}

func TestConcurrentObserve(t *testing.T) {
	c := New(WithoutRuntime())
	rows := testRows()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 250 {
				r := rows[(g+i)%len(rows)]
				r.Gateway = fmt.Sprintf("gw%d", i%40)
				c.Observe(r)
			}
		}()
	}
	for range 4 {
		<-done
	}
	fams := scrape(t, c)
	var total float64
	for _, m := range fams["conductor_gateway_requests_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != 1000 {
		t.Fatalf("requests_total sums to %v, want 1000", total)
	}
}

func BenchmarkObserve(b *testing.B) {
	c := New(WithoutRuntime())
	rows := testRows()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Observe(rows[i%len(rows)])
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	c := New(WithoutRuntime())
	rows := testRows()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Observe(rows[i%len(rows)])
			i++
		}
	})
}

// TestGatewayFeedsCollector: a real gateway over the observed store, with
// a cache, answers three identical requests from a fake OpenAI upstream;
// the collector counts one miss (new key) and two hits, with the answer's
// tokens and gpt-4o's list price.
func TestGatewayFeedsCollector(t *testing.T) {
	answer, err := os.ReadFile(filepath.Join("testdata", "chat_completion.json"))
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer upstream.Close()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := New(WithoutRuntime(), WithGateways("gw1"))
	// Two gateway processes in turn over one store: closing the first
	// flushes its cache write and log, so the second one's two calls are
	// hits without any waiting.
	for _, calls := range []int{1, 2} {
		g, err := gateway.New(gateway.Config{ID: "gw1", CacheTTL: time.Hour}, c.ObserveStore(st))
		if err != nil {
			t.Fatal(err)
		}
		p := g.Wrap(openai.New(provider.Endpoint{Name: "openai", BaseURL: upstream.URL + "/v1", APIKey: "sk-secret-key"}))
		for range calls {
			if _, err := p.Chat(ctx, &conductor.ChatRequest{Provider: "openai", Model: "gpt-4o",
				Messages: []conductor.Message{conductor.TextMessage("user", "Hello")}, Options: conductor.CallOptions{User: "user-secret-id"}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := g.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fams := scrape(t, c)
	l := []string{"gateway", "gw1", "provider", "openai", "model", "gpt-4o"}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"conductor_gateway_requests_total", lbl(l...), 3},
		{"conductor_gateway_cache_hits_total", lbl(l...), 2},
		{"conductor_gateway_cache_misses_total", lbl(append(l, "reason", "new_key")...), 1},
		{"conductor_gateway_tokens_total", lbl(append(l, "type", "input")...), 3 * 19},
		{"conductor_gateway_tokens_total", lbl(append(l, "type", "output")...), 3 * 10},
		{"conductor_gateway_cost_usd_total", lbl(l...), (19*2.5 + 10*10) / 1e6},
	} {
		got, ok := value(fams, tt.name, tt.labels)
		if !ok || abs(got-tt.want) > 1e-12 {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "sk-secret-key") || strings.Contains(string(body), "user-secret-id") {
		t.Fatal("the metrics carry a secret or a user id")
	}
}

// What cache hits saved, and each budget's spend and limit as gauges.
func TestSavedAndBudgetGauges(t *testing.T) {
	c := New(WithoutRuntime(), WithGateways("gw"))
	c.Observe(conductor.LogRow{Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true, Cached: true, SavedNanoUSD: 750_000})
	c.Observe(conductor.LogRow{Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true, Cached: true, SavedNanoUSD: 250_000})
	c.WatchBudgets(func(context.Context) ([]BudgetReading, error) {
		return []BudgetReading{{Name: "prod", Period: "day", SpentUSD: 2.5, LimitUSD: 25}, {Name: "prod", Period: "month", SpentUSD: 40, LimitUSD: 500}}, nil
	})
	fams := scrape(t, c)
	if v, ok := value(fams, "conductor_gateway_cache_saved_usd_total", lbl("gateway", "gw", "provider", "openai", "model", "gpt-4o")); !ok || v != 0.001 {
		t.Errorf("saved %v %v", v, ok)
	}
	for _, tt := range []struct {
		name, period string
		want         float64
	}{
		{"conductor_gateway_budget_spent_usd", "day", 2.5}, {"conductor_gateway_budget_limit_usd", "day", 25},
		{"conductor_gateway_budget_spent_usd", "month", 40}, {"conductor_gateway_budget_limit_usd", "month", 500},
	} {
		if v, ok := value(fams, tt.name, lbl("budget", "prod", "period", tt.period)); !ok || v != tt.want {
			t.Errorf("%s{%s} = %v %v, want %v", tt.name, tt.period, v, ok, tt.want)
		}
	}
}
