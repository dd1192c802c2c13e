package provider

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

// The fast decoders must give encoding/json's result whenever they take a
// body (ok), and must take the recorded answers (or the speed is not real).

// trickyJSON are bodies on the edges of the fast path: keys differing in
// case or repeated, escapes, surrogates, invalid UTF-8, numbers an int
// cannot hold, nesting, trailing bytes.
var trickyJSON = []string{
	`{"choices":[{"message":{"content":"a\nb\u00e9\"\\\/"}}]}`,
	`{"choices":[{"message":{"content":"\ud83d\ude00 \ud800 x"}}]}`,
	"{\"choices\":[{\"message\":{\"content\":\"\xff\xfe\"}}]}",
	`{"Choices":[{"message":{"content":"a"}}],"choices":[{"message":{"content":"b"}}]}`,
	`{"choices":[{"message":{"content":"a"}}],"choices":[]}`,
	`{"choices":[{"MESSAGE":{"content":"a"},"message":{"Content":"b"}}],"model":"m","ID":"x"}`,
	`{"choices":[{"message":{"content":"a","refusal":"r"},"finish_reason":null}],"usage":{"prompt_tokens":1e2}}`,
	`{"choices":[{"message":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":12345678901234567890}}`,
	`{"choices":[{"message":{"content":null,"refusal":"no"}}],"usage":{"prompt_tokens":-3,"completion_tokens":0,"prompt_tokens_details":{"cached_tokens":2,"cached_tokens":5}}}`,
	`{"choices":[null,{"message":{"content":"b"}}],"usage":null,"x_groq":{"id":"req_1"}}`,
	`{"choices":[{"message":{"content":"a"}}]} x`,
	`{"choices":[{"message":{"content":"a"}}],"other":[1,2.5e-3,-0,true,false,null,{"k":"\u0041"}]}`,
	`{"choices":[{"message":{"content":"a"}}],"other":[01]}`,
	`{"choices":[{"message":{"content":"a"}}],"other":[1.]}`,
	`{"choices":[{"message":{"content":"a"}}],"other":"\x"}`,
	`{"choices":[{"message":{"content":"a"}}],"other":{"a":1,}}`,
	`{"choices":[{"message":{"content":"a"}}],"error":null,"id":5}`,
	`{"choices":[{"message":{"content":"a"}}],"error":{"message":"boom"}}`,
	`{"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3},"x_groq":{"usage":{"completion_tokens":4}}}`,
	`{"choices":[{"delta":{"content":[{"type":"text","text":"a"}]}}]}`,
	`{"choices":[],"x_groq":{"error":"over capacity"}}`,
	`{"choicſs":[{"message":{"content":"a"}}],"choices":[{"message":{"content":"b"}}]}`,
	` {"choices" : [ { "message" : { "content" : "a" } } ] } `,
	`{"choices":[{"message":{"content":"a","tool_calls":null,"refusal":""},"finish_reason":"stop"}],"usage":{"completion_tokens_details":{"reasoning_tokens":3,"reasoning_tokens":4},"prompt_tokens_details":{"cache_write_tokens":2}}}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
	`{"choices":[{"message":{"content":"a","Tool_calls":[]}}],"usage":{"Completion_tokens_details":null}}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a\""}}]}}]}`,
	`{"choices":[{"delta":{"refusal":"no"},"finish_reason":null}]}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1}}}]}}]}`,
}

func FuzzScanOpenAIAnswer(f *testing.F) {
	addFiles(f, "openai/chat_completion.json", "openai/chat_completion_cached.json", "openai/chat_completion_tool_calls.json",
		"openai/chat_completion_groq.json", "openai/chat_completion_local_no_usage.json",
		"conformance/answers/parallel-tool-calls.openai.json", "conformance/answers/usage-cache-reasoning.openai.json",
		"conformance/answers/refusal.openai.json")
	for _, s := range trickyJSON {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, fastUsage, ok := scanOpenAIAnswer(body)
		if !ok {
			return
		}
		want, wantUsage, err := decodeOpenAIResponseJSON("openai", body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if fastUsage != wantUsage || !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v (usage %v)\njson %+v (usage %v)", body, fast, fastUsage, want, wantUsage)
		}
	})
}

func FuzzScanOpenAIChunk(f *testing.F) {
	for _, file := range []string{"openai/stream.sse", "openai/stream_groq.sse", "openai/stream_no_usage.sse",
		"conformance/streams/parallel-tool-calls.openai.sse", "conformance/streams/usage-cache-reasoning.openai.sse",
		"conformance/streams/refusal.openai.sse"} {
		for _, ev := range fileEvents(f, file) {
			f.Add(ev.Data)
		}
	}
	for _, s := range trickyJSON {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := scanOpenAIChunk(data)
		if !ok {
			return
		}
		fast.Raw = data
		want, emit, done, err := decodeOpenAIEventJSON("openai", "", data, data)
		if err != nil || !emit || done {
			t.Fatalf("fast path took %q, encoding/json: emit %v done %v err %v", data, emit, done, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("data %q\nfast %+v\njson %+v", data, fast, want)
		}
	})
}

// The recorded answers and chunks take the fast path.
func TestScanTakesRecordedPayloads(t *testing.T) {
	for _, file := range []string{"openai/chat_completion.json", "openai/chat_completion_cached.json",
		"openai/chat_completion_groq.json", "openai/chat_completion_local_no_usage.json"} {
		if _, _, ok := scanOpenAIAnswer(readTestdata(t, file)); !ok {
			t.Errorf("%s: not taken by the fast path", file)
		}
	}
	for _, file := range []string{"openai/stream.sse", "openai/stream_groq.sse", "openai/stream_no_usage.sse"} {
		for _, ev := range fileEvents(t, file) {
			if string(ev.Data) == "[DONE]" {
				continue
			}
			if _, ok := scanOpenAIChunk(ev.Data); !ok {
				t.Errorf("%s: %s not taken by the fast path", file, ev.Data)
			}
		}
	}
}

// TestScanTricky runs the edge bodies through both paths (the fuzz targets'
// seeds run too, but this names the failing body).
func TestScanTricky(t *testing.T) {
	for _, s := range trickyJSON {
		body := []byte(s)
		if fast, fu, ok := scanOpenAIAnswer(body); ok {
			want, wu, err := decodeOpenAIResponseJSON("openai", body)
			if err != nil || fu != wu || !reflect.DeepEqual(fast, want) {
				t.Errorf("answer %s: fast %+v, json %+v %v", s, fast, want, err)
			}
		}
		if fast, ok := scanOpenAIChunk(body); ok {
			fast.Raw = body
			want, _, _, err := decodeOpenAIEventJSON("openai", "", body, body)
			if err != nil || !reflect.DeepEqual(fast, want) {
				t.Errorf("chunk %s: fast %+v, json %+v %v", s, fast, want, err)
			}
		}
	}
}

func fileEvents(t testing.TB, file string) []Event {
	t.Helper()
	evs, _ := readEvents(NewSSEReader(bytes.NewReader(readTestdata(t, file))))
	return evs
}

// trickyRequests are request bodies on the edges of the fast path.
var trickyRequests = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"model":"n"}`,
	`{"model":"m","messages":[{"Role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`,
	`{"model":"m","messages":[{"role":"tool","content":"x","tool_call_id":"c"}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":null}],"stop":"\n","seed":-7,"stream":true}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a",null],"temperature":0.7,"top_p":1e-1,"max_tokens":5,"max_completion_tokens":null}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1,"max_completion_tokens":3}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1e999}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"seed":1.5}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[],"tools":[{"type":"function"}],"user":"u","response_format":null}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"},"stream":null}`,
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"\xff\":1}",
	`{"model":"m","messages":[null]}`,
	`{"model":"","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","messages":[]}`,
	// Block-shaped: left to encoding/json, or read alike.
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":null},{"type":"text","text":"a","image_url":5}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","Text":"a"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"t\u0065xt","text":"a"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":null,"text":"a"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","refusal":null}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","Refusal":"no"}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","audio":{"id":"audio_1"}}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":"a","name":"bot","tool_call_id":"c"}]}`,
	`{"model":"m","messages":[{"role":"function","name":"f","content":"r"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"n":1}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"N":2}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}}}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"regex"}}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"data:image/png;base64,AAAA"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"r"}]},{"role":"tool","tool_call_id":"d","content":"s"},{"role":"user","content":"u"}]}`,
}

