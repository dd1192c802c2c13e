// Package e2e runs the product page's flows end to end: the conductor
// binary, built once, runs every examples/*.yaml against HTTP fakes of the
// real services, selected only by the base-URL variables a user would set.
//
// This file holds the fakes. Each speaks one real wire format, answers with
// the providers' documented payloads (testdata/wire), checks credentials the
// way the real service does, and records every request for assertions:
//
//   - Upstream: a provider's own API — OpenAI (/v1/chat/completions), Groq
//     (/openai/v1/chat/completions), Anthropic (/v1/messages) or the
//     Cloudflare API's Workers AI run endpoint
//     (/client/v4/accounts/{account}/ai/run/{model}).
//   - Gateway: Cloudflare's hosted AI Gateway
//     (/v1/{account}/{gateway}/{provider}/…), with cf-aig-authorization, a
//     small real cache keyed on path, body and provider key (cf-aig-cache-ttl,
//     cf-aig-skip-cache, cf-aig-cache-status HIT/MISS) and cf-aig-max-attempts
//     retries of failed upstream answers.
//
// The tests (the _test.go files) drive the fakes; nothing here is product
// code. Run them with
//
//	go test -race ./e2e/
//
// TestMain builds cmd/conductor once (with -race under -race);
// CONDUCTOR_E2E_BINARY=path tests a prebuilt binary instead. Cases of the
// built-in gateway (no account_id) skip only while conductor run answers
// that the built-in gateway is not available.
package e2e

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// wire holds the documented answers: {provider}_{status}.json.
//
//go:embed testdata/wire/*.json
var wire embed.FS

// AnthropicVersion is the version header the Messages API requires.
const AnthropicVersion = "2023-06-01"

// maxBody bounds what a fake reads of a request body.
const maxBody = 4 << 20

// Exchange is one request a fake received and what it answered.
type Exchange struct {
	Method string
	// Path is the request path as sent (escaped).
	Path   string
	Header http.Header
	Body   []byte
	// At is when the request arrived.
	At time.Time
	// Provider is the provider whose wire format the request was addressed
	// to: openai, anthropic, groq or workers-ai ("" for an unknown path).
	Provider string
	// Model is the body's "model", or for Workers AI the model in the path.
	Model string
	// Status is the status answered.
	Status int
	// CacheStatus is the gateway's cf-aig-cache-status answer: HIT, MISS,
	// or "" when no cache was asked for (and on an Upstream).
	CacheStatus string
	// Upstream counts the answers the provider behind produced for this
	// request: 0 on a cache hit or a refused request, more than 1 when the
	// gateway retried.
	Upstream int
}

// Fields decodes the JSON body, numbers as json.Number so a test can see
// exactly what was sent (1 versus 1.0 does not matter; 0.7 versus 0.69999
// does).
func (e Exchange) Fields() (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(e.Body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s %s: body is not a JSON object: %w", e.Method, e.Path, err)
	}
	return m, nil
}

// Reply is a fake's answer.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Responder produces the provider's answer to one request. It is called
// once per upstream attempt, so a stateful responder (Sequence) sees the
// gateway's retries.
type Responder func(ex *Exchange) Reply

// Text answers with the provider's documented success payload whose text is
// text ("" keeps the fixture's own text), naming the requested model.
func Text(text string) Responder {
	return func(ex *Exchange) Reply { return Success(ex.Provider, ex.Model, text) }
}

// Fail answers with status and the provider's documented error body for it;
// header is name, value pairs (Retry-After, say).
func Fail(status int, header ...string) Responder {
	return func(ex *Exchange) Reply {
		r := Failure(ex.Provider, status)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return r
	}
}

// File answers with status and the documented payload
// testdata/wire/{name}.json as it is (an answer shape Success and Failure
// do not build, such as Workers AI's 200 with success false).
func File(status int, name string) Responder {
	return func(*Exchange) Reply {
		raw, err := wire.ReadFile("testdata/wire/" + name + ".json")
		if err != nil {
			return brokenFixture(err)
		}
		return jsonReply(status, raw)
	}
}

