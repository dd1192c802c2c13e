package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// The translating stream writers with tool calls, beyond the documented
// streams of the conformance suite: calls that interleave, text between
// calls, ids Anthropic would refuse, and the Workers AI shape.

func writeChunks(t *testing.T, out streamOut, w *sse, rec *httptest.ResponseRecorder, chunks ...conductor.Chunk) []sseEvent {
	t.Helper()
	out.Begin(conductor.ResponseMeta{})
	for _, ch := range chunks {
		out.Chunk(ch)
	}
	out.End()
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	return parseSSE(t, rec.Body.Bytes())
}

func toAnthropic(t *testing.T, chunks ...conductor.Chunk) []sseEvent {
	t.Helper()
	rec := httptest.NewRecorder()
	w := newSSE(rec)
	return writeChunks(t, anthropic.NewStreamWriter(w, newID("msg_"), "m"), w, rec, chunks...)
}

func toOpenAI(t *testing.T, chunks ...conductor.Chunk) []sseEvent {
	t.Helper()
	rec := httptest.NewRecorder()
	w := newSSE(rec)
	return writeChunks(t, openai.NewStreamWriter(w, newID("chatcmpl-"), "m", 1, true), w, rec, chunks...)
}

func tc(i int, id, name, args string) conductor.Chunk {
	return conductor.Chunk{ToolCalls: []conductor.ToolCallDelta{{Index: i, ID: id, Name: name, Arguments: args}}}
}

// OpenAI does not promise that a call's pieces end before the next call
// starts: a call that starts while another is open is held back, so an
// Anthropic client sees one open block at a time and every call whole.
func TestAnthropicStreamInterleavedCalls(t *testing.T) {
	evs := toAnthropic(t,
		tc(0, "call_A", "a", ""),
		tc(1, "call_B", "b", `{"y":`),
		tc(0, "", "", `{"x":`),
		tc(1, "", "", `2}`),
		tc(0, "", "", `1}`),
		conductor.Chunk{FinishReason: "tool_calls"},
		conductor.Chunk{Usage: &conductor.Usage{InputTokens: 10, OutputTokens: 4}},
	)
	checkStreamShape(t, "anthropic", evs)
	sense, u := streamSense(t, "anthropic", evs)
	want := []string{"tool_use call_A a", `args {"x":`, `args 1}`, "tool_use call_B b", `args {"y":`, `args 2}`, "finish:tool_use", "end"}
	if strings.Join(sense, "|") != strings.Join(want, "|") {
		t.Errorf("events\n got %q\nwant %q", sense, want)
	}
	if u.input != 10 || u.output != 4 {
		t.Errorf("usage %+v", u)
	}
}

func TestAnthropicStreamTextAndCalls(t *testing.T) {
	evs := toAnthropic(t,
		conductor.Chunk{Delta: "Let me look."},
		// A first piece carrying arguments too (Workers AI's OpenAI-shaped
		// chunks may), and an id Anthropic refuses.
		tc(0, "functions.lookup:0", "lookup", `{"q":"x"}`),
		conductor.Chunk{Delta: "Done."}, // text after a call closes it
		conductor.Chunk{FinishReason: "tool_calls", Usage: &conductor.Usage{InputTokens: 5, OutputTokens: 3}},
	)
	checkStreamShape(t, "anthropic", evs)
	sense, _ := streamSense(t, "anthropic", evs)
	want := []string{"block text", "text:Let me look.", "tool_use " + anthropic.ToolID("functions.lookup:0") + " lookup",
		`args {"q":"x"}`, "block text", "text:Done.", "finish:tool_use", "end"}
	if strings.Join(sense, "|") != strings.Join(want, "|") {
		t.Errorf("events\n got %q\nwant %q", sense, want)
	}
}

