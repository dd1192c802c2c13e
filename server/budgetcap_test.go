package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/postgres"
	"github.com/conductor-go/conductor/store/redis"
	"github.com/conductor-go/conductor/store/sqlite"
)

// longAnswerTokens is what the capFake's model writes when nothing caps
// it: far more than the 4,096 tokens a budget reserves for a call that
// sets no max_tokens.
const longAnswerTokens = 20000

// capFake is an upstream of every wire format whose model writes
// longAnswerTokens unless the request's output limit stops it — as the
// real APIs do: output tokens ≤ the limit, finish_reason length (Anthropic
// stop_reason max_tokens). With ignoreCap it is a server that does not
// honour the limit.
type capFake struct {
	srv       *httptest.Server
	ignoreCap bool

	mu    sync.Mutex
	seen  map[string]int // output-limit field → calls that carried it
	calls atomic.Int64
}

func newCapFake(t *testing.T, ignoreCap bool) *capFake {
	f := &capFake{ignoreCap: ignoreCap, seen: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *capFake) env() map[string]string {
	return map[string]string{
		"OPENAI_BASE_URL":         f.srv.URL + "/openai/v1",
		"ANTHROPIC_BASE_URL":      f.srv.URL + "/anthropic",
		"GROQ_BASE_URL":           f.srv.URL + "/groq",
		"CLOUDFLARE_API_BASE_URL": f.srv.URL + "/cf",
		"LOCAL_BASE_URL":          f.srv.URL + "/local/v1",
	}
}

// template reads a documented answer from testdata/upstream.
func template(name string) map[string]any {
	b, err := os.ReadFile(filepath.Join("testdata", "upstream", name))
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

func (f *capFake) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, `{"error":{"message":"fake: not JSON","type":"invalid_request_error"}}`, 400)
		return
	}
	out, finish := longAnswerTokens, "stop"
	for _, field := range []string{"max_completion_tokens", "max_tokens"} {
		if n, ok := body[field].(float64); ok {
			f.mu.Lock()
			f.seen[field]++
			f.mu.Unlock()
			if !f.ignoreCap && int(n) < out {
				out, finish = int(n), "length"
			}
		}
	}
	stream, _ := body["stream"].(bool)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/anthropic/v1/messages":
		m := template("anthropic/message.json")
		m["usage"] = map[string]any{"input_tokens": 19, "output_tokens": out}
		if finish == "length" {
			m["stop_reason"] = "max_tokens"
		}
		_ = json.NewEncoder(w).Encode(m)
	case strings.Contains(r.URL.Path, "/ai/run/"):
		m := template("workersai/run.json")
		res := m["result"].(map[string]any)
		res["usage"] = map[string]any{"prompt_tokens": 19, "completion_tokens": out, "total_tokens": 19 + out}
		_ = json.NewEncoder(w).Encode(m)
	case stream:
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(v string) { fmt.Fprintf(w, "data: %s\n\n", v) }
		chunk(`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`)
		chunk(`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"` + finish + `"}]}`)
		if so, _ := body["stream_options"].(map[string]any); so["include_usage"] == true {
			chunk(fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":%d,"total_tokens":%d}}`, out, 19+out))
		}
		chunk("[DONE]")
	default:
		m := template("openai/chat_completion.json")
		m["choices"].([]any)[0].(map[string]any)["finish_reason"] = finish
		m["usage"] = map[string]any{"prompt_tokens": 19, "completion_tokens": out, "total_tokens": 19 + out}
		_ = json.NewEncoder(w).Encode(m)
	}
}

// capTOML prices every model at $1 per million tokens, in and out: a
// reservation of 4,096 output tokens is about $0.0041, an uncapped answer
// $0.02, and a $1.00 daily budget on the gateway admits about 240 calls
// at once.
const capTOML = `
[[ai.gateway]]
id = "default"
max_attempts = 1

[[ai.gateway]]
id = "gw"
max_attempts = 1

[[budget]]
name = "cap"
scope = "gateway"
daily_usd = 1.0
%s
[[pricing.model]]
provider = "openai"
model = "gpt-4o-mini"
input = 1
output = 1

[[pricing.model]]
provider = "anthropic"
model = "claude-3-5-haiku-latest"
input = 1
output = 1

[[pricing.model]]
provider = "groq"
model = "llama-3.1-8b-instant"
input = 1
output = 1

[[pricing.model]]
provider = "workers-ai"
model = "@cf/meta/llama-3.1-8b-instruct"
input = 1
output = 1
`

