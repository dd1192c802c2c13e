package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
)

// CacheScope is the scope of step-cache entries in the store.
const CacheScope = "step"

// cacheWriteTimeout bounds a step-cache write: a slow disk must not hold a
// member back for long, and a failed write only costs a future hit.
const cacheWriteTimeout = 2 * time.Second

// CacheKey is the step-cache key of a request of ensemble on a routing
// mode: the canonical request key (conductor.RequestKey) scoped to the step
// cache, the ensemble's name (members of one ensemble share entries,
// other ensembles never see them), the routing, and — for the test
// provider — its answering setup, so two mock members with different
// replies do not share an entry. Latency and injected failures do not
// change the answer and stay out. It holds no secret: requests carry none.
func CacheKey(ensembleName string, req *conductor.ChatRequest, routing string, mock *ensemble.Mock) string {
	if req.Provider != conductor.ProviderMock || mock == nil {
		return conductor.RequestKey(req, CacheScope, ensembleName, routing)
	}
	scope := make([]string, 0, 5+2*len(mock.Replies))
	scope = append(scope, CacheScope, ensembleName, routing, "reply", mock.Reply)
	if mock.Echo {
		scope = append(scope, "echo")
	}
	for _, r := range mock.Replies {
		scope = append(scope, r.Match, r.Text)
	}
	return conductor.RequestKey(req, scope...)
}

// cachedAnswer is a step-cache entry's value: the answer's blocks (text,
// tool calls…), so that a hit gives back what the model answered, not only
// its text. Content is the text alone, as entries written before blocks
// hold it; it is read, never written.
type cachedAnswer struct {
	Blocks       []conductor.Block `json:"blocks,omitempty"`
	Content      string            `json:"content,omitempty"`
	Model        string            `json:"model,omitempty"`
	FinishReason string            `json:"finishReason,omitempty"`
	Usage        conductor.Usage   `json:"usage"`
}

// cacheOn reports whether st uses the step cache on this engine.
func (e *Engine) cacheOn(st *ensemble.Step) bool {
	return e.cache != nil && st.Cache != nil && st.Cache.TTL > 0
}

// cacheGet returns the cached answer of c, if any: an entry younger than
// the reading member's own TTL (an entry lives for its writer's TTL, and a
// member with a shorter one must not be served an older answer). A read
// error is logged and treated as a miss: the model can still answer.
func (e *Engine) cacheGet(ctx context.Context, r *run, c *call, st *ensemble.Step) (answer, bool) {
	if !e.cacheOn(st) || st.Cache.Bypass {
		return answer{}, false
	}
	key := CacheKey(r.ens.Name, c.req, c.routing, c.mock)
	now := e.now()
	ent, ok, _, err := e.cache.GetCache(ctx, key, now)
	if err != nil {
		e.log.LogAttrs(ctx, slog.LevelWarn, "step cache read failed", slog.String("member", st.Member), slog.String("error", err.Error()))
		return answer{}, false
	}
	if !ok || now.Sub(ent.CreatedAt) >= st.Cache.TTL {
		return answer{}, false
	}
	var ca cachedAnswer
	if err := json.Unmarshal(ent.Value, &ca); err != nil {
		e.log.LogAttrs(ctx, slog.LevelWarn, "step cache entry unreadable", slog.String("member", st.Member), slog.String("error", err.Error()))
		return answer{}, false
	}
	if ca.Blocks == nil {
		ca.Blocks = conductor.Texts(ca.Content)
	}
	a := answerOf(ca.Blocks)
	a.model, a.usage, a.finish, a.cached = ca.Model, ca.Usage, ca.FinishReason, true
	return a, true
}

// DefaultMaxEntryBytes bounds a step-cache entry when Options set none:
// the gateway's own bound (gateway.DefaultMaxEntryBytes).
const DefaultMaxEntryBytes = 4 << 20

// cachePut stores a fresh answer of c. A failure is a logged warning, not
// a member failure.
func (e *Engine) cachePut(ctx context.Context, r *run, c *call, st *ensemble.Step, a answer) {
	if !e.cacheOn(st) {
		return
	}
	val, err := json.Marshal(cachedAnswer{Blocks: a.content, Model: a.model, FinishReason: a.finish, Usage: a.usage})
	if err != nil {
		return
	}
	if len(val) > e.maxEntry {
		// As the gateway's cache: a huge answer is used, not kept (issue
		// 11: a 50 MB answer became a 52 MB row).
		e.log.LogAttrs(ctx, slog.LevelDebug, "step answer too large to cache", slog.String("member", st.Member), slog.Int("bytes", len(val)), slog.Int("max", e.maxEntry))
		return
	}
	now := e.now()
	ent := conductor.CacheEntry{
		Key: CacheKey(r.ens.Name, c.req, c.routing, c.mock), Scope: CacheScope,
		Provider: c.req.Provider, Model: c.req.Model, Value: val,
		CreatedAt: now, ExpiresAt: now.Add(st.Cache.TTL),
	}
	// The write outlives a cancelled run: the answer was paid for.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cacheWriteTimeout)
	defer cancel()
	if err := e.cache.PutCache(wctx, ent); err != nil {
		e.log.LogAttrs(ctx, slog.LevelWarn, "step cache write failed", slog.String("member", st.Member), slog.String("error", err.Error()))
	}
}
