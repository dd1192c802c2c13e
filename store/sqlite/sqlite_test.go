package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/storetest"
)

func openTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "data", "conductor.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// A second Open of the same file is what a new process does: it must see
// what the first wrote, and both must be able to write at once.
func TestReopenSeesCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "c.db")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	first, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	e := conductor.CacheEntry{Key: "k", Scope: "gw", Provider: "openai", Model: "gpt-4o",
		Value: []byte(`{"id":"chatcmpl-1"}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := first.PutCache(ctx, e); err != nil {
		t.Fatal(err)
	}

	// While the first is still open.
	second, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, _, err := second.GetCache(ctx, "k", now.Add(time.Minute))
	if err != nil || !ok || string(got.Value) != string(e.Value) {
		t.Fatalf("second Open: GetCache = %q ok=%v err=%v", got.Value, ok, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}

	// After both closed: a restart.
	third, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, ok, _, err := third.GetCache(ctx, "k", now.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("after restart: ok=%v err=%v", ok, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		path string
	}{
		{"empty", ""},
		{"query in path", filepath.Join(t.TempDir(), "a?mode=ro")},
		{"directory as file", t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.path)
			}
		})
	}
}

func BenchmarkGetCacheHit(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	now := time.Now()
	value := make([]byte, 2048) // a typical chat completion body
	for i := range 1000 {
		if err := s.PutCache(ctx, conductor.CacheEntry{Key: fmt.Sprintf("key-%04d", i), Scope: "gw",
			Value: value, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok, _, err := s.GetCache(ctx, fmt.Sprintf("key-%04d", i%1000), now); err != nil || !ok {
			b.Fatalf("GetCache: ok=%v err=%v", ok, err)
		}
		i++
	}
}

func BenchmarkGetCacheHitParallel(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	now := time.Now()
	value := make([]byte, 2048)
	for i := range 1000 {
		if err := s.PutCache(ctx, conductor.CacheEntry{Key: fmt.Sprintf("key-%04d", i), Scope: "gw",
			Value: value, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, _, err := s.GetCache(ctx, fmt.Sprintf("key-%04d", i%1000), now); err != nil || !ok {
				b.Errorf("GetCache: ok=%v err=%v", ok, err)
				return
			}
			i++
		}
	})
}

func BenchmarkPutCache(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	now := time.Now()
	value := make([]byte, 2048)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.PutCache(ctx, conductor.CacheEntry{Key: fmt.Sprintf("key-%d", i), Scope: "gw",
			Value: value, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) conductor.Store { return openTemp(t) },
		storetest.Bounded(func(t *testing.T, maxBytes int64) conductor.Store {
			return openTemp(t, WithMaxCacheBytes(maxBytes))
		}),
		// Two Opens of one file are what two processes have: separate
		// connections, locks taken through the file.
		storetest.Shared(func(t *testing.T) (conductor.Store, conductor.Store) {
			path := filepath.Join(t.TempDir(), "shared.db")
			a, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Open(context.Background(), path)
			if err != nil {
				a.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		}),
	)
}
