package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
)

// bigAnswer is an OpenAI chat completion whose text is n bytes.
func bigAnswer(n int) string {
	return `{"id":"chatcmpl-big","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("x", n) + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}`
}

// The reproduction of issue 11, item 7 for whole answers: a 50 MB answer
// was read, decoded, served and offered to the cache whole (26 MB → 602 MB
// RSS). A whole answer above [gateway] max_answer_bytes is now refused
// while it is read — 502 answer_too_large in the caller's format, never
// cached, not retried — and one within the bound is served as before.
func TestAnswerTooLarge(t *testing.T) {
	ts := configServer(t, `
[gateway]
max_answer_bytes = 1048576

[[ai.gateway]]
id = "default"
cache_ttl = 3600
`, nil)
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a book."}]}`
	for range 2 {
		ts.fakes.push("openai", canned{body: bigAnswer(2 << 20)})
		resp, b := ts.post(t, "/v1/chat/completions", body)
		if resp.StatusCode != http.StatusBadGateway || refusal("openai", b) != "answer_too_large" || !strings.Contains(string(b), "larger than 1 MiB") || !strings.Contains(string(b), "max_answer_bytes") {
			t.Fatalf("%d %.300s, want 502 answer_too_large naming the limit", resp.StatusCode, b)
		}
	}
	// Both calls reached the upstream once each: no retry, no cached failure.
	if n := ts.fakes.count("openai"); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
	ts.fakes.push("openai", canned{body: bigAnswer(512 << 10)})
	if resp, b := ts.post(t, "/v1/chat/completions", body); resp.StatusCode != 200 || len(b) < 512<<10 {
		t.Errorf("an answer within the bound: %d, %d bytes", resp.StatusCode, len(b))
	}
	ts.fakes.push("anthropic", canned{body: `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"` + strings.Repeat("y", 2<<20) + `"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":5}}`})
	resp, b := ts.post(t, "/v1/messages", `{"model":"claude-3-5-haiku-latest","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`)
	if m := jsonOf(t, b); resp.StatusCode != http.StatusBadGateway || m["type"] != "error" || !strings.Contains(fmt.Sprint(path(m, "error", "message")), "larger than 1 MiB") {
		t.Errorf("anthropic: %d %.300s, want a 502 Anthropic error", resp.StatusCode, b)
	}
}

// disconnect opens a stream the fakes answer with a first chunk and then
// hold, reads its first bytes and goes away.
func disconnect(f *fakes, client *http.Client, url string) error {
	// Groq's route: the memory benchmark points OpenAI's elsewhere.
	const body = `{"model":"groq/llama-3.1-8b-instant","stream":true,"messages":[{"role":"user","content":"Hi"}]}`
	f.push("groq", canned{file: "openai/stream_groq.sse", streamThenBlock: true, block: make(chan struct{})})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if _, err := io.ReadAtLeast(resp.Body, buf, 16); err != nil {
		return fmt.Errorf("first bytes: %w (%d)", err, resp.StatusCode)
	}
	cancel() // the caller goes away mid-stream
	return nil
}

// disconnects runs n disconnects, 50 at a time.
func disconnects(f *fakes, client *http.Client, url string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 50)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := disconnect(f, client, url); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// settleGoroutines waits (up to 5 s) for the goroutine count to fall to
// want and returns it.
func settleGoroutines(client *http.Client, want int) int {
	n := 0
	for range 200 {
		client.CloseIdleConnections()
		runtime.GC()
		if n = runtime.NumGoroutine(); n <= want {
			break
		}
		time.Sleep(25 * time.Millisecond) // waiting for goroutines to end, not timing anything
	}
	return n
}

