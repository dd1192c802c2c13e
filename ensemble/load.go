package ensemble

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/expr"
)

// DefaultProvider is filled in at load for a member whose config names no
// provider: the page's "use Workers AI for simple tasks" snippets name
// only a routing.
const DefaultProvider = conductor.ProviderWorkersAI

// MaxTokensLimit is the largest maxTokens accepted: far above any model's
// output window, and what every provider's int32 field holds.
const MaxTokensLimit = math.MaxInt32

// DefaultCacheTTL is a step cache's TTL when a cache block sets none.
const DefaultCacheTTL = time.Hour

// DefaultModel is the model filled in at load when a member names none,
// as the provider registry declares it: Workers AI has one (the page's own
// example model); mock needs none; every other provider must name its
// model.
func DefaultModel(provider string) string {
	spec, _ := conductor.LookupProvider(provider)
	return spec.DefaultModel
}

// Keys of each mapping, in the order the format reference lists them.
var (
	ensembleKeys   = []string{"name", "description", "flow", "output"}
	stepKeys       = []string{"member", "type", "condition", "config", "input", "scoring", "retry", "cache"}
	configKeys     = []string{"provider", "model", "routing", "temperature", "maxTokens", "topP", "stop", "seed", "responseFormat", "tools", "toolChoice", "systemPrompt", "prompt", "mock"}
	mockKeys       = []string{"reply", "replies", "echo", "latency", "fail", "score"}
	mockFailKeys   = []string{"status", "times", "message", "retryAfter"}
	scoringKeys    = []string{"evaluator", "criteria", "rules", "thresholds", "onFailure", "retryLimit", "judge"}
	thresholdKeys  = []string{"minimum", "target", "excellent"}
	ruleKeys       = []string{"minLength", "maxLength", "contains", "notContains", "regex", "json", "jsonSchema"}
	retryKeys      = []string{"maxAttempts", "backoff", "initialDelay", "maxDelay", "onFailure"}
	cacheKeys      = []string{"ttl", "bypass"}
	backoffs       = []string{BackoffExponential, BackoffLinear, BackoffFixed}
	scoringOnFail  = []string{OnFailureAbort, OnFailureContinue, OnFailureRetry}
	retryOnFail    = []string{OnFailureAbort, OnFailureContinue}
	memberNameExpr = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// Load reads and checks the ensemble file at path. A file that cannot be
// read gives a *FileError (errors.Is(err, fs.ErrNotExist) for a missing
// one); a file with problems gives a List.
func Load(path string) (*Ensemble, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the FileError's
		}
		return nil, &FileError{File: path, Err: err}
	}
	return Parse(path, data)
}

