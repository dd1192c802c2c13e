package server

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Tool-call answers through the whole server: an OpenAI client of an
// Anthropic model and an Anthropic client of an OpenAI model, whole and
// streamed, answered from the conformance fixtures; a streamed tool-call
// answer is cached and replayed like any other.

const (
	openAICallsAnthropic = `{"model":"anthropic/claude-sonnet-4-5","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Weather in Paris?"}]}`
	anthropicCallsOpenAI = `{"model":"openai/gpt-4o","max_tokens":256,"messages":[{"role":"user","content":"Weather in Paris?"}]}`
)

func streamingBody(body string) string {
	return strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1)
}

func TestToolCallAnswersTranslated(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	ts.fakes.push("anthropic", canned{body: string(readConformance(t, "../answers/one-tool-call.anthropic.json"))})
	resp, got := ts.post(t, "/v1/chat/completions", openAICallsAnthropic)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	a := jsonOf(t, got)
	msg := path(a, "choices", 0, "message")
	if path(msg, "content") != "Checking." || path(msg, "tool_calls", 0, "id") != "toolu_01A09q90qw90lq917835lq9" ||
		path(msg, "tool_calls", 0, "function", "arguments") != `{"city":"Paris"}` || path(a, "choices", 0, "finish_reason") != "tool_calls" {
		t.Errorf("OpenAI answer %s", got)
	}

	ts.fakes.push("openai", canned{body: string(readConformance(t, "../answers/parallel-tool-calls.openai.json"))})
	resp, got = ts.post(t, "/v1/messages", anthropicCallsOpenAI)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	a = jsonOf(t, got)
	if path(a, "content", 0, "type") != "tool_use" || path(a, "content", 1, "input", "tz") != "CET" || a["stop_reason"] != "tool_use" {
		t.Errorf("Anthropic answer %s", got)
	}

	// Arguments OpenAI wrote that are no JSON object cannot be Anthropic
	// input: the call failed (502, naming the call), in the caller's format.
	bad := strings.Replace(string(readConformance(t, "../answers/one-tool-call.openai.json")), `"{\"city\":\"Paris\"}"`, `"{\"city\":"`, 1)
	ts.fakes.push("openai", canned{body: bad})
	resp, got = ts.post(t, "/v1/messages", anthropicCallsOpenAI)
	e := jsonOf(t, got)
	if resp.StatusCode != http.StatusBadGateway || e["type"] != "error" || !strings.Contains(path(e, "error", "message").(string), "tool call 0 (get_weather)") {
		t.Errorf("status %d: %s", resp.StatusCode, got)
	}
}

