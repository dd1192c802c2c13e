package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// fileSize is the size of the main file once the WAL is checkpointed into
// it (and truncated): what the disk holds for the store.
func fileSize(t *testing.T, s *Store) int64 {
	t.Helper()
	if _, err := s.wr.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func fillLogs(t *testing.T, s *Store, n int, at time.Time) {
	t.Helper()
	rows := make([]conductor.LogRow, 0, 500)
	for i := range n {
		rows = append(rows, conductor.LogRow{ID: fmt.Sprintf("row-%d-%d", at.Unix(), i), Time: at, Gateway: "gw", Provider: "openai",
			Model: "gpt-4o-mini", Route: "gateway", Status: 200, Success: true, MissReason: strings.Repeat("x", 300)})
		if len(rows) == cap(rows) || i == n-1 {
			if err := s.AppendLogs(context.Background(), rows); err != nil {
				t.Fatal(err)
			}
			rows = rows[:0]
		}
	}
}

// Pruning gives the space back: the file shrinks instead of keeping its
// largest size forever (incremental vacuum), for a new file and for one
// written before the mode (converted once at Open).
func TestPruneShrinksFile(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "new file", true: "file without auto-vacuum"}[old], func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "v.db")
			if old {
				// A file as earlier versions made it: auto_vacuum off.
				s, err := Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.wr.ExecContext(ctx, `PRAGMA auto_vacuum = NONE`); err != nil {
					t.Fatal(err)
				}
				if _, err := s.wr.ExecContext(ctx, `VACUUM`); err != nil {
					t.Fatal(err)
				}
				var mode int
				if err := s.wr.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 0 {
					t.Fatalf("auto_vacuum %d %v, want the old file's 0", mode, err)
				}
				s.Close()
			}
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var mode int
			if err := s.wr.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != autoVacuumIncremental {
				t.Fatalf("auto_vacuum %d %v, want incremental", mode, err)
			}
			old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			fillLogs(t, s, 20_000, old)
			fillLogs(t, s, 100, old.Add(48*time.Hour))
			full := fileSize(t, s)
			n, err := s.PruneLogs(ctx, old.Add(24*time.Hour))
			if err != nil || n != 20_000 {
				t.Fatalf("pruned %d, %v", n, err)
			}
			after := fileSize(t, s)
			if after > full/4 {
				t.Errorf("file is %d bytes after pruning 20,000 of 20,100 rows, was %d: the space was not given back", after, full)
			}
			if rows, _ := s.RecentLogs(ctx, 1000); len(rows) != 100 {
				t.Errorf("%d rows left, want 100", len(rows))
			}
		})
	}
}
