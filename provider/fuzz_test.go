package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// Every decoder of outside input: no panic, and every failure is a
// *conductor.Error.

func addFiles(f *testing.F, files ...string) {
	for _, file := range files {
		f.Add(readTestdata(f, file))
	}
}

func checkDecoded(t *testing.T, resp *conductor.ChatResponse, err error, body []byte) {
	t.Helper()
	if err != nil {
		if _, ok := conductor.AsError(err); !ok {
			t.Fatalf("error %v (%T) is not a *conductor.Error", err, err)
		}
		return
	}
	if !bytes.Equal(resp.Raw, body) {
		t.Fatal("Raw is not the body")
	}
}

func FuzzDecodeOpenAIResponse(f *testing.F) {
	addFiles(f, "openai/chat_completion.json", "openai/chat_completion_cached.json", "openai/chat_completion_tool_calls.json",
		"openai/chat_completion_groq.json", "openai/error_429_quota.json")
	f.Add([]byte(`{"choices":[{"message":{"content":[{"type":"text","text":"a"}]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := DecodeOpenAIResponse(body)
		checkDecoded(t, resp, err, body)
	})
}

func FuzzDecodeAnthropicResponse(f *testing.F) {
	addFiles(f, "anthropic/message.json", "anthropic/message_cache_tool.json", "anthropic/error_529.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := DecodeAnthropicResponse(body)
		checkDecoded(t, resp, err, body)
	})
}

func FuzzDecodeWorkersAIResponse(f *testing.F) {
	addFiles(f, "workersai/run.json", "workersai/run_json_mode.json", "workersai/run_success_false.json", "workersai/error_429.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := DecodeWorkersAIResponse(body)
		checkDecoded(t, resp, err, body)
	})
}

func FuzzErrorBody(f *testing.F) {
	addFiles(f, "openai/error_400.json", "anthropic/error_529.json", "workersai/error_429.json",
		"workersai/error_gateway_401.json", "openai/error_local_404.json", "openai/error_413.html")
	f.Fuzz(func(t *testing.T, body []byte) {
		e := errorFromStatus("p", 429, http.Header{}, body, testNow)
		if e.Class == "" || e.Message == "" || !utf8.ValidString(e.Message) {
			t.Fatalf("error %+v", e)
		}
	})
}

// FuzzStreams runs arbitrary bytes through each adapter's stream: it ends
// with io.EOF only when the wire format's terminator came, and with a
// *conductor.Error otherwise — never a short success.
func FuzzStreams(f *testing.F) {
	for _, k := range kinds {
		f.Add(readTestdata(f, k.stream))
		f.Add(readTestdata(f, k.cut))
		f.Add(readTestdata(f, k.midErr))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, k := range kinds {
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
					Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
			})}
			s, err := k.new(Endpoint{Name: k.name, BaseURL: "http://upstream.test", Client: client}).Stream(context.Background(), k.request())
			if err != nil {
				t.Fatal(err)
			}
			got := collect(s)
			terminator := "[DONE]"
			if k.name == "anthropic" {
				terminator = "message_stop"
			}
			switch e, ok := conductor.AsError(got.lastErr); {
			case got.lastErr == io.EOF:
				if !bytes.Contains(body, []byte(terminator)) {
					t.Fatalf("%s: io.EOF without the terminator", k.name)
				}
				if got.usage == nil {
					t.Fatalf("%s: a complete stream without usage", k.name)
				}
			case !ok || e.Provider != k.name:
				t.Fatalf("%s: ended with %v (%T)", k.name, got.lastErr, got.lastErr)
			}
		}
	})
}

func FuzzEncodeOpenAIRequest(f *testing.F) {
	f.Add("gpt-4o", "system", "Say \"hi\"\n\t<b>", "END", 0.7)
	f.Add("m", "user", "\x00\x1f\u2028\u2029\xff\xfe é 日本", "\\", 0.0)
	f.Fuzz(func(t *testing.T, model, role, content, stop string, temp float64) {
		req := &conductor.ChatRequest{Provider: "openai", Model: model, Temperature: &temp, Stop: []string{stop},
			Messages: []conductor.Message{conductor.TextMessage(role, content)}}
		b, err := EncodeOpenAIRequest(req)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("err %v", err)
			}
			return
		}
		var got struct {
			Model       string                           `json:"model"`
			Messages    []struct{ Role, Content string } `json:"messages"`
			Temperature float64                          `json:"temperature"`
			Stop        []string                         `json:"stop"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		// Same strings as encoding/json would carry (it too turns invalid
		// UTF-8 into U+FFFD).
		same := func(s string) string {
			var out string
			m, _ := json.Marshal(s)
			_ = json.Unmarshal(m, &out)
			return out
		}
		if got.Model != same(model) || got.Messages[0].Role != same(role) || got.Messages[0].Content != same(content) ||
			got.Stop[0] != same(stop) || got.Temperature != temp {
			t.Fatalf("read back %+v from %q", got, b)
		}
		// The other formats: valid JSON, or a refusal by name (Workers AI
		// has no stop).
		for _, enc := range []func(*conductor.ChatRequest) ([]byte, error){EncodeAnthropicRequest, EncodeWorkersAIRequest} {
			b, err := enc(req)
			if e, ok := conductor.AsError(err); err != nil && (!ok || e.Class != conductor.ClassBadRequest) || err == nil && !json.Valid(b) {
				t.Fatalf("invalid body %q: %v", b, err)
			}
		}
	})
}

func FuzzEstimateTokens(f *testing.F) {
	f.Add("The quick brown fox jumps over the lazy dog.", 10)
	f.Add("日本語のテキスト 12345 internationalization\n\n", 3)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		if !utf8.ValidString(s) {
			return
		}
		n := EstimateTokens(s)
		if n < 0 || n > len(s) {
			t.Fatalf("EstimateTokens(%q) = %d", s, n)
		}
		// Fed in two deltas split at a rune boundary, the stream counter
		// gives the same count.
		if len(s) == 0 {
			return
		}
		i := (cut%len(s) + len(s)) % len(s)
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		var c tokenCounter
		c.add(s[:i])
		c.add(s[i:])
		if got := c.total(); got != n {
			t.Fatalf("split at %d: %d, whole: %d", i, got, n)
		}
		if strings.TrimSpace(s) != "" && n == 0 {
			t.Fatalf("%q counted as no tokens", s)
		}
	})
}
