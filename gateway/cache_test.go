package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/openai"
)

func dur(d time.Duration) *time.Duration { return &d }

// A second gateway over the same file (a new process, after a deploy) is
// served from the cache the first one filled: first user pays, everyone
// else benefits.
func TestCacheSurvivesRestart(t *testing.T) {
	path := tempDB(t)
	up := &double{}
	cfg := Config{ID: "my-gateway", CacheTTL: time.Hour, Prices: testPrices{}}
	ctx := context.Background()

	st := openStore(t, path)
	g1, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g1.Wrap(up).Chat(ctx, chatReq("What is AI Gateway?"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Meta.Cached || resp.Meta.CacheStatus != CacheMiss || resp.Meta.MissReason != MissNewKey {
		t.Fatalf("first answer meta = %+v, want a MISS (new_key)", resp.Meta)
	}
	if err := g1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st2 := openStore(t, path)
	defer st2.Close()
	g2, err := New(cfg, st2)
	if err != nil {
		t.Fatal(err)
	}
	resp2, err := g2.Wrap(up).Chat(ctx, chatReq("What is AI Gateway?"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !resp2.Meta.Cached || resp2.Meta.CacheStatus != CacheHit {
		t.Fatalf("second process meta = %+v, want a HIT", resp2.Meta)
	}
	if resp2.Text() != resp.Text() || !bytes.Equal(resp2.Raw, resp.Raw) || resp2.Usage != resp.Usage {
		t.Fatalf("cached answer differs: %+v vs %+v", resp2, resp)
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("upstream called %d times, want 1", n)
	}
	rows := logs(t, st2)
	if len(rows) != 2 {
		t.Fatalf("%d log rows, want 2", len(rows))
	}
	var hits int
	for _, r := range rows {
		if r.Cached {
			hits++
			if r.CostNanoUSD != 0 {
				t.Errorf("hit row cost %d, want 0", r.CostNanoUSD)
			}
		}
	}
	if hits != 1 {
		t.Fatalf("%d hit rows, want 1", hits)
	}
}

// Every MISS says why, and every answer says HIT or MISS.
func TestCacheMissReasons(t *testing.T) {
	type call struct {
		after  time.Duration // fake time to let pass before the call
		opts   conductor.CallOptions
		stream bool
		status string
		reason string
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		fail  bool // the upstream stream is cut after its first chunk
		calls []call
	}{
		{"gateway ttl: new key then hit", time.Hour, false, []call{
			{status: CacheMiss, reason: MissNewKey},
			{status: CacheHit},
		}},
		{"expired", time.Minute, false, []call{
			{status: CacheMiss, reason: MissNewKey},
			{after: 2 * time.Minute, status: CacheMiss, reason: MissExpired},
			{status: CacheHit},
		}},
		{"ttl 0 by default", 0, false, []call{
			{status: CacheMiss, reason: MissTTL0},
			{status: CacheMiss, reason: MissTTL0},
		}},
		{"request ttl 0 over the gateway's", time.Hour, false, []call{
			{opts: conductor.CallOptions{CacheTTL: dur(0)}, status: CacheMiss, reason: MissTTL0},
			{opts: conductor.CallOptions{CacheTTL: dur(0)}, status: CacheMiss, reason: MissTTL0},
		}},
		{"request ttl over the gateway's", time.Hour, false, []call{
			{opts: conductor.CallOptions{CacheTTL: dur(time.Minute)}, status: CacheMiss, reason: MissNewKey},
			{after: 2 * time.Minute, status: CacheMiss, reason: MissExpired},
		}},
		// A caller's own TTL bounds the age of what it is served, whatever
		// TTL the entry was written with (a ttl: 2 member after a ttl: 3600
		// one with the same request).
		{"entry older than the reader's ttl", 0, false, []call{
			{opts: conductor.CallOptions{CacheTTL: dur(time.Hour)}, status: CacheMiss, reason: MissNewKey},
			{after: 3 * time.Second, opts: conductor.CallOptions{CacheTTL: dur(2 * time.Second)}, status: CacheMiss, reason: MissExpired},
			{opts: conductor.CallOptions{CacheTTL: dur(2 * time.Second)}, status: CacheHit},
		}},
		{"entry younger than the reader's ttl", 0, false, []call{
			{opts: conductor.CallOptions{CacheTTL: dur(time.Hour)}, status: CacheMiss, reason: MissNewKey},
			{after: time.Second, opts: conductor.CallOptions{CacheTTL: dur(2 * time.Second)}, status: CacheHit},
		}},
		{"request ttl turns caching on", 0, false, []call{
			{opts: conductor.CallOptions{CacheTTL: dur(time.Hour)}, status: CacheMiss, reason: MissNewKey},
			{opts: conductor.CallOptions{CacheTTL: dur(time.Hour)}, status: CacheHit},
		}},
		{"bypass", time.Hour, false, []call{
			{status: CacheMiss, reason: MissNewKey},
			{opts: conductor.CallOptions{SkipCache: true}, status: CacheMiss, reason: MissBypass},
			{status: CacheHit},
		}},
		{"custom key without ttl is kept five minutes", 0, false, []call{
			{opts: conductor.CallOptions{CacheKey: "faq-1"}, status: CacheMiss, reason: MissNewKey},
			{after: 4 * time.Minute, opts: conductor.CallOptions{CacheKey: "faq-1"}, status: CacheHit},
			{after: 2 * time.Minute, opts: conductor.CallOptions{CacheKey: "faq-1"}, status: CacheMiss, reason: MissExpired},
		}},
		{"stream: new key then hit", time.Hour, false, []call{
			{stream: true, status: CacheMiss, reason: MissNewKey},
			{stream: true, status: CacheHit},
			{status: CacheMiss, reason: MissNewKey}, // a whole answer is another entry
		}},
		{"stream that failed", time.Hour, true, []call{
			{stream: true, status: CacheMiss, reason: MissStreamError},
			{stream: true, status: CacheMiss, reason: MissStreamError},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &double{stream: func(context.Context, *conductor.ChatRequest, int) (conductor.Stream, error) {
					if tt.fail {
						return newChunks(&conductor.Error{Class: conductor.ClassStreamCut, Retryable: true, Message: "cut"}, testChunks()[0]), nil
					}
					return newChunks(nil, testChunks()...), nil
				}}
				g, st, stop := start(t, Config{CacheTTL: tt.ttl})
				defer stop()
				p := g.Wrap(up)
				for i, c := range tt.calls {
					time.Sleep(c.after)
					req := chatReq("hello")
					req.Options = c.opts
					var meta conductor.ResponseMeta
					if c.stream {
						s, err := p.Stream(t.Context(), req)
						if err != nil {
							t.Fatalf("call %d: %v", i, err)
						}
						_, err = readAll(t, s)
						if (err != nil) != tt.fail {
							t.Fatalf("call %d: stream error %v", i, err)
						}
						meta = s.Meta()
					} else {
						resp, err := p.Chat(t.Context(), req)
						if err != nil {
							t.Fatalf("call %d: %v", i, err)
						}
						meta = resp.Meta
					}
					if meta.CacheStatus != c.status || meta.MissReason != c.reason || meta.Cached != (c.status == CacheHit) {
						t.Errorf("call %d: meta %+v, want %s %q", i, meta, c.status, c.reason)
					}
					synctest.Wait() // let the cache write land
				}
				stop()
				rows := logs(t, st)
				if len(rows) != len(tt.calls) {
					t.Fatalf("%d log rows, want %d", len(rows), len(tt.calls))
				}
				// RecentLogs is newest first.
				for i, c := range tt.calls {
					r := rows[len(rows)-1-i]
					if r.Cached != (c.status == CacheHit) || r.MissReason != c.reason {
						t.Errorf("row %d: cached=%v miss=%q, want %s %q", i, r.Cached, r.MissReason, c.status, c.reason)
					}
				}
			})
		})
	}
}

// N concurrent identical requests make one upstream call; the others wait
// for it and count as hits.
func TestCacheCollapsesConcurrentRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		up := &double{reply: func(ctx context.Context, req *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			<-release
			return answer("shared", 10, 5), nil
		}}
		g, st, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		p := g.Wrap(up)
		const n = 50
		var wg sync.WaitGroup
		var hits, misses atomic.Int64
		for range n {
			wg.Go(func() {
				resp, err := p.Chat(t.Context(), chatReq("same question"))
				if err != nil {
					t.Error(err)
					return
				}
				if resp.Text() != "shared" {
					t.Errorf("content %q", resp.Text())
				}
				if resp.Meta.Cached {
					hits.Add(1)
				} else {
					misses.Add(1)
				}
			})
		}
		synctest.Wait() // every caller is waiting: one upstream, the rest on it
		close(release)
		wg.Wait()
		if c := up.calls.Load(); c != 1 {
			t.Fatalf("upstream called %d times, want 1", c)
		}
		if hits.Load() != n-1 || misses.Load() != 1 {
			t.Fatalf("hits %d misses %d, want %d and 1", hits.Load(), misses.Load(), n-1)
		}
		stop()
		if rows := logs(t, st); len(rows) != n {
			t.Fatalf("%d rows, want %d", len(rows), n)
		}
	})
}

