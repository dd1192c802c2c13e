package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
)

// debugPprof serves net/http/pprof under /debug/pprof/ behind the admin
// token (the load harness's --pprof reads it). Without an admin token it is
// not mounted: profiles show function names and timing, which are the
// operator's.
func (s *Server) debugPprof(mux *http.ServeMux) {
	if s.opts.AdminToken == "" {
		return
	}
	sum := sha256.Sum256([]byte(s.opts.AdminToken))
	guard := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := sha256.Sum256([]byte(bearer(r.Header.Get("Authorization"))))
			if subtle.ConstantTimeCompare(got[:], sum[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="conductor-admin"`)
				adminError(w, http.StatusUnauthorized, "invalid_admin_token", "/debug/pprof/ wants the admin token as Authorization: Bearer <token>")
				return
			}
			h(w, r)
		})
	}
	mux.Handle("GET /debug/pprof/", guard(pprof.Index))
	mux.Handle("GET /debug/pprof/cmdline", guard(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", guard(pprof.Profile))
	mux.Handle("GET /debug/pprof/symbol", guard(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", guard(pprof.Trace))
}
