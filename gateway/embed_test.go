package gateway

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// embedDouble stands for an embedding provider: it counts calls and
// answers one vector per input (its length, then the call number), with
// usage one token per input unless reply says otherwise.
type embedDouble struct {
	calls atomic.Int64
	reply func(n int) error
}

func (d *embedDouble) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	n := int(d.calls.Add(1))
	if d.reply != nil {
		if err := d.reply(n); err != nil {
			return nil, err
		}
	}
	resp := &conductor.EmbedResponse{Model: req.Model, Usage: conductor.Usage{InputTokens: 3 * len(req.Input)},
		Meta: conductor.ResponseMeta{Provider: req.Provider, TTFB: time.Millisecond}}
	for _, s := range req.Input {
		resp.Vectors = append(resp.Vectors, []float32{float32(len(s)), float32(n)})
	}
	return resp, nil
}

func embedReq(texts ...string) *conductor.EmbedRequest {
	return &conductor.EmbedRequest{Provider: conductor.ProviderOpenAI, Model: "text-embedding-3-small", Input: texts}
}

func TestEmbedCacheAndLog(t *testing.T) {
	up := &embedDouble{}
	g, st, stop := start(t, Config{CacheTTL: time.Hour})
	e := g.WrapEmbed(up)
	first, err := e.Embed(t.Context(), embedReq("hello", "world!"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Meta.Cached || first.Meta.CacheStatus != CacheMiss || first.Meta.MissReason != MissNewKey || first.Meta.LogID == "" || first.Meta.Attempts != 1 {
		t.Errorf("first meta %+v", first.Meta)
	}
	// The write is queued off the request path: wait until it landed.
	deadline := time.Now().Add(5 * time.Second)
	var second *conductor.EmbedResponse
	for {
		second, err = e.Embed(t.Context(), embedReq("hello", "world!"))
		if err != nil {
			t.Fatal(err)
		}
		if second.Meta.Cached || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !second.Meta.Cached || second.Meta.CacheStatus != CacheHit || second.Meta.Provider != "openai" || second.Meta.LogID == first.Meta.LogID {
		t.Fatalf("second meta %+v", second.Meta)
	}
	if !reflect.DeepEqual(second.Vectors, first.Vectors) || second.Usage != first.Usage || second.Model != first.Model {
		t.Errorf("cached %+v, first %+v", second, first)
	}
	calls := up.calls.Load()
	// Another input is another entry.
	if _, err := e.Embed(t.Context(), embedReq("hello")); err != nil || up.calls.Load() != calls+1 {
		t.Errorf("a different input was served from the cache (err %v)", err)
	}
	stop()
	rows := logs(t, st)
	var hit, miss *conductor.LogRow
	for i := range rows {
		switch r := &rows[i]; {
		case r.ID == first.Meta.LogID:
			miss = r
		case r.ID == second.Meta.LogID:
			hit = r
		}
	}
	if miss == nil || hit == nil {
		t.Fatalf("rows %+v: the two calls' rows are missing", rows)
	}
	// 6 input tokens at 1,000 nano-USD each; a hit costs nothing.
	if miss.Cached || miss.CostNanoUSD != 6000 || miss.InputTokens != 6 || miss.OutputTokens != 0 || miss.Model != "text-embedding-3-small" ||
		miss.Provider != "openai" || miss.Status != 200 || !miss.Success || miss.Attempts != 1 {
		t.Errorf("miss row %+v", *miss)
	}
	if !hit.Cached || hit.CostNanoUSD != 0 || hit.InputTokens != 6 {
		t.Errorf("hit row %+v", *hit)
	}
}

func TestEmbedCacheOff(t *testing.T) {
	up := &embedDouble{}
	g, _, _ := start(t, Config{})
	e := g.WrapEmbed(up)
	for range 2 {
		resp, err := e.Embed(t.Context(), embedReq("a"))
		if err != nil || resp.Meta.Cached || resp.Meta.MissReason != MissTTL0 {
			t.Fatalf("%+v %v", resp, err)
		}
	}
	if up.calls.Load() != 2 {
		t.Errorf("%d upstream calls, want 2", up.calls.Load())
	}
}

func TestEmbedBudget(t *testing.T) {
	up := &embedDouble{}
	// A call of "hello" reserves 8+5+2 = 15 tokens (15,000 nano-USD) and
	// costs 3 tokens (3,000).
	g, st, stop := start(t, Config{Budgets: []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 0.00002}}})
	e := g.WrapEmbed(up)
	if _, err := e.Embed(t.Context(), embedReq("hello")); err != nil {
		t.Fatal(err)
	}
	// Over the limit by its reservation: refused before any upstream call.
	_, err := e.Embed(t.Context(), embedReq("hello, a much longer text"))
	ce, ok := conductor.AsError(err)
	if !ok || ce.Class != conductor.ClassBudget || ce.Status != 429 || ce.Code != "budget_exceeded" {
		t.Fatalf("err = %v, want a budget refusal", err)
	}
	if up.calls.Load() != 1 {
		t.Errorf("%d upstream calls, want 1", up.calls.Load())
	}
	stop()
	key := g.budgetsFor("openai", "text-embedding-3-small", &conductor.CallOptions{}, nowUTC())[0].Key
	if spent, err := st.Spent(context.Background(), key); err != nil || spent != 3000 {
		t.Errorf("spent %d (%v), want the settled 3,000", spent, err)
	}
	rows := logs(t, st)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if !r.Success && (r.Status != 429 || r.ErrorClass != string(conductor.ClassBudget)) {
			t.Errorf("refusal row %+v", r)
		}
	}
}

