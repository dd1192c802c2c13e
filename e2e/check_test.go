package e2e

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/pricing"
)

// wantCall is one request a fake must have received.
type wantCall struct {
	fake     string // "gateway", or the provider whose own API answers
	provider string
	model    string
	member   string
	system   string // the member's systemPrompt; "" for none
	user     string // the user message
	// judge marks a scoring judge call: the rubric as system prompt and
	// user holding the graded answer.
	judge       bool
	temperature *float64 // nil: not sent
	maxTokens   int      // the max-tokens field; 0: not sent (Anthropic: 4096, always sent)
	// Hosted gateway headers; "" means the header is absent.
	cacheTTL    string
	skipCache   bool
	maxAttempts string
	// environment is cf-aig-metadata's environment entry, "" for none.
	environment string
}

func temp(f float64) *float64 { return &f }

// directPath is a provider's own chat path, as each API documents it.
func directPath(provider, model string) string {
	switch provider {
	case conductor.ProviderOpenAI:
		return "/v1/chat/completions"
	case conductor.ProviderGroq:
		return "/openai/v1/chat/completions"
	case conductor.ProviderAnthropic:
		return "/v1/messages"
	case conductor.ProviderWorkersAI:
		return "/client/v4/accounts/" + workersAccount + "/ai/run/" + model
	}
	return "/unknown/" + provider
}

// checkCalls compares every fake's requests with want, in order per fake.
func checkCalls(t *testing.T, w *world, ensemble string, want []wantCall) {
	t.Helper()
	for _, name := range fakeNames {
		got := w.fake(name).Requests()
		var mine []wantCall
		for _, c := range want {
			if c.fake == name {
				mine = append(mine, c)
			}
		}
		if len(got) != len(mine) {
			var paths []string
			for _, ex := range got {
				paths = append(paths, ex.Method+" "+ex.Path)
			}
			t.Errorf("fake %s got %d requests, want %d: %v", name, len(got), len(mine), paths)
			continue
		}
		for i, c := range mine {
			checkCall(t, w, ensemble, got[i], c)
		}
	}
}

// checkCall asserts one request: method, path, credentials, cf-aig-*
// headers and body fields.
func checkCall(t *testing.T, w *world, ensemble string, ex Exchange, c wantCall) {
	t.Helper()
	where := c.fake + " " + c.member
	if c.judge {
		where += " (judge)"
	}
	if ex.Method != "POST" {
		t.Errorf("%s: method %s, want POST", where, ex.Method)
	}
	wantPath := directPath(c.provider, c.model)
	if c.fake == "gateway" {
		wantPath = w.gw.Path(c.provider, c.model)
	}
	if ex.Path != wantPath {
		t.Errorf("%s: path %s, want %s", where, ex.Path, wantPath)
	}
	h := ex.Header
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("%s: Content-Type %q", where, got)
	}

	// The provider's own credentials travel with every call, through the
	// gateway too.
	switch c.provider {
	case conductor.ProviderAnthropic:
		if h.Get("x-api-key") != anthropicKey || h.Get("anthropic-version") != AnthropicVersion {
			t.Errorf("%s: x-api-key %q anthropic-version %q", where, h.Get("x-api-key"), h.Get("anthropic-version"))
		}
		if h.Get("Authorization") != "" {
			t.Errorf("%s: Authorization sent to Anthropic: %q", where, h.Get("Authorization"))
		}
	default:
		key := map[string]string{
			conductor.ProviderOpenAI:    openaiKey,
			conductor.ProviderGroq:      groqKey,
			conductor.ProviderWorkersAI: workersToken,
		}[c.provider]
		if got := h.Get("Authorization"); got != "Bearer "+key {
			t.Errorf("%s: Authorization %q, want Bearer %s", where, got, key)
		}
		if h.Get("x-api-key") != "" {
			t.Errorf("%s: x-api-key sent to %s", where, c.provider)
		}
	}

	if c.fake == "gateway" {
		checkGatewayHeaders(t, where, ensemble, ex, c)
	} else {
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "cf-aig-") {
				t.Errorf("%s: %s sent off the gateway route: %q", where, k, h.Get(k))
			}
		}
	}
	checkBody(t, where, ex, c)
}

