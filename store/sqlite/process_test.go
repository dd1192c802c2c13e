package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Two handles in one process share SQLite's in-process lock bookkeeping;
// real processes only have the file's locks. These tests run the test
// binary again as child processes on one file.

const childEnv = "CONDUCTOR_SQLITE_CHILD"

var crossNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// TestChildProcess is the child's body; it does nothing in a normal run.
func TestChildProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("run by TestCrossProcess")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const workers, each = 4, 30
	var rate, spend atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				d, err := s.TakeRate(ctx, "gw:user", 1, 137, time.Minute, conductor.WindowSliding, crossNow)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					rate.Add(1)
				}
				_, err = s.ReserveSpend(ctx, []conductor.Budget{{Key: "gw:day", Limit: 10_000}}, 70, crossNow)
				switch {
				case err == nil:
					spend.Add(1)
				case !errors.Is(err, conductor.ErrBudgetExceeded):
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.PutCache(ctx, conductor.CacheEntry{Key: "child-" + strconv.Itoa(os.Getpid()), Value: []byte("hi"), CreatedAt: crossNow}); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("RESULT %d %d %d\n", os.Getpid(), rate.Load(), spend.Load())
}

func TestCrossProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := context.Background()
	// Created here first so the children race on data, not on the schema.
	parent, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()

	const children = 3
	type result struct {
		out []byte
		err error
	}
	results := make([]result, children)
	var wg sync.WaitGroup
	for i := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			results[i].out, results[i].err = cmd.CombinedOutput()
		}()
	}
	wg.Wait()

	var rate, spend int64
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("child %d: %v\n%s", i, r.err, r.out)
		}
		var pid, a, b int64
		found := false
		for _, line := range strings.Split(string(r.out), "\n") {
			if _, err := fmt.Sscanf(line, "RESULT %d %d %d", &pid, &a, &b); err == nil {
				found = true
			}
		}
		if !found {
			t.Fatalf("child %d printed no result:\n%s", i, r.out)
		}
		rate += a
		spend += b
		if _, ok, _, err := parent.GetCache(ctx, "child-"+strconv.FormatInt(pid, 10), crossNow); err != nil || !ok {
			t.Errorf("parent does not see child %d's cache entry: ok=%v err=%v", pid, ok, err)
		}
	}
	// 3 processes x 120 takes against one limit.
	if rate != 137 {
		t.Errorf("processes admitted %d takes against a limit of 137", rate)
	}
	if spend != 10_000/70 {
		t.Errorf("processes admitted %d reservations of 70 in 10000, want %d", spend, 10_000/70)
	}
	if got, err := parent.Spent(ctx, "gw:day"); err != nil || got != 10_000/70*70 {
		t.Errorf("Spent = %d, %v; want %d", got, err, 10_000/70*70)
	}
}
