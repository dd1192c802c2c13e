package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
	"github.com/conductor-go/conductor/expr"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/scoring"
)

// call is a member's (or a judge's) resolved model call.
type call struct {
	req     *conductor.ChatRequest
	routing string
	p       conductor.Provider
	mock    *ensemble.Mock // the mock block, for the cache key; nil otherwise
}

// runStep runs one member over vars (the run's, or an evaluator member's:
// the graded member's input and the answer). It returns the member's
// result and, when the member stops the flow, the reason.
func (e *Engine) runStep(ctx context.Context, r *run, st *ensemble.Step, vars expr.Vars) (mr MemberResult, abort error) {
	start := e.now()
	mr = MemberResult{Member: st.Member, Scoring: ScoreResult{Passed: true}}
	pol := policyOf(st.Retry)
	called := false // past the checks: a failure from here is the call's
	defer func() {
		mr.LatencyMs = e.now().Sub(start).Milliseconds()
		mr.Cost = float64(mr.CostNanoUSD) / 1e9
		if e.log.Enabled(ctx, slog.LevelDebug) {
			e.log.LogAttrs(ctx, slog.LevelDebug, "member done",
				slog.String("ensemble", r.ens.Name), slog.String("member", mr.Member), slog.String("status", mr.Status),
				slog.Bool("cached", mr.Cached), slog.Int("attempts", mr.Attempts), slog.Int64("latencyMs", mr.LatencyMs))
		}
	}()
	// fail records err; the flow stops unless the member's retry block says
	// continue. A cancelled run always stops.
	fail := func(err error) error {
		if !called {
			// Nothing was sent: what the member computed is at fault.
			err = &configError{err}
		}
		mr.fail(err)
		if ctx.Err() != nil {
			return err
		}
		if pol.onFailure == ensemble.OnFailureContinue {
			return nil
		}
		return err
	}

	if st.Condition != nil {
		v, err := st.Condition.Eval(&vars)
		if err != nil {
			return mr, fail(fmt.Errorf("condition: %w", err))
		}
		if !expr.Truthy(v) {
			mr.Status = StatusSkipped
			mr.Skipped = true
			mr.Scoring.Passed = false
			return mr, nil
		}
	}

	// The member's own input, when it has one, is what its config's
	// expressions see as input; the condition and the input mapping itself
	// see the ensemble's.
	mvars := vars
	if st.Input != nil {
		in, err := st.Input.Eval(&vars)
		if err != nil {
			return mr, fail(fmt.Errorf("input: %w", err))
		}
		mvars.Input = clean(in)
	}
	if st.Config == nil {
		return mr, fail(errors.New("no config"))
	}

	c, err := e.resolve(r, st.Config, &mvars, false, false)
	if c != nil {
		mr.Provider, mr.Model, mr.Routing = c.req.Provider, c.req.Model, c.routing
		mr.TestProvider = c.req.Provider == conductor.ProviderMock
		mr.Gateway = e.gatewayOf(c)
	}
	if err != nil {
		return mr, fail(err)
	}
	if err := e.prepareMember(c, r, st, &mvars); err != nil {
		return mr, fail(err)
	}
	// The model's parameter rules, on the values the expressions computed:
	// a run error for the member, not a provider round trip.
	provider.Normalize(c.req.Provider, c.req)
	if err := checkRules(c.req, st.Config); err != nil {
		return mr, fail(err)
	}

	called = true
	ans, err := e.answer(ctx, r, c, st, pol, &mr, false)
	if err != nil {
		return mr, fail(err)
	}

	if st.Scoring != nil {
		ans, err = e.grade(ctx, r, st, &mvars, c, pol, &mr, ans)
		if err != nil {
			// onFailure abort (or a cancelled run): a too-low score stops
			// the flow whatever the retry block says.
			mr.fail(err)
			mr.keep(ans)
			return mr, err
		}
	}
	// The answer kept may be a scoring retry's rather than the first.
	mr.keep(ans)
	mr.Status = StatusSucceeded
	if !mr.Scoring.Passed {
		mr.Status = StatusBelowMinimum
	}
	mr.Success = true
	if ans.fresh && mr.Scoring.Passed {
		e.cachePut(ctx, r, c, st, ans)
	}
	return mr, nil
}

