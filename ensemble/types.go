// Package ensemble loads and validates ensemble files: the YAML format of
// the product page, where a flow of members (type Think) each call a model
// through a provider and a routing mode, and any value may be a ${...}
// expression over input, env and earlier members' results.
//
// Load and Parse return a checked *Ensemble whose every expression is
// already compiled (package expr), or a List of every problem found, each
// as "file:line:col: message". The engine runs what Load returns and never
// needs to re-check the shape.
package ensemble

import (
	"regexp"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/expr"
)

// Member types. Think (a model call) is the only one for now; the page
// spells it with a capital T.
const TypeThink = "Think"

// Scoring evaluators that are not member names.
const (
	EvaluatorJudge = "judge" // a model grades the output against Criteria (default)
	EvaluatorRules = "rules" // Rules are checked; the score is the fraction that pass
)

// OnFailure values. Scoring accepts all three; Retry accepts abort and
// continue.
const (
	OnFailureAbort    = "abort"    // the run fails (default)
	OnFailureContinue = "continue" // the member is marked failed, the flow goes on
	OnFailureRetry    = "retry"    // scoring only: call the member again, up to RetryLimit
)

// Backoff shapes for Retry.
const (
	BackoffExponential = "exponential" // InitialDelay * 2^(attempt-1), capped at MaxDelay (default)
	BackoffLinear      = "linear"      // InitialDelay * attempt, capped at MaxDelay
	BackoffFixed       = "fixed"       // InitialDelay every time
)

// Defaults filled in at load time, so the engine never guesses.
const (
	DefaultMaxAttempts  = 3
	DefaultInitialDelay = 500 * time.Millisecond
	DefaultMaxDelay     = 30 * time.Second
	DefaultRetryLimit   = 2 // scoring onFailure: retry, extra calls after the first
)

// Ensemble is one loaded, checked ensemble file.
type Ensemble struct {
	// Name identifies the ensemble (required; used in logs, metadata and
	// cache scopes).
	Name string
	// Description is free text for people.
	Description string
	// Flow is the members in the order they run; Flow[i].Index == i.
	Flow []*Step
	// Output shapes the ensemble's result from the members' results; its
	// templates may refer to every member. nil: the result is the output of
	// the last member that ran.
	Output *Node
	// File is the path the ensemble was loaded from, for messages.
	File string
	// Names is the member name table the expressions were compiled against;
	// Names.Members[i] == Flow[i].Member.
	Names *expr.Names
}

// Pos is a 1-based position in the file. Col counts characters (runes), as
// the YAML parser does; a zero Pos means "unknown".
type Pos struct {
	Line, Col int
}

// Step is one member of the flow.
type Step struct {
	// Member is the member's name, unique in the ensemble; expressions refer
	// to its results as <member>.output, <member>.success,
	// <member>.scoring.score.
	Member string
	// Type is the member type; always TypeThink today. The page's later
	// examples omit it, so it defaults to Think.
	Type string
	// Index is the member's position in Flow.
	Index int
	// Pos is where the member's mapping starts (its "member" key).
	Pos Pos
	// Condition, when non-nil, is evaluated before the member runs; a falsy
	// value (false, null, 0, "", NaN — JavaScript truthiness, see
	// Truthy) skips the member, which then has success=false and
	// skipped=true.
	Condition *Node
	// Config says which model to call and how.
	Config *ThinkConfig
	// Input, when non-nil, is the value the member works on (rendered and
	// exposed to the prompt as the member's input); nil: the ensemble's
	// input.
	Input *Node
	// Scoring, when non-nil, grades the member's output.
	Scoring *Scoring
	// Retry, when non-nil, retries the member's call on failure; nil: no
	// member-level retries (the route may still retry: the gateway does).
	Retry *Retry
	// Cache, when non-nil, sets the member's step cache; nil: the engine's
	// default.
	Cache *Cache
	// Grades lists, in flow order, the members that name this one as
	// their scoring.evaluator. Such an evaluator member does not run at
	// its place in the flow: it runs right after each answer it grades,
	// its expressions reading that answer as ${answer} (AnswerName) and
	// the graded member's input as ${input}, and its output is the score.
	Grades []int
}

