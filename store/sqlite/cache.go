package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// entrySize is what an entry counts against the size bound.
func entrySize(e *conductor.CacheEntry) int64 { return int64(len(e.Key) + len(e.Value)) }

// GetCache returns the live entry for key: from the front of hot entries
// when it holds key at the current cache generation (front.go), else by
// one indexed point query on a prepared statement. The hit's access time
// is remembered in memory and written later in a batch, so a hit never
// waits on a write.
func (s *Store) GetCache(ctx context.Context, key string, now time.Time) (conductor.CacheEntry, bool, bool, error) {
	at := now.UnixNano()
	s.frontMu.Lock()
	var gen uint64
	if s.front.cg != nil {
		gen = s.front.syncGen()
		if fe, ok := s.front.get(key); ok {
			e := fe.e
			s.frontMu.Unlock()
			if fe.expires != 0 && at >= fe.expires {
				return conductor.CacheEntry{}, false, true, nil
			}
			// The caller owns the value it is given, as with a SQLite read.
			e.Value = append(make([]byte, 0, len(e.Value)), e.Value...)
			s.touch(key, at)
			return e, true, false, nil
		}
	}
	s.frontMu.Unlock()
	var (
		e                conductor.CacheEntry
		created, expires int64
	)
	// A point read in WAL mode waits on no writer, so it goes without the
	// caller's cancellation: with a cancellable context the driver starts a
	// watcher goroutine and a progress handler for every statement, which
	// cost a cache hit more than the read itself.
	err := s.getCache.QueryRowContext(context.WithoutCancel(ctx), key).Scan(&e.Scope, &e.Provider, &e.Model, &e.Value, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return conductor.CacheEntry{}, false, false, nil
	}
	if err != nil {
		return conductor.CacheEntry{}, false, false, fmt.Errorf("sqlite store: get cache: %w", err)
	}
	if expires != 0 && at >= expires {
		return conductor.CacheEntry{}, false, true, nil
	}
	e.Key = key
	e.CreatedAt = fromNanos(created)
	e.ExpiresAt = fromNanos(expires)
	if s.front.max > 0 {
		fe := &frontEntry{e: e, created: created, expires: expires, size: entrySize(&e)}
		fe.e.Value = append(make([]byte, 0, len(e.Value)), e.Value...)
		s.frontMu.Lock()
		s.front.add(gen, fe)
		s.frontMu.Unlock()
	}
	s.touch(key, at)
	return e, true, false, nil
}

// touch records a hit's access time for the next batch.
func (s *Store) touch(key string, at int64) {
	s.touchMu.Lock()
	if at > s.touches[key] {
		s.touches[key] = at
	}
	start := len(s.touches) >= touchFlushAt && !s.flushing
	if start {
		s.flushing = true
		s.bg.Add(1)
	}
	s.touchMu.Unlock()
	if start {
		go func() {
			defer s.bg.Done()
			if err := s.flushTouches(context.Background()); err != nil {
				s.log.Warn("sqlite store: writing cache access times", "err", err)
			}
			s.touchMu.Lock()
			s.flushing = false
			s.touchMu.Unlock()
		}()
	}
}

// takeTouches hands over the pending access times.
func (s *Store) takeTouches() map[string]int64 {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if len(s.touches) == 0 {
		return nil
	}
	t := s.touches
	s.touches = make(map[string]int64, len(t))
	return t
}

func (s *Store) flushTouches(ctx context.Context) error {
	t := s.takeTouches()
	if t == nil {
		return nil
	}
	return s.writeTx(ctx, "write cache access times", func(tx wtx) error {
		return applyTouches(tx, t)
	})
}

func applyTouches(tx wtx, t map[string]int64) error {
	if len(t) == 0 {
		return nil
	}
	st := tx.stmt(qTouch)
	if st == nil {
		return errors.New("sqlite store: write cache access times: statement not prepared")
	}
	for k, at := range t {
		if _, err := st.ExecContext(tx.ctx, at, k, at); err != nil {
			return fmt.Errorf("sqlite store: write cache access times: %w", err)
		}
	}
	return nil
}

// PutCache stores e, replacing an entry with the same key, then evicts the
// least recently used entries while the cache is over its bound. An entry
// larger than the whole bound is not stored (and replaces nothing).
func (s *Store) PutCache(ctx context.Context, e conductor.CacheEntry) error {
	if e.Key == "" {
		return errors.New("sqlite store: put cache: empty key")
	}
	size := entrySize(&e)
	if size > s.maxBytes {
		s.log.Debug("sqlite store: cache entry larger than the cache, not stored", "key", e.Key, "bytes", size, "max", s.maxBytes)
		return nil
	}
	created := nanos(e.CreatedAt)
	accessed := created
	if accessed == 0 {
		accessed = s.now().UnixNano()
	}
	if e.Value == nil {
		e.Value = []byte{} // the column is NOT NULL; an empty answer is still an answer
	}
	touches := s.takeTouches()
	evicted := false
	defer func() {
		s.changed(func(f *front) {
			if evicted {
				f.clear()
			} else {
				f.remove(e.Key)
			}
		})
	}()
	return s.writeTx(ctx, "put cache", func(tx wtx) error {
		if err := applyTouches(tx, touches); err != nil {
			return err
		}
		_, err := tx.exec(qCachePut,
			e.Key, e.Scope, e.Provider, e.Model, e.Value, size, created, nanos(e.ExpiresAt), accessed)
		if err != nil {
			return fmt.Errorf("sqlite store: put cache: %w", err)
		}
		// The entry's own time is the caller's clock: what has expired by then
		// goes before any live entry.
		now := created
		if now == 0 {
			now = accessed
		}
		n, err := s.evict(tx, e.Key, now)
		evicted = evicted || n > 0
		return err
	})
}