func TestEmbedRateLimit(t *testing.T) {
	up := &embedDouble{}
	g, _, _ := start(t, Config{RateLimit: RateLimitConfig{UserRequests: 1, Window: time.Hour}})
	e := g.WrapEmbed(up)
	req := embedReq("a")
	req.Options.User = "alice"
	if _, err := e.Embed(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	_, err := e.Embed(t.Context(), req)
	if class(err) != conductor.ClassLimited {
		t.Fatalf("err = %v, want the rate limit", err)
	}
	req.Options.User = "bob"
	if _, err := e.Embed(t.Context(), req); err != nil {
		t.Errorf("another user was refused: %v", err)
	}
}

func TestEmbedRetry(t *testing.T) {
	busy := &conductor.Error{Provider: "openai", Class: conductor.ClassServer, Status: 503, Retryable: true, Message: "busy"}
	up := &embedDouble{reply: func(n int) error {
		if n == 1 {
			return busy
		}
		return nil
	}}
	g, st, stop := start(t, Config{Retry: RetryConfig{Delay: time.Millisecond, Backoff: BackoffConstant}})
	resp, err := g.WrapEmbed(up).Embed(t.Context(), embedReq("a"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Meta.Attempts != 2 || up.calls.Load() != 2 {
		t.Errorf("attempts %d, calls %d", resp.Meta.Attempts, up.calls.Load())
	}
	// A bad request is never retried, and is logged with its status.
	bad := &conductor.Error{Provider: "openai", Class: conductor.ClassBadRequest, Status: 400, Message: "no"}
	up2 := &embedDouble{reply: func(int) error { return bad }}
	if _, err := g.WrapEmbed(up2).Embed(t.Context(), embedReq("a")); !errors.Is(err, bad) || up2.calls.Load() != 1 {
		t.Errorf("err %v after %d calls", err, up2.calls.Load())
	}
	stop()
	rows := logs(t, st)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r.Success && r.Attempts != 2 || !r.Success && (r.Status != 400 || r.Attempts != 1) {
			t.Errorf("row %+v", r)
		}
	}
}

func TestEmbeddingCodec(t *testing.T) {
	r := &conductor.EmbedResponse{Model: "m", RequestID: "req", Vectors: [][]float32{{1, -2.5, 3e-8}, {}},
		Usage: conductor.Usage{InputTokens: 9, Estimated: true}, Meta: conductor.ResponseMeta{Provider: "workers-ai", Routing: "direct"}}
	b := encodeEmbedding(r)
	got, err := decodeEmbedding(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Vectors, [][]float32{{1, -2.5, 3e-8}, {}}) || got.Model != "m" || got.RequestID != "req" ||
		got.Usage != r.Usage || got.Meta.Provider != "workers-ai" || got.Meta.Routing != "direct" || !got.Meta.Cached {
		t.Errorf("round trip %+v", got)
	}
	for i := range b {
		if _, err := decodeEmbedding(b[:i]); err == nil {
			t.Fatalf("a truncated entry (%d of %d bytes) decoded", i, len(b))
		}
	}
	if _, err := decodeEmbedding(encodeAnswer(&cachedAnswer{})); err == nil {
		t.Error("a chat answer decoded as an embedding")
	}
	if _, err := decodeChat(b); err == nil {
		t.Error("an embedding decoded as a chat answer")
	}
}

// A stored entry, however damaged, decodes or fails; it never panics or
// sizes an allocation from a corrupt count.
func FuzzDecodeEmbedding(f *testing.F) {
	f.Add(encodeEmbedding(&conductor.EmbedResponse{Model: "m", Vectors: [][]float32{{1, 2}, {3}}}))
	f.Add([]byte(embeddingMagic + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeEmbedding(b)
		if err != nil {
			return
		}
		// Bit for bit (a NaN is not equal to itself).
		enc := encodeEmbedding(r)
		if again, err := decodeEmbedding(enc); err != nil || !bytes.Equal(encodeEmbedding(again), enc) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