// A leader whose caller went away does not fail the others: one of them
// makes the call instead.
func TestCacheCollapseSurvivesLeaderCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		up := &double{reply: func(ctx context.Context, req *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			if n == 1 {
				<-ctx.Done()
				return nil, &conductor.Error{Class: conductor.ClassCanceled, Err: ctx.Err()}
			}
			<-release
			return answer("second", 1, 1), nil
		}}
		g, _, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		p := g.Wrap(up)
		lctx, cancel := context.WithCancel(t.Context())
		go p.Chat(lctx, chatReq("q"))
		synctest.Wait()
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				resp, err := p.Chat(t.Context(), chatReq("q"))
				if err != nil || resp.Text() != "second" {
					t.Errorf("waiter: %v %v", resp, err)
				}
			})
		}
		synctest.Wait()
		cancel()
		synctest.Wait()
		close(release)
		wg.Wait()
		if c := up.calls.Load(); c != 2 {
			t.Fatalf("upstream called %d times, want 2", c)
		}
	})
}

// Failures are shared with the waiters but never cached.
func TestCacheNeverStoresFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{reply: func(ctx context.Context, req *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
			if n == 1 {
				return nil, &conductor.Error{Class: conductor.ClassBadRequest, Status: 400, Message: "bad"}
			}
			return answer("ok", 1, 1), nil
		}}
		g, _, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		p := g.Wrap(up)
		if _, err := p.Chat(t.Context(), chatReq("q")); class(err) != conductor.ClassBadRequest {
			t.Fatalf("first call: %v", err)
		}
		synctest.Wait()
		resp, err := p.Chat(t.Context(), chatReq("q"))
		if err != nil || resp.Meta.CacheStatus != CacheMiss || resp.Meta.MissReason != MissNewKey {
			t.Fatalf("second call: %+v %v, want a MISS", resp, err)
		}
	})
}

