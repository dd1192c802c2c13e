package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/conductor-go/conductor/provider"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

func userReq(content string) *conductor.ChatRequest {
	return &conductor.ChatRequest{
		Provider: conductor.ProviderMock,
		Messages: []conductor.Message{
			conductor.TextMessage("system", "Be brief."),
			conductor.TextMessage("user", content),
		},
	}
}

func TestMockReplies(t *testing.T) {
	half := 0.5
	tests := []struct {
		name string
		cfg  provider.MockConfig
		req  *conductor.ChatRequest
		want string
	}{
		{"zero value echoes", provider.MockConfig{}, userReq("hello there"), "hello there"},
		{"fixed reply", provider.MockConfig{Reply: "fixed"}, userReq("anything"), "fixed"},
		{"echo wins over reply", provider.MockConfig{Reply: "fixed", Echo: true}, userReq("say this"), "say this"},
		{"per input substring", provider.MockConfig{Reply: "default", Replies: []provider.MockReply{{"refund", "complaint"}}}, userReq("I want a refund now"), "complaint"},
		{"per input no match falls back to reply", provider.MockConfig{Reply: "default", Replies: []provider.MockReply{{"refund", "complaint"}}}, userReq("hi"), "default"},
		{"per input no match no reply echoes", provider.MockConfig{Replies: []provider.MockReply{{"refund", "complaint"}}}, userReq("hi"), "hi"},
		{"system prompt is not the prompt", provider.MockConfig{Replies: []provider.MockReply{{"brief", "ok"}}}, userReq("x"), "x"},
		{"first substring in order wins", provider.MockConfig{Replies: []provider.MockReply{{"a", "first"}, {"abc", "second"}}}, userReq("xabcx"), "first"},
		{"exact match beats earlier substring", provider.MockConfig{Replies: []provider.MockReply{{"ab", "sub"}, {"abc", "exact"}}}, userReq("abc"), "exact"},
		{"judge call default score", provider.MockConfig{Reply: "not this"}, judgeReq(), `{"score": 1, "reason": "scored by the mock judge (test provider)"}`},
		{"judge call configured score", provider.MockConfig{Score: &half}, judgeReq(), `{"score": 0.5, "reason": "scored by the mock judge (test provider)"}`},
		{"no user message echoes empty", provider.MockConfig{}, &conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("system", "s")}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := provider.NewMock(tc.cfg)
			resp, err := m.Chat(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text() != tc.want {
				t.Errorf("content = %q, want %q", resp.Text(), tc.want)
			}
			if resp.Meta.Provider != conductor.ProviderMock || resp.Usage.Estimated {
				t.Errorf("meta/usage = %+v %+v", resp.Meta, resp.Usage)
			}
			if resp.Model != provider.MockModel {
				t.Errorf("model = %q, want %q", resp.Model, provider.MockModel)
			}
		})
	}
}

func judgeReq() *conductor.ChatRequest {
	r := userReq("rate this")
	r.Options.Metadata = map[string]string{provider.MetaRole: provider.RoleJudge}
	return r
}

func TestMockJudgeAnswerIsJSON(t *testing.T) {
	resp, err := provider.NewMock(provider.MockConfig{}).Chat(context.Background(), judgeReq())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Score  float64 `json:"score"`
		Reason string  `json:"reason"`
	}
	if err := json.Unmarshal([]byte(resp.Text()), &v); err != nil || v.Score != 1 {
		t.Fatalf("judge answer %q: %v %+v", resp.Text(), err, v)
	}
}

