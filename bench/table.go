package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// addDirect fills each row's p99 added over direct's in the same scenario
// and load.
func addDirect(rows []row) {
	for i := range rows {
		for _, d := range rows {
			if d.target == "direct" && d.scenario == rows[i].scenario && d.load == rows[i].load {
				rows[i].addedP99 = quantile(rows[i].res.latencies, 0.99) - quantile(d.res.latencies, 0.99)
				rows[i].hasDirect = true
			}
		}
	}
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond && d > -10*time.Millisecond:
		return fmt.Sprintf("%.2f", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1f", float64(d)/1e6)
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f", float64(n)/1e6) }

func writeTable(w io.Writer, about string, rows []row, firsts map[string]time.Duration) {
	fmt.Fprintln(w, about)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | target | load | req/s | p50 ms | p90 ms | p99 ms | max ms | p99 over direct | TTFB p50 / p99 ms | CPU µs/req | RSS / peak MB | errors | upstream calls | other load |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		l := r.res.latencies
		added := "—"
		if r.hasDirect && r.target != "direct" {
			added = "+" + ms(r.addedP99)
			if r.addedP99 < 0 {
				added = ms(r.addedP99)
			}
		}
		ttfb := "—"
		if len(r.res.ttfbs) > 0 {
			ttfb = ms(quantile(r.res.ttfbs, 0.5)) + " / " + ms(quantile(r.res.ttfbs, 0.99))
		}
		cpu, mem := "—", "—"
		if r.cpuPerReq > 0 {
			cpu = fmt.Sprintf("%.0f", float64(r.cpuPerReq)/1e3)
			mem = mb(r.mem.rss) + " / " + mb(r.mem.hwm)
		}
		up := fmt.Sprintf("%d", r.upstream)
		switch {
		case !r.judged:
		case r.upstreamOK:
			up += " ✓"
		default:
			up += fmt.Sprintf(" ✗ (want %d)", r.wantUp)
		}
		errs := fmt.Sprintf("%d", r.res.errors)
		if r.res.errors > 0 {
			var samples []string
			for s, n := range r.res.errorSamples {
				samples = append(samples, fmt.Sprintf("%d× %s", n, strings.ReplaceAll(s, "|", "\\|")))
			}
			sort.Strings(samples)
			if len(samples) > 2 {
				samples = samples[:2]
			}
			errs += " (" + strings.Join(samples, "; ") + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n",
			r.scenario, r.target, r.load, r.res.rate(), ms(quantile(l, 0.5)), ms(quantile(l, 0.9)), ms(quantile(l, 0.99)), ms(quantile(l, 1)),
			added, ttfb, cpu, mem, errs, up, r.other)
	}
	if len(firsts) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "First request on a fresh store (conductor, ms):")
		var names []string
		for n := range firsts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "%s %s; ", n, ms(firsts[n]))
		}
		fmt.Fprintln(w)
	}
	if g := goals(rows, firsts); len(g) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| goal (issue 14) | measured | holds |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, l := range g {
			fmt.Fprintln(w, l)
		}
	}
}

// disturbed is the other processes' load (cores) past which a row's ratio
// is not judged.
const disturbed = 0.5

