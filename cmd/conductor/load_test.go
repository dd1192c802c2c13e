package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store/redis"
)

// BenchmarkServeInstances drives 1 and 3 `conductor serve` processes
// against one fake upstream, with and without a rate limit and two
// budgets, on both back ends. Each op is one request; cpu-ns/op is the
// serve processes' CPU (user + system, from /proc) per request, the fake
// and the load generator excluded. docs/scaling.md keeps the figures:
//
//	go test -run '^$' -bench ServeInstances -benchtime 4000x ./cmd/conductor/
func BenchmarkServeInstances(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "openai_chat_completion.json"))
	if err != nil {
		b.Fatal(err)
	}
	fake := httptest.NewServer(&fakeOpenAI{body: body})
	defer fake.Close()
	for _, backend := range []string{"sqlite", "redis+postgres"} {
		for _, n := range []int{1, 3} {
			for _, limits := range []bool{false, true} {
				name := fmt.Sprintf("%s/instances=%d/limits=%v", backend, n, limits)
				b.Run(name, func(b *testing.B) { benchServe(b, fake.URL, backend, n, limits) })
			}
		}
	}
}

func benchServe(b *testing.B, upstream, backend string, n int, limits bool) {
	dir := b.TempDir()
	cfg := filepath.Join(dir, "conductor.toml")
	toml := "[[ai.gateway]]\nid = \"g\"\n"
	if limits {
		toml += "rate_limiting_limit = 1000000000\nrate_limiting_interval = 60\n\n" +
			"[[budget]]\nname = \"day\"\nscope = \"gateway\"\ndaily_usd = 1000000\n\n" +
			"[[budget]]\nname = \"env\"\nscope = \"environment\"\nmonthly_usd = 1000000\n"
	}
	env := []string{"OPENAI_API_KEY=sk-bench", "OPENAI_BASE_URL=" + upstream + "/v1", "ENVIRONMENT=production"}
	if backend == "redis+postgres" {
		redisURL, pgURL := testsvc.RedisURL(b), testsvc.PostgresURL(b)
		prefix, schema := testsvc.Name("bench"), testsvc.Name("bench")
		testsvc.DropSchema(b, pgURL, schema)
		toml = "[store]\nbackend = \"redis+postgres\"\nredis_prefix = \"" + prefix + "\"\n\n" + toml
		sep := "?"
		if strings.Contains(pgURL, "?") {
			sep = "&"
		}
		env = append(env, "REDIS_URL="+redisURL, "DATABASE_URL="+pgURL+sep+"search_path="+schema)
		b.Cleanup(func() {
			rs, err := redis.Open(context.Background(), redisURL, redis.WithPrefix(prefix))
			if err == nil {
				if keys := rs.Client().Keys(context.Background(), "{"+prefix+"}:*").Val(); len(keys) > 0 {
					rs.Client().Del(context.Background(), keys...)
				}
				rs.Close()
			}
		})
	}
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		b.Fatal(err)
	}
	urls, cmds := startProcs(b, n, cfg, env)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var seq atomic.Int64
	call := func() error {
		i := seq.Add(1)
		body := fmt.Sprintf(`{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"load %d"}]}`, i)
		resp, err := client.Post(urls[int(i)%n]+"/v1/acct/g/openai/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for range 200 { // warm connections, prepared statements, scripts
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := procsCPU(b, cmds)
	b.ResetTimer()
	start := time.Now()
	const workers = 16
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(b.N))
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := call(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := procsCPU(b, cmds) - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

// procsCPU sums the processes' user and system time from /proc.
func procsCPU(b *testing.B, cmds []*exec.Cmd) time.Duration {
	var total time.Duration
	for _, c := range cmds {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			b.Skipf("no /proc: %v", err)
		}
		// Fields after the command name (which may hold spaces): state is
		// field 3, utime 14, stime 15, in clock ticks (USER_HZ, 100).
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}
