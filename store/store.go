// Package store puts a conductor.Store together from its parts: the
// shared back end keeps the cache and counters in Redis (store/redis) and
// the request log in PostgreSQL (store/postgres); the embedded one,
// store/sqlite, is a whole conductor.Store by itself.
package store

import (
	"context"
	"errors"
	"io"

	conductor "github.com/conductor-go/conductor"
)

// Combined is a conductor.Store whose parts are separate stores.
type Combined struct {
	conductor.CacheStore
	conductor.CounterStore
	conductor.LogStore
	closers []io.Closer
}

var _ conductor.Store = (*Combined)(nil)

// Combine returns the store made of cache, counters and log; Close closes
// closers in order (each once, however many parts it serves).
func Combine(cache conductor.CacheStore, counters conductor.CounterStore, log conductor.LogStore, closers ...io.Closer) *Combined {
	return &Combined{CacheStore: cache, CounterStore: counters, LogStore: log, closers: closers}
}

// Close closes every closer, in order, and joins their errors.
func (c *Combined) Close() error {
	var errs []error
	for _, cl := range c.closers {
		if cl != nil {
			errs = append(errs, cl.Close())
		}
	}
	return errors.Join(errs...)
}

// Ping reports whether every part that can be pinged answers (the
// server's readiness check).
func (c *Combined) Ping(ctx context.Context) error {
	seen := map[any]bool{}
	for _, p := range []any{c.CacheStore, c.CounterStore, c.LogStore} {
		if p == nil || seen[p] {
			continue
		}
		seen[p] = true
		if pg, ok := p.(interface{ Ping(context.Context) error }); ok {
			if err := pg.Ping(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Control returns the part that keeps control items (virtual keys,
// teams, admin changes): the log's, when it keeps them (PostgreSQL).
func (c *Combined) Control() (conductor.ControlStore, bool) {
	cs, ok := c.LogStore.(conductor.ControlStore)
	return cs, ok
}

// Flights returns the part that shares flights across processes, if any
// part does.
func (c *Combined) Flights() (conductor.FlightStore, bool) {
	for _, p := range []any{c.CacheStore, c.CounterStore} {
		if f, ok := p.(conductor.FlightStore); ok {
			return f, true
		}
	}
	return nil, false
}
