package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Every request is logged once, whatever became of it, and the rows are
// written by Close.
func TestRecordLogsEachRequestOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &double{reply: func(_ context.Context, req *conductor.ChatRequest, _ int) (*conductor.ChatResponse, error) {
			switch req.Messages[0].Text() {
			case "bad":
				return nil, &conductor.Error{Provider: "openai", Class: conductor.ClassBadRequest, Status: 400, Message: "no"}
			case "slow":
				time.Sleep(1500 * time.Millisecond)
			}
			r := answer("ok", 1000, 500)
			r.Meta.TTFB = 200 * time.Millisecond
			return r, nil
		}}
		g, st, stop := start(t, Config{
			CacheTTL: time.Hour, Environment: "staging",
			RateLimit: RateLimitConfig{UserRequests: 1},
		})
		p := g.Wrap(up)
		call := func(content, user string, stream bool, meta map[string]string) error {
			req := chatReq(content)
			if content == "unknown" {
				req.Model = "unknown-model"
			}
			req.Options.User = user
			req.Options.Metadata = meta
			if stream {
				s, err := p.Stream(t.Context(), req)
				if err != nil {
					return err
				}
				_, err = readAll(t, s)
				return err
			}
			_, err := p.Chat(t.Context(), req)
			synctest.Wait()
			return err
		}
		meta := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7"}
		call("slow", "", false, meta)   // a miss, 1.5s
		call("slow", "", false, nil)    // a hit
		call("bad", "", false, nil)     // a failure
		call("s", "", true, nil)        // a stream
		call("q", "alice", false, nil)  // admitted
		call("q", "alice", false, nil)  // refused by the rate limit
		call("unknown", "", false, nil) // priced by the default
		stop()
		rows := logs(t, st)
		if len(rows) != 7 {
			t.Fatalf("%d rows, want 7", len(rows))
		}
		slices.Reverse(rows) // oldest first
		ids := map[string]bool{}
		for _, r := range rows {
			if len(r.ID) != 26 || ids[r.ID] {
				t.Errorf("id %q missing or repeated", r.ID)
			}
			ids[r.ID] = true
			if r.Gateway != "gw" || r.Environment != "staging" || r.Route != conductor.RoutingGateway {
				t.Errorf("row %+v", r)
			}
		}
		miss, hit, bad, stream, ok, limited := rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
		if !miss.Success || miss.Status != 200 || miss.Cached || miss.MissReason != MissNewKey || miss.Attempts != 1 ||
			miss.InputTokens != 1000 || miss.OutputTokens != 500 || miss.CostNanoUSD != 1000*testIn+500*testOut || miss.CostFlagged ||
			miss.Latency != 1500*time.Millisecond || miss.TTFB != 200*time.Millisecond || miss.Provider != "openai" || miss.Model != "gpt-4o-mini" {
			t.Errorf("miss row %+v", miss)
		}
		if len(miss.Metadata) != MaxMetadata || miss.Metadata["f"] != "" || miss.Metadata["a"] != "1" {
			t.Errorf("metadata %v, want the first 5 keys", miss.Metadata)
		}
		if !hit.Cached || hit.CostNanoUSD != 0 || hit.Attempts != 0 || hit.Latency != 0 || hit.InputTokens != 1000 {
			t.Errorf("hit row %+v", hit)
		}
		if bad.Success || bad.Status != 400 || bad.ErrorClass != "bad_request" || bad.Attempts != 1 || bad.CostNanoUSD != 0 {
			t.Errorf("failure row %+v", bad)
		}
		if !stream.Success || stream.InputTokens != 7 || stream.OutputTokens != 2 || stream.CostNanoUSD != 7*testIn+2*testOut {
			t.Errorf("stream row %+v", stream)
		}
		if !ok.Success || ok.User != "alice" {
			t.Errorf("admitted row %+v", ok)
		}
		if limited.Success || limited.Status != 429 || limited.ErrorClass != "limited" || limited.User != "alice" || limited.Attempts != 0 {
			t.Errorf("refused row %+v", limited)
		}
		if u := rows[6]; !u.CostFlagged || u.Model != "unknown-model" || u.CostNanoUSD != 1000*testIn+500*testOut {
			t.Errorf("unknown model row %+v", u)
		}
	})
}

