package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
)

// Cloudflare AI Gateway's paths, served by the built-in gateway so that a
// client configured for https://gateway.ai.cloudflare.com/v1/{account}/{gateway}
// only changes that base URL:
//
//	/v1/{account}/{gateway}/openai/chat/completions
//	/v1/{account}/{gateway}/groq/chat/completions        (and groq/openai/v1/…, the Groq SDK's form)
//	/v1/{account}/{gateway}/anthropic/v1/messages
//	/v1/{account}/{gateway}/workers-ai/{model}            (native, model ids hold slashes)
//	/v1/{account}/{gateway}/workers-ai/v1/chat/completions
//	/v1/{account}/{gateway}/compat/chat/completions      (model "{provider}/{model}")
//	/v1/{account}/{gateway}                              (the universal endpoint)
//
// Bodies are the provider's own and pass through as bytes; answers and
// errors are in the provider's format, with cf-aig-cache-status and
// cf-aig-step.

// cloudflare is POST /v1/{account}/{gateway}/{provider}/{rest...}.
func (s *Server) cloudflare(w http.ResponseWriter, r *http.Request, c *caller) {
	f := errFormat(fmtCloudflare, r)
	body, err := readBody(r)
	if err != nil {
		s.failEarly(w, r, f, err)
		return
	}
	x, err := s.cloudflareExchange(r.PathValue("provider"), r.PathValue("rest"), body, r.PathValue("gateway"), r.PathValue("account"))
	if err == nil {
		f = x.in
		err = s.prepare(x, c, r.Header.Get)
	}
	if err != nil {
		s.failEarly(w, r, f, err)
		return
	}
	noteCall(r, x)
	s.serve(w, r, x)
}

// The wire paths that follow a provider's segment on a Cloudflare path,
// by the provider's wire format.
const (
	chatPath     = "chat/completions"    // OpenAI-style
	messagesPath = "v1/messages"         // Anthropic
	compatPath   = "v1/chat/completions" // Workers AI's OpenAI-compatible endpoint
)

// cloudflareExchange reads body as the provider path prov/rest expects it:
// prov is a provider's hosted-gateway segment (the registry's), or
// "compat".
func (s *Server) cloudflareExchange(prov, rest string, body []byte, gw, account string) (*exchange, error) {
	rest = strings.Trim(rest, "/")
	var (
		x   *exchange
		err error
	)
	spec, known := conductor.ProviderBySegment(prov)
	rt := route{provider: spec.Name}
	switch f := formatOf(spec.Format); {
	case !known && prov == "compat" && rest == chatPath:
		// Cloudflare's unified endpoint: model is provider/model, as on
		// /v1/chat/completions.
		if x, err = openAIExchange(body, gw); err == nil {
			x.routes, x.p, err = s.resolve(x.requested)
		}
		if err != nil {
			return nil, err
		}
		x.account = account
		return x, nil
	case !known:
	case f == fmtOpenAI && (rest == chatPath || rest == strings.Trim(spec.BaseURLVarPath, "/")+"/"+chatPath):
		// The second form is the provider's SDK appending its own base
		// path (Groq's openai/v1) to the gateway URL.
		x, err = openAIExchange(body, gw)
	case f == fmtAnthropic && rest == messagesPath:
		x, err = anthropicExchange(body, gw)
	case f == fmtWorkersAI && rest == compatPath:
		rt.compat = true
		x, err = openAIExchange(body, gw)
	case f == fmtWorkersAI && rest != "" && !strings.HasPrefix(rest, "v1/"):
		var req *conductor.ChatRequest
		if req, err = decodeWorkersAIRequest(body, rest); err == nil {
			x = &exchange{in: fmtWorkersAI, gateway: gw, body: body, req: req, requested: rest}
		}
	}
	if x == nil && err == nil {
		return nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound,
			Message: fmt.Sprintf("no provider path %.40q/%.80q on this gateway (expected %s)", prov, rest, providerPaths())}
	}
	if err != nil {
		return nil, err
	}
	if x.requested == "" {
		return nil, badRequest("model: required")
	}
	rt.model = x.requested
	x.routes = []route{rt}
	x.account = account
	return x, nil
}

// providerPaths lists the provider paths a gateway serves, for a 404.
func providerPaths() string {
	var paths []string
	for _, sp := range conductor.ProviderSpecs() {
		seg := sp.GatewaySegment
		if seg == "" {
			continue // no route on the hosted gateway, none here
		}
		switch formatOf(sp.Format) {
		case fmtOpenAI:
			paths = append(paths, seg+"/"+chatPath)
		case fmtAnthropic:
			paths = append(paths, seg+"/"+messagesPath)
		case fmtWorkersAI:
			paths = append(paths, seg+"/{model}", seg+"/"+compatPath)
		}
	}
	return strings.Join(append(paths, "compat/"+chatPath), ", ")
}

// universalStep is one step of the universal endpoint's body, as
// Cloudflare documents it.
type universalStep struct {
	Provider string            `json:"provider"`
	Endpoint string            `json:"endpoint"`
	Headers  map[string]string `json:"headers"`
	Query    json.RawMessage   `json:"query"`
	Config   json.RawMessage   `json:"config"`
}

// maxSteps bounds the universal endpoint's fallback list.
const maxSteps = 16

// MaxUniversalAttempts bounds the upstream calls one universal request
// makes over all its steps, each step's retries included: 16 steps of 5
// attempts would otherwise be 80 calls (and 80 deadlines) for one request.
// A step gets at most the attempts left; when none are left the last
// failure is the answer.
const MaxUniversalAttempts = 10