// capServer is `conductor serve` for toml over st, its upstreams on f.
func capServer(t *testing.T, toml string, f *capFake, st conductor.Store) (url string, set *gateway.Set) {
	t.Helper()
	cfg, err := config.Parse("conductor.toml", []byte(toml), false)
	if err != nil {
		t.Fatal(err)
	}
	env := newFakes(t).env()
	for k, v := range f.env() {
		env[k] = v
	}
	opts, set, err := FromConfig(cfg, config.MapEnv(env), st, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
		_ = set.Close(context.Background())
	})
	return hs.URL, set
}

// capStores are the stores a budget is proven on: the SQLite file and
// Redis with PostgreSQL.
func capStores() []struct {
	name string
	open func(t *testing.T) conductor.Store
} {
	return []struct {
		name string
		open func(t *testing.T) conductor.Store
	}{
		{"sqlite", func(t *testing.T) conductor.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "conductor.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"redis+postgres", func(t *testing.T) conductor.Store {
			ctx := context.Background()
			prefix := testsvc.Name("capbudget")
			rs, err := redis.Open(ctx, testsvc.RedisURL(t), redis.WithPrefix(prefix))
			if err != nil {
				testsvc.Unavailable(t, "redis: %v", err)
			}
			pgURL := testsvc.PostgresURL(t)
			testsvc.DropSchema(t, pgURL, prefix)
			pg, err := postgres.Open(ctx, pgURL, postgres.WithSchema(prefix))
			if err != nil {
				testsvc.Unavailable(t, "postgres: %v", err)
			}
			st := store.Combine(rs, rs, pg, rs, pg)
			t.Cleanup(func() {
				rs.Client().Del(context.Background(), rs.Client().Keys(context.Background(), "{"+prefix+"}:*").Val()...)
				st.Close()
			})
			return st
		}},
	}
}