func TestToolCallStreamsTranslatedAndCached(t *testing.T) {
	ids := regexp.MustCompile(`"id":"(chatcmpl|msg)_?-?[0-9a-f]{24}"`)
	for _, tt := range []struct {
		name, path, body, kind, source, target string
	}{
		{"openai client, anthropic model", "/v1/chat/completions", streamingBody(openAICallsAnthropic), "anthropic",
			"one-tool-call.anthropic.sse", "one-tool-call.openai.sse"},
		{"anthropic client, openai model", "/v1/messages", streamingBody(anthropicCallsOpenAI), "openai",
			"parallel-tool-calls.openai.sse", "parallel-tool-calls.anthropic.sse"},
		{"anthropic pass-through", "/v1/messages", streamingBody(strings.Replace(anthropicCallsOpenAI, "openai/gpt-4o", "anthropic/claude-sonnet-4-5", 1)),
			"anthropic", "thinking-then-text.anthropic.sse", "thinking-then-text.anthropic.sse"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverSetup{})
			src := readConformance(t, tt.source)
			ts.fakes.push(tt.kind, canned{body: string(src), header: map[string]string{"Content-Type": "text/event-stream"}})
			r1, b1 := ts.post(t, tt.path, tt.body, "cf-aig-cache-ttl", "3600")
			r2, b2 := ts.post(t, tt.path, tt.body, "cf-aig-cache-ttl", "3600")
			if r1.StatusCode != 200 || r2.StatusCode != 200 || r1.Header.Get("cf-aig-cache-status") != "MISS" ||
				r2.Header.Get("cf-aig-cache-status") != "HIT" || ts.fakes.count(tt.kind) != 1 {
				t.Fatalf("%d %s then %d %s, %d upstream calls", r1.StatusCode, r1.Header.Get("cf-aig-cache-status"),
					r2.StatusCode, r2.Header.Get("cf-aig-cache-status"), ts.fakes.count(tt.kind))
			}
			if tt.source == tt.target {
				if !bytes.Equal(b1, src) || !bytes.Equal(b2, src) {
					t.Errorf("pass-through is not byte for byte:\n%s\n---\n%s", b1, b2)
				}
				return
			}
			// A translated stream's ids are made per answer; the rest replays
			// byte for byte.
			if n1, n2 := ids.ReplaceAll(b1, []byte(`"id":"X"`)), ids.ReplaceAll(b2, []byte(`"id":"X"`)); !bytes.Equal(n1, n2) {
				t.Errorf("the replay differs:\n%s\n---\n%s", b1, b2)
			}
			format := "openai"
			if tt.path == "/v1/messages" {
				format = "anthropic"
			}
			got := parseSSE(t, b2)
			checkStreamShape(t, format, got)
			gs, gu := streamSense(t, format, got)
			ws, wu := streamSense(t, format, parseSSE(t, readConformance(t, tt.target)))
			if strings.Join(gs, "|") != strings.Join(ws, "|") || gu != wu {
				t.Errorf("replayed\n got %q %+v\nwant %q %+v", gs, gu, ws, wu)
			}
		})
	}
}

// A whole tool-call answer from the cache is translated like the first.
func TestToolCallAnswerCachedTranslated(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	ts.fakes.push("anthropic", canned{body: string(readConformance(t, "../answers/thinking-then-text.anthropic.json"))})
	ts.fakes.push("anthropic", canned{body: string(readConformance(t, "../answers/one-tool-call.anthropic.json"))})
	body := strings.Replace(openAICallsAnthropic, "Weather in Paris?", "27 * 453?", 1)
	r1, b1 := ts.post(t, "/v1/chat/completions", body, "cf-aig-cache-ttl", "3600")
	r2, b2 := ts.post(t, "/v1/chat/completions", body, "cf-aig-cache-ttl", "3600")
	if r1.Header.Get("cf-aig-cache-status") != "MISS" || r2.Header.Get("cf-aig-cache-status") != "HIT" || !bytes.Equal(b1, b2) {
		t.Errorf("%s then %s:\n%s\n%s", r1.Header.Get("cf-aig-cache-status"), r2.Header.Get("cf-aig-cache-status"), b1, b2)
	}
	a := jsonOf(t, b2)
	if path(a, "choices", 0, "message", "content") != "27 * 453 = 12231" || path(a, "usage", "completion_tokens_details", "reasoning_tokens") != 270.0 {
		t.Errorf("answer %s", b2)
	}
	r3, b3 := ts.post(t, "/v1/chat/completions", openAICallsAnthropic, "cf-aig-cache-ttl", "3600")
	r4, b4 := ts.post(t, "/v1/chat/completions", openAICallsAnthropic, "cf-aig-cache-ttl", "3600")
	if r3.Header.Get("cf-aig-cache-status") != "MISS" || r4.Header.Get("cf-aig-cache-status") != "HIT" || !bytes.Equal(b3, b4) ||
		path(jsonOf(t, b4), "choices", 0, "message", "tool_calls", 0, "function", "name") != "get_weather" {
		t.Errorf("%s then %s:\n%s\n%s", r3.Header.Get("cf-aig-cache-status"), r4.Header.Get("cf-aig-cache-status"), b3, b4)
	}
}
