package e2e

import (
	"testing"
)

// builtinCalls turns a hosted-gateway expectation into the built-in one:
// the call reaches the provider's own API, with no cf-aig-* header.
func builtinCalls(calls []wantCall) []wantCall {
	out := make([]wantCall, len(calls))
	for i, c := range calls {
		if c.fake == gw {
			c.fake = c.provider
			c.cacheTTL, c.skipCache, c.maxAttempts, c.environment = "", false, "", ""
		}
		out[i] = c
	}
	return out
}

// TestPageFlowsBuiltinGateway runs the same page flows with the page's
// setup as written (no account_id): cloudflare-gateway goes through the
// built-in gateway to the providers' own APIs at their base URLs.
func TestPageFlowsBuiltinGateway(t *testing.T) {
	for _, tc := range pageCases() {
		name := tc.name
		if name == "" {
			name = tc.example
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configBuiltin)
			if tc.setup != nil {
				tc.setup(w)
			}
			args := []string{}
			if tc.input != "" {
				args = append(args, "--input", tc.input)
			}
			o := w.runEnv(withEnv(w.env, tc.env...), example(tc.example), args...)
			res := o.mustSucceed(t)
			checkMembers(t, res, tc.members)
			ens := tc.ensemble
			if ens == "" {
				ens = tc.example
			}
			checkCalls(t, w, ens, builtinCalls(tc.calls))
		})
	}
}

// The built-in gateway's persistent cache (cache_ttl = 3600, kept in
// --data) answers a second identical run: cached: true, and the provider
// is called once.
func TestBuiltinGatewayCacheHit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configBuiltin)
	input := []string{"--input", `{"topic": "Go generics"}`}
	o := w.run(example("generate-article"), input...)
	first := o.mustSucceed(t)
	second := w.run(example("generate-article"), input...).mustSucceed(t)
	for _, tc := range []struct {
		name   string
		res    *result
		cached bool
	}{{"first run", first, false}, {"second run", second, true}} {
		m := tc.res.member(t, "write-draft")
		if m.Cached != tc.cached || m.Routing != rGateway || m.Output != FixtureText(openai) {
			t.Errorf("%s: %+v, want cached %v", tc.name, m, tc.cached)
		}
	}
	if n := len(w.openai.Requests()); n != 1 {
		t.Errorf("openai got %d requests, want 1", n)
	}
	if n := len(w.gw.Requests()); n != 0 {
		t.Errorf("the hosted gateway got %d requests without an account_id", n)
	}
}
