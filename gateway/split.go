package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
)

// Variant is one arm of an A/B split: where its share of the traffic goes
// and what it changes in the request.
type Variant struct {
	// Name names the variant within its split; calls are logged with the
	// variant "split/name".
	Name string
	// Weight is the variant's share of the traffic, relative to the other
	// variants' (50 and 50, or 0.9 and 0.1).
	Weight float64
	// Provider and Model replace the request's; "" keeps it.
	Provider string
	Model    string
	// SystemPrompt, when set, replaces the request's system messages.
	SystemPrompt string
	// Temperature and MaxTokens, when set, replace the request's.
	Temperature *float64
	MaxTokens   int
	// P serves the variant's calls: a gateway chain (Gateway.Wrap), so that
	// each call is logged, cached, limited and priced with its variant.
	P conductor.Provider
}

// Split divides traffic between variants by weight, and is itself a
// conductor.Provider: it picks a variant for each request and hands a copy
// changed by that variant to the variant's provider, with
// CallOptions.Variant naming it for the log. The split stands outside the
// gateway chains: split → (per variant) record → ratelimit → cache → ….
//
// A request for a known user (CallOptions.User) always goes to the same
// variant; without one, a custom cache key (cf-aig-cache-key) plays the
// user's part; otherwise the pick is random.
type Split struct {
	name     string
	variants []Variant
	labels   []string  // "split/variant", computed once: the hot path does not concatenate
	bounds   []float64 // cumulative weights; bounds[len-1] is the total
	rand     func() float64
}

// SplitOption adjusts a Split.
type SplitOption func(*Split)

// WithSplitRand replaces the random source of picks for requests with no
// user: it returns a number in [0, 1), and must be safe for concurrent use
// when the split is. Tests use it for exact counts.
func WithSplitRand(f func() float64) SplitOption { return func(s *Split) { s.rand = f } }