// The OpenAI wire fake answers a stream once; the replay has the same
// chunks, raw events included, in the same order.
func TestCacheStreamReplaysChunks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sse := testdata(t, "stream.sse")
		var hits atomic.Int64
		client, stopNet := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(sse)
		}))
		defer stopNet()
		up := openai.New(provider.Endpoint{Name: "openai", BaseURL: "http://fake/v1", APIKey: "sk-test", Client: client})
		g, st, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		p := g.Wrap(up)
		req := chatReq("Say hello")
		req.Stream = true

		s1, err := p.Stream(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		first, err := readAll(t, s1)
		if err != nil {
			t.Fatal(err)
		}
		if s1.Meta().CacheStatus != CacheMiss {
			t.Fatalf("first stream meta %+v", s1.Meta())
		}
		synctest.Wait()
		s2, err := p.Stream(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		second, err := readAll(t, s2)
		if err != nil {
			t.Fatal(err)
		}
		if !s2.Meta().Cached || s2.Meta().CacheStatus != CacheHit {
			t.Fatalf("second stream meta %+v, want a HIT", s2.Meta())
		}
		if hits.Load() != 1 {
			t.Fatalf("upstream served %d streams, want 1", hits.Load())
		}
		if len(first) < 3 || len(first) != len(second) {
			t.Fatalf("chunks: %d then %d", len(first), len(second))
		}
		var text strings.Builder
		for i := range first {
			a, b := first[i], second[i]
			if a.Delta != b.Delta || a.FinishReason != b.FinishReason || !bytes.Equal(a.Raw, b.Raw) || fmt.Sprint(a.Usage) != fmt.Sprint(b.Usage) {
				t.Errorf("chunk %d differs:\n%+v\n%+v", i, a, b)
			}
			text.WriteString(b.Delta)
		}
		if text.String() != "Hello there!" {
			t.Errorf("replayed text %q", text.String())
		}
		stop()
		rows := logs(t, st)
		if len(rows) != 2 || rows[0].OutputTokens != 3 || rows[1].OutputTokens != 3 {
			t.Fatalf("rows %+v", rows)
		}
	})
}

