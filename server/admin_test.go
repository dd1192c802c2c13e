package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
)

const adminToken = "adm-7f3c1e"

// adminCall sends an admin API request and returns the status and the
// decoded answer (nil for an empty one).
func (ts *testServer) adminCall(t *testing.T, method, path, body string, token ...string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tok := adminToken
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, v
}

func adminServer(t testing.TB, toml string) *testServer {
	t.Helper()
	return configServer(t, toml, map[string]string{"CONDUCTOR_ADMIN_TOKEN": adminToken, "CONDUCTOR_TOKENS": "alice=tok-alice"})
}

func TestAdminAuth(t *testing.T) {
	off := configServer(t, "", nil)
	if code, v := off.adminCall(t, "GET", "/admin/keys", ""); code != 404 || path(v, "error", "code") != "admin_off" {
		t.Errorf("without an admin token: %d %v", code, v)
	}
	ts := adminServer(t, "")
	secret := ""
	if code, v := ts.adminCall(t, "POST", "/admin/keys", `{"name":"k"}`); code != 201 {
		t.Fatalf("create: %d %v", code, v)
	} else {
		secret, _ = path(v, "key").(string)
	}
	for _, tok := range []string{"", "tok-alice", secret, adminToken + "x"} {
		if code, v := ts.adminCall(t, "GET", "/admin/keys", "", tok); code != 401 || path(v, "error", "code") != "invalid_admin_token" {
			t.Errorf("token %q: %d %v", tok, code, v)
		}
	}
	// Nor is the admin token a gateway token.
	if r, _ := ts.post(t, "/v1/chat/completions", holdChat, "Authorization", "Bearer "+adminToken); r.StatusCode != 401 {
		t.Errorf("the admin token on a model endpoint: %d", r.StatusCode)
	}
	if code, _ := ts.adminCall(t, "GET", "/admin/nothing", ""); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
}

