package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"

	conductor "github.com/conductor-go/conductor"
)

func TestDecodeOpenAIEmbedRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    conductor.EmbedRequest
		base64  bool
		wantErr string
	}{
		{name: "one string", body: `{"model":"text-embedding-3-small","input":"hello"}`,
			want: conductor.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"hello"}}},
		{name: "strings, base64, dimensions, user", body: `{"model":"m","input":["a","b"],"encoding_format":"base64","dimensions":256,"user":"u-1"}`,
			want: conductor.EmbedRequest{Model: "m", Input: []string{"a", "b"}, Dimensions: 256,
				Extra: map[string]json.RawMessage{"user": json.RawMessage(`"u-1"`)}}, base64: true},
		{name: "float explicitly", body: `{"model":"m","input":["a"],"encoding_format":"float"}`,
			want: conductor.EmbedRequest{Model: "m", Input: []string{"a"}}},
		{name: "null format and dimensions", body: `{"model":"m","input":"a","encoding_format":null,"dimensions":null}`,
			want: conductor.EmbedRequest{Model: "m", Input: []string{"a"}}},
		{name: "one token array", body: `{"model":"m","input":[1,2,3]}`,
			want: conductor.EmbedRequest{Model: "m", Tokens: [][]int{{1, 2, 3}}}},
		{name: "token arrays", body: `{"model":"m","input":[[1,2],[3]]}`,
			want: conductor.EmbedRequest{Model: "m", Tokens: [][]int{{1, 2}, {3}}}},
		{name: "no input", body: `{"model":"m"}`, wantErr: "input: required"},
		{name: "empty string", body: `{"model":"m","input":["a",""]}`, wantErr: "input[1]: an empty string"},
		{name: "empty array", body: `{"model":"m","input":[]}`, wantErr: "input: the array is empty"},
		{name: "mixed array", body: `{"model":"m","input":["a",1]}`, wantErr: "input: an array of strings must hold strings only"},
		{name: "empty token array", body: `{"model":"m","input":[[1],[]]}`, wantErr: "input[1]: an empty token array"},
		{name: "object input", body: `{"model":"m","input":{"a":1}}`, wantErr: "input: expected a string"},
		{name: "bad format", body: `{"model":"m","input":"a","encoding_format":"int8"}`, wantErr: `encoding_format: expected "float" or "base64"`},
		{name: "zero dimensions", body: `{"model":"m","input":"a","dimensions":0}`, wantErr: "dimensions: expected an integer of at least 1"},
		{name: "model not a string", body: `{"model":3,"input":"a"}`, wantErr: "model: expected a string"},
		{name: "not an object", body: `[1]`, wantErr: "not a JSON object"},
		{name: "null body", body: `null`, wantErr: "not a JSON object"},
		{name: "too many inputs", body: `{"model":"m","input":[` + strings.Repeat(`"a",`, openai.MaxEmbedInputs) + `"a"]}`, wantErr: "2049 strings (at most 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, b64, err := openai.DecodeEmbedRequest([]byte(tt.body))
			if tt.wantErr != "" {
				e, ok := conductor.AsError(err)
				if !ok || e.Class != conductor.ClassBadRequest || !strings.Contains(e.Message, tt.wantErr) {
					t.Fatalf("err = %v, want a bad request containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*req, tt.want) || b64 != tt.base64 {
				t.Errorf("got %+v base64=%v, want %+v base64=%v", *req, b64, tt.want, tt.base64)
			}
		})
	}
}

