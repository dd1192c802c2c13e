package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Cache statuses, as cf-aig-cache-status spells them.
const (
	CacheHit  = "HIT"
	CacheMiss = "MISS"
)

// Why an answer did not come from the cache: the page's "Gateway not
// caching" troubleshooting, answered by data.
const (
	MissNewKey      = "new_key"      // no entry for this request yet
	MissExpired     = "expired"      // an entry existed but its TTL had passed
	MissTTL0        = "ttl_0"        // caching is off: TTL 0 (the gateway's default)
	MissBypass      = "bypass"       // the call asked to skip the cache
	MissStreamError = "stream_error" // the stream failed, so it was not stored
	MissCacheError  = "cache_error"  // the store could not be read
)

// cacheProvider answers from the persistent cache when it can, and collapses
// concurrent identical requests into one upstream call: the first caller
// leads, the others wait for its answer and count as hits.
//
// Streams collapse too: the leader's upstream stream is read by a pump into
// a shared buffer, and every caller (the leader included) replays that
// buffer at its own pace, from the first chunk. The pump runs until the
// stream ends or every caller has gone.
type cacheProvider struct {
	g    *Gateway
	next conductor.Provider
}

func (g *Gateway) cache(next conductor.Provider) conductor.Provider {
	return &cacheProvider{g: g, next: next}
}

// cacheTTL is the TTL a call with options o gets: the call's own over the
// gateway's, 0 disabling; a custom key with no TTL anywhere is kept five
// minutes, as Cloudflare does. reason is set when the cache is not used at
// all.
func (g *Gateway) cacheTTL(o *conductor.CallOptions) (ttl time.Duration, reason string) {
	if o.SkipCache {
		return 0, MissBypass
	}
	switch {
	case o.CacheTTL != nil:
		ttl = *o.CacheTTL
	case g.conf().CacheTTL > 0:
		ttl = g.conf().CacheTTL
	case o.CacheKey != "":
		ttl = DefaultCustomKeyTTL
	}
	if ttl <= 0 {
		return 0, MissTTL0
	}
	return ttl, ""
}

// Cache scopes (Config.CacheScope): who shares a cached answer.
const (
	CacheScopeGateway = "gateway" // every caller of the gateway (default): the first pays, the others benefit
	CacheScopeTeam    = "team"    // callers of one team (CallOptions.Team)
	CacheScopeKey     = "key"     // callers of one virtual key (CallOptions.Key)
	CacheScopeUser    = "user"    // callers of one user (CallOptions.User)
)

// cacheWho is who may share a call's cached answer under the gateway's
// cache scope, "" for the whole gateway. Calls that name no team (key,
// user) share the scope of those that name none.
func (g *Gateway) cacheWho(o *conductor.CallOptions) string {
	switch g.conf().CacheScope {
	case CacheScopeTeam:
		return "team:" + o.Team
	case CacheScopeKey:
		return "key:" + o.Key
	case CacheScopeUser:
		return "user:" + o.User
	}
	return ""
}

// chatKey is a chat call's cache key: the request under the gateway, the
// kind of answer and the cache scope. The gateway scope adds nothing, so
// its keys are those from before the setting.
func (g *Gateway) chatKey(req *conductor.ChatRequest, kind string) string {
	if who := g.cacheWho(&req.Options); who != "" {
		return conductor.RequestKey(req, g.conf().ID, kind, who)
	}
	return conductor.RequestKey(req, g.conf().ID, kind)
}

func setMiss(ci *callInfo, reason string) {
	if ci != nil {
		ci.cached, ci.cacheStatus, ci.missReason = false, CacheMiss, reason
	}
}

func setHit(ci *callInfo) {
	if ci != nil {
		ci.cached, ci.cacheStatus, ci.missReason = true, CacheHit, ""
		ci.attempts, ci.step = 0, 0
	}
}

func missMeta(m *conductor.ResponseMeta, reason string) {
	m.Cached, m.CacheStatus, m.MissReason = false, CacheMiss, reason
}