func FuzzScanOpenAIRequest(f *testing.F) {
	addFiles(f, "openai/client_request.json", "openai/request_full.golden.json", "openai/request_stream.golden.json",
		"openai/request_groq.golden.json")
	for _, b := range conformanceBodies(f, ".openai.json") {
		f.Add(b)
	}
	for _, s := range trickyRequests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := scanOpenAIRequest(body)
		if !ok {
			return
		}
		want, err := decodeOpenAIRequestJSON(body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v\njson %+v", body, fast, want)
		}
	})
}

func TestScanTakesRequests(t *testing.T) {
	bench, err := EncodeOpenAIRequest(benchTextRequest())
	if err != nil {
		t.Fatal(err)
	}
	// Text-only requests take the fast path…
	bodies := [][]byte{bench, readTestdata(t, "openai/client_request.json"), readTestdata(t, "openai/request_stream.golden.json"),
		readTestdata(t, "openai/request_groq.golden.json")}
	for _, body := range bodies {
		if _, ok := scanOpenAIRequest(body); !ok {
			t.Errorf("%s: not taken by the fast path", body)
		}
	}
	// …and anything it does not model is left to encoding/json.
	for _, body := range append(conformanceBodies(t, ".openai.json"), readTestdata(t, "openai/request_full.golden.json")) {
		if req, ok := scanOpenAIRequest(body); ok && !textOnly(req) {
			t.Errorf("%s: taken by the fast path as %+v", body, req)
		}
	}
	for _, s := range trickyRequests {
		body := []byte(s)
		if fast, ok := scanOpenAIRequest(body); ok {
			want, err := decodeOpenAIRequestJSON(body)
			if err != nil || !reflect.DeepEqual(fast, want) {
				t.Errorf("%s: fast %+v, json %+v %v", s, fast, want, err)
			}
		}
	}
}