// spentToday reads the gateway budget's counter of gateway id.
func spentToday(t *testing.T, st conductor.Store, id string) int64 {
	t.Helper()
	n, err := st.Spent(context.Background(), gateway.SpendKey(gateway.ScopeGateway, id)+"/day:"+time.Now().UTC().Format("2006-01-02"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The reproduction of issue 11, item 1: 1,000 concurrent requests without
// max_tokens, each answered with 20k output tokens unless a limit stops it,
// spent $1.40 on a $1.00 budget — the reservation assumed 4,096 output
// tokens, but the caller's body went upstream without them. Now the cap
// the reservation assumed is in the upstream request, and the spend stays
// within the limit and one reservation, on both stores.
func TestBudgetCapBindsUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 concurrent requests")
	}
	const (
		limit       = int64(1e9)            // $1.00 in nano-USD
		reservation = int64(4096+64) * 1000 // 4,096 output tokens and a bound on the input, at $1/M
	)
	for _, sc := range capStores() {
		t.Run(sc.name, func(t *testing.T) {
			f := newCapFake(t, false)
			st := sc.open(t)
			url, set := capServer(t, fmt.Sprintf(capTOML, ""), f, st)
			body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write at length."}]}`
			var wg sync.WaitGroup
			var ok, refused, other atomic.Int64
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
			for range 1000 {
				wg.Go(func() {
					resp, err := client.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
					if err != nil {
						other.Add(1)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == 200:
						ok.Add(1)
					case resp.StatusCode == 429 && refusal("openai", b) == "budget_exceeded":
						refused.Add(1)
					default:
						other.Add(1)
						t.Errorf("%d %s", resp.StatusCode, b)
					}
				})
			}
			wg.Wait()
			if err := set.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			spent := spentToday(t, st, "default")
			t.Logf("%d answered, %d refused, %d failed; $%.4f spent on a $1.00 budget", ok.Load(), refused.Load(), other.Load(), float64(spent)/1e9)
			if spent > limit+reservation {
				t.Errorf("spent $%.4f on a $1.00 budget, want at most the limit and one reservation ($%.4f)", float64(spent)/1e9, float64(limit+reservation)/1e9)
			}
			if ok.Load() == 0 {
				t.Error("no call was answered")
			}
			f.mu.Lock()
			seen := f.seen["max_completion_tokens"]
			f.mu.Unlock()
			if int64(seen) != f.calls.Load() {
				t.Errorf("%d of %d upstream calls carried max_completion_tokens", seen, f.calls.Load())
			}
			if o := set.Overspend()["default"]; o.Calls != 0 {
				t.Errorf("%d calls cost more than their reservation, want none: the upstream honoured the cap", o.Calls)
			}
		})
	}
}

// Each format's own field carries the cap, in a body that otherwise
// passes through byte for byte; a caller's own max_tokens is left alone.
func TestBudgetCapFieldPerFormat(t *testing.T) {
	tests := []struct {
		name, path, body string
		field            string // the field the upstream must see
		format           string
	}{
		{"openai", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`, "max_completion_tokens", "openai"},
		{"openai, null limit", "/v1/chat/completions", `{"model":"gpt-4o-mini","max_completion_tokens":null,"messages":[{"role":"user","content":"Hi"}]}`, "max_completion_tokens", "openai"},
		{"openai, streamed", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`, "max_completion_tokens", "openai"},
		{"groq", "/v1/acct/gw/groq/chat/completions", `{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"Hi"}]}`, "max_tokens", "openai"},
		{"workers-ai", "/v1/acct/gw/workers-ai/@cf/meta/llama-3.1-8b-instruct", `{"prompt":"Hi"}`, "max_tokens", "workers-ai"},
		{"workers-ai /v1", "/v1/acct/gw/workers-ai/v1/chat/completions", `{"model":"@cf/meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"Hi"}]}`, "max_tokens", "openai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCapFake(t, false)
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "conductor.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			url, set := capServer(t, fmt.Sprintf(capTOML, ""), f, st)
			resp, b := postTo(t, url+tt.path, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if err := set.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			n := f.seen[tt.field]
			f.mu.Unlock()
			if n != 1 {
				t.Errorf("the upstream saw %s %d times, want once: %v", tt.field, n, f.seen)
			}
			gw := "gw"
			if !strings.HasPrefix(tt.path, "/v1/acct/") {
				gw = "default"
			}
			if spent, most := spentToday(t, st, gw), int64(19+4096)*1000; spent > most || spent == 0 {
				t.Errorf("spent %d nano-USD, want the capped answer's cost, at most %d", spent, most)
			}
		})
	}
}

// An upstream that ignores the limit: the budget counts what it really
// cost, and each call above its reservation is counted, logged and sent
// to the budget's webhook — never silent.
func TestOverspendCountedAndAlerted(t *testing.T) {
	var mu sync.Mutex
	var alerts []gateway.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a gateway.Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	f := newCapFake(t, true)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	url, set := capServer(t, fmt.Sprintf(capTOML, fmt.Sprintf("webhook = %q\nalerts = [10.0]\n", hook.URL)), f, st)
	for range 3 {
		resp, b := postTo(t, url+"/v1/acct/gw/groq/chat/completions", `{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"Hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	if err := set.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := set.Overspend()["gw"]
	if o.Calls != 3 {
		t.Errorf("%d calls counted above their reservation, want 3", o.Calls)
	}
	if want := 3 * int64(longAnswerTokens-4096-64) * 1000; o.NanoUSD < want {
		t.Errorf("overspend %d nano-USD, want at least %d", o.NanoUSD, want)
	}
	if spent := spentToday(t, st, "gw"); spent != 3*int64(19+longAnswerTokens)*1000 {
		t.Errorf("spent %d nano-USD, want what the three answers cost", spent)
	}
	mu.Lock()
	defer mu.Unlock()
	// One alert a minute, naming the budget and the calls.
	if len(alerts) != 1 || alerts[0].Type != "over_reservation" || alerts[0].Budget != "cap" || alerts[0].Calls != 1 || !strings.Contains(alerts[0].Message, "groq/llama-3.1-8b-instant") {
		t.Errorf("alerts %+v, want one over_reservation alert for budget cap", alerts)
	}
}