func checkGatewayHeaders(t *testing.T, where, ensemble string, ex Exchange, c wantCall) {
	t.Helper()
	h := ex.Header
	if got := h.Get("cf-aig-authorization"); got != "Bearer "+gatewayToken {
		t.Errorf("%s: cf-aig-authorization %q", where, got)
	}
	if got := h.Get("cf-aig-cache-ttl"); got != c.cacheTTL {
		t.Errorf("%s: cf-aig-cache-ttl %q, want %q", where, got, c.cacheTTL)
	}
	wantSkip := ""
	if c.skipCache {
		wantSkip = "true"
	}
	if got := h.Get("cf-aig-skip-cache"); got != wantSkip {
		t.Errorf("%s: cf-aig-skip-cache %q, want %q", where, got, wantSkip)
	}
	if got := h.Get("cf-aig-max-attempts"); got != c.maxAttempts {
		t.Errorf("%s: cf-aig-max-attempts %q, want %q", where, got, c.maxAttempts)
	}
	var meta map[string]string
	if err := json.Unmarshal([]byte(h.Get("cf-aig-metadata")), &meta); err != nil {
		t.Errorf("%s: cf-aig-metadata %q: %v", where, h.Get("cf-aig-metadata"), err)
		return
	}
	want := map[string]string{"ensemble": ensemble, "member": c.member}
	if c.environment != "" {
		want["environment"] = c.environment
	}
	if c.judge {
		want["role"] = "judge"
	}
	if !reflect.DeepEqual(meta, want) {
		t.Errorf("%s: cf-aig-metadata %v, want %v", where, meta, want)
	}
}

func checkBody(t *testing.T, where string, ex Exchange, c wantCall) {
	t.Helper()
	f, err := ex.Fields()
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if c.provider == conductor.ProviderWorkersAI {
		// The model is in the path; the native body has none.
		if _, ok := f["model"]; ok {
			t.Errorf("%s: Workers AI body names a model: %s", where, ex.Body)
		}
	} else if f["model"] != c.model {
		t.Errorf("%s: model %v, want %s", where, f["model"], c.model)
	}
	if s, ok := f["stream"]; ok && s != false {
		t.Errorf("%s: stream %v on a whole answer", where, s)
	}

	// Anthropic takes the system prompt as a top-level field; the others as
	// the first message.
	msgs := decodeMessages(t, where, f["messages"])
	var system string
	if c.provider == conductor.ProviderAnthropic {
		if s, ok := f["system"]; ok {
			system, _ = s.(string)
		}
	} else if len(msgs) > 0 && msgs[0].Role == "system" {
		system, msgs = msgs[0].Content, msgs[1:]
	}
	if len(msgs) != 1 || msgs[0].Role != "user" {
		t.Errorf("%s: messages %+v, want one user message", where, msgs)
	} else if c.judge {
		if !strings.HasPrefix(system, "You are a strict, fair evaluator") || !strings.Contains(msgs[0].Content, "ANSWER:\n"+c.user) {
			t.Errorf("%s: not a judge call of the answer %q: system %q user %q", where, c.user, system, msgs[0].Content)
		}
	} else if msgs[0].Content != c.user {
		t.Errorf("%s: user message %q, want %q", where, msgs[0].Content, c.user)
	}
	if !c.judge && system != c.system {
		t.Errorf("%s: system prompt %q, want %q", where, system, c.system)
	}

	checkNumber(t, where, f, "temperature", c.temperature)

	// The max-tokens field each API takes: OpenAI's o-series refuse
	// max_tokens, Anthropic requires it.
	var maxField string
	wantMax := c.maxTokens
	switch c.provider {
	case conductor.ProviderOpenAI:
		maxField = "max_completion_tokens"
	case conductor.ProviderAnthropic:
		maxField = "max_tokens"
		if wantMax == 0 {
			wantMax = 4096
		}
	default:
		maxField = "max_tokens"
	}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		if k != maxField {
			if v, ok := f[k]; ok {
				t.Errorf("%s: %s %v sent to %s, which takes %s", where, k, v, c.provider, maxField)
			}
		}
	}
	var wm *float64
	if wantMax > 0 {
		wm = temp(float64(wantMax))
	}
	checkNumber(t, where, f, maxField, wm)
}

// checkNumber asserts f[key] is exactly want, or absent when want is nil.
func checkNumber(t *testing.T, where string, f map[string]any, key string, want *float64) {
	t.Helper()
	v, ok := f[key]
	if want == nil {
		if ok {
			t.Errorf("%s: %s %v sent, want none", where, key, v)
		}
		return
	}
	n, isNum := v.(json.Number)
	if !ok || !isNum {
		t.Errorf("%s: %s = %v, want %v", where, key, v, *want)
		return
	}
	got, err := n.Float64()
	if err != nil || got != *want {
		t.Errorf("%s: %s = %s, want exactly %v", where, key, n, *want)
	}
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func decodeMessages(t *testing.T, where string, v any) []message {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Errorf("%s: messages: %v", where, err)
		return nil
	}
	var msgs []message
	if err := json.Unmarshal(b, &msgs); err != nil {
		t.Errorf("%s: messages %s: %v", where, b, err)
	}
	return msgs
}

