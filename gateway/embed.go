package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// WrapEmbed builds the gateway's chain around an embedding upstream: the
// same features as Wrap, in the same order, over the same store, so that
// an embedding call is logged, limited, cached, budgeted and retried like
// a chat call. Outermost first:
//
//	record     every request is logged once, priced by its input tokens
//	ratelimit  every request counts, cache hits included; tokens count the
//	           input an upstream actually embedded
//	cache      a hit ends here (conductor.EmbedKey under the gateway's id and cache scope)
//	budget     reserves the call's most (its input at the model's price),
//	           settles the real cost
//	retry      retries retryable failures
//	upstream   the provider adapter
//
// There are no fallbacks: vectors of two models are not comparable, so an
// embedding call has one route. Identical concurrent calls are collapsed
// into one upstream call, as chat calls are.
func (g *Gateway) WrapEmbed(upstream conductor.Embedder) conductor.Embedder {
	if upstream == nil {
		return embedFunc(func(context.Context, *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
			return nil, errNoRoute
		})
	}
	e := g.embedRetry(upstream)
	e = g.embedBudget(e)
	e = g.embedCache(e)
	e = g.embedRateLimit(e)
	return g.embedRecord(e)
}

// embedFunc is one layer of an embedding chain.
type embedFunc func(context.Context, *conductor.EmbedRequest) (*conductor.EmbedResponse, error)

func (f embedFunc) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	return f(ctx, req)
}

// embedRecord logs the call (record.go's row, as a chat call's).
func (g *Gateway) embedRecord(next conductor.Embedder) conductor.Embedder {
	return embedFunc(func(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
		start := time.Now()
		ci := &callInfo{provider: req.Provider, model: req.Model}
		total := g.callTotal(&req.Options)
		tctx, cancel := total.within(ctx)
		resp, err := next.Embed(withInfo(tctx, ci), req)
		err = total.past(ctx, tctx, req.Provider, err)
		cancel()
		latency := time.Since(start)
		row := g.row(newID(start), &req.Options, ci, start, latency, err)
		if err == nil {
			g.answered(&row, &resp.Meta, ci, start, latency)
			g.price(&row, resp.Usage)
		}
		if lerr := g.logRow(ctx, row); lerr != nil && err == nil {
			return nil, lerr
		}
		return resp, err
	})
}

// embedRateLimit holds the call to the gateway's request and token limits
// (ratelimit.go's admission and count).
func (g *Gateway) embedRateLimit(next conductor.Embedder) conductor.Embedder {
	r := &rateProvider{g: g}
	return embedFunc(func(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
		tokens, err := r.admit(ctx, &req.Options)
		if err != nil {
			return nil, err
		}
		if len(tokens) == 0 {
			return next.Embed(ctx, req)
		}
		batch := &afterBatch{}
		resp, err := next.Embed(context.WithValue(ctx, afterBatchKey{}, batch), req)
		var u conductor.Usage
		if err == nil && !resp.Meta.Cached {
			u = resp.Usage
		}
		r.count(batch, tokens, u)
		return resp, err
	})
}

