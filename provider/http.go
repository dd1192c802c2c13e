package provider

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// CloudflareAPIBaseURL is the Cloudflare API that Workers AI's URLs start
// from, as the registry declares it (conductor.ProviderSpec.BaseURL).
var CloudflareAPIBaseURL = func() string {
	s, _ := conductor.LookupProvider(conductor.ProviderWorkersAI)
	return s.BaseURL
}()

// Size limits on what we read from an upstream: generous for answers, small
// for error bodies (only their message matters).
const (
	// DefaultMaxAnswerBytes bounds a whole answer when the Endpoint sets
	// no MaxAnswerBytes ([gateway] max_answer_bytes).
	DefaultMaxAnswerBytes = 32 << 20
	maxErrorBytes         = 1 << 20
	userAgent             = "conductor-go"
)

// NewTransport returns an http.Transport tuned for a few upstream hosts
// called many times: keep-alives, a large idle pool per host (the default of
// 2 forces new TLS handshakes under concurrency), and bounded dial and TLS
// handshake times. Time to first byte and the whole call are bounded per
// call by the Endpoint instead, since streams may legitimately run long.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// DefaultClient returns a new client over a new tuned transport. Routing
// should create one and share it between every Endpoint so that connections
// to each upstream host are reused across adapters.
func DefaultClient() *http.Client {
	return &http.Client{Transport: NewTransport()}
}

// Sentinel causes of our own deadlines, so that a timeout can be told apart
// from the caller going away.
var (
	errFirstByteTimeout = errors.New("no answer headers within the first-byte timeout")
	errOverallTimeout   = errors.New("call exceeded its overall timeout")
)

// Caller sends a prepared request for one adapter and holds what every wire
// format shares: the endpoint, its client, the header names carrying the
// request id.
type Caller struct {
	Endpoint   Endpoint
	client     *http.Client
	requestIDs []string // response headers holding the provider's request id, best first
}

func NewCaller(ep Endpoint, requestIDs ...string) Caller {
	ep.BaseURL = strings.TrimRight(ep.BaseURL, "/")
	c := Caller{Endpoint: ep, client: ep.Client, requestIDs: requestIDs}
	if c.client == nil {
		// One client per adapter, shared by all its calls; routing passes a
		// client shared across adapters.
		c.client = DefaultClient()
	}
	return c
}

// Call is one HTTP exchange in flight: its context carries our deadlines, and
// Release frees the connection and the timers.
type Call struct {
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelCauseFunc
	overall  *time.Timer
	start    time.Time
	ttfb     time.Duration
	Response *http.Response
	Meta     conductor.ResponseMeta
}

func (c *Call) Release() {
	if c.overall != nil {
		c.overall.Stop()
	}
	if c.Response != nil {
		c.Response.Body.Close()
	}
	c.cancel(context.Canceled)
}

