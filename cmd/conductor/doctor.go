package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/dashboard"
	"github.com/conductor-go/conductor/pricing"
)

// doctorMaxRows bounds the rows the doctor reads one by one; the totals
// come from the store's aggregates and are exact whatever the window holds.
const doctorMaxRows = 100_000

// slowRequest is the product page's "High latency" symptom.
const slowRequest = 5 * time.Second

type doctorFlags struct {
	storeFlags
	since string
	json  bool
}

// newDoctorCmd is "conductor doctor": the product page's troubleshooting,
// answered from the recorded requests.
func newDoctorCmd() *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Answer the troubleshooting questions from the recorded requests",
		Long: `Doctor reads the gateway's request log (DATA/conductor.db) and the config, and
answers the product page's troubleshooting questions for the window --since
(default 24h):

  Gateway not caching?  hits and misses by reason: TTL 0, bypass, new keys,
                        expired entries, failed streams; the configured TTLs
  High latency?         time to first byte against total, by provider;
                        retries, fallbacks, cache hits against misses
  Rate limit errors?    whose 429s they are: ours (rate limit, spend limit)
                        or the provider's (rate_limited, quota)
  Cost overruns?        cost by model, what the cache saved, the spend that
                        could have been cached, unpriced models, budgets

Exit status: 0, 1 when the store cannot be read, 2 for a bad command line or
config.`,
		Example: `  conductor doctor
  conductor doctor --since 7d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd.Context(), cmd.OutOrStdout(), f, time.Now())
		},
	}
	f.storeFlags.add(cmd)
	cmd.Flags().StringVar(&f.since, "since", "24h", "window to examine: 90m, 24h, 7d…")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	return cmd
}

// doctorReport is what doctor found; --json prints it as it is.
type doctorReport struct {
	Since     time.Time         `json:"since"`
	Until     time.Time         `json:"until"`
	Summary   dashboard.Summary `json:"summary"`
	Examined  int               `json:"examined"`  // rows read one by one
	Truncated bool              `json:"truncated"` // the window held more than doctorMaxRows
	Caching   cachingReport     `json:"caching"`
	Latency   latencyReport     `json:"latency"`
	Limits    limitsReport      `json:"limits"`
	Cost      costReport        `json:"cost"`
}

type cachingReport struct {
	Hits     int64            `json:"hits"`
	Misses   map[string]int64 `json:"misses"`  // by reason
	NoCache  int64            `json:"noCache"` // no cache on the route, or refused before it
	Gateways []gatewayCache   `json:"gateways"`
	Findings []string         `json:"findings"`
}

type gatewayCache struct {
	ID         string `json:"id"`
	Configured bool   `json:"configured"`
	Hosted     bool   `json:"hosted"`
	CacheTTL   string `json:"cacheTtl"`
}

type latencyReport struct {
	P50Ms      float64           `json:"p50Ms"`
	P95Ms      float64           `json:"p95Ms"`
	P99Ms      float64           `json:"p99Ms"`
	ByProvider []providerLatency `json:"byProvider"`
	HitMeanMs  *float64          `json:"hitMeanMs"`
	MissMeanMs *float64          `json:"missMeanMs"`
	Retried    int64             `json:"retried"`       // requests that took more than one attempt
	Extra      int64             `json:"extraAttempts"` // attempts beyond the first
	RetriedMs  *float64          `json:"retriedMeanMs"`
	SingleMs   *float64          `json:"singleMeanMs"`
	Fallbacks  int64             `json:"fallbacks"`
	Slow       int64             `json:"slow"` // over 5 s
	Findings   []string          `json:"findings"`
}

type providerLatency struct {
	Provider   string  `json:"provider"`
	Requests   int     `json:"requests"` // answered upstream (not from the cache)
	P50Ms      float64 `json:"p50Ms"`
	P95Ms      float64 `json:"p95Ms"`
	MeanTTFBMs float64 `json:"meanTtfbMs"`
	MeanMs     float64 `json:"meanMs"`
}

type limitsReport struct {
	Ours         map[string]int64 `json:"ours"`     // limited, budget
	Provider     map[string]int64 `json:"provider"` // rate_limited, quota
	ByProvider   map[string]int64 `json:"providerByProvider"`
	UsersLimited int              `json:"usersLimited"` // distinct users our limits refused
	Configured   bool             `json:"rateLimitConfigured"`
	Findings     []string         `json:"findings"`
}

type costReport struct {
	TotalUSD     float64     `json:"totalUsd"`
	ByModel      []modelCost `json:"byModel"`
	SavedUSD     float64     `json:"savedUsd"`     // what the hits would have cost upstream
	CacheableUSD float64     `json:"cacheableUsd"` // spent on misses a cache could have answered
	Unpriced     int64       `json:"unpriced"`
	Budgets      int         `json:"budgets"`
	Findings     []string    `json:"findings"`
}

type modelCost struct {
	Model             string  `json:"model"`
	Requests          int64   `json:"requests"`
	CostUSD           float64 `json:"costUsd"`
	Share             float64 `json:"share"`
	CostPerRequestUSD float64 `json:"costPerRequestUsd"`
}

func runDoctor(ctx context.Context, w io.Writer, f doctorFlags, now time.Time) error {
	d, err := dashboard.ParseSince(f.since)
	if err != nil {
		return fmt.Errorf("%w: --since: %v", errInvalid, err)
	}
	st, cfg, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	prices, err := pricing.FromConfig(cfg.Pricing)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errInvalid, cfg.File, err)
	}
	until := now.UTC()
	since := until.Add(-d)
	sum, err := dashboard.Summarize(ctx, st, since, until, dashboard.Targets{HitRate: 0.8, ErrorRate: 0.01, P95: 3 * time.Second})
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	models, err := st.Stats(ctx, conductor.StatsQuery{Since: since, Until: until, By: "model"})
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	// The breakdowns need the rows themselves: the newest of the log,
	// kept while they are in the window.
	recent, err := st.RecentLogs(ctx, doctorMaxRows)
	if err != nil {
		return fmt.Errorf("read the request log: %w", err)
	}
	truncated := len(recent) == doctorMaxRows && !recent[len(recent)-1].Time.Before(since)
	rows := make([]conductor.LogRow, 0, len(recent))
	for _, r := range recent {
		if !r.Time.Before(since) && r.Time.Before(until) {
			rows = append(rows, r)
		}
	}
	rep := diagnose(rows, sum, models, cfg, prices)
	rep.Truncated = truncated
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeDoctor(w, rep, f.since)
	return nil
}

// diagnose answers the page's troubleshooting questions from the rows of
// the window, the window's exact aggregates, and the config.
func diagnose(rows []conductor.LogRow, sum dashboard.Summary, models []conductor.StatsRow, cfg *config.Config, prices *pricing.Table) doctorReport {
	rep := doctorReport{Since: sum.Since, Until: sum.Until, Summary: sum, Examined: len(rows)}
	rep.Caching = diagnoseCaching(rows, cfg)
	rep.Latency = diagnoseLatency(rows, sum)
	rep.Limits = diagnoseLimits(rows, cfg)
	rep.Cost = diagnoseCost(rows, sum, models, cfg, prices, rep.Caching)
	return rep
}

func share(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func pctText(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) + "%" }

func diagnoseCaching(rows []conductor.LogRow, cfg *config.Config) cachingReport {
	c := cachingReport{Misses: map[string]int64{}}
	seen := map[string]bool{}
	for _, r := range rows {
		switch {
		case r.Cached:
			c.Hits++
		case r.MissReason != "":
			c.Misses[r.MissReason]++
		default:
			c.NoCache++
		}
		if r.Gateway != "" && !seen[r.Gateway] {
			seen[r.Gateway] = true
			g, ok := cfg.GatewayByID(r.Gateway)
			if !ok && len(cfg.AI.Gateways) == 0 {
				g, _ = cfg.DefaultGateway() // the built-in "default", caching off
			}
			c.Gateways = append(c.Gateways, gatewayCache{
				ID: r.Gateway, Configured: ok, Hosted: g.Hosted(), CacheTTL: g.CacheTTL.Duration.String(),
			})
		}
	}
	slices.SortFunc(c.Gateways, func(a, b gatewayCache) int { return strings.Compare(a.ID, b.ID) })
	var misses int64
	for _, n := range c.Misses {
		misses += n
	}
	total := int64(len(rows))
	if total == 0 {
		return c
	}
	lookups := c.Hits + misses
	add := func(format string, a ...any) { c.Findings = append(c.Findings, fmt.Sprintf(format, a...)) }
	if lookups > 0 && share(c.Hits, lookups) >= 0.8 {
		add("The cache answers %s of lookups: above the 80%% target.", pctText(share(c.Hits, lookups)))
	}
	if len(cfg.AI.Gateways) == 0 {
		add("No [[ai.gateway]] is configured, so the built-in gateway \"default\" runs with caching off (cause 1: gateway not configured). Add one with cache_ttl = 3600.")
	}
	if n := c.Misses["ttl_0"]; n > 0 {
		var off []string
		for _, g := range c.Gateways {
			if g.CacheTTL == "0s" {
				off = append(off, g.ID)
			}
		}
		msg := fmt.Sprintf("%d requests (%s) had caching off: TTL 0 (cause 2).", n, pctText(share(n, total)))
		if len(off) > 0 {
			msg += fmt.Sprintf(" Gateway %s has no cache_ttl: set cache_ttl = 3600 in its [[ai.gateway]], or cache.ttl on the member.", strings.Join(off, ", "))
		} else {
			msg += " The gateway has a TTL, so these calls asked for 0 themselves (cf-aig-cache-ttl: 0 or cache.ttl: 0)."
		}
		add("%s", msg)
	}
	if n := c.Misses["bypass"]; n > 0 {
		add("%d requests (%s) skipped the cache on purpose: cf-aig-skip-cache: true or the member's cache.bypass.", n, pctText(share(n, total)))
	}
	if n := c.Misses["new_key"]; n > 0 && n >= c.Hits {
		add("%d requests (%s) were new keys: no earlier request was the same (cause 3). If the same questions repeat, something in them varies: a temperature, max tokens, seed, or a timestamp or user id in the prompt makes every key new.", n, pctText(share(n, total)))
	}
	if n := c.Misses["expired"]; n > 0 {
		add("%d requests (%s) found their entry expired: the TTL is shorter than the time between repeats; a longer cache_ttl would have answered them.", n, pctText(share(n, total)))
	}
	if n := c.Misses["stream_error"]; n > 0 {
		add("%d streamed answers failed mid-way and were not cached (cause 4: streaming). Streams that end properly are cached and replayed here.", n)
	}
	if n := c.Misses["cache_error"]; n > 0 {
		add("%d requests could not read the cache: the store failed; see the server's log.", n)
	}
	if c.NoCache > 0 {
		add("%d requests never reached the cache: refused first (rate or spend limit) or failed before it.", c.NoCache)
	}
	return c
}

// rank is the nearest-rank percentile p of sorted durations.
func rank(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(p*len(sorted)+99)/100-1]
}

func meanMs(sum time.Duration, n int64) *float64 {
	if n == 0 {
		return nil
	}
	v := float64(sum) / float64(n) / float64(time.Millisecond)
	return &v
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func diagnoseLatency(rows []conductor.LogRow, sum dashboard.Summary) latencyReport {
	l := latencyReport{P50Ms: sum.P50Ms, P95Ms: sum.P95Ms, P99Ms: sum.P99Ms}
	type acc struct {
		lat         []time.Duration
		ttfb, total time.Duration
	}
	byProv := map[string]*acc{}
	var hitSum, missSum, retriedSum, singleSum time.Duration
	var hits, misses, single int64
	for _, r := range rows {
		if r.Latency > slowRequest {
			l.Slow++
		}
		if r.Step > 0 {
			l.Fallbacks++
		}
		if r.Cached {
			hits++
			hitSum += r.Latency
			continue
		}
		if !r.Success {
			continue
		}
		misses++
		missSum += r.Latency
		if r.Attempts > 1 {
			l.Retried++
			l.Extra += int64(r.Attempts - 1)
			retriedSum += r.Latency
		} else {
			single++
			singleSum += r.Latency
		}
		a := byProv[r.Provider]
		if a == nil {
			a = &acc{}
			byProv[r.Provider] = a
		}
		a.lat = append(a.lat, r.Latency)
		a.ttfb += r.TTFB
		a.total += r.Latency
	}
	l.HitMeanMs, l.MissMeanMs = meanMs(hitSum, hits), meanMs(missSum, misses)
	l.RetriedMs, l.SingleMs = meanMs(retriedSum, l.Retried), meanMs(singleSum, single)
	for p, a := range byProv {
		slices.Sort(a.lat)
		n := int64(len(a.lat))
		l.ByProvider = append(l.ByProvider, providerLatency{
			Provider: p, Requests: len(a.lat), P50Ms: msOf(rank(a.lat, 50)), P95Ms: msOf(rank(a.lat, 95)),
			MeanTTFBMs: *meanMs(a.ttfb, n), MeanMs: *meanMs(a.total, n),
		})
	}
	slices.SortFunc(l.ByProvider, func(a, b providerLatency) int {
		return cmp.Or(cmp.Compare(b.P95Ms, a.P95Ms), strings.Compare(a.Provider, b.Provider))
	})

	add := func(format string, a ...any) { l.Findings = append(l.Findings, fmt.Sprintf(format, a...)) }
	if sum.Requests == 0 {
		return l
	}
	if sum.P95Ms < 3000 {
		add("p95 is %s: within the 3 s target.", millis(sum.P95Ms))
	} else {
		add("p95 is %s: over the 3 s target.", millis(sum.P95Ms))
	}
	if l.Slow > 0 {
		add("%d requests took over 5 s (the page's \"high latency\" symptom).", l.Slow)
	}
	if len(l.ByProvider) > 0 {
		worst := l.ByProvider[0]
		part := "generating the answer (long outputs: lower max tokens, or stream)"
		if worst.MeanMs > 0 && worst.MeanTTFBMs/worst.MeanMs >= 0.5 {
			part = "waiting for the first byte (queueing, cold start or a large prompt at the provider: cause 2 or 4)"
		}
		add("The slowest upstream is %s (p95 %s, %d answers): %s of its time goes to the first byte, so most of it is %s.",
			worst.Provider, millis(worst.P95Ms), worst.Requests, pctText(worst.MeanTTFBMs/max(worst.MeanMs, 1e-9)), part)
	}
	if l.HitMeanMs != nil && l.MissMeanMs != nil {
		add("Cache hits answer in %s on average against %s upstream: every point of hit rate takes a request off the slow path (cause 3: no caching).",
			millis(*l.HitMeanMs), millis(*l.MissMeanMs))
	} else if l.HitMeanMs == nil && misses > 0 {
		add("No request was answered from the cache: each one paid the upstream's %s (cause 3: no caching).", millis(*l.MissMeanMs))
	}
	if l.Retried > 0 && l.RetriedMs != nil {
		msg := fmt.Sprintf("%d requests needed retries (%d extra attempts) and took %s on average", l.Retried, l.Extra, millis(*l.RetriedMs))
		if l.SingleMs != nil {
			msg += fmt.Sprintf(" against %s for the others", millis(*l.SingleMs))
		}
		add("%s: the provider was failing or throttling (cause 4).", msg)
	}
	if l.Fallbacks > 0 {
		add("%d requests were answered by a fallback after the first route failed.", l.Fallbacks)
	}
	return l
}

func diagnoseLimits(rows []conductor.LogRow, cfg *config.Config) limitsReport {
	l := limitsReport{Ours: map[string]int64{}, Provider: map[string]int64{}, ByProvider: map[string]int64{}}
	users := map[string]bool{}
	for _, r := range rows {
		switch conductor.ErrorClass(r.ErrorClass) {
		case conductor.ClassLimited, conductor.ClassBudget:
			l.Ours[r.ErrorClass]++
			if r.User != "" {
				users[r.User] = true // counted, never printed
			}
		case conductor.ClassRateLimited, conductor.ClassQuota:
			l.Provider[r.ErrorClass]++
			l.ByProvider[r.Provider]++
		}
	}
	l.UsersLimited = len(users)
	for _, g := range cfg.AI.Gateways {
		if n, _, _ := g.RateLimit(); n > 0 || g.RateLimitingTokensPerMinute > 0 {
			l.Configured = true
		}
	}
	add := func(format string, a ...any) { l.Findings = append(l.Findings, fmt.Sprintf(format, a...)) }
	ours := l.Ours["limited"] + l.Ours["budget"]
	theirs := l.Provider["rate_limited"] + l.Provider["quota"]
	if ours+theirs == 0 {
		add("No request was refused with 429.")
		return l
	}
	if n := l.Ours["limited"]; n > 0 {
		who := ""
		if l.UsersLimited > 0 {
			who = fmt.Sprintf(", for %d users", l.UsersLimited)
		}
		add("%d of the 429s are ours: the gateway's own rate limit refused them%s. That is the limit working; raise rate_limiting_requests_per_minute if it is too tight.", n, who)
	}
	if n := l.Ours["budget"]; n > 0 {
		add("%d of the 429s are ours: a spend limit ([[budget]]) was reached. They resume when the budget's window resets.", n)
	}
	if theirs > 0 {
		var provs []string
		for p, n := range l.ByProvider {
			provs = append(provs, fmt.Sprintf("%s %d", p, n))
		}
		slices.Sort(provs)
		msg := fmt.Sprintf("%d of the 429s are the provider's (%s), after the gateway's retries (cause 1: exceeding provider limits", theirs, strings.Join(provs, ", "))
		if !l.Configured {
			msg += "; cause 2: no rate limiting in the gateway). Set rate_limiting_requests_per_minute in [[ai.gateway]] below the provider's limit, so bursts wait here instead of failing there."
		} else {
			msg += "). The gateway's limit is above what the provider allows: lower it, or cache more to send fewer calls."
		}
		add("%s", msg)
	}
	if n := l.Provider["quota"]; n > 0 {
		add("%d are the provider's insufficient_quota: the account is out of credit; retrying cannot help.", n)
	}
	return l
}

func diagnoseCost(rows []conductor.LogRow, sum dashboard.Summary, models []conductor.StatsRow, cfg *config.Config, prices *pricing.Table, caching cachingReport) costReport {
	c := costReport{TotalUSD: sum.CostUSD, Budgets: len(cfg.Budgets)}
	for _, m := range models {
		mc := modelCost{Model: m.Group, Requests: m.Requests, CostUSD: float64(m.CostNanoUSD) / 1e9}
		if sum.CostUSD > 0 {
			mc.Share = mc.CostUSD / sum.CostUSD
		}
		if m.Requests > 0 {
			mc.CostPerRequestUSD = mc.CostUSD / float64(m.Requests)
		}
		c.ByModel = append(c.ByModel, mc)
	}
	slices.SortFunc(c.ByModel, func(a, b modelCost) int {
		return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), strings.Compare(a.Model, b.Model))
	})
	// What a hit saved: the mean cost of the same model's upstream answers.
	type key struct{ provider, model string }
	type acc struct {
		cost, n, out int64
	}
	upstream := map[key]*acc{}
	for _, r := range rows {
		if r.CostFlagged {
			c.Unpriced++
		}
		if r.Cached || !r.Success {
			continue
		}
		k := key{r.Provider, r.Model}
		a := upstream[k]
		if a == nil {
			a = &acc{}
			upstream[k] = a
		}
		a.cost += r.CostNanoUSD
		a.out += int64(r.OutputTokens)
		a.n++
		switch r.MissReason {
		case "ttl_0", "bypass", "expired":
			c.CacheableUSD += float64(r.CostNanoUSD) / 1e9
		}
	}
	for _, r := range rows {
		if a := upstream[key{r.Provider, r.Model}]; r.Cached && a != nil && a.n > 0 {
			c.SavedUSD += float64(a.cost) / float64(a.n) / 1e9
		}
	}

	add := func(format string, a ...any) { c.Findings = append(c.Findings, fmt.Sprintf(format, a...)) }
	if sum.Requests == 0 {
		return c
	}
	if len(c.ByModel) > 0 && c.ByModel[0].CostUSD > 0 {
		top := c.ByModel[0]
		add("%s is %s of the cost: %s over %d requests (%s each).", top.Model, pctText(top.Share), dollars(top.CostUSD), top.Requests, dollars(top.CostPerRequestUSD))
	}
	if c.SavedUSD > 0 {
		add("The cache saved about %s: %d hits at their model's mean upstream cost.", dollars(c.SavedUSD), caching.Hits)
	}
	if sum.HitRate != nil && *sum.HitRate < 0.8 && c.CacheableUSD > 0 {
		add("%s went on requests a cache could have answered (TTL 0, bypass, expired): cause 1, a low hit rate.", dollars(c.CacheableUSD))
	}
	// Cause 2: a flagship model on tasks with short answers.
	var small []string
	for k, a := range upstream {
		if a.n < 5 || a.out/a.n >= 64 {
			continue
		}
		if p, known := prices.Lookup(k.provider, k.model); known && p.Input >= 1 {
			small = append(small, fmt.Sprintf("%s (%d answers of %d output tokens on average)", k.model, a.n, a.out/a.n))
		}
	}
	slices.Sort(small)
	for _, s := range small {
		add("%s: short answers from a flagship model look like classification or extraction; a Workers AI model via routing: cloudflare costs far less (cause 2).", s)
	}
	if c.Unpriced > 0 {
		add("%d requests were priced by the default price because the price table does not know their model: add a [[pricing.model]] for it.", c.Unpriced)
	}
	if c.Budgets == 0 {
		add("No spending limits are configured (cause 3): add a [[budget]] with daily_usd or monthly_usd.")
	}
	return c
}

func writeDoctor(w io.Writer, rep doctorReport, window string) {
	s := rep.Summary
	fmt.Fprintf(w, "Conductor doctor: the last %s (since %s)\n", window, rep.Since.Format("2006-01-02 15:04 MST"))
	if s.Requests == 0 {
		fmt.Fprintln(w, "\nNo requests recorded in this window: nothing to diagnose. Is traffic going through the gateway (routing: cloudflare-gateway, or conductor serve)?")
		return
	}
	fmt.Fprintf(w, "%d requests, hit rate %s, error rate %s, p95 %s, cost %s\n",
		s.Requests, percent(s.HitRate), percent(s.ErrorRate), millis(s.P95Ms), dollars(s.CostUSD))
	if rep.Truncated {
		fmt.Fprintf(w, "(breakdowns from the newest %d requests; totals from all %d)\n", rep.Examined, s.Requests)
	}
	findings := func(fs []string) {
		for _, f := range fs {
			fmt.Fprintf(w, "  → %s\n", f)
		}
	}

	c := rep.Caching
	fmt.Fprintln(w, "\nGateway not caching?")
	reasons := make([]string, 0, len(c.Misses))
	for r := range c.Misses {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(c.Misses[b], c.Misses[a]), strings.Compare(a, b)) })
	parts := []string{fmt.Sprintf("%d hits", c.Hits)}
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", c.Misses[r], r))
	}
	if c.NoCache > 0 {
		parts = append(parts, fmt.Sprintf("%d not looked up", c.NoCache))
	}
	fmt.Fprintf(w, "  %s\n", strings.Join(parts, ", "))
	for _, g := range c.Gateways {
		how := "built in"
		if g.Hosted {
			how = "Cloudflare-hosted"
		}
		conf := "configured"
		if !g.Configured {
			conf = "not in the config"
		}
		fmt.Fprintf(w, "  gateway %s: %s, %s, cache_ttl %s\n", g.ID, how, conf, g.CacheTTL)
	}
	findings(c.Findings)

	l := rep.Latency
	fmt.Fprintln(w, "\nHigh latency?")
	fmt.Fprintf(w, "  p50 %s, p95 %s, p99 %s", millis(l.P50Ms), millis(l.P95Ms), millis(l.P99Ms))
	if l.HitMeanMs != nil {
		fmt.Fprintf(w, "; cache hits %s on average", millis(*l.HitMeanMs))
	}
	fmt.Fprintln(w)
	if len(l.ByProvider) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  PROVIDER\tANSWERS\tP50\tP95\tMEAN TTFB\tMEAN TOTAL\t")
		for _, p := range l.ByProvider {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t\n", p.Provider, p.Requests, millis(p.P50Ms), millis(p.P95Ms), millis(p.MeanTTFBMs), millis(p.MeanMs))
		}
		tw.Flush()
	}
	findings(l.Findings)

	li := rep.Limits
	fmt.Fprintln(w, "\nRate limit errors (429)?")
	fmt.Fprintf(w, "  ours: %d rate limit, %d spend limit; the provider's: %d rate_limited, %d quota\n",
		li.Ours["limited"], li.Ours["budget"], li.Provider["rate_limited"], li.Provider["quota"])
	findings(li.Findings)

	co := rep.Cost
	fmt.Fprintln(w, "\nCost overruns?")
	if len(co.ByModel) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  MODEL\tREQUESTS\tCOST\tSHARE\tPER REQUEST\t")
		for _, m := range co.ByModel {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t\n", cmpOr(m.Model, "(none)"), m.Requests, dollars(m.CostUSD), pctText(m.Share), dollars(m.CostPerRequestUSD))
		}
		tw.Flush()
	}
	findings(co.Findings)
}
