package provider

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
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
	for _, r := range m.cfg.Replies {
		if r.Match == prompt {
			return r.Text
		}
	}
	for _, r := range m.cfg.Replies {
		if strings.Contains(prompt, r.Match) {
			return r.Text
		}
	}
	if m.cfg.Reply != "" {
		return m.cfg.Reply
	}
	return prompt
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

type mockStream struct {
	ctx    context.Context
	chunks []string
	next   int
	usage  conductor.Usage
	closed bool
}

func (s *mockStream) Next() (conductor.Chunk, error) {
	if s.closed || s.next > len(s.chunks) {
		return conductor.Chunk{}, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		return conductor.Chunk{}, canceled(err)
	}
	if s.next == len(s.chunks) {
		s.next++
		u := s.usage
		return conductor.Chunk{FinishReason: "stop", Usage: &u}, nil
	}
	c := conductor.Chunk{Delta: s.chunks[s.next]}
	s.next++
	return c, nil
}

func (s *mockStream) Meta() conductor.ResponseMeta {
	return conductor.ResponseMeta{Provider: conductor.ProviderMock, Attempts: 1}
}

func (s *mockStream) Close() error {
	s.closed = true
	return nil
}
