package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A missing key, account id or gateway token is a configuration error
// found before any member runs: exit 2, "file:line:col: member …" naming
// the variable to set, no result printed and no request sent.
func TestMissingCredentialNamesTheVariable(t *testing.T) {
	tests := []struct {
		example, unset string
	}{
		{"generate-article", "OPENAI_API_KEY"}, // openai through the hosted gateway
		{"test-new-model", "OPENAI_API_KEY"},   // openai direct
		{"analyze-sentiment", "ANTHROPIC_API_KEY"},
		{"fast-extraction", "GROQ_API_KEY"},
		{"edge-classification", "CLOUDFLARE_API_TOKEN"},
		{"routing-cloudflare", "CLOUDFLARE_ACCOUNT_ID"},
		{"routing-gateway", "CF_AIG_TOKEN"}, // the gateway's token_env
	}
	for _, tc := range tests {
		t.Run(tc.example+"/"+tc.unset, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configHosted)
			o := w.runEnv(withEnv(w.env, tc.unset, ""), example(tc.example), "--input", `"hi"`)
			if o.code != 2 {
				t.Fatalf("exit %d, want 2\nstderr: %s", o.code, o.stderr)
			}
			if !strings.Contains(o.stderr, "export "+tc.unset+"=") {
				t.Errorf("stderr does not say to export %s:\n%s", tc.unset, o.stderr)
			}
			if !regexp.MustCompile(regexp.QuoteMeta(tc.example) + `\.yaml:\d+:\d+: member `).MatchString(o.stderr) {
				t.Errorf("stderr lacks file:line:col: member:\n%s", o.stderr)
			}
			if o.res != nil {
				t.Errorf("--json printed a result %+v for a flow that never started", o.res)
			}
			if counts := w.requestCounts(); counts != "gateway=0 openai=0 anthropic=0 groq=0 workers-ai=0" {
				t.Errorf("requests were sent: %s", counts)
			}
		})
	}
}

// A refused credential reaches the user as the provider's own message:
// exit 1, the member failed with the status, never retried.
func TestRefusedCredential(t *testing.T) {
	tests := []struct {
		name    string
		example string
		env     []string
		fake    string
		status  int
		message string // the provider's (or gateway's) own words
	}{
		{"openai via gateway", "generate-article", []string{"OPENAI_API_KEY", "sk-proj-revoked"}, gw, 401, "Incorrect API key provided"},
		{"openai direct", "routing-direct", []string{"OPENAI_API_KEY", "sk-proj-revoked"}, openai, 401, "Incorrect API key provided"},
		{"anthropic via gateway", "analyze-sentiment", []string{"ANTHROPIC_API_KEY", "sk-ant-revoked"}, gw, 401, "invalid x-api-key"},
		{"groq via gateway", "fast-extraction", []string{"GROQ_API_KEY", "gsk_revoked"}, gw, 401, "Invalid API Key"},
		{"workers-ai", "edge-classification", []string{"CLOUDFLARE_API_TOKEN", "revoked"}, wai, 401, "Authentication error"},
		{"gateway token", "routing-gateway", []string{"CF_AIG_TOKEN", "revoked"}, gw, 401, "Unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configHosted)
			o := w.runEnv(withEnv(w.env, tc.env...), example(tc.example), "--input", `"hi"`)
			if o.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", o.code, o.stderr)
			}
			if !strings.Contains(o.stderr, tc.message) {
				t.Errorf("stderr lacks the provider's message %q:\n%s", tc.message, o.stderr)
			}
			if o.res == nil || len(o.res.Members) != 1 {
				t.Fatalf("--json result %+v", o.res)
			}
			m := o.res.Members[0]
			if m.Status != "failed" || m.Error == nil || m.Error.Status != tc.status || !strings.Contains(m.Error.Message, tc.message) || m.Attempts != 1 {
				t.Errorf("member %+v error %+v, want failed once with %d %q", m, m.Error, tc.status, tc.message)
			}
			reqs := w.fake(tc.fake).Requests()
			if len(reqs) != 1 || reqs[0].Status != tc.status {
				t.Errorf("%s got %d requests, want one answered %d", tc.fake, len(reqs), tc.status)
			}
		})
	}
}

// The page's fallback when OpenAI refuses the key: 401 is not retried
// despite the member's retry block, and the fallback answers.
func TestFallbackAfterRefusedKeyIsNotRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	res := w.runEnv(withEnv(w.env, "OPENAI_API_KEY", "sk-proj-revoked"), example("fallback"), "--input", `"Write a tagline."`).mustSucceed(t)
	checkMembers(t, res, []wantMember{
		{member: "generate-content", provider: openai, model: "gpt-4o", routing: rGateway, failed: true, errStatus: 401},
		{member: "generate-content-fallback", provider: anth, model: claude, routing: rGateway},
	})
	var paths []string
	for _, ex := range w.gw.Requests() {
		paths = append(paths, ex.Path)
	}
	if len(paths) != 2 || paths[0] != w.gw.Path(openai, "") || paths[1] != w.gw.Path(anth, "") {
		t.Errorf("gateway requests %v, want one to openai then one to anthropic", paths)
	}
}