// evict deletes entries, never keep, until the cache fits its bound: those
// expired at now first (an answer no one can be served is the cheapest to
// lose), then the least recently used. It walks the expiry and access-time
// indexes, so it reads only the rows it deletes (plus one batch).
func (s *Store) evict(tx wtx, keep string, now int64) (deleted int, err error) {
	pruned := false
	for {
		var total int64
		if err := tx.queryRow(qCacheBytes).Scan(&total); err != nil {
			return deleted, fmt.Errorf("sqlite store: evict: %w", err)
		}
		over := total - s.maxBytes
		if over <= 0 {
			return deleted, nil
		}
		if !pruned {
			pruned = true
			// Rare (only when over the bound): run unprepared.
			const expired = `DELETE FROM cache WHERE expires_at > 0 AND expires_at <= ? AND key <> ?`
			if _, err := tx.exec(expired, now, keep); err != nil {
				return deleted, fmt.Errorf("sqlite store: evict expired: %w", err)
			}
			deleted++ // may be none: the front is dropped either way
			continue
		}
		rows, err := tx.query(qEvictPick, keep)
		if err != nil {
			return deleted, fmt.Errorf("sqlite store: evict: %w", err)
		}
		var victims []int64
		for rows.Next() && over > 0 {
			var id, size int64
			if err := rows.Scan(&id, &size); err != nil {
				rows.Close()
				return deleted, fmt.Errorf("sqlite store: evict: %w", err)
			}
			victims = append(victims, id)
			over -= size
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return deleted, fmt.Errorf("sqlite store: evict: %w", err)
		}
		if len(victims) == 0 {
			return deleted, nil // only keep is left, and it fits (checked in PutCache)
		}
		for _, id := range victims {
			if _, err := tx.exec(qEvictDelete, id); err != nil {
				return deleted, fmt.Errorf("sqlite store: evict: %w", err)
			}
			deleted++
		}
	}
}

// PurgeCache deletes every entry of scope, or every entry when scope is "".
func (s *Store) PurgeCache(ctx context.Context, scope string) (int64, error) {
	var n int64
	defer s.changed(func(f *front) {
		if scope == "" {
			f.clear()
		} else {
			f.removeIf(func(fe *frontEntry) bool { return fe.e.Scope == scope })
		}
	})
	err := s.writeTx(ctx, "purge cache", func(tx wtx) error {
		var (
			res sql.Result
			err error
		)
		if scope == "" {
			res, err = tx.exec(`DELETE FROM cache`)
		} else {
			res, err = tx.exec(`DELETE FROM cache WHERE scope = ?`, scope)
		}
		if err != nil {
			return fmt.Errorf("sqlite store: purge cache: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// PruneCache deletes the entries expired at now, and returns how many
// went. It also drops the counters that can no longer count at now
// (PruneCounters): the gateway prunes through this interface method
// periodically, and spend reservations would otherwise pile up.
func (s *Store) PruneCache(ctx context.Context, now time.Time) (n int64, err error) {
	if err := s.PruneCounters(ctx, now); err != nil {
		return 0, err
	}
	at := now.UnixNano()
	defer func() {
		if n > 0 || err != nil {
			s.changed(func(f *front) {
				f.removeIf(func(fe *frontEntry) bool { return fe.expires > 0 && fe.expires <= at })
			})
		}
	}()
	err = s.writeTx(ctx, "prune cache", func(tx wtx) error {
		res, err := tx.exec(`DELETE FROM cache WHERE expires_at > 0 AND expires_at <= ?`, at)
		if err != nil {
			return fmt.Errorf("sqlite store: prune cache: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n > 0 {
		s.reclaimLogged(ctx)
	}
	return n, err
}

// CacheStats counts the cache's entries, bytes and expired entries at now.
func (s *Store) CacheStats(ctx context.Context, now time.Time) (conductor.CacheStats, error) {
	st := conductor.CacheStats{ByScope: map[string]int64{}, MaxBytes: s.maxBytes}
	rows, err := s.rd.QueryContext(ctx, `
SELECT scope, COUNT(*), COALESCE(SUM(size), 0),
	COALESCE(SUM(expires_at > 0 AND expires_at <= ?), 0)
FROM cache GROUP BY scope`, now.UnixNano())
	if err != nil {
		return st, fmt.Errorf("sqlite store: cache stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			scope                   string
			entries, bytes, expired int64
		)
		if err := rows.Scan(&scope, &entries, &bytes, &expired); err != nil {
			return st, fmt.Errorf("sqlite store: cache stats: %w", err)
		}
		st.ByScope[scope] = entries
		st.Entries += entries
		st.Bytes += bytes
		st.Expired += expired
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("sqlite store: cache stats: %w", err)
	}
	return st, nil
}
