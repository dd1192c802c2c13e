package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/storetest"
)

// The contract again with a journal so small that a checkpoint runs in the
// background after almost every step: decisions taken while another
// handle checkpoints (and this one reloads the tables) stay exact.
func TestContractCheckpointing(t *testing.T) {
	if testing.Short() {
		t.Skip("the contract runs in TestContract")
	}
	open := func(t *testing.T, path string) *Store {
		s, err := Open(context.Background(), path, withJournalLimit(256))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	storetest.Run(t,
		func(t *testing.T) conductor.Store { return open(t, filepath.Join(t.TempDir(), "c.db")) },
		storetest.Shared(func(t *testing.T) (conductor.Store, conductor.Store) {
			path := filepath.Join(t.TempDir(), "shared.db")
			return open(t, path), open(t, path)
		}),
	)
}

// Counters survive a restart, from the journal (the process died without
// a checkpoint) and from the tables (it closed).
func TestCountersSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b := conductor.Budget{Key: "gw:day", Limit: 1000, Resets: now.Add(time.Hour)}
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.ReserveSpend(ctx, []conductor.Budget{b}, 300, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.TakeRate(ctx, "k", 2, 5, time.Minute, conductor.WindowFixed, now); err != nil {
		t.Fatal(err)
	}
	// A second handle opened now replays the first's journal.
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Spent(ctx, b.Key); got != 300 {
		t.Errorf("a second handle sees Spent %d, want 300", got)
	}
	if err := c.Close(); err != nil { // checkpoints: a is told by the generation
		t.Fatal(err)
	}
	if err := a.SettleSpend(ctx, id, 100); err != nil {
		t.Fatalf("settling after another handle checkpointed: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countFile(t, path, "budgets"); n != 1 {
		t.Errorf("after Close the tables hold %d budgets, want 1", n)
	}
	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := r.Spent(ctx, b.Key); got != 100 {
		t.Errorf("after reopening, Spent = %d, want 100", got)
	}
	if d, _ := r.TakeRate(ctx, "k", 0, 5, time.Minute, conductor.WindowFixed, now); d.Count != 2 {
		t.Errorf("after reopening, the window counts %d, want 2", d.Count)
	}
	if err := r.SettleSpend(ctx, id, 5); err != nil {
		t.Errorf("settling a settled reservation after a restart: %v, want a no-op", err)
	}
	if got, _ := r.Spent(ctx, b.Key); got != 100 {
		t.Errorf("a second settle changed Spent to %d", got)
	}
}

func countFile(t *testing.T, path, table string) int {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return count(t, s, table)
}

// A record cut short (a process killed while writing it, or a power loss)
// is dropped and the journal cut there; the records before it count.
func TestTornRecordCut(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.ReserveSpend(ctx, []conductor.Budget{{Key: "b", Limit: 1000}}, 10, now); err != nil {
			t.Fatal(err)
		}
	}
	good := s.j.off
	for name, tail := range map[string][]byte{
		"cut short":    {20, 0, 0, 0, 1, 2, 3, 4, recReserve, 7},
		"crc mismatch": {2, 0, 0, 0, 1, 2, 3, 4, recOnce, 0},
		"zeros":        make([]byte, 64),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.j.f.WriteAt(tail, good); err != nil {
				t.Fatal(err)
			}
			r, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got, _ := r.Spent(ctx, "b"); got != 30 {
				t.Errorf("Spent = %d, want 30", got)
			}
			if fi, err := os.Stat(path + "-counters"); err != nil || fi.Size() != good {
				t.Errorf("journal not cut at %d: %v, %v", good, fi.Size(), err)
			}
			// The first handle goes on from where the file was cut.
			if _, err := s.ReserveSpend(ctx, []conductor.Budget{{Key: "b", Limit: 1000}}, 10, now); err != nil {
				t.Fatal(err)
			}
			if got, _ := r.Spent(ctx, "b"); got != 40 {
				t.Errorf("after a new record Spent = %d, want 40", got)
			}
			// Back to 30 for the next case: settle the last one at 0, and
			// checkpoint so that the next tail follows a header.
			if err := s.SettleSpend(ctx, formatID(s.prefix, s.seq), 0); err != nil {
				t.Fatal(err)
			}
			if err := s.checkpoint(ctx, 0); err != nil {
				t.Fatal(err)
			}
			good = s.j.off
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A file written before the journal (schema version 2) keeps its counters:
// they are read from the tables.
func TestMigrateCountersFromTables(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wr.ExecContext(ctx, `DROP TABLE reservation_seqs;
DELETE FROM meta WHERE k IN ('counters_gen', 'db_id');
INSERT INTO budgets (key, spent, lim, resets) VALUES ('gw:day', 420, 1000, 0);
INSERT INTO reservations (id, keys, amount, created_at, expires_at) VALUES ('0123456789abcdef0123456789abcdef', '["gw:day"]', 400, 1, 0);
ALTER TABLE logs DROP COLUMN key; ALTER TABLE logs DROP COLUMN team; ALTER TABLE logs DROP COLUMN saved; ALTER TABLE logs DROP COLUMN deployment;
PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	// Stop without the checkpoint that Close makes: an old binary has no journal.
	close(s.ckptStop)
	s.bg.Wait()
	s.j.f.Close()
	s.getCache.Close()
	s.closeStmts()
	s.rd.Close()
	s.wr.Close()
	if err := os.Remove(path + "-counters"); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen a version 2 file: %v", err)
	}
	defer s.Close()
	if got, _ := s.Spent(ctx, "gw:day"); got != 420 {
		t.Errorf("Spent = %d, want 420 from the table", got)
	}
	if err := s.SettleSpend(ctx, "0123456789abcdef0123456789abcdef", 100); err != nil {
		t.Fatalf("settling a reservation an older version made: %v", err)
	}
	if got, _ := s.Spent(ctx, "gw:day"); got != 120 {
		t.Errorf("Spent = %d after settling, want 120", got)
	}
}

// What a step acknowledged survives kill -9 of its process: a child
// reserves and settles in a loop, printing each acknowledgement, and is
// killed mid-stream; the file then holds at least everything acknowledged,
// and at most one reservation more.
func TestKill9KeepsAcknowledgedSpend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "kill.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked, tokens int64
	for sc.Scan() {
		var n, tk int64
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d", &n, &tk); err == nil {
			acked, tokens = n, tk
			if n >= 300 {
				break
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// What the child acknowledged before it died is still in the pipe.
	for sc.Scan() {
		var n, tk int64
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d", &n, &tk); err == nil {
			acked, tokens = n, tk
		}
	}
	_ = cmd.Wait()
	if acked < 300 {
		t.Fatalf("the child acknowledged %d steps before it stopped", acked)
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Each step reserves 7 and settles it at 5: acknowledged spend is 5 a
	// step, and the step in flight may have reserved 7 more.
	spent, err := s.Spent(context.Background(), "gw:day")
	if err != nil {
		t.Fatal(err)
	}
	if spent < acked*5 || spent > acked*5+7+5 {
		t.Errorf("after kill -9: Spent = %d, acknowledged %d steps (%d), want at least that and at most one more step", spent, acked, acked*5)
	}
	d, err := s.TakeRate(context.Background(), "gw:tokens", 0, 1<<40, time.Hour, conductor.WindowFixed, crossNow)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count < tokens || d.Count > tokens+1 {
		t.Errorf("after kill -9 the token window counts %d, acknowledged %d", d.Count, tokens)
	}
}

func TestKill9Child(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" || !strings.HasSuffix(path, "kill.db") {
		t.Skip("run by TestKill9KeepsAcknowledgedSpend")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	b := []conductor.Budget{{Key: "gw:day", Limit: 1 << 50}}
	for i := int64(1); ; i++ {
		id, err := s.ReserveSpend(ctx, b, 7, crossNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id, Actual: 5}},
			[]conductor.RateTake{{Key: "gw:tokens", N: 1, Limit: 1 << 40, Window: time.Hour, Kind: conductor.WindowFixed}}, crossNow); err != nil {
			t.Fatal(err)
		}
		w.WriteString("ACK " + strconv.FormatInt(i, 10) + " " + strconv.FormatInt(i, 10) + "\n")
		if err := w.Flush(); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return
			}
			t.Fatal(err)
		}
	}
}