func hitMeta(m *conductor.ResponseMeta) {
	m.Cached, m.CacheStatus, m.MissReason = true, CacheHit, ""
	m.Attempts, m.Step = 0, 0
}

func (c *cacheProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	ci := infoFrom(ctx)
	ttl, reason := c.g.cacheTTL(&req.Options)
	if reason != "" {
		setMiss(ci, reason)
		resp, err := c.next.Chat(ctx, req)
		if err == nil {
			missMeta(&resp.Meta, reason)
		}
		return resp, err
	}
	key := c.g.chatKey(req, "chat")
	for {
		if f := c.g.flights.get(key, false); f != nil {
			resp, err, again := c.waitChat(ctx, f)
			if !again {
				return resp, err
			}
			continue
		}
		value, reason, err := c.g.cached(ctx, key, &req.Options)
		if err != nil {
			return nil, err
		}
		if value != nil {
			if resp, derr := decodeChat(value); derr == nil {
				setHit(ci)
				return resp, nil
			} else {
				c.g.log.Warn("gateway cache entry unreadable; calling upstream", "err", derr)
			}
		}
		f, lead := c.g.flights.lead(key, false)
		if !lead {
			resp, err, again := c.waitChat(ctx, f)
			if !again {
				return resp, err
			}
			continue
		}
		f.reason = reason
		resp, err := c.lead(ctx, key, f, req)
		if err != nil {
			return nil, err
		}
		if f.shared == sharedHit {
			// Another process called upstream; its answer is in the store.
			setHit(ci)
			c.g.flights.remove(key, f)
			return resp, nil
		}
		setMiss(ci, reason)
		if len(f.resp.Raw) > c.g.conf().MaxEntryBytes {
			// Too large to cache: not even encoded (a 50 MB answer's
			// entry cost another 100 MB before the size check dropped it).
			c.g.endShared(key, f)
			c.g.flights.remove(key, f)
			return resp, nil
		}
		c.store(key, f, req, ttl, chatEntry(f.resp))
		return resp, nil
	}
}

// flightTTL bounds how long another process's flight holds a request
// back: a leader that dies frees its flight then.
const flightTTL = 2 * time.Minute

// Shared flight states (flight.shared).
const (
	sharedNone = iota // no shared store, or this process calls upstream on its own
	sharedLead        // this process leads the flight for every process (token)
	sharedHit         // another process led it: the answer came from the store
)

// sharedFlights is the store's cross-process flights, when it has them,
// looking through wrappers (Unwrap).
func (g *Gateway) sharedFlights() conductor.FlightStore {
	var st any = g.st
	for range 8 {
		switch s := st.(type) {
		case conductor.FlightStore:
			return s
		case interface {
			Flights() (conductor.FlightStore, bool)
		}:
			fs, _ := s.Flights()
			return fs
		case interface{ Unwrap() conductor.Store }:
			st = s.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// joinShared makes this process's flight for key one of every process's:
// it leads it (the caller calls upstream), or waits for the process that
// leads it and returns that answer from the store. A store that fails
// leaves the call to this process alone: collapsing is an optimisation.
func (c *cacheProvider) joinShared(ctx context.Context, key string, f *flight, o *conductor.CallOptions) *conductor.ChatResponse {
	fs := c.g.sharedFlights()
	if fs == nil {
		return nil
	}
	for range 3 {
		token, lead, err := fs.LeadFlight(ctx, key, flightTTL)
		if err != nil {
			c.g.log.Warn("gateway shared flight unavailable; calling upstream", "err", err)
			return nil
		}
		if lead {
			f.shared, f.token = sharedLead, token
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, flightTTL)
		err = fs.WaitFlight(wctx, key)
		cancel()
		if err != nil {
			return nil
		}
		if value, _, err := c.g.cached(ctx, key, o); err == nil && value != nil {
			if resp, err := decodeChat(value); err == nil {
				f.shared = sharedHit
				return resp
			}
		}
		// The leader failed: lead the next flight, or join it.
	}
	return nil
}

// endShared ends a flight this process leads for every process.
func (g *Gateway) endShared(key string, f *flight) {
	if f.shared != sharedLead {
		return
	}
	if fs := g.sharedFlights(); fs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := fs.EndFlight(ctx, key, f.token); err != nil {
			g.log.Warn("gateway shared flight not ended; others wait until it times out", "err", err)
		}
	}
}

// cached reads the entry for key: its value, or nil and why there is none
// to serve (an unreadable store is a miss, logged; the caller going away is
// an error). A value the caller cannot decode is a miss of reason.
//
// An entry lives for the TTL it was written with; a call that sets its
// own TTL (o.CacheTTL: a member's cache.ttl, cf-aig-cache-ttl) is also
// served only an entry younger than that TTL, so a short-lived reader
// never gets a long-lived writer's old answer.
func (g *Gateway) cached(ctx context.Context, key string, o *conductor.CallOptions) (value []byte, reason string, err error) {
	now := nowUTC()
	e, ok, expired, err := g.st.GetCache(ctx, key, now)
	if ok && o.CacheTTL != nil && now.Sub(e.CreatedAt) >= *o.CacheTTL {
		ok, expired = false, true
	}
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return nil, "", canceled(ctx, err)
		}
		g.log.Warn("gateway cache read failed; calling upstream", "err", err)
		return nil, MissCacheError, nil
	case ok:
		return e.Value, MissNewKey, nil
	case expired:
		return nil, MissExpired, nil
	}
	return nil, MissNewKey, nil
}

