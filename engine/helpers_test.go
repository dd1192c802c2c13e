package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/ensemble"
)

// parse loads an ensemble from YAML text, failing the test on problems.
func parse(t testing.TB, src string) *ensemble.Ensemble {
	t.Helper()
	ens, err := ensemble.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return ens
}

// quiet is a logger that drops everything, so expected warnings do not
// clutter test output.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func member(t testing.TB, res *Result, name string) *MemberResult {
	t.Helper()
	for i := range res.Members {
		if res.Members[i].Member == name {
			return &res.Members[i]
		}
	}
	t.Fatalf("no member %s in result", name)
	return nil
}

// scripted is a provider a Resolver hands out in tests: it answers with
// its replies in turn (the last one repeating) and records every request.
// It stands in for a real provider's adapter; the adapters themselves are
// tested against HTTP fakes in package provider.
type scripted struct {
	name    string
	replies []string
	err     error // returned by every call when set
	usage   conductor.Usage

	mu   sync.Mutex
	reqs []*conductor.ChatRequest
}

func (s *scripted) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	text := "ok"
	if len(s.replies) > 0 {
		text = s.replies[min(n, len(s.replies)-1)]
	}
	return &conductor.ChatResponse{Model: req.Model, Content: conductor.Texts(text), FinishReason: "stop", Usage: s.usage,
		Meta: conductor.ResponseMeta{Provider: s.name, Attempts: 1}}, nil
}

func (s *scripted) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, errors.New("scripted: streams are not used by the engine")
}

func (s *scripted) requests() []*conductor.ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*conductor.ChatRequest(nil), s.reqs...)
}

// route is one Resolver call.
type route struct{ provider, model, routing string }

// testResolver hands out one scripted provider per provider name and
// records the routes asked for.
type testResolver struct {
	mu        sync.Mutex
	providers map[string]*scripted
	routes    []route
	err       error
}

func newResolver(ps ...*scripted) *testResolver {
	r := &testResolver{providers: map[string]*scripted{}}
	for _, p := range ps {
		r.providers[p.name] = p
	}
	return r
}

func (r *testResolver) Provider(_ context.Context, provider, model, routing string) (conductor.Provider, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = append(r.routes, route{provider, model, routing})
	if r.err != nil {
		return nil, r.err
	}
	p, ok := r.providers[provider]
	if !ok {
		return nil, fmt.Errorf("test resolver: no provider %s", provider)
	}
	return p, nil
}

// fixedPrices prices every known model at 1 nano-USD per input token and 2
// per output token; model "unpriced" has no price.
type fixedPrices struct{}

func (fixedPrices) Cost(_, model string, u conductor.Usage) (int64, bool) {
	if model == "unpriced" {
		return 0, false
	}
	return int64(u.InputTokens) + 2*int64(u.OutputTokens), true
}
