package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/routing"
	"github.com/conductor-go/conductor/store/sqlite"
)

func ptrTo[T any](v T) *T { return &v }

// seeded is a deterministic random source for picks.
func seeded(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64
}

func weighted(weights ...float64) []Variant {
	vs := make([]Variant, len(weights))
	for i, w := range weights {
		vs[i] = Variant{Name: fmt.Sprintf("v%d", i), Weight: w, P: &double{}}
	}
	return vs
}

func mustSplit(t testing.TB, name string, vs []Variant, opts ...SplitOption) *Split {
	t.Helper()
	s, err := NewSplit(name, vs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Traffic divides by weight, for random picks and for users alike: 10,000
// picks land within four standard deviations of each variant's share.
func TestSplitDividesByWeight(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
	}{
		{"even", []float64{50, 50}},
		{"90/10", []float64{90, 10}},
		{"three", []float64{1, 2, 7}},
		{"fractions", []float64{0.25, 0.75}},
		{"four", []float64{10, 20, 30, 40}},
	}
	const n = 10_000
	for _, tt := range tests {
		for _, by := range []string{"random", "user", "request key"} {
			t.Run(tt.name+"/"+by, func(t *testing.T) {
				s := mustSplit(t, "ab-"+tt.name, weighted(tt.weights...), WithSplitRand(seeded(7)))
				counts := make([]int, len(tt.weights))
				for i := range n {
					var user, key string
					switch by {
					case "user":
						user = fmt.Sprintf("user-%d", i)
					case "request key":
						key = fmt.Sprintf("key-%d", i)
					}
					counts[s.pick(user, key)]++
				}
				total := 0.0
				for _, w := range tt.weights {
					total += w
				}
				for i, w := range tt.weights {
					p := w / total
					want := p * n
					tol := 4 * math.Sqrt(n*p*(1-p))
					if math.Abs(float64(counts[i])-want) > tol {
						t.Errorf("variant %d (weight %v): %d picks, want %.0f ± %.0f (all: %v)", i, w, counts[i], want, tol, counts)
					}
				}
			})
		}
	}
}

// A random pick is the random point's place among the cumulative weights.
func TestSplitPickBoundaries(t *testing.T) {
	s := mustSplit(t, "ab", weighted(1, 2, 1))
	tests := []struct {
		u    float64
		want string
	}{
		{0, "v0"}, {0.2499, "v0"}, {0.25, "v1"}, {0.7499, "v1"}, {0.75, "v2"}, {0.99999, "v2"},
	}
	for _, tt := range tests {
		s.rand = func() float64 { return tt.u }
		if got := s.Pick("", "").Name; got != tt.want {
			t.Errorf("rand %v: picked %s, want %s", tt.u, got, tt.want)
		}
	}
}

// A user always gets the same variant, whatever the random source says; a
// request key does the same for requests with no user; the user wins over
// the key.
func TestSplitSticky(t *testing.T) {
	flip := 0
	alternating := func() float64 { flip++; return float64(flip%2) * 0.99 }
	s := mustSplit(t, "ab", weighted(50, 50), WithSplitRand(alternating))
	for _, u := range []string{"alice", "bob", "carol", "dave", "a-much-longer-user-id-0123456789"} {
		first := s.Pick(u, "").Name
		for range 50 {
			if got := s.Pick(u, fmt.Sprint(flip)).Name; got != first {
				t.Fatalf("user %s got %s after %s", u, got, first)
			}
		}
	}
	first := s.Pick("", "cache-key-1").Name
	for range 50 {
		if got := s.Pick("", "cache-key-1").Name; got != first {
			t.Fatalf("request key got %s after %s", got, first)
		}
	}
	// Random picks without either do change.
	seen := map[string]bool{}
	for range 10 {
		seen[s.Pick("", "").Name] = true
	}
	if len(seen) != 2 {
		t.Errorf("random picks went to %v only", seen)
	}
}

// Two splits assign users independently; growing a variant's weight only
// moves users into it, never out of it.
func TestSplitStickyAcrossSplitsAndWeights(t *testing.T) {
	a := mustSplit(t, "first", weighted(50, 50))
	b := mustSplit(t, "second", weighted(50, 50))
	grown := mustSplit(t, "first", weighted(60, 40))
	const n = 10_000
	inA0, bothV0, moved := 0, 0, 0
	for i := range n {
		u := fmt.Sprintf("user-%d", i)
		pa, pb, pg := a.pick(u, ""), b.pick(u, ""), grown.pick(u, "")
		if pa == 0 {
			inA0++
			if pb == 0 {
				bothV0++
			}
			if pg != 0 {
				t.Fatalf("user %s left v0 when v0 grew", u)
			}
		} else if pg == 0 {
			moved++
		}
	}
	// Independence: half of first's v0 users are in second's v0.
	if frac := float64(bothV0) / float64(inA0); math.Abs(frac-0.5) > 0.04 {
		t.Errorf("%.3f of first/v0's users are in second/v0, want about 0.5", frac)
	}
	// 50/50 → 60/40 moves a fifth of v1's users (10% of all).
	if frac := float64(moved) / n; math.Abs(frac-0.1) > 0.015 {
		t.Errorf("%.3f of users moved to v0, want about 0.1", frac)
	}
}

func cloneRequest(r *conductor.ChatRequest) *conductor.ChatRequest {
	c := *r
	c.Messages = slices.Clone(r.Messages)
	c.Body = slices.Clone(r.Body)
	if r.Temperature != nil {
		c.Temperature = ptrTo(*r.Temperature)
	}
	return &c
}

// A variant's overrides change a copy of the request: the caller's request
// is untouched, and the caller's wire body is dropped once a field changed
// so that the adapter encodes what the variant asks.
func TestSplitOverridesACopy(t *testing.T) {
	body := []byte(`{"model":"ab","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Summarize this."}],"temperature":1}`)
	caller := func() *conductor.ChatRequest {
		return &conductor.ChatRequest{
			Provider: conductor.ProviderOpenAI, Model: "gpt-4o-mini",
			Messages: []conductor.Message{
				conductor.TextMessage("system", "Be brief."),
				conductor.TextMessage("user", "Summarize this."),
				conductor.TextMessage("system", "Mind the length."),
			},
			Temperature: ptrTo(1.0), MaxTokens: 100,
			Body: body, BodyFormat: "openai",
			Options: conductor.CallOptions{User: "alice", Metadata: map[string]string{"k": "v"}},
		}
	}
	tests := []struct {
		name     string
		variant  Variant
		cacheKey string
		check    func(t *testing.T, got *conductor.ChatRequest)
	}{
		{"every override", Variant{Provider: conductor.ProviderAnthropic, Model: "claude-3-5-haiku-20241022",
			SystemPrompt: "Answer in one sentence.", Temperature: ptrTo(0.2), MaxTokens: 64}, "",
			func(t *testing.T, got *conductor.ChatRequest) {
				want := []conductor.Message{conductor.TextMessage("system", "Answer in one sentence."), conductor.TextMessage("user", "Summarize this.")}
				if got.Provider != "anthropic" || got.Model != "claude-3-5-haiku-20241022" || !reflect.DeepEqual(got.Messages, want) ||
					*got.Temperature != 0.2 || got.MaxTokens != 64 || got.Body != nil || got.BodyFormat != "" {
					t.Errorf("sent %+v", got)
				}
			}},
		{"temperature only", Variant{Temperature: ptrTo(0.0)}, "",
			func(t *testing.T, got *conductor.ChatRequest) {
				if got.Temperature == nil || *got.Temperature != 0 || got.Body != nil || got.Model != "gpt-4o-mini" || len(got.Messages) != 3 {
					t.Errorf("sent %+v", got)
				}
			}},
		{"nothing changes", Variant{Provider: conductor.ProviderOpenAI, Model: "gpt-4o-mini"}, "",
			func(t *testing.T, got *conductor.ChatRequest) {
				if string(got.Body) != string(body) || got.BodyFormat != "openai" {
					t.Errorf("an unchanged request lost its body: %+v", got)
				}
			}},
		{"custom cache key", Variant{}, "my-key",
			func(t *testing.T, got *conductor.ChatRequest) {
				if got.Options.CacheKey != "split:ab/x:my-key" {
					t.Errorf("cache key %q, want it scoped to the variant", got.Options.CacheKey)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &double{}
			v, other := tt.variant, Variant{Name: "y", Weight: 1e-9, P: &double{}}
			v.Name, v.Weight, v.P = "x", 1, up
			s := mustSplit(t, "ab", []Variant{v, other})
			req := caller()
			req.Options.CacheKey = tt.cacheKey
			before := cloneRequest(req)
			resp, err := s.Chat(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Meta.Variant != "ab/x" {
				t.Errorf("answer's variant %q, want ab/x", resp.Meta.Variant)
			}
			if !reflect.DeepEqual(req, before) {
				t.Errorf("the caller's request changed:\n got %+v\nwant %+v", req, before)
			}
			seen := up.requests()
			if len(seen) != 1 {
				t.Fatalf("%d upstream calls", len(seen))
			}
			got := seen[0]
			if got == req {
				t.Fatal("the variant got the caller's request itself")
			}
			if got.Options.Variant != "ab/x" || got.Options.User != "alice" || got.Options.Metadata["k"] != "v" {
				t.Errorf("options %+v", got.Options)
			}
			tt.check(t, got)
			// The variant's own settings are not shared with requests.
			if got.Temperature != nil && tt.variant.Temperature != nil {
				*got.Temperature = 42
				if *s.variants[0].Temperature == 42 {
					t.Error("the request shares the variant's temperature")
				}
			}
		})
	}
}

func TestNewSplitErrors(t *testing.T) {
	p := &double{}
	tests := []struct {
		name     string
		split    string
		variants []Variant
		want     string
	}{
		{"no name", "", weighted(1, 1), "split: no name"},
		{"one variant", "ab", weighted(1), "split ab: 1 variants (a split needs at least two)"},
		{"unnamed", "ab", []Variant{{Weight: 1, P: p}, {Name: "b", Weight: 1, P: p}}, "split ab: variant 1 has no name"},
		{"twice", "ab", []Variant{{Name: "a", Weight: 1, P: p}, {Name: "a", Weight: 1, P: p}}, `split ab: variant "a" is named twice`},
		{"zero weight", "ab", []Variant{{Name: "a", Weight: 1, P: p}, {Name: "b", P: p}}, "split ab: variant b: weight 0 (expected a number above 0)"},
		{"negative weight", "ab", []Variant{{Name: "a", Weight: -1, P: p}, {Name: "b", Weight: 1, P: p}}, "variant a: weight -1"},
		{"NaN weight", "ab", []Variant{{Name: "a", Weight: math.NaN(), P: p}, {Name: "b", Weight: 1, P: p}}, "variant a: weight NaN"},
		{"infinite weight", "ab", []Variant{{Name: "a", Weight: math.Inf(1), P: p}, {Name: "b", Weight: 1, P: p}}, "variant a: weight +Inf"},
		{"no provider", "ab", []Variant{{Name: "a", Weight: 1}, {Name: "b", Weight: 1, P: p}}, "variant a has no provider to call"},
		{"temperature", "ab", []Variant{{Name: "a", Weight: 1, P: p, Temperature: ptrTo(-0.5)}, {Name: "b", Weight: 1, P: p}}, "variant a: temperature -0.5"},
		{"max tokens", "ab", []Variant{{Name: "a", Weight: 1, P: p, MaxTokens: -1}, {Name: "b", Weight: 1, P: p}}, "variant a: max tokens -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSplit(tt.split, tt.variants)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Each request's variant is logged in the real store with the row id the
// answer carries; scores given before and after the rows were written
// reach Stats, which then compares the variants on volume, errors, cost and
// mean score.
func TestSplitLogsVariantsAndScores(t *testing.T) {
	// The log's writer is held until Close, so that half the scores come
	// while their rows still wait in it.
	st := openStore(t, tempDB(t))
	held := &heldLog{Store: st, release: make(chan struct{})}
	g, err := New(Config{ID: "gw", Prices: testPrices{}}, held)
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		close(held.release)
		if err := g.Close(context.Background()); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	}
	defer st.Close()
	control := &double{reply: func(_ context.Context, _ *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
		r := answer("short", 100, 10)
		r.Meta.Routing = conductor.RoutingDirect // as package routing's direct route says
		return r, nil
	}}
	claude := &double{reply: func(_ context.Context, _ *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
		if n%10 == 0 {
			return nil, &conductor.Error{Provider: "anthropic", Class: conductor.ClassBadRequest, Status: 400, Message: "bad"}
		}
		r := answer("a longer answer", 100, 50)
		r.Meta.Provider = conductor.ProviderAnthropic
		return r, nil
	}}
	up := func(_ context.Context, p, m string) (conductor.Provider, error) {
		switch p {
		case conductor.ProviderOpenAI:
			return control, nil
		case conductor.ProviderAnthropic:
			return claude, nil
		}
		return nil, fmt.Errorf("no upstream for %s", p)
	}
	s, err := g.Split("summarize-ab", []Variant{
		{Name: "control", Weight: 50, Provider: conductor.ProviderOpenAI, Model: "gpt-4o-mini"},
		{Name: "claude", Weight: 50, Provider: conductor.ProviderAnthropic, Model: "claude-3-5-haiku-20241022", Temperature: ptrTo(0.2)},
	}, up)
	if err != nil {
		t.Fatal(err)
	}
	scoreOf := map[string]float64{"summarize-ab/control": 0.5, "summarize-ab/claude": 0.9}
	variantOf := map[string]string{} // log id → the variant the answer named
	var later []string               // log ids scored after the rows were written
	picks := map[string]int{}
	tokens := map[string][2]int64{}
	failures := 0
	ctx := t.Context()
	for i := range 300 {
		user := fmt.Sprintf("user-%d", i)
		want := "summarize-ab/" + s.Pick(user, "").Name
		picks[want]++
		req := chatReq("Summarize: " + user)
		req.Options.User = user
		var meta conductor.ResponseMeta
		if i%10 == 0 {
			st, err := s.Stream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readAll(t, st); err != nil {
				t.Fatal(err)
			}
			meta = st.Meta()
			tk := tokens[want]
			tokens[want] = [2]int64{tk[0] + 7, tk[1] + 2} // the stream double's usage
		} else {
			resp, err := s.Chat(ctx, req)
			if err != nil {
				failures++
				continue
			}
			meta = resp.Meta
			tk := tokens[want]
			tokens[want] = [2]int64{tk[0] + int64(resp.Usage.InputTokens), tk[1] + int64(resp.Usage.OutputTokens)}
		}
		if meta.Variant != want || meta.LogID == "" {
			t.Fatalf("answer for %s: variant %q, log id %q; want %s", user, meta.Variant, meta.LogID, want)
		}
		variantOf[meta.LogID] = meta.Variant
		// Half the scores come while the rows still wait in the writer.
		if i%2 == 0 {
			if err := g.Score(ctx, meta.LogID, scoreOf[meta.Variant]); err != nil {
				t.Fatal(err)
			}
		} else {
			later = append(later, meta.LogID)
		}
	}
	if n := len(logs(t, st)); n != 0 {
		t.Fatalf("%d rows written before Close; the test wants them pending", n)
	}
	stop()
	for _, id := range later {
		if err := g.Score(ctx, id, scoreOf[variantOf[id]]); err != nil {
			t.Fatal(err)
		}
	}
	rows := logs(t, st)
	if len(rows) != 300 {
		t.Fatalf("%d rows, want 300", len(rows))
	}
	logged := map[string]int{}
	for _, r := range rows {
		logged[r.Variant]++
		if v, ok := variantOf[r.ID]; ok && v != r.Variant {
			t.Errorf("row %s logged as %q, answer said %q", r.ID, r.Variant, v)
		}
		if r.Route != conductor.RoutingGateway {
			t.Errorf("row %s route %q, want the gateway's", r.ID, r.Route)
		}
		if !r.Success && r.Variant != "summarize-ab/claude" {
			t.Errorf("failed row %+v", r)
		}
		if r.Success && (r.Score == nil || *r.Score != scoreOf[r.Variant]) {
			t.Errorf("row %s of %s score %v, want %v", r.ID, r.Variant, r.Score, scoreOf[r.Variant])
		}
	}
	if !reflect.DeepEqual(logged, picks) {
		t.Errorf("rows per variant %v, picks %v", logged, picks)
	}
	if failures == 0 || failures >= picks["summarize-ab/claude"] {
		t.Fatalf("%d failures: the test wants some", failures)
	}

	stats, err := st.Stats(ctx, conductor.StatsQuery{By: "variant"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 {
		t.Fatalf("stats %+v, want two variants", stats)
	}
	for _, r := range stats {
		if r.Requests != int64(picks[r.Group]) || r.MeanScore == nil || math.Abs(*r.MeanScore-scoreOf[r.Group]) > 1e-9 {
			t.Errorf("group %s: %+v (mean score %v), want %d requests and mean %v", r.Group, r, r.MeanScore, picks[r.Group], scoreOf[r.Group])
		}
		tk := tokens[r.Group]
		if r.InputTokens != tk[0] || r.OutputTokens != tk[1] || r.CostNanoUSD != tk[0]*testIn+tk[1]*testOut {
			t.Errorf("group %s: tokens %d/%d cost %d, want %d/%d", r.Group, r.InputTokens, r.OutputTokens, r.CostNanoUSD, tk[0], tk[1])
		}
		wantErrors := int64(0)
		if r.Group == "summarize-ab/claude" {
			wantErrors = int64(failures)
		}
		if r.Errors != wantErrors {
			t.Errorf("group %s: %d errors, want %d", r.Group, r.Errors, wantErrors)
		}
	}
}

// The wiring the server uses: the variant's upstream is package routing's
// direct adapter, the gateway stands between, and the provider receives
// the variant's model, temperature and system prompt re-encoded from the
// fields, not the caller's body.
func TestSplitThroughRoutingToHTTP(t *testing.T) {
	var (
		mu   sync.Mutex
		sent []map[string]any
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		sent = append(sent, m)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(testdata(t, "chat_completion.json"))
	}))
	defer srv.Close()
	router, err := routing.New(config.Default(), routing.Options{
		Env:    config.MapEnv(map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": srv.URL + "/v1"}),
		Client: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, tempDB(t))
	defer st.Close()
	set, err := NewSet(st, []Config{{ID: "my-gateway", Prices: testPrices{}}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := set.Split(SplitConfig{Name: "summarize-ab", Gateway: "my-gateway", Variants: []Variant{
		{Name: "gpt4o", Weight: 1, Provider: "openai", Model: "gpt-4o", Temperature: ptrTo(0.7), SystemPrompt: "Summarize in three bullets."},
		{Name: "mini", Weight: 1, Provider: "openai", Model: "gpt-4o-mini"},
	}}, func(ctx context.Context, p, m string) (conductor.Provider, error) {
		return router.Provider(ctx, p, m, conductor.RoutingDirect)
	}, WithSplitRand(func() float64 { return 0 }))
	if err != nil {
		t.Fatal(err)
	}
	req := &conductor.ChatRequest{Model: "summarize-ab",
		Messages: []conductor.Message{conductor.TextMessage("system", "old"), conductor.TextMessage("user", "Long text…")},
		Body:     []byte(`{"model":"summarize-ab","messages":[{"role":"system","content":"old"},{"role":"user","content":"Long text…"}]}`), BodyFormat: "openai"}
	resp, err := s.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "Hello! How can I assist you today?" || resp.Meta.Variant != "summarize-ab/gpt4o" || resp.Meta.LogID == "" {
		t.Errorf("answer %+v", resp)
	}
	if err := set.Score(t.Context(), resp.Meta.LogID, 0.75); err != nil {
		t.Fatal(err)
	}
	if err := set.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 1 {
		t.Fatalf("%d upstream requests", len(sent))
	}
	got := sent[0]
	msgs, _ := json.Marshal(got["messages"])
	if got["model"] != "gpt-4o" || got["temperature"] != 0.7 ||
		string(msgs) != `[{"content":"Summarize in three bullets.","role":"system"},{"content":"Long text…","role":"user"}]` {
		t.Errorf("upstream got %v", got)
	}
	rows := logs(t, st)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.ID != resp.Meta.LogID || r.Gateway != "my-gateway" || r.Variant != "summarize-ab/gpt4o" || r.Model != "gpt-4o" ||
		r.Provider != "openai" || r.Route != conductor.RoutingGateway || r.InputTokens != 19 || r.Score == nil || *r.Score != 0.75 {
		t.Errorf("row %+v", r)
	}
}

// A variant whose upstream cannot be built fails when called, as a config
// error logged with its variant.
func TestSplitUpstreamErrorLogged(t *testing.T) {
	// The log's writer is held until Close, so that half the scores come
	// while their rows still wait in it.
	st := openStore(t, tempDB(t))
	held := &heldLog{Store: st, release: make(chan struct{})}
	g, err := New(Config{ID: "gw", Prices: testPrices{}}, held)
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		close(held.release)
		if err := g.Close(context.Background()); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	}
	defer st.Close()
	s, err := g.Split("ab", []Variant{
		{Name: "a", Weight: 1, Provider: "groq", Model: "llama-3.1-8b-instant"},
		{Name: "b", Weight: 1, Provider: "groq", Model: "llama-3.3-70b-versatile"},
	}, func(context.Context, string, string) (conductor.Provider, error) {
		return nil, fmt.Errorf("GROQ_API_KEY is not set")
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Chat(t.Context(), chatReq("hi"))
	if class(err) != conductor.ClassConfig || !strings.Contains(err.Error(), "GROQ_API_KEY") {
		t.Fatalf("err = %v, want a config error naming the key", err)
	}
	stop()
	rows := logs(t, st)
	if len(rows) != 1 || rows[0].Success || !strings.HasPrefix(rows[0].Variant, "ab/") || rows[0].ErrorClass != "config" {
		t.Errorf("rows %+v", rows)
	}
	if _, err := g.Split("ab", []Variant{{Name: "a", Weight: 1, Provider: "groq"}, {Name: "b", Weight: 1, Provider: "groq", Model: "m"}},
		func(context.Context, string, string) (conductor.Provider, error) { return nil, nil }); err == nil {
		t.Error("a variant without a model was accepted")
	}
}

func BenchmarkSplitPick(b *testing.B) {
	s := mustSplit(b, "summarize-ab", weighted(50, 30, 20))
	b.ReportAllocs()
	for b.Loop() {
		s.pick("user-12345", "")
	}
}

func BenchmarkSplitChat(b *testing.B) {
	up := &bareUpstream{resp: answer("ok", 10, 5)}
	vs := []Variant{
		{Name: "a", Weight: 1, Model: "gpt-4o", Temperature: ptrTo(0.7), P: up},
		{Name: "b", Weight: 1, Model: "gpt-4o-mini", P: up},
	}
	s := mustSplit(b, "ab", vs)
	req := chatReq("hello")
	req.Options.User = "alice"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Chat(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// bareUpstream answers with a copy of one response and keeps nothing, so
// that a benchmark measures the split alone.
type bareUpstream struct{ resp *conductor.ChatResponse }

func (u *bareUpstream) Chat(context.Context, *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	r := *u.resp
	return &r, nil
}

func (u *bareUpstream) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return newChunks(nil, testChunks()...), nil
}

// heldLog is the real store whose log writes wait for release.
type heldLog struct {
	*sqlite.Store
	release chan struct{}
}

func (h *heldLog) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Store.AppendLogs(ctx, rows)
}
