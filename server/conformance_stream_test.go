package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
)

// The stream half of the conformance suite (the answer half is
// provider/conformance_answer_test.go): a documented stream of one format,
// decoded by that format's stream decoder and written by this server's
// stream writer of the other format, must say what the other format's
// documented stream says. ../provider/testdata/conformance/streams/cases.json
// lists the directions each case holds.

const conformanceStreams = "../provider/testdata/conformance/streams"

func TestConformanceStreams(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(conformanceStreams, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Cases map[string]struct {
			Directions []string `json:"directions"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(idx.Cases))
	for n := range idx.Cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, dirn := range idx.Cases[name].Directions {
			from, to, _ := strings.Cut(dirn, "->")
			t.Run(name+"/"+from+"-to-"+to, func(t *testing.T) {
				src := readConformance(t, name+"."+from+".sse")
				want := parseSSE(t, readConformance(t, name+"."+to+".sse"))
				got := parseSSE(t, translateStream(t, from, to, src))
				checkStreamShape(t, to, got)
				gs, gu := streamSense(t, to, got)
				ws, wu := streamSense(t, to, want)
				if !slices.Equal(gs, ws) {
					t.Errorf("contents\n got %q\nwant %q", gs, ws)
				}
				if gu != wu {
					t.Errorf("usage got %+v, want %+v", gu, wu)
				}
			})
		}
	}
}

func readConformance(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(conformanceStreams, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStream reads an upstream stream of format from into chunks, as
// the adapters' streams do.
func decodeStream(t testing.TB, from string, src []byte) []conductor.Chunk {
	t.Helper()
	var decode func(provider.Event) (conductor.Chunk, bool, bool, error)
	switch from {
	case "openai":
		decode = new(openai.StreamDecoder).Decode
	case "anthropic":
		decode = new(anthropic.StreamDecoder).Decode
	default:
		t.Fatalf("unknown format %q", from)
	}
	r := provider.NewSSEReader(bytes.NewReader(src))
	var out []conductor.Chunk
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("the stream ended before its terminator")
		}
		if err != nil {
			t.Fatal(err)
		}
		ch, emit, done, err := decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if emit {
			out = append(out, ch)
		}
		if done {
			return out
		}
	}
}

// translateStream runs src, a stream of format from, through the server's
// writer of format to (not passing through), as pump does.
func translateStream(t testing.TB, from, to string, src []byte) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	w := newSSE(rec)
	var out streamOut
	switch to {
	case "openai":
		out = openai.NewStreamWriter(w, newID("chatcmpl-"), "m", 1700000000, true)
	case "anthropic":
		out = anthropic.NewStreamWriter(w, newID("msg_"), "m")
	default:
		t.Fatalf("unknown format %q", to)
	}
	out.Begin(conductor.ResponseMeta{})
	for _, ch := range decodeStream(t, from, src) {
		out.Chunk(ch)
	}
	out.End()
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	return rec.Body.Bytes()
}

// streamUsage is a stream's usage once accumulated as the SDKs do.
type streamUsage struct{ input, output, cacheRead, cacheWrite, reasoning int }

// streamSense is what a stream says, in its own format's terms: its text
// fragments, tool-call starts and argument fragments, finish reason, end;
// and its usage accumulated. Pings, empty fragments, role-only chunks and
// block boundaries (checkStreamShape checks those) say nothing.
func streamSense(t *testing.T, format string, evs []sseEvent) ([]string, streamUsage) {
	t.Helper()
	var out []string
	var u streamUsage
	num := func(v any) int {
		f, _ := v.(float64)
		return int(f)
	}
	for _, ev := range evs {
		if format == "openai" {
			if ev.Data == "[DONE]" {
				out = append(out, "end")
				continue
			}
			d := jsonOf(t, []byte(ev.Data))
			if us, ok := d["usage"].(map[string]any); ok {
				u = streamUsage{input: num(us["prompt_tokens"]), output: num(us["completion_tokens"]),
					cacheRead:  num(path(us, "prompt_tokens_details", "cached_tokens")),
					cacheWrite: num(path(us, "prompt_tokens_details", "cache_write_tokens")),
					reasoning:  num(path(us, "completion_tokens_details", "reasoning_tokens"))}
			}
			delta, _ := path(d, "choices", 0, "delta").(map[string]any)
			for _, k := range []string{"content", "refusal"} {
				if s, _ := delta[k].(string); s != "" {
					out = append(out, k+":"+s)
				}
			}
			calls, _ := delta["tool_calls"].([]any)
			for _, c := range calls {
				i := num(path(c, "index"))
				args, _ := path(c, "function", "arguments").(string)
				if id, _ := path(c, "id").(string); id != "" {
					out = append(out, fmt.Sprintf("tool %d %s %v %v", i, id, path(c, "type"), path(c, "function", "name")))
				}
				if args != "" {
					out = append(out, fmt.Sprintf("args %d %s", i, args))
				}
			}
			if f, _ := path(d, "choices", 0, "finish_reason").(string); f != "" {
				out = append(out, "finish:"+f)
			}
			continue
		}
		d := jsonOf(t, []byte(ev.Data))
		switch ev.Name {
		case "message_start":
			us, _ := path(d, "message", "usage").(map[string]any)
			u = streamUsage{input: num(us["input_tokens"]), output: num(us["output_tokens"]),
				cacheRead: num(us["cache_read_input_tokens"]), cacheWrite: num(us["cache_creation_input_tokens"]),
				reasoning: num(path(us, "output_tokens_details", "thinking_tokens"))}
		case "content_block_start":
			switch typ := path(d, "content_block", "type"); typ {
			case "tool_use":
				out = append(out, fmt.Sprintf("tool_use %v %v", path(d, "content_block", "id"), path(d, "content_block", "name")))
			default:
				out = append(out, fmt.Sprintf("block %v", typ))
				if s, _ := path(d, "content_block", "text").(string); s != "" {
					out = append(out, "text:"+s)
				}
			}
		case "content_block_delta":
			switch path(d, "delta", "type") {
			case "text_delta":
				out = append(out, "text:"+path(d, "delta", "text").(string))
			case "input_json_delta":
				if s, _ := path(d, "delta", "partial_json").(string); s != "" {
					out = append(out, "args "+s)
				}
			default:
				out = append(out, fmt.Sprintf("%v", path(d, "delta", "type")))
			}
		case "message_delta":
			// Cumulative: each count present replaces the one before.
			us, _ := d["usage"].(map[string]any)
			for k, dst := range map[string]*int{"input_tokens": &u.input, "output_tokens": &u.output,
				"cache_read_input_tokens": &u.cacheRead, "cache_creation_input_tokens": &u.cacheWrite} {
				if v, ok := us[k].(float64); ok {
					*dst = int(v)
				}
			}
			if v, ok := path(us, "output_tokens_details", "thinking_tokens").(float64); ok {
				u.reasoning = int(v)
			}
			out = append(out, fmt.Sprintf("finish:%v", path(d, "delta", "stop_reason")))
		case "message_stop":
			out = append(out, "end")
		}
	}
	return out, u
}

// checkStreamShape checks what a client of the format relies on beyond the
// contents: for OpenAI, the role first and a tool call's first delta with
// its id, type function and name, [DONE] last; for Anthropic,
// message_start first, blocks started and stopped one at a time with
// indices 0, 1, …, each event's type its name, message_stop last.
func checkStreamShape(t *testing.T, format string, evs []sseEvent) {
	t.Helper()
	if len(evs) < 2 {
		t.Fatalf("%d events", len(evs))
	}
	if format == "openai" {
		if path(jsonOf(t, []byte(evs[0].Data)), "choices", 0, "delta", "role") != "assistant" {
			t.Errorf("first chunk %s", evs[0].Data)
		}
		if evs[len(evs)-1].Data != "[DONE]" {
			t.Errorf("last event %s", evs[len(evs)-1].Data)
		}
		started := map[float64]bool{}
		for _, ev := range evs[:len(evs)-1] {
			calls, _ := path(jsonOf(t, []byte(ev.Data)), "choices", 0, "delta", "tool_calls").([]any)
			for _, c := range calls {
				i, _ := path(c, "index").(float64)
				if !started[i] {
					if path(c, "id") == nil || path(c, "type") != "function" || path(c, "function", "name") == nil {
						t.Errorf("first delta of call %v: %v", i, c)
					}
					started[i] = true
				}
			}
		}
		return
	}
	if evs[0].Name != "message_start" || evs[len(evs)-1].Name != "message_stop" {
		t.Errorf("first %s, last %s", evs[0].Name, evs[len(evs)-1].Name)
	}
	open, next := -1, 0
	for _, ev := range evs {
		d := jsonOf(t, []byte(ev.Data))
		if d["type"] != ev.Name {
			t.Errorf("event %s carries type %v", ev.Name, d["type"])
		}
		i := -1
		if f, ok := d["index"].(float64); ok {
			i = int(f)
		}
		switch ev.Name {
		case "content_block_start":
			if open >= 0 || i != next {
				t.Errorf("block %d starts while %d is open (next %d)", i, open, next)
			}
			open, next = i, next+1
		case "content_block_delta":
			if i != open {
				t.Errorf("delta for block %d while %d is open", i, open)
			}
		case "content_block_stop":
			if i != open {
				t.Errorf("stop of block %d while %d is open", i, open)
			}
			open = -1
		case "message_delta", "message_stop":
			if open >= 0 {
				t.Errorf("%s while block %d is open", ev.Name, open)
			}
		}
	}
}
