package provider

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// MockModel is the model name the mock reports when a request names none.
const MockModel = "mock"

// MetaRole is the CallOptions.Metadata key a caller sets to say what a call
// is for; RoleJudge marks a scoring judge call, which the mock answers with a
// score instead of its configured reply.
const (
	MetaRole  = "role"
	RoleJudge = "judge"
)

// MockConfig says how a Mock answers. The zero value echoes the last user
// message at once and never fails.
//
// A request with tools gets a tool call instead of text when its tool
// choice forces one (required: the first tool whose name the last user
// message contains, else the first tool; a named tool: that one), or, with
// tool choice auto or unset, when the last user message contains a tool's
// name (the first such tool in the request's order). Tool choice none
// always gets text. The call's arguments are the configured reply (Replies,
// else Reply) when it is a JSON object, with every required property the
// tool's parameters schema lists and the reply lacks filled in: its const,
// default, first enum or first example value, else by type — a string its
// property's name, a number or integer its minimum (0 when none), a boolean
// false, an object its own required properties, an array its minItems
// items, null null. The call's id is "call_mock_" + the tool's name, and
// the finish reason tool_calls.
type MockConfig struct {
	// Reply is the answer to every call that no entry of Replies matches.
	// Empty (and Echo false): the last user message is echoed.
	Reply string
	// Replies answer by prompt (the last user message), in order: the first
	// entry whose Match equals the prompt wins, else the first whose Match
	// is a substring of it; no match falls back to Reply, else echo.
	Replies []MockReply
	// Echo answers with the last user message, even when Reply is set.
	Echo bool
	// Latency is waited before answering (and before a stream's first chunk).
	Latency time.Duration
	// FailTimes and FailStatus inject failures: the first FailTimes calls
	// (every call when negative) fail with a *conductor.Error of the class
	// for FailStatus (503 when 0), retryable as conductor.ClassForStatus
	// says.
	FailTimes  int
	FailStatus int
	// FailMessage is the injected error's message ("mock failure" when empty).
	FailMessage string
	// RetryAfter is put on injected failures, as a provider's Retry-After.
	RetryAfter time.Duration
	// Score is the judge score the mock answers to a judge call (1.0 when nil).
	Score *float64
}

// MockReply is one entry of MockConfig.Replies.
type MockReply struct {
	Match string
	Text  string
}

// Mock is the built-in test provider: deterministic answers, optional
// latency and injected failures, and token usage counted locally. It is safe
// for concurrent use; its failure count is shared by every call to one Mock.
type Mock struct {
	cfg MockConfig

	mu    sync.Mutex
	calls int
}

// NewMock returns a Mock answering as cfg says.
func NewMock(cfg MockConfig) *Mock {
	return &Mock{cfg: cfg}
}

// Calls reports how many calls the mock has received, failed ones included.
func (m *Mock) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Chat answers req after the configured latency, or fails as configured.
func (m *Mock) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	n, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	call, err := m.toolCall(req)
	if err != nil {
		return nil, err
	}
	if call != nil {
		return &conductor.ChatResponse{
			ID:           "mock-" + strconv.Itoa(n),
			Model:        modelOf(req),
			Content:      []conductor.Block{{Type: conductor.BlockToolCall, ToolCall: call}},
			FinishReason: conductor.FinishToolCalls,
			Usage:        MockUsage(req.Messages, call.Name+call.Arguments),
			Meta:         conductor.ResponseMeta{Provider: conductor.ProviderMock, Attempts: 1},
		}, nil
	}
	text := m.answer(req)
	return &conductor.ChatResponse{
		ID:           "mock-" + strconv.Itoa(n),
		Model:        modelOf(req),
		Content:      conductor.Texts(text),
		FinishReason: "stop",
		Usage:        MockUsage(req.Messages, text),
		Meta:         conductor.ResponseMeta{Provider: conductor.ProviderMock, Attempts: 1},
	}, nil
}

// Stream answers req as a stream of one chunk per word (each with the
// whitespace before it); the last chunk carries the finish reason and usage.
func (m *Mock) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	if _, err := m.begin(ctx); err != nil {
		return nil, err
	}
	call, err := m.toolCall(req)
	if err != nil {
		return nil, err
	}
	if call != nil {
		// As OpenAI streams a call: its id and name with no arguments, then
		// the arguments.
		return &mockStream{
			ctx: ctx,
			tools: []conductor.ToolCallDelta{
				{Index: 0, ID: call.ID, Name: call.Name},
				{Index: 0, Arguments: call.Arguments},
			},
			finish: conductor.FinishToolCalls,
			usage:  MockUsage(req.Messages, call.Name+call.Arguments),
		}, nil
	}
	text := m.answer(req)
	return &mockStream{
		ctx:    ctx,
		chunks: splitWords(text),
		usage:  MockUsage(req.Messages, text),
	}, nil
}

