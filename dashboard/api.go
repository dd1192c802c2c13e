package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Bounds on what one API call may ask for.
const (
	DefaultSince  = 24 * time.Hour
	MaxSince      = 400 * 24 * time.Hour
	MaxBuckets    = 500
	DefaultRecent = 50
	MaxRecent     = 500
	// targetBuckets is about how many buckets a series has when the call
	// names no step.
	targetBuckets = 48
)

// niceSteps are the bucket widths a series picks from when none is asked.
var niceSteps = []time.Duration{
	time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// ParseSince reads a window length: a Go duration ("90m", "24h") or a
// number of days ("7d"). It must be positive and at most 400 days.
func ParseSince(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days != days { // NaN
			return 0, fmt.Errorf("window %q (expected a duration like 24h, 90m or 7d)", s)
		}
		if days > MaxSince.Hours()/24 {
			return 0, fmt.Errorf("window %q is longer than %d days", s, int(MaxSince.Hours()/24))
		}
		d = time.Duration(days * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("window %q (expected a duration like 24h, 90m or 7d)", s)
		}
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("window %q must be positive", s)
	case d > MaxSince:
		return 0, fmt.Errorf("window %q is longer than %d days", s, int(MaxSince.Hours()/24))
	}
	return d, nil
}

// Figures are the aggregates of a set of requests, as the page shows them.
type Figures struct {
	Requests     int64    `json:"requests"`
	CacheHits    int64    `json:"cacheHits"`
	HitRate      *float64 `json:"hitRate"` // null when there were no requests
	Errors       int64    `json:"errors"`
	ErrorRate    *float64 `json:"errorRate"`
	InputTokens  int64    `json:"inputTokens"`
	OutputTokens int64    `json:"outputTokens"`
	CostUSD      float64  `json:"costUsd"`
	SavedUSD     float64  `json:"savedUsd"` // what cache hits would have cost at list price
	P50Ms        float64  `json:"p50Ms"`
	P95Ms        float64  `json:"p95Ms"`
	P99Ms        float64  `json:"p99Ms"`
	MeanScore    *float64 `json:"meanScore"` // null when nothing was scored
}

// FiguresOf converts a store aggregate.
func FiguresOf(r conductor.StatsRow) Figures {
	f := Figures{
		Requests: r.Requests, CacheHits: r.CacheHits, Errors: r.Errors,
		InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CostUSD: usd(r.CostNanoUSD), SavedUSD: usd(r.SavedNanoUSD),
		P50Ms: ms(r.P50), P95Ms: ms(r.P95), P99Ms: ms(r.P99), MeanScore: r.MeanScore,
	}
	if r.Requests > 0 {
		hit := float64(r.CacheHits) / float64(r.Requests)
		errs := float64(r.Errors) / float64(r.Requests)
		f.HitRate, f.ErrorRate = &hit, &errs
	}
	return f
}

// Target is one of the page's targets against its figure.
type Target struct {
	Name   string   `json:"name"`  // hitRate, errorRate, p95
	Label  string   `json:"label"` // "Cache hit rate > 80%"
	Op     string   `json:"op"`    // ">" or "<"
	Target float64  `json:"target"`
	Value  *float64 `json:"value"` // null with no requests
	OK     *bool    `json:"ok"`    // null with no requests
}

// Summary is the answer of /api/summary.
type Summary struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	Figures
	Targets []Target `json:"targets"`
}

// Bucket is one time bucket of a series.
type Bucket struct {
	Start time.Time `json:"start"`
	Figures
}

// Series is the answer of /api/series.
type Series struct {
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	StepSeconds float64   `json:"stepSeconds"`
	Buckets     []Bucket  `json:"buckets"`
}

// Group is one row of /api/by.
type Group struct {
	Group string `json:"group"`
	Figures
	CostPerRequestUSD float64 `json:"costPerRequestUsd"`
}

