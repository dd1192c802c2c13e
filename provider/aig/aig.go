// Package aig is Cloudflare AI Gateway's wire format: its URLs
// ({base}/{account_id}/{gateway_id}/{provider segment}/…), the cf-aig-*
// headers a call carries and an answer returns, and Cloudflare's documented
// bounds of their values. Hook writes a call's headers for the hosted
// gateway (routing's cloudflare-gateway route); package server reads the
// same headers from its callers with these names and bounds.
package aig

import (
	"cmp"
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

// DefaultBaseURL is Cloudflare's hosted AI Gateway
// (CLOUDFLARE_AI_GATEWAY_BASE_URL overrides it).
const DefaultBaseURL = "https://gateway.ai.cloudflare.com/v1"

// ProviderURL is the base URL of a provider's API through gateway
// gatewayID of account on the hosted gateway at base: the provider's own
// paths follow it.
func ProviderURL(base, account, gatewayID, segment string) string {
	return base + "/" + url.PathEscape(account) + "/" + url.PathEscape(gatewayID) + "/" + segment
}

// The gateway's per-request headers and the answer's, as Cloudflare
// documents them, in canonical form (which http.Header looks up without
// allocating).
const (
	HeaderAuthorization  = "Cf-Aig-Authorization"
	HeaderCacheTTL       = "Cf-Aig-Cache-Ttl"
	HeaderSkipCache      = "Cf-Aig-Skip-Cache"
	HeaderCacheKey       = "Cf-Aig-Cache-Key"
	HeaderMetadata       = "Cf-Aig-Metadata"
	HeaderMaxAttempts    = "Cf-Aig-Max-Attempts"
	HeaderRetryDelay     = "Cf-Aig-Retry-Delay"
	HeaderBackoff        = "Cf-Aig-Backoff"
	HeaderRequestTimeout = "Cf-Aig-Request-Timeout"
	HeaderCacheStatus    = "Cf-Aig-Cache-Status"
	HeaderStep           = "Cf-Aig-Step"
	HeaderLogID          = "Cf-Aig-Log-Id"
	// Deprecated aliases Cloudflare still accepts.
	HeaderOldCacheTTL  = "Cf-Cache-Ttl"
	HeaderOldSkipCache = "Cf-Skip-Cache"
)

// Cloudflare's documented bounds: a cache TTL from 60 s to one month, at
// most 5 attempts, a retry delay of at most 5 s, 5 metadata entries; the
// sizes of a cache key and of the metadata header.
const (
	MinCacheTTL     = 60 * time.Second
	MaxCacheTTL     = 30 * 24 * time.Hour
	MaxAttempts     = 5
	MaxRetryDelay   = 5 * time.Second
	MaxMetadata     = 5
	MaxCacheKey     = 1024
	MaxMetadataSize = 4 << 10
)

// Hook writes one call's cf-aig-* headers from the call's options (the
// member's cache and retry settings), falling back to Gateway's configured
// settings, and reads the answer's cache status and step. Environment is
// the deployment named in cf-aig-metadata when the call names none.
type Hook struct {
	Gateway     config.Gateway
	Environment string
}

func (h *Hook) Before(r *http.Request, req *conductor.ChatRequest) {
	o := req.Options
	hd := r.Header

	ttl, haveTTL := h.Gateway.CacheTTL.Std(), h.Gateway.CacheTTL.Std() > 0
	if o.CacheTTL != nil {
		ttl, haveTTL = *o.CacheTTL, true
	}
	switch {
	case o.SkipCache || (haveTTL && ttl <= 0):
		// A TTL of 0 means "do not cache": skip-cache is the documented way
		// to keep this call out of the cache whatever the gateway's setting.
		hd.Set(HeaderSkipCache, "true")
	case haveTTL:
		hd.Set(HeaderCacheTTL, strconv.FormatInt(int64(clamp(ttl, MinCacheTTL, MaxCacheTTL)/time.Second), 10))
	}
	if o.CacheKey != "" {
		hd.Set(HeaderCacheKey, headerSafe(o.CacheKey))
	}
	if m := h.metadata(o); m != "" {
		hd.Set(HeaderMetadata, m)
	}

	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = h.Gateway.MaxAttempts
	}
	if attempts > 0 {
		hd.Set(HeaderMaxAttempts, strconv.Itoa(min(attempts, MaxAttempts)))
	}
	delay := o.RetryDelay
	if delay <= 0 {
		delay = h.Gateway.RetryDelay.Std()
	}
	if delay > 0 {
		hd.Set(HeaderRetryDelay, strconv.FormatInt(min(delay, MaxRetryDelay).Milliseconds(), 10))
	}
	backoff := o.Backoff
	if backoff == "" {
		backoff = h.Gateway.Backoff
	}
	switch backoff {
	case "constant", "linear", "exponential":
		hd.Set(HeaderBackoff, backoff)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = h.Gateway.RequestTimeout.Std()
	}
	if timeout > 0 {
		hd.Set(HeaderRequestTimeout, strconv.FormatInt(max(timeout.Milliseconds(), 1), 10))
	}
}

func (h *Hook) After(r *http.Response, meta *conductor.ResponseMeta) {
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
func (h *Hook) metadata(o conductor.CallOptions) string {
	type kv struct{ k, v string }
	var buf [8]kv
	entries := buf[:0]
	for k, v := range o.Metadata {
		entries = append(entries, kv{k, v})
	}
	if _, ok := o.Metadata["environment"]; !ok {
		if env := cmp.Or(o.Environment, h.Environment); env != "" {
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
	entries = entries[:min(len(entries), MaxMetadata)]
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
