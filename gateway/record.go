package gateway

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// MaxMetadata is how many metadata entries a log row keeps, as
// cf-aig-metadata allows; the first in key order are kept.
const MaxMetadata = 5

// recordProvider logs every request once, as a conductor.LogRow: a whole
// answer when it returns, a stream when it ends (or fails, or is closed).
// It is the outermost wrapper, so refusals and cache hits are logged too.
// Rows go through a bounded, batched writer; the request never waits for it.
type recordProvider struct {
	g    *Gateway
	next conductor.Provider
}

func (g *Gateway) record(next conductor.Provider) conductor.Provider {
	return &recordProvider{g: g, next: next}
}

func (r *recordProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	start := time.Now()
	ci := &callInfo{provider: req.Provider, model: req.Model}
	resp, err := r.next.Chat(withInfo(ctx, ci), req)
	latency := time.Since(start)
	row := r.g.row(newID(start), &req.Options, ci, start, latency, err)
	if err == nil {
		r.g.answered(&row, &resp.Meta, ci, start, latency)
		r.g.price(&row, resp.Usage)
	}
	r.g.logs.add(row)
	return resp, err
}

// answered completes the row of a whole answer from its meta, and tells
// the answer its row: the id lets the caller score it later
// (Gateway.Score).
func (g *Gateway) answered(row *conductor.LogRow, m *conductor.ResponseMeta, ci *callInfo, start time.Time, latency time.Duration) {
	m.LogID = row.ID
	if row.Variant != "" {
		m.Variant = row.Variant
	}
	row.Cached, row.MissReason, row.Attempts, row.Step = m.Cached, m.MissReason, m.Attempts, m.Step
	if m.Routing != "" {
		row.Route = m.Routing
	}
	// The provider's TTFB counts from its attempt; earlier attempts,
	// backoff waits and failed fallback steps come before it.
	row.TTFB = latency
	if m.TTFB > 0 {
		ttfb := m.TTFB
		if !ci.lastAttempt.IsZero() {
			ttfb += ci.lastAttempt.Sub(start)
		}
		row.TTFB = min(ttfb, latency)
	}
}

func (r *recordProvider) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	start := time.Now()
	ci := &callInfo{provider: req.Provider, model: req.Model}
	s, err := r.next.Stream(withInfo(ctx, ci), req)
	id := newID(start)
	if err != nil {
		r.g.logs.add(r.g.row(id, &req.Options, ci, start, time.Since(start), err))
		return nil, err
	}
	rs := &recordStream{id: id, variant: req.Options.Variant}
	rs.usageStream = usageStream{
		Stream: s,
		input:  estimateTokens(promptBytes(req)),
		done: func(u conductor.Usage, err error) {
			latency := time.Since(start)
			row := r.g.row(id, &req.Options, ci, start, latency, err)
			m := s.Meta()
			row.Cached, row.MissReason, row.Attempts, row.Step = m.Cached, m.MissReason, m.Attempts, m.Step
			if m.Routing != "" {
				row.Route = m.Routing
			}
			row.TTFB = latency
			if !rs.first.IsZero() {
				row.TTFB = rs.first.Sub(start)
			}
			// A cut stream was generated in part and is priced so.
			r.g.price(&row, u)
			r.g.logs.add(row)
		},
	}
	return rs, nil
}

// recordStream notes when the first chunk came, for the row's TTFB, and
// tells the stream's reader which row it will be logged as.
type recordStream struct {
	usageStream
	first   time.Time
	id      string
	variant string
}

func (s *recordStream) Meta() conductor.ResponseMeta {
	m := s.usageStream.Meta()
	m.LogID = s.id
	if s.variant != "" {
		m.Variant = s.variant
	}
	return m
}

func (s *recordStream) Next() (conductor.Chunk, error) {
	ch, err := s.usageStream.Next()
	if err == nil && s.first.IsZero() {
		s.first = time.Now()
	}
	return ch, err
}

// row is the log row id of a call, chat or embedding, as far as its
// options and the call info tell it; the caller adds what the answer says.
func (g *Gateway) row(id string, o *conductor.CallOptions, ci *callInfo, start time.Time, latency time.Duration, err error) conductor.LogRow {
	env := o.Environment
	if env == "" {
		env = g.conf().Environment
	}
	row := conductor.LogRow{
		ID:          id,
		Time:        start.UTC(),
		Gateway:     g.conf().ID,
		Environment: env,
		User:        o.User,
		Key:         o.Key,
		Team:        o.Team,
		Provider:    ci.provider,
		Model:       ci.model,
		Route:       g.conf().Route,
		Variant:     o.Variant,
		Status:      200,
		Success:     err == nil,
		Cached:      ci.cached,
		MissReason:  ci.missReason,
		Attempts:    ci.attempts,
		Step:        ci.step,
		Latency:     latency,
		TTFB:        latency,
		Metadata:    keepMetadata(o.Metadata),
	}
	if err != nil {
		row.Status, row.ErrorClass = errorStatus(err)
	}
	return row
}

// price fills a row's tokens and cost. A cache hit cost nothing: it is
// logged with its answer's tokens, a cost of 0, and what the call would
// have cost at list price as what the cache saved.
func (g *Gateway) price(row *conductor.LogRow, u conductor.Usage) {
	row.InputTokens, row.OutputTokens = u.InputTokens, u.OutputTokens
	cost, known := g.prices.Cost(row.Provider, row.Model, u)
	if row.Cached {
		row.SavedNanoUSD = cost
		return
	}
	row.CostNanoUSD, row.CostFlagged = cost, !known
}

func keepMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(m), MaxMetadata))
	if len(m) <= MaxMetadata {
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys[:MaxMetadata] {
		out[k] = m[k]
	}
	return out
}

// errorStatus is the HTTP status and error class a failure is logged with:
// the provider's own status when it sent one.
func errorStatus(err error) (int, string) {
	e, ok := conductor.AsError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 499, string(conductor.ClassCanceled)
		}
		return 500, "internal"
	}
	if e.Status != 0 {
		return e.Status, string(e.Class)
	}
	status := 502
	switch e.Class {
	case conductor.ClassBadRequest:
		status = 400
	case conductor.ClassAuth:
		status = 401
	case conductor.ClassNotFound:
		status = 404
	case conductor.ClassTooLarge:
		status = 413
	case conductor.ClassRateLimited, conductor.ClassQuota, conductor.ClassLimited, conductor.ClassBudget:
		status = 429
	case conductor.ClassTimeout:
		status = 504
	case conductor.ClassCanceled:
		status = 499
	case conductor.ClassConfig:
		status = 500
	}
	return status, string(e.Class)
}

// newID is a ULID: 48 bits of milliseconds then 80 random bits, in
// Crockford base32, so ids sort by time like Cloudflare's cf-aig-log-id.
func newID(t time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	hi := uint64(t.UnixMilli())<<16 | rand.Uint64()&0xFFFF
	lo := rand.Uint64()
	var out [26]byte
	for i := range out {
		s := uint(125 - 5*i)
		var v uint64
		switch {
		case s >= 64:
			v = hi >> (s - 64)
		case s > 59:
			v = hi<<(64-s) | lo>>s
		default:
			v = lo >> s
		}
		out[i] = alphabet[v&31]
	}
	return string(out[:])
}

// logWriter writes log rows in batches, off the request path. Its queue is
// bounded: when full, rows are dropped and counted, never waited for.
type logWriter struct {
	st      conductor.LogStore
	log     *slog.Logger
	batch   int
	every   time.Duration
	dropped atomic.Int64
	warned  atomic.Int64 // unix seconds of the last drop warning

	mu     sync.RWMutex // guards closed against a send on a closed channel
	closed bool
	ch     chan conductor.LogRow
}

func newLogWriter(st conductor.LogStore, buffer, batch int, every time.Duration, log *slog.Logger) *logWriter {
	return &logWriter{st: st, log: log, batch: batch, every: every, ch: make(chan conductor.LogRow, buffer)}
}

func (w *logWriter) add(row conductor.LogRow) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.ch <- row:
			return
		default:
		}
	}
	n := w.dropped.Add(1)
	// One warning a second at most: a full queue means many drops.
	if now := time.Now().Unix(); w.warned.Swap(now) != now {
		w.log.Warn("gateway log row dropped: writer queue full or gateway closed", "dropped_total", n)
	}
}

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}

// run writes rows in batches. When the store fails, rows wait and are
// written again (every second at first, backing off to 30s) once it
// answers: the store recovers without a restart and loses nothing, as long
// as the waiting rows fit in the writer's buffer; past it the oldest are
// dropped and counted.
func (w *logWriter) run() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	limit := cap(w.ch)
	buf := make([]conductor.LogRow, 0, w.batch)
	var (
		retryAt time.Time
		backoff time.Duration
		failing bool
	)
	write := func(final bool) {
		if len(buf) == 0 || (!final && time.Now().Before(retryAt)) {
			return
		}
		for len(buf) > 0 {
			n := min(len(buf), w.batch)
			ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
			err := w.st.AppendLogs(ctx, buf[:n])
			cancel()
			if err != nil {
				backoff = min(max(2*backoff, time.Second), 30*time.Second)
				retryAt = time.Now().Add(backoff)
				if !failing {
					w.log.Warn("gateway log store write failed; rows wait and are written when it answers", "waiting", len(buf), "err", err)
				}
				failing = true
				if final {
					w.drop(len(buf), "gateway log rows lost: the store failed at close", err)
					buf = buf[:0]
				}
				return
			}
			buf = buf[:copy(buf, buf[n:])]
		}
		if failing {
			w.log.Info("gateway log store answers again; waiting rows written")
		}
		failing, backoff = false, 0
	}
	for {
		select {
		case row, ok := <-w.ch:
			if !ok {
				write(true)
				return
			}
			buf = append(buf, row)
			if over := len(buf) - limit; over > 0 {
				// The store has been failing for long: keep the newest.
				buf = buf[:copy(buf, buf[over:])]
				w.drop(over, "gateway log rows dropped: the store is failing and the waiting rows fill the buffer", nil)
			}
			if len(buf) >= w.batch {
				write(false)
			}
		case <-t.C:
			write(false)
		}
	}
}

// drop counts n lost rows, warning at most once a second.
func (w *logWriter) drop(n int, msg string, err error) {
	total := w.dropped.Add(int64(n))
	if now := time.Now().Unix(); w.warned.Swap(now) != now {
		if err != nil {
			w.log.Warn(msg, "rows", n, "dropped_total", total, "err", err)
		} else {
			w.log.Warn(msg, "rows", n, "dropped_total", total)
		}
	}
}