// Concurrent identical streams share one upstream stream, each replaying
// every chunk from the first.
func TestCacheCollapsesConcurrentStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		up := &double{stream: func(ctx context.Context, req *conductor.ChatRequest, n int) (conductor.Stream, error) {
			c := newChunks(nil, testChunks()...)
			c.gate = gate
			return c, nil
		}}
		g, _, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		p := g.Wrap(up)
		const n = 20
		var wg sync.WaitGroup
		results := make([][]conductor.Chunk, n)
		for i := range n {
			wg.Go(func() {
				s, err := p.Stream(t.Context(), chatReq("stream me"))
				if err != nil {
					t.Error(err)
					return
				}
				results[i], err = readAll(t, s)
				if err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		close(gate) // the chunks flow only once every caller has joined
		wg.Wait()
		if c := up.calls.Load(); c != 1 {
			t.Fatalf("upstream called %d times, want 1", c)
		}
		want := testChunks()
		for i, got := range results {
			if len(got) != len(want) {
				t.Fatalf("caller %d got %d chunks, want %d", i, len(got), len(want))
			}
			for j := range want {
				if got[j].Delta != want[j].Delta || !bytes.Equal(got[j].Raw, want[j].Raw) {
					t.Errorf("caller %d chunk %d = %+v", i, j, got[j])
				}
			}
		}
	})
}

// Callers that all leave a shared stream cancel the upstream stream, and
// nothing is cached from it.
func TestCacheAbandonedStreamCancelsUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var upCtx context.Context
		up := &double{stream: func(ctx context.Context, req *conductor.ChatRequest, n int) (conductor.Stream, error) {
			upCtx = ctx
			return &ctxStream{ctx: ctx}, nil
		}}
		g, _, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		p := g.Wrap(up)
		s, err := p.Stream(t.Context(), chatReq("long"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		synctest.Wait()
		if upCtx.Err() == nil {
			t.Fatal("upstream stream still running after every reader left")
		}
		s2, err := p.Stream(t.Context(), chatReq("long"))
		if err != nil {
			t.Fatal(err)
		}
		if s2.Meta().Cached {
			t.Fatal("an abandoned stream was cached")
		}
		s2.Close()
	})
}

// ctxStream sends one chunk, then blocks until its context ends.
type ctxStream struct {
	ctx  context.Context
	sent bool
}

