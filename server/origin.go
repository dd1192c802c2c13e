package server

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	conductor "github.com/conductor-go/conductor"
)

// Cross-origin protection. A web page the user visits may send requests to
// the gateway: a browser sends a cross-origin POST without asking first
// when its body is text/plain, a form or multipart (or has no type at all),
// and a page may point a domain of its own at a loopback address (DNS
// rebinding) so that even reading the answer is "same origin". A gateway
// with no token would answer such a page with the operator's keys. So:
//
//   - the JSON APIs take JSON bodies only (415 otherwise): a JSON body makes
//     the browser ask first (a preflight), and the preflight is refused
//     unless its origin is in [server] cors_origins;
//   - a request whose Origin is neither the server's own nor configured is
//     refused (403) before anything else runs;
//   - with no token configured, Host must name the server (403 otherwise):
//     an IP address, localhost, the host of the bind address, or a name in
//     [server] allowed_hosts. A rebinding page's Host is its own domain.

// origins is the server's cross-origin policy.
type origins struct {
	anyOrigin bool            // cors_origins has "*"
	allowed   map[string]bool // "scheme://host[:port]", lower case
	checkHost bool            // no token: Host is checked
	anyHost   bool            // allowed_hosts has "*"
	hosts     map[string]bool // lower case, without port
}

func newOrigins(corsOrigins, allowedHosts []string, tokens int, addr string) (*origins, error) {
	o := &origins{allowed: map[string]bool{}, hosts: map[string]bool{}, checkHost: tokens == 0}
	for _, s := range corsOrigins {
		if s == "*" {
			o.anyOrigin = true
			continue
		}
		n, ok := normalOrigin(s)
		if !ok {
			return nil, fmt.Errorf("server: cors origin %q (expected scheme://host[:port], such as https://app.example.com, or *)", s)
		}
		o.allowed[n] = true
	}
	for _, h := range allowedHosts {
		if h == "*" {
			o.anyHost = true
			continue
		}
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			return nil, fmt.Errorf("server: allowed host %q (expected a host name such as gateway.internal, without scheme or port)", h)
		}
		o.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	// The bind address's host, when it is a name (an IP is allowed anyway).
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		o.hosts[strings.ToLower(host)] = true
	}
	return o, nil
}

// normalOrigin is an origin as browsers send it: scheme://host[:port] in
// lower case, no path.
func normalOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// hostAllowed reports whether a request's Host names this server.
func (o *origins) hostAllowed(hostport string) bool {
	if !o.checkHost || o.anyHost || hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return true // an address cannot be rebound
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // browsers resolve these to loopback themselves
	}
	return o.hosts[host]
}

// originAllowed reports whether a request's Origin may call: none (not a
// browser, or a same-origin navigation), the server's own, or configured.
func (o *origins) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if o.anyOrigin {
		return true
	}
	n, ok := normalOrigin(origin)
	if !ok {
		return false // "null" (a sandboxed frame, a file) and garbage
	}
	if o.allowed[n] {
		return true
	}
	_, hostport, _ := strings.Cut(n, "://")
	return strings.EqualFold(hostport, r.Host)
}

// exposed are the answer headers a cross-origin caller's script may read.
const exposed = hdrCacheStatus + ", " + hdrStep + ", " + hdrLogID + ", Retry-After, x-should-retry"

// guard applies the policy to every request before routing, and answers
// CORS preflights.
func (s *Server) guard(next http.Handler) http.Handler {
	o := s.origins
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.hostAllowed(r.Host) {
			writeError(w, apiFormat(r), &conductor.Error{Class: conductor.ClassAuth, Status: http.StatusForbidden, Code: "host_not_allowed",
				Message: "the Host header does not name this server; with no gateway token only its address, localhost and [server] allowed_hosts are served (DNS rebinding protection)"})
			return
		}
		origin := r.Header.Get("Origin")
		if !o.originAllowed(r) {
			writeError(w, apiFormat(r), &conductor.Error{Class: conductor.ClassAuth, Status: http.StatusForbidden, Code: "origin_not_allowed",
				Message: "cross-origin requests are served only from [server] cors_origins"})
			return
		}
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			// A preflight from an allowed origin: whatever it asks to send.
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", exposed)
		next.ServeHTTP(w, r)
	})
}

// jsonBody refuses a model call whose body is not declared JSON (415):
// browsers send text/plain, forms and multipart bodies cross-origin
// without a preflight, never a JSON one.
func jsonBody(r *http.Request) *conductor.Error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	got := "no Content-Type"
	if ct != "" {
		got = "Content-Type " + strings.Join(strings.Fields(ct), " ")
		if len(got) > 80 {
			got = got[:80] + "…"
		}
	}
	return &conductor.Error{Class: conductor.ClassBadRequest, Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: "the request body must be JSON (Content-Type: application/json), not " + got}
}
