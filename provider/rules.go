package provider

import (
	"fmt"
	"strconv"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// Per-model parameter rules: what a model refuses with a 400, checked before
// the call so that the caller gets a clear error instead of a provider round
// trip (shared/reference/tools-and-content.md §3 and §6). Each model family
// has one table below; a model may belong to several (every Anthropic model,
// then the newer ones), and every table that matches applies.
//
// Only what the providers document is refused; where the reference marks a
// rule UNCONFIRMED (penalties and logprobs on the o-series) it is left to
// the provider, and where it is unsure whether a value is accepted
// (gpt-5.1 sampling with reasoning_effort "none") the value passes: a false
// refusal is worse than a round trip.

// Parameters the rules name, in the wire words OpenAI and Anthropic share
// (RuleError.Param). An ensemble names them by its own keys.
const (
	ParamTemperature    = "temperature"
	ParamTopP           = "top_p"
	ParamTopK           = "top_k"
	ParamMaxTokens      = "max_tokens"
	ParamStop           = "stop"
	ParamThinkingBudget = "thinking.budget_tokens"
	ParamToolChoice     = "tool_choice"
	ParamMessages       = "messages" // RuleError.Index says which message
)

// RuleError is one parameter a model's rules refuse. CheckRequest returns it
// wrapped in a ClassBadRequest *conductor.Error (as its Err); Violations
// returns every one.
type RuleError struct {
	Provider string
	Model    string
	Param    string // one of the Param constants
	Index    int    // the message's index, with ParamMessages
	Got      string // the refused value, as written in JSON ("" when absent)
	Allowed  string // what the model takes
	Family   string // the rule's model family, for people
	Code     string // unsupported_parameter (no value is accepted) or unsupported_value
}

// Describe writes the refusal naming the parameter as param (a wire name, or
// an ensemble's config key), the model and what it allows. The wire name
// of a message gets its index: messages[3].
func (r *RuleError) Describe(param string) string {
	if r.Param == ParamMessages && param == ParamMessages {
		param = fmt.Sprintf("%s[%d]", param, r.Index)
	}
	var b strings.Builder
	b.WriteString(param)
	b.WriteString(": ")
	switch {
	case r.Param == ParamMessages:
		b.WriteString("an empty user message")
	case r.Got != "":
		b.WriteString(r.Got)
	default:
		b.WriteString("the parameter")
	}
	fmt.Fprintf(&b, " is not accepted by %s model %s (allowed: %s", r.Provider, r.Model, r.Allowed)
	if r.Family != "" {
		b.WriteString("; ")
		b.WriteString(r.Family)
	}
	b.WriteString(")")
	return b.String()
}

func (r *RuleError) Error() string { return r.Describe(r.Param) }

// CheckRequest checks req against the rules of its model on providerName
// and returns the first refusal as a ClassBadRequest *conductor.Error whose
// message names the parameter, the model and the allowed range (its Err is
// the *RuleError), or nil. It does not allocate on a request that passes.
func CheckRequest(providerName string, req *conductor.ChatRequest) error {
	var c checker
	c.run(providerName, req, false)
	if c.first == nil {
		return nil
	}
	r := c.first
	return &conductor.Error{Provider: providerName, Class: conductor.ClassBadRequest, Code: r.Code, Message: r.Error(), Err: r}
}

// Violations lists every refusal of req's rules on providerName, in table
// order (nil when it passes): `conductor validate` reports them all.
func Violations(providerName string, req *conductor.ChatRequest) []*RuleError {
	var c checker
	c.run(providerName, req, true)
	return c.all
}

// Normalize rewrites what a model takes in another form instead of refusing
// it: for OpenAI reasoning models the system prompt becomes a developer
// message. A caller's own OpenAI body (req.Body in format openai) is left as
// sent — the API maps its roles itself and the body is never re-encoded —
// and so are the messages when nothing needs rewriting. Messages is copied
// before a rewrite, never changed in place: the caller may share it.
func Normalize(providerName string, req *conductor.ChatRequest) {
	if providerName != conductor.ProviderOpenAI || !openAIReasoning(bareModel(req.Model)) {
		return
	}
	if len(req.Body) > 0 && req.BodyFormat == FormatOpenAI {
		return
	}
	var out []conductor.Message
	for i, m := range req.Messages {
		if m.Role != "system" {
			continue
		}
		if out == nil {
			out = append([]conductor.Message(nil), req.Messages...)
		}
		out[i].Role = "developer"
	}
	if out != nil {
		req.Messages = out
	}
}

// A rule is one constraint of a family: when applies (nil: always), bad
// says whether req breaks it.
type rule struct {
	param   string
	allowed string
	code    string
	when    func(req *conductor.ChatRequest) bool
	bad     func(req *conductor.ChatRequest) bool
}

// A family is a set of models of one provider and its table of rules.
type family struct {
	provider string
	name     string
	match    func(model string) bool
	rules    []rule
}

const (
	unsupportedParam = "unsupported_parameter"
	unsupportedValue = "unsupported_value"
)

// families is the rule book, one table per model family, the narrowest
// families of each provider first.
var families = []family{
	{
		// o1, o3, o4 and gpt-5 families take max_completion_tokens (the
		// OpenAI encoder always writes it) and the system prompt as a
		// developer message (Normalize); sampling stays at its default.
		provider: conductor.ProviderOpenAI, name: "OpenAI reasoning models (o1, o3, o4, gpt-5) sample at the default only",
		match: openAIReasoning,
		rules: []rule{
			{param: ParamTemperature, allowed: "1 only, or unset", code: unsupportedValue, when: fixedSampling, bad: not(temperature, 1)},
			{param: ParamTopP, allowed: "1 only, or unset", code: unsupportedValue, when: fixedSampling, bad: not(topP, 1)},
		},
	},
	{
		// "stop is not supported with latest reasoning models o3 and o4-mini"
		// (OpenAI's own parameter documentation).
		provider: conductor.ProviderOpenAI, name: "o3 and o4-mini take no stop sequences",
		match: o3OrO4Mini,
		rules: []rule{
			{param: ParamStop, allowed: "none", code: unsupportedParam, bad: hasStop},
		},
	},
	{
		provider: conductor.ProviderOpenAI, name: "", match: anyModel,
		rules: []rule{
			{param: ParamTemperature, allowed: "0 to 2", code: unsupportedValue, bad: outside(temperature, 0, 2)},
			{param: ParamTopP, allowed: "0 to 1", code: unsupportedValue, bad: outside(topP, 0, 1)},
		},
	},
	{
		// "Models released after Claude Opus 4.6 do not support setting
		// temperature. A value of 1.0 will be accepted for backwards
		// compatibility" — likewise top_p >= 0.99; top_k: any value is a
		// 400 (the Messages API reference and SDK, 2026).
		provider: conductor.ProviderAnthropic, name: "models released after Claude Opus 4.6 fix sampling",
		match: claudeAfterOpus46,
		rules: []rule{
			{param: ParamTemperature, allowed: "1 only, or unset", code: unsupportedValue, bad: not(temperature, 1)},
			{param: ParamTopP, allowed: "0.99 to 1, or unset", code: unsupportedValue, bad: outside(topP, 0.99, 1)},
			{param: ParamTopK, allowed: "none", code: unsupportedParam, bad: hasTopK},
		},
	},
	{
		provider: conductor.ProviderAnthropic, name: "extended thinking fixes sampling and leaves the tool choice to the model",
		match: anyModel,
		rules: []rule{
			{param: ParamTemperature, allowed: "1 only, or unset, with thinking", code: unsupportedValue, when: thinking, bad: not(temperature, 1)},
			{param: ParamTopP, allowed: "0.95 to 1, or unset, with thinking", code: unsupportedValue, when: thinking, bad: outside(topP, 0.95, 1)},
			{param: ParamTopK, allowed: "none with thinking", code: unsupportedParam, when: thinking, bad: hasTopK},
			{param: ParamToolChoice, allowed: "auto or none with thinking", code: unsupportedValue, when: thinking, bad: forcedTool},
		},
	},
	{
		// max_tokens is required by the API; the encoder sends
		// wire.AnthropicDefaultMaxTokens when the request sets none.
		provider: conductor.ProviderAnthropic, name: "", match: anyModel,
		rules: []rule{
			{param: ParamTemperature, allowed: "0 to 1", code: unsupportedValue, bad: outside(temperature, 0, 1)},
			{param: ParamTopP, allowed: "0 to 1", code: unsupportedValue, bad: outside(topP, 0, 1)},
			{param: ParamMaxTokens, allowed: "a positive integer (" + strconv.Itoa(wire.AnthropicDefaultMaxTokens) + " when unset)", code: unsupportedValue, bad: negativeMax},
			{param: ParamThinkingBudget, allowed: "at least 1024 and below max_tokens (" + strconv.Itoa(wire.AnthropicDefaultMaxTokens) + " when unset)", code: unsupportedValue, bad: badBudget},
		},
	},
}

// checker walks the rule book over one request.
type checker struct {
	collect bool
	first   *RuleError
	all     []*RuleError
}

// add records r and says whether to go on. The first refusal of a
// parameter is the one kept: the tables run from the narrowest family to
// the widest, so it says the most.
func (c *checker) add(r *RuleError) bool {
	if c.first == nil {
		c.first = r
	}
	if !c.collect {
		return false
	}
	for _, o := range c.all {
		if o.Param == r.Param && o.Index == r.Index {
			return true
		}
	}
	c.all = append(c.all, r)
	return true
}

func (c *checker) run(providerName string, req *conductor.ChatRequest, collect bool) {
	c.collect = collect
	// Every provider: a user turn with nothing in it is never sent (the
	// APIs refuse it, or worse, answer it).
	for i := range req.Messages {
		if emptyUser(&req.Messages[i]) {
			if !c.add(&RuleError{Provider: providerName, Model: req.Model, Param: ParamMessages, Index: i,
				Allowed: "text that is not only whitespace, an image or a tool result", Code: "invalid_value"}) {
				return
			}
		}
	}
	for fi := range families {
		f := &families[fi]
		if f.provider != providerName || !f.match(bareModel(req.Model)) {
			continue
		}
		for ri := range f.rules {
			r := &f.rules[ri]
			if (r.when != nil && !r.when(req)) || !r.bad(req) {
				continue
			}
			if !c.add(&RuleError{Provider: providerName, Model: req.Model, Param: r.param, Got: gotValue(r.param, req),
				Allowed: r.allowed, Family: f.name, Code: r.code}) {
				return
			}
		}
	}
}

// emptyUser reports a user message of text alone whose text is empty or
// whitespace. Images and tool results are content.
func emptyUser(m *conductor.Message) bool {
	if m.Role != "user" {
		return false
	}
	for i := range m.Content {
		b := &m.Content[i]
		if b.Type != conductor.BlockText || strings.TrimSpace(b.Text) != "" {
			return false
		}
	}
	return true
}

// gotValue writes the value of param in req, for the message.
func gotValue(param string, req *conductor.ChatRequest) string {
	switch param {
	case ParamTemperature:
		return fmtFloat(req.Temperature)
	case ParamTopP:
		return fmtFloat(req.TopP)
	case ParamMaxTokens:
		return strconv.Itoa(req.MaxTokens)
	case ParamThinkingBudget:
		return strconv.Itoa(req.ThinkingBudget)
	case ParamTopK:
		return string(req.Extra["top_k"])
	case ParamStop:
		b, _ := wire.Marshal(req.Stop)
		return string(b)
	case ParamToolChoice:
		if req.ToolChoice == nil {
			return ""
		}
		if req.ToolChoice.Mode == conductor.ToolChoiceTool {
			return strconv.Quote(req.ToolChoice.Name) + " (a named tool)"
		}
		return strconv.Quote(req.ToolChoice.Mode)
	}
	return ""
}

func fmtFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// Rule parts.

func temperature(req *conductor.ChatRequest) *float64 { return req.Temperature }
func topP(req *conductor.ChatRequest) *float64        { return req.TopP }

// outside: the value is set and not within [lo, hi].
func outside(field func(*conductor.ChatRequest) *float64, lo, hi float64) func(*conductor.ChatRequest) bool {
	return func(req *conductor.ChatRequest) bool {
		f := field(req)
		return f != nil && !(*f >= lo && *f <= hi)
	}
}

// not: the value is set and other than want.
func not(field func(*conductor.ChatRequest) *float64, want float64) func(*conductor.ChatRequest) bool {
	return func(req *conductor.ChatRequest) bool {
		f := field(req)
		return f != nil && *f != want
	}
}

func hasStop(req *conductor.ChatRequest) bool { return len(req.Stop) > 0 }

func hasTopK(req *conductor.ChatRequest) bool {
	v, ok := req.Extra["top_k"]
	return ok && len(v) > 0 && string(v) != "null"
}

func negativeMax(req *conductor.ChatRequest) bool { return req.MaxTokens < 0 }

func thinking(req *conductor.ChatRequest) bool { return req.ThinkingBudget > 0 }

// badBudget: a thinking budget under 1024, or not below the max_tokens that
// will be sent (the default when unset): it counts toward it.
func badBudget(req *conductor.ChatRequest) bool {
	b := req.ThinkingBudget
	if b == 0 {
		return false
	}
	limit := req.MaxTokens
	if limit <= 0 {
		limit = wire.AnthropicDefaultMaxTokens
	}
	return b < 1024 || b >= limit
}

func forcedTool(req *conductor.ChatRequest) bool {
	tc := req.ToolChoice
	return tc != nil && (tc.Mode == conductor.ToolChoiceRequired || tc.Mode == conductor.ToolChoiceTool)
}

// fixedSampling: the reasoning model takes only the default sampling. OpenAI's
// model guidance lets gpt-5.1 and later sample when reasoning_effort is
// "none".
func fixedSampling(req *conductor.ChatRequest) bool {
	return !(req.ReasoningEffort == "none" && gpt5Point(bareModel(req.Model)) >= 1)
}

// Model families.

func anyModel(string) bool { return true }

// bareModel drops a route prefix ("openai/gpt-5", "anthropic/claude-…").
func bareModel(model string) string {
	return model[strings.LastIndexByte(model, '/')+1:]
}

// openAIReasoning: o1, o3, o4 and gpt-5 models, dated snapshots and
// variants included (o1-mini, o3-pro, o4-mini, gpt-5-mini, gpt-5.1…). The
// ChatGPT models (gpt-5-chat-latest, gpt-5.1-chat-latest) are not reasoning
// models and sample freely.
func openAIReasoning(model string) bool {
	for _, p := range [...]string{"o1", "o3", "o4"} {
		if familyPrefix(model, p, "-") {
			return true
		}
	}
	return familyPrefix(model, "gpt-5", "-.") && !strings.Contains(model, "-chat")
}

// o3OrO4Mini: o3 (and its snapshots and o3-pro, not o3-mini) and o4-mini.
func o3OrO4Mini(model string) bool {
	if familyPrefix(model, "o4-mini", "-") {
		return true
	}
	return familyPrefix(model, "o3", "-") && !familyPrefix(model, "o3-mini", "-")
}

// familyPrefix: model is p, or p followed by one of seps.
func familyPrefix(model, p, seps string) bool {
	if !strings.HasPrefix(model, p) {
		return false
	}
	return len(model) == len(p) || strings.IndexByte(seps, model[len(p)]) >= 0
}

// gpt5Point is the minor version of a gpt-5.N model (gpt-5.1 → 1), 0 for
// gpt-5 itself and -1 for any other model.
func gpt5Point(model string) int {
	if !familyPrefix(model, "gpt-5", "-.") {
		return -1
	}
	rest := model[len("gpt-5"):]
	if rest == "" || rest[0] != '.' {
		return 0
	}
	n, _ := leadingInt(rest[1:])
	return n
}

// claudeAfterOpus46: Claude models of a generation after 4.6
// (claude-opus-4-7, claude-sonnet-5, …, by the claude-<tier>-<major>[-<minor>]
// names used since Claude 4) and the Mythos models. Claude 4.6 itself
// (claude-opus-4-6, claude-sonnet-4-6) still takes temperature, top_p and
// top_k; names in the older claude-3-5-sonnet form are all older.
func claudeAfterOpus46(model string) bool {
	rest, ok := strings.CutPrefix(model, "claude-")
	if !ok {
		return false
	}
	tier, rest, _ := strings.Cut(rest, "-")
	if tier == "" || (tier[0] >= '0' && tier[0] <= '9') {
		return false
	}
	if tier == "mythos" {
		return true
	}
	majorTok, rest, _ := strings.Cut(rest, "-")
	major, ok := version(majorTok)
	if !ok {
		return false
	}
	minorTok, _, _ := strings.Cut(rest, "-")
	minor, ok := version(minorTok)
	if !ok {
		minor = 0 // claude-opus-4-20250514 is 4.0
	}
	return major > 4 || (major == 4 && minor > 6)
}

// version reads a one- or two-digit version number; dates (20250514) are
// not versions.
func version(tok string) (int, bool) {
	if len(tok) == 0 || len(tok) > 2 {
		return 0, false
	}
	n, rest := leadingInt(tok)
	return n, rest == ""
}

// leadingInt reads the digits at the start of s.
func leadingInt(s string) (int, string) {
	n, i := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 9; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, s[i:]
}