// embedCache answers from the gateway's cache when it can (cache.go's TTL
// rules, store read and queued write).
func (g *Gateway) embedCache(next conductor.Embedder) conductor.Embedder {
	return embedFunc(func(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
		ci := infoFrom(ctx)
		ttl, reason := g.cacheTTL(&req.Options)
		if reason != "" {
			setMiss(ci, reason)
			resp, err := next.Embed(ctx, req)
			if err == nil {
				missMeta(&resp.Meta, reason)
			}
			return resp, err
		}
		var key string
		if who := g.cacheWho(&req.Options); who != "" {
			key = conductor.EmbedKey(req, g.conf().ID, who)
		} else {
			key = conductor.EmbedKey(req, g.conf().ID)
		}
		for {
			if f := g.flights.get(key, false); f != nil {
				if resp, err, again := waitEmbed(ctx, f); !again {
					return resp, err
				}
				continue
			}
			value, reason, err := g.cached(ctx, key, &req.Options)
			if err != nil {
				return nil, err
			}
			if value != nil {
				if resp, derr := decodeEmbedding(value); derr == nil {
					setHit(ci)
					return resp, nil
				} else {
					g.log.Warn("gateway cache entry unreadable; calling upstream", "err", derr)
				}
			}
			f, lead := g.flights.lead(key, false)
			if !lead {
				if resp, err, again := waitEmbed(ctx, f); !again {
					return resp, err
				}
				continue
			}
			f.reason = reason
			setMiss(ci, reason)
			var resp *conductor.EmbedResponse
			err = g.leadFlight(key, f, req.Provider, func() error {
				var err error
				if resp, err = next.Embed(ctx, req); err == nil {
					missMeta(&resp.Meta, reason)
					f.emb = cloneEmbedding(resp)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			// The flight stays visible until the write has landed, so that
			// a call arriving meanwhile is still a hit.
			g.putCache(key, req.Provider, req.Model, ttl, func() []byte { return encodeEmbedding(f.emb) }, func() { g.flights.remove(key, f) })
			return resp, nil
		}
	})
}

// waitEmbed waits for the embedding a flight's leader is getting.
func waitEmbed(ctx context.Context, f *flight) (resp *conductor.EmbedResponse, err error, again bool) {
	if err, again := f.wait(ctx); err != nil || again {
		return nil, err, again
	}
	resp = cloneEmbedding(f.emb)
	hitMeta(&resp.Meta)
	return resp, nil, false
}

// cloneEmbedding copies an answer a caller may change (its Meta); the
// vectors are shared, since nothing writes to them after the upstream.
func cloneEmbedding(r *conductor.EmbedResponse) *conductor.EmbedResponse {
	c := *r
	return &c
}

// embedBudget reserves the call's most in every matching budget before it
// and settles the real cost after it (budget.go's reservation).
func (g *Gateway) embedBudget(next conductor.Embedder) conductor.Embedder {
	return embedFunc(func(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
		res, err := g.reserve(ctx, req.Provider, req.Model, &req.Options, func() int64 {
			// An embedding has no output: its input bounds its cost.
			return g.prices.MaxCost(req.Provider, req.Model, embedTokenBound(req), 0)
		})
		if err != nil {
			return nil, err
		}
		resp, err := next.Embed(ctx, req)
		if res != nil {
			if err != nil {
				g.settle(ctx, res, conductor.Usage{}, true)
			} else {
				g.settle(ctx, res, resp.Usage, false)
			}
		}
		return resp, err
	})
}

// embedTokenBound bounds an embedding call's input tokens from above, as
// inputTokenBound does a chat call's: at most one token per byte of text,
// plus the model's framing tokens of each input.
func embedTokenBound(req *conductor.EmbedRequest) int {
	n := 8
	for _, s := range req.Input {
		n += len(s) + 2
	}
	for _, t := range req.Tokens {
		n += len(t) + 2
	}
	return n
}

// embedRetry retries the call's retryable failures (retry.go's loop and
// per-attempt timeout).
func (g *Gateway) embedRetry(next conductor.Embedder) conductor.Embedder {
	return embedFunc(func(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
		p := g.retryPolicy(req.Options)
		var resp *conductor.EmbedResponse
		attempts := 0
		err := g.retryRun(ctx, req.Options, req.Provider, req.Model, nil, func(ctx context.Context) error {
			attempts++
			var err error
			resp, err = attemptWhole(ctx, p.timeout, p.idle, req.Provider, func(ctx context.Context) (*conductor.EmbedResponse, error) {
				return next.Embed(ctx, req)
			})
			return err
		})
		if err != nil {
			return nil, err
		}
		resp.Meta.Attempts = attempts
		return resp, nil
	})
}

// A cached embedding's bytes: a magic, then provider, routing, model,
// request id and usage as in a cached chat answer (cachecodec.go), then
// the vectors, each its length and its float32s little-endian.
const embeddingMagic = "cge1"

func encodeEmbedding(r *conductor.EmbedResponse) []byte {
	n := 64 + len(r.Meta.Provider) + len(r.Meta.Routing) + len(r.Model) + len(r.RequestID)
	for _, v := range r.Vectors {
		n += binary.MaxVarintLen32 + 4*len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, embeddingMagic...)
	for _, s := range []string{r.Meta.Provider, r.Meta.Routing, r.Model, r.RequestID} {
		b = appendBytes(b, s)
	}
	b = appendUsage(b, r.Usage)
	b = binary.AppendUvarint(b, uint64(len(r.Vectors)))
	for _, v := range r.Vectors {
		b = binary.AppendUvarint(b, uint64(len(v)))
		for _, f := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
	}
	return b
}

func decodeEmbedding(value []byte) (*conductor.EmbedResponse, error) {
	if len(value) < len(embeddingMagic) || string(value[:len(embeddingMagic)]) != embeddingMagic {
		return nil, errors.New("cached answer: not an embedding")
	}
	rd := answerReader{b: value[len(embeddingMagic):]}
	r := &conductor.EmbedResponse{}
	r.Meta.Provider, r.Meta.Routing, r.Model, r.RequestID = rd.string(), rd.string(), rd.string(), rd.string()
	r.Usage = rd.usage()
	n := rd.uvarint()
	// Each vector takes at least a byte: a count beyond that is corrupt and
	// must not size an allocation.
	if rd.err != nil || n > uint64(len(rd.b)) {
		return nil, errBadAnswer
	}
	r.Vectors = make([][]float32, n)
	for i := range r.Vectors {
		r.Vectors[i] = rd.float32s()
	}
	if rd.err != nil {
		return nil, rd.err
	}
	if len(rd.b) != 0 {
		return nil, errBadAnswer
	}
	hitMeta(&r.Meta)
	return r, nil
}

// float32s reads a length and that many little-endian float32s.
func (r *answerReader) float32s() []float32 {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)/4) {
		r.err = errBadAnswer
		return nil
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*i:]))
	}
	r.b = r.b[4*n:]
	return v
}
