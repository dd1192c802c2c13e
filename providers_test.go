package conductor

import (
	"slices"
	"strings"
	"testing"
)

// The registry is the one place each provider fact lives: the facts other
// packages derive from it must not contradict each other.
func TestProviderRegistry(t *testing.T) {
	seen := map[string]map[string]string{"name": {}, "segment": {}, "key": {}, "base": {}}
	once := func(kind, v, name string) {
		if v == "" {
			return
		}
		if other, dup := seen[kind][v]; dup {
			t.Errorf("%s %q is declared by both %s and %s", kind, v, other, name)
		}
		seen[kind][v] = name
	}
	for _, s := range ProviderSpecs() {
		once("name", s.Name, s.Name)
		once("segment", s.GatewaySegment, s.Name)
		once("key", s.KeyVar, s.Name)
		once("base", s.BaseURLVar, s.Name)
		if !slices.Contains(RoutingModes(), s.Routing) {
			t.Errorf("%s: default routing %q is not a routing mode", s.Name, s.Routing)
		}
		if s.Native != (s.Routing == RoutingCloudflare) {
			t.Errorf("%s: the platform's own providers, and only they, default to routing cloudflare", s.Name)
		}
		if strings.HasSuffix(s.BaseURL, "/") || (s.BaseURL != "" && !strings.HasPrefix(s.BaseURL, "https://")) {
			t.Errorf("%s: base URL %q: https, no trailing slash", s.Name, s.BaseURL)
		}
		switch s.Format {
		case FormatOpenAI, FormatAnthropic, FormatWorkersAI:
			if s.BaseURLVar == "" {
				t.Errorf("%s: no variable overrides its base URL", s.Name)
			}
			if s.KeyVar != "" && s.KeyHint == "" {
				t.Errorf("%s: errors naming %s show no example", s.Name, s.KeyVar)
			}
		case "":
			if s.BaseURL != "" || s.KeyVar != "" || s.GatewaySegment != "" {
				t.Errorf("%s: a provider without a wire format has no URL, key or gateway route", s.Name)
			}
		default:
			t.Errorf("%s: unknown wire format %q", s.Name, s.Format)
		}
		if got, ok := LookupProvider(s.Name); !ok || got != s {
			t.Errorf("LookupProvider(%q) = %+v, %v", s.Name, got, ok)
		}
		if DefaultRouting(s.Name) != s.Routing {
			t.Errorf("DefaultRouting(%q) = %q, want %q", s.Name, DefaultRouting(s.Name), s.Routing)
		}
	}
	if !slices.Equal(Providers(), []string{ProviderWorkersAI, ProviderOpenAI, ProviderAnthropic, ProviderGroq, ProviderLocal, ProviderMock}) {
		t.Errorf("Providers() = %v", Providers())
	}
	if DefaultRouting("nope") != RoutingGateway {
		t.Error("an unknown provider should get the gateway, whose route names the problem")
	}
	if s, ok := ProviderBySegment("groq"); !ok || s.Name != ProviderGroq {
		t.Errorf("ProviderBySegment(groq) = %+v, %v", s, ok)
	}
	if _, ok := ProviderBySegment(""); ok {
		t.Error("the empty segment names no provider")
	}
}

func TestBaseURLFrom(t *testing.T) {
	groq, _ := LookupProvider(ProviderGroq)
	openai, _ := LookupProvider(ProviderOpenAI)
	tests := []struct {
		spec     ProviderSpec
		in, want string
	}{
		{groq, "", ""},
		{groq, "https://g.example.com/", "https://g.example.com/openai/v1"},
		{groq, " https://g.example.com/openai/v1 ", "https://g.example.com/openai/v1"},
		{openai, "https://proxy.example.com/v1/", "https://proxy.example.com/v1"},
	}
	for _, tt := range tests {
		if got := tt.spec.BaseURLFrom(tt.in); got != tt.want {
			t.Errorf("%s.BaseURLFrom(%q) = %q, want %q", tt.spec.Name, tt.in, got, tt.want)
		}
	}
}