// Sequence answers the n-th call with the n-th responder; the last one
// answers every call after.
func Sequence(rs ...Responder) Responder {
	var mu sync.Mutex
	n := 0
	return func(ex *Exchange) Reply {
		mu.Lock()
		i := min(n, len(rs)-1)
		n++
		mu.Unlock()
		if i < 0 {
			return Reply{Status: http.StatusNotImplemented, Body: []byte("empty Sequence")}
		}
		return rs[i](ex)
	}
}

// Success returns provider's documented success answer with its text
// replaced by text (unless empty) and its model set to model.
func Success(provider, model, text string) Reply {
	raw, err := fixture(provider, http.StatusOK)
	if err != nil {
		return brokenFixture(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return brokenFixture(err)
	}
	switch provider {
	case conductor.ProviderOpenAI, conductor.ProviderGroq:
		if model != "" {
			doc["model"] = model
		}
		if text != "" {
			if choices, ok := doc["choices"].([]any); ok && len(choices) > 0 {
				if c, ok := choices[0].(map[string]any); ok {
					if m, ok := c["message"].(map[string]any); ok {
						m["content"] = text
					}
				}
			}
		}
	case conductor.ProviderAnthropic:
		if model != "" {
			doc["model"] = model
		}
		if text != "" {
			doc["content"] = []any{map[string]any{"type": "text", "text": text}}
		}
	case conductor.ProviderWorkersAI:
		// The envelope names no model.
		if text != "" {
			if res, ok := doc["result"].(map[string]any); ok {
				res["response"] = text
			}
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return brokenFixture(err)
	}
	return jsonReply(http.StatusOK, body)
}

// Failure returns provider's documented error answer for status. Groq
// answers in OpenAI's shape, so its missing fixtures fall back to OpenAI's.
func Failure(provider string, status int) Reply {
	raw, err := fixture(provider, status)
	if err != nil && provider == conductor.ProviderGroq {
		raw, err = fixture(conductor.ProviderOpenAI, status)
	}
	if err != nil {
		return brokenFixture(err)
	}
	return jsonReply(status, raw)
}

// Usage is the token count of each provider's documented success answer
// (testdata/wire/{provider}_200.json), as the adapters normalise it.
func Usage(provider string) (in, out int) {
	switch provider {
	case conductor.ProviderOpenAI:
		return 19, 10
	case conductor.ProviderGroq:
		return 18, 556
	case conductor.ProviderAnthropic:
		return 2095, 503
	case conductor.ProviderWorkersAI:
		return 12, 18
	}
	return 0, 0
}

// FixtureText is the answer text of a provider's documented success answer.
func FixtureText(provider string) string {
	switch provider {
	case conductor.ProviderOpenAI:
		return "Hello! How can I assist you today?"
	case conductor.ProviderGroq:
		return "Fast language models have gained significant attention in recent years."
	case conductor.ProviderAnthropic:
		return "Hi! My name is Claude."
	case conductor.ProviderWorkersAI:
		return "Hello! It's nice to meet you. Is there something I can help you with?"
	}
	return ""
}

func fixture(provider string, status int) ([]byte, error) {
	return wire.ReadFile("testdata/wire/" + provider + "_" + strconv.Itoa(status) + ".json")
}

func jsonReply(status int, body []byte) Reply {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return Reply{Status: status, Header: h, Body: body}
}

// brokenFixture is the answer when the fake itself is wrong: a status no
// real provider sends, so the test that relies on it fails visibly.
func brokenFixture(err error) Reply {
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	return Reply{Status: http.StatusTeapot, Header: h, Body: []byte("e2e fake: " + err.Error())}
}

// recorder keeps a fake's exchanges and responders.
type recorder struct {
	mu      sync.Mutex
	log     []Exchange
	respond map[string]Responder // by provider
}

func (r *recorder) setResponder(provider string, fn Responder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.respond == nil {
		r.respond = map[string]Responder{}
	}
	r.respond[provider] = fn
}

func (r *recorder) responder(provider string) Responder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fn, ok := r.respond[provider]; ok {
		return fn
	}
	return Text("")
}

func (r *recorder) record(ex Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, ex)
}

