package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store/redis"
)

// Three `conductor serve` processes on one Redis and one PostgreSQL
// behave as one gateway. The processes are this test binary run again
// (TestServeChild); the upstream is a fake OpenAI answering the
// documented chat.completion shape.

const scaleChildEnv = "CONDUCTOR_SCALE_CHILD"

// TestServeChild is a child's body: `conductor serve` until SIGTERM.
func TestServeChild(t *testing.T) {
	cfg := os.Getenv(scaleChildEnv)
	if cfg == "" {
		t.Skip("run by TestManyInstances")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := runServe(ctx, os.Stderr, serveFlags{config: cfg, data: filepath.Dir(cfg), addr: os.Getenv("CONDUCTOR_SCALE_ADDR"), logLevel: "warn"}); err != nil {
		t.Fatal(err)
	}
}

type fakeOpenAI struct {
	calls   atomic.Int64
	byText  sync.Map // prompt text → *atomic.Int64
	body    []byte
	delayed string // a prompt answered after a delay (the collapse test)
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &req)
	f.calls.Add(1)
	text := ""
	if len(req.Messages) > 0 {
		text = req.Messages[len(req.Messages)-1].Content
	}
	n, _ := f.byText.LoadOrStore(text, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if text == f.delayed {
		time.Sleep(300 * time.Millisecond)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(f.body)
}

func (f *fakeOpenAI) callsFor(text string) int64 {
	n, ok := f.byText.Load(text)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// startInstances starts n serve processes on cfg and returns their URLs.
func startInstances(t testing.TB, n int, cfg string, env []string) []string {
	urls, _ := startProcs(t, n, cfg, env)
	return urls
}

func startProcs(t testing.TB, n int, cfg string, env []string) ([]string, []*exec.Cmd) {
	t.Helper()
	urls := make([]string, n)
	cmds := make([]*exec.Cmd, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
		cmd.Env = append(append(os.Environ(), env...), scaleChildEnv+"="+cfg, "CONDUCTOR_SCALE_ADDR="+addr)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("instance %d log:\n%s", i, logs.String())
			}
		})
		urls[i] = "http://" + addr
		if !testsvc.Wait(context.Background(), 30*time.Second, func() bool {
			resp, err := http.Get(urls[i] + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		}) {
			t.Fatalf("instance %d not ready:\n%s", i, logs.String())
		}
	}
	return urls, cmds
}

type answerOf struct {
	status int
	cache  string
	code   string
}

func post(t *testing.T, url, gateway, text string) answerOf {
	body := fmt.Sprintf(`{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":%q}]}`, text)
	resp, err := http.Post(url+"/v1/acct/"+gateway+"/openai/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return answerOf{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answerOf{status: resp.StatusCode, cache: resp.Header.Get("cf-aig-cache-status")}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil {
		a.code = e.Error.Code
	}
	return a
}

func TestManyInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	redisURL, pgURL := testsvc.RedisURL(t), testsvc.PostgresURL(t)
	prefix, schema := testsvc.Name("scale"), testsvc.Name("scale")
	testsvc.DropSchema(t, pgURL, schema)
	body, err := os.ReadFile(filepath.Join("testdata", "openai_chat_completion.json"))
	if err != nil {
		t.Fatal(err)
	}
	up := &fakeOpenAI{body: body, delayed: "collapse"}
	fake := httptest.NewServer(up)
	defer fake.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "conductor.toml")
	const budgetUSD = 0.002
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
[store]
backend = "redis+postgres"
redis_prefix = %q

[[ai.gateway]]
id = "limits"
rate_limiting_limit = 60
rate_limiting_interval = 60
rate_limiting_technique = "sliding"

[[ai.gateway]]
id = "budget"

[[ai.gateway]]
id = "cache"
cache_ttl = 3600