// ThinkConfig is a Think member's model call. Every field is a *Node so any
// value may be a ${...} template; nil means the key was absent. After load,
// a literal Provider/Routing is a known name, a literal Temperature/TopP is a
// number, a literal MaxTokens/Seed an integer, and Stop a string or list
// of strings.
type ThinkConfig struct {
	// Pos is where the config mapping starts.
	Pos Pos
	// Provider names the provider (conductor.Providers()). Never nil after
	// load: an absent provider is filled with DefaultProvider (workers-ai).
	Provider *Node
	// Model is the provider's model id, required (literal or template) for
	// every provider but mock and workers-ai; for workers-ai an absent model
	// is filled with DefaultModel at load. nil only under provider mock.
	Model *Node
	// Routing is the routing mode (conductor.RoutingModes()); nil: the
	// engine applies conductor.DefaultRouting(provider) at run time (it is
	// not filled at load because Provider may be a template).
	Routing     *Node
	Temperature *Node // number
	MaxTokens   *Node // integer > 0
	TopP        *Node // number in 0..1
	Stop        *Node // string or list of strings
	Seed        *Node // integer
	// ResponseFormat is OpenAI's response_format object, e.g.
	// {type: json_object} or {type: json_schema, json_schema: {name,
	// schema}}; ResponseFormatOf converts its value (checked at load when
	// literal).
	ResponseFormat *Node
	// Tools are the functions the model may call, as written (no
	// expressions): names unique, parameters a JSON Schema of an object.
	// ToolsPos is where the list starts.
	Tools    []conductor.Tool
	ToolsPos Pos
	// ToolChoice is auto, none, required or {name: <tool>}; ToolChoiceOf
	// converts its value (checked at load when literal). It needs Tools.
	ToolChoice *Node
	// SystemPrompt is the system message; Prompt the user message. When
	// Prompt is nil the engine sends the member's input (Input, else the
	// ensemble input) as the user message.
	SystemPrompt *Node
	Prompt       *Node
	// Mock configures provider "mock" (ignored by other providers); nil
	// under mock: the mock echoes the prompt.
	Mock *Mock
}

// Mock is the mock provider's behaviour, for tests and offline runs. Reply
// and Replies combine (Reply answers what no entry matches); Echo excludes
// both (checked at load). Nothing set: the mock echoes.
type Mock struct {
	Pos Pos
	// Reply is the answer to every call.
	Reply string
	// Replies answers by prompt, in file order: the engine picks the first
	// entry whose Match equals the user prompt, else the first whose Match is
	// a substring of it; no match falls back to Reply, else echo.
	Replies []MockReply
	// Echo answers with the user prompt itself.
	Echo bool
	// Latency is how long each call takes (YAML "50ms" or integer ms).
	Latency time.Duration
	// Fail, when non-nil, makes the first Fail.Times calls fail.
	Fail *MockFail
	// Score is what a judge call answers when this mock is the judge
	// (scoring.judge with provider mock, or a mock member judged by itself);
	// nil: 1.
	Score *float64
}

// MockReply is one entry of Mock.Replies.
type MockReply struct {
	Match string
	Text  string
}

// MockFail makes a mock fail like a provider would.
type MockFail struct {
	// Status is the HTTP status reported (default 503).
	Status int
	// Times is how many calls fail before the mock answers (default 1;
	// -1: every call).
	Times int
	// Message is the error message (default "mock failure").
	Message string
	// RetryAfter is reported with each failure, as a provider's
	// Retry-After (YAML: duration string or integer seconds); 0: none.
	RetryAfter time.Duration
}