var trickyAnthropic = []string{
	`{"type":"message","content":[{"type":"text","text":"a"},null,{"type":"tool_use","id":"t","input":{}},{"type":"text","text":"\u00e9"}],"stop_reason":"max_tokens","usage":{"input_tokens":3,"output_tokens":null,"cache_read_input_tokens":2}}`,
	`{"type":"message","content":[],"usage":{"output_tokens":1,"Output_tokens":2}}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
	`{"type":"other"}`,
	`{"content":[{"Type":"text","text":"a"}]}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi\n"}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"x"}}`,
	`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1,"cache_creation_input_tokens":4}}}`,
	`{"type":"message_stop"}`,
	`{"type":"ping"}`,
	`{"type":"message_delta","usage":null,"delta":null}`,
	`{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{\"a\""}}`,
	`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
	`{"type":"message_delta","delta":{"stop_reason":"refusal"},"usage":{"output_tokens":9,"output_tokens_details":{"thinking_tokens":4}}}`,
	`{"type":"message","content":[{"type":"thinking","thinking":"a","signature":"s"},{"type":"text","text":"b"},{"type":"text","text":""}],"usage":{"input_tokens":1,"output_tokens_details":{"thinking_tokens":null},"Output_tokens_details":{}}}`,
	`{"type":"message","content":[{"type":"text","text":"a","citations":[{"type":"char_location"}]},{"text":"x"}],"usage":{"output_tokens":2,"output_tokens_details":null}}`,
}

func FuzzScanAnthropicAnswer(f *testing.F) {
	addFiles(f, "anthropic/message.json", "anthropic/message_cache_tool.json", "anthropic/message_max_tokens.json",
		"anthropic/message_thinking.json", "conformance/answers/usage-cache-reasoning.anthropic.json")
	for _, s := range trickyAnthropic {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, fastUsage, ok := scanAnthropicAnswer(body)
		if !ok {
			return
		}
		want, wantUsage, err := decodeAnthropicResponseJSON("anthropic", body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if fastUsage != wantUsage || !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v (usage %v)\njson %+v (usage %v)", body, fast, fastUsage, want, wantUsage)
		}
	})
}

func FuzzScanAnthropicEvent(f *testing.F) {
	for _, file := range []string{"anthropic/stream.sse", "conformance/streams/one-tool-call.anthropic.sse",
		"conformance/streams/thinking-then-text.anthropic.sse", "conformance/streams/usage-cache-reasoning.anthropic.sse"} {
		for _, ev := range fileEvents(f, file) {
			f.Add(ev.Name, ev.Data)
		}
	}
	for _, s := range trickyAnthropic {
		f.Add("", []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		ev := Event{Name: name, Data: data}
		// Both decoders start from what earlier events left: counts from
		// message_start, a tool_use block at index 1.
		start := func() *AnthropicStreamDecoder {
			return &AnthropicStreamDecoder{provider: "anthropic", counts: anthropicCounts{input: 7, output: 1, cacheRead: 2},
				tools: 1, toolOf: []int{-1, 0}}
		}
		fd, jd := start(), start()
		fast, done, ok := fd.scan(ev)
		if !ok {
			if !reflect.DeepEqual(fd, start()) {
				t.Fatalf("a refused event changed the decoder: %+v", fd)
			}
			return
		}
		want, emit, wantDone, err := jd.decodeJSON(ev)
		if err != nil || !emit {
			t.Fatalf("fast path took %q, encoding/json: emit %v err %v", data, emit, err)
		}
		if done != wantDone || !reflect.DeepEqual(fast, want) || !reflect.DeepEqual(fd, jd) {
			t.Fatalf("event %q %q\nfast %+v %v %+v\njson %+v %v %+v", name, data, fast, done, fd, want, wantDone, jd)
		}
	})
}

func TestScanTakesAnthropic(t *testing.T) {
	for _, file := range []string{"anthropic/message.json", "anthropic/message_max_tokens.json"} {
		if _, _, ok := scanAnthropicAnswer(readTestdata(t, file)); !ok {
			t.Errorf("%s: not taken by the fast path", file)
		}
	}
	d := &AnthropicStreamDecoder{}
	for _, ev := range fileEvents(t, "anthropic/stream.sse") {
		if _, _, ok := d.scan(ev); !ok {
			t.Errorf("%s: not taken by the fast path", ev.Data)
		}
	}
}

var trickyWorkersAI = []string{
	`{"result":{"response":"Hi","usage":{"prompt_tokens":1,"completion_tokens":2}},"success":true,"errors":[],"messages":[]}`,
	`{"result":{"response":{"a":[1,"b"]},"usage":null},"success":true,"errors":null}`,
	`{"result":{"response":null},"success":null}`,
	`{"result":{"response":"x"},"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}]}`,
	`{"result":{"response":"x"},"errors":[null]}`,
	`{"result":null,"success":true}`,
	`{"result":{"Response":"x","response":"y"}}`,
	`{"response":"Hello","p":"abc"}`,
	`{"response":"","usage":{"prompt_tokens":17,"completion_tokens":2,"total_tokens":19}}`,
	`{"response":"a","choices":[{"delta":{"content":"b"},"finish_reason":"stop"}]}`,
	`{"response":7,"errors":[],"error":null}`,
	`{"errors":[{"message":"boom","code":5}]}`,
	`{"error":"boom"}`,
	`{"result":{"response":"","tool_calls":[{"name":"f","arguments":{"a":1}}],"usage":{"prompt_tokens":1}},"success":true}`,
	`{"result":{"response":"x","tool_calls":[],"choices":null,"usage":{"prompt_tokens_details":{"cached_tokens":3}}},"success":true}`,
	`{"result":{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"id":"c"},"success":true}`,
	`{"response":"","tool_calls":[{"name":"f","arguments":{}}]}`,
	`{"response":"","tool_calls":[],"usage":{"completion_tokens_details":{"reasoning_tokens":2}}}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}`,
}

func FuzzScanWorkersAIAnswer(f *testing.F) {
	addFiles(f, "workersai/run.json", "workersai/run_json_mode.json", "workersai/run_no_usage.json", "workersai/run_success_false.json",
		"workersai/run_tool_calls.json", "workersai/run_chat_completion.json")
	for _, s := range trickyWorkersAI {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, fastUsage, ok := scanWorkersAIAnswer(body)
		if !ok {
			return
		}
		want, wantUsage, err := decodeWorkersAIResponseJSON("workers-ai", body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if fastUsage != wantUsage || !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v (usage %v)\njson %+v (usage %v)", body, fast, fastUsage, want, wantUsage)
		}
	})
}

