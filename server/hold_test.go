package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/store/sqlite"
)

// configServer is `conductor serve` for a conductor.toml: FromConfig's
// options over a fresh SQLite store, every upstream on the fakes.
func configServer(t testing.TB, toml string, env map[string]string) *testServer {
	t.Helper()
	cfg, err := config.Parse("conductor.toml", []byte(toml), false)
	if err != nil {
		t.Fatal(err)
	}
	return cfgServer(t, cfg, env, "")
}

// cfgServer is configServer for a config already read; with db set, over
// that store file (another server sharing it), else a fresh one.
func cfgServer(t testing.TB, cfg *config.Config, env map[string]string, db string) *testServer {
	t.Helper()
	f := newFakes(t)
	e := f.env()
	for k, v := range env {
		e[k] = v
	}
	if db == "" {
		db = t.TempDir() + "/conductor.db"
	}
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	opts, set, err := FromConfig(cfg, config.MapEnv(e), st, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	// What serve mounts there, for the checks in front of it.
	opts.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics\n")) })
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
		_ = set.Close(context.Background())
		st.Close()
	})
	return &testServer{Server: s, url: hs.URL, store: st, set: set, fakes: f}
}

// holdTOML prices every model the routes below call at $1,000 per
// million tokens, in and out (a token costs $0.001), so that a budget of
// cents is used up in a few calls.
const holdTOML = `
environment = "production"

[[ai.gateway]]
id = "default"
max_attempts = 1

[[ai.gateway]]
id = "g2"
max_attempts = 1

[[ai.gateway]]
id = "g3"
max_attempts = 1

[server]
auto_gateways = %v

[[pricing.model]]
provider = "openai"
model = "gpt-4o-mini"
input = 1000
output = 1000

[[pricing.model]]
provider = "openai"
model = "text-embedding-3-small"
input = 1000
output = 1000

[[pricing.model]]
provider = "anthropic"
model = "claude-3-5-haiku-latest"
input = 1000
output = 1000

[[pricing.model]]
provider = "groq"
model = "llama-3.1-8b-instant"
input = 1000
output = 1000

[[pricing.model]]
provider = "workers-ai"
model = "@cf/meta/llama-3.1-8b-instruct"
input = 1000
output = 1000
%s`

// holdRoute is one way of calling a model: a path, a body, the wire format
// of its errors.
type holdRoute struct {
	name, path, body, format string
}

const (
	holdChat     = `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`
	holdMessages = `{"model":"claude-3-5-haiku-latest","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`
)