// decodeSteps reads the universal endpoint's body: an array of steps (one
// step object alone is taken as a list of one).
func decodeSteps(body []byte) ([]universalStep, error) {
	if err := provider.CheckText(body); err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	var steps []universalStep
	switch {
	case len(body) > 0 && body[0] == '{':
		var one universalStep
		if err := json.Unmarshal(body, &one); err != nil {
			return nil, badRequest("the body is not a provider step: %s", jsonProblem(err))
		}
		steps = []universalStep{one}
	default:
		if err := json.Unmarshal(body, &steps); err != nil {
			return nil, badRequest("the body must be an array of provider steps ({provider, endpoint, headers, query}): %s", jsonProblem(err))
		}
	}
	switch {
	case len(steps) == 0:
		return nil, badRequest("the body names no provider step")
	case len(steps) > maxSteps:
		return nil, badRequest("%d provider steps; at most %d", len(steps), maxSteps)
	}
	for i, st := range steps {
		if st.Provider == "" || st.Endpoint == "" || len(bytes.TrimSpace(st.Query)) == 0 {
			return nil, badRequest("step %d: provider, endpoint and query are required", i)
		}
	}
	return steps, nil
}

// universal is POST /v1/{account}/{gateway}: each step is tried in order
// until one answers, its retries spent before the next; the answer is the
// answering step's, in its provider's format, with cf-aig-step naming it.
// Headers: the step's own over the request's.
func (s *Server) universal(w http.ResponseWriter, r *http.Request, c *caller) {
	body, err := readBody(r)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	steps, err := decodeSteps(body)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	ctx := r.Context()
	gw, account := r.PathValue("gateway"), r.PathValue("account")
	var lastErr error
	lastFormat := fmtOpenAI
	left := MaxUniversalAttempts
	for i, st := range steps {
		if left <= 0 {
			s.log.Info("universal endpoint: attempts spent", "attempts", MaxUniversalAttempts, "steps_left", len(steps)-i)
			break
		}
		get, sc, err := s.stepHeaders(r, c, st)
		var x *exchange
		if err == nil {
			x, err = s.cloudflareExchange(st.Provider, st.Endpoint, st.Query, gw, account)
		}
		if err == nil {
			lastFormat = x.in
			err = s.prepare(x, sc, get)
		}
		var resp *conductor.ChatResponse
		var stream conductor.Stream
		if err == nil {
			s.boundAttempts(x, left)
			noteCall(r, x)
			resp, stream, err = x.call(ctx)
			left -= conductor.AttemptsOf(err)
		}
		if err == nil {
			w.Header().Set(hdrStep, fmt.Sprint(i))
			if stream != nil {
				s.pump(ctx, w, x, &stepStream{Stream: stream, step: i})
				return
			}
			resp.Meta.Step = i
			s.writeAnswer(w, x, resp)
			return
		}
		lastErr = err
		e := asError(ctx, err)
		if ctx.Err() != nil || e.Class == conductor.ClassLimited || e.Class == conductor.ClassCanceled {
			break
		}
		if i < len(steps)-1 {
			s.log.Info("universal endpoint: falling back", "step", i+1, "from", st.Provider+"/"+st.Endpoint, "err", e.Error())
		}
	}
	w.Header().Set(hdrStep, fmt.Sprint(len(steps)-1))
	s.failEarly(w, r, lastFormat, lastErr)
}

// boundAttempts gives a universal step at most left attempts: its own
// (cf-aig-max-attempts, config.maxAttempts), else its gateway's.
func (s *Server) boundAttempts(x *exchange, left int) {
	o := &x.req.Options
	n := o.MaxAttempts
	if n <= 0 {
		n = gateway.DefaultMaxAttempts
		if g, err := s.gateway(x.gateway); err == nil {
			n = g.Config().Retry.MaxAttempts
		}
	}
	o.MaxAttempts = min(n, left)
}

// stepHeaders returns the header lookup of one step (its headers, then its
// config, then the request's) and the caller as the step presents itself:
// a provider key in the step's headers is the caller's key for that step.
func (s *Server) stepHeaders(r *http.Request, c *caller, st universalStep) (headerGetter, *caller, error) {
	own := make(http.Header, len(st.Headers))
	for k, v := range st.Headers {
		own.Set(k, v)
	}
	cfg, err := stepConfig(st.Config)
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	get := func(name string) string {
		if v := own.Get(name); v != "" {
			return v
		}
		if v, ok := cfg[name]; ok {
			return v
		}
		return r.Header.Get(name)
	}
	sc := *c
	if s.opts.AllowCallerKeys {
		switch {
		case bearer(own.Get("Authorization")) != "":
			sc.key, sc.keyHeader = bearer(own.Get("Authorization")), "authorization"
		case own.Get("x-api-key") != "":
			sc.key, sc.keyHeader = own.Get("x-api-key"), "x-api-key"
		}
	}
	if len(own) > 0 {
		h := c.header.Clone()
		for k, v := range own {
			h[k] = v
		}
		sc.header = h
	}
	return get, &sc, nil
}

// stepStream reports the universal step that answered.
type stepStream struct {
	conductor.Stream
	step int
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *stepStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *stepStream) Meta() conductor.ResponseMeta {
	m := s.Stream.Meta()
	m.Step = s.step
	return m
}
