package gateway

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	conductor "github.com/conductor-go/conductor"
)

// Routes are tried in order, each after its own retries; the answer says
// which step served it, and each route is asked for its own model.
func TestFallbackOrder(t *testing.T) {
	notFound := &conductor.Error{Class: conductor.ClassNotFound, Status: 404}
	badRequest := &conductor.Error{Class: conductor.ClassBadRequest, Status: 400}
	auth := &conductor.Error{Class: conductor.ClassAuth, Status: 401}
	budget := &conductor.Error{Class: conductor.ClassBudget, Status: 429, Code: "budget_exceeded"}
	tests := []struct {
		name  string
		fails []error // per route; nil succeeds
		calls []string
		step  int
		err   conductor.ErrorClass
	}{
		{"primary serves", []error{nil, nil}, []string{"a"}, 0, ""},
		{"server errors then second", []error{serverError(), nil}, []string{"a", "a", "a", "b"}, 1, ""},
		{"through to the third", []error{serverError(), notFound, nil}, []string{"a", "a", "a", "b", "c"}, 2, ""},
		{"auth falls back", []error{auth, nil}, []string{"a", "b"}, 1, ""},
		{"a route's budget falls back", []error{budget, nil}, []string{"a", "b"}, 1, ""},
		{"bad request does not", []error{badRequest, nil}, []string{"a"}, 0, conductor.ClassBadRequest},
		{"all fail: last error", []error{serverError(), notFound}, []string{"a", "a", "a", "b"}, 0, conductor.ClassNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var calls []string
				var models []string
				route := func(name string, fail error) *double {
					return &double{reply: func(_ context.Context, req *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
						mu.Lock()
						calls = append(calls, name)
						models = append(models, req.Provider+"/"+req.Model)
						mu.Unlock()
						if fail != nil {
							return nil, fail
						}
						return answer("from "+name, 1, 1), nil
					}}
				}
				names := []string{"a", "b", "c"}
				var fallbacks []Route
				for i := 1; i < len(tt.fails); i++ {
					fallbacks = append(fallbacks, Route{Provider: "anthropic", Model: "model-" + names[i], P: route(names[i], tt.fails[i])})
				}
				g, st, stop := start(t, Config{}, WithJitter(func(int64) int64 { return 0 }))
				p := g.Wrap(route("a", tt.fails[0]), fallbacks...)
				resp, err := p.Chat(t.Context(), chatReq("q"))
				if !slices.Equal(calls, tt.calls) {
					t.Fatalf("calls %v, want %v", calls, tt.calls)
				}
				for i, c := range calls {
					want := "openai/gpt-4o-mini"
					if c != "a" {
						want = "anthropic/model-" + c
					}
					if models[i] != want {
						t.Errorf("call %d asked for %s, want %s", i, models[i], want)
					}
				}
				if tt.err != "" {
					if class(err) != tt.err {
						t.Fatalf("err %v, want %s", err, tt.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if resp.Meta.Step != tt.step || resp.Meta.Attempts != len(tt.calls) || resp.Text() != "from "+names[tt.step] {
					t.Fatalf("meta %+v content %q", resp.Meta, resp.Text())
				}
				stop()
				rows := logs(t, st)
				if len(rows) != 1 || rows[0].Step != tt.step || rows[0].Attempts != len(tt.calls) {
					t.Fatalf("rows %+v", rows)
				}
				if tt.step > 0 && (rows[0].Provider != "anthropic" || rows[0].Model != "model-"+names[tt.step]) {
					t.Fatalf("row names %s/%s, want the route that served", rows[0].Provider, rows[0].Model)
				}
			})
		})
	}
}

func TestFallbackStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &double{stream: func(context.Context, *conductor.ChatRequest, int) (conductor.Stream, error) {
			return nil, &conductor.Error{Class: conductor.ClassNetwork, Retryable: true}
		}}
		b := &double{}
		g, _, _ := start(t, Config{}, WithJitter(func(int64) int64 { return 0 }))
		s, err := g.Wrap(a, Route{Model: "other", P: b}).Stream(t.Context(), chatReq("q"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, s); err != nil {
			t.Fatal(err)
		}
		if m := s.Meta(); m.Step != 1 || m.Attempts != 4 {
			t.Fatalf("meta %+v", m)
		}
		if got := b.requests()[0].Model; got != "other" {
			t.Fatalf("fallback asked for %q", got)
		}
	})
}

func TestWrapWithoutUpstream(t *testing.T) {
	g, _, _ := start(t, Config{})
	if _, err := g.Wrap(nil).Chat(context.Background(), chatReq("q")); class(err) != conductor.ClassConfig {
		t.Fatalf("err %v", err)
	}
}