// holdRoutes are every route and format of a call through gateway gw
// ("" for the routes that name none: the default gateway).
func holdRoutes(gw string) []holdRoute {
	if gw == "" {
		return []holdRoute{
			{"chat completions", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`, "openai"},
			{"chat completions, streamed", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`, "openai"},
			{"messages", "/v1/messages", holdMessages, "anthropic"},
			{"messages, streamed", "/v1/messages", strings.Replace(holdMessages, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), "anthropic"},
			{"embeddings", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["an input long enough to cost more than what is left"]}`, "openai"},
		}
	}
	base := "/v1/acct/" + gw
	return []holdRoute{
		{"openai", base + "/openai/chat/completions", holdChat, "openai"},
		{"openai, streamed", base + "/openai/chat/completions", strings.Replace(holdChat, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), "openai"},
		{"anthropic", base + "/anthropic/v1/messages", holdMessages, "anthropic"},
		{"groq", base + "/groq/chat/completions", strings.Replace(holdChat, "gpt-4o-mini", "llama-3.1-8b-instant", 1), "openai"},
		{"workers-ai", base + "/workers-ai/@cf/meta/llama-3.1-8b-instruct", `{"prompt":"Hi","max_tokens":64}`, "workers-ai"},
		{"workers-ai /v1", base + "/workers-ai/v1/chat/completions", strings.Replace(holdChat, "gpt-4o-mini", "@cf/meta/llama-3.1-8b-instruct", 1), "openai"},
		{"compat", base + "/compat/chat/completions", strings.Replace(holdChat, "gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", 1), "openai"},
		{"universal", base, `[{"provider":"anthropic","endpoint":"v1/messages","headers":{},"query":` + holdMessages + `}]`, "anthropic"},
	}
}

// refusal reads the code of an error answer in format, or "" when body is
// no error of that format.
func refusal(format string, body []byte) string {
	m := map[string]any{}
	if err := json.Unmarshal(body, &m); err != nil {
		// A stream refused before it began is a JSON error too; anything
		// else is not a refusal.
		return ""
	}
	switch format {
	case "anthropic":
		if m["type"] == "error" {
			s, _ := path(m, "error", "type").(string)
			return s
		}
	case "workers-ai":
		if m["success"] == false {
			return fmt.Sprint(path(m, "errors", 0, "code"))
		}
	default:
		s, _ := path(m, "error", "code").(string)
		return s
	}
	return ""
}

// The reproduction of issue 9: a limit is used up through
// /v1/chat/completions, then every route and format, through the other
// configured gateways and 20 made-up gateway ids, is refused — 404 for
// ids nobody configured, the limit's 429 everywhere with
// auto_gateways — and what was spent is the limit less at most one
// reservation.
func TestLimitsHoldOnEveryRouteAndGateway(t *testing.T) {
	tests := []struct {
		name   string
		toml   string
		header []string
		spend  string           // the budget's counter, "" for a rate limit
		code   string           // the refusal's code in OpenAI's format
		anth   string           // and in Anthropic's
		admits func(n int) bool // how many calls the limit admits, when known
	}{
		{name: "environment budget", toml: `
[[budget]]
name = "prod"
scope = "environment"
match = "production"
daily_usd = 0.2
`, spend: "spend/environment:production", code: "budget_exceeded", anth: "billing_error"},
		{name: "user budget", toml: `
[[budget]]
name = "per-user"
scope = "user"
daily_usd = 0.2
`, header: []string{"Authorization", "Bearer tok-alice"}, spend: "spend/user:alice", code: "budget_exceeded", anth: "billing_error"},
		{name: "per-user rate limit", toml: `
[[rate_limit]]
name = "per-user"
scope = "user"
requests = 3
window = "1h"
`, header: []string{"Authorization", "Bearer tok-alice"}, code: "rate_limited", anth: "rate_limit_error",
			admits: func(n int) bool { return n == 3 }},
	}
	for _, tt := range tests {
		for _, auto := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/auto_gateways=%v", tt.name, auto), func(t *testing.T) {
				ts := configServer(t, fmt.Sprintf(holdTOML, auto, tt.toml), map[string]string{"CONDUCTOR_TOKENS": "alice=tok-alice,bob=tok-bob"})
				header := tt.header
				if header == nil {
					header = []string{"Authorization", "Bearer tok-bob"}
				}
				// Use the limit up through /v1/chat/completions: a call that is
				// refused while the previous one's settlement is still queued
				// is tried again once it landed.
				exhaust := `{"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Hello there, what is new?"}]}`
				admitted, needs := 0, ""
				for admitted < 100 {
					resp, body := ts.post(t, "/v1/chat/completions", exhaust, header...)
					if resp.StatusCode == 200 {
						admitted++
						continue
					}
					if resp.StatusCode != 429 || refusal("openai", body) != tt.code {
						t.Fatalf("call %d: %d %s", admitted, resp.StatusCode, body)
					}
					time.Sleep(20 * time.Millisecond)
					resp, body = ts.post(t, "/v1/chat/completions", exhaust, header...)
					if resp.StatusCode == 429 {
						needs = string(body)
						break
					}
					admitted++
				}
				if admitted == 0 || admitted == 100 || (tt.admits != nil && !tt.admits(admitted)) {
					t.Fatalf("%d calls admitted", admitted)
				}
				spentBefore := ts.spent(t, tt.spend)
				upstream := len(ts.fakes.recorded())

				ids := []string{"g2", "g3"}
				for i := range 20 {
					ids = append(ids, "made-up-"+strconv.Itoa(i))
				}
				var routes []holdRoute
				routes = append(routes, holdRoutes("")...)
				for _, id := range ids {
					routes = append(routes, holdRoutes(id)...)
				}
				for _, r := range routes {
					resp, body := ts.post(t, r.path, r.body, header...)
					madeUp := strings.Contains(r.path, "/made-up-")
					f := r.format
					if madeUp && !auto && r.name == "universal" {
						// Refused before its body is read: the universal
						// endpoint's format is OpenAI's until a step names
						// another.
						f = "openai"
					}
					want, status := tt.code, 429
					switch {
					case madeUp && !auto && f == "workers-ai":
						want, status = "404", 404
					case madeUp && !auto && f == "anthropic":
						want, status = "not_found_error", 404
					case madeUp && !auto:
						want, status = "gateway_not_found", 404
					case f == "workers-ai":
						want = "429"
					case f == "anthropic":
						want = tt.anth
					}
					if resp.StatusCode != status || refusal(f, body) != want {
						t.Errorf("%s %s: %d %s, want %d %s", r.name, r.path, resp.StatusCode, body, status, want)
					}
					// The caller reads the refusal, not the gateway's
					// internal class and status prefixes.
					for _, internal := range []string{"429 budget", "429 limited", "openai: 429", ": budget:", ": limited:"} {
						if strings.Contains(string(body), internal) {
							t.Errorf("%s %s: the message carries %q: %s", r.name, r.path, internal, body)
						}
					}
				}
				if n := len(ts.fakes.recorded()) - upstream; n != 0 {
					t.Errorf("%d calls went upstream after the limit was used up", n)
				}
				if tt.spend == "" {
					return
				}
				// Every settlement landed: the spend did not move, and it is
				// the limit less than one reservation.
				if err := ts.set.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				spent := ts.spent(t, tt.spend)
				const limit = 200_000_000 // $0.2
				reservation := needsUSD(t, needs)
				if spent != spentBefore || spent > limit || limit-spent >= reservation {
					t.Errorf("spent %d (%d when used up) of %d; a reservation is %d", spent, spentBefore, limit, reservation)
				}
			})
		}
	}
}

// spent reads a budget's counter ("" reads nothing) in today's window.
func (ts *testServer) spent(t *testing.T, key string) int64 {
	t.Helper()
	if key == "" {
		return 0
	}
	n, err := ts.store.Spent(context.Background(), key+"/day:"+time.Now().UTC().Format("2006-01-02"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var needsRE = regexp.MustCompile(`this call needs up to \$([0-9.]+)`)

// needsUSD reads the reservation a budget refusal names, in nano-USD.
func needsUSD(t *testing.T, refusal string) int64 {
	t.Helper()
	m := needsRE.FindStringSubmatch(refusal)
	if m == nil {
		t.Fatalf("the refusal names no reservation: %s", refusal)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(f*1e9 + 0.5)
}

// The same with no budget at all: an id nobody configured is a 404 in
// the caller's format, unless auto_gateways, which serves it with the
// default gateway's settings (its cache here).
func TestUnconfiguredGateway(t *testing.T) {
	for _, auto := range []bool{false, true} {
		ts := configServer(t, fmt.Sprintf(`
[[ai.gateway]]
id = "main"
cache_ttl = 3600

[server]
auto_gateways = %v
`, auto), nil)
		for range 2 {
			resp, body := ts.post(t, "/v1/acct/elsewhere/openai/chat/completions", holdChat)
			switch {
			case !auto && (resp.StatusCode != 404 || refusal("openai", body) != "gateway_not_found" ||
				!strings.Contains(string(body), `no gateway \"elsewhere\": declare it in [[ai.gateway]]`)):
				t.Errorf("auto_gateways off: %d %s", resp.StatusCode, body)
			case auto && resp.StatusCode != 200:
				t.Errorf("auto_gateways on: %d %s", resp.StatusCode, body)
			}
		}
		if want := map[bool]int{false: 0, true: 1}[auto]; ts.fakes.count("openai") != want {
			t.Errorf("auto_gateways=%v: %d upstream calls, want %d (the default gateway's cache)", auto, ts.fakes.count("openai"), want)
		}
		rows := ts.flushLogs(t)
		if auto && (len(rows) != 2 || rows[0].Gateway != "elsewhere") {
			t.Errorf("rows %+v", rows)
		}
	}
}

