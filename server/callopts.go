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

	// Conductor's own deadline headers, milliseconds as
	// cf-aig-request-timeout: the wait between stream chunks, and the
	// whole call. Each replaces the route's and the gateway's for the call.
	hdrIdleTimeout  = "Conductor-Idle-Timeout"
	hdrTotalTimeout = "Conductor-Total-Timeout"

	maxCacheTTL     = aig.MaxCacheTTL
	maxCacheKey     = aig.MaxCacheKey
	maxMetadata     = aig.MaxMetadata
	maxMetadataSize = aig.MaxMetadataSize
)

// headerGetter reads one header: the request's, or a universal step's over
// the request's.
type headerGetter func(name string) string

// callOptions reads the cf-aig-* headers into the options of one call, as
// Cloudflare's gateway reads them: an integer outside a documented range
// is brought into it (cf-aig-max-attempts 0 is 1 and 6 is 5, a retry delay
// past 5 s is 5 s, a cache TTL past a month is a month), metadata beyond
// its first five entries is ignored, and a value that is not what the
// header holds at all is an error naming it (400).
func callOptions(get headerGetter) (conductor.CallOptions, error) {
	var o conductor.CallOptions
	if v := first(get, hdrCacheTTL, hdrOldCacheTTL); v != "" {
		n, ok := clampInt(v, 0, int64(maxCacheTTL/time.Second))
		if !ok {
			return o, badHeader(hdrCacheTTL, v, "a number of seconds, 0 to disable caching")
		}
		ttl := time.Duration(n) * time.Second
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
		n, ok := clampInt(v, 1, gateway.MaxAttemptsLimit)
		if !ok {
			return o, badHeader(hdrMaxAttempts, v, fmt.Sprintf("an integer (1 to %d)", gateway.MaxAttemptsLimit))
		}
		o.MaxAttempts = int(n)
	}
	if v := get(hdrRetryDelay); v != "" {
		ms, ok := clampInt(v, 0, gateway.MaxRetryDelay.Milliseconds())
		if !ok {
			return o, badHeader(hdrRetryDelay, v, "milliseconds")
		}
		o.RetryDelay = time.Duration(ms) * time.Millisecond
	}
	if v := get(hdrBackoff); v != "" {
		switch v = strings.ToLower(v); v {
		case gateway.BackoffConstant, gateway.BackoffLinear, gateway.BackoffExponential:
			o.Backoff = v
		default:
			return o, badHeader(hdrBackoff, v, "constant, linear or exponential")
		}
	}
	for _, h := range []struct {
		name string
		to   *time.Duration
	}{{hdrRequestTimeout, &o.Timeout}, {hdrIdleTimeout, &o.IdleTimeout}, {hdrTotalTimeout, &o.TotalTimeout}} {
		if v := get(h.name); v != "" {
			d, err := msHeader(h.name, v)
			if err != nil {
				return o, err
			}
			*h.to = d
		}
	}
	return o, nil
}

// msHeader reads a deadline header: a positive number of milliseconds,
// bounded as cf-aig-request-timeout (2^40 ms, some 35 years).
func msHeader(name, v string) (time.Duration, error) {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0, badHeader(name, v, "a positive number of milliseconds")
	}
	return time.Duration(min(ms, 1<<40)) * time.Millisecond, nil
}

// clampInt reads v as a decimal integer brought into [lo, hi]; ok=false
// when it is not an integer at all.
func clampInt(v string, lo, hi int64) (n int64, ok bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
		err = nil // beyond int64: ParseInt returned the nearest end
	}
	if err != nil {
		return 0, false
	}
	return min(max(n, lo), hi), true
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

// parseMetadata reads cf-aig-metadata: a JSON object of string, number or
// boolean entries, of which the first five in the order written are kept
// and the rest ignored, as Cloudflare documents ("only the first five will
// be saved"). An entry whose value is not one of those types is an error,
// wherever it stands. Numbers keep their JSON text.
func parseMetadata(b []byte) (map[string]string, error) {
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("larger than %d bytes", maxMetadataSize)
	}
	notObject := fmt.Errorf("expected a JSON object of string, number or boolean entries (the first %d are kept)", maxMetadata)
	if !json.Valid(b) {
		return nil, notObject
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, notObject
	}
	m := make(map[string]string, maxMetadata)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, notObject
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject
		}
		var val string
		switch v = bytes.TrimSpace(v); {
		case v[0] == '"':
			if err := json.Unmarshal(v, &val); err != nil {
				return nil, fmt.Errorf("entry %q: %v", k, err)
			}
		case string(v) == "true" || string(v) == "false" || v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
			val = string(v)
		case string(v) == "null":
			continue
		default:
			return nil, fmt.Errorf("entry %q: values must be strings, numbers or booleans", k)
		}
		// A repeated key keeps its place and takes the later value.
		if _, seen := m[k]; seen || len(m) < maxMetadata {
			m[k] = val
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
