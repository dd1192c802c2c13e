package provider_test

import (
	"encoding/json"
	"errors"
	"github.com/conductor-go/conductor/provider"
	"reflect"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

func f64(f float64) *float64 { return &f }

// ruleReq is a request that passes every rule, changed by edit.
func ruleReq(model string, edit func(r *conductor.ChatRequest)) *conductor.ChatRequest {
	r := &conductor.ChatRequest{Model: model, Messages: []conductor.Message{
		conductor.TextMessage("system", "Be brief."),
		conductor.TextMessage("user", "Hi"),
	}}
	if edit != nil {
		edit(r)
	}
	return r
}

type ruleCase struct {
	name     string
	provider string
	model    string
	edit     func(r *conductor.ChatRequest)
	param    string // "" = passes
	allowed  string // a part of RuleError.Allowed
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := ruleReq(tc.model, tc.edit)
			err := provider.CheckRequest(tc.provider, req)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("CheckRequest = %v, want nil", err)
				}
				return
			}
			e, ok := conductor.AsError(err)
			if !ok || e.Class != conductor.ClassBadRequest || e.Provider != tc.provider {
				t.Fatalf("CheckRequest = %#v, want a ClassBadRequest *conductor.Error of %s", err, tc.provider)
			}
			var re *provider.RuleError
			if !errors.As(err, &re) || re.Param != tc.param || !strings.Contains(re.Allowed, tc.allowed) {
				t.Fatalf("rule error = %+v, want param %s allowing %q", re, tc.param, tc.allowed)
			}
			// The message names the parameter, the model and the range.
			for _, want := range []string{tc.param, tc.model, re.Allowed} {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not name %q", e.Message, want)
				}
			}
			if e.Code != provider.UnsupportedParam && e.Code != provider.UnsupportedValue && e.Code != "invalid_value" {
				t.Errorf("code = %q", e.Code)
			}
		})
	}
}

func TestRulesOpenAIReasoning(t *testing.T) {
	o := conductor.ProviderOpenAI
	runRuleCases(t, []ruleCase{
		{"o3 default sampling", o, "o3", func(r *conductor.ChatRequest) { r.Temperature = f64(1); r.TopP = f64(1) }, "", ""},
		{"o3 temperature", o, "o3", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2) }, provider.ParamTemperature, "1 only"},
		{"o1-mini temperature 0", o, "o1-mini", func(r *conductor.ChatRequest) { r.Temperature = f64(0) }, provider.ParamTemperature, "1 only"},
		{"o4-mini top_p", o, "o4-mini-2025-04-16", func(r *conductor.ChatRequest) { r.TopP = f64(0.9) }, provider.ParamTopP, "1 only"},
		{"gpt-5 temperature", o, "gpt-5", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7) }, provider.ParamTemperature, "1 only"},
		{"gpt-5-mini temperature", o, "gpt-5-mini", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7) }, provider.ParamTemperature, "1 only"},
		{"routed name", o, "openai/o3", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7) }, provider.ParamTemperature, "1 only"},
		{"gpt-5.1 effort none samples", o, "gpt-5.1", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7); r.ReasoningEffort = "none" }, "", ""},
		{"gpt-5.1 effort low", o, "gpt-5.1", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7); r.ReasoningEffort = "low" }, provider.ParamTemperature, "1 only"},
		{"gpt-5 effort none still fixed", o, "gpt-5", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7); r.ReasoningEffort = "none" }, provider.ParamTemperature, "1 only"},
		{"gpt-5-chat-latest samples", o, "gpt-5-chat-latest", func(r *conductor.ChatRequest) { r.Temperature = f64(0.7) }, "", ""},
		{"o3 stop", o, "o3", func(r *conductor.ChatRequest) { r.Stop = []string{"\n"} }, provider.ParamStop, "none"},
		{"o3-pro stop", o, "o3-pro", func(r *conductor.ChatRequest) { r.Stop = []string{"END"} }, provider.ParamStop, "none"},
		{"o4-mini stop", o, "o4-mini", func(r *conductor.ChatRequest) { r.Stop = []string{"END"} }, provider.ParamStop, "none"},
		{"o3-mini stop is fine", o, "o3-mini", func(r *conductor.ChatRequest) { r.Stop = []string{"END"} }, "", ""},
		{"o1 stop is fine", o, "o1", func(r *conductor.ChatRequest) { r.Stop = []string{"END"} }, "", ""},
		{"max tokens is fine", o, "o3", func(r *conductor.ChatRequest) { r.MaxTokens = 100 }, "", ""},
		// Not reasoning models: only the API-wide ranges.
		{"gpt-4o temperature", o, "gpt-4o", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2); r.Stop = []string{"x"} }, "", ""},
		{"gpt-4o temperature 2.5", o, "gpt-4o", func(r *conductor.ChatRequest) { r.Temperature = f64(2.5) }, provider.ParamTemperature, "0 to 2"},
		{"gpt-4o top_p 1.5", o, "gpt-4o-mini", func(r *conductor.ChatRequest) { r.TopP = f64(1.5) }, provider.ParamTopP, "0 to 1"},
		{"o3 temperature 3: the narrow rule speaks", o, "o3", func(r *conductor.ChatRequest) { r.Temperature = f64(3) }, provider.ParamTemperature, "1 only"},
		{"omni is not o-series", o, "omni-moderation-latest", func(r *conductor.ChatRequest) { r.Temperature = f64(0.5) }, "", ""},
		// Other providers do not get OpenAI's rules.
		{"groq o3-like name", conductor.ProviderGroq, "o3", func(r *conductor.ChatRequest) { r.Temperature = f64(0.5) }, "", ""},
	})
}