func TestEncodeOpenAIEmbedResponse(t *testing.T) {
	resp := &conductor.EmbedResponse{Model: "text-embedding-3-small", Vectors: [][]float32{{1, -2}, {0.5, -0.25, 1}}, Usage: conductor.Usage{InputTokens: 7}}
	// The reference's own examples: [1.0,-2.0] and [0.5,-0.25,1.0].
	want := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAMA="},` +
		`{"object":"embedding","index":1,"embedding":"AAAAPwAAgL4AAIA/"}],"model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}}`
	if got := string(openai.EncodeEmbedResponse(resp, true)); got != want {
		t.Errorf("base64:\n got %s\nwant %s", got, want)
	}
	resp.Vectors = [][]float32{{0.1, -0.0456, 1e-7}}
	want = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.0456,1e-07]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}}`
	got := openai.EncodeEmbedResponse(resp, false)
	if string(got) != want {
		t.Errorf("float:\n got %s\nwant %s", got, want)
	}
	// What we write, we read back exactly, in both forms.
	for _, b64 := range []bool{false, true} {
		back, err := openai.DecodeEmbedResponse("openai", openai.EncodeEmbedResponse(resp, b64), 1)
		if err != nil || !reflect.DeepEqual(back.Vectors, resp.Vectors) {
			t.Errorf("base64=%v: round trip %v, %v", b64, back, err)
		}
	}
}

func TestOpenAIEmbed(t *testing.T) {
	tests := []struct {
		name, provider, file, golden string
		req                          conductor.EmbedRequest
		want                         [][]float32
		usage                        conductor.Usage
	}{
		{name: "openai asks base64", provider: "openai", file: "openai/embeddings_base64.json", golden: "openai/request_embed.golden.json",
			req: conductor.EmbedRequest{Model: "text-embedding-3-small", Input: []string{"hello", "world"}, Dimensions: 2,
				Extra: map[string]json.RawMessage{"user": json.RawMessage(`"u-1"`)}},
			want: [][]float32{{1, -2}, {0.5, -0.25}}, usage: conductor.Usage{InputTokens: 2}},
		{name: "local server asks floats", provider: "local", file: "openai/embeddings.json", golden: "openai/request_embed_local.golden.json",
			req:  conductor.EmbedRequest{Model: "nomic-embed-text", Tokens: [][]int{{15339}, {14957, 0}}},
			want: [][]float32{{0.0123, -0.0456}, {0.0781, 0.0032}}, usage: conductor.Usage{InputTokens: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{File: tt.file, Header: map[string]string{"x-request-id": "req_1"}})
			e := openai.New(provider.Endpoint{Name: tt.provider, BaseURL: f.URL, APIKey: "sk-test"}).(conductor.Embedder)
			resp, err := e.Embed(context.Background(), &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			ex := f.Last(t)
			if ex.Path != "/embeddings" {
				t.Errorf("path %s", ex.Path)
			}
			wantHeaders(t, ex.Header, map[string]string{"Authorization": "Bearer sk-test", "Content-Type": "application/json"})
			checkGolden(t, tt.golden, ex.Body)
			if !reflect.DeepEqual(resp.Vectors, tt.want) || resp.Usage != tt.usage || resp.RequestID != "req_1" || resp.Model != "text-embedding-3-small" {
				t.Errorf("got %+v", resp)
			}
			if resp.Meta.Provider != tt.provider {
				t.Errorf("meta %+v", resp.Meta)
			}
		})
	}
}

func TestOpenAIEmbedErrors(t *testing.T) {
	tests := []struct {
		name  string
		r     reply
		class conductor.ErrorClass
		msg   string
	}{
		{"401", reply{Status: 401, File: "openai/error_401.json"}, conductor.ClassAuth, "Incorrect API key"},
		{"error in a 200", reply{Body: `{"error":{"message":"model overloaded","type":"server_error"}}`}, conductor.ClassServer, "model overloaded"},
		{"too few vectors", reply{Body: `{"data":[{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":1}}`}, conductor.ClassMalformed, "1 embeddings for 2 inputs"},
		{"index twice", reply{Body: `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`}, conductor.ClassMalformed, "index 0 is out of place"},
		{"bad base64", reply{Body: `{"data":[{"index":0,"embedding":"!!"},{"index":1,"embedding":"AAAAAA=="}]}`}, conductor.ClassMalformed, "unreadable embedding 0"},
		{"not float32s", reply{Body: `{"data":[{"index":0,"embedding":"AAA="},{"index":1,"embedding":"AAAAAA=="}]}`}, conductor.ClassMalformed, "unreadable embedding 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.r)
			e := openai.New(provider.Endpoint{Name: "openai", BaseURL: f.URL}).(conductor.Embedder)
			_, err := e.Embed(context.Background(), &conductor.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
			ce, ok := conductor.AsError(err)
			if !ok || ce.Class != tt.class || !strings.Contains(ce.Error(), tt.msg) || ce.Provider != "openai" {
				t.Errorf("err = %v, want class %s containing %q", err, tt.class, tt.msg)
			}
		})
	}
}

func TestWorkersAIEmbed(t *testing.T) {
	f := newFake(t, reply{File: "workersai/embed.json", Header: map[string]string{"cf-ray": "ray-1"}})
	e := workersai.New(provider.Endpoint{BaseURL: f.URL + "/client/v4/accounts/acct/ai/run", APIKey: "cf-token"}).(conductor.Embedder)
	resp, err := e.Embed(context.Background(), &conductor.EmbedRequest{Model: "@cf/baai/bge-small-en-v1.5", Input: []string{"hello", "world"},
		Extra: map[string]json.RawMessage{"user": json.RawMessage(`"u-1"`)}})
	if err != nil {
		t.Fatal(err)
	}
	ex := f.Last(t)
	if ex.Path != "/client/v4/accounts/acct/ai/run/@cf/baai/bge-small-en-v1.5" {
		t.Errorf("path %s", ex.Path)
	}
	wantHeaders(t, ex.Header, map[string]string{"Authorization": "Bearer cf-token"})
	checkGolden(t, "workersai/request_embed.golden.json", ex.Body)
	want := [][]float32{{0.0132, -0.0511, 0.0207}, {0.0402, 0.0117, -0.0098}}
	if !reflect.DeepEqual(resp.Vectors, want) || resp.RequestID != "ray-1" || resp.Model != "@cf/baai/bge-small-en-v1.5" {
		t.Errorf("got %+v", resp)
	}
	// The answer counts no tokens: estimated, one per word here.
	if resp.Usage.InputTokens != 2 || !resp.Usage.Estimated {
		t.Errorf("usage %+v", resp.Usage)
	}
}

func TestWorkersAIEmbedRefusals(t *testing.T) {
	tests := []struct {
		name, field string
		req         conductor.EmbedRequest
	}{
		{"token arrays", "input", conductor.EmbedRequest{Tokens: [][]int{{1}}}},
		{"dimensions", "dimensions", conductor.EmbedRequest{Input: []string{"a"}, Dimensions: 256}},
		{"another field", "encoding_extra", conductor.EmbedRequest{Input: []string{"a"},
			Extra: map[string]json.RawMessage{"user": json.RawMessage(`"u"`), "encoding_extra": json.RawMessage(`1`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, reply{File: "workersai/embed.json"})
			tt.req.Model = "@cf/baai/bge-small-en-v1.5"
			_, err := workersai.New(provider.Endpoint{BaseURL: f.URL}).(conductor.Embedder).Embed(context.Background(), &tt.req)
			e, ok := conductor.AsError(err)
			if !ok || e.Class != conductor.ClassBadRequest || e.Code != "unsupported_parameter" ||
				!strings.HasPrefix(e.Message, tt.field+": not supported by workers-ai") {
				t.Fatalf("err = %v", err)
			}
			if len(f.Seen) != 0 {
				t.Error("a refused request reached the upstream")
			}
		})
	}
}

func TestWorkersAIEmbedErrors(t *testing.T) {
	tests := []struct {
		name  string
		r     reply
		class conductor.ErrorClass
		msg   string
	}{
		{"success false", reply{Body: `{"result":null,"success":false,"errors":[{"code":5006,"message":"Error: oneOf at '/' not met"}],"messages":[]}`},
			conductor.ClassProviderFail, "oneOf at '/' not met"},
		{"a chat model", reply{File: "workersai/embed_chat_model.json"}, conductor.ClassMalformed, "0 embeddings for 2 texts (is the model an embedding model?)"},
		{"shape mismatch", reply{Body: `{"result":{"shape":[2,3],"data":[[1,2,3],[1,2]]},"success":true}`}, conductor.ClassMalformed, "embedding 1 has 2 values, the shape says 3"},
		{"401", reply{Status: 401, File: "workersai/error_401.json"}, conductor.ClassAuth, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.r)
			_, err := workersai.New(provider.Endpoint{BaseURL: f.URL}).(conductor.Embedder).Embed(context.Background(),
				&conductor.EmbedRequest{Model: "@cf/baai/bge-small-en-v1.5", Input: []string{"a", "b"}})
			e, ok := conductor.AsError(err)
			if !ok || e.Class != tt.class || !strings.Contains(e.Error(), tt.msg) {
				t.Errorf("err = %v, want class %s containing %q", err, tt.class, tt.msg)
			}
		})
	}
}

