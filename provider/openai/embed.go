package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// Embeddings in two wire formats: OpenAI's POST {BaseURL}/embeddings (the
// caller's format on `conductor serve`, and the upstream of OpenAI and
// OpenAI-style servers), and Workers AI's native run of an embedding model,
// POST {BaseURL}/{model} with {"text":[…]} answered by
// {"result":{"shape":[n,d],"data":[[…]]}}.

// Bounds of an embedding request: OpenAI's (at most 2048 inputs per call).
const (
	MaxEmbedInputs = 2048
	// A vector answer is large: 2048 inputs × 3072 dimensions as JSON
	// numbers approach 100 MB.
	MaxEmbedAnswerBytes = 256 << 20
)

// The OpenAI embedding request fields the gateway models; every other field
// is kept in EmbedRequest.Extra under its own name.
var openAIEmbedFields = []string{"model", "input", "encoding_format", "dimensions"}

// DecodeEmbedRequest reads an OpenAI POST /v1/embeddings body: input
// as a string, strings, one token array or token arrays; encoding_format
// float (the default) or base64 (base64=true); dimensions. Other fields
// (user, …) stay in Extra. Failures are 400s naming the field.
func DecodeEmbedRequest(body []byte) (req *conductor.EmbedRequest, base64 bool, err error) {
	if e := wire.CheckText(body); e != nil {
		return nil, false, e
	}
	var fields map[string]json.RawMessage
	if err := wire.Unmarshal(body, &fields); err != nil {
		return nil, false, wire.BadRequest("the body is not a JSON object: %s", wire.ShortJSONError(err))
	}
	if fields == nil {
		return nil, false, wire.BadRequest("the body is not a JSON object")
	}
	req = &conductor.EmbedRequest{}
	if v := fields["model"]; !wire.IsNull(v) {
		if err := wire.Unmarshal(v, &req.Model); err != nil {
			return nil, false, wire.BadRequest("model: expected a string")
		}
	}
	if err := decodeEmbedInput(fields["input"], req); err != nil {
		return nil, false, err
	}
	if v := fields["encoding_format"]; !wire.IsNull(v) {
		var f string
		_ = wire.Unmarshal(v, &f)
		switch f {
		case "float":
		case "base64":
			base64 = true
		default:
			return nil, false, wire.BadRequest("encoding_format: expected \"float\" or \"base64\"")
		}
	}
	if v := fields["dimensions"]; !wire.IsNull(v) {
		if err := wire.Unmarshal(v, &req.Dimensions); err != nil || req.Dimensions < 1 {
			return nil, false, wire.BadRequest("dimensions: expected an integer of at least 1")
		}
	}
	for k, v := range fields {
		if !slices.Contains(openAIEmbedFields, k) {
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage, len(fields))
			}
			req.Extra[k] = v
		}
	}
	return req, base64, nil
}

func decodeEmbedInput(v json.RawMessage, req *conductor.EmbedRequest) error {
	v = bytes.TrimSpace(v)
	if wire.IsNull(v) {
		return wire.BadRequest("input: required (a string, an array of strings, or token arrays)")
	}
	if v[0] == '"' {
		var s string
		if err := wire.Unmarshal(v, &s); err != nil {
			return wire.BadRequest("input: %s", wire.ShortJSONError(err))
		}
		req.Input = []string{s}
		return checkEmbedTexts(req.Input)
	}
	var items []json.RawMessage
	if err := wire.Unmarshal(v, &items); err != nil {
		return wire.BadRequest("input: expected a string, an array of strings, or token arrays")
	}
	if len(items) == 0 {
		return wire.BadRequest("input: the array is empty")
	}
	switch first := bytes.TrimSpace(items[0]); {
	case len(first) > 0 && first[0] == '"':
		if err := wire.Unmarshal(v, &req.Input); err != nil {
			return wire.BadRequest("input: an array of strings must hold strings only")
		}
		return checkEmbedTexts(req.Input)
	case len(first) > 0 && first[0] == '[':
		if err := wire.Unmarshal(v, &req.Tokens); err != nil {
			return wire.BadRequest("input: token arrays must hold integers only")
		}
	default:
		var one []int
		if err := wire.Unmarshal(v, &one); err != nil {
			return wire.BadRequest("input: a token array must hold integers only")
		}
		req.Tokens = [][]int{one}
	}
	if len(req.Tokens) > MaxEmbedInputs {
		return wire.BadRequest("input: %d token arrays (at most %d per request)", len(req.Tokens), MaxEmbedInputs)
	}
	for i, t := range req.Tokens {
		if len(t) == 0 {
			return wire.BadRequest("input[%d]: an empty token array", i)
		}
	}
	return nil
}

