// Package sqlite is the embedded conductor.Store: one SQLite file (pure Go,
// modernc.org/sqlite) holding the response cache, the rate and spend
// counters and the request log. It is the default store: zero setup, and a
// cache that survives restarts.
//
// Several goroutines and several processes may share one file. The file is
// in WAL mode so readers never wait for the writer; every cache and log
// write runs in one BEGIN IMMEDIATE transaction, and a busy timeout makes a
// process wait for another's lock instead of failing.
//
// The rate and spend counters are not changed by SQLite transactions (each
// costs 80–400 µs of CPU): they live in memory in every process and change
// through a journal beside the file, PATH-counters, one appended record per
// step under the journal's file lock; the tables hold the last checkpoint.
// Decisions are as exact across processes and records as durable (kill -9)
// as the transactions were; journal.go says how.
//
// The store keeps exactly what it is given. Callers must not hand it
// secrets: cache keys are hashes, and log rows and metadata are written as
// they come.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	conductor "github.com/conductor-go/conductor"
)

// DefaultMaxCacheBytes bounds the cache when Open is given no
// WithMaxCacheBytes.
const DefaultMaxCacheBytes int64 = 256 << 20

// busyTimeout is how long SQLite itself waits for another process's lock
// before reporting SQLITE_BUSY. Its waiting is unfair (a waiter polls
// while others may take the lock in between) and deaf to ctx, so it is
// kept short and writeTx retries on top of it.
const busyTimeout = 250 * time.Millisecond

// lockWait bounds writeTx's retries for the write lock when ctx sets no
// earlier deadline. Write transactions take well under a millisecond, so
// this only runs out when another process holds the lock and hangs.
const lockWait = time.Minute

// mmapBytes is how much of the file readers map instead of read: a cache
// hit then costs no read system call, and every connection shares the
// operating system's copy of the pages.
const mmapBytes = 1 << 30

// touchFlushAt is how many pending cache access times trigger a flush in
// the background; below it they wait for the next PutCache.
const touchFlushAt = 1024

// Store is a conductor.Store in one SQLite file.
type Store struct {
	path     string
	rd       *sql.DB // readers: many connections, never in a write transaction
	wr       *sql.DB // the one writer connection of this process
	maxBytes int64
	now      func() time.Time
	log      *slog.Logger

	getCache *sql.Stmt // on the request path: prepared once

	// frontMu guards front, the hot entries kept in memory (front.go).
	frontMu  sync.Mutex
	front    *front
	hotBytes int64

	// stmts holds the writer's hot statements (preparedQueries), prepared
	// at Open while the one writer connection is free; read-only after.
	stmts map[string]*sql.Stmt

	// touches holds cache hits' access times not yet written: a hit must
	// not wait on a disk write, so LRU order is brought up to date in
	// batches (before each eviction, and in the background when many are
	// pending).
	touchMu  sync.Mutex
	touches  map[string]int64
	flushing bool
	bg       sync.WaitGroup

	// The counters: in memory, changed through the journal (journal.go).
	// jmu serialises this process's steps; the journal's file lock
	// serialises the processes'.
	jmu          sync.Mutex
	j            *journal
	c            *counters
	prefix, seq  uint64 // the next reservation id is prefix, seq+1
	journalLimit int64
	ckpt         chan struct{} // asks for a checkpoint
	ckptStop     chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ conductor.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithMaxCacheBytes bounds the cache's size (keys plus values); the least
// recently used entries are evicted past it. n <= 0 keeps the default.
func WithMaxCacheBytes(n int64) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxBytes = n
		}
	}
}

// WithHotCacheBytes bounds the in-process front of hot cache entries
// (keys plus values) that serves hits without a SQLite read; n < 0 turns
// it off, 0 keeps the default (DefaultHotCacheBytes). It never holds more
// than the cache's own bound.
func WithHotCacheBytes(n int64) Option {
	return func(s *Store) {
		switch {
		case n < 0:
			s.hotBytes = 0
		case n > 0:
			s.hotBytes = n
		}
	}
}

// WithClock sets the clock used where the interface passes no time: a
// cache entry's access time when it has no CreatedAt, Once's expiry check,
// and Stats' default Until.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets the logger for background work (access-time flushes).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// withJournalLimit sets the journal size that triggers a checkpoint
// (tests make it tiny, so that checkpoints run all the time).
func withJournalLimit(n int64) Option { return func(s *Store) { s.journalLimit = n } }

