package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
)

// exchange is one model call: the request as the caller sent it and as the
// gateway sees it, and where it goes.
type exchange struct {
	in      format // the caller's wire format
	gateway string // "" for the default gateway
	account string // the Workers AI account a Cloudflare path named
	body    []byte // the caller's body as received
	req     *conductor.ChatRequest
	// routes are where the call goes, in fallback order; nil when a
	// Resolve hook serves the name (p is then set).
	routes []route
	p      conductor.Provider
	// requested is the model the caller named, for answers that carry no
	// model of their own.
	requested string
	// includeUsage is OpenAI's stream_options.include_usage.
	includeUsage bool
	// bodyUser is the user the body names (OpenAI user, Anthropic
	// metadata.user_id).
	bodyUser string
}

// readBody reads the request body within the server's bound.
func readBody(r *http.Request) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if n := r.ContentLength; n > 0 && n <= 1<<20 {
		// A body that states its length is read into one buffer of that
		// size (io.ReadAll grows from 512 bytes: eight copies for 64 KB).
		// Only up to 1 MiB: a stated length is not yet a received body,
		// and the MaxBytesReader still bounds what is read.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = io.ReadAll(r.Body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		if r.Context().Err() != nil {
			return nil, asError(r.Context(), err)
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	return b, nil
}

// resolve (names.go) finds where a model name goes.

// prepare fills the call's options from the cf-aig-* headers (get) and the
// caller, points the request at its first route, passes the caller's body
// through when the upstream speaks its format, and finds the chain.
func (s *Server) prepare(x *exchange, c *caller, get headerGetter) error {
	opts, err := callOptions(get)
	if err != nil {
		return err
	}
	c.identify(&opts, x.bodyUser)
	x.req.Options = opts
	// A model the caller's key may not call is refused before any limit
	// counts the call.
	if err := c.allowModel(x.requested, x.routes); err != nil {
		return err
	}
	if x.p != nil {
		// A Resolve hook's provider picks its own upstream: fields only.
		return nil
	}
	c.options(&x.req.Options)
	first := x.routes[0]
	if err := checkRoutes(x.req, x.routes); err != nil {
		return err
	}
	x.req.Provider, x.req.Model = first.provider, first.model
	provider.Normalize(first.provider, x.req)
	switch {
	case oneShape(x.routes) && first.format() == x.in:
		// Same wire format: the caller's bytes go upstream, only the model
		// rewritten when the caller named it provider/model.
		body := x.body
		if x.requested != first.model && x.in != fmtWorkersAI {
			if body, err = rewriteModel(x.body, first.model); err != nil {
				return badRequest("%v", err)
			}
		}
		if x.req.Stream && x.in == fmtOpenAI && !x.includeUsage && !first.compat {
			// The gateway prices the call and settles budgets with the
			// upstream's own count, which OpenAI-style streams only send when
			// asked; the usage chunk is not relayed to a caller that did not
			// ask for it. Added, not re-encoded. (Whether Workers AI's /v1
			// accepts stream_options is undocumented: left alone there.)
			if body, err = addField(body, "stream_options", []byte(`{"include_usage":true}`)); err != nil {
				return badRequest("%v", err)
			}
		}
		x.req.Body, x.req.BodyFormat = body, x.in.bodyFormat()
	}
	if c.key != "" {
		s.scopeCache(x, c)
	}
	p, err := s.chain(x.gateway, x.routes, x.account, c.key != "")
	if err != nil {
		return err
	}
	x.p = p
	return nil
}

// oneShape reports whether every route takes the same body: one route,
// or a pool's deployments of one provider and model (several keys or
// servers), which the caller's bytes reach as they are.
func oneShape(routes []route) bool {
	for _, r := range routes[1:] {
		if r.provider != routes[0].provider || r.model != routes[0].model || r.compat != routes[0].compat {
			return false
		}
	}
	return true
}

// checkRoutes checks req against the parameter rules of every route's
// model (provider/rules.go), so that a request a model refuses is a 400
// before any call, not a provider round trip — or a fallback that fails
// the same way.
func checkRoutes(req *conductor.ChatRequest, routes []route) error {
	model := req.Model
	defer func() { req.Model = model }()
	for _, r := range routes {
		req.Model = r.model
		if err := provider.CheckRequest(r.provider, req); err != nil {
			return err
		}
	}
	return nil
}

