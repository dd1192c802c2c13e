package server

import (
	"net/http"
	"strings"

	conductor "github.com/conductor-go/conductor"
)

// The rule for model names given without a provider, as the official SDKs
// send them ("gpt-4o-mini", "claude-3-5-sonnet-20241022",
// "@cf/baai/bge-small-en-v1.5"): the first matching prefix names the
// provider; a name no prefix claims goes to [server] default_provider.
// docs/server.md documents the same table.
var barePrefixes = []struct{ prefix, provider string }{
	{"gpt-", conductor.ProviderOpenAI},
	{"chatgpt-", conductor.ProviderOpenAI},
	{"o1", conductor.ProviderOpenAI},
	{"o3", conductor.ProviderOpenAI},
	{"o4", conductor.ProviderOpenAI},
	{"text-embedding-", conductor.ProviderOpenAI},
	{"claude-", conductor.ProviderAnthropic},
	{"@cf/", conductor.ProviderWorkersAI},
}

// bareProvider is the provider serving a model name given without one: by
// its prefix, else defaultProvider; ok=false when neither claims it.
func bareProvider(name, defaultProvider string) (provider string, ok bool) {
	for _, p := range barePrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.provider, true
		}
	}
	return defaultProvider, defaultProvider != ""
}

// resolve finds where a model name goes, in order: a declared name
// (Options.Models: an alias or a fallback chain), a name the Resolve hook
// serves (an A/B split), provider/model, then a bare name by the prefix
// rule or [server] default_provider. Anything else is a 404 listing the
// accepted forms.
func (s *Server) resolve(name string) ([]route, conductor.Provider, error) {
	if name == "" {
		return nil, nil, badRequest("model: required (provider/model such as openai/gpt-4o-mini, a bare model id such as gpt-4o-mini, or a declared model name)")
	}
	if list, ok := s.opts.Models[name]; ok {
		routes := make([]route, len(list))
		dl := s.opts.ModelDeadlines[name]
		for i, m := range list {
			p, model, _ := splitModel(m) // checked by New
			routes[i] = route{provider: p, model: model, dl: dl}
		}
		return routes, nil, nil
	}
	if s.opts.Resolve != nil {
		if p, ok := s.opts.Resolve(name); ok && p != nil {
			return nil, p, nil
		}
	}
	if p, model, err := splitModel(name); err == nil {
		return []route{{provider: p, model: model}}, nil, nil
	}
	if p, ok := bareProvider(name, s.opts.Config.Server.DefaultProvider); ok {
		return []route{{provider: p, model: name}}, nil, nil
	}
	return nil, nil, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound, Code: "model_not_found",
		Message: "model " + quoteName(name) + " is not known here. Accepted: provider/model (openai/gpt-4o-mini, " +
			"anthropic/claude-3-5-sonnet-20241022, workers-ai/@cf/meta/llama-3.1-8b-instruct, groq/…, local/…); " +
			"a bare id by prefix (gpt-, chatgpt-, o1, o3, o4, text-embedding- → openai; claude- → anthropic; @cf/ → workers-ai); " +
			"a name declared in [[model]] or [[split]]; or any other name once [server] default_provider is set"}
}

// quoteName quotes a caller's model name for an error, bounded.
func quoteName(name string) string {
	const max = 100
	if len(name) > max {
		name = name[:max] + "…"
	}
	return `"` + strings.ReplaceAll(name, `"`, `\"`) + `"`
}