func TestRulesAnthropic(t *testing.T) {
	a := conductor.ProviderAnthropic
	topK := func(r *conductor.ChatRequest) { r.Extra = map[string]json.RawMessage{"top_k": json.RawMessage("40")} }
	runRuleCases(t, []ruleCase{
		{"in range", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.Temperature = f64(0.3); r.TopP = f64(0.9) }, "", ""},
		{"temperature 0 and 1", a, "claude-3-5-sonnet-20241022", func(r *conductor.ChatRequest) { r.Temperature = f64(0) }, "", ""},
		{"temperature 1.5", a, "claude-3-5-sonnet-20241022", func(r *conductor.ChatRequest) { r.Temperature = f64(1.5) }, provider.ParamTemperature, "0 to 1"},
		{"negative temperature", a, "claude-haiku-4-5", func(r *conductor.ChatRequest) { r.Temperature = f64(-0.1) }, provider.ParamTemperature, "0 to 1"},
		{"top_p 1.2", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.TopP = f64(1.2) }, provider.ParamTopP, "0 to 1"},
		{"max_tokens unset takes the default", a, "claude-sonnet-4-5", nil, "", ""},
		{"negative max_tokens", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.MaxTokens = -1 }, provider.ParamMaxTokens, "positive"},
		{"top_k on older models", a, "claude-sonnet-4-5", topK, "", ""},
		{"thinking", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.MaxTokens = 16000; r.ThinkingBudget = 10000 }, "", ""},
		{"thinking budget 1024 under the default", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.ThinkingBudget = 1024 }, "", ""},
		{"thinking budget too small", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.MaxTokens = 16000; r.ThinkingBudget = 1000 }, provider.ParamThinkingBudget, "at least 1024"},
		{"thinking budget not below max_tokens", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.MaxTokens = 2000; r.ThinkingBudget = 2000 }, provider.ParamThinkingBudget, "below max_tokens"},
		{"thinking budget over the default max", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.ThinkingBudget = 5000 }, provider.ParamThinkingBudget, "4096 when unset"},
		{"thinking with forced tool", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.MaxTokens, r.ThinkingBudget = 4000, 2000
			r.Tools = []conductor.Tool{{Name: "f"}}
			r.ToolChoice = &conductor.ToolChoice{Mode: conductor.ToolChoiceRequired}
		}, provider.ParamToolChoice, "auto or none"},
		{"thinking with named tool", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.MaxTokens, r.ThinkingBudget = 4000, 2000
			r.ToolChoice = &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: "f"}
		}, provider.ParamToolChoice, "auto or none"},
		{"thinking with auto tools", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.MaxTokens, r.ThinkingBudget = 4000, 2000
			r.ToolChoice = &conductor.ToolChoice{Mode: conductor.ToolChoiceAuto}
		}, "", ""},
		{"forced tool without thinking", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.ToolChoice = &conductor.ToolChoice{Mode: conductor.ToolChoiceRequired}
		}, "", ""},
		{"thinking with temperature", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.MaxTokens, r.ThinkingBudget, r.Temperature = 4000, 2000, f64(0.5)
		}, provider.ParamTemperature, "with thinking"},
		{"thinking with top_p 0.9", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.MaxTokens, r.ThinkingBudget, r.TopP = 4000, 2000, f64(0.9)
		}, provider.ParamTopP, "0.95 to 1"},
		{"thinking with top_p 0.95", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			r.MaxTokens, r.ThinkingBudget, r.TopP = 4000, 2000, f64(0.95)
		}, "", ""},
		{"thinking with top_k", a, "claude-sonnet-4-5", func(r *conductor.ChatRequest) {
			topK(r)
			r.MaxTokens, r.ThinkingBudget = 4000, 2000
		}, provider.ParamTopK, "none with thinking"},
	})
}

