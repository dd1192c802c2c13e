package gateway

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// rateProvider enforces request and token limits per window, for the whole
// gateway and for each user (CallOptions.User), in the shared store so that
// every process sharing it shares the limits.
//
//   - Requests are counted before the call, cache hits included (a hit is a
//     request, as Cloudflare counts it). The store's take is atomic, so a
//     limit of N admits exactly N requests per window under any concurrency.
//     A request's limits are taken together, in one atomic step (token
//     checks included): a request refused by one limit counts against none.
//   - Tokens are what upstreams actually used (input + output, from the
//     answer's usage; cache hits use none). They are counted after the call,
//     and a call is admitted while the window's count is below the limit:
//     the call that crosses the limit completes, the next ones wait.
//   - A call without a user is held to the gateway's limits only.
//   - When the store cannot be reached, calls are refused (503
//     rate_limit_unavailable, and a warning logged): a limit that fails
//     open is no limit when several instances share it.
type rateProvider struct {
	g    *Gateway
	next conductor.Provider
}

func (g *Gateway) ratelimit(next conductor.Provider) conductor.Provider {
	if !g.rateLimited() {
		return next
	}
	return &rateProvider{g: g, next: next}
}

// rateLimited reports whether any rate limit is set.
func (g *Gateway) rateLimited() bool {
	rl := g.cfg.RateLimit
	return rl.Requests != 0 || rl.Tokens != 0 || rl.UserRequests != 0 || rl.UserTokens != 0
}

// rateLimit is one limit a call is held to.
type rateLimit struct {
	key   string
	limit int64
	what  string // requests | tokens
	who   string // "gateway my-gw" | "user alice"
}

// limits are the limits of a call for user u; a call without a user is
// held to the gateway's limits only.
func (r *rateProvider) limits(u string) (requests, tokens []rateLimit) {
	rl, id := r.g.cfg.RateLimit, r.g.cfg.ID
	if u != "" {
		if rl.UserRequests > 0 {
			requests = append(requests, rateLimit{"rate/" + id + "/user/" + u + "/requests", rl.UserRequests, "requests", "user " + u})
		}
		if rl.UserTokens > 0 {
			tokens = append(tokens, rateLimit{"rate/" + id + "/user/" + u + "/tokens", rl.UserTokens, "tokens", "user " + u})
		}
	}
	if rl.Requests > 0 {
		requests = append(requests, rateLimit{"rate/" + id + "/requests", rl.Requests, "requests", "gateway " + id})
	}
	if rl.Tokens > 0 {
		tokens = append(tokens, rateLimit{"rate/" + id + "/tokens", rl.Tokens, "tokens", "gateway " + id})
	}
	return requests, tokens
}

// admit counts a request for user ("" for none) against its limits, or
// refuses it, in one atomic store step: a request refused by one limit
// counts against none.
func (r *rateProvider) admit(ctx context.Context, user string) (tokens []rateLimit, err error) {
	requests, tokens := r.limits(user)
	rl := r.g.cfg.RateLimit
	// Tokens first: checking them takes nothing, so the step stops there
	// before any request is counted.
	all := append(tokens[:len(tokens):len(tokens)], requests...)
	takes := make([]conductor.RateTake, len(all))
	for i, l := range all {
		takes[i] = conductor.RateTake{Key: l.key, N: 1, Limit: l.limit, Window: rl.Window, Kind: rl.Kind}
		if i < len(tokens) {
			// n=0 against limit-1: admitted while the count is below the limit.
			takes[i].N, takes[i].Limit = 0, l.limit-1
		}
	}
	if len(takes) == 0 {
		return nil, nil
	}
	ds, err := r.g.st.TakeRates(ctx, takes, nowUTC())
	if err != nil {
		if ctx.Err() != nil {
			return nil, canceled(ctx, err)
		}
		// A limit that fails open is no limit: with many instances, one
		// whose store is down would admit everything.
		r.g.log.Warn("gateway rate limit store failed; refusing", "limit", takes[len(takes)-1].Key, "err", err)
		return nil, &conductor.Error{
			Class: conductor.ClassServer, Status: 503, Code: "rate_limit_unavailable",
			Message:   "rate limits cannot be checked: the gateway store failed",
			Retryable: true, RetryAfter: time.Second, Err: err,
		}
	}
	for i, d := range ds {
		if !d.Allowed {
			return nil, r.refused(all[i], d)
		}
	}
	return tokens, nil
}

func (r *rateProvider) refused(l rateLimit, d conductor.RateDecision) error {
	return &conductor.Error{
		Class:      conductor.ClassLimited,
		Status:     429,
		Code:       "rate_limited",
		Message:    fmt.Sprintf("rate limit %d %s%s for %s exceeded", l.limit, l.what, perWindow(r.g.cfg.RateLimit.Window), l.who),
		Retryable:  true,
		RetryAfter: d.RetryAfter,
	}
}

func perWindow(w time.Duration) string {
	switch w {
	case time.Second:
		return "/second"
	case time.Minute:
		return "/minute"
	case time.Hour:
		return "/hour"
	case 24 * time.Hour:
		return "/day"
	}
	return " per " + w.String()
}

// afterBatch collects a call's settlements (from the budget layer inside
// the rate limiter) until the rate limiter counts the call's tokens, so
// that both go to the store in one transaction. Settlements that come
// after the flush go their own way.
type afterBatch struct {
	mu      sync.Mutex
	flushed bool
	settles []pendingSettle
}

