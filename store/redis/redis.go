// Package redis keeps a gateway's cache and counters in Redis, shared by
// every conductor process that points at the same server: cached answers
// (whole bodies and streams' chunks) with their TTLs under a size bound,
// rate-limit windows, spend budgets with their reservations and
// settlements, alert "once" marks, and the flights that let identical
// requests on different processes share one upstream call.
//
// Every step is one round trip: a Lua script makes a request's rate-limit
// takes (all or nothing), another its reservation in every budget, a
// third its settlement with its token counts; scripts run atomically in
// Redis, so the limits are exact across processes. Amounts are compared as
// decimal strings inside the scripts, never as Lua's floating-point
// numbers, so nano-USD budgets are exact to the unit.
//
// All keys start with "{PREFIX}:" (one Redis Cluster hash slot: the
// scripts touch keys they find in other keys, such as a reservation's
// budgets). Times the interface passes explicitly decide windows and
// expiry; Redis's own expiry (relative, from those times) only reclaims
// memory, a grace period after a key can no longer count.
//
// The package registers nothing globally; Open returns a store to pass
// around.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	conductor "github.com/conductor-go/conductor"
)

// DefaultPrefix is the key prefix when Open is given none.
const DefaultPrefix = "conductor"

// DefaultMaxCacheBytes bounds the cache when Open is given no
// WithMaxCacheBytes.
const DefaultMaxCacheBytes int64 = 256 << 20

// grace is how long Redis keeps a key after it can no longer count: an
// expired cache entry stays readable as "expired" (the MISS reason) that
// long, and clocks a little apart do not lose a window.
const grace = time.Hour

// touchFlushAt is how many pending cache access times trigger a flush.
const touchFlushAt = 1024

// Store is the Redis cache and counter store. It is a conductor.CacheStore,
// a conductor.CounterStore and a conductor.FlightStore; the request log
// lives elsewhere (PostgreSQL).
type Store struct {
	c        *goredis.Client
	p        string // "{prefix}:"
	maxBytes int64
	now      func() time.Time
	log      *slog.Logger

	touchMu  sync.Mutex
	touches  map[string]int64 // key → access time (µs) not yet written
	flushing bool
	bg       sync.WaitGroup
	stop     chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var (
	_ conductor.CacheStore   = (*Store)(nil)
	_ conductor.CounterStore = (*Store)(nil)
	_ conductor.FlightStore  = (*Store)(nil)
)

// Option configures Open.
type Option func(*Store)

// WithPrefix sets the key prefix (default "conductor"): stores with
// different prefixes on one server share nothing.
func WithPrefix(p string) Option {
	return func(s *Store) {
		if p != "" {
			s.p = "{" + p + "}:"
		}
	}
}

// WithMaxCacheBytes bounds the cache (keys plus values); the least
// recently used entries are evicted past it.
func WithMaxCacheBytes(n int64) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxBytes = n
		}
	}
}

// WithClock sets the clock used where the interface passes no time (Once,
// an entry's access time when it has no CreatedAt).
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets the logger for background work.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// Open connects to the Redis server at rawURL (redis://[user:password@]host:port/db
// or rediss:// for TLS) and checks that it answers. Errors name the URL
// without its password.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis store: %s: %w", Redact(rawURL), err)
	}
	s := &Store{
		p:        "{" + DefaultPrefix + "}:",
		maxBytes: DefaultMaxCacheBytes,
		now:      time.Now,
		log:      slog.Default(),
		touches:  map[string]int64{},
		stop:     make(chan struct{}),
	}
	for _, opt := range opts {
		opt(s)
	}
	// A dead server must fail a call quickly: limits then fail closed and
	// the cache open, instead of holding requests.
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	o.MaxRetries = 1
	s.c = goredis.NewClient(o)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("redis store: cannot reach %s: %w", Redact(rawURL), err)
	}
	s.bg.Add(1)
	go s.flushLoop()
	return s, nil
}

// Redact returns rawURL without its password, for errors and logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Client returns the underlying client (tests, doctor).
func (s *Store) Client() *goredis.Client { return s.c }

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// Close writes pending cache access times and closes the connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.bg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.flushTouches(ctx)
		s.closeErr = errors.Join(err, s.c.Close())
	})
	return s.closeErr
}

func (s *Store) flushLoop() {
	defer s.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.flushTouches(ctx); err != nil {
				s.log.Debug("redis store: writing cache access times", "err", err)
			}
			cancel()
		}
	}
}

// key builds a key under the prefix.
func (s *Store) key(parts ...string) string {
	n := len(s.p)
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, s.p...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return string(b)
}

// micros is a time as Unix microseconds (Redis sorted-set scores are
// doubles: exact to the microsecond for centuries), 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// ms is a positive duration in whole milliseconds, at least 1.
func ms(d time.Duration) string {
	return itoa(max(int64(d/time.Millisecond), 1))
}

// wrap names the store in an error.
func wrap(what string, err error) error {
	return fmt.Errorf("redis store: %s: %w", what, err)
}

// RouteClientLog sends the Redis client library's own messages (it prints
// every failed dial to stderr) to l at debug level: failures reach the
// gateway's log as its own warnings already. The library keeps one logger
// per process, so this is the command's call, not Open's.
func RouteClientLog(l *slog.Logger) { goredis.SetLogger(clientLog{l}) }

type clientLog struct{ l *slog.Logger }

func (c clientLog) Printf(ctx context.Context, format string, v ...any) {
	c.l.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
