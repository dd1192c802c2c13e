// Package pricing turns token counts into money: a table of list prices
// (USD per million tokens) for the models the gateway routes, embedded in
// the binary and overridable from config, and the integer nano-USD cost of
// a call (for the request log) or its most (for spend reservations).
//
// Model names are matched tolerantly: a provider prefix ("openai/",
// "@cf/meta/"), a dated snapshot ("gpt-4o-2024-08-06",
// "claude-3-5-sonnet-20240620") or "-latest" still finds the base model's
// price. The mock and local providers cost nothing. Any other model the
// table does not know is priced by a default and reported as unknown, so
// its log row can be flagged.
package pricing

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	conductor "github.com/conductor-go/conductor"
)

//go:embed prices.json
var pricesJSON []byte

// DefaultUnknownInput and DefaultUnknownOutput price a model the table does
// not know, USD per 1M tokens, until config says otherwise. They are the
// table's highest (Claude Opus 4): a budget must not under-reserve for a
// model it knows nothing about.
const (
	DefaultUnknownInput  = 15.00
	DefaultUnknownOutput = 75.00
)

// maxPrice bounds a price (USD per 1M tokens) so that token counts times
// prices stay far inside int64.
const maxPrice = 1_000_000

// Price is one model's list price in USD per 1M tokens.
type Price struct {
	Provider string   `json:"provider"`
	Model    string   `json:"model"`
	Aliases  []string `json:"aliases,omitempty"` // other names of the same model
	Input    float64  `json:"input"`
	// CachedInput prices prompt-cache reads; 0 bills them as Input.
	CachedInput float64 `json:"cachedInput,omitempty"`
	// CacheWrite prices prompt-cache writes (Anthropic); 0 bills them as
	// Input.
	CacheWrite float64 `json:"cacheWrite,omitempty"`
	Output     float64 `json:"output"`
}

// rate is a price in pico-USD per token (= micro-USD per 1M tokens): exact
// for every list price with up to six decimals.
type rate struct {
	in, cached, write, out int64
	price                  *Price
}

type key struct{ provider, model string }

// Table maps models to prices. Configure it (Override, WithDefault) before
// sharing it; Cost and MaxCost may then be called from any goroutine.
type Table struct {
	byKey   map[key]*rate     // provider + name, each name a model is known by
	byModel map[string]*rate  // name alone, for names only one provider uses
	owners  map[string]string // name -> its provider, "" once two share it
	def     rate
	free    map[string]bool
	zero    rate // the free providers' rate
}

// Default returns a new table of the embedded list prices.
func Default() *Table {
	var f struct {
		Models []Price `json:"models"`
	}
	if err := json.Unmarshal(pricesJSON, &f); err != nil {
		// The file is part of the binary and checked by the tests.
		panic("pricing: embedded prices.json: " + err.Error())
	}
	t := New()
	if err := t.Override(f.Models...); err != nil {
		panic("pricing: embedded prices.json: " + err.Error())
	}
	return t
}

// New returns an empty table: every model is priced by the default, except
// on the free providers (the registry's Free ones: mock and local).
func New() *Table {
	t := &Table{
		byKey:   map[key]*rate{},
		byModel: map[string]*rate{},
		owners:  map[string]string{},
		free:    map[string]bool{},
		zero:    rate{price: &Price{}},
	}
	for _, s := range conductor.ProviderSpecs() {
		if s.Free {
			t.free[s.Name] = true
		}
	}
	if err := t.WithDefault(DefaultUnknownInput, DefaultUnknownOutput); err != nil {
		panic(err) // constants
	}
	return t
}

func toRate(usdPerM float64) int64 { return int64(math.Round(usdPerM * 1e6)) }

func checkPrice(name string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > maxPrice {
		return fmt.Errorf("%s price %v out of range (0 to %d USD per 1M tokens)", name, v, maxPrice)
	}
	return nil
}

