package routing

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// DefaultGatewayBaseURL is Cloudflare's hosted AI Gateway
// (CLOUDFLARE_AI_GATEWAY_BASE_URL overrides it).
const DefaultGatewayBaseURL = "https://gateway.ai.cloudflare.com/v1"

// The hosted gateway's per-request headers and the answer's, as Cloudflare
// documents them.
const (
	HeaderAuthorization  = "cf-aig-authorization"
	HeaderCacheTTL       = "cf-aig-cache-ttl"
	HeaderSkipCache      = "cf-aig-skip-cache"
	HeaderCacheKey       = "cf-aig-cache-key"
	HeaderMetadata       = "cf-aig-metadata"
	HeaderMaxAttempts    = "cf-aig-max-attempts"
	HeaderRetryDelay     = "cf-aig-retry-delay"
	HeaderBackoff        = "cf-aig-backoff"
	HeaderRequestTimeout = "cf-aig-request-timeout"
	HeaderCacheStatus    = "cf-aig-cache-status"
	HeaderStep           = "cf-aig-step"
)

// Cloudflare's documented bounds: a cache TTL from 60 s to one month, at
// most 5 attempts, a retry delay of at most 5 s, 5 metadata entries.
const (
	minCacheTTL    = 60 * time.Second
	maxCacheTTL    = 30 * 24 * time.Hour
	maxAttempts    = 5
	maxRetryDelay  = 5 * time.Second
	maxMetadataLen = 5
)

// aigHook writes one call's cf-aig-* headers from the call's options (the
// member's cache and retry settings), falling back to the gateway's
// configured settings, and reads the answer's cache status and step.
type aigHook struct {
	gw          config.Gateway
	environment string
}

func (h *aigHook) Before(r *http.Request, req *conductor.ChatRequest) {
	o := req.Options
	hd := r.Header

	ttl, haveTTL := h.gw.CacheTTL.Std(), h.gw.CacheTTL.Std() > 0
	if o.CacheTTL != nil {
		ttl, haveTTL = *o.CacheTTL, true
	}
	switch {
	case o.SkipCache || (haveTTL && ttl <= 0):
		// A TTL of 0 means "do not cache": skip-cache is the documented way
		// to keep this call out of the cache whatever the gateway's setting.
		hd.Set(HeaderSkipCache, "true")
	case haveTTL:
		hd.Set(HeaderCacheTTL, strconv.FormatInt(int64(clamp(ttl, minCacheTTL, maxCacheTTL)/time.Second), 10))
	}
	if o.CacheKey != "" {
		hd.Set(HeaderCacheKey, headerSafe(o.CacheKey))
	}
	if m := h.metadata(o); m != "" {
		hd.Set(HeaderMetadata, m)
	}

	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = h.gw.MaxAttempts
	}
	if attempts > 0 {
		hd.Set(HeaderMaxAttempts, strconv.Itoa(min(attempts, maxAttempts)))
	}
	delay := o.RetryDelay
	if delay <= 0 {
		delay = h.gw.RetryDelay.Std()
	}
	if delay > 0 {
		hd.Set(HeaderRetryDelay, strconv.FormatInt(min(delay, maxRetryDelay).Milliseconds(), 10))
	}
	backoff := o.Backoff
	if backoff == "" {
		backoff = h.gw.Backoff
	}
	switch backoff {
	case "constant", "linear", "exponential":
		hd.Set(HeaderBackoff, backoff)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = h.gw.RequestTimeout.Std()
	}
	if timeout > 0 {
		hd.Set(HeaderRequestTimeout, strconv.FormatInt(max(timeout.Milliseconds(), 1), 10))
	}
}

func (h *aigHook) After(r *http.Response, meta *conductor.ResponseMeta) {
	switch s := strings.ToUpper(strings.TrimSpace(r.Header.Get(HeaderCacheStatus))); s {
	case "HIT":
		meta.Cached, meta.CacheStatus = true, s
	case "MISS":
		meta.Cached, meta.CacheStatus = false, s
	}
	if step, err := strconv.Atoi(strings.TrimSpace(r.Header.Get(HeaderStep))); err == nil && step >= 0 {
		meta.Step = step
	}
}

// metadata encodes at most five entries as the JSON object cf-aig-metadata
// carries. The entries that identify a call (ensemble, member, environment,
// user) go first; the rest by name, so the choice is stable.
func (h *aigHook) metadata(o conductor.CallOptions) string {
	m := make(map[string]string, len(o.Metadata)+2)
	for k, v := range o.Metadata {
		m[k] = v
	}
	if _, ok := m["environment"]; !ok {
		if env := or(o.Environment, h.environment); env != "" {
			m["environment"] = env
		}
	}
	if _, ok := m["user"]; !ok && o.User != "" {
		m["user"] = o.User
	}
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		if i := slices.Index([]string{"ensemble", "member", "environment", "user"}, k); i >= 0 {
			return i
		}
		return 4
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]string, maxMetadataLen)
	for _, k := range keys[:min(len(keys), maxMetadataLen)] {
		out[k] = m[k]
	}
	b, err := json.Marshal(out) // a map of strings always encodes
	if err != nil {
		return ""
	}
	return string(b)
}

func clamp(d, lo, hi time.Duration) time.Duration { return max(lo, min(d, hi)) }

// headerSafe keeps a caller's value from breaking the request: control
// characters are not allowed in a header, so such a value is escaped.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return url.QueryEscape(s)
		}
	}
	return s
}
