// Package dashboard serves the gateway's analytics page and the JSON it
// reads: cache hit rate, request volume, cost per model, latency
// percentiles, error rates by provider, budgets against their limits
// (and the calls that cost more than their reservation), deployments, A/B
// variants and recent requests, with charts over time and the product
// page's targets (hit rate > 80%, errors < 1%, p95 < 3 s) shown against
// the figures.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no
// CDN); its charts are SVG drawn by its own few lines of script, and it
// polls the JSON every few seconds.
//
// Routes, relative to where the handler is mounted:
//
//	GET /                                 the page
//	GET /api/summary?since=24h            totals, percentiles and targets
//	GET /api/series?since=24h&step=30m    time buckets: requests, hit rate, cost, p95, errors
//	GET /api/by?by=model&since=24h        one row per model, provider, environment, variant or gateway
//	GET /api/recent?limit=50              the newest requests
//	GET /api/budgets                      each budget's spend in its current window
//	GET /api/overspend                    calls that cost more than their budget reservation
//	GET /api/deployments                  the [[model]] deployments' breakers and load
//	GET /api/config                       title, refresh, targets, the admin API's URL
//
// When tokens are configured every route wants one: an Authorization:
// Bearer header, or once in a browser ?token=TOKEN, which sets an
// HttpOnly cookie (holding a hash of the token, not the token) and
// redirects to the same URL without it.
package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
)

//go:embed assets
var assets embed.FS

// Windows of a budget.
const (
	WindowDay   = "day"
	WindowMonth = "month"
)

// CookieName is the cookie a ?token= login sets.
const CookieName = "conductor_dashboard"

// Budget is one spend limit shown against its limit.
type Budget struct {
	// Name is how the page names it ("production, daily").
	Name     string
	LimitUSD float64
	// Window is WindowDay or WindowMonth, in UTC.
	Window string
	// Key is the spend counter's key without its window: the gateway keeps
	// a budget's spend under Key+"/"+Window+":"+the window's name
	// ("2026-11-25" for a day, "2026-11" for a month). See SpendKey.
	Key string
}

// Targets are the figures the page marks green or red; the zero value
// takes the product page's.
type Targets struct {
	HitRate   float64       // at least: 0.8
	ErrorRate float64       // at most: 0.01
	P95       time.Duration // at most: 3s
}

// Options configure New.
type Options struct {
	// Tokens, when any, are the gateway tokens a caller must present.
	Tokens []string
	// Budgets are shown against their limits; BudgetSource, when set, is
	// asked for them at each request instead (budgets changed while the
	// server runs).
	Budgets      []Budget
	BudgetSource func() []Budget
	// DeploymentSource, when set, reports the [[model]] deployments'
	// breakers and load at each request (gateway.Pool.Status).
	DeploymentSource func() []Deployment
	// OverspendSource, when set, reports per gateway the calls that cost
	// more than their budget reservation since the process started
	// (gateway.Set.Overspend), at each request.
	OverspendSource func() map[string]gateway.Overspend
	// Targets default to the product page's.
	Targets Targets
	// AdminURL, when set, is where the page finds the admin API
	// ("/admin/", as `conductor serve` mounts it): the page then shows
	// forms to create and revoke keys and to set budgets, rate limits and
	// cache TTLs, unlocked with the admin token, and the audit log.
	AdminURL string
	// Refresh is how often the page polls; default 5s.
	Refresh time.Duration
	// Title names the page; default "Conductor gateway".
	Title string
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// budgets are the budgets shown now.
func (h *Handler) budgetList() []Budget {
	if h.opts.BudgetSource != nil {
		return h.opts.BudgetSource()
	}
	return h.opts.Budgets
}

// Handler serves the dashboard.
type Handler struct {
	st     conductor.Store
	opts   Options
	tokens [][sha256.Size]byte
	mux    *http.ServeMux
	log    *slog.Logger
}

// New returns the dashboard over st's log and spend counters.
func New(st conductor.Store, opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.Title == "" {
		opts.Title = "Conductor gateway"
	}
	if opts.Targets.HitRate == 0 {
		opts.Targets.HitRate = 0.8
	}
	if opts.Targets.ErrorRate == 0 {
		opts.Targets.ErrorRate = 0.01
	}
	if opts.Targets.P95 == 0 {
		opts.Targets.P95 = 3 * time.Second
	}
	h := &Handler{st: st, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	for _, t := range opts.Tokens {
		if t != "" {
			h.tokens = append(h.tokens, tokenHash(t))
		}
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic("dashboard: embedded assets: " + err.Error()) // part of the binary
	}
	files := http.FileServerFS(static)
	h.mux.Handle("GET /{$}", files)
	h.mux.Handle("GET /app.js", files)
	h.mux.Handle("GET /admin.js", files)
	h.mux.Handle("GET /style.css", files)
	h.mux.HandleFunc("GET /api/summary", h.summary)
	h.mux.HandleFunc("GET /api/series", h.series)
	h.mux.HandleFunc("GET /api/by", h.by)
	h.mux.HandleFunc("GET /api/recent", h.recent)
	h.mux.HandleFunc("GET /api/budgets", h.budgets)
	h.mux.HandleFunc("GET /api/deployments", h.deployments)
	h.mux.HandleFunc("GET /api/overspend", h.overspend)
	h.mux.HandleFunc("GET /api/config", h.config)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	// Everything the page needs is its own: no other origin may be loaded
	// from, and no other site may frame it.
	w.Header().Set("Content-Security-Policy",
		"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	if len(h.tokens) > 0 && !h.authorized(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized reports whether r carries a valid token. It answers the
// request itself when not: 401, or after a ?token= login a redirect.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.valid(tokenHash(strings.TrimSpace(tok))) {
		return true
	}
	if q := r.URL.Query(); q.Has("token") {
		if !h.valid(tokenHash(q.Get("token"))) {
			h.unauthorized(w, r, "the token is not valid")
			return false
		}
		sum := tokenHash(q.Get("token"))
		http.SetCookie(w, &http.Cookie{
			Name: CookieName, Value: hex.EncodeToString(sum[:]), Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		})
		// Drop the token from the address bar and the history. The
		// redirect is relative: the handler may be mounted under a prefix
		// it cannot see (http.StripPrefix).
		q.Del("token")
		loc := "./"
		if !strings.HasSuffix(r.URL.Path, "/") {
			loc += path.Base(r.URL.Path)
		}
		if enc := q.Encode(); enc != "" {
			loc += "?" + enc
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusSeeOther)
		return false
	}
	if c, err := r.Cookie(CookieName); err == nil {
		var sum [sha256.Size]byte
		if b, err := hex.DecodeString(c.Value); err == nil && len(b) == len(sum) {
			copy(sum[:], b)
			if h.valid(sum) {
				return true
			}
		}
	}
	h.unauthorized(w, r, "a gateway token is required")
	return false
}

func (h *Handler) valid(sum [sha256.Size]byte) bool {
	ok := 0
	for i := range h.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], h.tokens[i][:])
	}
	return ok == 1
}

func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="conductor"`)
	if strings.Contains(r.URL.Path, "/api/") {
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>Conductor: token required</title>
<p>` + msg + `. Open this page once as <code>?token=YOUR_GATEWAY_TOKEN</code>: the browser keeps a cookie.</p>`))
}

// tokenHash is what is compared and what the cookie holds: a token never
// leaves the server in a cookie, and comparing fixed-size hashes takes the
// same time whatever the token's length.
func tokenHash(tok string) [sha256.Size]byte {
	return sha256.Sum256([]byte("conductor-dashboard\x00" + tok))
}
