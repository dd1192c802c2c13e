package routing

import (
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// Every provider the registry declares with a wire format has a client
// adapter: a provider is one registry entry, its format's constructor
// already here.
func TestEveryRegisteredFormatHasAnAdapter(t *testing.T) {
	for _, s := range conductor.ProviderSpecs() {
		newAdapter, ok := adapterFor(s.Format)
		if ok != (s.Format != "") {
			t.Errorf("%s: adapterFor(%q) ok = %v", s.Name, s.Format, ok)
			continue
		}
		if ok && newAdapter(provider.Endpoint{Name: s.Name, BaseURL: "http://127.0.0.1:1"}) == nil {
			t.Errorf("%s: the constructor returned nil", s.Name)
		}
	}
}