type pendingSettle struct {
	res    *reservation
	actual int64
}

type afterBatchKey struct{}

// withoutBatch hides any batch from the budget layer.
func withoutBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, afterBatchKey{}, (*afterBatch)(nil))
}

// add joins a settlement to the batch, or reports false when the batch
// is gone (nil, or flushed).
func (b *afterBatch) add(res *reservation, actual int64) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flushed {
		return false
	}
	b.settles = append(b.settles, pendingSettle{res, actual})
	return true
}

func (b *afterBatch) take() []pendingSettle {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushed = true
	s := b.settles
	b.settles = nil
	return s
}

// count adds the tokens an upstream used to the token limits, and settles
// the call's reservations, off the request path, in one store step.
func (r *rateProvider) count(batch *afterBatch, tokens []rateLimit, u conductor.Usage) {
	settles := batch.take()
	n := int64(u.InputTokens) + int64(u.OutputTokens)
	var takes []conductor.RateTake
	if n > 0 {
		rl := r.g.cfg.RateLimit
		for _, l := range tokens {
			// The tokens are spent: count them whatever the limit.
			takes = append(takes, conductor.RateTake{Key: l.key, N: n, Limit: math.MaxInt64, Window: rl.Window, Kind: rl.Kind})
		}
	}
	if len(settles) == 0 && len(takes) == 0 {
		return
	}
	now := nowUTC()
	r.g.after.do(func(ctx context.Context) {
		ss := make([]conductor.Settlement, len(settles))
		for i, p := range settles {
			ss[i] = conductor.Settlement{ID: p.res.id, Actual: p.actual}
		}
		if _, err := r.g.st.SettleAndCount(ctx, ss, takes, now); err != nil {
			r.g.log.Warn("gateway token count and spend settlement failed; reservations stay counted", "settlements", len(ss), "takes", len(takes), "err", err)
			return
		}
		for _, p := range settles {
			r.g.checkAlerts(ctx, p.res.budgets)
		}
	})
}

func (r *rateProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	tokens, err := r.admit(ctx, req.Options.User)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		// No tokens to count after the call: nothing to batch with.
		return r.next.Chat(ctx, req)
	}
	batch := &afterBatch{}
	resp, err := r.next.Chat(context.WithValue(ctx, afterBatchKey{}, batch), req)
	var u conductor.Usage
	if err == nil && !resp.Meta.Cached {
		u = resp.Usage
	}
	r.count(batch, tokens, u)
	return resp, err
}

func (r *rateProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	tokens, err := r.admit(ctx, req.Options.User)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return r.next.Stream(ctx, req)
	}
	batch := &afterBatch{}
	s, err := r.next.Stream(context.WithValue(ctx, afterBatchKey{}, batch), req)
	if err != nil || s.Meta().Cached {
		r.count(batch, tokens, conductor.Usage{})
		return s, err
	}
	return &usageStream{Stream: s, input: estimateTokens(promptBytes(req)), done: func(u conductor.Usage, _ error) { r.count(batch, tokens, u) }}, nil
}

// usageStream tells done, once, the usage a stream reported (or estimated
// from its text when it reported none) when it ends, fails or is closed.
type usageStream struct {
	conductor.Stream
	done     func(u conductor.Usage, err error)
	input    int // input tokens to assume when the stream reports none
	usage    conductor.Usage
	reported bool
	ended    bool // a chunk carried a finish reason: the answer is complete
	text     int  // bytes of delta seen, for an estimate
	finished bool
}

func (s *usageStream) Next() (conductor.Chunk, error) {
	ch, err := s.Stream.Next()
	if err != nil {
		s.finish(err)
		return ch, err
	}
	s.text += len(ch.Delta)
	if ch.FinishReason != "" {
		s.ended = true
	}
	if u := ch.Usage; u != nil {
		// Some wire formats send usage in pieces (Anthropic: input at the
		// start, a cumulative output count later): keep the largest of each.
		s.reported = true
		s.usage.InputTokens = max(s.usage.InputTokens, u.InputTokens)
		s.usage.OutputTokens = max(s.usage.OutputTokens, u.OutputTokens)
		s.usage.CachedInputTokens = max(s.usage.CachedInputTokens, u.CachedInputTokens)
		s.usage.CacheWriteInputTokens = max(s.usage.CacheWriteInputTokens, u.CacheWriteInputTokens)
		s.usage.Estimated = s.usage.Estimated || u.Estimated
	}
	return ch, nil
}

// Close before the end is a failure, unless the answer was complete: a
// caller may well stop reading at the finish reason.
func (s *usageStream) Close() error {
	err := s.Stream.Close()
	if s.ended {
		s.finish(io.EOF)
	} else {
		s.finish(errClosedEarly)
	}
	return err
}

var errClosedEarly = &conductor.Error{Class: conductor.ClassCanceled, Message: "stream closed before its end"}

func (s *usageStream) finish(err error) {
	if s.finished {
		return
	}
	s.finished = true
	if err == io.EOF {
		err = nil
	}
	u := s.usage
	if !s.reported {
		u.InputTokens = s.input
		u.OutputTokens = estimateTokens(s.text)
		u.Estimated = true
	}
	s.done(u, err)
}

// estimateTokens guesses a token count from text bytes (about four per
// token in English), for streams that report no usage.
func estimateTokens(bytes int) int { return (bytes + 3) / 4 }