// A 429 with Retry-After on a member with a retry block is retried after
// at least the time the provider asked for, and the flow succeeds.
func TestRateLimitedThenRetried(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		member  string
		fake    string
		prov    string
		model   string
		routing string
		header  []string
		wait    time.Duration
	}{
		// The page's fallback member, through the hosted gateway.
		{"fallback via gateway", example("fallback"), "generate-content", gw, openai, "gpt-4o", rGateway, []string{"Retry-After", "1"}, time.Second},
		// A direct member; OpenAI's retry-after-ms.
		{"direct", ensembleFile("retry-direct"), "draft", openai, openai, "gpt-4o-mini", rDirect, []string{"retry-after-ms", "300"}, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configHosted)
			limited := Sequence(Fail(http.StatusTooManyRequests, tc.header...), Text(""))
			if tc.fake == gw {
				w.gw.Respond(tc.prov, limited)
			} else {
				w.openai.Respond(limited)
			}
			res := w.run(tc.file, "--input", `"Write a tagline."`).mustSucceed(t)
			m := res.member(t, tc.member)
			if m.Status != "succeeded" || m.Attempts != 2 || m.Provider != tc.prov || m.Routing != tc.routing || m.Output != FixtureText(tc.prov) {
				t.Errorf("member %+v, want succeeded on the second attempt", m)
			}
			for _, other := range res.Members[1:] {
				if other.Status != "skipped" {
					t.Errorf("%s ran: %+v", other.Member, other)
				}
			}
			reqs := w.fake(tc.fake).Requests()
			if len(reqs) != 2 || reqs[0].Status != 429 || reqs[1].Status != 200 {
				t.Fatalf("%s got %d requests, want a 429 then a 200", tc.fake, len(reqs))
			}
			// A lower bound, not a timing measurement: the retry must not
			// come before the provider said it may.
			if gap := reqs[1].At.Sub(reqs[0].At); gap < tc.wait {
				t.Errorf("retried after %v, before the %v the provider asked for", gap, tc.wait)
			}
			if tc.fake == gw && reqs[0].Upstream != 1 {
				t.Errorf("the gateway retried on its own (%d upstream calls): the member's retry is the policy", reqs[0].Upstream)
			}
		})
	}
}

// A provider outage on a member without a retry block stops the flow:
// exit 1, the provider's message, and the gateway's own retries (the
// config's max_attempts) are the only ones.
func TestOutageStopsTheFlow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted+"max_attempts = 3\n")
	w.gw.Respond(openai, Fail(http.StatusServiceUnavailable))
	o := w.run(example("generate-article"), "--input", `"hi"`)
	if o.code != 1 {
		t.Fatalf("exit %d, want 1\nstderr: %s", o.code, o.stderr)
	}
	const msg = "The engine is currently overloaded"
	if !strings.Contains(o.stderr, msg) || !strings.Contains(o.stderr, "write-draft") {
		t.Errorf("stderr does not name the member and the provider's message:\n%s", o.stderr)
	}
	reqs := w.gw.Requests()
	if len(reqs) != 1 {
		t.Fatalf("gateway got %d requests, want 1 (no retry block: the gateway retries)", len(reqs))
	}
	if got := reqs[0].Header.Get("cf-aig-max-attempts"); got != "3" || reqs[0].Upstream != 3 {
		t.Errorf("cf-aig-max-attempts %q, %d upstream attempts; want the config's 3", got, reqs[0].Upstream)
	}
	if m := o.res.member(t, "write-draft"); m.Error == nil || m.Error.Status != 503 || m.Error.Provider != openai {
		t.Errorf("member error %+v, want openai's 503", m.Error)
	}
}

// Workers AI reports failures in its envelope's errors[], with an HTTP
// error status or inside a 200: either way the member fails with
// Cloudflare's own message.
func TestWorkersAIEnvelopeErrors(t *testing.T) {
	tests := []struct {
		name    string
		respond Responder
		status  int
		message string
	}{
		{"429 out of neurons", Fail(http.StatusTooManyRequests), 429, "AiError: You have used up your daily free allocation"},
		{"200 with success false", File(http.StatusOK, "workers-ai_200_success_false"), 200, "AiError: JSON Mode couldn't be met"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configHosted)
			w.workersAI.Respond(tc.respond)
			o := w.run(example("edge-classification"), "--input", `"Where is my order?"`)
			if o.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", o.code, o.stderr)
			}
			if !strings.Contains(o.stderr, tc.message) {
				t.Errorf("stderr lacks Cloudflare's message %q:\n%s", tc.message, o.stderr)
			}
			m := o.res.member(t, "classify-intent")
			if m.Status != "failed" || m.Error == nil || m.Error.Provider != wai || !strings.Contains(m.Error.Message, tc.message) {
				t.Errorf("member %+v error %+v", m, m.Error)
			}
			if n := len(w.workersAI.Requests()); n != 1 {
				t.Errorf("workers-ai got %d requests, want 1 (no retry block)", n)
			}
		})
	}
}
