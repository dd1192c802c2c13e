package provider

import (
	"testing"

	conductor "github.com/conductor-go/conductor"
)

// Every provider the registry declares with a wire format has a client
// adapter: a provider is one registry entry, its format's constructor
// already here.
func TestEveryRegisteredFormatHasAnAdapter(t *testing.T) {
	for _, s := range conductor.ProviderSpecs() {
		newAdapter, ok := Adapter(s.Format)
		if ok != (s.Format != "") {
			t.Errorf("%s: Adapter(%q) ok = %v", s.Name, s.Format, ok)
			continue
		}
		if ok && newAdapter(Endpoint{Name: s.Name, BaseURL: "http://127.0.0.1:1"}) == nil {
			t.Errorf("%s: the constructor returned nil", s.Name)
		}
	}
}
