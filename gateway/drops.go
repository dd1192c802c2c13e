package gateway

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DropWarnEvery bounds the warnings about dropped work: under load a full
// queue drops thousands of writes a second, and one line a minute saying
// how many tells as much as thousands of lines.
const DropWarnEvery = time.Minute

// dropCounter counts work dropped instead of waited for (cache writes, log
// rows, alert webhooks) and warns at most once per DropWarnEvery with the
// count since the last warning; Close reports what is left.
type dropCounter struct {
	total atomic.Int64

	mu     sync.Mutex
	warned time.Time // the last warning; zero: none yet
	since  int64     // drops not yet reported
}

// add counts n drops, warning with msg and args when no warning was given
// in the last DropWarnEvery.
func (d *dropCounter) add(n int64, log *slog.Logger, msg string, args ...any) {
	total := d.total.Add(n)
	d.mu.Lock()
	d.since += n
	now := time.Now()
	if !d.warned.IsZero() && now.Sub(d.warned) < DropWarnEvery {
		d.mu.Unlock()
		return
	}
	since := d.since
	d.since, d.warned = 0, now
	d.mu.Unlock()
	log.Warn(msg, append(args, "dropped", since, "dropped_total", total)...)
}

// flush warns about drops not reported yet.
func (d *dropCounter) flush(log *slog.Logger, msg string) {
	d.mu.Lock()
	since := d.since
	d.since = 0
	d.mu.Unlock()
	if since > 0 {
		log.Warn(msg, "dropped", since, "dropped_total", d.total.Load())
	}
}

// Drops counts what a gateway dropped rather than let a request wait: the
// answers were served all the same.
type Drops struct {
	CacheWrites int64 // answers not cached: the write queue was full
	LogRows     int64 // request-log rows lost: queue full, or the store failing for long
	Alerts      int64 // alert webhooks not sent: their queue was full
}

// Drops reports the gateway's drops since it started.
func (g *Gateway) Drops() Drops {
	return Drops{CacheWrites: g.cacheDrops.total.Load(), LogRows: g.logs.drops.total.Load(), Alerts: g.alertDrops.total.Load()}
}

// Drops reports the drops of every gateway the set started, by id.
func (s *Set) Drops() map[string]Drops {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Drops, len(s.m))
	for id, g := range s.m {
		out[id] = g.Drops()
	}
	return out
}