// More than 100 texts go in runs of 100, in order, and the vectors come
// back in input order.
func TestWorkersAIEmbedBatches(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var in struct{ Text []string }
		if err := json.Unmarshal(b, &in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		sizes = append(sizes, len(in.Text))
		mu.Unlock()
		// Each vector is the text's number, so the order shows.
		data := make([]string, len(in.Text))
		for i, s := range in.Text {
			data[i] = "[" + strings.TrimPrefix(s, "t") + "]"
		}
		fmt.Fprintf(w, `{"result":{"shape":[%d,1],"data":[%s]},"success":true,"errors":[],"messages":[]}`, len(in.Text), strings.Join(data, ","))
	}))
	defer srv.Close()
	in := make([]string, 250)
	for i := range in {
		in[i] = fmt.Sprintf("t%d", i)
	}
	resp, err := workersai.New(provider.Endpoint{BaseURL: srv.URL}).(conductor.Embedder).Embed(context.Background(),
		&conductor.EmbedRequest{Model: "@cf/baai/bge-base-en-v1.5", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Errorf("batches %v, want [100 100 50]", sizes)
	}
	if len(resp.Vectors) != 250 {
		t.Fatalf("%d vectors", len(resp.Vectors))
	}
	for i, v := range resp.Vectors {
		if len(v) != 1 || v[0] != float32(i) {
			t.Fatalf("vector %d = %v", i, v)
		}
	}
}

