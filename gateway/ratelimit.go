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

// rateProvider enforces request and token limits per window (the
// gateway's own, Config.RateLimit, and the Set's RateRules, for the
// gateway, each user, key, team or environment) in the shared store, so
// that every process sharing it shares the limits.
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
//   - A limit of a scope the call has no value for (a per-user limit, a
//     call without a user) does not hold it.
//   - When the store cannot be reached, calls are refused (503
//     rate_limit_unavailable, and a warning logged): a limit that fails
//     open is no limit when several instances share it.
type rateProvider struct {
	g    *Gateway
	next conductor.Provider
}

// ratelimit is always in the chain: limits may be set while the gateway
// runs. A call no limit matches costs a few map lookups.
func (g *Gateway) ratelimit(next conductor.Provider) conductor.Provider {
	return &rateProvider{g: g, next: next}
}

// rateLimit is one limit a call is held to.
type rateLimit struct {
	key    string
	limit  int64
	what   string // requests | tokens
	who    string // "gateway my-gw" | "user alice"
	name   string // the rule's, "" for none
	window time.Duration
	kind   string
}

// rateKey is the counter key of a rate limit: the scope's value, the
// window and what it counts, and no gateway unless the scope is the
// gateway, so that one user's requests count together on every gateway.
func rateKey(scope, value string, window time.Duration, kind, what string) string {
	return "rate/" + scope + ":" + value + "/" + window.String() + "/" + kind + "/" + what
}

// limits are the limits of a call with options o: the gateway's own and
// the Set's. Limits counting under one key are one, the smallest.
func (r *rateProvider) limits(o *conductor.CallOptions) (requests, tokens []rateLimit) {
	w := r.g.whoFor(o)
	add := func(rr *RateRule, v string) {
		for _, l := range [...]struct {
			n    int64
			what string
			to   *[]rateLimit
		}{{rr.Requests, "requests", &requests}, {rr.Tokens, "tokens", &tokens}} {
			if l.n <= 0 {
				continue
			}
			key := rateKey(rr.Scope, v, rr.Window, rr.Kind, l.what)
			dup := false
			for i, x := range *l.to {
				if x.key == key {
					dup = true
					if l.n < x.limit {
						(*l.to)[i].limit, (*l.to)[i].name = l.n, rr.Name
					}
				}
			}
			if !dup {
				*l.to = append(*l.to, rateLimit{key: key, limit: l.n, what: l.what, who: rr.Scope + " " + v, name: rr.Name, window: rr.Window, kind: rr.Kind})
			}
		}
	}
	r.g.live.Load().own.eachRate(&w, add)
	if r.g.shared != nil {
		r.g.shared.Load().eachRate(&w, add)
	}
	return requests, tokens
}

// admit counts a request with options o against its limits, or refuses
// it, in one atomic store step: a request refused by one limit counts
// against none.
func (r *rateProvider) admit(ctx context.Context, o *conductor.CallOptions) (tokens []rateLimit, err error) {
	requests, tokens := r.limits(o)
	// Tokens first: checking them takes nothing, so the step stops there
	// before any request is counted.
	all := append(tokens[:len(tokens):len(tokens)], requests...)
	if len(all) == 0 {
		return nil, nil
	}
	takes := make([]conductor.RateTake, len(all))
	for i, l := range all {
		takes[i] = conductor.RateTake{Key: l.key, N: 1, Limit: l.limit, Window: l.window, Kind: l.kind}
		if i < len(tokens) {
			// n=0 against limit-1: admitted while the count is below the limit.
			takes[i].N, takes[i].Limit = 0, l.limit-1
		}
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
			return nil, refusedRate(all[i], d)
		}
	}
	return tokens, nil
}

func refusedRate(l rateLimit, d conductor.RateDecision) error {
	msg := fmt.Sprintf("rate limit %d %s%s for %s exceeded", l.limit, l.what, perWindow(l.window), l.who)
	if l.name != "" {
		msg = fmt.Sprintf("rate limit %q (%d %s%s for %s) exceeded", l.name, l.limit, l.what, perWindow(l.window), l.who)
	}
	return &conductor.Error{
		Class:      conductor.ClassLimited,
		Status:     429,
		Code:       "rate_limited",
		Message:    msg,
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
		for _, l := range tokens {
			// The tokens are spent: count them whatever the limit.
			takes = append(takes, conductor.RateTake{Key: l.key, N: n, Limit: math.MaxInt64, Window: l.window, Kind: l.kind})
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
	tokens, err := r.admit(ctx, &req.Options)
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
	tokens, err := r.admit(ctx, &req.Options)
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

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *usageStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

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
