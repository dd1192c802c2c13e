package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// FuzzRewriteModel: the rewritten body is the same JSON object with only
// model changed, and bytes outside the model values are kept.
func FuzzRewriteModel(f *testing.F) {
	for _, s := range []string{
		`{"model":"openai/gpt-4o","messages":[]}`,
		`{ "messages" : [{"role":"user","content":"a \"model\": x"}] , "model" : "a/b" }`,
		`{"mod\u0065l":"x","model":"y"}`,
		`{"a":{"model":"inner"},"model":null}`,
		`{}`, `[]`, `{"model":1e5}`, `{"x":"\\"}`,
	} {
		f.Add([]byte(s), "gpt-4o-mini")
	}
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		var before map[string]any
		if json.Unmarshal(body, &before) != nil || before == nil {
			_, _ = rewriteModel(body, model) // must not panic
			return
		}
		out, err := rewriteModel(body, model)
		if err != nil {
			t.Fatalf("valid object refused: %v: %s", err, body)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("rewrite broke the JSON: %v\n%s\n%s", err, body, out)
		}
		if _, had := before["model"]; had {
			// Invalid UTF-8 becomes U+FFFD per byte, as encoding/json writes it.
			var want string
			mb, _ := json.Marshal(model)
			_ = json.Unmarshal(mb, &want)
			before["model"] = want
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("rewrite changed more than the model:\n%s\n%s", body, out)
		}
	})
}

func FuzzAddField(f *testing.F) {
	for _, s := range []string{`{}`, ` { } `, `{"a":1}`, `{"stream_options":{"include_obfuscation":false}}`, `{"a":[{"}":"{"}]}` + "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var before map[string]any
		if json.Unmarshal(body, &before) != nil || before == nil {
			_, _ = addField(body, "k", []byte(`{"x":true}`))
			return
		}
		out, err := addField(body, "k", []byte(`{"x":true}`))
		if err != nil {
			t.Fatalf("valid object refused: %v: %s", err, body)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("broke the JSON: %v\n%s\n%s", err, body, out)
		}
		if _, had := before["k"]; !had {
			before["k"] = map[string]any{"x": true}
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("added more than the field:\n%s\n%s", body, out)
		}
	})
}

func TestRewriteModelKeepsBytes(t *testing.T) {
	in := `{"messages":[{"content":"model"}] ,"model":"openai/gpt-4o" ,"n":1}`
	out, err := rewriteModel([]byte(in), "gpt-4o")
	if err != nil || string(out) != `{"messages":[{"content":"model"}] ,"model":"gpt-4o" ,"n":1}` {
		t.Errorf("%s %v", out, err)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t", "\x00\x1f", "\u2028\u2029", "\xff\xfe", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		var want string
		mb, _ := json.Marshal(s)
		_ = json.Unmarshal(mb, &want)
		if got != want {
			t.Fatalf("%q round-tripped as %q, encoding/json gives %q", s, got, want)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{`{"user":"a","n":1,"ok":true}`, `{"x":null}`, `[]`, `{"a":{}}`, `{"a":"\u00e9"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMetadata(b)
		if err == nil && m == nil {
			t.Fatal("nil map without an error")
		}
	})
}

func FuzzDecodeWorkersAIRequest(f *testing.F) {
	for _, s := range []string{
		`{"prompt":"hi","max_tokens":5,"top_k":3}`,
		`{"messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"messages":[{"role":"tool","content":"x"}]}`,
		`{"prompt":"a","messages":[]}`, `{"prompt":1}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeWorkersAIRequest(b, "@cf/x")
		if err == nil && (req == nil || len(req.Messages) == 0) {
			t.Fatalf("accepted a request without messages: %s", b)
		}
	})
}

func FuzzDecodeSteps(f *testing.F) {
	for _, s := range []string{
		`[{"provider":"openai","endpoint":"chat/completions","query":{"model":"m","messages":[]}}]`,
		`{"provider":"openai","endpoint":"chat/completions","query":{}}`,
		`[{"provider":"openai","endpoint":"x","query":{},"config":{"maxAttempts":2,"backoff":"linear"}}]`,
		`[]`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		steps, err := decodeSteps(b)
		if err != nil {
			return
		}
		for _, st := range steps {
			_, _ = stepConfig(st.Config)
		}
	})
}

// FuzzEndpoints posts arbitrary bodies to every model endpoint: the server
// answers each in its format with a meaningful status, never a panic and
// never an upstream call for a body it could not read.
func FuzzEndpoints(f *testing.F) {
	for _, s := range []string{
		`{"model":"mock/m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"mock/m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"model":"mock/m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`[{"provider":"workers-ai","endpoint":"@cf/x","query":{"prompt":"p"}}]`,
		`{"prompt":"p"}`, `{`, ``,
	} {
		for p := range 6 {
			f.Add(p, []byte(s))
		}
	}
	ts := newTestServer(f, serverSetup{})
	h := ts.Handler()
	paths := []string{"/v1/chat/completions", "/v1/messages", cfBase + "/workers-ai/@cf/x", cfBase + "/anthropic/v1/messages", cfBase, "/v1/ensembles/greet/run"}
	f.Fuzz(func(t *testing.T, p int, body []byte) {
		if p < 0 {
			p = -p
		}
		path := paths[p%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		local(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 404, 413, 429, 500, 502, 504:
		default:
			t.Fatalf("%s: status %d for %q: %s", path, rec.Code, body, rec.Body.Bytes())
		}
		if rec.Code != 200 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: error body is not JSON: %s", path, rec.Body.Bytes())
		}
	})
}