func TestMockUsage(t *testing.T) {
	tests := []struct {
		name    string
		msgs    []conductor.Message
		answer  string
		wantIn  int
		wantOut int
	}{
		{"empty", nil, "", 0, 0},
		{"one message", []conductor.Message{conductor.TextMessage("user", "abcd")}, "abcde", 5, 2},
		{"two messages", []conductor.Message{conductor.TextMessage("system", "a"), conductor.TextMessage("user", "abcdefgh")}, "x", 4 + 1 + 4 + 2, 1},
		{"runes not bytes", []conductor.Message{conductor.TextMessage("user", "éééé")}, "ü", 5, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := provider.MockUsage(tc.msgs, tc.answer)
			if u.InputTokens != tc.wantIn || u.OutputTokens != tc.wantOut || u.Estimated {
				t.Errorf("usage = %+v, want in %d out %d", u, tc.wantIn, tc.wantOut)
			}
		})
	}
}

func TestMockInjectedFailures(t *testing.T) {
	tests := []struct {
		name      string
		cfg       provider.MockConfig
		wantClass conductor.ErrorClass
		retryable bool
	}{
		{"default 503", provider.MockConfig{FailTimes: 2}, conductor.ClassServer, true},
		{"429 with retry-after", provider.MockConfig{FailStatus: 429, FailTimes: 2, RetryAfter: 3 * time.Second}, conductor.ClassRateLimited, true},
		{"401 not retryable", provider.MockConfig{FailStatus: 401, FailTimes: 2}, conductor.ClassAuth, false},
		{"400 not retryable", provider.MockConfig{FailStatus: 400, FailTimes: 2}, conductor.ClassBadRequest, false},
		{"504 timeout", provider.MockConfig{FailStatus: 504, FailTimes: 2, FailMessage: "upstream slow"}, conductor.ClassTimeout, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := provider.NewMock(tc.cfg)
			for i := range 2 {
				_, err := m.Chat(context.Background(), userReq("x"))
				e, ok := conductor.AsError(err)
				if !ok {
					t.Fatalf("call %d: err = %v, want *conductor.Error", i+1, err)
				}
				status := tc.cfg.FailStatus
				if status == 0 {
					status = 503
				}
				if e.Class != tc.wantClass || e.Status != status || e.Retryable != tc.retryable || e.RetryAfter != tc.cfg.RetryAfter || e.Provider != conductor.ProviderMock {
					t.Errorf("call %d: err = %+v", i+1, e)
				}
				if !strings.Contains(e.Error(), "test provider") {
					t.Errorf("error %q does not say it is the test provider", e.Error())
				}
				wantMsg := tc.cfg.FailMessage
				if wantMsg == "" {
					wantMsg = "mock failure"
				}
				if !strings.Contains(e.Message, wantMsg) {
					t.Errorf("message %q, want it to hold %q", e.Message, wantMsg)
				}
			}
			if _, err := m.Chat(context.Background(), userReq("x")); err != nil {
				t.Fatalf("third call: %v", err)
			}
			if m.Calls() != 3 {
				t.Errorf("calls = %d, want 3", m.Calls())
			}
		})
	}
}

func TestMockFailsForever(t *testing.T) {
	m := provider.NewMock(provider.MockConfig{FailTimes: -1})
	for i := range 5 {
		if _, err := m.Chat(context.Background(), userReq("x")); err == nil {
			t.Fatalf("call %d succeeded, want every call to fail", i+1)
		}
	}
}

func TestMockLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := provider.NewMock(provider.MockConfig{Reply: "ok", Latency: 250 * time.Millisecond})
		start := time.Now()
		if _, err := m.Chat(context.Background(), userReq("x")); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 250*time.Millisecond {
			t.Errorf("waited %v, want 250ms", got)
		}
	})
}

func TestMockLatencyCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := provider.NewMock(provider.MockConfig{Reply: "ok", Latency: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := m.Chat(ctx, userReq("x"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassCanceled || e.Retryable {
			t.Errorf("err = %+v, want a non-retryable canceled *Error", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("returned after %v, want 1s", got)
		}
	})
}

func TestMockStream(t *testing.T) {
	tests := []struct {
		name   string
		reply  string
		chunks []string
	}{
		{"words", "one two  three", []string{"one", " two", "  three"}},
		{"leading space", " a b", []string{" a", " b"}},
		{"trailing space", "a b ", []string{"a", " b", " "}},
		{"empty reply echoes", "", []string{"q"}},
		{"newlines", "a\nb", []string{"a", "\nb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := provider.NewMock(provider.MockConfig{Reply: tc.reply})
			req := userReq("q")
			s, err := m.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Meta().Provider != conductor.ProviderMock {
				t.Errorf("meta = %+v", s.Meta())
			}
			var got []string
			var last conductor.Chunk
			for {
				c, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if c.FinishReason != "" {
					last = c
					continue
				}
				got = append(got, c.Delta)
			}
			if strings.Join(got, "|") != strings.Join(tc.chunks, "|") {
				t.Errorf("chunks = %q, want %q", got, tc.chunks)
			}
			want := provider.MockUsage(req.Messages, strings.Join(tc.chunks, ""))
			if last.FinishReason != "stop" || last.Usage == nil || *last.Usage != want {
				t.Errorf("last chunk = %+v, want stop with usage %+v", last, want)
			}
		})
	}
}

func TestMockStreamFailsAndCancels(t *testing.T) {
	m := provider.NewMock(provider.MockConfig{FailStatus: 429, FailTimes: 1})
	if _, err := m.Stream(context.Background(), userReq("x")); !conductor.IsRetryable(err) {
		t.Fatalf("first stream: err = %v, want retryable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := m.Stream(ctx, userReq("a b c"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) || err == io.EOF {
		t.Fatalf("after cancel: err = %v, want canceled (never EOF)", err)
	}
}

func FuzzMockSplitWords(f *testing.F) {
	for _, s := range []string{"", "a", "a b", " a  b ", "\t\nx\u00a0y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := provider.SplitWords(s)
		if strings.Join(parts, "") != s {
			t.Fatalf("splitWords(%q) = %q does not join back", s, parts)
		}
	})
}

var weatherTools = []conductor.Tool{
	{Name: "get_time", Description: "Local time", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}},"required":["tz"]}`)},
	{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{
		"type": "object",
		"properties": {
			"city": {"type": "string"},
			"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
			"days": {"type": "integer", "minimum": 1},
			"lat": {"type": ["number", "null"]},
			"alerts": {"type": "boolean"},
			"at": {"type": "object", "properties": {"hour": {"type": "integer"}, "note": {"type": "string"}}, "required": ["hour"]},
			"tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
			"mode": {"const": "fast"},
			"source": {"type": "string", "default": "station"},
			"optional": {"type": "string"}
		},
		"required": ["city", "unit", "days", "lat", "alerts", "at", "tags", "mode", "source"]
	}`)},
}

func toolReq(prompt string, choice *conductor.ToolChoice) *conductor.ChatRequest {
	r := userReq(prompt)
	r.Tools = weatherTools
	r.ToolChoice = choice
	return r
}