// lead makes the upstream call for a flight and hands its outcome to the
// waiters, even if the call panics (an http.Server recovers the panic, and
// the waiters must not hang).
func (c *cacheProvider) lead(ctx context.Context, key string, f *flight, req *conductor.ChatRequest) (resp *conductor.ChatResponse, err error) {
	err = c.g.leadFlight(key, f, req.Provider, func() error {
		if r := c.joinShared(ctx, key, f, &req.Options); r != nil {
			resp, f.resp = r, cloneResponse(r)
			return nil
		}
		var err error
		resp, err = c.next.Chat(ctx, req)
		if err == nil {
			missMeta(&resp.Meta, f.reason)
			f.resp = cloneResponse(resp)
		}
		return err
	})
	return resp, err
}

// leadFlight runs the call leading flight f (call leaves its answer in f)
// and hands the outcome to the waiters, even if call panics.
func (g *Gateway) leadFlight(key string, f *flight, provider string, call func() error) error {
	done := false
	defer func() {
		if !done {
			f.err = &conductor.Error{Provider: provider, Class: conductor.ClassServer, Message: "the call leading this request failed"}
			close(f.done)
			g.endShared(key, f)
			g.flights.remove(key, f)
		}
	}()
	err := call()
	f.err = err
	done = true
	close(f.done)
	if err != nil {
		g.endShared(key, f)
		g.flights.remove(key, f)
	}
	return err
}

// waitChat waits for a flight's answer. again=true: the leader was canceled
// and this caller is still here, so it should try again (perhaps leading).
func (c *cacheProvider) waitChat(ctx context.Context, f *flight) (resp *conductor.ChatResponse, err error, again bool) {
	if err, again := f.wait(ctx); err != nil || again {
		return nil, err, again
	}
	resp = cloneResponse(f.resp)
	hitMeta(&resp.Meta)
	return resp, nil, false
}

// wait waits for a whole answer's flight to end: nil when its answer is
// in (the caller's call is then a hit), or the leader's failure; again=true
// when the leader was canceled and this caller is still here.
func (f *flight) wait(ctx context.Context) (err error, again bool) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return canceled(ctx, ctx.Err()), false
	}
	if f.err != nil {
		if leaderCanceled(f.err) && ctx.Err() == nil {
			return nil, true
		}
		return f.err, false
	}
	setHit(infoFrom(ctx))
	return nil, false
}

