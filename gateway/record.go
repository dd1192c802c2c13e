package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// MaxMetadata is how many metadata entries a log row keeps, as
// cf-aig-metadata allows; the first in key order are kept.
const MaxMetadata = 5

// recordProvider logs every request once, as a conductor.LogRow: a whole
// answer when it returns, a stream when it ends (or fails, or is closed).
// It is the outermost wrapper, so refusals and cache hits are logged too.
// Rows go through a bounded, group-committing writer; the request waits
// for it only when the log's durability is sync.
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
	total := r.g.callTotal(&req.Options)
	tctx, cancel := total.within(ctx)
	resp, err := r.next.Chat(withInfo(tctx, ci), req)
	err = total.past(ctx, tctx, req.Provider, err)
	cancel()
	latency := time.Since(start)
	row := r.g.row(newID(start), &req.Options, ci, start, latency, err)
	if err == nil {
		r.g.answered(&row, &resp.Meta, ci, start, latency)
		r.g.price(&row, resp.Usage)
	}
	if lerr := r.g.logRow(ctx, row); lerr != nil && err == nil {
		return nil, lerr
	}
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
	total := r.g.callTotal(&req.Options)
	tctx, cancel := total.within(ctx)
	s, err := r.next.Stream(withInfo(tctx, ci), req)
	id := newID(start)
	if err != nil {
		err = total.past(ctx, tctx, req.Provider, err)
		cancel()
		_ = r.g.logRow(ctx, r.g.row(id, &req.Options, ci, start, time.Since(start), err))
		return nil, err
	}
	rs := &recordStream{id: id, variant: req.Options.Variant}
	rs.usageStream = usageStream{
		Stream: &totalStream{Stream: s, t: total, ctx: ctx, tctx: tctx, cancel: cancel, provider: req.Provider},
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
			// A sync row's failure replaces the stream's end (Next).
			rs.logErr = r.g.logRow(ctx, row)
		},
	}
	return rs, nil
}

// The causes of a call, and of one route's part of it, that ran past
// their total deadline.
var (
	errTotal      = errors.New("the call exceeded its total deadline")
	errRouteTotal = errors.New("the route exceeded its total deadline")
)

// totalDeadline is one total deadline: its length (≤ 0: none) and the
// cause its expiry carries.
type totalDeadline struct {
	d     time.Duration
	cause error
}

// callTotal is a call's total deadline: its own (conductor-total-timeout)
// or the gateway's.
func (g *Gateway) callTotal(o *conductor.CallOptions) totalDeadline {
	d := g.conf().Retry.TotalTimeout
	if o.TotalTimeout > 0 {
		d = o.TotalTimeout
	}
	return totalDeadline{d: d, cause: errTotal}
}

// within bounds ctx by the deadline (none when off).
func (t totalDeadline) within(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.d > 0 {
		return context.WithTimeoutCause(ctx, t.d, t.cause)
	}
	return ctx, func() {}
}

// past is err as the caller must see it: a timeout (504) when the
// deadline cut the call, whatever the inner layers made of the canceled
// context; err unchanged otherwise. A route's timeout falls back like
// any other; it is not retried (its time is spent).
func (t totalDeadline) past(ctx, tctx context.Context, provider string, err error) error {
	if err == nil || ctx.Err() != nil || !errors.Is(context.Cause(tctx), t.cause) {
		return err
	}
	return &conductor.Error{Provider: provider, Class: conductor.ClassTimeout, Status: 504,
		Message: fmt.Sprintf("%v of %v", t.cause, t.d), Err: err}
}

// totalStream holds a stream to a total deadline: a failure after it
// passed is a timeout, and closing the stream releases the timer.
type totalStream struct {
	conductor.Stream
	t         totalDeadline
	ctx, tctx context.Context
	cancel    context.CancelFunc
	provider  string
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *totalStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *totalStream) Next() (conductor.Chunk, error) {
	ch, err := s.Stream.Next()
	if err != nil && err != io.EOF {
		err = s.t.past(s.ctx, s.tctx, s.provider, err)
	}
	return ch, err
}

func (s *totalStream) Close() error {
	err := s.Stream.Close()
	s.cancel()
	return err
}

