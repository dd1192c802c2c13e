package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/sqlite"
)

// cpuTime is the process's user+system CPU time: the gateway's background
// writers included, which ns/op alone would miss.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// instant is an upstream that answers at once, so the benchmarks measure
// the gateway alone.
type instant struct{ resp conductor.ChatResponse }

func (u *instant) Chat(context.Context, *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	r := u.resp
	return &r, nil
}

func (u *instant) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return newChunks(nil, testChunks()...), nil
}

func benchRequest(i int, distinct bool) *conductor.ChatRequest {
	content := "Summarise the attached quarterly report in three bullet points."
	if distinct {
		content = fmt.Sprintf("%s #%d", content, i)
	}
	r := &conductor.ChatRequest{
		Provider: conductor.ProviderOpenAI, Model: "gpt-4o-mini", MaxTokens: 256,
		Messages: []conductor.Message{conductor.TextMessage("system", "You are concise."), conductor.TextMessage("user", content)},
		Options:  conductor.CallOptions{User: fmt.Sprintf("user-%d", i%50), Environment: "production", Metadata: map[string]string{"ensemble": "bench", "member": "m"}},
	}
	return r
}

// BenchmarkBare is the upstream alone: the baseline of the overhead.
func BenchmarkBare(b *testing.B) {
	up := &instant{resp: *answer("ok", 20, 10)}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := up.Chat(ctx, benchRequest(i, false)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChain measures a request through the whole chain, logging on,
// against an instant upstream: its ns/op and cpu-ns/op (background writers
// included, until Close has flushed every row) are the gateway's overhead.
func BenchmarkChain(b *testing.B) {
	limits := RateLimitConfig{Requests: 1 << 40, UserRequests: 1 << 40, Tokens: 1 << 50}
	budgets := []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 1e9}, {Scope: ScopeEnvironment, Period: PeriodMonth, LimitUSD: 1e9}}
	cases := []struct {
		name     string
		cfg      Config
		distinct bool
	}{
		{"cache-off", Config{}, false},
		{"cache-miss", Config{CacheTTL: time.Hour}, true},
		{"cache-hit", Config{CacheTTL: time.Hour}, false},
		{"limits+budgets", Config{RateLimit: limits, Budgets: budgets}, true},
		{"limits+budgets+alerts", Config{RateLimit: limits, Budgets: budgets, AlertThresholds: []float64{0.5, 0.8, 1}}, true},
		{"everything-miss", Config{CacheTTL: time.Hour, RateLimit: limits, Budgets: budgets}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.LogBuffer = 1 << 17
			g, _, stop := start(b, c.cfg)
			p := g.Wrap(&instant{resp: *answer("ok", 20, 10)})
			ctx := context.Background()
			if _, err := p.Chat(ctx, benchRequest(-1, false)); err != nil { // warm the cache entry
				b.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			b.ReportAllocs()
			cpu := cpuTime()
			n := 0
			for i := 0; b.Loop(); i++ {
				if _, err := p.Chat(ctx, benchRequest(i, c.distinct)); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.StopTimer()
			stop()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(g.DroppedLogRows())/float64(n), "dropped/op")
		})
	}
}

// BenchmarkChainParallel is BenchmarkChain's limits cases under
// concurrent callers (GOMAXPROCS×4 goroutines): every counter step takes
// the store's one lock, so this is where contention would show.
func BenchmarkChainParallel(b *testing.B) {
	limits := RateLimitConfig{Requests: 1 << 40, UserRequests: 1 << 40, Tokens: 1 << 50}
	budgets := []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 1e9}, {Scope: ScopeEnvironment, Period: PeriodMonth, LimitUSD: 1e9}}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"cache-off", Config{}},
		{"limits+budgets", Config{RateLimit: limits, Budgets: budgets}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.LogBuffer = 1 << 17
			g, _, stop := start(b, c.cfg)
			p := g.Wrap(&instant{resp: *answer("ok", 20, 10)})
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(4)
			cpu := cpuTime()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if _, err := p.Chat(ctx, benchRequest(int(n.Add(1)), true)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			stop()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n.Load()), "cpu-ns/op")
		})
	}
}

// BenchmarkCacheHitParallel is hit latency under concurrent callers.
func BenchmarkCacheHitParallel(b *testing.B) {
	g, _, stop := start(b, Config{CacheTTL: time.Hour, LogBuffer: 1 << 17})
	defer stop()
	p := g.Wrap(&instant{resp: *answer("ok", 20, 10)})
	ctx := context.Background()
	if _, err := p.Chat(ctx, benchRequest(0, false)); err != nil {
		b.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := p.Chat(ctx, benchRequest(0, false))
			if err != nil || !resp.Meta.Cached {
				b.Fatalf("%+v %v", resp, err)
			}
		}
	})
}

func BenchmarkCacheKey(b *testing.B) {
	req := benchRequest(0, false)
	req.ResponseFormat = &conductor.ResponseFormat{Type: "json_schema", Name: "x", Schema: []byte(`{"type":"object","properties":{"a":{"type":"string"}}}`)}
	b.ReportAllocs()
	for b.Loop() {
		conductor.RequestKey(req, "gw", "chat")
	}
}

// BenchmarkLogDurability is what sync durability costs a call: one caller
// waits for a commit per call; 32 callers share commits (group commit),
// rows per transaction reported.
func BenchmarkLogDurability(b *testing.B) {
	for _, durability := range []string{DurabilityAsync, DurabilitySync} {
		for _, callers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/callers=%d", durability, callers), func(b *testing.B) {
				st := openStore(b, tempDB(b))
				counted := &countingStore{Store: st}
				g, err := New(Config{ID: "gw", Prices: testPrices{}, LogDurability: durability, LogBuffer: 1 << 17}, counted,
					WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					b.Fatal(err)
				}
				p := g.Wrap(&instant{resp: *answer("ok", 20, 10)})
				ctx := context.Background()
				var n atomic.Int64
				b.ReportAllocs()
				b.SetParallelism((callers + 1) / 2) // GOMAXPROCS is 2 here
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.Chat(ctx, benchRequest(int(n.Add(1)), true)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				if err := g.Close(ctx); err != nil {
					b.Fatal(err)
				}
				if tx := counted.txs.Load(); tx > 0 {
					b.ReportMetric(float64(n.Load()-g.DroppedLogRows())/float64(tx), "rows/tx")
				}
				b.ReportMetric(float64(g.DroppedLogRows())/float64(n.Load()), "dropped/op")
				st.Close()
			})
		}
	}
}

// countingStore is the real store, counting log transactions.
type countingStore struct {
	*sqlite.Store
	txs atomic.Int64
}

func (c *countingStore) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	c.txs.Add(1)
	return c.Store.AppendLogs(ctx, rows)
}