// scopeCache keeps the answers bought with a caller's own key for that key:
// a caller must not get, from the cache, an answer its key would not have
// been given. The key is hashed, never stored.
func (s *Server) scopeCache(x *exchange, c *caller) {
	o := &x.req.Options
	if o.SkipCache || (o.CacheTTL != nil && *o.CacheTTL == 0) {
		return
	}
	if o.CacheKey == "" && o.CacheTTL == nil {
		g, err := s.gateway(x.gateway)
		if err != nil || g.Config().CacheTTL <= 0 {
			return // no cache on this call: keep it that way
		}
	}
	h := sha256.New()
	h.Write([]byte(c.key))
	h.Write([]byte{0})
	if o.CacheKey != "" {
		h.Write([]byte(o.CacheKey))
	} else {
		h.Write([]byte(x.req.Provider + "/" + x.req.Model))
		h.Write([]byte{0})
		h.Write(x.body)
		if x.req.Stream {
			h.Write([]byte("\x00stream"))
		}
	}
	o.CacheKey = "caller:" + hex.EncodeToString(h.Sum(nil))
}

// call runs the exchange: a whole answer, or a stream opened (its first
// byte arrived) and not yet read. The universal endpoint calls it once per
// step.
func (x *exchange) call(ctx context.Context) (*conductor.ChatResponse, conductor.Stream, error) {
	if x.req.Stream {
		st, err := x.p.Stream(ctx, x.req)
		return nil, st, err
	}
	resp, err := x.p.Chat(ctx, x.req)
	return resp, nil, err
}

// answerFormat is the wire format of an answer's raw bytes: the format of
// the route that served it.
func (x *exchange) answerFormat(m conductor.ResponseMeta) format {
	switch {
	case len(x.routes) == 1:
		return x.routes[0].format()
	case x.routes == nil:
		return fmtNone
	}
	for _, r := range x.routes {
		if r.provider == m.Provider {
			return r.format()
		}
	}
	return fmtNone
}

// serve runs the exchange and writes its answer or error.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, x *exchange) {
	ctx := r.Context()
	resp, st, err := x.call(ctx)
	if err != nil {
		s.fail(w, r, x, err)
		return
	}
	if st != nil {
		s.pump(ctx, w, x, st)
		return
	}
	s.writeAnswer(w, x, resp)
}

// fail writes a call's failure in the caller's format.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, x *exchange, err error) {
	e := asError(r.Context(), err)
	noteError(r, e)
	writeError(w, x.in, e)
}

// metaHeaders says where an answer came from, as Cloudflare's gateway does.
// cf-aig-cache-status only comes with answers whose route had a cache:
// not when caching is off for the call (TTL 0).
func metaHeaders(h http.Header, m conductor.ResponseMeta) {
	if m.CacheStatus != "" && m.MissReason != gateway.MissTTL0 {
		h.Set(hdrCacheStatus, m.CacheStatus)
	}
	h.Set(hdrStep, strconv.Itoa(m.Step))
	// The request log's row id, as Cloudflare answers it: the key for
	// finding this call in `conductor stats`, the dashboard or the log.
	if m.LogID != "" {
		h.Set(hdrLogID, m.LogID)
	}
}

// writeAnswer writes a whole answer: the upstream's own bytes when they are
// in the caller's format, else the answer translated.
func (s *Server) writeAnswer(w http.ResponseWriter, x *exchange, resp *conductor.ChatResponse) {
	metaHeaders(w.Header(), resp.Meta)
	if len(resp.Raw) > 0 && x.answerFormat(resp.Meta) == x.in {
		writeJSON(w, http.StatusOK, resp.Raw)
		return
	}
	if resp.Model == "" {
		resp.Model = x.requested
	}
	var (
		body []byte
		err  error
	)
	switch x.in {
	case fmtAnthropic:
		if resp.ID == "" {
			resp.ID = newID("msg_")
		}
		body, err = encodeAnthropicAnswer(resp)
	case fmtWorkersAI:
		body, err = encodeWorkersAIAnswer(resp)
	default:
		if resp.ID == "" {
			resp.ID = newID("chatcmpl-")
		}
		body = encodeOpenAIAnswer(resp, s.now().Unix())
	}
	if err != nil {
		// The answer holds what the caller's format cannot carry (a tool
		// call's arguments that are no JSON object): the call failed.
		e, ok := conductor.AsError(err)
		if !ok {
			e = &conductor.Error{Class: conductor.ClassServer, Message: err.Error(), Err: err}
		}
		if e.Provider == "" {
			e.Provider = resp.Meta.Provider
		}
		writeError(w, x.in, e)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// newID returns prefix and 24 random hex digits, for answers whose upstream
// gave no id.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
