package conductor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

func TestCacheKey(t *testing.T) {
	base := func() *ChatRequest {
		return &ChatRequest{
			Provider: "openai", Model: "gpt-4o",
			Messages:       []Message{TextMessage("system", "Be brief."), TextMessage("user", "Hi")},
			Temperature:    f64(0.7),
			ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "x", Schema: json.RawMessage(`{"type":"object"}`)},
			Extra:          map[string]json.RawMessage{"tools": json.RawMessage(`[{"type":"function","function":{"name":"f","parameters":{}}}]`)},
		}
	}
	tests := []struct {
		name   string
		change func(r *ChatRequest)
		same   bool
	}{
		{"identical", func(r *ChatRequest) {}, true},
		{"JSON key order and whitespace", func(r *ChatRequest) {
			r.ResponseFormat.Schema = json.RawMessage(`{ "type" : "object" }`)
			r.Extra["tools"] = json.RawMessage("[ {\"function\":{\"parameters\":{},\"name\":\"f\"},\n\"type\":\"function\"} ]")
		}, true},
		{"number spelling", func(r *ChatRequest) {
			r.Extra["logit_bias"] = json.RawMessage(`{"50256":-100}`)
		}, false},
		{"metadata, user and environment", func(r *ChatRequest) {
			r.Options = CallOptions{Metadata: map[string]string{"member": "a"}, User: "alice", Environment: "prod", MaxAttempts: 5, CacheTTL: new(time.Duration)}
		}, true},
		{"stream flag on the request", func(r *ChatRequest) { r.Stream = true }, true},
		{"provider", func(r *ChatRequest) { r.Provider = "groq" }, false},
		{"model", func(r *ChatRequest) { r.Model = "gpt-4o-mini" }, false},
		{"message content", func(r *ChatRequest) { r.Messages[1].Content = Texts("Hi!") }, false},
		{"message role", func(r *ChatRequest) { r.Messages[0].Role = "user" }, false},
		{"messages split differently", func(r *ChatRequest) {
			r.Messages = []Message{TextMessage("system", "Be brief.Hi")}
		}, false},
		{"temperature", func(r *ChatRequest) { r.Temperature = f64(0.2) }, false},
		{"temperature unset", func(r *ChatRequest) { r.Temperature = nil }, false},
		{"temperature 0", func(r *ChatRequest) { r.Temperature = f64(0) }, false},
		{"top_p", func(r *ChatRequest) { r.TopP = f64(0.9) }, false},
		{"max tokens", func(r *ChatRequest) { r.MaxTokens = 100 }, false},
		{"stop", func(r *ChatRequest) { r.Stop = []string{"\n"} }, false},
		{"seed", func(r *ChatRequest) { r.Seed = i64(42) }, false},
		{"response format", func(r *ChatRequest) { r.ResponseFormat = &ResponseFormat{Type: "json_object"} }, false},
		{"extra", func(r *ChatRequest) { r.Extra["tool_choice"] = json.RawMessage(`"auto"`) }, false},
		{"custom key", func(r *ChatRequest) { r.Options.CacheKey = "faq" }, false},
	}
	want := RequestKey(base(), "gw", "chat")
	if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
		t.Fatalf("key %q is not a hex SHA-256", want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(r)
			got := RequestKey(r, "gw", "chat")
			if (got == want) != tt.same {
				t.Fatalf("same key = %v, want %v", got == want, tt.same)
			}
		})
	}
	if RequestKey(base(), "other", "chat") == want {
		t.Error("keys are not scoped per gateway")
	}
	if RequestKey(base(), "gw", "stream") == want {
		t.Error("a stream and a whole answer share a key")
	}
	custom := base()
	custom.Options.CacheKey = "secret-ish key"
	if k := RequestKey(custom, "gw", "chat"); strings.Contains(k, "secret") {
		t.Error("custom key stored in clear")
	}
	other := testChatReq("something else")
	other.Options.CacheKey = "secret-ish key"
	if RequestKey(custom, "gw", "chat") != RequestKey(other, "gw", "chat") {
		t.Error("a custom key does not replace the request's fields")
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"b":1,"a":[true,null,"x"]}`, `{"a":[true,null,"x"],"b":1}`},
		{` { "a" : 1.0 } `, `{"a":1}`},
		{`[1e2, 100, 1.5, -0, 0.1]`, `[100,100,1.5,0,0.1]`},
		{`12345678901234567890`, `12345678901234567890`},
		{`"\u00e9\n\u007f\""`, "\"\u00e9\\u000a\x7f\\\"\""},
		{`{"a":{"d":1,"c":2}}`, `{"a":{"c":2,"d":1}}`},
	}
	for _, tt := range tests {
		got, err := canonicalJSON([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("canonicalJSON(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1} x`, `[1,]`, strings.Repeat("[", 300) + strings.Repeat("]", 300)} {
		if _, err := canonicalJSON([]byte(bad)); err == nil {
			t.Errorf("canonicalJSON(%.20q) accepted", bad)
		}
	}
}