// A token bound to gateways is refused (403, in the caller's format)
// everywhere else, the routes that name no gateway included when the
// default gateway is not among its gateways.
func TestTokenBoundToGateways(t *testing.T) {
	ts := configServer(t, `
[[ai.gateway]]
id = "default"

[[ai.gateway]]
id = "staging"

[server.token_gateways]
ci = ["staging"]
`, map[string]string{"CONDUCTOR_TOKENS": "ci=tok-ci,dev=tok-dev"})
	ci := []string{"Authorization", "Bearer tok-ci"}
	if resp, body := ts.post(t, "/v1/acct/staging/openai/chat/completions", holdChat, ci...); resp.StatusCode != 200 {
		t.Fatalf("its own gateway: %d %s", resp.StatusCode, body)
	}
	for _, r := range append(holdRoutes("default"), holdRoutes("")...) {
		resp, body := ts.post(t, r.path, r.body, ci...)
		want, f := "gateway_not_allowed", r.format
		if r.name == "universal" {
			f = "openai" // refused before a step names a format
		}
		switch f {
		case "anthropic":
			want = "permission_error"
		case "workers-ai":
			want = "403"
		}
		if resp.StatusCode != 403 || refusal(f, body) != want {
			t.Errorf("%s: %d %s", r.path, resp.StatusCode, body)
		}
	}
	if resp, body := ts.post(t, "/v1/chat/completions", holdChat, "Authorization", "Bearer tok-dev"); resp.StatusCode != 200 {
		t.Errorf("an unbound token: %d %s", resp.StatusCode, body)
	}
	if n := ts.fakes.count("openai"); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
}