// NewSplit checks the variants and returns their split. Every variant
// needs a name unique in the split, a finite weight above 0 and a provider
// (P); a split needs at least two.
func NewSplit(name string, variants []Variant, opts ...SplitOption) (*Split, error) {
	if name == "" {
		return nil, errors.New("split: no name")
	}
	if len(variants) < 2 {
		return nil, fmt.Errorf("split %s: %d variants (a split needs at least two)", name, len(variants))
	}
	s := &Split{
		name:     name,
		variants: slices.Clone(variants),
		labels:   make([]string, len(variants)),
		bounds:   make([]float64, len(variants)),
		rand:     rand.Float64,
	}
	seen := make(map[string]bool, len(variants))
	total := 0.0
	for i, v := range variants {
		switch {
		case v.Name == "":
			return nil, fmt.Errorf("split %s: variant %d has no name", name, i+1)
		case seen[v.Name]:
			return nil, fmt.Errorf("split %s: variant %q is named twice", name, v.Name)
		case !(v.Weight > 0) || math.IsInf(v.Weight, 0):
			return nil, fmt.Errorf("split %s: variant %s: weight %v (expected a number above 0)", name, v.Name, v.Weight)
		case v.P == nil:
			return nil, fmt.Errorf("split %s: variant %s has no provider to call", name, v.Name)
		case v.Temperature != nil && (!(*v.Temperature >= 0) || math.IsInf(*v.Temperature, 0)):
			return nil, fmt.Errorf("split %s: variant %s: temperature %v (expected 0 or more)", name, v.Name, *v.Temperature)
		case v.MaxTokens < 0:
			return nil, fmt.Errorf("split %s: variant %s: max tokens %d is negative", name, v.Name, v.MaxTokens)
		}
		seen[v.Name] = true
		total += v.Weight
		s.bounds[i] = total
		s.labels[i] = name + "/" + v.Name
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Name returns the split's name.
func (s *Split) Name() string { return s.name }

// Variants returns the split's variants, in their configured order.
func (s *Split) Variants() []Variant { return slices.Clone(s.variants) }

// Pick returns the variant a request goes to. With a user, the variant is
// a function of the split's name and the user alone: the same user always
// gets the same variant, and a change of weights moves only the users whose
// point crossed a boundary. Without a user, requestKey plays its part; with
// neither the pick is random. Traffic divides by weight either way.
func (s *Split) Pick(user, requestKey string) Variant {
	return s.variants[s.pick(user, requestKey)]
}

func (s *Split) pick(user, requestKey string) int {
	var u float64 // a point in [0, 1)
	switch {
	case user != "":
		u = unit(stickyHash(s.name, 'u', user))
	case requestKey != "":
		u = unit(stickyHash(s.name, 'k', requestKey))
	default:
		u = s.rand()
	}
	point := u * s.bounds[len(s.bounds)-1]
	for i, b := range s.bounds {
		if point < b {
			return i
		}
	}
	return len(s.bounds) - 1 // rounding at the very top
}

// stickyHash is FNV-1a over the split's name, a kind byte and the key,
// then a splitmix64 finaliser: FNV alone leaves the high bits of short,
// similar keys (user-1, user-2…) poorly mixed, and the high bits make the
// point.
func stickyHash(split string, kind byte, key string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(split); i++ {
		h = (h ^ uint64(split[i])) * prime
	}
	h = (h ^ uint64(kind)) * prime
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// unit maps a hash to [0, 1) using its top 53 bits, a float64's precision.
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// Chat sends the request to its variant.
func (s *Split) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	i, r := s.route(req)
	resp, err := s.variants[i].P.Chat(ctx, r)
	if resp != nil {
		resp.Meta.Variant = s.labels[i]
	}
	return resp, err
}

// Stream sends the request to its variant.
func (s *Split) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	i, r := s.route(req)
	st, err := s.variants[i].P.Stream(ctx, r)
	if err != nil {
		return nil, err
	}
	return &variantStream{Stream: st, variant: s.labels[i]}, nil
}

// route picks the request's variant and returns the request as that
// variant sends it.
func (s *Split) route(req *conductor.ChatRequest) (int, *conductor.ChatRequest) {
	i := s.pick(req.Options.User, req.Options.CacheKey)
	return i, s.apply(i, req)
}

// apply returns a copy of req changed by variant i; req itself is never
// touched. When a field changes, the caller's wire body no longer says
// what is asked, so it is dropped and the adapter encodes the fields.
func (s *Split) apply(i int, req *conductor.ChatRequest) *conductor.ChatRequest {
	v := &s.variants[i]
	c := *req
	changed := false
	if v.Provider != "" && v.Provider != c.Provider {
		c.Provider, changed = v.Provider, true
	}
	if v.Model != "" && v.Model != c.Model {
		c.Model, changed = v.Model, true
	}
	if v.SystemPrompt != "" {
		c.Messages, changed = withSystem(req.Messages, v.SystemPrompt), true
	}
	if v.Temperature != nil {
		t := *v.Temperature
		c.Temperature, changed = &t, true
	}
	if v.MaxTokens > 0 {
		c.MaxTokens, changed = v.MaxTokens, true
	}
	if changed {
		c.Body, c.BodyFormat = nil, ""
	}
	c.Options.Variant = s.labels[i]
	if c.Options.CacheKey != "" {
		// A custom key stands for the whole request, so without the
		// variant in it one variant's answer would be served as another's.
		c.Options.CacheKey = "split:" + s.labels[i] + ":" + c.Options.CacheKey
	}
	return &c
}

// withSystem returns msgs with their system messages replaced by one
// system message first.
func withSystem(msgs []conductor.Message, system string) []conductor.Message {
	out := make([]conductor.Message, 0, len(msgs)+1)
	out = append(out, conductor.TextMessage("system", system))
	for _, m := range msgs {
		if m.Role != "system" {
			out = append(out, m)
		}
	}
	return out
}

// variantStream says which variant a stream came from.
type variantStream struct {
	conductor.Stream
	variant string
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *variantStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *variantStream) Meta() conductor.ResponseMeta {
	m := s.Stream.Meta()
	m.Variant = s.variant
	return m
}

// Upstream returns the adapter serving providerName, with no gateway in
// front: package routing's Router.Provider with routing "direct" fits,
//
//	func(ctx context.Context, p, m string) (conductor.Provider, error) {
//		return router.Provider(ctx, p, m, conductor.RoutingDirect)
//	}
type Upstream func(ctx context.Context, providerName, model string) (conductor.Provider, error)

// SplitConfig declares a split whose variants are served through one
// gateway of a Set.
type SplitConfig struct {
	Name string
	// Gateway is the gateway id the variants' calls go through; "" is the
	// Set's default.
	Gateway string
	// Variants' P is ignored: each variant's chain is the gateway around
	// Upstream's adapter for its provider.
	Variants []Variant
}

// Split builds a split whose every variant goes through this gateway's
// chain (Wrap) to the adapter up returns for the variant's provider. The
// adapter is looked up on each call, so a missing key fails (and is
// logged with its variant) when the variant is called, not at start.
func (g *Gateway) Split(name string, variants []Variant, up Upstream, opts ...SplitOption) (*Split, error) {
	if up == nil {
		return nil, fmt.Errorf("split %s: no upstream", name)
	}
	vs := slices.Clone(variants)
	for i := range vs {
		if vs[i].Provider == "" || vs[i].Model == "" {
			return nil, fmt.Errorf("split %s: variant %s needs a provider and a model", name, vs[i].Name)
		}
		vs[i].P = g.Wrap(&lazyUpstream{up: up, provider: vs[i].Provider, model: vs[i].Model})
	}
	return NewSplit(name, vs, opts...)
}

// Split builds cfg's split through gateway cfg.Gateway (see
// Gateway.Split).
func (s *Set) Split(cfg SplitConfig, up Upstream, opts ...SplitOption) (*Split, error) {
	g, err := s.Gateway(cfg.Gateway)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", cfg.Name, err)
	}
	return g.Split(cfg.Name, cfg.Variants, up, opts...)
}