// begin counts the call, injects a failure when one is due and waits the
// latency; it returns the call's number from 1.
func (m *Mock) begin(ctx context.Context) (int, error) {
	m.mu.Lock()
	m.calls++
	n := m.calls
	m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return n, canceled(err)
	}
	if m.cfg.Latency > 0 {
		// A timer rather than time.Sleep, so cancellation ends the wait and
		// testing/synctest can fake the clock.
		t := time.NewTimer(m.cfg.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, canceled(ctx.Err())
		case <-t.C:
		}
	}
	if m.cfg.FailTimes < 0 || n <= m.cfg.FailTimes {
		status := m.cfg.FailStatus
		if status == 0 {
			status = 503
		}
		msg := m.cfg.FailMessage
		if msg == "" {
			msg = "mock failure"
		}
		class, retryable := conductor.ClassForStatus(status)
		return n, &conductor.Error{
			Provider:   conductor.ProviderMock,
			Class:      class,
			Status:     status,
			Message:    fmt.Sprintf("%s (test provider, call %d)", msg, n),
			Retryable:  retryable,
			RetryAfter: m.cfg.RetryAfter,
		}
	}
	return n, nil
}

func canceled(err error) error {
	return &conductor.Error{Provider: conductor.ProviderMock, Class: conductor.ClassCanceled, Message: err.Error(), Err: err}
}

func modelOf(req *conductor.ChatRequest) string {
	if req.Model != "" {
		return req.Model
	}
	return MockModel
}

// answer picks the reply text for req.
func (m *Mock) answer(req *conductor.ChatRequest) string {
	if req.Options.Metadata[MetaRole] == RoleJudge {
		score := 1.0
		if m.cfg.Score != nil {
			score = *m.cfg.Score
		}
		return `{"score": ` + strconv.FormatFloat(score, 'g', -1, 64) + `, "reason": "scored by the mock judge (test provider)"}`
	}
	prompt := lastUser(req.Messages)
	if m.cfg.Echo {
		return prompt
	}
	if text, ok := m.configured(prompt); ok {
		return text
	}
	return prompt
}

// configured is the configured reply to prompt: the Replies entry it
// matches, else Reply.
func (m *Mock) configured(prompt string) (string, bool) {
	for _, r := range m.cfg.Replies {
		if r.Match == prompt {
			return r.Text, true
		}
	}
	for _, r := range m.cfg.Replies {
		if strings.Contains(prompt, r.Match) {
			return r.Text, true
		}
	}
	return m.cfg.Reply, m.cfg.Reply != ""
}

// toolCall is the tool call the mock answers req with (see MockConfig), or
// nil for a text answer.
func (m *Mock) toolCall(req *conductor.ChatRequest) (*conductor.ToolCall, error) {
	if len(req.Tools) == 0 || req.Options.Metadata[MetaRole] == RoleJudge {
		return nil, nil
	}
	prompt := lastUser(req.Messages)
	named := -1
	for i, t := range req.Tools {
		if t.Name != "" && strings.Contains(prompt, t.Name) {
			named = i
			break
		}
	}
	mode := conductor.ToolChoiceAuto
	if req.ToolChoice != nil && req.ToolChoice.Mode != "" {
		mode = req.ToolChoice.Mode
	}
	var tool *conductor.Tool
	switch mode {
	case conductor.ToolChoiceNone:
		return nil, nil
	case conductor.ToolChoiceTool:
		for i := range req.Tools {
			if req.Tools[i].Name == req.ToolChoice.Name {
				tool = &req.Tools[i]
			}
		}
		if tool == nil {
			return nil, &conductor.Error{Provider: conductor.ProviderMock, Class: conductor.ClassBadRequest, Status: 400,
				Message: fmt.Sprintf("tool_choice: tool %q is not among the request's tools (test provider)", req.ToolChoice.Name)}
		}
	case conductor.ToolChoiceRequired:
		tool = &req.Tools[max(named, 0)]
	default:
		if named < 0 {
			return nil, nil
		}
		tool = &req.Tools[named]
	}
	args := map[string]any{}
	if text, ok := m.configured(prompt); ok {
		var obj map[string]any
		if wire.Unmarshal([]byte(text), &obj) == nil && obj != nil {
			args = obj
		}
	}
	var schema map[string]any
	if len(tool.Parameters) > 0 {
		if err := wire.Unmarshal(tool.Parameters, &schema); err != nil {
			return nil, &conductor.Error{Provider: conductor.ProviderMock, Class: conductor.ClassBadRequest, Status: 400,
				Message: fmt.Sprintf("tools[%s].parameters: not a JSON object (test provider)", tool.Name)}
		}
	}
	fillRequired(args, schema, 0)
	b, err := wire.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("mock tool call %s: %w", tool.Name, err)
	}
	return &conductor.ToolCall{ID: "call_mock_" + tool.Name, Name: tool.Name, Arguments: string(b)}, nil
}