// Request bodies are outside input: canonicalisation never panics, and any
// two spellings of one value canonicalise alike.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"type":"json_object"}`, `[1,2.50,{"z":null,"a":"b"}]`, `"x"`, `1e400`, `{"a":{"b":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c1, err := canonicalJSON(raw)
		if err != nil {
			if json.Valid(raw) && depth(raw) <= maxJSONDepth {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("canonicalJSON accepted invalid JSON %q", raw)
		}
		// encoding/json, keeping numbers as written, is the reference:
		// re-encoded with other whitespace and key order, the value must
		// canonicalise alike.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("json refuses what canonicalJSON accepted: %v", err)
		}
		re, err := json.MarshalIndent(v, " ", "   ")
		if err != nil {
			t.Fatal(err)
		}
		c2, err := canonicalJSON(re)
		if err != nil {
			t.Fatalf("re-encoded value refused: %v", err)
		}
		c3, err := canonicalJSON(c1)
		if err != nil || string(c3) != string(c1) {
			t.Fatalf("not idempotent: %s then %s (%v)", c1, c3, err)
		}
		if string(c1) != string(c2) && !hasDuplicateKeys(raw) {
			t.Fatalf("two spellings differ:\n%s\n%s", c1, c2)
		}
		req := testChatReq("x")
		req.ResponseFormat = &ResponseFormat{Type: "json_schema", Schema: raw}
		_ = RequestKey(req, "gw", "chat")
	})
}

// hasDuplicateKeys reports whether some object repeats a key: decoding into
// a map keeps only the last, so the reference cannot be compared then.
func hasDuplicateKeys(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var stack []map[string]bool
	expectKey := func() bool { return len(stack) > 0 && stack[len(stack)-1] != nil }
	var inObject []bool
	afterKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch x := tok.(type) {
		case json.Delim:
			switch x {
			case '{':
				stack = append(stack, map[string]bool{})
				inObject = append(inObject, true)
			case '[':
				stack = append(stack, nil)
				inObject = append(inObject, false)
			default:
				stack, inObject = stack[:len(stack)-1], inObject[:len(inObject)-1]
			}
			afterKey = false
			continue
		case string:
			if expectKey() && !afterKey {
				if stack[len(stack)-1][x] {
					return true
				}
				stack[len(stack)-1][x] = true
				afterKey = true
				continue
			}
		}
		afterKey = false
	}
}

// depth is the deepest nesting of raw's arrays and objects.
func depth(raw []byte) int {
	d, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			d++
			deepest = max(deepest, d)
		case !inString && (c == '}' || c == ']'):
			d--
		}
	}
	return deepest
}

func testChatReq(content string) *ChatRequest {
	return &ChatRequest{Provider: ProviderOpenAI, Model: "gpt-4o-mini", Messages: []Message{TextMessage("user", content)}}
}
