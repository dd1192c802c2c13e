package provider_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/conductor-go/conductor/provider"

	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// The codecs decode through jsonlib.go's library; encoding/json is the
// oracle. FuzzJSONLibrary decodes one input into each shape the codecs
// decode, with both, and wants the same value, the same success, and the
// same type-error text (the part of an error a caller reads).

// jsonShapes are the types the codecs hand to unmarshal and decodeKnown:
// the named wire types, and stand-ins of the same form for the small
// structs declared inside functions.
var jsonShapes = []func() any{
	func() any { return new(map[string]json.RawMessage) },
	func() any { return new([]json.RawMessage) },
	func() any { return new(string) },
	func() any { return new(*string) },
	func() any { return new(int) },
	func() any { return new(*int) },
	func() any { return new(*int64) },
	func() any { return new(*float64) },
	func() any { return new(*bool) },
	func() any { return new([]string) },
	func() any { return new([]int) },
	func() any { return new([][]int) },
	func() any { return new([]float32) },
	func() any { return new(openai.TextContent) },
	func() any { return new(anthropic.Answer) },
	func() any { return new(anthropic.StreamEvent) },
	func() any { return new(anthropic.BlockWire) },
	func() any { return new(anthropic.RequestBlock) },
	func() any { return new(openai.Answer) },
	func() any { return new(openai.Chunk) },
	func() any { return new([]*openai.Message) },
	func() any { return new([]*openai.ToolCall) },
	func() any { return new([]*openai.Part) },
	func() any { return new([]openai.Tool) },
	func() any { return new(openai.EmbedAnswer) },
	func() any { return new(workersai.Envelope) },
	func() any { return new(workersai.Chunk) },
	func() any { return new(workersai.EmbedEnvelope) },
	func() any { return new([]provider.CFMessage) },
	func() any {
		return new(struct {
			Error     json.RawMessage      `json:"error"`
			Errors    []provider.CFMessage `json:"errors"`
			Message   string               `json:"message"`
			RequestID string               `json:"request_id"`
		})
	},
	func() any {
		return new([]struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		})
	},
	func() any {
		return new([]*struct {
			Type         *string         `json:"type"`
			Name         string          `json:"name"`
			Description  string          `json:"description"`
			InputSchema  json.RawMessage `json:"input_schema"`
			Strict       *bool           `json:"strict"`
			CacheControl json.RawMessage `json:"cache_control"`
		})
	},
	func() any {
		return new(struct {
			Type       string `json:"type"`
			JSONSchema *struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Schema      json.RawMessage `json:"schema"`
				Strict      *bool           `json:"strict"`
			} `json:"json_schema"`
		})
	},
	func() any {
		return new(struct {
			Type    string          `json:"type"`
			Budget  *int            `json:"budget_tokens"`
			Display json.RawMessage `json:"display"`
			Disable *bool           `json:"disable_parallel_tool_use"`
		})
	},
}

// stdKnown is decodeKnown through encoding/json.
func stdKnown(v []byte, dst any) bool {
	d := json.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if d.Decode(dst) != nil {
		return false
	}
	_, err := d.Token()
	return err == io.EOF
}

// typeErrorValue is the JSON value an UnmarshalTypeError names, from
// either library ("" for another error).
func typeErrorValue(err error) string {
	if err == nil {
		return ""
	}
	var std *json.UnmarshalTypeError
	if errors.As(err, &std) {
		return std.Value
	}
	if s := wire.ShortJSONError(err); strings.HasPrefix(s, "expected a value of another type, got ") {
		return strings.TrimPrefix(s, "expected a value of another type, got ")
	}
	return ""
}

func checkJSONLibrary(t *testing.T, data []byte, shape int) {
	t.Helper()
	mk := jsonShapes[shape%len(jsonShapes)]
	want, got := mk(), mk()
	werr, gerr := json.Unmarshal(data, want), wire.Unmarshal(data, got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("shape %T on %q: encoding/json %v, library %v", want, data, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("shape %T on %q:\nencoding/json %#v\nlibrary       %#v", want, data, want, got)
	}
	if w, g := typeErrorValue(werr), typeErrorValue(gerr); w != g {
		t.Fatalf("shape %T on %q: type error of %q, library %q (%v)", want, data, w, g, gerr)
	}
	want, got = mk(), mk()
	if w, g := stdKnown(data, want), wire.DecodeKnown(data, got); w != g || w && !reflect.DeepEqual(want, got) {
		t.Fatalf("known %T on %q: encoding/json %v %#v, library %v %#v", want, data, w, want, g, got)
	}
	if w, g := json.Valid(data), wire.Valid(data); w != g {
		t.Fatalf("valid %q: encoding/json %v, library %v", data, w, g)
	}
	var wb, gb bytes.Buffer
	werr, gerr = json.Compact(&wb, data), wire.Compact(&gb, data)
	if (werr == nil) != (gerr == nil) || werr == nil && !bytes.Equal(wb.Bytes(), gb.Bytes()) {
		t.Fatalf("compact %q: encoding/json %q %v, library %q %v", data, wb.Bytes(), werr, gb.Bytes(), gerr)
	}
}

// jsonSeeds are every JSON fixture of the package plus small values of
// each kind, escapes, surrogates and invalid UTF-8 among them.
func jsonSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte(`null`), []byte(`true`), []byte(`0`), []byte(`-1`), []byte(`1.5e3`), []byte(`1e400`),
		[]byte(`9223372036854775808`), []byte(`"x"`), []byte(`"\u00e9\ud83d\ude00\ud800"`), []byte("\"\xff\""),
		[]byte(`[1,2,3]`), []byte(`[[1],[2,3]]`), []byte(`[0.5,-1e-7]`), []byte(`["a","b"]`), []byte(`{}`), []byte(`[]`),
		[]byte(`{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":true}}`),
		[]byte(`{"TYPE":"enabled","budget_tokens":1024,"type":"disabled"}`),
		[]byte(`[{"role":"user","content":[{"type":"text","text":"hi"}]},null]`),
		[]byte(`{"error":{"message":"m","type":"t","code":401},"request_id":"r"}`),
		[]byte(`{"a":1,"a":2} `), []byte(`{"a":1}x`),
	}
	for _, list := range [][]string{trickyJSON, trickyAnthropic, trickyWorkersAI, trickyRequests, trickyAnthropicRequests} {
		for _, s := range list {
			seeds = append(seeds, []byte(s))
		}
	}
	err := filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		seeds = append(seeds, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seeds
}

func TestJSONLibrary(t *testing.T) {
	for _, seed := range jsonSeeds(t) {
		for shape := range jsonShapes {
			checkJSONLibrary(t, seed, shape)
		}
	}
}

func FuzzJSONLibrary(f *testing.F) {
	// One shape per seed (the fuzzer varies both): every pair would be
	// thousands of seeds to run before fuzzing starts.
	for i, seed := range jsonSeeds(f) {
		f.Add(seed, uint8(i%len(jsonShapes)))
	}
	f.Fuzz(func(t *testing.T, data []byte, shape uint8) {
		checkJSONLibrary(t, data, int(shape))
	})
}