func TestRulesClaudeAfterOpus46(t *testing.T) {
	a := conductor.ProviderAnthropic
	topK := func(r *conductor.ChatRequest) { r.Extra = map[string]json.RawMessage{"top_k": json.RawMessage("40")} }
	runRuleCases(t, []ruleCase{
		{"opus 4.7 temperature 1", a, "claude-opus-4-7", func(r *conductor.ChatRequest) { r.Temperature = f64(1); r.TopP = f64(0.99) }, "", ""},
		{"opus 4.7 temperature", a, "claude-opus-4-7", func(r *conductor.ChatRequest) { r.Temperature = f64(0.5) }, provider.ParamTemperature, "1 only"},
		{"opus 4.7 temperature 1.5", a, "claude-opus-4-7", func(r *conductor.ChatRequest) { r.Temperature = f64(1.5) }, provider.ParamTemperature, "1 only"},
		{"opus 4.7 snapshot top_p", a, "claude-opus-4-7-20260416", func(r *conductor.ChatRequest) { r.TopP = f64(0.9) }, provider.ParamTopP, "0.99 to 1"},
		{"opus 4.7 top_k", a, "claude-opus-4-7", topK, provider.ParamTopK, "none"},
		{"top_k null is unset", a, "claude-opus-4-7", func(r *conductor.ChatRequest) {
			r.Extra = map[string]json.RawMessage{"top_k": json.RawMessage("null")}
		}, "", ""},
		{"sonnet 5", a, "claude-sonnet-5", func(r *conductor.ChatRequest) { r.Temperature = f64(0) }, provider.ParamTemperature, "1 only"},
		{"opus 4.10", a, "claude-opus-4-10", func(r *conductor.ChatRequest) { r.Temperature = f64(0) }, provider.ParamTemperature, "1 only"},
		{"mythos", a, "claude-mythos-preview", func(r *conductor.ChatRequest) { r.Temperature = f64(0) }, provider.ParamTemperature, "1 only"},
		{"routed name", a, "anthropic/claude-opus-4-7", func(r *conductor.ChatRequest) { r.Temperature = f64(0) }, provider.ParamTemperature, "1 only"},
		// Released up to Opus 4.6: the wider Anthropic range.
		{"opus 4.6 itself", a, "claude-opus-4-6", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2); topK(r) }, "", ""},
		{"sonnet 4.6", a, "claude-sonnet-4-6", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2); r.TopP = f64(0.5) }, "", ""},
		{"opus 4 (dated)", a, "claude-opus-4-20250514", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2) }, "", ""},
		{"haiku 4.5", a, "claude-haiku-4-5-20251001", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2) }, "", ""},
		{"claude 3.5 sonnet", a, "claude-3-5-sonnet-20241022", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2); topK(r) }, "", ""},
		{"claude 2.1", a, "claude-2.1", func(r *conductor.ChatRequest) { r.Temperature = f64(0.2) }, "", ""},
	})
}

