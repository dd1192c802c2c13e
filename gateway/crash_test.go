package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conductor-go/conductor/store/sqlite"
)

// crashEnv tells the test binary it is TestCrashChild, serving a gateway
// over the SQLite file named there until it is killed.
const crashEnv = "CONDUCTOR_GATEWAY_CRASH_CHILD"

// Crash test load: 200 requests a second from 8 callers, with a budget,
// the reproduction.
const (
	crashRate    = 200
	crashCallers = 8
	crashAcks    = 500 // acknowledged requests before the kill
)

// What the log promises under kill -9 (docs/reliability.md): with sync
// durability every acknowledged request has its row; with async
// durability the rows lost are at most those acknowledged while the
// writer's last transaction was in flight — a few at 200 requests a
// second. The child serves at a fixed rate and prints each answer's log
// id once the answer is back; it is killed mid-load, and every id it
// printed, the ones still in the pipe included, is looked up in the file.
func TestKill9KeepsAcknowledgedLogRows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	// At 200 requests a second a transaction of a few rows takes about a
	// millisecond; 20 rows is 100 ms of traffic, the bound this asserts on
	// a loaded machine. The flush interval this replaced lost 0–200.
	const asyncBound = 20
	for _, durability := range []string{DurabilityAsync, DurabilitySync} {
		t.Run(durability, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			acked, lost, spent := crashRun(t, path, durability)
			t.Logf("durability %s: %d acknowledged, %d lost (%.2f%%), spent %d nano-USD", durability, len(acked), lost, 100*float64(lost)/float64(len(acked)), spent)
			want := 0
			if durability == DurabilityAsync {
				want = asyncBound
			}
			if lost > want {
				t.Errorf("kill -9 lost %d of %d acknowledged rows, want at most %d", lost, len(acked), want)
			}
			// Reservations are durable before the call: whatever the kill
			// cut short, the budget holds at least what was answered
			// (each answer costs 10 input and 5 output tokens).
			if min := int64(len(acked)) * (10*testIn + 5*testOut); spent < min {
				t.Errorf("after kill -9 the budget holds %d nano-USD, the acknowledged answers cost %d", spent, min)
			}
		})
	}
}

// crashRun starts the child, kills it after crashAcks answers, and returns
// the acknowledged ids, how many of them the file lacks, and the spent
// budget the file holds.
func crashRun(t *testing.T, path, durability string) (acked []string, lost int, spent int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path+"|"+durability)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	read := func(stop int) {
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
				acked = append(acked, id)
				if stop > 0 && len(acked) >= stop {
					return
				}
			}
		}
	}
	read(crashAcks)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// What the child acknowledged before it died is still in the pipe.
	read(0)
	_ = cmd.Wait()
	if len(acked) < crashAcks {
		t.Fatalf("the child acknowledged %d requests before it stopped", len(acked))
	}
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer st.Close()
	rows, err := st.RecentLogs(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool, len(rows))
	for _, r := range rows {
		have[r.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			lost++
		}
	}
	day, _ := window(PeriodDay, time.Now())
	spent, err = st.Spent(context.Background(), SpendKey(ScopeGateway, "crash")+"/"+PeriodDay+":"+day)
	if err != nil {
		t.Fatal(err)
	}
	return acked, lost, spent
}

// TestCrashChild serves load for TestKill9KeepsAcknowledgedLogRows.
func TestCrashChild(t *testing.T) {
	env := os.Getenv(crashEnv)
	if env == "" {
		t.Skip("run by TestKill9KeepsAcknowledgedLogRows")
	}
	path, durability, _ := strings.Cut(env, "|")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{ID: "crash", Prices: testPrices{}, LogDurability: durability,
		Budgets: []Budget{{Scope: ScopeGateway, Period: PeriodDay, LimitUSD: 1e6}}}, st)
	if err != nil {
		t.Fatal(err)
	}
	p := g.Wrap(&double{})
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	ack := func(id string) error {
		mu.Lock()
		defer mu.Unlock()
		w.WriteString("ACK " + id + "\n")
		return w.Flush()
	}
	var wg sync.WaitGroup
	for c := range crashCallers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second * crashCallers / crashRate)
			defer tick.Stop()
			for i := 0; ; i++ {
				<-tick.C
				resp, err := p.Chat(context.Background(), chatReq(fmt.Sprintf("caller %d request %d", c, i)))
				if err != nil {
					t.Error(err)
					return
				}
				if err := ack(resp.Meta.LogID); err != nil {
					if !errors.Is(err, syscall.EPIPE) {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	wg.Wait() // until killed
}