// recordStream notes when the first chunk came, for the row's TTFB, and
// tells the stream's reader which row it will be logged as.
type recordStream struct {
	usageStream
	first   time.Time
	id      string
	variant string
	logErr  error // the row could not be committed (sync durability)
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
	if err == io.EOF && s.logErr != nil {
		// The end is the acknowledgement: sync durability holds it back
		// when the row was not committed.
		return ch, s.logErr
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
		Deployment:  ci.deployment,
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

// Log durabilities (Config.LogDurability).
const (
	// DurabilityAsync answers without waiting for the row: a crash loses
	// the rows acknowledged while the writer's transaction was in flight.
	DurabilityAsync = "async"
	// DurabilitySync answers only after the call's row is committed.
	DurabilitySync = "sync"
)

// logRow hands a finished call's row to the writer: queued (async), or
// committed before it returns (sync). In sync mode a row that cannot be
// committed is an error for the caller, since the answer would otherwise
// be acknowledged without its row; the row itself stays queued and is
// written when the store answers again (the upstream call did happen).
func (g *Gateway) logRow(ctx context.Context, row conductor.LogRow) error {
	if g.conf().LogDurability != DurabilitySync || ctx.Err() != nil {
		// Async, or nobody waits for the answer any more.
		g.logs.add(row)
		return nil
	}
	err := g.logs.commit(ctx, row)
	if err == nil || ctx.Err() != nil {
		return nil
	}
	g.log.Warn("gateway log row not committed; the call fails (log durability is sync)", "err", err)
	return &conductor.Error{Class: conductor.ClassServer, Status: 503, Code: "log_unavailable",
		Message: "the request log could not commit this call's row (log durability is sync)", Err: err}
}

// logItem is one row for the writer; done, for a sync row, is told when
// the row's transaction committed (nil) or failed.
type logItem struct {
	row  conductor.LogRow
	done chan error
}

// logWriter writes log rows off the request path with group commit: as
// soon as it is free it writes, in one transaction, every row that arrived
// while it was busy (at most batch); holding async rows only, it first
// waits up to linger (10 ms) for more, since a commit costs about as much
// for one row as for dozens. A crash then loses at most the rows of the
// transaction in flight and those queued or lingering behind it —
// milliseconds of traffic, not a flush interval's. Its queue is bounded: when full,
// async rows are dropped and counted, never waited for; sync rows wait.
type logWriter struct {
	st    conductor.LogStore
	log   *slog.Logger
	batch int
	// linger is how long a free writer holding only async rows waits for
	// more to share the transaction (Config.LogLinger); 0: none.
	linger time.Duration
	drops  dropCounter

	mu     sync.RWMutex // guards closed against a send on a closed channel
	closed bool
	ch     chan logItem
}

func newLogWriter(st conductor.LogStore, buffer, batch int, log *slog.Logger) *logWriter {
	return &logWriter{st: st, log: log, batch: batch, ch: make(chan logItem, buffer)}
}

func (w *logWriter) add(row conductor.LogRow) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.ch <- logItem{row: row}:
			return
		default:
		}
	}
	w.drop(1, "gateway log row dropped: writer queue full or gateway closed", nil)
}

// errLogClosed refuses a sync row after Close.
var errLogClosed = errors.New("gateway log writer closed")