// lazyUpstream finds a variant's adapter when it is called.
type lazyUpstream struct {
	up              Upstream
	provider, model string
}

func (l *lazyUpstream) get(ctx context.Context) (conductor.Provider, error) {
	p, err := l.up(ctx, l.provider, l.model)
	if err != nil {
		if _, ok := conductor.AsError(err); ok {
			return nil, err
		}
		return nil, &conductor.Error{Provider: l.provider, Class: conductor.ClassConfig, Message: "model " + l.model + ": " + err.Error(), Err: err}
	}
	if p == nil {
		return nil, &conductor.Error{Provider: l.provider, Class: conductor.ClassConfig, Message: "model " + l.model + ": no upstream"}
	}
	return p, nil
}

func (l *lazyUpstream) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := p.Chat(ctx, req)
	if resp != nil {
		// The call went through this gateway, whatever route the
		// upstream's own wrapper names ("direct"): the log says the
		// gateway's.
		resp.Meta.Routing = ""
	}
	return resp, err
}

func (l *lazyUpstream) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return &unroutedStream{st}, nil
}

type unroutedStream struct{ conductor.Stream }

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s unroutedStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s unroutedStream) Meta() conductor.ResponseMeta {
	m := s.Stream.Meta()
	m.Routing = ""
	return m
}

// Score records a score for the answer logged as row logID (its
// ResponseMeta.LogID), so that Stats' MeanScore compares variants. The
// row may still be in the batched writer: the store keeps the score until
// the row arrives (conductor.LogStore.ScoreLog). It satisfies
// engine.Scorer.
func (g *Gateway) Score(ctx context.Context, logID string, score float64) error {
	if err := g.st.ScoreLog(ctx, logID, score); err != nil {
		return fmt.Errorf("gateway %s: score: %w", g.conf().ID, err)
	}
	return nil
}

// Score records a score for a row logged by any gateway of the set (they
// share one store); see Gateway.Score.
func (s *Set) Score(ctx context.Context, logID string, score float64) error {
	if err := s.st.ScoreLog(ctx, logID, score); err != nil {
		return fmt.Errorf("gateway: score: %w", err)
	}
	return nil
}

// SplitsFromConfig builds every [[split]] of cfg through set: each
// variant is the chain of the split's gateway around the adapter up
// returns for its provider (the split is the gateway's part, so up is the
// direct route). `conductor serve` answers the splits' names as models,
// and ensemble members may name them as their model (package runner).
func SplitsFromConfig(cfg *config.Config, set *Set, up Upstream) (map[string]*Split, error) {
	splits := make(map[string]*Split, len(cfg.Splits))
	for _, sc := range cfg.Splits {
		vs := make([]Variant, len(sc.Variants))
		for i, v := range sc.Variants {
			vs[i] = Variant{Name: v.Name, Weight: v.Weight, Provider: v.Provider, Model: v.Model,
				SystemPrompt: v.SystemPrompt, Temperature: v.Temperature, MaxTokens: v.MaxTokens}
		}
		sp, err := set.Split(SplitConfig{Name: sc.Name, Gateway: sc.Gateway, Variants: vs}, up)
		if err != nil {
			return nil, err
		}
		splits[sc.Name] = sp
	}
	return splits, nil
}