// Open opens the store at path, creating the file, its directory and its
// schema when needed, and migrating an older schema.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite store: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		// The driver reads everything after '?' as its own parameters.
		return nil, fmt.Errorf("sqlite store: path %q must not contain '?' or '#'", path)
	}
	s := &Store{
		path:     path,
		maxBytes: DefaultMaxCacheBytes,
		hotBytes: DefaultHotCacheBytes,
		now:      time.Now,
		log:      slog.Default(),
		touches:  make(map[string]int64),
		stmts:    make(map[string]*sql.Stmt),

		journalLimit: journalLimit,
		ckpt:         make(chan struct{}, 1),
		ckptStop:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite store: create directory: %w", err)
		}
	}
	params := fmt.Sprintf("_busy_timeout=%d&_journal_mode=WAL&_synchronous=NORMAL&_pragma=mmap_size(%d)", busyTimeout.Milliseconds(), mmapBytes)
	var err error
	// The writer is opened first: it creates the file and switches it to
	// WAL before any reader connects.
	if s.wr, err = sql.Open("sqlite", path+"?"+params+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	// One writer connection per process: writers queue in database/sql
	// instead of spinning on SQLITE_BUSY against each other; other
	// processes are held off by the file lock (see begin).
	s.wr.SetMaxOpenConns(1)
	s.wr.SetConnMaxLifetime(0)
	s.wr.SetConnMaxIdleTime(0)
	if err := s.useIncrementalVacuum(ctx); err != nil {
		s.wr.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.wr.Close()
		return nil, err
	}
	for _, q := range preparedQueries() {
		st, err := s.wr.PrepareContext(ctx, q)
		if err != nil {
			s.closeStmts()
			s.wr.Close()
			return nil, fmt.Errorf("sqlite store: prepare: %w", err)
		}
		s.stmts[q] = st
	}
	if s.rd, err = sql.Open("sqlite", path+"?"+params+"&_query_only=1"); err != nil {
		s.closeStmts()
		s.wr.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	s.rd.SetMaxOpenConns(8)
	s.rd.SetMaxIdleConns(8)
	s.rd.SetConnMaxIdleTime(0)
	s.getCache, err = s.rd.PrepareContext(ctx,
		`SELECT scope, provider, model, value, created_at, expires_at FROM cache WHERE key = ?`)
	if err != nil {
		s.rd.Close()
		s.closeStmts()
		s.wr.Close()
		return nil, fmt.Errorf("sqlite store: prepare: %w", err)
	}
	var cg *cacheGen
	if cg, err = openCacheGen(path); err == nil {
		s.front = newFront(min(s.hotBytes, s.maxBytes), cg)
		if s.prefix, err = newPrefix(); err == nil {
			err = s.openJournal(ctx)
		}
		if err != nil {
			s.closeFront()
		}
	}
	if err != nil {
		s.getCache.Close()
		s.rd.Close()
		s.closeStmts()
		s.wr.Close()
		return nil, err
	}
	s.bg.Add(1)
	go s.checkpointLoop()
	return s, nil
}

func (s *Store) closeStmts() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close writes pending cache access times, checkpoints the counters into
// the file's tables and closes the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.ckptStop)
		s.bg.Wait()
		var errs []error
		if err := s.flushTouches(context.Background()); err != nil {
			errs = append(errs, err)
		}
		if err := s.checkpoint(context.Background(), 0); err != nil {
			errs = append(errs, err)
		}
		s.jmu.Lock()
		errs = append(errs, s.j.f.Close())
		s.j = nil
		s.jmu.Unlock()
		errs = append(errs, s.closeFront(), s.getCache.Close(), s.closeStmts(), s.rd.Close(), s.wr.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Prune deletes what can no longer count at now: expired cache entries,
// rate windows and events that left their window, budgets past their reset
// with their reservations, and expired Once keys. The log is pruned
// separately (PruneLogs) because its retention is a setting.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	_, err := s.PruneCache(ctx, now) // counters included
	return err
}

// wtx is a write transaction whose statements come from the store's
// prepared ones.
type wtx struct {
	tx  *sql.Tx
	s   *Store
	ctx context.Context
}

// stmt returns q bound to the transaction when it is one of the prepared
// statements, or nil (the caller then runs q unprepared).
func (w wtx) stmt(q string) *sql.Stmt {
	st := w.s.stmts[q]
	if st == nil {
		return nil
	}
	// The writer has one connection, the one the transaction holds, so the
	// statement prepared at Open is reused rather than prepared again.
	return w.tx.StmtContext(w.ctx, st)
}

func (w wtx) exec(q string, args ...any) (sql.Result, error) {
	if st := w.stmt(q); st != nil {
		return st.ExecContext(w.ctx, args...)
	}
	return w.tx.ExecContext(w.ctx, q, args...)
}

func (w wtx) queryRow(q string, args ...any) *sql.Row {
	if st := w.stmt(q); st != nil {
		return st.QueryRowContext(w.ctx, args...)
	}
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

func (w wtx) query(q string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(q); st != nil {
		return st.QueryContext(w.ctx, args...)
	}
	return w.tx.QueryContext(w.ctx, q, args...)
}

// writeTx runs fn in one BEGIN IMMEDIATE transaction on the writer.
func (s *Store) writeTx(ctx context.Context, what string, fn func(tx wtx) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite store: %s: begin: %w", what, err)
	}
	if err := fn(wtx{tx: tx, s: s, ctx: ctx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: %s: commit: %w", what, err)
	}
	return nil
}

// begin starts a write transaction, waiting for another process's write
// lock as long as ctx allows (at most lockWait). BEGIN IMMEDIATE takes the
// lock up front, so SQLITE_BUSY can only come from here, never halfway
// through a transaction.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	deadline := time.Now().Add(lockWait)
	backoff := time.Millisecond
	for {
		tx, err := s.wr.BeginTx(ctx, nil)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return tx, err
		}
		// Jitter keeps waiting processes from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// nanos stores a time as Unix nanoseconds, the zero time as 0 ("never").
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
