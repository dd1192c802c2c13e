package routing

import (
	"context"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// Upstream is the route `conductor serve` builds its gateway chains on:
// the provider's own API, the account a Cloudflare path names when the
// config has none, Workers AI's /v1, and the caller's own key and headers
// of each call.
func TestUpstream(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string // over keys(), pointed at the fake
		u       Upstream
		fixture string
		opts    conductor.CallOptions
		path    string
		header  map[string]string // headers the upstream must see ("" : absent)
	}{
		{
			name: "openai: the server's key", u: Upstream{Provider: "openai"}, fixture: "openai_chat.json",
			path: "/v1/chat/completions", header: map[string]string{"Authorization": "Bearer sk-test-openai"},
		},
		{
			name: "openai: the caller's key and its organization", u: Upstream{Provider: "openai", CallerKey: true}, fixture: "openai_chat.json",
			opts: conductor.CallOptions{CallerKey: conductor.CallerKey{Value: "sk-caller-1", Header: "authorization"},
				ProviderHeader: map[string][]string{"Openai-Organization": {"org-1"}, "Anthropic-Beta": {"b1"}}},
			path: "/v1/chat/completions",
			header: map[string]string{"Authorization": "Bearer sk-caller-1", "OpenAI-Organization": "org-1",
				"anthropic-beta": "" /* not OpenAI's */},
		},
		{
			name: "anthropic: the caller's x-api-key and betas", u: Upstream{Provider: "anthropic", CallerKey: true}, fixture: "anthropic_message.json",
			opts: conductor.CallOptions{CallerKey: conductor.CallerKey{Value: "sk-ant-caller", Header: "x-api-key"},
				ProviderHeader: map[string][]string{"Anthropic-Beta": {"tools-2024"}, "Openai-Project": {"p"}}},
			path:   "/v1/messages",
			header: map[string]string{"x-api-key": "sk-ant-caller", "Authorization": "", "anthropic-beta": "tools-2024", "OpenAI-Project": ""},
		},
		{
			name: "workers-ai: the path's account when the config has none", env: map[string]string{"CLOUDFLARE_ACCOUNT_ID": ""},
			u: Upstream{Provider: "workers-ai", Account: "acct-from-path"}, fixture: "workersai_run.json",
			path: "/client/v4/accounts/acct-from-path/ai/run/" + llama, header: map[string]string{"Authorization": "Bearer cf-test-token"},
		},
		{
			name: "workers-ai: the config's account wins", u: Upstream{Provider: "workers-ai", Account: "acct-from-path"}, fixture: "workersai_run.json",
			path: "/client/v4/accounts/" + acct + "/ai/run/" + llama,
		},
		{
			name: "workers-ai /v1: OpenAI's wire", u: Upstream{Provider: "workers-ai", Compat: true}, fixture: "openai_chat.json",
			path: "/client/v4/accounts/" + acct + "/ai/v1/chat/completions",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.fixture, nil)
			env := keys()
			env["OPENAI_BASE_URL"] = f.URL + "/v1"
			env["ANTHROPIC_BASE_URL"] = f.URL
			env["CLOUDFLARE_API_BASE_URL"] = f.URL + "/client/v4"
			for k, v := range tt.env {
				env[k] = v
			}
			r, err := New(parseConfig(t, ""), Options{Env: config.MapEnv(env)})
			if err != nil {
				t.Fatal(err)
			}
			p, err := r.Upstream(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			model := "m"
			if tt.u.Provider == "workers-ai" {
				model = llama
			}
			req := request(tt.u.Provider, model, false)
			req.Options = tt.opts
			_, meta := call(t, p, req)
			if meta.Routing != "" || meta.Provider != tt.u.Provider {
				t.Errorf("meta names provider %q routing %q: the gateway in front names the routing", meta.Provider, meta.Routing)
			}
			got := f.last(t)
			if got.Path != tt.path {
				t.Errorf("path %s, want %s", got.Path, tt.path)
			}
			for k, want := range tt.header {
				if v := got.Header.Get(k); v != want {
					t.Errorf("%s: %q, want %q", k, v, want)
				}
			}
			if again, _ := r.Upstream(tt.u); again != p {
				t.Error("a second Upstream built the route again")
			}
		})
	}
}

func TestUpstreamErrors(t *testing.T) {
	env := keys()
	env["OPENAI_API_KEY"] = ""
	env["CLOUDFLARE_ACCOUNT_ID"] = ""
	r, err := New(parseConfig(t, ""), Options{Env: config.MapEnv(env), Mock: stubProvider{}})
	if err != nil {
		t.Fatal(err)
	}
	mustFail := func(u Upstream, want string) {
		t.Helper()
		_, err := r.Upstream(u)
		e, ok := conductor.AsError(err)
		if !ok || e.Class != conductor.ClassConfig || !strings.Contains(e.Message, want) {
			t.Errorf("Upstream(%+v) = %v, want a config error with %q", u, err, want)
		}
	}
	mustFail(Upstream{Provider: "openai"}, "export OPENAI_API_KEY=sk-...")
	// A route built for calls that bring their own key serves only them.
	if _, err := r.Upstream(Upstream{Provider: "openai", CallerKey: true}); err != nil {
		t.Fatalf("with the caller's key: %v", err)
	}
	mustFail(Upstream{Provider: "openai"}, "export OPENAI_API_KEY=sk-...")
	mustFail(Upstream{Provider: "workers-ai"}, "export CLOUDFLARE_ACCOUNT_ID=")
	mustFail(Upstream{Provider: "anthropic", Compat: true}, "no OpenAI-compatible endpoint")
	mustFail(Upstream{Provider: "nope"}, `unknown provider "nope"`)
	mustFail(Upstream{Provider: "local"}, "export LOCAL_BASE_URL=http://localhost:11434/v1")
	if p, err := r.Upstream(Upstream{Provider: "mock"}); err != nil || p != (stubProvider{}) {
		t.Errorf("mock: %v, %v", p, err)
	}
	if _, err := r.Provider(context.Background(), "openai", "m", conductor.RoutingDirect); err == nil {
		t.Error("routing direct without a key: no error")
	}
}
