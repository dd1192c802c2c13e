package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// BenchmarkLogRow is the request path's last step: the log row of a whole
// answer built from the call (row, answered, price), and its write to the
// SQLite store, one row a transaction (what each request costs while the
// writer keeps up) and 32 (what it costs each under load, group commit).
// BENCHMARKS.md, "The request path, step by step":
//
//	go test ./gateway -run '^$' -bench 'LogRow|CacheKey|LimitsFor' -benchmem
func BenchmarkLogRow(b *testing.B) {
	g, st, _ := start(b, Config{})
	req := benchRequest(1, false)
	resp := answer("ok", 20, 10)
	resp.Meta.TTFB = time.Millisecond
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			ci := &callInfo{provider: req.Provider, model: req.Model, attempts: 1}
			m := resp.Meta
			row := g.row(newID(start), &req.Options, ci, start, 2*time.Millisecond, nil)
			g.answered(&row, &m, ci, start, 2*time.Millisecond)
			g.price(&row, resp.Usage)
			if row.CostNanoUSD == 0 {
				b.Fatal("no cost")
			}
		}
	})
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("write-%d", n), func(b *testing.B) {
			ci := &callInfo{provider: req.Provider, model: req.Model, attempts: 1}
			rows := make([]conductor.LogRow, n)
			ctx := context.Background()
			b.ReportAllocs()
			cpu := cpuTime()
			ops := 0
			for b.Loop() {
				now := time.Now()
				for i := range rows {
					rows[i] = g.row(newID(now), &req.Options, ci, now, time.Millisecond, nil)
				}
				if err := st.AppendLogs(ctx, rows); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(ops*n), "cpu-ns/row")
		})
	}
}

// BenchmarkLogPaced is a whole call every 500 µs (2,000 a second, a pace
// at which the log writer is free for each row): with no linger each row
// is a transaction of its own; with the default linger rows share one.
// cpu-ns/op is the process's CPU a call, the writer's included.
//
//	go test ./gateway -run '^$' -bench LogPaced -benchtime 4000x
func BenchmarkLogPaced(b *testing.B) {
	for _, c := range []struct {
		name   string
		linger time.Duration
	}{{"linger=none", -1}, {"linger=default", 0}} {
		b.Run(c.name, func(b *testing.B) {
			g, _, stop := start(b, Config{LogLinger: c.linger})
			p := g.Wrap(&instant{resp: *answer("ok", 20, 10)})
			ctx := context.Background()
			b.ReportAllocs()
			cpu := cpuTime()
			n := 0
			for i := 0; b.Loop(); i++ {
				if _, err := p.Chat(ctx, benchRequest(i, true)); err != nil {
					b.Fatal(err)
				}
				n++
				time.Sleep(500 * time.Microsecond)
			}
			b.StopTimer()
			stop()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n), "cpu-ns/op")
		})
	}
}