// FileError is an ensemble file that cannot be read. It reads as
// "FILE: cannot read the ensemble file: no such file or directory".
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string {
	return e.File + ": cannot read the ensemble file: " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// Parse checks data, the content of file (used in messages only), and
// returns the ensemble with every expression compiled, or a List of every
// problem found.
func Parse(file string, data []byte) (*Ensemble, error) {
	c := &collector{file: file}
	root := parseYAML(data, c)
	if root == nil {
		return nil, c.err()
	}
	l := &loader{c: c}
	e := l.ensemble(root)
	if err := c.err(); err != nil {
		return nil, err
	}
	e.File = file
	return e, nil
}

// Validate reports every problem in the file at path, or nil.
func Validate(path string) error {
	_, err := Load(path)
	return err
}

type loader struct {
	c     *collector
	names *expr.Names
	// evalNames is names with the evaluator members' locals (answer);
	// evaluating is set while an evaluator member's expressions compile.
	evalNames  *expr.Names
	evaluating bool
}

// AnswerName is the name an evaluator member's expressions read the answer
// they grade by: ${answer} (its output: decoded JSON, else the text).
const AnswerName = "answer"

// obj is a mapping whose keys were checked against the known ones.
type obj struct {
	v    *yval
	what string
	m    map[string]*yentry
}

// object checks that v is a map holding only keys, and reports each
// unknown key with a suggestion. It returns nil when v is not a map.
func (l *loader) object(v *yval, what string, keys []string) *obj {
	if v.kind != KindMap {
		l.c.addf(v.pos, "%s: expected a map (keys: %s), got %s", what, strings.Join(keys, ", "), describe(v))
		return nil
	}
	o := &obj{v: v, what: what, m: make(map[string]*yentry, len(v.entries))}
	for i := range v.entries {
		e := &v.entries[i]
		if !slices.Contains(keys, e.key) {
			l.c.add(e.keyPos, unknown("key", e.key, keys, what))
			continue
		}
		o.m[e.key] = e
	}
	return o
}

// get returns the value of key, or nil when it is absent or null (an empty
// "key:" reads as unset, as YAML users expect).
func (o *obj) get(key string) *yval {
	if o == nil {
		return nil
	}
	e, ok := o.m[key]
	if !ok || e.val.broken || (e.val.kind == KindScalar && e.val.val == nil && !e.val.isStr) {
		return nil
	}
	return e.val
}

// absent reports whether key is missing or null; a key whose value had a
// problem (already reported) is not absent.
func (o *obj) absent(key string) bool {
	e, ok := o.m[key]
	return !ok || (!e.val.broken && o.get(key) == nil)
}

func (o *obj) keyPos(key string) Pos {
	if e, ok := o.m[key]; ok {
		return e.keyPos
	}
	return o.v.pos
}

func (l *loader) ensemble(root *yval) *Ensemble {
	e := &Ensemble{}
	o := l.object(root, "the ensemble", ensembleKeys)
	if o == nil {
		return e
	}
	switch v := o.get("name"); {
	case o.absent("name"):
		l.c.add(o.v.pos, `missing required key "name" (the ensemble's name)`)
	case v == nil: // its problem is reported
	default:
		s, ok := l.str(v, "name")
		if ok && (strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\n\r")) {
			l.c.add(v.pos, "name: expected a non-empty single-line name")
		}
		e.Name = s
	}
	if v := o.get("description"); v != nil {
		e.Description, _ = l.str(v, "description")
	}
	flow := o.get("flow")
	switch {
	case o.absent("flow"):
		l.c.add(o.v.pos, `missing required key "flow" (the list of members)`)
	case flow == nil:
	case flow.kind != KindList:
		l.c.addf(flow.pos, "flow: expected a list of members, got %s", describe(flow))
	case len(flow.items) == 0:
		l.c.add(flow.pos, "flow: expected at least one member")
	default:
		e.Flow = l.flow(flow.items)
	}
	members := make([]string, len(e.Flow))
	for i, s := range e.Flow {
		members[i] = s.Member
	}
	e.Names = l.names
	if e.Names == nil {
		e.Names = expr.NewNames(members)
	}
	if v := o.get("output"); v != nil {
		e.Output = l.node(v, "output", len(e.Flow))
	}
	return e
}

// flow loads the members: names first, so every expression compiles
// against the whole table.
func (l *loader) flow(items []*yval) []*Step {
	steps := make([]*Step, len(items))
	objs := make([]*obj, len(items))
	first := map[string]Pos{}
	members := make([]string, len(items))
	for i, it := range items {
		steps[i] = &Step{Index: i, Pos: it.pos, Type: TypeThink}
		if it.kind != KindMap {
			l.c.addf(it.pos, "flow[%d]: expected a member (a map with member, type, config), got %s", i, describe(it))
			continue
		}
		o := l.object(it, "member", stepKeys)
		objs[i] = o
		v := o.get("member")
		if v == nil {
			if o.absent("member") {
				l.c.addf(it.pos, `flow[%d]: missing required key "member" (the member's name)`, i)
			}
			continue
		}
		name, ok := l.str(v, "member")
		if !ok {
			continue
		}
		steps[i].Member = name
		steps[i].Pos = o.keyPos("member")
		switch {
		case !memberNameExpr.MatchString(name):
			l.c.addf(v.pos, "member: invalid name %q (expected letters, digits, - and _, starting with a letter)", name)
			continue
		case expr.Reserved(name):
			l.c.addf(v.pos, "member: %q is a reserved word in expressions; choose another name", name)
			continue
		}
		if p, dup := first[name]; dup {
			l.c.addf(v.pos, "duplicate member name %q (first at %d:%d)", name, p.Line, p.Col)
			continue
		}
		first[name] = v.pos
		members[i] = name
	}
	l.names = expr.NewNames(members)
	l.evalNames = l.names.WithLocals(AnswerName)
	// Evaluator members first: a member another one names as its
	// scoring.evaluator runs right after each answer it grades, so its
	// expressions may read only members before every member it grades.
	for i, o := range objs {
		if ev := evaluatorName(o); ev != "" {
			if j := slices.Index(members, ev); j >= 0 && j != i {
				steps[j].Grades = append(steps[j].Grades, i)
			}
		}
	}
	for i, o := range objs {
		if o != nil {
			l.step(steps[i], o, members)
		}
	}
	return steps
}

// evaluatorName is the scoring.evaluator a member's mapping names, "" when
// none (or not a string: its problem is reported by scoring).
func evaluatorName(o *obj) string {
	sc := o.get("scoring")
	if sc == nil || sc.kind != KindMap {
		return ""
	}
	for _, e := range sc.entries {
		if e.key == "evaluator" && e.val.kind == KindScalar && e.val.isStr {
			return e.val.text
		}
	}
	return ""
}

func (l *loader) step(s *Step, o *obj, members []string) {
	i := s.Index
	if len(s.Grades) > 0 {
		// It runs after the answers it grades, before the members that
		// come after them: compile as if placed before the first of them.
		i = min(i, s.Grades[0])
		prev := l.names
		l.evaluating, l.names = true, l.evalNames
		defer func() { l.evaluating, l.names = false, prev }()
		if e, ok := o.m["scoring"]; ok {
			l.c.addf(e.keyPos, "member %s grades %s (it is their scoring.evaluator), so it cannot have a scoring block of its own", s.Member, members[s.Grades[0]])
		}
	}
	if v := o.get("type"); v != nil {
		if t, ok := l.str(v, "type"); ok && t != TypeThink {
			l.c.add(v.pos, "type: "+unknown("member type", t, []string{TypeThink}, ""))
		}
	}
	if v := o.get("condition"); v != nil {
		s.Condition = l.condition(v, i)
	}
	if v := o.get("config"); v == nil {
		if o.absent("config") {
			name := s.Member
			if !memberNameExpr.MatchString(name) {
				name = strconv.Quote(name) // its own problem is reported; keep this one on one line
			}
			l.c.addf(s.Pos, `member %s: missing required key "config" (provider, model, routing)`, name)
		}
	} else {
		s.Config = l.config(v, "config", i)
	}
	if v := o.get("input"); v != nil {
		s.Input = l.node(v, "input", i)
	}
	if e, ok := o.m["scoring"]; ok {
		s.Scoring = l.scoring(e.val, i, members)
	}
	if e, ok := o.m["retry"]; ok {
		s.Retry = l.retry(e.val)
	}
	if e, ok := o.m["cache"]; ok {
		s.Cache = l.cache(e.val)
	}
}

func (l *loader) condition(v *yval, before int) *Node {
	n := l.node(v, "condition", before)
	if n == nil {
		return nil
	}
	if n.Kind != KindScalar {
		l.c.addf(v.pos, "condition: expected an expression \"${...}\" or a boolean, got %s", describe(v))
		return nil
	}
	if n.Tmpl == nil {
		if _, ok := n.Lit.(bool); !ok {
			l.c.addf(v.pos, "condition: expected an expression \"${...}\" or a boolean, got %s", describe(v))
			return nil
		}
	}
	return n
}

// config loads a model call: a member's config or a judge's.
func (l *loader) config(v *yval, what string, before int) *ThinkConfig {
	o := l.object(v, what, configKeys)
	if o == nil {
		return nil
	}
	tc := &ThinkConfig{Pos: v.pos}
	tc.Provider = l.enumNode(o.get("provider"), "provider", before, conductor.Providers())
	tc.Model = l.shaped(o.get("model"), "model", before, shapeString)
	tc.Routing = l.enumNode(o.get("routing"), "routing", before, conductor.RoutingModes())
	tc.Temperature = l.shaped(o.get("temperature"), "temperature", before, shapeNumber)
	l.litRange(tc.Temperature, "temperature", 0, 2)
	if x := o.get("maxTokens"); x != nil && x.bigInt {
		l.c.addf(x.pos, "maxTokens: expected an integer between 1 and %d, got %s", MaxTokensLimit, x.text)
	} else {
		tc.MaxTokens = l.shaped(x, "maxTokens", before, shapeInt)
	}
	if tc.MaxTokens != nil && tc.MaxTokens.Tmpl == nil {
		if n, _ := tc.MaxTokens.Lit.(int64); n < 1 || n > MaxTokensLimit {
			l.c.addf(tc.MaxTokens.Pos, "maxTokens: expected an integer between 1 and %d, got %d", MaxTokensLimit, n)
		}
	}
	tc.TopP = l.shaped(o.get("topP"), "topP", before, shapeNumber)
	l.litRange(tc.TopP, "topP", 0, 1)
	tc.Stop = l.shaped(o.get("stop"), "stop", before, shapeStrings)
	tc.Seed = l.shaped(o.get("seed"), "seed", before, shapeInt)
	tc.ResponseFormat = l.shaped(o.get("responseFormat"), "responseFormat", before, shapeMap)
	if n := tc.ResponseFormat; n != nil && n.IsLiteral() {
		lit, _ := n.Eval(nil)
		if _, err := ResponseFormatOf(lit); err != nil {
			l.fieldProblem(n, "responseFormat", err)
		}
	}
	if x := o.get("tools"); x != nil {
		tc.Tools = l.tools(x)
		tc.ToolsPos = x.pos
	}
	if x := o.get("toolChoice"); x != nil {
		tc.ToolChoice = l.node(x, "toolChoice", before)
		if n := tc.ToolChoice; n != nil && n.IsLiteral() {
			lit, _ := n.Eval(nil)
			if _, err := ToolChoiceOf(lit, tc.Tools); err != nil {
				l.fieldProblem(n, "toolChoice", err)
			}
		}
	}
	tc.SystemPrompt = l.shaped(o.get("systemPrompt"), "systemPrompt", before, shapeString)
	tc.Prompt = l.shaped(o.get("prompt"), "prompt", before, shapeString)
	if e, ok := o.m["mock"]; ok {
		tc.Mock = l.mock(e.val)
	}

	provider, literal := "", true
	switch {
	case o.absent("provider"):
		// Filled so the engine never guesses; see DefaultProvider.
		provider = DefaultProvider
		tc.Provider = &Node{Kind: KindScalar, Pos: v.pos, Lit: provider}
	case tc.Provider == nil:
		return tc // its problem is reported
	case tc.Provider.Tmpl != nil:
		literal = false
	default:
		provider, _ = tc.Provider.Lit.(string)
	}
	if tc.Model == nil && o.absent("model") {
		switch {
		case !literal:
			l.c.addf(v.pos, `%s: missing required key "model" (required when provider is an expression)`, what)
		case provider == conductor.ProviderMock:
		case DefaultModel(provider) != "":
			tc.Model = &Node{Kind: KindScalar, Pos: v.pos, Lit: DefaultModel(provider)}
		default:
			l.c.addf(v.pos, `%s: missing required key "model" (the %s model to call)`, what, provider)
		}
	}
	if literal {
		l.checkRules(tc, provider)
	}
	if literal && tc.Routing != nil && tc.Routing.Tmpl == nil && tc.Routing.Lit == conductor.RoutingCloudflare {
		// A hosted provider's models are not on the platform (a local
		// server named in [ai] serves Workers AI's names).
		if spec, ok := conductor.LookupProvider(provider); ok && spec.BaseURL != "" && !spec.Native {
			l.c.addf(tc.Routing.Pos, "routing: %q serves Workers AI and local models only (use %s or %s for %s)",
				conductor.RoutingCloudflare, conductor.RoutingGateway, conductor.RoutingDirect, provider)
		}
	}
	return tc
}

// litRange checks a literal number of n against [lo, hi].
func (l *loader) litRange(n *Node, key string, lo, hi float64) {
	if n == nil || n.Tmpl != nil {
		return
	}
	if f, ok := n.Lit.(float64); ok && !(f >= lo && f <= hi) {
		l.c.addf(n.Pos, "%s: expected a number between %g and %g, got %s", key, lo, hi, fmtNum(f))
	}
}

func (l *loader) mock(v *yval) *Mock {
	m := &Mock{Pos: v.pos}
	if v.kind == KindScalar && v.val == nil && !v.isStr {
		return m // "mock:" alone: echo
	}
	o := l.object(v, "mock", mockKeys)
	if o == nil {
		return m
	}
	if x := o.get("reply"); x != nil {
		m.Reply, _ = l.str(x, "reply")
	}
	if x := o.get("replies"); x != nil {
		if x.kind != KindMap {
			l.c.addf(x.pos, `replies: expected a map of prompt text to reply, got %s`, describe(x))
		} else {
			for _, e := range x.entries {
				if t, ok := l.str(e.val, "replies"); ok {
					m.Replies = append(m.Replies, MockReply{Match: e.key, Text: t})
				}
			}
		}
	}
	if x := o.get("echo"); x != nil {
		m.Echo, _ = l.boolean(x, "echo")
	}
	if m.Echo && (o.get("reply") != nil || o.get("replies") != nil) {
		l.c.add(o.keyPos("echo"), "mock: echo excludes reply and replies (set one or the other)")
	}
	if x := o.get("latency"); x != nil {
		m.Latency, _ = l.duration(x, "latency", time.Millisecond)
	}
	if x := o.get("score"); x != nil {
		if f, ok := l.number(x, "score"); ok {
			if f < 0 || f > 1 {
				l.c.addf(x.pos, "score: expected a number between 0 and 1, got %s", fmtNum(f))
			}
			m.Score = &f
		}
	}
	if x := o.get("fail"); x != nil {
		m.Fail = l.mockFail(x)
	}
	return m
}

func (l *loader) mockFail(v *yval) *MockFail {
	f := &MockFail{Status: 503, Times: 1, Message: "mock failure"}
	o := l.object(v, "fail", mockFailKeys)
	if o == nil {
		return f
	}
	if x := o.get("status"); x != nil {
		if n, ok := l.integer(x, "status"); ok {
			if n < 400 || n > 599 {
				l.c.addf(x.pos, "status: expected an HTTP error status (400-599), got %d", n)
			}
			f.Status = int(n)
		}
	}
	if x := o.get("times"); x != nil {
		if n, ok := l.integer(x, "times"); ok {
			if n < -1 {
				l.c.addf(x.pos, "times: expected a count of failing calls (-1: every call), got %d", n)
			}
			f.Times = int(n)
		}
	}
	if x := o.get("message"); x != nil {
		f.Message, _ = l.str(x, "message")
	}
	if x := o.get("retryAfter"); x != nil {
		f.RetryAfter, _ = l.duration(x, "retryAfter", time.Second)
	}
	return f
}

func (l *loader) scoring(v *yval, i int, members []string) *Scoring {
	s := &Scoring{Pos: v.pos, Evaluator: EvaluatorJudge, EvaluatorIndex: -1, OnFailure: OnFailureAbort, RetryLimit: DefaultRetryLimit}
	if v.kind == KindScalar && v.val == nil && !v.isStr {
		return s
	}
	o := l.object(v, "scoring", scoringKeys)
	if o == nil {
		return s
	}
	if x := o.get("evaluator"); x != nil {
		if ev, ok := l.str(x, "evaluator"); ok {
			s.Evaluator = ev
			switch j := slices.Index(members, ev); {
			case ev == EvaluatorJudge || ev == EvaluatorRules:
			case j == i:
				l.c.addf(x.pos, "evaluator: member %s cannot grade itself (name another member, judge or rules)", ev)
			case j >= 0:
				s.EvaluatorIndex = j
			default:
				cands := append([]string{EvaluatorJudge, EvaluatorRules}, members...)
				l.c.add(x.pos, "evaluator: "+unknown("evaluator", ev, cands, ""))
			}
		}
	}
	if x := o.get("criteria"); x != nil {
		s.Criteria = l.strings(x, "criteria")
	}
	if x := o.get("rules"); x != nil {
		s.Rules = l.rules(x)
	}
	if s.Evaluator == EvaluatorRules && len(s.Rules) == 0 && o.get("rules") == nil {
		l.c.add(o.keyPos("evaluator"), `scoring: evaluator "rules" needs a rules list`)
	}
	if x := o.get("thresholds"); x != nil {
		s.Thresholds = l.thresholds(x)
	}
	if x := o.get("onFailure"); x != nil {
		s.OnFailure, _ = l.enum(x, "onFailure", scoringOnFail)
	}
	if x := o.get("retryLimit"); x != nil {
		if n, ok := l.integer(x, "retryLimit"); ok {
			if n < 0 || n > 100 {
				l.c.addf(x.pos, "retryLimit: expected an integer between 0 and 100, got %d", n)
			}
			s.RetryLimit = int(n)
		}
	}
	if x := o.get("judge"); x != nil {
		s.Judge = l.config(x, "judge", i)
	}
	return s
}

func (l *loader) thresholds(v *yval) Thresholds {
	var t Thresholds
	o := l.object(v, "thresholds", thresholdKeys)
	if o == nil {
		return t
	}
	one := func(key string) *float64 {
		x := o.get(key)
		if x == nil {
			return nil
		}
		f, ok := l.number(x, key)
		if !ok {
			return nil
		}
		if f < 0 || f > 1 {
			l.c.addf(x.pos, "%s: expected a score between 0 and 1, got %s", key, fmtNum(f))
			return nil
		}
		return &f
	}
	t.Minimum, t.Target, t.Excellent = one("minimum"), one("target"), one("excellent")
	order := []struct {
		key string
		f   *float64
	}{{"minimum", t.Minimum}, {"target", t.Target}, {"excellent", t.Excellent}}
	for a := range order {
		for b := a + 1; b < len(order); b++ {
			if order[a].f != nil && order[b].f != nil && *order[a].f > *order[b].f {
				l.c.addf(o.keyPos(order[b].key), "thresholds: %s (%s) must not be below %s (%s)",
					order[b].key, fmtNum(*order[b].f), order[a].key, fmtNum(*order[a].f))
			}
		}
	}
	return t
}

func (l *loader) rules(v *yval) []Rule {
	if v.kind != KindList {
		l.c.addf(v.pos, "rules: expected a list of checks (e.g. - minLength: 20), got %s", describe(v))
		return nil
	}
	var out []Rule
	for i, it := range v.items {
		o := l.object(it, "rule", ruleKeys)
		if o == nil {
			continue
		}
		if len(it.entries) != 1 {
			l.c.addf(it.pos, "rules[%d]: expected exactly one check per list item (one of: %s), got %d", i, strings.Join(ruleKeys, ", "), len(it.entries))
			continue
		}
		r := Rule{Pos: it.pos}
		e := it.entries[0]
		x := e.val
		switch e.key {
		case "minLength", "maxLength":
			n, ok := l.integer(x, e.key)
			if !ok {
				continue
			}
			if n < 0 || n > math.MaxInt32 {
				l.c.addf(x.pos, "%s: expected a length of 0 or more, got %d", e.key, n)
				continue
			}
			k := int(n)
			if e.key == "minLength" {
				r.MinLength = &k
			} else {
				r.MaxLength = &k
			}
		case "contains", "notContains":
			s, ok := l.str(x, e.key)
			if !ok {
				continue
			}
			if s == "" {
				l.c.addf(x.pos, "%s: expected non-empty text", e.key)
				continue
			}
			if e.key == "contains" {
				r.Contains = s
			} else {
				r.NotContains = s
			}
		case "regex":
			s, ok := l.str(x, e.key)
			if !ok {
				continue
			}
			re, err := regexp.Compile(s)
			if err != nil {
				l.c.addf(x.pos, "regex: invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				continue
			}
			r.Regex = re
		case "json":
			b, ok := l.boolean(x, e.key)
			if !ok {
				continue
			}
			if !b {
				l.c.add(x.pos, "json: only json: true is meaningful (drop the rule otherwise)")
				continue
			}
			r.JSON = true
		case "jsonSchema":
			r.JSONSchema, r.SchemaSource = l.jsonSchema(x)
			if r.JSONSchema == nil {
				continue
			}
		default:
			continue
		}
		out = append(out, r)
	}
	return out
}

// refuseLoader keeps a rule's schema from reading files or URLs: "$ref"
// may only point inside the schema itself.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external $ref %s is not allowed", url)
}

func (l *loader) jsonSchema(x *yval) (*jsonschema.Schema, map[string]any) {
	if x.kind != KindMap {
		l.c.addf(x.pos, "jsonSchema: expected a JSON Schema object, got %s", describe(x))
		return nil, nil
	}
	if hasTemplate(x) {
		l.c.add(x.pos, "jsonSchema: expressions are not allowed in a schema")
		return nil, nil
	}
	raw := plain(x)
	sch, _, err := compileJSONSchema(raw, "urn:conductor:rule.json")
	if err != nil {
		l.c.addf(x.pos, "jsonSchema: %v", err)
		return nil, nil
	}
	m, _ := raw.(map[string]any)
	return sch, m
}

func (l *loader) retry(v *yval) *Retry {
	r := &Retry{Pos: v.pos, MaxAttempts: DefaultMaxAttempts, Backoff: BackoffExponential,
		InitialDelay: DefaultInitialDelay, MaxDelay: DefaultMaxDelay, OnFailure: OnFailureAbort}
	if v.kind == KindScalar && v.val == nil && !v.isStr {
		return r
	}
	o := l.object(v, "retry", retryKeys)
	if o == nil {
		return r
	}
	if x := o.get("maxAttempts"); x != nil {
		if n, ok := l.integer(x, "maxAttempts"); ok {
			if n < 1 || n > 100 {
				l.c.addf(x.pos, "maxAttempts: expected an integer between 1 and 100 (the first call counts), got %d", n)
			}
			r.MaxAttempts = int(n)
		}
	}
	if x := o.get("backoff"); x != nil {
		r.Backoff, _ = l.enum(x, "backoff", backoffs)
	}
	if x := o.get("initialDelay"); x != nil {
		r.InitialDelay, _ = l.duration(x, "initialDelay", time.Millisecond)
	}
	if x := o.get("maxDelay"); x != nil {
		r.MaxDelay, _ = l.duration(x, "maxDelay", time.Millisecond)
	}
	if r.InitialDelay > r.MaxDelay {
		l.c.addf(o.keyPos("maxDelay"), "retry: maxDelay (%s) must not be below initialDelay (%s)", r.MaxDelay, r.InitialDelay)
	}
	if x := o.get("onFailure"); x != nil {
		r.OnFailure, _ = l.enum(x, "onFailure", retryOnFail)
	}
	return r
}

func (l *loader) cache(v *yval) *Cache {
	ca := &Cache{Pos: v.pos, TTL: DefaultCacheTTL}
	if v.kind == KindScalar && v.val == nil && !v.isStr {
		return ca
	}
	o := l.object(v, "cache", cacheKeys)
	if o == nil {
		return ca
	}
	if x := o.get("ttl"); x != nil {
		ca.TTL, _ = l.duration(x, "ttl", time.Second)
	}
	if x := o.get("bypass"); x != nil {
		ca.Bypass, _ = l.boolean(x, "bypass")
	}
	return ca
}

// node converts v into a Node, compiling every ${...} with before, the
// index of the member that holds it. It returns nil when v itself is a
// template that does not compile (the problem is reported).
func (l *loader) node(v *yval, key string, before int) *Node {
	n := &Node{Kind: v.kind, Pos: v.pos}
	switch v.kind {
	case KindMap:
		for _, e := range v.entries {
			n.Entries = append(n.Entries, Entry{Key: e.key, KeyPos: e.keyPos, Value: l.node(e.val, e.key, before)})
		}
	case KindList:
		for _, it := range v.items {
			n.Items = append(n.Items, l.node(it, key, before))
		}
	default:
		n.Lit = v.val
		if v.isStr && strings.Contains(v.text, "${") {
			names := l.names
			if names == nil {
				names = expr.NewNames(nil)
			}
			t, err := expr.ParseTemplate(v.text, names, before)
			if err != nil {
				l.exprError(v, key, err)
				return nil
			}
			n.Tmpl = t
			n.Lit = nil
		}
	}
	return n
}

// exprError reports an expression's compile error at its place in the
// file.
func (l *loader) exprError(v *yval, key string, err error) {
	var ee *expr.Error
	if errors.As(err, &ee) && v.at != nil {
		msg := ee.Msg
		if l.evaluating {
			// "member a runs later than this one", "member a cannot refer
			// to its own result": said of an evaluator, the reason differs.
			for _, cut := range []string{" runs later than this one", " cannot refer to its own result"} {
				if ref, _, ok := strings.Cut(msg, cut); ok {
					msg = ref + " has no result yet when this evaluator member runs (right after each answer it grades): read the answer it grades as ${answer}"
					break
				}
			}
		}
		l.c.addf(v.at(ee.Offset), "%s: %s", key, msg)
		return
	}
	l.c.addf(v.pos, "%s: %v", key, err)
}

// Shapes a literal value must have where a template is also allowed.
type shape int

const (
	shapeString shape = iota
	shapeNumber
	shapeInt
	shapeStrings // a string or a list of strings
	shapeMap
)

// shaped converts v into a Node and checks a literal's shape; a template
// is checked when it runs. Literal numbers are normalised: float64 for
// shapeNumber, int64 for shapeInt.
func (l *loader) shaped(v *yval, key string, before int, want shape) *Node {
	if v == nil {
		return nil
	}
	n := l.node(v, key, before)
	if n == nil || n.Tmpl != nil {
		return n
	}
	bad := func(what string) *Node {
		l.c.addf(v.pos, "%s: expected %s, got %s", key, what, describe(v))
		return nil
	}
	switch want {
	case shapeString:
		if n.Kind != KindScalar || !v.isStr {
			return bad("a string")
		}
	case shapeNumber:
		switch x := n.Lit.(type) {
		case int64:
			n.Lit = float64(x)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return bad("a finite number")
			}
		default:
			return bad("a number")
		}
		if n.Kind != KindScalar {
			return bad("a number")
		}
	case shapeInt:
		if _, ok := n.Lit.(int64); !ok || n.Kind != KindScalar {
			return bad("an integer")
		}
	case shapeStrings:
		switch n.Kind {
		case KindScalar:
			if !v.isStr {
				return bad("a string or a list of strings")
			}
		case KindList:
			for j, it := range v.items {
				if it.kind != KindScalar || !it.isStr {
					l.c.addf(it.pos, "%s[%d]: expected a string, got %s", key, j, describe(it))
					return nil
				}
			}
		default:
			return bad("a string or a list of strings")
		}
	case shapeMap:
		if n.Kind != KindMap {
			return bad("a map (e.g. {type: json_object})")
		}
	}
	return n
}