// commit queues row, waiting for room, and returns once its transaction
// committed, with the store's error, or with ctx's (the row then stays
// queued).
func (w *logWriter) commit(ctx context.Context, row conductor.LogRow) error {
	done := make(chan error, 1)
	if err := w.put(ctx, logItem{row: row, done: done}); err != nil {
		w.drop(1, "gateway log row dropped: "+err.Error(), nil)
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *logWriter) put(ctx context.Context, it logItem) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return errLogClosed
	}
	select {
	case w.ch <- it:
		return nil
	default:
	}
	// Holding the read lock while waiting is safe: run drains the queue
	// without it, and close waits for the room to be taken.
	select {
	case w.ch <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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

// run writes rows as they come, grouping those that queued up during the
// previous transaction. When the store fails, rows wait and are written
// again (after a second at first, backing off to 30s) once it answers:
// the store recovers without a restart and loses nothing, as long as the
// waiting rows fit in the writer's buffer; past it the oldest are dropped
// and counted. Sync rows are told of the failure at once rather than kept
// waiting for the retry.
func (w *logWriter) run() {
	limit := cap(w.ch)
	buf := make([]logItem, 0, w.batch)
	var (
		retry   = time.NewTimer(0)
		retryC  <-chan time.Time // armed while failing
		backoff time.Duration
		lastErr error // the store's error while failing
		closed  bool
	)
	<-retry.C
	defer retry.Stop()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	take := func(it logItem) {
		if lastErr != nil && it.done != nil {
			it.done <- lastErr
			it.done = nil
		}
		buf = append(buf, it)
		if over := len(buf) - limit; over > 0 {
			// The store has been failing for long: keep the newest.
			tell(buf[:over], errLogOverflow)
			buf = buf[:copy(buf, buf[over:])]
			w.drop(over, "gateway log rows dropped: the store is failing and the waiting rows fill the buffer", nil)
		}
	}
	// write commits the waiting rows, batch by batch; false when the store
	// failed (the rows stay, unless this is the final write).
	write := func() bool {
		for len(buf) > 0 {
			n := min(len(buf), w.batch)
			rows := make([]conductor.LogRow, n)
			for i := range rows {
				rows[i] = buf[i].row
			}
			ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
			err := w.st.AppendLogs(ctx, rows)
			cancel()
			if err != nil {
				tell(buf, err)
				if lastErr == nil {
					w.log.Warn("gateway log store write failed; rows wait and are written when it answers", "waiting", len(buf), "err", err)
				}
				lastErr = err
				backoff = min(max(2*backoff, time.Second), 30*time.Second)
				return false
			}
			tell(buf[:n], nil)
			buf = buf[:copy(buf, buf[n:])]
		}
		if lastErr != nil {
			w.log.Info("gateway log store answers again; waiting rows written")
		}
		lastErr, backoff = nil, 0
		return true
	}
	for {
		if closed {
			if !write() {
				w.drop(len(buf), "gateway log rows lost: the store failed at close", lastErr)
			}
			return
		}
		if len(buf) == 0 || lastErr != nil {
			// Nothing to write, or waiting for the retry: block.
			select {
			case it, ok := <-w.ch:
				if !ok {
					closed = true
					continue
				}
				take(it)
			case <-retryC:
				retryC = nil
				lastErr = nil // try again; failing rows are told again
			}
		}
		// Group commit: whatever queued up meanwhile joins this transaction.
	drain:
		for len(buf) < w.batch {
			select {
			case it, ok := <-w.ch:
				if !ok {
					closed = true
					break drain
				}
				take(it)
			default:
				break drain
			}
		}
		if lastErr != nil {
			continue
		}
		// Linger: a commit costs the same for one row as for dozens, so
		// async rows wait a little for company; a sync row is waited for
		// by its caller and goes at once.
		if w.linger > 0 && !closed && len(buf) < w.batch && !anySync(buf) {
			linger.Reset(w.linger)
		wait:
			for len(buf) < w.batch {
				select {
				case it, ok := <-w.ch:
					if !ok {
						closed = true
						break wait
					}
					take(it)
					if it.done != nil {
						break wait
					}
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		if !write() && !closed {
			retry.Reset(backoff)
			retryC = retry.C
		}
	}
}

func anySync(items []logItem) bool {
	for i := range items {
		if items[i].done != nil {
			return true
		}
	}
	return false
}

var errLogOverflow = errors.New("gateway log row dropped: the store is failing and the writer's buffer is full")

// tell answers the sync rows among items, once.
func tell(items []logItem, err error) {
	for i := range items {
		if items[i].done != nil {
			items[i].done <- err
			items[i].done = nil
		}
	}
}

// drop counts n lost rows, warning at most once per DropWarnEvery.
func (w *logWriter) drop(n int, msg string, err error) {
	if err != nil {
		w.drops.add(int64(n), w.log, msg, "err", err)
		return
	}
	w.drops.add(int64(n), w.log, msg)
}
