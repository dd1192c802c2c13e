package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Settled reservations leave no row behind: after 100,000 calls under a
// budget, the reservations table holds the calls still in flight and no
// more, in the file and in memory.
func TestSettledReservationsLeaveNoRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b := []conductor.Budget{{Key: "spend/environment:production/day:2026-11-25", Limit: 1 << 60, Resets: now.Add(14 * time.Hour)}}
	const n, inFlight = 100_000, 3
	for i := range n {
		id, err := s.ReserveSpend(ctx, b, 1000, now)
		if err != nil {
			t.Fatal(err)
		}
		if i < n-inFlight {
			if err := s.SettleSpend(ctx, id, 10); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := len(s.c.res); got != inFlight {
		t.Errorf("%d reservations in memory, want %d", got, inFlight)
	}
	if err := s.Close(); err != nil { // checkpoints the counters into the tables
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rows int
	if err := s.rd.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != inFlight {
		t.Errorf("%d rows in the reservations table, want %d", rows, inFlight)
	}
	spent, _ := s.Spent(ctx, b[0].Key)
	if want := int64((n-inFlight)*10 + inFlight*1000); spent != want {
		t.Errorf("spent %d, want %d", spent, want)
	}
}