// Send posts body to url with the given headers and waits for the answer's
// headers. A non-2xx answer is read and returned as a *conductor.Error; so is
// every transport failure. On success the caller must release the call.
func (p *Caller) Send(ctx context.Context, req *conductor.ChatRequest, url string, body []byte, header http.Header, stream bool) (*Call, error) {
	c := &Call{parent: ctx, start: time.Now()}
	c.ctx, c.cancel = context.WithCancelCause(ctx)
	if p.Endpoint.Timeout > 0 {
		c.overall = time.AfterFunc(p.Endpoint.Timeout, func() { c.cancel(errOverallTimeout) })
	}
	hr, err := http.NewRequestWithContext(c.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		c.Release()
		return nil, &conductor.Error{Provider: p.Endpoint.Name, Class: conductor.ClassConfig,
			Message: "invalid upstream URL", Err: err}
	}
	hr.Header = header
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", userAgent)
	if stream {
		hr.Header.Set("Accept", "text/event-stream")
	} else {
		hr.Header.Set("Accept", "application/json")
	}
	for k, vs := range p.Endpoint.Header {
		hr.Header.Del(k)
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if p.Endpoint.Hook != nil {
		p.Endpoint.Hook.Before(hr, req)
	}
	var firstByte *time.Timer
	if p.Endpoint.FirstByteTimeout > 0 {
		firstByte = time.AfterFunc(p.Endpoint.FirstByteTimeout, func() { c.cancel(errFirstByteTimeout) })
	}
	resp, err := p.client.Do(hr)
	if firstByte != nil {
		firstByte.Stop()
	}
	if err != nil {
		e := p.transportError(c, err, "sending the request")
		c.Release()
		return nil, e
	}
	c.Response = resp
	c.ttfb = time.Since(c.start)
	c.Meta = conductor.ResponseMeta{Provider: p.Endpoint.Name, Attempts: 1, TTFB: c.ttfb}
	if p.Endpoint.Hook != nil {
		p.Endpoint.Hook.After(resp, &c.Meta)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := p.statusError(c, resp)
		c.Release()
		return nil, e
	}
	return c, nil
}

// Wire formats, as ChatRequest.BodyFormat names them.
const (
	FormatOpenAI    = conductor.FormatOpenAI
	FormatAnthropic = conductor.FormatAnthropic
	FormatWorkersAI = conductor.FormatWorkersAI
)

// PassThrough returns the caller's own body when it is in this adapter's
// wire format and asks for what this call does (a stream or a whole
// answer): it is sent as received, never re-encoded. Whoever changes the
// request's fields after the body was read (a split to another model, say)
// clears Body.
func PassThrough(req *conductor.ChatRequest, format string, stream bool) []byte {
	if len(req.Body) > 0 && req.BodyFormat == format && req.Stream == stream {
		return req.Body
	}
	return nil
}

// ReadAll reads a whole answer body, mapping a failure to a typed error.
func (p *Caller) ReadAll(c *Call, limit int64) ([]byte, error) {
	b, over, err := p.read(c, limit)
	if over {
		return nil, &conductor.Error{Provider: p.Endpoint.Name, Class: conductor.ClassMalformed, Status: c.Response.StatusCode,
			Message: fmt.Sprintf("answer larger than %d bytes", limit), RequestID: p.RequestID(c.Response.Header)}
	}
	return b, err
}

// ReadAnswer reads a whole chat answer within the Endpoint's
// MaxAnswerBytes. A larger one is refused, never held: a 502
// answer_too_large (not retried: the same call would be as large) that a
// caller can avoid by asking for a stream.
func (p *Caller) ReadAnswer(c *Call) ([]byte, error) {
	limit := p.Endpoint.MaxAnswerBytes
	if limit <= 0 {
		limit = DefaultMaxAnswerBytes
	}
	b, over, err := p.read(c, limit)
	if over {
		return nil, &conductor.Error{Provider: p.Endpoint.Name, Class: conductor.ClassMalformed, Status: http.StatusBadGateway, Code: "answer_too_large",
			Message:   fmt.Sprintf("the answer is larger than %s, the most the gateway holds for a whole answer ([gateway] max_answer_bytes); ask for a stream, or raise the limit", sizeName(limit)),
			RequestID: p.RequestID(c.Response.Header)}
	}
	return b, err
}

// read reads the answer's body, at most limit bytes: over says it had
// more, and nothing is returned of it.
func (p *Caller) read(c *Call, limit int64) (b []byte, over bool, err error) {
	if n := c.Response.ContentLength; n >= 0 && n <= limit {
		// The usual answer says its length: one allocation of that size
		// instead of io.ReadAll's doubling from 512 bytes.
		b = make([]byte, n)
		if _, err := io.ReadFull(p.body(c), b); err != nil {
			return nil, false, p.transportError(c, err, "reading the answer")
		}
		return b, false, nil
	}
	b, err = io.ReadAll(io.LimitReader(p.body(c), limit+1))
	if err != nil {
		return nil, false, p.transportError(c, err, "reading the answer")
	}
	if int64(len(b)) > limit {
		return nil, true, nil
	}
	return b, false, nil
}

// sizeName writes n bytes in MiB when it is a whole number of them.
func sizeName(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// body is the answer's body, reporting each read to the call's
// conductor.ReadProgress when it has one (the idle deadline of a whole
// answer).
func (p *Caller) body(c *Call) io.Reader {
	if fn := conductor.ReadProgress(c.ctx); fn != nil {
		return progressReader{c.Response.Body, fn}
	}
	return c.Response.Body
}

// progressReader calls fn after each read that returned bytes.
type progressReader struct {
	r  io.Reader
	fn func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn()
	}
	return n, err
}

// RequestID returns the provider's request id from the answer's headers.
func (p *Caller) RequestID(h http.Header) string {
	for _, name := range p.requestIDs {
		if v := h.Get(name); v != "" {
			return v
		}
	}
	return ""
}

// transportError classifies a failure to send or read: one of our deadlines,
// the caller going away, or the network.
func (p *Caller) transportError(c *Call, err error, doing string) *conductor.Error {
	e := &conductor.Error{Provider: p.Endpoint.Name, Err: err}
	if c.Response != nil {
		e.Status = c.Response.StatusCode
		e.RequestID = p.RequestID(c.Response.Header)
	}
	cause := context.Cause(c.ctx)
	switch {
	case errors.Is(cause, errFirstByteTimeout):
		e.Class, e.Retryable = conductor.ClassTimeout, true
		e.Message = fmt.Sprintf("no answer within the first-byte timeout of %s", p.Endpoint.FirstByteTimeout)
	case errors.Is(cause, errOverallTimeout):
		e.Class, e.Retryable = conductor.ClassTimeout, true
		e.Message = fmt.Sprintf("call exceeded its timeout of %s while %s", p.Endpoint.Timeout, doing)
	case errors.Is(c.parent.Err(), context.DeadlineExceeded):
		e.Class, e.Retryable = conductor.ClassTimeout, true
		e.Message = "deadline exceeded while " + doing
	case c.parent.Err() != nil:
		e.Class = conductor.ClassCanceled
		e.Message = "call canceled while " + doing
	default:
		e.Class, e.Retryable = conductor.ClassNetwork, true
		var netErr net.Error
		var certErr *tls.CertificateVerificationError
		switch {
		case errors.As(err, &certErr):
			// A bad certificate stays bad on the next attempt.
			e.Retryable = false
		case errors.As(err, &netErr) && netErr.Timeout():
			e.Class = conductor.ClassTimeout
		}
		e.Message = "network error while " + doing + ": " + rootMessage(err)
	}
	return e
}

// rootMessage is the innermost error's text, without net/http's URL prefix
// (the URL may name an account id; keep messages short).
func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// statusError reads a non-2xx answer and builds the typed error from its
// status, headers and body.
func (p *Caller) statusError(c *Call, resp *http.Response) *conductor.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	now := time.Now()
	e := errorFromStatus(p.Endpoint.Name, resp.StatusCode, resp.Header, body, now)
	if e.RequestID == "" {
		e.RequestID = p.RequestID(resp.Header)
	}
	return e
}