func (s *ctxStream) Next() (conductor.Chunk, error) {
	if !s.sent {
		s.sent = true
		return conductor.Chunk{Delta: "x"}, nil
	}
	<-s.ctx.Done()
	return conductor.Chunk{}, &conductor.Error{Class: conductor.ClassCanceled, Err: s.ctx.Err()}
}
func (s *ctxStream) Meta() conductor.ResponseMeta { return conductor.ResponseMeta{} }
func (s *ctxStream) Close() error                 { return nil }

func TestCacheTTLPrecedence(t *testing.T) {
	g := bare(Config{CacheTTL: time.Hour})
	g0 := bare(Config{})
	tests := []struct {
		name   string
		g      *Gateway
		opts   conductor.CallOptions
		ttl    time.Duration
		reason string
	}{
		{"gateway default", g, conductor.CallOptions{}, time.Hour, ""},
		{"request over gateway", g, conductor.CallOptions{CacheTTL: dur(time.Minute)}, time.Minute, ""},
		{"request 0 disables", g, conductor.CallOptions{CacheTTL: dur(0)}, 0, MissTTL0},
		{"negative is 0", g, conductor.CallOptions{CacheTTL: dur(-time.Second)}, 0, MissTTL0},
		{"bypass wins", g, conductor.CallOptions{SkipCache: true, CacheTTL: dur(time.Hour)}, 0, MissBypass},
		{"off by default", g0, conductor.CallOptions{}, 0, MissTTL0},
		{"custom key alone: five minutes", g0, conductor.CallOptions{CacheKey: "k"}, DefaultCustomKeyTTL, ""},
		{"custom key with gateway ttl", g, conductor.CallOptions{CacheKey: "k"}, time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ttl, reason := tt.g.cacheTTL(&tt.opts)
			if ttl != tt.ttl || reason != tt.reason {
				t.Fatalf("got %v %q, want %v %q", ttl, reason, tt.ttl, tt.reason)
			}
		})
	}
}

func TestCacheCorruptEntryIsAMiss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{}
		g, st, stop := start(t, Config{CacheTTL: time.Hour})
		defer stop()
		req := chatReq("q")
		key := conductor.RequestKey(req, "gw", "chat")
		now := time.Now()
		if err := st.PutCache(t.Context(), conductor.CacheEntry{Key: key, Scope: "gw", Value: []byte("{not json"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		resp, err := g.Wrap(up).Chat(t.Context(), req)
		if err != nil || resp.Meta.Cached || up.calls.Load() != 1 {
			t.Fatalf("resp %+v err %v calls %d", resp, err, up.calls.Load())
		}
	})
}

var errTest = errors.New("test")

// A caller that stops reading at the finish reason has a complete answer:
// the stream is still read to its end, cached, and logged as a success. One
// that stops before is logged as canceled.
func TestCacheStreamClosedAtFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{stream: func(ctx context.Context, req *conductor.ChatRequest, _ int) (conductor.Stream, error) {
			if req.Messages[0].Text() == "partial" {
				return &ctxStream{ctx: ctx}, nil // one chunk, then nothing
			}
			return newChunks(nil, testChunks()...), nil
		}}
		g, st, stop := start(t, Config{CacheTTL: time.Hour})
		p := g.Wrap(up)
		read := func(content string, upTo func(conductor.Chunk) bool) conductor.ResponseMeta {
			s, err := p.Stream(t.Context(), chatReq(content))
			if err != nil {
				t.Fatal(err)
			}
			for {
				ch, err := s.Next()
				if err != nil {
					t.Fatal(err)
				}
				if upTo(ch) {
					break
				}
			}
			s.Close()
			synctest.Wait()
			return s.Meta()
		}
		atFinish := func(ch conductor.Chunk) bool { return ch.FinishReason != "" }
		first := func(conductor.Chunk) bool { return true }
		read("complete", atFinish)
		if m := read("complete", atFinish); !m.Cached {
			t.Fatalf("a stream closed at its finish reason was not cached: %+v", m)
		}
		read("partial", first)
		if m := read("partial", first); m.Cached {
			t.Fatalf("a stream closed early was cached: %+v", m)
		}
		stop()
		rows := logs(t, st)
		slices.Reverse(rows)
		want := []struct {
			ok     bool
			status int
		}{{true, 200}, {true, 200}, {false, 499}, {false, 499}}
		for i, w := range want {
			if rows[i].Success != w.ok || rows[i].Status != w.status {
				t.Errorf("row %d: %+v, want success=%v status %d", i, rows[i], w.ok, w.status)
			}
		}
		if up.calls.Load() != 3 {
			t.Fatalf("%d upstream calls, want 3", up.calls.Load())
		}
	})
}

