package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/provider/aig"
)

// The cf-aig-* headers and Cloudflare's bounds of their values, as package
// aig declares them for both sides of the gateway.
const (
	hdrCacheTTL       = aig.HeaderCacheTTL
	hdrSkipCache      = aig.HeaderSkipCache
	hdrCacheKey       = aig.HeaderCacheKey
	hdrMetadata       = aig.HeaderMetadata
	hdrMaxAttempts    = aig.HeaderMaxAttempts
	hdrRetryDelay     = aig.HeaderRetryDelay
	hdrBackoff        = aig.HeaderBackoff
	hdrRequestTimeout = aig.HeaderRequestTimeout
	hdrOldCacheTTL    = aig.HeaderOldCacheTTL
	hdrOldSkipCache   = aig.HeaderOldSkipCache

	hdrCacheStatus = aig.HeaderCacheStatus
	hdrStep        = aig.HeaderStep
	hdrLogID       = aig.HeaderLogID

	maxCacheTTL     = aig.MaxCacheTTL
	maxCacheKey     = aig.MaxCacheKey
	maxMetadata     = aig.MaxMetadata
	maxMetadataSize = aig.MaxMetadataSize
)

// headerGetter reads one header: the request's, or a universal step's over
// the request's.
type headerGetter func(name string) string

// callOptions reads the cf-aig-* headers into the options of one call. A
// header with a value it cannot mean is an error naming it (400).
func callOptions(get headerGetter) (conductor.CallOptions, error) {
	var o conductor.CallOptions
	if v := first(get, hdrCacheTTL, hdrOldCacheTTL); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, badHeader(hdrCacheTTL, v, "a number of seconds, 0 to disable caching")
		}
		ttl := time.Duration(min(n, int64(maxCacheTTL/time.Second))) * time.Second
		o.CacheTTL = &ttl
	}
	if v := first(get, hdrSkipCache, hdrOldSkipCache); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, badHeader(hdrSkipCache, v, "true or false")
		}
		o.SkipCache = b
	}
	if v := get(hdrCacheKey); v != "" {
		if len(v) > maxCacheKey {
			return o, badHeader(hdrCacheKey, "", fmt.Sprintf("at most %d bytes", maxCacheKey))
		}
		o.CacheKey = v
	}
	if v := get(hdrMetadata); v != "" {
		m, err := parseMetadata([]byte(v))
		if err != nil {
			return o, &conductor.Error{Class: conductor.ClassBadRequest, Status: http.StatusBadRequest,
				Message: strings.ToLower(hdrMetadata) + ": " + err.Error()}
		}
		o.Metadata = m
	}
	if v := get(hdrMaxAttempts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, badHeader(hdrMaxAttempts, v, fmt.Sprintf("an integer from 1 to %d", gateway.MaxAttemptsLimit))
		}
		o.MaxAttempts = min(n, gateway.MaxAttemptsLimit)
	}
	if v := get(hdrRetryDelay); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return o, badHeader(hdrRetryDelay, v, "milliseconds")
		}
		o.RetryDelay = min(time.Duration(min(ms, 1<<30))*time.Millisecond, gateway.MaxRetryDelay)
	}
	if v := get(hdrBackoff); v != "" {
		switch v = strings.ToLower(v); v {
		case gateway.BackoffConstant, gateway.BackoffLinear, gateway.BackoffExponential:
			o.Backoff = v
		default:
			return o, badHeader(hdrBackoff, v, "constant, linear or exponential")
		}
	}
	if v := get(hdrRequestTimeout); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			return o, badHeader(hdrRequestTimeout, v, "a positive number of milliseconds")
		}
		o.Timeout = time.Duration(min(ms, 1<<40)) * time.Millisecond
	}
	return o, nil
}

func first(get headerGetter, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(get(n)); v != "" {
			return v
		}
	}
	return ""
}

func badHeader(name, value, want string) error {
	name = strings.ToLower(name)
	msg := name + ": expected " + want
	if value != "" {
		msg = fmt.Sprintf("%s: %.40q is not valid (expected %s)", name, value, want)
	}
	return &conductor.Error{Class: conductor.ClassBadRequest, Status: http.StatusBadRequest, Message: msg}
}

// parseMetadata reads cf-aig-metadata: a JSON object of at most five
// string, number or boolean entries (Cloudflare drops the extras; so does
// the gateway's log, keeping the first five by key). Numbers keep their
// JSON text.
func parseMetadata(b []byte) (map[string]string, error) {
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("larger than %d bytes", maxMetadataSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("expected a JSON object of at most %d entries", maxMetadata)
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0:
			continue
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("entry %q: %v", k, err)
			}
			m[k] = s
		case string(v) == "true" || string(v) == "false" || v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
			m[k] = string(v)
		case string(v) == "null":
		default:
			return nil, fmt.Errorf("entry %q: values must be strings, numbers or booleans", k)
		}
	}
	return m, nil
}

// stepConfig reads a universal step's "config" object
// ({"requestTimeout","maxAttempts","retryDelay","backoff"}, milliseconds)
// as the headers it stands for.
func stepConfig(raw json.RawMessage) (map[string]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("config: expected an object")
	}
	out := make(map[string]string, len(c))
	for k, v := range c {
		var name string
		switch k {
		case "requestTimeout":
			name = hdrRequestTimeout
		case "maxAttempts":
			name = hdrMaxAttempts
		case "retryDelay":
			name = hdrRetryDelay
		case "backoff":
			name = hdrBackoff
		case "cacheTtl":
			name = hdrCacheTTL
		case "skipCache":
			name = hdrSkipCache
		default:
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(bytes.TrimSpace(v))
		}
		out[name] = s
	}
	return out, nil
}
