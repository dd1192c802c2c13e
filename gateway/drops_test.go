package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/sqlite"
)

// heldCache is the real store whose cache writes wait for release: the
// gateway's write queue fills behind the first.
type heldCache struct {
	*sqlite.Store
	release chan struct{}
}

func (h *heldCache) PutCache(ctx context.Context, e conductor.CacheEntry) error {
	<-h.release // deaf to ctx: the queue stays full however long the test waits
	return h.Store.PutCache(context.Background(), e)
}

// Cache writes dropped under load are counted (Drops, and /metrics through
// Set.Drops) and warned about at most once a minute, with the count since
// the last warning — not once per write.
func TestCacheWriteDropsCountedAndWarnedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, tempDB(t))
		defer st.Close()
		held := &heldCache{Store: st, release: make(chan struct{})}
		var mu sync.Mutex
		var out strings.Builder
		log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &out}, nil))
		g, err := New(Config{ID: "gw", Prices: testPrices{}, CacheTTL: time.Hour, CacheWriteBuffer: 1}, held, WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		p := g.Wrap(&double{})
		ask := func(i int) {
			if _, err := p.Chat(t.Context(), chatReq(fmt.Sprint("question ", i))); err != nil {
				t.Fatal(err)
			}
		}
		ask(0)
		synctest.Wait() // the writer holds the first write
		for i := 1; i <= 49; i++ {
			ask(i) // the second waits in the queue, the others are dropped
		}
		if d := g.Drops().CacheWrites; d != 48 {
			t.Fatalf("Drops().CacheWrites = %d, want 48", d)
		}
		time.Sleep(DropWarnEvery)
		ask(50)
		close(held.release)
		if err := g.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		var warnings []map[string]any
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(line["msg"].(string), "cache writes dropped") {
				warnings = append(warnings, line)
			}
		}
		// The first drop warns at once; the next 47 wait for the minute;
		// the one after it reports them all.
		if len(warnings) != 2 || warnings[0]["dropped"] != 1.0 || warnings[1]["dropped"] != 48.0 || warnings[1]["dropped_total"] != 49.0 {
			t.Fatalf("warnings %v, want two: 1 dropped, then 48 (49 in all)", warnings)
		}
	})
}

// Set.Drops reports each started gateway's drops by id.
func TestSetDrops(t *testing.T) {
	st := openStore(t, tempDB(t))
	defer st.Close()
	set, err := NewSet(st, []Config{{ID: "a"}, {ID: "b"}}, Config{}, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Gateway("a"); err != nil {
		t.Fatal(err)
	}
	if err := set.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := set.Drops()
	if _, ok := d["a"]; !ok || len(d) != 1 {
		t.Errorf("Drops %v, want gateway a only (b never started)", d)
	}
}