// Rows are written as soon as the writer is free (group commit), an async
// row after at most the linger: no flush interval passes, no Close is
// needed, and the rows that queued up during a transaction go together
// into the next one.
func TestRecordGroupCommit(t *testing.T) {
	for _, durability := range []string{DurabilityAsync, DurabilitySync} {
		t.Run(durability, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g, st, _ := start(t, Config{LogDurability: durability})
				start := time.Now()
				if _, err := g.Wrap(&double{}).Chat(t.Context(), chatReq("q")); err != nil {
					t.Fatal(err)
				}
				want := time.Duration(0)
				if durability == DurabilityAsync {
					time.Sleep(DefaultLogLinger)
					synctest.Wait()
					want = DefaultLogLinger
				}
				if n := len(logs(t, st)); n != 1 || time.Since(start) != want {
					t.Fatalf("%d rows after %v, want the row written after %v", n, time.Since(start), want)
				}
			})
		})
	}
	// Rows queued while the writer is busy: one transaction for them all.
	st := &countingLog{LogStore: openStore(t, tempDB(t))}
	w := newLogWriter(st, 100, 10, slog.New(slog.DiscardHandler))
	for i := range 25 {
		w.add(conductor.LogRow{ID: fmt.Sprint(i)})
	}
	w.close()
	w.run()
	if got := st.batches(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Fatalf("transactions of %v rows, want 10, 10, 5 (the batch bound)", got)
	}
}

// countingLog is the real store, noting the size of each AppendLogs.
type countingLog struct {
	conductor.LogStore
	mu    sync.Mutex
	sizes []int
}

func (c *countingLog) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(rows))
	c.mu.Unlock()
	return c.LogStore.AppendLogs(ctx, rows)
}

func (c *countingLog) batches() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sizes)
}

