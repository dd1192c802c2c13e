package e2e

import (
	"net/http"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

// pageCase is one run of a product page example: the fakes' answers, the
// input and environment, the members' results and every request the fakes
// must have received.
type pageCase struct {
	name     string // subtest name; the example when empty
	example  string
	ensemble string // the ensemble's name when it differs from the file's
	input    string // --input
	env      []string
	setup    func(w *world)
	members  []wantMember
	calls    []wantCall
}

const (
	gw       = "gateway"
	openai   = conductor.ProviderOpenAI
	anth     = conductor.ProviderAnthropic
	groq     = conductor.ProviderGroq
	wai      = conductor.ProviderWorkersAI
	rGateway = conductor.RoutingGateway
	rCF      = conductor.RoutingCloudflare
	rDirect  = conductor.RoutingDirect
)

// isJudge tells a scoring judge call from a member's own call by the
// judge's rubric.
func isJudge(ex *Exchange) bool {
	return strings.Contains(string(ex.Body), "You are a strict, fair evaluator")
}

// answerOrJudge answers a member's call with answer and a judge call with
// verdict.
func answerOrJudge(answer, verdict string) Responder {
	return func(ex *Exchange) Reply {
		if isJudge(ex) {
			return Text(verdict)(ex)
		}
		return Text(answer)(ex)
	}
}

func no() *bool { f := false; return &f }

// pageCases is every example of the product page except the offline
// quickstart, each expression flow in each of its branches, with the
// routing each names: openai, anthropic and groq through cloudflare-gateway
// to the hosted gateway, workers-ai through cloudflare to the Cloudflare
// API, o1-preview direct to OpenAI.
func pageCases() []pageCase {
	const q = "Why is the sky blue?"
	return []pageCase{
		{
			example: "analyze-sentiment", input: `"I love this product!"`,
			members: []wantMember{{member: "detect-sentiment", provider: anth, model: claude, routing: rGateway}},
			calls:   []wantCall{{fake: gw, provider: anth, model: claude, member: "detect-sentiment", user: "I love this product!", temperature: temp(0.3), cacheTTL: "3600"}},
		},
		{
			// Both members send the same request: the first caches it in
			// the step cache for a day, the second is answered from there.
			example: "cache-ttl", input: `"Summarize the release notes."`,
			members: []wantMember{
				{member: "summarize-docs", provider: wai, model: llama, routing: rGateway},
				{member: "analyze-live-feed", provider: wai, model: llama, routing: rGateway, cached: true, calls: -1},
			},
			calls: []wantCall{{fake: gw, provider: wai, model: llama, member: "summarize-docs", user: "Summarize the release notes.", cacheTTL: "86400"}},
		},
		{
			example: "cost-overruns", input: `"Tag this ticket."`,
			members: []wantMember{{member: "simple-task", provider: wai, model: llama, routing: rCF}},
			calls:   []wantCall{{fake: wai, provider: wai, model: llama, member: "simple-task", user: "Tag this ticket."}},
		},
		{
			example: "default-to-gateway", input: `"Hello"`,
			members: []wantMember{
				{member: "production-call", provider: wai, model: llama, routing: rGateway},
				{member: "direct-call", provider: wai, model: llama, routing: rDirect},
			},
			calls: []wantCall{
				{fake: gw, provider: wai, model: llama, member: "production-call", user: "Hello", cacheTTL: "3600"},
				{fake: wai, provider: wai, model: llama, member: "direct-call", user: "Hello"},
			},
		},
		{
			example: "edge-classification", input: `"Where is my order?"`,
			setup:   func(w *world) { w.workersAI.Respond(Text("question")) },
			members: []wantMember{{member: "classify-intent", provider: wai, model: llama, routing: rCF, output: "question"}},
			calls: []wantCall{{fake: wai, provider: wai, model: llama, member: "classify-intent", user: "Where is my order?",
				system: "Classify user intent into: question, request, or complaint."}},
		},
		{
			example: "fast-extraction", input: `"Ada Lovelace met Charles Babbage in London."`,
			members: []wantMember{{member: "extract-entities", provider: groq, model: "llama-3.1-70b-versatile", routing: rGateway}},
			calls: []wantCall{{fake: gw, provider: groq, model: "llama-3.1-70b-versatile", member: "extract-entities",
				user: "Ada Lovelace met Charles Babbage in London.", temperature: temp(0.2), cacheTTL: "3600"}},
		},
		{
			example: "generate-article", input: `{"topic": "Go generics"}`,
			members: []wantMember{{member: "write-draft", provider: openai, model: "gpt-4o", routing: rGateway}},
			calls: []wantCall{{fake: gw, provider: openai, model: "gpt-4o", member: "write-draft", user: "topic: Go generics",
				temperature: temp(0.7), maxTokens: 2000, cacheTTL: "3600"}},
		},
		{
			example: "high-latency", input: `"Status?"`,
			members: []wantMember{{member: "answer", provider: wai, model: llama, routing: rGateway}},
			calls:   []wantCall{{fake: gw, provider: wai, model: llama, member: "answer", user: "Status?", cacheTTL: "3600"}},
		},
		{
			example: "overkill", input: `"Is this email spam?"`,
			members: []wantMember{{member: "classify-email", provider: openai, model: "gpt-4o", routing: rGateway}},
			calls:   []wantCall{{fake: gw, provider: openai, model: "gpt-4o", member: "classify-email", user: "Is this email spam?", cacheTTL: "3600"}},
		},
		{
			example: "routing-cloudflare", input: `"Summarize: Go 1.26 is out."`,
			members: []wantMember{{member: "generate-summary", provider: wai, model: llama, routing: rCF}},
			calls: []wantCall{{fake: wai, provider: wai, model: llama, member: "generate-summary", user: "Summarize: Go 1.26 is out.",
				temperature: temp(0.7)}},
		},
		{
			example: "routing-direct", input: `"Write a haiku about Go."`,
			members: []wantMember{{member: "generate-code", provider: openai, model: "o1-preview", routing: rDirect}},
			calls: []wantCall{{fake: openai, provider: openai, model: "o1-preview", member: "generate-code", user: "Write a haiku about Go.",
				temperature: temp(1.0)}},
		},
		{
			example: "routing-gateway", input: `"Q3 revenue grew 12%."`,
			members: []wantMember{{member: "generate-analysis", provider: anth, model: claude, routing: rGateway}},
			calls: []wantCall{{fake: gw, provider: anth, model: claude, member: "generate-analysis", user: "Q3 revenue grew 12%.",
				temperature: temp(0.7), cacheTTL: "3600"}},
		},
		{
			example: "simple-tasks", input: `"Invoice overdue"`,
			members: []wantMember{{member: "classify-email", provider: wai, model: llama, routing: rCF}},
			calls:   []wantCall{{fake: wai, provider: wai, model: llama, member: "classify-email", user: "Invoice overdue"}},
		},
		{
			example: "test-new-model", input: `"Write a haiku about Go."`,
			members: []wantMember{{member: "try-o1", provider: openai, model: "o1-preview", routing: rDirect}},
			calls: []wantCall{{fake: openai, provider: openai, model: "o1-preview", member: "try-o1", user: "Write a haiku about Go.",
				temperature: temp(1.0)}},
		},

		// Cascade: the judge's score of the quick answer decides.
		{
			name: "cascade/low-score-escalates", example: "cascade", input: `"` + q + `"`,
			setup: func(w *world) {
				w.workersAI.Respond(answerOrJudge("Because of scattering.", `{"score": 0.4, "reason": "Names the cause only."}`))
			},
			members: []wantMember{
				{member: "quick-answer", provider: wai, model: llama, routing: rCF, output: "Because of scattering.", calls: 2, score: 0.4, passed: no()},
				{member: "detailed-answer", provider: anth, model: claude, routing: rGateway},
			},
			calls: []wantCall{
				{fake: wai, provider: wai, model: llama, member: "quick-answer", user: q},
				{fake: wai, provider: wai, model: llama, member: "quick-answer", judge: true, user: "Because of scattering.", temperature: temp(0)},
				{fake: gw, provider: anth, model: claude, member: "detailed-answer", user: q, cacheTTL: "3600"},
			},
		},
		{
			name: "cascade/high-score-stops", example: "cascade", input: `"` + q + `"`,
			setup: func(w *world) {
				w.workersAI.Respond(answerOrJudge("Rayleigh scattering of sunlight by air molecules.", `{"score": 0.9, "reason": "Accurate."}`))
			},
			members: []wantMember{
				{member: "quick-answer", provider: wai, model: llama, routing: rCF, output: "Rayleigh scattering of sunlight by air molecules.", calls: 2, score: 0.9},
				{member: "detailed-answer", skipped: true},
			},
			calls: []wantCall{
				{fake: wai, provider: wai, model: llama, member: "quick-answer", user: q},
				{fake: wai, provider: wai, model: llama, member: "quick-answer", judge: true, user: "Rayleigh scattering of sunlight by air molecules.", temperature: temp(0)},
			},
		},

		// Cost optimization: the edge model's JSON decides.
		{
			name: "cost-optimization/complex", example: "cost-optimization", input: `"Plan our EU expansion."`,
			setup: func(w *world) { w.workersAI.Respond(Text(`{"intent":"complex"}`)) },
			members: []wantMember{
				{member: "classify-intent", provider: wai, model: llama, routing: rCF, output: map[string]any{"intent": "complex"}},
				{member: "generate-strategy", provider: anth, model: claude, routing: rGateway},
			},
			calls: []wantCall{
				{fake: wai, provider: wai, model: llama, member: "classify-intent", user: "Plan our EU expansion."},
				{fake: gw, provider: anth, model: claude, member: "generate-strategy", user: "Plan our EU expansion.", cacheTTL: "3600"},
			},
		},
		{
			name: "cost-optimization/simple", example: "cost-optimization", input: `"What time is it?"`,
			setup: func(w *world) { w.workersAI.Respond(Text(`{"intent":"simple"}`)) },
			members: []wantMember{
				{member: "classify-intent", provider: wai, model: llama, routing: rCF, output: map[string]any{"intent": "simple"}},
				{member: "generate-strategy", skipped: true},
			},
			calls: []wantCall{{fake: wai, provider: wai, model: llama, member: "classify-intent", user: "What time is it?"}},
		},

		// Environment-specific routing.
		{
			name: "environment-routing/production", example: "environment-routing", input: `"Draft a launch post."`,
			env:     []string{"ENVIRONMENT", "production"},
			members: []wantMember{{member: "generate-text", provider: anth, model: claude, routing: rGateway}},
			calls: []wantCall{{fake: gw, provider: anth, model: claude, member: "generate-text", user: "Draft a launch post.",
				cacheTTL: "3600", environment: "production"}},
		},
		{
			name: "environment-routing/unset", example: "environment-routing", input: `"Draft a launch post."`,
			members: []wantMember{{member: "generate-text", provider: wai, model: llama, routing: rCF}},
			calls:   []wantCall{{fake: wai, provider: wai, model: llama, member: "generate-text", user: "Draft a launch post."}},
		},

		// Fallback: OpenAI down behind the gateway, Anthropic answers. The
		// member's retry is the policy (cf-aig-max-attempts: 1): two
		// attempts reach OpenAI, not four.
		{
			name: "fallback/openai-down", example: "fallback", input: `"Write a tagline."`,
			setup: func(w *world) { w.respond(openai, Fail(http.StatusServiceUnavailable)) },
			members: []wantMember{
				{member: "generate-content", provider: openai, model: "gpt-4o", routing: rGateway, failed: true, errStatus: 503, attempts: 2},
				{member: "generate-content-fallback", provider: anth, model: claude, routing: rGateway},
			},
			calls: []wantCall{
				{fake: gw, provider: openai, model: "gpt-4o", member: "generate-content", user: "Write a tagline.", cacheTTL: "3600", maxAttempts: "1"},
				{fake: gw, provider: openai, model: "gpt-4o", member: "generate-content", user: "Write a tagline.", cacheTTL: "3600", maxAttempts: "1"},
				{fake: gw, provider: anth, model: claude, member: "generate-content-fallback", user: "Write a tagline.", cacheTTL: "3600"},
			},
		},
		{
			name: "fallback/openai-up", example: "fallback", input: `"Write a tagline."`,
			members: []wantMember{
				{member: "generate-content", provider: openai, model: "gpt-4o", routing: rGateway},
				{member: "generate-content-fallback", skipped: true},
			},
			calls: []wantCall{{fake: gw, provider: openai, model: "gpt-4o", member: "generate-content", user: "Write a tagline.", cacheTTL: "3600", maxAttempts: "1"}},
		},

		// Load balancing on input.requestId.
		{
			name: "load-balancing/even-openai", example: "load-balancing", input: `{"requestId": 8}`,
			members: []wantMember{{member: "generate-summary", provider: openai, model: "gpt-4o", routing: rGateway}},
			calls:   []wantCall{{fake: gw, provider: openai, model: "gpt-4o", member: "generate-summary", user: "requestId: 8", cacheTTL: "3600"}},
		},
		{
			name: "load-balancing/odd-anthropic", example: "load-balancing", input: `{"requestId": 7}`,
			members: []wantMember{{member: "generate-summary", provider: anth, model: claude, routing: rGateway}},
			calls:   []wantCall{{fake: gw, provider: anth, model: claude, member: "generate-summary", user: "requestId: 7", cacheTTL: "3600"}},
		},
	}
}

// TestPageFlowsHostedGateway runs every page example through the conductor
// binary with cloudflare-gateway on Cloudflare's hosted AI Gateway (the
// config names an account_id), and checks the --json result and every
// request each fake received.
func TestPageFlowsHostedGateway(t *testing.T) {
	for _, tc := range pageCases() {
		name := tc.name
		if name == "" {
			name = tc.example
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configHosted)
			if tc.setup != nil {
				tc.setup(w)
			}
			args := []string{}
			if tc.input != "" {
				args = append(args, "--input", tc.input)
			}
			res := w.runEnv(withEnv(w.env, tc.env...), example(tc.example), args...).mustSucceed(t)
			ens := tc.ensemble
			if ens == "" {
				ens = tc.example
			}
			if res.Ensemble != ens {
				t.Errorf("ensemble %q, want %q", res.Ensemble, ens)
			}
			checkMembers(t, res, tc.members)
			checkCalls(t, w, ens, tc.calls)
			// Answers the gateway sent upstream were fresh: nothing was a
			// cache hit on a first run.
			for _, ex := range w.gw.Requests() {
				if ex.CacheStatus == "HIT" {
					t.Errorf("%s: a cache hit on the first run", ex.Path)
				}
			}
		})
	}
}

// TestEveryExampleCovered keeps the table honest: a new example on the
// page must get a case.
func TestEveryExampleCovered(t *testing.T) {
	files, err := filepathGlob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{"quickstart": true, "tool-extract": true} // offline, on the mock provider (tool-extract: TestToolExtractExample)
	for _, tc := range pageCases() {
		covered[tc.example] = true
	}
	for _, f := range files {
		if !covered[f] {
			t.Errorf("examples/%s.yaml has no end-to-end case", f)
		}
	}
	if len(files) < 19 {
		t.Errorf("found %d examples, expected the page's 19 and more", len(files))
	}
}