// fillRequired adds to obj a value for each required property of the
// object schema that obj lacks.
func fillRequired(obj map[string]any, schema map[string]any, depth int) {
	props, _ := schema["properties"].(map[string]any)
	req, _ := schema["required"].([]any)
	for _, r := range req {
		name, ok := r.(string)
		if !ok {
			continue
		}
		if _, has := obj[name]; has {
			continue
		}
		ps, _ := props[name].(map[string]any)
		obj[name] = sampleValue(name, ps, depth+1)
	}
}

// sampleValue is a value the property schema s accepts, deterministic: see
// MockConfig.
func sampleValue(name string, s map[string]any, depth int) any {
	if v, ok := s["const"]; ok {
		return v
	}
	if v, ok := s["default"]; ok {
		return v
	}
	for _, key := range []string{"enum", "examples"} {
		if l, ok := s[key].([]any); ok && len(l) > 0 {
			return l[0]
		}
	}
	typ, _ := s["type"].(string)
	if l, ok := s["type"].([]any); ok {
		for _, t := range l {
			if t, ok := t.(string); ok && t != "null" {
				typ = t
				break
			}
		}
	}
	switch typ {
	case "string":
		return name
	case "integer", "number":
		if v, ok := s["minimum"].(float64); ok {
			if typ == "integer" {
				return math.Ceil(v)
			}
			return v
		}
		if v, ok := s["exclusiveMinimum"].(float64); ok {
			return math.Floor(v) + 1
		}
		return 0
	case "boolean":
		return false
	case "object":
		obj := map[string]any{}
		if depth < 8 {
			fillRequired(obj, s, depth)
		}
		return obj
	case "array":
		out := []any{}
		n, _ := s["minItems"].(float64)
		items, _ := s["items"].(map[string]any)
		for i := 0; i < int(n) && i < 16 && depth < 8; i++ {
			out = append(out, sampleValue(name, items, depth+1))
		}
		return out
	}
	return nil
}

func lastUser(msgs []conductor.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Text()
		}
	}
	return ""
}

// MockUsage counts tokens the way the mock bills them: one token per four
// characters (rounded up) of each message and of the answer, plus four
// tokens of framing per message — close enough to a real tokenizer for cost
// figures to look plausible, and fully deterministic. Not estimated: the
// mock is the provider, so its count is the real one.
func MockUsage(msgs []conductor.Message, answer string) conductor.Usage {
	in := 0
	for _, m := range msgs {
		in += 4 + tokens(m.Text())
	}
	return conductor.Usage{InputTokens: in, OutputTokens: tokens(answer)}
}

func tokens(s string) int {
	return (utf8.RuneCountInString(s) + 3) / 4
}

// splitWords cuts s before each run of whitespace that follows a word, so
// joining the pieces gives s back.
func splitWords(s string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if space && inWord {
			out = append(out, s[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(s) || len(out) == 0 {
		out = append(out, s[start:])
	}
	return out
}

// mockStream sends its text chunks, or its tool-call pieces, then the
// finish reason (stop when unset) with the usage.
type mockStream struct {
	ctx    context.Context
	chunks []string
	tools  []conductor.ToolCallDelta
	finish string
	next   int
	usage  conductor.Usage
	closed bool
}

func (s *mockStream) Next() (conductor.Chunk, error) {
	n := len(s.chunks) + len(s.tools)
	if s.closed || s.next > n {
		return conductor.Chunk{}, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		return conductor.Chunk{}, canceled(err)
	}
	i := s.next
	s.next++
	switch {
	case i == n:
		u := s.usage
		return conductor.Chunk{FinishReason: cmp.Or(s.finish, conductor.FinishStop), Usage: &u}, nil
	case i < len(s.chunks):
		return conductor.Chunk{Delta: s.chunks[i]}, nil
	}
	return conductor.Chunk{ToolCalls: []conductor.ToolCallDelta{s.tools[i-len(s.chunks)]}}, nil
}

func (s *mockStream) Meta() conductor.ResponseMeta {
	return conductor.ResponseMeta{Provider: conductor.ProviderMock, Attempts: 1}
}

func (s *mockStream) Close() error {
	s.closed = true
	return nil
}