// 1,000 callers that go away mid-stream leave nothing behind: the
// upstream calls are canceled and the goroutines return to their number
// before the load (a leak test; the memory figures are in
// BenchmarkMemory and docs/reliability.md).
func TestMidStreamDisconnectsLeaveNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 streams")
	}
	ts := newTestServer(t, serverSetup{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// One stream first, so that pools and lazily started goroutines are in
	// the baseline.
	if err := disconnect(ts.fakes, client, ts.url); err != nil {
		t.Fatal(err)
	}
	base := settleGoroutines(client, 0)
	if err := disconnects(ts.fakes, client, ts.url, 1000); err != nil {
		t.Fatal(err)
	}
	// A few of the fake's and the transports' idle connections may
	// remain; one goroutine per stream would be a thousand.
	if n := settleGoroutines(client, base+10); n > base+10 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 1,000 disconnects, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// bigUpstream answers every chat call with about n bytes of text, whole or
// streamed (1 KiB a chunk), written as it goes: the fake holds none of it.
func bigUpstream(tb testing.TB, n int) *httptest.Server {
	piece := strings.Repeat("x", 1<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < n; i += len(piece) {
				fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n", piece)
			}
			io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-big","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"`)
		for i := 0; i < n; i += len(piece) {
			io.WriteString(w, piece)
		}
		io.WriteString(w, `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}`)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// BenchmarkMemory measures the server's memory (live heap after a
// collection, and RSS) before, during (the peak, sampled every 2 ms) and
// after a 50 MB answer — whole, refused by the default 32 MiB
// max_answer_bytes or served with it raised to 64 MiB, and streamed —
// then after 1,000 mid-stream disconnects. Figures, not assertions
// (docs/reliability.md):
//
//	go test ./server -run '^$' -bench Memory -benchtime 1x
func BenchmarkMemory(b *testing.B) {
	const size = 50 << 20
	for _, tt := range []struct {
		name   string
		limit  int
		stream bool
	}{
		{"whole-refused", 0, false},
		{"whole-served-64MiB", 64 << 20, false},
		{"streamed", 0, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			up := bigUpstream(b, size)
			toml := "[[ai.gateway]]\nid = \"default\"\ncache_ttl = 3600\n"
			if tt.limit > 0 {
				toml = fmt.Sprintf("[gateway]\nmax_answer_bytes = %d\n", tt.limit) + toml
			}
			cfg, err := config.Parse("conductor.toml", []byte(toml), false)
			if err != nil {
				b.Fatal(err)
			}
			ts := cfgServer(b, cfg, map[string]string{"OPENAI_BASE_URL": up.URL + "/v1"}, "")
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a book."}]}`
			if tt.stream {
				body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Write a book."}]}`
			}
			for b.Loop() {
				debug.FreeOSMemory()
				heap0, rss0 := heapMB(), rssMB()
				stop := make(chan struct{})
				peaks := make(chan [2]float64)
				go func() {
					var peakHeap, peakRSS float64
					var m runtime.MemStats
					for {
						select {
						case <-stop:
							peaks <- [2]float64{peakHeap, peakRSS}
							return
						case <-time.After(2 * time.Millisecond):
						}
						runtime.ReadMemStats(&m)
						peakHeap = max(peakHeap, float64(m.HeapAlloc)/(1<<20))
						peakRSS = max(peakRSS, rssMB())
					}
				}()
				resp, err := client.Post(ts.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				close(stop)
				peak := <-peaks
				debug.FreeOSMemory()
				heap1, rss1 := heapMB(), rssMB()
				if err := disconnects(ts.fakes, client, ts.url, 1000); err != nil {
					b.Fatal(err)
				}
				settleGoroutines(client, 0)
				debug.FreeOSMemory()
				heap2, rss2 := heapMB(), rssMB()
				b.ReportMetric(float64(resp.StatusCode), "status")
				b.ReportMetric(float64(n)/(1<<20), "answer-MB")
				b.ReportMetric(heap0, "heap-before-MB")
				b.ReportMetric(peak[0], "heap-peak-MB")
				b.ReportMetric(heap1, "heap-after-MB")
				b.ReportMetric(heap2, "heap-after-1000-disconnects-MB")
				b.ReportMetric(rss0, "rss-before-MB")
				b.ReportMetric(peak[1], "rss-peak-MB")
				b.ReportMetric(rss1, "rss-after-MB")
				b.ReportMetric(rss2, "rss-after-1000-disconnects-MB")
			}
		})
	}
}

// rssMB is the process's resident set, from /proc (0 elsewhere).
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// heapMB is the live heap after a collection.
func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}
