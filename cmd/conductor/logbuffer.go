package main

import (
	"io"
	"sync"
	"time"
)

// logBuffer collects serve's log lines (one a request) and writes them in
// batches, at most every interval and at once when the buffer fills, so a
// request does not pay a write system call for its access-log line (about
// a tenth of a proxied request's CPU when every line was its own write).
// Lines stay whole and in order; Close writes what is left. A crash loses
// at most one interval of lines: the request log in the store is the
// durable record, these are the operator's tail -f.
type logBuffer struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	limit    int
	interval time.Duration
	armed    bool // a flush is scheduled
	timer    *time.Timer
	closed   bool
}

func newLogBuffer(w io.Writer, limit int, interval time.Duration) *logBuffer {
	b := &logBuffer{w: w, limit: limit, interval: interval, buf: make([]byte, 0, limit)}
	b.timer = time.AfterFunc(time.Hour, b.flushTimer)
	b.timer.Stop()
	return b
}

// Write takes one record (slog's handlers write each record with one call).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.interval <= 0 {
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > b.limit {
		b.flushLocked()
		if len(p) > b.limit {
			return b.w.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.interval)
	}
	return len(p), nil
}

func (b *logBuffer) flushTimer() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	// A failed write to stderr has nowhere to be reported; the lines are
	// dropped as an unbuffered write's would be.
	_, _ = b.w.Write(b.buf)
	b.buf = b.buf[:0]
}

// Close writes the buffered lines; later writes go straight through.
func (b *logBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer.Stop()
	b.armed = false
	b.flushLocked()
	b.closed = true
	return nil
}