[[budget]]
name = "budget-daily"
scope = "gateway"
match = "budget"
daily_usd = %v
`, prefix, budgetUSD)), 0o600); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(pgURL, "?") {
		sep = "&"
	}
	env := []string{"REDIS_URL=" + redisURL, "DATABASE_URL=" + pgURL + sep + "search_path=" + schema,
		"OPENAI_API_KEY=sk-test-scale", "OPENAI_BASE_URL=" + fake.URL + "/v1"}
	urls := startInstances(t, 3, cfg, env)
	t.Cleanup(func() {
		rs, err := redis.Open(context.Background(), redisURL, redis.WithPrefix(prefix))
		if err == nil {
			keys := rs.Client().Keys(context.Background(), "{"+prefix+"}:*").Val()
			if len(keys) > 0 {
				rs.Client().Del(context.Background(), keys...)
			}
			rs.Close()
		}
	})
	var sent atomic.Int64
	concurrently := func(n int, call func(i int) answerOf) []answerOf {
		out := make([]answerOf, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i] = call(i); sent.Add(1) })
		}
		wg.Wait()
		return out
	}

	t.Run("rate limit of 60 a minute admits 60 across three", func(t *testing.T) {
		got := map[int]int{}
		for _, a := range concurrently(150, func(i int) answerOf { return post(t, urls[i%3], "limits", fmt.Sprintf("limit %d", i)) }) {
			got[a.status]++
			if a.status == 429 && a.code != "rate_limited" {
				t.Errorf("429 with code %q", a.code)
			}
		}
		if got[200] != 60 || got[429] != 90 {
			t.Errorf("statuses %v, want 60 × 200 and 90 × 429", got)
		}
	})

	t.Run("1000 concurrent requests never overspend a budget", func(t *testing.T) {
		got := map[int]int{}
		for _, a := range concurrently(1000, func(i int) answerOf { return post(t, urls[i%3], "budget", fmt.Sprintf("budget %d", i)) }) {
			got[a.status]++
			if a.status == 429 && a.code != "budget_exceeded" {
				t.Errorf("429 with code %q", a.code)
			}
		}
		rs, err := redis.Open(context.Background(), redisURL, redis.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		key := "spend/budget/gateway/day:" + time.Now().UTC().Format("2006-01-02")
		// Settlements run after the answers: wait until no reservation is
		// open.
		testsvc.Wait(context.Background(), 10*time.Second, func() bool {
			return len(rs.Client().Keys(context.Background(), "{"+prefix+"}:res:*").Val()) == 0
		})
		spent, err := rs.Spent(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		limit := int64(budgetUSD * 1e9)
		if got[200] == 0 || got[429] == 0 || got[200]+got[429] != 1000 {
			t.Fatalf("statuses %v, want some answers and some budget refusals", got)
		}
		if spent > limit {
			t.Errorf("spent %d nano-USD of a %d limit", spent, limit)
		}
		if spent%int64(got[200]) != 0 {
			t.Errorf("spent %d is not %d equal answers' cost", spent, got[200])
		}
		t.Logf("%d answered, %d refused, spent %d of %d nano-USD", got[200], got[429], spent, limit)
	})

	t.Run("cached through one instance is a HIT on another", func(t *testing.T) {
		if a := post(t, urls[0], "cache", "cache me"); a.status != 200 || a.cache != "MISS" {
			t.Fatalf("first: %+v", a)
		}
		sent.Add(1)
		time.Sleep(300 * time.Millisecond) // the write behind the answer
		for i := 1; i < 3; i++ {
			a := post(t, urls[i], "cache", "cache me")
			sent.Add(1)
			if a.status != 200 || a.cache != "HIT" {
				t.Errorf("instance %d: %+v, want a HIT", i, a)
			}
		}
		if n := up.callsFor("cache me"); n != 1 {
			t.Errorf("%d upstream calls, want 1", n)
		}
	})

	t.Run("30 identical concurrent requests make one upstream call", func(t *testing.T) {
		concurrently(30, func(i int) answerOf {
			a := post(t, urls[i%3], "cache", "collapse")
			if a.status != 200 {
				t.Errorf("request %d: %+v", i, a)
			}
			return a
		})
		if n := up.callsFor("collapse"); n != 1 {
			t.Errorf("%d upstream calls, want 1", n)
		}
	})

	t.Run("stats adds up all three", func(t *testing.T) {
		t.Setenv("REDIS_URL", redisURL)
		t.Setenv("DATABASE_URL", pgURL+sep+"search_path="+schema)
		want := sent.Load()
		var rep statsReport
		ok := testsvc.Wait(context.Background(), 15*time.Second, func() bool {
			var out bytes.Buffer
			err := runStats(context.Background(), &out, statsFlags{storeFlags: storeFlags{config: cfg, data: dir}, since: "1h", json: true}, time.Now())
			return err == nil && json.Unmarshal(out.Bytes(), &rep) == nil && rep.Total.Requests == want
		})
		if !ok {
			t.Errorf("stats counts %d requests, want the %d sent to the three instances", rep.Total.Requests, want)
		}
	})
}