// leaderCanceled reports whether a leader failed only because its own caller
// went away, which says nothing about the answer the waiters want.
func leaderCanceled(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	e, ok := conductor.AsError(err)
	return ok && e.Class == conductor.ClassCanceled
}

// store queues the entry for the store. The flight stays visible until the
// write has landed, so that a request arriving meanwhile is still a hit.
func (c *cacheProvider) store(key string, f *flight, req *conductor.ChatRequest, ttl time.Duration, a cachedAnswer) {
	c.g.putCache(key, req.Provider, req.Model, ttl, func() []byte { return encodeAnswer(&a) }, func() {
		c.g.endShared(key, f)
		c.g.flights.remove(key, f)
	})
}

// putCache queues a cache write off the request path: encode runs there,
// and done after the write landed (or was dropped).
func (g *Gateway) putCache(key, provider, model string, ttl time.Duration, encode func() []byte, done func()) {
	now := nowUTC()
	ok := g.writes.tryPut(func(ctx context.Context) {
		defer done()
		value := encode()
		if len(value) > g.conf().MaxEntryBytes {
			g.log.Debug("gateway answer too large to cache", "bytes", len(value), "max", g.conf().MaxEntryBytes)
			return
		}
		e := conductor.CacheEntry{
			Key: key, Scope: g.conf().ID, Provider: provider, Model: model,
			Value: value, CreatedAt: now, ExpiresAt: now.Add(ttl),
		}
		if err := g.st.PutCache(ctx, e); err != nil {
			g.log.Warn("gateway cache write failed", "err", err)
		}
	})
	if !ok {
		g.cacheDrops.add(1, g.log, "gateway cache writes dropped: the write queue was full or the gateway closed (the answers were served, not cached)")
		done()
	}
}

func canceled(ctx context.Context, err error) error {
	return &conductor.Error{Class: conductor.ClassCanceled, Message: "the caller went away", Err: errors.Join(ctx.Err(), err)}
}

func cloneResponse(r *conductor.ChatResponse) *conductor.ChatResponse {
	c := *r
	c.Raw = bytes.Clone(r.Raw)
	return &c
}

// cachedAnswer is a stored answer: a whole one (Raw and the fields) or a
// stream's chunks, each with its raw event. cachecodec.go encodes it.
type cachedAnswer struct {
	Stream       bool
	Provider     string
	Routing      string
	ID           string
	Model        string
	Content      []conductor.Block
	FinishReason string
	Usage        conductor.Usage
	RequestID    string
	Raw          []byte
	Chunks       []cachedChunk
}

type cachedChunk struct {
	Delta        string
	ToolCalls    []conductor.ToolCallDelta
	FinishReason string
	Usage        *conductor.Usage
	Raw          []byte
}

func chatEntry(r *conductor.ChatResponse) cachedAnswer {
	return cachedAnswer{
		Provider: r.Meta.Provider, Routing: r.Meta.Routing,
		ID: r.ID, Model: r.Model, Content: r.Content, FinishReason: r.FinishReason,
		Usage: r.Usage, RequestID: r.RequestID, Raw: r.Raw,
	}
}

func decodeChat(value []byte) (*conductor.ChatResponse, error) {
	a, err := decodeAnswer(value)
	if err != nil {
		return nil, err
	}
	if a.Stream {
		return nil, errors.New("cached answer: a stream where a whole answer was expected")
	}
	r := &conductor.ChatResponse{
		ID: a.ID, Model: a.Model, Content: a.Content, FinishReason: a.FinishReason,
		Usage: a.Usage, RequestID: a.RequestID, Raw: a.Raw,
		Meta: conductor.ResponseMeta{Provider: a.Provider, Routing: a.Routing},
	}
	hitMeta(&r.Meta)
	return r, nil
}

func decodeStream(value []byte) (cachedAnswer, error) {
	a, err := decodeAnswer(value)
	if err != nil {
		return a, err
	}
	if !a.Stream {
		return a, errors.New("cached answer: a whole answer where a stream was expected")
	}
	return a, nil
}