func TestMockToolCalls(t *testing.T) {
	required := &conductor.ToolChoice{Mode: conductor.ToolChoiceRequired}
	named := &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: "get_weather"}
	weatherArgs := `{"alerts":false,"at":{"hour":0},"city":"city","days":1,"lat":0,"mode":"fast","source":"station","tags":["tags","tags"],"unit":"celsius"}`
	tests := []struct {
		name     string
		cfg      provider.MockConfig
		req      *conductor.ChatRequest
		wantTool string // "" = a text answer
		wantArgs string
	}{
		{"required: the first tool", provider.MockConfig{}, toolReq("hello", required), "get_time", `{"tz":"tz"}`},
		{"required: the tool the prompt names", provider.MockConfig{}, toolReq("use get_weather please", required), "get_weather", weatherArgs},
		{"named tool", provider.MockConfig{}, toolReq("hello", named), "get_weather", weatherArgs},
		{"auto: the tool the prompt names", provider.MockConfig{}, toolReq("call get_time", nil), "get_time", `{"tz":"tz"}`},
		{"auto: no name, text", provider.MockConfig{Reply: "plain"}, toolReq("hello", &conductor.ToolChoice{Mode: conductor.ToolChoiceAuto}), "", ""},
		{"none: text", provider.MockConfig{}, toolReq("call get_time", &conductor.ToolChoice{Mode: conductor.ToolChoiceNone}), "", ""},
		{"reply object gives the arguments", provider.MockConfig{Reply: `{"tz": "CET", "extra": 1}`}, toolReq("x", required), "get_time", `{"extra":1,"tz":"CET"}`},
		{"matching reply entry, required filled", provider.MockConfig{Replies: []provider.MockReply{{"Paris", `{"city": "Paris", "days": 3}`}}},
			toolReq("Weather in Paris", named), "get_weather",
			`{"alerts":false,"at":{"hour":0},"city":"Paris","days":3,"lat":0,"mode":"fast","source":"station","tags":["tags","tags"],"unit":"celsius"}`},
		{"reply not an object is ignored", provider.MockConfig{Reply: "text"}, toolReq("x", required), "get_time", `{"tz":"tz"}`},
		{"no parameters", provider.MockConfig{}, &conductor.ChatRequest{Messages: []conductor.Message{conductor.TextMessage("user", "now")},
			Tools: []conductor.Tool{{Name: "now"}}}, "now", `{}`},
		{"judge calls score", provider.MockConfig{}, func() *conductor.ChatRequest {
			r := toolReq("rate", required)
			r.Options.Metadata = map[string]string{provider.MetaRole: provider.RoleJudge}
			return r
		}(), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := provider.NewMock(tc.cfg).Chat(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			calls := conductor.ToolCalls(resp.Content)
			if tc.wantTool == "" {
				if len(calls) != 0 || resp.FinishReason != conductor.FinishStop {
					t.Fatalf("answer = %+v, want text", resp)
				}
				return
			}
			if len(calls) != 1 || resp.FinishReason != conductor.FinishToolCalls || resp.Text() != "" {
				t.Fatalf("answer = %+v, want one tool call", resp)
			}
			c := calls[0]
			if c.Name != tc.wantTool || c.ID != "call_mock_"+tc.wantTool || c.Arguments != tc.wantArgs {
				t.Errorf("call = %+v, want %s(%s)", c, tc.wantTool, tc.wantArgs)
			}
			if want := provider.MockUsage(tc.req.Messages, c.Name+c.Arguments); resp.Usage != want {
				t.Errorf("usage = %+v, want %+v", resp.Usage, want)
			}
		})
	}
}

func TestMockToolCallRefusals(t *testing.T) {
	_, err := provider.NewMock(provider.MockConfig{}).Chat(context.Background(), toolReq("x", &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: "missing"}))
	if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest || !strings.Contains(e.Message, `"missing"`) {
		t.Errorf("unknown named tool: err = %v", err)
	}
	r := toolReq("x", &conductor.ToolChoice{Mode: conductor.ToolChoiceRequired})
	r.Tools = []conductor.Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}
	if _, err := provider.NewMock(provider.MockConfig{}).Chat(context.Background(), r); err == nil {
		t.Error("a parameters schema that is not an object was accepted")
	}
}

func TestMockStreamToolCall(t *testing.T) {
	req := toolReq("x", &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: "get_time"})
	s, err := provider.NewMock(provider.MockConfig{}).Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []conductor.Chunk
	for {
		c, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	u := provider.MockUsage(req.Messages, `get_time{"tz":"tz"}`)
	want := []conductor.Chunk{
		{ToolCalls: []conductor.ToolCallDelta{{Index: 0, ID: "call_mock_get_time", Name: "get_time"}}},
		{ToolCalls: []conductor.ToolCallDelta{{Index: 0, Arguments: `{"tz":"tz"}`}}},
		{FinishReason: conductor.FinishToolCalls, Usage: &u},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chunks =\n%+v\nwant\n%+v", got, want)
	}
}
