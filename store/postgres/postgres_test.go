package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/internal/testsvc"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/storetest"
)

// openTest opens a store in a schema of its own, dropped when t ends.
func openTest(t testing.TB, schema string) *Store {
	t.Helper()
	s, err := Open(context.Background(), testsvc.PostgresURL(t), WithSchema(schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if _, err := s.pool.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		s.Close()
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) conductor.Store { return store.Combine(nil, nil, openTest(t, testsvc.Name("ct"))) },
		storetest.Only("Log", "LogByKey", "LogByDeployment"),
	)
}

func TestControlContract(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) conductor.Store {
			// Through Combine, as OpenStore assembles it: the combined
			// store names its log's ControlStore.
			return store.Combine(nil, nil, openTest(t, testsvc.Name("cc")))
		},
		storetest.Only("Control"),
		// Two pools on one schema, as two processes would have.
		storetest.Shared(func(t *testing.T) (conductor.Store, conductor.Store) {
			schema := testsvc.Name("cs")
			a := openTest(t, schema)
			b, err := Open(context.Background(), testsvc.PostgresURL(t), WithSchema(schema))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return store.Combine(nil, nil, a), store.Combine(nil, nil, b)
		}),
	)
}

// Migrations run at every Open: a second Open (another instance starting)
// changes nothing, and instances starting together apply each once.
func TestMigrateIdempotent(t *testing.T) {
	schema := testsvc.Name("mig")
	a := openTest(t, schema)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), testsvc.PostgresURL(t), WithSchema(schema))
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM conductor_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) {
		t.Errorf("%d migration rows, want %d", n, len(migrations))
	}
	if v, err := a.SchemaVersion(context.Background()); err != nil || v != len(migrations) {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
}

// Retention drops whole day partitions and deletes only within the day
// the cut falls in.
func TestPruneDropsPartitions(t *testing.T) {
	s := openTest(t, testsvc.Name("part"))
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var rows []conductor.LogRow
	for d := range 5 {
		for i := range 3 {
			rows = append(rows, conductor.LogRow{ID: fmt.Sprintf("d%d-%d", d, i), Time: day.AddDate(0, 0, d).Add(time.Duration(i) * time.Hour),
				Gateway: "gw", Provider: "openai", Model: "gpt-4o", Success: true})
		}
	}
	if err := s.AppendLogs(ctx, rows); err != nil {
		t.Fatal(err)
	}
	parts, err := s.Partitions(ctx)
	if err != nil || len(parts) != 5 {
		t.Fatalf("partitions %v, %v; want 5", parts, err)
	}
	// Cut at 13:00 on the third day: two days dropped (6 rows), one row of
	// the third deleted.
	n, err := s.PruneLogs(ctx, day.AddDate(0, 0, 2).Add(time.Hour))
	if err != nil || n != 7 {
		t.Fatalf("PruneLogs = %d, %v; want 7", n, err)
	}
	parts, _ = s.Partitions(ctx)
	if strings.Join(parts, " ") != "logs_p20261122 logs_p20261123 logs_p20261124" {
		t.Errorf("partitions after prune %v", parts)
	}
	// A row for a dropped day can be written again (its partition comes back).
	if err := s.AppendLogs(ctx, rows[:1]); err != nil {
		t.Fatalf("append to a dropped day: %v", err)
	}
}

func TestOpenUnreachableNamesURLWithoutPassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://conductor:s3cret@127.0.0.1:1/test?sslmode=disable")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q: want the URL without its password", err)
	}
}

// Pruning while rows of new days arrive must not deadlock: a prune holds
// the schema's partition lock, and an append that creates a day's
// partition takes it while holding the process's partition bookkeeping.
// (The cut-offs stay before the rows, as a retention does.)
func TestPruneWhileAppendingNewDays(t *testing.T) {
	s := openTest(t, testsvc.Name("pa"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	errs := make(chan error, 2)
	go func() {
		for day := range 40 {
			row := conductor.LogRow{ID: fmt.Sprintf("r%d", day), Time: start.AddDate(0, 0, day), Gateway: "g", Provider: "openai", Model: "m", Status: 200}
			if err := s.AppendLogs(ctx, []conductor.LogRow{row}); err != nil {
				errs <- fmt.Errorf("append day %d: %w", day, err)
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for i := range 40 {
			if _, err := s.PruneLogs(ctx, start.AddDate(0, 0, i-60)); err != nil {
				errs <- fmt.Errorf("prune %d: %w", i, err)
				return
			}
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