// flight is one upstream call that identical requests share.
type flight struct {
	reason string        // the leader's miss reason
	done   chan struct{} // chat: the answer is in; stream: the upstream stream opened
	resp   *conductor.ChatResponse
	emb    *conductor.EmbedResponse // embeddings only
	err    error
	s      *streamFlight // streams only
	shared int           // sharedNone, sharedLead or sharedHit (whole answers only)
	token  string        // the shared flight's token when leading it
}

type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

func flightKey(key string, stream bool) string {
	if stream {
		return "s" + key
	}
	return "c" + key
}

// get returns the flight in progress for key, if any, that can still be
// joined.
func (fs *flights) get(key string, stream bool) *flight {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.m[flightKey(key, stream)]
	if f != nil && f.s != nil && !f.s.join() {
		return nil
	}
	return f
}

// lead returns the flight for key, creating it when there is none: lead=true
// says the caller created it and must make the upstream call.
func (fs *flights) lead(key string, stream bool) (f *flight, lead bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	k := flightKey(key, stream)
	if f := fs.m[k]; f != nil && (f.s == nil || f.s.join()) {
		return f, false
	}
	f = &flight{done: make(chan struct{})}
	if stream {
		f.s = newStreamFlight()
	}
	fs.m[k] = f
	return f, true
}

func (fs *flights) remove(key string, f *flight) {
	k := flightKey(key, f.s != nil)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m[k] == f {
		delete(fs.m, k)
	}
}

func (c *cacheProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	ci := infoFrom(ctx)
	ttl, reason := c.g.cacheTTL(&req.Options)
	if reason != "" {
		setMiss(ci, reason)
		s, err := c.next.Stream(ctx, req)
		if err != nil {
			return nil, err
		}
		m := s.Meta()
		missMeta(&m, reason)
		return &metaStream{Stream: s, meta: m}, nil
	}
	key := c.g.chatKey(req, "stream")
	for {
		if f := c.g.flights.get(key, true); f != nil {
			s, err, again := c.waitStream(ctx, f, false, "")
			if !again {
				return s, err
			}
			continue
		}
		value, reason, err := c.g.cached(ctx, key, &req.Options)
		if err != nil {
			return nil, err
		}
		if value != nil {
			if a, derr := decodeStream(value); derr == nil {
				setHit(ci)
				return newReplay(a), nil
			} else {
				c.g.log.Warn("gateway cache entry unreadable; calling upstream", "err", derr)
			}
		}
		f, lead := c.g.flights.lead(key, true)
		if lead {
			go c.pump(ctx, key, f, req, ttl)
		}
		s, err, again := c.waitStream(ctx, f, lead, reason)
		if !again {
			return s, err
		}
	}
}

// pump reads the upstream stream into the flight's buffer, whoever reads
// it, and stores it when it ended properly. Its context keeps the leader's
// values but not its cancellation: it ends when every reader has gone.
func (c *cacheProvider) pump(ctx context.Context, key string, f *flight, req *conductor.ChatRequest, ttl time.Duration) {
	fs := f.s
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	fs.setCancel(cancel)
	pi := &callInfo{}
	s, err := c.next.Stream(withInfo(ctx, pi), req)
	fs.info = *pi
	if err != nil {
		f.err = err
		close(f.done)
		c.g.flights.remove(key, f)
		return
	}
	fs.meta = s.Meta()
	fs.mu.Lock()
	fs.limit = c.g.conf().MaxEntryBytes
	fs.mu.Unlock()
	close(f.done)
	defer s.Close()
	for {
		ch, err := s.Next()
		if err != nil {
			fs.finish(err)
			if err != io.EOF {
				c.g.flights.remove(key, f)
				return
			}
			break
		}
		fs.add(ch)
		fs.wait(ctx)
	}
	fs.mu.Lock()
	over, size := fs.over, fs.size
	fs.mu.Unlock()
	if over {
		c.g.log.Debug("gateway stream too large to cache", "bytes", size, "max", fs.limit)
		c.g.endShared(key, f)
		c.g.flights.remove(key, f)
		return
	}
	a := cachedAnswer{Stream: true, Provider: fs.meta.Provider, Routing: fs.meta.Routing}
	a.Chunks = make([]cachedChunk, len(fs.chunks))
	for i, ch := range fs.chunks {
		a.Chunks[i] = cachedChunk{Delta: ch.Delta, ToolCalls: ch.ToolCalls, FinishReason: ch.FinishReason, Usage: ch.Usage, Raw: ch.Raw}
	}
	c.store(key, f, req, ttl, a)
}