// WithDefault sets the price (USD per 1M tokens) of models the table does
// not know.
func (t *Table) WithDefault(input, output float64) error {
	if err := errors.Join(checkPrice("default input", input), checkPrice("default output", output)); err != nil {
		return fmt.Errorf("pricing: %w", err)
	}
	p := &Price{Input: input, Output: output}
	t.def = rate{in: toRate(input), cached: toRate(input), write: toRate(input), out: toRate(output), price: p}
	return nil
}

// Override adds prices or replaces those of the same provider and model
// (or alias). A model is also found by the name without its provider
// prefix or date suffix.
func (t *Table) Override(prices ...Price) error {
	for i := range prices {
		p := prices[i]
		p.Aliases = append([]string(nil), p.Aliases...)
		if p.Provider == "" || p.Model == "" {
			return fmt.Errorf("pricing: price %d: provider and model are required", i)
		}
		if err := errors.Join(checkPrice("input", p.Input), checkPrice("cached input", p.CachedInput),
			checkPrice("cache write", p.CacheWrite), checkPrice("output", p.Output)); err != nil {
			return fmt.Errorf("pricing: %s %s: %w", p.Provider, p.Model, err)
		}
		r := &rate{in: toRate(p.Input), cached: toRate(p.CachedInput), write: toRate(p.CacheWrite), out: toRate(p.Output), price: &p}
		if p.CachedInput == 0 {
			r.cached = r.in
		}
		if p.CacheWrite == 0 {
			r.write = r.in
		}
		prov := strings.ToLower(p.Provider)
		// Names that led to the price being replaced now lead to this one.
		if old, ok := t.lookup(prov, p.Model); ok && strings.EqualFold(old.price.Provider, prov) {
			t.repoint(old, r)
		}
		for _, name := range append([]string{p.Model}, p.Aliases...) {
			for _, n := range names(name) {
				t.byKey[key{prov, n}] = r
				switch owner, seen := t.owners[n]; {
				case !seen:
					t.owners[n] = prov
					t.byModel[n] = r
				case owner != prov:
					t.owners[n] = ""
					delete(t.byModel, n)
				default:
					t.byModel[n] = r
				}
			}
		}
	}
	return nil
}

func (t *Table) repoint(old, r *rate) {
	for k, v := range t.byKey {
		if v == old {
			t.byKey[k] = r
		}
	}
	for k, v := range t.byModel {
		if v == old {
			t.byModel[k] = r
		}
	}
}

// names lists the forms a model name is registered under: as given, and
// lower-cased without its prefix and date suffix.
func names(model string) []string {
	out := []string{model}
	n := strings.ToLower(model)
	if n != model {
		out = append(out, n)
	}
	if b := baseName(n); b != n {
		out = append(out, b)
		if s := stripVersion(b); s != b {
			out = append(out, s)
		}
	} else if s := stripVersion(n); s != n {
		out = append(out, s)
	}
	return out
}

// baseName drops a provider or vendor prefix: the text up to the last '/'
// ("openai/gpt-4o", "@cf/meta/llama-3.1-8b-instruct").
func baseName(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		return model[i+1:]
	}
	return model
}

// stripVersion drops a snapshot suffix: "-latest", "-YYYY-MM-DD" (OpenAI)
// or "-YYYYMMDD" (Anthropic).
func stripVersion(m string) string {
	if s, ok := strings.CutSuffix(m, "-latest"); ok {
		return s
	}
	if n := len(m); n > 11 && m[n-11] == '-' && m[n-6] == '-' && m[n-3] == '-' &&
		isDate(m[n-10:n-6], m[n-5:n-3], m[n-2:]) {
		return m[:n-11]
	}
	if n := len(m); n > 9 && m[n-9] == '-' && isDate(m[n-8:n-4], m[n-4:n-2], m[n-2:]) {
		return m[:n-9]
	}
	return m
}

