package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/routing"
)

// POST /v1/embeddings, in OpenAI's format, to OpenAI (and OpenAI-style
// local servers) and to Workers AI's embedding models (@cf/baai/bge-*),
// through the default gateway's embedding chain (gateway.WrapEmbed): cached,
// logged, priced, rate limited and budgeted like a chat call.
//
// The answer's vectors are in the form the caller asked: base64 strings of
// little-endian float32s for encoding_format "base64" (what the official
// SDKs send when their caller sets none), number arrays otherwise.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, c *caller) {
	body, err := readBody(r)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	req, base64, err := openai.DecodeEmbedRequest(body)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	e, err := s.embedRoute(req, body, c, r.Header.Get)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	if ri := requestInfoFrom(r.Context()); ri != nil {
		ri.provider, ri.model, ri.user = req.Provider, req.Model, req.Options.User
	}
	ctx := r.Context()
	resp, err := e.Embed(ctx, req)
	if err != nil {
		ce := asError(ctx, err)
		noteError(r, ce)
		writeError(w, fmtOpenAI, ce)
		return
	}
	if resp.Model == "" {
		resp.Model = req.Model
	}
	metaHeaders(w.Header(), resp.Meta)
	writeJSON(w, http.StatusOK, openai.EncodeEmbedResponse(resp, base64))
}

// embedRoute points req at its provider and model, fills its call options,
// and returns the gateway chain that serves it.
func (s *Server) embedRoute(req *conductor.EmbedRequest, body []byte, c *caller, get headerGetter) (conductor.Embedder, error) {
	name := req.Model
	routes, p, err := s.resolve(name)
	switch {
	case err != nil:
		return nil, err
	case p != nil:
		return nil, badRequest("model %s is an A/B split of chat models ([[split]]); embeddings take provider/model, a bare embedding model id, or a [[model]] alias of one", quoteName(name))
	case len(routes) > 1:
		// Vectors of two models are not comparable: a fallback would mix them.
		return nil, badRequest("model %s is a fallback chain ([[model]] with %d routes); embeddings take one route, since vectors of different models cannot be compared", quoteName(name), len(routes))
	}
	rt := routes[0]
	switch rt.provider {
	case conductor.ProviderOpenAI, conductor.ProviderLocal, conductor.ProviderWorkersAI:
	default:
		return nil, &conductor.Error{Provider: rt.provider, Class: conductor.ClassBadRequest, Status: http.StatusBadRequest, Code: "unsupported_model",
			Message: fmt.Sprintf("model %s: %s serves no embeddings here (embedding models: openai/text-embedding-3-small and its kin, workers-ai/@cf/baai/bge-*, or local/… on an OpenAI-compatible server)", quoteName(name), rt.provider)}
	}
	if err := c.allowModel(name, routes); err != nil {
		return nil, err
	}
	req.Provider, req.Model = rt.provider, rt.model
	opts, err := callOptions(get)
	if err != nil {
		return nil, err
	}
	var bodyUser string
	if u := req.Extra["user"]; len(u) > 0 {
		_ = json.Unmarshal(u, &bodyUser)
	}
	c.identify(&opts, bodyUser)
	req.Options = opts
	if c.key != "" {
		// Answers bought with a caller's own key stay that key's: the chat
		// path's rule (scopeCache), over the embedding request's body.
		x := &exchange{body: body, req: &conductor.ChatRequest{Provider: req.Provider, Model: req.Model, Options: req.Options}}
		s.scopeCache(x, c)
		req.Options = x.req.Options
	}
	adapter, err := s.router.Upstream(routing.Upstream{Provider: rt.provider, CallerKey: c.key != ""})
	if err != nil {
		return nil, err
	}
	emb, ok := adapter.(conductor.Embedder)
	if !ok {
		return nil, &conductor.Error{Provider: rt.provider, Class: conductor.ClassConfig, Message: "the " + rt.provider + " upstream does not embed"}
	}
	key := "embed\x00" + s.defaultGateway() + "\x00" + rt.provider
	if e, ok := s.chains.Load(key); ok {
		return e.(conductor.Embedder), nil
	}
	g, err := s.gateway("")
	if err != nil {
		return nil, err
	}
	e, _ := s.chains.LoadOrStore(key, g.WrapEmbed(emb))
	return e.(conductor.Embedder), nil
}