// waitStream waits for a stream flight to open and returns a reader of its
// buffer. The caller already holds a reference to the flight (lead or join).
func (c *cacheProvider) waitStream(ctx context.Context, f *flight, leader bool, reason string) (s conductor.Stream, err error, again bool) {
	select {
	case <-f.done:
	case <-ctx.Done():
		f.s.release()
		return nil, canceled(ctx, ctx.Err()), false
	}
	ci := infoFrom(ctx)
	if f.err != nil {
		f.s.release()
		if !leader && leaderCanceled(f.err) && ctx.Err() == nil {
			return nil, nil, true
		}
		if leader && ci != nil {
			*ci = f.s.info
			setMiss(ci, reason)
		}
		return nil, f.err, false
	}
	meta := f.s.meta
	if leader {
		if ci != nil {
			*ci = f.s.info
			setMiss(ci, reason)
		}
		missMeta(&meta, reason)
	} else {
		setHit(ci)
		hitMeta(&meta)
	}
	r := &flightReader{f: f.s, ctx: ctx, meta: meta, ci: ci}
	r.stop = context.AfterFunc(ctx, r.f.release)
	return r, nil, false
}

// streamFlight is the buffer a pump fills and every reader replays.
type streamFlight struct {
	meta conductor.ResponseMeta // set before done closes
	info callInfo               // the pump's, set before done closes

	mu sync.Mutex
	// chunks holds the stream from chunk base on. A stream larger than
	// limit (Config.MaxEntryBytes) is not cached (over): no caller joins it
	// any more, and while one reader is left the chunks it has read are
	// dropped, so that a long stream passes through without being held.
	chunks  []conductor.Chunk
	base    int
	size    int
	limit   int
	over    bool
	room    chan struct{} // closed and replaced when the lone reader dropped chunks
	end     error         // io.EOF or the stream's failure, once finished
	changed chan struct{} // closed and replaced when chunks or end change
	refs    int           // readers (and the leader before it reads)
	gone    bool          // every reader left: the pump was canceled
	ended   bool          // a chunk carried a finish reason
	cancel  context.CancelFunc
}

func newStreamFlight() *streamFlight {
	return &streamFlight{changed: make(chan struct{}), room: make(chan struct{}), refs: 1}
}

// join takes a reference, unless every reader already left (the pump is
// being canceled and a new flight must start).
func (s *streamFlight) join() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone || s.over {
		return false
	}
	s.refs++
	return true
}

func (s *streamFlight) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	// A pump held for this reader looks again (wait).
	close(s.room)
	s.room = make(chan struct{})
	// A stream whose answer is complete is read to its end all the same, so
	// that it is cached; only an unfinished one is canceled.
	if s.refs == 0 && s.end == nil && !s.ended {
		s.gone = true
		if s.cancel != nil {
			s.cancel()
		}
	}
}

func (s *streamFlight) setCancel(cancel context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel = cancel
	if s.gone {
		cancel()
	}
}

