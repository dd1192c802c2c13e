package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// format is a wire format, a caller's or an upstream's.
type format uint8

const (
	fmtNone       format = iota // an upstream whose answers carry no wire bytes (mock, a Resolve hook)
	fmtOpenAI                   // Chat Completions: OpenAI, Groq, local servers, Workers AI's /v1
	fmtAnthropic                // Messages
	fmtWorkersAI                // Workers AI's native /ai/run/{model}
	fmtCloudflare               // a Cloudflare gateway path before its provider is known
)

// bodyFormat is ChatRequest.BodyFormat for a format.
func (f format) bodyFormat() string {
	switch f {
	case fmtOpenAI:
		return conductor.FormatOpenAI
	case fmtAnthropic:
		return conductor.FormatAnthropic
	case fmtWorkersAI:
		return conductor.FormatWorkersAI
	}
	return ""
}

// formatOf is the format of a wire format's name (ProviderSpec.Format).
func formatOf(wire string) format {
	switch wire {
	case conductor.FormatOpenAI:
		return fmtOpenAI
	case conductor.FormatAnthropic:
		return fmtAnthropic
	case conductor.FormatWorkersAI:
		return fmtWorkersAI
	}
	return fmtNone
}

// errServerDeadline is the cause of a request that ran past RequestTimeout.
var errServerDeadline = errors.New("the request exceeded the server's deadline")

func tooLarge(limit int64) *conductor.Error {
	return &conductor.Error{Class: conductor.ClassTooLarge, Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
}

func badRequest(format string, args ...any) *conductor.Error {
	return &conductor.Error{Class: conductor.ClassBadRequest, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// asError turns any failure of a call into the *conductor.Error the caller
// sees. ctx is the request's: when its deadline passed, the answer is a
// timeout (504) whatever the inner layers made of it; when the caller went
// away, nobody reads the answer.
func asError(ctx context.Context, err error) *conductor.Error {
	if errors.Is(context.Cause(ctx), errServerDeadline) {
		return &conductor.Error{Class: conductor.ClassTimeout, Status: http.StatusGatewayTimeout,
			Message: errServerDeadline.Error(), Err: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
	}
	if e, ok := conductor.AsError(err); ok {
		return e
	}
	if ctx.Err() != nil {
		return &conductor.Error{Class: conductor.ClassCanceled, Message: "the caller went away", Err: err}
	}
	return &conductor.Error{Class: conductor.ClassServer, Message: err.Error(), Err: err}
}

// statusOf is the status a caller gets for e: what its class means, so
// that an upstream 500 is our 502 and an upstream 400 stays 400.
func statusOf(e *conductor.Error) int {
	if e.Class == conductor.ClassBadRequest && e.Status == http.StatusUnsupportedMediaType {
		return e.Status // ours: a body that is not JSON
	}
	if e.Code == gateway.CodeDeploymentsUnavailable {
		return http.StatusServiceUnavailable // ours: every breaker is open
	}
	return provider.HTTPStatus(e)
}

// errorHeaders sets Retry-After on refusals that say when to come back,
// and x-should-retry: false where the official SDKs' automatic retries
// cannot help (a spent budget or quota, a bad request).
func errorHeaders(h http.Header, e *conductor.Error, status int) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(e.RetryAfter.Seconds())), 10))
	} else if status == http.StatusTooManyRequests && (e.Class == conductor.ClassLimited || e.Class == conductor.ClassRateLimited) {
		h.Set("Retry-After", "1")
	}
	switch e.Class {
	case conductor.ClassBudget, conductor.ClassQuota, conductor.ClassBadRequest, conductor.ClassTooLarge, conductor.ClassConfig:
		h.Set("x-should-retry", "false")
	}
}

// writeError answers e in wire format f.
func writeError(w http.ResponseWriter, f format, e *conductor.Error) {
	status := statusOf(e)
	if status == 499 {
		// The caller went away: the status is for the access log only.
		w.WriteHeader(status)
		return
	}
	errorHeaders(w.Header(), e, status)
	var body []byte
	switch f {
	case fmtAnthropic:
		body = anthropic.EncodeError(e)
	case fmtWorkersAI:
		body = encodeCloudflareError(e)
	default:
		body = openai.EncodeError(e)
	}
	writeJSON(w, status, body)
}

// writeAuthError answers a refused gateway token: 401 in the caller's
// format; on Cloudflare paths, Cloudflare's own gateway error (code 2009).
func writeAuthError(w http.ResponseWriter, f format, err error) {
	e := &conductor.Error{Class: conductor.ClassAuth, Status: http.StatusUnauthorized, Code: "invalid_gateway_token", Message: err.Error()}
	w.Header().Set("WWW-Authenticate", `Bearer realm="conductor"`)
	if f == fmtCloudflare {
		w.Header().Set("x-should-retry", "false")
		b := make([]byte, 0, 160)
		b = append(b, `{"success":false,"error":[{"code":2009,"message":"Unauthorized"}],"name":"AiGatewayError","internalCode":2009,"message":`...)
		b = appendJSONString(b, "Unauthorized: "+err.Error())
		b = append(b, '}')
		writeJSON(w, http.StatusUnauthorized, b)
		return
	}
	writeError(w, f, e)
}

// errFormat is the error format of a request before its body is read: on a
// Cloudflare path, the provider's.
func errFormat(f format, r *http.Request) format {
	if f != fmtCloudflare {
		return f
	}
	spec, _ := conductor.ProviderBySegment(r.PathValue("provider"))
	switch f := formatOf(spec.Format); {
	case f == fmtNone, f == fmtWorkersAI && strings.Trim(r.PathValue("rest"), "/") == compatPath:
		return fmtOpenAI
	default:
		return f
	}
}

// encodeCloudflareError is the Cloudflare API envelope Workers AI answers
// errors in: {"result":null,"success":false,"errors":[{"code","message"}]}.
func encodeCloudflareError(e *conductor.Error) []byte { return workersai.EncodeError(e) }
