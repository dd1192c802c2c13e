// Package storetest is the contract every conductor.Store implementation
// must meet. An implementation's test calls Run with a function that opens
// a fresh, empty store; the same suite runs against the SQLite file, Redis
// and PostgreSQL back ends, so it uses nothing but the interface.
//
// Every time the suite passes is explicit (a fixed base instant), so no
// subtest depends on the wall clock except where the interface takes no
// current time: Once, and Stats with a zero Until.
package storetest

import (
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Opener opens a fresh, empty store for one subtest. It should register
// the store's Close with t.Cleanup.
type Opener func(t *testing.T) conductor.Store

// Option adds optional parts of the contract that need a hook into the
// implementation.
type Option func(*config)

type config struct {
	bounded func(t *testing.T, maxBytes int64) conductor.Store
	shared  func(t *testing.T) (a, b conductor.Store)
	only    map[string]bool
}

// Only runs only the named parts of the contract ("Cache", "Counters",
// "Log", "LogByKey", "Control"), for an implementation of some of the interfaces (Redis holds the
// cache and counters, PostgreSQL the log). The stores the opener returns
// need only implement those parts' methods.
func Only(parts ...string) Option {
	return func(c *config) {
		c.only = map[string]bool{}
		for _, p := range parts {
			c.only[p] = true
		}
	}
}

// Bounded runs the eviction tests: open returns a fresh store whose cache
// holds at most maxBytes (keys plus values).
func Bounded(open func(t *testing.T, maxBytes int64) conductor.Store) Option {
	return func(c *config) { c.bounded = open }
}

// Shared runs the tests for several processes sharing one store: open
// returns two independent handles (separate connections, as two processes
// would have) on the same fresh, empty store.
func Shared(open func(t *testing.T) (a, b conductor.Store)) Option {
	return func(c *config) { c.shared = open }
}

// Run runs the whole contract against the stores open returns.
func Run(t *testing.T, open Opener, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	part := func(name string, run func(t *testing.T)) {
		if c.only == nil || c.only[name] {
			t.Run(name, run)
		}
	}
	part("Cache", func(t *testing.T) { runCache(t, open, &c) })
	part("Counters", func(t *testing.T) { runCounters(t, open, &c) })
	part("Log", func(t *testing.T) { runLog(t, open) })
	part("LogByKey", func(t *testing.T) { runLogByKey(t, open) })
	part("LogByDeployment", func(t *testing.T) { runLogByDeployment(t, open) })
	part("Control", func(t *testing.T) { runControl(t, open, &c) })
}

// base is the instant the suite's explicit times count from: a Wednesday,
// not on a minute boundary, so that fixed windows do not start at it.
var base = time.Date(2026, 11, 25, 10, 30, 17, 250_000_000, time.UTC)