// Recent is one row of /api/recent: a request without its user and
// metadata, which the page has no need for.
type Recent struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	Gateway      string    `json:"gateway"`
	Environment  string    `json:"environment,omitempty"`
	Provider     string    `json:"provider"`
	Model        string    `json:"model"`
	Route        string    `json:"route"`
	Variant      string    `json:"variant,omitempty"`
	Deployment   string    `json:"deployment,omitempty"` // the [[model]] deployment that served it
	Status       int       `json:"status"`
	Success      bool      `json:"success"`
	Cached       bool      `json:"cached"`
	MissReason   string    `json:"missReason,omitempty"`
	Attempts     int       `json:"attempts"`
	Step         int       `json:"step"`
	InputTokens  int       `json:"inputTokens"`
	OutputTokens int       `json:"outputTokens"`
	CostUSD      float64   `json:"costUsd"`
	LatencyMs    float64   `json:"latencyMs"`
	TTFBMs       float64   `json:"ttfbMs"`
	ErrorClass   string    `json:"errorClass,omitempty"`
	Score        *float64  `json:"score,omitempty"`
}

func usd(nano int64) float64     { return float64(nano) / 1e9 }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func okIf(cond bool) *bool       { return &cond }
func pct(f float64) string       { return strconv.FormatFloat(f*100, 'g', -1, 64) + "%" }
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'g', -1, 64) + " s"
}

// requestError is a problem with the request's parameters: a 400.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func bad(msg string) error { return &requestError{msg} }

// window reads ?since= and returns the window [since, until).
func (h *Handler) window(r *http.Request) (since, until time.Time, err error) {
	d := DefaultSince
	if s := r.URL.Query().Get("since"); s != "" {
		if d, err = ParseSince(s); err != nil {
			return since, until, bad(err.Error())
		}
	}
	until = h.opts.Now().UTC()
	return until.Add(-d), until, nil
}

// total aggregates every request of the window into one row.
func total(ctx context.Context, st conductor.LogStore, since, until time.Time) (conductor.StatsRow, error) {
	rows, err := st.Stats(ctx, conductor.StatsQuery{Since: since, Until: until})
	if err != nil || len(rows) == 0 {
		return conductor.StatsRow{}, err
	}
	return rows[0], nil
}

// Summarize aggregates the window and sets each target against its figure.
func Summarize(ctx context.Context, st conductor.LogStore, since, until time.Time, t Targets) (Summary, error) {
	row, err := total(ctx, st, since, until)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Since: since, Until: until, Figures: FiguresOf(row)}
	hit := Target{Name: "hitRate", Label: "Cache hit rate > " + pct(t.HitRate), Op: ">", Target: t.HitRate}
	errs := Target{Name: "errorRate", Label: "Error rate < " + pct(t.ErrorRate), Op: "<", Target: t.ErrorRate}
	p95 := Target{Name: "p95", Label: "Latency p95 < " + secs(t.P95), Op: "<", Target: ms(t.P95)}
	if row.Requests > 0 {
		p95ms := s.P95Ms
		hit.Value, hit.OK = s.HitRate, okIf(*s.HitRate > t.HitRate)
		errs.Value, errs.OK = s.ErrorRate, okIf(*s.ErrorRate < t.ErrorRate)
		p95.Value, p95.OK = &p95ms, okIf(row.P95 < t.P95)
	}
	s.Targets = []Target{hit, errs, p95}
	return s, nil
}

func (h *Handler) summary(w http.ResponseWriter, r *http.Request) {
	since, until, err := h.window(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := Summarize(r.Context(), h.st, since, until, h.opts.Targets)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, s)
}

// pickStep is the bucket width for a window: one of niceSteps giving about
// targetBuckets buckets.
func pickStep(d time.Duration) time.Duration {
	for _, s := range niceSteps {
		if d/s <= targetBuckets {
			return s
		}
	}
	return niceSteps[len(niceSteps)-1]
}

// SeriesOf aggregates [since, until) in buckets of step, aligned to
// multiples of step since the Unix epoch so that a polling page sees
// stable buckets. The first bucket may start before since.
func SeriesOf(ctx context.Context, st conductor.LogStore, since, until time.Time, step time.Duration) (Series, error) {
	if step <= 0 {
		return Series{}, errors.New("series: step must be positive")
	}
	// time.Truncate counts from year 1, which is aligned to the epoch only
	// for steps that divide a day.
	n := since.UnixNano()
	start := time.Unix(0, n-((n%int64(step))+int64(step))%int64(step)).UTC()
	if n := (until.Sub(start) + step - 1) / step; n > MaxBuckets {
		return Series{}, bad(fmt.Sprintf("%d buckets: at most %d (choose a longer step)", n, MaxBuckets))
	}
	out := Series{Since: start, Until: until, StepSeconds: step.Seconds(), Buckets: []Bucket{}}
	// One aggregate per bucket: the store's Stats is the one query every
	// store implements, and it reads a bucket's rows through the time index.
	for b := start; b.Before(until); b = b.Add(step) {
		end := b.Add(step)
		if end.After(until) {
			end = until
		}
		row, err := total(ctx, st, b, end)
		if err != nil {
			return Series{}, err
		}
		out.Buckets = append(out.Buckets, Bucket{Start: b, Figures: FiguresOf(row)})
	}
	return out, nil
}

