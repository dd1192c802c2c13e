package aig

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

func TestAIGHeaders(t *testing.T) {
	tests := []struct {
		name string
		gw   config.Gateway
		env  string
		opts conductor.CallOptions
		want map[string]string
	}{
		{name: "nothing asked", want: map[string]string{}},
		{name: "gateway cache_ttl", gw: config.Gateway{CacheTTL: config.Seconds(3600)}, want: map[string]string{"cf-aig-cache-ttl": "3600"}},
		{name: "member ttl wins", gw: config.Gateway{CacheTTL: config.Seconds(3600)}, opts: conductor.CallOptions{CacheTTL: durationPtr(time.Minute)},
			want: map[string]string{"cf-aig-cache-ttl": "60"}},
		{name: "ttl below Cloudflare's minimum", opts: conductor.CallOptions{CacheTTL: durationPtr(30 * time.Second)},
			want: map[string]string{"cf-aig-cache-ttl": "60"}},
		{name: "ttl above one month", opts: conductor.CallOptions{CacheTTL: durationPtr(90 * 24 * time.Hour)},
			want: map[string]string{"cf-aig-cache-ttl": "2592000"}},
		{name: "ttl 0 means do not cache", gw: config.Gateway{CacheTTL: config.Seconds(3600)}, opts: conductor.CallOptions{CacheTTL: durationPtr(0)},
			want: map[string]string{"cf-aig-skip-cache": "true"}},
		{name: "bypass", opts: conductor.CallOptions{SkipCache: true, CacheTTL: durationPtr(time.Hour)},
			want: map[string]string{"cf-aig-skip-cache": "true"}},
		{name: "cache key", opts: conductor.CallOptions{CacheKey: "summary:v2"}, want: map[string]string{"cf-aig-cache-key": "summary:v2"}},
		{name: "cache key with a newline", opts: conductor.CallOptions{CacheKey: "a\r\nX-Evil: 1"}, want: map[string]string{"cf-aig-cache-key": "a%0D%0AX-Evil%3A+1"}},
		{name: "metadata keeps five, identifying keys first", env: "staging",
			opts: conductor.CallOptions{User: "alice", Metadata: map[string]string{
				"zeta": "z", "alpha": "a", "member": "m", "ensemble": "e", "beta": "b", "gamma": "g"}},
			want: map[string]string{"cf-aig-metadata": `{"alpha":"a","ensemble":"e","environment":"staging","member":"m","user":"alice"}`}},
		{name: "metadata environment from the call", env: "staging", opts: conductor.CallOptions{Environment: "production"},
			want: map[string]string{"cf-aig-metadata": `{"environment":"production"}`}},
		{name: "metadata environment given explicitly", env: "staging", opts: conductor.CallOptions{Metadata: map[string]string{"environment": "dev", "note": "\"quoted\""}},
			want: map[string]string{"cf-aig-metadata": `{"environment":"dev","note":"\"quoted\""}`}},
		{name: "metadata escapes to ASCII JSON", opts: conductor.CallOptions{Metadata: map[string]string{"member": "résumé 🎉\n\"x\"\\"}},
			want: map[string]string{"cf-aig-metadata": `{"member":"r\u00e9sum\u00e9 \ud83c\udf89\u000a\"x\"\\"}`}},
		{name: "retry from the gateway", gw: config.Gateway{MaxAttempts: 3, RetryDelay: config.Duration{Duration: 250 * time.Millisecond}, Backoff: "constant", RequestTimeout: config.Seconds(20)},
			want: map[string]string{"cf-aig-max-attempts": "3", "cf-aig-retry-delay": "250", "cf-aig-backoff": "constant", "cf-aig-request-timeout": "20000"}},
		{name: "retry from the member, bounded", gw: config.Gateway{MaxAttempts: 3, Backoff: "constant"},
			opts: conductor.CallOptions{MaxAttempts: 8, RetryDelay: time.Minute, Backoff: "exponential", Timeout: 500 * time.Microsecond},
			want: map[string]string{"cf-aig-max-attempts": "5", "cf-aig-retry-delay": "5000", "cf-aig-backoff": "exponential", "cf-aig-request-timeout": "1"}},
		{name: "unknown backoff not sent", opts: conductor.CallOptions{Backoff: "fibonacci"}, want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Hook{Gateway: tt.gw, Environment: tt.env}
			r, _ := http.NewRequest(http.MethodPost, "http://gw/v1/a/g/openai/chat/completions", nil)
			h.Before(r, &conductor.ChatRequest{Options: tt.opts})
			got := map[string]string{}
			for k, v := range r.Header {
				got[strings.ToLower(k)] = strings.Join(v, ",")
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("headers = %v\nwant      %v", got, tt.want)
			}
		})
	}
}

func TestAIGAnswer(t *testing.T) {
	tests := []struct {
		status, step string
		want         conductor.ResponseMeta
	}{
		{"HIT", "", conductor.ResponseMeta{Cached: true, CacheStatus: "HIT"}},
		{"hit", "1", conductor.ResponseMeta{Cached: true, CacheStatus: "HIT", Step: 1}},
		{"MISS", "0", conductor.ResponseMeta{CacheStatus: "MISS"}},
		{"", "", conductor.ResponseMeta{}},
		{"EXPIRED", "x", conductor.ResponseMeta{}},
		{"", "-1", conductor.ResponseMeta{}},
	}
	for _, tt := range tests {
		t.Run(tt.status+"/"+tt.step, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			if tt.status != "" {
				resp.Header.Set("cf-aig-cache-status", tt.status)
			}
			if tt.step != "" {
				resp.Header.Set("cf-aig-step", tt.step)
			}
			var meta conductor.ResponseMeta
			(&Hook{}).After(resp, &meta)
			if meta != tt.want {
				t.Errorf("meta = %+v, want %+v", meta, tt.want)
			}
		})
	}
}

// Whatever metadata a caller sets, cf-aig-metadata is valid JSON holding
// the same strings, in plain ASCII.
func FuzzAIGMetadata(f *testing.F) {
	f.Add("member", "write-draft", "ensemble", "résumé 🎉")
	f.Add("a\"b", "\x00\x7f\\", "", "\xff")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		in := map[string]string{k1: v1, k2: v2}
		out := (&Hook{}).metadata(conductor.CallOptions{Metadata: in})
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] >= 0x7f {
				t.Fatalf("non-ASCII byte in %q", out)
			}
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		for k, v := range in {
			if utf8.ValidString(k) && utf8.ValidString(v) && got[k] != v {
				t.Fatalf("%q = %q, want %q (from %q)", k, got[k], v, out)
			}
		}
	})
}

func durationPtr(d time.Duration) *time.Duration { return &d }

// The per-call cf-aig-* headers of the hosted gateway route.
func BenchmarkAIGBefore(b *testing.B) {
	h := &Hook{Gateway: config.Gateway{CacheTTL: config.Seconds(3600), MaxAttempts: 3}, Environment: "production"}
	ttl := time.Hour
	req := &conductor.ChatRequest{Options: conductor.CallOptions{
		CacheTTL: &ttl, RetryDelay: time.Second, Backoff: "exponential",
		Metadata: map[string]string{"ensemble": "generate-article", "member": "write-draft"},
	}}
	hr, _ := http.NewRequest(http.MethodPost, "http://gw/v1/a/g/openai/chat/completions", nil)
	b.ReportAllocs()
	for b.Loop() {
		hr.Header = make(http.Header, 8)
		h.Before(hr, req)
	}
}
