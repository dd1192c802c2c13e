package conductor

import "strings"

// Provider names, as ensembles and model strings spell them (the
// registry below declares each).
const (
	ProviderWorkersAI = "workers-ai"
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
	ProviderGroq      = "groq"
	ProviderLocal     = "local"
	ProviderMock      = "mock"
)

// Wire formats, as ChatRequest.BodyFormat and ProviderSpec.Format name
// them.
const (
	FormatOpenAI    = "openai"     // Chat Completions: OpenAI, Groq, local servers, Workers AI's /v1
	FormatAnthropic = "anthropic"  // Messages
	FormatWorkersAI = "workers-ai" // Workers AI's native /ai/run/{model}
)

// ProviderSpec declares one provider: every fact about it that the
// config, routing, the server and the CLI need. The facts live in this one
// table, in the domain package, so that every package reads them without
// depending on the adapters; the client constructor is a fact of the wire
// format, which package routing maps to its adapter (routing's adapterFor).
// Adding a provider of a known wire format is one entry here.
type ProviderSpec struct {
	// Name is how ensembles, model strings ("openai/gpt-4o") and config
	// tables ([providers.openai]) spell it.
	Name string
	// Format is the wire format of its API; "" for mock, which has none.
	Format string
	// BaseURL is its API's default base, without a trailing slash, as the
	// official SDK spells it (OpenAI's with /v1, Anthropic's without;
	// Workers AI's is the Cloudflare API, its account path added per call).
	// "" when there is no default: a local server must be named.
	BaseURL string
	// BaseURLVar names the environment variable that overrides BaseURL;
	// BaseURLVarPath is appended to its value unless the value already
	// ends so (Groq's SDK names the host, ours the OpenAI-style base).
	BaseURLVar     string
	BaseURLVarPath string
	// KeyVar names the variable of its key, as the official SDK names it;
	// "" when it takes none unless the config names one (a local server).
	// KeyHint shows what such a key looks like, in errors.
	KeyVar  string
	KeyHint string
	// Account says its URLs hold the Cloudflare account id (Workers AI).
	Account bool
	// GatewaySegment is its path segment on Cloudflare's hosted AI Gateway
	// (…/{account}/{gateway}/{segment}/…); "" when the hosted gateway has
	// no route to it.
	GatewaySegment string
	// Routing is the routing a member gets when it names none.
	Routing string
	// Native says routing "cloudflare", the platform-native route, serves
	// it.
	Native bool
	// DefaultModel is the model of a member that names none; "" when it
	// must name one.
	DefaultModel string
	// Free says its calls cost nothing (the mock, a local server).
	Free bool
}

// providerSpecs is the registry, in the order Providers lists the names.
var providerSpecs = [...]ProviderSpec{
	{
		Name: ProviderWorkersAI, Format: FormatWorkersAI,
		BaseURL: "https://api.cloudflare.com/client/v4", BaseURLVar: "CLOUDFLARE_API_BASE_URL",
		KeyVar: "CLOUDFLARE_API_TOKEN", KeyHint: "<API token with Workers AI permission>",
		Account: true, GatewaySegment: "workers-ai", Routing: RoutingCloudflare, Native: true,
		DefaultModel: "@cf/meta/llama-3.1-8b-instruct", // the page's own example model
	},
	{
		Name: ProviderOpenAI, Format: FormatOpenAI,
		BaseURL: "https://api.openai.com/v1", BaseURLVar: "OPENAI_BASE_URL",
		KeyVar: "OPENAI_API_KEY", KeyHint: "sk-...",
		GatewaySegment: "openai", Routing: RoutingGateway,
	},
	{
		Name: ProviderAnthropic, Format: FormatAnthropic,
		BaseURL: "https://api.anthropic.com", BaseURLVar: "ANTHROPIC_BASE_URL",
		KeyVar: "ANTHROPIC_API_KEY", KeyHint: "sk-ant-...",
		GatewaySegment: "anthropic", Routing: RoutingGateway,
	},
	{
		Name: ProviderGroq, Format: FormatOpenAI,
		BaseURL: "https://api.groq.com/openai/v1", BaseURLVar: "GROQ_BASE_URL", BaseURLVarPath: "/openai/v1",
		KeyVar: "GROQ_API_KEY", KeyHint: "gsk_...",
		GatewaySegment: "groq", Routing: RoutingGateway,
	},
	{
		// Any OpenAI-compatible server (Ollama, llama.cpp, vLLM).
		Name: ProviderLocal, Format: FormatOpenAI,
		BaseURLVar: "LOCAL_BASE_URL",
		Routing:    RoutingDirect, Free: true,
	},
	{
		// The engine's test provider: canned answers, no wire.
		Name: ProviderMock, Routing: RoutingDirect, Free: true,
	},
}

// Providers lists every provider name an ensemble may use.
func Providers() []string {
	out := make([]string, len(providerSpecs))
	for i := range providerSpecs {
		out[i] = providerSpecs[i].Name
	}
	return out
}

// ProviderSpecs returns the registry, in the order of Providers.
func ProviderSpecs() []ProviderSpec { return append([]ProviderSpec(nil), providerSpecs[:]...) }

// LookupProvider returns the spec of the provider called name.
func LookupProvider(name string) (ProviderSpec, bool) {
	for i := range providerSpecs {
		if providerSpecs[i].Name == name {
			return providerSpecs[i], true
		}
	}
	return ProviderSpec{}, false
}

// ProviderBySegment returns the provider whose hosted-gateway path
// segment is segment.
func ProviderBySegment(segment string) (ProviderSpec, bool) {
	for i := range providerSpecs {
		if s := providerSpecs[i].GatewaySegment; s != "" && s == segment {
			return providerSpecs[i], true
		}
	}
	return ProviderSpec{}, false
}

// DefaultRouting is the routing a member gets when it names none: the
// platform-native route for Workers AI, the gateway for the hosted
// providers, direct for a local server and the mock, as the product page
// advises. An unknown provider gets the gateway (its route then reports
// the unknown name).
func DefaultRouting(provider string) string {
	if s, ok := LookupProvider(provider); ok {
		return s.Routing
	}
	return RoutingGateway
}

// BaseURLFrom reads the spec's base URL override from a variable's value
// v: "" stays "" (use BaseURL), BaseURLVarPath is appended when missing.
func (s ProviderSpec) BaseURLFrom(v string) string {
	v = strings.TrimRight(strings.TrimSpace(v), "/")
	if v != "" && s.BaseURLVarPath != "" && !strings.HasSuffix(v, s.BaseURLVarPath) {
		v += s.BaseURLVarPath
	}
	return v
}