// wantMember is one member of the --json result.
type wantMember struct {
	member, provider, model, routing string
	skipped                          bool
	failed                           bool
	errStatus                        int // the failed member's provider status
	cached                           bool
	// output is the member's output; nil means the provider's fixture text.
	output any
	// calls counts the answered model calls whose usage and cost add up in
	// the member (a judge call is one more); -1 for none (a cache hit).
	calls    int
	attempts int     // 0: 1
	score    float64 // the judge's score; 0: no scoring
	passed   *bool   // scoring.passed; nil: true
}

func checkMembers(t *testing.T, res *result, want []wantMember) {
	t.Helper()
	if len(res.Members) != len(want) {
		t.Fatalf("%d members in the result, want %d: %+v", len(res.Members), len(want), res.Members)
	}
	var total float64
	for i, wm := range want {
		got := res.Members[i]
		total += checkMember(t, got, wm)
	}
	if math.Abs(res.Cost-total) > 1e-12 {
		t.Errorf("run cost %v, want the members' %v", res.Cost, total)
	}
}

// checkMember asserts one member and returns its expected cost.
func checkMember(t *testing.T, got memberResult, wm wantMember) float64 {
	t.Helper()
	name := wm.member
	if got.Member != name {
		t.Errorf("member %q, want %q", got.Member, name)
	}
	if wm.skipped {
		if got.Status != "skipped" || got.Success || got.Attempts != 0 || got.Cost != 0 {
			t.Errorf("%s: %+v, want skipped", name, got)
		}
		return 0
	}
	if got.Provider != wm.provider || got.Model != wm.model || got.Routing != wm.routing {
		t.Errorf("%s: provider/model/routing %s/%s/%s, want %s/%s/%s", name, got.Provider, got.Model, got.Routing, wm.provider, wm.model, wm.routing)
	}
	attempts := wm.attempts
	if attempts == 0 && wm.calls >= 0 {
		attempts = 1
	}
	if got.Attempts != attempts {
		t.Errorf("%s: attempts %d, want %d", name, got.Attempts, attempts)
	}
	if got.Cached != wm.cached {
		t.Errorf("%s: cached %v, want %v", name, got.Cached, wm.cached)
	}
	if wm.failed {
		if got.Status != "failed" || got.Success || got.Error == nil {
			t.Errorf("%s: status %s success %v error %+v, want failed", name, got.Status, got.Success, got.Error)
		} else if got.Error.Status != wm.errStatus || got.Error.Provider != wm.provider {
			t.Errorf("%s: error %+v, want status %d from %s", name, *got.Error, wm.errStatus, wm.provider)
		}
		return got.Cost
	}
	// An answer that did not pass its scoring says so in its status.
	status := "succeeded"
	if wm.passed != nil && !*wm.passed {
		status = "below_minimum"
	}
	if got.Status != status || !got.Success || got.Error != nil {
		t.Errorf("%s: status %s success %v error %+v, want %s", name, got.Status, got.Success, got.Error, status)
	}
	out := wm.output
	if out == nil {
		out = FixtureText(wm.provider)
	}
	if !reflect.DeepEqual(got.Output, out) {
		t.Errorf("%s: output %#v, want %#v", name, got.Output, out)
	}
	if wm.score != 0 {
		if got.Scoring.Score == nil || *got.Scoring.Score != wm.score {
			t.Errorf("%s: score %v, want %v", name, got.Scoring.Score, wm.score)
		}
	} else if got.Scoring.Score != nil {
		t.Errorf("%s: score %v without scoring", name, *got.Scoring.Score)
	}
	passed := wm.passed == nil || *wm.passed
	if got.Scoring.Passed != passed {
		t.Errorf("%s: scoring.passed %v, want %v", name, got.Scoring.Passed, passed)
	}

	calls := wm.calls
	if calls == 0 {
		calls = 1
	}
	if calls < 0 {
		calls = 0
	}
	in, out1 := Usage(wm.provider)
	if got.Usage.InputTokens != calls*in || got.Usage.OutputTokens != calls*out1 {
		t.Errorf("%s: usage %d/%d, want %d/%d", name, got.Usage.InputTokens, got.Usage.OutputTokens, calls*in, calls*out1)
	}
	nano, known := pricing.Default().Cost(wm.provider, wm.model, conductor.Usage{InputTokens: in, OutputTokens: out1})
	if calls > 0 && (!known || nano <= 0) {
		t.Errorf("%s: no price for %s %s", name, wm.provider, wm.model)
	}
	cost := float64(int64(calls)*nano) / 1e9
	if math.Abs(got.Cost-cost) > 1e-12 {
		t.Errorf("%s: cost %v, want %v", name, got.Cost, cost)
	}
	return cost
}
