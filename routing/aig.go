package routing

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

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
// user) go first, the rest by name, so the choice is stable; the object is
// written in key order.
func (h *aigHook) metadata(o conductor.CallOptions) string {
	type kv struct{ k, v string }
	var buf [8]kv
	entries := buf[:0]
	for k, v := range o.Metadata {
		entries = append(entries, kv{k, v})
	}
	if _, ok := o.Metadata["environment"]; !ok {
		if env := or(o.Environment, h.environment); env != "" {
			entries = append(entries, kv{"environment", env})
		}
	}
	if _, ok := o.Metadata["user"]; !ok && o.User != "" {
		entries = append(entries, kv{"user", o.User})
	}
	if len(entries) == 0 {
		return ""
	}
	rank := func(k string) int {
		switch k {
		case "ensemble":
			return 0
		case "member":
			return 1
		case "environment":
			return 2
		case "user":
			return 3
		}
		return 4
	}
	slices.SortFunc(entries, func(a, b kv) int {
		if ra, rb := rank(a.k), rank(b.k); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.k, b.k)
	})
	entries = entries[:min(len(entries), maxMetadataLen)]
	slices.SortFunc(entries, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	b := make([]byte, 0, 128)
	b = append(b, '{')
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e.k)
		b = append(b, ':')
		b = appendJSONString(b, e.v)
	}
	return string(append(b, '}'))
}

// appendJSONString appends s as a JSON string. Control characters and
// non-ASCII are escaped, so the header value stays plain ASCII.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			for _, u := range []rune{r1, r2} {
				b = append(b, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
			}
		default:
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		}
	}
	return append(b, '"')
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