func FuzzScanWorkersAIChunk(f *testing.F) {
	for _, file := range []string{"workersai/stream.sse", "workersai/stream_usage.sse", "workersai/stream_tool_calls.sse"} {
		for _, ev := range fileEvents(f, file) {
			f.Add(ev.Data)
		}
	}
	for _, s := range trickyWorkersAI {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := scanWorkersAIChunk(data)
		if !ok {
			return
		}
		fast.Raw = data
		want, emit, done, err := decodeWorkersAIEventJSON("workers-ai", "", data, data)
		if err != nil || !emit || done {
			t.Fatalf("fast path took %q, encoding/json: emit %v done %v err %v", data, emit, done, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("data %q\nfast %+v\njson %+v", data, fast, want)
		}
	})
}

func TestScanTakesWorkersAI(t *testing.T) {
	for _, file := range []string{"workersai/run.json", "workersai/run_json_mode.json", "workersai/run_no_usage.json"} {
		if _, _, ok := scanWorkersAIAnswer(readTestdata(t, file)); !ok {
			t.Errorf("%s: not taken by the fast path", file)
		}
	}
	for _, file := range []string{"workersai/stream.sse", "workersai/stream_usage.sse"} {
		for _, ev := range fileEvents(t, file) {
			if string(ev.Data) == "[DONE]" {
				continue
			}
			if _, ok := scanWorkersAIChunk(ev.Data); !ok {
				t.Errorf("%s: %s not taken by the fast path", file, ev.Data)
			}
		}
	}
}

