package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type soakOptions struct {
	duration  time.Duration
	rate      int
	faultRate float64
	samples   int
	inflight  int
}

func parseSoak(args []string, stderr io.Writer) (soakOptions, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := soakOptions{}
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load runs")
	fs.IntVar(&o.rate, "rate", 200, "requests per second, open loop")
	fs.Float64Var(&o.faultRate, "fault-rate", 0.01, "share of upstream answers that are faults (500, 502, 503, 429, a malformed 200, a reset, in turn)")
	fs.IntVar(&o.inflight, "max-inflight", 256, "requests in flight at most: a stalled gateway (or machine) lowers the achieved rate instead of piling up connections")
	fs.IntVar(&o.samples, "samples", 10, "goroutine and memory readings over the run (at least start, middle and end)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.duration <= 0 || o.rate <= 0 || o.faultRate < 0 || o.faultRate >= 1 {
		return o, errors.New("--duration and --rate must be positive and --fault-rate in [0, 1)")
	}
	o.samples = max(o.samples, 3)
	return o, nil
}

// soakConfig makes every fault reach the caller: one attempt per call, so
// the error rate the caller sees is the injected rate, and a gateway that
// hid a fault (a 200 for a malformed answer) or invented one shows.
const soakConfig = "max_attempts = 1\n"

// reading is one sample of serve's state during the soak.
type reading struct {
	at         time.Duration
	goroutines int
	heap       int64
	rss        int64
	requests   int
}

func runSoak(ctx context.Context, o soakOptions, stdout, stderr io.Writer) error {
	e, closeEnv, err := startEnv(ctx, runOptions{targets: []string{"conductor"}}, stderr, "conductor-soak-")
	if err != nil {
		return err
	}
	defer closeEnv()
	if err := e.configureFake(ctx, fakeConfig{Chunks: 8}); err != nil {
		return err
	}
	s := scenario{name: "soak", config: soakConfig}
	serve, base, err := e.startConductor(ctx, s, e.conductorBin)
	if err != nil {
		return err
	}
	defer serve.stop()
	c := chatCall(base, "openai/"+benchModel, "Say hello.", "", "Hello! How can I assist")
	attack(ctx, c, phase{conns: 8, duration: time.Second}) // warm, no faults yet
	if err := e.configureFake(ctx, fakeConfig{Chunks: 8, FaultRate: o.faultRate}); err != nil {
		return err
	}
	up0, err := e.upstreamCount(ctx)
	if err != nil {
		return err
	}
	read := func(start time.Time, n int) (reading, error) {
		r := reading{at: time.Since(start).Round(time.Second), requests: n}
		m, err := readMemory(serve.pids[0])
		if err != nil {
			return r, err
		}
		r.rss = m.rss
		g, h, err := e.goMetrics(ctx, base)
		r.goroutines, r.heap = g, h
		return r, err
	}
	start := time.Now()
	first, err := read(start, 0)
	if err != nil {
		return err
	}
	readings := []reading{first}
	fmt.Fprintf(stderr, "soak: %s at %d/s, %.2f%% faults\n", o.duration, o.rate, 100*o.faultRate)
	done := make(chan loadResult, 1)
	ours := e.ourPids(serve.pids)
	busy0, _ := machineBusy()
	all0, _ := measure(ours)
	go func() { done <- attack(ctx, c, phase{rate: o.rate, duration: o.duration, inflight: o.inflight}) }()
	tick := time.NewTicker(o.duration / time.Duration(o.samples-1))
	defer tick.Stop()
	var res loadResult
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-tick.C:
			r, err := read(start, int(time.Since(start).Seconds()*float64(o.rate)))
			if err != nil {
				fmt.Fprintf(stderr, "soak: reading serve: %v\n", err)
				continue
			}
			readings = append(readings, r)
			fmt.Fprintf(stderr, "  %s: %d goroutines, heap %s MB, RSS %s MB\n", r.at, r.goroutines, mb(r.heap), mb(r.rss))
		}
	}
	busy1, _ := machineBusy()
	all1, _ := measure(ours)
	other := max(0, (busy1-busy0-(all1.cpu-all0.cpu)).Seconds()/time.Since(start).Seconds())
	end, err := read(start, res.requests)
	if err != nil {
		return err
	}
	readings = append(readings, end)
	// After the load: what stays once the last requests have gone.
	time.Sleep(5 * time.Second)
	after, err := read(start, res.requests)
	if err != nil {
		return err
	}
	up1, err := e.upstreamCount(ctx)
	if err != nil {
		return err
	}
	injected := up1.Faults - up0.Faults
	calls := up1.Requests - up0.Requests
	writeSoak(stdout, e.describe(), o, res, calls, injected, up1.ByFault, readings, after, other)
	switch {
	case int64(res.errors) != injected:
		return fmt.Errorf("soak: %d errors for %d injected faults", res.errors, injected)
	case calls != int64(res.requests):
		return fmt.Errorf("soak: %d upstream calls for %d requests", calls, res.requests)
	}
	return ctx.Err()
}

// goMetrics reads go_goroutines and go_memstats_heap_inuse_bytes from
// serve's /metrics.
func (e *env) goMetrics(ctx context.Context, base string) (int, int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("reading /metrics: status %d", resp.StatusCode)
	}
	var g int
	var h int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			g = int(f)
		}
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			h = int64(f)
		}
	}
	return g, h, sc.Err()
}

func writeSoak(w io.Writer, about string, o soakOptions, res loadResult, calls, injected int64, byFault map[string]int64, rs []reading, after reading, other float64) {
	fmt.Fprintln(w, about)
	fmt.Fprintln(w)
	rate := 0.0
	if res.requests > 0 {
		rate = float64(res.errors) / float64(res.requests)
	}
	injRate := 0.0
	if calls > 0 {
		injRate = float64(injected) / float64(calls)
	}
	fmt.Fprintf(w, "Soak: %s at %d requests/s (achieved %.1f/s; at most %d in flight), fault rate %.2f%%, one attempt per call; other processes used %.2f cores on average.\n\n",
		o.duration, o.rate, res.rate(), o.inflight, 100*o.faultRate, other)
	fmt.Fprintln(w, "| requests | upstream calls | injected faults | caller errors | error rate | injected rate | p50 / p99 / max ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| %d | %d | %d | %d | %.3f%% | %.3f%% | %s / %s / %s |\n\n", res.requests, calls, injected, res.errors, 100*rate, 100*injRate,
		ms(quantile(res.latencies, 0.5)), ms(quantile(res.latencies, 0.99)), ms(quantile(res.latencies, 1)))
	var kinds []string
	for k, n := range byFault {
		kinds = append(kinds, fmt.Sprintf("%s × %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "Faults injected: %s.\n\n", strings.Join(kinds, ", "))
	if len(res.errorSamples) > 0 {
		var errs []string
		for e, n := range res.errorSamples {
			errs = append(errs, fmt.Sprintf("%d × %s", n, e))
		}
		sort.Strings(errs)
		fmt.Fprintln(w, "What the callers got:")
		for _, e := range errs {
			fmt.Fprintf(w, "- `%s`\n", strings.ReplaceAll(e, "`", "'"))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "| at | goroutines | heap in use MB | RSS MB |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", r.at, r.goroutines, mb(r.heap), mb(r.rss))
	}
	fmt.Fprintf(w, "| 5 s after the load | %d | %s | %s |\n", after.goroutines, mb(after.heap), mb(after.rss))
}