// errorFromStatus maps an HTTP error answer to a *conductor.Error: the class
// from the status (and OpenAI's insufficient_quota), the provider's own
// message and code from any of the error body shapes we know, and the
// retry-after delay.
func errorFromStatus(provider string, status int, h http.Header, body []byte, now time.Time) *conductor.Error {
	class, retryable := conductor.ClassForStatus(status)
	e := &conductor.Error{Provider: provider, Class: class, Status: status, Retryable: retryable}
	eb := parseErrorBody(body)
	e.Message, e.Code, e.RequestID = eb.message, eb.code, eb.requestID
	if e.Message == "" {
		e.Message = bodySnippet(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	switch {
	case status == http.StatusTooManyRequests && errorTypeClass(eb.typ, eb.code) == conductor.ClassQuota:
		// Quota exhausted: waiting does not refill it.
		e.Class, e.Retryable = conductor.ClassQuota, false
	case status == 498:
		// Groq: flex tier capacity exceeded, retry with jitter.
		e.Class, e.Retryable = conductor.ClassRateLimited, true
	case status == 402:
		e.Class, e.Retryable = conductor.ClassQuota, false
	case status == 409:
		// The official SDKs retry conflicts (a lock timeout upstream).
		e.Retryable = true
	}
	// The official SDKs let the server decide: x-should-retry overrides.
	switch strings.ToLower(h.Get("x-should-retry")) {
	case "true":
		e.Retryable = true
	case "false":
		e.Retryable = false
	}
	e.RetryAfter = retryAfter(h, now)
	return e
}

// retryAfter reads retry-after-ms (milliseconds, OpenAI), then Retry-After
// as seconds (possibly fractional) or an HTTP date. Absent or unreadable: 0.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 1e9 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// errorBody is what we take from any provider's error body.
type errorBody struct {
	message   string
	code      string // the provider's code, else its type
	typ       string
	requestID string
}

// parseErrorBody understands the error shapes of every upstream we call:
//
//	OpenAI/Groq:  {"error":{"message","type","param","code"}}
//	Anthropic:    {"type":"error","error":{"type","message"},"request_id"}
//	Cloudflare:   {"success":false,"errors":[{"code":10000,"message"}]}
//	AI Gateway:   {"success":false,"error":[{"code":2009,"message"}]}
//	Ollama & co:  {"error":"model not found"}
//
// Anything else yields an empty errorBody.
func parseErrorBody(body []byte) errorBody {
	var raw struct {
		Error     json.RawMessage `json:"error"`
		Errors    []CFMessage     `json:"errors"`
		Message   string          `json:"message"`
		RequestID string          `json:"request_id"`
	}
	var eb errorBody
	if len(body) == 0 || wire.Unmarshal(body, &raw) != nil {
		return eb
	}
	eb.requestID = raw.RequestID
	switch v := bytes.TrimSpace(raw.Error); {
	case len(v) > 0 && v[0] == '{':
		var obj struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		if wire.Unmarshal(v, &obj) == nil {
			eb.message, eb.typ = obj.Message, obj.Type
			eb.code = scalarString(obj.Code)
			if eb.code == "" {
				eb.code = obj.Type
			}
		}
	case len(v) > 0 && v[0] == '"':
		_ = wire.Unmarshal(v, &eb.message)
	case len(v) > 0 && v[0] == '[':
		var list []CFMessage
		if wire.Unmarshal(v, &list) == nil {
			eb.message, eb.code = JoinCFMessages(list)
		}
	}
	if eb.message == "" && len(raw.Errors) > 0 {
		eb.message, eb.code = JoinCFMessages(raw.Errors)
	}
	if eb.message == "" {
		eb.message = raw.Message
	}
	return eb
}

// CFMessage is one entry of a Cloudflare API envelope's errors or messages.
type CFMessage struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// JoinCFMessages folds a Cloudflare errors[] list into one message, keeping
// each code next to its text, and returns the first code.
func JoinCFMessages(list []CFMessage) (msg, code string) {
	var b strings.Builder
	for i, m := range list {
		c := scalarString(m.Code)
		if i == 0 {
			code = c
		} else {
			b.WriteString("; ")
		}
		b.WriteString(m.Message)
		if c != "" {
			b.WriteString(" (code ")
			b.WriteString(c)
			b.WriteString(")")
		}
	}
	return b.String(), code
}

// scalarString renders a JSON string or number as text; null and anything
// else as "".
func scalarString(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return ""
	}
	switch {
	case v[0] == '"':
		var s string
		if wire.Unmarshal(v, &s) == nil {
			return s
		}
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		return string(v)
	}
	return ""
}

// bodySnippet is the start of a non-JSON error body (an HTML page from a
// proxy, say), as one line of valid UTF-8.
func bodySnippet(body []byte) string {
	const max = 200
	s := strings.ToValidUTF8(strings.Join(strings.Fields(string(body)), " "), "\uFFFD")
	if len(s) > 0 && (s[0] == '{' || s[0] == '[') {
		return "" // JSON we did not understand: the status text says more
	}
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// Malformed builds the error for an answer we could not parse.
func Malformed(provider string, status int, requestID, what string, err error) *conductor.Error {
	return &conductor.Error{Provider: provider, Class: conductor.ClassMalformed, Status: status,
		Message: what, RequestID: requestID, Err: err}
}

// HTTPStatus is the status a server answers its caller with for e: the
// class decides, so that it means what it says whatever the upstream sent
// (an upstream 500 is our 502: the gateway is fine, its upstream is not).
func HTTPStatus(e *conductor.Error) int {
	switch e.Class {
	case conductor.ClassBadRequest:
		return http.StatusBadRequest
	case conductor.ClassAuth:
		if e.Status == http.StatusForbidden {
			return http.StatusForbidden
		}
		return http.StatusUnauthorized
	case conductor.ClassNotFound:
		return http.StatusNotFound
	case conductor.ClassTooLarge:
		return http.StatusRequestEntityTooLarge
	case conductor.ClassRateLimited, conductor.ClassLimited, conductor.ClassQuota, conductor.ClassBudget:
		return http.StatusTooManyRequests
	case conductor.ClassTimeout:
		return http.StatusGatewayTimeout
	case conductor.ClassConfig:
		return http.StatusInternalServerError
	case conductor.ClassCanceled:
		return 499 // the caller went away; nobody reads it, logs do
	}
	return http.StatusBadGateway
}

// CompleteError adds the answer's status and request id to a decode error.
func CompleteError(err error, status int, requestID string) error {
	if e, ok := conductor.AsError(err); ok {
		if e.Status == 0 {
			e.Status = status
		}
		if e.RequestID == "" {
			e.RequestID = requestID
		}
	}
	return err
}

// AnswerError builds the error for an error body the provider sent with a
// 2xx status (mid-stream, or from a lenient proxy).
func AnswerError(provider string, body []byte) *conductor.Error {
	eb := parseErrorBody(body)
	e := &conductor.Error{Provider: provider, Class: conductor.ClassProviderFail, Code: eb.code,
		Message: eb.message, RequestID: eb.requestID}
	if e.Message == "" {
		e.Message = "the provider reported an error"
	}
	// The kind of error says whether trying again may help.
	if class := errorTypeClass(eb.typ, eb.code); class != "" {
		e.Class = class
		e.Retryable = class == conductor.ClassServer || class == conductor.ClassRateLimited || class == conductor.ClassTimeout
	}
	return e
}

// errorTypeClass maps the error types and codes providers put in bodies
// (OpenAI and Anthropic names) to a class; "" when unknown.
func errorTypeClass(typ, code string) conductor.ErrorClass {
	for _, v := range []string{code, typ} {
		switch v {
		case "insufficient_quota", "billing_error":
			return conductor.ClassQuota
		case "rate_limit_exceeded", "rate_limit_error", "tokens", "requests":
			return conductor.ClassRateLimited
		case "server_error", "api_error", "overloaded_error", "service_unavailable":
			return conductor.ClassServer
		case "timeout_error", "3007":
			return conductor.ClassTimeout
		case "3040": // Workers AI: out of capacity, temporarily
			return conductor.ClassRateLimited
		case "3036": // Workers AI: the daily free allocation is used up
			return conductor.ClassQuota
		case "invalid_request_error", "context_length_exceeded":
			return conductor.ClassBadRequest
		case "authentication_error", "permission_error", "invalid_api_key":
			return conductor.ClassAuth
		case "not_found_error", "model_not_found":
			return conductor.ClassNotFound
		case "request_too_large":
			return conductor.ClassTooLarge
		}
	}
	return ""
}

// WithProvider fills the provider into an error made before any call.
func WithProvider(err error, provider string) error {
	if err == nil {
		return nil
	}
	if e, ok := conductor.AsError(err); ok && e.Provider == "" {
		e.Provider = provider
	}
	return err
}
