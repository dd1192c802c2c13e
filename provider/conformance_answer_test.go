package provider_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"

	conductor "github.com/conductor-go/conductor"
)

// The answer half of the conformance suite: documented answers of one
// format, decoded by that format's decoder and encoded by the other's
// encoder, must equal the other format's documented answer (see
// testdata/conformance/answers/cases.json for which directions each case
// holds). The stream half runs through the server's stream writers:
// server/conformance_stream_test.go.

// conformanceCases reads a cases.json index: case → directions such as
// "openai->anthropic".
func conformanceCases(t *testing.T, dir string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Cases map[string]struct {
			Directions []string `json:"directions"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	out := make(map[string][]string, len(idx.Cases))
	for name, c := range idx.Cases {
		if len(c.Directions) == 0 {
			t.Fatalf("case %s: no directions", name)
		}
		out[name] = c.Directions
	}
	return out
}

var answerCodecs = map[string]struct {
	decode func([]byte) (*conductor.ChatResponse, error)
	encode func(*conductor.ChatResponse) ([]byte, error)
}{
	"openai": {
		decode: func(b []byte) (*conductor.ChatResponse, error) {
			resp, _, err := openai.DecodeProviderResponse(conductor.ProviderOpenAI, b)
			return resp, err
		},
		encode: func(r *conductor.ChatResponse) ([]byte, error) {
			return openai.EncodeResponse(r, 1700000000), nil
		},
	},
	"anthropic": {
		decode: func(b []byte) (*conductor.ChatResponse, error) {
			resp, _, err := anthropic.DecodeProviderResponse(conductor.ProviderAnthropic, b)
			return resp, err
		},
		encode: anthropic.EncodeResponse,
	},
}

func TestConformanceAnswers(t *testing.T) {
	dir := filepath.Join("testdata", "conformance", "answers")
	cases := conformanceCases(t, dir)
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, dirn := range cases[name] {
			from, to, ok := strings.Cut(dirn, "->")
			if !ok || answerCodecs[from].decode == nil || answerCodecs[to].encode == nil {
				t.Fatalf("case %s: unknown direction %q", name, dirn)
			}
			t.Run(name+"/"+from+"-to-"+to, func(t *testing.T) {
				src := readFile(t, filepath.Join(dir, name+"."+from+".json"))
				want := readFile(t, filepath.Join(dir, name+"."+to+".json"))
				resp, err := answerCodecs[from].decode(src)
				if err != nil {
					t.Fatalf("decoding %s: %v", from, err)
				}
				got, err := answerCodecs[to].encode(resp)
				if err != nil {
					t.Fatalf("encoding %s: %v", to, err)
				}
				if diff := semanticDiff(got, want); diff != "" {
					t.Errorf("%s\n got %s\nwant %s", diff, got, want)
				}
			})
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// semanticDiff compares two JSON documents as values: object keys in any
// order, a key absent equal to its zero value (null, 0, "", false, [], {}),
// and the fields that name one particular answer (the top-level id,
// created, model, system_fingerprint, service_tier) ignored. It returns ""
// when they agree, else the first difference's path.
func semanticDiff(got, want []byte) string {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return "got is not JSON: " + err.Error()
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return "want is not JSON: " + err.Error()
	}
	return diffValue("$", g, w)
}

var answerOnlyKeys = []string{"created", "model", "system_fingerprint", "service_tier"}

func diffValue(at string, g, w any) string {
	if isZeroJSON(g) && isZeroJSON(w) {
		return ""
	}
	switch w := w.(type) {
	case map[string]any:
		g, ok := g.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %v, want an object", at, g)
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if slices.Contains(answerOnlyKeys, k) || (at == "$" && k == "id") {
				continue
			}
			if d := diffValue(at+"."+k, g[k], w[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := g.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", at, g, w)
		}
		for i := range w {
			if d := diffValue(fmt.Sprintf("%s[%d]", at, i), g[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if fmt.Sprint(g) != fmt.Sprint(w) {
		return fmt.Sprintf("%s: got %v, want %v", at, g, w)
	}
	return ""
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, x := range v {
			if !isZeroJSON(x) {
				return false
			}
		}
		return true
	}
	return false
}

// The comparison itself must see differences, or the suite proves nothing.
func TestSemanticDiff(t *testing.T) {
	tests := []struct {
		got, want string
		same      bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, true},
		{`{"a":0,"c":null,"d":{}}`, `{"b":""}`, true},
		{`{"id":"x","created":1,"a":{"model":"m"}}`, `{"id":"y","created":2,"a":{"model":"n"}}`, true},
		{`{"a":{"id":"x"}}`, `{"a":{"id":"y"}}`, false},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":[1]}`, `{"a":[1,2]}`, false},
		{`{"a":"1"}`, `{}`, false},
	}
	for _, tt := range tests {
		if d := semanticDiff([]byte(tt.got), []byte(tt.want)); (d == "") != tt.same {
			t.Errorf("%s vs %s: diff %q", tt.got, tt.want, d)
		}
	}
}