func TestAdminKeys(t *testing.T) {
	ts := adminServer(t, "")
	code, v := ts.adminCall(t, "POST", "/admin/keys", `{"name":"app","user":"app-user","rpm":2,"models":["gpt-4o*"],"expires_in":"30d"}`)
	secret, _ := path(v, "key").(string)
	if code != 201 || !strings.HasPrefix(secret, "ck-") || path(v, "status") != "active" || path(v, "secrets") != nil {
		t.Fatalf("create: %d %v", code, v)
	}
	if code, v := ts.adminCall(t, "POST", "/admin/keys", `{"name":"app"}`); code != 409 {
		t.Errorf("create twice: %d %v", code, v)
	}
	if code, v := ts.adminCall(t, "POST", "/admin/keys", `{"name":"x","rpm":-1}`); code != 400 {
		t.Errorf("negative rpm: %d %v", code, v)
	}
	if code, v := ts.adminCall(t, "POST", "/admin/keys", `{"name":"x","colour":"red"}`); code != 400 || !strings.Contains(path(v, "error", "message").(string), "colour") {
		t.Errorf("unknown field: %d %v", code, v)
	}
	auth := []string{"Authorization", "Bearer " + secret}
	// In force at once on this server.
	for i := range 3 {
		r, b := ts.post(t, "/v1/chat/completions", holdChat, auth...)
		if (r.StatusCode == 200) != (i < 2) {
			t.Fatalf("call %d with rpm 2: %d %s", i, r.StatusCode, b)
		}
	}
	if code, v := ts.adminCall(t, "PATCH", "/admin/keys/app", `{"rpm":10}`); code != 200 || path(v, "rpm") != 10.0 {
		t.Fatalf("patch: %d %v", code, v)
	}
	if r, b := ts.post(t, "/v1/chat/completions", holdChat, auth...); r.StatusCode != 200 {
		t.Errorf("after raising rpm: %d %s", r.StatusCode, b)
	}
	code, v = ts.adminCall(t, "GET", "/admin/keys", "")
	raw, _ := json.Marshal(v)
	if code != 200 || strings.Contains(string(raw), secret) || strings.Contains(string(raw), "sha256") || path(v, 0, "last_used") == nil {
		t.Errorf("list: %d %s", code, raw)
	}
	code, v = ts.adminCall(t, "POST", "/admin/keys/app/rotate", `{"grace":"0"}`)
	fresh, _ := path(v, "key").(string)
	if code != 200 || fresh == "" || fresh == secret {
		t.Fatalf("rotate: %d %v", code, v)
	}
	if r, _ := ts.post(t, "/v1/chat/completions", holdChat, auth...); r.StatusCode != 401 {
		t.Errorf("the rotated-out key: %d", r.StatusCode)
	}
	if code, v := ts.adminCall(t, "POST", "/admin/keys/app/revoke", ""); code != 200 || path(v, "status") != "revoked" {
		t.Fatalf("revoke: %d %v", code, v)
	}
	if r, _ := ts.post(t, "/v1/chat/completions", holdChat, "Authorization", "Bearer "+fresh); r.StatusCode != 401 {
		t.Errorf("the revoked key: %d", r.StatusCode)
	}
	if code, _ := ts.adminCall(t, "DELETE", "/admin/keys/app", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := ts.adminCall(t, "GET", "/admin/keys/app", ""); code != 404 {
		t.Errorf("deleted: %d", code)
	}
	// Every change, audited by who made it, no key or digest in any row.
	code, v = ts.adminCall(t, "GET", "/admin/audit", "")
	raw, _ = json.Marshal(v)
	rows, _ := v.([]any)
	var actions []string
	for _, r := range rows {
		actions = append(actions, path(r, "action").(string))
		if path(r, "who") != "admin-api" {
			t.Errorf("row %v", r)
		}
	}
	if code != 200 || strings.Join(actions, ",") != "delete,revoke,rotate,update,create" || strings.Contains(string(raw), "sha256") || strings.Contains(string(raw), "ck-") {
		t.Errorf("audit: %d %v\n%s", code, actions, raw)
	}
	if path(rows[3], "before", "rpm") != 2.0 || path(rows[3], "after", "rpm") != 10.0 {
		t.Errorf("the update's before and after: %v", rows[3])
	}
}

// Budgets, rate limits and cache TTLs changed through the API hold the
// next call here, and the next call on another server sharing the store
// after its poll; they persist in the store.
func TestAdminLimitsAndTTLs(t *testing.T) {
	const toml = `
environment = "production"

[[ai.gateway]]
id = "default"

[[budget]]
name = "from-file"
scope = "provider"
match = "groq"
daily_usd = 100
`
	ts := adminServer(t, toml)
	cfg, _ := config.Parse("conductor.toml", []byte(toml), false)
	other := cfgServer(t, cfg, map[string]string{"CONDUCTOR_TOKENS": "alice=tok-alice"}, ts.store.Path())
	alice := []string{"Authorization", "Bearer tok-alice"}

	// A budget refused as the config file would refuse it.
	if code, v := ts.adminCall(t, "POST", "/admin/budgets", `{"name":"b","scope":"galaxy","daily_usd":1}`); code != 400 ||
		!strings.Contains(path(v, "error", "message").(string), `budget "b": scope: expected one of`) {
		t.Errorf("bad scope: %d %v", code, v)
	}
	if code, v := ts.adminCall(t, "POST", "/admin/budgets", `{"name":"from-file","scope":"user","daily_usd":1}`); code != 409 {
		t.Errorf("a name the config holds: %d %v", code, v)
	}
	code, v := ts.adminCall(t, "POST", "/admin/budgets", `{"name":"tiny","scope":"environment","match":"production","daily_usd":0.0000001}`)
	if code != 201 || path(v, "source") != "store" {
		t.Fatalf("create: %d %v", code, v)
	}
	for _, s := range []*testServer{ts, other} {
		if s == other {
			other.poll(t)
		}
		if r, b := s.post(t, "/v1/chat/completions", holdChat, alice...); r.StatusCode != 429 || refusal("openai", b) != "budget_exceeded" ||
			!strings.Contains(string(b), `budget \"tiny\"`) {
			t.Errorf("under the new budget: %d %s", r.StatusCode, b)
		}
	}
	code, v = ts.adminCall(t, "GET", "/admin/budgets", "")
	if code != 200 || len(v.([]any)) != 2 || path(v, 0, "source") != "config" || path(v, 1, "item", "name") != "tiny" {
		t.Errorf("list: %d %v", code, v)
	}
	if code, _ := ts.adminCall(t, "DELETE", "/admin/budgets/tiny", ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, v := ts.adminCall(t, "DELETE", "/admin/budgets/from-file", ""); code != 400 || !strings.Contains(path(v, "error", "message").(string), "edit the file") {
		t.Errorf("delete the config's: %d %v", code, v)
	}
	if r, b := ts.post(t, "/v1/chat/completions", holdChat, alice...); r.StatusCode != 200 {
		t.Fatalf("after the delete: %d %s", r.StatusCode, b)
	}

	// A per-user rate limit.
	if code, v := ts.adminCall(t, "PUT", "/admin/rate-limits/one", `{"name":"one","scope":"user","match":"alice","requests":1,"window":"1h"}`); code != 200 {
		t.Fatalf("rate limit: %d %v", code, v)
	}
	statuses := []int{}
	for range 2 {
		r, _ := ts.post(t, "/v1/chat/completions", strings.Replace(holdChat, "Hi", "Hi again", 1), alice...)
		statuses = append(statuses, r.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 429 {
		t.Errorf("rate limit 1/hour: %v", statuses)
	}
	if code, _ := ts.adminCall(t, "DELETE", "/admin/rate-limits/one", ""); code != 204 {
		t.Fatal("delete rate limit")
	}

	// A team, through the API.
	if code, v := ts.adminCall(t, "POST", "/admin/teams", `{"name":"ops","daily_usd":3}`); code != 201 {
		t.Errorf("team: %d %v", code, v)
	}

	// The default gateway's cache TTL: a repeated call becomes a hit.
	if code, v := ts.adminCall(t, "PUT", "/admin/gateways/default", `{"cache_ttl":"1h"}`); code != 200 || path(v, "cache_ttl") != "1h0m0s" {
		t.Fatalf("cache ttl: %d %v", code, v)
	}
	if code, _ := ts.adminCall(t, "PUT", "/admin/gateways/nope", `{"cache_ttl":"1h"}`); code != 404 {
		t.Errorf("an unknown gateway: %d", code)
	}
	before := ts.fakes.count("openai")
	var cacheStatus []string
	for range 2 {
		r, _ := ts.post(t, "/v1/chat/completions", strings.Replace(holdChat, "Hi", "cache me", 1), alice...)
		cacheStatus = append(cacheStatus, r.Header.Get("cf-aig-cache-status"))
	}
	if ts.fakes.count("openai")-before != 1 || cacheStatus[1] != "HIT" {
		t.Errorf("with a TTL: %d upstream calls, statuses %v", ts.fakes.count("openai")-before, cacheStatus)
	}
	code, v = ts.adminCall(t, "GET", "/admin/gateways", "")
	if code != 200 || path(v, 0, "id") != "default" || path(v, 0, "source") != "store" {
		t.Errorf("gateways: %d %v", code, v)
	}

	// Persisted: a server started later on the store has them.
	later := cfgServer(t, cfg, map[string]string{"CONDUCTOR_ADMIN_TOKEN": adminToken}, ts.store.Path())
	if code, v := later.adminCall(t, "GET", "/admin/teams", ""); code != 200 || path(v, 0, "item", "name") != "ops" {
		t.Errorf("a later server: %d %v", code, v)
	}
}

// An edited config file is put in force by Reload, without a restart; a
// broken one changes nothing and says where it is broken.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "conductor.toml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[[ai.gateway]]\nid = \"default\"\nrate_limiting_requests_per_minute = 100\n")
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ts := cfgServer(t, cfg, map[string]string{"CONDUCTOR_ADMIN_TOKEN": adminToken}, "")
	for range 2 {
		if r, _ := ts.post(t, "/v1/chat/completions", holdChat); r.StatusCode != 200 {
			t.Fatalf("%d", r.StatusCode)
		}
	}
	write("[[ai.gateway]]\nid = \"default\"\nrate_limiting_requests_per_minute = 2\n")
	if err := ts.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, b := ts.post(t, "/v1/chat/completions", holdChat); r.StatusCode != 429 || !strings.Contains(string(b), "rate limit 2 requests/minute") {
		t.Errorf("after lowering the limit: %d %s", r.StatusCode, b)
	}
	write("[[ai.gateway]]\nid = \"default\"\nrate_limiting_requests_per_minute = 100\n[[budget]]\nname = \"x\"\nscope = \"nowhere\"\n")
	err = ts.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "conductor.toml:6:1: budget[0].scope") {
		t.Fatalf("a broken file: %v", err)
	}
	if r, _ := ts.post(t, "/v1/chat/completions", holdChat); r.StatusCode != 429 {
		t.Errorf("the broken file changed the limits: %d", r.StatusCode)
	}
	// Through the admin API, and on a file changed on disk.
	write("[[ai.gateway]]\nid = \"default\"\nrate_limiting_requests_per_minute = 100\n")
	if code, v := ts.adminCall(t, "POST", "/admin/reload", ""); code != 200 {
		t.Fatalf("reload: %d %v", code, v)
	}
	if r, _ := ts.post(t, "/v1/chat/completions", holdChat); r.StatusCode != 200 {
		t.Errorf("raised again: %d", r.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ts.WatchConfig(ctx, 10*time.Millisecond)
	write("[[ai.gateway]]\nid = \"default\"\nrate_limiting_requests_per_minute = 3\n")
	for deadline := time.Now().Add(10 * time.Second); ; {
		r, _ := ts.post(t, "/v1/chat/completions", strings.Replace(holdChat, "Hi", "watch", 1))
		if r.StatusCode == 429 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file's change was not put in force")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
