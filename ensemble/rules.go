package ensemble

import (
	"errors"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// The per-model parameter rules (package provider's CheckRequest) applied
// at load to what a member writes literally, so that `conductor validate`
// reports a value the model refuses at its key. Values computed by ${...}
// are checked by the engine when the member runs.

// paramKeys names each rule parameter by the config key that sets it.
var paramKeys = map[string]string{
	provider.ParamTemperature: "temperature",
	provider.ParamTopP:        "topP",
	provider.ParamMaxTokens:   "maxTokens",
	provider.ParamStop:        "stop",
	provider.ParamToolChoice:  "toolChoice",
	provider.ParamMessages:    "prompt",
}

// ConfigKey is the config key that sets a rule parameter
// (provider.RuleError.Param); a parameter no key sets keeps its wire name.
func ConfigKey(param string) string {
	if k, ok := paramKeys[param]; ok {
		return k
	}
	return param
}

// checkRules reports the literal values of tc that the rules of its model
// on prov refuse. A value whose key already has a problem is left out, so
// that each problem is told once.
func (l *loader) checkRules(tc *ThinkConfig, prov string) {
	req := &conductor.ChatRequest{Provider: prov, Tools: tc.Tools}
	switch {
	case tc.Model == nil && prov == conductor.ProviderMock:
		req.Model = provider.MockModel
	case tc.Model == nil || tc.Model.Tmpl != nil:
		return
	default:
		req.Model, _ = tc.Model.Lit.(string)
	}
	nodes := map[string]*Node{}
	usable := func(param string, n *Node) bool {
		if n == nil || !n.IsLiteral() || l.c.has(n.Pos) {
			return false
		}
		nodes[param] = n
		return true
	}
	if n := tc.Temperature; usable(provider.ParamTemperature, n) {
		f, _, _ := n.EvalFloat(nil)
		req.Temperature = &f
	}
	if n := tc.TopP; usable(provider.ParamTopP, n) {
		f, _, _ := n.EvalFloat(nil)
		req.TopP = &f
	}
	if n := tc.MaxTokens; usable(provider.ParamMaxTokens, n) {
		i, _, _ := n.EvalInt(nil)
		req.MaxTokens = int(i)
	}
	if n := tc.Stop; usable(provider.ParamStop, n) {
		req.Stop, _ = n.EvalStrings(nil)
	}
	if n := tc.ToolChoice; usable(provider.ParamToolChoice, n) {
		lit, _ := n.Eval(nil)
		req.ToolChoice, _ = ToolChoiceOf(lit, tc.Tools)
	}
	if n := tc.SystemPrompt; n != nil && n.Tmpl == nil {
		s, _ := n.Lit.(string)
		req.Messages = append(req.Messages, conductor.TextMessage("system", s))
	}
	if n := tc.Prompt; usable(provider.ParamMessages, n) {
		s, _ := n.Lit.(string)
		req.Messages = append(req.Messages, conductor.TextMessage("user", s))
	}
	for _, v := range provider.Violations(prov, req) {
		pos := tc.Pos
		if n := nodes[v.Param]; n != nil {
			pos = n.Pos
		}
		l.c.add(pos, v.Describe(ConfigKey(v.Param)))
	}
}

// fieldProblem reports err, from ToolChoiceOf or ResponseFormatOf on n's
// literal value, at its place inside n.
func (l *loader) fieldProblem(n *Node, key string, err error) {
	var fe *FieldError
	if errors.As(err, &fe) {
		l.c.add(n.At(fe.Path, fe.Key), Within(key, fe).Error())
		return
	}
	l.c.addf(n.Pos, "%s: %v", key, err)
}