// Arguments for a call whose block was stopped cannot reach an Anthropic
// client any more: the stream fails rather than lose them.
func TestAnthropicStreamLateArgumentsFail(t *testing.T) {
	evs := toAnthropic(t,
		tc(0, "call_A", "a", `{"x":`),
		conductor.Chunk{Delta: "text"},
		tc(0, "", "", `1}`),
		conductor.Chunk{FinishReason: "tool_calls"},
	)
	last := evs[len(evs)-1]
	if last.Name != "error" || !strings.Contains(last.Data, "after it ended") {
		t.Errorf("last event %+v", last)
	}
	for _, ev := range evs {
		if ev.Name == "message_stop" {
			t.Error("a failed stream ended properly")
		}
	}
}

// An empty answer still has one (empty) text block.
func TestAnthropicStreamEmpty(t *testing.T) {
	evs := toAnthropic(t, conductor.Chunk{FinishReason: "stop"})
	checkStreamShape(t, "anthropic", evs)
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	if got := strings.Join(names, " "); got != "message_start content_block_start content_block_stop message_delta message_stop" {
		t.Errorf("events %s", got)
	}
}

func TestOpenAIStreamToolCalls(t *testing.T) {
	evs := toOpenAI(t,
		conductor.Chunk{Delta: "a", ToolCalls: []conductor.ToolCallDelta{{Index: 0, ID: "c0", Name: "f", Arguments: "{"},
			{Index: 1, ID: "c1", Name: "g"}}},
		conductor.Chunk{ToolCalls: []conductor.ToolCallDelta{{Index: 0, Arguments: "}"}, {Index: 1, Arguments: "{}"}}},
		// Thinking from an Anthropic upstream: nothing for an OpenAI caller.
		conductor.Chunk{Raw: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`)},
		conductor.Chunk{FinishReason: "tool_calls", Usage: &conductor.Usage{InputTokens: 7, OutputTokens: 2, ReasoningTokens: 1}},
	)
	checkStreamShape(t, "openai", evs)
	sense, u := streamSense(t, "openai", evs)
	want := []string{"content:a", "tool 0 c0 function f", "args 0 {", "tool 1 c1 function g", "args 0 }", "args 1 {}", "finish:tool_calls", "end"}
	if strings.Join(sense, "|") != strings.Join(want, "|") {
		t.Errorf("chunks\n got %q\nwant %q", sense, want)
	}
	if len(evs) != 6 || u != (streamUsage{input: 7, output: 2, reasoning: 1}) {
		t.Errorf("%d events, usage %+v", len(evs), u)
	}
}

func TestWorkersAIStreamToolCalls(t *testing.T) {
	rec := httptest.NewRecorder()
	w := newSSE(rec)
	evs := writeChunks(t, workersai.NewStreamWriter(w), w, rec,
		conductor.Chunk{Delta: "ok"},
		tc(0, "call_1", "getWeather", `{"lat":`),
		tc(0, "", "", `"51.5"}`),
		conductor.Chunk{FinishReason: "tool_calls", Usage: &conductor.Usage{InputTokens: 3, OutputTokens: 2}},
	)
	if len(evs) != 3 || evs[1].Data != `{"response":"","tool_calls":[{"name":"getWeather","arguments":{"lat":"51.5"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` ||
		evs[2].Data != "[DONE]" {
		t.Errorf("events %+v", evs)
	}
	// Read back by the provider's decoder: the same call, with a stable id.
	var d workersai.StreamDecoder
	ch, _, _, err := d.Decode(provider.Event{Data: []byte(evs[1].Data)})
	if err != nil || len(ch.ToolCalls) != 1 || ch.ToolCalls[0].Name != "getWeather" || ch.ToolCalls[0].Arguments != `{"lat":"51.5"}` {
		t.Errorf("read back %+v %v", ch, err)
	}

	rec = httptest.NewRecorder()
	w = newSSE(rec)
	evs = writeChunks(t, workersai.NewStreamWriter(w), w, rec, tc(0, "c", "f", `not json`))
	if last := evs[len(evs)-1]; last.Name != "error" {
		t.Errorf("arguments that are no object: %+v", evs)
	}
}
