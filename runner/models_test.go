package runner

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/store/sqlite"
)

// openaiFake answers OpenAI's documented chat payload and records the
// model of each request.
func openaiFake(t *testing.T) (url string, models func() []string) {
	t.Helper()
	body, err := os.ReadFile("testdata/openai_chat_completion.json")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &req)
		mu.Lock()
		seen = append(seen, req.Model)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// The reproduction: a member whose model names a [[split]] goes
// through the split (never "model": "summarize-ab" to OpenAI), its result
// and log row carry the variant, and its score reaches that row, so stats
// by variant show a mean score per variant. A [[model]] alias is the model
// it names.
func TestSplitsAndAliasesInMembers(t *testing.T) {
	url, models := openaiFake(t)
	ctx := context.Background()
	dir, data := t.TempDir(), t.TempDir()
	write(t, dir, "conductor.toml", `
[providers.openai]
base_url = "`+url+`"

[[split]]
name = "summarize-ab"

[[split.variant]]
name = "small"
provider = "openai"
model = "gpt-4o-mini"
weight = 50

[[split.variant]]
name = "large"
provider = "openai"
model = "gpt-4o"
weight = 50

[[model]]
name = "fast"
routes = ["openai/gpt-4o-mini"]
`)
	flow := write(t, dir, "f.yaml", `name: ab
flow:
  - member: summarize
    config:
      provider: openai
      model: summarize-ab
      prompt: Summarize the report.
    scoring:
      thresholds:
        minimum: 0.5
      judge:
        provider: mock
        mock:
          score: 0.75
  - member: quick
    config:
      provider: openai
      model: fast
      routing: direct
      prompt: hi
`)
	c, err := Open(ctx, Options{Dir: dir, Data: data, Env: config.MapEnv(map[string]string{"OPENAI_API_KEY": "sk-test"})})
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]bool{}
	for range 6 {
		res, err := c.Run(ctx, flow, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, q := res.Members[0], res.Members[1]
		if !strings.HasPrefix(s.Variant, "summarize-ab/") || s.Provider != "openai" || (s.Model != "gpt-4o" && s.Model != "gpt-4o-mini") || s.Routing != conductor.RoutingGateway {
			t.Fatalf("summarize = %+v", s)
		}
		if want := map[string]string{"summarize-ab/small": "gpt-4o-mini", "summarize-ab/large": "gpt-4o"}[s.Variant]; s.Model != want {
			t.Errorf("variant %s reported as model %s", s.Variant, s.Model)
		}
		if s.Gateway == nil || s.Gateway.Kind != "built-in" || s.PriceUnknown {
			t.Errorf("summarize gateway %+v, price unknown %v", s.Gateway, s.PriceUnknown)
		}
		if q.Model != "gpt-4o-mini" || q.Variant != "" || q.PriceUnknown || q.Routing != conductor.RoutingDirect {
			t.Errorf("quick = %+v", q)
		}
		variants[s.Variant] = true
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range models() {
		if m != "gpt-4o" && m != "gpt-4o-mini" {
			t.Errorf("OpenAI was sent model %q", m)
		}
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, DBName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Stats(ctx, conductor.StatsQuery{By: "variant"})
	if err != nil {
		t.Fatal(err)
	}
	scored := 0
	for _, r := range rows {
		if !variants[r.Group] {
			t.Errorf("stats group %q, want a variant", r.Group)
			continue
		}
		if r.MeanScore == nil || *r.MeanScore != 0.75 {
			t.Errorf("variant %s mean score %v, want the judge's 0.75", r.Group, r.MeanScore)
		}
		scored++
	}
	if scored != len(variants) {
		t.Errorf("%d variants in the stats, %d ran: %+v", scored, len(variants), rows)
	}
}

// A split's variants and an alias's route are checked before the run, as
// every literal route is; a fallback chain is not a member's model.
func TestDeclaredModelChecks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write(t, dir, "conductor.toml", `
[[split]]
name = "ab"
[[split.variant]]
name = "a"
provider = "anthropic"
model = "claude-3-5-haiku-20241022"
weight = 1
[[split.variant]]
name = "b"
provider = "openai"
model = "gpt-4o"
weight = 1

[[model]]
name = "fast"
routes = ["groq/llama-3.1-8b-instant"]

[[model]]
name = "chain"
routes = ["openai/gpt-4o", "anthropic/claude-3-5-haiku-20241022"]
`)
	flow := write(t, dir, "f.yaml", `name: checks
flow:
  - member: a
    config:
      provider: openai
      model: ab
  - member: b
    config:
      provider: openai
      model: fast
  - member: c
    config:
      provider: openai
      model: chain
`)
	c, err := Open(ctx, Options{Dir: dir, Env: config.MapEnv(map[string]string{"OPENAI_API_KEY": "sk-x"})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Run(ctx, flow, nil)
	var list ensemble.List
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("err = %v", err)
	}
	for i, want := range []string{
		"f.yaml:6:14: member a: model ab (a [[split]]), variant a: anthropic: config: routing direct needs ANTHROPIC_API_KEY",
		"f.yaml:10:14: member b: model fast (a [[model]] alias of groq/llama-3.1-8b-instant): groq: config: routing cloudflare-gateway needs GROQ_API_KEY",
		// A chain is served by its deployments, each of which must be servable.
		"f.yaml:14:14: member c: model chain (a [[model]]), deployment anthropic/claude-3-5-haiku-20241022: anthropic: config: routing direct needs ANTHROPIC_API_KEY",
	} {
		if !strings.Contains(list[i].String(), want) {
			t.Errorf("problem %d = %s\nwant %s", i, list[i], want)
		}
	}
}

// conductor run: a member naming a [[model]] with deployments goes to one
// of them (the model the deployment names, never the alias), and its log
// row names the deployment.
func TestMemberNamesDeployments(t *testing.T) {
	url, models := openaiFake(t)
	ctx := context.Background()
	dir, data := t.TempDir(), t.TempDir()
	write(t, dir, "conductor.toml", `
[[model]]
name = "fast-chat"

[[model.deployment]]
route = "openai/gpt-4o-mini"
base_url = "`+url+`"
keys_env = ["KEY_A", "KEY_B"]
`)
	flow := write(t, dir, "f.yaml", "name: d\nflow:\n  - member: quick\n    config:\n      provider: openai\n      model: fast-chat\n      prompt: hi\n")
	c, err := Open(ctx, Options{Dir: dir, Data: data, Env: config.MapEnv(map[string]string{"KEY_A": "sk-key-a-000001", "KEY_B": "sk-key-b-000002"})})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		res, err := c.Run(ctx, flow, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m := res.Members[0]; !m.Success {
			t.Fatalf("member: %+v", m)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := models(); len(got) != 4 || slices.ContainsFunc(got, func(m string) bool { return m != "gpt-4o-mini" }) {
		t.Errorf("OpenAI was sent %v", got)
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, DBName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Stats(ctx, conductor.StatsQuery{By: "deployment"})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, r := range rows {
		if !strings.HasPrefix(r.Group, "openai/gpt-4o-mini@KEY_") {
			t.Errorf("group %q", r.Group)
		}
		n += r.Requests
	}
	if n != 4 {
		t.Errorf("rows by deployment: %+v", rows)
	}
}
