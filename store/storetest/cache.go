package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

func entry(key, scope string, value string, created time.Time, ttl time.Duration) conductor.CacheEntry {
	e := conductor.CacheEntry{
		Key: key, Scope: scope, Provider: "openai", Model: "gpt-4o-mini",
		Value: []byte(value), CreatedAt: created,
	}
	if ttl > 0 {
		e.ExpiresAt = created.Add(ttl)
	}
	return e
}

func mustPut(t *testing.T, s conductor.CacheStore, e conductor.CacheEntry) {
	t.Helper()
	if err := s.PutCache(context.Background(), e); err != nil {
		t.Fatalf("PutCache(%q): %v", e.Key, err)
	}
}

func runCache(t *testing.T, open Opener, c *config) {
	ctx := context.Background()

	t.Run("GetTTL", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, entry("k-ttl", "gw", `{"answer":1}`, base, time.Minute))
		mustPut(t, s, entry("k-forever", "gw", `forever`, base, 0))
		tests := []struct {
			name        string
			key         string
			at          time.Time
			ok, expired bool
			value       string
		}{
			{"fresh", "k-ttl", base, true, false, `{"answer":1}`},
			{"just before expiry", "k-ttl", base.Add(time.Minute - time.Nanosecond), true, false, `{"answer":1}`},
			{"at expiry", "k-ttl", base.Add(time.Minute), false, true, ""},
			{"long after expiry", "k-ttl", base.Add(24 * time.Hour), false, true, ""},
			{"no expiry", "k-forever", base.Add(10 * 365 * 24 * time.Hour), true, false, "forever"},
			{"unknown key", "k-missing", base, false, false, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e, ok, expired, err := s.GetCache(ctx, tt.key, tt.at)
				if err != nil {
					t.Fatalf("GetCache: %v", err)
				}
				if ok != tt.ok || expired != tt.expired {
					t.Fatalf("GetCache(%q, %v) ok=%v expired=%v, want ok=%v expired=%v", tt.key, tt.at, ok, expired, tt.ok, tt.expired)
				}
				if string(e.Value) != tt.value {
					t.Errorf("value %q, want %q", e.Value, tt.value)
				}
			})
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		want := conductor.CacheEntry{
			Key: "k1", Scope: "my-gateway", Provider: "anthropic", Model: "claude-3-5-sonnet-20241022",
			Value:     []byte("data: {\"x\":1}\n\n\x00\xff binary-safe"),
			CreatedAt: base, ExpiresAt: base.Add(time.Hour),
		}
		mustPut(t, s, want)
		got, ok, _, err := s.GetCache(ctx, "k1", base.Add(time.Second))
		if err != nil || !ok {
			t.Fatalf("GetCache: ok=%v err=%v", ok, err)
		}
		if got.Key != want.Key || got.Scope != want.Scope || got.Provider != want.Provider || got.Model != want.Model ||
			!bytes.Equal(got.Value, want.Value) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Errorf("GetCache = %+v\nwant %+v", got, want)
		}
		// Zero times stay zero: ExpiresAt zero means never.
		mustPut(t, s, conductor.CacheEntry{Key: "k0", Scope: "step", Value: []byte{}})
		got, ok, _, err = s.GetCache(ctx, "k0", base)
		if err != nil || !ok {
			t.Fatalf("GetCache(k0): ok=%v err=%v", ok, err)
		}
		if !got.ExpiresAt.IsZero() || len(got.Value) != 0 {
			t.Errorf("GetCache(k0) = %+v, want zero ExpiresAt and empty value", got)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, entry("k", "gw", "old", base, time.Second))
		mustPut(t, s, entry("k", "gw", "new", base.Add(time.Hour), time.Hour))
		e, ok, expired, err := s.GetCache(ctx, "k", base.Add(time.Hour+time.Minute))
		if err != nil || !ok || expired {
			t.Fatalf("GetCache after replace: ok=%v expired=%v err=%v", ok, expired, err)
		}
		if string(e.Value) != "new" {
			t.Errorf("value %q, want new", e.Value)
		}
		st, err := s.CacheStats(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries != 1 || st.Bytes != int64(len("k")+len("new")) {
			t.Errorf("stats after replace: entries=%d bytes=%d, want 1 and %d", st.Entries, st.Bytes, len("k")+len("new"))
		}
	})

	t.Run("PurgeByScope", func(t *testing.T) {
		tests := []struct {
			scope     string
			purged    int64
			remaining []string
		}{
			{"gw-a", 2, []string{"b1", "s1"}},
			{"step", 1, []string{"a1", "a2", "b1"}},
			{"nobody", 0, []string{"a1", "a2", "b1", "s1"}},
			{"", 4, nil},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("scope=%q", tt.scope), func(t *testing.T) {
				s := open(t)
				for _, e := range []conductor.CacheEntry{
					entry("a1", "gw-a", "x", base, 0), entry("a2", "gw-a", "x", base, 0),
					entry("b1", "gw-b", "x", base, 0), entry("s1", "step", "x", base, 0),
				} {
					mustPut(t, s, e)
				}
				n, err := s.PurgeCache(ctx, tt.scope)
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.purged {
					t.Errorf("PurgeCache(%q) = %d, want %d", tt.scope, n, tt.purged)
				}
				var left []string
				for _, k := range []string{"a1", "a2", "b1", "s1"} {
					if _, ok, _, err := s.GetCache(ctx, k, base); err != nil {
						t.Fatal(err)
					} else if ok {
						left = append(left, k)
					}
				}
				if fmt.Sprint(left) != fmt.Sprint(tt.remaining) {
					t.Errorf("left %v, want %v", left, tt.remaining)
				}
			})
		}
	})

	t.Run("PruneAndStats", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, entry("short", "gw", "12345", base, time.Minute))
		mustPut(t, s, entry("long", "gw", "1234567890", base, time.Hour))
		mustPut(t, s, entry("never", "step", "1", base, 0))

		st, err := s.CacheStats(ctx, base.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := conductor.CacheStats{Entries: 3, Bytes: int64(5 + 5 + 4 + 10 + 5 + 1), Expired: 1,
			ByScope: map[string]int64{"gw": 2, "step": 1}}
		if st.Entries != want.Entries || st.Bytes != want.Bytes || st.Expired != want.Expired ||
			fmt.Sprint(st.ByScope) != fmt.Sprint(want.ByScope) || st.MaxBytes <= 0 {
			t.Errorf("CacheStats = %+v, want %+v and MaxBytes > 0", st, want)
		}

		n, err := s.PruneCache(ctx, base.Add(2*time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("PruneCache = %d, %v; want 1", n, err)
		}
		// A pruned entry is gone, not "expired".
		if _, ok, expired, err := s.GetCache(ctx, "short", base.Add(2*time.Minute)); err != nil || ok || expired {
			t.Errorf("GetCache(pruned) ok=%v expired=%v err=%v, want a plain miss", ok, expired, err)
		}
		n, err = s.PruneCache(ctx, base.Add(2*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("second PruneCache = %d, %v; want 1", n, err)
		}
		st, err = s.CacheStats(ctx, base.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries != 1 || st.Bytes != 6 || st.Expired != 0 {
			t.Errorf("CacheStats after prune = %+v, want 1 entry of 6 bytes", st)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					k := fmt.Sprintf("w%d-%d", w, i)
					if err := s.PutCache(ctx, entry(k, "gw", k, base, time.Hour)); err != nil {
						errs <- err
						return
					}
					e, ok, _, err := s.GetCache(ctx, k, base)
					if err != nil || !ok || string(e.Value) != k {
						errs <- fmt.Errorf("GetCache(%q) = %q ok=%v err=%v", k, e.Value, ok, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		st, err := s.CacheStats(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries != workers*each {
			t.Errorf("entries %d, want %d", st.Entries, workers*each)
		}
	})

	t.Run("Evict", func(t *testing.T) {
		if c.bounded == nil {
			t.Skip("implementation declares no size-bound hook")
		}
		// Entries of 100 bytes (key + value) in a 1,000-byte cache.
		val := func(k string) conductor.CacheEntry {
			return entry(k, "gw", string(bytes.Repeat([]byte("v"), 100-len(k))), base, 0)
		}
		t.Run("LRU", func(t *testing.T) {
			s := c.bounded(t, 1000)
			for i := range 10 {
				e := val(fmt.Sprintf("k%d", i))
				e.CreatedAt = base.Add(time.Duration(i) * time.Second)
				mustPut(t, s, e)
			}
			// Read k0 and k1 late: they become the most recently used.
			for _, k := range []string{"k0", "k1"} {
				if _, ok, _, err := s.GetCache(ctx, k, base.Add(time.Minute)); err != nil || !ok {
					t.Fatalf("GetCache(%s): ok=%v err=%v", k, ok, err)
				}
			}
			// Three more entries push out the three least recently used: k2, k3, k4.
			for i := 10; i < 13; i++ {
				e := val(fmt.Sprintf("k%d", i))
				e.CreatedAt = base.Add(2 * time.Minute)
				mustPut(t, s, e)
			}
			var gone []string
			for i := range 13 {
				k := fmt.Sprintf("k%d", i)
				if _, ok, _, err := s.GetCache(ctx, k, base.Add(3*time.Minute)); err != nil {
					t.Fatal(err)
				} else if !ok {
					gone = append(gone, k)
				}
			}
			if fmt.Sprint(gone) != "[k2 k3 k4]" {
				t.Errorf("evicted %v, want [k2 k3 k4]", gone)
			}
			st, err := s.CacheStats(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			if st.Bytes > 1000 || st.Entries != 10 || st.MaxBytes != 1000 {
				t.Errorf("stats %+v, want 10 entries within 1000 bytes", st)
			}
		})
		t.Run("ExpiredFirst", func(t *testing.T) {
			s := c.bounded(t, 1000)
			for i := range 9 {
				e := val(fmt.Sprintf("k%d", i))
				e.CreatedAt = base.Add(time.Duration(i) * time.Second)
				mustPut(t, s, e)
			}
			// The most recently used entry, but expired by the next put: it
			// goes before the least recently used live one (k0).
			exp := val("exp")
			exp.CreatedAt, exp.ExpiresAt = base.Add(10*time.Second), base.Add(time.Minute)
			mustPut(t, s, exp)
			next := val("k10")
			next.CreatedAt = base.Add(2 * time.Minute)
			mustPut(t, s, next)
			st, err := s.CacheStats(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			if st.Entries != 10 || st.Bytes > 1000 {
				t.Errorf("stats %+v, want 10 entries within 1000 bytes", st)
			}
			for _, k := range []string{"k0", "k10"} {
				if _, ok, _, err := s.GetCache(ctx, k, base.Add(2*time.Minute)); err != nil || !ok {
					t.Errorf("%s evicted (err %v): the expired entry should have gone first", k, err)
				}
			}
		})
		t.Run("BigEntry", func(t *testing.T) {
			s := c.bounded(t, 1000)
			mustPut(t, s, val("small"))
			big := entry("big", "gw", string(bytes.Repeat([]byte("b"), 600)), base, 0)
			mustPut(t, s, big)
			mustPut(t, s, entry("big2", "gw", string(bytes.Repeat([]byte("b"), 600)), base.Add(time.Second), 0))
			st, err := s.CacheStats(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			if st.Bytes > 1000 {
				t.Errorf("cache holds %d bytes, over its bound of 1000", st.Bytes)
			}
			if _, ok, _, _ := s.GetCache(ctx, "big2", base); !ok {
				t.Errorf("the entry just put was evicted")
			}
		})
	})

	t.Run("Shared", func(t *testing.T) {
		if c.shared == nil {
			t.Skip("implementation declares no shared-store hook")
		}
		a, b := c.shared(t)
		mustPut(t, a, entry("from-a", "gw", "hello", base, time.Hour))
		e, ok, _, err := b.GetCache(ctx, "from-a", base)
		if err != nil || !ok || string(e.Value) != "hello" {
			t.Fatalf("second handle GetCache = %q ok=%v err=%v, want the first handle's entry", e.Value, ok, err)
		}
		if n, err := b.PurgeCache(ctx, "gw"); err != nil || n != 1 {
			t.Fatalf("second handle PurgeCache = %d, %v", n, err)
		}
		if _, ok, _, err := a.GetCache(ctx, "from-a", base); err != nil || ok {
			t.Errorf("first handle still sees a purged entry: ok=%v err=%v", ok, err)
		}
	})
}