// cache_scope: who shares an answer. Alice answers first; Bob is of her
// team, Carol of another; each then asks the same, whole, streamed and as
// an embedding. The gateway scope shares with everyone (the default), team
// with Bob, key and user with nobody but Alice herself.
func TestCacheScope(t *testing.T) {
	alice := conductor.CallOptions{User: "alice", Key: "k-alice", Team: "search"}
	bob := conductor.CallOptions{User: "bob", Key: "k-bob", Team: "search"}
	carol := conductor.CallOptions{User: "carol", Key: "k-carol", Team: "ads"}
	tests := []struct {
		scope          string
		bob, carol, me bool // a hit for Bob, for Carol, for Alice again
	}{
		{"", true, true, true},
		{CacheScopeGateway, true, true, true},
		{CacheScopeTeam, true, false, true},
		{CacheScopeKey, false, false, true},
		{CacheScopeUser, false, false, true},
	}
	for _, tt := range tests {
		t.Run(cmp.Or(tt.scope, "default"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g, _, stop := start(t, Config{CacheTTL: time.Hour, CacheScope: tt.scope})
				defer stop()
				p, e := g.Wrap(&double{}), g.WrapEmbed(&embedDouble{})
				ask := func(o conductor.CallOptions) (chat, stream, embed bool) {
					req := chatReq("hello")
					req.Options = o
					resp, err := p.Chat(t.Context(), req)
					if err != nil {
						t.Fatal(err)
					}
					s, err := p.Stream(t.Context(), req)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := readAll(t, s); err != nil {
						t.Fatal(err)
					}
					er := embedReq("hello")
					er.Options = o
					emb, err := e.Embed(t.Context(), er)
					if err != nil {
						t.Fatal(err)
					}
					synctest.Wait() // let the cache writes land
					return resp.Meta.Cached, s.Meta().Cached, emb.Meta.Cached
				}
				if c, s, e := ask(alice); c || s || e {
					t.Fatalf("Alice's first call was a hit: %v %v %v", c, s, e)
				}
				for _, who := range []struct {
					name string
					o    conductor.CallOptions
					want bool
				}{{"bob", bob, tt.bob}, {"carol", carol, tt.carol}, {"alice again", alice, tt.me}} {
					if c, s, e := ask(who.o); c != who.want || s != who.want || e != who.want {
						t.Errorf("%s: hits chat=%v stream=%v embed=%v, want %v", who.name, c, s, e, who.want)
					}
				}
			})
		})
	}
	// The gateway scope keeps the keys of before the setting: entries
	// written by an older version still hit.
	g, _, stop := start(t, Config{CacheTTL: time.Hour})
	defer stop()
	req := chatReq("hello")
	req.Options = alice
	if got, want := g.chatKey(req, "chat"), conductor.RequestKey(req, "gw", "chat"); got != want {
		t.Errorf("gateway-scope key %s, want the unscoped %s", got, want)
	}
	if _, err := New(Config{CacheScope: "tenant"}, openStore(t, tempDB(t))); err == nil || !strings.Contains(err.Error(), `cache scope "tenant"`) {
		t.Errorf("a bad scope: %v", err)
	}
}