func TestRulesEmptyUserMessage(t *testing.T) {
	user := func(blocks ...conductor.Block) func(r *conductor.ChatRequest) {
		return func(r *conductor.ChatRequest) {
			r.Messages = append(r.Messages, conductor.TextMessage("assistant", "ok"), conductor.Message{Role: "user", Content: blocks})
		}
	}
	var cases []ruleCase
	for _, p := range conductor.Providers() {
		cases = append(cases,
			ruleCase{p + " empty", p, "m", user(), provider.ParamMessages, "not only whitespace"},
			ruleCase{p + " whitespace", p, "m", user(conductor.TextBlock(" \n\t")), provider.ParamMessages, "not only whitespace"},
			ruleCase{p + " text", p, "m", user(conductor.TextBlock(" hi ")), "", ""},
			ruleCase{p + " image", p, "m", user(conductor.TextBlock(""), conductor.Block{Type: conductor.BlockImage, Image: &conductor.Image{URL: "https://example.com/a.png"}}), "", ""},
			ruleCase{p + " tool result", p, "m", user(conductor.Block{Type: conductor.BlockToolResult, ToolResult: &conductor.ToolResult{CallID: "c"}}), "", ""},
		)
	}
	// An empty system or assistant turn is another matter.
	cases = append(cases, ruleCase{"empty assistant", conductor.ProviderOpenAI, "gpt-4o", func(r *conductor.ChatRequest) {
		r.Messages = append(r.Messages, conductor.Message{Role: "assistant"})
	}, "", ""})
	runRuleCases(t, cases)

	err := provider.CheckRequest(conductor.ProviderOpenAI, ruleReq("gpt-4o", user(conductor.TextBlock(" "))))
	var re *provider.RuleError
	if !errors.As(err, &re) || re.Index != 3 || !strings.Contains(err.Error(), "messages[3]: an empty user message is not accepted by openai model gpt-4o") {
		t.Errorf("err = %v (%+v)", err, re)
	}
}

func TestViolationsListsEachParameterOnce(t *testing.T) {
	req := ruleReq("claude-opus-4-7", func(r *conductor.ChatRequest) {
		r.Temperature, r.TopP = f64(1.5), f64(0.5)
		r.Extra = map[string]json.RawMessage{"top_k": json.RawMessage("5")}
		r.Messages = append(r.Messages, conductor.TextMessage("user", ""))
	})
	var got []string
	for _, v := range provider.Violations(conductor.ProviderAnthropic, req) {
		got = append(got, v.Param+" "+v.Allowed)
	}
	want := []string{
		"messages text that is not only whitespace, an image or a tool result",
		"temperature 1 only, or unset",
		"top_p 0.99 to 1, or unset",
		"top_k none",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations =\n%q\nwant\n%q", got, want)
	}
	if v := provider.Violations(conductor.ProviderAnthropic, ruleReq("claude-opus-4-7", nil)); v != nil {
		t.Errorf("a passing request has violations %v", v)
	}
}

func TestRuleErrorDescribe(t *testing.T) {
	r := &provider.RuleError{Provider: "anthropic", Model: "claude-opus-4-7", Param: provider.ParamTopP, Got: "0.5", Allowed: "0.99 to 1, or unset", Family: "models released after Claude Opus 4.6 fix sampling"}
	want := "topP: 0.5 is not accepted by anthropic model claude-opus-4-7 (allowed: 0.99 to 1, or unset; models released after Claude Opus 4.6 fix sampling)"
	if got := r.Describe("topP"); got != want {
		t.Errorf("Describe =\n%s\nwant\n%s", got, want)
	}
	if got := r.Error(); !strings.HasPrefix(got, "top_p: 0.5 ") {
		t.Errorf("Error = %s", got)
	}
	stop := provider.CheckRequest(conductor.ProviderOpenAI, ruleReq("o3", func(r *conductor.ChatRequest) { r.Stop = []string{"END"} }))
	if e, _ := conductor.AsError(stop); e == nil || e.Code != provider.UnsupportedParam || !strings.Contains(e.Message, `stop: ["END"] is not accepted by openai model o3 (allowed: none;`) {
		t.Errorf("stop error = %v", stop)
	}
}