// checkRules checks req against its model's parameter rules
// (provider.CheckRequest) and words a refusal with the key of cfg that set
// the parameter (cfg nil: a judge's request, which the engine writes).
func checkRules(req *conductor.ChatRequest, cfg *ensemble.ThinkConfig) error {
	err := provider.CheckRequest(req.Provider, req)
	var re *provider.RuleError
	e, ok := conductor.AsError(err)
	if err == nil || !ok || !errors.As(err, &re) {
		return err
	}
	key := ensemble.ConfigKey(re.Param)
	if re.Param == provider.ParamMessages && (cfg == nil || cfg.Prompt == nil) {
		key = "input" // the user message is the input, rendered
	}
	cp := *e
	cp.Provider = "" // the message names it, with the model
	cp.Message = re.Describe(key)
	return &cp
}

// keep records ans as the member's answer.
func (mr *MemberResult) keep(ans answer) {
	mr.Output, mr.Text, mr.Cached = ans.output, ans.text, ans.cached
	mr.ToolCalls = toolCalls(ans.content)
	mr.Variant = ans.variant
	if ans.variant != "" {
		mr.Provider, mr.Model = ans.provider, ans.servedModel
	}
}

// answer is one answer of a member.
type answer struct {
	content []conductor.Block // as the model answered: text, tool calls…
	text    string            // its text blocks joined
	output  any
	model   string
	usage   conductor.Usage
	finish  string
	fresh   bool   // from the model, not the step cache: worth caching
	cached  bool   // from a cache: the step cache, or a gateway's on the route
	logID   string // the gateway log row of the call, "" when none logged it
	// variant is the A/B split variant that answered ("split/name"), and
	// provider and servedModel what it is; "" when no split answered.
	variant, provider, servedModel string
}

// answer gets the member's answer: from the step cache when allowed and
// present, else from the model with the member's retries. It adds the
// call's attempts, usage and cost to mr.
func (e *Engine) answer(ctx context.Context, r *run, c *call, st *ensemble.Step, pol retryPolicy, mr *MemberResult, bypass bool) (answer, error) {
	if !bypass {
		if a, ok := e.cacheGet(ctx, r, c, st); ok {
			return a, nil
		}
	}
	if err := e.connect(ctx, c); err != nil {
		return answer{}, err
	}
	out := e.callWithRetry(ctx, c.p, c.req, pol, mr.Member)
	mr.Attempts += out.attempts
	prov, model, variant := c.req.Provider, c.req.Model, ""
	if out.resp != nil && out.resp.Meta.Variant != "" {
		// An A/B split answered: priced and reported as its variant.
		variant = out.resp.Meta.Variant
		if n, ok := e.resolver.(ModelNamer); ok {
			if p, m, ok := n.ServedBy(model, variant); ok {
				prov, model = p, m
			}
		}
	}
	e.addUsage(mr, prov, model, out.usage, out.resp != nil && out.resp.Meta.Cached)
	if out.err != nil {
		return answer{}, out.err
	}
	a := answerOf(out.resp.Content)
	a.model, a.usage, a.finish = out.resp.Model, out.resp.Usage, out.resp.FinishReason
	a.fresh, a.cached, a.logID = true, out.resp.Meta.Cached, out.resp.Meta.LogID
	if variant != "" {
		a.variant, a.provider, a.servedModel = variant, prov, model
	}
	return a, nil
}

// answerOf is the answer holding content.
func answerOf(content []conductor.Block) answer {
	text := conductor.BlocksText(content, "")
	return answer{content: content, text: text, output: decodeOutput(text)}
}

// toolCalls lists the tool calls of content with their arguments decoded:
// a JSON value (an object, normally; "" is {}), or the text as written when
// it is not JSON, which OpenAI does not promise.
func toolCalls(content []conductor.Block) []ToolCall {
	var out []ToolCall
	for _, c := range conductor.ToolCalls(content) {
		tc := ToolCall{ID: c.ID, Name: c.Name}
		var v any
		switch {
		case strings.TrimSpace(c.Arguments) == "":
			tc.Arguments = map[string]any{}
		case json.Unmarshal([]byte(c.Arguments), &v) == nil:
			tc.Arguments = v
		default:
			tc.Arguments = c.Arguments
		}
		out = append(out, tc)
	}
	return out
}

