package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

var frontNow = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func frontEntryAt(key, scope, value string, ttl time.Duration) conductor.CacheEntry {
	e := conductor.CacheEntry{Key: key, Scope: scope, Provider: "openai", Model: "m", Value: []byte(value), CreatedAt: frontNow}
	if ttl > 0 {
		e.ExpiresAt = frontNow.Add(ttl)
	}
	return e
}

// TestFrontSeesOtherStores: two stores on one file, as two processes
// sharing it. The reader has the entry in its front; every way the writer
// removes or changes it must show in the reader's next read.
func TestFrontSeesOtherStores(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		writerMax int64 // the writer's cache bound (0: default)
		change    func(t *testing.T, w *Store)
		wantValue string // "" : a miss
	}{
		{"purge all", 0, func(t *testing.T, w *Store) {
			if _, err := w.PurgeCache(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"purge scope", 0, func(t *testing.T, w *Store) {
			if _, err := w.PurgeCache(ctx, "gw"); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"purge other scope", 0, func(t *testing.T, w *Store) {
			if _, err := w.PurgeCache(ctx, "step"); err != nil {
				t.Fatal(err)
			}
		}, "v1"},
		{"prune expired", 0, func(t *testing.T, w *Store) {
			if _, err := w.PruneCache(ctx, frontNow.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"replace", 0, func(t *testing.T, w *Store) {
			if err := w.PutCache(ctx, frontEntryAt("k", "gw", "v2", time.Minute)); err != nil {
				t.Fatal(err)
			}
		}, "v2"},
		{"evict", 64, func(t *testing.T, w *Store) {
			if err := w.PutCache(ctx, frontEntryAt("other", "gw", string(make([]byte, 57)), time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shared.db")
			open := func(opts ...Option) *Store {
				s, err := Open(ctx, path, opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			r := open()
			w := open(WithMaxCacheBytes(c.writerMax))
			if err := r.PutCache(ctx, frontEntryAt("k", "gw", "v1", time.Minute)); err != nil {
				t.Fatal(err)
			}
			// Twice: the first read fills the front, the second is served by it.
			for range 2 {
				if e, ok, _, err := r.GetCache(ctx, "k", frontNow); err != nil || !ok || string(e.Value) != "v1" {
					t.Fatalf("GetCache before = %q, %v, %v", e.Value, ok, err)
				}
			}
			if _, ok := r.front.m["k"]; !ok {
				t.Fatal("the entry is not in the reader's front")
			}
			c.change(t, w)
			e, ok, _, err := r.GetCache(ctx, "k", frontNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]string{true: string(e.Value)}[ok]; got != c.wantValue {
				t.Errorf("GetCache after = %q (ok=%v), want %q", got, ok, c.wantValue)
			}
		})
	}
}

// TestFrontHonoursExpiry: an entry served by the front expires exactly
// when the stored one does, and the caller owns the value it gets.
func TestFrontHonoursExpiry(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.PutCache(ctx, frontEntryAt("k", "gw", "v1", time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at          time.Time
		ok, expired bool
	}{
		{frontNow, true, false},
		{frontNow.Add(time.Minute - 1), true, false},
		{frontNow.Add(time.Minute), false, true},
		{frontNow.Add(time.Hour), false, true},
	} {
		e, ok, expired, err := s.GetCache(ctx, "k", c.at)
		if err != nil || ok != c.ok || expired != c.expired {
			t.Errorf("GetCache at %v = ok %v expired %v err %v; want ok %v expired %v", c.at, ok, expired, err, c.ok, c.expired)
		}
		if ok {
			e.Value[0] = 'X' // must not change what the next read gets
		}
	}
	if e, _, _, _ := s.GetCache(ctx, "k", frontNow); !bytes.Equal(e.Value, []byte("v1")) {
		t.Errorf("a caller's change of a value reached the front: %q", e.Value)
	}
}

const purgeChildEnv = "CONDUCTOR_SQLITE_PURGE_CHILD"

// TestPurgeChild is the child of TestFrontSeesOtherProcessPurge: it does
// what `conductor cache purge` does.
func TestPurgeChild(t *testing.T) {
	path := os.Getenv(purgeChildEnv)
	if path == "" {
		t.Skip("run by TestFrontSeesOtherProcessPurge")
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.PurgeCache(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("PURGED", n)
}

// TestFrontSeesOtherProcessPurge: a purge in another process (its own
// mapping of the generation, its own SQLite connections) empties this
// process's front at once.
func TestFrontSeesOtherProcessPurge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutCache(ctx, frontEntryAt("k", "gw", "v1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, ok, _, err := s.GetCache(ctx, "k", frontNow); err != nil || !ok {
			t.Fatalf("GetCache before = %v, %v", ok, err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPurgeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), purgeChildEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("PURGED 1")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, ok, _, err := s.GetCache(ctx, "k", frontNow); err != nil || ok {
		t.Errorf("GetCache after another process's purge = ok %v, err %v; want a miss", ok, err)
	}
}
