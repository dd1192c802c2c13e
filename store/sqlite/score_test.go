package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

func scoreOf(t *testing.T, s *Store, id string) (float64, bool) {
	t.Helper()
	rows, err := s.RecentLogs(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == id {
			if r.Score == nil {
				return 0, false
			}
			return *r.Score, true
		}
	}
	t.Fatalf("no row %s", id)
	return 0, false
}

// A score written by one process waits for a row another process's
// gateway has not flushed yet.
func TestScoreAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.ScoreLog(ctx, "r1", 0.8); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, "log_scores"); n != 1 {
		t.Fatalf("%d pending scores, want 1", n)
	}
	row := conductor.LogRow{ID: "r1", Time: time.Now(), Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true}
	if err := a.AppendLogs(ctx, []conductor.LogRow{row}); err != nil {
		t.Fatal(err)
	}
	if v, ok := scoreOf(t, b, "r1"); !ok || v != 0.8 {
		t.Errorf("score of r1 = %v, %v; want 0.8", v, ok)
	}
	if n := count(t, a, "log_scores"); n != 0 {
		t.Errorf("%d pending scores left after their row came, want 0", n)
	}
}

// Pending scores whose row never comes (the gateway dropped it) do not
// stay forever: a day later the next pending score clears them, and
// PruneLogs clears those older than its cut-off.
func TestPendingScoresPruned(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := openTemp(t, WithClock(func() time.Time { return now }))
	for _, id := range []string{"lost1", "lost2"} {
		if err := s.ScoreLog(ctx, id, 1); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour)
	if err := s.ScoreLog(ctx, "lost3", 1); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "log_scores"); n != 3 {
		t.Fatalf("%d pending scores after an hour, want 3", n)
	}
	now = now.Add(pendingScoreTTL)
	if err := s.ScoreLog(ctx, "lost4", 1); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "log_scores"); n != 2 {
		t.Fatalf("%d pending scores a day later, want 2 (lost3, lost4)", n)
	}
	if _, err := s.PruneLogs(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "log_scores"); n != 1 {
		t.Errorf("%d pending scores after PruneLogs(now), want 1 (lost4, given at now)", n)
	}
}

// A file written before scores could be pending is migrated on Open.
func TestMigrateAddsPendingScores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wr.ExecContext(ctx, `DROP TABLE log_scores; DROP TABLE reservation_seqs;
ALTER TABLE logs DROP COLUMN key; ALTER TABLE logs DROP COLUMN team; ALTER TABLE logs DROP COLUMN saved; ALTER TABLE logs DROP COLUMN deployment;
DELETE FROM meta WHERE k IN ('counters_gen', 'db_id'); PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen a version 1 file: %v", err)
	}
	defer s.Close()
	if err := s.ScoreLog(ctx, "x", 0.5); err != nil {
		t.Fatalf("ScoreLog on a migrated file: %v", err)
	}
}

func BenchmarkScoreLog(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	rows := make([]conductor.LogRow, 1000)
	for i := range rows {
		rows[i] = conductor.LogRow{ID: fmt.Sprintf("row-%d", i), Time: time.Now(), Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true}
	}
	if err := s.AppendLogs(ctx, rows); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := s.ScoreLog(ctx, rows[i%len(rows)].ID, 0.5); err != nil {
			b.Fatal(err)
		}
	}
}