// addUsage adds a call's tokens and price to mr. The mock is free, and so
// is an answer a gateway's cache served: the first caller paid for it.
func (e *Engine) addUsage(mr *MemberResult, prov, model string, u conductor.Usage, cached bool) {
	mr.Usage.InputTokens += u.InputTokens
	mr.Usage.OutputTokens += u.OutputTokens
	mr.Usage.Estimated = mr.Usage.Estimated || u.Estimated
	if prov == conductor.ProviderMock || cached {
		return
	}
	if e.pricing == nil || (u.InputTokens == 0 && u.OutputTokens == 0) {
		return
	}
	nano, known := e.pricing.Cost(prov, model, u)
	mr.CostNanoUSD += nano
	if !known {
		mr.PriceUnknown = true
	}
}

// resolve evaluates cfg's provider, model and routing and checks them.
// The provider itself is found later (connect), only when the call is not
// answered from the step cache: a warm cache answers even where the route
// could not be built (offline, no key). judge marks a judge call; own says
// the judge uses the member's own config, so the member's injected
// failures are not repeated on it.
func (e *Engine) resolve(r *run, cfg *ensemble.ThinkConfig, v *expr.Vars, judge, own bool) (*call, error) {
	prov, _, err := str(cfg.Provider, v)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	if !slices.Contains(conductor.Providers(), prov) {
		return nil, fmt.Errorf("unknown provider %q (want one of %s)", prov, strings.Join(conductor.Providers(), ", "))
	}
	model, _, err := str(cfg.Model, v)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	// A [[model]] alias is the provider and model it names, from here on:
	// its routing by default, its parameter rules, its price.
	if n, ok := e.resolver.(ModelNamer); ok && model != "" {
		if p, m, ok := n.ServedBy(model, ""); ok {
			prov, model = p, m
		}
	}
	routing, set, err := str(cfg.Routing, v)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	if !set || routing == "" {
		routing = conductor.DefaultRouting(prov)
	}
	c := &call{req: &conductor.ChatRequest{Provider: prov, Model: model}, routing: routing}
	if !slices.Contains(conductor.RoutingModes(), routing) {
		return c, fmt.Errorf("unknown routing %q for provider %s (want one of %s)", routing, prov, strings.Join(conductor.RoutingModes(), ", "))
	}
	if prov == conductor.ProviderMock {
		if model == "" {
			c.req.Model = provider.MockModel
		}
		c.mock = cfg.Mock
		c.p = r.mock(cfg.Mock, judge, own)
		return c, nil
	}
	if model == "" {
		return c, fmt.Errorf("provider %s needs a model", prov)
	}
	return c, nil
}

// gatewayOf names the gateway c's route goes through, when the Resolver
// can say; the mock, answered by the engine itself, has none.
func (e *Engine) gatewayOf(c *call) *GatewayRef {
	n, ok := e.resolver.(GatewayNamer)
	if !ok || c.p != nil {
		return nil
	}
	kind, id, ok := n.GatewayOf(c.req.Provider, c.req.Model, c.routing)
	if !ok {
		return nil
	}
	return &GatewayRef{Kind: kind, ID: id}
}

// connect finds the provider of a resolved call through the Resolver.
func (e *Engine) connect(ctx context.Context, c *call) error {
	if c.p != nil {
		return nil
	}
	prov, routing := c.req.Provider, c.routing
	if e.resolver == nil {
		return &conductor.Error{Provider: prov, Class: conductor.ClassConfig,
			Message: fmt.Sprintf("no route to provider %s with routing %s: this engine has no resolver for real providers (use provider mock to run offline)", prov, routing)}
	}
	p, err := e.resolver.Provider(ctx, prov, c.req.Model, routing)
	if err != nil {
		return fmt.Errorf("route to %s (%s): %w", prov, routing, err)
	}
	c.p = p
	return nil
}

