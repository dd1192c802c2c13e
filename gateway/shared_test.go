package gateway

import (
	"context"
	"sync"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/redis"
)

// Gateways on separate Redis connections (as separate processes have)
// share one flight for identical requests: one upstream call in all.
func TestSharedFlightAcrossGateways(t *testing.T) {
	url := testsvc.RedisURL(t)
	prefix := testsvc.Name("gwfl")
	up := &double{reply: func(ctx context.Context, req *conductor.ChatRequest, n int) (*conductor.ChatResponse, error) {
		time.Sleep(100 * time.Millisecond) // long enough for every request to arrive
		return answer("shared", 10, 5), nil
	}}
	var ps []conductor.Provider
	for range 3 {
		rs, err := redis.Open(context.Background(), url, redis.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		log := openStore(t, tempDB(t))
		st := store.Combine(rs, rs, log, rs, log)
		g, err := New(Config{ID: "gw", CacheTTL: time.Hour, Prices: testPrices{}}, st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			g.Close(context.Background())
			rs.Client().Del(context.Background(), rs.Client().Keys(context.Background(), "{"+prefix+"}:*").Val()...)
			st.Close()
		})
		ps = append(ps, g.Wrap(up))
	}
	var wg sync.WaitGroup
	hits := make(chan bool, 30)
	for i := range 30 {
		wg.Go(func() {
			resp, err := ps[i%3].Chat(context.Background(), benchRequest(0, false))
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Text() != "shared" {
				t.Errorf("answer %q", resp.Text())
			}
			hits <- resp.Meta.Cached
		})
	}
	wg.Wait()
	close(hits)
	if n := up.calls.Load(); n != 1 {
		t.Errorf("30 identical concurrent requests over 3 gateways made %d upstream calls, want 1", n)
	}
	cached := 0
	for h := range hits {
		if h {
			cached++
		}
	}
	if cached != 29 {
		t.Errorf("%d of 30 answers were hits, want 29", cached)
	}
}