// With sync durability a call whose row cannot be committed fails with a
// 503 instead of being answered; async durability answers and counts the
// lost row.
func TestRecordSyncFailsWithoutCommit(t *testing.T) {
	for _, durability := range []string{DurabilityAsync, DurabilitySync} {
		t.Run(durability, func(t *testing.T) {
			st := openStore(t, tempDB(t))
			g, err := New(Config{ID: "gw", Prices: testPrices{}, LogDurability: durability}, st, WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close(context.Background())
			st.Close() // the log store fails from now on
			p := g.Wrap(&double{})
			resp, err := p.Chat(t.Context(), chatReq("q"))
			s, serr := p.Stream(t.Context(), chatReq("q"))
			if serr == nil {
				_, serr = readAll(t, s)
			}
			if durability == DurabilityAsync {
				if err != nil || resp == nil || serr != nil {
					t.Fatalf("async: %v, %v; want answers", err, serr)
				}
				return
			}
			for _, err := range []error{err, serr} {
				if e, ok := conductor.AsError(err); !ok || e.Status != 503 || e.Code != "log_unavailable" {
					t.Errorf("sync: %v, want 503 log_unavailable", err)
				}
			}
		})
	}
}

// A full queue drops rows and counts them instead of blocking the request;
// so does a closed gateway.
func TestRecordDropsWhenFull(t *testing.T) {
	st := openStore(t, tempDB(t))
	defer st.Close()
	var logged strings.Builder
	var mu sync.Mutex
	w := newLogWriter(st, 2, 10, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	for i := range 5 {
		w.add(conductor.LogRow{ID: fmt.Sprint(i)}) // nothing drains it yet
	}
	if d := w.drops.total.Load(); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	w.close()
	w.run()
	w.add(conductor.LogRow{ID: "late"})
	if d := w.drops.total.Load(); d != 4 {
		t.Fatalf("dropped %d after close, want 4", d)
	}
	if n := len(logs(t, st)); n != 2 {
		t.Fatalf("%d rows written, want the 2 queued", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "log row dropped") {
		t.Fatalf("no warning logged: %q", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestNewIDSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	prev := newID(t0)
	if prev[:10] != "01M8801200" {
		t.Fatalf("timestamp part %q", prev[:10])
	}
	seen := map[string]bool{prev: true}
	for i := 1; i < 1000; i++ {
		id := newID(t0.Add(time.Duration(i) * time.Millisecond))
		if id <= prev || seen[id] || strings.Trim(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
			t.Fatalf("id %q after %q", id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		err    error
		status int
		class  string
	}{
		{&conductor.Error{Class: conductor.ClassServer, Status: 503}, 503, "server"},
		{&conductor.Error{Class: conductor.ClassNetwork}, 502, "network"},
		{&conductor.Error{Class: conductor.ClassTimeout}, 504, "timeout"},
		{&conductor.Error{Class: conductor.ClassBudget}, 429, "budget"},
		{&conductor.Error{Class: conductor.ClassCanceled}, 499, "canceled"},
		{fmt.Errorf("wrapped: %w", context.Canceled), 499, "canceled"},
		{errTest, 500, "internal"},
	}
	for _, tt := range tests {
		if s, c := errorStatus(tt.err); s != tt.status || c != tt.class {
			t.Errorf("%v: %d %s, want %d %s", tt.err, s, c, tt.status, tt.class)
		}
	}
}

// A row names the call's key and team; a cache hit costs nothing and
// records what it saved at list price.
func TestRecordKeyTeamAndSaving(t *testing.T) {
	g, st, stop := start(t, Config{CacheTTL: time.Hour})
	p := g.Wrap(&double{})
	for range 2 {
		req := chatReq("q")
		req.Options = conductor.CallOptions{User: "alice", Key: "ci", Team: "research"}
		if _, err := p.Chat(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	rows := logs(t, st)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	hit, miss := rows[0], rows[1]
	// answer("hello", 10, 5): 10·1000 + 5·2000.
	if !hit.Cached || hit.CostNanoUSD != 0 || hit.SavedNanoUSD != 20_000 || miss.SavedNanoUSD != 0 || miss.CostNanoUSD != 20_000 ||
		hit.Key != "ci" || hit.Team != "research" || miss.Key != "ci" {
		t.Fatalf("hit %+v\nmiss %+v", hit, miss)
	}
}

// A free writer holding async rows waits up to the linger for more to share
// the commit (one row's commit costs as much as dozens'); a sync row, whose
// caller waits, ends the wait at once; with no linger every row is written
// as soon as the writer is free.
func TestRecordLinger(t *testing.T) {
	tests := []struct {
		name   string
		linger time.Duration
		sync   bool // the second row is a sync one
		// batches are the transactions right after the second row, and
		// once the linger has passed.
		now, later []int
	}{
		{name: "async rows share the commit", linger: DefaultLogLinger, now: nil, later: []int{2}},
		{name: "no linger: a commit each", linger: 0, now: []int{1, 1}, later: []int{1, 1}},
		{name: "a sync row ends the wait", linger: DefaultLogLinger, sync: true, now: []int{2}, later: []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				raw := openStore(t, tempDB(t))
				defer raw.Close()
				st := &countingLog{LogStore: raw}
				w := newLogWriter(st, 100, 10, slog.New(slog.DiscardHandler))
				w.linger = tt.linger
				done := make(chan struct{})
				go func() { w.run(); close(done) }()
				w.add(conductor.LogRow{ID: "1"})
				synctest.Wait()
				time.Sleep(time.Millisecond)
				if tt.sync {
					if err := w.commit(t.Context(), conductor.LogRow{ID: "2"}); err != nil {
						t.Fatal(err)
					}
				} else {
					w.add(conductor.LogRow{ID: "2"})
				}
				synctest.Wait()
				if got := st.batches(); !slices.Equal(got, tt.now) {
					t.Errorf("after the second row: transactions of %v rows, want %v", got, tt.now)
				}
				time.Sleep(DefaultLogLinger)
				synctest.Wait()
				if got := st.batches(); !slices.Equal(got, tt.later) {
					t.Errorf("after the linger: transactions of %v rows, want %v", got, tt.later)
				}
				w.close()
				<-done
			})
		})
	}
}
