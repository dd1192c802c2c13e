package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
)

// apiFormat is the wire format of a request's errors when no endpoint's
// own format decides: Anthropic's when the request says Anthropic (the
// anthropic-version header its SDKs send on every call, an x-api-key,
// /v1/messages or a path below it), OpenAI's otherwise.
func apiFormat(r *http.Request) format {
	if r.Header.Get("anthropic-version") != "" || r.Header.Get("x-api-key") != "" ||
		r.URL.Path == "/v1/messages" || strings.HasPrefix(r.URL.Path, "/v1/messages/") {
		return fmtAnthropic
	}
	return fmtOpenAI
}

// apiSegments begin the paths of the OpenAI and Anthropic APIs after /v1/
// (and of the server's own endpoints). None is a Cloudflare account id, so
// /v1/messages/count_tokens, say, is never taken for a Cloudflare gateway
// path.
var apiSegments = []string{"chat", "completions", "embeddings", "ensembles", "messages", "models", "responses"}

// apiPath reports whether path is under one of apiSegments.
func apiPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v1/")
	seg, _, _ := strings.Cut(rest, "/")
	return ok && slices.Contains(apiSegments, seg)
}

// gatewayPath serves a Cloudflare gateway route with h, except for API
// paths (apiPath), which none answers.
func gatewayPath(h, none http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apiPath(r.URL.Path) {
			none.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// api puts an endpoint that calls no model (the model list) behind the
// gateway token, refusing in the caller's format.
func (s *Server) api(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.auth.check(r); err != nil {
			writeAuthError(w, apiFormat(r), err)
			return
		}
		h(w, r)
	})
}

// catchAll are the route table's patterns that take what no endpoint
// takes: they do not make a path known.
var catchAll = []string{"/", "GET /", "GET /v1/"}

// noEndpoint answers a request no endpoint of mux takes, as JSON in the
// caller's format (never the dashboard's page): 405 with Allow when the
// path is an endpoint's under another method, 404 otherwise.
func (s *Server) noEndpoint(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow, patterns []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if m == r.Method || (m == http.MethodGet && r.Method == http.MethodHead) {
				continue
			}
			probe := *r
			probe.Method = m
			_, pattern := mux.Handler(&probe)
			gateway := strings.HasPrefix(pattern, "POST /v1/{account}/")
			if pattern != "" && !slices.Contains(catchAll, pattern) && !(gateway && apiPath(r.URL.Path)) {
				allow, patterns = append(allow, m), append(patterns, pattern)
			}
		}
		f := apiFormat(r)
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			e := &conductor.Error{Class: conductor.ClassBadRequest, Code: "method_not_allowed",
				Message: fmt.Sprintf("%s is not allowed on %.200s (the endpoint is %s)", r.Method, r.URL.Path, strings.Join(patterns, ", "))}
			body := openai.EncodeError(e)
			if f == fmtAnthropic {
				body = anthropic.EncodeError(e)
			}
			writeJSON(w, http.StatusMethodNotAllowed, body)
			return
		}
		writeError(w, f, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("no endpoint %s %.200s", r.Method, r.URL.Path)})
	})
}