func (s *streamFlight) add(ch conductor.Chunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks = append(s.chunks, ch)
	s.size += len(ch.Raw) + len(ch.Delta) + 64
	if s.limit > 0 && s.size > s.limit {
		s.over = true
	}
	if ch.FinishReason != "" {
		s.ended = true
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// maxAhead is how many chunks the pump of a stream too large to cache
// may read ahead of its lone reader: a fast upstream and a slow caller
// must not buffer the answer in between.
const maxAhead = 16

// wait holds the pump while a stream too large to cache has its one
// reader maxAhead chunks behind. With several readers nothing is dropped
// and the pump does not wait (a slow one must not stall the others).
func (s *streamFlight) wait(ctx context.Context) {
	for {
		s.mu.Lock()
		full := s.over && s.refs == 1 && len(s.chunks) > maxAhead
		room := s.room
		s.mu.Unlock()
		if !full {
			return
		}
		select {
		case <-room:
		case <-ctx.Done():
			return
		}
	}
}

func (s *streamFlight) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end = err
	close(s.changed)
	s.changed = make(chan struct{})
}

// flightReader replays a flight's buffer for one caller.
type flightReader struct {
	f      *streamFlight
	ctx    context.Context
	meta   conductor.ResponseMeta
	ci     *callInfo
	next   int
	stop   func() bool
	closed bool
}

func (r *flightReader) Next() (conductor.Chunk, error) {
	for {
		r.f.mu.Lock()
		i := r.next - r.f.base
		if i < 0 {
			// Chunks this reader had not read were dropped: it had
			// released the flight (its context ended), and the one reader
			// left moved on. It can only stop.
			r.f.mu.Unlock()
			return conductor.Chunk{}, canceled(r.ctx, context.Cause(r.ctx))
		}
		if i < len(r.f.chunks) {
			ch := r.f.chunks[i]
			r.next++
			if r.f.over && r.f.refs == 1 {
				// The only reader of a stream too large to cache: what it
				// has read is needed by nobody.
				clear(r.f.chunks[:i+1])
				r.f.chunks = r.f.chunks[i+1:]
				r.f.base = r.next
				close(r.f.room)
				r.f.room = make(chan struct{})
			}
			r.f.mu.Unlock()
			return ch, nil
		}
		end, changed := r.f.end, r.f.changed
		r.f.mu.Unlock()
		if end != nil {
			if end != io.EOF {
				// No answer came from the cache, and the failure is why
				// none was stored.
				missMeta(&r.meta, MissStreamError)
				setMiss(r.ci, MissStreamError)
			}
			return conductor.Chunk{}, end
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			return conductor.Chunk{}, canceled(r.ctx, r.ctx.Err())
		}
	}
}

func (r *flightReader) Meta() conductor.ResponseMeta { return r.meta }

// Buffered reports whether the flight holds this reader's next chunk
// (conductor.BufferedStream).
func (r *flightReader) Buffered() bool {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	i := r.next - r.f.base
	return i >= 0 && i < len(r.f.chunks)
}

func (r *flightReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.stop() {
		r.f.release()
	}
	return nil
}

// replay serves a stored stream, chunk by chunk as first received.
type replay struct {
	chunks []cachedChunk
	meta   conductor.ResponseMeta
	next   int
}

func newReplay(a cachedAnswer) *replay {
	r := &replay{chunks: a.Chunks, meta: conductor.ResponseMeta{Provider: a.Provider, Routing: a.Routing}}
	hitMeta(&r.meta)
	return r
}

func (r *replay) Next() (conductor.Chunk, error) {
	if r.next >= len(r.chunks) {
		return conductor.Chunk{}, io.EOF
	}
	c := r.chunks[r.next]
	r.next++
	return conductor.Chunk{Delta: c.Delta, ToolCalls: c.ToolCalls, FinishReason: c.FinishReason, Usage: c.Usage, Raw: c.Raw}, nil
}

func (r *replay) Meta() conductor.ResponseMeta { return r.meta }

// Buffered is true while chunks are left (conductor.BufferedStream): a
// stored stream waits on nothing.
func (r *replay) Buffered() bool { return r.next < len(r.chunks) }
func (r *replay) Close() error   { return nil }

// metaStream passes a stream through with its Meta amended.
type metaStream struct {
	conductor.Stream
	meta conductor.ResponseMeta
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (m *metaStream) Buffered() bool { return conductor.StreamBuffered(m.Stream) }

func (m *metaStream) Meta() conductor.ResponseMeta { return m.meta }