func find(rows []row, scenario, target string, open bool) *row {
	for i := range rows {
		r := &rows[i]
		if r.scenario == scenario && r.target == target && strings.HasSuffix(r.load, "/s") == open {
			return r
		}
	}
	return nil
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// goals are the ratios, from the rows of this run. A ratio read
// from a row that other processes disturbed (more than disturbed cores of
// other load) is shown but not judged.
func goals(rows []row, firsts map[string]time.Duration) []string {
	var out []string
	defer func() {
		for i, l := range out {
			if strings.Contains(l, "\x00") {
				l = strings.ReplaceAll(l, "\x00", "")
				if j := strings.LastIndex(l, "| yes |"); j >= 0 {
					l = l[:j] + "| not judged: disturbed |"
				} else if j := strings.LastIndex(l, "| **no** |"); j >= 0 {
					l = l[:j] + "| not judged: disturbed |"
				}
				out[i] = l
			}
		}
	}()
	mark := func(rs ...*row) string {
		for _, r := range rs {
			if r != nil && r.other > disturbed {
				return "\x00"
			}
		}
		return ""
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	p99 := func(r *row) time.Duration { return quantile(r.res.latencies, 0.99) }
	wholeC, wholeN := find(rows, "whole", "conductor", false), find(rows, "whole", "nginx", false)
	openC, openD := find(rows, "whole", "conductor", true), find(rows, "whole", "direct", true)
	if wholeC != nil && wholeN != nil && wholeN.cpuPerReq > 0 {
		x := float64(wholeC.cpuPerReq) / float64(wholeN.cpuPerReq)
		out = append(out, fmt.Sprintf("| CPU per proxied request ≤ 2× nginx's | %.0f / %.0f µs = %.2f× | %s |", us(wholeC.cpuPerReq), us(wholeN.cpuPerReq), x, yes(x <= 2))+mark(wholeC, wholeN))
	}
	if openC != nil && openD != nil {
		a := p99(openC) - p99(openD)
		out = append(out, fmt.Sprintf("| added p99 at %s ≤ 0.3 ms over direct | %s − %s = %s ms | %s |", openC.load, ms(p99(openC)), ms(p99(openD)), ms(a), yes(a <= 300*time.Microsecond))+mark(openC, openD))
	}
	if hit := find(rows, "cache-hit", "conductor", false); hit != nil && wholeC != nil {
		x := float64(hit.cpuPerReq) / float64(wholeC.cpuPerReq)
		out = append(out, fmt.Sprintf("| a cache hit ≤ 0.3× a proxied request's CPU | %.0f / %.0f µs = %.2f× | %s |", us(hit.cpuPerReq), us(wholeC.cpuPerReq), x, yes(x <= 0.3))+mark(hit, wholeC))
		if ho, d := find(rows, "cache-hit", "conductor", true), find(rows, "cache-hit", "direct", true); ho != nil && d != nil {
			out = append(out, fmt.Sprintf("| a cache hit's p99 no worse than direct's | %s vs %s ms | %s |", ms(p99(ho)), ms(p99(d)), yes(p99(ho) <= p99(d)))+mark(ho, d))
		}
	}
	if sc, sd := find(rows, "stream", "conductor", false), find(rows, "stream", "direct", false); sc != nil && sd != nil && sd.cpuPerReq > 0 {
		x := float64(sc.cpuPerReq) / float64(sd.cpuPerReq)
		out = append(out, fmt.Sprintf("| streams ≤ 2× direct's CPU | %.0f / %.0f µs = %.2f× | %s |", us(sc.cpuPerReq), us(sd.cpuPerReq), x, yes(x <= 2))+mark(sc, sd))
		if so, do := find(rows, "stream", "conductor", true), find(rows, "stream", "direct", true); so != nil && do != nil && len(so.res.ttfbs) > 0 && len(do.res.ttfbs) > 0 {
			a := quantile(so.res.ttfbs, 0.5) - quantile(do.res.ttfbs, 0.5)
			out = append(out, fmt.Sprintf("| stream time to first byte ≤ +0.2 ms (p50) | %s − %s = %s ms | %s |", ms(quantile(so.res.ttfbs, 0.5)), ms(quantile(do.res.ttfbs, 0.5)), ms(a), yes(a <= 200*time.Microsecond))+mark(so, do))
		}
	}
	if lc := find(rows, "limits", "conductor", false); lc != nil {
		peak := lc.mem.hwm
		if lo := find(rows, "limits", "conductor", true); lo != nil {
			peak = max(peak, lo.mem.hwm)
		}
		out = append(out, fmt.Sprintf("| RSS ≤ 40 MB under load with limits on (peak) | %s MB | %s |", mb(peak), yes(peak <= 40e6))+mark(lc))
		if wholeC != nil {
			x := float64(lc.cpuPerReq) / float64(wholeC.cpuPerReq)
			out = append(out, fmt.Sprintf("| limits on ≤ 1.3× limits off (CPU) | %.0f / %.0f µs = %.2f× | %s |", us(lc.cpuPerReq), us(wholeC.cpuPerReq), x, yes(x <= 1.3))+mark(lc, wholeC))
		}
	}
	if f, ok := firsts["whole"]; ok && openC != nil {
		out = append(out, fmt.Sprintf("| no first-request penalty (first ≤ p99 at %s) | %s vs %s ms | %s |", openC.load, ms(f), ms(p99(openC)), yes(f <= p99(openC)))+mark(openC))
	}
	return out
}

// describe is the run's header: date, machine, commit, settings.
func (e *env) describe() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	commit := e.commit
	if commit == "" {
		commit = gitCommit()
	}
	pin := "not pinned (one core)"
	if len(e.targetCPUs) > 0 {
		pin = fmt.Sprintf("each target pinned to CPU %v, the harness and the fake upstream to %v", e.targetCPUs, e.sideCPUs)
	}
	host, _ := os.Hostname()
	s := fmt.Sprintf("%s · %s (%s, %d cores, %s) · %s · commit %s · %s · request logging on",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, model, runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version(), commit, pin)
	if e.o.rate > 0 {
		s += fmt.Sprintf(" · phases of %s: open loop %d/s, closed loop %d connections", e.o.duration, e.o.rate, e.o.conns)
	}
	return s
}

// gitCommit names the tree's commit ("-dirty" with uncommitted changes).
func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown commit"
	}
	return strings.TrimSpace(string(out))
}
