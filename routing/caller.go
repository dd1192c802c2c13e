package routing

import (
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// callerHook sends a call's own choices upstream, both explicit options of
// the call: the caller's own key (CallOptions.CallerKey, `conductor serve`
// with allow_caller_keys) instead of the route's, and the provider headers
// a caller may choose (CallOptions.ProviderHeader) that the route's wire
// format knows. Ensemble members set neither: for them it does nothing.
type callerHook struct{ format string }

// forwarded are the provider headers a caller may choose, by wire format,
// as an http.Header keeps their names.
var forwarded = map[string][]string{
	conductor.FormatAnthropic: {"Anthropic-Version", "Anthropic-Beta"},
	conductor.FormatOpenAI:    {"Openai-Organization", "Openai-Project"},
}

func (h callerHook) Before(r *http.Request, req *conductor.ChatRequest) {
	o := &req.Options
	if len(o.ProviderHeader) > 0 {
		for _, name := range forwarded[h.format] {
			if v := o.ProviderHeader[name]; len(v) > 0 {
				r.Header[name] = v
			}
		}
	}
	key := o.CallerKey
	if key.Value == "" {
		return
	}
	r.Header.Del("Authorization")
	r.Header.Del("x-api-key")
	if h.format == conductor.FormatAnthropic && key.Header == "x-api-key" {
		r.Header.Set("x-api-key", key.Value)
		return
	}
	// Anthropic takes a bearer token too (OAuth); everyone else only that.
	r.Header.Set("Authorization", "Bearer "+key.Value)
}

func (callerHook) After(*http.Response, *conductor.ResponseMeta) {}

// hooks runs several hooks in order.
type hooks []provider.Hook

func (hs hooks) Before(r *http.Request, req *conductor.ChatRequest) {
	for _, h := range hs {
		h.Before(r, req)
	}
}

func (hs hooks) After(r *http.Response, meta *conductor.ResponseMeta) {
	for _, h := range hs {
		h.After(r, meta)
	}
}