// mock returns the run's mock for a mock block.
func (r *run) mock(cfg *ensemble.Mock, judge, own bool) *provider.Mock {
	k := mockKey{cfg: cfg, judge: judge}
	if m, ok := r.mocks[k]; ok {
		return m
	}
	var mc provider.MockConfig
	if cfg != nil {
		mc = provider.MockConfig{Reply: cfg.Reply, Echo: cfg.Echo, Latency: cfg.Latency, Score: cfg.Score}
		for _, rep := range cfg.Replies {
			mc.Replies = append(mc.Replies, provider.MockReply{Match: rep.Match, Text: rep.Text})
		}
		if cfg.Fail != nil && !(judge && own) {
			mc.FailTimes, mc.FailStatus, mc.FailMessage, mc.RetryAfter = cfg.Fail.Times, cfg.Fail.Status, cfg.Fail.Message, cfg.Fail.RetryAfter
		}
	}
	m := provider.NewMock(mc)
	if r.mocks == nil {
		r.mocks = make(map[mockKey]*provider.Mock)
	}
	r.mocks[k] = m
	return m
}

// prepareMember fills the member's request: parameters, messages and call
// options.
func (e *Engine) prepareMember(c *call, r *run, st *ensemble.Step, v *expr.Vars) error {
	if err := params(c.req, st.Config, v); err != nil {
		return err
	}
	msgs, err := messages(st.Config, v)
	if err != nil {
		return err
	}
	c.req.Messages = msgs
	c.req.Options.Metadata = map[string]string{"ensemble": r.ens.Name, "member": st.Member}
	if st.Retry != nil {
		// The member's retry block is the policy: a gateway on the route
		// must not multiply its attempts.
		c.req.Options.MaxAttempts = 1
	}
	if st.Cache != nil {
		ttl := st.Cache.TTL
		c.req.Options.CacheTTL = &ttl
		c.req.Options.SkipCache = st.Cache.Bypass
	}
	return nil
}

// params evaluates the sampling parameters of cfg into req.
func params(req *conductor.ChatRequest, cfg *ensemble.ThinkConfig, v *expr.Vars) error {
	if f, ok, err := num(cfg.Temperature, v); err != nil {
		return fmt.Errorf("temperature: %w", err)
	} else if ok {
		req.Temperature = &f
	}
	if f, ok, err := num(cfg.TopP, v); err != nil {
		return fmt.Errorf("topP: %w", err)
	} else if ok {
		req.TopP = &f
	}
	if n, ok, err := integer(cfg.MaxTokens, v); err != nil {
		return fmt.Errorf("maxTokens: %w", err)
	} else if ok {
		if n < 1 || n > ensemble.MaxTokensLimit {
			return fmt.Errorf("maxTokens: expected an integer between 1 and %d, got %d", ensemble.MaxTokensLimit, n)
		}
		req.MaxTokens = int(n)
	}
	if n, ok, err := integer(cfg.Seed, v); err != nil {
		return fmt.Errorf("seed: %w", err)
	} else if ok {
		req.Seed = &n
	}
	stopNode, err := evaluated(cfg.Stop, v)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	stop, err := stopNode.EvalStrings(nil)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	req.Stop = stop
	if cfg.ResponseFormat != nil {
		rf, err := cfg.ResponseFormat.Eval(v)
		if err != nil {
			return fmt.Errorf("responseFormat: %w", err)
		}
		if req.ResponseFormat, err = ensemble.ResponseFormatOf(clean(rf)); err != nil {
			return ensemble.Within("responseFormat", err)
		}
	}
	req.Tools = cfg.Tools
	if cfg.ToolChoice != nil {
		tc, err := cfg.ToolChoice.Eval(v)
		if err != nil {
			return fmt.Errorf("toolChoice: %w", err)
		}
		if req.ToolChoice, err = ensemble.ToolChoiceOf(clean(tc), cfg.Tools); err != nil {
			return ensemble.Within("toolChoice", err)
		}
	}
	return nil
}