// enumNode is shaped(shapeString) plus, for a literal, membership in
// names.
func (l *loader) enumNode(v *yval, key string, before int, names []string) *Node {
	n := l.shaped(v, key, before, shapeString)
	if n == nil || n.Tmpl != nil {
		return n
	}
	s, _ := n.Lit.(string)
	if !slices.Contains(names, s) {
		l.c.add(v.pos, key+": "+unknown(key, s, names, ""))
		return nil
	}
	return n
}

// noTemplate reports a ${...} where only literal values are allowed.
func (l *loader) noTemplate(v *yval, key string) bool {
	if v.isStr && strings.Contains(v.text, "${") {
		l.c.addf(v.pos, "%s: expressions are not allowed here (expected a literal value)", key)
		return false
	}
	return true
}

func (l *loader) str(v *yval, key string) (string, bool) {
	if v.kind != KindScalar || !v.isStr {
		l.c.addf(v.pos, "%s: expected a string, got %s", key, describe(v))
		return "", false
	}
	if key != "replies" && key != "reply" && !l.noTemplate(v, key) {
		return "", false
	}
	return v.text, true
}

func (l *loader) strings(v *yval, key string) []string {
	if v.kind == KindScalar {
		s, ok := l.str(v, key)
		if !ok {
			return nil
		}
		return []string{s}
	}
	if v.kind != KindList {
		l.c.addf(v.pos, "%s: expected a list of strings, got %s", key, describe(v))
		return nil
	}
	var out []string
	for _, it := range v.items {
		if s, ok := l.str(it, key); ok {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) enum(v *yval, key string, names []string) (string, bool) {
	s, ok := l.str(v, key)
	if !ok {
		return names[0], false
	}
	if !slices.Contains(names, s) {
		l.c.add(v.pos, key+": "+unknown("value", s, names, ""))
		return names[0], false
	}
	return s, true
}

func (l *loader) integer(v *yval, key string) (int64, bool) {
	if !l.noTemplate(v, key) {
		return 0, false
	}
	n, ok := v.val.(int64)
	if v.kind != KindScalar || v.isStr || !ok {
		l.c.addf(v.pos, "%s: expected an integer, got %s", key, describe(v))
		return 0, false
	}
	return n, true
}

func (l *loader) number(v *yval, key string) (float64, bool) {
	if !l.noTemplate(v, key) {
		return 0, false
	}
	if v.kind == KindScalar && !v.isStr {
		switch x := v.val.(type) {
		case int64:
			return float64(x), true
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				return x, true
			}
		}
	}
	l.c.addf(v.pos, "%s: expected a number, got %s", key, describe(v))
	return 0, false
}

func (l *loader) boolean(v *yval, key string) (bool, bool) {
	if b, ok := v.val.(bool); ok && v.kind == KindScalar {
		return b, true
	}
	l.c.addf(v.pos, "%s: expected true or false, got %s", key, describe(v))
	return false, false
}

// duration reads a duration string ("500ms", "2s", "1h") or a bare
// integer counted in unit (milliseconds for delays, seconds for a TTL).
func (l *loader) duration(v *yval, key string, unit time.Duration) (time.Duration, bool) {
	unitName := map[time.Duration]string{time.Millisecond: "milliseconds", time.Second: "seconds"}[unit]
	if v.kind == KindScalar && !v.isStr {
		if n, ok := v.val.(int64); ok {
			if n < 0 || n > int64(math.MaxInt64/unit) {
				l.c.addf(v.pos, "%s: expected a duration of 0 or more, got %d", key, n)
				return 0, false
			}
			return time.Duration(n) * unit, true
		}
	}
	if v.kind == KindScalar && v.isStr && l.noTemplate(v, key) {
		d, err := time.ParseDuration(strings.TrimSpace(v.text))
		if err == nil && d >= 0 {
			return d, true
		}
	} else if v.isStr {
		return 0, false
	}
	l.c.addf(v.pos, "%s: expected a duration (\"500ms\", \"2s\", \"1h\") or integer %s, got %s", key, unitName, describe(v))
	return 0, false
}

// describe says what a value is, for "expected X, got Y".
func describe(v *yval) string {
	switch v.kind {
	case KindMap:
		return "a map"
	case KindList:
		return "a list"
	}
	if v.isStr {
		s := v.text
		if r := []rune(s); len(r) > 40 {
			s = string(r[:40]) + "…"
		}
		return fmt.Sprintf("a string (%q)", s)
	}
	if v.bigInt {
		return v.text + " (beyond the integer range)"
	}
	switch x := v.val.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case int64:
		return fmt.Sprintf("an integer (%d)", x)
	case float64:
		return fmt.Sprintf("a number (%s)", fmtNum(x))
	}
	return fmt.Sprintf("%v", v.val)
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// schemaErr shortens a schema compile error to its leaf causes: the
// library's full message nests every anyOf/allOf branch.
func schemaErr(err error) string {
	var sve *jsonschema.SchemaValidationError
	if errors.As(err, &sve) {
		err = sve.Err // it has no Unwrap
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return oneLine(err.Error())
	}
	p := message.NewPrinter(language.English)
	var leaves []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, fmt.Sprintf("at '/%s': %s", strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(p)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return oneLine(strings.Join(leaves, "; "))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func hasTemplate(v *yval) bool {
	if v.isStr && strings.Contains(v.text, "${") {
		return true
	}
	for _, e := range v.entries {
		if hasTemplate(e.val) {
			return true
		}
	}
	return slices.ContainsFunc(v.items, hasTemplate)
}

// plain converts a literal yval into JSON-like Go values.
func plain(v *yval) any {
	switch v.kind {
	case KindMap:
		m := make(map[string]any, len(v.entries))
		for _, e := range v.entries {
			m[e.key] = plain(e.val)
		}
		return m
	case KindList:
		l := make([]any, len(v.items))
		for i, it := range v.items {
			l[i] = plain(it)
		}
		return l
	}
	return v.val
}
