package sqlite

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
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

// BenchmarkGetCacheHit: hits on 1,000 hot entries, served by the front
// (front.go) after the first read of each.
func BenchmarkGetCacheHit(b *testing.B) { benchmarkGetCacheHit(b) }

// BenchmarkGetCacheHitSQLite: the same hits with the front off, each one a
// SQLite point read.
func BenchmarkGetCacheHitSQLite(b *testing.B) { benchmarkGetCacheHit(b, WithHotCacheBytes(-1)) }

func benchmarkGetCacheHit(b *testing.B, opts ...Option) {
	// A request's context, as the gateway passes it: cancellable.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	s := openTemp(b, opts...)
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

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wr.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open of a file from a newer binary succeeded")
	}
}

// count reads a table's size straight from the file.
func count(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.rd.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := openTemp(t, WithClock(func() time.Time { return clock }))
	now := clock

	for i := range 3 {
		if _, err := s.TakeRate(ctx, fmt.Sprintf("f%d", i), 1, 10, time.Minute, conductor.WindowFixed, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeRate(ctx, fmt.Sprintf("s%d", i), 1, 10, time.Minute, conductor.WindowSliding, now); err != nil {
			t.Fatal(err)
		}
	}
	day := conductor.Budget{Key: "gw:day:2026-11-25", Limit: 100, Resets: now.Add(14 * time.Hour)}
	month := conductor.Budget{Key: "gw:month:2026-11", Limit: 1000, Resets: now.Add(5 * 24 * time.Hour)}
	if _, err := s.ReserveSpend(ctx, []conductor.Budget{day}, 10, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReserveSpend(ctx, []conductor.Budget{day, month}, 10, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(ctx, "alert:day:80", day.Resets); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCache(ctx, conductor.CacheEntry{Key: "k", Value: []byte("v"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		at                                        time.Duration
		fixed, events, budgets, reservations, one int
		cache                                     int
	}{
		{30 * time.Second, 3, 3, 2, 2, 1, 1},
		{2 * time.Minute, 0, 0, 2, 2, 1, 1},
		{15 * time.Hour, 0, 0, 1, 1, 0, 0}, // the day reset; the reservation in both budgets lives on with the month
		{6 * 24 * time.Hour, 0, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		if err := s.Prune(ctx, now.Add(tt.at)); err != nil {
			t.Fatal(err)
		}
		got := []int{count(t, s, "rate_fixed"), count(t, s, "rate_events"), count(t, s, "budgets"),
			count(t, s, "reservations"), count(t, s, "once_keys"), count(t, s, "cache")}
		want := []int{tt.fixed, tt.events, tt.budgets, tt.reservations, tt.one, tt.cache}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after Prune at +%v: rows (fixed, events, budgets, reservations, once, cache) = %v, want %v", tt.at, got, want)
		}
	}
}

// TakeRate drops a key's rows that can no longer count, so a busy key does
// not grow its table without a Prune.
func TestTakeRateKeepsTablesSmall(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 300 {
		at := now.Add(time.Duration(i) * time.Second)
		if _, err := s.TakeRate(ctx, "k", 1, 1000, time.Minute, conductor.WindowSliding, at); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeRate(ctx, "k", 1, 1000, time.Minute, conductor.WindowFixed, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "rate_events"); n > 60 {
		t.Errorf("%d sliding events kept for a one-minute window at one take a second", n)
	}
	if n := count(t, s, "rate_fixed"); n != 1 {
		t.Errorf("%d fixed windows kept, want 1", n)
	}
}

// The cache's byte count is kept by triggers; it must match the rows after
// every kind of change.
func TestCacheBytesConsistent(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithMaxCacheBytes(5000))
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	check := func(step string) {
		t.Helper()
		var kept, real int64
		if err := s.rd.QueryRow(`SELECT v FROM meta WHERE k = 'cache_bytes'`).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if err := s.rd.QueryRow(`SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM cache`).Scan(&real); err != nil {
			t.Fatal(err)
		}
		if kept != real {
			t.Errorf("%s: kept byte count %d, rows hold %d", step, kept, real)
		}
	}
	for i := range 100 {
		v := make([]byte, 37*(i%7))
		if err := s.PutCache(ctx, conductor.CacheEntry{Key: fmt.Sprintf("k%d", i%40), Scope: fmt.Sprintf("s%d", i%3),
			Value: v, CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: now.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	check("after puts and replaces")
	if _, err := s.PruneCache(ctx, now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("after prune")
	if _, err := s.PurgeCache(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	check("after purge")
}

func BenchmarkTakeRate(b *testing.B) {
	ctx := context.Background()
	for _, kind := range []string{conductor.WindowFixed, conductor.WindowSliding} {
		b.Run(kind, func(b *testing.B) {
			s := openTemp(b)
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// A limit of 600 a minute at 10 takes a second: a full window.
				at := now.Add(time.Duration(i) * 100 * time.Millisecond)
				if _, err := s.TakeRate(ctx, "gw:user", 1, 600, time.Minute, kind, at); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkReserveSettle(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	now := time.Now()
	budgets := []conductor.Budget{{Key: "gw:day", Limit: 1 << 62}, {Key: "env:prod:day", Limit: 1 << 62}}
	b.ReportAllocs()
	for b.Loop() {
		id, err := s.ReserveSpend(ctx, budgets, 1000, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SettleSpend(ctx, id, 500); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestCounters is the store work of one gateway request with
// rate limits and budgets: the admission (a token check and two request
// takes in one TakeRates), the reservation, and the after-call
// settlement with its token count (one SettleAndCount).
func BenchmarkRequestCounters(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	now := time.Now()
	budgets := []conductor.Budget{{Key: "gw:day", Limit: 1 << 62}, {Key: "env:prod:day", Limit: 1 << 62}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		at := now.Add(time.Duration(i) * time.Millisecond)
		i++
		user := "gw/user/" + strconv.Itoa(i%50) + "/requests"
		ds, err := s.TakeRates(ctx, []conductor.RateTake{
			{Key: "gw/tokens", N: 0, Limit: 1 << 50, Window: time.Minute, Kind: conductor.WindowFixed},
			{Key: user, N: 1, Limit: 1 << 40, Window: time.Minute, Kind: conductor.WindowFixed},
			{Key: "gw/requests", N: 1, Limit: 1 << 40, Window: time.Minute, Kind: conductor.WindowFixed},
		}, at)
		if err != nil || !ds[2].Allowed {
			b.Fatal(ds, err)
		}
		id, err := s.ReserveSpend(ctx, budgets, 1000, at)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id, Actual: 500}},
			[]conductor.RateTake{{Key: "gw/tokens", N: 30, Limit: math.MaxInt64, Window: time.Minute, Kind: conductor.WindowFixed}}, at); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendLogs100(b *testing.B) {
	// The gateway's writer bounds each transaction with a timeout.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	s := openTemp(b)
	now := time.Now()
	rows := make([]conductor.LogRow, 100)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range rows {
			rows[i] = conductor.LogRow{ID: fmt.Sprintf("r%d", n), Time: now, Gateway: "gw", Provider: "openai",
				Model: "gpt-4o-mini", Status: 200, Success: true, Latency: time.Duration(n%1000) * time.Millisecond,
				Metadata: map[string]string{"ensemble": "e", "member": "m"}}
			n++
		}
		if err := s.AppendLogs(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStats100k(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	now := time.Now()
	rows := make([]conductor.LogRow, 0, 1000)
	for n := range 100_000 {
		rows = append(rows, conductor.LogRow{ID: fmt.Sprintf("r%d", n), Time: now.Add(-time.Duration(n) * time.Second),
			Provider: []string{"openai", "anthropic", "groq"}[n%3], Model: fmt.Sprintf("m%d", n%7), Success: n%50 != 0,
			Latency: time.Duration(n%997) * time.Millisecond})
		if len(rows) == cap(rows) {
			if err := s.AppendLogs(ctx, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Stats(ctx, conductor.StatsQuery{Since: now.Add(-48 * time.Hour), Until: now.Add(time.Second), By: "model"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNearestRank(t *testing.T) {
	seq := func(n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(i + 1)
		}
		return s
	}
	tests := []struct {
		values []int64
		p      int
		want   int64
	}{
		{nil, 50, 0},
		{[]int64{7}, 50, 7},
		{[]int64{7}, 99, 7},
		{[]int64{1, 2}, 50, 1}, // ceil(1.0) = 1
		{[]int64{1, 2}, 51, 2},
		{[]int64{1, 2}, 95, 2},
		{seq(10), 50, 5},
		{seq(10), 95, 10},
		{seq(100), 99, 99},
		{seq(1000), 99, 990},
		{seq(1001), 99, 991}, // ceil(990.99)
	}
	for _, tt := range tests {
		if got := nearestRank(tt.values, tt.p); got != tt.want {
			t.Errorf("nearestRank(%d values, p%d) = %d, want %d", len(tt.values), tt.p, got, tt.want)
		}
	}
}
