package conductor

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
)

// EmbedRequest asks a model for the embeddings of its inputs, independent
// of any wire format.
type EmbedRequest struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Input holds the texts to embed, in order. Tokens holds token-id
	// arrays instead (OpenAI's input as int[][]); exactly one is set.
	Input  []string `json:"input,omitempty"`
	Tokens [][]int  `json:"tokens,omitempty"`
	// Dimensions asks for vectors of that length (OpenAI's
	// text-embedding-3 and later); 0: the model's own.
	Dimensions int `json:"dimensions,omitempty"`
	// Extra holds further fields of the caller's wire format (OpenAI's
	// user, say), keyed by wire name: an adapter of that format sends them,
	// one of another format refuses each by name.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
	// Options are the per-call gateway options; they never reach the
	// provider's body.
	Options CallOptions `json:"-"`
}

// EmbedResponse holds one vector per input, in input order.
type EmbedResponse struct {
	Model   string      `json:"model,omitempty"`
	Vectors [][]float32 `json:"vectors"`
	// Usage counts the input tokens (OutputTokens stays 0); Estimated when
	// the provider reports none (Workers AI).
	Usage     Usage        `json:"usage"`
	RequestID string       `json:"requestId,omitempty"`
	Meta      ResponseMeta `json:"meta"`
}

// Embedder turns texts into vectors. Adapters implement it for a wire
// format; the gateway wraps an Embedder the way it wraps a Provider, with
// the same cache, limits, budgets, retries and log (gateway.WrapEmbed).
type Embedder interface {
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}

// InputBytes is the size of everything an embedding call sends as input,
// counting a token id as one token's worth (four bytes).
func (r *EmbedRequest) InputBytes() int {
	n := 0
	for _, s := range r.Input {
		n += len(s)
	}
	for _, t := range r.Tokens {
		n += 4 * len(t)
	}
	return n
}

// Items is the number of inputs: texts or token arrays.
func (r *EmbedRequest) Items() int { return len(r.Input) + len(r.Tokens) }

// Field tags of the canonical embedding request, apart from the chat
// request's so that the two kinds of key never meet.
const (
	tagEmbedInput byte = 0x40 + iota
	tagEmbedTokens
	tagEmbedDimensions
)

// EmbedKey is the cache key of an embedding request, as RequestKey is of
// a chat request: the hex SHA-256 of its canonical form under scope, with
// a caller's cf-aig-cache-key replacing the fields. The wire field user
// stays out (it does not change the vectors), as do the gateway options.
func EmbedKey(req *EmbedRequest, scope ...string) string {
	var b keyBuilder
	b.buf = make([]byte, 0, 128+req.InputBytes()+8*req.Items())
	b.buf = append(b.buf, keyVersion...)
	b.field(tagScope, "embed")
	for _, sc := range scope {
		b.field(tagScope, sc)
	}
	if req.Options.CacheKey != "" {
		b.field(tagCustom, req.Options.CacheKey)
		return b.sum()
	}
	b.field(tagProvider, req.Provider)
	b.field(tagModel, req.Model)
	for _, s := range req.Input {
		b.field(tagEmbedInput, s)
	}
	var num []byte
	for _, t := range req.Tokens {
		num = num[:0]
		for i, id := range t {
			if i > 0 {
				num = append(num, ',')
			}
			num = strconv.AppendInt(num, int64(id), 10)
		}
		b.field(tagEmbedTokens, string(num))
	}
	if req.Dimensions != 0 {
		b.field(tagEmbedDimensions, strconv.Itoa(req.Dimensions))
	}
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		if k != "user" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.field(tagExtraKey, k)
		b.json(tagExtraValue, req.Extra[k])
	}
	return b.sum()
}
