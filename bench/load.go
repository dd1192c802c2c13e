package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// call is one request a load phase sends, over and over.
type call struct {
	url    string
	body   []byte
	header http.Header
	// want is a byte string every successful answer holds (a 200 without
	// it is counted as an error: a truncated or wrong answer).
	want []byte
}

// phase is one load pattern: open loop at a fixed rate, or closed loop
// with a fixed number of connections each sending as fast as answered.
type phase struct {
	rate  int // requests per second; 0: closed loop
	conns int // closed loop's connections (and the open loop's idle pool)
	// inflight bounds the open loop's requests in flight (default 1024):
	// a stalled target makes the achieved rate fall, shown in the table,
	// instead of opening connections until the harness runs out of files.
	inflight int
	duration time.Duration
	ttfb     bool // record the time to the first byte of the body
}

func (p phase) String() string {
	if p.rate > 0 {
		return fmt.Sprintf("%d/s", p.rate)
	}
	return fmt.Sprintf("%d conns", p.conns)
}

// loadResult is what one phase measured at the client.
type loadResult struct {
	requests, errors int
	errorSamples     map[string]int
	elapsed          time.Duration
	latencies        []time.Duration // sorted
	ttfbs            []time.Duration // sorted
}

func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ttfbRecorder is a RoundTripper that notes when the first byte of each
// answer's body arrives.
type ttfbRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	got  []time.Duration
}

func (t *ttfbRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &firstByte{ReadCloser: resp.Body, start: start, rec: t}
	return resp, nil
}

type firstByte struct {
	io.ReadCloser
	start time.Time
	rec   *ttfbRecorder
	seen  bool
}

func (f *firstByte) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.seen {
		f.seen = true
		d := time.Since(f.start)
		f.rec.mu.Lock()
		f.rec.got = append(f.rec.got, d)
		f.rec.mu.Unlock()
	}
	return n, err
}

func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// attack runs one phase against c and reads every answer whole.
func attack(ctx context.Context, c call, p phase) loadResult {
	conns := max(p.conns, 64)
	tr := newTransport(conns)
	defer tr.CloseIdleConnections()
	var rt http.RoundTripper = tr
	var rec *ttfbRecorder
	if p.ttfb {
		rec = &ttfbRecorder{next: tr}
		rt = rec
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Client(&http.Client{Transport: rt, Timeout: 60 * time.Second}),
		vegeta.MaxBody(-1),
	}
	pacer := vegeta.Pacer(vegeta.ConstantPacer{Freq: p.rate, Per: time.Second})
	if p.rate <= 0 {
		opts = append(opts, vegeta.Workers(uint64(p.conns)), vegeta.MaxWorkers(uint64(p.conns)))
		pacer = vegeta.ConstantPacer{} // as fast as the workers are answered
	} else {
		inflight := p.inflight
		if inflight <= 0 {
			inflight = 1024
		}
		opts = append(opts, vegeta.Workers(16), vegeta.MaxWorkers(uint64(inflight)))
	}
	atk := vegeta.NewAttacker(opts...)
	tgt := vegeta.Target{Method: http.MethodPost, URL: c.url, Body: c.body, Header: c.header.Clone()}
	if tgt.Header == nil {
		tgt.Header = http.Header{}
	}
	if tgt.Header.Get("Content-Type") == "" {
		tgt.Header.Set("Content-Type", "application/json")
	}
	res := loadResult{errorSamples: map[string]int{}}
	start := time.Now()
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for r := range atk.Attack(vegeta.NewStaticTargeter(tgt), pacer, p.duration, "") {
		res.requests++
		res.latencies = append(res.latencies, r.Latency)
		switch {
		case r.Error != "":
			res.errors++
			res.errorSamples[trimErr(r.Error, r.Body)]++
		case len(c.want) > 0 && !bytes.Contains(r.Body, c.want):
			res.errors++
			res.errorSamples[trimErr("answer without "+string(c.want), r.Body)]++
		}
	}
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	if rec != nil {
		rec.mu.Lock()
		res.ttfbs = rec.got
		rec.mu.Unlock()
		sort.Slice(res.ttfbs, func(i, j int) bool { return res.ttfbs[i] < res.ttfbs[j] })
	}
	return res
}

func trimErr(e string, body []byte) string {
	if len(body) > 0 {
		b := body
		if len(b) > 160 {
			b = b[:160]
		}
		e += ": " + string(b)
	}
	return e
}

// one sends c once and returns its latency and the answer.
func one(ctx context.Context, client *http.Client, c call) (time.Duration, *http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return d, resp, body, err
	}
	if resp.StatusCode != http.StatusOK {
		return d, resp, body, fmt.Errorf("status %d: %s", resp.StatusCode, trimErr("", body))
	}
	if len(c.want) > 0 && !bytes.Contains(body, c.want) {
		return d, resp, body, fmt.Errorf("answer without %q: %s", c.want, trimErr("", body))
	}
	return d, resp, body, nil
}