func TestNormalize(t *testing.T) {
	msgs := []conductor.Message{
		conductor.TextMessage("system", "Be brief."),
		conductor.TextMessage("user", "Hi"),
		conductor.TextMessage("developer", "Rules."),
	}
	tests := []struct {
		provider, model string
		body            string
		wantRoles       []string
	}{
		{"openai", "o3", "", []string{"developer", "user", "developer"}},
		{"openai", "gpt-5-mini", "", []string{"developer", "user", "developer"}},
		{"openai", "openai/o1", "", []string{"developer", "user", "developer"}},
		{"openai", "gpt-4o", "", []string{"system", "user", "developer"}},
		{"anthropic", "claude-opus-4-7", "", []string{"system", "user", "developer"}},
		{"groq", "o3", "", []string{"system", "user", "developer"}},
		// The caller's own OpenAI body goes as sent.
		{"openai", "o3", "openai", []string{"system", "user", "developer"}},
		{"openai", "o3", "anthropic", []string{"developer", "user", "developer"}},
	}
	for _, tc := range tests {
		shared := append([]conductor.Message(nil), msgs...)
		req := &conductor.ChatRequest{Model: tc.model, Messages: shared}
		if tc.body != "" {
			req.Body, req.BodyFormat = []byte("{}"), tc.body
		}
		provider.Normalize(tc.provider, req)
		var roles []string
		for _, m := range req.Messages {
			roles = append(roles, m.Role)
		}
		if !reflect.DeepEqual(roles, tc.wantRoles) {
			t.Errorf("%s %s body %q: roles = %v, want %v", tc.provider, tc.model, tc.body, roles, tc.wantRoles)
		}
		if shared[0].Role != "system" {
			t.Errorf("%s %s: the caller's slice was changed", tc.provider, tc.model)
		}
	}
}

// TestCheckRequestDoesNotAllocate: the server calls it on every request.
func TestCheckRequestDoesNotAllocate(t *testing.T) {
	reqs := map[string]*conductor.ChatRequest{
		conductor.ProviderOpenAI: ruleReq("gpt-5.1", func(r *conductor.ChatRequest) {
			r.Temperature, r.ReasoningEffort = f64(0.5), "none"
		}),
		conductor.ProviderAnthropic: ruleReq("claude-opus-4-7-20260416", func(r *conductor.ChatRequest) {
			r.Temperature, r.TopP, r.MaxTokens, r.ThinkingBudget = f64(1), f64(0.99), 8000, 2000
			r.Extra = map[string]json.RawMessage{"metadata": json.RawMessage(`{}`)}
		}),
		conductor.ProviderWorkersAI: ruleReq("@cf/meta/llama-3.1-8b-instruct", nil),
	}
	for p, req := range reqs {
		if err := provider.CheckRequest(p, req); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = provider.CheckRequest(p, req) }); n != 0 {
			t.Errorf("%s: %v allocations per passing request", p, n)
		}
	}
	// Nothing to rewrite: Normalize allocates nothing either.
	req := ruleReq("gpt-4o", nil)
	if n := testing.AllocsPerRun(100, func() { provider.Normalize(conductor.ProviderOpenAI, req) }); n != 0 {
		t.Errorf("Normalize: %v allocations", n)
	}
}

func BenchmarkCheckRequest(b *testing.B) {
	req := ruleReq("claude-sonnet-4-5", func(r *conductor.ChatRequest) { r.Temperature, r.MaxTokens = f64(0.3), 1024 })
	b.ReportAllocs()
	for b.Loop() {
		_ = provider.CheckRequest(conductor.ProviderAnthropic, req)
	}
}