// Scoring grades a member's output with a score in 0..1.
type Scoring struct {
	Pos Pos
	// Evaluator is EvaluatorJudge (default), EvaluatorRules, or the name of
	// another member of the flow (an evaluator member, see Step.Grades),
	// run after each answer to grade: its output (a number in 0..1, or an
	// object with a numeric "score") is the score.
	Evaluator string
	// EvaluatorIndex is the flow index of the member Evaluator names, -1
	// for judge and rules.
	EvaluatorIndex int
	// Criteria are what a judge grades against (plain sentences).
	Criteria []string
	// Rules are the checks for EvaluatorRules (also applied, when present,
	// before a judge: a failed rule caps the score at 0).
	Rules []Rule
	// Thresholds grade the score; Minimum decides pass/fail.
	Thresholds Thresholds
	// OnFailure is what a score below Minimum does: OnFailureAbort
	// (default), OnFailureContinue, or OnFailureRetry.
	OnFailure string
	// RetryLimit bounds the extra calls of OnFailureRetry (default
	// DefaultRetryLimit).
	RetryLimit int
	// Judge is the judge's own model call (provider, model, routing,
	// mock…); nil: the member's own config.
	Judge *ThinkConfig
}

// Thresholds are score levels in 0..1; nil means unset. Unset Minimum: the
// score never fails the member.
type Thresholds struct {
	Minimum, Target, Excellent *float64
}

// Rule is one check of the output; exactly one field is set per rule
// (YAML: one key per list item, e.g. rules: [{minLength: 20}, {json: true}]).
type Rule struct {
	Pos         Pos
	MinLength   *int           // at least this many characters (runes)
	MaxLength   *int           // at most this many characters (runes)
	Contains    string         // the output contains this text
	NotContains string         // the output does not contain this text
	Regex       *regexp.Regexp // the output matches (compiled at load)
	JSON        bool           // the output is valid JSON
	// JSONSchema, when non-nil, the output is JSON valid against it
	// (compiled at load; SchemaSource is the schema as written).
	JSONSchema   *jsonschema.Schema
	SchemaSource map[string]any
}

// Retry retries a member's failed call.
type Retry struct {
	Pos Pos
	// MaxAttempts counts the first call (default DefaultMaxAttempts; 1 means
	// no retry).
	MaxAttempts int
	// Backoff is BackoffExponential (default), BackoffLinear or BackoffFixed.
	Backoff string
	// InitialDelay and MaxDelay bound the wait between attempts (YAML: a
	// duration string "500ms"/"2s" or integer milliseconds; defaults
	// DefaultInitialDelay, DefaultMaxDelay).
	InitialDelay, MaxDelay time.Duration
	// OnFailure is what happens when every attempt failed: OnFailureAbort
	// (default) fails the run; OnFailureContinue marks the member failed
	// (success=false) and goes on.
	OnFailure string
}

// Cache is a member's step cache.
type Cache struct {
	Pos Pos
	// TTL is how long an answer is kept (YAML: integer seconds, as the page
	// writes ttl: 3600, or a duration string "1h"; default DefaultCacheTTL
	// when the block omits it). 0: do not cache.
	TTL time.Duration
	// Bypass skips the cache read; the fresh answer is still written.
	Bypass bool
}

// NodeKind says what a Node holds.
type NodeKind int

// Node kinds.
const (
	KindScalar NodeKind = iota
	KindMap
	KindList
)

// Node is a YAML value whose scalars may be ${...} templates.
type Node struct {
	Kind NodeKind
	Pos  Pos
	// Lit is a literal scalar's value: string, int64 (integers), float64,
	// bool or nil (null). Unused when Tmpl is set.
	Lit any
	// Tmpl is non-nil when the scalar holds "${": a whole "${x}" yields x's
	// value as is; text around expressions yields a string.
	Tmpl *expr.Template
	// Entries are a map's key/value pairs in file order.
	Entries []Entry
	// Items are a list's elements.
	Items []*Node
}

// Entry is one key/value pair of a map Node.
type Entry struct {
	Key    string
	KeyPos Pos
	Value  *Node
}
