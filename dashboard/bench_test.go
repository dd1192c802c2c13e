package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// benchRows is a busy day: n requests spread evenly over 24 hours.
func benchRows(n int) []conductor.LogRow {
	rows := make([]conductor.LogRow, n)
	models := []string{"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "llama-3.1-70b-versatile"}
	for i := range rows {
		rows[i] = conductor.LogRow{
			ID: fmt.Sprintf("r%07d", i), Time: testNow.Add(-time.Duration(i) * 24 * time.Hour / time.Duration(n)),
			Gateway: "gw", Provider: "openai", Model: models[i%len(models)], Variant: []string{"A", "B"}[i%2],
			Status: 200, Success: i%50 != 0, Cached: i%3 == 0, Attempts: 1, InputTokens: 300, OutputTokens: 50,
			CostNanoUSD: 1_000_000, Latency: time.Duration(100+i%2000) * time.Millisecond,
		}
	}
	return rows
}

// BenchmarkAPI measures each JSON endpoint the page polls, over 20,000
// requests in the store; one page refresh calls all of them.
func BenchmarkAPI(b *testing.B) {
	st := openFixture(b, benchRows(20_000))
	h := New(st, Options{Now: func() time.Time { return testNow }})
	for _, path := range []string{
		"/api/summary?since=24h", "/api/series?since=24h", "/api/by?by=model&since=24h",
		"/api/by?by=variant&since=24h", "/api/recent?limit=50", "/api/budgets",
	} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body)
				}
			}
		})
	}
}