func TestPlainRun(t *testing.T) {
	stops := []byte{'"', '\\', 0x00, 0x1f, '\n'}
	for n := 0; n < 20; n++ {
		for at := 0; at <= n; at++ {
			for _, stop := range append(stops, 'x') {
				b := bytes.Repeat([]byte{'a'}, n)
				// Bytes that must not stop the run, among them those the
				// eight-byte test could confuse with a stop.
				for i := range b {
					b[i] = []byte{'a', ' ', '!', '#', 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d}[i%10]
				}
				want := n
				if at < n && stop != 'x' {
					b[at] = stop
					want = at
				}
				if got := plainRun(b, 0); got != want {
					t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

func FuzzPlainRun(f *testing.F) {
	f.Add([]byte("abcdefgh\"ijk\x01\\"), 0)
	f.Add([]byte("\x00\x00\"aaaaaaaaaaaaaaaa\\"), 3)
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		if from < 0 || from > len(b) {
			return
		}
		want := from
		for want < len(b) && !strStop[b[want]] {
			want++
		}
		if got := plainRun(b, from); got != want {
			t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
		}
	})
}

// BenchmarkOpenAIDecodeLong is an answer of a few paragraphs, as most are.
func BenchmarkOpenAIDecodeLong(b *testing.B) {
	text := strings.Repeat("Paris became the capital under Clovis I, and the Capetian kings kept it there. ", 40) +
		"\n\nIn short: \"Paris\"."
	body := EncodeOpenAIResponse(&conductor.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o", Content: conductor.Texts(text),
		FinishReason: "stop", Usage: conductor.Usage{InputTokens: 100, OutputTokens: 700}}, 1741569952)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeOpenAIResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

var trickyAnthropicRequests = []string{
	`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]},{"role":"assistant","content":"z"}]}`,
	`{"model":"m","max_tokens":10,"system":"s","messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}`,
	`{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"x"}]}`,
	`{"model":"m","max_tokens":null,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stop_sequences":"END"}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stop_sequences":null,"stream":true,"temperature":0,"top_p":null}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stop_sequences":["a",null],"metadata":{"user_id":"u"},"tools":[]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x","Content":"y"}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":null}],"system":null}`,
	`{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}`,
	// Block-shaped: left to encoding/json, or read alike.
	`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","citations":[]}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"a","is_error":"x","source":7}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}],"is_error":true}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]}]}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":1024}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"adaptive"},"output_config":{"effort":"low"}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"output_format":{"type":"json_schema","schema":{}}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
	`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"Tools":[]}`,
}

func FuzzScanAnthropicRequest(f *testing.F) {
	addFiles(f, "anthropic/client_request.json", "anthropic/request_full.golden.json", "anthropic/request_stream.golden.json")
	for _, b := range conformanceBodies(f, ".anthropic.json") {
		f.Add(b)
	}
	for _, s := range trickyAnthropicRequests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := scanAnthropicRequest(body)
		if !ok {
			return
		}
		want, err := decodeAnthropicRequestJSON(body)
		if err != nil {
			t.Fatalf("fast path took %q, encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("body %q\nfast %+v\njson %+v", body, fast, want)
		}
	})
}

func TestScanTakesAnthropicRequests(t *testing.T) {
	bench, err := EncodeAnthropicRequest(benchTextRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{bench, readTestdata(t, "anthropic/client_request.json"), readTestdata(t, "anthropic/request_stream.golden.json")} {
		if _, ok := scanAnthropicRequest(body); !ok {
			t.Errorf("%s: not taken by the fast path", body)
		}
	}
	for _, body := range append(conformanceBodies(t, ".anthropic.json"), readTestdata(t, "anthropic/request_full.golden.json")) {
		if req, ok := scanAnthropicRequest(body); ok && !textOnly(req) {
			t.Errorf("%s: taken by the fast path as %+v", body, req)
		}
	}
	for _, s := range trickyAnthropicRequests {
		body := []byte(s)
		if fast, ok := scanAnthropicRequest(body); ok {
			want, err := decodeAnthropicRequestJSON(body)
			if err != nil || !reflect.DeepEqual(fast, want) {
				t.Errorf("%s: fast %+v, json %+v %v", s, fast, want, err)
			}
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range append(append(trickyJSON, trickyRequests...), `[[[[1]]]]`, `{"a":}`, `"\ud800"`, "\"\xff\"", ` 1e5 `, `-`, `nul`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

func FuzzASCIIRun(f *testing.F) {
	f.Add("abcdefgh\"ijk\x01\\é", 0)
	f.Add("\x00\x00\"aaaaaaaaaaaaaaaa\\\u2028", 3)
	f.Fuzz(func(t *testing.T, s string, from int) {
		if from < 0 || from > len(s) {
			return
		}
		want := from
		for want < len(s) && s[want] >= 0x20 && s[want] != '"' && s[want] != '\\' && s[want] < 0x80 {
			want++
		}
		if got := asciiRun(s, from); got != want {
			t.Fatalf("asciiRun(%q, %d) = %d, want %d", s, from, got, want)
		}
	})
}
