package control

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/store/sqlite"
)

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestNewSecret(t *testing.T) {
	re := regexp.MustCompile(`^ck-[0-9A-Za-z]{43}$`)
	seen := map[string]bool{}
	for range 1000 {
		s := NewSecret()
		if !re.MatchString(s) || seen[s] {
			t.Fatalf("secret %q (seen: %v)", s, seen[s])
		}
		seen[s] = true
	}
	// SHA-256("abc"), FIPS 180-2's example.
	if Digest("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal("digest")
	}
}

func TestAllowsModel(t *testing.T) {
	tests := []struct {
		patterns        []string
		provider, model string
		want            bool
	}{
		{nil, "openai", "gpt-4o", true},
		{[]string{"gpt-4o*"}, "openai", "gpt-4o-mini", true},
		{[]string{"gpt-4o*"}, "openai", "gpt-4.1", false},
		{[]string{"openai/gpt-4o*"}, "openai", "gpt-4o", true},
		{[]string{"openai/gpt-4o*"}, "groq", "gpt-4o", false},
		{[]string{"anthropic/*"}, "anthropic", "claude-3-5-sonnet-20241022", true},
		{[]string{"anthropic/*"}, "openai", "gpt-4o", false},
		// A pattern that names a provider matches provider/model only.
		{[]string{"openai/*"}, "groq", "openai/gpt-oss-20b", false},
		{[]string{"@cf/meta/*"}, "workers-ai", "@cf/meta/llama-3.1-8b-instruct", true},
		{[]string{"workers-ai/*"}, "workers-ai", "@cf/meta/llama-3.1-8b-instruct", true},
		{[]string{"*llama*"}, "groq", "llama-3.1-8b-instant", true},
		{[]string{"gpt-4o"}, "openai", "gpt-4o-mini", false},
		{[]string{"claude-*", "gpt-4o"}, "openai", "gpt-4o", true},
	}
	for _, tt := range tests {
		k := Key{Models: tt.patterns}
		if got := k.AllowsModel(tt.provider, tt.model); got != tt.want {
			t.Errorf("%q allows %s/%s = %v, want %v", tt.patterns, tt.provider, tt.model, got, tt.want)
		}
	}
	for _, tt := range []struct {
		p, s string
		want bool
	}{{"*", "", true}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"**", "x", true}, {"a?", "ab", false}, {"", "", true}, {"", "a", false}} {
		if glob(tt.p, tt.s) != tt.want {
			t.Errorf("glob(%q, %q) != %v", tt.p, tt.s, tt.want)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("gpt-4o*", "gpt-4o-mini")
	f.Add("*a*b*", "xaybz")
	f.Fuzz(func(t *testing.T, p, s string) {
		// Against the obvious (slow) definition.
		var match func(p, s string) bool
		match = func(p, s string) bool {
			if p == "" {
				return s == ""
			}
			if p[0] == '*' {
				for i := 0; i <= len(s); i++ {
					if match(p[1:], s[i:]) {
						return true
					}
				}
				return false
			}
			return s != "" && p[0] == s[0] && match(p[1:], s[1:])
		}
		if len(p) > 12 || len(s) > 24 {
			return
		}
		if glob(p, s) != match(p, s) {
			t.Fatalf("glob(%q, %q) = %v", p, s, glob(p, s))
		}
	})
}

func TestKeysLifecycle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	a := &Admin{Store: st, Now: clock}
	secret, err := a.CreateKey(ctx, Key{Name: "ci", User: "ci-bot", Team: "ops", DailyUSD: 5, RPM: 60, Models: []string{"gpt-4o*"},
		Expires: now.Add(30 * 24 * time.Hour)}, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateKey(ctx, Key{Name: "ci"}, "cli:test"); !errors.Is(err, ErrExists) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := a.CreateKey(ctx, Key{Name: "bad name"}, "cli:test"); err == nil {
		t.Fatal("a bad name was accepted")
	}
	// The store holds the digest, never the key.
	items, _ := st.ControlItems(ctx, KindKey)
	if len(items) != 1 || strings.Contains(string(items[0].Body), secret) || !strings.Contains(string(items[0].Body), Digest(secret)) {
		t.Fatalf("stored %s", items[0].Body)
	}
	sn, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := sn.Lookup(secret, now); err != nil || k == nil || k.Name != "ci" || k.User != "ci-bot" {
		t.Fatalf("lookup %+v %v", k, err)
	}
	if k, err := sn.Lookup(secret+"x", now); k != nil || err != nil {
		t.Fatal("a wrong secret was found")
	}
	if _, err := sn.Lookup(secret, now.Add(31*24*time.Hour)); !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("expired: %v", err)
	}
	if !sn.Guarding() {
		t.Fatal("Guarding")
	}

	// Rotation: the old secret works through the grace period, not after.
	now = now.Add(time.Hour)
	fresh, err := a.RotateKey(ctx, "ci", 10*time.Minute, "cli:test")
	if err != nil || fresh == secret {
		t.Fatal(err)
	}
	sn, _ = Load(ctx, st)
	for _, c := range []struct {
		secret string
		at     time.Time
		ok     bool
	}{{fresh, now, true}, {secret, now, true}, {secret, now.Add(9 * time.Minute), true}, {secret, now.Add(10 * time.Minute), false}, {fresh, now.Add(time.Hour), true}} {
		k, err := sn.Lookup(c.secret, c.at)
		if (k != nil && err == nil) != c.ok {
			t.Errorf("secret %s at +%v: %v %v, want ok=%v", c.secret[:6], c.at.Sub(now), k, err, c.ok)
		}
	}
	// Without grace the old one stops at once.
	third, _ := a.RotateKey(ctx, "ci", 0, "cli:test")
	sn, _ = Load(ctx, st)
	if k, _ := sn.Lookup(fresh, now); k != nil {
		t.Fatal("rotated without grace, the old secret still works")
	}
	if k, _ := sn.Lookup(third, now); k == nil {
		t.Fatal("the new secret does not work")
	}

	if _, err := a.RevokeKey(ctx, "ci", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, "ci", "admin"); err == nil {
		t.Fatal("revoked twice")
	}
	sn, _ = Load(ctx, st)
	if _, err := sn.Lookup(third, now); !errors.Is(err, ErrKeyRevoked) || !sn.Guarding() {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := a.RotateKey(ctx, "ci", 0, "cli:test"); err == nil {
		t.Fatal("a revoked key was rotated")
	}
	// Every change audited, no digest in any row.
	rows, _ := st.AuditLog(ctx, 100)
	var actions []string
	for _, r := range rows {
		actions = append(actions, r.Action)
		if strings.Contains(string(r.Before)+string(r.After), "sha256") || r.Who == "" {
			t.Errorf("audit row %+v: %s → %s", r, r.Before, r.After)
		}
	}
	if strings.Join(actions, ",") != "revoke,rotate,rotate,create" {
		t.Errorf("audit %v", actions)
	}
	if err := a.DeleteKey(ctx, "ci", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteKey(ctx, "ci", "admin"); !errors.Is(err, conductor.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

// A change made through one handle of the store (another process) is seen
// by a watcher on another at its next poll.
func TestWatcherSeesAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	mine, theirs := openStore(t, path), openStore(t, path)
	var applied []*Snapshot
	w, err := NewWatcher(ctx, mine, nil, func(sn *Snapshot) { applied = append(applied, sn) })
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || len(w.Snapshot().Keys) != 0 {
		t.Fatalf("first snapshot %+v", applied)
	}
	if err := w.Poll(ctx); err != nil || len(applied) != 1 {
		t.Fatalf("a poll without a change reloaded: %v", err)
	}
	secret, err := (&Admin{Store: theirs}).CreateKey(ctx, Key{Name: "k"}, "cli:other")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 {
		t.Fatal("the change was not seen")
	}
	if k, err := w.Snapshot().Lookup(secret, time.Now()); k == nil || err != nil {
		t.Fatalf("lookup after the poll: %v %v", k, err)
	}
	w.Used("k", time.Unix(1700000000, 0))
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	used, _ := theirs.KeysUsed(ctx)
	if !used["k"].Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("used %v", used)
	}
}

// The store's items lay over the config's by name; keys bring their own
// limits and a spend count.
func TestApplyAndLimits(t *testing.T) {
	cfg, err := config.Parse("c.toml", []byte(`
[[ai.gateway]]
id = "main"
cache_ttl = 60

[[budget]]
name = "prod"
scope = "environment"
match = "production"
daily_usd = 10

[[team]]
name = "research"
daily_usd = 20
`), false)
	if err != nil {
		t.Fatal(err)
	}
	ttl := config.Seconds(3600)
	sn := &Snapshot{
		Budgets:  []config.Budget{{Name: "prod", Scope: "environment", Match: "production", DailyUSD: 1}, {Name: "users", Scope: "user", DailyUSD: 2}},
		Teams:    []config.Team{{Name: "ops", MonthlyUSD: 50, RequestsPerMinute: 100}},
		Rates:    []config.RateLimit{{Name: "per-key", Scope: "key", Requests: 10, Window: config.Seconds(60), Technique: "fixed"}},
		Gateways: []GatewaySettings{{ID: "main", CacheTTL: &ttl}},
		Keys:     []Key{{Name: "ci", DailyUSD: 3, RPM: 5}, {Name: "old", Revoked: time.Unix(1, 0)}, {Name: "free"}},
	}
	merged := sn.Apply(cfg)
	if len(cfg.Budgets) != 1 || cfg.Budgets[0].DailyUSD != 10 || cfg.AI.Gateways[0].CacheTTL.Duration != time.Minute {
		t.Fatal("Apply changed the config")
	}
	if err := merged.Check(); err != nil {
		t.Fatal(err)
	}
	if len(merged.Budgets) != 2 || merged.Budgets[0].DailyUSD != 1 || len(merged.Teams) != 2 || merged.AI.Gateways[0].CacheTTL.Duration != time.Hour {
		t.Fatalf("merged %+v %+v %+v", merged.Budgets, merged.Teams, merged.AI.Gateways)
	}
	l := sn.Limits(cfg, config.MapEnv(nil), time.Now())
	var names []string
	for _, b := range l.Budgets {
		names = append(names, b.Name+"/"+b.Period)
	}
	want := "prod/day,users/day,team research/day,team ops/month,key ci/day,key ci/day,key free/day"
	if strings.Join(names, ",") != want {
		t.Errorf("budgets %s\nwant     %s", strings.Join(names, ","), want)
	}
	if len(l.Rates) != 3 || l.Rates[0].Name != "team ops" || l.Rates[1].Name != "per-key" || l.Rates[2].Name != "key ci" || l.Rates[2].Requests != 5 {
		t.Errorf("rates %+v", l.Rates)
	}
	// Every limit is one the gateway takes.
	set, err := gateway.NewSet(openStore(t, filepath.Join(t.TempDir(), "g.db")), nil, gateway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close(context.Background())
	if err := set.SetLimits(l); err != nil {
		t.Fatal(err)
	}
}