// Whatever a caller sends, decoding never panics, and what it accepts has
// inputs that every embedding format can carry: one kind, none empty.
func FuzzDecodeOpenAIEmbedRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"text-embedding-3-small","input":"hello"}`,
		`{"model":"m","input":["a","b"],"encoding_format":"base64","dimensions":8,"user":"u"}`,
		`{"model":"m","input":[[1,2],[3]]}`, `{"model":"m","input":[1,2,3]}`,
		`{"input":[]}`, `null`, `{"input":[["a"]]}`, `{"input":[1,"a"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, b64, err := openai.DecodeEmbedRequest(body)
		if err != nil {
			if e, ok := conductor.AsError(err); !ok || e.Class != conductor.ClassBadRequest {
				t.Fatalf("not a bad request: %v", err)
			}
			return
		}
		if (len(req.Input) == 0) == (len(req.Tokens) == 0) || req.Items() > openai.MaxEmbedInputs || req.Dimensions < 0 {
			t.Fatalf("accepted %+v", req)
		}
		for _, s := range req.Input {
			if s == "" {
				t.Fatal("accepted an empty input")
			}
		}
		for _, tk := range req.Tokens {
			if len(tk) == 0 {
				t.Fatal("accepted an empty token array")
			}
		}
		resp := &conductor.EmbedResponse{Model: req.Model, Vectors: make([][]float32, req.Items())}
		if !json.Valid(openai.EncodeEmbedResponse(resp, b64)) {
			t.Fatal("invalid answer JSON")
		}
	})
}
