package workersai

import (
	"context"
	"fmt"
	"slices"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
)

// Workers AI's native run of an embedding model: POST {BaseURL}/{model}
// with {"text":[…]}.

// Embed makes the Workers AI adapter a conductor.Embedder for its
// embedding models (@cf/baai/bge-*): texts only, at most 100 per run, so a
// larger call runs in batches of 100, in order. Workers AI's answer counts
// no tokens: usage is estimated. The OpenAI fields it has no equivalent
// for (token arrays, dimensions, any other) are refused by name.
// embedBatch is Workers AI's bound of one embedding run (at most 100
// texts), so larger calls are split.
const embedBatch = 100

func (w *workersAI) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	if err := workersAIEmbedRefusals(req, w.Endpoint.Name); err != nil {
		return nil, err
	}
	u, err := w.modelURL(req.Model)
	if err != nil {
		return nil, provider.WithProvider(err, w.Endpoint.Name)
	}
	hreq := openai.EmbedHookRequest(req)
	resp := &conductor.EmbedResponse{Model: req.Model, Vectors: make([][]float32, 0, len(req.Input)), Usage: openai.EstimatedEmbedUsage(req)}
	for start := 0; start < len(req.Input); start += embedBatch {
		batch := req.Input[start:min(start+embedBatch, len(req.Input))]
		vs, meta, rid, err := w.embedBatch(ctx, hreq, u, batch)
		if err != nil {
			return nil, err
		}
		resp.Vectors = append(resp.Vectors, vs...)
		if start == 0 {
			resp.Meta, resp.RequestID = meta, rid
		} else if !meta.Cached {
			// The hosted gateway's cache: a hit only if every batch was one.
			resp.Meta.Cached, resp.Meta.CacheStatus = false, meta.CacheStatus
		}
	}
	return resp, nil
}

func workersAIEmbedRefusals(req *conductor.EmbedRequest, prov string) error {
	refuse := func(field, why string) error {
		e := wire.BadRequest("%s: not supported by %s (%s)", field, prov, why)
		e.Provider, e.Code = prov, "unsupported_parameter"
		return e
	}
	switch {
	case len(req.Tokens) > 0:
		return refuse("input", "Workers AI embeds text: send strings, not token arrays")
	case len(req.Input) == 0:
		return provider.WithProvider(wire.BadRequest("input: required"), prov)
	case req.Dimensions != 0:
		return refuse("dimensions", "its embedding models have fixed dimensions")
	}
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		// user names the caller for the gateway; it does not change the
		// vectors, and Workers AI has no field for it.
		if k != "user" {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		return refuse(keys[0], "the Workers AI API has no such field")
	}
	return nil
}

func (w *workersAI) embedBatch(ctx context.Context, hreq *conductor.ChatRequest, u string, texts []string) ([][]float32, conductor.ResponseMeta, string, error) {
	n := 16
	for _, s := range texts {
		n += len(s) + 4
	}
	body := append(make([]byte, 0, n), `{"text":[`...)
	for i, s := range texts {
		if i > 0 {
			body = append(body, ',')
		}
		body = wire.AppendString(body, s)
	}
	body = append(body, "]}"...)
	c, err := w.Send(ctx, hreq, u, body, w.header(), false)
	if err != nil {
		return nil, conductor.ResponseMeta{}, "", err
	}
	defer c.Release()
	raw, err := w.ReadAll(c, openai.MaxEmbedAnswerBytes)
	if err != nil {
		return nil, conductor.ResponseMeta{}, "", err
	}
	rid := w.RequestID(c.Response.Header)
	vs, err := decodeWorkersAIEmbedResponse(w.Endpoint.Name, raw, len(texts))
	if err != nil {
		return nil, conductor.ResponseMeta{}, "", provider.CompleteError(err, c.Response.StatusCode, rid)
	}
	return vs, c.Meta, rid, nil
}

type EmbedEnvelope struct {
	Result *struct {
		Shape []int       `json:"shape"`
		Data  [][]float32 `json:"data"`
	} `json:"result"`
	Success *bool                `json:"success"`
	Errors  []provider.CFMessage `json:"errors"`
}

// decodeWorkersAIEmbedResponse reads a native embedding run: result.data,
// n vectors of result.shape[1] numbers.
func decodeWorkersAIEmbedResponse(prov string, body []byte, n int) ([][]float32, error) {
	var env EmbedEnvelope
	if err := wire.Unmarshal(body, &env); err != nil {
		return nil, provider.Malformed(prov, 0, "", "unreadable embedding answer", err)
	}
	if (env.Success != nil && !*env.Success) || len(env.Errors) > 0 {
		msg, code := provider.JoinCFMessages(env.Errors)
		if msg == "" {
			msg = "the request did not succeed"
		}
		return nil, &conductor.Error{Provider: prov, Class: conductor.ClassProviderFail, Code: code, Message: msg}
	}
	if env.Result == nil || len(env.Result.Data) != n {
		got := 0
		if env.Result != nil {
			got = len(env.Result.Data)
		}
		return nil, provider.Malformed(prov, 0, "", fmt.Sprintf("the answer holds %d embeddings for %d texts (is the model an embedding model?)", got, n), nil)
	}
	if s := env.Result.Shape; len(s) == 2 {
		for i, v := range env.Result.Data {
			if len(v) != s[1] {
				return nil, provider.Malformed(prov, 0, "", fmt.Sprintf("embedding %d has %d values, the shape says %d", i, len(v), s[1]), nil)
			}
		}
	}
	return env.Result.Data, nil
}