// messages builds a member's chat: the system prompt, then input.messages
// when the input has them, else the prompt, else the input rendered as
// "key: value" lines.
func messages(cfg *ensemble.ThinkConfig, v *expr.Vars) ([]conductor.Message, error) {
	var msgs []conductor.Message
	sys, _, err := str(cfg.SystemPrompt, v)
	if err != nil {
		return nil, fmt.Errorf("systemPrompt: %w", err)
	}
	if sys != "" {
		msgs = append(msgs, conductor.TextMessage("system", sys))
	}
	if in, ok := v.Input.(map[string]any); ok {
		if raw, ok := in["messages"]; ok && raw != nil {
			list, err := inputMessages(raw)
			if err != nil {
				return nil, err
			}
			return append(msgs, list...), nil
		}
	}
	if cfg.Prompt != nil {
		p, _, err := str(cfg.Prompt, v)
		if err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		return append(msgs, conductor.TextMessage("user", p)), nil
	}
	return append(msgs, conductor.TextMessage("user", Render(v.Input))), nil
}

// inputMessages reads input.messages: a list of {role, content}.
func inputMessages(raw any) ([]conductor.Message, error) {
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("input.messages: want a list of {role, content}, got %T", raw)
	}
	out := make([]conductor.Message, 0, len(list))
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("input.messages[%d]: want {role, content}, got %T", i, it)
		}
		role, ok := m["role"].(string)
		if !ok || role == "" {
			return nil, fmt.Errorf("input.messages[%d]: role must be a string", i)
		}
		var content string
		switch c := m["content"].(type) {
		case string:
			content = c
		case nil:
		default:
			content = compactJSON(c)
		}
		out = append(out, conductor.TextMessage(role, content))
	}
	return out, nil
}

// Render writes an input as a user message: a string as it is, a map as
// "key: value" lines in key order (values that are not strings as JSON), and
// anything else as JSON.
func Render(in any) string {
	switch x := in.(type) {
	case nil, expr.Undefined:
		return ""
	case string:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(k)
			b.WriteString(": ")
			if s, ok := x[k].(string); ok {
				b.WriteString(s)
			} else {
				b.WriteString(compactJSON(x[k]))
			}
		}
		return b.String()
	}
	return compactJSON(in)
}

func compactJSON(v any) string {
	b, err := json.Marshal(clean(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// decodeOutput returns the answer as JSON when it is a JSON object or
// array (fenced or not), else the text.
func decodeOutput(text string) any {
	t := scoring.StripFence(text)
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return text
	}
	var v any
	if err := json.Unmarshal([]byte(t), &v); err != nil {
		return text
	}
	return v
}

// evaluated evaluates a template node into a literal one, so the Node's
// typed accessors can check and convert its value; undefined (a missing
// input field, say) becomes nil: the key counts as unset, as in
// JavaScript. Literal nodes come back as they are.
func evaluated(n *ensemble.Node, v *expr.Vars) (*ensemble.Node, error) {
	if n == nil || n.Tmpl == nil {
		return n, nil
	}
	x, err := n.Eval(v)
	if err != nil {
		return nil, err
	}
	if expr.IsUndefined(x) {
		return nil, nil
	}
	return &ensemble.Node{Kind: ensemble.KindScalar, Pos: n.Pos, Lit: x}, nil
}

func str(n *ensemble.Node, v *expr.Vars) (string, bool, error) {
	if n != nil && n.Tmpl != nil {
		// The common case, a template yielding text, needs no conversion.
		x, err := n.Eval(v)
		if err != nil {
			return "", false, err
		}
		if s, ok := x.(string); ok {
			return s, true, nil
		}
		if expr.IsUndefined(x) {
			return "", false, nil
		}
		n = &ensemble.Node{Kind: ensemble.KindScalar, Pos: n.Pos, Lit: x}
	}
	return n.EvalString(nil)
}

func num(n *ensemble.Node, v *expr.Vars) (float64, bool, error) {
	n, err := evaluated(n, v)
	if err != nil {
		return 0, false, err
	}
	return n.EvalFloat(nil)
}

func integer(n *ensemble.Node, v *expr.Vars) (int64, bool, error) {
	n, err := evaluated(n, v)
	if err != nil {
		return 0, false, err
	}
	return n.EvalInt(nil)
}