func checkEmbedTexts(in []string) error {
	if len(in) > MaxEmbedInputs {
		return wire.BadRequest("input: %d strings (at most %d per request)", len(in), MaxEmbedInputs)
	}
	for i, s := range in {
		if s == "" {
			return wire.BadRequest("input[%d]: an empty string (every input needs text)", i)
		}
	}
	return nil
}

// EncodeEmbedResponse writes resp as OpenAI's embedding list. With
// base64, each vector is a string of its float32 values, little-endian,
// as the official SDKs decode it; otherwise an array of numbers (float32
// precision, shortest form).
func EncodeEmbedResponse(resp *conductor.EmbedResponse, base64 bool) []byte {
	n := 128 + len(resp.Model)
	for _, v := range resp.Vectors {
		if base64 {
			n += 48 + (4*len(v)+2)/3*4
		} else {
			n += 48 + 12*len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"object":"list","data":[`...)
	for i, v := range resp.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if base64 {
			b = append(b, '"')
			b = appendBase64Vector(b, v)
			b = append(b, '"')
		} else {
			b = appendFloatVector(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = wire.AppendString(b, resp.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(resp.Usage.InputTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(resp.Usage.InputTokens), 10)
	return append(b, `}}`...)
}

func appendFloatVector(b []byte, v []float32) []byte {
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, ']')
}

// appendBase64Vector packs v as little-endian float32s, explicitly: the
// SDKs read the bytes in host order, which is little-endian everywhere
// they run.
func appendBase64Vector(b []byte, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.AppendEncode(b, raw)
}

// decodeVector reads one embedding as either wire form: a base64 string of
// little-endian float32s, or an array of numbers.
func decodeVector(v json.RawMessage) ([]float32, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := wire.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("base64 embedding: %w", err)
		}
		if len(raw)%4 != 0 {
			return nil, fmt.Errorf("base64 embedding of %d bytes is not float32s", len(raw))
		}
		out := make([]float32, len(raw)/4)
		for i := range out {
			f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("embedding value %d is not a finite number", i)
			}
			out[i] = f
		}
		return out, nil
	}
	var out []float32
	err := wire.Unmarshal(v, &out)
	return out, err
}

// EmbedHookRequest is what an Endpoint's Hook sees of an embedding call:
// the hooks (cf-aig-* headers, a caller's own key) read only the call's
// provider, model and options.
func EmbedHookRequest(req *conductor.EmbedRequest) *conductor.ChatRequest {
	return &conductor.ChatRequest{Provider: req.Provider, Model: req.Model, Options: req.Options}
}

// Embed makes the OpenAI-style adapter a conductor.Embedder: POST
// {BaseURL}/embeddings. OpenAI itself is asked for base64 (exact float32s,
// a third of the bytes); other servers for floats, which they all speak.
func (o *openAI) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	body, err := o.embedBody(req)
	if err != nil {
		return nil, err
	}
	c, err := o.Send(ctx, EmbedHookRequest(req), o.Endpoint.BaseURL+"/embeddings", body, o.header(), false)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	raw, err := o.ReadAll(c, MaxEmbedAnswerBytes)
	if err != nil {
		return nil, err
	}
	rid := o.RequestID(c.Response.Header)
	resp, err := DecodeEmbedResponse(o.Endpoint.Name, raw, req.Items())
	if err != nil {
		return nil, provider.CompleteError(err, c.Response.StatusCode, rid)
	}
	if resp.Model == "" {
		resp.Model = req.Model
	}
	if resp.Usage.InputTokens == 0 {
		resp.Usage = EstimatedEmbedUsage(req)
	}
	resp.RequestID = rid
	resp.Meta = c.Meta
	return resp, nil
}

func (o *openAI) embedBody(req *conductor.EmbedRequest) ([]byte, error) {
	if req.Items() == 0 {
		return nil, provider.WithProvider(wire.BadRequest("input: required"), o.Endpoint.Name)
	}
	var w wire.KeyWriter
	w.Init(append(make([]byte, 0, 64+req.InputBytes()+8*req.Items()), '{'))
	w.Str("model", req.Model)
	w.Key("input")
	w.Buf = append(w.Buf, '[')
	for i, s := range req.Input {
		if i > 0 {
			w.Buf = append(w.Buf, ',')
		}
		w.Buf = wire.AppendString(w.Buf, s)
	}
	for i, t := range req.Tokens {
		if i > 0 {
			w.Buf = append(w.Buf, ',')
		}
		w.Buf = append(w.Buf, '[')
		for j, id := range t {
			if j > 0 {
				w.Buf = append(w.Buf, ',')
			}
			w.Buf = strconv.AppendInt(w.Buf, int64(id), 10)
		}
		w.Buf = append(w.Buf, ']')
	}
	w.Buf = append(w.Buf, ']')
	format := "float"
	if o.Endpoint.Name == conductor.ProviderOpenAI {
		format = "base64"
	}
	w.Str("encoding_format", format)
	if req.Dimensions > 0 {
		w.Int("dimensions", int64(req.Dimensions))
	}
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		if !slices.Contains(openAIEmbedFields, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := w.Raw(k, req.Extra[k]); err != nil {
			return nil, provider.WithProvider(err, o.Endpoint.Name)
		}
	}
	return append(w.Buf, '}'), nil
}

type EmbedAnswer struct {
	Error json.RawMessage `json:"error"`
	Model string          `json:"model"`
	Data  []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
}

// DecodeEmbedResponse reads OpenAI's embedding list: one vector per
// input, placed by index.
func DecodeEmbedResponse(prov string, body []byte, items int) (*conductor.EmbedResponse, error) {
	var a EmbedAnswer
	if err := wire.Unmarshal(body, &a); err != nil {
		return nil, provider.Malformed(prov, 0, "", "unreadable embedding answer", err)
	}
	if !wire.IsNull(a.Error) {
		return nil, provider.AnswerError(prov, body)
	}
	if len(a.Data) != items {
		return nil, provider.Malformed(prov, 0, "", fmt.Sprintf("the answer holds %d embeddings for %d inputs", len(a.Data), items), nil)
	}
	resp := &conductor.EmbedResponse{Model: a.Model, Vectors: make([][]float32, items)}
	for _, d := range a.Data {
		if d.Index < 0 || d.Index >= items || resp.Vectors[d.Index] != nil {
			return nil, provider.Malformed(prov, 0, "", fmt.Sprintf("embedding index %d is out of place", d.Index), nil)
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, provider.Malformed(prov, 0, "", fmt.Sprintf("unreadable embedding %d", d.Index), err)
		}
		resp.Vectors[d.Index] = v
	}
	if a.Usage != nil {
		resp.Usage.InputTokens = a.Usage.PromptTokens
	}
	return resp, nil
}

// EstimatedEmbedUsage counts the input tokens locally, for a provider that
// reports none.
func EstimatedEmbedUsage(req *conductor.EmbedRequest) conductor.Usage {
	n := 0
	for _, s := range req.Input {
		n += wire.EstimateTokens(s)
	}
	for _, t := range req.Tokens {
		n += len(t)
	}
	return conductor.Usage{InputTokens: n, Estimated: true}
}
