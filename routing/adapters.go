package routing

import (
	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
	"github.com/conductor-go/conductor/provider/workersai"
)

// adapterFor returns the client constructor of a wire format (the
// registry's conductor.ProviderSpec.Format): the one place that ties the
// registry's formats to the adapters. ok is false for a format without one
// (the mock's "").
func adapterFor(format string) (newAdapter func(provider.Endpoint) conductor.Provider, ok bool) {
	switch format {
	case conductor.FormatOpenAI:
		return openai.New, true
	case conductor.FormatAnthropic:
		return anthropic.New, true
	case conductor.FormatWorkersAI:
		return workersai.New, true
	}
	return nil, false
}