// Requests returns a copy of every exchange so far, in arrival order.
func (r *recorder) Requests() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.log...)
}

// newExchange reads a request.
func newExchange(r *http.Request) (*Exchange, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	return &Exchange{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Header: r.Header.Clone(),
		Body:   body,
		At:     time.Now(),
	}, nil
}

// bodyModel reads the body's "model" without judging the rest.
func bodyModel(body []byte) string {
	var m struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	return m.Model
}

// authorize checks a request's provider credentials the way the provider
// does, and returns its refusal when they are wrong.
func authorize(provider, key string, h http.Header) (Reply, bool) {
	switch provider {
	case conductor.ProviderAnthropic:
		if h.Get("anthropic-version") == "" {
			return jsonReply(http.StatusBadRequest, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}`)), false
		}
		if h.Get("x-api-key") != key {
			return Failure(provider, http.StatusUnauthorized), false
		}
	default:
		if h.Get("Authorization") != "Bearer "+key {
			return Failure(provider, http.StatusUnauthorized), false
		}
	}
	return Reply{}, true
}

func write(w http.ResponseWriter, r Reply) {
	for k, vs := range r.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	w.WriteHeader(r.Status)
	w.Write(r.Body)
}

func notFound(ex *Exchange) Reply {
	return jsonReply(http.StatusNotFound, []byte(`{"error":{"message":"e2e fake: no route for `+ex.Method+` `+strings.ReplaceAll(ex.Path, `"`, `%22`)+`"}}`))
}

// Upstream is a fake of one provider's own API.
type Upstream struct {
	recorder
	// Provider is the wire format it speaks.
	Provider string
	// URL is the base URL a user exports: OPENAI_BASE_URL (with /v1),
	// ANTHROPIC_BASE_URL and GROQ_BASE_URL (the host),
	// CLOUDFLARE_API_BASE_URL (…/client/v4).
	URL string

	key, account string
	srv          *httptest.Server
}

// NewUpstream starts a fake of provider's API that accepts key. For
// workers-ai, account is the Cloudflare account in the run path and key the
// API token; other providers ignore account. It stops when tb ends.
func NewUpstream(tb testing.TB, provider, key, account string) *Upstream {
	u := &Upstream{Provider: provider, key: key, account: account}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	tb.Cleanup(u.srv.Close)
	switch provider {
	case conductor.ProviderOpenAI:
		u.URL = u.srv.URL + "/v1"
	case conductor.ProviderWorkersAI:
		u.URL = u.srv.URL + "/client/v4"
	default:
		u.URL = u.srv.URL
	}
	return u
}

// Respond sets how the provider answers (default: Text("")).
func (u *Upstream) Respond(fn Responder) { u.setResponder(u.Provider, fn) }

// route reports whether path (unescaped) is the provider's chat path, and
// the model a Workers AI path names.
func (u *Upstream) route(path string) (model string, ok bool) {
	switch u.Provider {
	case conductor.ProviderOpenAI:
		return "", path == "/v1/chat/completions"
	case conductor.ProviderGroq:
		return "", path == "/openai/v1/chat/completions"
	case conductor.ProviderAnthropic:
		return "", path == "/v1/messages"
	case conductor.ProviderWorkersAI:
		model, ok := strings.CutPrefix(path, "/client/v4/accounts/"+u.account+"/ai/run/")
		return model, ok && model != ""
	}
	return "", false
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	ex, err := newExchange(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply := u.answer(ex, r.URL.Path)
	ex.Status = reply.Status
	u.record(*ex)
	write(w, reply)
}

func (u *Upstream) answer(ex *Exchange, path string) Reply {
	model, ok := u.route(path)
	if !ok || ex.Method != http.MethodPost {
		return notFound(ex)
	}
	ex.Provider = u.Provider
	if ex.Model = model; model == "" {
		ex.Model = bodyModel(ex.Body)
	}
	if refusal, ok := authorize(u.Provider, u.key, ex.Header); !ok {
		return refusal
	}
	ex.Upstream = 1
	return u.responder(u.Provider)(ex)
}

// Gateway is a fake of Cloudflare's hosted AI Gateway for one account and
// gateway id, in front of fake providers.
type Gateway struct {
	recorder
	// URL is what CLOUDFLARE_AI_GATEWAY_BASE_URL names (…/v1).
	URL         string
	Account, ID string

	token string            // cf-aig-authorization bearer; "" for an open gateway
	keys  map[string]string // the provider keys the providers behind accept
	srv   *httptest.Server

	cacheMu sync.Mutex
	cache   map[string]cached
}

type cached struct {
	reply   Reply
	expires time.Time
}

// NewGateway starts a fake hosted gateway account/id requiring token (none
// when ""), in front of providers that accept keys (provider → key; for
// workers-ai the Cloudflare API token). It stops when tb ends.
func NewGateway(tb testing.TB, account, id, token string, keys map[string]string) *Gateway {
	g := &Gateway{Account: account, ID: id, token: token, keys: keys, cache: map[string]cached{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	tb.Cleanup(g.srv.Close)
	g.URL = g.srv.URL + "/v1"
	return g
}

// Respond sets how provider answers behind the gateway (default: Text("")).
func (g *Gateway) Respond(provider string, fn Responder) { g.setResponder(provider, fn) }

// Path is the gateway path of a provider's chat call, as Cloudflare
// documents it.
func (g *Gateway) Path(provider, model string) string {
	base := "/v1/" + g.Account + "/" + g.ID + "/"
	switch provider {
	case conductor.ProviderOpenAI:
		return base + "openai/chat/completions"
	case conductor.ProviderGroq:
		return base + "groq/chat/completions"
	case conductor.ProviderAnthropic:
		return base + "anthropic/v1/messages"
	case conductor.ProviderWorkersAI:
		return base + "workers-ai/" + model
	}
	return base + provider
}

// SplitGatewayPath splits an (unescaped) hosted-gateway path
// /v1/{account}/{gateway}/{segment}/{rest} into the provider it addresses
// and, for Workers AI, the model. ok is false for anything else, including
// a provider path that is not its chat endpoint.
func SplitGatewayPath(path string) (account, gateway, provider, model string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v1/")
	if !found {
		return "", "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" {
		return "", "", "", "", false
	}
	account, gateway, segment, tail := parts[0], parts[1], parts[2], parts[3]
	switch {
	case segment == "openai" && tail == "chat/completions":
		provider = conductor.ProviderOpenAI
	case segment == "groq" && tail == "chat/completions":
		provider = conductor.ProviderGroq
	case segment == "anthropic" && tail == "v1/messages":
		provider = conductor.ProviderAnthropic
	case segment == "workers-ai" && tail != "" && !strings.HasSuffix(tail, "/"):
		provider, model = conductor.ProviderWorkersAI, tail
	default:
		return "", "", "", "", false
	}
	return account, gateway, provider, model, true
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	ex, err := newExchange(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply := g.answer(ex, r.URL.Path)
	ex.Status = reply.Status
	if reply.Header == nil {
		reply.Header = http.Header{}
	}
	if ex.CacheStatus != "" {
		reply.Header.Set("cf-aig-cache-status", ex.CacheStatus)
	}
	g.record(*ex)
	write(w, reply)
}

func (g *Gateway) answer(ex *Exchange, path string) Reply {
	account, id, provider, model, ok := SplitGatewayPath(path)
	if !ok || account != g.Account || id != g.ID || ex.Method != http.MethodPost {
		return notFound(ex)
	}
	ex.Provider = provider
	if ex.Model = model; model == "" {
		ex.Model = bodyModel(ex.Body)
	}
	if g.token != "" && ex.Header.Get("cf-aig-authorization") != "Bearer "+g.token {
		// The observed gateway-level refusal, distinct from a provider's.
		return Failure("gateway", http.StatusUnauthorized)
	}
	// The provider behind checks its own key, passed through unchanged.
	if refusal, ok := authorize(provider, g.keys[provider], ex.Header); !ok {
		ex.Upstream = 1
		return g.withGatewayHeaders(refusal)
	}

	ttl, caching := cacheTTL(ex.Header)
	key := g.cacheKey(path, ex)
	if caching {
		ex.CacheStatus = "MISS"
		if reply, ok := g.lookup(key); ok {
			ex.CacheStatus = "HIT"
			return g.withGatewayHeaders(reply)
		}
	}

	// cf-aig-max-attempts retries what Cloudflare retries: 429, 5xx. The
	// fake does not wait between attempts; the delays are not under test.
	attempts := 1
	if n, err := strconv.Atoi(ex.Header.Get("cf-aig-max-attempts")); err == nil && n > 1 {
		attempts = min(n, 5)
	}
	respond := g.responder(provider)
	var reply Reply
	for range attempts {
		reply = respond(ex)
		ex.Upstream++
		if reply.Status != http.StatusTooManyRequests && reply.Status < 500 {
			break
		}
	}
	if reply.Header == nil {
		reply.Header = http.Header{}
	}
	if caching && reply.Status == http.StatusOK {
		g.store(key, reply, ttl)
	}
	return g.withGatewayHeaders(reply)
}

// cacheTTL reads whether the request asks for caching and for how long:
// cf-aig-cache-ttl in seconds (Cloudflare accepts 60 s to a month; 0
// disables), unless cf-aig-skip-cache is true.
func cacheTTL(h http.Header) (time.Duration, bool) {
	if strings.EqualFold(h.Get("cf-aig-skip-cache"), "true") {
		return 0, false
	}
	secs, err := strconv.ParseInt(h.Get("cf-aig-cache-ttl"), 10, 64)
	if err != nil || secs <= 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// cacheKey: only identical requests hit — the same path and body, with the
// same provider credentials. cf-aig-metadata is not part of it, as
// Cloudflare documents.
func (g *Gateway) cacheKey(path string, ex *Exchange) string {
	var b strings.Builder
	b.WriteString(path)
	b.WriteByte(0)
	b.WriteString(ex.Header.Get("Authorization"))
	b.WriteByte(0)
	b.WriteString(ex.Header.Get("x-api-key"))
	b.WriteByte(0)
	b.Write(ex.Body)
	return b.String()
}

func (g *Gateway) lookup(key string) (Reply, bool) {
	g.cacheMu.Lock()
	defer g.cacheMu.Unlock()
	c, ok := g.cache[key]
	if !ok || time.Now().After(c.expires) {
		return Reply{}, false
	}
	return Reply{Status: c.reply.Status, Header: c.reply.Header.Clone(), Body: c.reply.Body}, true
}

func (g *Gateway) store(key string, r Reply, ttl time.Duration) {
	g.cacheMu.Lock()
	defer g.cacheMu.Unlock()
	g.cache[key] = cached{reply: Reply{Status: r.Status, Header: r.Header.Clone(), Body: r.Body}, expires: time.Now().Add(ttl)}
}

// withGatewayHeaders adds what every answer through the gateway carries:
// the step that answered and a log id.
func (g *Gateway) withGatewayHeaders(r Reply) Reply {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set("cf-aig-step", "0")
	var id [13]byte
	rand.Read(id[:])
	r.Header.Set("cf-aig-log-id", strings.ToUpper(hex.EncodeToString(id[:]))[:26])
	return r
}
