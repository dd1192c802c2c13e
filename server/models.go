package server

import (
	"net/http"
	"os"
	"slices"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/pricing"
	"github.com/conductor-go/conductor/provider"
)

// GET /v1/models and GET /v1/models/{id}: the names a caller may send as
// `model`. OpenAI's list format ({"object":"list","data":[{"id","object":
// "model","created","owned_by"}]}); Anthropic's ({"data":[{"type":"model",
// "id","display_name","created_at"}],"has_more":false,…}) when the request
// carries anthropic-version, as Anthropic's SDKs send it.

// listedModel is one entry of the list.
type listedModel struct {
	id, ownedBy string
}

// modelLister is what a price table tells of the models it knows.
type modelLister interface {
	Models(provider string) []string
}

// knownModels lists the declared names ([[model]] and [[split]], owned by
// "conductor"), then provider/model for every model the price table knows
// of each provider the server can reach: one with a key, or, for a local
// server, a base URL (Workers AI needs its account too; every provider is
// reachable when callers bring their own keys).
func (s *Server) knownModels() []listedModel {
	var names []string
	for name := range s.opts.Models {
		names = append(names, name)
	}
	for _, sp := range s.opts.Config.Splits {
		if !slices.Contains(names, sp.Name) {
			names = append(names, sp.Name)
		}
	}
	slices.Sort(names)
	out := make([]listedModel, 0, len(names)+32)
	for _, n := range names {
		out = append(out, listedModel{id: n, ownedBy: "conductor"})
	}
	prices := s.priceList()
	for _, p := range conductor.Providers() {
		if !s.reachable(p) {
			continue
		}
		for _, m := range prices.Models(p) {
			out = append(out, listedModel{id: p + "/" + m, ownedBy: p})
		}
	}
	return out
}

// priceList is the default gateway's price table when it can list its
// models ([pricing] overrides included), else the embedded one.
func (s *Server) priceList() modelLister {
	if g, err := s.gateway(""); err == nil {
		if l, ok := g.Config().Prices.(modelLister); ok {
			return l
		}
	}
	return pricing.Default()
}

// reachable reports whether the server has what calls to provider p need.
func (s *Server) reachable(p string) bool {
	cfg, env := s.opts.Config, s.opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	switch p {
	case conductor.ProviderMock:
		return false
	case conductor.ProviderLocal:
		return cfg.BaseURL(p, env) != ""
	case conductor.ProviderWorkersAI:
		if acct, err := cfg.AccountID(env); err != nil || acct == "" {
			return false
		}
	}
	if s.opts.AllowCallerKeys {
		return true
	}
	key, err := cfg.APIKey(p, env)
	return err == nil && key.IsSet()
}

// listModels is GET /v1/models.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	models := s.knownModels()
	anthropic := apiFormat(r) == fmtAnthropic
	b := make([]byte, 0, 64+80*len(models))
	if anthropic {
		b = append(b, `{"data":[`...)
	} else {
		b = append(b, `{"object":"list","data":[`...)
	}
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m, anthropic)
	}
	b = append(b, ']')
	if anthropic {
		first, last := "", ""
		if len(models) > 0 {
			first, last = models[0].id, models[len(models)-1].id
		}
		b = append(b, `,"has_more":false,"first_id":`...)
		b = appendNullable(b, first)
		b = append(b, `,"last_id":`...)
		b = appendNullable(b, last)
	}
	writeJSON(w, http.StatusOK, append(b, '}'))
}

// getModel is GET /v1/models/{id}: an entry of the list, found by its id
// or by the bare name the list's provider/model stands for
// ("gpt-4o-mini" for openai/gpt-4o-mini).
func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	models := s.knownModels()
	found := -1
	for i, m := range models {
		if m.id == id {
			found = i
			break
		}
	}
	if found < 0 {
		if p, ok := bareProvider(id, s.opts.Config.Server.DefaultProvider); ok {
			for i, m := range models {
				if m.id == p+"/"+id {
					found = i
					models[i].id = id
					break
				}
			}
		}
	}
	f := apiFormat(r)
	if found < 0 {
		writeError(w, f, &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound, Code: "model_not_found",
			Message: "the model " + quoteName(id) + " does not exist here (GET /v1/models lists the models this server serves)"})
		return
	}
	writeJSON(w, http.StatusOK, appendModel(nil, models[found], f == fmtAnthropic))
}

func appendModel(b []byte, m listedModel, anthropic bool) []byte {
	if anthropic {
		b = append(b, `{"type":"model","id":`...)
		b = provider.AppendJSONString(b, m.id)
		b = append(b, `,"display_name":`...)
		b = provider.AppendJSONString(b, m.id)
		// The creation date of a model is not known here: the epoch, as
		// Anthropic's reference allows for an unknown date.
		return append(b, `,"created_at":"1970-01-01T00:00:00Z"}`...)
	}
	b = append(b, `{"id":`...)
	b = provider.AppendJSONString(b, m.id)
	// The creation time is not known here: 0.
	b = append(b, `,"object":"model","created":0,"owned_by":`...)
	b = provider.AppendJSONString(b, m.ownedBy)
	return append(b, '}')
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return provider.AppendJSONString(b, s)
}
