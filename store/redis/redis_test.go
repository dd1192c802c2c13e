package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/storetest"
)

// openTest opens a store on the test Redis under a prefix of its own,
// whose keys are deleted when t ends.
func openTest(t testing.TB, prefix string, opts ...Option) *Store {
	t.Helper()
	url := testsvc.RedisURL(t)
	s, err := Open(context.Background(), url, append([]Option{WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		iter := s.c.Scan(ctx, 0, "{"+prefix+"}:*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			s.c.Del(ctx, keys...)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func combined(s *Store) conductor.Store { return store.Combine(s, s, nil) }

func TestContract(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) conductor.Store { return combined(openTest(t, testsvc.Name("ct"))) },
		storetest.Only("Cache", "Counters"),
		storetest.Bounded(func(t *testing.T, maxBytes int64) conductor.Store {
			return combined(openTest(t, testsvc.Name("ct"), WithMaxCacheBytes(maxBytes)))
		}),
		// Two clients on one prefix are what two processes have.
		storetest.Shared(func(t *testing.T) (conductor.Store, conductor.Store) {
			p := testsvc.Name("ct")
			return combined(openTest(t, p)), combined(openTest(t, p))
		}),
	)
}

func TestOpenUnreachableNamesURLWithoutPassword(t *testing.T) {
	_, err := Open(context.Background(), "redis://user:s3cret@127.0.0.1:1/0")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q: want the URL without its password", err)
	}
}

// Budgets are compared exactly, beyond the 2^53 a Lua number holds.
func TestReserveExactBeyondFloat(t *testing.T) {
	s := openTest(t, testsvc.Name("big"))
	ctx := context.Background()
	const limit = 1<<62 + 1
	b := []conductor.Budget{{Key: "huge", Limit: limit}}
	if _, err := s.ReserveSpend(ctx, b, 1<<62, base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReserveSpend(ctx, b, 1, base); err != nil {
		t.Fatalf("the last nano-USD: %v", err)
	}
	if _, err := s.ReserveSpend(ctx, b, 1, base); err == nil {
		t.Fatal("one nano-USD past the limit was reserved")
	}
	if got, _ := s.Spent(ctx, "huge"); got != limit {
		t.Errorf("Spent = %d, want %d", got, int64(limit))
	}
}

// One of many processes leads a flight; the others wait for it to end.
func TestFlights(t *testing.T) {
	p := testsvc.Name("fl")
	a, b := openTest(t, p), openTest(t, p)
	ctx := context.Background()
	tok, lead, err := a.LeadFlight(ctx, "k", time.Minute)
	if err != nil || !lead {
		t.Fatalf("first LeadFlight = %v, %v", lead, err)
	}
	if _, lead, err := b.LeadFlight(ctx, "k", time.Minute); err != nil || lead {
		t.Fatalf("second LeadFlight = %v, %v; want false", lead, err)
	}
	done := make(chan error, 1)
	go func() { done <- b.WaitFlight(ctx, "k") }()
	select {
	case err := <-done:
		t.Fatalf("WaitFlight returned (%v) while the flight is led", err)
	case <-time.After(50 * time.Millisecond):
	}
	// A stale token ends nothing.
	if err := b.EndFlight(ctx, "k", "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if err := a.EndFlight(ctx, "k", tok); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFlight did not return after EndFlight")
	}
	// A leader that dies frees the flight when its ttl passes.
	if _, lead, _ := a.LeadFlight(ctx, "dead", 30*time.Millisecond); !lead {
		t.Fatal("LeadFlight(dead) did not lead")
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.WaitFlight(wctx, "dead"); err != nil {
		t.Fatalf("waiting for a dead leader's flight: %v", err)
	}
}

var base = time.Date(2026, 11, 25, 10, 30, 17, 0, time.UTC)

// A private server the test starts: the store works against it as against
// the machine's.
func TestPrivateServer(t *testing.T) {
	srv := testsvc.StartRedis(t)
	s, err := Open(context.Background(), srv.URL, WithPrefix("private"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d, err := s.TakeRate(context.Background(), "k", 1, 1, time.Minute, conductor.WindowFixed, base); err != nil || !d.Allowed {
		t.Fatalf("TakeRate on a private server: %+v, %v", d, err)
	}
}