// isDate reports whether the parts read as a plausible 20xx date, so that
// a version number of eight digits is not taken for one.
func isDate(year, month, day string) bool {
	if !digits(year) || !digits(month) || !digits(day) || year[:2] != "20" {
		return false
	}
	mo := int(month[0]-'0')*10 + int(month[1]-'0')
	d := int(day[0]-'0')*10 + int(day[1]-'0')
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// lookup finds the rate for a call, and whether the model is known. It does
// not allocate unless the name has upper-case letters.
func (t *Table) lookup(provider, model string) (*rate, bool) {
	if t.free[provider] {
		return &t.zero, true
	}
	if r := t.byKey[key{provider, model}]; r != nil {
		return r, true
	}
	m := strings.ToLower(model)
	first := 0
	if hasUpper(provider) {
		provider = strings.ToLower(provider)
	} else if m == model {
		first = 1 // the exact lookup above already tried it
	}
	// The candidate names, most specific first, without repeats.
	cands := [3]string{m, baseName(m), ""}
	cands[2] = stripVersion(cands[1])
	n := 1
	if cands[1] != m {
		n = 2
	}
	if cands[2] != cands[1] {
		cands[n] = cands[2]
		n++
	}
	for _, c := range cands[first:n] {
		if r := t.byKey[key{provider, c}]; r != nil {
			return r, true
		}
	}
	// The provider may be one the table lists under another name (a
	// gateway, say), or none: a name only one provider uses still matches.
	for _, c := range cands[:n] {
		if r := t.byModel[c]; r != nil {
			return r, true
		}
	}
	return &t.def, false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Lookup returns the price a call to model on provider is charged, and
// whether the table knows the model (false: the default price).
func (t *Table) Lookup(provider, model string) (Price, bool) {
	r, ok := t.lookup(provider, model)
	p := *r.price
	p.Aliases = append([]string(nil), p.Aliases...)
	return p, ok
}

// Models lists the models the table prices for provider, by the name each
// was added under (not its aliases), sorted: the known models `conductor
// serve` lists at GET /v1/models. Free providers (mock, local) list none.
func (t *Table) Models(provider string) []string {
	provider = strings.ToLower(provider)
	var out []string
	for k, r := range t.byKey {
		if k.provider == provider && k.model == r.price.Model {
			out = append(out, k.model)
		}
	}
	slices.Sort(out)
	return out
}

// Cost is what u costs on provider's model, in nano-USD rounded to the
// nearest, and whether the model is known (false: priced by the default).
//
// Usage is normalised as the providers report it through package provider:
// InputTokens counts every prompt token, cache reads (CachedInputTokens)
// and cache writes (CacheWriteInputTokens) included. That is OpenAI's
// prompt_tokens, and Anthropic's input_tokens + cache_read_input_tokens +
// cache_creation_input_tokens, so one formula serves both:
//
//	(input − reads − writes) × input price + reads × cached price
//	  + writes × write price + output × output price
func (t *Table) Cost(provider, model string, u conductor.Usage) (int64, bool) {
	r, known := t.lookup(provider, model)
	in, reads, writes, out := nonNeg(u.InputTokens), nonNeg(u.CachedInputTokens), nonNeg(u.CacheWriteInputTokens), nonNeg(u.OutputTokens)
	if reads+writes > in {
		// Counts that contradict each other: trust the cache counts and
		// bill no plain input rather than a negative amount.
		in = reads + writes
	}
	pico := (in-reads-writes)*r.in + reads*r.cached + writes*r.write + out*r.out
	return (pico + 500) / 1000, known
}

// MaxCost is the most a call can cost, in nano-USD rounded up, for a spend
// reservation: every input token at the full input price (a cache read is
// never dearer) and maxOutputTokens of output. The caller supplies the
// output bound, its default max tokens when the request sets none.
func (t *Table) MaxCost(provider, model string, inputTokens, maxOutputTokens int) int64 {
	r, _ := t.lookup(provider, model)
	in := max(r.in, r.write) // a prompt may be written to the cache
	pico := nonNeg(inputTokens)*in + nonNeg(maxOutputTokens)*r.out
	return (pico + 999) / 1000
}

func nonNeg(n int) int64 {
	if n < 0 {
		return 0
	}
	return int64(n)
}
