package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/postgres"
	"github.com/conductor-go/conductor/store/redis"
)

// Redis and PostgreSQL (private servers) stopped and started again while
// requests flow: limits refuse (503) while Redis is down, the cache is
// skipped (MISS), log rows wait while PostgreSQL is down and are all
// written once it is back; nothing restarts.
func TestStoreOutageAndRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	rsrv := testsvc.StartRedis(t)
	psrv := testsvc.StartPostgres(t)
	ctx := context.Background()
	rs, err := redis.Open(ctx, rsrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := postgres.Open(ctx, psrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	st := store.Combine(rs, rs, pg, rs, pg)
	t.Cleanup(func() { st.Close() })
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	limited, err := New(Config{ID: "limited", Prices: testPrices{},
		RateLimit: RateLimitConfig{Requests: 1 << 30},
		Budgets:   []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 1000}}}, st, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := New(Config{ID: "cached", Prices: testPrices{}, CacheTTL: time.Hour}, st, quiet)
	if err != nil {
		t.Fatal(err)
	}
	up := &double{}
	pl, pc := limited.Wrap(up), cached.Wrap(up)
	n := 0
	call := func(p conductor.Provider) (*conductor.ChatResponse, error) {
		n++
		return p.Chat(ctx, chatReq(fmt.Sprintf("question %d", n)))
	}
	for _, p := range []conductor.Provider{pl, pc} {
		if _, err := call(p); err != nil {
			t.Fatalf("healthy: %v", err)
		}
	}

	rsrv.Stop()
	_, err = call(pl)
	if e, ok := conductor.AsError(err); !ok || e.Status != 503 || e.Code != "rate_limit_unavailable" {
		t.Fatalf("limits with Redis down: %v, want 503 rate_limit_unavailable", err)
	}
	resp, err := call(pc)
	if err != nil || resp.Meta.MissReason != MissCacheError {
		t.Fatalf("cache with Redis down: %+v, %v; want an answer, MISS %s", resp, err, MissCacheError)
	}
	rsrv.Start()
	if !testsvc.Wait(ctx, 20*time.Second, func() bool { _, err := call(pl); return err == nil }) {
		t.Fatalf("limits did not recover after Redis came back: %v", err)
	}

	psrv.Stop()
	for range 5 {
		if _, err := call(pl); err != nil {
			t.Fatalf("PostgreSQL down: %v, want answers (the log waits)", err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the writers try, fail, and keep the rows
	psrv.Start()
	var rows int
	count := func() bool {
		return pg.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM logs`).Scan(&rows) == nil && rows == n
	}
	// The writers try again by themselves (backing off): no Close needed.
	if !testsvc.Wait(ctx, 60*time.Second, count) {
		t.Errorf("the log holds %d rows a minute after PostgreSQL came back, want every one of the %d requests", rows, n)
	}
	for _, g := range []*Gateway{limited, cached} {
		if err := g.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if d := g.DroppedLogRows(); d != 0 {
			t.Errorf("gateway %s dropped %d log rows", g.Config().ID, d)
		}
	}
}