func (h *Handler) series(w http.ResponseWriter, r *http.Request) {
	since, until, err := h.window(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	step := pickStep(until.Sub(since))
	if s := r.URL.Query().Get("step"); s != "" {
		if step, err = ParseSince(s); err != nil {
			h.fail(w, r, bad("step: "+err.Error()))
			return
		}
	}
	out, err := SeriesOf(r.Context(), h.st, since, until, step)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, out)
}

// Groupings /api/by accepts.
var groupings = []string{"model", "provider", "environment", "variant", "gateway", "user", "key", "team", "deployment"}

// GroupBy aggregates the window by one of model, provider, environment,
// variant, gateway, user, key (virtual key), team or deployment (of a
// [[model]]), most requested first.
func GroupBy(ctx context.Context, st conductor.LogStore, by string, since, until time.Time) ([]Group, error) {
	ok := false
	for _, g := range groupings {
		ok = ok || g == by
	}
	if !ok {
		return nil, bad(fmt.Sprintf("by=%q (expected %s)", by, strings.Join(groupings, ", ")))
	}
	rows, err := st.Stats(ctx, conductor.StatsQuery{Since: since, Until: until, By: by})
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(rows))
	for _, r := range rows {
		g := Group{Group: r.Group, Figures: FiguresOf(r)}
		if r.Requests > 0 {
			g.CostPerRequestUSD = g.CostUSD / float64(r.Requests)
		}
		out = append(out, g)
	}
	return out, nil
}

func (h *Handler) by(w http.ResponseWriter, r *http.Request) {
	since, until, err := h.window(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "model"
	}
	out, err := GroupBy(r.Context(), h.st, by, since, until)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, out)
}

func (h *Handler) recent(w http.ResponseWriter, r *http.Request) {
	limit := DefaultRecent
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRecent {
			h.fail(w, r, bad(fmt.Sprintf("limit=%q (expected 1 to %d)", s, MaxRecent)))
			return
		}
		limit = n
	}
	rows, err := h.st.RecentLogs(r.Context(), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]Recent, 0, len(rows))
	for _, l := range rows {
		out = append(out, Recent{
			ID: l.ID, Time: l.Time, Gateway: l.Gateway, Environment: l.Environment, Provider: l.Provider,
			Model: l.Model, Route: l.Route, Variant: l.Variant, Deployment: l.Deployment, Status: l.Status, Success: l.Success,
			Cached: l.Cached, MissReason: l.MissReason, Attempts: l.Attempts, Step: l.Step,
			InputTokens: l.InputTokens, OutputTokens: l.OutputTokens, CostUSD: usd(l.CostNanoUSD),
			LatencyMs: ms(l.Latency), TTFBMs: ms(l.TTFB), ErrorClass: l.ErrorClass, Score: l.Score,
		})
	}
	writeJSON(w, out)
}

// config tells the page how to behave: its title, how often to poll, and
// the targets it colours figures by.
func (h *Handler) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"title":          h.opts.Title,
		"refreshSeconds": h.opts.Refresh.Seconds(),
		"targets": map[string]float64{
			"hitRate": h.opts.Targets.HitRate, "errorRate": h.opts.Targets.ErrorRate, "p95Ms": ms(h.opts.Targets.P95),
		},
		"budgets":  len(h.budgetList()),
		"adminUrl": h.opts.AdminURL,
	})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		writeError(w, http.StatusBadRequest, re.msg)
	case r.Context().Err() != nil:
		// The page went away; nobody is reading.
	default:
		h.log.Error("dashboard query failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "the request log could not be read")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v) // a write error means the client left
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}
