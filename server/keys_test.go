package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/control"
	"github.com/conductor-go/conductor/store/sqlite"
)

// keyServer is configServer plus a second handle on its store, as
// `conductor keys` running beside the server has, and that handle's
// Admin.
func keyServer(t *testing.T, toml string, env map[string]string) (*testServer, *control.Admin) {
	t.Helper()
	ts := configServer(t, toml, env)
	other, err := sqlite.Open(context.Background(), ts.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return ts, &control.Admin{Store: other}
}

// poll is one step of the server's control watcher: what happens within
// control.DefaultPoll of a change.
func (ts *testServer) poll(t *testing.T) {
	t.Helper()
	if err := ts.ctl.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (ts *testServer) createKey(t *testing.T, a *control.Admin, k control.Key) string {
	t.Helper()
	secret, err := a.CreateKey(context.Background(), k, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	ts.poll(t)
	return secret
}

// A key created by another process is accepted at the server's next poll,
// in every header a gateway token is; once a key exists, a caller without
// one is refused; revoked, it is refused with 401.
func TestKeysAcceptedAndRevoked(t *testing.T) {
	ts, admin := keyServer(t, "", nil)
	if r, b := ts.post(t, "/v1/chat/completions", holdChat); r.StatusCode != 200 {
		t.Fatalf("open server before any key: %d %s", r.StatusCode, b)
	}
	secret := ts.createKey(t, admin, control.Key{Name: "ci", User: "ci-bot"})
	for _, h := range [][]string{
		{"Authorization", "Bearer " + secret},
		{"x-api-key", secret},
		{"cf-aig-authorization", "Bearer " + secret},
	} {
		if r, b := ts.post(t, "/v1/chat/completions", holdChat, h...); r.StatusCode != 200 {
			t.Errorf("%s: %d %s", h[0], r.StatusCode, b)
		}
	}
	if r, b := ts.post(t, "/v1/messages", holdMessages, "x-api-key", secret, "anthropic-version", "2023-06-01"); r.StatusCode != 200 {
		t.Errorf("Anthropic SDK's header: %d %s", r.StatusCode, b)
	}
	// A key lists models, and does not open the operator's metrics.
	for _, c := range []struct {
		path string
		want int
	}{{"/v1/models", 200}, {"/metrics", 401}} {
		req, _ := http.NewRequest("GET", ts.url+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s with a key: %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
	for _, h := range [][]string{nil, {"Authorization", "Bearer " + secret + "x"}, {"Authorization", "Bearer ck-nothing"}} {
		if r, b := ts.post(t, "/v1/chat/completions", holdChat, h...); r.StatusCode != 401 || refusal("openai", b) != "invalid_gateway_token" {
			t.Errorf("%v: %d %s", h, r.StatusCode, b)
		}
	}
	if _, err := admin.RevokeKey(context.Background(), "ci", "cli:test"); err != nil {
		t.Fatal(err)
	}
	ts.poll(t)
	r, b := ts.post(t, "/v1/chat/completions", holdChat, "Authorization", "Bearer "+secret)
	if r.StatusCode != 401 || !strings.Contains(string(b), "the key was revoked") {
		t.Errorf("revoked: %d %s", r.StatusCode, b)
	}
	// Its last use reached the store when the server stopped.
	_ = ts.Shutdown(context.Background())
	used, err := admin.Store.KeysUsed(context.Background())
	if err != nil || used["ci"].IsZero() {
		t.Errorf("last use %v %v", used, err)
	}
	if rows := ts.flushLogs(t); rows[0].User != "ci-bot" {
		t.Errorf("the key's user: %+v", rows[0])
	}
}

// A key's model patterns restrict what it calls: 403 naming the model,
// counted against no limit; its gateways restrict where.
func TestKeyModelsAndGateways(t *testing.T) {
	ts, admin := keyServer(t, `
[[ai.gateway]]
id = "default"

[[ai.gateway]]
id = "other"
`, nil)
	secret := ts.createKey(t, admin, control.Key{Name: "mini", RPM: 1, Models: []string{"gpt-4o-mini*"}, Gateways: []string{"default"}})
	auth := []string{"Authorization", "Bearer " + secret}
	for _, c := range []struct{ path, body, model string }{
		{"/v1/chat/completions", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"Hi"}]}`, "openai/gpt-4o"},
		{"/v1/messages", holdMessages, "anthropic/claude-3-5-haiku-latest"},
		{"/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`, "openai/text-embedding-3-small"},
		{"/v1/acct/default/groq/chat/completions", strings.Replace(holdChat, "gpt-4o-mini", "llama-3.1-8b-instant", 1), "groq/llama-3.1-8b-instant"},
	} {
		r, b := ts.post(t, c.path, c.body, auth...)
		if r.StatusCode != 403 || !strings.Contains(string(b), `key \"mini\" may not call model `+c.model) {
			t.Errorf("%s: %d %s", c.path, r.StatusCode, b)
		}
	}
	if r, b := ts.post(t, "/v1/acct/other/openai/chat/completions", holdChat, auth...); r.StatusCode != 403 || refusal("openai", b) != "gateway_not_allowed" {
		t.Errorf("another gateway: %d %s", r.StatusCode, b)
	}
	if r, b := ts.post(t, "/v1/ensembles/greet/run", `{}`, auth...); r.StatusCode != 403 {
		t.Errorf("ensembles: %d %s", r.StatusCode, b)
	}
	// None of those counted: the one request a minute is still there.
	if r, b := ts.post(t, "/v1/chat/completions", holdChat, auth...); r.StatusCode != 200 {
		t.Fatalf("allowed model: %d %s", r.StatusCode, b)
	}
	if r, b := ts.post(t, "/v1/chat/completions", holdChat, auth...); r.StatusCode != 429 || !strings.Contains(string(b), `rate limit \"key mini\"`) {
		t.Errorf("second request in the minute: %d %s", r.StatusCode, b)
	}
	if n := len(ts.fakes.recorded()); n != 1 {
		t.Errorf("%d upstream calls", n)
	}
}

// A request must fit its key's budget, its team's and every matching
// budget, through every gateway.
func TestKeyAndTeamBudgets(t *testing.T) {
	ts, admin := keyServer(t, fmt.Sprintf(holdTOML, true, `
[[team]]
name = "research"
daily_usd = 0.2
`), nil)
	a := ts.createKey(t, admin, control.Key{Name: "a", Team: "research", DailyUSD: 0.1})
	b := ts.createKey(t, admin, control.Key{Name: "b", Team: "research"})
	exhaust := `{"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Hello there, what is new?"}]}`
	use := func(secret string) (admitted int, last []byte) {
		for admitted < 50 {
			r, body := ts.post(t, "/v1/chat/completions", exhaust, "Authorization", "Bearer "+secret)
			if r.StatusCode != 200 {
				time.Sleep(20 * time.Millisecond) // a settlement still queued
				if r, body = ts.post(t, "/v1/chat/completions", exhaust, "Authorization", "Bearer "+secret); r.StatusCode != 200 {
					return admitted, body
				}
			}
			admitted++
		}
		return admitted, nil
	}
	// Key a's own $0.1 holds first: a call reserves 51 tokens at $0.001
	// and spends 29.
	n, last := use(a)
	if n != 2 || !strings.Contains(string(last), `budget \"key a\"`) {
		t.Fatalf("key a: %d calls, then %s", n, last)
	}
	// Key b spends the rest of the team's $0.2.
	n, last = use(b)
	if n != 4 || !strings.Contains(string(last), `budget \"team research\"`) {
		t.Fatalf("key b: %d calls, then %s", n, last)
	}
	// Through another gateway, b is still refused.
	r, body := ts.post(t, "/v1/acct/made-up/openai/chat/completions", holdChat, "Authorization", "Bearer "+b)
	if r.StatusCode != 429 || refusal("openai", body) != "budget_exceeded" {
		t.Errorf("another gateway: %d %s", r.StatusCode, body)
	}
	// A team budget changed while running holds at once.
	if err := admin.Put(context.Background(), control.KindTeam, "research", map[string]any{"name": "research", "daily_usd": 10}, false, "admin"); err != nil {
		t.Fatal(err)
	}
	ts.poll(t)
	if r, body := ts.post(t, "/v1/chat/completions", exhaust, "Authorization", "Bearer "+b); r.StatusCode != 200 {
		t.Errorf("after raising the team's budget: %d %s", r.StatusCode, body)
	}
}
